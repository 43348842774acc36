"""Permission requests under fuzz (protocol.md §14): Claude Code's waiting payloads
(``PermissionRequest`` for Write, Bash, AskUserQuestion and an MCP tool; ``Elicitation``
forms) with hostile values held at ``POST api/permissions``, then answered by a controller
over socket.io with hostile answers. A hostile answer is refused with a clear error and
leaves the request answerable; every held POST ends in a decision Claude Code reads, or
204; no traceback is logged, and afterwards every game is joinable."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import msgpack
import socketio
from common import ASK_COLOUR, SUGGEST_EDITS, elicitation_request, permission_request
from hypothesis import given
from hypothesis import strategies as st

from .support import (
    DEADLINE_S,
    EXAMPLES,
    ServerThread,
    dumps_lenient,
    fuzz_settings,
    hostile_values,
    join_every_game,
    paths_of,
    replaced,
    watched_logs,
    wire_safe,
)

GAMES = [f"fuzz-ask-{i}" for i in range(3)]
#: What Claude Code asks about: (tool, tool_input) for a PermissionRequest.
ASKS = [
    ("Write", {"file_path": "/home/dev/project/a.txt", "content": "hello\n"}),
    ("Bash", {"command": "rm -rf build", "description": "Clean the build"}),
    ("AskUserQuestion", ASK_COLOUR),
    ("mcp__colours__paint", {"colour": "blue", "count": 2}),
]
BEHAVIORS = ["allow", "deny", "answer", "accept", "decline", "cancel", "", None, 7]
ANSWER_KEYS = ["message", "always", "answers", "content", "by", "source", "agent"]
#: Fields a mutation leaves alone most of the time, so that most requests are held.
KEEP = {("session_id",), ("hook_event_name",)}


@st.composite
def waiting_payloads(draw):
    """A waiting payload for one of GAMES with none to three hostile values in it."""
    game = draw(st.sampled_from(GAMES))
    if draw(st.integers(0, 4)) == 0:
        payload = elicitation_request(game)
    else:
        tool, tool_input = draw(st.sampled_from(ASKS))
        payload = permission_request(game, tool, tool_input, permission_suggestions=SUGGEST_EDITS)
    keep = KEEP if draw(st.integers(0, 9)) else set()
    for _ in range(draw(st.integers(0, 3))):
        paths = [p for p in paths_of(payload)[1:] if p not in keep]
        payload = replaced(payload, draw(st.sampled_from(paths)), draw(hostile_values))
    return payload


#: Stands for a hostile value in a sampled list (drawn from ``hostile_values``).
HOSTILE = object()


def _pick(draw, options: list) -> object:
    value = draw(st.sampled_from(options))
    return draw(hostile_values) if value is HOSTILE else value


@st.composite
def answers(draw):
    """A controller's ``agent-action`` answer: mostly for the request that is open, with a
    behaviour its kind may take or not, and hostile values in some fields."""
    behaviors = ["allow", "deny", "accept", "decline", "pass", "allow", "accept", "cancel"]
    data = {"type": "permission", "behavior": _pick(draw, [*behaviors, None, HOSTILE, HOSTILE])}
    request = _pick(draw, ["the one"] * 5 + ["r1", "p-0", None, HOSTILE])
    if request is not None:
        data["request"] = request
    for key in draw(st.sets(st.sampled_from(ANSWER_KEYS))):
        if key == "answers":
            picked = [{"Which colour?": "Red"}, {"Which colour?": "Blue"}, {"x": "Red"}]
            data[key] = _pick(draw, [*picked, {"Which colour?": HOSTILE}, HOSTILE])
            if data[key] == {"Which colour?": HOSTILE}:
                data[key] = {"Which colour?": draw(hostile_values)}
        elif key == "content":
            filled = [{"colour": "blue"}, {"colour": "red", "count": 2}, {"count": 1}]
            data[key] = _pick(draw, [*filled, HOSTILE])
            if draw(st.booleans()) and isinstance(data[key], dict):
                data[key] = {
                    **data[key],
                    draw(st.sampled_from(["colour", "count"])): draw(hostile_values),
                }
        elif key == "message":
            data[key] = _pick(draw, ["Not this file.", "x" * 600, HOSTILE])
        else:
            data[key] = draw(hostile_values)
    return data


def release(request: dict) -> dict:
    """An answer that must always be taken for an open request: no, in its own terms."""
    return {"behavior": "decline" if request["kind"] == "elicitation" else "deny"}


def _encodable(data) -> bool:
    """Whether the msgpack client can send ``data`` at all (no int beyond 64 bits)."""
    try:
        msgpack.packb(data)
    except (OverflowError, ValueError, TypeError):
        return False
    return True


def test_held_requests_and_answers_survive_fuzz():
    deadline = time.monotonic() + DEADLINE_S
    tally = {"held": 0, "refused-at-once": 0, "taken": 0, "refused": 0, "released": 0}
    with watched_logs() as logs, ServerThread(answer_wait=5.0) as server:
        auth = {"Authorization": f"Bearer {server.token}"}
        desk = server.host.server.permissions

        async def setup():
            session = aiohttp.ClientSession()
            for game in GAMES:
                start = {"session_id": game, "hook_event_name": "SessionStart", "source": "startup"}
                async with session.post(f"{server.url}api/hooks", json=start, headers=auth) as r:
                    assert r.status == 204
            sio = socketio.AsyncClient(serializer="msgpack", reconnection=False)
            await sio.connect(
                server.url, transports=["websocket"], auth={"token": server.token}, wait_timeout=10
            )
            return session, sio

        session, controller = server.run(setup())

        def open_ids() -> set[tuple[str, str]]:
            found = set()
            for game_id in GAMES:
                game = server.hub.game(game_id)
                for request in (game.peek("permissions") or {}).values() if game else ():
                    if request["state"] == "open":
                        found.add((game_id, request["id"]))
            return found

        async def post(body: bytes) -> tuple[int, bytes]:
            async with session.post(f"{server.url}api/permissions", data=body, headers=auth) as r:
                return r.status, await r.read()

        async def ask_and_answer(body: bytes, answer: dict) -> None:
            before = open_ids()
            pending = asyncio.ensure_future(post(body))
            opened: set = set()
            for _ in range(300):
                opened = open_ids() - before
                if opened or pending.done():
                    break
                await asyncio.sleep(0.01)
            if not opened:
                status, text = await pending
                assert status < 500, (status, text, body[:300])
                assert status == 204 or status >= 400, (status, text)
                tally["refused-at-once"] += 1
                return
            tally["held"] += 1
            ((game_id, request_id),) = opened
            request = server.hub.game(game_id).peek("permissions", request_id)
            wire_safe(request)
            data = {**answer, "gameId": game_id}
            if data.get("request") == "the one":
                data["request"] = request_id
            ack = await controller.call("agent-action", data, timeout=10)
            assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool), ack
            wire_safe(ack)
            if ack["ok"]:
                tally["taken"] += 1
            else:
                assert isinstance(ack.get("error"), str) and ack["error"], ack
                tally["refused"] += 1
            if server.hub.game(game_id).peek("permissions", request_id)["state"] == "open":
                # Refused (or it answered another request): this one is still answerable.
                again = {"gameId": game_id, "type": "permission", "request": request_id}
                ack = await controller.call("agent-action", {**again, **release(request)})
                assert ack["ok"] is True, (ack, request)
                tally["released"] += 1
            status, text = await asyncio.wait_for(pending, 10)
            closed = server.hub.game(game_id).peek("permissions", request_id)
            if closed["state"] == "passed":  # left to Claude Code's own prompt: no decision
                assert (status, text) == (204, b""), (status, text)
                return
            assert status == 200, (status, text, closed)
            output = json.loads(text)["hookSpecificOutput"]
            assert output["hookEventName"] in ("PermissionRequest", "Elicitation"), output

        @given(waiting_payloads(), answers(), st.sampled_from(["whole"] * 18 + ["cut", "deep"]))
        @fuzz_settings()
        def fuzz(payload, answer, body_kind):
            if time.monotonic() > deadline or not _encodable(answer):
                return
            body = dumps_lenient(payload)
            if body_kind == "cut":  # not even JSON, or nested past any parser's depth
                body = body[: len(body) // 2]
            elif body_kind == "deep":
                body = dumps_lenient({**payload, "tool_input": "DEEP"}).replace(
                    b'"DEEP"', b'{"a":[' * 1500 + b"0" + b"]}" * 1500
                )
            server.run(ask_and_answer(body, answer), timeout=30)

        try:
            fuzz()
        finally:
            server.run(session.close())
        print(f"permission fuzz: {EXAMPLES} inputs, {tally}")
        assert tally["held"] >= min(EXAMPLES, 100) // 2, tally
        assert tally["taken"] > 0 and tally["refused"] > 0, tally
        assert tally["refused-at-once"] > 0, tally
        assert desk.held() == 0 and not open_ids()

        async def afterwards():
            lobby = await controller.call("list-games", {})
            assert lobby["ok"] is True, lobby
            wire_safe(lobby)
            await controller.disconnect()
            return await join_every_game(server.url, GAMES, "msgpack")

        for ack in server.run(afterwards(), timeout=120).values():
            wire_safe(ack)
        for game_id in GAMES:
            wire_safe(server.hub.snapshot(game_id))
        wire_safe(server.hub.waiting())
    assert logs.lines() == []
