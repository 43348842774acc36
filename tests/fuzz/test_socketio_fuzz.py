"""socket.io events under fuzz, with both serializers: known events with hostile data,
reserved and unknown names, from a viewer and from a controller, against a real server
over loopback. Every ack is an answer (``ok`` true or a clear error), no traceback is
logged, and afterwards the server still serves and every game is joinable."""

from __future__ import annotations

import json
import time

import aiohttp
import pytest
import socketio
from hypothesis import given
from hypothesis import strategies as st

from .support import (
    DEADLINE_S,
    EXAMPLES,
    REAL_PAYLOADS,
    ServerThread,
    fuzz_settings,
    hostile_values,
    join_every_game,
    mutated_payloads,
    watched_logs,
    wire_safe,
)

#: Events the server answers (with an ack).
KNOWN = ["join-game", "leave-game", "list-games", "agent-action", "game-history", "game-at"]
#: Names socket.io keeps for itself, and others a client has no business sending.
RESERVED = ["connect", "disconnect", "connect_error", "message", "*", "", "__proto__"]
GAMES = [f"fuzz-{i}" for i in range(4)]
ACTIONS = ["hook", "say", "move", "rename", "annotate", "rules", "pause", "resume", "step",
           "seek", "speed", "permission", "nope", None, 7]  # fmt: skip


@st.composite
def known_data(draw):
    """Data shaped like what a known event takes, with hostile values in some fields."""
    data = {"gameId": draw(st.sampled_from([*GAMES, "missing"]) | hostile_values)}
    keys = ["since", "seq", "count", "type", "agent", "text", "place", "name", "payload",
            "speed", "tools", "request", "behavior", "message", "answers", "content",
            "always"]  # fmt: skip
    for key in draw(st.sets(st.sampled_from(keys))):
        if key == "type":
            data[key] = draw(st.sampled_from(ACTIONS))
        elif key == "payload":
            data[key] = draw(mutated_payloads(sessions=4) | hostile_values)
        elif key in ("agent",):
            data[key] = draw(st.sampled_from(["main", "nobody"]) | hostile_values)
        else:
            data[key] = draw(hostile_values)
    return data


@st.composite
def messages(draw):
    """(as controller?, event name, data, expects an ack?)"""
    controller = draw(st.booleans())
    kind = draw(st.sampled_from(["known"] * 6 + ["reserved", "unknown", "junk"]))
    if kind == "known":
        return controller, draw(st.sampled_from(KNOWN)), draw(known_data()), True
    name = draw(st.sampled_from(RESERVED)) if kind == "reserved" else draw(st.text(max_size=20))
    if kind == "junk":
        name = draw(st.sampled_from(KNOWN))
    return controller, name, draw(hostile_values), kind == "junk"


def _encodable(serializer: str, data) -> bool:
    """Whether this client can send ``data`` at all (msgpack holds no int beyond 64 bits)."""
    if serializer != "msgpack":
        return True
    import msgpack

    try:
        msgpack.packb(data)
    except (OverflowError, ValueError, TypeError):
        return False
    return True


@pytest.mark.parametrize("serializer", ["msgpack", "default"])
def test_socketio_events_survive_fuzz(serializer):
    deadline = time.monotonic() + DEADLINE_S
    acks: dict[str, int] = {"ok": 0, "error": 0, "timeout": 0}
    with watched_logs() as logs, ServerThread(json_mode=serializer == "default") as server:

        async def setup():
            async with aiohttp.ClientSession() as session:
                auth = {"Authorization": f"Bearer {server.token}"}
                for game in GAMES:
                    for payload in REAL_PAYLOADS[:12]:
                        body = json.dumps({**payload, "session_id": game})
                        async with session.post(f"{server.url}api/hooks", data=body, headers=auth):
                            pass
            clients = {}
            for role, auth in (("viewer", None), ("controller", {"token": server.token})):
                sio = socketio.AsyncClient(serializer=serializer, reconnection=False)
                await sio.connect(server.url, transports=["websocket"], auth=auth, wait_timeout=10)
                clients[role] = sio
            return clients

        clients = server.run(setup())

        async def send(sio, name, data, ack):
            if not sio.connected:  # the server may drop a client that misbehaves: come back
                await sio.connect(server.url, transports=["websocket"], auth=sio.connection_auth,
                                  wait_timeout=10)  # fmt: skip
            if ack:
                try:
                    answer = await sio.call(name, data, timeout=10)
                except socketio.exceptions.TimeoutError:
                    return "timeout"
                assert isinstance(answer, dict) and isinstance(answer.get("ok"), bool), answer
                wire_safe(answer)
                return "ok" if answer["ok"] else "error"
            await sio.emit(name, data)
            return None

        @given(messages())
        @fuzz_settings()
        def fuzz(message):
            if time.monotonic() > deadline:
                return
            controller, name, data, ack = message
            if not _encodable(serializer, data):
                return
            sio = clients["controller" if controller else "viewer"]
            outcome = server.run(send(sio, name, data, ack))
            if outcome:
                acks[outcome] += 1

        fuzz()
        print(f"socket.io fuzz ({serializer}): {EXAMPLES} inputs, acks {acks}")
        assert acks["timeout"] == 0, acks
        assert acks["ok"] > 0 and acks["error"] > 0, acks
        assert sum(acks.values()) >= min(EXAMPLES, 100) // 2, acks

        async def afterwards():
            for sio in clients.values():
                if sio.connected:
                    await sio.disconnect()
            return await join_every_game(server.url, server.hub.live_ids(), serializer)

        for ack in server.run(afterwards(), timeout=120).values():
            wire_safe(ack)
        for game_id in server.hub.live_ids():
            wire_safe(server.hub.snapshot(game_id))
    assert logs.lines() == []
