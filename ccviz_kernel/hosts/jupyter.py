"""The Jupyter server extension: the server core in Jupyter's own tornado loop.

``jupyter lab`` / ``jupyter notebook`` / ``jupyter server`` load it on their own (the package
ships ``jupyter_server_config.d/ccviz_kernel.json``) and serve, under ``{base_url}ccviz/``:

=====================================  ====================================================
``socket.io/``                         the socket.io server (websocket transport only)
``api/hooks`` (POST)                   Claude Code's hooks: the ingest token, not Jupyter auth
``api/games``, ``api/games/<id>``      the lobby and a game's snapshot (JSON)
``api/games/<id>/events``              the game's events as table rows (JSON)
``healthz``                            liveness, number of live games and viewers
``""`` and ``view/<id>``               the viewer page; ``static/<name>`` its bundle
=====================================  ====================================================

Who gets in (DESIGN §6):

* Every handler here is a ``JupyterHandler`` and every method is decorated: Jupyter lets an
  undecorated handler through unless ``ServerApp.allow_unauthenticated_access`` is off, so
  each one says what it needs. Jupyter's own identity provider (token, cookie, JupyterHub)
  and authorizer (resource ``"ccviz"``) decide; the API, static and health routes answer
  403 without credentials, the HTML pages redirect to Jupyter's login page as Jupyter's
  own pages do.
* ``api/hooks`` is the one route open to requests without Jupyter credentials: Claude
  Code's hook runs outside any browser session and has none. It is marked
  ``@allow_unauthenticated`` and checks the ingest token (``Authorization: Bearer``) itself.
  It skips Jupyter's XSRF check, which exists to stop a foreign page from riding on the
  browser's Jupyter *cookie*: this route ignores cookies and Jupyter identity entirely,
  and the bearer header it needs is one that a foreign page cannot send without a CORS
  preflight, which this route never grants.
* ``socket.io/``: a Jupyter user gets the **controller** role (``viewer`` when Jupyter's
  authorizer allows ``read`` but not ``write`` on ``"ccviz"``; refused with 403 at the
  handshake when it allows neither). A kernel has no Jupyter credentials, so a
  connection may also prove itself with the ingest token in the socket.io ``CONNECT``
  packet (``auth={"token": ...}``), which only arrives after the websocket upgrade: the
  upgrade is therefore allowed without Jupyter credentials (still behind Jupyter's Host and
  Origin checks), the ``CONNECT`` without either credential is refused, and such a
  websocket is closed unless a socket.io connection on it was accepted within
  :data:`AUTH_GRACE` seconds. Long-polling is off (Jupyter's XSRF check would refuse its
  POSTs), and so is per-message deflate (tornado's engine.io handler turns it on).

The runtime file points ``ccviz hook`` and ``ccviz install-hooks`` here while Jupyter runs;
the extension's ``stop_extension`` hook removes it, stops the server and closes the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import socketio
from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.extension.application import ExtensionApp
from tornado import web
from tornado.ioloop import IOLoop
from traitlets import Bool, Float

from ..hub import Hub
from ..runtime import read_or_create_token, remove_runtime, viewer_token, write_runtime
from ..server.auth import Auth, bearer
from ..server.core import GameServer, HttpAnswer, RoleCheck
from ..server.pages import FrontEndMissing, shell, static_file

#: The resource name Jupyter's authorizer is asked about (actions ``read`` and ``write``).
AUTH_RESOURCE = "ccviz"
#: Where everything hangs, under Jupyter's ``base_url``.
MOUNT = "ccviz/"
#: Seconds a websocket opened without Jupyter credentials may stay open before a socket.io
#: connection on it is accepted (with the ingest token); then it is closed.
AUTH_GRACE = 10.0

_SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


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
        return self.base + "socket.io"

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
        if self.runtime_file:
            write_runtime(self.url, "jupyter")

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._started is not None:
            with contextlib.suppress(Exception):
                await self._started
        if self.runtime_file:
            remove_runtime()  # only if it is still ours: hooks spool until the next server
        await self.server.stop()  # every viewer disconnected, background work ended
        self.hub.store.close()


_CURRENT: Running | None = None


def current() -> Running | None:
    """The extension running in this process (hub, server, url), or ``None``."""
    return _CURRENT


# -- handlers ------------------------------------------------------------------------------


class _Handler(JupyterHandler):
    auth_resource = AUTH_RESOURCE

    def initialize(self, running: Running) -> None:
        self.ccviz = running

    def ingest_bearer(self) -> bool:
        token = bearer(self.request.headers.get("Authorization"))
        return token is not None and self.ccviz.auth.can_ingest(token)

    def get_login_url(self) -> str:
        # `@web.authenticated` redirects GETs to the login page; for everything but the
        # HTML pages a plain 403 is the useful answer (as for Jupyter's own API).
        raise web.HTTPError(403)

    def answer(self, result: HttpAnswer) -> None:
        self.set_status(result.status)
        self.set_header("Content-Type", result.content_type)
        for name, value in _SECURITY_HEADERS.items():
            self.set_header(name, value)
        self.finish(result.body or None)


class _ApiHandler(_Handler, APIHandler):
    def answer(self, result: HttpAnswer) -> None:
        self.set_status(result.status)
        self.finish(result.body or None, set_content_type=result.content_type)


def jupyter_or_ingest(method: Callable[..., Any]) -> Callable[..., Any]:
    """Jupyter's own auth, or the ingest token as a bearer: kernels hold that token but no
    Jupyter credentials, and notebook code reads games and acts on them from the kernel."""
    protected = web.authenticated(authorized(method))

    @allow_unauthenticated  # decided below: the bearer token, else Jupyter's decorators
    @functools.wraps(method)
    def wrapper(self: _Handler, *args: Any) -> Any:
        if self.ingest_bearer():
            return method(self, *args)
        return protected(self, *args)

    return wrapper


class GamesHandler(_ApiHandler):
    @jupyter_or_ingest
    def get(self) -> None:
        self.answer(self.ccviz.server.games_answer())


class GameHandler(_ApiHandler):
    @jupyter_or_ingest
    def get(self, game_id: str) -> None:
        self.answer(self.ccviz.server.game_answer(game_id))


class EventsHandler(_ApiHandler):
    @jupyter_or_ingest
    def get(self, game_id: str) -> None:
        self.answer(self.ccviz.server.events_answer(game_id))


class ActionsHandler(_ApiHandler):
    """``POST api/games/<id>/actions``: Jupyter users (with XSRF, from the browser) or the
    ingest token (from a kernel) act on a game."""

    @jupyter_or_ingest
    def post(self, game_id: str) -> None:
        self.answer(
            self.ccviz.server.handle_action(
                game_id, self.request.body, controller=True, client=self.request.remote_ip or "?"
            )
        )

    def check_xsrf_cookie(self) -> None:
        if self.ingest_bearer():  # no cookie involved: nothing for XSRF to protect
            return None
        return super().check_xsrf_cookie()


class HealthHandler(_ApiHandler):
    @web.authenticated
    @authorized
    def get(self) -> None:
        self.answer(self.ccviz.server.health())


class HooksHandler(_Handler):
    """``POST api/hooks``: Claude Code's hook, authenticated by the ingest token only."""

    @allow_unauthenticated  # the hook has no Jupyter credentials; the ingest token decides
    def post(self) -> None:
        if self.ccviz.closed:  # Jupyter is stopping: the hook spools and the next server ingests
            self.answer(HttpAnswer(503, "shutting down\n"))
            return
        self.answer(
            self.ccviz.server.handle_hook(
                self.request.body,
                authorization=self.request.headers.get("Authorization"),
                client=self.request.remote_ip or "?",
                hook_time=self.request.headers.get("X-Ccviz-Time"),
                delivery_id=self.request.headers.get("X-Ccviz-Id"),
            )
        )

    def check_xsrf_cookie(self) -> None:
        # Jupyter would refuse every POST here without an _xsrf token, which the hook (a
        # command or Claude Code's http hook, no browser) has no way to get. XSRF protects
        # requests that a browser authenticates with Jupyter's cookie; this route ignores
        # cookies and Jupyter identity, only the bearer ingest token counts, and a foreign
        # page cannot attach that header without a CORS preflight, never granted here.
        return None


class _PageHandler(_Handler):
    def get_login_url(self) -> str:  # a browser page: go through Jupyter's login page
        return JupyterHandler.get_login_url(self)


class PageHandler(_PageHandler):
    """The viewer page: the lobby at ``ccviz/``, one game at ``ccviz/view/<id>``."""

    @web.authenticated
    @authorized
    def get(self, game_id: str | None = None) -> None:
        html = shell(self.ccviz.base, serializer=self.ccviz.server.serializer, game_id=game_id)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        for name, value in _SECURITY_HEADERS.items():
            self.set_header(name, value)
        self.finish(html)


class SlashHandler(_PageHandler):
    """``ccviz`` → ``ccviz/``."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        self.redirect(self.ccviz.base)


class StaticHandler(_Handler):
    """``static/<name>``: only the files the front-end build writes."""

    @web.authenticated
    @authorized
    def get(self, name: str) -> None:
        try:
            body, content_type = static_file(name)
        except KeyError:
            raise web.HTTPError(404) from None
        except FrontEndMissing as exc:
            self.answer(HttpAnswer(503, f"{exc}\n"))
            return
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "no-cache")
        for name_, value in _SECURITY_HEADERS.items():
            self.set_header(name_, value)
        self.finish(body)


def socket_handler(sio: socketio.AsyncServer) -> type:
    """python-socketio's tornado handler, behind Jupyter's identity, Host and Origin checks."""
    engineio_handler = socketio.get_tornado_handler(sio)
    max_message = sio.eio.max_http_buffer_size

    # Not jupyter_server's WebSocketMixin: its keep-alive pings would double Engine.IO's own
    # (and tornado >= 6.5 warns about its ping timeout); the two things it does that count
    # here, Jupyter's origin check and a 403 instead of a login redirect, are done below.
    class SocketHandler(engineio_handler, JupyterHandler):
        auth_resource = AUTH_RESOURCE
        #: ``controller``/``viewer`` for a Jupyter user; ``None`` until the ingest token shows.
        ccviz_role: str | None = None
        ccviz_accepted = False
        _deadline: object | None = None

        def initialize(self, running: Running) -> None:
            self.ccviz = running

        def set_default_headers(self) -> None:
            """No page headers (CSP and the like) on a websocket upgrade."""

        async def prepare(self) -> None:  # type: ignore[override]
            # Jupyter's identity and Host check; never a login redirect for a websocket.
            await JupyterHandler.prepare(self, _redirect_to_login=False)

        def check_origin(self, origin: str | None = None) -> bool:
            # Jupyter's rule (same host, allow_origin, allow_origin_pat, tokens skip it),
            # not the engine.io handler's nor tornado's.
            return JupyterHandler.check_origin(self)

        def get_compression_options(self) -> None:
            # Tornado's engine.io handler returns {} (deflate on). On these small frames it
            # cost 25-40 % of server CPU and 3-4x the memory per connection: off.
            return None

        @property
        def max_message_size(self) -> int:
            return max_message

        # Engine.IO's long-polling verbs: off (websocket only). Decorated all the same, so
        # that Jupyter never sees an endpoint that says nothing about authentication.
        @web.authenticated
        def post(self, *args: Any, **kwargs: Any) -> None:
            raise web.HTTPError(400, "websocket transport only")

        @web.authenticated
        def options(self, *args: Any, **kwargs: Any) -> None:
            raise web.HTTPError(400, "websocket transport only")

        @allow_unauthenticated  # see the module docstring: the ingest token comes later
        async def get(self, *args: Any, **kwargs: Any) -> None:
            user = self.current_user
            if user:
                allowed = self.authorizer.is_authorized
                if not await ensure_async(allowed(self, user, "read", AUTH_RESOURCE)):
                    raise web.HTTPError(403)
                write = await ensure_async(allowed(self, user, "write", AUTH_RESOURCE))
                self.ccviz_role = "controller" if write else "viewer"
            await super().get(*args, **kwargs)

        def open(self, *args: Any, **kwargs: Any) -> Any:
            if self.ccviz_role is None:
                self._deadline = IOLoop.current().call_later(AUTH_GRACE, self._drop_unaccepted)
            return super().open(*args, **kwargs)

        def ccviz_accept(self) -> None:
            self.ccviz_accepted = True
            if self._deadline is not None:
                IOLoop.current().remove_timeout(self._deadline)
                self._deadline = None

        def _drop_unaccepted(self) -> None:
            self._deadline = None
            if not self.ccviz_accepted:
                self.close()

        def on_close(self) -> None:
            if self._deadline is not None:
                IOLoop.current().remove_timeout(self._deadline)
                self._deadline = None
            super().on_close()

    return SocketHandler


def role_check(auth: Auth) -> RoleCheck:
    """The socket.io role: the ingest token (``auth={"token": ...}``) or the Jupyter user.

    python-socketio's tornado driver puts the handler of the websocket in the environ
    (``environ["tornado.handler"]``); its ``REMOTE_ADDR`` is always 127.0.0.1, so the
    loopback rule of the standalone host must not apply here.
    """

    def check(environ: dict[str, Any], data: Any) -> str | None:
        handler = environ.get("tornado.handler")
        token = data.get("token") if isinstance(data, dict) else None
        if auth.can_ingest(token):
            role: str | None = "controller"
        else:
            role = getattr(handler, "ccviz_role", None)
        if role is not None and hasattr(handler, "ccviz_accept"):
            handler.ccviz_accept()
        return role

    return check


# -- routes --------------------------------------------------------------------------------


def path_regex(path: str) -> str:
    """``path`` as a regex in which each ``%XX`` escape of a printable ASCII character also
    matches the character itself.

    Jupyter compares patterns with the raw request path, and some clients normalise the
    base URL on the way (aiohttp, under python-socketio's client, sends ``/a%40b/`` as
    ``/a@b/``): both spellings reach the same handler.
    """
    parts = []
    for m in re.finditer(r"%([0-9A-Fa-f]{2})|[^%]+|%", path):
        hexa = m.group(1)
        if hexa is None:
            parts.append(re.escape(m.group(0)))
            continue
        char = chr(int(hexa, 16))
        spellings = sorted({f"%{hexa.upper()}", f"%{hexa.lower()}"})
        if 0x20 < ord(char) < 0x7F and char not in "/?#%":
            spellings.append(char)
        parts.append("(?:" + "|".join(re.escape(s) for s in spellings) + ")")
    return "".join(parts)


def handlers(base_url: str, running: Running) -> list[tuple[str, type, dict[str, Any]]]:
    prefix = path_regex(base_url.rstrip("/") + "/ccviz")
    kwargs = {"running": running}
    return [
        (prefix, SlashHandler, kwargs),
        (prefix + "/", PageHandler, kwargs),
        (prefix + "/view/([^/]+)", PageHandler, kwargs),
        (prefix + "/static/([^/]+)", StaticHandler, kwargs),
        (prefix + "/api/hooks", HooksHandler, kwargs),
        (prefix + "/api/games", GamesHandler, kwargs),
        (prefix + "/api/games/([^/]+)", GameHandler, kwargs),
        (prefix + "/api/games/([^/]+)/events", EventsHandler, kwargs),
        (prefix + "/api/games/([^/]+)/actions", ActionsHandler, kwargs),
        (prefix + "/healthz", HealthHandler, kwargs),
        (prefix + r"/socket\.io/?", socket_handler(running.server.sio), kwargs),
    ]


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
    write_runtime_file = Bool(
        True, help="Point `ccviz hook` at this server (the runtime file in the data folder)."
    ).tag(config=True)

    running: Running | None = None

    def initialize_settings(self) -> None:
        global _CURRENT
        serverapp = self.serverapp
        assert serverapp is not None
        base_url = serverapp.web_app.settings.get("base_url", serverapp.base_url)
        base = base_url.rstrip("/") + "/" + MOUNT
        # Read here, not at import: CCVIZ_HOME may change between servers (tests do).
        auth = Auth(read_or_create_token(), viewer_token=viewer_token(), loopback_only=False)
        hub = Hub()
        server = GameServer(
            hub,
            auth,
            async_mode="tornado",
            serializer="default" if self.json else "msgpack",
            fps=self.fps,
            role_check=role_check(auth),
        )
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
        assert self.serverapp is not None and self.running is not None
        webapp = self.serverapp.web_app
        webapp.add_handlers(".*$", handlers(webapp.settings["base_url"], self.running))
        # Start on the server's loop as soon as it runs (the port is final by then); the
        # start hook below waits for it too, and tests can `await current().ready()`.
        self.serverapp.io_loop.add_callback(self._start)

    async def _start(self) -> None:
        if self.running is not None:
            await self.running.ready()
            self.log.info("ccviz: serving at %s", self.running.url)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        if self.running is not None:
            await self.running.ready()

    async def stop_extension(self) -> None:
        global _CURRENT
        running, self.running = self.running, None
        if running is None:
            return
        if _CURRENT is running:
            _CURRENT = None
        await running.close()


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": __name__, "app": CcvizExtension}]


def _load_jupyter_server_extension(serverapp: Any) -> CcvizExtension:
    """Load into ``serverapp`` (Jupyter calls :class:`CcvizExtension`'s loader itself)."""
    return CcvizExtension._load_jupyter_server_extension(serverapp)
