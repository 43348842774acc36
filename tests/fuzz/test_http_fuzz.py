"""HTTP ingest under fuzz: real payloads with hostile values, broken bodies, odd headers,
posted to a real server over loopback. No answer is a server error, no traceback is
logged, and afterwards every game is joinable by a msgpack and a JSON viewer."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import time
import urllib.parse

import orjson
from hypothesis import given
from hypothesis import strategies as st

from .support import (
    DEADLINE_S,
    EXAMPLES,
    ServerThread,
    dumps_lenient,
    fuzz_settings,
    join_every_game,
    mutated_payloads,
    watched_logs,
    wire_safe,
)

ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"]


@st.composite
def requests(draw):
    """One POST to ``api/hooks``: (body bytes, extra headers)."""
    kind = draw(st.sampled_from(["mutated"] * 6 + ["encoding", "deep", "bytes", "header"]))
    headers: dict[str, str] = {}
    payload = draw(mutated_payloads())
    body = dumps_lenient(payload)
    if kind == "encoding":
        text = body.decode("utf-8", "surrogatepass")
        body = text.encode(draw(st.sampled_from(ENCODINGS)), "replace")
    elif kind == "deep":
        depth = draw(st.integers(200, 5000))
        where = draw(st.sampled_from(["tool_input", "usage", "whole", "tool_response"]))
        if where == "whole":
            body = b"[" * depth + b"]" * depth
        else:
            nested = b'{"a":' * depth + b"0" + b"}" * depth
            body = dumps_lenient({**payload, where: "DEEP"}).replace(b'"DEEP"', nested)
    elif kind == "bytes":
        body = draw(st.binary(max_size=300))
    elif kind == "header":
        name = draw(
            st.sampled_from(["Content-Encoding", "X-Ccviz-Time", "X-Ccviz-Id", "Content-Type"])
        )
        value = draw(
            st.sampled_from(["gzip", "br", "deflate", "zstd", "x", "1e300", "-1e300", "nan", "inf",
                             "9" * 400, "", "application/x-www-form-urlencoded", "é"])
        )  # fmt: skip
        headers[name] = value
        if name == "Content-Encoding" and value == "gzip" and draw(st.booleans()):
            body = gzip.compress(body)
    return body, headers


def test_http_ingest_survives_fuzz():
    deadline = time.monotonic() + DEADLINE_S
    answers: dict[int, int] = {}
    with watched_logs() as logs, ServerThread() as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        auth = {"Authorization": f"Bearer {server.token}"}

        @given(requests())
        @fuzz_settings()
        def post(request):
            if time.monotonic() > deadline:
                return
            body, headers = request
            try:
                connection.request("POST", "/api/hooks", body, {**auth, **headers})
                response = connection.getresponse()
                text = response.read()
            except (http.client.HTTPException, OSError):  # the server closed a bad request
                connection.close()
                connection.connect()
                return
            answers[response.status] = answers.get(response.status, 0) + 1
            assert response.status < 500, (response.status, text, body[:300], headers)

        post()
        connection.close()
        print(f"http fuzz: {EXAMPLES} inputs, answers {dict(sorted(answers.items()))}")
        assert sum(answers.values()) >= min(EXAMPLES, 100), answers
        assert answers.get(204, 0) + answers.get(200, 0) > 0, answers  # some games did form

        health = server.run(_get(server.port, "/healthz"))
        assert health[0] == 200
        games = json.loads(server.run(_get(server.port, "/api/games"))[1])["games"]
        ids = [g["gameId"] for g in games]
        assert ids
        # the default page and widget are msgpack viewers; wire_safe also holds each ack to
        # what a JSON viewer can read (the JSON host is fuzzed in test_socketio_fuzz)
        acks = asyncio.run(asyncio.wait_for(join_every_game(server.url, ids, "msgpack"), 120))
        for ack in acks.values():
            wire_safe(ack)
        for game_id in ids:
            wire_safe(server.hub.snapshot(game_id))
            path = f"/api/games/{urllib.parse.quote(game_id, safe='')}/events"
            status, text = server.run(_get(server.port, path))
            assert status == 200
            orjson.loads(text)
    assert logs.lines() == []


async def _get(port: int, path: str) -> tuple[int, bytes]:
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status, await response.read()
