"""The bundled sample sessions: well-formed, consistent between formats, unchanged.

They are frozen data (their generator, a simulator of Claude Code, is retired; see README.md
in ccviz_kernel/samples/), so SHA256SUMS beside them pins every byte.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ccviz_kernel import samples

ROOT = Path(__file__).resolve().parent.parent
SAMPLES_DIR = Path(samples.__file__).resolve().parent
MANIFEST = SAMPLES_DIR / "SHA256SUMS"
NOT_DATA = {"__init__.py", "README.md", "SHA256SUMS"}
RECORDER = ROOT / "tools" / "record_session.py"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TOOL_ID = re.compile(r"^toolu_01[A-Za-z0-9]{22}$")
AGENT_ID = re.compile(r"^a[0-9a-f]{16}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
EVENT_RANGE = {"short": (8, 16), "subagents": (40, 80), "long": (500, 1000)}
TOOL_EVENTS = ("PreToolUse", "PostToolUse", "PostToolUseFailure")


def _jsonl(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(line)
        assert isinstance(row, dict), f"{path.name}:{n} is not an object"
        rows.append(row)
    return rows


def hooks(name: str) -> list[dict]:
    return _jsonl(samples.hooklog_path(name))


def transcripts(name: str) -> dict[str, list[dict]]:
    """{relative path: lines} for the main transcript and every subagent transcript."""
    main = samples.transcript_path(name)
    files = {main.name: _jsonl(main)}
    for sub in sorted((main.parent / main.stem / "subagents").glob("agent-*.jsonl")):
        files[f"{main.stem}/subagents/{sub.name}"] = _jsonl(sub)
    return files


def blocks(lines: list[dict], kind: str) -> list[dict]:
    found = []
    for line in lines:
        content = line.get("message", {}).get("content") if "message" in line else None
        if isinstance(content, list):
            found += [b for b in content if b.get("type") == kind]
    return found


# --------------------------------------------------------------------------- the API


@pytest.mark.parametrize("name", samples.NAMES)
def test_files_exist(name):
    assert samples.hooklog_path(name).is_file()
    assert samples.transcript_path(name).is_file()
    assert samples.path(name) == samples.transcript_path(name)
    assert samples.path(name, "hooks") == samples.hooklog_path(name)
    assert samples.transcript_path(name).parent.name == name
    assert UUID.match(samples.transcript_path(name).stem)


def test_names_and_bad_arguments():
    assert samples.NAMES == ("short", "subagents", "long")
    assert (SAMPLES_DIR / "README.md").is_file()
    with pytest.raises(ValueError, match="short, subagents, long"):
        samples.path("nope")
    with pytest.raises(ValueError, match="short, subagents, long"):
        samples.hooklog_path("nope")
    with pytest.raises(ValueError, match="transcript, hooks"):
        samples.path("short", "html")


# --------------------------------------------------------------------------- hook logs


@pytest.mark.parametrize("name", samples.NAMES)
def test_hook_lines_are_wellformed(name):
    events = hooks(name)
    low, high = EVENT_RANGE[name]
    assert low <= len(events) <= high
    stamps = [e["timestamp"] for e in events]
    assert all(STAMP.match(s) for s in stamps)
    assert stamps == sorted(stamps), "hook log is not in time order"
    assert len({e["session_id"] for e in events}) == 1
    for e in events:
        assert isinstance(e["hook_event_name"], str)
        assert e["transcript_path"].endswith(f"{e['session_id']}.jsonl")
    assert events[0]["hook_event_name"] == "SessionStart"
    assert events[0]["source"] == "startup"
    assert events[-1]["hook_event_name"] == "SessionEnd"


@pytest.mark.parametrize("name", samples.NAMES)
def test_tool_events_pair_up(name):
    pre: dict[str, dict] = {}
    posted: set[str] = set()
    for e in hooks(name):
        event = e["hook_event_name"]
        if event == "PreToolUse":
            assert TOOL_ID.match(e["tool_use_id"])
            assert e["tool_use_id"] not in pre, "tool_use_id reused"
            pre[e["tool_use_id"]] = e
        elif event in ("PostToolUse", "PostToolUseFailure"):
            first = pre.get(e["tool_use_id"])
            assert first is not None, f"{event} before its PreToolUse"
            assert (first["tool_name"], first["tool_input"]) == (e["tool_name"], e["tool_input"])
            assert first.get("agent_id") == e.get("agent_id")
            assert e["tool_use_id"] not in posted
            posted.add(e["tool_use_id"])
        elif event == "PostToolBatch":
            assert e["tool_calls"]
            assert all(c["tool_use_id"] in posted for c in e["tool_calls"])
    assert posted == set(pre), "some tool call never finished"


@pytest.mark.parametrize("name", samples.NAMES)
def test_subagent_events_follow_their_start(name):
    started: dict[str, str] = {}
    stopped: set[str] = set()
    for e in hooks(name):
        aid = e.get("agent_id")
        if e["hook_event_name"] == "SubagentStart":
            assert AGENT_ID.match(aid) and aid not in started
            started[aid] = e["agent_type"]
        elif aid is not None:
            assert aid in started, f"{e['hook_event_name']} of {aid} before SubagentStart"
            assert aid not in stopped, f"{e['hook_event_name']} of {aid} after SubagentStop"
            assert e["agent_type"] == started[aid]
            if e["hook_event_name"] == "SubagentStop":
                stopped.add(aid)
                assert e["agent_transcript_path"].endswith(f"/subagents/agent-{aid}.jsonl")
    assert stopped == set(started)


def test_samples_cover_what_they_promise():
    counts = {name: Counter(e["hook_event_name"] for e in hooks(name)) for name in samples.NAMES}
    tools = {
        name: Counter(e["tool_name"] for e in hooks(name) if e["hook_event_name"] == "PreToolUse")
        for name in samples.NAMES
    }
    assert set(tools["short"]) == {"Read", "Edit", "Bash"}
    assert counts["short"]["PostToolUseFailure"] == 0

    sub = counts["subagents"]
    for event in (
        "PermissionRequest",
        "PreCompact",
        "PostCompact",
        "Stop",
        "SessionEnd",
        "PostToolUseFailure",
    ):
        assert sub[event] >= 1, event
    assert sub["SubagentStart"] >= 2
    assert tools["subagents"]["TodoWrite"] >= 3
    for tool in ("mcp__github__search_issues", "WebFetch", "Read", "Grep", "Glob"):
        assert tools["subagents"][tool] >= 1, tool
    notes = [e for e in hooks("subagents") if e["hook_event_name"] == "Notification"]
    assert any(n["notification_type"] == "permission_prompt" for n in notes)
    failed = [e for e in hooks("subagents") if e["hook_event_name"] == "PostToolUseFailure"]
    assert any(
        f["tool_input"]["command"] == "npm test" and f["error"].startswith("Exit code 1")
        for f in failed
    )

    long = counts["long"]
    assert long["UserPromptSubmit"] >= 8
    assert long["PermissionRequest"] == 2
    assert long["PreCompact"] == 1
    assert long["PostToolUseFailure"] >= 3
    assert long["SubagentStart"] >= 5
    for tool in (
        "Read",
        "Write",
        "Edit",
        "Bash",
        "Glob",
        "Grep",
        "WebFetch",
        "WebSearch",
        "TodoWrite",
        "Agent",
        "NotebookEdit",
        "AskUserQuestion",
    ):
        assert tools["long"][tool] >= 1, tool
    assert tools["long"]["MultiEdit"] == 0
    assert any(t.startswith("mcp__github__") for t in tools["long"])
    assert any(t.startswith("mcp__playwright__") for t in tools["long"])
    types = {e["agent_type"] for e in hooks("long") if e["hook_event_name"] == "SubagentStart"}
    assert {"Explore", "Plan", "general-purpose"} <= types
    text = samples.hooklog_path("long").read_text(encoding="utf-8")
    assert "export API_TOKEN=sk-ant-api03-FAKE" in text
    assert "Authorization: Bearer ghp_FAKE" in text


# --------------------------------------------------------------------------- transcripts


@pytest.mark.parametrize("name", samples.NAMES)
def test_transcript_tree_is_wellformed(name):
    files = transcripts(name)
    session = samples.transcript_path(name).stem
    for rel, lines in files.items():
        seen: set[str] = set()
        stamps = []
        for line in lines:
            if "uuid" not in line:  # bookkeeping: permission-mode, ai-title, snapshots, ...
                assert line["type"] in (
                    "permission-mode",
                    "ai-title",
                    "file-history-snapshot",
                    "last-prompt",
                )
                continue
            assert UUID.match(line["uuid"]) and line["uuid"] not in seen
            assert line["parentUuid"] is None or line["parentUuid"] in seen, rel
            assert line["sessionId"] == session
            assert line["isSidechain"] == ("/subagents/" in rel)
            seen.add(line["uuid"])
            stamps.append(line["timestamp"])
        assert stamps == sorted(stamps), f"{rel} is not in time order"
        assert all(STAMP.match(s) for s in stamps)
    main = files[f"{session}.jsonl"]
    assert main[0]["type"] == "permission-mode"
    assert sum(1 for line in main if line["type"] == "ai-title") == 1
    assert main[-1]["type"] == "last-prompt"


@pytest.mark.parametrize("name", samples.NAMES)
def test_assistant_lines_hold_one_block(name):
    for lines in transcripts(name).values():
        by_uuid = {line["uuid"]: line for line in lines if "uuid" in line}
        for line in lines:
            if line["type"] == "assistant":
                assert len(line["message"]["content"]) == 1
                assert line["requestId"].startswith("req_")
            if line["type"] == "user" and "toolUseResult" in line:
                block = line["message"]["content"][0]
                source = by_uuid[line["sourceToolAssistantUUID"]]
                assert source["message"]["content"][0]["id"] == block["tool_use_id"]
                if block.get("is_error"):
                    assert line["toolUseResult"].startswith("Error: ")


@pytest.mark.parametrize("name", samples.NAMES)
def test_transcripts_match_hook_log(name):
    events = hooks(name)
    files = transcripts(name)
    every = [line for lines in files.values() for line in lines]
    uses = {b["id"]: b for b in blocks(every, "tool_use")}
    results = {b["tool_use_id"]: b for b in blocks(every, "tool_result")}
    pre = {e["tool_use_id"]: e for e in events if e["hook_event_name"] == "PreToolUse"}
    assert set(uses) == set(pre) == set(results)
    for tid, e in pre.items():
        assert (uses[tid]["name"], uses[tid]["input"]) == (e["tool_name"], e["tool_input"])
    failed = {e["tool_use_id"] for e in events if e["hook_event_name"] == "PostToolUseFailure"}
    assert failed == {tid for tid, b in results.items() if b.get("is_error")}

    started = {e["agent_id"]: e for e in events if e["hook_event_name"] == "SubagentStart"}
    on_disk = {
        rel.split("agent-")[1][: -len(".jsonl")]: lines
        for rel, lines in files.items()
        if "/subagents/" in rel
    }
    assert set(on_disk) == set(started)
    joined = {
        line["toolUseResult"]["agentId"]: line["toolUseResult"]
        for line in every
        if isinstance(line.get("toolUseResult"), dict)
        and line["toolUseResult"].get("status") == "completed"
    }
    assert set(joined) == set(started)
    session_dir = samples.transcript_path(name).with_suffix("") / "subagents"
    for aid, lines in on_disk.items():
        assert all(line.get("agentId") == aid for line in lines if "uuid" in line)
        assert lines[0]["parentUuid"] is None
        meta = json.loads((session_dir / f"agent-{aid}.meta.json").read_text())
        assert meta["agentType"] == started[aid]["agent_type"] == joined[aid]["agentType"]
        assert uses[meta["toolUseId"]]["name"] == "Agent"
        assert (meta["spawnDepth"] > 1) == ("parentAgentId" in meta)


def test_parallel_tool_calls_share_a_message():
    lines = transcripts("subagents")[f"{samples.transcript_path('subagents').stem}.jsonl"]
    by_message: dict[str, list[str]] = {}
    for line in lines:
        if line["type"] == "assistant" and line["message"]["content"][0]["type"] == "tool_use":
            by_message.setdefault(line["message"]["id"], []).append(
                line["message"]["content"][0]["name"]
            )
    batches = [sorted(names) for names in by_message.values() if len(names) > 1]
    assert ["Agent", "Agent"] in batches
    assert ["Glob", "Grep", "Read"] in batches
    assert any(line.get("subtype") == "compact_boundary" for line in lines)


def test_long_has_a_nested_subagent():
    session_dir = samples.transcript_path("long").with_suffix("") / "subagents"
    metas = [json.loads(p.read_text()) for p in session_dir.glob("*.meta.json")]
    assert any(m["spawnDepth"] == 2 and "parentAgentId" in m for m in metas)


# --------------------------------------------------------------------------- frozen


def test_files_match_the_manifest():
    """Every data file is listed in SHA256SUMS with its hash (``sha256sum -c`` format)."""
    listed = {}
    for line in MANIFEST.read_text(encoding="utf-8").splitlines():
        digest, rel = line.split("  ", 1)
        listed[rel] = digest
    on_disk = {
        p.relative_to(SAMPLES_DIR).as_posix()
        for p in SAMPLES_DIR.rglob("*")
        if p.is_file() and p.name not in NOT_DATA and "__pycache__" not in p.parts
    }
    assert set(listed) == on_disk, "a sample file was added or removed: update SHA256SUMS"
    changed = [
        rel
        for rel, digest in sorted(listed.items())
        if hashlib.sha256((SAMPLES_DIR / rel).read_bytes()).hexdigest() != digest
    ]
    assert not changed, f"the frozen samples must not change; edited: {changed}"


def test_recorder_capture_appends_a_stamped_payload(tmp_path):
    """tools/record_session.py's hook command (the whole recorder runs in tests/e2e)."""
    log = tmp_path / "hooks.jsonl"
    for event in ("SessionStart", "Stop"):
        payload = json.dumps({"session_id": "s", "hook_event_name": event})
        proc = subprocess.run(
            [sys.executable, str(RECORDER), "--capture", str(log)],
            input=payload,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    rows = _jsonl(log)
    assert [r["hook_event_name"] for r in rows] == ["SessionStart", "Stop"]
    assert all(STAMP.match(r["timestamp"]) for r in rows)
    proc = subprocess.run(
        [sys.executable, str(RECORDER), "--capture", str(log)], input=b"not json", timeout=30
    )
    assert proc.returncode == 0 and len(_jsonl(log)) == 2
