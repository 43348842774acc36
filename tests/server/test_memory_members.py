"""The library members the lighter per-connection transport uses (issue 14), checked by
name against the installed python-engineio, python-socketio and tornado: see the
docstrings of ccviz_kernel/hosts/_engineio.py, hosts/_tornado.py and
hosts/jupyter/socket.py. A failure here means a new release moved one of them: read the
new source before widening the pin in pyproject.toml."""

from __future__ import annotations

import asyncio
import inspect
import sys
from types import SimpleNamespace

import engineio
import pytest
from engineio import async_server, async_socket, base_socket, exceptions
from engineio.async_drivers import aiohttp as eio_aiohttp

from ccviz_kernel.hosts import _engineio


def source(obj) -> str:
    return inspect.getsource(obj)


def test_the_socket_members_the_transport_uses():
    sock = async_socket.AsyncSocket
    for name in ("_websocket_handler", "_send_ping", "receive", "close", "send"):
        assert inspect.iscoroutinefunction(getattr(sock, name)), name
    assert not inspect.iscoroutinefunction(sock.schedule_ping)
    close = inspect.signature(sock.close).parameters
    assert {"wait", "abort", "reason"} <= set(close)
    # the attributes a socket is made with
    init = source(base_socket.BaseSocket.__init__)
    for line in (
        "self.server = server",
        "self.sid = sid",
        "self.queue = self.server.create_queue()",
        "self.last_ping = ",
        "self.connected = False",
        "self.upgraded = False",
        "self.closing = False",
        "self.closed = False",
    ):
        assert line in init, line
    # the next ping: started through start_background_task, as the bound _send_ping
    assert "self.server.start_background_task(self._send_ping)" in source(sock.schedule_ping)
    assert "self.last_ping = None" in source(sock.schedule_ping)
    ping = source(sock._send_ping)
    assert "asyncio.sleep(self.server.ping_interval)" in ping
    assert "self.last_ping = time.time()" in ping
    assert "packet.Packet(packet.PING)" in ping
    assert "if not self.closing and not self.closed" in ping
    # a PONG schedules the next ping; the service task's timeout check reads last_ping
    assert "self.schedule_ping()" in source(sock.receive)
    assert "self.last_ping" in source(sock.check_ping_timeout)


def test_the_websocket_handler_does_what_serve_does():
    handler = source(async_socket.AsyncSocket._websocket_handler)
    for marker in (
        "if self.connected:",  # an upgrade from polling: serve() leaves it to Engine.IO
        "self.connected = True",
        "self.upgraded = True",
        "await ws.send(pkt.encode())",
        "await ws.close()",
        "data = await ws.wait()",
        "len(data) > self.server.max_http_buffer_size",
        "self.server.ping_interval + self.server.ping_timeout",
        "packet.Packet(encoded_packet=p)",
        "await self.receive(pkt)",
        "exceptions.UnknownPacketError",
        "exceptions.SocketIsClosedError",
        "await self.queue.put(None)",
        "reason=self.server.reason.TRANSPORT_CLOSE",
    ):
        assert marker in handler, marker
    # the host's websocket class gets the bound handler, and the handshake awaits it
    upgrade = source(async_socket.AsyncSocket._upgrade_websocket)
    assert "self.server._async['websocket'](" in upgrade
    assert "self._websocket_handler, self.server)" in upgrade
    assert "return await ws(environ)" in upgrade
    # poll() marks a packet done once taken (what the fan-out's queue count relies on)
    assert "self.queue.task_done()" in source(async_socket.AsyncSocket.poll)
    assert issubclass(exceptions.UnknownPacketError, Exception)
    assert issubclass(exceptions.SocketIsClosedError, Exception)


def test_the_server_members_the_transport_uses():
    server = engineio.AsyncServer(async_mode="aiohttp", ping_interval=7, ping_timeout=9)
    assert server.ping_interval == 7 and server.ping_timeout == 9
    assert isinstance(server.sockets, dict)
    assert isinstance(server.max_http_buffer_size, int)
    assert server.reason.TRANSPORT_CLOSE and server.reason.PING_TIMEOUT
    assert {"websocket", "translate_request"} <= set(server._async)
    assert server._async["websocket"] is eio_aiohttp.WebSocket
    for name in ("create_queue", "start_background_task"):
        assert callable(getattr(async_server.AsyncServer, name)), name
    connect = source(async_server.AsyncServer._handle_connect)
    # a socket is made (its queue from create_queue), OPEN queued, connect handler, first
    # ping scheduled, then the websocket served; a closed one is removed at the end
    for marker in (
        "async_socket.AsyncSocket(self, sid)",
        "await s.send(pkt)",
        "s.schedule_ping()",
        "ret = await s.handle_get_request(environ)",
        "if s.closed and sid in self.sockets:",
        "del self.sockets[sid]",
    ):
        assert marker in connect, marker
    assert connect.index("s.schedule_ping()") < connect.index("s.handle_get_request(environ)")
    # a websocket's return value (None under tornado) is handed back as is
    assert "if not isinstance(r, dict):" in source(async_server.AsyncServer.handle_request)
    # the service task closes closed sockets and checks ping timeouts (unchanged here)
    service = source(async_server.AsyncServer._service_task)
    assert "check_ping_timeout" in service


def test_python_socketio_keeps_the_environ_engineio_hands_over():
    import socketio

    connect = source(socketio.AsyncServer._handle_eio_connect)
    assert "self.environ[eio_sid] = environ" in connect
    assert "self.environ[eio_sid]" in source(socketio.AsyncServer._handle_connect)


def test_use_lean_engineio_takes_over_exactly_the_ping_tasks():
    server = engineio.AsyncServer(async_mode="aiohttp")
    pinger = _engineio.use_lean_engineio(server)
    assert isinstance(server.create_queue(), _engineio.LeanQueue)
    sock = async_socket.AsyncSocket(server, "sid-1")
    assert isinstance(sock.queue, _engineio.LeanQueue)

    async def scenario():
        sock.schedule_ping()  # last_ping was set at creation: a ping is scheduled
        assert len(pinger) == 1 and sock.last_ping is None
        started = []

        async def other():
            started.append(True)

        task = server.start_background_task(other)  # anything else: a task, as before
        await task
        assert started == [True]
        pinger.close()

    asyncio.run(scenario())


def test_our_tornado_environ_is_engineios():
    pytest.importorskip("tornado")
    from engineio.async_drivers import tornado as eio_tornado
    from tornado.httputil import HTTPHeaders

    from ccviz_kernel.hosts import _tornado

    headers = HTTPHeaders()
    for name, value in (
        ("Host", "127.0.0.1:8888"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Content-Type", "text/plain"),
        ("Content-Length", "3"),
        ("Cookie", "a=1"),
        ("X-Forwarded-Proto", "https"),
    ):
        headers.add(name, value)
    request = SimpleNamespace(
        body=b"abc",
        path="/jupyter/ccviz/socket.io/",
        query="EIO=4&transport=websocket",
        method="GET",
        version="HTTP/1.1",
        headers=headers,
    )
    handler = SimpleNamespace(request=request)
    ours, theirs = _tornado.translate_request(handler), eio_tornado.translate_request(handler)
    ours_input, theirs_input = ours.pop("wsgi.input"), theirs.pop("wsgi.input")
    assert ours == theirs
    assert asyncio.run(ours_input.read(2)) == asyncio.run(theirs_input.read(2)) == b"ab"
    assert asyncio.run(ours_input.read()) == asyncio.run(theirs_input.read()) == b"c"
    assert "class AwaitablePayload" in source(eio_tornado.translate_request)  # still per request
    # the driver's websocket: what TornadoWebSocket keeps of it
    ws = source(eio_tornado.WebSocket)
    assert "self.tornado_handler.write_message(" in ws
    assert "self.tornado_handler.close()" in ws
    assert "self.tornado_handler.get_next_message()" in ws


def test_the_tornado_members_the_jupyter_handler_drops():
    pytest.importorskip("tornado")
    import tornado
    from tornado import httputil, web

    from ccviz_kernel.hosts._tornado import TESTED_TORNADO

    assert TESTED_TORNADO[0] <= tornado.version_info[:2] < TESTED_TORNADO[1]
    # request.cookies: parsed once into request._cookies (again if that goes)
    cookies = source(httputil.HTTPServerRequest.cookies.fget)
    assert 'if not hasattr(self, "_cookies")' in cookies
    assert 'self.headers["Cookie"]' in cookies
    # the answer's headers and cookies: _headers (made by clear()), _new_cookie (set_cookie)
    assert "self._headers = httputil.HTTPHeaders(" in source(web.RequestHandler.clear)
    assert "self._new_cookie" in source(web.RequestHandler.set_cookie)
    assert 'hasattr(self, "_new_cookie")' in source(web.RequestHandler.flush)
    # a websocket's handler writes nothing once accepted (these raise from then on)
    from tornado import websocket

    accept = source(websocket.WebSocketProtocol13._accept_connection)
    assert "handler.finish()" in accept
    assert accept.index("handler.finish()") < accept.index("handler.open(")
    detach = source(websocket.WebSocketHandler._detach_stream)
    for method in ("write", "set_header", "set_cookie", "finish"):
        assert f'"{method}"' in detach, method


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is 3.11+")
def test_asyncio_timeout_is_there():
    assert _engineio._timeout is asyncio.timeout
