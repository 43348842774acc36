"""game-history, game-at and the join ack's replay status, over real sockets on 127.0.0.1.

Viewers here connect with no token (loopback viewers): scrubbing needs no controller role,
and nothing a viewer reads changes the game or reaches another viewer.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
import socketio
from common import FIXTURES

from ccviz_kernel import samples
from ccviz_kernel.engine.deltas import apply_in_place
from ccviz_kernel.engine.game import Game
from ccviz_kernel.events import parse_event
from ccviz_kernel.hosts.standalone import start
from ccviz_kernel.notebook.mirror import GameMirror
from ccviz_kernel.replays.load import load_replay

LINES = (FIXTURES / "hook-payloads.jsonl").read_text().splitlines()
GAME = json.loads(LINES[0])["session_id"]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def viewer(url: str, serializer: str = "msgpack") -> socketio.AsyncClient:
    client = socketio.AsyncClient(serializer=serializer, reconnection=False)
    await client.connect(url, transports=["websocket"], wait_timeout=10)
    return client


async def feed(url: str, token: str, lines: list[str]) -> None:
    async with aiohttp.ClientSession() as session:
        for line in lines:
            headers = {"Authorization": f"Bearer {token}"}
            async with session.post(url + "api/hooks", data=line, headers=headers) as r:
                assert r.status == 204


def states_of(game_id: str, events: list) -> list[dict]:
    game = Game(game_id)
    states = [game.snapshot()]
    for event in events:
        game.apply(event)
        states.append(game.snapshot())
    return states


async def check_game_at(client, game_id: str, states: list[dict], seq: int, count: int) -> dict:
    ack = await client.call("game-at", {"gameId": game_id, "seq": seq, "count": count}, timeout=10)
    assert ack["ok"] is True, ack
    total = len(states) - 1
    assert (ack["gameId"], ack["total"], ack["at"]) == (game_id, total, min(max(seq, 0), total))
    state = ack["snapshot"]
    assert state == states[ack["at"]]
    assert len(ack["deltas"]) == len(ack["effects"]) == min(count, total - ack["at"])
    for k, deltas in enumerate(ack["deltas"]):
        apply_in_place(state, deltas)
        assert state == states[ack["at"] + 1 + k]
    return ack


@pytest.mark.parametrize("json_mode", [False, True])
def test_a_viewer_without_a_token_scrubs_a_hook_fed_game(json_mode):
    async def scenario():
        host = await start(port=0, runtime=False, json_mode=json_mode)
        try:
            await feed(host.url, host.server.auth.ingest_token, LINES)
            stored = [parse_event(row.payload, ts=row.ts) for row in host.hub.store.events(GAME)]
            states = states_of(GAME, stored)
            assert states[-1] == host.hub.snapshot(GAME)
            client = await viewer(host.url, "default" if json_mode else "msgpack")
            history = await client.call("game-history", {"gameId": GAME}, timeout=10)
            assert history["ok"] is True and history["gameId"] == GAME
            assert history["seq"] == len(LINES) == len(history["times"])
            assert history["times"] == [int(e.ts * 1000) for e in stored]
            assert [lane["agentId"] for lane in history["lanes"]][0] == "main"
            assert all(1 <= m["seq"] <= len(LINES) for m in history["markers"])
            for seq, count in ((0, 0), (0, len(LINES)), (7, 3), (len(LINES), 5), (99, 1)):
                await check_game_at(client, GAME, states, seq, count)
            ack = await client.call("game-at", {"gameId": GAME, "seq": 3}, timeout=10)
            assert ack["deltas"] == [] and ack["effects"] == []  # count defaults to 0
            await client.disconnect()
        finally:
            await host.close()

    run(scenario())


def test_bad_game_history_and_game_at_requests_get_a_reason():
    async def scenario():
        host = await start(port=0, runtime=False)
        try:
            await feed(host.url, host.server.auth.ingest_token, LINES[:3])
            client = await viewer(host.url)
            usage = "game-at needs {gameId: string, seq: integer, count?: integer >= 0}"
            for data in (
                {"gameId": GAME},
                {"gameId": GAME, "seq": "4"},
                {"gameId": GAME, "seq": True},
                {"gameId": GAME, "seq": 1, "count": -1},
                {"gameId": GAME, "seq": 1, "count": 2.5},
                {"seq": 1},
                None,
            ):
                assert await client.call("game-at", data, timeout=10) == {
                    "ok": False,
                    "error": usage,
                }
            assert await client.call("game-history", {"gameId": 5}, timeout=10) == {
                "ok": False,
                "error": "game-history needs {gameId: string}",
            }
            for event in ("game-history", "game-at"):
                ack = await client.call(event, {"gameId": "nope", "seq": 0}, timeout=10)
                assert ack == {"ok": False, "error": "no game 'nope'"}
            ack = await client.call("game-at", {"gameId": GAME, "seq": 0, "count": 10**6})
            assert ack["ok"] and len(ack["deltas"]) == 3  # count is capped, not refused
            host.server.read_limiter.rate, host.server.read_limiter.burst = 0.0, 2.0
            acks = [await client.call("game-history", {"gameId": GAME}) for _ in range(3)]
            assert acks[-1] == {"ok": False, "error": "rate limited: too many history reads"}
            await client.disconnect()
        finally:
            await host.close()

    run(scenario())


def test_two_viewers_seek_on_their_own_and_the_game_and_its_room_see_nothing():
    async def scenario():
        host = await start(port=0, runtime=False)
        try:
            await feed(host.url, host.server.auth.ingest_token, LINES)
            before = host.hub.snapshot(GAME)
            watcher = await GameMirror(host.url, GAME).connect()  # in the room, watching live
            updates, effects = watcher.updates, len(watcher.effects)
            a, b = await viewer(host.url), await viewer(host.url)
            states = states_of(
                GAME, [parse_event(r.payload, ts=r.ts) for r in host.hub.store.events(GAME)]
            )
            seeks_a = [2, 20, 5, 0]
            seeks_b = [len(LINES), 1, 11]
            results = await asyncio.gather(
                *(check_game_at(a, GAME, states, s, 4) for s in seeks_a),
                *(check_game_at(b, GAME, states, s, 2) for s in seeks_b),
            )
            assert [r["at"] for r in results] == [*seeks_a, *seeks_b]
            await asyncio.sleep(0.2)  # anything wrongly broadcast would have arrived by now
            assert host.hub.snapshot(GAME) == before
            assert (watcher.updates, len(watcher.effects)) == (updates, effects)
            assert watcher.snapshot == before
            for client in (a, b):
                await client.disconnect()
            await watcher.close()
        finally:
            await host.close()

    run(scenario())


def test_replay_games_join_with_their_status_and_scrub_the_whole_recording():
    async def scenario():
        host = await start(port=0, runtime=False)
        replay = load_replay(samples.path("subagents", "hooks"))
        try:
            clock = host.hub.open_replay(replay.events, game_id="rp", speed=1000, loop=True)
            await asyncio.sleep(0.05)  # running: a late joiner arrives mid-way
            client = await viewer(host.url)
            ack = await client.call("join-game", {"gameId": "rp"}, timeout=10)
            assert ack["ok"] and ack["replay"]["total"] == len(replay.events)
            assert ack["replay"]["playing"] is True and ack["replay"]["loop"] is True
            assert set(ack["replay"]) == {"playing", "speed", "position", "total", "loop"}
            clock.pause()
            clock.seek(12)
            ack = await client.call("join-game", {"gameId": "rp", "since": 12}, timeout=10)
            assert ack["replay"] == clock.status() and ack["replay"]["position"] == 12
            history = await client.call("game-history", {"gameId": "rp"}, timeout=10)
            assert history["seq"] == len(replay.events)  # the whole recording, not position 12
            states = states_of("rp", replay.events)
            for seq in (0, 12, 40, len(replay.events)):
                await check_game_at(client, "rp", states, seq, 30)
            assert clock.position == 12 and not clock.playing  # the presenter did not move
            await feed(host.url, host.server.auth.ingest_token, LINES[:1])
            ack = await client.call("join-game", {"gameId": GAME}, timeout=10)
            assert ack["replay"] is None
            ack = await client.call("join-game", {"gameId": "never-seen"}, timeout=10)
            assert ack["replay"] is None and ack["seq"] == 0
            await client.disconnect()
        finally:
            await host.close()

    run(scenario())
