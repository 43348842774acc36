"""``ccviz serve`` as a team service runs it: under a ``--base-url`` prefix, and drained on
SIGTERM (stop accepting, flush, close viewers with a reconnect hint). Real processes on
127.0.0.1, real hooks (``ccviz hook``), real socket.io clients."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest
from common import CCVIZ, FIXTURES, SERVE_SCRUBBED, ServeProcess

from ccviz_kernel.config import STORE_FILE
from ccviz_kernel.notebook.mirror import GameMirror
from ccviz_kernel.store import EventStore

LINES = (FIXTURES / "hook-payloads.jsonl").read_text().splitlines()
GAME = json.loads(LINES[0])["session_id"]


def post(server: ServeProcess | SimpleNamespace, line: str, delivery: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    if delivery is not None:
        headers["X-Ccviz-Id"] = delivery
    request = urllib.request.Request(server.url + "api/hooks", data=line.encode(), headers=headers)
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


#: A ``ccviz serve`` whose reorder window holds for a minute, so that a test can kill it
#: while it holds an event whatever the machine's load (the window is a quarter second).
HOLDING_SERVER = """
import asyncio
from ccviz_kernel.hosts.standalone import start

async def main():
    host = await start("127.0.0.1", 0)
    host.hub.reorder.window = 60.0
    print(host.url, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""
#: The fixture's first event the window holds (it came before its cause).
HELD_AT = 15


def test_a_server_killed_while_it_holds_an_answered_hook_loses_nothing(tmp_path):
    """The reorder window holds an event whose hook got its 204 already; kill -9 the server
    then, and the next server on the data folder logs it at its start, once, in its place."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if k not in SERVE_SCRUBBED}
    env["CCVIZ_HOME"] = str(home)
    victim = subprocess.Popen(
        [sys.executable, "-c", HOLDING_SERVER], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert victim.stdout is not None
        url = victim.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        server = SimpleNamespace(url=url, token=(home / "token").read_text().strip())
        for n, line in enumerate(LINES[: HELD_AT + 1]):
            assert post(server, line, f"d-{n}") == 204
        with EventStore(home / STORE_FILE) as store:
            assert store.last_seq(GAME) == HELD_AT  # the last one is held, in memory...
            held = store.overdue_held(float("inf"))
            assert [key for _, key, _, _ in held] == [f"d-{HELD_AT}"]  # ...and in the store
    finally:
        victim.kill()
        victim.wait(10)
    again = ServeProcess(home)
    try:
        with EventStore(home / STORE_FILE) as store:
            assert store.last_seq(GAME) == HELD_AT + 1  # logged before the port opened
            assert store.overdue_held(float("inf")) == []
        assert "logged a held hook event of game" in again.log()
        assert post(again, LINES[HELD_AT], f"d-{HELD_AT}") == 204  # Claude Code's retry
        for n, line in enumerate(LINES[HELD_AT + 1 :], HELD_AT + 1):
            assert post(again, line, f"d-{n}") == 204
        deadline = time.monotonic() + 10
        with EventStore(home / STORE_FILE) as store:
            while store.last_seq(GAME) < len(LINES) and time.monotonic() < deadline:
                time.sleep(0.05)
            names = [json.loads(e.payload)["hook_event_name"] for e in store.events(GAME)]
        sent = [json.loads(line)["hook_event_name"] for line in LINES]
        assert names[: HELD_AT + 1] == sent[: HELD_AT + 1]  # the held one in its place
        assert sorted(names) == sorted(sent)  # each once (the window orders the rest)
    finally:
        again.kill()
