"""The person in the loop in Chromium (issue 16, docs/protocol.md §14): a held
``POST api/permissions`` (Claude Code's http hook, its payload as seen on 2.1.332:
tests/e2e/PERMISSIONS.md) is answered from the game page and from the lobby; a viewer sees
the request without buttons. Everything is real: the server, its hub, the socket, the page.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

from common import (
    ALWAYS_ALLOW_WRITE,
    ASK_COLOUR,
    SUGGEST_EDITS,
    elicitation_request,
    permission_request,
)

from .support import WAIT_MS, Watched, hook, new_game_id, tool, wait_until
from .test_widget import handle, open_widget, traits_for

READY = "window.__ccviz && window.__ccviz.ready"
LOBBY_READY = "window.__ccviz && window.__ccviz.lobby && window.__ccviz.ready"
PAGE = {"width": 1280, "height": 800}
FILE = "/home/dev/pixel-quest/src/player.ts"


ABOVE_MAIN = """() => {
  const a = window.__ccviz.agents().find((x) => x.id === 'main');
  const p = document.querySelector('.ccviz-permissions').getBoundingClientRect();
  const stage = document.querySelector('.ccviz-view').getBoundingClientRect();
  const x = stage.left + a.spot.x, y = stage.top + a.spot.y;
  return !a.walking && p.left <= x && x <= p.right && p.bottom < y && y - p.bottom < 200;
}"""


def request_payload(game_id: str, tool_name: str = "Write", **tool_input: Any) -> dict[str, Any]:
    """A PermissionRequest as Claude Code posts it (no tool_use_id)."""
    written = {"file_path": FILE, "content": "export const speed = 3;\n"}
    return permission_request(
        game_id,
        tool_name,
        tool_input or written,
        cwd="/home/dev/pixel-quest",
        permission_suggestions=SUGGEST_EDITS,
    )


def hold(server, payload: dict[str, Any]) -> Future[tuple[int, str]]:
    """POST api/permissions in a thread, as Claude Code's hook does; the future gets the
    answer's status and body once the server answers (or the error)."""
    done: Future[tuple[int, str]] = Future()

    def post() -> None:
        request = urllib.request.Request(
            server.url + "api/permissions",
            data=json.dumps(payload).encode(),
            headers={
                "Authorization": f"Bearer {server.token}",
                "Content-Type": "application/json",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                done.set_result((answer.status, answer.read().decode()))
        except urllib.error.HTTPError as exc:
            done.set_result((exc.code, exc.read().decode()))
        except BaseException as exc:  # handed to the test
            done.set_exception(exc)

    threading.Thread(target=post, name="held-permission", daemon=True).start()
    return done


def open_request(server, game_id: str, answer: Future | None = None) -> str:
    """Wait (bounded) until the game has an open request; returns its id."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        snap = server.snapshot(game_id)
        for request in (snap.get("permissions") or {}).values():
            if request["state"] == "open":
                return request["id"]
        if answer is not None and answer.done():
            raise AssertionError(f"the POST was answered at once: {answer.result()}")
        time.sleep(0.05)
    raise AssertionError(f"no open request in {game_id}")


def start_asking(server, game_id: str, prompt: str = "Write the player module") -> Future:
    """A session that calls Write and waits for its permission (PreToolUse, then the held
    PermissionRequest, as Claude Code fires them)."""
    server.post(hook(game_id, "SessionStart", source="startup"))
    server.post(hook(game_id, "UserPromptSubmit", prompt=prompt))
    server.post(
        tool(game_id, "Write", "toolu_1", file_path=FILE, content="export const speed = 3;\n")
    )
    return hold(server, request_payload(game_id))


def answer_over_http(
    server, game_id: str, request: str, behavior: str = "allow", **fields: Any
) -> None:
    """Answer as a controller over ``POST api/games/<id>/actions`` (leaves no hook held)."""
    body = {
        "type": "permission",
        "request": request,
        "behavior": behavior,
        "source": "python",
        **fields,
    }
    req = urllib.request.Request(
        f"{server.url}api/games/{game_id}/actions",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as answer:
        assert answer.status == 200, answer.read()


def decision(body: str) -> dict[str, Any]:
    out = json.loads(body)["hookSpecificOutput"]
    assert out["hookEventName"] == "PermissionRequest", out
    return out["decision"]


def as_controller(
    server, open_page, path: str, ready: str = READY, size: dict | None = PAGE
) -> Watched:
    """``path`` (the lobby: "") opened with the ingest token, once it is ready and knows it
    is a controller; at ``size`` (None: the fixture's own)."""
    watched = open_page()
    page = watched.page
    if size is not None:
        page.set_viewport_size(size)
    page.goto(f"{server.url}{path}?token={server.token}")
    wait_until(page, ready)
    wait_until(page, "window.__ccviz.role === 'controller'")
    return watched


def controller_card(server, open_page, game: str, request: str) -> tuple[Watched, Any]:
    """The game page at 1280×800 with the ingest token (a controller), and the request's card."""
    watched = as_controller(server, open_page, f"view/{game}")
    page = watched.page
    card = page.locator(f'.ccviz-permission[data-request="{request}"]')
    card.wait_for(state="visible")
    return watched, card


def test_a_controller_denies_from_the_page_and_the_held_hook_gets_the_deny(
    server, open_page, tmp_path
):
    game = new_game_id()
    answer = start_asking(server, game)
    request = open_request(server, game, answer)
    watched, card = controller_card(server, open_page, game, request)
    page = watched.page
    # What the person decides on: the tool, the one line, the input, the suggestions.
    assert card.locator(".ccviz-permission-tool").inner_text() == "Write"
    assert "src/player.ts" in card.locator(".ccviz-permission-text").inner_text()
    assert FILE in card.locator(".ccviz-permission-input").inner_text()
    assert card.locator(".ccviz-permission-suggestion").count() == 1
    # The panel points at the waiting character: above its spot at the help desk.
    wait_until(page, ABOVE_MAIN)
    page.screenshot(path=str(tmp_path / "page-asks.png"))

    card.locator("input.message").fill("Not in this file, please.")
    card.locator("button.deny").click()
    wait_until(
        page,
        f"window.__ccviz.snapshot().permissions[{request!r}].state === 'denied'",
    )
    # The ack and the hook's answer (or the update) race each other: wait for it.
    wait_until(page, "window.__ccviz.permissionAcks().length > 0")
    assert [a["ok"] for a in page.evaluate("window.__ccviz.permissionAcks()")] == [True]
    status, body = answer.result(10)
    assert status == 200, body
    assert decision(body) == {"behavior": "deny", "message": "Not in this file, please."}
    closed = page.evaluate(f"window.__ccviz.snapshot().permissions[{request!r}]")
    assert closed["source"] == "page" and closed["message"] == "Not in this file, please."
    # The outcome stays on the card for a moment.
    outcome = card.locator(".ccviz-permission-outcome")
    outcome.wait_for(state="visible")
    assert outcome.inner_text().startswith("Denied") and "via the page" in outcome.inner_text()
    assert card.locator("button").count() == 0
    page.screenshot(path=str(tmp_path / "page-denied.png"))
    watched.assert_clean()


def test_a_viewer_sees_the_request_without_buttons(server, open_page, tmp_path):
    game = new_game_id()
    answer = start_asking(server, game, "Run the tests")
    request = open_request(server, game, answer)
    watched = open_page(f"{server.url}view/{game}")  # no token: a viewer
    page = watched.page
    wait_until(page, READY)
    wait_until(page, "window.__ccviz.role === 'viewer'")
    card = page.locator(f'.ccviz-permission[data-request="{request}"]')
    card.wait_for(state="visible")
    wait_until(page, "!!document.querySelector('.ccviz-permission-note')")
    assert "controller" in card.locator(".ccviz-permission-note").inner_text()
    assert card.locator("button").count() == 0 and card.locator("input").count() == 0
    page.screenshot(path=str(tmp_path / "viewer.png"))
    # Answered elsewhere (a controller over HTTP): the viewer sees what became of it.
    answer_over_http(server, game, request, "allow")
    assert decision(answer.result(10)[1]) == {"behavior": "allow"}
    outcome = card.locator(".ccviz-permission-outcome")
    outcome.wait_for(state="visible")
    assert outcome.inner_text().startswith("Allowed")
    watched.assert_clean()


def test_a_request_only_claude_code_can_answer_folds_its_panel(server, open_page):
    """Seen through api/hooks (hooks installed without --answer-permissions), a request is
    answered in Claude Code only: its panel starts folded to its head line, so the town and
    the character's own "May I?" stay in sight; a click shows it, and the choice is kept."""
    game = new_game_id()
    server.post(hook(game, "SessionStart", source="startup"))
    server.post(hook(game, "UserPromptSubmit", prompt="Run the tests"))
    server.post(tool(game, "Bash", "toolu_b1", command="npm test"))
    server.post(request_payload(game, "Bash", command="npm test"))  # api/hooks: seen only
    watched = open_page(f"{server.url}view/{game}?token={server.token}")
    page = watched.page
    wait_until(page, READY)
    wait_until(page, "window.__ccviz.role === 'controller'")
    panel = page.locator(".ccviz-permissions")
    panel.wait_for(state="visible")
    toggle = panel.locator("button.ccviz-permissions-toggle")
    list_ = panel.locator(".ccviz-permissions-list")
    wait_until(page, "document.querySelector('.ccviz-permissions-toggle').textContent === '+'")
    assert not list_.is_visible()
    toggle.click()
    list_.wait_for(state="visible")
    assert "answer it in Claude Code" in list_.inner_text()
    assert panel.locator("button.allow").count() == 0
    page.wait_for_timeout(600)  # a few renders later it stays open: the person chose
    assert list_.is_visible() and toggle.inner_text() == "–"
    watched.assert_clean()


NOTIFICATIONS = """(() => {
  // Chromium's own Notification, recorded: what the lobby showed, in order.
  const Real = window.Notification;
  window.__shown = [];
  class Recorded extends Real {
    constructor(title, options) { super(title, options); window.__shown.push(title); }
  }
  Object.defineProperty(Recorded, 'permission', { get: () => Real.permission });
  Recorded.requestPermission = (...a) => Real.requestPermission(...a);
  window.Notification = Recorded;
})();"""


@contextlib.contextmanager
def notifying_page(browser, server, path: str, *scripts: str) -> Iterator[Watched]:
    """``path`` opened as a controller (the ingest token) at 1280×800, in a context that
    may show notifications and records them (:data:`NOTIFICATIONS`, then ``scripts``)."""
    context = browser.new_context(viewport=PAGE, device_scale_factor=1)
    try:
        context.grant_permissions(["notifications"], origin=server.origin)
        for script in (NOTIFICATIONS, *scripts):
            context.add_init_script(script)
        watched = Watched(context.new_page())
        watched.page.goto(f"{server.url}{path}?token={server.token}")
        yield watched
    finally:
        context.close()


def test_the_lobby_leads_with_the_waiting_game_and_answers_it(server, browser, tmp_path):
    working = [new_game_id(), new_game_id()]
    for n, game in enumerate(working):
        server.post(hook(game, "SessionStart", source="startup"))
        server.post(hook(game, "UserPromptSubmit", prompt=f"Refactor the level loader {n}"))
        server.post(tool(game, "Read", f"toolu_r{n}", file_path="/home/dev/pixel-quest/a.ts"))
    with notifying_page(browser, server, "") as watched:
        page = watched.page
        wait_until(page, LOBBY_READY)
        wait_until(page, "window.__ccviz.role === 'controller'")
        page.locator("button.notify").click()
        wait_until(page, "document.querySelector('button.notify').textContent.includes('on')")

        # The third game starts waiting (newest rows would put a working game first).
        asking = new_game_id()
        answer = start_asking(server, asking, "Write the dragon level")
        request = open_request(server, asking, answer)
        server.post(tool(working[0], "Read", "toolu_late", file_path="/home/dev/b.ts"))
        wait_until(page, f"window.__ccviz.shown()[0] === {asking!r}")
        shown = page.evaluate("window.__ccviz.shown()")  # the package's server has others too
        assert set(working) <= set(shown[1:]), shown
        wait_until(page, "window.__shown.length > 0")
        assert "Write the dragon level" in page.evaluate("window.__shown[0]")

        page.screenshot(path=str(tmp_path / "lobby.png"))
        row = page.locator(f'.game[data-game="{asking}"] li.wait[data-request="{request}"]')
        assert "src/player.ts" in row.locator(".text").inner_text()
        row.locator("button.allow").click()
        status, body = answer.result(10)
        assert status == 200 and decision(body) == {"behavior": "allow"}, body
        # The ack and the hook's answer (or the update) race each other: wait for it.
        wait_until(page, "window.__ccviz.acks().length > 0")
        assert [a["ok"] for a in page.evaluate("window.__ccviz.acks()")] == [True]
        snap = server.snapshot(asking)
        assert snap["permissions"][request]["state"] == "allowed"
        assert snap["permissions"][request]["source"] == "lobby"
        # Answered: nobody waits there any more (the server's rows say so).
        wait_until(
            page,
            f"!document.querySelector('li.wait[data-request=\"{request}\"]')",
        )

        # Deny with a message, typed while the lobby redraws (it does on every update): the
        # text and the focus stay, and the message reaches Claude Code with the deny.
        second = new_game_id()
        answer = start_asking(server, second, "Delete the old levels")
        request = open_request(server, second, answer)
        row = page.locator(f'li.wait[data-request="{request}"]')
        row.locator("input.message").click()
        page.keyboard.type("Not the old ")
        seq = server.snapshot(working[1])["seq"]
        server.post(tool(working[1], "Read", "toolu_redraw", file_path="/home/dev/c.ts"))
        wait_until(
            page,
            f"window.__ccviz.games().find((g) => g.gameId === {working[1]!r}).seq > {seq}",
        )
        page.keyboard.type("levels.")
        assert row.locator("input.message").input_value() == "Not the old levels."
        page.keyboard.press("Enter")
        status, body = answer.result(10)
        assert decision(body) == {"behavior": "deny", "message": "Not the old levels."}, body
        wait_until(page, "window.__ccviz.acks().length === 2")
        assert server.snapshot(second)["permissions"][request]["message"] == "Not the old levels."
        watched.assert_clean()


#: A tab not in view, with "Notify me" chosen in the lobby before (the same origin).
HIDDEN_TAB = """(() => {
  localStorage.setItem('ccviz-notify', '1');
  Object.defineProperty(document, 'visibilityState', { get: () => 'hidden' });
})();"""


def test_the_game_page_notifies_when_a_request_opens_while_its_tab_is_hidden(server, browser):
    game = new_game_id()
    server.post(hook(game, "SessionStart", source="startup"))
    with notifying_page(browser, server, f"view/{game}", HIDDEN_TAB) as watched:
        page = watched.page
        wait_until(page, READY)
        wait_until(page, "window.__ccviz.seq >= 1")
        answer = start_asking(server, game, "Write the dragon level")
        request = open_request(server, game, answer)
        wait_until(page, "window.__shown.length > 0")
        assert page.evaluate("window.__shown") == ["Write the dragon level: Claude asks permission"]
        answer_over_http(server, game, request, "allow")
        assert decision(answer.result(10)[1]) == {"behavior": "allow"}
        page.wait_for_timeout(300)
        assert len(page.evaluate("window.__shown")) == 1  # once per request
        watched.assert_clean()


def test_a_controller_allows_from_the_notebook_widget(server, open_page, tmp_path):
    game = new_game_id()
    answer = start_asking(server, game, "Add a jump sound")
    request = open_request(server, game, answer)
    traits = {**traits_for(server, game, "socketio"), "token": server.token}
    watched = open_widget(open_page, server, traits)
    page, h = watched.page, handle(game)
    wait_until(page, f"{h} && {h}.ready && {h}.role === 'controller'")
    card = page.locator(f'.ccviz-permission[data-request="{request}"]')
    card.locator("button.always").wait_for(state="visible")
    page.screenshot(path=str(tmp_path / "widget-asks.png"))
    card.locator("button.always").click()
    status, body = answer.result(10)
    assert status == 200, body
    assert decision(body) == ALWAYS_ALLOW_WRITE
    snap = server.snapshot(game)["permissions"][request]
    assert snap["state"] == "allowed" and snap["always"] and snap["source"] == "widget"
    card.locator(".ccviz-permission-outcome").wait_for(state="visible")
    page.screenshot(path=str(tmp_path / "widget-allowed.png"))
    watched.assert_clean(h)


def test_the_comm_widget_sends_the_answer_to_its_kernel(server, open_page):
    """Over the widget comm the test plays the kernel: the view gets the real snapshot of a
    game with an open request, asks its role, and an Allow goes out as an ``act`` message
    (protocol.md §11); the kernel's refusal shows on the card."""
    game = new_game_id()
    answer = start_asking(server, game, "Add a jump sound")
    request = open_request(server, game, answer)
    watched = open_widget(open_page, server, traits_for(server, game, "comm"))
    page, h = watched.page, handle(game)
    push = "(m) => window.__test.push(m)"
    wait_until(page, "window.__test && window.__test.sent.some((m) => m.type === 'join')")
    page.evaluate(push, {"type": "snapshot", "snapshot": server.snapshot(game)})
    wait_until(page, f"{h} && {h}.ready")
    role = wait_until(page, "window.__test.sent.find((m) => m.type === 'role')")
    controller = {"ok": True, "controller": True}
    page.evaluate(push, {"type": "reply", "id": role["id"], "ack": controller})
    card = page.locator(f'.ccviz-permission[data-request="{request}"]')
    card.locator("button.allow").click()
    sent = wait_until(page, "window.__test.sent.find((m) => m.type === 'act')")
    assert sent["action"] == {
        "type": "permission",
        "request": request,
        "behavior": "allow",
        "source": "widget",
    }
    refusal = "the widget may only send pause, resume, step, seek, speed"
    page.evaluate(push, {"type": "reply", "id": sent["id"], "ack": {"ok": False, "error": refusal}})
    error = card.locator(".ccviz-permission-error")
    error.wait_for(state="visible")
    assert error.inner_text() == refusal
    assert card.locator("button.allow").is_enabled()  # free to try again
    answer_over_http(server, game, request, "deny")  # leave no hook held
    assert decision(answer.result(10)[1])["behavior"] == "deny"
    watched.assert_clean(h)


# -- questions and elicitations (protocol.md §14, "Questions and elicitations") -------------

QUESTION = ASK_COLOUR


def start_questioning(server, game_id: str) -> Future:
    """A session whose model calls AskUserQuestion: its PreToolUse, then the held
    PermissionRequest for it (a question)."""
    server.post(hook(game_id, "SessionStart", source="startup"))
    server.post(hook(game_id, "UserPromptSubmit", prompt="Paint the hero"))
    server.post(tool(game_id, "AskUserQuestion", "toolu_q", **QUESTION))
    return hold(server, request_payload(game_id, "AskUserQuestion", **QUESTION))


def elicitation_payload(game_id: str) -> dict[str, Any]:
    """Claude Code's Elicitation hook as posted for an MCP server's form."""
    return elicitation_request(game_id, server="h4", cwd="/home/dev/pixel-quest")


def start_eliciting(server, game_id: str) -> Future:
    server.post(hook(game_id, "SessionStart", source="startup"))
    server.post(hook(game_id, "UserPromptSubmit", prompt="Ask the palette server"))
    return hold(server, elicitation_payload(game_id))


def test_a_controller_answers_a_question_from_the_page(server, open_page, tmp_path):
    game = new_game_id()
    answer = start_questioning(server, game)
    request = open_request(server, game, answer)
    watched, card = controller_card(server, open_page, game, request)
    page = watched.page
    assert card.get_attribute("data-kind") == "question"
    question = card.locator(".ccviz-question")
    assert question.locator(".ccviz-question-header").inner_text() == "Colour"
    assert "Which colour?" in question.locator(".ccviz-question-text").inner_text()
    options = card.locator("button.ccviz-option")
    assert options.all_inner_texts() == ["Red", "Blue"]
    send = card.locator("button.send")
    assert send.is_disabled()  # nothing picked yet
    assert card.locator("button.allow, button.always").count() == 0
    options.nth(1).click()
    assert options.nth(1).get_attribute("aria-pressed") == "true"
    wait_until(page, ABOVE_MAIN)
    page.screenshot(path=str(tmp_path / "page-question.png"))
    send.click()
    status, body = answer.result(10)
    assert status == 200, body
    got = decision(body)
    assert got["behavior"] == "allow"
    assert got["updatedInput"]["answers"] == {"Which colour?": "Blue"}
    acks = wait_until(
        page, "window.__ccviz.permissionAcks().length && window.__ccviz.permissionAcks()"
    )
    assert [a["ok"] for a in acks] == [True]
    outcome = card.locator(".ccviz-permission-outcome")
    outcome.wait_for(state="visible")
    assert outcome.inner_text().startswith("Answered")
    assert outcome.inner_text().endswith("via the page: Blue")
    assert card.locator("button").count() == 0
    assert card.locator('.ccviz-option[data-picked="1"]').all_inner_texts() == ["Blue"]
    page.screenshot(path=str(tmp_path / "page-question-answered.png"))
    watched.assert_clean()


def test_a_controller_writes_an_answer_of_their_own_from_the_page(server, open_page):
    """ "Other", as Claude Code's own dialog offers it: typing an answer un-picks the option
    (a pick-one question) and is what Claude Code gets."""
    game = new_game_id()
    answer = start_questioning(server, game)
    request = open_request(server, game, answer)
    watched, card = controller_card(server, open_page, game, request)
    options = card.locator("button.ccviz-option")
    options.nth(0).click()
    other = card.locator("input.ccviz-option-other")
    other.fill("Teal, like the logo")
    assert options.nth(0).get_attribute("aria-pressed") == "false"
    card.locator("button.send").click()
    status, body = answer.result(10)
    assert decision(body)["updatedInput"]["answers"] == {"Which colour?": "Teal, like the logo"}
    outcome = card.locator(".ccviz-permission-outcome")
    outcome.wait_for(state="visible")
    assert outcome.inner_text().endswith("Teal, like the logo"), outcome.inner_text()
    watched.assert_clean()


def test_a_viewer_sees_the_question_and_its_answer_without_buttons(server, open_page, tmp_path):
    game = new_game_id()
    answer = start_questioning(server, game)
    request = open_request(server, game, answer)
    watched = open_page(f"{server.url}view/{game}")  # no token: a viewer
    page = watched.page
    wait_until(page, READY)
    wait_until(page, "window.__ccviz.role === 'viewer'")
    card = page.locator(f'.ccviz-permission[data-request="{request}"]')
    card.wait_for(state="visible")
    wait_until(page, "!!document.querySelector('.ccviz-permission-note')")
    assert card.locator(".ccviz-option").all_inner_texts() == ["Red", "Blue"]
    assert card.locator("button").count() == 0 and card.locator("input").count() == 0
    page.screenshot(path=str(tmp_path / "viewer-question.png"))
    answer_over_http(server, game, request, answers={"Which colour?": "Red"})
    assert decision(answer.result(10)[1])["updatedInput"]["answers"] == {"Which colour?": "Red"}
    outcome = card.locator(".ccviz-permission-outcome")
    outcome.wait_for(state="visible")
    assert outcome.inner_text().startswith("Answered")
    assert outcome.inner_text().endswith("via Python: Red")
    watched.assert_clean()


def test_two_questions_one_of_many_picks_from_the_notebook_widget(server, open_page, tmp_path):
    game = new_game_id()
    sizes = {
        "question": "Which sizes?",
        "header": "Sizes",
        "options": [{"label": x, "description": ""} for x in ("S", "M", "L")],
        "multiSelect": True,
    }
    both = {"questions": [*QUESTION["questions"], sizes]}
    server.post(hook(game, "SessionStart", source="startup"))
    server.post(hook(game, "UserPromptSubmit", prompt="Paint the hero"))
    server.post(tool(game, "AskUserQuestion", "toolu_q", **both))
    answer = hold(server, request_payload(game, "AskUserQuestion", **both))
    request = open_request(server, game, answer)
    traits = {**traits_for(server, game, "socketio"), "token": server.token}
    watched = open_widget(open_page, server, traits)
    page, h = watched.page, handle(game)
    wait_until(page, f"{h} && {h}.ready && {h}.role === 'controller'")
    card = page.locator(f'.ccviz-permission[data-request="{request}"]')
    send = card.locator("button.send")
    send.wait_for(state="visible")
    card.locator('.ccviz-question[data-question="0"] button.ccviz-option').first.click()
    assert send.is_disabled()  # the second question has no pick yet
    boxes = card.locator('.ccviz-question[data-question="1"] input.ccviz-option-check')
    assert boxes.count() == 3
    boxes.nth(2).check()  # L first, then S: sent in the options' order
    boxes.nth(0).check()
    assert send.is_enabled()
    page.screenshot(path=str(tmp_path / "widget-questions.png"))
    send.click()
    status, body = answer.result(10)
    assert status == 200, body
    assert decision(body)["updatedInput"]["answers"] == {
        "Which colour?": "Red",
        "Which sizes?": "S, L",
    }
    card.locator(".ccviz-permission-outcome").wait_for(state="visible")
    assert "Colour: Red · Sizes: S, L" in card.locator(".ccviz-permission-outcome").inner_text()
    page.screenshot(path=str(tmp_path / "widget-questions-answered.png"))
    watched.assert_clean(h)


def test_a_controller_accepts_an_elicitation_from_the_notebook_widget(server, open_page, tmp_path):
    game = new_game_id()
    answer = start_eliciting(server, game)
    request = open_request(server, game, answer)
    traits = {**traits_for(server, game, "socketio"), "token": server.token}
    watched = open_widget(open_page, server, traits)
    page, h = watched.page, handle(game)
    wait_until(page, f"{h} && {h}.ready && {h}.role === 'controller'")
    card = page.locator(f'.ccviz-permission[data-request="{request}"]')
    card.locator("button.accept").wait_for(state="visible")
    assert card.get_attribute("data-kind") == "elicitation"
    assert card.locator(".ccviz-permission-server").inner_text() == "h4"
    assert card.locator(".ccviz-permission-text").inner_text() == "Pick a colour"
    colour = card.locator('.ccviz-field[data-field="colour"]')
    count = card.locator('.ccviz-field[data-field="count"]')
    assert colour.locator(".ccviz-field-required").count() == 1  # required: marked
    assert count.locator(".ccviz-field-required").count() == 0
    assert colour.locator("select option").all_inner_texts() == ["choose…", "red", "blue"]
    assert count.locator("input").get_attribute("type") == "number"
    # Accept before the required field is filled: said on the card, nothing sent.
    card.locator("button.accept").click()
    error = card.locator(".ccviz-permission-error")
    error.wait_for(state="visible")
    assert error.inner_text() == "colour is required"
    assert page.evaluate(f"{h}.permissionAcks()") == []
    colour.locator("select").select_option("blue")
    count.locator("input").fill("2")
    page.screenshot(path=str(tmp_path / "widget-elicitation.png"))
    card.locator("button.accept").click()
    status, body = answer.result(10)
    assert status == 200, body
    assert json.loads(body) == {
        "hookSpecificOutput": {
            "hookEventName": "Elicitation",
            "action": "accept",
            "content": {"colour": "blue", "count": 2},
        }
    }
    snap = server.snapshot(game)["permissions"][request]
    assert snap["state"] == "accepted" and snap["source"] == "widget"
    outcome = card.locator(".ccviz-permission-outcome")
    outcome.wait_for(state="visible")
    assert outcome.inner_text().startswith("Accepted") and "colour: blue" in outcome.inner_text()
    page.screenshot(path=str(tmp_path / "widget-elicitation-accepted.png"))
    watched.assert_clean(h)


def test_an_elicitation_declined_from_the_page(server, open_page, tmp_path):
    game = new_game_id()
    answer = start_eliciting(server, game)
    request = open_request(server, game, answer)
    watched = as_controller(server, open_page, f"view/{game}", size=None)
    page = watched.page
    card = page.locator(f'.ccviz-permission[data-request="{request}"]')
    card.locator("button.decline").click()
    status, body = answer.result(10)
    assert (status, json.loads(body)) == (
        200,
        {"hookSpecificOutput": {"hookEventName": "Elicitation", "action": "decline"}},
    )
    outcome = card.locator(".ccviz-permission-outcome")
    outcome.wait_for(state="visible")
    assert outcome.inner_text().startswith("Declined")
    assert outcome.inner_text().endswith("via the page")
    watched.assert_clean()


def lobby_row(server, open_page, game: str, request: str, text: str, shot) -> Any:
    """The lobby as a controller, once the row of ``request`` shows; checks that it says
    ``text`` and offers a link into the game instead of Allow / Deny."""
    watched = as_controller(server, open_page, "", LOBBY_READY)
    page = watched.page
    row = page.locator(f'.game[data-game="{game}"] li.wait[data-request="{request}"]')
    row.wait_for(state="visible")
    page.screenshot(path=str(shot))
    assert text in row.locator(".text").inner_text()
    assert row.locator("button").count() == 0  # no Allow / Deny for these
    link = row.locator("a.answer-link")
    assert link.inner_text() == "answer in the game"
    assert link.evaluate("(a) => a.href").startswith(f"{server.url}view/{game}")
    return watched


def test_the_lobby_sends_a_form_to_the_game(server, open_page, tmp_path):
    game = new_game_id()
    form = start_eliciting(server, game)
    request = open_request(server, game, form)
    watched = lobby_row(server, open_page, game, request, "Pick a colour", tmp_path / "lobby.png")
    page = watched.page
    page.locator(f'.game[data-game="{game}"] a.answer-link').click()
    wait_until(page, READY)
    card = page.locator(f'.ccviz-permission[data-request="{request}"]')
    card.locator("button.decline").click()
    assert json.loads(form.result(10)[1])["hookSpecificOutput"]["action"] == "decline"
    watched.assert_clean()


def test_the_lobby_sends_a_question_to_the_game(server, open_page, tmp_path):
    game = new_game_id()
    question = start_questioning(server, game)
    request = open_request(server, game, question)
    try:
        watched = lobby_row(
            server, open_page, game, request, "Which colour?", tmp_path / "lobby.png"
        )
        watched.assert_clean()
    finally:
        answer_over_http(server, game, request, "deny")  # leave no hook held
        assert decision(question.result(10)[1])["behavior"] == "deny"
