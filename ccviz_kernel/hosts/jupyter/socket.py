"""``{base_url}ccviz/socket.io/``: the socket.io websocket behind Jupyter's identity, Host
and Origin checks, and the socket.io role of each connection (see the package docstring).

:class:`SocketHandler` is what ``engineio.get_tornado_handler`` would make, written once at
module level: it finds its Engine.IO server through the running extension instead of a
closure, and gives Engine.IO's tornado driver what it asks of a handler (``open`` starts
Engine.IO on the connection, ``get_next_message`` hands it each message in turn; the
driver's websocket wraps ``write_message`` and ``close``).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Protocol

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from tornado import web
from tornado.ioloop import IOLoop
from tornado.websocket import WebSocketHandler

from ...server.auth import Auth, origin_allowed
from ...server.core import GameServer, RoleCheck

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
    ccviz_accepted = False
    _deadline: object | None = None

    def initialize(self, running: Mount) -> None:
        self.ccviz = running
        self.eio = running.server.sio.eio
        self.receive_queue: asyncio.Queue[str | bytes | None] = asyncio.Queue()

    def set_default_headers(self) -> None:
        """No page headers (CSP and the like) on a websocket upgrade."""

    async def prepare(self) -> None:  # type: ignore[override]
        # Jupyter's identity and Host check; never a login redirect for a websocket.
        await JupyterHandler.prepare(self, _redirect_to_login=False)

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

    @allow_unauthenticated  # see the package docstring: the ingest token comes later
    async def get(self, *args: Any, **kwargs: Any) -> None:
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            raise web.HTTPError(400, "websocket transport only")
        user = self.current_user
        if user:
            allowed = self.authorizer.is_authorized
            if not await ensure_async(allowed(self, user, "read", AUTH_RESOURCE)):
                raise web.HTTPError(403)
            write = await ensure_async(allowed(self, user, "write", AUTH_RESOURCE))
            self.ccviz_role = "controller" if write else "viewer"
        await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        if self.ccviz_role is None:
            self._deadline = IOLoop.current().call_later(AUTH_GRACE, self._drop_unaccepted)
        # Engine.IO takes the connection from here (its tornado driver's websocket)
        asyncio.ensure_future(self.eio.handle_request(self))

    async def on_message(self, message: str | bytes) -> None:
        await self.receive_queue.put(message)

    async def get_next_message(self) -> str | bytes | None:
        """What Engine.IO's tornado driver waits on: the next message, ``None`` at close."""
        return await self.receive_queue.get()

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
        self.receive_queue.put_nowait(None)


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
