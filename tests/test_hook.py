"""``ccviz hook`` as Claude Code runs it: a real process, a real server, a real spool."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

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


# -- Claude Code's own http hooks (the default install) -------------------------------------


def post_like_claude_code(port: int, body: bytes, token: str | None) -> tuple[int, bytes, float]:
    """What an http handler sends: fixed headers, the payload as the body, no X-Ccviz-*."""
    import urllib.error
    import urllib.request

    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/hooks", data=body, headers=headers, method="POST"
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read(), time.perf_counter() - started
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), time.perf_counter() - started


def test_http_hooks_with_the_hook_token_get_an_empty_2xx_at_once():
    from ccviz_kernel.claude.settings import hook_token

    port = free_port()
    server = start_server(port)
    try:
        token = hook_token()  # made after the server started, as install-hooks may be
        took = []
        for line in LINES:
            status, body, seconds = post_like_claude_code(port, line.encode(), token)
            assert (status, body) == (204, b"")  # 2xx, empty: "success, no decision"
            took.append(seconds)
        assert sorted(took)[len(took) // 2] < 0.25  # answered at once, not after fan-out
        snap = wait_seq(port, GAME, len(LINES))
        assert without_times(snap) == rebuilt(LINES)
        assert post_like_claude_code(port, LINES[0].encode(), None)[0] == 401
        assert post_like_claude_code(port, LINES[0].encode(), "not-it")[0] == 403
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)


def test_the_hook_token_allows_hooks_and_nothing_else():
    import urllib.error
    import urllib.request

    from ccviz_kernel.claude.settings import hook_token

    token = hook_token()
    port = free_port()
    server = start_server(port)
    try:
        assert post_like_claude_code(port, LINES[0].encode(), token)[0] == 204
        wait_seq(port, GAME, 1)
        action = json.dumps({"type": "hook", "payload": json.loads(LINES[1])}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/games/{GAME}/actions",
            data=action,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 403  # not a controller
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)


def test_a_tool_event_posted_twice_is_applied_once():
    """A timed-out http hook may have arrived anyway; the gap fill then sends it again with
    the same natural key (routes.hook_event_key), and the store keeps one."""
    from ccviz_kernel.claude.settings import hook_token
    from ccviz_kernel.server.routes import hook_event_key

    token = hook_token()
    tool_lines = [line for line in LINES if '"tool_use_id"' in line]
    assert tool_lines and hook_event_key(json.loads(tool_lines[0])) is not None
    port = free_port()
    server = start_server(port)
    try:
        for line in LINES:
            assert post_like_claude_code(port, line.encode(), token)[0] == 204
        for line in tool_lines[:3]:
            assert post_like_claude_code(port, line.encode(), token)[0] == 204
        wait_seq(port, GAME, len(LINES))
        time.sleep(0.3)
        assert snapshot(port, GAME)["seq"] == len(LINES)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)


def test_auth_reads_the_hook_token_when_it_appears_and_when_it_changes():
    from ccviz_kernel.claude.settings import HOOK_TOKEN_FILE, hook_token
    from ccviz_kernel.runtime import write_private
    from ccviz_kernel.server.auth import Auth

    auth = Auth("the-ingest-token")
    assert not auth.can_hook("anything") and not auth.can_hook(None) and not auth.can_hook("")
    assert auth.can_hook("the-ingest-token")
    first = hook_token()  # install-hooks runs after the server started
    assert auth.can_hook(first)
    assert auth.role_for(first, "127.0.0.1") == "viewer"  # never a controller
    assert not auth.can_ingest(first)
    write_private(os.path.join(os.environ["CCVIZ_HOME"], HOOK_TOKEN_FILE), "rotated-token\n")
    assert auth.can_hook("rotated-token") and not auth.can_hook(first)


BASE = f'{{"hook_event_name":"Notification","session_id":"{GAME}","message":"hi"'


def hostile_lines() -> list[str]:
    """A payload JSON can read but the log cannot hold (issue 11): nested 1,000 deep."""
    return [BASE + ',"extra":' + '{"x":' * 1000 + "1" + "}" * 1000 + "}"]


#: An integer beyond 64 bits is read as a float (orjson): logged, and harmless to viewers.
HUGE = BASE + ',"n":' + str(2**70) + "}"


def test_a_hostile_spooled_line_is_skipped_and_the_rest_arrive():
    bad = hostile_lines()
    for line in [LINES[0], *bad, HUGE, *LINES[1:10]]:
        assert hook(line).returncode == 0  # no server: all spooled
    port = free_port()
    server = start_server(port)
    try:
        snap = wait_seq(port, GAME, 11)  # the server started, and took the good ones
        time.sleep(1.5)
        assert snapshot(port, GAME)["seq"] == 11 == snap["seq"]
        assert server.poll() is None
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
    leftovers = [p for p in os.listdir(os.environ["CCVIZ_HOME"]) if p.endswith(".work")]
    assert not leftovers, leftovers  # nothing stuck in a .work file


def test_a_hostile_hook_post_is_a_clear_400():
    import urllib.error
    import urllib.request

    port = free_port()
    server = start_server(port)
    try:
        token = Path(os.environ["CCVIZ_HOME"], "token").read_text().strip()
        for line in hostile_lines():
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/hooks",
                data=line.encode(),
                headers={"Authorization": f"Bearer {token}"},
            )
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(request, timeout=10)
            assert caught.value.code == 400
            assert b"cannot be stored" in caught.value.read()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
