"""Claude Code's interactive TUI with ccviz answering its permission requests (issue 16).

The real ``claude`` in a pseudo-terminal (pexpect), in the default permission mode (the
interactive CLI starts in auto mode since 2.1.x, which asks nobody), against the fake
Messages API, with ``ccviz install-hooks --answer-permissions`` and a real server. Claude
Code shows its own dialog while the hook is held; whoever answers first wins: an answer from
Python closes the dialog ("Allowed by PermissionRequest hook"), and a person who answers in
the terminal first lets the call run while the server closes its request as moved on and
holds no hook. What was seen is in tests/e2e/PERMISSIONS.md §7.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .fake_anthropic import Script, text, tool
from .test_claude_code import claude_env, project_and_home
from .test_permissions import Served, answering_hooks, fake_api_and_server, wait_game

pexpect = pytest.importorskip("pexpect")

pytestmark = pytest.mark.e2e

PROMPT = "ccviz-e2e tui: write a file"
#: A custom API key is approved, once, by its last 20 characters (~/.claude.json).
API_KEY = "sk-ant-api03-ccviz-e2e-" + "0123456789" * 3
WAIT_S = 60.0
#: Escape sequences of a terminal screen (colours, cursor moves, titles, modes).
ANSI = re.compile(
    r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]"  # CSI: colours, cursor moves, modes
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: the window title, links
    r"|\x1b[()][0-9A-Za-z]|\x1b[78=>]"  # character sets, saved cursor, keypad
)


class Terminal:
    """``claude`` in a pty of 40 × 120; what it drew so far, as text."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.child = pexpect.spawn(
            argv[0], argv[1:], cwd=str(cwd), env=env, dimensions=(40, 120), encoding="utf-8"
        )
        self.drawn: list[str] = []

    def pump(self, seconds: float) -> None:
        """Read what it draws for ``seconds`` (it must be read, or it blocks)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                self.drawn.append(self.child.read_nonblocking(65536, timeout=0.1))
            except pexpect.TIMEOUT:
                pass
            except pexpect.EOF:
                return

    def text(self) -> str:
        return ANSI.sub("", "".join(self.drawn))

    def shows(self, words: str) -> bool:
        """Whether ``words`` were drawn, spaces aside: the TUI draws a space as a space or
        as a cursor move, and a repaint may use either (seen both in one run)."""
        return squashed(words) in squashed(self.text())

    def wait_for(self, words: str, timeout: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout
        while not self.shows(words):
            if time.monotonic() > deadline:
                raise AssertionError(f"{words!r} not on the screen: {self.text()[-1500:]}")
            self.pump(0.2)

    def close(self) -> None:
        if self.child.isalive():
            for _ in range(2):  # Ctrl-C twice leaves Claude Code
                self.child.sendcontrol("c")
                self.pump(0.5)
            self.child.terminate(force=True)


def squashed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def until(check: Callable[[], Any], terminal: Terminal, what: str, timeout: float = WAIT_S):
    """Pump the terminal until ``check()`` is truthy; returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        terminal.pump(0.1)
    raise AssertionError(f"{what} did not happen: {terminal.text()[-1500:]}")


@pytest.fixture
def tui(claude_bin, tmp_path, monkeypatch) -> Iterator[tuple[Terminal, Served, Path, str]]:
    """The TUI asked to write ``a.txt``, a server holding its PermissionRequest; yields
    (terminal, the fake API and server, project, game id) once the request is open."""
    project, home = project_and_home(tmp_path, monkeypatch)
    write = tool("Write", {"file_path": str(project / "a.txt"), "content": "A\n"})
    with fake_api_and_server([Script("main", PROMPT, [[write], [text("Done.")]])]) as served:
        terminal = None
        try:
            answering_hooks(project, home, served.host.url)
            env = {**claude_env(home, served.api), "ANTHROPIC_API_KEY": API_KEY}
            env["TERM"] = "xterm-256color"
            # A person who has used Claude Code here before: onboarded, the folder trusted,
            # the key approved (else the TUI asks about each first).
            (home / ".claude.json").write_text(
                json.dumps(
                    {
                        "hasCompletedOnboarding": True,
                        "theme": "dark",
                        "customApiKeyResponses": {"approved": [API_KEY[-20:]], "rejected": []},
                        "projects": {str(project): {"hasTrustDialogAccepted": True}},
                    }
                )
            )
            argv = [claude_bin, "--permission-mode", "default", PROMPT]
            terminal = Terminal(argv, project, env)
            game_id = wait_game(served.loop, served.host)
            until(lambda: open_requests(served, game_id), terminal, "a request")
            yield terminal, served, project, game_id
        finally:
            if terminal is not None:
                terminal.close()


def open_requests(served: Served, game_id: str) -> list[dict[str, Any]]:
    return [r for r in served.snapshot(game_id)["permissions"].values() if r["state"] == "open"]


def test_the_dialog_shows_while_python_decides_and_the_answer_closes_it(tui):
    terminal, served, project, game_id = tui
    terminal.wait_for("Do you want")  # Claude Code's own dialog, while the hook is held
    assert "a.txt" in squashed(terminal.text()).split("Doyouwant")[-1]
    _, game = served.game()
    (request,) = game.pending()
    assert (request.tool, request.kind) == ("Write", "permission")
    request.allow()
    until(lambda: (project / "a.txt").exists(), terminal, "the Write")
    terminal.wait_for("Allowed by PermissionRequest hook")
    assert (project / "a.txt").read_text() == "A\n"
    closed = served.snapshot(game_id)["permissions"][request.id]
    assert (closed["state"], closed["source"]) == ("allowed", "python")
    assert served.held() == 0


def test_a_person_who_answers_in_the_terminal_first_wins(tui):
    terminal, served, project, game_id = tui
    terminal.wait_for("Do you want")
    (request,) = open_requests(served, game_id)
    terminal.child.send("1")  # "1. Yes"
    until(lambda: (project / "a.txt").exists(), terminal, "the Write")

    def settled() -> dict[str, Any] | None:
        state = served.snapshot(game_id)["permissions"][request["id"]]
        return state if state["state"] != "open" else None

    closed = until(settled, terminal, "the request closing")
    # Closed by the call's own events (seen: moved on), or by Claude Code dropping the hook
    # (withdrawn), whichever the server sees first: nothing is left held, nobody can answer.
    assert closed["state"] in ("moved-on", "withdrawn") and closed["source"] is None, closed
    assert served.held() == 0
    assert not terminal.shows("Allowed by PermissionRequest hook")
    assert (project / "a.txt").read_text() == "A\n"
