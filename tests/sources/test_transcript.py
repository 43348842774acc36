"""Transcript replay: fixtures from tests/fixtures/transcripts plus small hand-built files."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ccviz_kernel.claude.lines import LoadResult, iter_lines
from ccviz_kernel.claude.sources import SourceError, load
from ccviz_kernel.claude.timestamps import parse_micros
from ccviz_kernel.claude.transcript import load_transcript

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "transcripts"
MODERN_DIR = FIXTURES / "-home-dev-pixel-quest"
MODERN_ID = "5d2a9e61-0b7c-4f38-a1e4-9c6b3f2d8a10"
MODERN = MODERN_DIR / f"{MODERN_ID}.jsonl"
SUBAGENT = MODERN_DIR / MODERN_ID / "subagents" / "agent-a3f9c27e81d04b6a5.jsonl"
LEGACY = FIXTURES / "-Users-kim-code-space-shooter" / "0f6b2d84-3a1e-4c7b-9e05-d18a4c2b7f63.jsonl"
AGENT_USE_ID = "toolu_01AgentZ1x2C3v4B5n6M7k8"


def names(result: LoadResult) -> list[str]:
    return [event["hook_event_name"] for event in result.events]


def of(result: LoadResult, name: str) -> list[dict[str, Any]]:
    return [event for event in result.events if event["hook_event_name"] == name]


def shape(result: LoadResult) -> list[tuple[Any, ...]]:
    """What a replay looks like to the engine, for comparing two loads."""
    return [
        (e["hook_event_name"], e.get("tool_use_id"), e.get("agent_id"), e.get("timestamp"))
        for e in result.events
    ]


def assert_time_ordered(result: LoadResult) -> None:
    moments = [parse_micros(event["timestamp"]) for event in result.events]
    assert None not in moments
    assert moments == sorted(moments)


# -- the modern fixture ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def modern() -> LoadResult:
    return load_transcript(MODERN)


def test_modern_starts_with_session_start(modern: LoadResult) -> None:
    start = modern.events[0]
    assert start["hook_event_name"] == "SessionStart"
    assert start["source"] == "startup"
    assert start["session_id"] == MODERN_ID
    assert start["cwd"] == "/home/dev/pixel-quest"
    assert start["transcript_path"] == str(MODERN)
    assert start["model"] == "claude-sonnet-4-5-20250929"
    assert start["timestamp"] == "2026-08-20T14:03:11.250Z"
    assert names(modern).count("SessionStart") == 1


def test_modern_metadata(modern: LoadResult) -> None:
    assert modern.kind == "transcript"
    assert modern.session_id == MODERN_ID
    assert modern.title == "Add jump sound to player"
    assert modern.skipped == 0 and modern.problems == []
    # permission-mode, file-history-snapshot, ai-title, 2 attachments, stop_hook_summary,
    # last-prompt
    assert modern.ignored == 7
    assert {event["session_id"] for event in modern.events} == {MODERN_ID}
    assert all(event["transcript_path"] == str(MODERN) for event in modern.events)


def test_modern_one_prompt(modern: LoadResult) -> None:
    prompts = of(modern, "UserPromptSubmit")
    assert [p["prompt"] for p in prompts] == [
        "Add a jump sound to the player and make sure the tests still pass"
    ]
    assert prompts[0]["prompt_id"] == "e4b7a1c9-2f36-4d0a-8b5e-7c9d1f3a6e20"
    assert "agent_id" not in prompts[0]


def test_modern_tool_counts(modern: LoadResult) -> None:
    calls = Counter(
        (event["tool_name"], "sub" if "agent_id" in event else "main")
        for event in of(modern, "PreToolUse")
    )
    assert calls == {
        ("Read", "main"): 1,
        ("Read", "sub"): 1,
        ("Edit", "main"): 2,
        ("Bash", "main"): 2,
        ("Glob", "main"): 1,
        ("Glob", "sub"): 1,
        ("Grep", "sub"): 1,
        ("Agent", "main"): 1,
    }


def test_modern_every_call_is_closed(modern: LoadResult) -> None:
    opened = [e["tool_use_id"] for e in of(modern, "PreToolUse")]
    closed = [
        e["tool_use_id"] for e in modern.events if e["hook_event_name"].startswith("PostTool")
    ]
    assert sorted(opened) == sorted(closed)
    assert len(set(opened)) == len(opened)
    for event in modern.events:
        if event["hook_event_name"].startswith("PostTool"):
            assert isinstance(event["tool_input"], dict) and event["tool_input"]
            assert event["duration_ms"] >= 0


def test_modern_subagent(modern: LoadResult) -> None:
    agent_id = "a3f9c27e81d04b6a5"
    (start,) = of(modern, "SubagentStart")
    assert start["agent_id"] == agent_id
    assert start["agent_type"] == "Explore"
    assert start["parent_tool_use_id"] == AGENT_USE_ID
    assert "parent_agent_id" not in start
    (stop,) = of(modern, "SubagentStop")
    assert stop["agent_id"] == agent_id and stop["agent_type"] == "Explore"
    assert stop["last_assistant_message"].startswith("Found one helper: playSound")
    assert stop["agent_transcript_path"] == str(SUBAGENT)
    assert stop["stop_hook_active"] is False

    order = names(modern)
    spawn = next(i for i, e in enumerate(modern.events) if e.get("tool_use_id") == AGENT_USE_ID)
    joined = next(
        i
        for i, e in enumerate(modern.events)
        if e.get("tool_use_id") == AGENT_USE_ID and e["hook_event_name"] == "PostToolUse"
    )
    first, last = order.index("SubagentStart"), order.index("SubagentStop")
    assert spawn < first < last < joined
    inner = modern.events[first + 1 : last]
    assert {e.get("tool_name") for e in inner} == {"Grep", "Glob", "Read"}
    assert all(e["agent_id"] == agent_id and e["agent_type"] == "Explore" for e in inner)
    # The subagent's prompt is not a user prompt.
    assert all(e["hook_event_name"] != "UserPromptSubmit" for e in inner)
    result = modern.events[joined]["tool_response"]
    assert result["status"] == "completed" and result["agentId"] == agent_id


def test_modern_bash_failure(modern: LoadResult) -> None:
    (failure,) = of(modern, "PostToolUseFailure")
    assert failure["tool_name"] == "Bash"
    assert failure["tool_use_id"] == "toolu_01BashL1k2J3h4G5f6D7s8"
    assert failure["tool_input"]["command"] == "npm test"
    assert failure["error"].startswith("Exit code 1\nFAIL src/player.test.ts")
    assert "tool_response" not in failure
    bash_ok = [e for e in of(modern, "PostToolUse") if e["tool_name"] == "Bash"]
    assert bash_ok[0]["tool_response"]["stdout"].startswith("PASS")


def test_modern_tool_response_is_tool_use_result(modern: LoadResult) -> None:
    posts = of(modern, "PostToolUse")
    (read,) = [e for e in posts if e["tool_name"] == "Read" and "agent_id" not in e]
    assert read["tool_response"]["file"]["filePath"] == "/home/dev/pixel-quest/src/player.ts"


def test_modern_one_stop(modern: LoadResult) -> None:
    stops = of(modern, "Stop")
    assert len(stops) == 1
    # The file ends with the ``last-prompt`` line written at exit: the session ended.
    assert modern.events[-2] is stops[0]
    assert modern.events[-1]["hook_event_name"] == "SessionEnd"
    assert stops[0]["last_assistant_message"].startswith("Done. Player.jump now calls")
    assert "agent_id" not in stops[0]


def test_modern_time_ordered(modern: LoadResult) -> None:
    assert_time_ordered(modern)


def test_modern_usage_counted_once_per_response(modern: LoadResult) -> None:
    expected: dict[tuple[str, str], dict[str, Any]] = {}
    for file in (MODERN, SUBAGENT):
        for _, obj, _ in iter_lines(file):
            if obj and obj.get("type") == "assistant":
                key = (obj["message"]["id"], obj["requestId"])
                expected.setdefault(key, obj["message"]["usage"])
    with_usage = [e for e in modern.events if "usage" in e]
    assert len(with_usage) == len(expected)
    for field in ("input_tokens", "output_tokens", "cache_read_input_tokens"):
        got = sum(e["usage"][field] for e in with_usage)
        assert got == sum(u[field] for u in expected.values())
    # A text + tool_use response puts its usage on the tool call; parallel calls share one.
    pre = {e["tool_use_id"]: e for e in of(modern, "PreToolUse")}
    assert "usage" in pre["toolu_01ReadQ9w8E7r6T5y4U3i2"]
    assert "usage" in pre["toolu_01BashL1k2J3h4G5f6D7s8"]
    assert "usage" not in pre["toolu_01GlobV5b6N7m8Q1w2E3r4"]
    # Text-only responses end turns: their usage rides on Stop / SubagentStop.
    assert of(modern, "Stop")[0]["usage"]["output_tokens"] == 38
    assert of(modern, "SubagentStop")[0]["usage"]["output_tokens"] == 58


def test_modern_via_load_and_directory() -> None:
    direct = load(MODERN)
    assert direct.kind == "transcript"
    assert shape(direct) == shape(load_transcript(MODERN))
    assert shape(load(MODERN_DIR)) == shape(direct)


# -- the legacy fixture ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def legacy() -> LoadResult:
    return load(LEGACY)


def test_legacy_inline_sidechain(legacy: LoadResult) -> None:
    task = next(e for e in of(legacy, "PreToolUse") if e["tool_name"] == "Task")
    (start,) = of(legacy, "SubagentStart")
    assert start["parent_tool_use_id"] == task["tool_use_id"] == "toolu_01TaskQ1w2E3r4T5y6U7i8"
    assert start["agent_id"].startswith("side-")
    assert start["agent_id"] == "side-bc329121"  # stable: from the chain's first uuid
    assert start["agent_type"] == "general-purpose"
    (grep,) = [e for e in of(legacy, "PreToolUse") if e["tool_name"] == "Grep"]
    assert grep["agent_id"] == start["agent_id"]
    (stop,) = of(legacy, "SubagentStop")
    assert stop["last_assistant_message"] == "src/hud.ts:12\nsrc/hud.ts:13"
    assert stop["agent_transcript_path"] == str(LEGACY)
    order = names(legacy)
    assert order.index("SubagentStart") < order.index("SubagentStop")
    task_done = next(
        i
        for i, e in enumerate(legacy.events)
        if e["hook_event_name"] == "PostToolUse" and e["tool_name"] == "Task"
    )
    assert order.index("SubagentStop") < task_done


def test_legacy_tools_and_title(legacy: LoadResult) -> None:
    calls = Counter(e["tool_name"] for e in of(legacy, "PreToolUse"))
    assert calls == {"TodoWrite": 2, "Task": 1, "Grep": 1, "MultiEdit": 1}
    (multi,) = [e for e in of(legacy, "PostToolUse") if e["tool_name"] == "MultiEdit"]
    assert len(multi["tool_input"]["edits"]) == 2
    todos = [e for e in of(legacy, "PostToolUse") if e["tool_name"] == "TodoWrite"]
    assert [len(e["tool_response"]["newTodos"]) for e in todos] == [2, 2]
    assert legacy.title == "Rename HUD score field to points"
    assert legacy.session_id == "0f6b2d84-3a1e-4c7b-9e05-d18a4c2b7f63"
    assert legacy.skipped == 0 and legacy.ignored == 1


def test_legacy_prompts_and_stop(legacy: LoadResult) -> None:
    assert [e["prompt"] for e in of(legacy, "UserPromptSubmit")] == [
        "rename player.score to player.points in the HUD"
    ]
    (stop,) = of(legacy, "Stop")
    assert stop["last_assistant_message"].startswith("Note: the Player class")
    assert legacy.events[-1] is stop
    assert legacy.events[0]["model"] == "claude-opus-4-1-20250805"
    assert_time_ordered(legacy)


# -- damaged files ----------------------------------------------------------------------------


def copy_modern(tmp_path: Path) -> Path:
    target = tmp_path / "projects" / MODERN_DIR.name
    shutil.copytree(MODERN_DIR, target)
    return target / MODERN.name


def test_broken_lines_are_skipped_and_replay_continues(tmp_path: Path) -> None:
    main = copy_modern(tmp_path)
    good = main.read_bytes().splitlines(keepends=True)
    broken = [
        b'{"type": "user", "message": oops}\n',
        good[7][: len(good[7]) // 2] + b"\n",  # a line cut in half
        b"\x00\xff\xfe\x9c binary junk \x81\n",
        b"[1, 2, 3]\n",
        b"null\n",
    ]
    lines = list(good)
    for offset, junk in zip((2, 6, 10, 15, 20), broken, strict=True):
        lines.insert(offset, junk)
    main.write_bytes(b"".join(lines) + b'{"type":"assistant","message":{"id":"m')  # cut-off tail
    sub = main.with_suffix("") / "subagents" / SUBAGENT.name
    sub.write_bytes(sub.read_bytes() + b"\n\n{not json}\n")

    result = load(main)
    clean = load_transcript(MODERN)
    assert result.skipped == 7
    assert shape(result) == shape(clean)
    assert result.ignored == clean.ignored
    assert len(result.problems) == 7
    assert (
        result.problems[0]
        == "line 3: invalid JSON (unexpected character, expected a JSON value at column 29)"
    )
    assert any(p.startswith("line 7: truncated JSON") for p in result.problems)
    assert any("binary" in p for p in result.problems)
    assert any(p.endswith("not a JSON object (an array)") for p in result.problems)
    assert any(p.endswith("not a JSON object (null)") for p in result.problems)
    assert any("cut off" in p for p in result.problems)
    assert any(p.startswith(f"{SUBAGENT.name} line 13: invalid JSON") for p in result.problems)


def test_crlf_and_invalid_utf8_inside_strings(tmp_path: Path) -> None:
    main = copy_modern(tmp_path)
    data = main.read_bytes().replace(b"\n", b"\r\n")
    data = data.replace(b"Add a jump sound", b"Add a \xff\xfe sound")
    main.write_bytes(b"\xef\xbb\xbf" + data)
    result = load(main)
    assert result.skipped == 0
    assert shape(result) == shape(load_transcript(MODERN))
    assert of(result, "UserPromptSubmit")[0]["prompt"].startswith("Add a \ufffd\ufffd sound")


def test_missing_fields_are_skipped(tmp_path: Path) -> None:
    lines = [
        user("hello", 1),
        {"type": "user", "timestamp": ts(2), "uuid": "u-nomsg"},
        {"type": "assistant", "timestamp": ts(3), "uuid": "a-nomsg"},
        {"message": {"role": "user", "content": "no type"}, "timestamp": ts(4)},
        {**user("no time", 5), "timestamp": None},
        {**user("bad time", 5.5), "timestamp": "yesterday"},
        tool_results([("toolu_nowhere", "?", False)], 6),
        assistant([text("bye")], 7, "m1"),
    ]
    result = load(write(tmp_path, lines))
    assert result.skipped == 6
    assert names(result) == ["SessionStart", "UserPromptSubmit", "Stop"]
    assert "line 7: tool_result for unknown tool_use 'toolu_nowhere'" in result.problems
    assert result.problems == [
        "line 2: user line without message content",
        "line 3: assistant line without message content",
        "line 4: no 'type' field",
        "line 5: user line with no timestamp",
        "line 6: user line with a bad timestamp ('yesterday': not a time between 1970"
        " and 9999 with an offset under 24 hours)",
        "line 7: tool_result for unknown tool_use 'toolu_nowhere'",
    ]


# -- kinds and errors ------------------------------------------------------------------------


def test_missing_empty_and_random_files(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        load(tmp_path / "nope.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(SourceError, match="empty"):
        load(empty)
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n  \n\r\n")
    with pytest.raises(SourceError, match="empty"):
        load(blank)
    with pytest.raises(SourceError, match="empty"):
        load_transcript(blank)
    text = tmp_path / "notes.txt"
    text.write_text("Shopping list\n- eggs\n- {milk}\n")
    with pytest.raises(SourceError, match="not a Claude Code transcript or hook log"):
        load(text)
    with pytest.raises(SourceError, match="not a Claude Code transcript"):
        load_transcript(text)
    other_json = tmp_path / "other.jsonl"
    other_json.write_text('{"name": "x"}\n{"name": "y"}\n')
    with pytest.raises(SourceError):
        load(other_json)


def test_transcript_loader_refuses_a_hook_log() -> None:
    with pytest.raises(SourceError, match="hook log"):
        load_transcript(FIXTURES.parent / "hook-payloads.jsonl")


def test_directories(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no .jsonl"):
        load(tmp_path)
    main = copy_modern(tmp_path)
    with pytest.raises(SourceError, match=f"pass {main}"):
        load(main.with_suffix(""))
    shutil.copy(LEGACY, main.parent / LEGACY.name)
    with pytest.raises(SourceError, match="2 .jsonl files") as caught:
        load(main.parent)
    assert MODERN.name in str(caught.value) and LEGACY.name in str(caught.value)


def test_iter_lines_tolerates_everything(tmp_path: Path) -> None:
    file = tmp_path / "x.jsonl"
    file.write_bytes(b'\xef\xbb\xbf{"a": 1}\r\n\r\n   \n{"b": "\xff"}\n[]\n{"c": ')
    rows = list(iter_lines(file))
    assert [row[0] for row in rows] == [1, 4, 5, 6]
    assert rows[0][1] == {"a": 1}
    assert rows[1][1] == {"b": "\ufffd"}
    assert rows[2][1] is None and rows[2][2] == "not a JSON object (an array)"
    assert rows[3][1] is None and rows[3][2] is not None and "truncated" in rows[3][2]


# -- hand-built transcripts for the finer rules ----------------------------------------------

SID = "0badf00d-0000-4000-8000-000000000001"


def ts(second: float) -> str:
    return f"2026-01-02T03:04:{second:06.3f}Z"


def base(kind: str, second: float, **extra: Any) -> dict[str, Any]:
    line = {
        "type": kind,
        "timestamp": ts(second),
        "uuid": f"{kind}-{second}-{len(extra)}-{sorted(extra)}",
        "sessionId": SID,
        "cwd": "/work/demo",
        "isSidechain": False,
    }
    line.update(extra)
    return line


def user(content: Any, second: float, **extra: Any) -> dict[str, Any]:
    return base("user", second, message={"role": "user", "content": content}, **extra)


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool(use_id: str, name: str, **tool_input: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": use_id, "name": name, "input": tool_input}


def assistant(
    blocks: list[dict[str, Any]], second: float, msg_id: str, out: int = 10, **extra: Any
) -> dict[str, Any]:
    message = {
        "id": msg_id,
        "role": "assistant",
        "model": "claude-test-1",
        "content": blocks,
        "stop_reason": None,
        "usage": {"input_tokens": 1, "output_tokens": out, "cache_read_input_tokens": 5},
    }
    return base("assistant", second, message=message, requestId=f"req-{msg_id}", **extra)


def tool_results(
    results: list[tuple[str, Any, bool | None]], second: float, outcome: Any = None, **extra: Any
) -> dict[str, Any]:
    blocks = [
        {"type": "tool_result", "tool_use_id": use_id, "content": content, "is_error": failed}
        for use_id, content, failed in results
    ]
    line = user(blocks, second, **extra)
    if outcome is not None:
        line["toolUseResult"] = outcome
    return line


def write(folder: Path, lines: list[Any], name: str = f"{SID}.jsonl") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_turns_harness_lines_and_interrupts(tmp_path: Path) -> None:
    lines = [
        {"type": "custom-title", "customTitle": "Mine", "sessionId": SID},
        {"type": "ai-title", "aiTitle": "Generated", "sessionId": SID},
        user("<command-name>/model</command-name>\n<command-args></command-args>", 1),
        user("<local-command-stdout>Set model</local-command-stdout>", 2),
        user("Caveat: injected", 3, isMeta=True),
        user([text("first question")], 4),
        assistant([text("thinking out loud")], 5, "m1"),
        assistant([tool("t1", "Read", file_path="/a")], 6, "m1"),
        tool_results([("t1", "contents", False)], 7, {"type": "text"}),
        assistant([text("answer one")], 8, "m2"),
        user("second question", 9),
        assistant([text("partial")], 10, "m3"),
        user([text("[Request interrupted by user]")], 11),
        user("third question", 12),
        assistant([text("answer three, part 1")], 13, "m4"),
        assistant([text("answer three, part 2")], 14, "m4"),
        user(
            "<task-notification><task-id>bx1</task-id></task-notification>",
            15,
            origin={"kind": "task-notification"},
        ),
        assistant([text("background job done")], 16, "m5"),
        user([{"type": "image", "source": {}}], 17),
        {"type": "queue-operation", "operation": "enqueue", "timestamp": ts(18), "sessionId": SID},
    ]
    result = load(write(tmp_path, lines))
    assert result.title == "Mine"
    assert [e["prompt"] for e in of(result, "UserPromptSubmit")] == [
        "first question",
        "second question",
        "third question",
        "<task-notification><task-id>bx1</task-id></task-notification>",  # the engine tells
        "",
    ]
    assert [e["last_assistant_message"] for e in of(result, "Stop")] == [
        "answer one",
        "answer three, part 2",
        "background job done",
    ]
    # 2 titles, 2 harness lines, 1 meta, 1 interrupt, 1 queue-operation
    assert result.ignored == 7
    assert result.skipped == 0
    assert_time_ordered(result)
    # The m3 response (interrupted, no Stop) still counts its tokens once, on the next event.
    total = sum(e["usage"]["output_tokens"] for e in result.events if "usage" in e)
    assert total == 50


def test_usage_pending_and_summed(tmp_path: Path) -> None:
    lines = [
        user("go", 1),
        assistant([{"type": "thinking", "thinking": "hmm"}], 2, "m1", out=7),
        assistant([text("first")], 3, "m2", out=11),
        assistant([tool("t1", "Bash", command="ls")], 4, "m2", out=99),
        tool_results([("t1", "ok", False)], 5, {"stdout": "ok"}),
        assistant([{"type": "thinking", "thinking": "more"}], 6, "m3", out=13),
    ]
    result = load(write(tmp_path, lines))
    (pre,) = of(result, "PreToolUse")
    assert pre["usage"]["output_tokens"] == 7 + 11  # m1 (thinking only) + m2's first line
    assert pre["usage"]["input_tokens"] == 2
    assert of(result, "PostToolUse")[0]["usage"]["output_tokens"] == 13  # left over at the end
    assert of(result, "Stop") == []


def test_compaction(tmp_path: Path) -> None:
    lines = [
        user("go", 1),
        assistant([tool("t1", "Read", file_path="/a")], 2, "m1"),
        tool_results([("t1", "x", False)], 3),
        base(
            "system",
            4,
            subtype="compact_boundary",
            compactMetadata={"trigger": "manual", "preTokens": 1000},
        ),
        user("This session is being continued...", 5, isCompactSummary=True),
        assistant([text("done")], 6, "m2"),
        base("system", 7, subtype="compact_boundary"),
    ]
    result = load(write(tmp_path, lines))
    assert names(result) == [
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "PreCompact",
        "PostCompact",
        "Stop",
        "PreCompact",
        "PostCompact",
    ]
    pre, pre2 = of(result, "PreCompact")
    post, post2 = of(result, "PostCompact")
    assert pre["trigger"] == post["trigger"] == "manual"
    assert post["compact_summary"].startswith("This session is being continued")
    assert pre2["trigger"] == post2["trigger"] == "auto"
    assert post2["compact_summary"] == ""


def test_api_error_ends_in_stop_failure(tmp_path: Path) -> None:
    lines = [
        user("go", 1),
        assistant(
            [text("API Error: Rate limit reached")],
            2,
            "m1",
            isApiErrorMessage=True,
            error="rate_limit",
        ),
    ]
    result = load(write(tmp_path, lines))
    assert names(result) == ["SessionStart", "UserPromptSubmit", "StopFailure"]
    assert result.events[-1]["error"] == "rate_limit"


def test_tool_error_wrapper_and_interrupt(tmp_path: Path) -> None:
    lines = [
        user("go", 1),
        assistant(
            [tool("t1", "Read", file_path="/x"), tool("t2", "Bash", command="sleep 9")], 2, "m1"
        ),
        tool_results(
            [
                ("t1", "<tool_use_error>File does not exist.</tool_use_error>", True),
                ("t2", [text("[Request interrupted by user for tool use]")], True),
            ],
            3,
        ),
    ]
    result = load(write(tmp_path, lines))
    first, second = of(result, "PostToolUseFailure")
    assert first["error"] == "File does not exist." and "is_interrupt" not in first
    assert second["is_interrupt"] is True


def test_subagent_links_without_meta_nested_and_skipped_files(tmp_path: Path) -> None:
    sub = lambda agent, line: {**line, "isSidechain": True, "agentId": agent}  # noqa: E731
    main = write(
        tmp_path,
        [
            user("go", 1),
            assistant([tool("t-a", "Agent", prompt="look", subagent_type="Explore")], 2, "m1"),
            tool_results(
                [("t-a", "found", False)],
                20,
                {"status": "completed", "agentId": "aaa", "agentType": "Explore"},
            ),
            assistant([text("all done")], 21, "m2"),
        ],
    )
    folder = tmp_path / SID / "subagents"
    write(
        folder,
        [
            sub("aaa", user("look", 3)),
            sub(
                "aaa",
                assistant([tool("t-b", "Task", prompt="deeper", subagent_type="Plan")], 4, "s1"),
            ),
            sub("aaa", tool_results([("t-b", "deep", False)], 10)),
            sub("aaa", assistant([text("found it")], 11, "s2")),
        ],
        "agent-aaa.jsonl",
    )
    write(
        folder / "workflows" / "run1",
        [
            sub("bbb", user("deeper", 5)),
            sub("bbb", assistant([tool("t-c", "Grep", pattern="x")], 6, "s3")),
            sub("bbb", tool_results([("t-c", "hit", False)], 7)),
            sub("bbb", assistant([text("deep")], 8, "s4")),
        ],
        "agent-bbb.jsonl",
    )
    (folder / "workflows" / "run1" / "agent-bbb.meta.json").write_text(
        json.dumps({"agentType": "Plan", "toolUseId": "t-b", "parentAgentId": "aaa"})
    )
    write(folder, [sub("acompact-1", user("summarise", 9))], "agent-acompact-1.jsonl")
    # Old layout: a Warmup agent file next to the session file, and another session's agent.
    write(
        tmp_path,
        [sub("ccc", user("Warmup", 0.5)), sub("ccc", assistant([text("hi")], 0.6, "w1"))],
        "agent-ccc.jsonl",
    )
    write(
        tmp_path, [{**sub("ddd", user("other", 1)), "sessionId": "someone-else"}], "agent-ddd.jsonl"
    )

    result = load(main)
    starts = {e["agent_id"]: e for e in of(result, "SubagentStart")}
    assert set(starts) == {"aaa", "bbb"}
    assert starts["aaa"]["parent_tool_use_id"] == "t-a"
    assert starts["aaa"]["agent_type"] == "Explore"
    assert "parent_agent_id" not in starts["aaa"]
    assert starts["bbb"]["parent_tool_use_id"] == "t-b"
    assert starts["bbb"]["parent_agent_id"] == "aaa"
    assert starts["bbb"]["agent_type"] == "Plan"
    (grep,) = [e for e in of(result, "PreToolUse") if e["tool_name"] == "Grep"]
    assert grep["agent_id"] == "bbb" and grep["agent_type"] == "Plan"
    stops = of(result, "SubagentStop")
    assert [s["agent_id"] for s in stops] == ["bbb", "aaa"]
    assert stops[0]["agent_transcript_path"].endswith("workflows/run1/agent-bbb.jsonl")
    assert [e["last_assistant_message"] for e in of(result, "Stop")] == ["all done"]
    assert result.ignored == 2  # the two Warmup lines
    assert_time_ordered(result)


def test_inline_sidechain_with_agent_id_and_guessed_link(tmp_path: Path) -> None:
    side = {"isSidechain": True, "agentId": "abc123"}
    lines = [
        user("go", 1),
        assistant(
            [
                tool("t1", "Task", prompt="first job", subagent_type="general-purpose"),
                tool("t2", "Task", prompt="second job", subagent_type="Explore"),
            ],
            2,
            "m1",
        ),
        user("second job", 3, **side, parentUuid=None),
        assistant([text("did it")], 4, "s1", **side),
        tool_results([("t2", "did it", False)], 5),
        tool_results([("t1", "never ran", False)], 6),
    ]
    result = load(write(tmp_path, lines))
    (start,) = of(result, "SubagentStart")
    assert start["agent_id"] == "abc123"
    assert start["parent_tool_use_id"] == "t2"  # matched by prompt, not merely the latest
    assert start["agent_type"] == "Explore"


def test_duplicate_lines_count_once(tmp_path: Path) -> None:
    call = assistant([tool("t1", "Read", file_path="/a")], 2, "m1")
    lines = [
        user("go", 1),
        call,
        call,
        tool_results([("t1", "x", False)], 3),
        assistant([text("ok")], 4, "m2"),
    ]
    result = load(write(tmp_path, lines))
    assert names(result) == [
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "Stop",
    ]
    assert result.ignored == 1


def test_parse_micros() -> None:
    assert parse_micros("2026-08-20T14:03:11.250Z") == parse_micros("2026-08-20T16:03:11.25+02:00")
    assert parse_micros("2026-08-20T14:03:11Z") == 1787234591_000000
    assert parse_micros("2026-08-20T14:03:11.123456789Z") == 1787234591_123456
    assert parse_micros("2026-02-30T00:00:00Z") is None
    assert parse_micros("soon") is None
    assert parse_micros(17) is None


def test_v2_0_inline_sidechain_with_partial_agent_ids(tmp_path: Path) -> None:
    """As in real 2.0.46 files: agentId on some sidechain lines only, null is_error/isMeta."""
    side = {"isSidechain": True, "isMeta": None}
    prompt = user("Research it", 3, **side, parentUuid=None, uuid="s-1")
    call = assistant(
        [tool("t-g", "Grep", pattern="x")], 4, "s1", **side, parentUuid="s-1", uuid="s-2"
    )
    found = tool_results(
        [("t-g", "hit", None)],
        5,
        {"mode": "files"},
        **side,
        parentUuid="s-2",
        uuid="s-3",
        agentId="e1c84ba5",
    )
    answer = assistant([text("it is in x")], 6, "s2", **side, parentUuid="s-3", uuid="s-4")
    lines = [
        user("go", 1),
        assistant([tool("t-task", "Task", prompt="Other words", subagent_type="Explore")], 2, "m1"),
        prompt,
        call,
        found,
        answer,
        tool_results(
            [("t-task", [text("it is in x")], None)], 7, {"oldString": None}, agentId="e1c84ba5"
        ),
    ]
    result = load(write(tmp_path, lines))
    (start,) = of(result, "SubagentStart")
    assert start["agent_id"] == "e1c84ba5"
    assert start["parent_tool_use_id"] == "t-task"
    assert start["agent_type"] == "Explore"
    inner = [e for e in result.events if e.get("tool_name") == "Grep"]
    assert [e["hook_event_name"] for e in inner] == ["PreToolUse", "PostToolUse"]
    assert all(e["agent_id"] == "e1c84ba5" for e in inner)
    assert of(result, "SubagentStop")[0]["last_assistant_message"] == "it is in x"
    assert [e["prompt"] for e in of(result, "UserPromptSubmit")] == ["go"]
