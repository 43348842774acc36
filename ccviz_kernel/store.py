"""Append-only event log, one gap-free sequence per game, kept in a single SQLite file.

Why SQLite in WAL mode: several ccviz servers (and the CLI) may share one log file, readers
must never block the writer, and a process killed in the middle of a write must leave the file
usable with no half-written event. SQLite transactions give all of that; WAL keeps readers and
the single writer out of each other's way, and ``synchronous=NORMAL`` is crash-safe in WAL mode
(a power cut can lose the last commits, never corrupt the file), which is the right trade for a
log we append to many times a second.

Why ``seq`` is computed inside ``BEGIN IMMEDIATE``: the write lock is taken before the current
length is read, so two processes appending to the same game serialise on the lock and can never
both claim the same next number or skip one.

Why a ``games`` summary table: the game list and ``last_seq`` are asked for constantly (lobby,
reconnects, "anything new?" polls) and must not scan the events. It is updated in the same
transaction as the events, so it can never disagree with them.

Why a ``held`` table: the server's reorder window holds an event that came before its cause
for up to a quarter second, after its hook was answered (hub.py). Kept only in memory, a
kill -9 in that time would lose it; here it outlives the process (:meth:`EventStore.keep_held`)
and leaves the table in the transaction that appends it, by its delivery key, so the next
server start logs what a killed one held, exactly once (:meth:`~ccviz_kernel.hub.Hub.log_orphans`).
The Redis store has the same three methods.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ._store_common import (
    Closable,
    GameRow,
    StoredEvent,
    check_game_id,
    check_item,
    check_items,
    check_since,
)
from .errors import StoreError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .redis_store import RedisEventStore

__all__ = ["EventStore", "GameRow", "StoreError", "StoredEvent", "open_store"]

#: Locations :func:`open_store` hands to the Redis store instead of treating as a file path.
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

#: Written into the file header so another program's SQLite file is never mistaken for ours.
APPLICATION_ID = 0x63637A76  # b"ccvz"
SCHEMA_VERSION = 1
#: How long a writer waits for another process holding the write lock before giving up.
BUSY_TIMEOUT_S = 10.0
#: Rows fetched per query while streaming a game, so huge games never sit in memory at once.
FETCH_CHUNK = 500
#: Cap on the WAL file size left behind after a checkpoint (bytes).
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024

_MEMORY = ":memory:"

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS events (
        game_id TEXT    NOT NULL,
        seq     INTEGER NOT NULL CHECK (seq >= 1),
        ts      REAL,
        payload TEXT    NOT NULL,
        PRIMARY KEY (game_id, seq)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS games (
        game_id  TEXT    PRIMARY KEY,
        events   INTEGER NOT NULL,
        first_ts REAL,
        last_ts  REAL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS delivered (
        key TEXT PRIMARY KEY
    ) WITHOUT ROWID
    """,
    # Added after schema 1 without a version change: an older ccviz ignores the table.
    """
    CREATE TABLE IF NOT EXISTS held (
        key     TEXT PRIMARY KEY,
        game_id TEXT NOT NULL,
        ts      REAL,
        payload TEXT NOT NULL,
        until   REAL NOT NULL
    ) WITHOUT ROWID
    """,
)


class EventStore(Closable):
    """Append-only per-game event log on one SQLite file, safe to share between processes.

    One instance holds one connection guarded by a lock, so an asyncio server may call it from
    worker threads; each process (or thread, if it prefers) may also open its own instance on
    the same file. Every write is its own short transaction. ``path=None`` opens the data
    folder's database (``CCVIZ_HOME``); ``":memory:"`` a private one.

    >>> with EventStore(":memory:") as store:
    ...     store.append("s1", '{"hook_event_name":"Stop","session_id":"s1"}', ts=1.0)
    ...     [(e.seq, e.ts) for e in store.events("s1")], store.last_seq("s1")
    1
    ([(1, 1.0)], 1)
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is None:
            # Imported here so CCVIZ_HOME is read when the store is opened, not at import time.
            from .config import db_path

            path = db_path()
        self._memory = isinstance(path, str) and path == _MEMORY
        self._path: str = _MEMORY if self._memory else os.fspath(path)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        if not self._memory:
            _create_private(self._path)
        try:
            conn = sqlite3.connect(
                self._path,
                timeout=BUSY_TIMEOUT_S,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # guarded by self._lock instead
            )
        except sqlite3.Error as e:
            raise StoreError(f"cannot open event store {self._path!r}: {e}") from e
        try:
            self._setup(conn)
        except sqlite3.OperationalError as e:  # cannot open, locked too long, read-only...
            conn.close()
            raise StoreError(f"cannot open event store {self._path!r}: {e}") from e
        except sqlite3.DatabaseError as e:
            conn.close()
            raise StoreError(
                f"cannot open event store {self._path!r}: not a readable SQLite database "
                f"(corrupt, or some other kind of file): {e}"
            ) from e
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    # ------------------------------------------------------------------ lifecycle

    @property
    def path(self) -> str:
        """The database file (or ``":memory:"``), for messages and for opening siblings.

        >>> EventStore(":memory:").path
        ':memory:'
        """
        return self._path

    def close(self) -> None:
        """Release the connection; the last closer also checkpoints and trims the WAL.
        Closing twice is fine; ``with EventStore(...) as store:`` closes on leaving.

        >>> store = EventStore(":memory:")
        >>> store.close(); store
        <EventStore ':memory:' closed>
        """
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None

    def _is_closed(self) -> bool:
        return self._conn is None

    # ------------------------------------------------------------------ writes

    def append(
        self, game_id: str, payload: str, ts: float | None = None, *, key: str | None = None
    ) -> int | None:
        """Append one event and return its seq (the game's new length).

        With a ``key`` (a delivery id, as spooled hook events carry), an event whose key was
        appended before is dropped and ``None`` returned: the key is recorded in the same
        transaction as the event, so a crash between the two cannot deliver it twice.

        >>> store = EventStore(":memory:")
        >>> store.append("s1", "{}", key="d1"), store.append("s1", "{}", key="d1")
        (1, None)
        """
        check_game_id(game_id)
        row = check_item(game_id, payload, ts)
        with self._write() as conn:
            if key is not None:
                seen = conn.execute("INSERT OR IGNORE INTO delivered (key) VALUES (?)", (key,))
                conn.execute("DELETE FROM held WHERE key = ?", (key,))
                if seen.rowcount == 0:
                    return None
            count, first, last = self._summary(conn, game_id)
            seq = count + 1
            conn.execute(
                "INSERT INTO events (game_id, seq, ts, payload) VALUES (?, ?, ?, ?)",
                (game_id, seq, row[1], row[0]),
            )
            first, last = _widen(first, last, row[1])
            self._put_summary(conn, game_id, seq, first, last)
        return seq

    def append_many(self, game_id: str, items: Iterable[tuple[str, float | None]]) -> list[int]:
        """Append ``(payload, ts)`` pairs all-or-nothing, in one transaction; return their seqs.

        Items are read and validated before the transaction starts, so a bad item (or an
        iterator that raises) appends nothing and never holds the write lock.

        >>> EventStore(":memory:").append_many("s1", [("{}", 1.0), ("{}", None)])
        [1, 2]
        """
        check_game_id(game_id)
        rows = check_items(game_id, items)
        if not rows:
            return []
        with self._write() as conn:
            count, first, last = self._summary(conn, game_id)
            start = count + 1
            conn.executemany(
                "INSERT INTO events (game_id, seq, ts, payload) VALUES (?, ?, ?, ?)",
                ((game_id, start + i, ts, payload) for i, (payload, ts) in enumerate(rows)),
            )
            for _, ts in rows:
                first, last = _widen(first, last, ts)
            end = count + len(rows)
            self._put_summary(conn, game_id, end, first, last)
        return list(range(start, end + 1))

    # ------------------------------------------------------------------ held events

    def keep_held(
        self, game_id: str, key: str, payload: str, ts: float | None, until: float
    ) -> None:
        """Record an event the reorder window holds in memory, so that it outlives the
        process (module doc). Appending it with ``key`` takes it out; if nobody has by
        ``until`` (epoch seconds), :meth:`overdue_held` hands it to whoever logs it."""
        check_game_id(game_id)
        payload, ts = check_item(game_id, payload, ts)
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO held (key, game_id, ts, payload, until) "
                "VALUES (?, ?, ?, ?, ?)",
                (key, game_id, ts, payload, float(until)),
            )

    def overdue_held(self, now: float) -> list[tuple[str, str, str, float | None]]:
        """Held events nobody appended by their ``until``: ``(game_id, key, payload, ts)``,
        oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT game_id, key, payload, ts FROM held WHERE until <= ? ORDER BY until, key",
                (float(now),),
            ).fetchall()
        return [(g, k, p, t) for g, k, p, t in rows]

    def forget_held(self, key: str) -> None:
        """Drop a held event that cannot be appended (refused as a payload)."""
        with self._write() as conn:
            conn.execute("DELETE FROM held WHERE key = ?", (key,))

    # ------------------------------------------------------------------ reads

    def events(self, game_id: str, since: int = 0) -> Iterator[StoredEvent]:
        """Stream events with ``seq > since`` in order, fetching in chunks.

        Each chunk is its own short read, so a slow consumer never pins an old WAL snapshot
        or blocks other threads using this instance; events appended while iterating are
        picked up too. Arguments are checked now, not at the first ``next()``.

        >>> store = EventStore(":memory:")
        >>> store.append_many("s1", [('{"n":1}', 1.0), ('{"n":2}', 2.0)])
        [1, 2]
        >>> [event.payload for event in store.events("s1", since=1)]
        ['{"n":2}']
        """
        check_game_id(game_id)
        check_since(since)
        return self._iter_events(game_id, since)

    def last_seq(self, game_id: str) -> int:
        """The game's newest seq, 0 for a game never seen; one primary-key lookup.

        >>> EventStore(":memory:").last_seq("never-seen")
        0
        """
        check_game_id(game_id)
        with self._read() as conn:
            row = conn.execute("SELECT events FROM games WHERE game_id = ?", (game_id,)).fetchone()
        return 0 if row is None else int(row[0])

    def games(self) -> list[GameRow]:
        """All games, most recently active (largest ``last_ts``) first; games without any
        timestamp last; ties broken by ``game_id`` so the order is stable.

        >>> store = EventStore(":memory:")
        >>> store.append("old", "{}", ts=1.0), store.append("new", "{}", ts=2.0)
        (1, 1)
        >>> [row.game_id for row in store.games()]
        ['new', 'old']
        """
        with self._read() as conn:
            rows = conn.execute(
                "SELECT game_id, events, first_ts, last_ts FROM games "
                "ORDER BY last_ts IS NULL, last_ts DESC, game_id"
            ).fetchall()
        return [GameRow(g, int(n), first, last) for g, n, first, last in rows]

    # ------------------------------------------------------------------ internals

    def _iter_events(self, game_id: str, since: int) -> Iterator[StoredEvent]:
        after = since
        while True:
            with self._read() as conn:
                rows = conn.execute(
                    "SELECT seq, ts, payload FROM events WHERE game_id = ? AND seq > ? "
                    "ORDER BY seq LIMIT ?",
                    (game_id, after, FETCH_CHUNK),
                ).fetchall()
            for seq, ts, payload in rows:
                yield StoredEvent(seq, ts, payload)
            if len(rows) < FETCH_CHUNK:
                return
            after = rows[-1][0]

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"event store {self._path!r} is closed")
        return self._conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._live()
            try:
                yield conn
            except sqlite3.Error as e:
                raise StoreError(f"reading event store {self._path!r} failed: {e}") from e

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding SQLite's write lock from the start (see module doc)."""
        with self._lock:
            conn = self._live()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                raise StoreError(f"writing event store {self._path!r} failed: {e}") from e

    @staticmethod
    def _summary(conn: sqlite3.Connection, game_id: str) -> tuple[int, float | None, float | None]:
        row = conn.execute(
            "SELECT events, first_ts, last_ts FROM games WHERE game_id = ?", (game_id,)
        ).fetchone()
        if row is None:
            return 0, None, None
        return int(row[0]), row[1], row[2]

    @staticmethod
    def _put_summary(
        conn: sqlite3.Connection,
        game_id: str,
        events: int,
        first: float | None,
        last: float | None,
    ) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO games (game_id, events, first_ts, last_ts) VALUES (?, ?, ?, ?)",
            (game_id, events, first, last),
        )

    def _setup(self, conn: sqlite3.Connection) -> None:
        """Pragmas, then check the file is ours (or empty) and create the schema."""
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        # The first real read: a non-database file fails here with "file is not a database".
        mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        if not self._memory and mode != "wal":
            mode = _enable_wal(conn)
            if mode != "wal":
                raise StoreError(
                    f"cannot open event store {self._path!r}: SQLite refused WAL mode "
                    f"(journal_mode={mode}); is the file on a network or read-only filesystem?"
                )
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if app_id == 0 and version == 0:
                others = conn.execute(
                    "SELECT count(*) FROM sqlite_master "
                    "WHERE name NOT IN ('events', 'games', 'delivered', 'held')"
                ).fetchone()[0]
                if others:
                    raise StoreError(
                        f"{self._path!r} is an SQLite database but not a ccviz event store "
                        "(it has other tables); refusing to write into it"
                    )
            elif app_id != APPLICATION_ID:
                raise StoreError(
                    f"{self._path!r} is an SQLite database but not a ccviz event store "
                    f"(application_id={app_id:#x})"
                )
            elif version > SCHEMA_VERSION:
                raise StoreError(
                    f"event store {self._path!r} has schema version {version}, newer than this "
                    f"ccviz understands ({SCHEMA_VERSION}); upgrade ccviz"
                )
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def _enable_wal(conn: sqlite3.Connection) -> str:
    """Switch to WAL, retrying briefly: the switch needs an exclusive lock and may report
    "locked" while another process is opening the same new file, without waiting on its own."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            if time.monotonic() >= deadline:
                raise StoreError(f"timed out switching the event store to WAL mode: {e}") from e
            time.sleep(0.02)


def _create_private(path: str) -> None:
    """Create the file owner-only before SQLite does: payloads can contain secrets, and SQLite
    gives the -wal and -shm files the same permissions as the database file."""
    p = Path(path)
    if p.exists():
        return
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process created it first; fine
    except OSError as e:
        raise StoreError(f"cannot create event store {path!r}: {e}") from e
    os.close(fd)


def _widen(
    first: float | None, last: float | None, ts: float | None
) -> tuple[float | None, float | None]:
    if ts is None:
        return first, last
    return (ts if first is None else min(first, ts)), (ts if last is None else max(last, ts))


def open_store(location: str | os.PathLike[str] | None = None) -> EventStore | RedisEventStore:
    """The event store at ``location``: a ``redis://``, ``rediss://`` or ``unix://`` URL opens
    the shared Redis log (:class:`~ccviz_kernel.redis_store.RedisEventStore`, needs the
    ``redis`` extra), anything else the SQLite file there (``None``: the data folder's).

    >>> open_store(":memory:")
    <EventStore ':memory:' open>
    """
    if isinstance(location, str) and location.startswith(REDIS_SCHEMES):
        from .redis_store import RedisEventStore

        return RedisEventStore(location)
    return EventStore(location)
