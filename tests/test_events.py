from __future__ import annotations

import contextlib
import json
import random

import pytest
from common import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st

from ccviz_kernel.claude.hooks import HOOK_EVENTS
from ccviz_kernel.claude.timestamps import parse_time
from ccviz_kernel.config import MAX_PAYLOAD_BYTES
from ccviz_kernel.engine.game import Game
from ccviz_kernel.events import PayloadError, parse_event

LINES = (FIXTURES / "hook-payloads.jsonl").read_text().splitlines()
JUNK_VALUES = [
    None,
    0,
    -1,
    1.5,
    True,
    [],
    [1, "x"],
    {},
    {"a": {"b": None}},
    "",
    " ",
    "x" * 300,
    float("nan"),
]


def test_all_34_hook_events_parse_and_apply():
    assert len(HOOK_EVENTS) == 34
    game = Game("s")
    for name in sorted(HOOK_EVENTS):
        payload = {"hook_event_name": name, "session_id": "s", "tool_name": "Read"}
        assert game.apply(parse_event(payload)).seq > 0


def test_unknown_fields_ignored_missing_optional_fields_tolerated():
    event = parse_event('{"hook_event_name": "Stop", "session_id": "s", "brand_new": {"x": 1}}')
    assert (event.name, event.known, event.agent_id, event.ts) == ("Stop", True, None, None)
    future = parse_event({"hook_event_name": "TeleportAgent", "session_id": "s"})
    assert not future.known


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "empty payload"),
        ("{", "invalid JSON"),
        ("[1, 2]", "expected a JSON object, got an array"),
        ("null", "expected a JSON object, got null"),
        (b"\xff\xfe\x00junk", "not UTF-8|invalid JSON"),
        ('{"session_id": "s"}', "field 'hook_event_name' is missing"),
        (
            '{"hook_event_name": 5, "session_id": "s"}',
            "'hook_event_name' must be a non-empty string, got a number",
        ),
        ('{"hook_event_name": "Stop"}', "field 'session_id' is missing"),
        (
            '{"hook_event_name": "Stop", "session_id": ""}',
            "'session_id' must be a non-empty string",
        ),
        (
            '{"hook_event_name": "PreToolUse", "session_id": "s"}',
            "PreToolUse: field 'tool_name' is required",
        ),
        (
            '{"hook_event_name": "Stop", "session_id": "s", "agent_id": 7}',
            "'agent_id' must be a string",
        ),
        (
            '{"hook_event_name": "PreToolUse", "session_id": "s", "tool_name": "X", '
            '"tool_input": "rm"}',
            "'tool_input' must be an object, got a string",
        ),
        ("[" * 100_000, "invalid JSON"),
        ('{"hook_event_name": "Stop", "session_id": "s", "n": ' + "9" * 5000 + "}", "invalid JSON"),
    ],
)
def test_bad_payloads_give_one_clear_error(data, message):
    with pytest.raises(PayloadError, match=message):
        parse_event(data)


def test_size_cap():
    huge = json.dumps({"hook_event_name": "Stop", "session_id": "s", "x": "y" * MAX_PAYLOAD_BYTES})
    with pytest.raises(PayloadError, match="payload too large"):
        parse_event(huge)


def _malformed(rng: random.Random) -> bytes | str | dict:
    base = rng.choice(LINES)
    kind = rng.randrange(9)
    if kind == 0:  # truncated JSON
        return base[: rng.randrange(len(base))]
    if kind == 1:  # binary junk
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
    if kind == 2:  # deep nesting
        depth = rng.choice([50, 1000, 5000, 200_000])
        return (
            '{"hook_event_name": "Stop", "session_id": "s", "x": ' + "[" * depth + "]" * depth + "}"
        )
    if kind == 3:  # huge strings
        payload = json.loads(base)
        payload[
            rng.choice(["prompt", "tool_input", "hook_event_name", "session_id", "agent_id"])
        ] = "z" * rng.choice([300, 70_000, MAX_PAYLOAD_BYTES + 10])
        return json.dumps(payload)
    payload = json.loads(base)
    if kind in (4, 5):  # wrong types and nulls in any field, also nested
        for _ in range(rng.randrange(1, 4)):
            key = rng.choice(
                [*payload.keys(), "tool_name", "agent_id", "tool_input", "tool_response"]
            )
            payload[key] = rng.choice(JUNK_VALUES)
        return payload if kind == 4 else json.dumps(payload, allow_nan=True)
    if kind == 6:  # not an object at all
        return json.dumps(rng.choice([[payload], 42, "text", None, True]))
    if kind == 7:  # fields removed
        for key in rng.sample(sorted(payload), rng.randrange(1, len(payload))):
            del payload[key]
        return payload
    # random unknown event names and junk fields
    payload["hook_event_name"] = rng.choice(["", "X" * 250, "Brand\u2028New", "ünïcødé", "0"])
    payload[rng.choice(["\x00", "a" * 50, "é"])] = rng.choice(JUNK_VALUES)
    return payload


def test_a_thousand_malformed_payloads_never_raise_anything_else():
    rng = random.Random(20261125)
    game = Game("s")
    errors = kept = 0
    for _ in range(1200):
        data = _malformed(rng)
        try:
            event = parse_event(data, session_id="fallback")
        except PayloadError as exc:
            assert str(exc) and "\n" not in str(exc) and len(str(exc)) < 200
            errors += 1
            continue
        game.apply(event)  # must not raise either
        kept += 1
    assert errors > 300 and kept > 200  # both paths were really exercised
    assert game.seq == kept


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000) | st.text(max_size=2000))
def test_arbitrary_bytes_and_text(data):
    with contextlib.suppress(PayloadError):
        parse_event(data)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-08-20T14:03:11.250Z", 1787234591.25),
        (1787234591.25, 1787234591.25),
        (1787234591250, 1787234591.25),
        ("nope", None),
        (True, None),
        (None, None),
        (float("inf"), None),
        ("2026-08-20T14:03:11", 1787234591.0),
    ],
)
def test_parse_time(value, expected):
    assert parse_time(value) == expected


@pytest.mark.parametrize("given", [1e300, -1.0, float("nan"), float("inf"), 10**30])
def test_an_impossible_time_is_no_time(given):
    """Issue 11 §2: times beyond the year 9999 became 300-digit integers of milliseconds."""
    base = {"hook_event_name": "Notification", "session_id": "s"}
    assert parse_event(base, ts=given).ts is None
    assert parse_event({**base, "timestamp": given}).ts is None
    assert parse_event(base, ts=253_402_300_800).ts is None
    assert parse_event(base, ts=253_402_300_799.5).ts == 253_402_300_799.5
