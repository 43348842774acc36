"""Every process serves every game: tail the shared Redis log and apply what others appended.

Several ``ccviz serve --redis URL`` share one event log (redis_store.py); each has its own
engine, viewers and spool. A hook ingested by process A is in the log at once, but B's
engine and B's viewers know nothing of it. The :class:`LogFollower` closes that gap: a
thread does a blocking ``XREAD BLOCK`` on the streams of the games this process has in
memory or has viewers for (each from the seq this process has), and hands what it read to
the event loop (``call_soon_threadsafe``), where :meth:`~ccviz_kernel.hub.Hub.follow`
applies it through the normal path: the engine, the hub's listeners, the broadcast. The
same events in the same order give the same game (the engine is pure), with the same
``seq``, so ``join-game`` with ``since`` works against any process.

Why XREAD BLOCK and not a poll of ``last_seq`` per game: one round trip covers every
watched game, an event reaches the other processes as soon as it is appended (no polling
delay to add to every event's latency), and an idle server costs one blocked connection
instead of N HGETs every 50 ms. The block lasts at most :data:`BLOCK_MS`, so a game that
gains a viewer here is tailed within that time (its viewer got the state at join; what
came after follows). Why not python-socketio's ``AsyncRedisManager``: it is plain pub/sub
(a message published while a process reconnects is gone) and orders nothing across
processes; the log orders everything and can be read again from any seq.

Never twice, never skipped: the thread's cursors are a hint only; the hub skips rows it has
and catches up from the log on a gap. Rows the loop could not apply (the catch-up read
failed: Redis went away between the XREAD and the catch-up) rewind that game's cursor to
the seq the hub has, so they are read again rather than lost, even if the game gets no
later event. The lobby is the log's game list (every process sees every game); the
thread also reads the log's change counter (a GET in the XREAD's round trip: the append
script counts every append, of any game), so a game another process creates or grows
marks this process's lobby for a push (within :data:`WATCH_EVERY`), also when no viewer
here watches it.

Cheap for a process's own appends: the XREAD wakes for them too (it cannot tell whose they
are), but the thread drops rows the hub has already (its seq, read as a hint) and the
counter only sets a flag the loop takes, so an event this process ingested costs its tail
one round trip and no hand-over to the loop.

Redis restarts: a failed read stops nothing. The thread logs once, waits :data:`RETRY_S`
and reads again from its cursors (redis-py opens a new connection), and the rewinds above
cover rows handed over but not applied. Appends meanwhile fail with a StoreError (the
hook route answers 503 and the hook spools; held hooks are held again, hub.py).

Held hooks: an event the reorder window holds was answered already, so the hub records it
in the log too (``RedisEventStore.keep_held``) until it is logged. Every
:data:`ORPHANS_EVERY` s the thread asks for held events past their window and grace (their
process was killed) and the loop logs them (:meth:`~ccviz_kernel.hub.Hub.log_orphans`); their
delivery keys make that exactly-once when several processes do it, or the holder was only
slow.

Replays are not in the log (seeking back rebuilds them): a replay's clock (play, pause,
seek, speed) lives in the process that opened it, and every other process can show it.
The thread claims each replay this process plays under ``<prefix>replay:<game_id>``
(naming the host and pid; renewed every :data:`REPLAY_RENEW_S` s, gone
:data:`REPLAY_TTL_S` s after a kill -9, dropped on close) and shares its recording and
its clock's state (``RedisEventStore.share_replay``); the loop adds a state each time the
clock moves. A join that finds no game here looks for a shared replay
(:meth:`LogFollower.mirror`): this process then opens a *mirror*, the same recording on a
clock that never runs its own timer but follows the owner's states (read each turn of the
thread, so within :data:`BLOCK_MS`), and its viewers' controls go to the owner
(``ask_replay``), who applies them as its own and shares the move. So the clock is in one
place and any process serves its viewers. Closed, a replay is unshared and its mirrors
close; when its process stops (the drain closes it but leaves it shared) or is killed (the
claim runs out; the recording outlives it by :data:`REPLAY_SOURCE_TTL_S`), the first mirror
to claim it (``take_replay``) plays it on as its own, and the others follow that one. A
replay claimed but not shared (an older ccviz) is refused with a message naming where it
plays (:meth:`LogFollower.replay_owner`).

Reads through :meth:`~ccviz_kernel.redis_store.RedisEventStore.read_new`: that module
alone knows the key layout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from .._store_common import StoredEvent
from ..errors import StoreError
from ..events import PayloadError, parse_event

log = logging.getLogger("ccviz.server")

#: Longest wait of one XREAD (ms): how soon a new game or a stop is noticed.
BLOCK_MS = 100
#: How often the loop tells the thread which games to watch, and from which seq.
WATCH_EVERY = 0.05
#: After a Redis error, wait this long before reading again.
RETRY_S = 0.25
#: Entries taken per stream per XREAD.
COUNT = 500
#: A replay's claim in the log (``<prefix>replay:<game_id>``, naming the process that plays
#: it) lives this long unless renewed, so the claim of a killed process goes by itself.
REPLAY_TTL_S = 15
#: A shared replay's recording and clock outlive its claim by this long, so that when its
#: process dies a mirror can take the replay over (the claim goes first, then this).
REPLAY_SOURCE_TTL_S = 60
#: How often the thread renews this process's claims.
REPLAY_RENEW_S = 5.0
#: How often the thread looks for held events whose process died (one HGETALL).
ORPHANS_EVERY = 1.0


class LogFollower:
    """Tails the shared log for one server (``store``: a RedisEventStore)."""

    def __init__(
        self,
        hub: Any,
        watched: Callable[[], list[str]],
        on_lobby_change: Callable[[], None],
    ) -> None:
        self.hub = hub
        self.store = hub.store
        self._watched = watched
        self._on_lobby_change = on_lobby_change
        #: Set on the loop, read by the thread: {game_id: seq this process has}.
        self._watch: dict[str, int] = {}
        #: Games whose rows were handed over but not applied: {game_id: seq to read from}.
        self._rewind: dict[str, int] = {}
        self._rewind_lock = threading.Lock()
        #: Set on the loop, read by the thread: the replays this process plays.
        self._replays: frozenset[str] = frozenset()
        #: Set by the thread, read by the loop: the ones whose recording it shared.
        self._shared: frozenset[str] = frozenset()
        #: Mirrored replays (another process's clock) and the clock entry each has shown;
        #: the loop adds and moves them, the thread reads a copy.
        self._mirrors: dict[str, str] = {}
        #: Own replays whose clock moved this turn of the loop (shared at its end).
        self._moved: set[str] = set()
        #: The server is stopping: its replays close, yet stay shared for a mirror to take.
        self.stopping = False
        #: Set by the thread, taken by the loop: some game grew (the change counter moved).
        self._lobby_changed = False
        #: How other processes name this one when they refuse a join of its replay.
        self.owner = f"{socket.gethostname()} pid {os.getpid()} #{uuid.uuid4().hex[:6]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._refresh()
        self._task = self._loop.create_task(self._watch_loop())
        self._thread = threading.Thread(target=self._run, name="ccviz-log-follower", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping
                pass
            self._task = None
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5.0)
            self._thread = None

    # -- on the loop --------------------------------------------------------------------

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(WATCH_EVERY)
            try:
                self._refresh()
            except Exception:  # noqa: BLE001 - keep watching
                log.exception("ccviz log follower: listing watched games failed")

    def _refresh(self) -> None:
        if self._lobby_changed:  # a flag, not a handoff per append: the counter moves with each
            self._lobby_changed = False
            self._on_lobby_change()
        hub = self.hub
        viewed = set(self._watched())
        for gid in viewed.difference(hub.live_ids()):
            hub.watch(gid)  # its first events may come from another process (Hub.watch)
        ids = set(hub.live_ids()) | viewed
        watch = {gid: hub.live_seq(gid) for gid in ids if gid not in hub.replays}
        self._watch = watch  # one assignment: the thread sees the old dict or the new one
        replays = frozenset(g for g in hub.replays if g not in hub.mirrored)
        for gid in self._replays - replays:  # closed here: its mirrors close too
            if not self.stopping:
                with contextlib.suppress(StoreError):  # Redis away: they expire
                    self.store.unshare_replay(gid)
        self._replays = replays
        for gid in [g for g in self._mirrors if g not in hub.mirrored]:  # closed here
            del self._mirrors[gid]

    # -- shared replays, on the loop -------------------------------------------------------

    def mirror(self, game_id: str) -> bool:
        """Open a mirror of ``game_id`` if another process shares it as a replay (one read
        of the recording and the clock's newest state); whether one is open now."""
        if game_id in self.hub.replays:
            return game_id in self.hub.mirrored
        try:
            shared = self.store.shared_replay(game_id)
            owner = self.store.replay_owner(game_id)
        except StoreError:
            return False
        if shared is None or not owner or owner == self.owner:
            return False
        rows, state, entry_id = shared
        try:
            events = [parse_event(p, ts=t, session_id=game_id) for p, t in rows]
            self.hub.open_replay(events, game_id=game_id, mirror=state)
        except (PayloadError, ValueError) as exc:
            log.warning("ccviz cannot show the replay %r shared by %s: %s", game_id, owner, exc)
            return False
        self._mirrors[game_id] = entry_id
        return True

    def replay_moved(self, game_id: str) -> None:
        """This process's replay clock moved: share its state (the mirrors follow it), once
        per turn of the loop however many events a seek applied."""
        if game_id not in self._shared or game_id in self.hub.mirrored:
            return
        if not self._moved:
            asyncio.get_running_loop().call_soon(self._share_moves)
        self._moved.add(game_id)

    def _share_moves(self) -> None:
        moved, self._moved = self._moved, set()
        for gid in moved:
            clock = self.hub.replays.get(gid)
            if clock is None or gid in self.hub.mirrored:
                continue
            try:
                self.store.replay_clock(gid, clock.status())
            except StoreError:  # Redis away: the next move shares the state again
                pass

    def ask_owner(self, game_id: str, action: dict[str, Any]) -> None:
        """A viewer here controls a mirrored replay: the owner applies it (follow.py doc)."""
        try:
            self.store.ask_replay(game_id, action, REPLAY_TTL_S)
        except StoreError as exc:
            raise PayloadError(f"replay {game_id!r} plays on another server: {exc}") from None

    def _apply_asks(self, asks: dict[str, list[dict[str, Any]]]) -> None:
        for gid, actions in asks.items():
            for action in actions:
                if gid not in self.hub.replays or gid in self.hub.mirrored:
                    break
                try:
                    self.hub.control(gid, str(action.get("type")), action)
                except PayloadError as exc:  # checked over there; refused here all the same
                    log.warning("ccviz refused a control of replay %r from afar: %s", gid, exc)

    def _follow_moves(self, moves: dict[str, tuple[dict[str, Any], str]]) -> None:
        for gid, (state, entry_id) in moves.items():
            clock = self.hub.replays.get(gid)
            if clock is None or gid not in self.hub.mirrored:
                continue
            self._mirrors[gid] = entry_id
            clock.follow(state)

    def _drop_mirrors(self, gone: list[str]) -> None:
        for gid in gone:
            if gid in self.hub.mirrored:
                self.hub.close_replay(gid)
            self._mirrors.pop(gid, None)
        self._on_lobby_change()

    def _adopt(self, game_id: str) -> None:
        """A mirrored replay whose server went: this process claimed it and plays it on
        from where it was shown (its own clock now; shared again by the thread)."""
        self._mirrors.pop(game_id, None)
        if game_id in self.hub.mirrored:
            self.hub.adopt_replay(game_id)
            log.warning("ccviz plays on the replay %r: the server that played it went", game_id)

    def _now_shared(self, shared: frozenset[str]) -> None:
        new = shared - self._shared
        self._shared = shared
        for gid in new:  # what moved before the share was seen: the state now
            self.replay_moved(gid)

    def replay_owner(self, game_id: str) -> str | None:
        """The process that plays ``game_id`` as a replay, when it is another one (one GET;
        ``None`` also when Redis cannot be asked: the join goes on as for any new game)."""
        if game_id in self.hub.replays:
            return None
        try:
            owner = self.store.replay_owner(game_id)
        except StoreError:  # Redis away: nothing to say about it
            return None
        return owner if owner and owner != self.owner else None

    def _deliver(
        self,
        batch: dict[str, list[StoredEvent]],
        orphans: list[tuple[str, str, str, float | None]],
    ) -> None:
        if orphans:
            self.hub.log_orphans(orphans)
        for gid, rows in batch.items():
            try:
                self.hub.follow(gid, rows)
            except StoreError as exc:  # the catch-up read failed: read these rows again
                log.warning("ccviz log follower: catching up game %r failed: %s", gid, exc)
                have = self.hub.live_seq(gid)
                with self._rewind_lock:
                    self._rewind[gid] = min(have, self._rewind.get(gid, have))
            except Exception:  # noqa: BLE001 - one bad game must not stop the others
                # Not read again: the same rows would fail the same way, in a loop.
                log.exception("ccviz log follower: applying game %r failed", gid)
        self._refresh()

    # -- on the thread ------------------------------------------------------------------

    def _handover(self, work: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server stopped
            self._loop.call_soon_threadsafe(work, *args)

    def _share(self, game_id: str) -> None:
        """Publish a replay this process plays: its recording and its clock's state."""
        clock = self.hub.replays.get(game_id)
        if clock is None:
            return
        rows = [(event.to_json(), event.ts) for event in clock.events]
        self.store.share_replay(game_id, rows, clock.status(), REPLAY_SOURCE_TTL_S)

    def _run(self) -> None:
        cursors: dict[str, int] = {}
        changes_seen: str | None = None
        failing = False
        claimed: frozenset[str] = frozenset()
        renew_at = orphans_at = 0.0
        while not self._stop.is_set():
            watch = self._watch
            with self._rewind_lock:
                rewind, self._rewind = self._rewind, {}
            for gid, seq in watch.items():
                cursors[gid] = max(cursors.get(gid, 0), seq)
            for gid, seq in rewind.items():
                if gid in cursors:
                    cursors[gid] = min(cursors[gid], seq)
            for gid in [g for g in cursors if g not in watch]:
                del cursors[gid]
            try:
                if self.store.closed:  # the server is stopping
                    return
                replays = self._replays
                if replays != claimed or time.monotonic() >= renew_at:
                    self.store.claim_replays(self.owner, replays, claimed - replays, REPLAY_TTL_S)
                    for gid in replays - claimed:
                        self._share(gid)
                    for gid in replays & claimed:
                        self.store.keep_replay(gid, REPLAY_SOURCE_TTL_S)
                    claimed, renew_at = replays, time.monotonic() + REPLAY_RENEW_S
                    self._handover(self._now_shared, frozenset(replays))
                asks = self.store.replay_asks(replays)
                if asks:
                    self._handover(self._apply_asks, asks)
                mirrors = dict(self._mirrors)
                if mirrors:
                    moves = self.store.replay_moves(mirrors)
                    if moves:
                        self._handover(self._follow_moves, moves)
                    orphaned = [g for g in mirrors if self.store.replay_owner(g) is None]
                    gone = [g for g in orphaned if not self.store.replay_shared(g)]  # closed
                    if gone:
                        self._handover(self._drop_mirrors, gone)
                    for gid in orphaned:  # its server stopped or died: one mirror plays on
                        if gid in gone:
                            continue
                        if self.store.take_replay(gid, self.owner, REPLAY_TTL_S):
                            self._handover(self._adopt, gid)
                orphans = []
                if time.monotonic() >= orphans_at:
                    orphans = self.store.overdue_held(time.time())
                    orphans_at = time.monotonic() + ORPHANS_EVERY
                count, batch = self.store.read_new(cursors, count=COUNT, block_ms=BLOCK_MS)
                if changes_seen is not None and count != changes_seen:
                    self._lobby_changed = True
                changes_seen = count
                if not cursors:
                    self._stop.wait(BLOCK_MS / 1000)
                if failing:
                    log.warning("ccviz log follower reads %s again", self.store.path)
                    failing = False
            except Exception as exc:  # noqa: BLE001 - Redis down, a timeout: retry
                if self._stop.is_set() or self.store.closed:  # closed while reading
                    break
                if not failing:
                    log.warning(
                        "ccviz log follower cannot read %s (retrying): %s",
                        self.store.path,
                        exc if isinstance(exc, StoreError) else type(exc).__name__,
                    )
                    failing = True
                self._stop.wait(RETRY_S)
                continue
            for gid, rows in list(batch.items()):
                cursors[gid] = max(cursors.get(gid, 0), rows[-1].seq)
                if rows[-1].seq <= self.hub.live_seq(gid):  # this process's own appends
                    del batch[gid]
            if batch or orphans:
                try:
                    assert self._loop is not None
                    self._loop.call_soon_threadsafe(self._deliver, batch, orphans)
                except RuntimeError:  # the loop is closed: the server stopped
                    break
        if claimed:  # stopping: this process plays no replay any more
            with contextlib.suppress(StoreError):  # Redis away: the claims expire anyway
                self.store.claim_replays(self.owner, (), claimed, REPLAY_TTL_S)
