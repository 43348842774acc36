"""``ccviz hook`` as Claude Code runs it: a real process, a real server, a real spool."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from common import (
    CCVIZ,
    FIXTURES,
    elicitation_request,
    free_port,
    permission_request,
    snapshot,
    start_server,
    without_times,
)

from ccviz_kernel.config import ENV_PLUGIN_ANSWER
from ccviz_kernel.engine.game import Game
from ccviz_kernel.errors import GameNotFound
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
    path = os.path.join(os.environ["CCVIZ_HOME"], HOOK_TOKEN_FILE)
    write_private(path, "rotated-token\n")
    assert auth.can_hook("rotated-token") and not auth.can_hook(first)
    os.chmod(path, 0o666)  # another user could have written it: it lets nobody in (issue 11 §7)
    assert not auth.can_hook("rotated-token")
    os.chmod(path, 0o600)
    assert auth.can_hook("rotated-token")


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


# -- issue 11: planted files, start-up order, full disk, two servers -------------------------


def listener():
    """A socket that stands for another user's server: did anyone connect to it?"""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.5)
    return sock


def connections(sock) -> list[bytes]:

    got = []
    while True:
        try:
            conn, _ = sock.accept()
        except TimeoutError:
            return got
        conn.settimeout(0.5)
        try:
            got.append(conn.recv(65536))
        except OSError:
            got.append(b"")
        conn.close()


@pytest.mark.parametrize("how", ["folder 0777", "runtime file 0666", "another owner"])
def test_a_planted_runtime_file_gets_neither_the_payload_nor_the_token(how):
    from ccviz_kernel.runtime import write_private

    home = Path(os.environ["CCVIZ_HOME"])
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(str(home / "token"), "the-victims-token\n")
    evil = listener()
    try:
        url = f'{{"url": "http://127.0.0.1:{evil.getsockname()[1]}/", "pid": 1}}'
        mode = 0o666 if how == "runtime file 0666" else 0o600
        write_private(str(home / "runtime.json"), url, mode=mode)
        if how == "folder 0777":
            home.chmod(0o777)
        elif how == "another owner":
            if os.geteuid() != 0:
                pytest.skip("planting a file as another user needs root")
            os.chown(home / "runtime.json", 65534, 65534)
        started = time.perf_counter()
        result = hook(LINES[0])
        took = time.perf_counter() - started
        assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
        assert connections(evil) == []  # nothing sent there: no payload, no bearer token
        assert took < 5
    finally:
        evil.close()
        home.chmod(0o700)
    if how == "folder 0777":  # nothing kept in a folder others can read and swap
        assert not (home / "spool.jsonl").exists()
    else:  # the folder is ours: the event waits in the spool for a real server
        [(_, _, body)] = list(spool_read(spool_path()))
        assert json.loads(body) == json.loads(LINES[0])


def notification(n: int, game: str = "order-game") -> str:
    return json.dumps({"hook_event_name": "Notification", "session_id": game, "message": f"n{n}"})


def event_texts(port: int, game: str) -> list[str]:
    """The game's events (their texts) in seq order; ``[]`` before the game exists."""
    import urllib.error
    import urllib.request

    url = f"http://127.0.0.1:{port}/api/games/{game}/events"
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return [row["text"] for row in json.loads(r.read())["events"]]
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise


def wait_texts(port: int, game: str, count: int) -> list[str]:
    deadline = time.monotonic() + 20
    while len(texts := event_texts(port, game)) < count:
        assert time.monotonic() < deadline, (len(texts), count)
        time.sleep(0.05)
    return texts


def fire_hooks(game: str, fired: list[int], stop) -> None:
    """Hooks one after another, as Claude Code runs one session's hooks, until ``stop``."""
    n = 0
    while not stop.is_set() and n < 400:
        assert hook(notification(n, game)).returncode == 0
        fired.append(n)
        n += 1


def test_an_event_spooled_while_the_server_starts_is_not_overtaken():
    """The race of issue 11, step by step: the server drained the spool and listens, but its
    runtime file is not written yet; a hook finds no runtime file and spools A; the runtime
    file appears; the next hook, B, must queue behind A, not reach the server first."""
    from ccviz_kernel.hosts.standalone import start

    async def scenario():
        host = await start(port=0, runtime=False)  # drained (nothing) and listening
        try:
            loop = asyncio.get_running_loop()
            first = await loop.run_in_executor(None, hook, notification(1))  # no runtime: A
            write_runtime(host.url, "standalone")  # what the host does next
            second = await loop.run_in_executor(None, hook, notification(2))  # B
            assert first.returncode == second.returncode == 0
            port = int(host.url.rstrip("/").rsplit(":", 1)[1])
            return await loop.run_in_executor(None, wait_texts, port, "order-game", 2)
        finally:
            await host.close()

    import asyncio

    assert asyncio.run(asyncio.wait_for(scenario(), 60)) == ["n1", "n2"]


def test_hooks_fired_across_a_real_server_start_arrive_in_firing_order():
    """A real concurrent run, bounded: hooks fire one after another (as Claude Code runs a
    session's hooks) while `ccviz serve` starts in its own process; every event arrives,
    once, in firing order. Three starts, each with hooks before, during and after."""
    import threading

    total = 0
    for round_ in range(3):
        game = f"order-{round_}"
        port = free_port()
        fired: list[int] = []
        stop = threading.Event()
        thread = threading.Thread(target=fire_hooks, args=(game, fired, stop))
        thread.start()
        time.sleep(0.3)  # some spooled before the server
        server = start_server(port)
        try:
            time.sleep(0.5)  # some posted after it is up
            stop.set()
            thread.join(60)
            assert wait_texts(port, game, len(fired)) == [f"n{n}" for n in fired]
            total += len(fired)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(10)
    assert total > 30


def test_a_second_server_on_the_same_data_folder_refuses_and_says_why():
    port = free_port()
    first = start_server(port)
    try:
        second = subprocess.run(
            [*CCVIZ, "serve", "--port", str(free_port())], capture_output=True, timeout=30
        )
        assert second.returncode == 1
        message = second.stderr.decode()
        assert f"another ccviz server (pid {first.pid} at http://127.0.0.1:{port}/)" in message
        assert "CCVIZ_HOME" in message and "Traceback" not in message
        assert hook(LINES[0]).returncode == 0
        wait_seq(port, GAME, 1)  # the first one still serves, and gets the hooks
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(10)


def test_hostile_spooled_lines_end_in_the_dead_letter_file():
    from ccviz_kernel.runtime import dead_letters

    bad = hostile_lines()
    for line in [LINES[0], *bad, *LINES[1:5]]:
        assert hook(line).returncode == 0
    with open(spool_path(), "ab") as f:
        f.write(b"not a spool line\n")
    port = free_port()
    server = start_server(port)
    try:
        wait_seq(port, GAME, 5)
        deadline = time.monotonic() + 10
        while len(dead_letters()) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
    letters = dead_letters()
    assert [d["line"].split("\t", 2)[-1] for d in letters] == [*bad, "not a spool line"]


def _mount_tmpfs(path: Path, size: str) -> bool:
    if os.geteuid() != 0:
        return False
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)])
    return done.returncode == 0


def _fill(path: Path) -> None:
    """Write until the disk takes not one more byte."""
    fd = os.open(path / "filler", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError:
                    break
    finally:
        os.close(fd)


def test_a_really_full_disk_keeps_the_event_and_says_so(tmp_path, monkeypatch):
    """One real check (root only: a small tmpfs): the hook on a full disk."""
    from ccviz_kernel.cli import doctor
    from ccviz_kernel.runtime import disk_full_log, ensure_reserve

    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "24m"):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        home = disk / "home"
        monkeypatch.setenv("CCVIZ_HOME", str(home))
        home.mkdir(mode=0o700)
        assert ensure_reserve()  # what a server does when it starts
        _fill(disk)
        assert hook(LINES[0]).returncode == 0  # no server: spooled into the freed reserve
        [(_, _, body)] = list(spool_read(spool_path()))
        assert json.loads(body) == json.loads(LINES[0])
        assert disk_full_log()[:2] == (1, 0)
        _fill(disk)  # and now no room at all (but the spool's last page may hold a line)
        fired = 1
        for line in LINES[1:21]:
            started = time.perf_counter()
            assert hook(line).returncode == 0
            assert time.perf_counter() - started < 5
            fired += 1
            if disk_full_log()[1]:
                break
        saved, lost, _ = disk_full_log()
        spooled = list(spool_read(spool_path()))
        assert saved == 1 and lost >= 1 and len(spooled) + lost == fired  # every one counted
        assert [json.loads(b) for _, _, b in spooled] == [
            json.loads(x) for x in LINES[: len(spooled)]
        ]
        checks = {c.name: c for c in doctor.run_checks()}
        assert checks["disk full"].status == "fail" and "1 lost" in checks["disk full"].detail
        assert checks["disk"].status == "warn"
    finally:
        subprocess.run(["umount", str(disk)])


def test_a_store_that_cannot_write_answers_503_and_loses_no_acknowledged_event(monkeypatch):
    """Issue 11 §9: a full disk under a running server. The hook route answers 503 (the hook
    spools the event) and an event already answered 204 (ingested after the transcript
    read) goes to the spool, never nowhere; the drain brings both in once the disk has room."""
    import asyncio

    from ccviz_kernel.errors import StoreError
    from ccviz_kernel.hosts.standalone import start
    from ccviz_kernel.server.routes import HookRequest

    lines = (FIXTURES / "hook-payloads.jsonl").read_text().splitlines()

    async def scenario():
        host = await start(port=0, runtime=False)
        server, hub = host.server, host.hub
        token = server.auth.ingest_token
        try:
            real_append = hub.store.append

            def full(*args, **kwargs):
                raise StoreError("writing event store failed: database or disk is full")

            monkeypatch.setattr(hub.store, "append", full)
            answer = server.handle_hook(HookRequest(body=lines[0].encode(), token=token))
            assert answer.status == 503
            # the deferred path: the transcript read first, then the ingest, after the 204
            monkeypatch.setattr(server.transcripts, "read_first", lambda gid, then: then() or True)
            answer = server.handle_hook(HookRequest(body=lines[1].encode(), token=token))
            assert answer.status == 204
            assert len(list(spool_read(spool_path()))) == 1  # kept, not lost
            monkeypatch.setattr(hub.store, "append", real_append)  # room on the disk again
            assert server.handle_hook(HookRequest(body=lines[0].encode(), token=token)).status
            server.drain_spool()
            game = hub.game(json.loads(lines[0])["session_id"])
            assert game is not None and game.seq == 2
        finally:
            await host.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


#: What Claude Code sets for a plugin hook with the plugin's answer_permissions option on.
ANSWERING = {ENV_PLUGIN_ANSWER: "true"}


def answering_hook(line: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(
        [*CCVIZ, "hook"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(ANSWERING if env is None else env)},
    )
    assert proc.stdin is not None
    proc.stdin.write(line.encode())
    proc.stdin.close()
    return proc


def test_the_plugins_option_holds_a_permission_request_and_a_form_until_python_answers():
    """Under the plugin's option the hook waits at api/permissions, as the http handler of
    ``install-hooks --answer-permissions`` does, and prints the decision Claude Code reads."""
    import ccviz_kernel

    port = free_port()
    server = start_server(port)
    try:
        proc = answering_hook(json.dumps(permission_request("plugin-answer")))
        token = (Path(os.environ["CCVIZ_HOME"]) / "token").read_text().strip()
        client = ccviz_kernel.connect(f"http://127.0.0.1:{port}/", token=token, serve=False)
        deadline = time.monotonic() + 20
        pending = []
        while not pending:
            assert proc.poll() is None and time.monotonic() < deadline, "no request came"
            time.sleep(0.05)
            with contextlib.suppress(GameNotFound):  # not there yet
                pending = client.game("plugin-answer").pending()
        time.sleep(0.3)
        assert proc.poll() is None  # held while nobody has answered
        (request,) = pending
        request.allow(always=True)
        assert proc.stdout is not None and proc.stderr is not None
        out, err = proc.stdout.read(), proc.stderr.read()
        assert (proc.wait(timeout=20), err) == (0, b"")
        decision = json.loads(out)["hookSpecificOutput"]
        assert decision["hookEventName"] == "PermissionRequest"
        assert decision["decision"]["behavior"] == "allow"
        (rule,) = decision["decision"]["updatedPermissions"][0]["rules"]
        assert rule == {"toolName": "Write"}  # "always": a session rule for the tool
        # an MCP server's form, the same way
        form = answering_hook(json.dumps(elicitation_request("plugin-answer")))
        deadline = time.monotonic() + 20
        while not (asked := client.game("plugin-answer").pending()):
            assert form.poll() is None and time.monotonic() < deadline, "no form came"
            time.sleep(0.05)
        (request,) = asked
        assert request.kind == "elicitation"
        request.accept({"colour": "blue"})
        assert form.stdout is not None
        answer = json.loads(form.stdout.read())["hookSpecificOutput"]
        assert form.wait(timeout=20) == 0
        assert answer == {
            "hookEventName": "Elicitation",
            "action": "accept",
            "content": {"colour": "blue"},
        }
        # the usual events meanwhile go at once, silently
        notification = json.loads(LINES[16])
        assert notification["hook_event_name"] == "Notification"
        quick = hook_with(json.dumps({**notification, "session_id": "plugin-answer"}))
        assert (quick.returncode, quick.stdout) == (0, b"")
    finally:
        server.kill()
        server.wait(10)


def hook_with(line: str | bytes, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CCVIZ, "hook"],
        input=line if isinstance(line, bytes) else line.encode(),
        capture_output=True,
        timeout=30,
        env={**os.environ, **(ANSWERING if env is None else env)},
    )


def test_the_plugins_option_with_no_server_returns_at_once_and_spools():
    began = time.monotonic()
    result = hook_with(json.dumps(permission_request("plugin-down")))
    took = time.monotonic() - began
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    assert took < 5, took  # a process start; no wait for an answer nobody can give
    [(_, _, body)] = list(spool_read(spool_path()))
    assert json.loads(body)["hook_event_name"] == "PermissionRequest"


@pytest.mark.parametrize(
    "line",
    [
        "[" * 200_000 + "]" * 200_000,  # deeper than any parser's recursion
        '{"hook_event_name": "PermissionRequest", "session_id": ' + "9" * 5000 + "}",
        b"\xed\xa0\x80\xff not UTF-8 nor JSON",
        "[1, 2]",
    ],
)
def test_the_plugins_option_passes_hostile_input_on_as_usual(line):
    """Under the option the hook reads the payload to see if it waits: whatever it is, it
    goes the usual way (here, no server: the spool), silently, with exit 0."""
    result = hook_with(line)
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    assert len(list(spool_read(spool_path()))) == 1


def test_without_the_option_a_permission_request_is_only_watched():
    port = free_port()
    server = start_server(port)
    try:
        result = hook_with(json.dumps(permission_request("plugin-off")), env={})
        assert (result.returncode, result.stdout) == (0, b"")
        snap = wait_seq(port, "plugin-off", 1)
        (request,) = snap["permissions"].values()
        assert (request["state"], request["answerable"]) == ("open", False)  # only seen
    finally:
        server.kill()
        server.wait(10)
