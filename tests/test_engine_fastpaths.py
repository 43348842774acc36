"""The hand-written fast paths of the engine, the parser and the transcript reader (issue 14:
parse + apply and the replay load time) agree with the general code they stand in for."""

from __future__ import annotations

import gc
import random
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest

from ccviz_kernel import samples
from ccviz_kernel.claude import _transcript_read
from ccviz_kernel.claude._transcript_lines import Problems
from ccviz_kernel.claude.lines import LoadResult
from ccviz_kernel.claude.timestamps import parse_micros
from ccviz_kernel.engine import speech
from ccviz_kernel.engine.deltas import apply_deltas
from ccviz_kernel.engine.game import Game
from ccviz_kernel.events import MAX_EVENT_TIME, parse_event
from ccviz_kernel.replays.load import _paused_gc, load_replay


def _stamps(count: int, seed: int) -> list[str]:
    """Times in the shape Claude Code writes, and that shape damaged a character or four
    at a time (the fast paths only take the 24-character ``…T…Z`` shape)."""
    rnd = random.Random(seed)
    epoch = datetime(1970, 1, 1)
    out = []
    for _ in range(count):
        micros = rnd.randrange(-(10**16), 253_402_300_800 * 10**6)
        out.append((epoch + timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:23])
        out[-1] += "Z"
    for _ in range(count):
        chars = list("2026-08-24T13:05:12.123Z")
        for _ in range(rnd.randint(1, 4)):
            chars[rnd.randrange(24)] = rnd.choice("0123456789-:T.+Z ,_e")
        chars[10], chars[23] = "T", "Z"
        out.append("".join(chars))
    return out + [
        "0001-01-01T00:00:00.000Z",
        "1969-12-31T23:59:59.999Z",
        "1970-01-01T00:00:00.000Z",
        "9999-12-31T23:59:59.999Z",
        "2026-08-24T13:05+01:00:0Z",  # an aware time before the Z
        "2026-02-30T13:05:12.123Z",
        "2026-08-24T24:00:00.000Z",
    ]


def test_parse_event_reads_times_as_parse_micros_does():
    for stamp in _stamps(3000, seed=1):
        micros = parse_micros(stamp)
        expected = None if micros is None else micros / 1_000_000
        if expected is not None and not 0.0 <= expected < MAX_EVENT_TIME:
            expected = None
        event = parse_event({"hook_event_name": "Stop", "session_id": "s", "timestamp": stamp})
        assert event.ts == expected, stamp


def test_transcript_lines_read_times_as_parse_micros_does():
    reader = _transcript_read._FileReader(
        Path("/nonexistent/s.jsonl"), LoadResult(kind="transcript"), Problems()
    )
    for number, stamp in enumerate(_stamps(3000, seed=2), start=1):
        reader.lines.clear()
        reader._take(
            number, {"type": "user", "timestamp": stamp}, None, file=1, label="", agent_id=None
        )
        got = reader.lines[0].when if reader.lines else None
        assert got == parse_micros(stamp), stamp


def test_parse_event_text_and_dict_agree_and_errors_stay_the_same():
    from ccviz_kernel.errors import PayloadError

    line = '{"hook_event_name": "Stop", "session_id": "s", "timestamp": "2026-08-24T13:05:12.000Z"}'
    assert parse_event(line) == parse_event(line.encode()) == parse_event(orjson.loads(line))
    for bad, message in [
        ("", "empty payload"),
        ("   ", "empty payload"),
        ("[1]", "expected a JSON object, got an array"),
        ("{", "invalid JSON"),
        (b"\xff", "invalid JSON"),
    ]:
        with pytest.raises(PayloadError, match=message):
            parse_event(bad)


def test_tool_texts_remembered_are_the_texts_worked_out():
    cases = [
        ("Read", {"file_path": "/w/game/src/a.py"}, "/w/game"),
        ("Read", {"file_path": "/w/game/src/a.py"}, "/w/game/"),
        ("Read", {"file_path": "/w/game/src/a.py"}, None),
        ("Read", {"file_path": "/elsewhere/a.py"}, "/w/game"),
        ("Read", {"file_path": "/a.py"}, "/"),
        ("Edit", {"file_path": "x\ny"}, None),
        ("NotebookEdit", {"notebook_path": "n.ipynb"}, None),
        ("Bash", {"command": "npm test -- --token=sk-abcdefghijklmnopqrstuvwxyz123456"}, None),
        ("Grep", {"pattern": "class \\w+"}, None),
        ("Glob", {"pattern": "**/*.ts"}, None),
        ("Read", {"file_path": ["not", "text"]}, None),
        ("WebFetch", {"url": "https://u:p@example.com/x?y"}, None),
    ]
    for tool, tool_input, cwd in cases:
        first = speech.tool_texts(tool, tool_input, cwd)
        assert first == speech.tool_texts(tool, tool_input, cwd)
        assert first == speech._tool_texts(tool, tool_input, cwd)


def _record(game: Game, events) -> list[bytes]:
    return [orjson.dumps([a.seq, a.deltas, a.effects, a.reset]) for a in map(game.apply, events)]


@pytest.mark.parametrize("name", samples.NAMES)
def test_sample_deltas_rebuild_the_state_and_share_nothing_with_it(name):
    """The inlined state changes and their deltas say the same thing, and no delta holds an
    object the game goes on changing (recorded deltas never change afterwards)."""
    lines = samples.path(name, "hooks").read_text().splitlines()
    game = Game("g")
    snap = game.snapshot()
    applied, recorded = [], []
    for line in lines:
        result = game.apply(parse_event(line))
        applied.append(result)
        recorded.append(orjson.dumps([result.deltas, result.effects]))
        snap = apply_deltas(snap, result.deltas)
        assert snap == game.snapshot()
    assert [orjson.dumps([a.deltas, a.effects]) for a in applied] == recorded


def test_games_share_their_remembered_texts_without_changing_anything():
    lines = samples.path("long", "hooks").read_text().splitlines()
    alone = _record(Game("g"), [parse_event(line) for line in lines])
    _record(
        Game("other"),
        [parse_event(line) for line in samples.path("short", "hooks").read_text().splitlines()],
    )
    assert _record(Game("g"), [parse_event(line) for line in lines]) == alone


def test_new_rules_send_the_next_call_to_the_new_place():
    def event(name: str, **fields):
        return parse_event({"hook_event_name": name, "session_id": "s", **fields})

    game = Game("s")
    game.apply(event("PreToolUse", tool_name="Read", tool_use_id="t1", tool_input={}))
    assert game.peek("agents", "main", "place") == "library"
    game.apply(event("ccviz.rules", tools={"Read": "workshop"}))
    game.apply(event("PreToolUse", tool_name="Read", tool_use_id="t2", tool_input={}))
    assert game.peek("agents", "main", "place") == "workshop"
    game.apply(event("ccviz.rules", places={"moon": {"x": 1, "y": 2}}, prefixes={"Re": "moon"}))
    game.apply(event("ccviz.rules", tools={"Read": None}))
    game.apply(event("PreToolUse", tool_name="Read", tool_use_id="t3", tool_input={}))
    assert game.peek("agents", "main", "place") == "moon"


def test_paused_gc_turns_the_collector_back_on_only_if_it_turned_it_off():
    assert gc.isenabled()
    with _paused_gc():
        assert not gc.isenabled()
        with _paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with _paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(ValueError), _paused_gc():
        raise ValueError
    assert gc.isenabled()


def test_a_replay_leaves_the_collector_on_and_a_frozen_heap_frozen():
    """Whether or not the process froze objects before (a server in the same test run
    freezes its start-up heap), a replay leaves the frozen generation as it found it."""
    before = gc.get_freeze_count()
    load_replay(samples.path("subagents", "transcript")).game()
    assert gc.isenabled()
    assert gc.get_freeze_count() == before
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        load_replay(samples.path("subagents", "transcript")).game()
        assert gc.isenabled()
        assert gc.get_freeze_count() == frozen
    finally:
        if before == 0:
            gc.unfreeze()
