"""Fuzz the hook-log reader with mutated real hook logs (issue 11, point 6).

Every input is a real hook log (``ccviz_kernel/samples/*.hooks.jsonl``, the corpus's, the
fixture) with the transcript folder beside it, which the reader follows for tokens and for
the calls of a lean install; both get the transcript fuzz's mutations, plus hostile hook
payloads slipped in (a controller action with ``timestamp: 1e300``, token counts beyond
64 bits…). The same checks as ``test_transcript_fuzz.py``: replay or a one-line
:class:`~ccviz_kernel.errors.SourceError`, every game joinable, every event storable; and
one broken line of a valid log costs that line only.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.support import fuzz_settings
from tests.fuzz.test_transcript_fuzz import (
    BREAKS,
    UNREADABLE,
    Mutation,
    Session,
    apply,
    break_line,
    dumps,
    fresh,
    hooklog_sessions,
    hostile_values,
    mutations,
    replay_clean,
    replay_like_the_cli,
    write_session,
)

HOOKLOG_SESSIONS = hooklog_sessions()


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="ccviz-fuzz-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


#: Hook and controller payload shapes a hostile or broken sender could log.
EVENT_NAMES = [
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "SubagentStart",
    "SubagentStop",
    "Stop",
    "SessionEnd",
    "PreCompact",
    "ccviz.usage",
    "ccviz.say",
    "ccviz.move",
    "ccviz.rename",
    "ccviz.annotate",
    "ccviz.rules",
    "Nonsense",
]
PAYLOAD_FIELDS = [
    "timestamp",
    "usage",
    "context_tokens",
    "model",
    "agent_id",
    "agent_type",
    "tool_name",
    "tool_use_id",
    "tool_input",
    "tool_response",
    "prompt",
    "session_title",
    "text",
    "name",
    "place",
    "duration_ms",
    "transcript_path",
    "agent_transcript_path",
    "last_assistant_message",
    "error",
]


@st.composite
def hostile_payloads(draw: st.DrawFn, session_id: str) -> dict[str, Any]:
    """A hook or controller payload with a few hostile fields, for the given session."""
    payload: dict[str, Any] = {
        "hook_event_name": draw(st.sampled_from(EVENT_NAMES)),
        "session_id": session_id,
    }
    for key in draw(st.lists(st.sampled_from(PAYLOAD_FIELDS), min_size=1, max_size=4)):
        payload[key] = draw(hostile_values)
    if draw(st.booleans()):
        payload["usage"] = {
            "input_tokens": draw(hostile_values),
            "output_tokens": draw(st.sampled_from([2**64, 10**30, 2**53 - 1, -5, 1e300])),
        }
    return payload


def _session_id(session: Session) -> str:
    for line in session.lines_of(session.main):
        try:
            sid = orjson.loads(line).get("session_id")
        except (orjson.JSONDecodeError, AttributeError):
            continue
        if isinstance(sid, str):
            return sid
    return "s"


@st.composite
def mutated_hooklogs(draw: st.DrawFn) -> tuple[Session, list[Mutation], list[tuple[int, bytes]]]:
    """A real hook log, mutations of it and its transcripts, and hostile lines to insert."""
    session = draw(st.sampled_from(HOOKLOG_SESSIONS))
    changes = draw(mutations(session))
    # Half the mutations aim at the log itself (index 0: it sorts before its folder).
    changes = [replace(c, file=0) if draw(st.booleans()) else c for c in changes]
    sid = _session_id(session)
    inserts = draw(
        st.lists(st.tuples(st.integers(0, 10_000), hostile_payloads(sid).map(dumps)), max_size=3)
    )
    return session, changes, inserts


def check_mutated(
    scratch: Path, case: tuple[Session, list[Mutation], list[tuple[int, bytes]]]
) -> None:
    """Write the mutated log and transcripts, replay as the CLI does (checks in there)."""
    session, changes, inserts = case
    files = apply(session, changes)
    log = files.get(session.main)
    if isinstance(log, bytes) and log != b"/dir":
        lines = log.splitlines(keepends=True)
        for where, text in inserts:
            lines.insert(where % (len(lines) + 1), text + b"\n")
        files[session.main] = b"".join(
            line if line.endswith(b"\n") else line + b"\n" for line in lines
        )
    folder = fresh(scratch, "h")
    try:
        write_session(folder, files)
        replay_like_the_cli(folder / session.main)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_pool_holds_real_hook_logs() -> None:
    assert len(HOOKLOG_SESSIONS) >= 15, [s.name for s in HOOKLOG_SESSIONS]
    assert sum(len(s.files) > 1 for s in HOOKLOG_SESSIONS) >= 10  # with transcripts beside


@fuzz_settings()
@given(case=mutated_hooklogs())
def test_mutated_hook_logs_replay_or_fail_clearly(scratch: Path, case) -> None:
    check_mutated(scratch, case)


# -- one broken line: the rest still replays -----------------------------------------------


def _hook_keys(replays: list[Any]) -> Counter[tuple[Any, ...]]:
    """The events a log's own lines gave (not the tokens or calls read from transcripts)."""
    return Counter(
        (e.session_id, e.name, e.tool_use_id, e.agent_id, e.get("timestamp"))
        for r in replays
        for e in r.events
        if e.name != "ccviz.usage" and e.get("ccviz_source") != "transcript"
    )


@st.composite
def one_broken_hook_line(draw: st.DrawFn) -> tuple[Session, int, str]:
    session = draw(st.sampled_from(HOOKLOG_SESSIONS))
    count = len(session.lines_of(session.main))
    return session, draw(st.integers(0, count - 1)), draw(st.sampled_from(BREAKS))


_CLEAN: dict[str, list[Any]] = {}


def check_broken_line(scratch: Path, case: tuple[Session, int, str]) -> None:
    """Break one line of a valid hook log: every other line's event is still replayed."""
    session, index, how = case
    before = replay_clean(scratch, session, _CLEAN)
    lines = session.lines_of(session.main)
    body = lines[index].rstrip(b"\r\n")
    gone = orjson.loads(body)
    lines = [*lines[:index], break_line(body, how) + b"\n", *lines[index + 1 :]]
    folder = fresh(scratch, "hb")
    try:
        write_session(folder, {**session.files, session.main: b"".join(lines)})
        after = replay_like_the_cli(folder / session.main)
        if len(lines) > 1:
            assert after, f"{session.name}: one broken line refused the whole log"
        if not after:
            return
        if how in UNREADABLE:
            assert sum(r.skipped for r in after) > sum(r.skipped for r in before)
        expected = _hook_keys(before)
        key = (
            gone.get("session_id"),
            gone.get("hook_event_name"),
            gone.get("tool_use_id"),
            gone.get("agent_id"),
            gone.get("timestamp"),
        )
        expected[key] -= 1
        lost = +expected - _hook_keys(after)
        if lost:
            pytest.fail(f"{session.name}: lost with an unrelated line: {dict(lost)}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@fuzz_settings()
@given(case=one_broken_hook_line())
def test_a_broken_hook_line_costs_only_itself(scratch: Path, case) -> None:
    check_broken_line(scratch, case)
