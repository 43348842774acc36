"""Tests for the append-only event log: the interface tests run against both stores, the
SQLite one (ccviz_kernel.store) and the Redis one (ccviz_kernel.redis_store, on a real
redis-server started for the session); the file's own tests are SQLite-only."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Let the tests run straight from a checkout, without installing the package first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import RedisServer, free_port, redis_server, run_together  # noqa: E402

from ccviz_kernel.redis_store import RedisEventStore  # noqa: E402
from ccviz_kernel.store import EventStore, GameRow, StoredEvent, StoreError, open_store  # noqa: E402

WRITER = Path(__file__).with_name("_store_writer.py")
REPO = Path(__file__).resolve().parents[1]


def ev(i: int) -> str:
    return json.dumps({"i": i})


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "events.sqlite3"


@pytest.fixture(scope="session")
def redis(tmp_path_factory: pytest.TempPathFactory):
    """One redis-server for the session; each test keeps to its own key prefix."""
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@dataclass
class Backend:
    """How a test opens stores: ``open()`` another instance on the test's log, ``fresh()``
    an instance on a new empty log, ``location`` what open_store and the writer take."""

    kind: str
    open: Callable[[], EventStore | RedisEventStore]
    fresh: Callable[[], EventStore | RedisEventStore]
    location: str


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest, db: Path) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", lambda: EventStore(db), lambda: EventStore(":memory:"), str(db))
    server: RedisServer = request.getfixturevalue("redis")
    prefix = f"t-{uuid.uuid4().hex}:"
    return Backend(
        "redis",
        lambda: RedisEventStore(server.url, prefix=prefix),
        lambda: RedisEventStore(server.url, prefix=f"t-{uuid.uuid4().hex}:"),
        server.url,
    )


@pytest.fixture
def store(backend: Backend):
    with backend.open() as s:
        yield s


@pytest.fixture
def sqlite_store(db: Path):
    with EventStore(db) as s:
        yield s


# ---------------------------------------------------------------- basics


def test_append_returns_gap_free_seq_per_game(store: EventStore) -> None:
    assert store.append("a", ev(1), 10.0) == 1
    assert store.append("a", ev(2), 11.0) == 2
    assert store.append("b", ev(1)) == 1
    assert store.append("a", ev(3), None) == 3
    assert store.last_seq("a") == 3
    assert store.last_seq("b") == 1
    assert store.last_seq("nope") == 0


def test_events_roundtrip_and_since(store: EventStore) -> None:
    payloads = ['{"a": 1}', '{ "spaced" :  [1, 2,3] }', '"just a string"', "null", "[]"]
    for i, p in enumerate(payloads):
        store.append("g", p, 100.0 + i if i % 2 else None)
    got = list(store.events("g"))
    assert [e.seq for e in got] == [1, 2, 3, 4, 5]
    assert [e.payload for e in got] == payloads  # byte-for-byte, not re-serialised
    assert [e.ts for e in got] == [None, 101.0, None, 103.0, None]
    assert all(isinstance(e, StoredEvent) for e in got)
    assert [e.seq for e in store.events("g", since=3)] == [4, 5]
    assert list(store.events("g", since=5)) == []
    assert list(store.events("unknown")) == []


def test_events_streams_in_chunks(store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[type(store).__module__], "FETCH_CHUNK", 7)
    store.append_many("g", [(ev(i), None) for i in range(50)])
    it = store.events("g", since=2)
    first = next(it)
    assert first.seq == 3
    # An append made mid-iteration is still delivered, in order.
    store.append("g", ev(50))
    rest = list(it)
    assert [e.seq for e in rest] == list(range(4, 52))


def test_events_checks_arguments_eagerly(store: EventStore) -> None:
    with pytest.raises(TypeError):
        store.events("", 0)
    with pytest.raises(TypeError):
        store.events("g", "3")  # type: ignore[arg-type]


def test_games_newest_first(store: EventStore) -> None:
    store.append("old", ev(1), 100.0)
    store.append("new", ev(1), 300.0)
    store.append("mid", ev(1), 50.0)
    store.append("mid", ev(2), 200.0)
    store.append("mid", ev(3), 150.0)  # out-of-order ts: last_ts stays the max
    store.append("untimed", ev(1))
    assert store.games() == [
        GameRow("new", 1, 300.0, 300.0),
        GameRow("mid", 3, 50.0, 200.0),
        GameRow("old", 1, 100.0, 100.0),
        GameRow("untimed", 1, None, None),
    ]


def test_invalid_input_is_rejected_and_not_stored(store: EventStore) -> None:
    with pytest.raises(ValueError, match="not valid JSON"):
        store.append("g", '{"half": ')
    with pytest.raises(TypeError):
        store.append("g", b"{}")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.append("", "{}")
    with pytest.raises(ValueError):
        store.append("g", "{}", float("nan"))
    assert store.last_seq("g") == 0
    assert store.games() == []


# ---------------------------------------------------------------- append_many


def test_append_many(store: EventStore) -> None:
    store.append("g", ev(0), 5.0)
    seqs = store.append_many("g", [(ev(i), 10.0 + i) for i in range(1, 4)])
    assert seqs == [2, 3, 4]
    assert store.append_many("g", []) == []
    assert store.games() == [GameRow("g", 4, 5.0, 13.0)]
    assert [json.loads(e.payload)["i"] for e in store.events("g")] == [0, 1, 2, 3]


def test_append_many_is_all_or_nothing(store: EventStore) -> None:
    store.append_many("g", [(ev(1), 1.0), (ev(2), 2.0)])
    before = store.games()

    with pytest.raises(ValueError):
        store.append_many("g", [(ev(3), 3.0), ("{broken", 4.0), (ev(5), 5.0)])

    def exploding():
        yield ev(3), 3.0
        raise RuntimeError("producer died")

    with pytest.raises(RuntimeError):
        store.append_many("g", exploding())
    with pytest.raises(TypeError):
        store.append_many("g", [(ev(3), 3.0), "not a pair"])  # type: ignore[list-item]

    assert store.games() == before
    assert [e.seq for e in store.events("g")] == [1, 2]


def test_failure_inside_transaction_rolls_back(sqlite_store: EventStore, db: Path) -> None:
    store = sqlite_store
    store.append("g", ev(1), 1.0)
    # Sabotage the summary write so the transaction fails after the events were inserted.
    raw = sqlite3.connect(db)
    raw.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON games WHEN NEW.events > 1 "
        "BEGIN SELECT RAISE(ABORT, 'boom'); END"
    )
    raw.commit()
    with pytest.raises(StoreError, match="boom"):
        store.append_many("g", [(ev(2), 2.0), (ev(3), 3.0)])
    raw.execute("DROP TRIGGER boom")
    raw.commit()
    raw.close()
    assert [e.seq for e in store.events("g")] == [1]
    assert store.append("g", ev(2), 2.0) == 2  # and the store is still usable


# ---------------------------------------------------------------- the file


def test_reopen_keeps_everything(backend: Backend) -> None:
    with backend.open() as s:
        s.append("a", ev(1), 1.0)
        s.append_many("b", [(ev(i), 2.0 + i) for i in range(3)])
    with backend.open() as s:
        assert s.last_seq("a") == 1
        assert s.last_seq("b") == 3
        assert [g.game_id for g in s.games()] == ["b", "a"]
        assert s.append("a", ev(2)) == 2
        assert [e.payload for e in s.events("b")] == [ev(i) for i in range(3)]


def test_wal_and_private_permissions(sqlite_store: EventStore, db: Path) -> None:
    sqlite_store.append("g", '{"secret": "hunter2"}')
    mode = sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        assert f.exists(), f
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_creates_parent_folders(tmp_path: Path) -> None:
    with EventStore(tmp_path / "a" / "b" / "e.db") as s:
        assert s.append("g", "{}") == 1


def test_not_a_database_gives_clear_store_error(db: Path) -> None:
    db.write_text("this is a text file, not SQLite\n" * 200)
    with pytest.raises(StoreError, match="not a readable SQLite database"):
        EventStore(db)
    assert db.read_text().startswith("this is a text file")  # left untouched


def test_foreign_sqlite_database_is_refused(db: Path) -> None:
    raw = sqlite3.connect(db)
    raw.execute("CREATE TABLE customers (name TEXT)")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="not a ccviz event store"):
        EventStore(db)


def test_newer_schema_is_refused(db: Path) -> None:
    EventStore(db).close()
    raw = sqlite3.connect(db)
    raw.execute("PRAGMA user_version = 99")
    raw.close()
    with pytest.raises(StoreError, match="upgrade ccviz"):
        EventStore(db)


def test_directory_path_gives_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        EventStore(tmp_path)


def test_default_path_honours_ccviz_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("CCVIZ_HOME", str(home))
    with EventStore() as s:
        s.append("g", "{}")
        assert Path(s.path) == home / "events.sqlite3"
    assert (home / "events.sqlite3").exists()
    with EventStore(home / "events.sqlite3") as s:
        assert s.last_seq("g") == 1


def test_close_and_context_manager(backend: Backend) -> None:
    s = backend.open()
    assert repr(s).endswith(" open>")
    with s as same:
        assert same is s
        s.append("g", "{}")
    with pytest.raises(StoreError, match="closed"):
        s.append("g", "{}")
    with pytest.raises(StoreError, match="closed"):
        s.last_seq("g")
    with pytest.raises(StoreError, match="closed"):
        list(s.events("g"))
    s.close()  # idempotent
    assert repr(s).endswith(" closed>")


def test_memory_store() -> None:
    with EventStore(":memory:") as s:
        assert s.append_many("g", [("1", 1.0), ("2", None)]) == [1, 2]
        assert s.games() == [GameRow("g", 2, 1.0, 1.0)]


# ---------------------------------------------------------------- concurrency


def test_threads_with_separate_instances_never_gap_or_duplicate(backend: Backend) -> None:
    backend.open().close()
    n_threads, per_thread = 4, 100
    errors: list[BaseException] = []
    barrier = threading.Barrier(n_threads)

    def work(tag: int) -> None:
        try:
            with backend.open() as s:
                barrier.wait(timeout=5)
                for i in range(per_thread):
                    if i % 10 == 0:
                        s.append_many("g", [(json.dumps({"t": tag, "i": i}), None)])
                    else:
                        s.append("g", json.dumps({"t": tag, "i": i}), time.time())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not errors
    _assert_each_writer_complete(
        backend.open, "g", n_threads * per_thread, key="t", per_writer=per_thread
    )


def test_shared_instance_across_threads(store: EventStore) -> None:
    def work(tag: int) -> None:
        for i in range(100):
            store.append(f"g{tag % 2}", json.dumps({"t": tag, "i": i}))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert [e.seq for e in store.events("g0")] == list(range(1, 201))
    assert [e.seq for e in store.events("g1")] == list(range(1, 201))


def test_processes_appending_to_one_game(backend: Backend) -> None:
    """Writers in other processes, each with its own store: the Redis one 2 × 500 (several
    servers on one Redis), SQLite 3 × 200 (several processes on one file)."""
    n_procs, per_proc = (2, 500) if backend.kind == "redis" else (3, 200)
    game = f"g-{uuid.uuid4().hex}"  # the writers use the default prefix: a game of its own
    open_store(backend.location).close()
    writer = [sys.executable, str(WRITER), "count", backend.location, game, str(per_proc)]
    run_together([[*writer, str(k)] for k in range(n_procs)], timeout=60)
    _assert_each_writer_complete(
        lambda: open_store(backend.location), game, n_procs * per_proc, key="w", per_writer=per_proc
    )


def _assert_each_writer_complete(opener, game: str, total: int, key: str, per_writer: int):
    with opener() as s:
        got = list(s.events(game))
        assert [e.seq for e in got] == list(range(1, total + 1))
        assert s.last_seq(game) == total
    by_writer: dict[object, list[int]] = {}
    for e in got:
        obj = json.loads(e.payload)
        by_writer.setdefault(obj[key], []).append(obj["i"])
    # every writer's events are all there, in the order that writer appended them
    assert all(v == list(range(per_writer)) for v in by_writer.values())


# ---------------------------------------------------------------- crash safety


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_write_leaves_consistent_log(db: Path) -> None:
    """Kill a writer twice at arbitrary moments; the log must stay whole and gap-free."""
    previous = 0
    for delay in (0.1, 0.2):
        proc = subprocess.Popen(
            [sys.executable, str(WRITER), "loop", str(db), "g", "20"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            time.sleep(delay)
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL  # it was still writing
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)

        raw = sqlite3.connect(db)
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        raw.close()
        with EventStore(db) as s:
            got = list(s.events("g"))
            n = len(got)
            assert n > previous + 1, "writer made no progress before being killed"
            assert [e.seq for e in got] == list(range(1, n + 1))
            assert s.last_seq("g") == n
            assert s.games()[0].events == n
            for e in got:
                obj = json.loads(e.payload)  # complete, valid JSON
                assert obj["kind"] in {"start", "one", "batch"}
            # batches are atomic: all 50 of a batch or none
            counts: dict[tuple[int, int], int] = {}
            for e in got:
                obj = json.loads(e.payload)
                if obj["kind"] == "batch":
                    key = (obj["run"], obj["i"])
                    counts[key] = counts.get(key, 0) + 1
            assert {k: c for k, c in counts.items() if c != 50} == {}
        previous = n


# ---------------------------------------------------------------- model check


_ops = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.lists(
            st.tuples(st.integers(0, 10**6), st.none() | st.floats(0, 2e9)), min_size=0, max_size=4
        ),
    ),
    max_size=20,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=_ops)
def test_matches_simple_model(
    backend: Backend, ops: list[tuple[str, list[tuple[int, float | None]]]]
) -> None:
    model: dict[str, list[tuple[str, float | None]]] = {}
    with backend.fresh() as s:
        for game, items in ops:
            rows = [(ev(v), ts) for v, ts in items]
            single = len(rows) == 1
            seqs = [s.append(game, *rows[0])] if single else s.append_many(game, rows)
            before = len(model.get(game, []))
            assert seqs == list(range(before + 1, before + len(rows) + 1))
            if rows:
                model.setdefault(game, []).extend(rows)
        for game, rows in model.items():
            assert [(e.payload, e.ts) for e in s.events(game)] == rows
            assert s.last_seq(game) == len(rows)
        by_id = {g.game_id: g for g in s.games()}
        assert set(by_id) == set(model)
        for game, rows in model.items():
            tss = [t for _, t in rows if t is not None]
            assert by_id[game].first_ts == (min(tss) if tss else None)
            assert by_id[game].last_ts == (max(tss) if tss else None)


def test_append_with_a_delivery_key_is_exactly_once(backend: Backend):
    with backend.open() as store:
        assert store.append("g", '{"a": 1}', 1.0, key="spool-1") == 1
        assert store.append("g", '{"a": 1}', 1.0, key="spool-1") is None
        assert store.append("g", '{"a": 2}', 2.0, key="spool-2") == 2
        assert store.last_seq("g") == 2
        assert [e.payload for e in store.events("g")] == ['{"a": 1}', '{"a": 2}']


def test_a_held_event_outlives_its_store_until_it_is_appended(backend: Backend):
    """What the reorder window holds (hub.py): kept, overdue after ``until``, gone once it is
    appended with its key (or was before), or forgotten."""
    first = backend.open()
    first.keep_held("g", "k1", ev(1), 1.0, until=100.0)
    first.keep_held("g", "k2", ev(2), None, until=50.0)
    first.keep_held("h", "k3", ev(3), 3.0, until=200.0)
    first.close()  # as a killed process would leave them
    again = backend.open()
    assert again.overdue_held(99.0) == [("g", "k2", ev(2), None)]
    assert again.overdue_held(1e9) == [
        ("g", "k2", ev(2), None),
        ("g", "k1", ev(1), 1.0),
        ("h", "k3", ev(3), 3.0),
    ]
    assert again.append("g", ev(2), None, key="k2") == 1
    again.append("h", "{}", key="k3")  # delivered before: dropped, and no longer held
    assert again.append("h", ev(3), 3.0, key="k3") is None
    assert [k for _, k, _, _ in again.overdue_held(1e9)] == ["k1"]
    again.forget_held("k1")
    assert again.overdue_held(1e9) == [] and again.last_seq("g") == 1
    again.close()


def test_payload_text_round_trips_exactly(store: EventStore) -> None:
    payloads = [r'{"emoji": "🎮", "escaped": "\u0000\ud83c\udfae"}', '"caf\u00e9"']
    payloads += [" { } ", "1e400", json.dumps({"s": "\u2028 ünïcode \t"}, ensure_ascii=False)]
    times = [0.1 + 0.2, 1e-300, 1.7e9 + 0.123456789, 5e-324, None]
    assert store.append_many("g", list(zip(payloads, times, strict=True))) == [1, 2, 3, 4, 5]
    got = list(store.events("g"))
    assert [e.payload for e in got] == payloads
    assert [e.ts for e in got] == times
    assert store.games() == [GameRow("g", 5, 5e-324, 1.7e9 + 0.123456789)]


def test_open_store_picks_the_implementation(db: Path, redis: RedisServer) -> None:
    with open_store(str(db)) as s:
        assert isinstance(s, EventStore) and s.path == str(db)
    with open_store(db) as s:  # a Path is a file too
        assert isinstance(s, EventStore)
    with open_store(None) as s:
        assert isinstance(s, EventStore) and s.path.endswith("events.sqlite3")
    with open_store(redis.url) as s:
        assert isinstance(s, RedisEventStore) and s.path == redis.url
    with pytest.raises(StoreError, match="Connection refused|connecting"):
        open_store(f"redis://127.0.0.1:{free_port()}/0")  # a URL is never taken for a file
