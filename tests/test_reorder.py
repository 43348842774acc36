"""The reorder window (ccviz_kernel/engine/reorder.py) through the hub, on a fake clock:
events that come before their cause wait for it, at most the window, and the log records
the order they were applied in."""

from __future__ import annotations

import json

from ccviz_kernel.hub import Hub
from ccviz_kernel.store import EventStore

SID = "s1"


def ev(name: str, **fields) -> dict:
    return {"hook_event_name": name, "session_id": SID, **fields}


def pre(use: str, tool: str = "Read", **extra) -> dict:
    return ev("PreToolUse", tool_name=tool, tool_use_id=use, tool_input={}, **extra)


def post(use: str, tool: str = "Read", **extra) -> dict:
    return ev("PostToolUse", tool_name=tool, tool_use_id=use, tool_input={}, **extra)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Hooks(Hub):
    """A hub fed the way the server's hook route feeds it."""

    def ingest(self, data, **options):
        return super().ingest(data, reorder=True, **options)


def hub_with_window(window: float = 0.25) -> tuple[Hub, Clock]:
    clock = Clock()
    return Hooks(EventStore(":memory:"), clock=clock, reorder_window=window), clock


def logged(hub: Hub) -> list[str]:
    return [json.loads(r.payload)["hook_event_name"] for r in hub.store.events(SID)]


def test_a_result_waits_for_its_call_and_is_logged_after_it():
    hub, clock = hub_with_window()
    hub.ingest(ev("UserPromptSubmit", prompt="go"))
    assert hub.ingest(post("t1"))[1] == 0  # held
    assert logged(hub) == ["UserPromptSubmit"]
    clock.now += 0.01
    hub.ingest(pre("t1"))
    assert logged(hub) == ["UserPromptSubmit", "PreToolUse", "PostToolUse"]
    assert hub.game(SID).peek("agents", "main", "state") == "thinking"


def test_a_cause_that_never_comes_costs_only_the_window():
    hub, clock = hub_with_window()
    hub.ingest(post("lost"))
    assert hub.next_hold_deadline() == clock.now + 0.25
    assert hub.flush_held() == 0  # not yet
    clock.now += 0.3
    assert hub.flush_held() == 1
    assert logged(hub) == ["PostToolUse"]
    assert hub.next_hold_deadline() is None


def test_the_turn_end_waits_behind_the_batch_and_the_session_end_behind_the_turn():
    hub, clock = hub_with_window()
    hub.ingest(ev("UserPromptSubmit", prompt="go"))
    hub.ingest(pre("t1"))
    # Arrival order of a real permission session (http hooks): SessionEnd, Stop, batch.
    hub.ingest(ev("SessionEnd", reason="other"))  # t1 is open: waits
    hub.ingest(ev("Stop"))
    clock.now += 0.05
    batch = ev(
        "PostToolBatch",
        tool_calls=[{"tool_name": "Read", "tool_use_id": "t1", "tool_response": "denied"}],
    )
    hub.ingest(batch)
    assert logged(hub) == [
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolBatch",
        "Stop",
        "SessionEnd",
    ]
    game = hub.game(SID)
    assert game.peek("stats", "failures") == 1  # the denied call
    assert game.peek("agents", "main", "state") == "left"


def test_a_subagent_event_waits_for_its_start_and_duplicates_are_taken_once():
    hub, clock = hub_with_window()
    hub.ingest(pre("a1", "Agent", subagent_type="Explore"), key="k0")
    sub = pre("t2", agent_id="x1", agent_type="Explore")
    hub.ingest(sub, key="k1")
    assert hub.ingest(sub, key="k1")[1] is None  # a retried delivery of a held event
    hub.ingest(ev("SubagentStart", agent_id="x1", agent_type="Explore"), key="k2")
    assert logged(hub) == ["PreToolUse", "SubagentStart", "PreToolUse"]


def test_when_the_window_ends_everything_held_goes_in_turn_order():
    hub, clock = hub_with_window()
    hub.ingest(ev("Stop"))  # not held: nothing open
    hub.ingest(pre("t1"))
    hub.ingest(ev("Stop"))  # held: t1 open
    hub.ingest(post("t9"))  # held: no PreToolUse for t9
    clock.now += 1
    assert hub.flush_held() == 2
    assert logged(hub)[-2:] == ["PostToolUse", "Stop"]


def test_off_by_default_in_a_plain_hub_and_for_events_from_python():
    hub = Hub(EventStore(":memory:"))
    hub.ingest(post("t1"), reorder=True)
    assert logged(hub) == ["PostToolUse"]
    hub = Hub(EventStore(":memory:"), reorder_window=0.25)
    hub.ingest(post("t1"))  # a cell's event: applied at once
    assert logged(hub) == ["PostToolUse"]


def test_a_task_call_result_waits_for_the_task_hook_it_fired():
    hub, clock = hub_with_window()
    hub.ingest(pre("t1", "TaskCreate", subject="Write tests"))
    done = post("t1", "TaskCreate", tool_response={"task": {"id": "1", "subject": "Write tests"}})
    hub.ingest(done)  # the TaskCreated hook (a slower command handler) is still on its way
    hub.ingest(ev("TaskCreated", task_id="1", task_subject="Write tests"))
    assert logged(hub) == ["PreToolUse", "TaskCreated", "PostToolUse"]


def test_a_permission_request_waits_for_the_call_it_is_about():
    # Lean hooks: the PreToolUse comes from the transcript, a poll after the http request.
    hub, clock = hub_with_window()
    hub.ingest(ev("PermissionRequest", tool_name="Bash", tool_input={"command": "rm x"}))
    assert logged(hub) == []
    hub.ingest(pre("t1", "Bash"))
    assert logged(hub) == ["PreToolUse", "PermissionRequest"]
    assert hub.game(SID).peek("agents", "main", "state") == "waiting"


def test_a_background_subagent_starts_after_its_spawn_call_returned():
    hub, clock = hub_with_window()
    spawn = pre("a1", "Agent")
    spawn["tool_input"] = {"subagent_type": "Explore", "run_in_background": True}
    hub.ingest(spawn)
    hub.ingest(ev("SubagentStart", agent_id="x1", agent_type="Explore"))  # before the result
    launched = post("a1", "Agent", tool_response={"status": "async_launched", "agentId": "x1"})
    hub.ingest(launched)
    assert logged(hub) == ["PreToolUse", "PostToolUse", "SubagentStart"]
