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
from common import SUGGEST_EDITS, elicitation_request, permission_request

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

    def output(self) -> tuple[int | None, Any]:
        """Wait for the POST's answer: ``(status, hookSpecificOutput or None)``."""
        self.join(WAIT + 6)
        assert not self.is_alive(), "the hook was never answered"
        if not self.body:
            return self.status, None
        return self.status, json.loads(self.body)["hookSpecificOutput"]

    def answer(self) -> tuple[int | None, Any]:
        """Wait for a PermissionRequest's answer: ``(status, decision or None)``."""
        status, output = self.output()
        if output is None:
            return status, None
        assert output["hookEventName"] == "PermissionRequest"
        return status, output["decision"]


def request(session: str, tool: str, tool_input: dict[str, Any], **more: Any) -> dict[str, Any]:
    """A PermissionRequest payload shaped like 2.1.332's (tests/e2e/PERMISSIONS.md §1)."""
    return permission_request(session, tool, tool_input, cwd="/work/project", **more)


WRITE = {"file_path": "/work/project/a.txt", "content": "A\n"}


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


# -- questions (AskUserQuestion) and MCP servers' forms (Elicitation) ---------------------

COLOUR = "Which colour?"
QUESTIONS = {
    "questions": [
        {
            "question": COLOUR,
            "header": "Colour",
            "options": [{"label": "Red", "description": "warm"}, {"label": "Blue"}],
            "multiSelect": False,
        }
    ]
}
TOPPINGS = {
    "question": "Which toppings?",
    "header": "Pizza",
    "options": [{"label": "Olives"}, {"label": "Basil"}, {"label": "Chili"}],
    "multiSelect": True,
}


def elicitation(session: str) -> dict[str, Any]:
    """An Elicitation payload shaped like 2.1.332's (tests/e2e/PERMISSIONS.md §5)."""
    return elicitation_request(session, cwd="/work/project")


@BACKENDS
def test_a_question_is_answered_with_the_picked_labels(server, kind):
    game = GameHandle(server.backends[kind], f"question-{kind}")
    asked = server.ask(request(game.id, "AskUserQuestion", QUESTIONS))
    (req,) = pending(game)
    assert (req.kind, req.tool, req.text, req.answers) == (
        "question",
        "AskUserQuestion",
        COLOUR,
        None,
    )
    assert req.questions == [
        {"question": COLOUR, "header": "Colour", "options": ["Red", "Blue"], "multiSelect": False}
    ]
    assert repr(req).startswith("<question ") and "req.answer(" in req._repr_html_()
    # the wrong method says which one answers a question
    for wrong in (req.allow, lambda: req.accept({"colour": "red"}), req.decline):
        with pytest.raises(TypeError, match=r"req\.answer\("):
            wrong()
    with pytest.raises(ValueError, match="no question 'Which size\\?'"):
        req.answer({"Which size?": "L"})
    assert asked.is_alive()
    req.answer("Blue")  # one question: a plain label
    status, decision = asked.answer()
    assert (status, decision["behavior"]) == (200, "allow")
    assert decision["updatedInput"] == {**QUESTIONS, "answers": {COLOUR: "Blue"}}
    settled(req, "answered")
    assert req.answers == {COLOUR: "Blue"} and req.by == getpass.getuser()
    # two questions, one of them multi-select: a dict, a list of labels joined
    both = {"questions": [*QUESTIONS["questions"], TOPPINGS]}
    asked = server.ask(request(game.id, "AskUserQuestion", both))
    (req,) = pending(game)
    with pytest.raises(ValueError, match="asks 2"):
        req.answer("Red")
    req.answer({COLOUR: "Red", "Which toppings?": ["Olives", "Chili"]})
    answers = asked.answer()[1]["updatedInput"]["answers"]
    assert answers == {COLOUR: "Red", "Which toppings?": "Olives, Chili"}
    # and a question can be refused like a permission
    asked = server.ask(request(game.id, "AskUserQuestion", QUESTIONS))
    (req,) = pending(game)
    req.deny("answer it yourself")
    assert asked.answer() == (200, {"behavior": "deny", "message": "answer it yourself"})


@BACKENDS
def test_an_elicitation_is_accepted_with_content_or_declined(server, kind):
    game = GameHandle(server.backends[kind], f"elicit-{kind}")
    asked = server.ask(elicitation(game.id))
    (req,) = pending(game)
    assert (req.kind, req.server, req.text) == ("elicitation", "colours", "Pick a colour")
    assert [(f["name"], f["type"], f["enum"], f["required"]) for f in req.fields] == [
        ("colour", "string", ["red", "blue"], True),
        ("count", "integer", None, False),
    ]
    assert repr(req).startswith("<elicitation ") and "colours asks" in repr(req)
    assert "req.accept(" in req._repr_html_()
    for wrong in (req.allow, req.deny, lambda: req.answer("blue")):
        with pytest.raises(TypeError, match=r"req\.accept\(\{field: value\}\) or req\.decline"):
            wrong()
    with pytest.raises(PayloadError, match="one of red, blue"):
        req.accept({"colour": "green"})  # checked against the form, and still open
    assert req.state == "open" and asked.is_alive()
    req.accept({"colour": "blue", "count": 2})
    content = {"colour": "blue", "count": 2}
    accepted = {"hookEventName": "Elicitation", "action": "accept", "content": content}
    assert asked.output() == (200, accepted)
    settled(req, "accepted")
    assert req.answers == content
    asked = server.ask(elicitation(game.id))
    (req,) = pending(game)
    req.decline()
    assert asked.output() == (200, {"hookEventName": "Elicitation", "action": "decline"})
    settled(req, "declined")
    assert req.answers is None


@BACKENDS
def test_a_rule_sees_every_kind_and_answers_with_a_dict(server, kind, caplog):
    """The e2e's rule: the form's content for an elicitation, the answers for a question,
    a person for the rest; what does not fit the kind is passed back at once, warned."""
    game = GameHandle(server.backends[kind], f"kinds-{kind}")
    kinds: list[str] = []

    def rule(req: PermissionRequest) -> Any:
        kinds.append(req.kind)
        if req.kind == "elicitation":
            return {"colour": "blue"}
        if req.kind == "question":
            return {COLOUR: "Red"}
        return None

    watching = game.on_permission(rule)
    try:
        asked = server.ask(elicitation(game.id))
        accepted = {
            "hookEventName": "Elicitation",
            "action": "accept",
            "content": {"colour": "blue"},
        }
        assert asked.output() == (200, accepted)
        asked = server.ask(request(game.id, "AskUserQuestion", QUESTIONS))
        assert asked.answer()[1]["updatedInput"]["answers"] == {COLOUR: "Red"}
        asked = server.ask(request(game.id, "Write", WRITE))
        (req,) = pending(game)
        deadline = time.monotonic() + WAIT
        while watching.left < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        req.allow()
        assert asked.answer() == (200, {"behavior": "allow"})
        assert kinds == ["elicitation", "question", "permission"]
        assert (watching.decided, watching.left, watching.errors) == (2, 1, [])
        states = sorted(p["state"] for p in game.snapshot()["permissions"].values())
        assert states == ["accepted", "allowed", "answered"]
    finally:
        watching.cancel()
    assert not caplog.records or all(r.levelno < logging.WARNING for r in caplog.records)


@BACKENDS
@pytest.mark.parametrize(
    ("returned", "message"),
    [("allow", "returned 'allow' for an elicitation"), ({"colour": "green"}, "one of red, blue")],
)
def test_a_rule_answer_that_does_not_fit_the_form_passes_it_back(server, kind, returned, message):
    """``"allow"`` for a form, or content the form refuses: the held hook gets no decision
    (Claude Code asks in its own way) at once, and the warning says why."""
    game = GameHandle(server.backends[kind], f"misfit-{kind}-{len(str(returned))}")
    watching = game.on_permission(lambda req: returned)
    try:
        with pytest.warns(RuntimeWarning, match=message):
            asked = server.ask(elicitation(game.id))
            assert asked.output() == (204, None)
        assert asked.seconds < 3.0, asked.seconds
        assert len(watching.errors) == 1 and watching.decided == 0
        (state,) = game.snapshot()["permissions"].values()
        assert (state["kind"], state["state"], state["source"]) == ("elicitation", "passed", "rule")
    finally:
        watching.cancel()


def test_an_answer_from_a_process_without_an_account_name_says_where_it_came_from(monkeypatch):
    """``by`` is the account's name; a container without a passwd entry has none to give
    (getpass raises), and the answer still goes, named by where it came from."""
    from ccviz_kernel.config import os_user

    assert os_user() == getpass.getuser()

    def nameless() -> str:
        raise OSError("No username set in the environment")

    monkeypatch.setattr(getpass, "getuser", nameless)
    assert os_user() == "python" and os_user("notebook") == "notebook"
