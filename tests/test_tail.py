"""The incremental transcript reader (claude/tail.py): offsets, partial and broken lines,
one count per streamed message, subagent files, the compaction request, refusals, files
that shrink, and hook-log replays getting the server's usage events."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from common import REPO

from ccviz_kernel.claude import tail as tail_module
from ccviz_kernel.claude.hooklog import load_hooklog
from ccviz_kernel.claude.tail import (
    USAGE_FIELDS,
    TailRefused,
    TranscriptTail,
    allowed_path,
    projects_roots,
    with_usage,
)

SESSION = "11111111-2222-4333-8444-555555555555"


def usage(inp=0, out=0, read=0, create=0):
    return {
        "input_tokens": inp,
        "output_tokens": out,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": create,
    }


def assistant(msg_id, content, use, *, model="claude-opus-5-5", t="10", stop=None, **extra):
    return {
        "type": "assistant",
        "uuid": f"u-{msg_id}-{len(json.dumps(content))}-{t}",
        "requestId": f"req-{msg_id}",
        "timestamp": f"2026-12-02T06:00:{t}.000Z",
        "sessionId": SESSION,
        "promptId": "p1",
        "message": {
            "id": msg_id,
            "model": model,
            "role": "assistant",
            "content": content,
            "stop_reason": stop,
            "usage": use,
        },
        **extra,
    }


def prompt(text, t="01", prompt_id="p1"):
    return {
        "type": "user",
        "uuid": f"u-prompt-{t}",
        "timestamp": f"2026-12-02T06:00:{t}.000Z",
        "promptId": prompt_id,
        "sessionId": SESSION,
        "message": {"role": "user", "content": text},
    }


def result(use_id, text, t="12", error=False):
    return {
        "type": "user",
        "uuid": f"u-result-{use_id}",
        "timestamp": f"2026-12-02T06:00:{t}.000Z",
        "promptId": "p1",
        "sessionId": SESSION,
        "message": {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": use_id, "content": text, "is_error": error}
            ],
        },
        "toolUseResult": {"stdout": text},
    }


def write(path: Path, *objs, newline=True):
    with open(path, "a", encoding="utf-8") as f:
        for obj in objs:
            f.write(obj if isinstance(obj, str) else json.dumps(obj))
            if newline:
                f.write("\n")


@pytest.fixture
def projects(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    folder = home / ".claude" / "projects" / "-home-dev-game"
    folder.mkdir(parents=True)
    return folder


def main_file(projects: Path) -> Path:
    path = projects / f"{SESSION}.jsonl"
    path.touch()
    return path


def test_reads_from_the_last_offset_and_keeps_a_partial_line(projects):
    path = main_file(projects)
    tail = TranscriptTail(path)
    write(path, prompt("hi"), assistant("m1", [{"type": "text", "text": "a"}], usage(3, 5, 7, 11)))
    first = tail.poll()
    assert first.lines == 2
    assert first.totals[None].usage == usage(3, 5, 7, 11)
    assert first.totals[None].model == "claude-opus-5-5"
    assert first.totals[None].context == 3 + 7 + 11
    assert tail.poll().lines == 0  # nothing new: nothing read
    line = json.dumps(assistant("m2", [{"type": "text", "text": "b"}], usage(1, 1, 100, 0)))
    write(path, line[:40], newline=False)  # Claude Code is still writing it
    assert tail.poll().lines == 0
    assert tail.counter.agents[None].usage == usage(3, 5, 7, 11)
    write(path, line[40:])
    second = tail.poll()
    assert second.lines == 1
    assert second.totals[None].usage == usage(4, 6, 107, 11)
    assert second.totals[None].context == 101


def test_a_streamed_message_counts_once(projects):
    path = main_file(projects)
    tail = TranscriptTail(path)
    same = usage(10, 20, 30, 40)
    write(
        path,
        assistant("m1", [{"type": "thinking", "thinking": "x"}], same, t="10"),
        assistant("m1", [{"type": "text", "text": "y"}], same, t="11"),
    )
    tail.poll()
    write(path, assistant("m1", [{"type": "tool_use", "id": "t1", "name": "Bash"}], same, t="12"))
    totals = tail.poll().totals
    assert totals[None].usage == same


def test_subagent_files_are_their_agents(projects):
    path = main_file(projects)
    folder = projects / SESSION / "subagents"
    folder.mkdir(parents=True)
    (folder / "agent-abc123.meta.json").write_text('{"agentType": "Explore"}')
    write(path, assistant("m1", [{"type": "text", "text": "a"}], usage(1, 2, 3, 4)))
    write(
        folder / "agent-abc123.jsonl",
        assistant(
            "s1",
            [{"type": "tool_use", "id": "ts1", "name": "Read", "input": {"file_path": "/x"}}],
            usage(5, 6, 7, 8),
            model="claude-haiku-4-5",
            isSidechain=True,
            agentId="abc123",
        ),
    )
    # Claude Code's own compaction agent: main's tokens, not an agent of its own.
    write(
        folder / "agent-acompact-9f.jsonl",
        assistant("c1", [{"type": "text", "text": "summary"}], usage(100, 10), model="other"),
    )
    update = TranscriptTail(path).poll()
    assert update.totals["abc123"].usage == usage(5, 6, 7, 8)
    assert update.totals["abc123"].model == "claude-haiku-4-5"
    assert update.totals[None].usage == usage(101, 12, 3, 4)
    assert update.totals[None].model == "claude-opus-5-5"  # not the compaction agent's
    pre = [f for f in update.fills if f.kind == "pre"]
    assert [(f.key, f.payload["agent_id"], f.payload["agent_type"]) for f in pre] == [
        ("ts1", "abc123", "Explore")
    ]


def test_the_compaction_request_is_counted_from_claude_codes_own_count(projects):
    """/compact writes no assistant line; `cost-state` (cumulative, per model) is what the
    CLI reports as its usage, and what it holds beyond the assistant lines is main's."""
    path = main_file(projects)
    tail = TranscriptTail(path)
    write(path, assistant("m1", [{"type": "text", "text": "a"}], usage(100, 20)))
    cost = {"claude-opus-5-5": {"inputTokens": 100, "outputTokens": 20}}
    write(path, {"type": "cost-state", "modelUsage": cost})
    assert tail.poll().totals[None].usage == usage(100, 20)
    write(path, {"type": "system", "subtype": "compact_boundary", "timestamp": "x"})
    cost = {
        "claude-opus-5-5": {"inputTokens": 300, "outputTokens": 60},
        "claude-haiku-4-5": {"inputTokens": 7, "cacheReadInputTokens": 3},
    }
    write(path, {"type": "cost-state", "modelUsage": cost})
    assert tail.poll().totals[None].usage == usage(307, 60, 3, 0)
    write(path, assistant("m2", [{"type": "text", "text": "b"}], usage(100, 20), t="20"))
    cost["claude-opus-5-5"] = {"inputTokens": 400, "outputTokens": 80}
    write(path, {"type": "cost-state", "modelUsage": cost})
    assert tail.poll().totals[None].usage == usage(407, 80, 3, 0)  # nothing twice


def test_the_corpus_compaction_session_matches_the_cli(projects):
    corpus = REPO / "tests" / "fixtures" / "corpus" / "compact" / "compact"
    files = sorted(corpus.glob("*.jsonl")) if corpus.is_dir() else []
    if not files:
        pytest.skip("the corpus has no compaction session yet")
    totals = TranscriptTail(files[0], roots=[corpus]).poll().totals
    last_cost = None
    for line in files[0].read_text().splitlines():
        obj = json.loads(line)
        if obj.get("type") == "cost-state":
            last_cost = obj["modelUsage"]
    assert last_cost is not None
    cli = sum(m.get("inputTokens", 0) + m.get("outputTokens", 0) for m in last_cost.values())
    ours = sum(t.usage["input_tokens"] + t.usage["output_tokens"] for t in totals.values())
    assert ours == cli


def test_refuses_anything_outside_the_projects_folder(projects, tmp_path, monkeypatch):
    outside = tmp_path / "elsewhere.jsonl"
    outside.write_text("{}\n")
    with pytest.raises(TailRefused):
        TranscriptTail(outside)
    with pytest.raises(TailRefused):
        TranscriptTail(projects / ".." / ".." / ".." / "elsewhere.jsonl")
    link = projects / "sneaky.jsonl"
    os.symlink(outside, link)
    with pytest.raises(TailRefused):
        TranscriptTail(link)  # symlinks are resolved first
    with pytest.raises(TailRefused):
        allowed_path(projects / "notes.txt")
    with pytest.raises(TailRefused):
        allowed_path("")
    # A subagent file that links out is skipped, not read.
    path = main_file(projects)
    folder = projects / SESSION / "subagents"
    folder.mkdir(parents=True)
    write(outside, assistant("x", [], usage(999)))
    os.symlink(outside, folder / "agent-evil.jsonl")
    assert "evil" not in TranscriptTail(path).poll().totals
    # CLAUDE_CONFIG_DIR moves Claude Code's folder; it is honoured.
    config = tmp_path / "config"
    (config / "projects" / "p").mkdir(parents=True)
    moved = config / "projects" / "p" / f"{SESSION}.jsonl"
    moved.write_text("")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
    assert projects_roots()[0] == config / "projects"
    assert TranscriptTail(moved).path == moved.resolve()


def test_broken_huge_and_shrunk_files_never_crash(projects, monkeypatch):
    monkeypatch.setattr(tail_module, "MAX_LINE", 2000)
    monkeypatch.setattr(tail_module, "_CHUNK", 512)
    path = main_file(projects)
    tail = TranscriptTail(path)
    write(path, "{not json", '["a list"]', "\xff\xfe garbage")
    write(path, assistant("big", [{"type": "text", "text": "x" * 5000}], usage(1000)))
    write(path, assistant("m1", [{"type": "text", "text": "a"}], usage(1, 1)))
    assert tail.poll().totals[None].usage == usage(1, 1)  # the huge line is skipped unread
    # The file is replaced by a shorter one: read again, counted once, new lines counted.
    path.unlink()
    write(path, assistant("m1", [{"type": "text", "text": "a"}], usage(1, 1)))
    write(path, assistant("m3", [{"type": "text", "text": "c"}], usage(2, 2)))
    update = tail.poll()
    assert update.restarted
    assert update.totals[None].usage == usage(3, 3)
    path.write_text("")  # cut to nothing
    assert tail.poll().totals[None].usage == usage(3, 3)
    path.unlink()
    assert tail.poll().lines == 0  # gone: nothing to read, no error


def test_fills_carry_the_hook_fields(projects):
    path = main_file(projects)
    call = {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}}
    bad = {"type": "tool_use", "id": "t2", "name": "Bash", "input": {"command": "false"}}
    write(
        path,
        prompt("do it"),
        assistant("m1", [call, bad], usage(1), t="10"),
        result("t1", "ok", t="12"),
        result("t2", "<tool_use_error>nope</tool_use_error>", t="13", error=True),
        assistant("m2", [{"type": "text", "text": "done"}], usage(1), t="14", stop="end_turn"),
    )
    fills = {(f.kind, f.key): f for f in TranscriptTail(path).poll().fills}
    assert set(fills) == {
        ("prompt", "p1"),
        ("pre", "t1"),
        ("pre", "t2"),
        ("post", "t1"),
        ("post", "t2"),
        ("batch", "m1"),  # once every call of message m1 has its result
        ("stop", "p1"),
    }
    for fill in fills.values():
        assert fill.payload["ccviz_source"] == "transcript"
        assert fill.payload["session_id"] == SESSION
    assert fills["prompt", "p1"].payload["prompt"] == "do it"
    post = fills["post", "t1"].payload
    assert post["hook_event_name"] == "PostToolUse"
    assert post["tool_response"] == {"stdout": "ok"}
    assert post["duration_ms"] == 2000
    failed = fills["post", "t2"].payload
    assert (failed["hook_event_name"], failed["error"]) == ("PostToolUseFailure", "nope")
    stop = fills["stop", "p1"].payload
    assert (stop["hook_event_name"], stop["last_assistant_message"]) == ("Stop", "done")
    batch = fills["batch", "m1"].payload
    assert batch["hook_event_name"] == "PostToolBatch"
    assert [c["tool_use_id"] for c in batch["tool_calls"]] == ["t1", "t2"]


def test_hook_log_replays_get_the_servers_usage_events():
    samples = REPO / "ccviz_kernel" / "samples"
    log = samples / "subagents.hooks.jsonl"
    result = load_hooklog(log)
    usage_events = [e for e in result.events if e["hook_event_name"] == "ccviz.usage"]
    assert usage_events
    names = [e["hook_event_name"] for e in result.events]
    for i, name in enumerate(names):
        if name == "ccviz.usage" and names[i - 1] != "ccviz.usage":
            assert names[i - 1] in tail_module.TRIGGERS or i == len(names) - len(
                [n for n in names[i:] if n == "ccviz.usage"]
            )
    folder = samples / "subagents"
    transcript = next(folder.glob("*.jsonl"))
    totals = TranscriptTail(transcript, roots=[folder]).poll().totals
    summed: dict = {}
    for event in usage_events:
        agent = summed.setdefault(event.get("agent_id"), dict.fromkeys(USAGE_FIELDS, 0))
        for key in USAGE_FIELDS:
            agent[key] += event["usage"][key]
    assert summed == {agent: t.usage for agent, t in totals.items()}
    assert usage_events[-1].get("model") or any(e.get("model") for e in usage_events)
    # A log that already holds usage events (a game's own log) is left alone.
    again = with_usage(result.events, log)
    assert len(again) == len(result.events)
