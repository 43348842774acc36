"""Permission requests held for an answer (issue 16, protocol.md §14), over real sockets.

A ``POST api/permissions`` stands for Claude Code's http hook (the payload it sends, seen
on 2.1.332: tests/e2e/PERMISSIONS.md); answers come from socket.io controllers, HTTP and
the hub, refusals for viewers; every way without a decision answers 204.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
import socketio
from common import (
    ALWAYS_ALLOW_WRITE,
    ASK_COLOUR,
    SUGGEST_EDITS,
    elicitation_request,
    permission_request,
)

from ccviz_kernel.engine.game import Game
from ccviz_kernel.errors import PayloadError
from ccviz_kernel.events import parse_event
from ccviz_kernel.hosts.standalone import start

GAME = "9c1f5e2a-4b3d-4e8f-a0b1-c2d3e4f5a6b7"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def request_payload(tool: str = "Write", **tool_input) -> dict:
    return permission_request(GAME, tool, tool_input or None, permission_suggestions=SUGGEST_EDITS)


async def hook(session, host, path: str, payload: dict) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {host.server.auth.ingest_token}"}
    async with session.post(host.url + path, json=payload, headers=headers) as answer:
        return answer.status, await answer.text()


async def held(session, host, payload: dict) -> asyncio.Task:
    """Start a held api/permissions POST; returns once the request is open in the game."""
    task = asyncio.ensure_future(hook(session, host, "api/permissions", payload))
    for _ in range(200):
        if open_requests(host):
            return task
        await asyncio.sleep(0.01)
    raise AssertionError(f"no open request; the POST gave {await task}")


def open_requests(host) -> list[dict]:
    game = host.hub.game(GAME)
    requests = game.peek("permissions").values() if game is not None else []
    return [r for r in requests if r["state"] == "open"]


async def client(host, token: str | None) -> socketio.AsyncClient:
    sio = socketio.AsyncClient(serializer="msgpack")
    await sio.connect(host.url, transports=["websocket"], auth={"token": token} if token else None)
    return sio


async def session_start(session, host) -> None:
    start_payload = {"session_id": GAME, "hook_event_name": "SessionStart", "source": "startup"}
    assert (await hook(session, host, "api/hooks", start_payload))[0] == 204


def test_a_controller_allows_and_denies_over_socketio_and_a_viewer_is_refused():
    async def scenario():
        host = await start(port=0, runtime=False)
        try:
            async with aiohttp.ClientSession() as session:
                await session_start(session, host)
                viewer = await client(host, None)
                controller = await client(host, host.server.auth.ingest_token)
                joined = await controller.call("join-game", {"gameId": GAME})
                assert joined["role"] == "controller"
                assert (await viewer.call("join-game", {"gameId": GAME}))["role"] == "viewer"

                pending = await held(session, host, request_payload())
                (request,) = open_requests(host)
                assert request["answerable"] and request["tool"] == "Write"
                assert request["suggestions"] == ["mode acceptEdits"]
                assert request["input"]["file_path"].endswith("a.txt")
                assert host.hub.game(GAME).peek("agents", "main", "request") == request["id"]
                answer = {"gameId": GAME, "type": "permission", "request": request["id"]}
                refused = await viewer.call("agent-action", {**answer, "behavior": "allow"})
                assert refused["ok"] is False and "controller" in refused["error"]
                ack = await controller.call(
                    "agent-action", {**answer, "behavior": "allow", "source": "page"}
                )
                assert ack["ok"] is True
                status, text = await pending
                assert status == 200
                decision = json.loads(text)["hookSpecificOutput"]
                assert decision == {
                    "hookEventName": "PermissionRequest",
                    "decision": {"behavior": "allow"},
                }
                again = await controller.call("agent-action", {**answer, "behavior": "deny"})
                assert again["ok"] is False and "already answered" in again["error"]
                closed = host.hub.game(GAME).peek("permissions", request["id"])
                assert (closed["state"], closed["by"], closed["source"]) == (
                    "allowed",
                    "controller",
                    "page",
                )

                pending = await held(session, host, request_payload("Bash", command="rm -rf build"))
                (request,) = open_requests(host)
                assert request["text"] == "$ rm -rf build"
                ack = await controller.call(
                    "agent-action",
                    {**answer, "request": request["id"], "behavior": "deny", "message": "Not rm."},
                )
                assert ack["ok"] is True
                status, text = await pending
                decision = json.loads(text)["hookSpecificOutput"]["decision"]
                assert (status, decision) == (200, {"behavior": "deny", "message": "Not rm."})
                for sio in (viewer, controller):
                    await sio.disconnect()
        finally:
            await host.close()

    run(scenario())


def test_always_allow_over_http_gives_a_session_rule_and_replays_show_the_answers():
    async def scenario():
        host = await start(port=0, runtime=False)
        try:
            async with aiohttp.ClientSession() as session:
                await session_start(session, host)
                pending = await held(session, host, request_payload())
                (request,) = open_requests(host)
                action = {"type": "permission", "request": request["id"], "behavior": "allow"}
                action.update(always=True, by="ana", source="python")
                headers = {"Authorization": f"Bearer {host.server.auth.ingest_token}"}
                url = f"{host.url}api/games/{GAME}/actions"
                async with session.post(url, json=action, headers=headers) as answer:
                    assert answer.status == 200, await answer.text()
                status, text = await pending
                decision = json.loads(text)["hookSpecificOutput"]["decision"]
                assert decision == ALWAYS_ALLOW_WRITE
            live = host.hub.snapshot(GAME)
            replayed = Game(GAME)
            for event in host.hub.events(GAME):
                replayed.apply(event)
            assert replayed.snapshot()["permissions"] == live["permissions"]
            assert live["permissions"][request["id"]]["by"] == "ana"
        finally:
            await host.close()

    run(scenario())


def test_no_answer_claude_code_gone_and_a_stopping_server_all_give_no_decision():
    async def scenario():
        host = await start(port=0, runtime=False, answer_wait=0.5)
        try:
            async with aiohttp.ClientSession() as session:
                await session_start(session, host)
                began = time.monotonic()
                status, text = await hook(session, host, "api/permissions", request_payload())
                assert (status, text) == (204, "")
                assert 0.45 < time.monotonic() - began < 3
                states = [r["state"] for r in host.hub.game(GAME).peek("permissions").values()]
                assert states == ["expired"]
        finally:
            await host.close()
        host = await start(port=0, runtime=False, answer_wait=20)
        try:
            session = aiohttp.ClientSession()  # Claude Code's own timeout: it hangs up
            await session_start(session, host)
            task = await held(session, host, request_payload())
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await session.close()
            for _ in range(100):
                if not open_requests(host):
                    break
                await asyncio.sleep(0.05)
            states = [r["state"] for r in host.hub.game(GAME).peek("permissions").values()]
            assert states == ["expired", "withdrawn"]  # the same data folder: the game goes on
        finally:
            await host.close()
        host = await start(port=0, runtime=False)
        async with aiohttp.ClientSession() as session:
            await session_start(session, host)
            task = await held(session, host, request_payload())
            began = time.monotonic()
            await host.close()  # SIGTERM's drain: the held hook is answered, no decision
            assert (await task)[0] == 204
            assert time.monotonic() - began < 3

    run(scenario())


def test_requests_seen_through_api_hooks_are_shown_but_not_answerable():
    async def scenario():
        host = await start(port=0, runtime=False)
        try:
            async with aiohttp.ClientSession() as session:
                await session_start(session, host)
                assert (await hook(session, host, "api/hooks", request_payload()))[0] == 204
                for _ in range(100):  # the reorder window holds it a while for its PreToolUse
                    if open_requests(host):
                        break
                    await asyncio.sleep(0.02)
                (request,) = open_requests(host)
                assert request["answerable"] is False
                try:
                    host.hub.act(
                        GAME, {"type": "permission", "request": request["id"], "behavior": "allow"}
                    )
                except Exception as exc:  # noqa: BLE001 - the message is the point
                    assert "api/hooks" in str(exc)
                else:
                    raise AssertionError("an unanswerable request took an answer")
                (row,) = [g for g in host.hub.summaries() if g["gameId"] == GAME]
                assert row["waiting"][0]["wait"] == "permission"
                assert row["waiting"][0]["request"] == request["id"]
                assert host.hub.waiting()[0]["gameId"] == GAME
                done = {"session_id": GAME, "hook_event_name": "PostToolUse", "tool_name": "Write"}
                done["tool_input"] = request_payload()["tool_input"]
                done["tool_use_id"] = "toolu_w1"
                assert (await hook(session, host, "api/hooks", done))[0] == 204
                for _ in range(100):  # held a while too: its PreToolUse never came
                    if not open_requests(host):
                        break
                    await asyncio.sleep(0.02)
                closed = host.hub.game(GAME).peek("permissions", request["id"])
                assert closed["state"] == "moved-on"  # answered in Claude Code itself
                status, text = await hook(
                    session,
                    host,
                    "api/permissions",
                    {"session_id": GAME, "hook_event_name": "Stop"},
                )
                assert status == 400 and "PermissionRequest" in text
        finally:
            await host.close()

    run(scenario())


def test_the_engine_refuses_bad_answers_before_they_are_logged():
    game = Game(GAME)
    payload = {**request_payload(), "ccviz_request": "p0123456789ab"}
    game.apply(parse_event(payload, ts=1.0))
    for bad, why in (
        ({"behavior": "maybe"}, "behavior"),
        ({"request": "nope"}, "no open request"),
        ({"message": 3}, "message"),
        ({"message": "x" * 600}, "longer"),
    ):
        answer = {"hook_event_name": "ccviz.permission", "session_id": GAME}
        answer.update({"request": "p0123456789ab", "behavior": "deny", **bad})
        try:
            game.validate(parse_event(answer))
        except Exception as exc:  # noqa: BLE001
            assert why in str(exc)
        else:
            raise AssertionError(f"{bad} was taken")


def test_a_widget_over_the_comm_answers_through_the_kernels_hub():
    """The in-kernel feed of a notebook widget (notebook/widget.py) takes the widget's
    answer to the hub it mirrors, as the kernel's user."""
    import getpass
    from types import SimpleNamespace

    from ccviz_kernel.notebook.widget import _HubFeed

    async def scenario():
        host = await start(port=0, runtime=False)
        try:
            async with aiohttp.ClientSession() as session:
                await session_start(session, host)
                pending = await held(session, host, request_payload())
                (request,) = open_requests(host)
                view = SimpleNamespace(game_id=GAME, send=lambda m: None, _offline_wanted=False)
                feed = _HubFeed(view, host.hub, 30.0)
                acks: list[dict] = []
                action = {"type": "permission", "request": request["id"], "behavior": "allow"}
                feed.request({"type": "act", "action": action}, acks.append)
                assert acks and acks[0]["ok"] is True, acks
                status, text = await pending
                assert (status, json.loads(text)["hookSpecificOutput"]["decision"]) == (
                    200,
                    {"behavior": "allow"},
                )
                closed = host.hub.game(GAME).peek("permissions", request["id"])
                assert (closed["source"], closed["by"]) == ("widget", getpass.getuser())
                feed.request({"type": "act", "action": {"type": "say"}}, acks.append)
                assert acks[-1]["ok"] is False and "permission" in acks[-1]["error"]
                feed.close()
        finally:
            await host.close()

    run(scenario())


QUESTION = ASK_COLOUR
BLUE = {"Which colour?": "Blue"}
ELICITATION = elicitation_request(GAME, server="h4")


def test_a_question_and_an_elicitation_are_answered_with_what_was_picked():
    async def scenario():
        host = await start(port=0, runtime=False)
        try:
            async with aiohttp.ClientSession() as session:
                await session_start(session, host)
                pending = await held(session, host, request_payload("AskUserQuestion", **QUESTION))
                (request,) = open_requests(host)
                assert request["kind"] == "question" and request["text"] == "Which colour?"
                assert request["questions"] == [
                    {
                        "question": "Which colour?",
                        "header": "Colour",
                        "options": ["Red", "Blue"],
                        "multiSelect": False,
                    }
                ]
                answer = {"type": "permission", "request": request["id"], "behavior": "allow"}
                for bad, why in (
                    ({}, "answers"),
                    ({"answers": {"Which size?": "L"}}, "no question"),
                ):
                    with pytest.raises(PayloadError, match=why):
                        host.hub.act(GAME, {**answer, **bad})
                host.hub.act(GAME, {**answer, "answers": BLUE})
                status, text = await pending
                decision = json.loads(text)["hookSpecificOutput"]["decision"]
                assert (status, decision["behavior"]) == (200, "allow")
                assert decision["updatedInput"] == {
                    **QUESTION,
                    "answers": {"Which colour?": "Blue"},
                }
                closed = host.hub.game(GAME).peek("permissions", request["id"])
                assert (closed["state"], closed["answer"]) == (
                    "answered",
                    {"Which colour?": "Blue"},
                )

                pending = await held(session, host, ELICITATION)
                (request,) = open_requests(host)
                assert (request["kind"], request["server"], request["text"]) == (
                    "elicitation",
                    "h4",
                    "Pick a colour",
                )
                assert [(f["name"], f["type"], f["required"]) for f in request["fields"]] == [
                    ("colour", "string", True),
                    ("count", "integer", False),
                ]
                answer = {"type": "permission", "request": request["id"], "behavior": "accept"}
                for bad, why in (
                    ({"content": {"count": 2}}, "needs colour"),
                    ({"content": {"colour": "green"}}, "one of"),
                    ({"content": {"colour": "red", "count": "2"}}, "integer"),
                    ({"content": {"colour": "red", "size": 1}}, "no field"),
                ):
                    with pytest.raises(PayloadError, match=why):
                        host.hub.act(GAME, {**answer, **bad})
                with pytest.raises(PayloadError, match="answered with"):
                    host.hub.act(GAME, {**answer, "behavior": "allow"})
                host.hub.act(GAME, {**answer, "content": {"colour": "blue", "count": 2}})
                status, text = await pending
                assert (status, json.loads(text)) == (
                    200,
                    {
                        "hookSpecificOutput": {
                            "hookEventName": "Elicitation",
                            "action": "accept",
                            "content": {"colour": "blue", "count": 2},
                        }
                    },
                )
                pending = await held(session, host, ELICITATION)
                (request,) = open_requests(host)
                host.hub.act(GAME, {**answer, "request": request["id"], "behavior": "decline"})
                decline = {"hookEventName": "Elicitation", "action": "decline"}
                assert json.loads((await pending)[1]) == {"hookSpecificOutput": decline}
        finally:
            await host.close()

    run(scenario())


def test_a_server_holds_a_bounded_number_of_requests(monkeypatch):
    from ccviz_kernel.server import core

    monkeypatch.setattr(core, "MAX_HELD", 2)

    async def scenario():
        host = await start(port=0, runtime=False, answer_wait=5)
        try:
            async with aiohttp.ClientSession() as session:
                await session_start(session, host)
                tasks = [await held(session, host, request_payload()) for _ in range(1)]
                other = {**request_payload(), "session_id": GAME, "tool_name": "Edit"}
                tasks.append(asyncio.ensure_future(hook(session, host, "api/permissions", other)))
                for _ in range(100):  # held, and applied (the reorder window holds it first)
                    if host.server.permissions.held() == 2 and len(open_requests(host)) == 2:
                        break
                    await asyncio.sleep(0.02)
                status, text = await hook(session, host, "api/permissions", request_payload())
                assert status == 429 and "Claude Code asks itself" in text
                for request in open_requests(host):
                    answer = {"type": "permission", "request": request["id"], "behavior": "deny"}
                    host.hub.act(GAME, answer)
                assert [status for status, _ in await asyncio.gather(*tasks)] == [200, 200]
        finally:
            await host.close()

    run(scenario())
