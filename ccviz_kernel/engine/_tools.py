"""Tool calls: what ``PreToolUse``, ``PostToolUse``, failures and permissions do to agents.

A call sends its agent to the place the town's rules give its tool, shows its summary and
stays open until its result; when one ends, an agent that still has other calls open shows
one of those. Tools with side effects beyond the call are dispatched from here: ``Agent``/``Task``
queue a spawn for the subagent they start, ``TodoWrite``/``TaskUpdate`` change the quest
board, MCP tools open a booth at the embassy.
"""

from __future__ import annotations

from typing import Any

from ..claude.hooks import SPAWN_TOOLS
from ..events import HookEvent
from ._agents import AgentRules
from ._core import Spawn
from ._todos import TodoRules
from .speech import mcp_server, shorten, tool_texts
from .town import HOME, WAITING_PLACE, place_for


class ToolRules(AgentRules, TodoRules):
    """The tool-call hooks, from the call to its result or failure."""

    def _on_pre_tool(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        tool = event.tool_name or "unknown"
        p = event.payload
        tool_input = p.get("tool_input") or {}
        rules = self._state["rules"]
        place = place_for(rules, tool)
        if place not in self._state["places"]:
            place = rules["default"] if rules["default"] in self._state["places"] else HOME
        summary, doing = tool_texts(tool, tool_input, self._state["cwd"])
        call: dict[str, Any] = {"name": tool, "useId": event.tool_use_id, "summary": summary}
        server = mcp_server(tool)
        if server:
            call["booth"] = shorten(server, 40)
            self._add_booth(call["booth"])
        if event.tool_use_id:
            self._scratch.open_calls[event.tool_use_id] = (agent_id, call)
        self._inc(("stats", "toolCalls", tool))
        self._inc(("stats", "placeCalls", place))
        waiting = place == WAITING_PLACE
        calls = self._state["agents"][agent_id]["calls"] + 1
        self._agent_set(
            agent_id,
            state="waiting" if waiting else "working",
            calls=calls,
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
                Spawn(event.tool_use_id, agent_id, kind if isinstance(kind, str) else None)
            )
        elif tool == "TodoWrite":
            self._set_todos(tool_input.get("todos"))
        elif tool == "TaskUpdate":
            self._update_task(tool_input.get("taskId"), tool_input.get("status"))

    def _add_booth(self, server: str) -> None:
        embassy = self._state["places"].get("embassy")
        if embassy is None:
            return
        booths = embassy.get("booths") or []
        if server not in booths:
            self._set(("places", "embassy", "booths"), [*booths, server])

    def _finish_call(self, event: HookEvent) -> tuple[str, bool]:
        """Close the call; returns the agent and whether it still has calls open."""
        agent_id = self._agent_for(event)
        calls = self._scratch.open_calls
        calls.pop(event.tool_use_id or "", None)
        agent = self._state["agents"][agent_id]
        current = agent["tool"]
        use_id = current.get("useId") if current is not None else None
        if use_id not in (event.tool_use_id, None) and use_id in calls:
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
        agent_id, _ = self._finish_call(event)
        p = event.payload
        if event.tool_name in SPAWN_TOOLS:
            self._link_spawn_result(agent_id, event.tool_use_id, p.get("tool_response"))
        elif event.tool_name == "TodoWrite":
            response = p.get("tool_response")
            if isinstance(response, dict) and isinstance(response.get("newTodos"), list):
                self._set_todos(response["newTodos"])
        if self._state["agents"][agent_id]["overlay"] == "failure":
            self._agent_set(agent_id, overlay=None)

    def _on_failure(self, event: HookEvent) -> None:
        agent_id, _ = self._finish_call(event)
        p = event.payload
        error = p.get("error")
        interrupted = p.get("is_interrupt") is True
        text = _first_lines(error) or f"{event.tool_name} failed"
        self._inc(("stats", "failures"))
        self._inc(("agents", agent_id, "failures"))
        self._agent_set(agent_id, overlay="failure")
        self._effect("flash", agent_id, "Interrupted" if interrupted else text)
        self._caption(
            agent_id, "was interrupted" if interrupted else f"hit a failure in {event.tool_name}"
        )

    def _on_permission_request(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        text, doing = tool_texts(
            event.tool_name or "a tool", event.get("tool_input"), self._state["cwd"]
        )
        self._agent_set(agent_id, state="waiting", wait="permission", place=WAITING_PLACE)
        self._effect("wait", agent_id, shorten(f"May I? {text}"))
        self._caption(agent_id, f"asks your permission before {doing}")

    def _on_permission_denied(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        self._scratch.open_calls.pop(event.tool_use_id or "", None)
        self._agent_set(agent_id, state="thinking", wait=None, tool=None)
        reason = event.get("reason")
        self._effect(
            "flash",
            agent_id,
            shorten(f"Denied: {reason if isinstance(reason, str) else event.tool_name}"),
        )
        self._caption(agent_id, f"was not allowed to use {event.tool_name}")


def _first_lines(text: Any) -> str:
    """``Exit code 1 · FAIL src/player.test.ts``: the first line alone says too little."""
    if not isinstance(text, str):
        return ""
    lines = [line.strip() for line in text[:2000].splitlines() if line.strip()]
    return shorten(" · ".join(lines[:2]))
