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
* ``IOStream.write()`` (public) and ``IOStream._write_buffer`` (private: its ``len`` is what
  waits to be sent).

If one is missing, :meth:`TornadoFrameWriter.ready` answers ``None`` (or the write buffer
counts as full) and deliveries take Engine.IO's queue.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from engineio.async_drivers import tornado as eio_tornado
from tornado.iostream import IOStream, StreamBufferFullError, StreamClosedError

from ..server.fanout import SLOW_BYTES, Connections, engineio_socket, use_websocket_class

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
        try:
            transport.write(frame)  # its future is one tornado resolves (or fails) itself
        except (StreamClosedError, StreamBufferFullError):
            pass

    def buffered(self, transport: IOStream) -> int:
        pending = getattr(transport, "_write_buffer", None)
        return SLOW_BYTES + 1 if pending is None else len(pending)


class TornadoWebSocket(eio_tornado.WebSocket):
    """Engine.IO's tornado websocket, attached to a frame writer while open."""

    def __init__(self, handler: Any, server: Any, frames: TornadoFrameWriter | None = None) -> None:
        super().__init__(handler, server)
        self.frames = frames

    async def __call__(self, environ: dict[str, Any]) -> None:
        self.tornado_handler = environ["tornado.handler"]
        self.environ = environ
        sid = engineio_socket(self).sid
        if self.frames is not None:
            self.frames.attach(sid, self.tornado_handler)
        try:
            await self.handler(self)
        finally:
            if self.frames is not None:
                self.frames.detach(sid, self.tornado_handler)


def use_tornado_websockets(eio: Any, frames: TornadoFrameWriter | None) -> None:
    """Make Engine.IO server ``eio`` (tornado mode) open :class:`TornadoWebSocket`\\ s."""
    use_websocket_class(eio, partial(TornadoWebSocket, frames=frames))
