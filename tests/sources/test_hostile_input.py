"""Issue 11, point 6: the readers on hostile input, one test per finding.

Each test was written against the code the issue was filed on and failed there (a
traceback, a hang or a game no msgpack viewer could join); the readers must instead skip
the bad line with a problem that names the limit, replay the rest, and hand out only
numbers the wire can carry.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import orjson
import pytest

from ccviz_kernel import config
from ccviz_kernel.claude import lines as lines_module
from ccviz_kernel.claude.hooklog import load_hooklog
from ccviz_kernel.claude.lines import iter_lines
from ccviz_kernel.claude.sources import SourceError, load
from ccviz_kernel.claude.tail import TailRefused, TranscriptTail, UsageReporter, allowed_path
from ccviz_kernel.claude.timestamps import parse_micros, parse_time
from ccviz_kernel.claude.transcript import load_transcript
from ccviz_kernel.claude.usage import MAX_TOKENS, UsageCounter
from ccviz_kernel.config import MAX_DEPTH
from ccviz_kernel.replays.load import load_replay
from ccviz_kernel.untrusted import check_limits
from tests.sources.test_transcript import SID, assistant, text, tool, tool_results, ts, user, write

# -- helpers ------------------------------------------------------------------------------


def session(extra: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """A small valid session: a prompt, a Read call and its result, a closing text."""
    return [
        user("hello", 1),
        assistant([tool("toolu_1", "Read", file_path="/a")], 2, "m1"),
        tool_results([("toolu_1", "contents", False)], 3),
        *(extra or []),
        assistant([text("done")], 9, "m9"),
    ]


def joinable(path: Path) -> dict[str, Any]:
    """Replay ``path`` as ``ccviz replay`` does; its snapshot must go out on both wires."""
    replay = load_replay(path)
    for event in replay.events:
        event.to_json()  # storable
    snapshot = replay.game().snapshot()
    msgpack.packb(snapshot)
    orjson.dumps(snapshot)  # refuses integers beyond 64 bits
    return snapshot


def names(result: Any) -> list[str]:
    return [event["hook_event_name"] for event in result.events]


def deep_text(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.fixture
def alarm() -> Iterator[None]:
    """Fail instead of hanging (a FIFO blocks ``open`` until someone writes to it)."""

    def timeout(*_: Any) -> None:
        raise TimeoutError("the reader blocked")

    old = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(5)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


# -- timestamps ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2026-08-20T14:03:11.250+24:00",
        "2026-08-20T14:03:11.250-24:00",
        "2026-08-20T14:03:11+99:99",
        "2026-08-20T14:03:11+05:60",
        "9999-12-31T23:59:59.999-01:00",  # past 9999 once the offset is applied
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "\u0662\u0660\u0662\u0666-08-20T14:03:11Z",  # not ASCII digits
    ],
)
def test_parse_micros_refuses_times_outside_1970_to_9999(value: str) -> None:
    assert parse_micros(value) is None
    assert parse_time(value) is None


@pytest.mark.parametrize(
    "value",
    [
        1e300,
        -1e300,
        10**400,  # float() of it would raise OverflowError
        -1,
        1_755_698_591_250_000,  # microseconds: not an epoch ccviz reads
        253_402_300_800_000,  # the year 10000 in milliseconds
        math.nan,
        math.inf,
        True,
        False,
        [],
        {},
    ],
)
def test_parse_time_returns_none_for_numbers_beyond_9999(value: Any) -> None:
    assert parse_time(value) is None


def test_parse_time_still_reads_good_times() -> None:
    assert parse_time("2026-08-20T14:03:11.250Z") == 1787234591.25
    assert parse_time("2026-08-20T16:03:11.25+02:00") == 1787234591.25
    assert parse_time("2026-08-20T14:03:11+23:59") == 1787234591.0 - 86_340
    assert parse_time(1787234591.25) == 1787234591.25
    assert parse_time(1787234591250) == 1787234591.25
    assert parse_time("9999-12-31T23:59:59Z") == 253402300799.0
    assert parse_time(0) == 0.0


def test_a_24_hour_offset_costs_one_line(tmp_path: Path) -> None:
    bad = user("later", 4)
    bad["timestamp"] = "2026-01-02T03:04:05.000+24:00"
    result = load_transcript(write(tmp_path, session([bad])))
    assert result.skipped == 1
    assert "bad timestamp" in result.problems[0] and "24 hours" in result.problems[0]
    assert names(result).count("PreToolUse") == 1
    assert names(result)[-1] == "Stop"


def test_a_controller_action_at_1e300_does_not_poison_the_game(tmp_path: Path) -> None:
    path = tmp_path / "log.hooks.jsonl"
    payloads = [
        {"hook_event_name": "SessionStart", "session_id": "s", "timestamp": ts(1)},
        {"hook_event_name": "ccviz.say", "session_id": "s", "text": "hi", "timestamp": 1e300},
        {
            "hook_event_name": "UserPromptSubmit",
            "session_id": "s",
            "prompt": "x",
            "timestamp": 2e19,
        },
        {"hook_event_name": "Stop", "session_id": "s", "timestamp": ts(3)},
    ]
    path.write_text("".join(json.dumps(p) + "\n" for p in payloads))
    snapshot = joinable(path)
    assert snapshot["lastEventAt"] < 10**15


def test_the_cli_replays_a_hook_log_with_far_times(tmp_path: Path, capsys) -> None:
    from ccviz_kernel.cli import main

    path = tmp_path / "log.hooks.jsonl"
    payloads = [
        {"hook_event_name": "SessionStart", "session_id": "s", "timestamp": 1e300},
        {"hook_event_name": "Stop", "session_id": "s", "timestamp": "9999-12-31T23:59:59-01:00"},
    ]
    path.write_text("".join(json.dumps(p) + "\n" for p in payloads))
    assert main(["replay", str(path)]) == 0
    assert "Traceback" not in capsys.readouterr().err


# -- message.id and other keys of the wrong type -----------------------------------------


@pytest.mark.parametrize("bad_id", [{"an": "object"}, ["a", "list"], 12])
def test_message_id_of_the_wrong_type(tmp_path: Path, bad_id: Any) -> None:
    line = assistant([tool("toolu_2", "Bash", command="ls")], 4, "m2")
    line["message"]["id"] = bad_id
    line["requestId"] = {"also": "odd"}
    result = load_transcript(write(tmp_path, session([line])))
    assert names(result).count("PreToolUse") == 2
    (pre,) = [e for e in result.events if e.get("tool_use_id") == "toolu_2"]
    assert pre["usage"]["output_tokens"] == 10  # counted once, keyed by the line's uuid


def test_hook_log_with_object_session_ids(tmp_path: Path) -> None:
    path = tmp_path / "log.hooks.jsonl"
    payloads = [
        {"hook_event_name": "SessionStart", "session_id": "s"},
        {"hook_event_name": {"x": 1}, "session_id": "s"},
        {"hook_event_name": "Stop", "session_id": {"not": "a string"}},
        {"hook_event_name": "PreToolUse", "session_id": ["s"], "tool_name": "Bash"},
        {"hook_event_name": "Stop", "session_id": "s"},
    ]
    path.write_text("".join(json.dumps(p) + "\n" for p in payloads))
    result = load_hooklog(path)
    assert len(result.events) == 4  # the object name is no hook payload; the rest pass
    joinable(path)


# -- depth, size, strings ------------------------------------------------------------------


def test_deep_usage_is_a_skipped_line_naming_the_limit(tmp_path: Path) -> None:
    path = write(tmp_path, session())
    deep = assistant([text("deep")], 5, "m5")
    text_line = json.dumps(deep)[:-1] + ', "usageDetail": ' + deep_text(300) + "}"
    with path.open("a") as handle:
        handle.write(text_line + "\n")
    result = load_transcript(path)
    assert result.skipped == 1
    assert f"nested deeper than {MAX_DEPTH} levels" in result.problems[0]
    joinable(path)


def test_a_line_deeper_than_orjson_reads_names_the_limit(tmp_path: Path) -> None:
    path = write(tmp_path, session())
    with path.open("a") as handle:
        handle.write('{"type": "user", "message": ' + deep_text(5000) + "}\n")
    result = load_transcript(path)
    assert result.skipped == 1
    assert f"nested deeper than {MAX_DEPTH} levels" in result.problems[0]


def test_deep_tool_input_cannot_make_an_unstorable_event(tmp_path: Path) -> None:
    line = assistant([tool("toolu_2", "Bash", command="ls")], 4, "m2")
    line["message"]["content"][0]["input"] = "__DEEP__"
    path = write(tmp_path, session([line]))
    path.write_text(path.read_text().replace('"__DEEP__"', deep_text(400)))
    result = load_transcript(path)
    assert result.skipped == 1
    assert all(e.get("tool_use_id") != "toolu_2" for e in result.events)
    joinable(path)  # every event it gave can be stored


def test_check_limits() -> None:
    assert check_limits({"a": [1, "x", 2.5, None, True]}) is None
    assert "nested deeper" in (check_limits(json.loads(deep_text(MAX_DEPTH + 1))) or "")
    assert check_limits(json.loads(deep_text(MAX_DEPTH - 1))) is None
    assert "64 bits" in (check_limits({"n": 2**64}) or "")
    assert check_limits({"n": 2**64 - 1, "m": -(2**63)}) is None
    assert "not finite" in (check_limits([math.nan]) or "")


def test_a_line_beyond_the_size_limit_is_skipped_unread(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(lines_module, "MAX_LINE_BYTES", 4096)
    path = write(tmp_path, session())
    content = path.read_text().splitlines(keepends=True)
    huge = json.dumps(user("x" * 10_000, 4)) + "\n"
    path.write_text("".join([*content[:3], huge, *content[3:]]))
    result = load_transcript(path)
    assert result.skipped == 1
    assert "longer than 4,096 bytes" in result.problems[0]
    assert names(result)[-1] == "Stop"


def test_a_string_beyond_the_limit(monkeypatch) -> None:
    monkeypatch.setattr(config, "MAX_STRING", 100)
    assert "a string of 101 characters" in (check_limits({"a": "x" * 101}) or "")
    assert "a key of 101 characters" in (check_limits({"k" * 101: 1}) or "")


# -- .meta.json sidecars ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        b"[" * 100_000 + b"]" * 100_000,  # deep: RecursionError in json.loads
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b'{"agentType": "\\ud800", "toolUseId": "\\udfff"}',  # lone surrogates: msgpack refuses
        b'{"agentType": NaN}',
        b"\xff\xfe{\x00}\x00",
        b"",
    ],
)
def test_meta_json_garbage_costs_only_the_hint(tmp_path: Path, garbage: bytes) -> None:
    lines = [
        user("go", 1),
        assistant([tool("toolu_a", "Agent", prompt="look", subagent_type="Explore")], 2, "m1"),
        tool_results([("toolu_a", "found", False)], 6),
        assistant([text("done")], 7, "m2"),
    ]
    main = write(tmp_path, lines)
    agents = tmp_path / SID / "subagents"
    write(
        agents,
        [user("look", 3, isSidechain=True), assistant([text("ok")], 4, "s1")],
        "agent-x.jsonl",
    )
    (agents / "agent-x.meta.json").write_bytes(garbage)
    result = load_transcript(main)
    assert "SubagentStart" in names(result) and "SubagentStop" in names(result)
    joinable(main)
    tail = TranscriptTail(main, roots=[tmp_path])
    tail.poll()  # the live tail reads the same sidecar


# -- files that are not transcripts --------------------------------------------------------


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path, alarm: None) -> None:
    fifo = tmp_path / "session.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(SourceError, match="not a regular file"):
        load(fifo)


def test_a_fifo_beside_the_session_is_ignored(tmp_path: Path, alarm: None) -> None:
    main = write(tmp_path, session())
    os.mkfifo(tmp_path / "agent-zzz.jsonl")  # old layout: agent files beside the session
    start = time.monotonic()
    assert names(load_transcript(main))[-1] == "Stop"
    assert time.monotonic() - start < 2  # not read: a FIFO would block until the alarm


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_is_a_clear_error(tmp_path: Path, encoding: str) -> None:
    path = write(tmp_path, session())
    path.write_bytes(path.read_text().encode(encoding))
    with pytest.raises(SourceError, match="UTF-16"):
        load(path)


def test_a_path_with_a_nul_is_a_source_error() -> None:
    with pytest.raises(SourceError):
        load("bad\x00name.jsonl")
    with pytest.raises(TailRefused):
        allowed_path("bad\x00name.jsonl")


def test_a_session_id_too_long_for_a_file_name(tmp_path: Path) -> None:
    log = tmp_path / "demo.hooks.jsonl"
    (tmp_path / "demo").mkdir()
    sid = "a" * 5000
    log.write_text(json.dumps({"hook_event_name": "Stop", "session_id": sid}) + "\n")
    assert len(load_hooklog(log).events) == 1


def test_iter_lines_describes_every_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n[1]\n{"b": ' + deep_text(70).encode() + b"}\n{\n")
    found = [(number, problem) for number, _, problem in iter_lines(path)]
    assert found[0] == (1, None)
    assert "not a JSON object" in (found[1][1] or "")
    assert "nested deeper than 64 levels" in (found[2][1] or "")
    assert "truncated" in (found[3][1] or "")


# -- counters ------------------------------------------------------------------------------


@pytest.mark.parametrize("tokens", [2**64, 10**30, -5, 1.5, "12", True, None, {"a": 1}])
def test_token_counts_beyond_the_wire_are_dropped(tmp_path: Path, tokens: Any) -> None:
    line = assistant([tool("toolu_2", "Bash", command="ls")], 4, "m2")
    line["message"]["usage"]["output_tokens"] = tokens
    path = write(tmp_path, session([line]))
    result = load_transcript(path)
    (pre,) = [e for e in result.events if e.get("tool_use_id") == "toolu_2"]
    assert "output_tokens" not in pre["usage"]
    assert pre["usage"]["input_tokens"] == 1
    joinable(path)


def test_a_nan_token_count_is_a_skipped_line(tmp_path: Path) -> None:
    line = assistant([tool("toolu_2", "Bash", command="ls")], 4, "m2")
    line["message"]["usage"]["output_tokens"] = math.nan  # json.dumps writes NaN
    result = load_transcript(write(tmp_path, session([line])))
    assert result.skipped == 1 and "invalid JSON" in result.problems[0]


def test_token_totals_saturate() -> None:
    counter = UsageCounter()
    for n in range(5):
        counter.take(
            {
                "type": "assistant",
                "uuid": f"u{n}",
                "message": {"id": f"m{n}", "usage": {"input_tokens": MAX_TOKENS}},
            },
            None,
        )
    assert counter.agent(None).usage["input_tokens"] == MAX_TOKENS
    assert counter.agent(None).context == MAX_TOKENS
    counter.take(
        {
            "type": "cost-state",
            "modelUsage": {"a": {"inputTokens": MAX_TOKENS}, "b": {"inputTokens": MAX_TOKENS}},
        },
        None,
    )
    counter.settle()
    assert counter.agent(None).usage["input_tokens"] == MAX_TOKENS


def test_logged_usage_events_are_clamped_too() -> None:
    reporter = UsageReporter()
    reporter.note({"hook_event_name": "ccviz.usage", "usage": {"input_tokens": -(10**30)}})
    reporter.note({"hook_event_name": "ccviz.usage", "usage": {"output_tokens": 10**30}})
    counter = UsageCounter()
    counter.take(
        {"type": "assistant", "uuid": "u", "message": {"id": "m", "usage": {"input_tokens": 7}}},
        None,
    )
    (event,) = reporter.events("s", counter.agents)
    assert event["usage"]["input_tokens"] == 7
    msgpack.packb(event)


def test_the_live_tail_skips_deep_lines_and_drops_huge_counts(tmp_path: Path) -> None:
    line = assistant([tool("toolu_2", "Bash", command="ls")], 4, "m2")
    line["message"]["usage"]["input_tokens"] = 10**30
    path = write(tmp_path, session([line]))
    with path.open("a") as handle:
        handle.write('{"type": "assistant", "message": ' + deep_text(300) + "}\n")
    update = TranscriptTail(path, roots=[tmp_path]).poll()
    usage = update.totals[None].usage
    assert usage["input_tokens"] == 2  # m1 and m9; nothing from the hostile m2
    assert usage["output_tokens"] == 30
    assert all(0 <= value <= MAX_TOKENS for value in usage.values())
    assert {fill.key for fill in update.fills if fill.kind == "pre"} == {"toolu_1", "toolu_2"}
