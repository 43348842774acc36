"""``ccviz hook`` as Claude Code runs it: a real process, a real server, a real spool."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from common import CCVIZ, FIXTURES, free_port, snapshot, start_server

from ccviz_kernel.engine.game import Game
from ccviz_kernel.events import parse_event
from ccviz_kernel.runtime import spool_path, spool_read, write_runtime

LINES = (FIXTURES / "hook-payloads.jsonl").read_text().splitlines()
GAME = json.loads(LINES[0])["session_id"]


def hook(line: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CCVIZ, "hook"], input=line.encode(), capture_output=True, timeout=30)


def wait_seq(port: int, game: str, seq: int) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            snap = snapshot(port, game)
            if snap["seq"] >= seq:
                return snap
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"seq {seq} never reached")


def without_times(snap: dict) -> dict:
    return {k: v for k, v in snap.items() if k not in ("startedAt", "lastEventAt")}


def rebuilt(lines: list[str]) -> dict:
    game = Game(GAME)
    for line in lines:
        game.apply(parse_event(line))
    return without_times(game.snapshot())


def test_with_no_server_the_hook_exits_0_silently_and_spools():
    result = hook(LINES[0])
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    [(key, ts, body)] = list(spool_read(spool_path()))
    assert json.loads(body) == json.loads(LINES[0]) and len(key) == 32 and ts > 1.7e9


def test_stale_runtime_file_and_garbage_input_still_exit_0():
    write_runtime(f"http://127.0.0.1:{free_port()}/", "standalone")  # nobody listens there
    assert hook(LINES[0]).returncode == 0
    for junk in ("", "{broken", "\x00\xff" * 10):
        result = hook(junk)
        assert (result.returncode, result.stdout) == (0, b"")


def test_spooled_events_arrive_in_order_exactly_once_when_the_server_starts():
    for line in LINES[:10]:
        assert hook(line).returncode == 0
    port = free_port()
    server = start_server(port)
    try:
        for line in LINES[10:]:
            assert hook(line).returncode == 0
        snap = wait_seq(port, GAME, len(LINES))
        time.sleep(1.5)  # a second spool pass must not deliver anything twice
        assert snapshot(port, GAME)["seq"] == len(LINES)
        assert without_times(snap) == rebuilt(LINES)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
    assert not os.path.exists(os.path.join(os.environ["CCVIZ_HOME"], "runtime.json"))


def test_kill_9_mid_stream_then_restart_gives_the_game_of_every_event_sent():
    port = free_port()
    server = start_server(port)
    try:
        for line in LINES[:12]:
            hook(line)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        for line in LINES[12:]:
            assert hook(line).returncode == 0  # server gone: these go to the spool
        server = start_server(port)
        snap = wait_seq(port, GAME, len(LINES))
        assert without_times(snap) == rebuilt(LINES)
    finally:
        server.kill()
        server.wait(10)


@pytest.mark.parametrize("size", [2_000_000])
def test_huge_payloads_are_shrunk_not_lost(size):
    payload = json.loads(LINES[19])  # the PreToolUse of a Write, with the file content
    payload["tool_input"]["content"] = "x" * size
    port = free_port()
    server = start_server(port)
    try:
        assert hook(json.dumps(payload)).returncode == 0
        snap = wait_seq(port, GAME, 1)
        assert snap["stats"]["toolCalls"] == {"Write": 1}
    finally:
        server.kill()
        server.wait(10)
