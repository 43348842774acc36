"""The fast fan-out path on aiohttp (the standalone and in-kernel hosts).

:class:`PlainWebSocket` is Engine.IO's aiohttp websocket without per-message deflate that
attaches each open connection to an :class:`AiohttpFrameWriter`, the
:class:`~ccviz_kernel.server.fanout.FrameWriter` that writes pre-built frames straight to
the connection's asyncio transport.

aiohttp has no public way to write raw bytes to a websocket, nor to ask whether its writer
is waiting for the peer; this uses private members, pinned in pyproject.toml to the tested
aiohttp range and checked by name in tests/server/test_fanout.py:

* ``WebSocketResponse._writer``: its ``WebSocketWriter`` (``None`` before ``prepare()``);
* ``WebSocketWriter.transport`` and ``WebSocketWriter.protocol``;
* ``BaseProtocol._paused``: the transport asked the writer to stop (``pause_writing``);
* asyncio's socket transport's ``_sock`` and ``_buffer`` (CPython 3.10-3.13): a frame goes
  to the socket directly only while the transport's buffer is empty, as its own ``write``
  does (:meth:`AiohttpFrameWriter.push`); a transport without them takes ``write``.

If one of them is missing, :meth:`AiohttpFrameWriter.ready` answers ``None`` and every
delivery takes Engine.IO's queue: slower, never wrong.

Per idle viewer (issue 14) the websocket runs :func:`._engineio.serve` (the reader in
aiohttp's own request task, the writer only while packets wait, pings on one server-wide
timer) and keeps a slim environ (:func:`._engineio.slim_environ`).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from functools import partial
from typing import Any

from aiohttp import web
from engineio.async_drivers import aiohttp as eio_aiohttp

from ..server.fanout import (
    NOT_READY,
    SLOW,
    WRITTEN,
    Connections,
    engineio_socket,
    use_websocket_class,
)
from ._engineio import serve, slim_environ, use_lean_engineio


class AiohttpFrameWriter(Connections):
    """Pre-built frames straight to aiohttp websockets (a ``FrameWriter``)."""

    def __init__(self) -> None:
        super().__init__()
        #: sid → (websocket, its response, the response's writer, transport, protocol,
        #: socket send or None), taken once at attach.
        self._fast: dict[str, tuple[Any, Any, Any, Any, Any, Any]] = {}

    def attach(self, sid: str, connection: Any) -> None:
        super().attach(sid, connection)
        try:
            response = connection._sock
            writer = response._writer
            transport, protocol = writer.transport, writer.protocol
            protocol._paused  # noqa: B018 - push() reads it: it must be there
        except AttributeError:  # an aiohttp without these members: push() says not ready
            return
        send = _raw_send(transport)
        self._fast[sid] = (connection, response, writer, transport, protocol, send)

    def detach(self, sid: str, connection: Any) -> None:
        super().detach(sid, connection)
        entry = self._fast.get(sid)
        if entry is not None and entry[0] is connection:
            del self._fast[sid]

    def push(self, socket: Any, frame: bytes, slow_bytes: int) -> int:
        """:meth:`ready`, :meth:`buffered` and :meth:`write` in one call, with what they
        look up taken once at attach (it runs once per recipient). On a plain TCP
        transport whose buffer is empty the frame goes to the socket here, as the
        transport's own ``write`` would send it."""
        entry = self._fast.get(socket.sid)
        if entry is None:
            return NOT_READY
        ws, response, writer, transport, protocol, send = entry
        if ws.sending or response._writer is not writer or protocol._paused:
            return NOT_READY
        if transport.is_closing():
            return NOT_READY
        if send is not None and not transport._buffer:
            try:
                sent = send(frame)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:  # the connection broke: its reader ends it
                return WRITTEN
            if sent == len(frame):
                return WRITTEN
            frame = frame[sent:]  # the rest through the transport, behind nothing
        elif transport.get_write_buffer_size() > slow_bytes:
            return SLOW
        transport.write(frame)
        return WRITTEN

    def ready(self, socket: Any) -> asyncio.Transport | None:
        ws = self._by_sid.get(socket.sid)  # once per recipient: no more calls than needed
        if ws is None or ws.sending:
            return None  # not open yet, or Engine.IO's writer is inside a send (drain)
        try:
            writer = ws._sock._writer
            if writer is None or writer.protocol._paused:
                return None
            transport = writer.transport
        except AttributeError:  # an aiohttp without these members: the queue it is
            return None
        if transport is None or transport.is_closing():
            return None
        return transport

    def write(self, transport: asyncio.Transport, frame: bytes) -> None:
        transport.write(frame)  # a closing transport drops it (ready() said it was open)

    def buffered(self, transport: asyncio.Transport) -> int:
        return transport.get_write_buffer_size()


def _raw_send(transport: Any) -> Callable[[bytes], int] | None:
    """The socket's ``send`` under a plain (not TLS) asyncio socket transport that keeps its
    unsent bytes in ``_buffer``; ``None`` for any other transport (it takes ``write``)."""
    extra = getattr(transport, "get_extra_info", None)
    if extra is None or extra("sslcontext") is not None:
        return None
    raw, buffer = getattr(transport, "_sock", None), getattr(transport, "_buffer", None)
    if not isinstance(raw, socket.socket) or not hasattr(buffer, "__len__"):
        return None
    return raw.send


class PlainWebSocket(eio_aiohttp.WebSocket):
    """Engine.IO's aiohttp websocket without per-message deflate (on these small frames it
    cost about a quarter more server CPU and 4x the memory per connection), attached to a
    frame writer while open."""

    def __init__(self, handler: Any, server: Any, frames: AiohttpFrameWriter | None = None) -> None:
        super().__init__(handler, server)
        self.frames = frames
        #: Sends of Engine.IO's writer under way (one waits when the transport is paused).
        self.sending = 0

    @property
    def response(self) -> web.WebSocketResponse | None:
        return self._sock

    async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        request = environ["aiohttp.request"]
        self._sock = web.WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size, compress=False
        )
        await self._sock.prepare(request)
        slim_environ(environ)  # python-socketio keeps it: not the cookies, nor the token
        sid = engineio_socket(self).sid
        if self.frames is not None:
            self.frames.attach(sid, self)
        try:
            await serve(self, self.handler)
        finally:
            if self.frames is not None:
                self.frames.detach(sid, self)
        return self._sock

    async def send(self, message: Any) -> None:
        self.sending += 1
        try:
            await super().send(message)
        finally:
            self.sending -= 1


def use_plain_websockets(eio: Any, frames: AiohttpFrameWriter | None) -> None:
    """Make Engine.IO server ``eio`` (aiohttp mode) open :class:`PlainWebSocket`\\ s, with
    the lighter queue, pings and transport loop of :mod:`._engineio`."""
    use_lean_engineio(eio)
    use_websocket_class(eio, partial(PlainWebSocket, frames=frames))
