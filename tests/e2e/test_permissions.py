"""Answering Claude Code's permission requests (issue 16), with the real CLI.

``claude -p`` in the default permission mode (Write and Bash are not in ``--allowedTools``)
against the fake Messages API, hooks from ``ccviz install-hooks --answer-permissions``, a real
ccviz server: a rule in Python allows the Write, a person on the page (Chromium) denies the
Bash; with nobody answering, Claude Code falls back to its own behaviour after the server's
wait; with no server at all, at once. An MCP server's form (an elicitation, from
tests/e2e/mcp_elicit.py) is filled in by a rule in Python; a question (AskUserQuestion, in
the SDK's stream-json mode, the only one that offers it) is answered from Python. What the
CLI does was measured first: tests/e2e/PERMISSIONS.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from common import CHROMIUM, CHROMIUM_ARGS, free_port

from ccviz_kernel.replays.load import load_replay

from . import mcp_elicit
from .fake_anthropic import FakeAnthropic, Script, text, tool
from .test_claude_code import ccviz_bin, claude_env, install_hooks, project_and_home

pytestmark = pytest.mark.e2e

PROMPT = "ccviz-e2e permissions: write a file, then run a command."
DENIED = "Not this command, please."
CLAUDE_TIMEOUT = 120.0


class Loop:
    """An asyncio loop in a thread: the server and the fake API live there while this
    thread drives Claude Code, Python handles and the browser, as a person would."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def scripts(project: Path) -> list[Script]:
    return [
        Script(
            "main",
            PROMPT,
            [
                [tool("Write", {"file_path": str(project / "a.txt"), "content": "A\n"})],
                [tool("Bash", {"command": "echo hi > b.txt", "description": "Write b.txt"})],
                [text("Done.")],
            ],
        )
    ]


def run_claude(claude: str, project: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [claude, "-p", PROMPT, "--allowedTools", "Read Glob Grep", "--output-format", "json"],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen) -> tuple[dict[str, Any], float]:
    began = time.monotonic()
    out, err = proc.communicate(timeout=CLAUDE_TIMEOUT)
    assert proc.returncode == 0, f"claude exited {proc.returncode}: {err[-2000:]}"
    return json.loads(out), time.monotonic() - began


@pytest.fixture
def session(claude_bin, tmp_path, monkeypatch):
    """A project, a HOME for Claude Code, the fake API; yields a function that starts
    ``claude -p`` with hooks installed against ``server_url``."""
    project, home = project_and_home(tmp_path, monkeypatch)
    loop = Loop()
    fake = FakeAnthropic(scripts(project), log_path=tmp_path / "requests.jsonl")
    api = loop.run(fake.start())

    def launch(runtime_url: str) -> subprocess.Popen:
        answering_hooks(project, home, runtime_url)
        return run_claude(claude_bin, project, claude_env(home, api))

    try:
        yield launch, project, loop
    finally:
        loop.run(fake.close())
        loop.close()


def answering_hooks(project: Path, home: Path, runtime_url: str) -> None:
    """``ccviz install-hooks --scope project --answer-permissions`` against a server at
    ``runtime_url`` (the runtime file says where it runs)."""
    runtime_file(runtime_url)
    install_hooks(project, {**os.environ, "HOME": str(home)}, ("--answer-permissions",))


def runtime_file(runtime_url: str) -> None:
    """The data folder's runtime file, saying a server runs at ``runtime_url`` (what
    ``ccviz hook`` and the installed handlers read)."""
    folder = Path(os.environ["CCVIZ_HOME"])
    (folder / "runtime.json").write_text(
        json.dumps({"url": runtime_url, "pid": os.getpid(), "kind": "standalone"})
    )
    (folder / "runtime.json").chmod(0o600)


def start_server(loop: Loop, **options: Any) -> Any:
    from ccviz_kernel.hosts.standalone import start

    return loop.run(start("127.0.0.1", 0, runtime=False, **options))


@contextlib.contextmanager
def fake_api_and_server(scripts: list[Script], log_path: Path | None = None) -> Iterator[Served]:
    """The fake Messages API with ``scripts`` and a ccviz server, in a :class:`Loop`;
    everything closed on leaving."""
    loop = Loop()
    fake = FakeAnthropic(scripts, log_path=log_path)
    api = loop.run(fake.start())
    host = start_server(loop)
    try:
        yield Served(loop, fake, api, host)
    finally:
        loop.run(host.close())
        loop.run(fake.close())
        loop.close()


@dataclass
class Served:
    loop: Loop
    fake: FakeAnthropic
    api: str
    host: Any

    def game(self) -> tuple[str, Any]:
        """The first game once it appears, and a Python handle on it (the ingest token)."""
        import ccviz_kernel

        game_id = wait_game(self.loop, self.host)
        token = self.host.server.auth.ingest_token
        return game_id, ccviz_kernel.connect(self.host.url, token=token, serve=False).game(game_id)

    def snapshot(self, game_id: str) -> dict[str, Any]:
        return self.loop.run(_snapshot(self.host, game_id))

    def held(self) -> int:
        return self.loop.run(_held(self.host))


def claude_process(argv: list[str], project: Path, env: dict[str, str], **more: Any):
    """``claude`` with its output read as text; stdin closed unless ``more`` says."""
    options: dict[str, Any] = {"stdin": subprocess.DEVNULL, **more}
    return subprocess.Popen(
        argv,
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


def killed(proc: subprocess.Popen | None) -> None:
    """Stop ``proc`` if it still runs (a test that failed half way)."""
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait(10)


def wait_game(loop: Loop, host: Any, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = loop.run(_live_ids(host))
        if ids:
            return ids[0]
        time.sleep(0.05)
    raise AssertionError("no game appeared")


async def _live_ids(host: Any) -> list[str]:
    return host.hub.live_ids()


async def _snapshot(host: Any, game_id: str) -> dict[str, Any]:
    return host.hub.snapshot(game_id)


def test_python_allows_the_write_and_the_page_denies_the_bash(session, tmp_path):
    launch, project, loop = session
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (make test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    import ccviz_kernel

    host = start_server(loop)
    token = host.server.auth.ingest_token
    try:
        proc = launch(host.url)
        game_id = wait_game(loop, host)
        # a cell: the rule allows writes, and leaves everything else to a person
        game = ccviz_kernel.connect(host.url, token=token, serve=False).game(game_id)
        rule = game.on_permission(lambda req: "allow" if req.tool == "Write" else None)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(f"{host.url}view/{game_id}?token={token}")
                card = page.locator('.ccviz-permission:has(.ccviz-permission-tool:text("Bash"))')
                card.locator("button.deny").wait_for(state="visible", timeout=60_000)
                card.locator("input.message").fill(DENIED)
                card.locator("button.deny").click()
                result, _ = finish(proc)
            finally:
                browser.close()
        rule.cancel()
        assert (project / "a.txt").read_text() == "A\n"  # the Write ran
        assert not (project / "b.txt").exists()  # the Bash did not
        denials = {d["tool_name"] for d in result.get("permission_denials", [])}
        assert denials == {"Bash"}
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # the transcript's result reaches the game
            snap = loop.run(_snapshot(host, game_id))
            if snap["stats"]["failures"] >= 1:
                break
            time.sleep(0.1)
        requests = sorted(snap["permissions"].values(), key=lambda r: r["askedAt"] or 0)
        outcome = [(r["tool"], r["state"], r["source"]) for r in requests]
        assert outcome == [("Write", "allowed", "rule"), ("Bash", "denied", "page")]
        assert requests[1]["message"] == DENIED
        # the call failed as denied, in the live game and in the transcript's replay alike
        transcript = next(Path(os.environ["HOME"], ".claude", "projects").rglob(f"{game_id}.jsonl"))
        assert DENIED in transcript.read_text()
        replayed = load_replay(transcript).game().snapshot()
        assert snap["stats"]["failures"] == replayed["stats"]["failures"] == 1
        assert snap["stats"]["toolCalls"] == replayed["stats"]["toolCalls"]
    finally:
        loop.run(host.close())


def test_nobody_answers_or_no_server_and_claude_code_asks_its_own_way(session):
    launch, project, loop = session
    host = start_server(loop, answer_wait=1.5)
    try:
        result, took = finish(launch(host.url))
        game_id = loop.run(_live_ids(host))[0]
        snap = loop.run(_snapshot(host, game_id))
    finally:
        loop.run(host.close())
    states = sorted(r["state"] for r in snap["permissions"].values())
    assert states == ["expired", "expired"]
    assert {d["tool_name"] for d in result["permission_denials"]} == {"Write", "Bash"}
    assert took >= 2 * 1.5  # each request waited out the server's wait
    assert not (project / "a.txt").exists()
    # no server at all: the hook's connection is refused and Claude Code goes on at once
    result, took_down = finish(launch(f"http://127.0.0.1:{free_port()}/"))
    assert {d["tool_name"] for d in result["permission_denials"]} == {"Write", "Bash"}
    print(f"nobody answering: claude ran {took:.1f} s; no server: {took_down:.1f} s")
    assert took_down < took
    assert ccviz_bin()


#: The MCP server's name in ``--mcp-config``: Claude Code calls its tool
#: ``mcp__<name>__ask_colour``, and names it in the Elicitation hook.
MCP_NAME = "colours"
MCP_PROMPT = "ccviz-e2e elicitation: ask the user for a colour."


def test_a_python_rule_fills_in_an_mcp_servers_form(claude_bin, tmp_path, monkeypatch):
    """An MCP tool (allowed, so no PermissionRequest) asks the user for a colour through
    ``elicitation/create``; the Elicitation hook is held at api/permissions and a rule in
    Python accepts it with ``{"colour": "blue"}``, which reaches the MCP server as given."""
    project, home = project_and_home(tmp_path, monkeypatch)
    log = tmp_path / "mcp.log"
    config = tmp_path / "mcp.json"
    server = {"command": "python3", "args": [mcp_elicit.__file__, str(log)]}
    config.write_text(json.dumps({"mcpServers": {MCP_NAME: server}}))
    tool_name = f"mcp__{MCP_NAME}__{mcp_elicit.TOOL['name']}"
    script = Script("main", MCP_PROMPT, [[tool(tool_name, {})], [text("Blue it is.")]])
    rule = None
    with fake_api_and_server([script], tmp_path / "requests.jsonl") as served:
        try:
            answering_hooks(project, home, served.host.url)
            argv = [claude_bin, "-p", MCP_PROMPT, "--mcp-config", str(config)]
            argv += ["--allowedTools", tool_name, "--output-format", "json"]
            proc = claude_process(argv, project, claude_env(home, served.api))
            game_id, game = served.game()
            rule = game.on_permission(
                lambda req: {"colour": "blue"} if req.kind == "elicitation" else None
            )
            result, took = finish(proc)
        finally:
            if rule is not None:
                rule.cancel()
        assert mcp_elicit.answered(str(log)) == [
            {"action": "accept", "content": {"colour": "blue"}}
        ]
        assert result.get("permission_denials", []) == []
        # the model read the MCP tool's result: what came back from the form
        came_back = 'elicitation came back: {\\"action\\": \\"accept\\"'
        requests = served.fake.requests
        assert any(came_back in json.dumps(r) for r in requests), requests[-1:]
        (form,) = served.snapshot(game_id)["permissions"].values()
        assert (form["kind"], form["server"], form["text"]) == (
            "elicitation",
            MCP_NAME,
            "Pick a colour",
        )
        assert (form["state"], form["source"], form["answer"]) == (
            "accepted",
            "rule",
            {"colour": "blue"},
        )
        assert [(f["name"], f["enum"], f["required"]) for f in form["fields"]] == [
            ("colour", ["red", "blue"], True)
        ]
        assert (rule.decided, rule.errors) == (1, [])
        print(f"elicitation answered by a rule: claude ran {took:.1f} s")


QUESTION_PROMPT = "ccviz-e2e permissions: ask me a question."
QUESTIONS = [
    {
        "question": "Which colour?",
        "header": "Colour",
        "multiSelect": False,
        "options": [
            {"label": "Red", "description": "warm"},
            {"label": "Blue", "description": "cool"},
        ],
    }
]


def test_a_question_in_sdk_mode_is_answered_from_python(claude_bin, tmp_path, monkeypatch):
    """AskUserQuestion is offered only in the SDK's mode (stream-json in and out, questions
    asked over stdio; PERMISSIONS.md §5). Its PermissionRequest is held at api/permissions
    while Claude Code also asks on stdout; ``req.answer("Blue")`` from Python wins, and the
    model reads the answer as the tool's result."""
    project, home = project_and_home(tmp_path, monkeypatch)
    script = Script(
        "main",
        QUESTION_PROMPT,
        [[tool("AskUserQuestion", {"questions": QUESTIONS})], [text("Blue it is.")]],
    )
    proc = None
    with fake_api_and_server([script], tmp_path / "requests.jsonl") as served:
        try:
            answering_hooks(project, home, served.host.url)
            argv = [claude_bin, "-p", "--input-format", "stream-json"]
            argv += ["--output-format", "stream-json", "--verbose"]
            argv += ["--permission-prompt-tool", "stdio"]
            proc = claude_process(
                argv, project, claude_env(home, served.api), stdin=subprocess.PIPE
            )
            assert proc.stdin is not None and proc.stdout is not None
            message = {"role": "user", "content": [{"type": "text", "text": QUESTION_PROMPT}]}
            proc.stdin.write(json.dumps({"type": "user", "message": message}) + "\n")
            proc.stdin.flush()  # stdin stays open: Claude Code's own question waits on it
            lines: list[dict[str, Any]] = []
            reader = threading.Thread(target=_read_json_lines, args=(proc.stdout, lines))
            reader.start()
            game_id, game = served.game()
            request = _wait(lambda: next(iter(game.pending()), None), "a pending question")
            assert (request.kind, request.tool) == ("question", "AskUserQuestion")
            assert [q["question"] for q in request.questions] == ["Which colour?"]
            began = time.monotonic()
            request.answer("Blue")
            result = _wait(lambda: next((m for m in lines if m.get("type") == "result"), None), "")
            took = time.monotonic() - began
            proc.stdin.close()
            proc.wait(timeout=CLAUDE_TIMEOUT)
            reader.join(10)
        finally:
            killed(proc)
        assert result.get("is_error") is False, result
        assert result.get("permission_denials", []) == []
        said = '\\"Which colour?\\"=\\"Blue\\"'  # the tool result the model read
        requests = served.fake.requests
        assert any(said in json.dumps(r) for r in requests), requests[-1:]
        asked = [m for m in lines if m.get("type") == "control_request"]
        assert [m["request"].get("tool_name") for m in asked] == ["AskUserQuestion"]
        closed = served.snapshot(game_id)["permissions"][request.id]
        assert (closed["state"], closed["source"], closed["answer"]) == (
            "answered",
            "python",
            {"Which colour?": "Blue"},
        )
        assert served.held() == 0
        print(f"question answered from Python: the result came {took:.2f} s after")


def _read_json_lines(stream: Any, into: list[dict[str, Any]]) -> None:
    for line in stream:
        try:
            into.append(json.loads(line))
        except ValueError:
            into.append({"type": "text", "text": line})


def _wait(check: Any, what: str, timeout: float = CLAUDE_TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found is not None:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{what or 'the result'} did not come")


async def _held(host: Any) -> int:
    return host.server.permissions.held()
