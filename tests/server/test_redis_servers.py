"""Several ``ccviz serve --redis URL`` on one real redis-server serve every game (issue 15).

Real processes on 127.0.0.1, each with its own data folder (so its own ingest token, spool
and runtime file); the real-session fixture goes to a random process per hook; Python
mirrors on both processes must end with the engine's snapshot of what the shared log holds,
having seen every seq once, in order.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path

import aiohttp
from common import FIXTURES, ServeProcess, redis_server, snapshot

from ccviz_kernel.engine.game import Game
from ccviz_kernel.events import parse_event
from ccviz_kernel.hosts.standalone import start
from ccviz_kernel.hub import Hub
from ccviz_kernel.notebook.mirror import GameMirror
from ccviz_kernel.redis_store import RedisEventStore

LINES = (FIXTURES / "hook-payloads.jsonl").read_text().splitlines()
GAME = json.loads(LINES[0])["session_id"]


class Served(ServeProcess):
    """One ``ccviz serve --redis`` process, its data folder and its ingest token."""

    def __init__(self, home: Path, redis_url: str) -> None:
        super().__init__(home, "--redis", redis_url)


async def post(session, server: Served, line: str, delivery: str) -> int:
    headers = {"Authorization": f"Bearer {server.token}", "X-Ccviz-Id": delivery}
    async with session.post(server.url + "api/hooks", data=line, headers=headers) as response:
        return response.status


def engine_snapshot(store: RedisEventStore, game_id: str) -> dict:
    """The engine's game from what the shared log holds (payloads and times as stored)."""
    game = Game(game_id)
    for row in store.events(game_id):
        game.apply(parse_event(row.payload, ts=row.ts, session_id=game_id))
    return game.snapshot()


async def settled(store: RedisEventStore, game_id: str, count: int, timeout: float = 15.0) -> int:
    """Wait (bounded) until the log holds ``count`` events of the game (held hooks too)."""
    deadline = time.monotonic() + timeout
    while store.last_seq(game_id) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return store.last_seq(game_id)


class Seen:
    """A mirror's updates as they came: every seq once, in order, or a recovered gap."""

    def __init__(self, mirror: GameMirror) -> None:
        self.mirror = mirror
        self.last = mirror.seq
        self.covered: list[int] = []
        self.broken: list[tuple[int, int]] = []
        mirror.on_raw.append(self._saw)

    def _saw(self, kind: str, data: dict) -> None:
        if kind == "update":
            if data["from"] != self.last + 1:
                self.broken.append((self.last, data["from"]))
            self.covered.extend(range(data["from"], data["seq"] + 1))
            self.last = data["seq"]
        elif kind == "snapshot":  # a re-join after a gap: it must bring the mirror up to date
            self.last = data["seq"]


def test_two_processes_share_every_game_through_redis(tmp_path):
    with redis_server(tmp_path / "redis") as redis:
        servers: list[Served] = []
        store = RedisEventStore(redis.url)
        try:
            for i in range(2):
                servers.append(Served(tmp_path / f"home{i}", redis.url))
            for server in servers:  # the URL is not printed, only where the log is
                assert f"event log {store.path}" in server.log()

            async def scenario() -> None:
                mirrors = []
                for server in servers:
                    for _ in range(2):
                        mirrors.append(await GameMirror(server.url, GAME).connect())
                seen = [Seen(m) for m in mirrors]
                pick = random.Random(15)
                async with aiohttp.ClientSession() as session:
                    for i, line in enumerate(LINES):
                        assert await post(session, pick.choice(servers), line, f"d{i}") == 204
                    last = await settled(store, GAME, len(LINES))
                    assert last == len(LINES)
                    for m in mirrors:
                        await m.wait_seq(last, timeout=15)
                    expected = engine_snapshot(store, GAME)
                    assert [snapshot(s.port, GAME) for s in servers] == [expected, expected]
                    for m, s in zip(mirrors, seen, strict=True):
                        assert m.snapshot == expected
                        if m.rejoins == 0:
                            assert s.covered == list(range(1, last + 1)) and not s.broken
                        else:  # a gap, recovered by the re-join: nothing after it missing
                            assert s.last == last
                    # join-game with since works on either process
                    late = GameMirror(servers[1].url, GAME)
                    await late.sio.connect(servers[1].url, transports=["websocket"])
                    late.snapshot = engine_snapshot_at(store, GAME, 10)
                    await late.join(since=10)
                    assert late.snapshot == expected
                    await late.close()

                    # The same fixture again, same delivery ids, through the other process
                    # each: stored once.
                    for i, line in enumerate(LINES):
                        target = servers[(i + 1) % 2]
                        assert await post(session, target, line, f"d{i}") == 204
                    await asyncio.sleep(0.6)  # past the reorder window
                    assert store.last_seq(GAME) == last
                    assert [snapshot(s.port, GAME) for s in servers] == [expected, expected]

                    # A game only process 0 ever saw is in process 1's lobby.
                    other = json.dumps({"hook_event_name": "SessionStart", "session_id": "solo"})
                    assert await post(session, servers[0], other, "solo-1") == 204
                    ack: dict = {}
                    deadline = time.monotonic() + 5
                    while time.monotonic() < deadline:
                        ack = await mirrors[-1].sio.call("list-games", {}, timeout=5)
                        if any(g["gameId"] == "solo" for g in ack["games"]):
                            break
                        await asyncio.sleep(0.05)
                    ids = {g["gameId"]: g["seq"] for g in ack["games"]}
                    assert ids == {GAME: last, "solo": 1}
                for m in mirrors:
                    await m.close()

            asyncio.run(asyncio.wait_for(scenario(), 90))
        finally:
            for server in servers:
                server.kill()
            store.close()


def engine_snapshot_at(store: RedisEventStore, game_id: str, seq: int) -> dict:
    game = Game(game_id)
    for row in store.events(game_id):
        if row.seq > seq:
            break
        game.apply(parse_event(row.payload, ts=row.ts, session_id=game_id))
    return game.snapshot()


def test_two_hosts_in_one_folder_on_redis_are_not_refused_and_follow_each_other(tmp_path):
    """The data folder's lock is for its SQLite store: servers on Redis share by design."""
    with redis_server(tmp_path / "redis") as redis:

        async def scenario() -> None:
            hosts = []
            try:
                for _ in range(2):
                    hub = Hub(RedisEventStore(redis.url))
                    hosts.append(await start(port=0, runtime=False, hub=hub))
                a, b = hosts
                viewer = await GameMirror(b.url, GAME).connect()
                for line in LINES[:5]:
                    a.hub.ingest(line)
                await viewer.wait_seq(5, timeout=10)
                assert viewer.snapshot == a.hub.snapshot(GAME) == b.hub.snapshot(GAME)
                assert viewer.rejoins == 0
                await viewer.close()
            finally:
                for host in hosts:
                    await host.close()

        asyncio.run(asyncio.wait_for(scenario(), 60))


def test_the_redis_url_is_checked_and_its_password_never_shown(tmp_path, capsys, monkeypatch):
    import pytest

    from ccviz_kernel.cli import main

    with pytest.raises(SystemExit):
        main(["serve", "--redis", "http://user:hunter2@db:6379/0"])
    err = capsys.readouterr().err
    assert "a Redis URL starts with redis://" in err and "hunter2" not in err
    monkeypatch.setenv("CCVIZ_REDIS_URL", "db:6379?password=hunter2")
    assert main(["serve", "--port", "0"]) != 0
    err = capsys.readouterr().err
    assert "CCVIZ_REDIS_URL" in err and "hunter2" not in err

    with redis_server(tmp_path / "redis") as redis:
        assert redis.command("CONFIG", "SET", "requirepass", "hunter2") == b"+OK\r\n"
        url = f"redis://:hunter2@127.0.0.1:{redis.port}/0"
        server = Served(tmp_path / "home", url)
        try:
            assert f"event log redis://:***@127.0.0.1:{redis.port}/0" in server.log()
        finally:
            server.kill()
        assert "hunter2" not in server.log()
        monkeypatch.delenv("CCVIZ_REDIS_URL")
        wrong = f"redis://:nope@127.0.0.1:{redis.port}/0"
        assert main(["serve", "--port", "0", "--redis", wrong]) != 0
        err = capsys.readouterr().err
        assert "redis://:***@" in err and "nope" not in err


def test_hub_follow_applies_each_event_once_in_order():
    """What the follower hands over: rows already applied are skipped, a gap catches up
    from the log, and listeners see every seq once."""
    from ccviz_kernel.store import EventStore

    store = EventStore(":memory:")
    for line in LINES[:6]:
        store.append(GAME, parse_event(line).to_json(), 1.0)
    hub = Hub(store)
    seen: list[int] = []
    hub.subscribe(lambda _gid, applied: seen.append(applied.seq))
    rows = list(store.events(GAME))
    assert hub.follow(GAME, rows[:2]) == 2  # a game not in memory starts from seq 1
    assert hub.follow(GAME, rows[:3]) == 1  # seqs 1, 2 again: skipped
    assert hub.follow(GAME, rows[4:5]) == 3  # 4 missing: caught up from the log, to its end
    assert hub.follow(GAME, rows) == 0
    assert seen == [1, 2, 3, 4, 5, 6]
    assert hub.snapshot(GAME) == engine_snapshot_from(rows)


def engine_snapshot_from(rows) -> dict:
    game = Game(GAME)
    for row in rows:
        game.apply(parse_event(row.payload, ts=row.ts, session_id=GAME))
    return game.snapshot()
