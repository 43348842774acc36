"""The one route table (server/routes.py): parsing without a framework, the roles, and both
hosts mounting exactly the table."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import aiohttp
import pytest
from common import FIXTURES

from ccviz_kernel.config import MAX_PAYLOAD_BYTES
from ccviz_kernel.hosts.standalone import start
from ccviz_kernel.server import routes
from ccviz_kernel.server.auth import Auth
from ccviz_kernel.server.routes import ROUTES, Request, Route

LINES = (FIXTURES / "hook-payloads.jsonl").read_text().splitlines()
GAME = json.loads(LINES[0])["session_id"]


def test_hook_headers_parse_without_a_framework():
    hook = routes.parse_hook(
        {
            "Authorization": "Bearer tok",
            "X-Ccviz-Time": "1764000000.25",
            "X-Ccviz-Id": "d-1",
        },
        b"{}",
        "10.0.0.1",
    )
    assert (hook.token, hook.hook_time, hook.delivery_id, hook.client, hook.body) == (
        "tok",
        1764000000.25,
        "d-1",
        "10.0.0.1",
        b"{}",
    )
    assert "tok" not in repr(hook)  # tokens are never shown
    bare = routes.parse_hook({}, b"")
    assert (bare.token, bare.hook_time, bare.delivery_id, bare.client) == (None, None, None, "?")
    odd = routes.parse_hook(
        {"Authorization": "token tok", "X-Ccviz-Time": "soon", "X-Ccviz-Id": "x" * 65}, b""
    )
    assert (odd.token, odd.hook_time, odd.delivery_id) == (None, None, None)
    assert routes.parse_hook({"X-Ccviz-Id": "x" * 64}, b"").delivery_id == "x" * 64
    for bad in ("nan", "inf", "-inf", ""):
        assert routes.parse_hook_time(bad) is None


def test_the_table():
    paths = {(r.method, r.path): r for r in ROUTES}
    assert set(paths) == {
        ("POST", "api/hooks"),
        ("POST", "api/permissions"),
        ("GET", "api/games"),
        ("GET", "api/games/{game_id}"),
        ("GET", "api/games/{game_id}/events"),
        ("POST", "api/games/{game_id}/actions"),
        ("POST", "api/replays"),
        ("GET", "healthz"),
        ("GET", "metrics"),
        ("GET", ""),
        ("GET", "view/{game_id}"),
        ("GET", "static/{name}"),
    }
    assert {r.role for r in ROUTES} == set(routes.ROLES)
    assert paths[("POST", "api/hooks")].role == routes.INGEST
    assert paths[("POST", "api/permissions")].role == routes.INGEST
    assert paths[("POST", "api/games/{game_id}/actions")].role == routes.CONTROLLER
    assert paths[("POST", "api/replays")].role == routes.CONTROLLER
    assert paths[("GET", "metrics")].role == routes.VIEWER
    route = paths[("GET", "api/games/{game_id}/events")]
    assert route.params == ("game_id",)
    assert route.regex() == r"api/games/([^/]+)/events"
    assert Route("GET", "a.b/{x}/{y}", routes.USER, lambda s, r: None).regex() == (
        r"a\.b/([^/]+)/([^/]+)"
    )


def test_token_rule_of_the_standalone_host():
    loopback = Auth("ingest")
    exposed = Auth("ingest", viewer_token="view", loopback_only=False)

    def req(auth_header=None, query=None):
        headers = {"Authorization": auth_header} if auth_header else {}
        return Request(headers=headers, query=query or {})

    allows = routes.token_allows
    assert allows(loopback, routes.VIEWER, req())
    assert not allows(exposed, routes.VIEWER, req())
    assert allows(exposed, routes.VIEWER, req("Bearer view"))
    assert allows(exposed, routes.VIEWER, req(query={"token": "view"}))
    assert allows(exposed, routes.VIEWER, req("Bearer ingest"))
    assert not allows(exposed, routes.VIEWER, req("Bearer nope"))
    for auth in (loopback, exposed):
        assert not allows(auth, routes.CONTROLLER, req())
        assert not allows(auth, routes.CONTROLLER, req(query={"token": "ingest"}))  # bearer only
        assert allows(auth, routes.CONTROLLER, req("Bearer ingest"))
        for role in (routes.INGEST, routes.PAGE, routes.USER):
            assert allows(auth, role, req())
    assert routes.refused(routes.VIEWER).status == 401
    assert routes.refused(routes.CONTROLLER).status == 403


def test_headers_and_limits():
    answer = routes.HttpAnswer(200, b"x", "text/css", {"Cache-Control": "no-cache"})
    assert routes.answer_headers(answer) == {
        "Content-Type": "text/css",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
    assert routes.cors_headers("http://a", {"http://a"}) == {
        "Access-Control-Allow-Origin": "http://a",
        "Vary": "Origin",
    }
    assert routes.cors_headers("http://b", {"http://a"}) == {}
    assert routes.cors_headers(None, {"http://a"}) == {}
    big = Request(headers={}, body=b"x" * (MAX_PAYLOAD_BYTES + 1))
    route = next(r for r in ROUTES if r.path == "api/hooks")
    assert routes.dispatch(route, None, big).status == 413  # before the route runs


def test_the_standalone_host_mounts_the_table():
    async def scenario():
        host = await start(port=0, runtime=False, cors=["http://allowed.example"])
        try:
            router = host.runner.app.router
            mounted = {
                (r.method, r.resource.canonical)
                for r in router.routes()
                if r.method != "HEAD" and not r.resource.canonical.startswith("/socket.io")
            }
            assert mounted == {(r.method, "/" + r.path) for r in ROUTES}
            token = host.server.auth.ingest_token
            async with aiohttp.ClientSession() as session:
                url = host.url
                hooked = await session.post(
                    url + "api/hooks",
                    data=LINES[0],
                    headers={"Authorization": f"Bearer {token}", "X-Ccviz-Id": "once"},
                )
                again = await session.post(
                    url + "api/hooks",
                    data=LINES[0],
                    headers={"Authorization": f"Bearer {token}", "X-Ccviz-Id": "once"},
                )
                assert hooked.status == again.status == 204
                assert host.hub.game(GAME).seq == 1  # the delivery id counted it once
                for path in ("api/games", f"api/games/{GAME}", "healthz", "", "static/nope"):
                    r = await session.get(url + path, headers={"Origin": "http://allowed.example"})
                    assert r.headers["X-Content-Type-Options"] == "nosniff", path
                    assert r.headers["Referrer-Policy"] == "no-referrer", path
                    assert r.headers["Access-Control-Allow-Origin"] == "http://allowed.example"
                    assert r.status == (404 if path == "static/nope" else 200), path
                page = await session.get(url + f"view/{GAME}")
                assert page.headers["Content-Type"] == "text/html; charset=utf-8"
                assert f'<meta name="ccviz-game" content="{GAME}">' in await page.text()
                acted = await session.post(
                    url + f"api/games/{GAME}/actions",
                    json={"type": "say", "agent": "main", "text": "hi"},
                )
                assert acted.status == 403
                assert await acted.text() == "actions need the controller role (the ingest token)\n"
                acted = await session.post(
                    url + f"api/games/{GAME}/actions",
                    json={"type": "say", "agent": "main", "text": "hi"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert (acted.status, await acted.json()) == (200, {"ok": True, "seq": 2})
                assert (await session.get(url + "api/hooks")).status == 405
        finally:
            await host.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_the_jupyter_host_mounts_the_table():
    from ccviz_kernel.hosts.jupyter import handlers as jh

    running = SimpleNamespace(base="/j/ccviz/")
    rules = jh.rules("/j/", running)
    by_pattern = {pattern: (cls, kwargs) for pattern, cls, kwargs in rules}
    for route in ROUTES:
        cls, kwargs = by_pattern.pop(r"/j/ccviz/" + route.regex())
        assert kwargs == {"running": running, "route": route}
        assert route.method.lower() in vars(cls), (route, cls)
        assert cls is jh.handler_class(route)
    assert {cls for cls, _ in by_pattern.values()} == {jh.SlashHandler, jh.SocketHandler}
    with pytest.raises(LookupError):
        jh.handler_class(Route("DELETE", "x", routes.VIEWER, lambda s, r: None, json=True))
