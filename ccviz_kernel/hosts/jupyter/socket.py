"""``{base_url}ccviz/socket.io/``: the socket.io websocket behind Jupyter's identity, Host
and Origin checks, and the socket.io role of each connection (see the package docstring).

:class:`SocketHandler` is what ``engineio.get_tornado_handler`` would make, written once at
module level: it finds its Engine.IO server through the running extension instead of a
closure, and gives Engine.IO's tornado driver what it asks of a handler (``open`` starts
Engine.IO on the connection, ``get_next_message`` hands it each message in turn; the
driver's websocket wraps ``write_message`` and ``close``). Once Engine.IO's transport has
the connection (hosts/_tornado.py) each message goes straight to it
(``ccviz_transport.feed``); before that they wait in a list, not in an ``asyncio.Queue``.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Protocol

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from tornado import web
from tornado.httputil import HTTPHeaders
from tornado.ioloop import IOLoop
from tornado.websocket import WebSocketHandler

from ...server.auth import Auth, origin_allowed
from ...server.core import USER_KEY, GameServer, RoleCheck

#: The resource name Jupyter's authorizer is asked about (actions ``read`` and ``write``).
AUTH_RESOURCE = "ccviz"
#: Seconds a websocket opened without Jupyter credentials may stay open before a socket.io
#: connection on it is accepted (with the ingest token); then it is closed.
AUTH_GRACE = 10.0


class Mount(Protocol):
    """What the handlers are given: the running extension (:class:`.app.Running`)."""

    server: GameServer
    auth: Auth
    #: The path ``{base_url}ccviz/``.
    base: str
    #: True once Jupyter is stopping.
    closed: bool


# Not jupyter_server's WebSocketMixin: its keep-alive pings would double Engine.IO's own (and
# tornado >= 6.5 warns about its ping timeout); the two things it does that count here,
# Jupyter's origin check and a 403 instead of a login redirect, are done below.
class SocketHandler(WebSocketHandler, JupyterHandler):
    """Engine.IO's websocket transport under Jupyter (long-polling refused)."""

    auth_resource = AUTH_RESOURCE
    #: ``controller``/``viewer`` for a Jupyter user; ``None`` until the ingest token shows.
    ccviz_role: str | None = None
    ccviz_user: str | None = None
    ccviz_accepted = False
    _deadline: object | None = None
    #: Messages not yet taken by Engine.IO (``None`` once closed), and the future it waits
    #: on while there are none: no ``asyncio.Queue`` (three deques and an Event) per socket.
    _inbox: list[str | bytes | None] | None = None
    _waiter: asyncio.Future[str | bytes | None] | None = None
    #: The Engine.IO transport fed with each message once open (hosts/_tornado.py).
    ccviz_transport: Any = None

    def initialize(self, running: Mount) -> None:
        self.ccviz = running
        self.eio = running.server.sio.eio

    def set_default_headers(self) -> None:
        """No page headers (CSP and the like) on a websocket upgrade."""

    async def prepare(self) -> None:  # type: ignore[override]
        # Jupyter's identity and Host check; never a login redirect for a websocket.
        await JupyterHandler.prepare(self, _redirect_to_login=False)
        if self.request.method == "GET":
            await self._upgrade_allowed()

    async def _upgrade_allowed(self) -> None:
        """The checks of a websocket upgrade before tornado's own (done here, not in a
        ``get`` of ours: that coroutine would stay suspended under every open websocket)."""
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            raise web.HTTPError(400, "websocket transport only")
        user = self.current_user
        if user:
            allowed = self.authorizer.is_authorized
            if not await ensure_async(allowed(self, user, "read", AUTH_RESOURCE)):
                raise web.HTTPError(403)
            write = await ensure_async(allowed(self, user, "write", AUTH_RESOURCE))
            self.ccviz_role = "controller" if write else "viewer"
            #: Who answers a permission from this connection (the game's log says so).
            self.ccviz_user = getattr(user, "username", None) or getattr(user, "name", None)

    def check_origin(self, origin: str | None = None) -> bool:
        # The Origin rule every ccviz host shares (server/auth.py: no Origin, the page's own
        # origin, or one the configuration allows), with Jupyter's configuration as the
        # allow-list (allow_origin, allow_origin_pat; a token-authenticated request skips
        # the check, as everywhere in Jupyter). Host itself is Jupyter's check (prepare).
        if self.allow_origin == "*" or self.skip_check_origin():
            return True
        headers = self.request.headers
        return origin_allowed(headers.get("Origin"), headers.get("Host"), self._jupyter_allows)

    def _jupyter_allows(self, origin: str) -> bool:
        """Jupyter's CORS configuration: ``allow_origin`` exactly, else ``allow_origin_pat``."""
        if self.allow_origin:
            return self.allow_origin == origin
        if self.allow_origin_pat:
            # the whole origin, as Jupyter matches since CVE-2026-40110 (a prefix match let
            # "https://good.example.evil.example" through)
            return bool(re.fullmatch(self.allow_origin_pat, origin.lower()))
        return False

    def get_compression_options(self) -> None:
        # Tornado's Engine.IO handler returns {} (deflate on). On these small frames it cost
        # 25-40 % of server CPU and 3-4x the memory per connection: off.
        return None

    @property
    def max_message_size(self) -> int:
        return self.eio.max_http_buffer_size

    # Engine.IO's long-polling verbs: off (websocket only). Decorated all the same, so that
    # Jupyter never sees an endpoint that says nothing about authentication.
    @web.authenticated
    def post(self, *args: Any, **kwargs: Any) -> None:
        raise web.HTTPError(400, "websocket transport only")

    @web.authenticated
    def options(self, *args: Any, **kwargs: Any) -> None:
        raise web.HTTPError(400, "websocket transport only")

    # tornado's own upgrade, once prepare() let it through (see the package docstring: the
    # ingest token may come later, in the socket.io CONNECT)
    get = allow_unauthenticated(WebSocketHandler.get)

    def open(self, *args: Any, **kwargs: Any) -> None:
        if self.ccviz_role is None:
            self._deadline = IOLoop.current().call_later(AUTH_GRACE, self._drop_unaccepted)
        # Engine.IO takes the connection from here (its tornado driver's websocket)
        asyncio.ensure_future(self.eio.handle_request(self))

    def on_message(self, message: str | bytes) -> None:
        transport = self.ccviz_transport
        if transport is not None:
            transport.feed(message)
        else:
            self._deliver(message)

    def ccviz_opened(self) -> None:
        """Engine.IO has the connection (its environ is made): drop what only the handshake
        needed and tornado would keep for the connection's lifetime: the parsed cookies
        (parsed again from the request's headers if ever asked), the 101 answer's headers
        and its cookies (writing is off for a websocket once accepted). The request's
        headers themselves stay: tornado's ``WebSocketHandler.get`` holds them while the
        connection lives. Tornado members, checked in tests/server/test_memory_members.py."""
        self.request.__dict__.pop("_cookies", None)
        self._headers = HTTPHeaders()
        self.__dict__.pop("_new_cookie", None)

    def ccviz_take_inbox(self) -> list[str | bytes | None]:
        """What arrived before the transport took over (it is fed the rest directly)."""
        inbox, self._inbox = self._inbox or [], None
        return inbox

    def _deliver(self, message: str | bytes | None) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done() and not self._inbox:
            self._waiter = None
            waiter.set_result(message)
        elif self._inbox is None:
            self._inbox = [message]
        else:
            self._inbox.append(message)

    async def get_next_message(self) -> str | bytes | None:
        """What Engine.IO's tornado driver waits on: the next message, ``None`` at close."""
        inbox = self._inbox
        if inbox:
            message = inbox.pop(0)
            if not inbox:
                self._inbox = None
            if message is None:  # closed: every later call hears it too
                self._inbox = [None]
            return message
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            return await waiter
        finally:
            if self._waiter is waiter:
                self._waiter = None

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
        transport = self.ccviz_transport
        if transport is not None:
            transport.feed(None)
        else:
            self._deliver(None)


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
            user = getattr(handler, "ccviz_user", None)
            if isinstance(user, str) and user:
                environ[USER_KEY] = user
        if role is not None and hasattr(handler, "ccviz_accept"):
            handler.ccviz_accept()
        return role

    return check
