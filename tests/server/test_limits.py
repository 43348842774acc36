"""Per-connection limits (issue 11, points 3, 8 and 9): real python-socketio clients and raw
sockets against the standalone host on 127.0.0.1. No timing is asserted: waits are bounded
and only say "within a generous time"; rates run on a frozen clock.
"""

from __future__ import annotations

import asyncio
import gzip
import inspect
import json
import zlib

import aiohttp
import engineio
import engineio.async_socket
import pytest
import socketio

from ccviz_kernel.hosts import standalone
from ccviz_kernel.hosts.standalone import start
from ccviz_kernel.server.limits import RESERVED_EVENTS, Limits

SESSION = "limits-game"
START = json.dumps({"hook_event_name": "SessionStart", "session_id": SESSION, "source": "startup"})


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def viewer(url: str, **kwargs) -> socketio.AsyncClient:
    client = socketio.AsyncClient(serializer="msgpack", reconnection=False)
    await client.connect(url, transports=["websocket"], wait_timeout=10, **kwargs)
    return client


async def post_hook(url: str, token: str, body: bytes, **headers: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.post(
            url + "api/hooks",
            data=body,
            headers={"Authorization": f"Bearer {token}", **headers},
        ) as r,
    ):
        return r.status, await r.text()


def test_reserved_event_names_never_rerun_the_handlers():
    async def scenario():
        host = await start(port=0, runtime=False)
        server = host.server
        try:
            client = await viewer(host.url)
            (sid,) = server._roles
            # As an event, "connect" would have run the connect handler with an "environ"
            # and "auth" of the client's choosing; "disconnect" would have dropped its role.
            forged = {"REMOTE_ADDR": "10.9.8.7", "HTTP_HOST": "evil.example"}
            for event, args in (
                ("connect", (forged, {"token": "guess"})),
                ("disconnect", ("client disconnect",)),
                ("connect_error", ({"message": "x"},)),
                ("disconnecting", ()),
            ):
                ack = await client.call(event, args if len(args) != 1 else args[0], timeout=5)
                assert ack["ok"] is False and "reserved" in ack["error"], (event, ack)
            assert server._roles == {sid: "viewer"}  # same session, same role
            assert client.connected
            ack = await client.call("join-game", {"gameId": SESSION}, timeout=5)
            assert ack["ok"] is True  # still a working session
            assert (await client.call("no-such-event", {}, timeout=5))["ok"] is False
            # "*" is python-socketio's catch-all: as an event it reached it without a name
            for data in (None, {}, "x"):
                ack = await client.call("*", data, timeout=5)
                assert ack == {"ok": False, "error": "unknown event '*'"}
            assert server.limits.refused["reserved"] == 4
            await client.disconnect()
        finally:
            await host.close()

    run(scenario())


def test_reserved_names_cover_socketio_own_list():
    # socket.io's RESERVED_EVENTS (socket.io-client and server): none may come from a client.
    assert {"connect", "connect_error", "disconnect", "disconnecting"} <= RESERVED_EVENTS
    assert {"newListener", "removeListener"} <= RESERVED_EVENTS


def test_joins_are_rate_limited_and_rooms_per_connection_capped():
    async def scenario():
        host = await start(port=0, runtime=False)
        server = host.server
        now = [1000.0]
        server.limits.clock = lambda: now[0]  # frozen: the bucket refills only when told
        server.limits.limits = Limits(rooms_per_connection=32, join_rate=5.0, join_burst=20.0)
        try:
            client = await viewer(host.url)
            answers = [
                await client.call("join-game", {"gameId": f"g{i}"}, timeout=5) for i in range(25)
            ]
            ok = [a["ok"] for a in answers]
            assert ok == [True] * 20 + [False] * 5  # a burst of 20, then refused
            assert all("rate limited" in a["error"] for a in answers[20:])
            now[0] += 1.0  # 5 joins a second come back
            more = [
                await client.call("join-game", {"gameId": f"h{i}"}, timeout=5) for i in range(6)
            ]
            assert [a["ok"] for a in more] == [True] * 5 + [False]
            assert server.limits.refused["joins"] == 6

            # Rooms: at most 32 games per connection, however slowly they are joined.
            now[0] += 100.0
            for i in range(7):  # 25 rooms so far, 7 more reach the cap
                assert (await client.call("join-game", {"gameId": f"k{i}"}, timeout=5))["ok"]
                now[0] += 1.0
            ack = await client.call("join-game", {"gameId": "one-too-many"}, timeout=5)
            assert ack["ok"] is False and "too many games" in ack["error"]
            rejoin = await client.call("join-game", {"gameId": "g0"}, timeout=5)
            assert rejoin["ok"] is True  # a game already joined is no new room
            assert (await client.call("leave-game", {"gameId": "g0"}, timeout=5))["ok"]
            now[0] += 1.0
            ack = await client.call("join-game", {"gameId": "one-too-many"}, timeout=5)
            assert ack["ok"] is True
            game_rooms = [r for r in server.manager.rooms["/"] if str(r).startswith("game-")]
            assert len(game_rooms) == 32
            await client.disconnect()
            for _ in range(100):  # the disconnect is handled on the server's side in a moment
                if not server._roles:
                    break
                await asyncio.sleep(0.05)
            game_rooms = [
                r for r in server.manager.rooms.get("/", {}) if str(r).startswith("game-")
            ]
            assert game_rooms == []  # empty rooms do not linger
        finally:
            await host.close()

    run(scenario())


def test_connections_per_address_are_capped_and_counted_down():
    async def scenario():
        host = await start(port=0, runtime=False)
        server = host.server
        server.limits.limits = Limits(per_loopback=3)
        try:
            clients = [await viewer(host.url) for _ in range(3)]
            with pytest.raises(socketio.exceptions.ConnectionError):
                await viewer(host.url)
            assert server.limits.refused["connections"] == 1
            await clients.pop().disconnect()
            for _ in range(100):  # counted down once the server saw it go
                if server.limits.connections("127.0.0.1") == 2:
                    break
                await asyncio.sleep(0.05)
            clients.append(await viewer(host.url))  # the freed place is usable again
            for client in clients:
                await client.disconnect()
            for _ in range(100):
                if server.limits.connections() == 0:
                    break
                await asyncio.sleep(0.05)
            assert server.limits.connections() == 0
        finally:
            await host.close()

    run(scenario())


def test_a_websocket_that_never_opens_a_session_is_closed():
    async def scenario():
        host = await start(port=0, runtime=False)
        host.server.limits.limits = Limits(connect_grace=0.3)
        try:
            async with aiohttp.ClientSession() as session:
                url = host.url + "socket.io/?EIO=4&transport=websocket"
                async with session.ws_connect(url) as ws:
                    assert (await ws.receive(timeout=5)).data.startswith("0{")  # engine.io open
                    # no socket.io CONNECT ("40"): the server closes it after the grace period
                    message = await ws.receive(timeout=10)
                    while message.type == aiohttp.WSMsgType.TEXT:  # a ping or a close packet
                        message = await ws.receive(timeout=10)
                    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            for _ in range(100):
                if host.server.limits.connections() == 0:
                    break
                await asyncio.sleep(0.05)
            assert host.server.limits.connections() == 0
        finally:
            await host.close()

    run(scenario())


def test_slowloris_heads_and_bodies_are_cut_off(monkeypatch):
    monkeypatch.setattr(standalone, "HEADER_TIMEOUT", 0.5)
    monkeypatch.setattr(standalone, "BODY_TIMEOUT", 0.5)

    async def scenario():
        host = await start(port=0, runtime=False)
        port = int(host.url.rstrip("/").rsplit(":", 1)[1])
        try:
            # A head sent a header at a time, never finished: closed, though bytes keep coming.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            closed = False
            for i in range(200):  # a header every 0.1 s, for at most 20 s
                try:
                    writer.write(f"X-Slow-{i}: y\r\n".encode())
                    await writer.drain()
                    data = await asyncio.wait_for(reader.read(1024), 0.1)
                except asyncio.TimeoutError:
                    continue  # still open, no answer: send the next header
                except ConnectionError:
                    data = b""
                assert data == b""  # never an answer to a head that was not finished
                closed = True
                break
            assert closed
            writer.close()

            # A body that never arrives in full: 408, and the connection is closed.
            token = host.server.auth.ingest_token
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                b"POST /api/hooks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + f"Authorization: Bearer {token}\r\n".encode()
                + b'Content-Length: 1000\r\n\r\n{"hook_event_name":'
            )
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 20)
            assert answer.startswith(b"HTTP/1.1 408 ")
            writer.close()
        finally:
            await host.close()

    run(scenario())


def test_a_body_that_does_not_match_its_content_encoding_is_a_400():
    async def scenario():
        host = await start(port=0, runtime=False)
        token = host.server.auth.ingest_token
        try:
            for encoding in ("gzip", "deflate"):
                status, text = await post_hook(
                    host.url, token, b"not compressed", **{"Content-Encoding": encoding}
                )
                assert (status, text) == (
                    400,
                    f"cannot decode the body (Content-Encoding '{encoding}')\n",
                )
            packed = gzip.compress(START.encode())
            assert (await post_hook(host.url, token, packed, **{"Content-Encoding": "gzip"}))[
                0
            ] == 204
            packed = zlib.compress(START.encode())
            assert (await post_hook(host.url, token, packed, **{"Content-Encoding": "deflate"}))[
                0
            ] == 204
            assert (await post_hook(host.url, token, b"{}", **{"Content-Encoding": "br"}))[0] == 400
        finally:
            await host.close()

    run(scenario())


def test_nothing_per_connection_outlives_the_connection():
    """What 20,000 connections left behind (issue 11): each piece of per-connection state
    is gone once its connection is (bench/soak_bench.py measures the memory itself)."""

    async def scenario():
        host = await start(port=0, runtime=False)
        server = host.server
        token = server.auth.ingest_token
        try:
            assert (await post_hook(host.url, token, START.encode()))[0] == 204
            for round_ in range(30):
                client = await viewer(host.url, auth={"token": token} if round_ % 2 else None)
                assert (await client.call("join-game", {"gameId": SESSION}, timeout=5))["ok"]
                await client.call("join-game", {"gameId": f"nothing-{round_}"}, timeout=5)
                await client.call("list-games", {}, timeout=5)
                await client.call("game-history", {"gameId": SESSION}, timeout=10)
                if round_ % 2:
                    action = {"gameId": SESSION, "type": "say", "agent": "main", "text": "hi"}
                    await client.call("agent-action", action, timeout=5)
                await client.disconnect()
            for _ in range(200):
                if not server.sio.eio.sockets and not server._roles:
                    break
                await asyncio.sleep(0.05)
            assert server._roles == {}
            assert server.sio.eio.sockets == {}
            assert server.sio.environ == {}
            assert server.manager.rooms.get("/", {}) == {}
            assert server.limits.connections() == 0 and server.limits._sessions == {}
            assert server.read_limiter._buckets == {} and server.action_limiter._buckets == {}
            assert len(server.manager.frame_writer) == 0
            # Engine.IO's next ping of each socket sleeps 25 s holding the closed socket:
            # cancelled at the disconnect, none is left
            pings = [
                t
                for t in asyncio.all_tasks()
                if getattr(t.get_coro(), "__qualname__", "") == "AsyncSocket._send_ping"
            ]
            assert pings == []
        finally:
            await host.close()

    run(scenario())


def test_the_engineio_members_the_limits_use_exist():
    # server/limits.py wraps the handlers python-socketio registers on Engine.IO.
    server = socketio.AsyncServer(async_mode="aiohttp")
    assert {"connect", "disconnect"} <= set(server.eio.handlers)
    assert isinstance(server.eio.sockets, dict)
    assert "sid" in inspect.signature(engineio.AsyncServer.disconnect).parameters
    manager = server.manager
    for name in ("is_connected", "sid_from_eio_sid", "eio_sid_from_sid"):
        assert callable(getattr(manager, name)), name
    assert "connect" in server.reserved_events and "disconnect" in server.reserved_events
    # the ping task a socket starts through start_background_task (cancelled when it closes)
    assert callable(server.eio.start_background_task)
    assert inspect.iscoroutinefunction(engineio.async_socket.AsyncSocket._send_ping)
    assert "self._send_ping" in inspect.getsource(engineio.async_socket.AsyncSocket.schedule_ping)


def test_a_reconnecting_page_can_join_all_its_rooms_again_at_once():
    # The page shares one connection between its views and does not retry a refused join:
    # the default burst must cover every room a connection may hold.
    limits = Limits()
    assert limits.join_burst >= limits.rooms_per_connection
