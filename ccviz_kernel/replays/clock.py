"""Replays at a watchable pace: a recorded session fed into a game on the asyncio loop.

The clock follows the session's own times (scaled by ``speed``, long pauses capped), so a
replay feels like the session did. Seeking back rebuilds the game from the start, which
the hub announces as a reset update.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..engine.game import Applied, Game
from ..engine.town import MAX_SPEED, MIN_SPEED
from ..events import HookEvent

#: The longest wait between two events, in session seconds before ``speed`` applies.
MAX_GAP = 3.0
#: Wait used when events carry no times.
DEFAULT_GAP = 0.5


class ReplayClock:
    """Owns a replay game: plays, pauses, steps, seeks and changes speed."""

    def __init__(
        self,
        game_id: str,
        events: list[HookEvent],
        publish: Callable[[Applied], None],
        *,
        speed: float = 4.0,
        loop: bool = False,
        on_status: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        if not events:
            raise ValueError("nothing to replay: no usable events")
        self.game_id = game_id
        self.events = events
        self.game = Game(game_id)
        self.speed = check_speed(speed)
        self.loop = loop
        self.playing = False
        self._publish = publish
        self._on_status = on_status
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # -- controls ------------------------------------------------------------------------

    @property
    def position(self) -> int:
        return self.game.seq

    @property
    def total(self) -> int:
        return len(self.events)

    def status(self) -> dict[str, Any]:
        return {
            "playing": self.playing,
            "speed": self.speed,
            "position": self.position,
            "total": self.total,
            "loop": self.loop,
        }

    def play(self) -> None:
        """Play from the current position, on the running asyncio loop.

        Why a loop: the clock waits between events without blocking anyone. With none
        running (a plain script) this raises a :class:`RuntimeError` that says what to use
        instead: ``ccviz.connect().replay(...)`` runs a loop of its own for scripts.
        """
        if self._task is None or self._task.done():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise RuntimeError(
                    "a replay plays on a running asyncio loop and none runs here; "
                    "ccviz.connect().replay(...) runs one for scripts, or use step()/seek()"
                ) from None
            self._task = loop.create_task(self._run())
        if not self.playing:
            self.playing = True
            self._wake.set()
            self._changed()

    def pause(self) -> None:
        if self.playing:
            self.playing = False
            self._wake.set()
            self._changed()

    def step(self) -> bool:
        """Apply the next event now; ``False`` at the end."""
        moved = self._advance()
        self._changed()
        return moved

    def _advance(self) -> bool:
        if self.position >= self.total:
            return False
        self._publish(self.game.apply(self.events[self.position]))
        return True

    def seek(self, seq: int) -> int:
        """Jump to just after event ``seq`` (0 = the start); returns the position reached.

        A ``seq`` outside ``0 … total`` is clamped to it (a viewer's scrub bar may overshoot);
        the returned position says where it landed, so callers that must tell the user
        (:meth:`ccviz_kernel.notebook.handles.ReplayController.seek` warns) can compare.
        """
        self._move_to(seq)
        self._wake.set()
        self._changed()
        return self.position

    def follow(self, state: dict[str, Any]) -> None:
        """Take the state of the same replay's clock running in another process (a
        ``status()`` it shared, server/follow.py): its position, whether it plays, its
        speed. This clock never runs its own timer then: it shows the other one."""
        position = state.get("position")
        if not isinstance(position, int) or isinstance(position, bool):
            return
        before = (self.playing, self.speed, self.loop, self.position)
        try:
            self.speed = check_speed(state.get("speed", self.speed))
        except ValueError:
            pass
        self.loop = state.get("loop") is True
        self.playing = state.get("playing") is True
        self._move_to(position)
        # as the owner's own viewers hear it: a status when a control changed something,
        # not for each event played (those reach viewers as updates)
        if before[:3] != (self.playing, self.speed, self.loop) or self.position != before[3] + 1:
            self._changed()

    def _move_to(self, seq: int) -> None:
        seq = max(0, min(int(seq), self.total))
        if seq < self.position:
            self.game = Game(self.game_id)
            for event in self.events[:seq]:
                self.game.apply(event)
            self._publish(self.game.reset_deltas())
        else:
            while self.position < seq:
                self._publish(self.game.apply(self.events[self.position]))

    def set_speed(self, speed: float) -> None:
        self.speed = check_speed(speed)
        self._wake.set()
        self._changed()

    def stop(self) -> None:
        self.playing = False
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def finished(self) -> None:
        """Wait until the replay reaches its end (and is not looping)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    # -- the clock -----------------------------------------------------------------------

    def _gap(self) -> float:
        if self.position == 0 or self.position >= self.total:
            return 0.0
        before, after = self.events[self.position - 1].ts, self.events[self.position].ts
        if before is None or after is None:
            return DEFAULT_GAP / self.speed
        return min(max(after - before, 0.0), MAX_GAP) / self.speed

    async def _run(self) -> None:
        while True:
            if not self.playing:
                self._wake.clear()
                await self._wake.wait()
                continue
            if self.position >= self.total:
                if not self.loop:
                    self.playing = False
                    self._changed()
                    return
                await asyncio.sleep(MAX_GAP / self.speed)
                self.seek(0)
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self._gap())
                continue  # a control changed the plan: think again
            except asyncio.TimeoutError:
                pass
            if self.playing:
                self._advance()

    def _changed(self) -> None:
        if self._on_status is not None:
            self._on_status(self.status())


def check_speed(speed: float) -> float:
    try:
        value = float(speed)
    except (TypeError, ValueError):
        raise ValueError(f"speed must be a number, got {speed!r}") from None
    if not MIN_SPEED <= value <= MAX_SPEED:
        raise ValueError(f"speed must be between {MIN_SPEED:g} and {MAX_SPEED:g}, got {value}")
    return value
