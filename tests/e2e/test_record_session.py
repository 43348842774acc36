"""tools/record_session.py records tools/scenarios/short.json with the real Claude Code CLI,
and both files it writes replay to the same game."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ccviz_kernel.replays.load import load_replay
from tests.corpus_support import Recording, delivered_events

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
RECORDER = REPO / "tools" / "record_session.py"
SCENARIO = REPO / "tools" / "scenarios" / "short.json"


def test_recording_the_short_scenario(claude_bin, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(RECORDER), str(SCENARIO), "--out", str(tmp_path)]
        + ["--claude", claude_bin],
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(proc.stdout, proc.stderr, sep="\n")
    assert proc.returncode == 0
    hooklog = tmp_path / "short.hooks.jsonl"
    transcripts = list((tmp_path / "short").glob("*.jsonl"))
    assert len(transcripts) == 1
    rows = [json.loads(line) for line in hooklog.read_text().splitlines()]
    names = Counter(r["hook_event_name"] for r in rows)
    assert names["SessionStart"] == names["SessionEnd"] == names["Stop"] == 1, names
    assert [r["tool_name"] for r in rows if r["hook_event_name"] == "PreToolUse"] == [
        "Read",
        "Edit",
        "Bash",
    ]
    assert all(r["session_id"] == transcripts[0].stem and "timestamp" in r for r in rows)
    assert rows[0]["cwd"] == "/home/dev/pixel-quest"
    for path in (hooklog, *(p for p in (tmp_path / "short").rglob("*") if p.is_file())):
        assert "ccviz-record-" not in path.read_text(), f"{path} names the temporary folder"

    for source in (hooklog, transcripts[0]):
        replay = load_replay(source)
        assert replay.skipped == 0 and replay.game_id == transcripts[0].stem
        stats = replay.game().snapshot()["stats"]
        assert stats["toolCalls"] == {"Read": 1, "Edit": 1, "Bash": 1}, source
        assert stats["failures"] == 0 and stats["prompts"] == 1

    # the live game the server built from the installed hooks, saved beside the hook log
    live = json.loads((tmp_path / "short.live.json").read_text())
    assert list(live["games"]) == [transcripts[0].stem]
    game = live["games"][transcripts[0].stem]
    fired = sorted(e["fired"] for e in game["events"] if "fired" in e)
    # Every witnessed event reached the server once; an unhooked PostToolBatch (the lean
    # install) reaches it only as the calls the server reads from the transcript.
    reaches = delivered_events(Recording("short", tmp_path))
    expected = [n for n, row in enumerate(rows) if reaches(row)]
    assert fired == expected, "every witnessed event reached the server once"
    assert game["snapshot"]["stats"]["toolCalls"] == {"Read": 1, "Edit": 1, "Bash": 1}
    assert live["claude_version"] and live["steps"][0]["rc"] == 0
