"""A few corpus scenarios (tools/scenarios/) recorded afresh with the real Claude Code CLI
through ``tools/record_session.py``: the game the live server built (its own final
snapshot), the replay of the hook log and the replay of the transcript agree on every
compared field (tests/corpus_support.py), and every hook that fired reached the server.

Each claude run is bounded by the recorder (120 s); the long scenario is left out."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.corpus_support import (
    Recording,
    delivered_events,
    derived,
    describe,
    diff,
    hooklog_games,
    live_games,
    recorded_live_games,
    transcript_games,
)

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
RECORDER = REPO / "tools" / "record_session.py"
SCENARIOS = [
    "validation",
    "parallel",
    "permission_default",
    "subagent_foreground",
    "compact",
    "continue_resume",
]


@pytest.mark.parametrize("name", SCENARIOS)
def test_live_game_equals_both_replays(name, claude_bin, tmp_path):
    out = tmp_path / name
    proc = subprocess.run(
        [sys.executable, str(RECORDER), str(REPO / "tools" / "scenarios" / f"{name}.json")]
        + ["--out", str(out), "--claude", claude_bin],
        capture_output=True,
        text=True,
        timeout=400,
    )
    print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
    assert proc.returncode == 0, "the recorder failed"
    rec = Recording(name, out)

    def key(p):
        return (p.get("session_id"), p.get("hook_event_name"), p.get("tool_use_id"))

    reaches = delivered_events(rec)  # an unhooked PostToolBatch reaches it as its calls
    fired = Counter(key(p) for p in rec.fired() if reaches(p))
    arrived = Counter(key(p) for events in rec.applied().values() for p in events if not derived(p))
    assert not fired - arrived, f"fired, never reached the server: {dict(fired - arrived)}"

    # claude's --debug-file gave a dispatch time for every line but those logged without one
    live, rows = rec.live(), rec.fired()
    assert len(live["fired_at"]) == len(rows), "fired_at is parallel to the hook log"
    missing = {rows[n]["hook_event_name"] for n in live["fired_at_missing"]}
    assert missing <= {"SessionEnd", "PreCompact", "PostCompact"}, missing

    server = recorded_live_games(rec)
    # the server's own picture is what its events give through the engine
    assert not diff({"server": server, "reapplied": live_games(rec)}), "server != reapplied"
    found = diff(
        {"live": server, "hooklog": hooklog_games(rec), "transcript": transcript_games(rec)}
    )
    assert not found, f"{name}: {len(found)} disagreements\n{describe(found)}"
