from __future__ import annotations

import json

import pytest
from common import FIXTURES, read_jsonl

from ccviz_kernel.engine.deltas import apply_deltas
from ccviz_kernel.engine.game import Game
from ccviz_kernel.events import PayloadError, parse_event

SID = "s-1"


def ev(event_name: str, /, **fields) -> dict:
    return {"hook_event_name": event_name, "session_id": SID, "cwd": "/w/game", **fields}


def run(*payloads: dict) -> Game:
    game = Game(SID)
    snap = game.snapshot()
    for payload in payloads:
        applied = game.apply(parse_event(payload))
        snap = apply_deltas(snap, applied.deltas)
        assert snap == game.snapshot()
    return game


def tool(name: str, use: str, agent: str | None = None, **tool_input) -> tuple[dict, dict]:
    extra = {"agent_id": agent, "agent_type": "Explore"} if agent else {}
    pre = ev("PreToolUse", tool_name=name, tool_use_id=use, tool_input=tool_input, **extra)
    post = ev("PostToolUse", tool_name=name, tool_use_id=use, tool_input=tool_input, **extra)
    return pre, post


def test_fixture_hook_log_gives_the_expected_game():
    game = run(*read_jsonl(FIXTURES / "hook-payloads.jsonl"))
    snap = game.snapshot()
    assert snap["seq"] == 27
    assert set(snap["agents"]) == {"main", "a3f9c27e81d04b6a5"}
    sub = snap["agents"]["a3f9c27e81d04b6a5"]
    assert (sub["kind"], sub["type"], sub["parent"]) == ("subagent", "Explore", "main")
    assert sub["spawnedBy"] == "toolu_01AgentZ1x2C3v4B5n6M7k8"
    assert sub["state"] == "left"
    assert snap["stats"]["toolCalls"] == {
        "Glob": 1,
        "Read": 1,
        "Agent": 1,
        "Grep": 1,
        "Edit": 1,
        "Bash": 1,
        "Write": 1,
        "mcp__github__search_issues": 1,
    }
    assert snap["stats"]["placeCalls"]["library"] == 3
    assert snap["stats"]["failures"] == 2  # the failing npm test and the rate-limit StopFailure
    assert snap["stats"]["prompts"] == 1
    assert snap["stats"]["subagents"] == 1
    assert snap["status"] == "ended"
    assert snap["places"]["embassy"]["booths"] == ["github"]
    assert snap["model"] == "claude-sonnet-4-5"


def test_tool_calls_walk_the_agent_between_places():
    read, read_done = tool("Read", "t1", file_path="/w/game/src/player.py")
    bash, _ = tool("Bash", "t2", command="npm test")
    game = run(ev("SessionStart", source="startup"), ev("UserPromptSubmit", prompt="go"), read)
    main = game.peek("agents", "main")
    assert (main["state"], main["place"]) == ("working", "library")
    assert main["tool"] == {"name": "Read", "useId": "t1", "summary": "Reading src/player.py"}
    game.apply(parse_event(read_done))
    assert game.peek("agents", "main", "state") == "thinking"
    applied = game.apply(parse_event(bash))
    assert game.peek("agents", "main", "place") == "terminal"
    assert applied.effects == [{"kind": "say", "agentId": "main", "text": "$ npm test", "seq": 5}]


def test_parallel_calls_keep_the_agent_working_until_the_last_ends():
    a, a_done = tool("Read", "t1", file_path="/a")
    b, b_done = tool("Grep", "t2", pattern="x")
    game = run(ev("UserPromptSubmit", prompt="p"), a, b, a_done)
    assert game.peek("agents", "main", "state") == "working"
    assert game.peek("agents", "main", "tool", "useId") == "t2"
    game.apply(parse_event(b_done))
    assert game.peek("agents", "main", "state") == "thinking"


def test_subagent_without_subagent_start_is_created_and_linked_to_its_spawn():
    spawn, _ = tool("Task", "spawn-1", subagent_type="Explore", description="look")
    inner, _ = tool("Grep", "t9", agent="a1", pattern="x")
    game = run(ev("UserPromptSubmit", prompt="p"), spawn, inner)
    sub = game.peek("agents", "a1")
    assert (sub["parent"], sub["spawnedBy"], sub["place"]) == ("main", "spawn-1", "library")
    game.apply(parse_event(ev("SubagentStop", agent_id="a1", agent_type="Explore")))
    assert game.peek("agents", "a1", "state") == "left"


def test_nested_subagents_have_their_own_parent():
    spawn, _ = tool("Agent", "s1", subagent_type="Plan")
    nested, _ = tool("Agent", "s2", agent="a1", subagent_type="Explore")
    game = run(
        spawn,
        ev("SubagentStart", agent_id="a1", agent_type="Plan"),
        nested,
        ev("SubagentStart", agent_id="a2", agent_type="Explore"),
    )
    assert game.peek("agents", "a2", "parent") == "a1"
    assert game.peek("agents", "a2", "spawnedBy") == "s2"


def test_post_tool_use_of_agent_links_an_async_subagent_by_its_id():
    spawn, _ = tool("Agent", "s1", subagent_type="general-purpose")
    spawn2, _ = tool("Agent", "s2", subagent_type="general-purpose")
    done = ev(
        "PostToolUse",
        tool_name="Agent",
        tool_use_id="s2",
        tool_response={"status": "async_launched", "agentId": "a2"},
    )
    game = run(
        spawn, spawn2, done, ev("SubagentStart", agent_id="a2", agent_type="general-purpose")
    )
    assert game.peek("agents", "a2", "spawnedBy") == "s2"


def test_permission_wait_failure_and_compaction_show_on_the_agent():
    bash, _ = tool("Bash", "t1", command="rm -rf build")
    game = run(ev("PermissionRequest", tool_name="Bash", tool_input={"command": "rm -rf build"}))
    main = game.peek("agents", "main")
    assert (main["state"], main["wait"], main["place"]) == ("waiting", "permission", "helpdesk")
    assert game.peek("status") == "waiting"
    game.apply(parse_event(bash))
    applied = game.apply(
        parse_event(
            ev("PostToolUseFailure", tool_name="Bash", tool_use_id="t1", error="Exit code 1\nboom")
        )
    )
    assert game.peek("agents", "main", "overlay") == "failure"
    assert applied.effects[0]["kind"] == "flash"
    game.apply(parse_event(ev("PreCompact", trigger="auto")))
    assert game.peek("agents", "main", "overlay") == "compacting"
    game.apply(parse_event(ev("PostCompact", trigger="auto")))
    assert game.peek("agents", "main", "overlay") is None


def test_todos_from_todowrite_and_task_events():
    todo, done = tool(
        "TodoWrite",
        "t1",
        todos=[
            {"content": "Find the jump code", "status": "completed", "activeForm": "x"},
            {"content": "Add the sound", "status": "in_progress", "activeForm": "y"},
        ],
    )
    game = run(todo)
    assert game.peek("todos") == []  # the board changes when the call succeeded
    game.apply(parse_event(done))
    assert game.peek("todos") == [
        {"id": None, "content": "Find the jump code", "status": "completed"},
        {"id": None, "content": "Add the sound", "status": "in_progress"},
    ]
    refused, _ = tool("TodoWrite", "t9", todos=[{"content": "Gone", "status": "pending"}])
    failed = ev("PostToolUseFailure", tool_name="TodoWrite", tool_use_id="t9", error="bad")
    game.apply(parse_event(refused))
    game.apply(parse_event(failed))
    assert len(game.peek("todos")) == 2  # a refused TodoWrite changes nothing
    create, created = tool("TaskCreate", "t5", subject="Write tests", description="d")
    created["tool_response"] = {"task": {"id": "7", "subject": "Write tests"}}
    game = run(create, created, ev("TaskCreated", task_id="7", task_subject="Write tests"))
    assert game.peek("todos") == [{"id": "7", "content": "Write tests", "status": "pending"}]
    game = run(
        ev("TaskCreated", task_id="1", task_subject="Write tests"),
        ev("TaskCreated", task_id="2", task_subject="Ship"),
        ev("TaskCompleted", task_id="1", task_subject="Write tests"),
    )
    assert [t["status"] for t in game.peek("todos")] == ["completed", "pending"]
    update, updated = tool("TaskUpdate", "t2", taskId="2", status="deleted")
    game.apply(parse_event(update))
    game.apply(parse_event(updated))
    assert [t["id"] for t in game.peek("todos")] == ["1"]


def test_unknown_events_and_tools_are_kept_and_shown_generically():
    weird, _ = tool("FrobnicateWidgets", "t1")
    game = run(ev("SomethingNew", whatever=[1, 2]), weird)
    assert game.seq == 2
    assert game.peek("agents", "main", "place") == "workshop"
    mcp, _ = tool("mcp__linear__create_issue", "t2")
    game.apply(parse_event(mcp))
    assert game.peek("agents", "main", "place") == "embassy"


def test_rules_are_data_that_can_change_while_the_game_runs():
    read, _ = tool("Read", "t1", file_path="/x")
    game = run(ev("ccviz.rules", tools={"Read": "observatory"}), read)
    assert game.peek("agents", "main", "place") == "observatory"
    bad = parse_event(ev("ccviz.rules", tools={"Read": "moon"}))
    with pytest.raises(PayloadError, match="unknown place 'moon'"):
        game.validate(bad)
    game.apply(bad)  # a bad rule that slipped through changes nothing and does not raise
    assert game.peek("rules", "tools", "Read") == "observatory"


def test_control_events_say_move_rename_annotate():
    game = run(ev("SessionStart"))
    applied = game.apply(parse_event(ev("ccviz.say", agent="main", text="hi there")))
    assert applied.effects[0]["text"] == "hi there"
    game.apply(parse_event(ev("ccviz.move", agent="main", place="observatory")))
    game.apply(parse_event(ev("ccviz.rename", agent="main", name="Ada")))
    game.apply(parse_event(ev("ccviz.rename", name="Jump sound session")))
    game.apply(parse_event(ev("ccviz.annotate", agent="main", text="look here")))
    main = game.peek("agents", "main")
    assert (main["place"], main["name"], main["note"]) == ("observatory", "Ada", "look here")
    assert game.peek("title") == "Jump sound session"
    with pytest.raises(PayloadError, match="unknown agent"):
        game.validate(parse_event(ev("ccviz.move", agent="ghost", place="library")))


GH_TOKEN = "ghp_abcdefghijklmnopqrstuv"


def test_secrets_never_reach_snapshot_or_effects():
    secret = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789"
    bash, _ = tool(
        "Bash",
        "t1",
        command=f"ANTHROPIC_API_KEY={secret} curl -H 'Authorization: Bearer {GH_TOKEN}' x",
    )
    game = Game(SID)
    seen = []
    for payload in (
        ev("UserPromptSubmit", prompt=f"use key {secret}"),
        bash,
        ev("PostToolUseFailure", tool_name="Bash", tool_use_id="t1", error=f"bad token {secret}"),
    ):
        applied = game.apply(parse_event(payload))
        seen.append(json.dumps([applied.deltas, applied.effects]))
    seen.append(json.dumps(game.snapshot()))
    text = "\n".join(seen)
    assert secret not in text and "ghp_abcdefghijklmnopqrstuv" not in text
    assert "[REDACTED]" in text


def test_times_come_from_events_and_the_same_events_give_the_same_game():
    payloads = read_jsonl(FIXTURES / "hook-payloads.jsonl")
    for i, payload in enumerate(payloads):
        payload["timestamp"] = f"2026-08-20T14:03:{i:02d}.500Z"
    a, b = run(*payloads), run(*payloads)
    assert a.snapshot() == b.snapshot()
    assert a.peek("lastEventAt") - a.peek("startedAt") == 26_000


def test_session_end_then_resume():
    game = run(ev("SessionStart"), ev("SessionEnd", reason="other"))
    assert game.peek("status") == "ended"
    game.apply(parse_event(ev("SessionStart", source="resume")))
    assert game.peek("agents", "main", "state") == "idle"
    assert game.peek("status") == "idle"


def test_compaction_subagent_stop_is_not_a_character():
    game = run(
        ev("PreCompact", trigger="manual"), ev("SubagentStop", agent_id="acompact-1", agent_type="")
    )
    assert set(game.peek("agents")) == {"main"}


def test_prompt_and_caption_say_what_happens_now():
    game = Game("s")
    base = {"session_id": "s", "cwd": "/p"}

    def apply(**fields):
        game.apply(parse_event({**base, **fields}))

    apply(hook_event_name="UserPromptSubmit", prompt="first task")
    apply(hook_event_name="UserPromptSubmit", prompt="second task")
    snap = game.snapshot()
    assert snap["title"] == "first task" and snap["prompt"] == "second task"
    assert snap["caption"] == "Claude is thinking about the new prompt"
    apply(
        hook_event_name="PreToolUse",
        tool_name="Grep",
        tool_use_id="t1",
        tool_input={"pattern": "save slot"},
    )
    assert game.peek("caption") == "Claude is searching the code for 'save slot'"
    apply(
        hook_event_name="PreToolUse",
        tool_name="Bash",
        tool_use_id="t2",
        tool_input={"command": "export API_KEY=sk-ant-api03-" + "x" * 40},
    )
    assert "sk-ant-api03" not in game.peek("caption")  # captions are redacted like bubbles
    apply(hook_event_name="SessionEnd", reason="exit")
    assert game.peek("caption") == "The session has ended."


def test_post_tool_batch_counts_refused_calls_once_as_failures():
    read, read_done = tool("Read", "t1", file_path="/x")
    batch = ev(
        "PostToolBatch",
        tool_calls=[
            {"tool_name": "Read", "tool_use_id": "t1", "tool_input": {}, "tool_response": "ok"},
            {
                "tool_name": "Nope",
                "tool_use_id": "t2",
                "tool_input": {},
                "tool_response": "<tool_use_error>No such tool available: Nope</tool_use_error>",
            },
        ],
    )
    game = run(read, read_done, batch, batch)  # the second batch is a duplicate: no change
    stats = game.peek("stats")
    assert stats["toolCalls"] == {"Read": 1, "Nope": 1} and stats["failures"] == 1
    assert game.peek("agents", "main", "calls") == 2
    assert game.peek("agents", "main", "state") == "thinking"


def test_a_result_before_its_call_is_counted_once_and_leaves_nothing_open():
    read, read_done = tool("Read", "t1", file_path="/x")
    game = run(read_done, read)
    assert game.peek("stats", "toolCalls") == {"Read": 1}
    assert game.peek("agents", "main", "state") != "working"


def test_a_denied_call_is_a_failure_whichever_event_says_so():
    bash, _ = tool("Bash", "t1", command="rm -rf /")
    denied = ev("PermissionDenied", tool_name="Bash", tool_use_id="t1", reason="no")
    batch = ev(
        "PostToolBatch",
        tool_calls=[
            {
                "tool_name": "Bash",
                "tool_use_id": "t1",
                "tool_input": {},
                "tool_response": "<tool_use_error>Permission denied</tool_use_error>",
            }
        ],
    )
    for events in ((bash, denied, batch), (bash, batch)):
        game = run(*events)
        assert game.peek("stats", "failures") == 1
        assert game.peek("agents", "main", "state") == "thinking"


def test_usage_model_and_context_per_agent():
    game = run(
        ev(
            "ccviz.usage",
            model="claude-opus-4-5",
            context_tokens=5000,
            usage={"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 100},
        ),
        ev(
            "ccviz.usage",
            agent_id="a1",
            agent_type="Explore",
            model="claude-haiku-4-5",
            usage={"input_tokens": 1, "output_tokens": 2},
        ),
    )
    assert game.peek("model") == "claude-opus-4-5"
    main, sub = game.peek("agents", "main"), game.peek("agents", "a1")
    assert main["tokens"]["total"] == 115 and sub["tokens"]["total"] == 3
    assert game.peek("stats", "tokens")["total"] == 118
    assert main["context"] == {"used": 5000, "window": 200_000}
    assert sub["model"] == "claude-haiku-4-5"


def test_task_notifications_and_commands_are_not_prompts():
    note = "<task-notification><task-id>b1</task-id><status>completed</status>"
    note += "<summary>Agent finished</summary></task-notification>"
    game = run(
        ev("UserPromptSubmit", prompt="Fix it"),
        ev("UserPromptSubmit", prompt=note),
        ev("UserPromptSubmit", prompt="/compact"),
    )
    assert game.peek("stats", "prompts") == 1
    assert game.peek("prompt") == "Fix it"
