"""The history cache (replays/history.py) gives exactly the states the live game had."""

from __future__ import annotations

import json
import random

import pytest
from common import FIXTURES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import SID, payloads

from ccviz_kernel import samples
from ccviz_kernel.engine.deltas import apply_in_place
from ccviz_kernel.engine.game import Game
from ccviz_kernel.events import parse_event
from ccviz_kernel.hub import Hub
from ccviz_kernel.replays import history as history_module
from ccviz_kernel.replays.history import MAX_COUNT, GameHistory, HistoryCache
from ccviz_kernel.replays.load import load_replay
from ccviz_kernel.store import EventStore

MARKER_KINDS = {"prompt", "failure", "wait", "spawn", "leave", "compact", "todo", "end"}
SOURCES = [(name, kind) for name in samples.NAMES for kind in samples.KINDS]


def direct_states(game_id: str, events: list) -> list[dict]:
    """``states[n]``: the snapshot of a Game that applied events 1..n itself."""
    game = Game(game_id)
    states = [game.snapshot()]
    for event in events:
        game.apply(event)
        states.append(game.snapshot())
    return states


def check_against(history: GameHistory, states: list[dict], seqs, count: int) -> None:
    for seq in seqs:
        at, snapshot, deltas, effects = history.at(seq, count)
        assert at == seq and snapshot == states[seq]
        assert len(deltas) == len(effects) == min(count, len(states) - 1 - seq)
        state = snapshot
        for k, event_deltas in enumerate(deltas):
            apply_in_place(state, event_deltas)
            assert state == states[seq + 1 + k]
            assert all(e["seq"] == seq + 1 + k for e in effects[k])


@pytest.mark.parametrize(("name", "kind"), SOURCES)
def test_every_state_of_every_sample_matches_a_game_that_applied_the_events(name, kind):
    replay = load_replay(samples.path(name, kind))
    states = direct_states(replay.game_id, replay.events)
    history = GameHistory(replay.game_id)
    history.extend(replay.events)
    assert history.seq == len(replay.events)
    for seq in range(len(states)):  # every seq: across snapshot boundaries too
        assert history.state_at(seq) == states[seq]
    rng = random.Random(f"{name}-{kind}")
    check_against(history, states, rng.sample(range(len(states)), min(12, len(states))), 40)
    check_against(history, states, [0], len(states))  # one run over the whole game


def test_history_grown_in_pieces_equals_one_built_at_once():
    replay = load_replay(samples.path("long", "hooks"))
    whole = GameHistory(replay.game_id)
    whole.extend(replay.events)
    pieces = GameHistory(replay.game_id)
    cuts = [0, 1, 255, 256, 257, 400, len(replay.events)]
    for start, end in zip(cuts, cuts[1:], strict=False):
        pieces.extend(replay.events[start:end])
    assert pieces.summary() == whole.summary()
    for seq in (0, 255, 256, 257, 512, 600, len(replay.events)):
        assert pieces.at(seq, 50) == whole.at(seq, 50)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(payloads(), min_size=1, max_size=40), st.data())
def test_random_sessions_seek_to_the_states_the_game_had(items, data):
    events = [parse_event(p) for p in items]
    old = history_module.SNAPSHOT_EVERY
    history_module.SNAPSHOT_EVERY = 4  # many snapshot boundaries in a short session
    try:
        history = GameHistory(SID)
        history.extend(events)
        states = direct_states(SID, events)
        seqs = data.draw(st.lists(st.integers(0, len(events)), min_size=1, max_size=5))
        check_against(history, states, seqs, data.draw(st.integers(0, 12)))
        summary = history.summary()
    finally:
        history_module.SNAPSHOT_EVERY = old
    assert len(summary["times"]) == len(events)
    assert all(
        m["kind"] in MARKER_KINDS and 1 <= m["seq"] <= len(events) for m in summary["markers"]
    )
    assert {lane["agentId"] for lane in summary["lanes"]} == set(states[-1]["agents"])
    json.dumps(summary)  # plain data


def test_seq_and_count_are_clamped():
    replay = load_replay(samples.path("short", "hooks"))
    history = GameHistory(replay.game_id)
    history.extend(replay.events)
    total = len(replay.events)
    at, snapshot, deltas, _ = history.at(-5, 3)
    assert (at, snapshot["seq"], len(deltas)) == (0, 0, 3)
    at, snapshot, deltas, effects = history.at(total + 100, 10)
    assert (at, snapshot["seq"], deltas, effects) == (total, total, [], [])
    assert len(history.at(0, -1)[2]) == 0


def test_a_budget_shrinks_the_deltas_and_keeps_the_snapshot():
    replay = load_replay(samples.path("long", "hooks"))
    history = GameHistory(replay.game_id)
    history.extend(replay.events)
    _, snapshot, full, _ = history.at(100, 300)
    assert len(full) == 300
    size = len(json.dumps(snapshot, separators=(",", ":")))
    _, _, some, effects = history.at(100, 300, budget=size + 3000)
    assert 0 < len(some) < 300 and len(effects) == len(some) and some == full[: len(some)]
    _, again, none, _ = history.at(100, 300, budget=10)
    assert again == snapshot and none == []
    big = GameHistory("g")
    big.extend(
        parse_event({"hook_event_name": "SessionStart", "session_id": "g"}) for _ in range(1)
    )
    assert len(big.at(0, MAX_COUNT + 500)[2]) == 1


def test_markers_and_lanes_of_the_subagents_sample():
    replay = load_replay(samples.path("subagents", "hooks"))
    history = GameHistory(replay.game_id)
    history.extend(replay.events)
    summary = history.summary()
    kinds = [m["kind"] for m in summary["markers"]]
    assert set(kinds) == MARKER_KINDS
    assert kinds.count("spawn") == kinds.count("leave") == 2
    by_kind = {m["kind"]: m for m in summary["markers"]}
    assert replay.events[by_kind["prompt"]["seq"] - 1].name == "UserPromptSubmit"
    assert replay.events[by_kind["failure"]["seq"] - 1].name == "PostToolUseFailure"
    assert replay.events[by_kind["end"]["seq"] - 1].name == "SessionEnd"
    assert by_kind["end"]["agentId"] == "main"
    assert all(isinstance(m["text"], str) for m in summary["markers"])
    lanes = {lane["agentId"]: lane for lane in summary["lanes"]}
    final = history.state_at(history.seq)["agents"]
    assert set(lanes) == set(final)
    assert lanes["main"] == {
        "agentId": "main",
        "name": final["main"]["name"],
        "kind": "main",
        "type": "main",
        "parent": None,
        "from": 1,
        "to": history.seq,  # SessionEnd: every agent leaves
    }
    for agent_id, lane in lanes.items():
        if agent_id == "main":
            continue
        assert lane["kind"] == "subagent" and lane["parent"] == "main"
        assert 1 < lane["from"] < lane["to"] < history.seq
        assert agent_id not in history.state_at(lane["from"] - 1)["agents"]
        assert agent_id in history.state_at(lane["from"])["agents"]
        assert history.state_at(lane["to"])["agents"][agent_id]["state"] == "left"
        assert history.state_at(lane["to"] - 1)["agents"][agent_id]["state"] != "left"
    times = summary["times"]
    assert times == [int(e.ts * 1000) if e.ts is not None else None for e in replay.events]


def test_the_cache_keeps_the_most_recently_used_games():
    cache = HistoryCache(capacity=3)
    source = object()
    first = cache.get("a", source)
    for gid in "bc":
        cache.get(gid, source)
    assert cache.get("a", source) is first  # used again: now the newest
    cache.get("d", source)
    assert "b" not in cache and "a" in cache and len(cache) == 3
    assert cache.get("a", object()) is not first  # another source: built afresh


LINES = (FIXTURES / "hook-payloads.jsonl").read_text().splitlines()


@pytest.fixture
def hub(tmp_path):
    h = Hub(EventStore(tmp_path / "e.sqlite3"))
    yield h
    h.store.close()


def test_hub_history_of_a_logged_game_grows_with_the_log_and_changes_nothing(hub):
    gid = json.loads(LINES[0])["session_id"]
    assert hub.history(gid) is None
    for line in LINES[:10]:
        hub.ingest(line)
    history = hub.history(gid)
    assert history.seq == 10 and history.state_at(10) == hub.snapshot(gid)
    for line in LINES[10:]:
        hub.ingest(line)
    before = hub.snapshot(gid)
    assert hub.history(gid) is history and history.seq == len(LINES)
    assert history.state_at(len(LINES)) == before
    history.at(3, 5)
    assert hub.snapshot(gid) == before  # reading a history changes no game
    hub.evict_idle()
    hub.idle_seconds = 0
    assert hub.evict_idle() == [gid]
    assert hub.history(gid).state_at(len(LINES)) == before  # evicted: the log still has it


def test_hub_history_of_a_replay_is_the_whole_recording(hub):
    replay = load_replay(samples.path("subagents", "hooks"))
    clock = hub.open_replay(replay.events, game_id="r1", play=False)
    clock.seek(10)
    history = hub.history("r1")
    assert history.seq == clock.total == len(replay.events)
    assert clock.position == 10  # the presenter replay did not move
    assert history.state_at(10) == clock.game.snapshot()
    hub.open_replay(replay.events[:20], game_id="r1", play=False)  # opened again: afresh
    assert hub.history("r1").seq == 20
    hub.close_replay("r1")
    assert "r1" not in hub.histories and hub.history("r1") is None
