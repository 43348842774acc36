"""The Jupyter extension on a shared Redis log (issue 15): ``c.CcvizExtension.redis_url``.

A real jupyter_server (pytest-jupyter) with the extension on a real redis-server, and a
real ``ccviz serve --redis`` process on the same Redis: a hook POSTed to either is seen live
by a socket.io viewer on the other, with the same seq. A URL that cannot be used is one
error line in Jupyter's log (the password redacted) and Jupyter runs on without ccviz.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os

import aiohttp
import pytest
from common import free_port, redis_server
from server.test_redis_servers import LINES, Served, engine_snapshot, post, settled

from ccviz_kernel.hosts import jupyter
from ccviz_kernel.notebook.mirror import GameMirror
from ccviz_kernel.redis_store import RedisEventStore
from ccviz_kernel.runtime import read_runtime

from .test_jupyter import config, ext, fetch

GAME = json.loads(LINES[0])["session_id"]
#: Hooks per direction: enough to see updates arrive in order, few enough to stay fast.
COUNT = 12
SECRET = "s3cret-pass"


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    """One redis-server for the module: it must outlive each test's Jupyter server, which
    pytest-jupyter's autouse clean-up stops after every function-scoped fixture is gone."""
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def jp_server_config(redis):
    return {**config(), "CcvizExtension": {"redis_url": redis.url}}


@pytest.fixture
def team(tmp_path, redis):
    """A standalone ``ccviz serve --redis`` process on the same Redis (its own data folder)."""
    served = Served(tmp_path / "team-home", redis.url)
    try:
        yield served
    finally:
        served.kill()


@pytest.fixture
def started(jp_serverapp, http_server_client, jp_asyncio_loop):
    running = jupyter.current()
    assert running is not None
    jp_asyncio_loop.run_until_complete(running.ready())
    return running


def jupyter_mirror(serverapp, running, game: str = GAME) -> GameMirror:
    """A viewer on the extension that proves itself as a kernel does (the ingest token)."""
    return GameMirror(
        f"http://127.0.0.1:{serverapp.port}",
        game,
        socketio_path=running.socketio_path,
        token=running.auth.ingest_token,
    )


class Order:
    """The seqs a mirror's updates covered, in the order they came."""

    def __init__(self, mirror: GameMirror) -> None:
        self.seqs: list[int] = []
        mirror.on_raw.append(self._saw)

    def _saw(self, kind: str, data: dict) -> None:
        if kind == "update":
            self.seqs.extend(range(data["from"], data["seq"] + 1))


async def test_a_hook_to_the_team_server_is_seen_live_on_jupyter_and_back(
    capfd, started, team, redis, jp_serverapp, http_server_client, jp_base_url
):
    assert isinstance(started.hub.store, RedisEventStore)
    store = RedisEventStore(redis.url)
    try:
        # A viewer on Jupyter waits for a game only the team server will ever see.
        viewer = await jupyter_mirror(jp_serverapp, started).connect()
        seen = Order(viewer)
        team_viewer = await GameMirror(team.url, GAME).connect()
        async with aiohttp.ClientSession() as session:
            for i, line in enumerate(LINES[:COUNT]):
                assert await post(session, team, line, f"t{i}") == 204
            assert await settled(store, GAME, COUNT) == COUNT
            await viewer.wait_seq(COUNT, timeout=10)
            assert viewer.snapshot == engine_snapshot(store, GAME)
            if viewer.rejoins == 0:  # a re-join over a gap is allowed, never a wrong order
                assert seen.seqs == list(range(1, COUNT + 1))

            # ... and back: hooks to Jupyter's api/hooks reach the team server's viewer.
            hooks = jp_base_url + "ccviz/api/hooks"
            ingest = f"Bearer {started.auth.ingest_token}"
            for line in LINES[COUNT : 2 * COUNT]:
                answer = await fetch(
                    http_server_client, hooks, auth=ingest, method="POST", body=line
                )
                assert answer.code == 204
            assert await settled(store, GAME, 2 * COUNT) == 2 * COUNT
            await team_viewer.wait_seq(2 * COUNT, timeout=10)
            await viewer.wait_seq(2 * COUNT, timeout=10)
            expected = engine_snapshot(store, GAME)
            assert team_viewer.snapshot == expected and viewer.snapshot == expected
            assert started.hub.snapshot(GAME) == expected
            # The lobby of either shows the other's games.
            solo = json.dumps({"hook_event_name": "SessionStart", "session_id": "solo"})
            assert await post(session, team, solo, "solo-1") == 204
            await settled(store, "solo", 1)
            games = await _until_listed(viewer, "solo")
            assert {g["gameId"] for g in games} == {GAME, "solo"}
        await viewer.close()
        await team_viewer.close()
    finally:
        store.close()
    # Jupyter's log names the log by its (redacted) path; ccviz's own loggers go there too.
    err = capfd.readouterr().err
    assert f"ccviz: event log {store.path}" in err
    for token in (started.auth.ingest_token, team.token):
        assert token not in err
    assert read_runtime(create=False)["kind"] == "jupyter"


async def _until_listed(viewer: GameMirror, game: str) -> list[dict]:
    for _ in range(100):  # bounded: 5 s
        games = (await viewer.sio.call("list-games", {}, timeout=5))["games"]
        if any(g["gameId"] == game for g in games):
            return games
        await asyncio.sleep(0.05)
    raise AssertionError(f"{game} never listed")


async def test_ccviz_records_go_to_jupyters_log(started, jp_serverapp, http_server_client):
    """A ``ccviz.*`` record is handled by the Jupyter server's logger (its handlers, its
    format); tests/browser/test_jupyter_server_proxy.py reads a real server's stderr."""
    got: list[logging.LogRecord] = []
    catch = logging.Handler()
    catch.emit = got.append  # type: ignore[method-assign]
    jp_serverapp.log.addHandler(catch)
    try:
        logging.getLogger("ccviz.server").warning("ccviz-to-jupyter check %s", "ok")
        logging.getLogger("ccviz.server").warning("pasted %s", started.auth.ingest_token)
    finally:
        jp_serverapp.log.removeHandler(catch)
    assert [(r.name, r.getMessage()) for r in got] == [
        ("ccviz.server", "ccviz-to-jupyter check ok"),
        ("ccviz.server", "pasted [token]"),
    ]


@pytest.fixture
def unreachable():
    """A Redis URL where nothing listens, with a password that must never be printed."""
    return f"redis://:{SECRET}@127.0.0.1:{free_port()}/0"


@pytest.mark.parametrize("bad", ["unreachable", "not-a-url"])
def test_an_unusable_redis_url_is_one_error_line_and_jupyter_runs_on(bad, request, capfd):
    url = request.getfixturevalue("unreachable") if bad == "unreachable" else "redis:/" + SECRET
    request.getfixturevalue("jp_server_config")["CcvizExtension"] = {"redis_url": url}
    serverapp = request.getfixturevalue("jp_serverapp")
    client = request.getfixturevalue("http_server_client")
    loop = request.getfixturevalue("jp_asyncio_loop")
    assert ext(serverapp).running is None and jupyter.current() is None
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if "ccviz: not started" in line]
    assert len(lines) == 1, err
    # Jupyter's own debug line prints its config as given (hence the environment variable
    # for a URL with a password); no line of ccviz's has it.
    leaks = [line for line in err.splitlines() if SECRET in line]
    assert all("Config changed:" in line for line in leaks), leaks
    assert "Traceback" not in err
    if bad == "unreachable":
        assert "127.0.0.1" in lines[0] and "***" in lines[0]  # which server, redacted
    else:
        assert "redis://" in lines[0]  # what a Redis URL looks like
    base = request.getfixturevalue("jp_base_url")
    status = loop.run_until_complete(fetch(client, base + "api/status"))
    assert status.code in (200, 403)  # Jupyter itself still answers
    health = loop.run_until_complete(fetch(client, base + "ccviz/healthz"))
    assert health.code in (403, 404)  # no ccviz routes
    assert read_runtime(create=False) is None


def test_the_trait_defaults_to_the_environment(monkeypatch, redis):
    from ccviz_kernel.config import ENV_REDIS_URL

    monkeypatch.setenv(ENV_REDIS_URL, f" {redis.url} ")
    assert jupyter.CcvizExtension().redis_url == redis.url
    monkeypatch.delenv(ENV_REDIS_URL)
    assert jupyter.CcvizExtension().redis_url == ""
    assert os.environ.get(ENV_REDIS_URL) is None
