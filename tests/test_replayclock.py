from __future__ import annotations

import asyncio

import pytest
from common import FIXTURES

from ccviz_kernel.engine.deltas import apply_deltas
from ccviz_kernel.events import PayloadError
from ccviz_kernel.hub import Hub
from ccviz_kernel.replays.load import load_replay
from ccviz_kernel.store import EventStore

TRANSCRIPT = (
    FIXTURES / "transcripts/-home-dev-pixel-quest/5d2a9e61-0b7c-4f38-a1e4-9c6b3f2d8a10.jsonl"
)


def test_replay_plays_pauses_seeks_and_mirrors_stay_exact(tmp_path):
    async def scenario():
        hub = Hub(EventStore(tmp_path / "e.sqlite3"))
        replay = load_replay(TRANSCRIPT)
        seen: list = []
        statuses: list = []
        hub.subscribe(lambda gid, applied: seen.append(applied))
        hub.subscribe_status(lambda gid, status: statuses.append(status))
        clock = hub.open_replay(replay.events, game_id="replay-1", speed=1000)
        mirror = hub.snapshot("replay-1")
        await asyncio.wait_for(clock.finished(), 10)
        for applied in seen:
            mirror = apply_deltas(mirror, applied.deltas)
        assert (
            mirror == hub.snapshot("replay-1") == replay.game().snapshot() | {"gameId": "replay-1"}
        )
        assert statuses[-1]["playing"] is False and statuses[-1]["position"] == clock.total
        # seeking back rebuilds: a reset update turns any state into the new one
        assert hub.act("replay-1", {"type": "seek", "seq": 5}) == 5
        assert seen[-1].reset and apply_deltas(mirror, seen[-1].deltas) == hub.snapshot("replay-1")
        assert hub.deltas_since("replay-1", 3) is None  # history was cleared by the reset
        hub.act("replay-1", {"type": "seek", "seq": 9})
        assert hub.deltas_since("replay-1", 5) is not None
        hub.act("replay-1", {"type": "speed", "speed": 2})
        assert clock.speed == 2
        with pytest.raises(PayloadError, match="speed must be between"):
            hub.act("replay-1", {"type": "speed", "speed": 0})
        with pytest.raises(PayloadError, match="is a replay"):
            hub.ingest({"hook_event_name": "Stop", "session_id": "replay-1"})
        with pytest.raises(PayloadError, match="not a replay"):
            hub.act("other", {"type": "pause"})
        assert any(row.get("replay") for row in hub.summaries())
        hub.close_replay("replay-1")
        hub.store.close()

    asyncio.run(scenario())


def test_a_mirror_follows_another_clock_and_passes_its_controls_on(tmp_path):
    """A replay whose clock runs in another process (a shared log): this hub shows it at
    the state it is given, never runs a timer of its own, and hands controls to its owner,
    checked first so a bad one is refused here."""

    async def scenario():
        hub = Hub(EventStore(tmp_path / "e.sqlite3"))
        replay = load_replay(TRANSCRIPT)
        asked: list = []
        state = {"position": 4, "playing": True, "speed": 8.0, "total": 0, "loop": False}
        clock = hub.open_replay(replay.events, game_id="rp", mirror=state)
        assert (clock.position, clock.playing, clock.speed) == (4, True, 8.0)
        await asyncio.sleep(0.05)
        assert clock.position == 4  # playing over there; no timer here
        clock.follow({**state, "position": 9, "playing": False})
        assert (clock.position, clock.playing) == (9, False)
        clock.follow({**state, "position": 2})  # back: rebuilt, as a seek
        assert clock.game.snapshot() == _played(replay, 2)
        clock.follow({"position": "junk"})  # not a state: ignored
        assert clock.position == 2
        with pytest.raises(PayloadError, match="out of reach"):
            hub.act("rp", {"type": "pause"})  # nobody to pass it to
        hub.ask_owner = lambda gid, action: asked.append((gid, action))
        assert hub.act("rp", {"type": "seek", "seq": 7}) == 2  # the owner moves it, later
        hub.act("rp", {"type": "speed", "speed": 2})
        with pytest.raises(PayloadError, match="speed must be between"):
            hub.act("rp", {"type": "speed", "speed": 0})
        with pytest.raises(PayloadError, match="integer 'seq'"):
            hub.act("rp", {"type": "seek", "seq": "7"})
        assert asked == [("rp", {"type": "seek", "seq": 7}), ("rp", {"type": "speed", "speed": 2})]
        hub.close_replay("rp")
        assert "rp" not in hub.mirrored
        hub.store.close()

    asyncio.run(scenario())


def _played(replay, n: int) -> dict:
    from ccviz_kernel.engine.game import Game

    game = Game("rp")
    for event in replay.events[:n]:
        game.apply(event)
    return game.snapshot()
