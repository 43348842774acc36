"""Redis-only tests of the shared event log (ccviz_kernel.redis_store), on a real redis-server.

The interface tests (seq, since, games, delivery keys, two processes on one game) run
against both stores in tests/test_store.py; these are what only Redis has: several stores on
one server, a server restart, a wrong URL, keys changed behind the store's back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from common import REPO, RedisServer, free_port, redis_server

from ccviz_kernel.redis_store import RedisEventStore, redact_url
from ccviz_kernel.store import GameRow, StoreError

SECRET = "s3cret-pw-4c1d"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with redis_server(tmp_path_factory.mktemp("redis")) as running:
        yield running


@pytest.fixture
def prefix() -> str:
    return f"t-{uuid.uuid4().hex}:"


def test_one_delivery_key_is_stored_once_across_stores(server: RedisServer, prefix: str):
    """Two stores (as two servers would hold) race to append the same 200 keyed events."""
    stores = [RedisEventStore(server.url, prefix=prefix) for _ in range(2)]
    results: list[list[int | None]] = [[], []]
    barrier = threading.Barrier(2)

    def work(n: int) -> None:
        barrier.wait(timeout=5)
        for i in range(200):
            results[n].append(stores[n].append("g", json.dumps({"i": i}), 1.0, key=f"d{i}"))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    for i in range(200):  # each key: one store got a seq, the other None
        assert sorted((results[0][i] is None, results[1][i] is None)) == [False, True]
    got = list(stores[0].events("g"))
    assert [e.seq for e in got] == list(range(1, 201))
    assert sorted(json.loads(e.payload)["i"] for e in got) == list(range(200))
    assert stores[1].append("g", "{}", key="d7") is None  # later too, from either store
    assert stores[1].last_seq("g") == 200
    for s in stores:
        s.close()


def test_a_tail_reads_what_another_store_appended_after_each_cursor(
    server: RedisServer, prefix: str
):
    """What a follower (server/follow.py) reads: new events per game, and the change count."""
    with (
        RedisEventStore(server.url, prefix=prefix) as writer,
        RedisEventStore(server.url, prefix=prefix) as tail,
    ):
        writer.append_many("a", [(json.dumps({"n": i}), 1.0 + i) for i in range(5)])
        writer.append("b", "{}", None)
        before, nothing = tail.read_new({}, count=10, block_ms=10)
        assert nothing == {}
        same, got = tail.read_new({"a": 3, "b": 0, "c": 0}, count=10, block_ms=10)
        assert same == before
        assert {g: [(e.seq, e.ts, e.payload) for e in rows] for g, rows in got.items()} == {
            "a": [(4, 4.0, '{"n": 3}'), (5, 5.0, '{"n": 4}')],
            "b": [(1, None, "{}")],
        }
        assert tail.read_new({"a": 5}, count=10, block_ms=10) == (before, {})  # waited
        writer.append("c", "{}")
        after, got = tail.read_new({"c": 0}, count=10, block_ms=10)
        assert after != before and [e.seq for e in got["c"]] == [1]
    assert tail.closed
    with pytest.raises(StoreError, match="closed"):
        tail.read_new({"a": 0}, count=1, block_ms=10)


def test_a_shared_replay_its_clock_and_the_controls_asked_of_it(server: RedisServer, prefix: str):
    """What server/follow.py shares of a replay: the recording, the clock's states (a
    mirror tails the newest), and the controls other processes ask of its owner."""
    with (
        RedisEventStore(server.url, prefix=prefix) as owner,
        RedisEventStore(server.url, prefix=prefix) as other,
    ):
        assert other.shared_replay("rp") is None
        rows = [(json.dumps({"n": 1}), 1.5), (json.dumps({"n": 2}), None)]
        state = {"position": 0, "playing": False, "speed": 4.0, "total": 2, "loop": False}
        owner.share_replay("rp", rows, state, ttl=30)
        got_rows, got_state, entry = other.shared_replay("rp")
        assert (got_rows, got_state) == (rows, state)
        assert other.replay_moves({"rp": entry}) == {}  # nothing since
        for position in (1, 2):
            owner.replay_clock("rp", {**state, "position": position})
        ((moved, last),) = other.replay_moves({"rp": entry}).values()
        assert moved["position"] == 2  # the newest only
        assert other.replay_moves({"rp": last}) == {}
        other.ask_replay("rp", {"type": "seek", "seq": 1}, ttl=30)
        other.ask_replay("rp", {"type": "pause"}, ttl=30)
        assert owner.replay_asks(["rp", "none"]) == {
            "rp": [{"type": "seek", "seq": 1}, {"type": "pause"}]
        }
        assert owner.replay_asks(["rp"]) == {}  # taken once
        owner.keep_replay("rp", ttl=30)
        import redis

        raw = redis.Redis.from_url(server.url)  # someone else's keys: not shown
        raw.set(f"{prefix}replay-source:junk", "not json")
        raw.xadd(f"{prefix}replay-clock:junk", {"s": "{}"})
        raw.close()
        assert other.shared_replay("junk") is None


def test_events_survive_a_restart_with_the_append_only_file(tmp_path: Path, prefix: str):
    with (
        redis_server(tmp_path / "data") as running,
        RedisEventStore(running.url, prefix=prefix) as s,
    ):
        s.append("a", json.dumps({"n": 1}), 1.0, key="k1")
        s.append_many("b", [(json.dumps({"n": i}), 2.0 + i) for i in range(300)])
        before = (s.games(), [e.payload for e in s.events("b")])
        running.stop()
        with pytest.raises(StoreError, match="failed"):  # down: a clear error, no hang
            s.last_seq("a")
        running.start()
        with RedisEventStore(running.url, prefix=prefix) as again:
            assert (again.games(), [e.payload for e in again.events("b")]) == before
            assert again.append("a", "{}", key="k1") is None  # the delivery keys came back too
            assert again.append("b", "{}") == 301
        # The store opened before the restart reconnects by itself on its next call.
        assert s.last_seq("b") == 301
        assert s.append("a", "{}", 3.0) == 2
        assert GameRow("a", 2, 1.0, 3.0) in s.games()


def test_unreachable_or_wrong_server_is_a_store_error_without_the_password(server: RedisServer):
    refused = f"redis://user:{SECRET}@127.0.0.1:{free_port()}/0"
    wrong_password = f"redis://nobody:{SECRET}@127.0.0.1:{server.port}/0"  # no such user
    in_query = f"redis://127.0.0.1:{free_port()}/0?password={SECRET}"
    for url in (refused, wrong_password, in_query, f"redis://:{SECRET}@127.0.0.1:notaport/0"):
        with pytest.raises(StoreError) as caught:
            RedisEventStore(url)
        message = str(caught.value)
        assert "cannot open event store" in message
        assert SECRET not in message and SECRET not in repr(caught.value), message
        assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_path_and_repr_redact_the_password(server: RedisServer, prefix: str):
    url = f"redis://127.0.0.1:{server.port}/0"
    with RedisEventStore(url, prefix=prefix) as s:
        assert s.path == url and repr(s) == f"<RedisEventStore {url!r} open>"
    assert redact_url(f"redis://default:{SECRET}@h:1/0") == "redis://default:***@h:1/0"
    assert redact_url(f"redis://{SECRET}@h:1/0") == "redis://***@h:1/0"
    assert redact_url(f"rediss://:{SECRET}@h/0?db=1&password={SECRET}") == (
        "rediss://:***@h/0?db=1&password=***"
    )
    assert (
        redact_url(f"unix://:{SECRET}@/run/redis.sock?db=2") == "unix://:***@/run/redis.sock?db=2"
    )


def test_a_stream_changed_outside_ccviz_is_refused_and_nothing_is_written(
    server: RedisServer, prefix: str
):
    with RedisEventStore(server.url, prefix=prefix) as s:
        s.append_many("g", [("{}", 1.0), ("{}", 2.0)])
        # Someone adds an entry behind the store's back: the summary no longer matches.
        server.command("XADD", f"{prefix}events:g", "0-99", "p", "{}", "t", "")
        with pytest.raises(StoreError, match="disagree"):
            s.append_many("g", [("{}", 3.0), ("{}", 4.0)])
        with pytest.raises(StoreError, match="disagree"):
            s.append("g", "{}", key="fresh-key")
        assert s.last_seq("g") == 2 and s.games() == [GameRow("g", 2, 1.0, 2.0)]
        # Deleted again, the stream's top id stays 0-99: Redis itself refuses the next id.
        server.command("XDEL", f"{prefix}events:g", "0-99")
        with pytest.raises(StoreError, match="equal or smaller"):
            s.append("g", "{}", key="fresh-key")
        assert s.last_seq("g") == 2 and s.games() == [GameRow("g", 2, 1.0, 2.0)]
        assert server.command("SISMEMBER", f"{prefix}delivered", "fresh-key") == b":0\r\n"
        # A key of another type is refused before anything is written.
        server.command("SET", f"{prefix}delivered", "not a set")
        with pytest.raises(StoreError, match="is a string, not a set"):
            s.append("h", "{}", key="k")
        assert s.last_seq("h") == 0 and list(s.events("h")) == []


def test_the_redis_extra_parses_replies_in_c():
    """The `redis` extra brings hiredis, which redis-py uses when it can import it."""
    from redis.utils import HIREDIS_AVAILABLE

    assert HIREDIS_AVAILABLE


def test_importing_the_module_does_not_import_redis():
    code = (
        "import sys, ccviz_kernel.redis_store, ccviz_kernel.store;"
        "assert 'redis' not in sys.modules, 'redis imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=30)


def test_a_missing_client_library_is_a_clear_store_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(StoreError, match=r"ccviz-kernel\[redis\]"):
        RedisEventStore(f"redis://:{SECRET}@127.0.0.1:1/0")
