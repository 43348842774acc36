"""``ccviz serve``: the server core in its own aiohttp process, with the HTTP endpoints.

Binds 127.0.0.1 unless told otherwise; anywhere else it needs a viewer token. Writes the
runtime file so ``ccviz hook`` finds it, and removes it on a clean exit.

Every request, socket.io's included, must name this server in ``Host``
(:class:`~..server.auth.HostRule`: loopback names, ``--public-name``, the bound host): a
page on another name that resolves to 127.0.0.1 (DNS rebinding) is refused before any
route runs. Request heads must arrive within ``HEADER_TIMEOUT`` seconds and bodies within
``BODY_TIMEOUT`` (slowloris).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from ..config import ANSWER_WAIT, BODY_TIMEOUT, DEFAULT_HOST, DEFAULT_PORT, HEADER_TIMEOUT
from ..hub import Hub
from ..runtime import read_or_create_token, remove_runtime, write_runtime
from ..runtime import viewer_token as viewer_token_from_env
from ..server import routes
from ..server.auth import Auth, HostRule, is_loopback
from ..server.core import GameServer
from ..server.routes import HttpAnswer, Request, Route
from ..store import EventStore
from ._aiohttp import AiohttpFrameWriter, use_plain_websockets
from ._engineio import stop_pinger

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "Standalone",
    "make_app",
    "serve",
    "start",
    "until_stopped",
]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Standalone:
    """A running standalone host."""

    server: GameServer
    hub: Hub
    runner: web.AppRunner
    url: str
    runtime: bool

    async def close(self) -> None:
        """Drain and stop: accept no new connection (a balancer in front sends new viewers
        and hooks to another server at once), let the server flush and close its viewers
        with a reconnect hint, then end the requests still in flight and close the port."""
        for site in list(self.runner.sites):
            await site.stop()
        await self.server.stop()
        await self.runner.cleanup()
        stop_pinger(self.server.sio.eio)
        self.hub.store.close()
        if self.runtime:
            remove_runtime()


def make_app(
    server: GameServer, auth: Auth, cors: list[str], base_url: str = "/"
) -> web.Application:
    """The aiohttp application: socket.io and the route table of :mod:`..server.routes`,
    all under ``base_url`` (``/`` or a prefix such as ``/team/``, as ``checks.base_url``
    gives it; a reverse proxy forwards that prefix unchanged). Outside it, ``/`` and the
    prefix without its slash redirect to it, and everything else is a 404.

    For the fast fan-out path ``server`` is made with an :class:`AiohttpFrameWriter`
    (``frame_writer=``); its websockets then attach to it. Without one, Engine.IO's queue.
    """
    app = web.Application(client_max_size=routes.MAX_BODY_BYTES)
    server.sio.attach(app, socketio_path=base_url + routes.SOCKETIO_PATH)
    frames = server.manager.frame_writer
    use_plain_websockets(server.sio.eio, frames if isinstance(frames, AiohttpFrameWriter) else None)
    allowed = set(cors)
    for route in routes.ROUTES:
        handler = _handler(server, auth, allowed, route, base_url)
        app.router.add_route(route.method, base_url + route.path, handler)
    if base_url != "/":
        for path in ("/", base_url.rstrip("/")):
            app.router.add_get(path, _redirect(base_url))
    app.middlewares.append(_host_guard(server.host_rule))
    return app


def _redirect(to: str) -> _Handler:
    async def handle(request: web.Request) -> web.Response:
        raise web.HTTPFound(to)

    return handle


def _host_guard(rule: HostRule) -> Any:
    """The middleware that refuses a ``Host`` this server does not answer to (403), on
    every route and on the socket.io handshake.

    Not a coroutine function: it hands back the handler's own awaitable, so no frame of
    its own stays suspended under every open websocket (aiohttp awaits what a middleware
    returns)."""

    @web.middleware
    def guard(request: web.Request, handler: _Handler) -> Awaitable[web.StreamResponse]:
        host = request.headers.get("Host")
        if not rule.host_ok(host):
            return _ready(_response(HttpAnswer(403, rule.refusal(host)), request, set()))
        return handler(request)

    return guard


async def _ready(response: web.StreamResponse) -> web.StreamResponse:
    return response


def _handler(
    server: GameServer, auth: Auth, cors: set[str], route: Route, base: str = "/"
) -> _Handler:
    """The aiohttp handler of one route: parse, check the caller's token, answer."""

    async def handle(request: web.Request) -> web.Response:
        body = b""
        if request.can_read_body:
            try:
                # over client_max_size: 413; a body trickled in: 408
                body = await asyncio.wait_for(request.read(), BODY_TIMEOUT)
            except web.HTTPRequestEntityTooLarge:
                return _response(routes.too_large(), request, set())
            except (ConnectionError, asyncio.IncompleteReadError):
                return _response(routes.incomplete_body(), request, cors)
            except asyncio.TimeoutError:
                answer = HttpAnswer(408, f"request body not received within {BODY_TIMEOUT:g} s\n")
                return _response(answer, request, cors, close=True)
            except web.RequestPayloadError:  # a Content-Encoding the body does not match
                encoding = request.headers.get("Content-Encoding", "")[:40]
                answer = routes.incomplete_body()
                if encoding:
                    text = f"cannot decode the body (Content-Encoding {encoding!r})\n"
                    answer = HttpAnswer(400, text)
                return _response(answer, request, cors, close=True)
        parsed = Request(
            headers=request.headers,
            params=request.match_info,
            query=request.query,
            body=body,
            client=request.remote or "?",
            base=base,
            gone=lambda: request.transport is None or request.transport.is_closing(),
        )
        if not routes.token_allows(auth, route.role, parsed):
            return _response(routes.refused(route.role), request, cors)
        answer = routes.dispatch(route, server, parsed)
        if not isinstance(answer, HttpAnswer):
            answer = await answer  # a held permission request
        return _response(answer, request, cors)

    return handle


def _response(
    answer: HttpAnswer, request: web.Request, cors: set[str], *, close: bool = False
) -> web.Response:
    headers = routes.answer_headers(answer)
    headers.update(routes.cors_headers(request.headers.get("Origin"), cors))
    response = web.Response(status=answer.status, body=answer.payload() or None, headers=headers)
    if close:  # the rest of the body is unread: the connection cannot carry another request
        response.force_close()
    return response


class _ClientFaults(logging.Filter):
    """aiohttp logs a request it cannot parse (a bad header line, a ``Content-Encoding`` it
    cannot decode) at ERROR with a traceback, though the client is at fault and got its
    400: one warning line instead, so a hostile client cannot fill the log with tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, web.RequestPayloadError):  # the body after a 400 for its encoding
            exc = exc.__cause__ or exc
        if isinstance(exc, (HttpProcessingError, web.RequestPayloadError)):
            why = getattr(exc, "message", "") or type(exc).__name__
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = "refused a malformed request (400): %s", (str(why)[:200],)
            record.exc_info, record.exc_text = None, None
        return True


class AccessLog(AbstractAccessLogger):
    """One line per request on ``ccviz.access`` (INFO): method, path without its query
    string (where a ``?token=`` would be), status, bytes, milliseconds, peer. Nothing of the
    headers: no ``Authorization``, no cookie. Costs nothing while the logger is below INFO."""

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %s %.1fms %s",
            request.method,
            request.path,
            response.status,
            response.body_length,
            time * 1000,
            request.remote,
        )


def _request_log() -> logging.Logger:
    """aiohttp's request-handling logger, with :class:`_ClientFaults` on it (once)."""
    logger = logging.getLogger("ccviz.http")
    if not any(isinstance(f, _ClientFaults) for f in logger.filters):
        logger.addFilter(_ClientFaults())
    return logger


async def start(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    json_mode: bool = False,
    fps: float = 30.0,
    viewer_token: str | None = None,
    cors: list[str] | None = None,
    hub: Hub | None = None,
    runtime: bool = True,
    runtime_kind: str = "standalone",
    public_names: list[str] | None = None,
    base_url: str = "/",
    answer_wait: float = ANSWER_WAIT,
) -> Standalone:
    """Start serving on the running loop; ``port=0`` picks a free port.

    ``base_url``: the path everything is served under (``--base-url``, e.g. ``/team/``);
    the runtime file's URL includes it, so hooks and notebooks find the routes.

    ``public_names``: names (``--public-name``) this server answers to besides the loopback
    names and ``host`` itself, e.g. the name of the machine or of a proxy in front.

    ``viewer_token`` defaults to ``$CCVIZ_VIEWER_TOKEN`` (or the viewer-token file), so the
    command line, the demo and the in-kernel host all honour it.
    """
    viewer_token = viewer_token or viewer_token_from_env()
    loopback = is_loopback(host)
    if not loopback and not viewer_token:
        raise ValueError(
            f"refusing to serve on {host} without a viewer token "
            "(pass --viewer-token or set CCVIZ_VIEWER_TOKEN); viewers off this machine need one"
        )
    auth = Auth(read_or_create_token(), viewer_token=viewer_token, loopback_only=loopback)
    hub = hub or Hub()
    origins = list(cors or [])
    server = GameServer(
        hub,
        auth,
        async_mode="aiohttp",
        serializer="default" if json_mode else "msgpack",
        fps=fps,
        cors_allowed_origins=origins or None,
        frame_writer=AiohttpFrameWriter(),
        host_rule=HostRule.for_bind(host, public_names or (), origins),
        answer_wait=answer_wait,
    )
    app = make_app(server, auth, origins, base_url)
    await server.start()  # ingest the spool before the port opens: spooled events come first
    runner = web.AppRunner(
        app,
        access_log=logging.getLogger("ccviz.access"),
        access_log_class=AccessLog,
        handle_signals=False,
        shutdown_timeout=2.0,
        # aiohttp closes a connection that has not sent a whole request head this long after
        # it opened or after its last answer: a slowloris head is cut off, idle ones too.
        keepalive_timeout=HEADER_TIMEOUT,
        logger=_request_log(),
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{shown}:{bound}{base_url}"
    if runtime:
        write_runtime(url, runtime_kind)
    return Standalone(server, hub, runner, url, runtime)


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, **options: Any) -> int:
    """Run until SIGINT/SIGTERM; returns the exit status."""

    async def main() -> None:
        running = await start(host, port, **options)
        store = running.hub.store
        # Only the store's path (a Redis URL's password redacted), never the URL itself.
        shared = "" if isinstance(store, EventStore) else f", event log {store.path}"
        print(f"ccviz serving on {running.url}{shared}  (Ctrl-C to stop)", flush=True)
        await until_stopped(running)

    asyncio.run(main())
    return 0


async def until_stopped(running: Standalone) -> None:
    """Serve until SIGINT or SIGTERM, then close cleanly (the runtime file goes too)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # Windows' event loops have no signal handlers
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    try:
        await stop.wait()
    finally:
        await running.close()
