"""Hook logs: passed through in file order, damaged lines counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ccviz_kernel.claude.hooklog import load_hooklog
from ccviz_kernel.claude.sources import SourceError, load

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HOOK_LOG = FIXTURES / "hook-payloads.jsonl"
SESSION = "7c1e4b2a-93d5-4f0e-b8a6-2d4f6c9e1a57"


def raw_payloads() -> list[dict]:
    return [json.loads(line) for line in HOOK_LOG.read_text().splitlines() if line.strip()]


def test_fixture_loads_in_order() -> None:
    result = load(HOOK_LOG)
    assert result.kind == "hooklog"
    assert len(result.events) == 27
    assert result.events == raw_payloads()
    assert result.events[0]["hook_event_name"] == "SessionStart"
    assert result.events[-1]["hook_event_name"] == "SessionEnd"
    assert result.session_id == SESSION
    assert result.skipped == 0 and result.ignored == 0 and result.problems == []
    assert result.title is None


def test_direct_loader_matches_load() -> None:
    assert load_hooklog(HOOK_LOG).events == load(HOOK_LOG).events


def test_broken_lines_skipped(tmp_path: Path) -> None:
    lines = HOOK_LOG.read_bytes().splitlines(keepends=True)
    lines.insert(0, b"{broken\n")  # load() must still recognise the file
    lines.insert(5, b'{"session_id": "x", "prompt": "no event name"}\n')
    lines.insert(9, b"[1]\n")
    lines.insert(12, b"\xff\xfe\n")
    lines.insert(14, b"\r\n")  # blank: neither skipped nor an event
    path = tmp_path / "hooks.jsonl"
    path.write_bytes(b"".join(lines) + b'{"hook_event_name": "Stop", "session')
    result = load(path)
    assert result.kind == "hooklog"
    assert result.events == raw_payloads()
    assert result.skipped == 5
    assert result.problems[0].startswith("line 1: invalid JSON")
    assert result.problems[1] == "line 6: no 'hook_event_name' (not a hook payload)"
    assert result.problems[-1].startswith("line 33: truncated JSON")


def test_most_common_session_and_title(tmp_path: Path) -> None:
    payloads = [
        {"hook_event_name": "SessionStart", "session_id": "a"},
        {
            "hook_event_name": "UserPromptSubmit",
            "session_id": "b",
            "prompt": "hi",
            "session_title": "Say hi",
        },
        {"hook_event_name": "Stop", "session_id": "b"},
        {"hook_event_name": "Notification"},
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in payloads))
    result = load_hooklog(path)
    assert result.session_id == "b"
    assert result.title == "Say hi"
    assert [e["hook_event_name"] for e in result.events] == [
        "SessionStart",
        "UserPromptSubmit",
        "Stop",
        "Notification",
    ]


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        load_hooklog(tmp_path / "missing.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="empty"):
        load_hooklog(empty)
    transcript = next((FIXTURES / "transcripts").glob("*/*.jsonl"))
    with pytest.raises(SourceError, match="no hook payloads"):
        load_hooklog(transcript)
    assert load(transcript).kind == "transcript"
