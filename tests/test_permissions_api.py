"""Answering Claude Code's permission requests from Python (issue 16, docs/protocol.md §14).

A real server (``hosts.standalone.start`` on a loop thread) holds a real ``POST
api/permissions`` carrying the payload Claude Code 2.1.332 sends (tests/e2e/PERMISSIONS.md
§1), started in a thread as Claude Code's http hook would; Python answers it through the
live handles, in this process's hub (:class:`LocalBackend`) and over HTTP and socket.io
(:class:`RemoteBackend`) alike, and the held POST returns what Claude Code reads.
"""

from __future__ import annotations

import getpass
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from ccviz_kernel.events import PayloadError
from ccviz_kernel.notebook.backends import LocalBackend, LoopThread, RemoteBackend
from ccviz_kernel.notebook.connect import Connection
from ccviz_kernel.notebook.handles import GameHandle, PermissionRequest

#: Seconds any wait here may take (the answers themselves take milliseconds).
WAIT = 10.0


class Server:
    """``ccviz serve`` in this process, on a loop thread, with both kinds of backend."""

    def __init__(self) -> None:
        from ccviz_kernel.hosts.standalone import start

        self.runner = LoopThread(name="ccviz-test-server")
        self.host = self.runner.submit(start("127.0.0.1", 0, runtime=False)).result(20)
        self.url = self.host.url
        self.token = self.host.server.auth.ingest_token
        self.backends = {
            "local": LocalBackend(self.host.hub, runner=self.runner),
            "remote": RemoteBackend(self.url, self.token),
        }

    def close(self) -> None:
        remote = self.backends["remote"]
        if remote._runner is not None:
            remote._runner.stop()
        try:
            self.runner.submit(self.host.close()).result(20)
        finally:
            self.runner.stop()

    def ask(self, payload: dict[str, Any], path: str = "api/permissions") -> Asked:
        """Post ``payload`` as Claude Code's http hook does, in a thread: it is held."""
        return Asked(self.url + path, self.token, payload)


class Asked(threading.Thread):
    """One held hook POST: its status, its body and how long it took."""

    def __init__(self, url: str, token: str, payload: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.request = urllib.request.Request(
            url,
            data=json.dumps(payload).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        self.status: int | None = None
        self.body = b""
        self.seconds = 0.0
        self.start()

    def run(self) -> None:
        began = time.monotonic()
        try:
            with urllib.request.urlopen(self.request, timeout=WAIT + 5) as response:
                self.status, self.body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            self.status, self.body = exc.code, exc.read()
        self.seconds = time.monotonic() - began

    def answer(self) -> tuple[int | None, Any]:
        """Wait for the POST's answer: ``(status, decision or None)``."""
        self.join(WAIT + 6)
        assert not self.is_alive(), "the hook was never answered"
        if not self.body:
            return self.status, None
        output = json.loads(self.body)["hookSpecificOutput"]
        assert output["hookEventName"] == "PermissionRequest"
        return self.status, output["decision"]


def request(session: str, tool: str, tool_input: dict[str, Any], **more: Any) -> dict[str, Any]:
    """A PermissionRequest payload shaped like 2.1.332's (tests/e2e/PERMISSIONS.md §1)."""
    return {
        "session_id": session,
        "transcript_path": f"/nonexistent/{session}.jsonl",
        "cwd": "/work/project",
        "prompt_id": "ecec3f41-0000-4000-8000-000000000000",
        "permission_mode": "default",
        "effort": {"level": "medium"},
        "hook_event_name": "PermissionRequest",
        "tool_name": tool,
        "tool_input": tool_input,
        **more,
    }


WRITE = {"file_path": "/work/project/a.txt", "content": "A\n"}
SUGGEST_EDITS = [{"type": "setMode", "mode": "acceptEdits", "destination": "session"}]


def pending(game: GameHandle, count: int = 1) -> list[PermissionRequest]:
    """The game's open requests, once there are ``count`` of them."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            found = game.pending()
        except Exception:  # noqa: BLE001 - the game may not exist yet
            found = []
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"no {count} open request(s) in {game.id}"
        time.sleep(0.02)


def settled(req: PermissionRequest, state: str) -> None:
    deadline = time.monotonic() + WAIT
    while req.state != state:
        assert time.monotonic() < deadline, f"{req.id} is {req.state}, not {state}"
        time.sleep(0.02)


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    try:
        yield running
    finally:
        running.close()


BACKENDS = pytest.mark.parametrize("kind", ["local", "remote"])


@BACKENDS
def test_allow_from_python_answers_the_held_hook(server, kind):
    game = GameHandle(server.backends[kind], f"allow-{kind}")
    asked = server.ask(request(game.id, "Write", WRITE, permission_suggestions=SUGGEST_EDITS))
    (req,) = pending(game)
    assert (req.agent, req.tool, req.state, req.answerable) == ("main", "Write", "open", True)
    assert req.input["file_path"] == "/work/project/a.txt"
    assert req.suggestions == ["mode acceptEdits"] and isinstance(req.asked_at, int)
    assert req.id in repr(req) and "req.allow()" in req._repr_html_()
    assert req.id in game.pending()._repr_html_()
    assert asked.is_alive()  # held until someone answers
    (first, *_) = Connection(server.backends[kind], url=None, kind=kind).waiting()
    assert (first["gameId"], first["wait"], first["request"]) == (game.id, "permission", req.id)
    req.allow()
    assert asked.answer() == (200, {"behavior": "allow"})
    settled(req, "allowed")
    assert req.by == getpass.getuser() and game.pending() == []
    logged = game.snapshot()["permissions"][req.id]
    assert (logged["source"], logged["answeredAt"] is not None) == ("python", True)
    with pytest.raises(PayloadError, match="already answered"):
        req.deny()  # only the first answer counts
    assert game.pending()._repr_html_() == "<p>ccviz: no open permission requests</p>"


@BACKENDS
def test_deny_with_a_message_and_always_allow(server, kind):
    game = GameHandle(server.backends[kind], f"deny-{kind}")
    asked = server.ask(request(game.id, "Bash", {"command": "rm -rf build"}))
    (req,) = pending(game)
    assert req.input["command"] == "rm -rf build"
    req.deny("not the build folder")
    assert asked.answer() == (200, {"behavior": "deny", "message": "not the build folder"})
    settled(req, "denied")
    assert req.message == "not the build folder"
    # "always": the tool without asking again, for this session only (nothing on disk)
    asked = server.ask(request(game.id, "Write", WRITE))
    (req,) = pending(game)
    req.allow(always=True)
    status, decision = asked.answer()
    assert status == 200 and decision["behavior"] == "allow"
    (update,) = decision["updatedPermissions"]
    assert update["rules"] == [{"toolName": "Write"}] and update["destination"] == "session"


def test_a_request_seen_through_api_hooks_is_shown_but_not_answerable(server):
    game = GameHandle(server.backends["remote"], "seen-only")
    asked = server.ask(request(game.id, "Write", WRITE), path="api/hooks")
    assert asked.answer() == (204, None)  # api/hooks never holds
    (req,) = pending(game)
    assert not req.answerable and "answer it in Claude Code" in req._repr_html_()
    with pytest.raises(PayloadError, match="cannot be answered here"):
        req.allow()


@BACKENDS
def test_a_rule_allows_read_and_denies_bash_with_rm(server, kind, caplog):
    """The README's rule: allow Read anywhere, deny Bash with ``rm``, leave the rest to a
    person; it gets a request already open too, and each request once."""
    game = GameHandle(server.backends[kind], f"rule-{kind}")
    seen: list[str] = []

    def rule(req: PermissionRequest) -> Any:
        seen.append(req.id)
        if req.tool == "Read":
            return "allow"
        if req.tool == "Bash" and "rm " in req.input.get("command", ""):
            return "deny", "no rm from this session"
        return None

    first = server.ask(request(game.id, "Read", {"file_path": "/etc/hosts"}))
    pending(game)  # open before the rule exists
    watching = game.on_permission(rule)
    try:
        assert first.answer() == (200, {"behavior": "allow"})
        asked = server.ask(request(game.id, "Bash", {"command": "rm -rf build"}))
        assert asked.answer() == (200, {"behavior": "deny", "message": "no rm from this session"})
        asked = server.ask(request(game.id, "Bash", {"command": "npm test"}))
        (req,) = pending(game)  # the rule left it to a person
        deadline = time.monotonic() + WAIT
        while watching.left < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert asked.is_alive()
        req.allow()  # the person
        assert asked.answer() == (200, {"behavior": "allow"})
        assert (watching.decided, watching.left, watching.errors) == (2, 1, [])
        assert len(seen) == len(set(seen)) == 3
        assert "2 decided" in repr(watching)
        byrule = [p for p in game.snapshot()["permissions"].values() if p["source"] == "rule"]
        assert len(byrule) == 2
    finally:
        watching.cancel()
    watching.cancel()  # twice is fine
    # cancelled: a new request waits for a person
    asked = server.ask(request(game.id, "Read", {"file_path": "/etc/hosts"}))
    (req,) = pending(game)
    time.sleep(0.2)
    assert asked.is_alive() and req.state == "open" and len(seen) == 3
    req.deny()
    assert asked.answer()[1]["behavior"] == "deny"
    assert not caplog.records or all(r.levelno < logging.WARNING for r in caplog.records)


@BACKENDS
@pytest.mark.parametrize("fault", ["raises", "bad return"])
def test_a_rule_that_fails_passes_the_request_back_at_once(server, kind, fault, caplog):
    """A rule that raises (or returns nonsense) never leaves a request hanging: it is
    passed, the held hook answers 204 (no decision: Claude Code asks in its own way) at
    once, and the error is shown."""
    game = GameHandle(server.backends[kind], f"fails-{kind}-{fault.replace(' ', '-')}")

    def rule(req: PermissionRequest) -> Any:
        if fault == "raises":
            raise KeyError("no such field")
        return 42

    watching = game.on_permission(rule)
    try:
        with pytest.warns(RuntimeWarning, match="rule failed on"):
            asked = server.ask(request(game.id, "Write", WRITE))
            status, decision = asked.answer()
        assert (status, decision) == (204, None)
        assert asked.seconds < 3.0, asked.seconds
        assert len(watching.errors) == 1
        message = "KeyError" if fault == "raises" else "returned 42"
        assert any(message in r.getMessage() for r in caplog.records), caplog.records
        state = next(iter(game.snapshot()["permissions"].values()))
        assert (state["state"], state["source"]) == ("passed", "rule")
    finally:
        watching.cancel()


def test_a_rule_needs_a_callable_and_a_loop_to_listen_on(server):
    game = GameHandle(server.backends["local"], "not-callable")
    with pytest.raises(TypeError, match="callable"):
        game.on_permission("allow")  # type: ignore[arg-type]
    from ccviz_kernel.hub import Hub
    from ccviz_kernel.store import EventStore

    loopless = GameHandle(LocalBackend(Hub(EventStore(":memory:"))), "no-loop")
    with pytest.raises(RuntimeError, match="running event loop"):
        loopless.on_permission(lambda req: None)
