"""The HTTP handlers under ``{base_url}ccviz/``, built from the route table of
:mod:`ccviz_kernel.server.routes`: one tornado handler class per role, each method behind
Jupyter's own auth (decorated, as Jupyter wants every endpoint to be), except ``api/hooks``,
which takes the ingest token only. See the package docstring for who gets in.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from tornado import web

from ...server import routes
from ...server.auth import bearer
from ...server.routes import HttpAnswer, Request, Route
from .socket import AUTH_RESOURCE, Mount, SocketHandler


class _Handler(JupyterHandler):
    auth_resource = AUTH_RESOURCE

    route: Route  # the route served (every handler but SlashHandler has one)

    def initialize(self, running: Mount, route: Route | None = None) -> None:
        self.ccviz = running
        if route is not None:
            self.route = route

    def ingest_bearer(self) -> bool:
        token = bearer(self.request.headers.get("Authorization"))
        return token is not None and self.ccviz.auth.can_ingest(token)

    def get_login_url(self) -> str:
        # `@web.authenticated` redirects GETs to the login page; for everything but the HTML
        # pages a plain 403 is the useful answer (as for Jupyter's own API).
        raise web.HTTPError(403)

    def serve(self, *args: str) -> Awaitable[None] | None:
        """Answer with the route (the decorators of the calling method let the user in);
        an awaitable when the answer comes later (a held permission request: tornado
        awaits what the handler method returns)."""
        request = self.request
        parsed = Request(
            headers=request.headers,
            params=dict(zip(self.route.params, args, strict=True)),
            query={k: self.get_query_argument(k) for k in request.query_arguments},
            body=request.body or b"",
            client=request.remote_ip or "?",
            base=self.ccviz.base,
            gone=self._gone,
        )
        answer = routes.dispatch(self.route, self.ccviz.server, parsed)
        if isinstance(answer, HttpAnswer):
            self.answer(answer)
            return None
        return self._answer_later(answer)

    async def _answer_later(self, pending: Awaitable[HttpAnswer]) -> None:
        answer = await pending
        if not self._gone():
            self.answer(answer)

    def _gone(self) -> bool:
        connection = self.request.connection
        stream = getattr(connection, "stream", None)
        return stream is not None and stream.closed()

    def answer(self, result: HttpAnswer) -> None:
        self.set_status(result.status)
        for name, value in routes.answer_headers(result).items():
            self.set_header(name, value)
        self.finish(result.payload() or None)


class _ApiHandler(_Handler, APIHandler):
    def answer(self, result: HttpAnswer) -> None:
        self.set_status(result.status)
        for name, value in routes.answer_headers(result).items():
            if name != "Content-Type":
                self.set_header(name, value)
        self.finish(result.payload() or None, set_content_type=result.content_type)


class _PageHandler(_Handler):
    def get_login_url(self) -> str:  # a browser page: go through Jupyter's login page
        return JupyterHandler.get_login_url(self)


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


class IngestHandler(_Handler):
    """``POST api/hooks``: Claude Code's hook, authenticated by the ingest token only."""

    @allow_unauthenticated  # the hook has no Jupyter credentials; the ingest token decides
    def post(self, *args: str) -> None:
        if self.ccviz.closed:  # Jupyter is stopping: the hook spools and the next server ingests
            self.answer(HttpAnswer(503, "shutting down\n"))
            return None
        return self.serve(*args)

    def check_xsrf_cookie(self) -> None:
        # Jupyter would refuse every POST here without an _xsrf token, which the hook (a
        # command or Claude Code's http hook, no browser) has no way to get. XSRF protects
        # requests that a browser authenticates with Jupyter's cookie; this route ignores
        # cookies and Jupyter identity, only the bearer ingest token counts, and a foreign
        # page cannot attach that header without a CORS preflight, never granted here.
        return None


class ViewerHandler(_ApiHandler):
    """Reads of games: a Jupyter user (``read``) or the ingest token (a kernel)."""

    @jupyter_or_ingest
    def get(self, *args: str) -> None:
        self.serve(*args)


class ControllerHandler(_ApiHandler):
    """Actions: Jupyter users (with XSRF, from the browser) or the ingest token (a kernel)."""

    @jupyter_or_ingest
    def post(self, *args: str) -> None:
        self.serve(*args)

    def check_xsrf_cookie(self) -> None:
        if self.ingest_bearer():  # no cookie involved: nothing for XSRF to protect
            return None
        return super().check_xsrf_cookie()


class PageHandler(_PageHandler):
    """The viewer page: the lobby at ``ccviz/``, one game at ``ccviz/view/<id>``."""

    @web.authenticated
    @authorized
    def get(self, *args: str) -> None:
        self.serve(*args)


class UserHandler(_Handler):
    """Any Jupyter user (``read``): the page's static files."""

    @web.authenticated
    @authorized
    def get(self, *args: str) -> None:
        self.serve(*args)


class UserApiHandler(_ApiHandler):
    """Any Jupyter user (``read``), a JSON answer: ``healthz``."""

    @web.authenticated
    @authorized
    def get(self, *args: str) -> None:
        self.serve(*args)


class SlashHandler(_PageHandler):
    """``ccviz`` → ``ccviz/``."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        self.redirect(self.ccviz.base)


#: The handler class of each (role, JSON API?) of the route table.
HANDLERS: dict[tuple[str, bool], type[_Handler]] = {
    (routes.INGEST, False): IngestHandler,
    (routes.VIEWER, True): ViewerHandler,
    (routes.CONTROLLER, True): ControllerHandler,
    (routes.PAGE, False): PageHandler,
    (routes.USER, False): UserHandler,
    (routes.USER, True): UserApiHandler,
}


def handler_class(route: Route) -> type[_Handler]:
    """The handler serving ``route``; it implements the route's method and nothing else."""
    cls = HANDLERS.get((route.role, route.json))
    if cls is None or route.method.lower() not in vars(cls):
        raise LookupError(f"no Jupyter handler for {route.method} {route.path!r} ({route.role})")
    return cls


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


def rules(base_url: str, running: Mount) -> list[tuple[str, type, dict[str, Any]]]:
    """Tornado's rules for everything under ``{base_url}ccviz/``."""
    prefix = path_regex(base_url.rstrip("/") + "/ccviz")
    kwargs = {"running": running}
    rules: list[tuple[str, type, dict[str, Any]]] = [(prefix, SlashHandler, kwargs)]
    for route in routes.ROUTES:
        pattern = prefix + "/" + route.regex()
        rules.append((pattern, handler_class(route), {**kwargs, "route": route}))
    rules.append((prefix + "/" + re.escape(routes.SOCKETIO_PATH) + "/?", SocketHandler, kwargs))
    return rules
