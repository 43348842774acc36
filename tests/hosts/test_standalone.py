"""``ccviz serve`` as a team service runs it: under a ``--base-url`` prefix, and drained on
SIGTERM (stop accepting, flush, close viewers with a reconnect hint). Real processes on
127.0.0.1, real hooks (``ccviz hook``), real socket.io clients."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from common import CCVIZ, FIXTURES, ServeProcess

from ccviz_kernel.notebook.mirror import GameMirror

LINES = (FIXTURES / "hook-payloads.jsonl").read_text().splitlines()
GAME = json.loads(LINES[0])["session_id"]


def post(server: ServeProcess, line: str) -> int:
    request = urllib.request.Request(
        server.url + "api/hooks",
        data=line.encode(),
        headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return answer.status


def test_base_url_serves_everything_under_the_prefix_and_hooks_find_it(tmp_path):
    server = ServeProcess(tmp_path / "home", "--base-url", "team/a", base="/team/a/")
    try:
        runtime = json.loads((server.home / "runtime.json").read_text())
        assert runtime["url"] == server.url  # what hooks and notebooks read
        hook = subprocess.run(
            [*CCVIZ, "hook"], input=LINES[0].encode(), env=server.env, timeout=30, check=True
        )
        assert hook.returncode == 0
        games = urllib.request.urlopen(server.url + "api/games", timeout=5).read()
        assert GAME in games.decode()
        root = f"http://127.0.0.1:{server.port}/"
        for start in (root, root + "team/a"):
            with urllib.request.urlopen(start, timeout=5) as answer:
                assert answer.geturl() == server.url  # redirected to the prefix
        with pytest.raises(urllib.error.HTTPError) as outside:
            urllib.request.urlopen(root + "api/games", timeout=5)
        assert outside.value.code == 404

        async def watch() -> dict:
            async with GameMirror(server.url, GAME) as mirror:  # socket.io under the prefix
                assert post(server, LINES[1]) == 204
                await mirror.wait_seq(2)
                return mirror.snapshot

        assert asyncio.run(watch())["seq"] >= 2
    finally:
        server.kill()


def test_a_bad_base_url_is_refused_before_anything_starts(tmp_path):
    run = subprocess.run(
        [*CCVIZ, "serve", "--base-url", "/a b/../"], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 2
    assert "a base URL is a path such as /team/" in run.stderr


def test_sigterm_drains_flushes_and_hints_every_viewer_to_reconnect(tmp_path):
    server = ServeProcess(tmp_path / "home")
    try:

        async def drain() -> tuple[list[GameMirror], float]:
            assert post(server, LINES[0]) == 204
            mirrors = [await GameMirror(server.url, GAME).connect() for _ in range(3)]
            for line in LINES[1:]:
                assert post(server, line) == 204
            sent = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)  # at once: updates are still pending
            deadline = time.monotonic() + 10
            while any(m.closing is None for m in mirrors) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)  # the connections close behind the hint
            for mirror in mirrors:
                await mirror.close()
            return mirrors, sent

        mirrors, sent = asyncio.run(drain())
        assert server.proc.wait(timeout=10) == 0
        took = time.monotonic() - sent
        for mirror in mirrors:
            assert mirror.seq == len(LINES)  # every update flushed before the connection closed
            assert mirror.closing["reason"] == "shutdown"
            assert 0 <= mirror.closing["retryAfterMs"] <= 2000
        assert not (server.home / "runtime.json").exists()  # hooks spool from now on
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), 1):
            pass
        assert took < 8, took
        assert "Traceback" not in server.log()
    finally:
        server.kill()
