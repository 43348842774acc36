"""``%load_ext ccviz_kernel`` and ``%ccviz`` in a real ipykernel, driven over ZMQ.

One kernel for the module (starting one costs about a second). It serves with
``%ccviz serve``; the test process then talks to that server over HTTP like Claude Code's
hooks do, including while a cell awaits (the server must keep answering) and while a cell
blocks the loop with ``time.sleep`` (it cannot; the stall is measured and printed).
"""

from __future__ import annotations

import json
import queue
import re
import statistics
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ccviz_kernel import samples

from .support import KERNEL_NAME, kernel_env

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
URL_RE = re.compile(r"http://127\.0\.0\.1:\d+/")
#: What "keeps serving" means while a cell awaits: every answer within this (seconds).
AWAIT_MAX_LATENCY = 0.2
SESSION = "magic-test-session"

_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


# -- driving a kernel ------------------------------------------------------------------------


@dataclass
class Result:
    stdout: str = ""
    stderr: str = ""
    results: list[dict[str, Any]] = field(default_factory=list)  # execute_result data
    displays: list[dict[str, Any]] = field(default_factory=list)  # display_data data
    error: dict[str, Any] | None = None
    #: The execute_reply's payloads (``%ccviz?`` pages its help there).
    payload: list[dict[str, Any]] = field(default_factory=list)

    def check(self) -> Result:
        if self.error is not None:
            raise AssertionError("\n".join(self.error["traceback"]))
        assert "Traceback" not in self.stderr, self.stderr
        return self

    @property
    def text(self) -> str:
        """The cell's result as plain text ("" if it had none)."""
        return self.results[0].get("text/plain", "") if self.results else ""


class Kernel:
    """A running kernel; ``root`` holds its data folders, ``cwd`` is its working folder."""

    def __init__(self, client: Any, root: Path, cwd: Path) -> None:
        self.client = client
        self.root = root
        self.cwd = cwd

    def start(self, code: str) -> str:
        """Send a cell; returns at once with its message id."""
        return self.client.execute(code)

    def _iopub(self, timeout: float) -> dict[str, Any]:
        try:
            return self.client.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the kernel said nothing for {timeout} s") from None

    def wait_started(self, msg_id: str, timeout: float = 30) -> float:
        """Block until the kernel starts running the cell; returns that moment."""
        deadline = time.monotonic() + timeout
        while True:
            msg = self._iopub(max(0.1, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_input":
                return time.monotonic()

    def collect(self, msg_id: str, timeout: float = 60) -> Result:
        """Everything the cell outputs, until the kernel is idle again."""
        result = Result()
        deadline = time.monotonic() + timeout
        while True:
            msg = self._iopub(max(0.1, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue  # widget traffic from earlier cells
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                if content["name"] == "stdout":
                    result.stdout += content["text"]
                else:
                    result.stderr += content["text"]
            elif kind == "execute_result":
                result.results.append(content["data"])
            elif kind == "display_data":
                result.displays.append(content["data"])
            elif kind == "error":
                result.error = content
            elif kind == "status" and content["execution_state"] == "idle":
                break
        reply = self.client.get_shell_msg(timeout=timeout)  # the execute_reply
        result.payload = reply["content"].get("payload", [])
        return result

    def run(self, code: str, timeout: float = 60) -> Result:
        return self.collect(self.start(code), timeout)


@dataclass
class Served:
    kernel: Kernel
    url: str
    token: str
    home: Path
    cwd: Path
    status_before: str


@pytest.fixture(scope="module")
def kernel(kernel_specs, tmp_path_factory):
    root = tmp_path_factory.mktemp("magics")
    (root / "project").mkdir()
    with running_kernel(kernel_specs, root) as k:
        yield k


@contextmanager
def running_kernel(kernel_specs, root: Path) -> Iterator[Kernel]:
    """A real kernel with its data folders under ``root``, working in ``root/project``
    (made by the caller); shut down on the way out."""
    from jupyter_client import KernelManager

    cwd = root / "project"
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=kernel_specs)
    km.start_kernel(env=kernel_env(root, home=True), cwd=str(cwd))
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield Kernel(client, root, cwd)
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def served(kernel) -> Served:
    kernel.run("%load_ext ccviz_kernel").check()
    before = kernel.run("%ccviz status").check().stdout
    out = kernel.run("%ccviz serve").check().stdout
    match = URL_RE.search(out)
    assert match, f"no URL in {out!r}"
    url = match.group(0)
    home = kernel.root / "ccviz-home"
    deadline = time.monotonic() + 15
    while True:  # the server starts once the cell has ended
        try:
            if get(url + "healthz")[0] == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the in-kernel server never answered"
        time.sleep(0.05)
    token = (home / "token").read_text().strip()
    return Served(kernel, url, token, home, kernel.cwd, before)


# -- HTTP from the test process --------------------------------------------------------------


def get(url: str, timeout: float = 10) -> tuple[int, bytes]:
    with _http.open(url, timeout=timeout) as response:
        return response.status, response.read()


def post_hook(served: Served, payload: dict[str, Any], token: str | None = None) -> int:
    request = urllib.request.Request(
        served.url + "api/hooks",
        data=json.dumps(payload).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {token or served.token}",
            "Content-Type": "application/json",
        },
    )
    try:
        with _http.open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def timed(call: Any, *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = call(*args)
    return time.perf_counter() - start, value


def hook_payloads(count: int) -> list[dict[str, Any]]:
    lines = (FIXTURES / "hook-payloads.jsonl").read_text().splitlines()
    return [{**json.loads(line), "session_id": SESSION} for line in lines[:count]]


# -- the tests -------------------------------------------------------------------------------


def test_status_before_and_after_serve(served: Served):
    assert "runtime file: none" in served.status_before
    assert "this notebook uses:" in served.status_before
    after = served.kernel.run("%ccviz status").check().stdout
    assert f"in-kernel host: serving at {served.url}" in after
    assert "runtime file: " in after and served.url in after.split("runtime file:")[1]
    assert f"this notebook uses: kernel ({served.url})" in after


def test_bad_commands_print_help_not_tracebacks(served: Served):
    out = served.kernel.run("%ccviz frobnicate").check().stdout
    assert out.startswith("%ccviz: no command 'frobnicate'") and "%ccviz replay PATH" in out
    out = served.kernel.run("%ccviz view no-such-game").check().stdout
    assert "no game 'no-such-game'" in out
    # A bad option: one line saying what, and that command's usage.
    out = served.kernel.run("%ccviz replay x.jsonl --speed fast").check().stdout
    assert out.splitlines() == [
        "%ccviz replay: argument --speed: a speed is a number, not 'fast'",
        "%ccviz replay [--speed N] PATH",
    ]
    out = served.kernel.run("%ccviz replay 'unclosed").check().stdout
    assert out.startswith("%ccviz: No closing quotation")


def test_help_and_the_question_mark(served: Served):
    kernel = served.kernel
    short = kernel.run("%ccviz help").check().stdout
    assert "%ccviz replay PATH [--speed N]" in short and "%ccviz? shows every option" in short
    assert len(short.splitlines()) < 15
    assert kernel.run("%ccviz --help").check().stdout == short
    one = kernel.run("%ccviz help serve").check().stdout
    assert one.startswith("%ccviz serve [--port N]") and "--port N" in one
    # `%ccviz?` pages the whole help, as IPython does for its own magics.
    pages = kernel.run("%ccviz?").check().payload
    text = "".join(p["data"]["text/plain"] for p in pages if p.get("source") == "page")
    for usage in ("%ccviz [COMMAND] ...", "%ccviz view [GAME]", "%ccviz install-hooks [--scope"):
        assert usage in text, text
    assert "--per-call" in text and "--speed N" in text


def test_install_hooks_takes_its_options_and_defaults_from_the_command_line():
    """One definition (claude/install_options.py): whatever default it sets, the magic has."""
    import argparse

    from ccviz_kernel.claude.install_options import add_install_options
    from ccviz_kernel.notebook import magics

    cli = argparse.ArgumentParser()
    add_install_options(cli)
    assert vars(magics._parser("install-hooks").parse_args([])) == vars(cli.parse_args([]))


def test_a_trailing_comment_is_ignored(served: Served):
    out = served.kernel.run("%ccviz status  # where are my games?").check().stdout
    assert "this notebook uses:" in out


def test_hooks_posted_to_the_kernel_server_make_a_game(served: Served):
    assert post_hook(served, hook_payloads(1)[0], token="wrong") == 403
    for payload in hook_payloads(7):  # start, prompt, Glob, Read, Agent spawn
        assert post_hook(served, payload) == 204
    games = served.kernel.run("%ccviz games").check()
    assert SESSION in games.text and SESSION in games.results[0]["text/html"]
    stats = served.kernel.run(
        "import ccviz_kernel as ccviz\n"
        f"g = ccviz.connect().game({SESSION!r})\n"
        "print(g.stats()['events'], g.agents['main'].place)"
    ).check()
    assert stats.stdout.split() == ["7", "guildhall"]


def test_server_keeps_answering_while_a_cell_awaits(served: Served):
    kernel = served.kernel
    msg_id = kernel.start("import asyncio\nawait asyncio.sleep(5)\nprint('awake')")
    started = kernel.wait_started(msg_id)
    time.sleep(0.3)  # well inside the sleep
    health = []
    while time.monotonic() - started < 3.5:
        latency, (status, _) = timed(get, served.url + "healthz")
        assert status == 200
        health.append(latency)
        time.sleep(0.05)
    payload = {
        "session_id": SESSION,
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "npm test"},
        "tool_use_id": "toolu_mid_sleep",
    }
    hook_latency, status = timed(post_hook, served, payload)
    assert status == 204
    still_sleeping = time.monotonic() - started < 4.9
    result = kernel.collect(msg_id, timeout=30).check()
    assert result.stdout.strip() == "awake"
    assert still_sleeping, "measured after the cell ended: the test proves nothing"
    print(
        f"\n[ccviz in-kernel server during `await asyncio.sleep(5)`] {len(health)} GET /healthz: "
        f"median {statistics.median(health) * 1000:.1f} ms, max {max(health) * 1000:.1f} ms; "
        f"POST /api/hooks {hook_latency * 1000:.1f} ms"
    )
    assert max(health) < AWAIT_MAX_LATENCY
    assert hook_latency < AWAIT_MAX_LATENCY
    place = kernel.run(
        f"import ccviz_kernel\nprint(ccviz_kernel.connect().game({SESSION!r}).agents['main'].place)"
    ).check()
    assert place.stdout.strip() == "terminal"  # the hook sent mid-sleep was applied


def test_a_blocking_cell_stalls_the_server(served: Served):
    """Documents the cost of ``time.sleep`` in a cell: the server cannot answer until the
    cell ends (Claude Code's hook command spools events meanwhile)."""
    kernel = served.kernel
    msg_id = kernel.start("import time\ntime.sleep(3)")
    started = kernel.wait_started(msg_id)
    time.sleep(0.5)
    asked = time.monotonic()
    latency, (status, _) = timed(get, served.url + "healthz")
    remaining = 3.0 - (asked - started)
    kernel.collect(msg_id, timeout=30).check()
    after, _ = timed(get, served.url + "healthz")
    print(
        f"\n[ccviz in-kernel server during `time.sleep(3)`] GET /healthz sent "
        f"{asked - started:.2f} s into the sleep answered after {latency:.2f} s "
        f"(sleep remaining: {remaining:.2f} s); after the cell: {after * 1000:.1f} ms"
    )
    assert status == 200
    assert latency > remaining - 0.5, "the server answered during a blocking sleep?"
    assert latency < remaining + 2.0
    assert after < AWAIT_MAX_LATENCY


def test_replay_magic_returns_a_controller_and_shows_the_game(served: Served):
    path = samples.path("short", "hooks")
    shown = served.kernel.run(f"%ccviz replay {path} --speed 50").check()
    assert "replaying 17 events" in shown.stdout  # 13 hooks + 4 token counts
    assert any(WIDGET_MIME in d for d in shown.displays), shown.displays
    assert shown.text.startswith("<ccviz replay 'replay-")
    done = served.kernel.run(
        "r = _\nawait r.finished()\nprint(r.position, r.total, r.game.stats()['tool_calls'])"
    ).check()
    assert done.stdout.split() == ["17", "17", "3"]


def test_view_magic_shows_a_widget(served: Served):
    for line in ("%ccviz view", f"%ccviz view {SESSION}"):
        shown = served.kernel.run(line).check()
        assert shown.results and WIDGET_MIME in shown.results[0], (line, shown)
        model = shown.results[0][WIDGET_MIME]["model_id"]
        assert re.fullmatch(r"[0-9a-f]{32}", model)


def test_install_hooks_magic_writes_project_settings(served: Served):
    out = served.kernel.run("%ccviz install-hooks --scope project").check()
    settings = served.cwd / ".claude" / "settings.json"
    assert settings.is_file(), out.stdout + out.stderr
    hooks = json.loads(settings.read_text())["hooks"]
    assert "Stop" in hooks and "api/hooks" in json.dumps(hooks["Stop"])
    assert "PreToolUse" not in hooks  # lean: the server reads the calls from the transcript
    # The hook token goes to the user's own settings, and nothing else does; a project file
    # (which teams commit) only names it.
    user = json.loads((served.kernel.root / "home" / ".claude" / "settings.json").read_text())
    assert set(user) == {"env"} and set(user["env"]) == {"CCVIZ_HOOK_TOKEN"}
    assert user["env"]["CCVIZ_HOOK_TOKEN"] not in settings.read_text()


def test_every_failing_command_is_one_line_never_a_traceback(served: Served):
    """A command that fails (missing file, unknown game, bad path) prints one line naming
    the command; a bad option value is the usual line plus that command's usage."""
    kernel = served.kernel
    for line, says in [
        ("%ccviz replay /nonexistent.jsonl", "/nonexistent.jsonl: no such file or directory"),
        ("%ccviz view nope", "no game 'nope'"),
    ]:
        out = kernel.run(line).check().stdout
        command = line.split()[1]
        assert len(out.splitlines()) == 1 and out.startswith(f"%ccviz {command}: "), out
        assert says in out, out
    for line, says in [
        ("%ccviz serve --port 99999", "a port is a number from 0 to 65535, not '99999'"),
        ("%ccviz replay x.jsonl --speed -1", "a speed is from 0.05 to 1000"),
    ]:
        lines = kernel.run(line).check().stdout.splitlines()
        command = line.split()[1]
        assert len(lines) == 2 and lines[0].startswith(f"%ccviz {command}: argument "), lines
        assert says in lines[0] and lines[1].startswith(f"%ccviz {command} "), lines
    typo = served.kernel.root / "no" / "such" / "project"
    out = kernel.run(f"%ccviz install-hooks --scope project --project-dir {typo}").check()
    assert f"the project folder {typo} does not exist" in out.stdout.splitlines()[0]
    assert not (served.kernel.root / "no").exists()
