"""Property tests: random event sequences never break the engine's promises."""

from __future__ import annotations

import json
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccviz_kernel.claude.hooks import HOOK_EVENTS
from ccviz_kernel.claude.prompts import prompt_kind
from ccviz_kernel.engine.deltas import apply_deltas
from ccviz_kernel.engine.game import Game
from ccviz_kernel.events import parse_event
from ccviz_kernel.store import EventStore

SID = "prop-session"
AGENTS = st.sampled_from([None, None, "a1", "a2", "a3", "b7"])
TOOLS = st.sampled_from(
    [
        "Read",
        "Edit",
        "Bash",
        "Grep",
        "Agent",
        "Task",
        "TodoWrite",
        "TaskUpdate",
        "WebFetch",
        "AskUserQuestion",
        "mcp__github__search",
        "mcp__x__y",
        "SomeNewTool",
        "Skill",
    ]
)
USE_IDS = st.sampled_from([None, "t1", "t2", "t3", "t4"])
AGENT_TYPES = st.sampled_from([None, "", "Explore", "Plan", "general-purpose"])
TEXT = st.text(max_size=30)
TS = st.one_of(
    st.none(),
    st.floats(min_value=1.6e9, max_value=1.9e9),
    st.sampled_from(["2026-08-20T14:03:11.250Z", "bogus", 12]),
)
EVENT_NAMES = st.one_of(
    st.sampled_from(sorted(HOOK_EVENTS)),
    st.sampled_from(
        ["ccviz.say", "ccviz.move", "ccviz.rename", "ccviz.annotate", "ccviz.rules", "FutureEvent"]
    ),
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def payloads(draw) -> dict:
    name = draw(EVENT_NAMES)
    p: dict = {"hook_event_name": name, "session_id": SID, "cwd": "/w"}
    agent = draw(AGENTS)
    if agent:
        p["agent_id"] = agent
        p["agent_type"] = draw(AGENT_TYPES)
    ts = draw(TS)
    if ts is not None:
        p["timestamp"] = ts
    tool = draw(TOOLS)
    if name in {
        "PreToolUse",
        "PostToolUse",
        "PostToolUseFailure",
        "PermissionRequest",
        "PermissionDenied",
    } or draw(st.booleans()):
        p["tool_name"] = tool
        p["tool_use_id"] = draw(USE_IDS)
        p["tool_input"] = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "file_path": TEXT,
                    "command": TEXT,
                    "subagent_type": AGENT_TYPES,
                    "description": TEXT,
                    "todos": st.lists(
                        st.fixed_dictionaries(
                            {
                                "content": TEXT,
                                "status": st.sampled_from(
                                    ["pending", "in_progress", "completed", "weird"]
                                ),
                            }
                        ),
                        max_size=3,
                    ),
                    "taskId": st.sampled_from(["1", "2"]),
                    "status": st.sampled_from(["completed", "deleted"]),
                },
            )
        )
    optional = {
        "prompt": TEXT,
        "error": TEXT,
        "source": st.sampled_from(["startup", "resume", "compact"]),
        "notification_type": st.sampled_from(["permission_prompt", "idle_prompt", "auth_success"]),
        "message": TEXT,
        "task_id": st.sampled_from(["1", "2", 3]),
        "task_subject": TEXT,
        "tool_response": st.one_of(
            JSONISH,
            st.fixed_dictionaries(
                {"agentId": st.sampled_from(["a1", "a2", "zz"]), "status": st.just("completed")}
            ),
        ),
        "agent": st.sampled_from(["main", "a1", "ghost", None]),
        "text": TEXT,
        "name": TEXT,
        "place": st.sampled_from(["library", "moon"]),
        "tools": st.dictionaries(
            st.sampled_from(["Read", "Bash", "X"]),
            st.sampled_from(["library", "terminal", "moon", None]),
            max_size=2,
        ),
        "usage": st.fixed_dictionaries(
            {"input_tokens": st.integers(0, 10**6), "output_tokens": st.integers(0, 10**6)}
        ),
        "new_cwd": TEXT,
        "last_assistant_message": TEXT,
        "extra_unknown": JSONISH,
    }
    for key, strategy in optional.items():
        if draw(st.integers(0, 4)) == 0:
            p[key] = draw(strategy)
    return p


_CALL_EVENTS = {"PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionDenied"}
_OUTCOMES = {"PostToolUse", "PostToolUseFailure", "PermissionDenied"}


def expect(counts: Counter, event, seen: set, closed: set) -> None:
    """The counting rules, recomputed from scratch: a call is counted once, by whichever
    event names its id first, and its outcome once, by the first result that names it."""
    counts[event.name] += 1
    use_id = event.tool_use_id
    if event.name in _CALL_EVENTS and (use_id is None or use_id not in seen):
        counts["calls"] += 1
        if use_id is not None:
            seen.add(use_id)
    if event.name in _OUTCOMES and (use_id is None or use_id not in closed):
        if use_id is not None:
            closed.add(use_id)
        if event.name != "PostToolUse":
            counts["failures"] += 1
    if event.name == "StopFailure":
        counts["failures"] += 1
    if event.name == "UserPromptSubmit":
        prompt = event.get("prompt")
        text = prompt if isinstance(prompt, str) else ""
        if prompt_kind(text) in ("prompt", "empty"):
            counts["prompts"] += 1


def check_invariants(snap: dict, counts: Counter) -> None:
    agents, places = snap["agents"], snap["places"]
    for agent in agents.values():
        assert agent["place"] in places, agent
        if agent["kind"] == "subagent":
            assert agent["parent"] in agents
        else:
            assert agent["id"] == "main" and agent["parent"] is None
    stats = snap["stats"]
    assert stats["prompts"] == counts["prompts"]
    assert sum(stats["toolCalls"].values()) == counts["calls"]
    assert sum(stats["placeCalls"].values()) == counts["calls"]
    assert sum(a["calls"] for a in agents.values()) == counts["calls"]
    assert stats["failures"] == counts["failures"]
    assert stats["subagents"] == sum(1 for a in agents.values() if a["kind"] == "subagent")
    assert snap["status"] in {"active", "waiting", "idle", "ended"}
    if snap["status"] != "ended":  # the engine keeps counts; recompute from scratch
        states = {a["state"] for a in agents.values()}
        busy = states & {"thinking", "working", "spawning"}
        expected = "waiting" if "waiting" in states else "active" if busy else "idle"
        assert snap["status"] == expected
    assert json.loads(json.dumps(snap)) == snap


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(payloads(), max_size=40))
def test_random_sequences_keep_every_promise(tmp_path_factory, sequence):
    game = Game(SID)
    before = game.snapshot()
    counts: Counter = Counter()
    seen: set = set()
    closed: set = set()
    for seq, payload in enumerate(sequence, 1):
        event = parse_event(payload)
        applied = game.apply(event)
        expect(counts, event, seen, closed)
        assert applied.seq == seq == game.seq
        after = game.snapshot()
        assert apply_deltas(before, applied.deltas) == after
        assert json.loads(json.dumps([applied.deltas, applied.effects])) == [
            applied.deltas,
            applied.effects,
        ]
        check_invariants(after, counts)
        before = after

    # rebuilt from the store, it is the same game; replayed again, the same too
    store = EventStore(tmp_path_factory.mktemp("store") / "events.sqlite3")
    for payload in sequence:
        event = parse_event(payload)
        store.append(SID, event.to_json(), event.ts)
    rebuilt = Game(SID)
    for row in store.events(SID):
        rebuilt.apply(parse_event(row.payload, ts=row.ts))
    store.close()
    assert rebuilt.snapshot() == game.snapshot()
