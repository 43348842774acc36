"""Hooks to a team server (``CCVIZ_URL``) over https, with the spool as fallback and
``ccviz forward`` sending it on in firing order (cli/forward.py).

Real parts: a ``ccviz serve --base-url /team/`` process, a TLS-terminating reverse proxy in
front of it (as a team would run nginx) with a test CA (trustme), ``ccviz hook`` processes
with their own data folder (no local server), and the forwarder they start.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from common import CCVIZ, FIXTURES, ServeProcess, free_port, start_proxy

trustme = pytest.importorskip("trustme")

LINES = (FIXTURES / "hook-payloads.jsonl").read_text().splitlines()
GAME = json.loads(LINES[0])["session_id"]
PREFIX = "/team/"


class TlsProxy:
    """:func:`common.start_proxy` with TLS, on its own loop in a thread."""

    def __init__(self, upstream: str, ca, port: int = 0) -> None:
        #: Every POST body that went through, in the order it came.
        self.bodies: list[bytes] = []
        import ssl

        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost").configure_cert(self.context)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        coro = start_proxy(
            upstream, PREFIX, port=port, ssl_context=self.context, bodies=self.bodies
        )
        self.runner, self.url = asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def team(tmp_path):
    """The team server, the CA the clients trust, and a client data folder."""
    server = ServeProcess(tmp_path / "server", "--base-url", PREFIX, base=PREFIX)
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    client = tmp_path / "client"
    client.mkdir(mode=0o700)
    try:
        yield server, ca, ca_file, client
    finally:
        server.kill()


def hook_env(client: Path, url: str, ca_file: Path, token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCVIZ_")}
    env.update(CCVIZ_HOME=str(client), CCVIZ_URL=url, CCVIZ_TOKEN=token)
    env["SSL_CERT_FILE"] = str(ca_file)  # the system trust store plus nothing: only our CA
    return env


def run_hook(line: str, env: dict[str, str]) -> None:
    subprocess.run([*CCVIZ, "hook"], input=line.encode(), env=env, timeout=30, check=True)


def stored(server: ServeProcess) -> list[dict]:
    request = urllib.request.Request(
        f"{server.url}api/games/{GAME}/events",
        headers={"Authorization": f"Bearer {server.token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())["events"]
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise


def settled(server: ServeProcess, timeout: float = 30.0) -> list[dict]:
    """The stored events once all of the fixture is in (the reorder window may hold some)."""
    deadline = time.monotonic() + timeout
    while len(events := stored(server)) < len(LINES) and time.monotonic() < deadline:
        time.sleep(0.1)
    return events


def forwarder_done(client: Path, timeout: float = 30.0) -> None:
    """Wait until no ``ccviz forward`` holds the client's forward lock."""
    from ccviz_kernel.runtime import lock_fd, unlock_fd

    deadline = time.monotonic() + timeout
    fd = os.open(client / "forward.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while time.monotonic() < deadline:
            if lock_fd(fd, wait=False):
                unlock_fd(fd)
                return
            time.sleep(0.1)
        raise AssertionError("ccviz forward is still running")
    finally:
        os.close(fd)


def test_hooks_reach_a_team_server_over_https(team):
    server, ca, ca_file, client = team
    proxy = TlsProxy(server.url, ca)
    try:
        env = hook_env(client, proxy.url, ca_file, server.token)
        for line in LINES:
            run_hook(line, env)
        events = settled(server)
        forwarder_done(client)
        assert [e["seq"] for e in events] == list(range(1, len(LINES) + 1))
        assert not list(client.glob("spool.jsonl*"))  # all sent, nothing left behind
    finally:
        proxy.close()


def test_a_server_that_is_down_gets_every_event_later_in_order_once(team):
    server, ca, ca_file, client = team
    port = free_port()  # the proxy's port, nobody listening yet
    env = hook_env(client, f"https://localhost:{port}{PREFIX}", ca_file, server.token)
    for line in LINES[:10]:
        run_hook(line, env)
    assert (client / "spool.jsonl").exists() or list(client.glob("spool.jsonl.*.work"))
    proxy = TlsProxy(server.url, ca, port=port)
    try:
        for line in LINES[10:]:  # while the forwarder catches up: these queue behind
            run_hook(line, env)
        events = settled(server)
        forwarder_done(client)
        names = [json.loads(line)["hook_event_name"] for line in LINES]
        assert [e["seq"] for e in events] == list(range(1, len(LINES) + 1))
        got = [e["event"] for e in events]
        assert sorted(got) == sorted(names)  # each once (what the server stores)
        # sent in firing order (the server's reorder window may then move a held event by
        # a few places, as for hooks posted directly); a resend would be one more POST of
        # the same event, which the server stores once
        sent = [json.loads(body)["hook_event_name"] for body in proxy.bodies]
        assert sent == names
    finally:
        proxy.close()


def test_a_wrong_token_keeps_the_events_in_the_spool(team):
    server, ca, ca_file, client = team
    proxy = TlsProxy(server.url, ca)
    try:
        env = hook_env(client, proxy.url, ca_file, "not-the-token")
        run_hook(LINES[0], env)
        forwarder_done(client)
        assert stored(server) == []
        kept = list(client.glob("spool.jsonl*"))
        assert kept and LINES[0].split('"session_id"')[0] in kept[0].read_text()
        assert "not-the-token" not in "".join(p.read_text() for p in kept)
    finally:
        proxy.close()
