"""The in-kernel host on a shared Redis log (issue 15): ``%ccviz serve --redis URL``.

A real ipykernel (jupyter_client, this interpreter) serves from the kernel on a real
redis-server next to a real ``ccviz serve --redis`` process: a game posted to either is seen
live by a viewer of the other. The kernel's data folder is held by a SQLite ``ccviz serve``
meanwhile: a host on Redis takes no data-folder server lock, so it starts anyway.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from common import CCVIZ, free_port, redis_server
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager
from notebooks.support import KERNEL_NAME, kernel_env
from notebooks.test_magics import Kernel
from server.test_redis_servers import LINES, Served, engine_snapshot, post, settled

from ccviz_kernel.config import ENV_REDIS_URL
from ccviz_kernel.notebook.mirror import GameMirror
from ccviz_kernel.redis_store import RedisEventStore

GAME = json.loads(LINES[0])["session_id"]
COUNT = 12
URL_RE = re.compile(r"http://127\.0\.0\.1:\d+/")
SECRET = "s3cret-pass"


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> KernelSpecManager:
    """Only our kernelspec: the kernel runs this interpreter, whatever the user has."""
    root = tmp_path_factory.mktemp("kernels")
    (root / KERNEL_NAME).mkdir()
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "ccviz tests", "language": "python"}
    (root / KERNEL_NAME / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(root)], ensure_native_kernel=False)


@pytest.fixture
def start_kernel(specs, tmp_path):
    """``start_kernel(**env)`` → a ready :class:`Kernel` with ``%load_ext ccviz_kernel``."""
    started: list[tuple[KernelManager, object]] = []

    def start(**env: str) -> Kernel:
        root = tmp_path / f"kernel{len(started)}"
        (root / "cwd").mkdir(parents=True)
        environ = {k: v for k, v in kernel_env(root).items() if k != ENV_REDIS_URL}
        km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
        km.start_kernel(env={**environ, **env}, cwd=str(root / "cwd"))
        client = km.client()
        client.start_channels()
        started.append((km, client))
        client.wait_for_ready(timeout=60)
        kernel = Kernel(client, root, root / "cwd")
        kernel.run("%load_ext ccviz_kernel").check()
        return kernel

    yield start
    for km, client in started:
        client.stop_channels()  # type: ignore[attr-defined]
        km.shutdown_kernel(now=True)


def served_url(kernel: Kernel, line: str) -> str:
    """Run ``line`` (a ``%ccviz serve``), then wait (bounded) until that host answers."""
    out = kernel.run(line).check().stdout
    match = URL_RE.search(out)
    assert match, out
    url = match.group(0)
    deadline = time.monotonic() + 15
    while True:  # the host starts once the cell has ended
        try:
            with urllib.request.urlopen(url + "healthz", timeout=1) as answer:
                if answer.status == 200:
                    return url
        except OSError:
            pass
        assert time.monotonic() < deadline, f"the in-kernel host never answered: {out}"
        time.sleep(0.05)


def test_the_kernel_host_on_redis_shares_games_with_a_team_server(start_kernel, redis, tmp_path):
    team = Served(tmp_path / "team-home", redis.url)
    kernel = start_kernel()
    home = kernel.root / "ccviz-home"
    # A SQLite server owns the kernel's data folder (its server.lock): not in the way.
    owner_port = free_port()
    owner = _serve_sqlite(home, owner_port)
    try:
        out = kernel.run(f"%ccviz serve --redis {redis.url}").check().stdout
        assert f"event log {RedisEventStore(redis.url).path}" in out
        url = served_url(kernel, "%ccviz serve")  # the same host again: prints its URL
        status = kernel.run("%ccviz status").check().stdout
        assert f"in-kernel host: serving at {url}; event log {redis.url}" in status, status
        token = (home / "token").read_text().strip()
        asyncio.run(asyncio.wait_for(_both_ways(team, url, token, redis.url), 30))
    finally:
        owner.kill()
        owner.wait(timeout=10)
        team.kill()


async def _both_ways(team: Served, kernel_url: str, token: str, redis_url: str) -> None:
    store = RedisEventStore(redis_url)
    try:
        on_kernel = await GameMirror(kernel_url, GAME).connect()
        on_team = await GameMirror(team.url, GAME).connect()
        async with aiohttp.ClientSession() as session:
            for i, line in enumerate(LINES[:COUNT]):
                assert await post(session, team, line, f"t{i}") == 204
            assert await settled(store, GAME, COUNT) == COUNT
            await on_kernel.wait_seq(COUNT, timeout=10)
            assert on_kernel.snapshot == engine_snapshot(store, GAME)
            headers = {"Authorization": f"Bearer {token}"}
            for i, line in enumerate(LINES[COUNT : 2 * COUNT]):
                hook = {**headers, "X-Ccviz-Id": f"k{i}"}
                async with session.post(kernel_url + "api/hooks", data=line, headers=hook) as r:
                    assert r.status == 204
            assert await settled(store, GAME, 2 * COUNT) == 2 * COUNT
            await on_team.wait_seq(2 * COUNT, timeout=10)
            await on_kernel.wait_seq(2 * COUNT, timeout=10)
            expected = engine_snapshot(store, GAME)
            assert on_team.snapshot == expected and on_kernel.snapshot == expected
        await on_kernel.close()
        await on_team.close()
    finally:
        store.close()


def test_the_kernel_host_reads_the_environment_and_names_a_bad_url_redacted(start_kernel, redis):
    kernel = start_kernel(**{ENV_REDIS_URL: redis.url})
    bad = f"redis://:{SECRET}@127.0.0.1:{free_port()}/0"
    out = kernel.run(f"%ccviz serve --redis {bad}").check().stdout
    assert out.startswith("%ccviz serve: cannot open event store") and "***" in out, out
    assert SECRET not in out and out.count("\n") == 1
    out = kernel.run("%ccviz serve --redis http://example.org/").check().stdout
    assert "not a Redis URL" in out and out.count("\n") == 1
    # No --redis: $CCVIZ_REDIS_URL, so the games of that Redis (written here directly).
    store = RedisEventStore(redis.url)
    try:
        for line in LINES[:3]:
            store.append("env-game", line, ts=time.time())
        url = served_url(kernel, "%ccviz serve")
        with urllib.request.urlopen(url + "api/games", timeout=5) as answer:
            games = {g["gameId"] for g in json.loads(answer.read())["games"]}
        assert "env-game" in games
    finally:
        store.close()


def _serve_sqlite(home: Path, port: int):
    """A plain ``ccviz serve`` on ``home`` (SQLite: it holds the folder's server lock)."""
    import os
    import subprocess

    home.mkdir(mode=0o700, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != ENV_REDIS_URL}
    env["CCVIZ_HOME"] = str(home)
    proc = subprocess.Popen(
        [*CCVIZ, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            assert (home / "server.lock").exists()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the SQLite server did not start")
