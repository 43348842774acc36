"""``POST api/replays``: a recording in parts, checked before anything is opened."""

from __future__ import annotations

import asyncio
import json

from ccviz_kernel import samples
from ccviz_kernel.hub import Hub
from ccviz_kernel.server.uploads import ReplayUploads
from ccviz_kernel.store import EventStore

LINES = [json.loads(line) for line in samples.path("short", "hooks").read_text().splitlines()]


def body(**fields) -> bytes:
    return json.dumps(fields).encode()


def test_parts_add_up_to_one_replay_game_at_its_end():
    async def main():
        hub = Hub(EventStore(":memory:"))
        uploads = ReplayUploads(hub)
        status, answer = uploads.receive(body(gameId="r1", events=LINES[:5]))
        assert (status, answer["received"]) == (200, 5)
        assert hub.game("r1") is None  # nothing opens before the last part
        status, answer = uploads.receive(body(gameId="r1", events=[*LINES[5:], "junk"], done=True))
        assert status == 200 and answer["events"] == len(LINES) and answer["skipped"] == 1
        assert answer["url"] == "view/r1"
        snap = hub.snapshot("r1")
        assert snap["seq"] == len(LINES) and snap["status"] == "ended"
        assert hub.replays["r1"].status()["playing"] is False

    asyncio.run(main())


def test_bad_parts_get_a_reason_and_open_nothing():
    async def main():
        hub = Hub(EventStore(":memory:"))
        uploads = ReplayUploads(hub)
        cases = [
            (b"{", "invalid JSON"),
            (body(events=LINES), "'gameId' must be a string"),
            (body(gameId="x", events="nope"), "api/replays takes"),
            (body(gameId="x", events=["junk"], done=True), "no usable events"),
        ]
        for data, reason in cases:
            status, answer = uploads.receive(data)
            assert status == 400 and reason in answer["error"], (data, answer)
        assert hub.replays == {}
        hub.ingest(LINES[0])  # a stored, hook-fed game keeps its id
        sid = LINES[0]["session_id"]
        status, answer = uploads.receive(body(gameId=sid, events=LINES, done=True))
        assert status == 400 and "already exists" in answer["error"]

    asyncio.run(main())
