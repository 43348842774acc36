"""Tool calls: what ``PreToolUse``, ``PostToolUse``, failures and permissions do to agents.

A call sends its agent to the place the town's rules give its tool, shows its summary and
stays open until its result; when one ends, an agent that still has other calls open shows
one of those. Tools with side effects beyond the call are dispatched from here: ``Agent``/``Task``
queue a spawn for the subagent they start, the results of ``TodoWrite`` and the ``Task*``
tools change the quest board, MCP tools open a booth at the embassy.
"""

from __future__ import annotations

from typing import Any

from ..claude.hooks import SPAWN_TOOLS
from ..claude.results import refusal, result_text
from ..events import HookEvent
from ._agents import AgentRules
from ._core import MAIN, Spawn, as_key
from ._todos import TodoRules
from .speech import mcp_server, shorten, tool_texts
from .town import HOME, WAITING_PLACE, place_for

#: The tools whose result changes the quest board (``_take_todo_result``).
_TODO_TOOLS = frozenset({"TodoWrite", "TaskCreate", "TaskUpdate"})


class ToolRules(AgentRules, TodoRules):
    """The tool-call hooks, from the call to its result or failure."""

    def _place_of(self, tool: str) -> str:
        rules = self._state["rules"]
        place = place_for(rules, tool)
        if place not in self._state["places"]:
            place = rules["default"] if rules["default"] in self._state["places"] else HOME
        return place

    def _count_call(
        self, agent_id: str, tool: str, use_id: str | None, place: str | None = None
    ) -> bool:
        """Count a call the first time any event names it; False if it was counted before.

        Most calls are first named by their ``PreToolUse``; a call that Claude Code refused
        before running it (an unknown tool, a missing parameter) only ever shows up in the
        ``PostToolBatch``, and an out-of-order result may come before its ``PreToolUse``.
        """
        if use_id:
            seen = self._scratch.seen_calls
            if use_id in seen:
                return False
            seen.add(use_id)
        if place is None:
            place = self._place_of(tool)
        # Three ``_inc``s, inlined (every call passes here): the same deltas, the same state.
        state = self._state
        stats = state["stats"]
        agent = state["agents"][agent_id]
        self._deltas += (
            ["inc", ["stats", "toolCalls", tool], 1],
            ["inc", ["stats", "placeCalls", place], 1],
            ["inc", ["agents", agent_id, "calls"], 1],
        )
        counts = stats["toolCalls"]
        counts[tool] = counts.get(tool, 0) + 1
        counts = stats["placeCalls"]
        counts[place] = counts.get(place, 0) + 1
        agent["calls"] = agent.get("calls", 0) + 1
        return True

    def _on_pre_tool(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        tool = event.tool_name or "unknown"
        place = self._place_of(tool)
        if not self._count_call(agent_id, tool, event.tool_use_id, place):
            return  # named before: its result came first, or the same call twice
        p = event.payload
        tool_input = p.get("tool_input") or {}
        summary, doing = tool_texts(tool, tool_input, self._state["cwd"])
        call: dict[str, Any] = {"name": tool, "useId": event.tool_use_id, "summary": summary}
        server = mcp_server(tool)
        if server:
            call["booth"] = shorten(server, 40)
            self._add_booth(call["booth"])
        if event.tool_use_id:
            self._scratch.open_calls[event.tool_use_id] = (agent_id, call)
        waiting = place == WAITING_PLACE
        self._agent_set(
            agent_id,
            state="waiting" if waiting else "working",
            wait="input" if waiting else None,
            place=place,
            tool=call,
            overlay=None,
        )
        self._effect("say", agent_id, summary)
        self._caption(agent_id, f"is {doing}")
        if tool in SPAWN_TOOLS:
            kind = tool_input.get("subagent_type")
            self._scratch.pending.append(
                Spawn(
                    event.tool_use_id,
                    agent_id,
                    kind if isinstance(kind, str) else None,
                    tool_input.get("run_in_background") is True,
                )
            )

    def _add_booth(self, server: str) -> None:
        embassy = self._state["places"].get("embassy")
        if embassy is None:
            return
        booths = embassy.get("booths") or []
        if server not in booths:
            self._set(("places", "embassy", "booths"), [*booths, server])

    def _close_call(self, agent_id: str, tool: str, use_id: str | None) -> bool:
        """Count the call's outcome once: False if it was counted before (a duplicate, or
        a ``PostToolBatch`` entry whose own result event came first)."""
        if use_id:
            closed = self._scratch.closed_calls
            if use_id in closed:
                return False
            closed.add(use_id)
        self._count_call(agent_id, tool, use_id)
        return True

    def _finish_call(self, event: HookEvent) -> tuple[str, bool]:
        """Close the call; returns the agent and whether it still has calls open."""
        return self._finish_use(self._agent_for(event), event.tool_use_id)

    def _finish_use(self, agent_id: str, finished: str | None) -> tuple[str, bool]:
        calls = self._scratch.open_calls
        calls.pop(finished or "", None)
        agent = self._state["agents"][agent_id]
        current = agent["tool"]
        use_id = current.get("useId") if current is not None else None
        if use_id not in (finished, None) and use_id in calls:
            return agent_id, True
        remaining = next((call for owner, call in calls.values() if owner == agent_id), None)
        if remaining is not None:
            self._agent_set(agent_id, tool=remaining, state="working", wait=None)
            return agent_id, True
        if agent["state"] not in ("left", "done"):
            self._agent_set(agent_id, state="thinking", wait=None, tool=None)
            self._caption(agent_id, "is thinking about what to do next")
        return agent_id, False

    def _on_post_tool(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        if self._close_call(agent_id, event.tool_name or "unknown", event.tool_use_id):
            self._finish_call(event)
        else:
            self._undo_batch_failure(agent_id, event.tool_use_id)
        p = event.payload
        if event.tool_name in SPAWN_TOOLS:
            self._link_spawn_result(agent_id, event.tool_use_id, p.get("tool_response"))
        elif event.tool_name in _TODO_TOOLS:
            # The quest board changes when the call succeeded: a call refused by validation
            # (its transcript result is an error) changes nothing.
            self._take_todo_result(event.tool_name, p.get("tool_input"), p.get("tool_response"))
        if self._state["agents"][agent_id]["overlay"] == "failure":
            self._agent_set(agent_id, overlay=None)

    def _on_failure(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        tool = event.tool_name or "unknown"
        if not self._close_call(agent_id, tool, event.tool_use_id):
            return
        self._finish_call(event)
        p = event.payload
        self._fail(agent_id, tool, p.get("error"), p.get("is_interrupt") is True)

    def _on_tool_batch(self, event: HookEvent) -> None:
        """``PostToolBatch`` lists every call of the turn with the result the model saw.

        It is the only event for a call refused before it ran (validation errors fire no
        ``PreToolUse``), and it closes a call whose permission was denied (no result event
        fires then; the model sees "Claude requested permissions to …"): a call still open
        here did not run, and is counted once as a failure, exactly as the transcript's
        ``is_error`` result counts it in a replay. Should its result arrive after all (the
        hooks run in the background), that result corrects the count.
        """
        calls = event.get("tool_calls")
        if not isinstance(calls, list):
            return
        agent_id = self._agent_for(event)
        scratch = self._scratch
        for call in calls[:1000]:
            if not isinstance(call, dict):
                continue
            use_id = as_key(call.get("tool_use_id"))
            tool = as_key(call.get("tool_name")) or "unknown"
            if use_id is None or use_id in scratch.closed_calls:
                continue
            response = call.get("tool_response")
            error = refusal(response)
            was_open = use_id in scratch.open_calls
            if error is None and not was_open:
                # Never opened and not refused: its PreToolUse is late or was lost, so the
                # call ran; its result event will say how it ended.
                self._count_call(agent_id, tool, use_id)
                continue
            owner = scratch.open_calls.get(use_id, (agent_id, None))[0]
            self._close_call(owner, tool, use_id)
            self._finish_use(owner, use_id)
            scratch.batch_failed.add(use_id)
            self._fail(owner, tool, error or result_text(response), False)

    def _undo_batch_failure(self, agent_id: str, use_id: str | None) -> bool:
        """A result that arrives after the ``PostToolBatch`` closed its call as failed."""
        failed = self._scratch.batch_failed
        if not use_id or use_id not in failed:
            return False
        failed.discard(use_id)
        self._inc(("stats", "failures"), -1)
        owner = agent_id if self._state["agents"][agent_id]["failures"] > 0 else MAIN
        self._inc(("agents", owner, "failures"), -1)
        return True

    def _fail(self, agent_id: str, tool: str, error: Any, interrupted: bool) -> None:
        text = _first_lines(error) or f"{tool} failed"
        self._inc(("stats", "failures"))
        self._inc(("agents", agent_id, "failures"))
        self._agent_set(agent_id, overlay="failure")
        self._effect("flash", agent_id, "Interrupted" if interrupted else text)
        self._caption(agent_id, "was interrupted" if interrupted else f"hit a failure in {tool}")

    def _on_permission_request(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        text, doing = tool_texts(
            event.tool_name or "a tool", event.get("tool_input"), self._state["cwd"]
        )
        self._agent_set(agent_id, state="waiting", wait="permission", place=WAITING_PLACE)
        self._effect("wait", agent_id, shorten(f"May I? {text}"))
        self._caption(agent_id, f"asks your permission before {doing}")

    def _on_permission_denied(self, event: HookEvent) -> None:
        """A denied call is a failed call, live and in replays (its transcript result is
        an ``is_error`` one), counted once with the ``PostToolBatch`` that lists it too."""
        agent_id = self._agent_for(event)
        tool = event.tool_name or "unknown"
        if not self._close_call(agent_id, tool, event.tool_use_id):
            return
        self._finish_call(event)
        self._inc(("stats", "failures"))
        self._inc(("agents", agent_id, "failures"))
        self._agent_set(agent_id, overlay="failure")
        reason = event.get("reason")
        self._effect(
            "flash", agent_id, shorten(f"Denied: {reason if isinstance(reason, str) else tool}")
        )
        self._caption(agent_id, f"was not allowed to use {tool}")


def _first_lines(text: Any) -> str:
    """``Exit code 1 · FAIL src/player.test.ts``: the first line alone says too little."""
    if not isinstance(text, str):
        return ""
    lines = [line.strip() for line in text[:2000].splitlines() if line.strip()]
    return shorten(" · ".join(lines[:2]))
