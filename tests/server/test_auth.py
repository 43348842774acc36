from __future__ import annotations

import asyncio
import json
import os
import socket
import stat

import aiohttp
import pytest
import socketio

from ccviz_kernel.cli import _parser, main
from ccviz_kernel.config import data_dir
from ccviz_kernel.hosts.standalone import start
from ccviz_kernel.runtime import read_or_create_token
from ccviz_kernel.server.auth import (
    Auth,
    HostRule,
    RateLimiter,
    bearer,
    host_name,
    origin_allowed,
)


def test_token_is_made_once_owner_only_and_env_overrides(monkeypatch):
    first = read_or_create_token()
    assert first == read_or_create_token() and len(first) >= 32
    mode = stat.S_IMODE(os.stat(data_dir() / "token").st_mode)
    assert mode == 0o600
    monkeypatch.setenv("CCVIZ_TOKEN", "from-env")
    assert read_or_create_token() == "from-env"


def test_roles():
    loopback = Auth("ingest-secret")
    assert loopback.role_for("ingest-secret", "127.0.0.1") == "controller"
    assert loopback.role_for(None, "127.0.0.1") == "viewer"
    assert loopback.role_for(None, "::1") == "viewer"
    assert loopback.role_for("wrong", "10.0.0.5") is None
    exposed = Auth("ingest-secret", viewer_token="view-secret", loopback_only=False)
    assert exposed.role_for(None, "127.0.0.1") is None  # off loopback, nobody is free
    assert exposed.role_for("view-secret", "10.0.0.5") == "viewer"
    assert exposed.role_for("ingest-secret", "10.0.0.5") == "controller"
    assert bearer("Bearer abc") == "abc" and bearer("Basic abc") is None and bearer(None) is None


def test_rate_limiter_is_a_token_bucket():
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=3, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")
    now[0] += 1.0
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]


def test_serving_beyond_loopback_needs_a_viewer_token(capsys):
    with pytest.raises(ValueError, match="without a viewer token"):
        asyncio.run(start(host="0.0.0.0", port=0, runtime=False))
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ccviz: refusing to serve on 0.0.0.0") and "Traceback" not in err


# -- Host and Origin (issue 11, point 3: DNS rebinding) ---------------------------------------


def test_host_names_are_parsed_like_browsers_send_them():
    assert host_name("LocalHost:8765") == "localhost"
    assert host_name("127.0.0.1") == "127.0.0.1"
    assert host_name("[::1]:8765") == "::1" and host_name("::1") == "::1"
    assert host_name("example.com.:80") == "example.com"
    for bad in ("", None, "a:b", "[::1", "[::1]x", "::zz:1"):
        assert host_name(bad) is None, bad


def test_a_loopback_server_answers_to_loopback_names_only():
    rule = HostRule.for_bind("127.0.0.1")
    for ok in (
        "127.0.0.1:8765",
        "localhost:8765",
        "[::1]:8765",
        "app.localhost",
        "127.9.9.9",
        None,
    ):
        assert rule.host_ok(ok), ok
    for refused in ("evil.example:8765", "10.0.0.5:8765", "localhost.evil.example", "x:y"):
        assert not rule.host_ok(refused), refused


def test_public_names_and_the_bound_host_are_added():
    rule = HostRule.for_bind("127.0.0.1", public_names=["Ccviz.LAN", "proxy.example:443"])
    assert rule.host_ok("ccviz.lan:8765") and rule.host_ok("proxy.example")
    assert not rule.host_ok("evil.example") and not rule.host_ok("192.168.1.5")
    lan = HostRule.for_bind("192.168.1.5")
    assert lan.host_ok("192.168.1.5:8765") and lan.host_ok("10.1.2.3")  # addresses: no DNS
    assert not lan.host_ok("evil.example:8765")
    named = HostRule.for_bind("myhost.example")
    assert named.host_ok("myhost.example:8765") and not named.host_ok("evil.example")
    everywhere = HostRule.for_bind("0.0.0.0")
    assert everywhere.host_ok(f"{socket.gethostname()}:8765") and everywhere.host_ok("10.1.2.3")
    assert not everywhere.host_ok("evil.example")


def test_the_origin_rule_every_host_shares():
    assert origin_allowed(None, "127.0.0.1:1")  # a program, not a page
    assert origin_allowed("http://127.0.0.1:1", "127.0.0.1:1")
    assert origin_allowed("HTTPS://LOCALHOST:1", "localhost:1")
    assert not origin_allowed("http://evil.example", "127.0.0.1:1")
    assert not origin_allowed("null", "127.0.0.1:1")  # sandboxed iframes, file: pages
    assert not origin_allowed("ftp://127.0.0.1:1", "127.0.0.1:1")
    assert origin_allowed("http://a.example", "127.0.0.1:1", {"http://a.example"}.__contains__)
    rule = HostRule.for_bind("127.0.0.1", origins=["http://a.example"])
    assert rule.origin_ok("http://a.example", "127.0.0.1:1")
    # the page's own origin, on a name this server does not answer to: a rebound page
    assert not rule.origin_ok("http://evil.example:1", "evil.example:1")


def test_a_rebound_name_reads_nothing_and_opens_no_socket():
    async def scenario():
        host = await start(port=0, runtime=False, public_names=["ccviz.lan"])
        port = host.url.rstrip("/").rsplit(":", 1)[1]
        token = host.server.auth.ingest_token
        game = "rebind-game"
        body = json.dumps({"hook_event_name": "SessionStart", "session_id": game})
        try:
            async with aiohttp.ClientSession() as session:
                headers = {"Authorization": f"Bearer {token}"}
                async with session.post(host.url + "api/hooks", data=body, headers=headers) as r:
                    assert r.status == 204
                events = f"{host.url}api/games/{game}/events"
                for name, status in (
                    (f"evil.example:{port}", 403),
                    (f"127.0.0.1:{port}", 200),
                    (f"localhost:{port}", 200),
                    (f"ccviz.lan:{port}", 200),
                ):
                    async with session.get(events, headers={"Host": name}) as r:
                        assert r.status == status, name
                        if status == 403:
                            assert "--public-name" in await r.text()
                ws_url = host.url + "socket.io/?EIO=4&transport=websocket"
                rebound = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    async with session.ws_connect(ws_url, headers=rebound):
                        pass
                assert refused.value.status == 403
                same = {"Origin": f"http://localhost:{port}", "Host": f"localhost:{port}"}
                async with session.ws_connect(ws_url, headers=same) as ws:
                    assert (await ws.receive(timeout=5)).data.startswith("0{")
            client = socketio.AsyncClient(serializer="msgpack", reconnection=False)
            with pytest.raises(socketio.exceptions.ConnectionError):
                await client.connect(
                    host.url, transports=["websocket"], headers={"Host": f"evil.example:{port}"}
                )
        finally:
            await host.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_serve_takes_public_names():
    ns = _parser().parse_args(["serve", "--public-name", "a.lan", "--public-name", "b.lan"])
    assert ns.public_name == ["a.lan", "b.lan"]
