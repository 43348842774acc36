"""The HTTP routes every host mounts, once: the table, the request parsing, the headers.

A host turns :data:`ROUTES` into its framework's routes (aiohttp in
:mod:`ccviz_kernel.hosts.standalone`, tornado handlers in :mod:`ccviz_kernel.hosts.jupyter`),
builds a :class:`Request` from each request, decides whether the caller holds the route's
:attr:`Route.role` (its own way: tokens standalone, Jupyter's login under Jupyter) and
writes back the :class:`HttpAnswer` that :func:`dispatch` returns, with
:data:`SECURITY_HEADERS`. Nothing here imports a web framework.

Paths are relative to the host's mount (``/`` standalone and in-kernel, ``{base_url}ccviz/``
under Jupyter); ``{name}`` is one path segment, handed to the route as ``params[name]``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from ..config import MAX_PAYLOAD_BYTES, PERMISSIONS_PATH
from ..errors import FrontEndMissing
from ..events import hook_event_key
from .auth import Auth, bearer, same_token
from .core import CONTROLLER_REQUIRED, GameServer, HookRequest, HttpAnswer, too_large
from .pages import shell, static_file

__all__ = [
    "CONTROLLER",
    "INGEST",
    "MAX_BODY_BYTES",
    "PAGE",
    "ROLES",
    "ROUTES",
    "SECURITY_HEADERS",
    "SOCKETIO_PATH",
    "USER",
    "VIEWER",
    "HookRequest",
    "HttpAnswer",
    "Request",
    "Route",
    "answer_headers",
    "cors_headers",
    "dispatch",
    "hook_event_key",
    "incomplete_body",
    "parse_hook",
    "parse_hook_time",
    "refused",
    "token_allows",
    "too_large",
]

#: Where the socket.io server hangs, under the mount.
SOCKETIO_PATH = "socket.io"
#: The largest request body any route takes (hooks, actions).
MAX_BODY_BYTES = MAX_PAYLOAD_BYTES
#: On every answer of the table (pages and files above all: no MIME sniffing, no referrer
#: leaking a game id or a ``?token=`` to another site).
SECURITY_HEADERS: Mapping[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

# -- roles: what a caller must hold; each host decides how it is proven ----------------------

#: Claude Code's hooks. No host login: the route checks the ingest token (a bearer) itself.
INGEST = "ingest"
#: Reads of games. Standalone: open on loopback, else the viewer or the ingest token;
#: Jupyter: a Jupyter user allowed to read, or the ingest token as a bearer.
VIEWER = "viewer"
#: Acting on a game. Standalone: the ingest token as a bearer; Jupyter: a Jupyter user
#: allowed to write, or the ingest token as a bearer.
CONTROLLER = "controller"
#: A browser page. Standalone: open; Jupyter: a Jupyter user (else its login page).
PAGE = "page"
#: Anyone the host lets in at all. Standalone: open; Jupyter: a Jupyter user (else 403).
USER = "user"

ROLES = (INGEST, VIEWER, CONTROLLER, PAGE, USER)


@dataclass(frozen=True)
class Request:
    """What a route needs of an HTTP request, whatever framework parsed it."""

    #: The request headers, as the framework's (case-insensitive) mapping.
    headers: Mapping[str, str] = field(repr=False)
    #: The path's ``{name}`` segments.
    params: Mapping[str, str] = field(default_factory=dict)
    #: The query string's arguments (one value each).
    query: Mapping[str, str] = field(default_factory=dict, repr=False)
    body: bytes = field(default=b"", repr=False)
    #: The peer's address (rate limits are per address), ``"?"`` when unknown.
    client: str = "?"
    #: The host's mount path, ending in ``/`` (what the viewer page is told).
    base: str = "/"
    #: Whether the caller has closed the connection (a held ``api/permissions`` asks).
    gone: Callable[[], bool] = field(default=lambda: False, repr=False)

    @property
    def bearer(self) -> str | None:
        """The ``Authorization: Bearer`` token, if any."""
        return bearer(self.headers.get("Authorization"))


#: The longest ``X-Ccviz-Id`` taken; a longer one is ignored (the event is not deduplicated).
MAX_DELIVERY_ID = 64


def parse_hook(headers: Mapping[str, str], body: bytes, client: str = "?") -> HookRequest:
    """The hook's headers and body, framework-free (docs/protocol.md §10, ``POST api/hooks``).

    Only the headers are read here; the body is parsed once, by the server, which gives an
    event without ``X-Ccviz-Id`` its natural id (:func:`hook_event_key`).
    """
    delivery = headers.get("X-Ccviz-Id")
    if not (isinstance(delivery, str) and 0 < len(delivery) <= MAX_DELIVERY_ID):
        delivery = None
    return HookRequest(
        body=body,
        token=bearer(headers.get("Authorization")),
        client=client,
        hook_time=parse_hook_time(headers.get("X-Ccviz-Time")),
        delivery_id=delivery,
    )


def parse_hook_time(header: str | None) -> float | None:
    """``X-Ccviz-Time`` as epoch seconds, or ``None`` when absent or not a finite number."""
    if not header:
        return None
    try:
        ts = float(header)
    except ValueError:
        return None
    return ts if ts == ts and abs(ts) != float("inf") else None


def incomplete_body() -> HttpAnswer:
    return HttpAnswer(400, "incomplete body\n")


def refused(role: str) -> HttpAnswer:
    """The answer to a caller without ``role``, for hosts that check tokens themselves."""
    if role == CONTROLLER:
        return HttpAnswer(403, CONTROLLER_REQUIRED)
    return HttpAnswer(401, "viewer token required\n")


def token_allows(auth: Auth, role: str, request: Request) -> bool:
    """The token rule of the standalone and in-kernel hosts (docs/design.md §6)."""
    if role == VIEWER:
        if auth.loopback_only:
            return True
        token = request.bearer or request.query.get("token")
        return same_token(token, auth.viewer_token) or auth.can_ingest(token)
    if role == CONTROLLER:
        return auth.can_ingest(request.bearer)
    return True  # INGEST checks its token itself; PAGE and USER are open


def cors_headers(origin: str | None, allowed: list[str] | set[str]) -> dict[str, str]:
    """``Access-Control-Allow-Origin`` for an allowed ``Origin`` (standalone ``--cors``)."""
    if origin and origin in allowed:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {}


# -- the routes --------------------------------------------------------------------------------


def _hooks(server: GameServer, request: Request) -> HttpAnswer:
    return server.handle_hook(parse_hook(request.headers, request.body, request.client))


def _permissions(server: GameServer, request: Request) -> HttpAnswer | Awaitable[HttpAnswer]:
    hook = parse_hook(request.headers, request.body, request.client)
    return server.handle_permission(hook, request.gone)


def _games(server: GameServer, request: Request) -> HttpAnswer:
    return server.games_answer()


def _game(server: GameServer, request: Request) -> HttpAnswer:
    return server.game_answer(request.params["game_id"])


def _events(server: GameServer, request: Request) -> HttpAnswer:
    return server.events_answer(request.params["game_id"])


def _actions(server: GameServer, request: Request) -> HttpAnswer:
    # the host let the caller in only with the controller role
    return server.handle_action(
        request.params["game_id"], request.body, controller=True, client=request.client
    )


def _replays(server: GameServer, request: Request) -> HttpAnswer:
    # the host let the caller in only with the controller role
    status, answer = server.uploads.receive(request.body)
    return HttpAnswer.json(answer, status)


def _health(server: GameServer, request: Request) -> HttpAnswer:
    return server.health()


def _metrics(server: GameServer, request: Request) -> HttpAnswer:
    body, content_type = server.metrics.render()
    return HttpAnswer(200, body, content_type, {"Cache-Control": "no-store"})


def _page(server: GameServer, request: Request) -> HttpAnswer:
    html = shell(request.base, serializer=server.serializer, game_id=request.params.get("game_id"))
    return HttpAnswer(200, html, "text/html; charset=utf-8")


def _static(server: GameServer, request: Request) -> HttpAnswer:
    try:
        found = static_file(request.params["name"], request.headers)
    except KeyError:
        return HttpAnswer(404, "not found\n")
    except FrontEndMissing as exc:
        return HttpAnswer(503, f"{exc}\n")
    return HttpAnswer(
        304 if found.not_modified else 200, found.body, found.content_type, found.headers
    )


_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route:
    """One HTTP route: ``method path`` → ``handle(server, request)``, for callers in ``role``."""

    method: str
    #: Under the mount, no leading ``/``; ``{name}`` matches one path segment.
    path: str
    role: str
    #: An answer, or an awaitable of one the host awaits (``api/permissions`` only).
    handle: Callable[[GameServer, Request], HttpAnswer | Awaitable[HttpAnswer]]
    #: An API for programs, JSON but for ``metrics`` (Jupyter serves these with its
    #: ``APIHandler``: 403, never a login page).
    json: bool = False

    @property
    def params(self) -> tuple[str, ...]:
        """The names of the path's ``{name}`` segments, in order."""
        return tuple(_PARAM.findall(self.path))

    def regex(self) -> str:
        """The path as a regular expression, one group per segment (tornado's style)."""
        parts = _PARAM.split(self.path)
        # split() alternates literal text and parameter names
        return "".join(re.escape(p) if i % 2 == 0 else "([^/]+)" for i, p in enumerate(parts))


#: Every host's HTTP routes (docs/protocol.md §10). Hosts add only what is theirs: socket.io at
#: :data:`SOCKETIO_PATH`, and under Jupyter the redirect of ``ccviz`` to ``ccviz/``.
ROUTES: tuple[Route, ...] = (
    Route("POST", "api/hooks", INGEST, _hooks),
    # held until a person or a rule answers (protocol.md §14): the host awaits the answer
    Route("POST", PERMISSIONS_PATH, INGEST, _permissions),
    Route("GET", "api/games", VIEWER, _games, json=True),
    Route("GET", "api/games/{game_id}", VIEWER, _game, json=True),
    Route("GET", "api/games/{game_id}/events", VIEWER, _events, json=True),
    Route("POST", "api/games/{game_id}/actions", CONTROLLER, _actions, json=True),
    Route("POST", "api/replays", CONTROLLER, _replays, json=True),
    Route("GET", "healthz", USER, _health, json=True),
    Route("GET", "metrics", VIEWER, _metrics, json=True),  # for programs, Prometheus text
    Route("GET", "", PAGE, _page),
    Route("GET", "view/{game_id}", PAGE, _page),
    Route("GET", "static/{name}", USER, _static),
)


def dispatch(
    route: Route, server: GameServer, request: Request
) -> HttpAnswer | Awaitable[HttpAnswer]:
    """Answer ``request`` on ``route``; the host has already checked the caller's role.
    An awaitable (a held permission request) is awaited by the host."""
    if len(request.body) > MAX_BODY_BYTES:
        return too_large()
    return route.handle(server, request)


def answer_headers(answer: HttpAnswer) -> dict[str, str]:
    """Every header of ``answer``: its type, :data:`SECURITY_HEADERS`, its own."""
    return {"Content-Type": answer.content_type, **SECURITY_HEADERS, **answer.headers}
