"""Helpers shared by tests in every folder (fixtures live in conftest.py, helpers here).

Test modules import these as ``from common import ...``: pytest puts ``tests/`` on
``sys.path`` (rootdir-relative "prepend" import mode), so no conftest is imported as a
module.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

#: Example inputs: hook payloads and transcript trees (see tests/fixtures/transcripts/README.md).
FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parent.parent

#: Debian's Chromium, driven by Playwright (never `playwright install`); WebGL through
#: SwiftShader (docs: tests need no GPU).
CHROMIUM = os.environ.get("CCVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


#: The command line, run by this interpreter (a real process, as Claude Code runs it).
CCVIZ = [sys.executable, "-m", "ccviz_kernel.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [*CCVIZ, "serve", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"server did not start: {proc.stdout.read().decode()}")


def snapshot(port: int, game: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/games/{game}", timeout=5) as r:
        return json.loads(r.read())


class StalledViewer:
    """A socket.io viewer (msgpack) on a bare socket that can stop reading: a slow viewer.

    Speaks Engine.IO v4 over a websocket by hand, so that nothing buffers for it: with its
    receive buffer kept small (``SO_RCVBUF``) and :meth:`stall` called, the server's writes
    to it back up within a few tens of KB. :meth:`catch_up` reads what came meanwhile,
    answering pings; :meth:`join` asks for a game (no ``since``: a snapshot).
    """

    def __init__(self, port: int, path: str, *, headers: dict[str, str] | None = None) -> None:
        self.port, self.path, self.headers = port, path.strip("/"), headers or {}
        self.updates: list[dict] = []
        self.acks: dict[int, list] = {}
        self._ids = 0

    async def connect(self, auth: dict | None = None) -> StalledViewer:
        import asyncio
        import base64

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.port))
        self.reader, self.writer = await asyncio.open_connection(sock=sock, limit=4096)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET /{self.path}/?EIO=4&transport=websocket HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{k}: {v}" for k, v in self.headers.items()),
        ]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101"), head
        opened = await self._frame()
        assert isinstance(opened, str) and opened.startswith("0"), opened
        self._send(self._packet(0, auth or {}))  # socket.io CONNECT
        while True:
            message = await self._frame()
            if isinstance(message, bytes):
                kind = self._decode(message)
                assert kind["type"] == 0, kind  # CONNECT accepted
                return self

    async def join(self, game_id: str, **fields) -> dict:
        self._ids += 1
        ident = self._ids
        self._send(self._packet(2, ["join-game", {"gameId": game_id, **fields}], ident))
        while ident not in self.acks:
            await self._read_one()
        return self.acks.pop(ident)[0]

    def stall(self) -> None:
        """Stop reading: from now on nothing is taken off the socket until catch_up."""

    async def catch_up(self, quiet: float = 0.5, timeout: float = 30.0) -> None:
        """Read everything that came (answering pings) until nothing more for ``quiet`` s."""
        import asyncio

        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            try:
                await asyncio.wait_for(self._read_one(), quiet)
            except asyncio.TimeoutError:
                return
        raise AssertionError("the server kept sending for the whole timeout")

    def gaps(self, start: int) -> list[tuple[int, int]]:
        """(expected from, got from) wherever an update did not follow the one before."""
        out, seq = [], start
        for update in self.updates:
            if update["from"] != seq + 1:
                out.append((seq + 1, update["from"]))
            seq = update["seq"]
        return out

    def close(self) -> None:
        self.writer.close()

    # -- Engine.IO and socket.io framing ---------------------------------------------------

    async def _read_one(self) -> None:
        message = await self._frame()
        if message == "2":
            self._send("3", text=True)  # Engine.IO pong
        elif isinstance(message, bytes):
            pkt = self._decode(message)
            if pkt["type"] == 3:  # ACK
                self.acks[pkt["id"]] = pkt["data"]
            elif pkt["type"] == 2 and pkt["data"][0] == "game-state-update":
                self.updates.append(pkt["data"][1])

    async def _frame(self) -> str | bytes:
        head = await self.reader.readexactly(2)
        n = head[1] & 0x7F
        if n == 126:
            n = int.from_bytes(await self.reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await self.reader.readexactly(8), "big")
        payload = await self.reader.readexactly(n)
        return payload.decode() if head[0] & 0x0F == 1 else payload

    def _send(self, payload: str | bytes, text: bool = False) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        mask = os.urandom(4)
        n = len(data)
        size = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.writer.write(bytes([0x81 if text else 0x82]) + size + mask + body)

    @staticmethod
    def _packet(kind: int, data, ident: int | None = None) -> bytes:
        import msgpack

        pkt = {"type": kind, "nsp": "/", "data": data}
        if ident is not None:
            pkt["id"] = ident
        return msgpack.packb(pkt)

    @staticmethod
    def _decode(message: bytes) -> dict:
        import msgpack

        return msgpack.unpackb(message, strict_map_key=False)


def busy_game(game_id: str, count: int) -> list[dict]:
    """A SessionStart then ``count`` Bash calls: hook payloads that make full-sized updates."""
    base = {"session_id": game_id, "cwd": "/home/dev/pixel-quest"}
    events = [{**base, "hook_event_name": "SessionStart", "source": "startup"}]
    for n in range(count):
        command = f"echo step {n} && " + "make -C build all " * 4
        call = {"tool_name": "Bash", "tool_use_id": f"toolu_{n}"}
        events.append(
            {**base, "hook_event_name": "PreToolUse", **call, "tool_input": {"command": command}}
        )
    return events


async def slow_viewer_is_skipped_and_recovers(server, port: int, path: str, fast, **headers):
    """On a live host: ``fast`` (a joined GameMirror) gets every update on the fast path
    while a viewer that stops reading is skipped, never queued without bound, and a re-join
    brings it back with a snapshot equal to the server's. Returns the manager's counters."""
    import asyncio

    manager, hub, game = server.manager, server.hub, fast.game_id
    manager.slow_bytes, manager.slow_queue = 16_384, 8
    slow = await StalledViewer(port, path, headers=headers).connect()
    joined = await slow.join(game)
    assert joined["ok"], joined
    start = joined["snapshot"]["seq"]
    fast_sid = fast.sio.eio.sid
    (slow_sid,) = [sid for sid in server.sio.eio.sockets if sid != fast_sid]
    connection = manager.frame_writer.ready(server.sio.eio.sockets[slow_sid])
    assert connection is not None, "the slow viewer's connection is not on the fast path"
    raw = connection.get_extra_info("socket") if hasattr(connection, "get_extra_info") else None
    (raw or connection.socket).setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    slow.stall()
    direct, skipped = manager.direct, manager.skipped
    events = busy_game(game, 3000)[1:]
    for n, event in enumerate(events):  # bounded: at most 3000 events
        hub.ingest(event)
        if n % 40 == 39:
            await asyncio.sleep(0.01)  # a frame goes out now and then
            if manager.skipped > skipped and n > 400:
                break
    final = hub.game(game).seq
    await fast.wait_seq(final, timeout=30)
    assert fast.snapshot == hub.snapshot(game) and fast.rejoins == 0
    assert manager.skipped > skipped, "the stalled viewer was never skipped"
    assert manager.direct - direct >= fast.updates // 2, "the fast viewer missed the fast path"
    for queue in (s.queue for s in server.sio.eio.sockets.values()):
        assert queue.qsize() <= manager.slow_queue  # never queued without bound
    await slow.catch_up()
    hub.ingest(busy_game(game, 3001)[-1])  # the next update shows the gap
    await slow.catch_up()
    assert slow.updates[-1]["seq"] == hub.game(game).seq
    assert slow.gaps(start), "a skipped viewer sees a gap in seq"
    again = await slow.join(game)  # what a client does on a gap: re-join
    assert again["ok"] and again["snapshot"] == hub.snapshot(game)
    slow.close()
    return {"direct": manager.direct, "queued": manager.queued, "skipped": manager.skipped}


class RedisServer:
    """A real ``redis-server`` (Debian's package) on a loopback port, its data in ``folder``
    (append-only file on, no snapshots): :meth:`stop` shuts it down cleanly (SHUTDOWN writes
    the AOF), :meth:`start` brings it back on the same folder and port."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder, self.port = Path(folder), port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        import shutil

        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (make system installs it)")
        self.folder.mkdir(parents=True, exist_ok=True)
        args = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "yes", "--dir", str(self.folder)]
        args += ["--logfile", str(self.folder / "redis.log"), "--daemonize", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if self.command("PING") == b"+PONG\r\n":
                    return self
            except OSError:
                pass
            time.sleep(0.02)
        self.kill()
        log = self.folder / "redis.log"
        raise RuntimeError(f"redis-server did not start: {log.read_text() if log.exists() else ''}")

    def command(self, *words: str) -> bytes:
        """Send one command (RESP) and return the raw first reply; b"" if the server closed."""
        parts = [f"*{len(words)}\r\n"] + [f"${len(w.encode())}\r\n{w}\r\n" for w in words]
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall("".join(parts).encode())
            return s.recv(65536)

    def stop(self, timeout: float = 10.0) -> None:
        """SHUTDOWN (the AOF is flushed and fsynced), then wait for the process to end."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.command("SHUTDOWN")
        except OSError:
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


def redis_server(folder: Path):
    """``with redis_server(tmp) as server:`` a started :class:`RedisServer`, killed at the end."""
    from contextlib import contextmanager

    @contextmanager
    def running():
        server = RedisServer(folder).start()
        try:
            yield server
        finally:
            server.kill()

    return running()


def run_together(commands: list[list[str]], timeout: float = 30.0) -> None:
    """Start every command, wait until each prints "ready", send them all "go" at once (so
    their work really interleaves), and require that each exits 0 within ``timeout``."""
    procs = [
        subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
        for cmd in commands
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            assert p.wait(timeout=timeout) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)


#: Environment a `ccviz serve` process must not inherit from the test run.
SERVE_SCRUBBED = ("CCVIZ_TOKEN", "CCVIZ_VIEWER_TOKEN", "CCVIZ_REDIS_URL", "CCVIZ_URL")


class ServeProcess:
    """A real ``ccviz serve`` process on a free loopback port with its own data folder
    ``home`` (created), started with ``args``, ready once ``{base}healthz`` answers."""

    def __init__(self, home: Path, *args: str, base: str = "/") -> None:
        self.home = Path(home)
        self.port = free_port()
        self.home.mkdir(mode=0o700, exist_ok=True)  # again: a restart on the same folder
        env = {k: v for k, v in os.environ.items() if k not in SERVE_SCRUBBED}
        env["CCVIZ_HOME"] = str(self.home)
        self.env = env
        self.log_path = self.home.parent / f"{self.home.name}.log"
        self.output = open(self.log_path, "wb")  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(
            [*CCVIZ, "serve", "--port", str(self.port), *args],
            stdout=self.output,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.url = f"http://127.0.0.1:{self.port}{base}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                urllib.request.urlopen(self.url + "healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        else:
            self.kill()
            raise RuntimeError(f"server did not start: {self.log()}")
        self.token = (self.home / "token").read_text().strip()

    def log(self) -> str:
        if not self.output.closed:
            self.output.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.output.close()


#: What :func:`start_proxy` passes on, each way (a real proxy passes more; these suffice).
PROXY_PASSED = (
    "host",
    "origin",
    "accept",
    "accept-encoding",
    "if-none-match",
    "user-agent",
    "authorization",
    "content-type",
    "x-ccviz-id",
    "x-ccviz-time",
)
PROXY_RETURNED = ("content-type", "cache-control", "etag", "content-encoding", "vary", "location")


async def start_proxy(
    upstream: str, prefix: str, *, port: int = 0, ssl_context=None, bodies: list | None = None
):
    """A reverse proxy on 127.0.0.1 that maps ``prefix`` to ``upstream`` (plain HTTP and
    websockets), as jupyter-server-proxy or a team's nginx does; with ``ssl_context`` it
    terminates TLS; ``bodies`` collects each POST's body as it passes. Returns
    ``(runner, its URL of prefix)``."""
    import asyncio

    import aiohttp
    from aiohttp import web

    session = aiohttp.ClientSession(auto_decompress=False)

    async def forward(request: web.Request):
        target = upstream + request.match_info["tail"]
        if request.query_string:
            target += "?" + request.query_string
        headers = {k: v for k, v in request.headers.items() if k.lower() in PROXY_PASSED}
        if request.headers.get("Upgrade", "").lower() == "websocket":
            down = web.WebSocketResponse()
            await down.prepare(request)
            async with session.ws_connect(target.replace("http", "ws", 1), headers=headers) as up:

                async def pump(source, sink) -> None:
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
        data = await request.read()
        if bodies is not None and request.method == "POST":
            bodies.append(data)
        async with session.request(
            request.method, target, headers=headers, data=data, allow_redirects=False
        ) as answer:
            body = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() in PROXY_RETURNED}
            return web.Response(status=answer.status, body=body, headers=kept)

    app = web.Application()
    app.router.add_route("*", prefix + "{tail:.*}", forward)
    app.on_cleanup.append(lambda _app: session.close())
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=ssl_context)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - a test's own server
    scheme = "https" if ssl_context is not None else "http"
    return runner, f"{scheme}://{'localhost' if ssl_context else '127.0.0.1'}:{bound}{prefix}"


#: The times in a snapshot: when its events came (a live game's are the server's clock, a
#: replayed file's those the file holds, or none).
SNAPSHOT_TIMES = ("startedAt", "lastEventAt")
PERMISSION_TIMES = ("askedAt", "answeredAt")


def without_times(snapshot: dict) -> dict:
    """``snapshot`` without its times (:data:`SNAPSHOT_TIMES`, the permission requests')."""
    out = {k: v for k, v in snapshot.items() if k not in SNAPSHOT_TIMES}
    if "permissions" in out:
        out["permissions"] = {
            rid: {k: v for k, v in r.items() if k not in PERMISSION_TIMES}
            for rid, r in out["permissions"].items()
        }
    return out


# -- what Claude Code posts when it waits for a person (tests/e2e/PERMISSIONS.md) ----------

#: Claude Code's own suggestion for a Write in the project (``permission_suggestions``).
SUGGEST_EDITS = [{"type": "setMode", "mode": "acceptEdits", "destination": "session"}]
#: The decision "always allow Write" gives Claude Code: a rule for the rest of the session.
ALWAYS_ALLOW_WRITE = {
    "behavior": "allow",
    "updatedPermissions": [
        {
            "type": "addRules",
            "rules": [{"toolName": "Write"}],
            "behavior": "allow",
            "destination": "session",
        }
    ],
}
#: AskUserQuestion's ``tool_input``: one question, two options.
ASK_COLOUR = {
    "questions": [
        {
            "question": "Which colour?",
            "header": "Colour",
            "options": [
                {"label": "Red", "description": "warm"},
                {"label": "Blue", "description": "cool"},
            ],
            "multiSelect": False,
        }
    ]
}


def permission_request(
    session: str, tool: str = "Write", tool_input: dict | None = None, **more
) -> dict:
    """A ``PermissionRequest`` as Claude Code 2.1.332 posts it (no ``tool_use_id``); a Write
    of ``a.txt`` in ``/home/dev/project`` unless told; ``more`` adds or replaces fields."""
    return {
        "session_id": session,
        "transcript_path": f"/nonexistent/{session}.jsonl",
        "cwd": "/home/dev/project",
        "prompt_id": "ecec3f41-0000-4000-8000-000000000000",
        "permission_mode": "default",
        "effort": {"level": "medium"},
        "hook_event_name": "PermissionRequest",
        "tool_name": tool,
        "tool_input": {"file_path": "/home/dev/project/a.txt", "content": "A\n"}
        if tool_input is None
        else tool_input,
        **more,
    }


def elicitation_request(session: str, server: str = "colours", **more) -> dict:
    """An MCP server's form (``Elicitation``) as Claude Code 2.1.332 posts it: a colour to
    pick (required) and a count."""
    return {
        "session_id": session,
        "transcript_path": f"/nonexistent/{session}.jsonl",
        "cwd": "/home/dev/project",
        "hook_event_name": "Elicitation",
        "mcp_server_name": server,
        "message": "Pick a colour",
        "mode": "form",
        "requested_schema": {
            "type": "object",
            "properties": {
                "colour": {"type": "string", "enum": ["red", "blue"]},
                "count": {"type": "integer", "title": "How many"},
            },
            "required": ["colour"],
        },
        **more,
    }
