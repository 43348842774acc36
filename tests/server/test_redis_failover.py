"""Failures of several ``ccviz serve --redis`` on one redis-server (issue 15, "Failure").

Real processes, a real redis-server (append-only file on), and a round-robin balancer on
loopback in front of the servers (``_balancer.py``: what a team runs as nginx or a load
balancer). Viewers are Python mirrors that connect through the balancer (and some straight
to one server); the real-session fixture, copied into a few games, is POSTed hook by hook
to a random server with a delivery id, and a POST that fails (refused, reset, no answer, a
5xx) is sent again with the same id to another server, as the hook's spool does: the
store's delivery keys make that exactly-once. Every viewer must end with the engine's
snapshot of each whole game, having seen every seq once, in order, across its reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import pytest
from common import FIXTURES, redis_server, snapshot

from ccviz_kernel.errors import ClientError
from ccviz_kernel.events import parse_event
from ccviz_kernel.notebook.mirror import GameMirror
from ccviz_kernel.redis_store import RedisEventStore

from ._balancer import Balancer
from .test_redis_servers import Served, engine_snapshot, settled

FIXTURE = (FIXTURES / "hook-payloads.jsonl").read_text().splitlines()


def game_lines(game_id: str) -> list[str]:
    """The fixture as the hooks of session ``game_id``."""
    return [json.dumps({**json.loads(line), "session_id": game_id}) for line in FIXTURE]


def interleaved(games: list[str]) -> list[tuple[str, str, str]]:
    """``(game, line, delivery id)`` of every game, the games taking turns (each in order)."""
    out = []
    per_game = {g: game_lines(g) for g in games}
    for i in range(len(FIXTURE)):
        out += [(g, per_game[g][i], f"{g}-{i}") for g in games]
    return out


def start_servers(tmp_path: Path, url: str, count: int) -> list[Served]:
    """``count`` servers started side by side (each start is mostly interpreter start-up)."""
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda i: Served(tmp_path / f"home{i}", url), range(count)))


class Counted(GameMirror):
    """A mirror that records what it was given: every seq it covered (updates and the deltas
    of a re-join with ``since``), seqs that did not follow, whole-snapshot re-syncs, and
    when each join was answered."""

    def __init__(self, url: str, game_id: str) -> None:
        super().__init__(url, game_id)
        self.covered: list[int] = []
        self.broken: list[tuple[int, int]] = []
        self.resyncs = 0
        self.joined_at: list[float] = []
        self._last = 0
        self._ack: dict | None = None
        self.on_raw.append(self._saw)
        call = self.sio.call

        async def recording(event, data=None, **kwargs):
            ack = await call(event, data, **kwargs)
            if event == "join-game" and isinstance(ack, dict) and ack.get("ok"):
                self._ack = ack
                self.joined_at.append(time.monotonic())
            return ack

        self.sio.call = recording

    def _saw(self, kind: str, data: dict) -> None:
        if kind == "update":
            self._step(data["from"], data["seq"])
        elif kind == "snapshot":
            ack = self._ack or {}
            if "deltas" in ack:  # a re-join with since: the deltas it missed, in order
                self._step(ack["from"], ack["seq"])
            else:
                if self._last or data["seq"]:  # only the very first join may be a snapshot
                    self.resyncs += 1
                self._last = data["seq"]

    def _step(self, start: int, end: int) -> None:
        if start != self._last + 1:
            self.broken.append((self._last, start))
        self.covered.extend(range(start, end + 1))
        self._last = max(self._last, end)


class Delivery:
    """POSTs hooks like the hook does: to a server, and again with the same delivery id to
    another one when it fails (refused, reset, no answer, a 5xx), bounded in tries."""

    def __init__(self, session: aiohttp.ClientSession, servers: list[Served], seed: int) -> None:
        self.session, self.servers, self.pick = session, servers, random.Random(seed)
        self.retried: Counter[str] = Counter()

    async def send(self, line: str, delivery: str, *, patience: float = 15.0) -> None:
        deadline = time.monotonic() + patience
        order = self.pick.sample(self.servers, len(self.servers))
        attempt = 0
        while True:
            server = order[attempt % len(order)]
            attempt += 1
            headers = {"Authorization": f"Bearer {server.token}", "X-Ccviz-Id": delivery}
            try:
                async with self.session.post(
                    server.url + "api/hooks", data=line, headers=headers
                ) as response:
                    status = response.status
                    text = await response.text()
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                self.retried[type(exc).__name__] += 1
            else:
                if status == 204:
                    return
                assert status >= 500, (status, text)
                self.retried[f"{status} {text.strip()}"] += 1
            assert time.monotonic() < deadline, f"{delivery} never delivered: {self.retried}"
            await asyncio.sleep(0.05 if attempt % len(order) == 0 else 0)


def check_games(store: RedisEventStore, games: list[str]) -> dict[str, dict]:
    """Each game's log holds the fixture's events, each once; the engine's snapshot of it."""
    expected = {}
    names = Counter(json.loads(line)["hook_event_name"] for line in FIXTURE)
    for game in games:
        rows = list(store.events(game))
        assert [r.seq for r in rows] == list(range(1, len(FIXTURE) + 1)), game
        assert Counter(parse_event(r.payload).name for r in rows) == names
        expected[game] = engine_snapshot(store, game)
    return expected


def test_kill_9_one_server_mid_stream_its_viewers_finish_on_another(tmp_path):
    """Three servers behind a balancer; one is killed (SIGKILL) halfway through the stream.
    Its viewers reconnect through the balancer to the others and re-join with ``since``;
    hooks in flight to it are sent again elsewhere; nothing is missed or doubled."""
    games = [f"failover-{n}" for n in range(3)]
    stream = interleaved(games)
    with redis_server(tmp_path / "redis") as redis:
        servers = start_servers(tmp_path, redis.url, 3)
        store = RedisEventStore(redis.url)
        numbers: dict[str, float] = {}
        try:

            async def scenario() -> None:
                balancer = await Balancer([s.port for s in servers]).start()
                viewers: list[Counted] = []
                # Nine through the balancer: one per game on each server, in turn.
                for k in range(9):
                    viewers.append(await Counted(balancer.url, games[k // 3]).connect())
                on = dict(zip(viewers, balancer.assigned, strict=True))
                # Two straight to the servers that will live.
                for server in servers[1:]:
                    viewers.append(await Counted(server.url, games[1]).connect())
                victim = servers[0]
                moved = [v for v in viewers if on.get(v) == victim.port]
                assert len(moved) == 3
                timeout = aiohttp.ClientTimeout(total=3)
                async with aiohttp.ClientSession(
                    timeout=timeout, connector=aiohttp.TCPConnector(force_close=True)
                ) as session:
                    delivery = Delivery(session, servers, seed=15)
                    sent = 0
                    half = asyncio.Event()
                    killed_at = 0.0

                    async def send_game(game: str) -> None:
                        nonlocal sent
                        for _game, line, key in stream:
                            if _game == game:
                                await delivery.send(line, key)
                                sent += 1
                                if sent == len(stream) // 2:
                                    half.set()
                                await asyncio.sleep(0.01)

                    async def kill_midway() -> None:
                        nonlocal killed_at
                        await half.wait()
                        await asyncio.sleep(0.003)  # while the other games' hooks are out
                        victim.proc.kill()  # SIGKILL: no drain, no goodbye
                        killed_at = time.monotonic()

                    await asyncio.gather(kill_midway(), *(send_game(g) for g in games))
                    for game in games:
                        assert await settled(store, game, len(FIXTURE)) == len(FIXTURE)
                    expected = check_games(store, games)
                    for v in viewers:
                        await v.wait_seq(len(FIXTURE), timeout=15)
                    for v in viewers:
                        assert v.snapshot == expected[v.game_id]
                        assert v.covered == list(range(1, len(FIXTURE) + 1)), v.broken
                        assert not v.broken and v.resyncs == 0
                    for v in moved:
                        assert v.rejoins >= 1 and v.joined_at[-1] > killed_at
                    assert all(v.rejoins == 0 for v in viewers if v not in moved)
                    for server in servers[1:]:
                        for game in games:
                            assert snapshot(server.port, game) == expected[game]
                    assert delivery.retried, "no hook was in flight to the killed server"
                    numbers["events"] = len(stream)
                    numbers["gap_s"] = max(v.joined_at[-1] for v in moved) - killed_at
                    numbers["retries"] = sum(delivery.retried.values())
                    print("kill -9:", numbers, dict(delivery.retried))
                for v in viewers:
                    await v.close()
                await balancer.close()

            asyncio.run(asyncio.wait_for(scenario(), 60))
        finally:
            for server in servers:
                server.kill()
            store.close()


def test_redis_restarts_mid_stream_and_nothing_acknowledged_is_lost(tmp_path):
    """redis-server goes away twice while hooks stream in: a clean restart (SHUTDOWN writes
    the append-only file), then a kill -9 with ``appendfsync always``. Meanwhile hooks get
    a clear 503 and are sent again; the servers and their followers come back by
    themselves; every game is whole, each event stored once, and every viewer saw each seq
    once, in order."""
    games = [f"restart-{n}" for n in range(2)]
    stream = interleaved(games)
    with redis_server(tmp_path / "redis") as redis:
        servers = start_servers(tmp_path, redis.url, 2)
        store = RedisEventStore(redis.url)
        numbers: dict[str, float] = {}
        try:

            async def scenario() -> None:
                viewers = [await Counted(s.url, g).connect() for s in servers for g in games]
                async with aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=3),
                    connector=aiohttp.TCPConnector(force_close=True),
                ) as session:
                    delivery = Delivery(session, servers, seed=7)
                    sent = 0
                    third = len(stream) // 3
                    marks = {third: asyncio.Event(), 2 * third: asyncio.Event()}

                    async def send_game(game: str) -> None:
                        nonlocal sent
                        for _game, line, key in stream:
                            if _game == game:
                                await delivery.send(line, key, patience=20)
                                sent += 1
                                if sent in marks:
                                    marks[sent].set()
                                await asyncio.sleep(0.01)

                    async def outages() -> None:
                        first, second = marks.values()
                        await first.wait()
                        started = time.monotonic()
                        await asyncio.to_thread(redis.stop)  # SHUTDOWN: the AOF is written
                        await asyncio.sleep(0.8)
                        await asyncio.to_thread(redis.start)
                        numbers["clean_outage_s"] = time.monotonic() - started
                        await second.wait()
                        assert redis.command("CONFIG", "SET", "appendfsync", "always") == b"+OK\r\n"
                        started = time.monotonic()
                        redis.kill()  # SIGKILL: only what was fsynced survives
                        await asyncio.sleep(0.8)
                        await asyncio.to_thread(redis.start)
                        numbers["kill_outage_s"] = time.monotonic() - started

                    await asyncio.gather(outages(), *(send_game(g) for g in games))
                    refused = [k for k in delivery.retried if k.startswith("503")]
                    assert refused == ["503 the event store cannot be written now; spool and retry"]
                    for game in games:
                        assert await settled(store, game, len(FIXTURE)) == len(FIXTURE)
                    expected = check_games(store, games)
                    for v in viewers:
                        await v.wait_seq(len(FIXTURE), timeout=15)
                        assert v.snapshot == expected[v.game_id]
                        assert v.covered == list(range(1, len(FIXTURE) + 1)), v.broken
                        assert not v.broken and v.resyncs == 0 and v.rejoins == 0
                    # The servers keep working: one more event each, seen everywhere.
                    more = json.dumps({"hook_event_name": "Notification", "session_id": games[0]})
                    for n, _server in enumerate(servers):
                        await delivery.send(more, f"after-{n}")
                    for v in viewers:
                        if v.game_id == games[0]:
                            await v.wait_seq(len(FIXTURE) + 2, timeout=10)
                    numbers["events"] = len(stream) + 2
                    numbers["retries"] = sum(delivery.retried.values())
                    print("redis restarts:", numbers, dict(delivery.retried))
                for v in viewers:
                    await v.close()

            asyncio.run(asyncio.wait_for(scenario(), 60))
            for server in servers:
                log = server.log()
                assert "ccviz log follower cannot read" in log, log
                assert "ccviz log follower reads" in log, log
        finally:
            for server in servers:
                server.kill()
            store.close()


async def until(check, timeout: float = 5.0, what: str = "") -> None:
    """Wait (bounded) until ``check()`` is true."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what or check}"
        await asyncio.sleep(0.02)


def test_lobby_rows_grow_and_eviction_reloads_across_processes(tmp_path):
    """Two hosts on one Redis. The lobby of B shows a game only A ingests, and pushes its
    row as it grows (B never holds it in memory). B's eviction keeps the game its viewer
    watches and forgets the other; events for both keep coming from A: the watched one
    reaches the viewer live, the evicted one is rebuilt from the log when next asked for,
    and rows the follower hands over for an evicted game rebuild it too."""
    import socketio

    from ccviz_kernel.hosts.standalone import start
    from ccviz_kernel.hub import Hub

    with redis_server(tmp_path / "redis") as redis:

        async def scenario() -> None:
            store = RedisEventStore(redis.url)
            hosts = []
            lobby = socketio.AsyncClient(serializer="msgpack")
            try:
                for _ in range(2):
                    hub = Hub(RedisEventStore(redis.url))
                    hosts.append(await start(port=0, runtime=False, hub=hub))
                a, b = hosts
                pushed: list[dict[str, dict]] = []
                lobby.on("games", lambda d: pushed.append({g["gameId"]: g for g in d["games"]}))
                await lobby.connect(b.url, transports=["websocket"])
                assert (await lobby.call("list-games", {}, timeout=5))["games"] == []

                x = game_lines("lobby-x")
                for line in x[:5]:
                    a.hub.ingest(line)
                await until(lambda: pushed and pushed[-1].get("lobby-x", {}).get("seq") == 5)
                for line in x[5:12]:
                    a.hub.ingest(line)
                await until(lambda: pushed[-1]["lobby-x"]["seq"] == 12, what="the row to grow")
                row = pushed[-1]["lobby-x"]
                assert row["title"] == a.hub.summaries()[0]["title"] and row["live"] is False
                assert "lobby-x" not in b.hub.live_ids()

                y, z = game_lines("evict-y"), game_lines("evict-z")
                viewer = await Counted(b.url, "evict-y").connect()
                for line in y[:6] + z[:6]:
                    a.hub.ingest(line)
                await viewer.wait_seq(6)
                assert b.hub.game("evict-z").seq == 6  # read once (an HTTP read does this)
                b.hub.idle_seconds = 0.0
                b.server._evict()
                assert "evict-y" in b.hub.live_ids(), "evicted a game its viewer watches"
                assert "evict-z" not in b.hub.live_ids()
                for line in z[6:] + y[6:]:
                    a.hub.ingest(line)
                await viewer.wait_seq(len(y))
                assert viewer.snapshot == engine_snapshot(store, "evict-y")
                assert viewer.covered == list(range(1, len(y) + 1)) and viewer.rejoins == 0
                late = await GameMirror(b.url, "evict-z").connect()
                expected = engine_snapshot(store, "evict-z")
                assert late.snapshot == expected == a.hub.snapshot("evict-z")
                await late.close()

                # Rows for a game evicted after the follower read them: rebuilt from the log.
                b.server._evict()
                assert "evict-z" not in b.hub.live_ids()
                rows = list(store.events("evict-z"))
                assert b.hub.follow("evict-z", rows[-2:]) == len(rows)
                assert b.hub.snapshot("evict-z") == engine_snapshot(store, "evict-z")
                await viewer.close()
            finally:
                await lobby.disconnect()
                for host in hosts:
                    await host.close()
                store.close()

        asyncio.run(asyncio.wait_for(scenario(), 30))


def test_a_replay_plays_in_one_process_and_any_process_shows_it(tmp_path):
    """A replay's clock lives in the process that opened it; a viewer that reaches another
    process (a balancer) sees the same replay there, a mirror that follows that clock:
    where it is, whether it plays, its speed. A controller there pauses, seeks and plays
    it, and the clock over there does it, for every viewer of both. Closed where it plays,
    the mirrors go and the id is a plain new game again."""
    from ccviz_kernel import samples
    from ccviz_kernel.hosts.standalone import start
    from ccviz_kernel.hub import Hub
    from ccviz_kernel.replays.load import load_replay

    with redis_server(tmp_path / "redis") as redis:

        async def scenario() -> None:
            hosts = []
            try:
                for _ in range(2):
                    hub = Hub(RedisEventStore(redis.url))
                    hosts.append(await start(port=0, runtime=False, hub=hub))
                a, b = hosts
                replay = load_replay(samples.path("short", "hooks"))
                total = len(replay.events)
                a.hub.open_replay(replay.events, game_id="rp-team", speed=1000, play=False)
                a.hub.control("rp-team", "seek", {"seq": 5})
                here = await GameMirror(a.url, "rp-team").connect()
                assert here.replay is not None and here.replay["total"] == total
                await until(lambda: "rp-team" in a.server._follower._shared)  # shared
                token = b.server.auth.ingest_token
                there = await GameMirror(b.url, "rp-team", token=token).connect()
                assert there.seq == 5 and there.replay["playing"] is False
                assert "rp-team" in b.hub.mirrored and "rp-team" not in a.hub.mirrored
                a.hub.control("rp-team", "seek", {"seq": 12})  # the clock moves over there
                await there.wait_seq(12)
                await there.act("seek", seq=3)  # from here: the owner's clock goes back
                await until(lambda: a.hub.replays["rp-team"].position == 3)
                await here.wait_for(lambda snap: snap["seq"] == 3)
                await there.wait_for(lambda snap: snap["seq"] == 3)
                with pytest.raises(ClientError, match="speed must be between"):
                    await there.act("speed", speed=10_000)  # refused here, at once
                await there.act("resume")  # plays at 1000x over there, to its end
                await here.wait_seq(total, timeout=15)
                await there.wait_seq(total, timeout=15)
                assert there.snapshot == here.snapshot  # the same game in both
                await until(lambda: there.replay is not None and not there.replay["playing"])
                a.hub.close_replay("rp-team")
                await until(lambda: "rp-team" not in b.hub.replays, timeout=10)
                await here.close()
                await there.close()
                fresh = await GameMirror(b.url, "rp-team").connect()
                assert fresh.seq == 0 and fresh.replay is None
                await fresh.close()
            finally:
                for host in hosts:
                    await host.close()

        asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_replay_plays_on_when_its_server_stops(tmp_path):
    """A server that stops (SIGTERM's drain) closes its replays but leaves them shared: a
    server that shows one takes it over and plays it on from where it was, for the viewers
    it has and the ones the stopped server sends it."""
    from ccviz_kernel import samples
    from ccviz_kernel.hosts.standalone import start
    from ccviz_kernel.hub import Hub
    from ccviz_kernel.replays.load import load_replay

    with redis_server(tmp_path / "redis") as redis:

        async def scenario() -> None:
            a = await start(port=0, runtime=False, hub=Hub(RedisEventStore(redis.url)))
            b = await start(port=0, runtime=False, hub=Hub(RedisEventStore(redis.url)))
            try:
                events = load_replay(samples.path("long", "hooks")).events
                a.hub.open_replay(events, game_id="rp-on", speed=16, play=False)
                a.hub.control("rp-on", "seek", {"seq": 100})
                a.hub.control("rp-on", "resume", {})
                await until(lambda: "rp-on" in a.server._follower._shared)
                there = await GameMirror(b.url, "rp-on").connect()
                assert there.seq >= 100 and "rp-on" in b.hub.mirrored
                await a.close()  # drain: the replay closes there, stays shared
                await until(lambda: "rp-on" not in b.hub.mirrored, timeout=10)
                clock = b.hub.replays["rp-on"]
                assert clock.playing  # its own clock now, from where it was shown
                at = clock.position
                await there.wait_seq(at + 3, timeout=15)  # and it plays on
                assert RedisEventStore(redis.url).replay_owner("rp-on") == b.server._follower.owner
                await there.close()
            finally:
                await b.close()

        asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_replay_plays_on_when_its_server_is_killed(tmp_path):
    """kill -9 of the server whose clock plays a replay: its claim runs out (15 s), and the
    server showing it takes it over and plays it on for its viewers, from where it was."""
    from ccviz_kernel import samples

    payloads = [json.loads(x) for x in samples.path("long", "hooks").read_text().splitlines()]
    with redis_server(tmp_path / "redis") as redis:
        a, b = start_servers(tmp_path, redis.url, 2)

        async def scenario() -> None:
            headers = {"Authorization": f"Bearer {a.token}"}
            async with aiohttp.ClientSession() as session:
                for i in range(0, len(payloads), 200):  # POST api/replays, in parts
                    part = {"gameId": "rp-kill", "events": payloads[i : i + 200]}
                    part["done"] = i + 200 >= len(payloads)
                    async with session.post(a.url + "api/replays", json=part, headers=headers) as r:
                        assert r.status == 200, await r.text()
            owner = await GameMirror(a.url, "rp-kill", token=a.token).connect()
            await owner.act("seek", seq=50)
            await owner.act("resume")  # 4x: a few events a second
            deadline = time.monotonic() + 10
            there = None
            while there is None:  # the owner shares it within a pass of its follower
                with contextlib.suppress(ClientError):  # claimed, not yet shared: refused
                    there = await GameMirror(b.url, "rp-kill").connect()
                    if there.replay is None:  # not yet claimed: a new empty game
                        await there.close()
                        there = None
                assert time.monotonic() < deadline, "never shared"
                await asyncio.sleep(0.1)
            assert there.replay is not None and there.replay["playing"] is True
            await owner.close()
            a.proc.kill()  # kill -9, mid-replay
            shown = there.seq
            began = time.monotonic()
            await there.wait_seq(shown + 5, timeout=40)  # played on over here
            took = time.monotonic() - began
            assert there.replay["playing"] is True and there.seq >= shown + 5
            print(f"replay played on {took:.1f} s after its server was killed")
            await there.close()

        try:
            asyncio.run(asyncio.wait_for(scenario(), 90))
        finally:
            a.kill()
            b.kill()


def test_a_replay_claimed_but_not_shared_is_refused_clearly(tmp_path):
    """A claim with no recording to show (a process of an older ccviz) is refused with a
    message naming where the replay plays, not handed an empty game that never moves."""
    from ccviz_kernel.hosts.standalone import start
    from ccviz_kernel.hub import Hub

    with redis_server(tmp_path / "redis") as redis:

        async def scenario() -> None:
            b = await start(port=0, runtime=False, hub=Hub(RedisEventStore(redis.url)))
            try:
                RedisEventStore(redis.url).claim_replays("elsewhere pid 1", ["rp-old"], (), 30)
                with pytest.raises(ClientError, match=r"is a replay playing on another server"):
                    await (await GameMirror(b.url, "rp-old").connect()).close()
            finally:
                await b.close()

        asyncio.run(asyncio.wait_for(scenario(), 30))


def test_rows_the_loop_could_not_apply_are_read_again(tmp_path):
    """The follower's thread moves its cursor as it reads; if applying what it read fails
    on the loop (the catch-up read met Redis going away), that game's cursor goes back to
    what the hub has, so the rows come again even if the game gets no later event."""
    from ccviz_kernel.errors import StoreError
    from ccviz_kernel.hosts.standalone import start
    from ccviz_kernel.hub import Hub

    with redis_server(tmp_path / "redis") as redis:

        async def scenario() -> None:
            hosts = []
            try:
                for _ in range(2):
                    hub = Hub(RedisEventStore(redis.url))
                    hosts.append(await start(port=0, runtime=False, hub=hub))
                a, b = hosts
                lines = game_lines("rewind")
                viewer = await Counted(b.url, "rewind").connect()
                for line in lines[:5]:
                    a.hub.ingest(line)
                await viewer.wait_seq(5)
                follow, failed = b.hub.follow, []

                def fails_once(game_id, rows):  # what a catch-up read during an outage does
                    if not failed:
                        failed.append(list(rows))
                        raise StoreError("reading event store failed: Connection refused")
                    return follow(game_id, rows)

                b.hub.follow = fails_once
                # Three events in one append (one XREAD reads them all), then none: without
                # the rewind, B would wait for a next event that never comes.
                items = [(parse_event(line).to_json(), 1.0 + n) for n, line in enumerate(lines)]
                assert a.hub.store.append_many("rewind", items[5:8]) == [6, 7, 8]
                await viewer.wait_seq(8, timeout=5)
                assert [r.seq for r in failed[0]] == [6, 7, 8]  # handed over, not applied
                assert viewer.covered == list(range(1, 9)) and not viewer.broken
                await viewer.close()
            finally:
                for host in hosts:
                    await host.close()

        asyncio.run(asyncio.wait_for(scenario(), 30))


def test_a_viewer_that_fails_over_while_redis_is_away_joins_once_it_is_back(tmp_path, caplog):
    """Both at once: a server is killed while Redis is down. Its viewer reconnects through
    the balancer to a server that does not hold the game and cannot read the log: that join
    gets no answer (not a wrong empty game), the viewer asks again, and once Redis is back
    it is brought up to date and follows on, every seq once."""
    from ccviz_kernel.hosts.standalone import start
    from ccviz_kernel.hub import Hub

    from .test_redis_servers import post

    lines = game_lines("away")
    with redis_server(tmp_path / "redis") as redis:
        (victim,) = start_servers(tmp_path, redis.url, 1)

        async def scenario() -> None:
            b = await start(port=0, runtime=False, hub=Hub(RedisEventStore(redis.url)))
            port = int(b.url.rstrip("/").rsplit(":", 1)[1])
            balancer = await Balancer([victim.port, port]).start()
            try:
                viewer = await Counted(balancer.url, "away").connect()
                assert balancer.assigned == [victim.port]
                async with aiohttp.ClientSession() as session:
                    for n, line in enumerate(lines[:6]):
                        assert await post(session, victim, line, f"away-{n}") == 204
                await viewer.wait_seq(6)
                assert "away" not in b.hub.live_ids()
                viewer.join_timeout = 1.0
                await asyncio.to_thread(redis.stop)
                victim.proc.kill()
                await until(lambda: len(balancer.assigned) >= 2, what="the reconnect")
                await asyncio.sleep(1.5)  # its join is asked, unanswered, asked again
                assert viewer.seq == 6 and viewer.resyncs == 0
                await asyncio.to_thread(redis.start)
                back = time.monotonic()
                await until(lambda: viewer.joined_at[-1] > back, timeout=10, what="the re-join")
                for line in lines[6:]:
                    b.hub.ingest(line)
                await viewer.wait_seq(len(lines))
                store = b.hub.store
                assert viewer.snapshot == engine_snapshot(store, "away")
                assert viewer.covered == list(range(1, len(lines) + 1)) and not viewer.broken
                assert viewer.resyncs == 0 and viewer.rejoins >= 2
                await viewer.close()
            finally:
                await balancer.close()
                await b.close()

        try:
            asyncio.run(asyncio.wait_for(scenario(), 40))
        finally:
            victim.kill()
    assert "a join of game 'away' waits for the event store" in caplog.text


def test_a_held_hook_outlives_the_server_that_held_it(tmp_path, caplog):
    """The reorder window holds an event that came before its cause, after its hook got a
    204. If that server is killed within the window, the event is still in the log's held
    hash, and another server logs it once the window and its grace are over."""
    from ccviz_kernel.hosts.standalone import start
    from ccviz_kernel.hub import Hub

    from .test_redis_servers import post

    lines = game_lines("orphan")
    held_at = 15  # the fixture's first event the window holds (its cause never comes)
    with redis_server(tmp_path / "redis") as redis:
        (victim,) = start_servers(tmp_path, redis.url, 1)
        store = RedisEventStore(redis.url)

        async def scenario() -> None:
            b = await start(port=0, runtime=False, hub=Hub(RedisEventStore(redis.url)))
            try:
                viewer = await Counted(b.url, "orphan").connect()
                async with aiohttp.ClientSession() as session:
                    for n, line in enumerate(lines[: held_at + 1]):
                        assert await post(session, victim, line, f"orphan-{n}") == 204
                held = store.overdue_held(float("inf"))
                assert [key for _, key, _, _ in held] == [f"orphan-{held_at}"]
                victim.proc.kill()  # within the window: the event is in no stream yet
                assert store.last_seq("orphan") == held_at
                await viewer.wait_seq(held_at + 1, timeout=10)  # logged by b
                assert store.overdue_held(float("inf")) == []
                for line in lines[held_at + 1 :]:
                    b.hub.ingest(line)
                await viewer.wait_seq(len(lines))
                check_games(store, ["orphan"])
                assert viewer.snapshot == engine_snapshot(store, "orphan")
                assert viewer.covered == list(range(1, len(lines) + 1)) and not viewer.broken
                await viewer.close()
            finally:
                await b.close()

        try:
            asyncio.run(asyncio.wait_for(scenario(), 40))
        finally:
            victim.kill()
            store.close()
    assert "logged a held hook event of game 'orphan'" in caplog.text
