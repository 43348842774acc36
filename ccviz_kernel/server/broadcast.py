"""Leading-edge frame coalescing: at most one ``game-state-update`` per room per frame.

An update goes out as soon as the caller is done (the next loop turn) when the room has had
none in the last frame (a quiet game has near-zero latency); otherwise the deltas wait for
the next frame boundary and go out together (a burst costs at most one frame). The effects
of those events ride inside the same update (``effects``, docs/protocol.md §4), so a viewer
gets at most one message per room per frame whatever the event rate.

Never inside :meth:`Broadcaster.push`: the hub pushes while a hook POST is being answered,
and a fan-out to a thousand viewers there would keep that answer waiting (ingest is never
queued behind fan-out).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..engine.game import Applied

#: Effects one update carries at most; the oldest of a burst are dropped.
MAX_EFFECTS_PER_FRAME = 24

Emit = Callable[[str, Any, str], Awaitable[None] | None]
#: ``call_later(delay, callback, *args)`` returning a handle with ``cancel()``: the running
#: loop's by default; tests pass one driven by their own clock.
CallLater = Callable[..., Any]


@dataclass
class _Pending:
    start: int = 0
    seq: int = 0
    deltas: list[Any] = field(default_factory=list)
    effects: list[dict[str, Any]] = field(default_factory=list)
    last_sent: float = float("-inf")
    #: When the pending flush is due (``clock`` time): the frame it belongs to.
    due: float = 0.0
    reset: bool = False
    timer: asyncio.TimerHandle | None = None


class Broadcaster:
    """Collects applied events per game and emits them frame by frame.

    ``clock`` says when an update went out; ``call_later`` schedules the next frame's
    flush (the running loop's ``call_later`` unless given; its delays are in ``clock``'s
    seconds).
    """

    def __init__(
        self,
        emit: Emit,
        fps: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        call_later: CallLater | None = None,
    ):
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.frame = 1.0 / fps
        self._emit = emit
        self._clock = clock
        self._call_later = call_later
        self._rooms: dict[str, _Pending] = {}
        self.updates_sent = 0

    def push(self, game_id: str, applied: Applied) -> None:
        """Called by the hub after each event (on the loop's thread)."""
        room = self._rooms.get(game_id)
        if room is None:
            room = self._rooms[game_id] = _Pending()
        if applied.reset:  # a rebuilt game: what was pending no longer applies
            if room.timer is not None:
                room.timer.cancel()
                room.timer = None
            room.deltas, room.effects = [], []
            room.reset = True
        if not room.deltas:
            room.start = applied.seq
        room.seq = applied.seq
        room.deltas.extend(applied.deltas)
        if applied.effects:
            room.effects.extend(applied.effects)
            del room.effects[:-MAX_EFFECTS_PER_FRAME]
        if room.timer is not None:
            return
        now = self._clock()
        wait = max(0.0, room.last_sent + self.frame - now)
        call_later = self._call_later or asyncio.get_running_loop().call_later
        room.timer = call_later(wait, self._flush, game_id)
        room.due = now + wait

    def forget(self, game_id: str) -> None:
        room = self._rooms.pop(game_id, None)
        if room is not None and room.timer is not None:
            room.timer.cancel()

    def flush(self, game_id: str) -> None:
        """Send what is pending now (before a join's snapshot, so no update straddles it)."""
        room = self._rooms.get(game_id)
        if room is not None and room.deltas:
            if room.timer is not None:
                room.timer.cancel()
            self._flush(game_id)

    def flush_all(self) -> None:
        """Send every room's pending update now (a server that stops)."""
        for game_id in list(self._rooms):
            self.flush(game_id)

    def _flush(self, game_id: str) -> None:
        room = self._rooms.get(game_id)
        if room is None:
            return
        room.timer = None
        if not room.deltas:
            return
        update = {"gameId": game_id, "from": room.start, "seq": room.seq, "deltas": room.deltas}
        if room.reset:
            update["reset"] = True
            room.reset = False
        if room.effects:
            update["effects"] = room.effects
        room.deltas, room.effects = [], []
        # The frame starts when it was due, not when the loop got to it: a timer that fires
        # a little late must not push every later frame back (at an event rate near the fps,
        # that lateness added up to a whole frame of latency).
        room.last_sent = room.due if room.due else self._clock()
        room.due = 0.0
        self.updates_sent += 1
        self._send("game-state-update", update, game_id)

    def _send(self, event: str, data: Any, game_id: str) -> None:
        result = self._emit(event, data, game_id)
        if asyncio.iscoroutine(result):
            asyncio.ensure_future(result)
