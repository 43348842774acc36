"""The live path over real sockets on 127.0.0.1: hooks in, viewers mirror the engine."""

from __future__ import annotations

import asyncio
import json
import tempfile

import aiohttp
import msgpack
from common import FIXTURES, without_times

from ccviz_kernel.engine.game import Game
from ccviz_kernel.events import parse_event
from ccviz_kernel.hosts.standalone import start
from ccviz_kernel.hub import Hub
from ccviz_kernel.notebook.mirror import GameMirror
from ccviz_kernel.store import EventStore

LINES = (FIXTURES / "hook-payloads.jsonl").read_text().splitlines()
GAME = json.loads(LINES[0])["session_id"]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def post(session: aiohttp.ClientSession, url: str, body: str | bytes, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.post(url + "api/hooks", data=body, headers=headers) as response:
        return response.status, await response.text()


def strip_times(snapshot: dict) -> dict:
    return without_times(snapshot)


def test_viewers_and_a_late_joiner_hold_the_engine_snapshot():
    async def scenario():
        host = await start(port=0, runtime=False)
        token = host.server.auth.ingest_token
        try:
            a = await GameMirror(host.url, GAME).connect()
            b = await GameMirror(host.url, GAME, serializer="msgpack").connect()
            async with aiohttp.ClientSession() as session:
                for line in LINES[:14]:
                    assert (await post(session, host.url, line, token))[0] == 204
                await a.wait_seq(14)
                await b.close()  # b drops out for a while
                for line in LINES[14:]:
                    assert (await post(session, host.url, line, token))[0] == 204
            late = await GameMirror(host.url, GAME).connect()
            await a.wait_seq(len(LINES))
            b2 = GameMirror(host.url, GAME)
            b2.snapshot = b.snapshot  # comes back holding what it had, re-joins with since
            await b2.sio.connect(host.url, transports=["websocket"])
            await b2.join(since=b.seq)
            live = host.hub.snapshot(GAME)
            assert a.snapshot == live and late.snapshot == live and b2.snapshot == live
            assert a.rejoins == 0
            replayed = Game(GAME)
            for line in LINES:
                replayed.apply(parse_event(line))
            assert strip_times(live) == strip_times(replayed.snapshot())
            for m in (a, late, b2):
                await m.close()
        finally:
            await host.close()

    run(scenario())


def test_json_serializer_and_bad_input_over_http_and_socketio():
    async def scenario():
        host = await start(port=0, runtime=False, json_mode=True)
        token = host.server.auth.ingest_token
        try:
            async with aiohttp.ClientSession() as session:
                assert await post(session, host.url, "{oops", token) == (
                    400,
                    "invalid JSON: unexpected character, expected a string key "
                    "(line 1, column 2)\n",
                )
                assert (await post(session, host.url, LINES[0], None))[0] == 401
                assert (await post(session, host.url, LINES[0], "nope"))[0] == 403
                assert (await post(session, host.url, b"x" * 2_000_000, token))[0] == 413
                unknown = json.dumps({"hook_event_name": "Teleport", "session_id": GAME})
                assert (await post(session, host.url, unknown, token))[0] == 204
                assert (await post(session, host.url, LINES[0], token))[0] == 204
            mirror = await GameMirror(host.url, GAME, serializer="default").connect()
            assert mirror.seq == 2
            ack = await mirror.sio.call("join-game", {"gameId": 5})
            assert ack == {
                "ok": False,
                "error": "join-game needs {gameId: string, since?: integer}",
            }
            ack = await mirror.sio.call(
                "agent-action", {"gameId": GAME, "type": "say", "text": "hi"}
            )
            assert ack["ok"] is False and "controller" in ack["error"]
            await mirror.close()
            boss = await GameMirror(host.url, GAME, serializer="default", token=token).connect()
            assert await boss.act("say", agent="main", text="hello") == 3
            ack = await boss.sio.call(
                "agent-action", {"gameId": GAME, "type": "move", "agent": "main", "place": "moon"}
            )
            assert ack == {"ok": False, "error": "unknown place 'moon'"}
            await boss.wait_seq(3)
            assert any(e.get("text") == "hello" for e in boss.effects) or boss.seq == 3
            await boss.close()
            assert host.hub.game(GAME).seq == 3  # nothing bad was logged, nothing good lost
        finally:
            await host.close()

    run(scenario())


def test_flood_gets_429_and_loses_no_valid_event():
    async def scenario():
        host = await start(port=0, runtime=False)
        host.server.hook_limiter.rate, host.server.hook_limiter.burst = 5.0, 20.0
        token = host.server.auth.ingest_token
        try:
            statuses = []
            async with aiohttp.ClientSession() as session:
                for i in range(60):
                    body = json.dumps(
                        {
                            "hook_event_name": "Notification",
                            "session_id": "flood",
                            "message": f"n{i}",
                        }
                    )
                    statuses.append((await post(session, host.url, body, token))[0])
            assert statuses.count(429) > 0
            assert host.hub.game("flood").seq == statuses.count(204)
        finally:
            await host.close()

    run(scenario())


def test_cross_origin_browsers_are_refused_unless_allowed():
    async def scenario():
        host = await start(port=0, runtime=False, cors=["http://allowed.example"])
        try:
            server = host.server
            environ = {"HTTP_HOST": host.url.split("/")[2]}
            assert server._origin_ok(host.url.rstrip("/"), environ)
            assert server._origin_ok("http://allowed.example", environ)
            assert not server._origin_ok("http://evil.example", environ)
            async with aiohttp.ClientSession() as session:
                ws_url = host.url + "socket.io/?EIO=4&transport=websocket"
                try:
                    async with session.ws_connect(
                        ws_url, headers={"Origin": "http://evil.example"}
                    ):
                        refused = False
                except aiohttp.WSServerHandshakeError:
                    refused = True
                assert refused
                async with session.ws_connect(
                    ws_url, headers={"Origin": "http://allowed.example"}
                ) as ws:
                    assert (await ws.receive(timeout=5)).data.startswith("0{")  # engine.io open
        finally:
            await host.close()

    run(scenario())


def test_events_endpoint_gives_redacted_rows():
    async def scenario():
        host = await start(port=0, runtime=False)
        token = host.server.auth.ingest_token
        try:
            async with aiohttp.ClientSession() as session:
                for line in LINES:
                    await post(session, host.url, line, token)
                async with session.get(f"{host.url}api/games/{GAME}/events") as r:
                    rows = (await r.json())["events"]
                async with session.get(f"{host.url}api/games/nope/events") as r:
                    assert r.status == 404
            assert [row["seq"] for row in rows] == list(range(1, len(LINES) + 1))
            assert rows[2] == {
                **rows[2],
                "event": "PreToolUse",
                "tool": "Glob",
                "agent": "main",
                "place": "library",
                "text": "Finding src/**/*player*",
            }
        finally:
            await host.close()

    run(scenario())


def test_impossible_numbers_never_make_a_game_unjoinable():
    """Issue 11 §2: a controller's hook action with ``timestamp: 1e300`` and token counts
    that add up beyond 2⁶⁴ once broke list-games and joins for msgpack viewers, 300-digit
    integers went to JSON viewers, and both came back after a restart (rebuilt from the
    store). Every number a game holds now fits every wire, live and rebuilt."""
    big = (1 << 53) - 1
    usage = {"input_tokens": big, "output_tokens": big, "cache_read_input_tokens": big}

    async def scenario(json_mode: bool, db):
        host = await start(port=0, runtime=False, json_mode=json_mode, hub=Hub(EventStore(db)))
        token = host.server.auth.ingest_token
        serializer = "default" if json_mode else "msgpack"
        try:
            async with aiohttp.ClientSession() as session:
                assert (await post(session, host.url, LINES[0], token))[0] == 204
                for i in range(700):
                    usage_event = {
                        "hook_event_name": "ccviz.usage",
                        "session_id": GAME,
                        "usage": usage,
                        "timestamp": 1e300 if i % 2 else "9999-12-31T23:59:59+99:00",
                    }
                    assert (await post(session, host.url, json.dumps(usage_event), token))[0] == 204
            boss = await GameMirror(host.url, GAME, serializer=serializer, token=token).connect()
            ack = await boss.sio.call(
                "agent-action",
                {
                    "gameId": GAME,
                    "type": "hook",
                    "payload": {"hook_event_name": "Notification", "timestamp": 1e300},
                },
            )
            assert ack["ok"], ack
            lobby = await boss.sio.call("list-games", {})
            assert lobby["ok"] and lobby["games"][0]["gameId"] == GAME
            await boss.close()
            viewer = await GameMirror(host.url, GAME, serializer=serializer).connect()
            tokens = viewer.snapshot["stats"]["tokens"]
            assert tokens["total"] == tokens["input"] == big  # counters stop at 2**53 - 1
            await viewer.close()
            return host.hub.snapshot(GAME)
        finally:
            await host.close()

    for json_mode in (False, True):
        with tempfile.TemporaryDirectory() as folder:
            db = f"{folder}/events.sqlite3"
            live = run(scenario(json_mode, db))
            rebuilt = Hub(EventStore(db))  # a restart: the game rebuilt from its log
            assert rebuilt.snapshot(GAME) == live
            msgpack.packb(rebuilt.summaries())
            rebuilt.store.close()
