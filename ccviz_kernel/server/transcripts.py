"""The server follows live games' transcripts: tool calls, tokens and model, lost hooks.

Claude Code writes every tool call and result to the session's transcript, so by default no
hook runs per call (``hooks.PER_CALL_EVENTS``: a handler per call costs Claude Code a
quarter of its time). Instead, from the first hook that names a ``transcript_path`` (the
``SessionStart`` command hook), the session's :class:`~ccviz_kernel.claude.tail.TranscriptTail`
is read every :data:`~ccviz_kernel.config.TRANSCRIPT_POLL` seconds while it grows, less and
less often (up to :data:`MAX_BACKOFF`) while it does not, until ``SessionEnd`` (plus one
follow-up read) or :data:`IDLE_STOP` without growth; any later hook follows it again (a
``--continue`` run). Reads run in a worker thread, one at a time per session and at most
:data:`MAX_READS` at once, never on the loop. Back on the loop the watcher ingests, at once
and in transcript order:

* a ``PreToolUse`` per new ``tool_use`` block, a ``PostToolUse``/``PostToolUseFailure`` per
  result (the transcript replay's fields, ``"ccviz_source": "transcript"``), keyed with
  :func:`~ccviz_kernel.events.hook_event_key` so that a hook copy of the same firing (per-call hooks
  installed with ``install-hooks --per-call``) is stored once, whichever comes first. Once
  a per-call hook has come for the game, its calls wait for :data:`GRACE` instead (gap
  fill only: a ``--command`` hook's copy carries its spool id, not the natural key);
* one ``ccviz.usage`` event per agent whose numbers changed, at most once per
  :data:`USAGE_EVERY` seconds per agent while the session works, and at once after the hooks
  that end work (:data:`~ccviz_kernel.claude.tail.TRIGGERS`): the token delta since the
  last usage event for that agent, its newest model and context (the totals already
  reported are summed from the game's log, so a restarted server neither loses nor repeats
  any);
* the prompts and stops the transcript shows but the game never received (an ``http`` hook
  that failed), each exactly once; their hooks can arrive after the transcript shows them,
  so only what is older than :data:`GRACE` seconds is filled.

On start (after the spool is drained) every stored game that has not ended and names its
transcript is caught up, and followed on if its transcript grew in the last
:data:`IDLE_STOP` seconds.
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

from ..claude.hooks import SERIAL_TOOLS
from ..claude.prompts import notification_key
from ..claude.tail import (
    PER_CALL,
    TRIGGERS,
    USAGE_EVENT,
    Fill,
    TailRefused,
    TailUpdate,
    TranscriptTail,
    UsageReporter,
)
from ..config import TRANSCRIPT_POLL
from ..events import PayloadError, hook_event_key
from ..hub import Hub

log = logging.getLogger("ccviz.server")

#: How old (seconds, by the transcript's clock against ours) a call, prompt or stop must be
#: before a hook that did not arrive is taken as lost.
GRACE = 10.0
#: After SessionEnd, one more read this much later: Claude Code writes its own count of the
#: session's tokens (``cost-state``) as it exits.
FOLLOW_UP = 3.0
#: How long the call gate holds a call of the transcript at most (seconds).
HOLD_CALLS = 1.0
#: Games whose last event is older than this are not caught up on start (seconds).
MAX_AGE = 7 * 86_400.0
#: A transcript that has not grown for a second is read less often, up to this (seconds).
MAX_BACKOFF = 2.0
#: A session whose transcript has not grown for this long is no longer read until its next
#: hook (seconds); on start, a game is followed if its transcript grew this recently.
IDLE_STOP = 600.0
#: Transcripts read at the same time at most (each read is one worker thread).
MAX_READS = 4
#: Usage events per agent at most one per this many seconds while the session works.
USAGE_EVERY = 1.0
#: Fills made at once from the transcript (the per-call events); the others wait for GRACE.
AT_ONCE = frozenset({"pre", "post", "batch"})
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
    #: A per-call hook came (per-call hooks are installed): the transcript's calls then
    #: wait for GRACE like prompts and stops, since a ``--command`` hook's copy is keyed
    #: by its spool id and would not be deduplicated against ours.
    hooked_calls: bool = False

    def note(self, payload: dict[str, Any]) -> None:
        name = payload.get("hook_event_name")
        path = payload.get("transcript_path")
        if isinstance(path, str) and path and name != USAGE:
            self.transcript_path = path
        use_id = payload.get("tool_use_id")
        prompt_id = payload.get("prompt_id")
        if name in PER_CALL and payload.get("ccviz_source") != "transcript":
            self.hooked_calls = True
        if name == "PreToolUse" and isinstance(use_id, str):
            self.pre.add(use_id)
        elif name in ("PostToolUse", "PostToolUseFailure") and isinstance(use_id, str):
            self.post.add(use_id)
        elif name == "PostToolBatch":
            calls = payload.get("tool_calls")
            for call in calls if isinstance(calls, list) else ():
                if isinstance(call, dict) and isinstance(call.get("tool_use_id"), str):
                    self.batch.add(call["tool_use_id"])
        elif name == "UserPromptSubmit":
            if isinstance(prompt_id, str):
                self.prompts.add(prompt_id)
            prompt = payload.get("prompt")
            key = notification_key(prompt) if isinstance(prompt, str) else None
            if key is not None:  # a task's result, however the transcript shows it
                self.prompts.add(key)
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
        if fill.kind == "batch":
            calls = fill.payload.get("tool_calls") or []
            return bool(calls) and all(c.get("tool_use_id") in self.batch for c in calls)
        if fill.kind == "prompt":
            return fill.key in self.prompts
        return fill.key in self.stops


class _CallGate:
    """Lets the transcript's calls start in the order Claude Code starts them.

    A message's calls are all in the transcript at once, but Claude Code runs them side by
    side only when none is a :data:`~ccviz_kernel.claude.hooks.SERIAL_TOOLS` call (then one
    at a time), and the next message's calls only after every result of this one, which the
    transcript may write a little later than the next message. So a call is held until
    those results were read, at most :data:`HOLD_CALLS` seconds."""

    def __init__(self) -> None:
        self.open: dict[str, tuple[str | None, str | None, str]] = {}  # use id → agent, …
        self.queue: list[tuple[float, Fill]] = []

    def order(self, fills: list[Fill], now: float) -> list[Fill]:
        out: list[Fill] = []
        for fill in fills:
            if fill.kind == "pre":
                self.queue.append((now, fill))
            else:
                queued = next((q for q in self.queue if q[1].key == fill.key), None)
                if queued is not None:  # a result for a call still held: start it first
                    self.queue.remove(queued)
                    out.append(queued[1])
                self.open.pop(fill.key, None)
                out.append(fill)
            self._release(out, now)
        self._release(out, now)
        return out

    def _release(self, out: list[Fill], now: float) -> None:
        held_agents: set[str | None] = set()
        for item in list(self.queue):
            since, fill = item
            agent = fill.payload.get("agent_id")
            if agent in held_agents and now - since < HOLD_CALLS:
                continue  # keep an agent's calls in their order
            if now - since < HOLD_CALLS and not self._may_start(fill, agent):
                held_agents.add(agent)
                continue
            self.queue.remove(item)
            self.open[fill.key] = (agent, fill.group, str(fill.payload.get("tool_name")))
            out.append(fill)

    def _may_start(self, fill: Fill, agent: str | None) -> bool:
        running = [(g, t) for a, g, t in self.open.values() if a == agent]
        if not running:
            return True
        if any(g != fill.group for g, _ in running):
            return False  # the previous message's results are not all read yet
        tool = fill.payload.get("tool_name")
        return tool not in SERIAL_TOOLS and not any(t in SERIAL_TOOLS for _, t in running)


@dataclass
class _Session:
    seen: _Seen = field(default_factory=_Seen)
    loaded: bool = False
    tail: TranscriptTail | None = None
    tail_path: str | None = None
    refused: str | None = None
    pending: dict[tuple[str, str], Fill] = field(default_factory=dict)
    #: The follower (reads while the session is active); ``wake`` makes it read now.
    task: asyncio.Task[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: Reading, or woken and about to (``idle()`` waits for this to clear).
    busy: bool = False
    timer: asyncio.TimerHandle | None = None
    #: Send usage now, whatever USAGE_EVERY says (a hook that ends work came).
    flush_usage: bool = False
    #: Per agent: when (loop time) its last usage event was sent.
    usage_at: dict[str | None, float] = field(default_factory=dict)
    #: Loop time the transcript last grew (or a hook came); the newest file time, epoch s.
    grew_at: float = 0.0
    mtime: float | None = None
    #: Set by the catch-up on start: follow on only if the transcript grew lately.
    from_start: bool = False
    #: Hook ingests waiting for the next read (see ``TranscriptWatcher.read_first``).
    after_read: list[Callable[[], None]] = field(default_factory=list)
    gate: _CallGate = field(default_factory=lambda: _CallGate())


class TranscriptWatcher:
    """Tool calls, tokens, model and gap fill from live games' transcripts, for one
    :class:`Hub`."""

    def __init__(
        self,
        hub: Hub,
        *,
        grace: float = GRACE,
        follow_up: float = FOLLOW_UP,
        poll: float = TRANSCRIPT_POLL,
        clock: Callable[[], float] = time.time,
        on_held: Callable[[], None] | None = None,
    ) -> None:
        self.hub = hub
        #: Called when an event was held in the hub's reorder window (the server's timer).
        self.on_held = on_held
        self.grace = grace
        self.follow_up = follow_up
        self.poll = poll
        self.max_backoff = MAX_BACKOFF
        self.idle_stop = IDLE_STOP
        self.clock = clock
        self.sessions: dict[str, _Session] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._reads: asyncio.Semaphore | None = None
        self._closed = False
        #: (seconds per read) of the last reads, for measurements.
        self.read_times: list[float] = []

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
            session.flush_usage = True
            if name == "SessionEnd":
                self.schedule(game_id, self.follow_up)
        if session.seen.transcript_path is None and session.loaded:
            return  # nothing to read (yet)
        session.from_start = False
        with contextlib.suppress(RuntimeError):
            session.grew_at = asyncio.get_running_loop().time()
        self.schedule(game_id)

    def start(self) -> None:
        """Catch up every stored game that has not ended (call it after draining the spool,
        on the loop)."""
        self._spawn(self._catch_up_all(), name="ccviz-catch-up")

    async def stop(self) -> None:
        self._closed = True
        for session in self.sessions.values():
            if session.timer is not None:
                session.timer.cancel()
            session.wake.set()
            self._run_after_read(session)  # a clean stop loses no hook
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def idle(self) -> None:
        """Wait until no read is running or due now (for tests); followers may sleep on."""
        while True:
            busy = [t for t in self._tasks if t.get_name() == "ccviz-catch-up"]
            busy += [s for s in self.sessions.values() if s.busy and not _done(s.task)]
            if not busy:
                return
            await asyncio.sleep(0.005)

    def read_first(self, game_id: str, then: Callable[[], None]) -> bool:
        """Run ``then`` (a hook's ingest) right after the next read of the game's transcript,
        in arrival order with the other hooks waiting; False (the caller ingests now) when
        the transcript is not being followed. A hook fires after the transcript lines of what came
        before it are written, so reading first applies those first."""
        session = self.sessions.get(game_id)
        if self._closed or session is None or session.tail is None or _done(session.task):
            return False  # not followed now (nothing read yet, refused, stopped): at once
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        session.after_read.append(then)
        self.schedule(game_id)
        return True

    def _run_after_read(self, session: _Session, count: int | None = None) -> None:
        ready = session.after_read if count is None else session.after_read[:count]
        session.after_read = [] if count is None else session.after_read[count:]
        for then in ready:
            try:
                then()
            except Exception:  # one hook must not keep the others waiting
                log.exception("ingesting a hook after the transcript read failed")

    def following(self, game_id: str) -> bool:
        """Whether ``game_id``'s transcript is being followed now."""
        session = self.sessions.get(game_id)
        return session is not None and not _done(session.task)

    # -- scheduling -----------------------------------------------------------------------

    def schedule(self, game_id: str, delay: float = 0.0) -> None:
        """Read ``game_id``'s transcript now (or in ``delay`` seconds), starting its
        follower if it is not running."""
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
        session.busy = True
        session.wake.set()
        if _done(session.task):
            if not session.grew_at:
                session.grew_at = loop.time()
            session.task = self._spawn(self._follow(game_id, session), name="ccviz-follow")

    def _due(self, game_id: str, session: _Session) -> None:
        session.timer = None
        self.schedule(game_id)

    def _spawn(self, coro: Any, name: str | None = None) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _follow(self, game_id: str, session: _Session) -> None:
        """Read the session's transcript while it is active: every ``poll`` seconds while
        it grows, backing off when it does not; at once when woken (a hook came)."""
        loop = asyncio.get_running_loop()
        if self._reads is None:
            self._reads = asyncio.Semaphore(MAX_READS)
        try:
            while not self._closed:
                session.wake.clear()
                session.busy = True
                update = None
                waiting = len(session.after_read)  # hooks that came before this read began
                try:
                    async with self._reads:
                        began = time.perf_counter()
                        update = await asyncio.to_thread(self._read, game_id, session)
                        self._timed(time.perf_counter() - began)
                    if update is not None:
                        self._apply(game_id, session, update)
                except asyncio.CancelledError:
                    raise
                except Exception:  # a transcript we cannot make sense of must not stop us
                    log.exception("reading the transcript of %s failed", game_id)
                finally:
                    self._run_after_read(session, waiting)
                now = loop.time()
                if session.from_start:
                    # Caught up on start: follow on only if the transcript grew lately.
                    session.from_start = False
                    age = self.clock() - session.mtime if session.mtime is not None else None
                    session.grew_at = now - (age if age is not None else self.idle_stop)
                elif update is not None and update.lines:
                    session.grew_at = now
                if session.wake.is_set():
                    continue  # a hook came during the read: read again at once
                quiet = now - session.grew_at
                waiting = session.timer is not None or bool(session.pending)
                if not waiting and (
                    session.tail is None  # nothing to read: no transcript named, or refused
                    or session.seen.ended  # SessionEnd and its follow-up read are done
                    or quiet >= self.idle_stop  # idle for long: the next hook follows it again
                ):
                    return
                session.busy = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(session.wake.wait(), self._delay(quiet, session, now))
        finally:
            session.busy = False
            session.tail = None  # frees memory; a later life reads afresh (keys dedupe)
            session.tail_path = None
            self._run_after_read(session)  # nothing waits on a follower that stopped

    def _delay(self, quiet: float, session: _Session, now: float) -> float:
        if quiet < 1.0:
            delay = self.poll
        else:
            delay = min(self.max_backoff, max(self.poll, quiet / 4))
        if session.usage_at and session.tail is not None:
            # Usage held back by USAGE_EVERY goes with the first read after it is due.
            due = min(session.usage_at.values()) + USAGE_EVERY - now
            if due > 0 and self._usage_held(session):
                delay = min(delay, due + 0.01)
        return delay

    def _usage_held(self, session: _Session) -> bool:
        tail = session.tail
        if tail is None:
            return False
        reported = session.seen.usage.reported
        for agent, totals in tail.counter.agents.items():
            if totals.usage != reported.get(agent, totals.usage):
                return True
        return False

    def _timed(self, seconds: float) -> None:
        self.read_times.append(seconds)
        if len(self.read_times) > 10_000:
            del self.read_times[:5_000]

    async def _catch_up_all(self) -> None:
        found = await asyncio.to_thread(self._open_games)
        for game_id in found:
            if self._closed:
                return
            session = self.sessions.setdefault(game_id, _Session())
            if _done(session.task):
                session.from_start = True
                self.schedule(game_id)

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
        if session.from_start:
            with contextlib.suppress(OSError):
                session.mtime = session.tail.path.stat().st_mtime
        return session.tail.poll()

    # -- back on the loop --------------------------------------------------------------------

    def _apply(self, game_id: str, session: _Session, update: TailUpdate) -> None:
        if self._closed or game_id in self.hub.replays:
            return
        seen = session.seen
        # The per-call events: at once, in the order Claude Code runs them (the gate),
        # unless a hook brought them.
        calls = []
        for fill in update.fills:
            if fill.kind not in AT_ONCE or seen.hooked_calls:
                session.pending.setdefault((fill.kind, fill.key), fill)
            else:
                calls.append(fill)
        for fill in session.gate.order(calls, self.clock()):
            if not seen.known(fill):
                payload = {**fill.payload, "session_id": game_id}
                # Through the reorder window like a hook: the transcript and the hooks are
                # two channels (a TaskCreate's result may be read before its TaskCreated).
                key = _hook_key(payload) or f"transcript:{game_id}:{fill.kind}:{fill.key}"
                self._ingest(payload, key=key, reorder=True)
                seen.note(payload)
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
        ready.sort(key=lambda fill: fill.when)
        for fill in ready:
            payload = {**fill.payload, "session_id": game_id}
            key = _hook_key(payload) if fill.kind in AT_ONCE else None
            self._ingest(payload, key=key or f"transcript:{game_id}:{fill.kind}:{fill.key}")
            seen.note(payload)
        self._report_usage(game_id, session, update)
        if wait is not None:
            self.schedule(game_id, wait + 0.05)

    def _report_usage(self, game_id: str, session: _Session, update: TailUpdate) -> None:
        """Usage events for the agents whose numbers changed, at most one per agent per
        USAGE_EVERY seconds unless a hook that ends work came."""
        loop_now = asyncio.get_running_loop().time()
        force, session.flush_usage = session.flush_usage, False
        due = {
            agent: totals
            for agent, totals in update.totals.items()
            if force or loop_now - session.usage_at.get(agent, -USAGE_EVERY) >= USAGE_EVERY
        }
        for payload in session.seen.usage.events(game_id, due):
            agent = payload.get("agent_id")
            session.usage_at[agent if isinstance(agent, str) else None] = loop_now
            self._ingest(payload)

    def _ingest(
        self, payload: dict[str, Any], key: str | None = None, *, reorder: bool = False
    ) -> bool:
        try:
            _, seq = self.hub.ingest(payload, key=key, reorder=reorder)
        except PayloadError as exc:
            log.warning("skipped an event from a transcript: %s", exc)
            return False
        if seq == 0 and self.on_held is not None:
            self.on_held()  # held in the reorder window: the server applies it in time
        return True


def _hook_key(payload: dict[str, Any]) -> str | None:
    return hook_event_key(payload)


def _done(task: asyncio.Task[None] | None) -> bool:
    return task is None or task.done()


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
