"""``ccviz serve``: the server core in its own aiohttp process, with the HTTP endpoints.

Binds 127.0.0.1 unless told otherwise; anywhere else it needs a viewer token. Writes the
runtime file so ``ccviz hook`` finds it, and removes it on a clean exit.
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from engineio.async_drivers import aiohttp as eio_aiohttp

from ..config import MAX_PAYLOAD_BYTES
from ..hub import Hub
from ..runtime import read_or_create_token, remove_runtime, write_runtime
from ..runtime import viewer_token as viewer_token_from_env
from ..server.auth import Auth, bearer, is_loopback, same_token
from ..server.core import GameServer, HttpAnswer
from ..server.pages import FrontEndMissing, shell, static_file

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


class _PlainWebSocket(eio_aiohttp.WebSocket):
    """Engine.IO's aiohttp websocket without per-message deflate (on these small frames it
    cost about a quarter more server CPU and 4x the memory per connection)."""

    async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        request = environ["aiohttp.request"]
        self._sock = web.WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size, compress=False
        )
        await self._sock.prepare(request)
        self.environ = environ
        # let the fan-out write pre-built frames straight to this connection (manager.py)
        self.handler.__self__.ws_response = self._sock
        await self.handler(self)
        return self._sock


@dataclass
class Standalone:
    """A running standalone host."""

    server: GameServer
    hub: Hub
    runner: web.AppRunner
    url: str
    runtime: bool

    async def close(self) -> None:
        await self.server.stop()
        await self.runner.cleanup()
        self.hub.store.close()
        if self.runtime:
            remove_runtime()


def make_app(server: GameServer, auth: Auth, cors: list[str]) -> web.Application:
    app = web.Application(client_max_size=MAX_PAYLOAD_BYTES)
    server.sio.attach(app, socketio_path="socket.io")
    server.sio.eio._async = {**server.sio.eio._async, "websocket": _PlainWebSocket}

    def answer(result: HttpAnswer, request: web.Request) -> web.Response:
        response = web.Response(
            status=result.status,
            text=result.body or None,
            content_type=result.content_type.split(";")[0],
        )
        origin = request.headers.get("Origin")
        if origin and origin in cors:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response

    def viewer_ok(request: web.Request) -> bool:
        if auth.loopback_only:
            return True
        token = bearer(request.headers.get("Authorization")) or request.query.get("token")
        return same_token(token, auth.viewer_token) or auth.can_ingest(token)

    async def hooks(request: web.Request) -> web.Response:
        try:
            body = await request.read()  # over client_max_size: 413 (see too_large)
        except (ConnectionError, asyncio.IncompleteReadError):
            return web.Response(status=400, text="incomplete body\n")
        result = server.handle_hook(
            body,
            authorization=request.headers.get("Authorization"),
            client=request.remote or "?",
            hook_time=request.headers.get("X-Ccviz-Time"),
            delivery_id=request.headers.get("X-Ccviz-Id"),
        )
        return answer(result, request)

    async def games(request: web.Request) -> web.Response:
        if not viewer_ok(request):
            return web.Response(status=401, text="viewer token required\n")
        return answer(server.games_answer(), request)

    async def game(request: web.Request) -> web.Response:
        if not viewer_ok(request):
            return web.Response(status=401, text="viewer token required\n")
        return answer(server.game_answer(request.match_info["game_id"]), request)

    async def events(request: web.Request) -> web.Response:
        if not viewer_ok(request):
            return web.Response(status=401, text="viewer token required\n")
        return answer(server.events_answer(request.match_info["game_id"]), request)

    async def actions(request: web.Request) -> web.Response:
        token = bearer(request.headers.get("Authorization"))
        result = server.handle_action(
            request.match_info["game_id"],
            await request.read(),
            controller=auth.can_ingest(token),
            client=request.remote or "?",
        )
        return answer(result, request)

    async def health(request: web.Request) -> web.Response:
        return answer(server.health(), request)

    security = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}

    async def page(request: web.Request) -> web.Response:
        game_id = request.match_info.get("game_id")
        html = shell("/", serializer=server.serializer, game_id=game_id)
        return web.Response(text=html, content_type="text/html", headers=security)

    async def static(request: web.Request) -> web.Response:
        try:
            body, content_type = static_file(request.match_info["name"])
        except KeyError:
            raise web.HTTPNotFound() from None
        except FrontEndMissing as exc:
            return web.Response(status=503, text=f"{exc}\n")
        return web.Response(
            body=body, content_type=content_type, headers={**security, "Cache-Control": "no-cache"}
        )

    async def too_large(request: web.Request, handler):  # noqa: ANN001
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return web.Response(
                status=413, text=f"payload too large (limit {MAX_PAYLOAD_BYTES} bytes)\n"
            )

    app.middlewares.append(web.middleware(too_large))
    app.router.add_post("/api/hooks", hooks)
    app.router.add_get("/api/games", games)
    app.router.add_get("/api/games/{game_id}", game)
    app.router.add_get("/api/games/{game_id}/events", events)
    app.router.add_post("/api/games/{game_id}/actions", actions)
    app.router.add_get("/healthz", health)
    app.router.add_get("/", page)
    app.router.add_get("/view/{game_id}", page)
    app.router.add_get("/static/{name}", static)
    return app


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
) -> Standalone:
    """Start serving on the running loop; ``port=0`` picks a free port.

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
    )
    app = make_app(server, auth, origins)
    await server.start()  # ingest the spool before the port opens: spooled events come first
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{shown}:{bound}/"
    if runtime:
        write_runtime(url, runtime_kind)
    return Standalone(server, hub, runner, url, runtime)


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, **options: Any) -> int:
    """Run until SIGINT/SIGTERM; returns the exit status."""

    async def main() -> None:
        running = await start(host, port, **options)
        print(f"ccviz serving on {running.url}  (Ctrl-C to stop)", flush=True)
        await until_stopped(running)

    asyncio.run(main())
    return 0


async def until_stopped(running: Standalone) -> None:
    """Serve until SIGINT or SIGTERM, then close cleanly (the runtime file goes too)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await running.close()
