"""The Jupyter server extension, inside a real jupyter_server (pytest-jupyter).

Nothing listens on the port unless a test asks for ``http_server_client`` (or ``jp_fetch``):
every test that talks to the server does.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
import socketio
from jupyter_server.auth import Authorizer
from socketio import packet
from socketio.msgpack_packet import MsgPackPacket
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from ccviz_kernel.cli import hook
from ccviz_kernel.hosts import jupyter
from ccviz_kernel.hosts._tornado import TornadoFrameWriter
from ccviz_kernel.notebook.mirror import ClientError, GameMirror
from ccviz_kernel.runtime import read_runtime

REPO = Path(__file__).resolve().parents[2]
LINES = (REPO / "tests" / "fixtures" / "hook-payloads.jsonl").read_text().splitlines()
GAME = json.loads(LINES[0])["session_id"]
ODD = "/a%40b/"  # pytest-jupyter's default base URL, as JupyterHub spells user "a@b"
BOTH = pytest.mark.parametrize("jp_base_url", ["/jupyter/", ODD])


def config(**server) -> dict:
    """A jp_server_config: the extension (terminals off, for speed) plus ServerApp traits."""
    extensions = {"ccviz_kernel.hosts.jupyter": True, "jupyter_server_terminals": False}
    return {"ServerApp": {"jpserver_extensions": extensions, **server}}


class ReadOnly(Authorizer):
    """A Jupyter authorizer that lets users read ccviz but not change it."""

    def is_authorized(self, handler, user, action, resource):
        return resource != "ccviz" or action == "read"


@pytest.fixture
def jp_token(jp_serverapp):
    return jp_serverapp.identity_provider.token


def ext(serverapp) -> jupyter.CcvizExtension:
    return serverapp.extension_manager.extension_points["ccviz"].app


async def fetch(client, path, *, auth=None, method="GET", body=None, headers=None, **kwargs):
    headers = {**({"Authorization": auth} if auth else {}), **(headers or {})}
    return await client.fetch(
        path,
        method=method,
        body=body,
        headers=headers,
        raise_error=False,
        follow_redirects=False,
        **kwargs,
    )


def mirror(serverapp, running, game=GAME, **kwargs) -> GameMirror:
    return GameMirror(
        f"http://127.0.0.1:{serverapp.port}", game, socketio_path=running.socketio_path, **kwargs
    )


@pytest.fixture
def started(jp_serverapp, http_server_client, jp_asyncio_loop):
    """The running extension, its core started (the port listens: http_server_client)."""
    running = jupyter.current()
    assert running is not None
    jp_asyncio_loop.run_until_complete(running.ready())
    return running


@BOTH
async def test_every_route_but_hooks_needs_jupyter_auth(
    started, jp_serverapp, http_server_client, jp_base_url, jp_token
):
    client, base = http_server_client, jp_base_url + "ccviz/"
    ingest = f"Bearer {started.auth.ingest_token}"
    api = ["api/games", f"api/games/{GAME}", "healthz", "static/page.js", "static/nope.js"]
    for path in api:
        for auth in (None, "token wrong"):
            response = await fetch(client, base + path, auth=auth)
            assert response.code == 403, (path, auth, response.code)
    # The ingest token is not a Jupyter login, but kernels use it to read games (and act).
    expected = {
        "api/games": 200,
        f"api/games/{GAME}": 404,
        "healthz": 403,
        "static/page.js": 403,
        "static/nope.js": 403,
    }
    for path in api:
        assert (await fetch(client, base + path, auth=ingest)).code == expected[path], path
    good = f"token {jp_token}"
    assert json.loads((await fetch(client, base + "api/games", auth=good)).body) == {"games": []}
    assert (await fetch(client, base + f"api/games/{GAME}", auth=good)).code == 404
    health = await fetch(client, base + "healthz", auth=good)
    assert health.code == 200 and json.loads(health.body)["ok"] is True
    assert (await fetch(client, base + "static/page.js", auth=good)).code in (200, 503)
    assert (await fetch(client, base + "static/nope.js", auth=good)).code == 404

    # The HTML pages send a browser to Jupyter's login page, as Jupyter's own pages do.
    for path in ("", f"view/{GAME}", "ccviz"):
        url = base + path if path != "ccviz" else jp_base_url + "ccviz"
        response = await fetch(client, url)
        assert response.code == 302, (path, response.code)
        assert response.headers["Location"].startswith(jp_base_url + "login?next=")
    page = await fetch(client, base + f"view/{GAME}", auth=good)
    assert page.code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    assert '<meta name="ccviz-base" content="../">' in html  # relative: view/<id> → the mount
    assert f'<meta name="ccviz-game" content="{GAME}">' in html
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert '<meta name="ccviz-game"' not in (await fetch(client, base, auth=good)).body.decode()
    slash = await fetch(client, jp_base_url + "ccviz", auth=good)
    assert slash.code == 302 and slash.headers["Location"] == base


@BOTH
async def test_hooks_take_the_ingest_token_and_nothing_else(
    started, http_server_client, jp_base_url, jp_token
):
    client, base = http_server_client, jp_base_url + "ccviz/"
    hooks = base + "api/hooks"
    ingest = started.auth.ingest_token

    async def post(auth, body=LINES[0]):
        return await fetch(client, hooks, auth=auth, method="POST", body=body)

    assert (await post(None)).code == 401
    assert (await post("Bearer wrong")).code == 403
    assert (await post(f"token {jp_token}")).code == 401  # Jupyter's login is not the ingest role
    assert (await post(f"Bearer {jp_token}")).code == 403
    assert (await post(f"Bearer {ingest}", body="{oops")).code == 400
    # No _xsrf anywhere, yet accepted: the route skips Jupyter's XSRF check (see the module).
    for line in LINES[:3]:
        response = await post(f"Bearer {ingest}", body=line)
        assert response.code == 204 and response.body == b""

    good = f"token {jp_token}"
    snapshot = json.loads((await fetch(client, base + f"api/games/{GAME}", auth=good)).body)
    assert snapshot["gameId"] == GAME and snapshot["seq"] == 3
    games = json.loads((await fetch(client, base + "api/games", auth=good)).body)["games"]
    assert [g["gameId"] for g in games] == [GAME]
    assert started.hub.snapshot(GAME) == snapshot


@BOTH
async def test_socketio_jupyter_user_is_controller_and_strangers_are_refused(
    started, jp_serverapp, http_server_client, jp_base_url, jp_token
):
    # The odd base URL works too: the routes match "/a%40b/" and the "/a@b/" the client sends.
    for line in LINES[:5]:
        started.hub.ingest(line)
    viewer = mirror(jp_serverapp, started, headers={"Authorization": f"token {jp_token}"})
    await viewer.connect()
    try:
        assert viewer.snapshot == started.hub.snapshot(GAME) and viewer.seq == 5
        seq = await viewer.act("say", agent="main", text="hello from a notebook")
        assert seq == 6
        await viewer.wait_seq(6)
        assert viewer.snapshot == started.hub.snapshot(GAME)
        # a Jupyter user with write answers a permission request: logged under their name
        asked = {"session_id": GAME, "hook_event_name": "PermissionRequest", "tool_name": "Bash"}
        asked.update(tool_input={"command": "make"}, ccviz_request="pjupyter0001")
        started.hub.ingest(asked)
        await viewer.act("permission", request="pjupyter0001", behavior="allow")
        answered = started.hub.game(GAME).peek("permissions", "pjupyter0001")
        assert answered["state"] == "allowed"
        assert answered["by"] not in (None, "controller")  # the Jupyter user's name
        health = await fetch(
            http_server_client, jp_base_url + "ccviz/healthz", auth=f"token {jp_token}"
        )
        assert json.loads(health.body)["viewers"] == 1
    finally:
        await viewer.close()

    for kwargs in ({}, {"headers": {"Authorization": "token wrong"}}, {"token": "wrong"}):
        stranger = mirror(jp_serverapp, started, **kwargs)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await stranger.connect(timeout=5)
        await stranger.close()

    # A kernel has no Jupyter credentials but can read the ingest token: controller too.
    kernel = mirror(jp_serverapp, started, token=started.auth.ingest_token)
    await kernel.connect()
    try:
        assert await kernel.act("say", agent="main", text="from a kernel") == 9
    finally:
        await kernel.close()


@pytest.mark.parametrize(
    "jp_server_config",
    [config(authorizer_class=ReadOnly)],
)
async def test_a_read_only_jupyter_user_is_a_viewer(started, jp_serverapp, jp_token):
    started.hub.ingest(LINES[0])
    viewer = mirror(jp_serverapp, started, headers={"Authorization": f"token {jp_token}"})
    await viewer.connect()
    try:
        assert viewer.seq == 1
        with pytest.raises(ClientError, match="controller"):
            await viewer.act("say", agent="main", text="no")
    finally:
        await viewer.close()


@pytest.mark.parametrize(
    "jp_server_config",
    [config(allow_unauthenticated_access=False)],
)
async def test_with_unauthenticated_access_off(
    started, jp_serverapp, http_server_client, jp_base_url
):
    """Jupyter then refuses every undecorated handler: ours all say what they need."""
    base = jp_base_url + "ccviz/"
    ingest = started.auth.ingest_token
    hooks = base + "api/hooks"
    posted = await fetch(
        http_server_client, hooks, auth=f"Bearer {ingest}", method="POST", body=LINES[0]
    )
    assert posted.code == 204
    assert (await fetch(http_server_client, base + "api/games")).code == 403
    assert (await fetch(http_server_client, base)).code == 302
    kernel = mirror(jp_serverapp, started, token=ingest)
    await kernel.connect()
    try:
        assert kernel.seq == 1
    finally:
        await kernel.close()


async def test_websocket_handshake(
    started, jp_serverapp, http_server_client, jp_base_url, jp_token, monkeypatch
):
    url = f"ws://127.0.0.1:{jp_serverapp.port}{started.socketio_path}/?EIO=4&transport=websocket"

    # Per-message deflate is refused even when the client offers it.
    offered = HTTPRequest(url, headers={"Authorization": f"token {jp_token}"})
    conn = await websocket_connect(offered, compression_options={})
    try:
        assert "Sec-WebSocket-Extensions" not in conn.headers
        assert (await conn.read_message()).startswith("0{")  # the engine.io OPEN packet
    finally:
        conn.close()

    # A browser: Jupyter's login cookie (set by a token-authenticated page load), same origin.
    page = await fetch(http_server_client, f"{started.base}?token={jp_token}")
    cookie = page.headers["Set-Cookie"].split(";")[0]
    origin = f"http://127.0.0.1:{jp_serverapp.port}"
    conn = await websocket_connect(HTTPRequest(url, headers={"Cookie": cookie, "Origin": origin}))
    try:
        assert (await conn.read_message()).startswith("0{")
        assert (await sio_connect(conn)).packet_type == packet.CONNECT
    finally:
        conn.close()

    # Without credentials the upgrade goes through (the ingest token may follow in the
    # socket.io CONNECT), the CONNECT without it is refused, and the socket is closed when
    # nothing was accepted in time.
    monkeypatch.setattr(jupyter.socket, "AUTH_GRACE", 0.3)  # read by the handler at open
    conn = await websocket_connect(url)
    try:
        assert (await conn.read_message()).startswith("0{")
        refused = await sio_connect(conn)
        assert refused.packet_type == packet.CONNECT_ERROR
        assert refused.data == {"message": "unauthorized"}
        assert await asyncio.wait_for(conn.read_message(), 5) is None
    finally:
        conn.close()

    # Jupyter's origin check guards the handshake.
    foreign = HTTPRequest(url, headers={"Origin": "http://evil.example"})
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(foreign)
    assert refused.value.code == 403

    # Long-polling is off.
    polling = f"{started.socketio_path}/?EIO=4&transport=polling"
    answer = await fetch(http_server_client, polling, auth=f"token {jp_token}")
    assert answer.code == 400


@pytest.mark.parametrize("jp_base_url", [ODD])
async def test_runtime_file_points_the_hook_here_until_jupyter_stops(
    started, jp_serverapp, http_server_client
):
    url = f"http://127.0.0.1:{jp_serverapp.port}{ODD}ccviz/"
    assert started.url == url
    info = read_runtime()
    assert info is not None and info["url"] == url and info["kind"] == "jupyter"

    # The real hook command's delivery (its own token lookup and raw HTTP) lands here.
    status = await asyncio.to_thread(hook.post, LINES[0], time.time(), "delivery-1")
    assert status == 204
    assert started.hub.snapshot(GAME)["seq"] == 1

    viewer = mirror(jp_serverapp, started, token=started.auth.ingest_token)
    await viewer.connect()
    await ext(jp_serverapp).stop_extension()
    assert read_runtime() is None and jupyter.current() is None and started.closed
    assert await asyncio.wait_for(_disconnected(viewer), 5)
    await viewer.close()
    hooks, auth = started.base + "api/hooks", f"Bearer {started.auth.ingest_token}"
    late = await fetch(http_server_client, hooks, method="POST", body=LINES[1], auth=auth)
    assert late.code == 503  # the hook spools it for the next server
    await ext(jp_serverapp).stop_extension()  # Jupyter's own cleanup calls it again: harmless


async def sio_connect(conn) -> MsgPackPacket:
    """Send a socket.io CONNECT on a raw websocket; the server's answer."""
    await conn.write_message(MsgPackPacket(packet.CONNECT, namespace="/").encode(), binary=True)
    return MsgPackPacket(encoded_packet=await asyncio.wait_for(conn.read_message(), 5))


async def _disconnected(client: GameMirror) -> bool:
    while client.sio.connected:
        await asyncio.sleep(0.02)
    return True


SHIPPED = REPO / "jupyter-config" / "jupyter_server_config.d" / "ccviz_kernel.json"


def shipped_config() -> dict:
    """What `pip install` puts in etc/jupyter (terminals off, for speed)."""
    shipped = json.loads(SHIPPED.read_text())
    shipped["ServerApp"]["jpserver_extensions"]["jupyter_server_terminals"] = False
    return shipped


@pytest.mark.parametrize("jp_server_config", [shipped_config()])
async def test_enabled_by_the_shipped_config_under_the_package_name(jp_serverapp):
    assert json.loads(SHIPPED.read_text()) == {
        "ServerApp": {"jpserver_extensions": {"ccviz_kernel": True}}
    }
    assert isinstance(ext(jp_serverapp), jupyter.CcvizExtension)
    assert jupyter.current() is not None


async def test_kernels_read_and_act_with_the_ingest_token(started, http_server_client, jp_base_url):
    """Notebook code runs in a kernel: no Jupyter credentials, but the ingest token."""
    client, base = http_server_client, jp_base_url + "ccviz/"
    bearer = f"Bearer {started.auth.ingest_token}"
    body = json.dumps({"hook_event_name": "SessionStart", "session_id": "k1"})
    assert (
        await fetch(client, base + "api/hooks", auth=bearer, method="POST", body=body)
    ).code == 204
    games = await fetch(client, base + "api/games", auth=bearer)
    assert [g["gameId"] for g in json.loads(games.body)["games"]] == ["k1"]
    said = await fetch(
        client,
        base + "api/games/k1/actions",
        auth=bearer,
        method="POST",
        body=json.dumps({"type": "say", "agent": "main", "text": "hi"}),
    )
    assert json.loads(said.body) == {"ok": True, "seq": 2}
    rows = await fetch(client, base + "api/games/k1/events", auth=bearer)
    assert [r["event"] for r in json.loads(rows.body)["events"]] == ["SessionStart", "ccviz.say"]
    refused = await fetch(
        client, base + "api/games/k1/actions", auth="Bearer wrong", method="POST", body="{}"
    )
    assert refused.code == 403


async def test_broadcasts_go_straight_to_the_tornado_streams(started, jp_serverapp, jp_token):
    """Under Jupyter too, room broadcasts skip Engine.IO's queue (hosts/_tornado.py)."""
    frames = started.server.manager.frame_writer
    assert isinstance(frames, TornadoFrameWriter)
    direct = []
    write = frames.write
    frames.write = lambda stream, frame: (direct.append(frame), write(stream, frame))
    viewer = mirror(jp_serverapp, started, headers={"Authorization": f"token {jp_token}"})
    await viewer.connect()
    try:
        assert len(frames) == 1
        for line in LINES:
            started.hub.ingest(line)
            await asyncio.sleep(0.002)
        await viewer.wait_seq(len(LINES))
        assert viewer.snapshot == started.hub.snapshot(GAME) and viewer.rejoins == 0
        assert direct, "no frame went the fast path"
    finally:
        await viewer.close()
    for _ in range(200):
        if not len(frames):
            break
        await asyncio.sleep(0.01)
    assert len(frames) == 0  # detached when the websocket ended


# Jupyter warns (in its CORS headers) about the prefix-matching origin tried below.
@pytest.mark.filterwarnings("ignore:allow_origin_pat")
@pytest.mark.parametrize(
    "jp_server_config",
    [config(allow_origin_pat=r"https://good\.example")],
)
async def test_host_and_origin_rules_under_jupyter(
    started, jp_serverapp, http_server_client, jp_base_url, jp_token
):
    """Issue 11: a rebound name gets nothing (Jupyter's Host check), the socket.io handshake
    takes the shared Origin rule with Jupyter's allow-list, a client's "connect" event is
    refused, and a body that does not match its Content-Encoding is a 400."""
    port = jp_serverapp.port
    base = jp_base_url + "ccviz/"
    auth = f"token {jp_token}"
    rebound = await fetch(
        http_server_client, base + "api/games", auth=auth, headers={"Host": f"evil.example:{port}"}
    )
    assert rebound.code == 403
    assert (await fetch(http_server_client, base + "api/games", auth=auth)).code == 200

    url = f"ws://127.0.0.1:{port}{started.socketio_path}/?EIO=4&transport=websocket"
    page = await fetch(http_server_client, f"{started.base}?token={jp_token}")
    cookie = page.headers["Set-Cookie"].split(";")[0]

    async def handshake(**headers: str) -> int:
        try:
            conn = await websocket_connect(HTTPRequest(url, headers={"Cookie": cookie, **headers}))
        except HTTPClientError as exc:
            return exc.code
        conn.close()
        return 101

    assert await handshake(Origin=f"http://127.0.0.1:{port}") == 101  # the page's own
    assert await handshake(Origin="https://good.example") == 101  # allow_origin_pat
    assert await handshake(Origin="https://good.example.evil.example") == 403  # whole match
    assert await handshake(Origin="http://evil.example") == 403
    assert await handshake(Origin=f"http://evil.example:{port}", Host=f"evil.example:{port}") == 403

    viewer = mirror(jp_serverapp, started, headers={"Authorization": auth})
    await viewer.connect()
    try:
        ack = await viewer.sio.call("connect", {"REMOTE_ADDR": "10.0.0.1"}, timeout=5)
        assert ack["ok"] is False and "reserved" in ack["error"]
        assert viewer.sio.connected
    finally:
        await viewer.close()

    ingest = f"Bearer {started.auth.ingest_token}"
    garbled = await fetch(
        http_server_client,
        base + "api/hooks",
        auth=ingest,
        method="POST",
        body=b"not gzip",
        headers={"Content-Encoding": "gzip"},
    )
    assert garbled.code == 400


@pytest.fixture
def untrusted_home():
    """The data folder, made writable by everyone before Jupyter starts (issue 11 §7)."""
    home = os.environ["CCVIZ_HOME"]
    os.makedirs(home, exist_ok=True)
    os.chmod(home, 0o777)
    return home


async def test_a_data_folder_others_could_write_is_one_error_line_and_jupyter_runs_on(
    capfd, untrusted_home, jp_serverapp, http_server_client, jp_base_url
):
    app = ext(jp_serverapp)
    assert app.running is None and await app._ready() is False
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if "ccviz: not started" in line]
    assert len(lines) == 1 and untrusted_home in lines[0] and "chmod go-w" in lines[0]
    assert "Traceback" not in err
    status = await fetch(http_server_client, jp_base_url + "api/status", auth=None)
    assert status.code in (200, 403)  # Jupyter itself still answers
    assert read_runtime(create=False) is None  # the hook is never pointed here


# -- which server a kernel uses (notebook/discovery.py), with real kernels -----------------

#: What a cell prints: the connection's kind and URL, then why discovery decided so.
WHERE = (
    "import ccviz_kernel as ccviz\n"
    "from ccviz_kernel.notebook.discovery import discover\n"
    "c = ccviz.connect()\n"
    "print('USES', c.kind, c.url)\n"
    "print('WHY', discover().note)\n"
)


def kernel_environ(tmp_path: Path, **changes: str) -> dict[str, str]:
    """This process's environment (the server's: CCVIZ_HOME, JUPYTER_RUNTIME_DIR), with the
    kernel's IPython folder under ``tmp_path`` and no ccviz token from outside."""
    env = {k: v for k, v in os.environ.items() if k not in ("CCVIZ_TOKEN", "CCVIZ_VIEWER_TOKEN")}
    env.update(IPYTHONDIR=str(tmp_path / "ipython"), PYDEVD_DISABLE_FILE_VALIDATION="1", **changes)
    return env


async def run_cell(client, code: str, timeout: float = 60) -> str:
    """Run ``code`` in the kernel; its stdout (an error fails the test)."""
    out: list[str] = []
    errors: list[str] = []

    def hook(msg) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            (out if content["name"] == "stdout" else errors).append(content["text"])
        elif kind == "error":
            errors.append("\n".join(content["traceback"]))

    await client.execute_interactive(code, output_hook=hook, timeout=timeout)
    text = "".join(errors)
    assert "Traceback" not in text and "Error" not in text, text
    return "".join(out)


def uses(stdout: str) -> list[str]:
    return next(line for line in stdout.splitlines() if line.startswith("USES ")).split()[1:]


async def test_a_kernel_this_server_started_uses_its_ccviz(
    started, jp_serverapp, http_server_client, tmp_path
):
    from jupyter_client import AsyncKernelClient

    manager = jp_serverapp.kernel_manager
    kid = await manager.start_kernel(env=kernel_environ(tmp_path))
    client = AsyncKernelClient(connection_file=manager.get_kernel(kid).connection_file)
    client.load_connection_file()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        out = await run_cell(
            client,
            WHERE + "c.inject({'hook_event_name': 'SessionStart', 'session_id': 'own'})\n"
            "v = c.view('own')\n"
            "print('VIEW', v.transport, v.socketio_path)\n",
        )
        assert uses(out) == ["jupyter", started.url], out
        assert f"WHY it lists this kernel ({started.url.removesuffix('ccviz/')}api/kernels)" in out
        assert f"VIEW socketio {started.socketio_path}" in out  # Jupyter's own origin
        assert started.hub.snapshot("own") is not None
        status = await run_cell(client, "%load_ext ccviz_kernel\n%ccviz status")
        assert f"ccviz at {started.url}" in status and "this notebook uses: jupyter" in status
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(kid, now=True)


async def _outside_kernel(tmp_path: Path, env: dict[str, str], connection_file: str = ""):
    """A kernel started without the server: a plain KernelManager, as VS Code or a console
    starts one (``connection_file``: named as a server would name it)."""
    from jupyter_client import AsyncKernelManager

    km = AsyncKernelManager(kernel_name="python3", connection_file=connection_file)
    await km.start_kernel(env=env, cwd=str(tmp_path))
    client = km.client()
    client.start_channels()
    await client.wait_for_ready(timeout=60)
    return km, client


@pytest.mark.parametrize("named", [False, True], ids=["temporary-file", "kernel-id-file"])
async def test_a_kernel_started_elsewhere_never_takes_this_servers_ccviz(
    started, jp_serverapp, http_server_client, jp_runtime_dir, tmp_path, named
):
    """runtime.json names this server, and the kernel can read it, reach it and holds the
    token; yet its page is not this server's, so it must not use it. The server holds the
    data folder, so neither can the in-kernel host start: the kernel says why, once.

    ``named``: its connection file is ``kernel-<uuid>.json`` in the server's own runtime
    folder, and this process (the server's) is its parent too: only the server's kernel
    list tells it apart."""
    import uuid

    info = read_runtime()
    assert info is not None and info["kind"] == "jupyter" and info["url"] == started.url
    connection = str(jp_runtime_dir / f"kernel-{uuid.uuid4()}.json") if named else ""
    km, client = await _outside_kernel(tmp_path, kernel_environ(tmp_path), connection)
    why = "none of the 1 running Jupyter server(s)" if named else "no Jupyter server named"
    try:
        out = await run_cell(client, WHERE)
        assert uses(out) == ["local", "None"], out
        assert f"WHY {why}" in out
        assert f"the ccviz of the Jupyter server at {started.url}" in out
        assert "did not start this kernel" in out and "CCVIZ_HOME" in out
        again = await run_cell(client, "c = ccviz.connect()\nprint('USES', c.kind, c.url)")
        assert uses(again) == ["local", "None"] and "did not start" not in again  # said once
        status = await run_cell(client, "%load_ext ccviz_kernel\n%ccviz status")
        assert f"this kernel's Jupyter server: none ({why}" in status
    finally:
        client.stop_channels()
        await km.shutdown_kernel(now=True)


async def test_a_kernel_started_elsewhere_falls_back_to_its_own_host(
    started, jp_serverapp, http_server_client, tmp_path
):
    """The same kernel with a data folder of its own, whose runtime file still names this
    Jupyter server (last writer wins): it serves from itself instead."""
    home = tmp_path / "other-home"
    home.mkdir(mode=0o700)
    runtime = home / "runtime.json"
    runtime.write_text(json.dumps(read_runtime()))
    runtime.chmod(0o600)
    km, client = await _outside_kernel(tmp_path, kernel_environ(tmp_path, CCVIZ_HOME=str(home)))
    try:
        out = await run_cell(client, WHERE)
        kind, url = uses(out)
        assert kind == "kernel" and url.startswith("http://127.0.0.1:") and url != started.url
    finally:
        client.stop_channels()
        await km.shutdown_kernel(now=True)


async def test_the_readme_snippet_in_a_kernel_this_server_started(
    started, jp_serverapp, http_server_client, tmp_path
):
    """Issue 13: the README's Python snippet, verbatim, under the Jupyter extension: the same
    results as in a plain script and an nbclient kernel (tests/test_readme_snippet.py)."""
    from jupyter_client import AsyncKernelClient
    from test_readme_snippet import CHECK, check, readme_snippet, result_of

    manager = jp_serverapp.kernel_manager
    kid = await manager.start_kernel(env=kernel_environ(tmp_path))
    client = AsyncKernelClient(connection_file=manager.get_kernel(kid).connection_file)
    client.load_connection_file()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        out = await run_cell(client, readme_snippet() + "print('KIND', conn.kind)\n" + CHECK, 120)
        assert "KIND jupyter" in out, out  # the extension of the server that started it
        check(result_of(out))
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(kid, now=True)


@pytest.mark.skipif(
    not (REPO / "ccviz_kernel" / "static" / "manifest.json").exists(),
    reason="the front end is not built (npm run build)",
)
@pytest.mark.parametrize("jp_server_config", [config(tornado_settings={"compress_response": True})])
async def test_the_hashed_bundle_goes_out_precompressed_and_is_not_compressed_again(
    started, http_server_client, jp_base_url, jp_token
):
    import gzip
    import re

    static = REPO / "ccviz_kernel" / "static"
    good = f"token {jp_token}"
    html = (await fetch(http_server_client, jp_base_url + "ccviz/view/g", auth=good)).body
    src = re.search(rb'<script type="module" src="([^"]+)"', html).group(1).decode()
    name = src.rsplit("/", 1)[1]
    assert src == f"../static/{name}" and name != "page.js"  # relative to view/g
    src = f"{jp_base_url}ccviz/static/{name}"
    for coding, suffix in (("gzip", ".gz"), ("br", ".br")):
        r = await fetch(
            http_server_client,
            src,
            auth=good,
            headers={"Accept-Encoding": coding},
            decompress_response=False,
        )
        # tornado's compress_response gzips only what has no Content-Encoding yet
        assert (r.code, r.headers["Content-Encoding"]) == (200, coding)
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert "Accept-Encoding" in r.headers["Vary"]
        assert r.body == (static / (name + suffix)).read_bytes()
    plain = (static / "page.js").read_bytes()
    assert gzip.decompress((static / f"{name}.gz").read_bytes()) == plain
