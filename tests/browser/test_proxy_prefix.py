"""The page behind a reverse proxy that adds a prefix of its own (``/team/`` → the server's
``/``), as jupyter-server-proxy or a team's nginx does: the page, its bundle and socket.io
all go through the prefix, because every address in the shell is relative to the page."""

from __future__ import annotations

import asyncio
import tempfile
import urllib.request
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from .support import ServerThread, hook, new_game_id, tool, wait_arrived, wait_until

PREFIX = "/team/"
PASSED = ("host", "origin", "accept", "accept-encoding", "if-none-match", "user-agent")
RETURNED = ("content-type", "cache-control", "etag", "content-encoding", "vary", "location")


async def start_proxy(upstream: str) -> tuple[web.AppRunner, str]:
    """A prefix-adding reverse proxy on 127.0.0.1 (plain HTTP and websockets)."""
    session = aiohttp.ClientSession(auto_decompress=False)

    async def forward(request: web.Request) -> Any:
        target = upstream + request.match_info["tail"]
        if request.query_string:
            target += "?" + request.query_string
        headers = {k: v for k, v in request.headers.items() if k.lower() in PASSED}
        if request.headers.get("Upgrade", "").lower() == "websocket":
            down = web.WebSocketResponse()
            await down.prepare(request)
            async with session.ws_connect(target.replace("http", "ws", 1), headers=headers) as up:

                async def pump(source: Any, sink: Any) -> None:
                    async for message in source:
                        if message.type == aiohttp.WSMsgType.TEXT:
                            await sink.send_str(message.data)
                        elif message.type == aiohttp.WSMsgType.BINARY:
                            await sink.send_bytes(message.data)
                        else:
                            break

                tasks = [asyncio.ensure_future(pump(a, b)) for a, b in ((down, up), (up, down))]
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in tasks:
                    task.cancel()
            return down
        async with session.request(
            request.method,
            target,
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as answer:
            body = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() in RETURNED}
            return web.Response(status=answer.status, body=body, headers=kept)

    app = web.Application()
    app.router.add_route("*", PREFIX + "{tail:.*}", forward)
    app.on_cleanup.append(lambda _app: session.close())
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - a test's own server
    return runner, f"http://127.0.0.1:{port}{PREFIX}"


def test_the_page_and_the_lobby_work_under_a_proxy_prefix(server, open_page):
    runner, front = server.run(start_proxy(server.url))
    try:
        _page_and_lobby_work(server, open_page, front)
    finally:
        server.run(runner.cleanup())


def test_the_page_works_under_base_url_directly_and_behind_a_proxy(server, browser, open_page):
    """``ccviz serve --base-url /team/``: everything under the prefix, on its own and behind
    a proxy that forwards ``/team/`` unchanged (nginx's ``location /team/`` with a plain
    ``proxy_pass``); the server's root redirects to the prefix."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CCVIZ_HOME", tempfile.mkdtemp(prefix="ccviz-base-url-"))
        prefixed = ServerThread(json_mode=server.json_mode, base_url=PREFIX).start()
    try:
        assert prefixed.url.endswith(PREFIX)
        root = urllib.request.urlopen(prefixed.url[: -len(PREFIX)] + "/", timeout=5)
        assert root.geturl() == prefixed.url  # / → /team/
        _page_and_lobby_work(prefixed, open_page, prefixed.url)
        runner, front = prefixed.run(start_proxy(prefixed.url))
        try:
            _page_and_lobby_work(prefixed, open_page, front)
        finally:
            prefixed.run(runner.cleanup())
    finally:
        prefixed.close()


def _page_and_lobby_work(server, open_page, front: str) -> None:
    """A game page follows three hooks through ``front``, and the lobby there lists it."""
    game = new_game_id()
    page = open_page(f"{front}view/{game}").page
    wait_until(page, "window.__ccviz && window.__ccviz.ready")
    server.post(hook(game, "SessionStart", source="startup"))
    server.post(hook(game, "UserPromptSubmit", prompt="Make the jump higher."))
    wait_arrived(page, "main", "square")
    server.post(tool(game, "Read", "toolu_p1", file_path="/home/dev/pixel-quest/src/a.ts"))
    wait_arrived(page, "main", "library")
    assert page.evaluate("window.__ccviz.seq") == 3
    assert page.evaluate("window.__ccviz.errors") == []
    lobby = open_page(front).page
    wait_until(lobby, "window.__ccviz && window.__ccviz.lobby && window.__ccviz.ready")
    wait_until(lobby, f"window.__ccviz.shown().includes({game!r})")
    for each in (page, lobby):
        each.close()
