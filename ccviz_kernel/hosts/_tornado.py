"""The fast fan-out path on tornado (the Jupyter host).

:class:`TornadoWebSocket` is Engine.IO's tornado websocket that attaches each open
connection's handler to a :class:`TornadoFrameWriter`, the
:class:`~ccviz_kernel.server.fanout.FrameWriter` that writes pre-built frames straight to
the connection's ``IOStream``: what tornado's ``WebSocketProtocol13.write_message`` does
itself once it has built the frame (``_write_frame``: header + payload, one
``stream.write``), without the future and the task it makes per message. A frame sent
without the per-message-deflate bit is valid even on a connection that negotiated deflate
(RFC 7692 §6); the Jupyter host turns deflate off anyway. Engine.IO's own writer sends
through ``write_message`` synchronously (it never waits for a flush), so it holds nothing
back and order holds whenever the Engine.IO queue is idle.

Members of tornado this uses, checked by name in tests/server/test_fanout.py. tornado comes
with jupyter_server rather than from this package's dependencies, so its range is pinned
here, :data:`TESTED_TORNADO`, and that test fails outside it:

* ``WebSocketHandler.ws_connection`` (``None`` until accepted and once closed);
* ``WebSocketProtocol.is_closing()`` and ``WebSocketProtocol13.stream``;
* ``IOStream.write()`` and ``IOStream.socket`` (public) and ``IOStream._write_buffer``
  (private: its ``len`` is what waits to be sent; a frame goes to the socket directly only
  while it is empty).

If one is missing, :meth:`TornadoFrameWriter.ready` answers ``None`` (or the write buffer
counts as full) and deliveries take Engine.IO's queue.

Per idle viewer (issue 14) the websocket is driven by the handler's callbacks
(:class:`~._engineio.PushedTransport`: no Engine.IO coroutine stays suspended under it), and
:func:`translate_request` replaces Engine.IO's tornado ``translate_request`` (through
``AsyncServer._async["translate_request"]``, the dict :func:`use_websocket_class` already
uses), which defines a class per request and keeps an instance in the environ. Once the
websocket is open the handler drops the request headers and cookies it no longer needs
(``SocketHandler.ccviz_opened``: ``HTTPServerRequest._cookies``,
``RequestHandler._headers`` and ``_new_cookie``, checked in
tests/server/test_memory_members.py).
"""

from __future__ import annotations

import sys
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from engineio.async_drivers import tornado as eio_tornado
from engineio.exceptions import EngineIOError
from tornado.iostream import IOStream, StreamBufferFullError, StreamClosedError
from tornado.websocket import WebSocketClosedError

from ..server.fanout import (
    NOT_READY,
    SLOW,
    SLOW_BYTES,
    WRITTEN,
    Connections,
    engineio_socket,
    use_websocket_class,
)
from ._engineio import PushedTransport, serve, slim_environ, use_lean_engineio

#: The tornado releases whose members above were checked (first included, last excluded):
#: read in the sources of 6.2 (jupyter_server's floor) and 6.6, tests run on 6.6.
TESTED_TORNADO = ((6, 2), (6, 7))


class TornadoFrameWriter(Connections):
    """Pre-built frames straight to tornado websockets (a ``FrameWriter``)."""

    def ready(self, socket: Any) -> IOStream | None:
        handler = self._by_sid.get(socket.sid)  # once per recipient: no more calls than needed
        try:
            connection = handler.ws_connection
            if connection is None or connection.is_closing():
                return None
            return connection.stream
        except AttributeError:  # not attached, or a tornado without these members
            return None

    def write(self, transport: IOStream, frame: bytes) -> None:
        # IOStream.write makes a Future per call and resolves it through the loop: 60 % of a
        # delivery's cost at 1000 viewers (measured with cProfile). When tornado holds nothing
        # back for this stream, the frame goes to the socket here, as IOStream._handle_write
        # would send it; what the kernel does not take goes to tornado's buffer as before.
        # Plain TCP only: a TLS stream (SSLIOStream) must encrypt, so it takes write().
        if type(transport) is IOStream and not transport._write_buffer:
            try:
                sent = transport.socket.send(frame)
            except BlockingIOError:
                sent = 0
            except (OSError, AttributeError):  # broken or closed: tornado's reader sees it
                return
            if sent == len(frame):
                return
            frame = frame[sent:]
        try:
            transport.write(frame)  # its future is one tornado resolves (or fails) itself
        except (StreamClosedError, StreamBufferFullError):
            pass

    def buffered(self, transport: IOStream) -> int:
        pending = getattr(transport, "_write_buffer", None)
        return SLOW_BYTES + 1 if pending is None else len(pending)

    def push(self, socket: Any, frame: bytes, slow_bytes: int) -> int:
        """:meth:`ready`, :meth:`buffered` and :meth:`write` in one call (it runs once per
        recipient)."""
        try:
            connection = self._by_sid[socket.sid].ws_connection
            if connection is None or connection.is_closing():
                return NOT_READY
            stream = connection.stream
            pending = stream._write_buffer
        except (KeyError, AttributeError):  # not attached, or a tornado without these
            return NOT_READY
        if len(pending) > slow_bytes:
            return SLOW
        self.write(stream, frame)
        return WRITTEN


class TornadoWebSocket(PushedTransport, eio_tornado.WebSocket):
    """Engine.IO's tornado websocket, attached to a frame writer while open, driven by the
    handler's callbacks (:class:`~._engineio.PushedTransport`): the handler passes each
    message on (``ccviz_transport.feed``) and nothing waits while the viewer is idle."""

    def __init__(self, handler: Any, server: Any, frames: TornadoFrameWriter | None = None) -> None:
        super().__init__(handler, server)
        self.frames = frames

    async def send(self, message: Any) -> None:
        """Engine.IO's, with the write's outcome taken: a write that fails because the
        viewer just went away is not an error to log ("Task exception was never
        retrieved" once per closing viewer, as Engine.IO's own driver leaves it)."""
        try:
            done = self.tornado_handler.write_message(message, binary=isinstance(message, bytes))
        except WebSocketClosedError:
            raise EngineIOError() from None
        done.add_done_callback(_taken)

    async def __call__(self, environ: dict[str, Any]) -> None:
        handler = self.tornado_handler = environ["tornado.handler"]
        slim_environ(environ)  # python-socketio keeps it: not the cookies, nor the token
        sid = engineio_socket(self).sid
        if self.frames is not None:
            self.frames.attach(sid, handler)
        if hasattr(handler, "ccviz_take_inbox") and self.start(self.handler):
            handler.ccviz_transport = self
            handler.ccviz_opened()
            for message in handler.ccviz_take_inbox():  # what came before this point
                self.feed(message)
            return  # Engine.IO's request ends here; the connection lives on in callbacks
        try:
            await serve(self, self.handler)
        finally:
            self.ended()

    def ended(self) -> None:
        handler = self.tornado_handler
        if getattr(handler, "ccviz_transport", None) is self:
            handler.ccviz_transport = None
        if self.frames is not None:
            self.frames.detach(engineio_socket(self).sid, handler)


class _Payload:
    """``wsgi.input`` of a request: its body, read as Engine.IO's driver reads it (the
    driver defines this class anew for every request; one class here)."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes | None) -> None:
        self.payload = payload or b""

    async def read(self, length: int | None = None) -> bytes:
        if length is None:
            r, self.payload = self.payload, b""
        else:
            r, self.payload = self.payload[:length], self.payload[length:]
        return r


def translate_request(handler: Any) -> dict[str, Any]:
    """Engine.IO's tornado ``translate_request``: the same environ, without a class and
    its closures made per request."""
    request = handler.request
    full_uri = request.path
    if request.query:
        full_uri += "?" + request.query
    environ: dict[str, Any] = {
        "wsgi.input": _Payload(request.body),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.async": True,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "SERVER_SOFTWARE": "aiohttp",
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.query or "",
        "RAW_URI": full_uri,
        "SERVER_PROTOCOL": f"HTTP/{request.version}",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "0",
        "SERVER_NAME": "aiohttp",
        "SERVER_PORT": "0",
        "tornado.handler": handler,
    }
    for name, value in request.headers.items():
        name = name.upper()
        if name == "CONTENT-TYPE":
            environ["CONTENT_TYPE"] = value
        elif name == "CONTENT-LENGTH":
            environ["CONTENT_LENGTH"] = value
        else:
            environ["HTTP_" + name.replace("-", "_")] = value
    environ["wsgi.url_scheme"] = environ.get("HTTP_X_FORWARDED_PROTO", "http")
    environ["PATH_INFO"] = urlsplit(request.path).path
    environ["SCRIPT_NAME"] = ""
    return environ


def _taken(future: Any) -> None:
    """Take a finished write's exception (a closed stream), so nothing logs it."""
    if not future.cancelled():
        future.exception()


def use_tornado_websockets(eio: Any, frames: TornadoFrameWriter | None) -> None:
    """Make Engine.IO server ``eio`` (tornado mode) open :class:`TornadoWebSocket`\\ s, with
    the lighter queue, pings and transport loop of :mod:`._engineio` and
    :func:`translate_request`."""
    use_lean_engineio(eio)
    use_websocket_class(eio, partial(TornadoWebSocket, frames=frames))
    eio._async = {**eio._async, "translate_request": translate_request}
