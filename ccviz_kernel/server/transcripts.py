"""The server reads live games' transcripts: tokens and model, and hooks that never came.

After the hub ingests a hook that ends a stretch of work (:data:`TRIGGERS`), the session's
:class:`~ccviz_kernel.claude.tail.TranscriptTail` reads what the transcript gained, in a
worker thread (never on the loop), and back on the loop the watcher ingests:

* one ``ccviz.usage`` event per agent whose numbers changed: the token delta since the
  last usage event for that agent, its newest model and context (the totals already
  reported are summed from the game's log, so a restarted server neither loses nor repeats
  any);
* the tool calls, prompts and stops the transcript shows but the game never received
  (hooks lost while the server was down, or an ``http`` hook that failed), synthesized with
  the transcript replay's fields and ``"ccviz_source": "transcript"``, each exactly once
  (a delivery key per tool_use_id / prompt_id). Hooks run in the background and can arrive
  after the transcript shows their call, so only what is older than :data:`GRACE` seconds
  is filled; younger gaps are looked at again once they are old enough.

On start (after the spool is drained) every stored game that has not ended and names its
transcript is caught up once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..claude.tail import (
    TRIGGERS,
    USAGE_EVENT,
    Fill,
    TailRefused,
    TailUpdate,
    TranscriptTail,
    UsageReporter,
)
from ..events import PayloadError
from ..hub import Hub

log = logging.getLogger("ccviz.server")

#: How old (seconds, by the transcript's clock against ours) a call, prompt or stop must be
#: before a hook that did not arrive is taken as lost.
GRACE = 10.0
#: After SessionEnd, one more read this much later: Claude Code writes its own count of the
#: session's tokens (``cost-state``) as it exits.
FOLLOW_UP = 3.0
#: Games whose last event is older than this are not caught up on start (seconds).
MAX_AGE = 7 * 86_400.0
USAGE = USAGE_EVENT


@dataclass
class _Seen:
    """What one game received, as far as gap fill and usage need to know."""

    transcript_path: str | None = None
    ended: bool = False
    pre: set[str] = field(default_factory=set)
    post: set[str] = field(default_factory=set)
    batch: set[str] = field(default_factory=set)
    prompts: set[str] = field(default_factory=set)
    stops: set[str] = field(default_factory=set)
    #: Per agent: usage reported so far, and the last model and context sent.
    usage: UsageReporter = field(default_factory=UsageReporter)

    def note(self, payload: dict[str, Any]) -> None:
        name = payload.get("hook_event_name")
        path = payload.get("transcript_path")
        if isinstance(path, str) and path and name != USAGE:
            self.transcript_path = path
        use_id = payload.get("tool_use_id")
        prompt_id = payload.get("prompt_id")
        if name == "PreToolUse" and isinstance(use_id, str):
            self.pre.add(use_id)
        elif name in ("PostToolUse", "PostToolUseFailure") and isinstance(use_id, str):
            self.post.add(use_id)
        elif name == "PostToolBatch":
            calls = payload.get("tool_calls")
            for call in calls if isinstance(calls, list) else ():
                if isinstance(call, dict) and isinstance(call.get("tool_use_id"), str):
                    self.batch.add(call["tool_use_id"])
        elif name == "UserPromptSubmit" and isinstance(prompt_id, str):
            self.prompts.add(prompt_id)
        elif name in ("Stop", "StopFailure") and isinstance(prompt_id, str):
            self.stops.add(prompt_id)
        elif name == "SessionEnd":
            self.ended = True
        elif name == "SessionStart":
            self.ended = False
        elif name == USAGE:
            self.usage.note(payload)

    def known(self, fill: Fill) -> bool:
        if fill.kind == "pre":
            return fill.key in self.pre or fill.key in self.batch
        if fill.kind == "post":
            return fill.key in self.post or fill.key in self.batch
        if fill.kind == "prompt":
            return fill.key in self.prompts
        return fill.key in self.stops


@dataclass
class _Session:
    seen: _Seen = field(default_factory=_Seen)
    loaded: bool = False
    tail: TranscriptTail | None = None
    tail_path: str | None = None
    refused: str | None = None
    pending: dict[tuple[str, str], Fill] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    again: bool = False
    timer: asyncio.TimerHandle | None = None


class TranscriptWatcher:
    """Tokens, model and gap fill from live games' transcripts, for one :class:`Hub`."""

    def __init__(
        self,
        hub: Hub,
        *,
        grace: float = GRACE,
        follow_up: float = FOLLOW_UP,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hub = hub
        self.grace = grace
        self.follow_up = follow_up
        self.clock = clock
        self.sessions: dict[str, _Session] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- what the server calls -----------------------------------------------------------

    def saw(self, game_id: str, body: bytes | str | dict[str, Any]) -> None:
        """A hook was ingested for ``game_id`` (call it on the loop, after ``hub.ingest``)."""
        if self._closed or game_id in self.hub.replays:
            return
        try:
            payload = body if isinstance(body, dict) else orjson.loads(body)
        except orjson.JSONDecodeError:
            return
        if not isinstance(payload, dict):
            return
        session = self.sessions.get(game_id)
        if session is None:
            session = self.sessions[game_id] = _Session()
        session.seen.note(payload)
        name = payload.get("hook_event_name")
        if name in TRIGGERS:
            self.schedule(game_id)
            if name == "SessionEnd":
                self.schedule(game_id, self.follow_up)

    def start(self) -> None:
        """Catch up every stored game that has not ended (call it after draining the spool,
        on the loop)."""
        self._spawn(self._catch_up_all())

    async def stop(self) -> None:
        self._closed = True
        for session in self.sessions.values():
            if session.timer is not None:
                session.timer.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def idle(self) -> None:
        """Wait until no read is running (for tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- scheduling -----------------------------------------------------------------------

    def schedule(self, game_id: str, delay: float = 0.0) -> None:
        """Read ``game_id``'s transcript now (or in ``delay`` seconds)."""
        if self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # a hub used outside a server: nothing reads transcripts
        session = self.sessions.setdefault(game_id, _Session())
        if delay > 0:
            timer = session.timer
            if timer is not None and timer.when() <= loop.time() + delay:
                return  # an earlier read is already due; it schedules what it leaves over
            if timer is not None:
                timer.cancel()
            session.timer = loop.call_later(delay, self._due, game_id, session)
            return
        if session.task is not None and not session.task.done():
            session.again = True
            return
        session.task = self._spawn(self._run(game_id, session))

    def _due(self, game_id: str, session: _Session) -> None:
        session.timer = None
        self.schedule(game_id)

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, game_id: str, session: _Session) -> None:
        while True:
            session.again = False
            try:
                update = await asyncio.to_thread(self._read, game_id, session)
                if update is not None:
                    self._apply(game_id, session, update)
            except asyncio.CancelledError:
                raise
            except Exception:  # a transcript we cannot make sense of must not stop the server
                log.exception("reading the transcript of %s failed", game_id)
            if not session.again or self._closed:
                return

    async def _catch_up_all(self) -> None:
        found = await asyncio.to_thread(self._open_games)
        for game_id in found:
            if self._closed:
                return
            session = self.sessions.setdefault(game_id, _Session())
            if session.task is None or session.task.done():
                session.task = self._spawn(self._run(game_id, session))
                await asyncio.gather(session.task, return_exceptions=True)

    def _open_games(self) -> list[str]:
        """Stored games that have not ended, were active lately and name a transcript."""
        now = self.clock()
        found = []
        for row in self.hub.store.games():
            if row.last_ts is not None and now - row.last_ts > MAX_AGE:
                continue
            if row.game_id in self.hub.replays:
                continue
            last = _last_hook(self.hub, row.game_id, row.events)
            if last == "SessionEnd":
                continue
            found.append(row.game_id)
        return found

    # -- in the worker thread --------------------------------------------------------------

    def _read(self, game_id: str, session: _Session) -> TailUpdate | None:
        if not session.loaded:
            # Everything the game got before this server (or before eviction) saw it.
            seen = _Seen()
            for row in self.hub.store.events(game_id):
                try:
                    payload = orjson.loads(row.payload)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(payload, dict):
                    seen.note(payload)
            # What arrived since the read began is in both: sets merge, usage is only ours.
            live = session.seen
            seen.pre |= live.pre
            seen.post |= live.post
            seen.batch |= live.batch
            seen.prompts |= live.prompts
            seen.stops |= live.stops
            seen.transcript_path = live.transcript_path or seen.transcript_path
            seen.ended = live.ended or seen.ended
            session.seen = seen
            session.loaded = True
        path = session.seen.transcript_path
        if path is None:
            return None
        if session.tail is None or session.tail_path != path:
            if session.refused == path:
                return None
            try:
                session.tail = TranscriptTail(path, session_id=game_id)
            except TailRefused as exc:
                log.info("not reading the transcript of %s: %s", game_id, exc)
                session.refused = path
                return None
            session.tail_path = path
        return session.tail.poll()

    # -- back on the loop --------------------------------------------------------------------

    def _apply(self, game_id: str, session: _Session, update: TailUpdate) -> None:
        if self._closed or game_id in self.hub.replays:
            return
        seen = session.seen
        for fill in update.fills:
            session.pending.setdefault((fill.kind, fill.key), fill)
        now = self.clock()
        ready: list[Fill] = []
        wait: float | None = None
        for key, fill in list(session.pending.items()):
            if seen.known(fill):
                del session.pending[key]
            elif now - fill.when >= self.grace:
                ready.append(fill)
                del session.pending[key]
            else:
                left = self.grace - (now - fill.when)
                wait = left if wait is None else min(wait, left)
        ready.sort(key=lambda fill: (fill.when, fill.kind != "pre"))
        for fill in ready:
            payload = {**fill.payload, "session_id": game_id}
            self._ingest(payload, key=f"transcript:{game_id}:{fill.kind}:{fill.key}")
            seen.note(payload)
        for payload in seen.usage.events(game_id, update.totals):
            self._ingest(payload)
        if wait is not None:
            self.schedule(game_id, wait + 0.05)
        elif seen.ended and session.timer is None:
            session.tail = None  # the session is over: its next life reads afresh

    def _ingest(self, payload: dict[str, Any], key: str | None = None) -> bool:
        try:
            self.hub.ingest(payload, key=key)
        except PayloadError as exc:
            log.warning("skipped an event from a transcript: %s", exc)
            return False
        return True


def _last_hook(hub: Hub, game_id: str, events: int) -> str | None:
    """The name of the game's newest event that is not one of ours (``ccviz.*``)."""
    since = max(0, events - 20)
    last = None
    for row in hub.store.events(game_id, since=since):
        try:
            name = orjson.loads(row.payload).get("hook_event_name")
        except (orjson.JSONDecodeError, AttributeError):
            continue
        if isinstance(name, str) and not name.startswith("ccviz."):
            last = name
    return last
