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
and catches up from the log on a gap. The lobby is the log's game list (every process
sees every game); a game another process creates marks this process's lobby for a push
(the thread also watches the size of the game set). Not done: a stream error stops
nothing (the thread logs, waits :data:`RETRY_S` and reads again from its cursors).

Reaches into :class:`~ccviz_kernel.redis_store.RedisEventStore` for its client and key
names (one module owns the key layout; this one only reads).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from .._store_common import StoredEvent

log = logging.getLogger("ccviz.server")

#: Longest wait of one XREAD (ms): how soon a new game or a stop is noticed.
BLOCK_MS = 100
#: How often the loop tells the thread which games to watch, and from which seq.
WATCH_EVERY = 0.05
#: After a Redis error, wait this long before reading again.
RETRY_S = 1.0
#: Entries taken per stream per XREAD.
COUNT = 500


class LogFollower:
    """Tails the shared log for one server (``store``: a RedisEventStore)."""

    def __init__(
        self,
        hub: Any,
        watched: Callable[[], list[str]],
        on_new_games: Callable[[], None],
    ) -> None:
        self.hub = hub
        self.store = hub.store
        self._watched = watched
        self._on_new_games = on_new_games
        #: Set on the loop, read by the thread: {game_id: seq this process has}.
        self._watch: dict[str, int] = {}
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
        hub = self.hub
        viewed = set(self._watched())
        for gid in viewed.difference(hub.live_ids()):
            hub.watch(gid)  # its first events may come from another process (Hub.watch)
        ids = set(hub.live_ids()) | viewed
        watch = {gid: hub.live_seq(gid) for gid in ids if gid not in hub.replays}
        self._watch = watch  # one assignment: the thread sees the old dict or the new one

    def _deliver(self, batch: dict[str, list[StoredEvent]], new_games: bool) -> None:
        for gid, rows in batch.items():
            try:
                self.hub.follow(gid, rows)
            except Exception:  # noqa: BLE001 - one bad game must not stop the others
                log.exception("ccviz log follower: applying game %r failed", gid)
        if new_games:
            self._on_new_games()
        self._refresh()

    # -- on the thread ------------------------------------------------------------------

    def _run(self) -> None:
        cursors: dict[str, int] = {}
        games_seen: int | None = None
        failing = False
        while not self._stop.is_set():
            watch = self._watch
            for gid, seq in watch.items():
                cursors[gid] = max(cursors.get(gid, 0), seq)
            for gid in [g for g in cursors if g not in watch]:
                del cursors[gid]
            try:
                client = self.store._client
                if client is None:  # the store was closed: the server is stopping
                    return
                count = client.scard(self.store._key("games"))
                new_games = games_seen is not None and count != games_seen
                games_seen = count
                if cursors:
                    streams = {self.store._stream_key(g): f"0-{s}" for g, s in cursors.items()}
                    reply = client.xread(streams, count=COUNT, block=BLOCK_MS) or []
                else:
                    reply = []
                    self._stop.wait(BLOCK_MS / 1000)
                if failing:
                    log.warning("ccviz log follower reads %s again", self.store.path)
                    failing = False
            except Exception as exc:  # noqa: BLE001 - Redis down, a timeout: retry
                if not failing:
                    log.warning(
                        "ccviz log follower cannot read %s (retrying): %s",
                        self.store.path,
                        type(exc).__name__,
                    )
                    failing = True
                self._stop.wait(RETRY_S)
                continue
            batch = _parse(reply, len(self.store._stream_key("")))
            for gid, rows in batch.items():
                cursors[gid] = max(cursors.get(gid, 0), rows[-1].seq)
            if batch or new_games:
                try:
                    assert self._loop is not None
                    self._loop.call_soon_threadsafe(self._deliver, batch, new_games)
                except RuntimeError:  # the loop is closed: the server stopped
                    return


def _parse(reply: Any, prefix: int) -> dict[str, list[StoredEvent]]:
    """XREAD's reply (``[[stream, [(id, fields), ...]], ...]``) as rows by game."""
    items = reply.items() if isinstance(reply, dict) else reply
    batch: dict[str, list[StoredEvent]] = {}
    for stream, entries in items:
        rows = []
        for entry_id, fields in entries:
            ts = fields.get("t")
            rows.append(
                StoredEvent(int(entry_id.partition("-")[2]), float(ts) if ts else None, fields["p"])
            )
        if rows:
            batch[stream[prefix:]] = rows
    return batch
