"""The browser's own mirror and socket.io client (widgets/src/mirror.ts and socket.ts, run in
Node by tests/js/client.mjs) against the Python server.

The JS client mirrors a game with the views' twin of ``apply_deltas`` and must end up holding
exactly the engine's snapshot, over both serializers, whether it joined early, late or with
``since``; and a server-side disconnect must reach it as a clean ``io server disconnect``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import aiohttp
import pytest
from common import FIXTURES

from ccviz_kernel.hosts.standalone import start

JS_DIR = Path(__file__).resolve().parents[1] / "js"
CLIENT = JS_DIR / "client.mjs"
WIDGETS = Path(__file__).resolve().parents[2] / "widgets"  # its node_modules serve client.mjs
LINES = (FIXTURES / "hook-payloads.jsonl").read_text().splitlines()
GAME = json.loads(LINES[0])["session_id"]
MODES = ["msgpack", "json"]


@pytest.fixture(scope="session")
def node() -> str:
    """The node binary, with widgets/node_modules installed once per session."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the JS client test")
    needed = ("esbuild", "socket.io-client", "socket.io-msgpack-parser")
    if not all((WIDGETS / "node_modules" / name).is_dir() for name in needed):
        command = "ci" if (WIDGETS / "package-lock.json").exists() else "install"
        done = subprocess.run(
            [npm, command, "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=WIDGETS,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            pytest.fail(f"npm {command} in {WIDGETS} failed:\n{done.stdout}\n{done.stderr}")
    return node


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 90))


class JsClient:
    """One ``node client.mjs`` process; reads its JSON lines."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def spawn(cls, node: str, url: str, mode: str, *options: str) -> JsClient:
        proc = await asyncio.create_subprocess_exec(
            node,
            str(CLIENT),
            url,
            GAME,
            mode,
            *options,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        return cls(proc)

    async def line(self, timeout: float = 30.0) -> dict:
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not raw:
            err = await self.proc.stderr.read()
            raise AssertionError(f"the JS client ended without a line; stderr:\n{err.decode()}")
        record = json.loads(raw)
        assert record["event"] != "error", record
        return record

    async def finish(self) -> int:
        try:
            return await asyncio.wait_for(self.proc.wait(), 10)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()


async def post_all(session: aiohttp.ClientSession, url: str, token: str, lines: list[str]):
    for line in lines:
        async with session.post(
            url + "api/hooks", data=line, headers={"Authorization": f"Bearer {token}"}
        ) as response:
            assert response.status == 204, await response.text()


@pytest.mark.parametrize("mode", MODES)
def test_js_clients_early_late_and_since_hold_the_engine_snapshot(node, mode, tmp_path):
    n = len(LINES)
    split = 10

    async def scenario():
        host = await start(port=0, runtime=False, json_mode=(mode == "json"))
        token = host.server.auth.ingest_token
        clients: list[JsClient] = []
        try:
            early = await JsClient.spawn(node, host.url, mode, "--until", str(n))
            clients.append(early)
            joined = await early.line()
            assert joined["seq"] == 0 and joined["form"] == "snapshot"
            async with aiohttp.ClientSession() as session:
                await post_all(session, host.url, token, LINES[:split])
                async with session.get(f"{host.url}api/games/{GAME}") as response:
                    base = await response.json()
                assert base["seq"] == split
                (tmp_path / "base.json").write_text(json.dumps(base))
                await post_all(session, host.url, token, LINES[split:])
            late = await JsClient.spawn(node, host.url, mode, "--until", str(n))
            since = await JsClient.spawn(
                node, host.url, mode, "--until", str(n), "--base", str(tmp_path / "base.json")
            )
            clients += [late, since]
            assert (await late.line())["form"] == "snapshot"
            assert (await since.line())["form"] == "deltas"  # caught up from seq 10 by deltas
            results = [await c.line() for c in (early, late, since)]
            live = host.hub.snapshot(GAME)
            assert live["seq"] == n
            for result in results:
                assert result["event"] == "done"
                assert result["snapshot"] == live
            assert results[0]["updates"] > 0 and results[0]["rejoins"] == 0
            assert results[0]["effects"] > 0
            for c in clients:
                assert await c.finish() == 0
        finally:
            for c in clients:
                c.kill()
            await host.close()

    run(scenario())


def _sends_data_null_on_disconnect(sio) -> bool:
    """Whether this server's packets carry ``data: nil`` where socket.io expects none."""
    from socketio import packet

    pkt = sio.packet_class(packet.DISCONNECT, namespace="/")
    encoded = pkt.encode()
    if isinstance(encoded, (bytes, bytearray)):
        import msgpack

        return "data" in msgpack.loads(encoded)
    return False


@pytest.mark.parametrize("mode", MODES)
def test_a_server_side_disconnect_reaches_the_js_client_cleanly(node, mode):
    outcome: dict = {}

    async def scenario():
        host = await start(port=0, runtime=False, json_mode=(mode == "json"))
        outcome["data_null"] = _sends_data_null_on_disconnect(host.server.sio)
        client = await JsClient.spawn(node, host.url, mode, "--await-disconnect")
        try:
            joined = await client.line()
            await host.server.sio.disconnect(joined["sid"])
            outcome["result"] = await client.line()
            assert await client.finish() == 0
        finally:
            client.kill()
            await host.close()

    run(scenario())
    result = outcome["result"]
    clean = (
        result["event"] == "disconnected"
        and result["reason"] == "io server disconnect"
        and result["errors"] == []
        and result["reconnected"] is False
    )
    # python-socketio's own MsgPackPacket would send {type: 1, data: nil, nsp}, which
    # socket.io-msgpack-parser rejects ("invalid payload") and the client then reconnects;
    # the server core leaves `data` out, so the disconnect is clean.
    assert not outcome["data_null"]
    assert clean, result
