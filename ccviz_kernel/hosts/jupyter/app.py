"""The Jupyter server extension: :class:`CcvizExtension` (its traits, start and stop, the
runtime file) and :class:`Running`, what it runs (:func:`current`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Unicode, default

from ...config import ANSWER_WAIT, ENV_REDIS_URL, JUPYTER_MOUNT
from ...errors import CcvizError, UsageError
from ...hub import Hub, Store
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
from ...server.logscrub import ScrubTokens
from ...server.routes import SOCKETIO_PATH
from ...store import REDIS_SCHEMES, open_store
from .._engineio import stop_pinger
from .._tornado import TornadoFrameWriter, use_tornado_websockets
from .handlers import rules
from .socket import role_check

#: Where everything hangs, under Jupyter's ``base_url``.
MOUNT = JUPYTER_MOUNT
#: The loggers whose records go to Jupyter's log while the extension runs (``ccviz.*`` and
#: the modules that log under their own name).
CCVIZ_LOGGERS = ("ccviz", "ccviz_kernel")


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
    answer_wait = Float(
        ANSWER_WAIT,
        help="Seconds a permission request (install-hooks --answer-permissions) waits for an "
        "answer before Claude Code asks in its own way.",
    ).tag(config=True)
    keep_raw = Bool(
        False,
        help="Store hook payloads unredacted (viewers still see them redacted); by default "
        "every string is redacted before the store.",
    ).tag(config=True)
    write_runtime_file = Bool(
        True, help="Point `ccviz hook` at this server (the runtime file in the data folder)."
    ).tag(config=True)
    redis_url = Unicode(
        help="Keep the event log in this Redis (redis://host:port/db, rediss://, unix://) "
        "instead of the data folder's SQLite file, and serve every game on it: the games of "
        f"`ccviz serve --redis` servers on the same Redis. Default: ${ENV_REDIS_URL}; empty: "
        "SQLite."
    ).tag(config=True)

    running: Running | None = None
    _log_bridge: JupyterLog | None = None

    @default("redis_url")
    def _redis_url_default(self) -> str:
        # Read when the extension loads, not at import: tests and servers differ.
        return os.environ.get(ENV_REDIS_URL, "").strip()

    def initialize_settings(self) -> None:
        """Build the server core. A data folder ccviz must not use (another user could
        write it) is one error line: Jupyter runs on, without ccviz."""
        try:
            self._set_up()
        except CcvizError as exc:
            self.log.error("ccviz: not started: %s", exc)
            self.running = None
            self._unbridge_log()

    def _set_up(self) -> None:
        global _CURRENT
        serverapp = self.serverapp
        assert serverapp is not None
        base_url = serverapp.web_app.settings.get("base_url", serverapp.base_url)
        base = base_url.rstrip("/") + "/" + MOUNT
        # Read here, not at import: CCVIZ_HOME may change between servers (tests do).
        auth = Auth(read_or_create_token(), viewer_token=viewer_token(), loopback_only=False)
        self._bridge_log(auth)
        hub = Hub(self._store(), keep_raw=self.keep_raw)
        frames = TornadoFrameWriter()
        server = GameServer(
            hub,
            auth,
            async_mode="tornado",
            serializer="default" if self.json else "msgpack",
            fps=self.fps,
            role_check=role_check(auth),
            frame_writer=frames,
            answer_wait=min(max(self.answer_wait, 0.1), ANSWER_WAIT),
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

    def _store(self) -> Store | None:
        """The shared Redis log when ``redis_url`` says so (``None``: the hub opens the data
        folder's SQLite file). Only its redacted form (``store.path``) is ever logged; an
        unusable URL or an unreachable server is a :class:`CcvizError` (one error line)."""
        url = self.redis_url.strip()
        if not url:
            return None
        if not url.startswith(REDIS_SCHEMES):  # never echoed: it may carry a password
            raise UsageError(
                f"CcvizExtension.redis_url (or ${ENV_REDIS_URL}) is not a Redis URL: it starts "
                "with redis://, rediss:// or unix://, e.g. redis://127.0.0.1:6379/0"
            )
        try:
            store = open_store(url)  # asks the server once: a StoreError names it, redacted
        except ImportError:
            raise UsageError(
                "CcvizExtension.redis_url needs the redis client: pip install 'ccviz-kernel[redis]'"
            ) from None
        self.log.info("ccviz: event log %s", store.path)
        return store

    def _bridge_log(self, auth: Auth) -> None:
        """Send ccviz's own loggers to the Jupyter server's log, both tokens scrubbed (no
        token is put in a log line on purpose: this is the second line of defence)."""
        if self._log_bridge is None:
            assert self.serverapp is not None
            self._log_bridge = JupyterLog(self.serverapp.log)
            self._log_bridge.addFilter(ScrubTokens((auth.ingest_token, auth.viewer_token)))
            self._log_bridge.attach()

    def _unbridge_log(self) -> None:
        if self._log_bridge is not None:
            self._log_bridge.detach()
            self._log_bridge = None

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
        try:
            await running.close()
        finally:
            self._unbridge_log()


class JupyterLog(logging.Handler):
    """Hands the records of :data:`CCVIZ_LOGGERS` to Jupyter's logger (the server app's
    ``log``), so they appear in the Jupyter server's log, in its format, at its level.

    While attached, those loggers do not also propagate to the root logger (the line would
    be printed twice when something configured the root); :meth:`detach` puts back what it
    changed, so a second server in the same process (tests) starts from the same state.
    """

    def __init__(self, target: logging.Logger | logging.LoggerAdapter[Any]) -> None:
        super().__init__()
        self.target = target
        self._saved: list[tuple[logging.Logger, int, bool]] = []

    def attach(self) -> None:
        level = _logger_of(self.target).getEffectiveLevel()
        for name in CCVIZ_LOGGERS:
            logger = logging.getLogger(name)
            self._saved.append((logger, logger.level, logger.propagate))
            logger.addHandler(self)
            if logger.level == logging.NOTSET:
                logger.setLevel(level)
            logger.propagate = False

    def detach(self) -> None:
        for logger, level, propagate in self._saved:
            logger.removeHandler(self)
            logger.setLevel(level)
            logger.propagate = propagate
        self._saved = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _logger_of(self.target).handle(record)
        except Exception:
            self.handleError(record)


def _logger_of(log: logging.Logger | logging.LoggerAdapter[Any]) -> logging.Logger:
    return log.logger if isinstance(log, logging.LoggerAdapter) else log
