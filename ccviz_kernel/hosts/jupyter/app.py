"""The Jupyter server extension: :class:`CcvizExtension` (its traits, start and stop, the
runtime file) and :class:`Running`, what it runs (:func:`current`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float

from ...config import JUPYTER_MOUNT
from ...errors import CcvizError
from ...hub import Hub
from ...runtime import (
    read_or_create_token,
    remove_runtime,
    remove_server_runtime,
    viewer_token,
    write_runtime,
    write_server_runtime,
)
from ...server.auth import Auth
from ...server.core import GameServer
from ...server.routes import SOCKETIO_PATH
from .._engineio import stop_pinger
from .._tornado import TornadoFrameWriter, use_tornado_websockets
from .handlers import rules
from .socket import role_check

#: Where everything hangs, under Jupyter's ``base_url``.
MOUNT = JUPYTER_MOUNT


@dataclass
class Running:
    """The live extension: what :func:`current` hands to tests and tools."""

    hub: Hub
    server: GameServer
    auth: Auth
    #: The path ``{base_url}ccviz/`` (what the viewer page is told).
    base: str
    #: Gives the absolute URL of ``base``: asked at start, once Jupyter's port is known.
    locate: Callable[[], str]
    runtime_file: bool = True
    closed: bool = False
    #: The absolute URL of ``{base_url}ccviz/`` (what the runtime file holds), once started.
    url: str = ""
    _started: asyncio.Future[None] | None = field(default=None, repr=False)

    @property
    def socketio_path(self) -> str:
        """The Engine.IO path, for ``GameMirror(..., socketio_path=...)``."""
        return self.base + SOCKETIO_PATH

    async def ready(self) -> None:
        """Wait until the server core runs (spool drained, runtime file written)."""
        if self._started is None:
            self._started = asyncio.ensure_future(self._start())
        await asyncio.shield(self._started)

    async def _start(self) -> None:
        if self.closed:
            return
        await self.server.start()
        self.url = self.locate()
        # This server's own record, whatever `write_runtime_file` says: it is how the
        # kernels this server started find it (notebook/discovery.py), while the runtime
        # file only says where hooks go and names whichever server started last.
        write_server_runtime(self.url, "jupyter")
        if self.runtime_file:
            write_runtime(self.url, "jupyter")

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._started is not None:
            with contextlib.suppress(Exception):
                await self._started
        remove_server_runtime()
        if self.runtime_file:
            remove_runtime()  # only if it is still ours: hooks spool until the next server
        await self.server.stop()  # every viewer disconnected, background work ended
        stop_pinger(self.server.sio.eio)
        self.hub.store.close()


_CURRENT: Running | None = None


def current() -> Running | None:
    """The extension running in this process (hub, server, url), or ``None``."""
    return _CURRENT


def local_url(serverapp: Any, path: str) -> str:
    """An absolute URL of ``path`` that a process on this machine can reach."""
    if serverapp.sock:  # http+unix: ccviz hook cannot post there and spools instead
        return serverapp.connection_url.rstrip("/") + "/" + path[len(serverapp.base_url) :]
    ip = serverapp.ip
    if ip in ("", "localhost", "0.0.0.0"):
        host = "127.0.0.1"
    elif ip == "::":  # tornado binds "::" as IPv6 only
        host = "[::1]"
    else:
        host = f"[{ip}]" if ":" in ip else ip
    scheme = "https" if serverapp.certfile else "http"
    return f"{scheme}://{host}:{serverapp.port}{path}"


# -- the extension -------------------------------------------------------------------------


class CcvizExtension(ExtensionApp):
    """ccviz inside the Jupyter server (configure as ``c.CcvizExtension.<trait>``)."""

    name = "ccviz"
    description = "Claude Code sessions as a live game, served under {base_url}ccviz/"
    load_other_extensions = True

    json = Bool(False, help="Speak JSON on socket.io instead of msgpack.").tag(config=True)
    fps = Float(30.0, help="Broadcast frames per second per game.").tag(config=True)
    keep_raw = Bool(
        False,
        help="Store hook payloads unredacted (viewers still see them redacted); by default "
        "every string is redacted before the store.",
    ).tag(config=True)
    write_runtime_file = Bool(
        True, help="Point `ccviz hook` at this server (the runtime file in the data folder)."
    ).tag(config=True)

    running: Running | None = None

    def initialize_settings(self) -> None:
        """Build the server core. A data folder ccviz must not use (another user could
        write it) is one error line: Jupyter runs on, without ccviz."""
        try:
            self._set_up()
        except CcvizError as exc:
            self.log.error("ccviz: not started: %s", exc)
            self.running = None

    def _set_up(self) -> None:
        global _CURRENT
        serverapp = self.serverapp
        assert serverapp is not None
        base_url = serverapp.web_app.settings.get("base_url", serverapp.base_url)
        base = base_url.rstrip("/") + "/" + MOUNT
        # Read here, not at import: CCVIZ_HOME may change between servers (tests do).
        auth = Auth(read_or_create_token(), viewer_token=viewer_token(), loopback_only=False)
        hub = Hub(keep_raw=self.keep_raw)
        frames = TornadoFrameWriter()
        server = GameServer(
            hub,
            auth,
            async_mode="tornado",
            serializer="default" if self.json else "msgpack",
            fps=self.fps,
            role_check=role_check(auth),
            frame_writer=frames,
        )
        use_tornado_websockets(server.sio.eio, frames)
        # One origin policy: Jupyter's (allow_origin / allow_origin_pat), checked by the
        # handler at the websocket handshake. Engine.IO's own check would refuse origins
        # that Jupyter was configured to allow.
        server.sio.eio.cors_allowed_origins = []
        self.running = _CURRENT = Running(
            hub,
            server,
            auth,
            base,
            # Jupyter picks its port (port 0, port_retries) after loading extensions.
            lambda: local_url(serverapp, base),
            runtime_file=self.write_runtime_file,
        )

    def initialize_handlers(self) -> None:
        # Added here rather than through `self.handlers`: ExtensionApp would prepend the
        # raw base_url to each pattern, and these patterns escape it themselves.
        assert self.serverapp is not None
        if self.running is None:  # not started (initialize_settings said why)
            return
        webapp = self.serverapp.web_app
        webapp.add_handlers(".*$", rules(webapp.settings["base_url"], self.running))
        # Start on the server's loop as soon as it runs (the port is final by then); the
        # start hook below waits for it too, and tests can `await current().ready()`.
        self.serverapp.io_loop.add_callback(self._start)

    async def _start(self) -> None:
        if self.running is not None and await self._ready():
            self.log.info("ccviz: serving at %s", self.running.url)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await self._ready()

    async def _ready(self) -> bool:
        """Wait for the server core; a data folder ccviz must not use (another user's, or
        one another ccviz server owns) is one error line, and Jupyter runs on without it."""
        if self.running is None:
            return False
        try:
            await self.running.ready()
        except CcvizError as exc:
            self.log.error("ccviz: not started: %s", exc)
            return False
        return True

    async def stop_extension(self) -> None:
        global _CURRENT
        running, self.running = self.running, None
        if running is None:
            return
        if _CURRENT is running:
            _CURRENT = None
        await running.close()
