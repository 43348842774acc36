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
from ._core import CAPTIONS_KEPT, MAIN, Spawn, as_key
from ._todos import TodoRules
from .speech import MAX_CAPTION, mcp_server, shorten, tool_texts
from .town import HOME, WAITING_PLACE, place_for

#: How many tools' places a game remembers (``ToolRules._place_of``).
_TOOL_PLACES_KEPT = 1024

#: The tools whose result changes the quest board (``_take_todo_result``).
_TODO_TOOLS = frozenset({"TodoWrite", "TaskCreate", "TaskUpdate"})


class ToolRules(AgentRules, TodoRules):
    """The tool-call hooks, from the call to its result or failure."""

    def _place_of(self, tool: str) -> str:
        """Where ``tool`` sends an agent: remembered per tool until the rules change
        (``ccviz.rules`` empties ``_tool_places``), since the prefix rules are a scan and
        every tool event asks (part of the measured budget, see ``Game.apply``)."""
        known = self._tool_places
        place = known.get(tool)
        if place is None:
            rules = self._state["rules"]
            places = self._state["places"]
            place = place_for(rules, tool)
            if place not in places:
                place = rules["default"] if rules["default"] in places else HOME
            if len(known) >= _TOOL_PLACES_KEPT:
                known.clear()
            known[tool] = place
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
        """A call starts: its agent goes to the tool's place and says what it does.

        A third of all events, so ``_count_call``, ``_agent_set``, ``_effect`` and
        ``_caption`` are written out here (the same deltas, in the same order, and the same
        state): parse + apply of the long session was 99k lines/s, the budget 150k
        (bench/engine_bench.py). A change to any of them must be made here too; the
        recorded outputs and the JS twins' tests compare every delta."""
        agent_id = event.agent_id  # _agent_for(event), inlined
        if not agent_id or agent_id == MAIN:
            agent_id = MAIN
        elif agent_id not in self._state["agents"]:
            self._add_subagent(agent_id, event.agent_type, event.payload)
        tool = event.tool_name or "unknown"
        place = self._tool_places.get(tool) or self._place_of(tool)
        use_id = event.tool_use_id
        scratch = self._scratch
        if use_id:
            seen = scratch.seen_calls
            if use_id in seen:
                return  # named before: its result came first, or the same call twice
            seen.add(use_id)
        state = self._state
        stats = state["stats"]
        agent = state["agents"][agent_id]
        deltas = self._deltas
        deltas += (
            ["inc", ["stats", "toolCalls", tool], 1],
            ["inc", ["stats", "placeCalls", place], 1],
            ["inc", ["agents", agent_id, "calls"], 1],
        )
        counts = stats["toolCalls"]
        counts[tool] = counts.get(tool, 0) + 1
        counts = stats["placeCalls"]
        counts[place] = counts.get(place, 0) + 1
        agent["calls"] = agent.get("calls", 0) + 1
        tool_input = event.payload.get("tool_input") or {}
        summary, doing = tool_texts(tool, tool_input, state["cwd"])
        call: dict[str, Any] = {"name": tool, "useId": use_id, "summary": summary}
        if tool.startswith("mcp__"):
            server = mcp_server(tool)
            if server:
                call["booth"] = shorten(server, 40)
                self._add_booth(call["booth"])
        if use_id:
            scratch.open_calls[use_id] = (agent_id, call)
        # _agent_set(agent_id, state=…, wait=…, place=place, tool=call, overlay=None)
        if place == WAITING_PLACE:
            new_state, wait = "waiting", "input"
        else:
            new_state, wait = "working", None
        changed: dict[str, Any] = {}
        old_state = agent["state"]
        if old_state != new_state:
            changed["state"] = new_state
        if agent["wait"] != wait:
            changed["wait"] = wait
        if agent["place"] != place:
            changed["place"] = place
        if agent["tool"] != call:
            changed["tool"] = call
        if agent["overlay"] is not None:
            changed["overlay"] = None
        if changed:
            if "state" in changed:
                states = self._states
                if old_state is not None:
                    states[old_state] -= 1
                states[new_state] = states.get(new_state, 0) + 1
                self._moved = True
            deltas.append(["merge", ["agents", agent_id], changed])
            agent.update(changed)
            if "tool" in changed:
                agent["tool"] = call.copy()  # clone(): its values are strings or None
        # _effect("say", agent_id, summary)
        if summary:
            self._effects.append({"kind": "say", "agentId": agent_id, "text": summary})
        else:
            self._effects.append({"kind": "say", "agentId": agent_id})
        # _caption(agent_id, f"is {doing}")
        name = agent["name"]
        known = self._captions
        key = (name, "is ", doing)
        text = known.get(key)
        if text is None:
            if len(known) > CAPTIONS_KEPT:
                known.clear()
            raw = f"{name} is {doing}" if name else f"is {doing}"
            text = known[key] = shorten(raw, MAX_CAPTION)
        if text != state["caption"]:
            deltas.append(["set", ["caption"], text])
            state["caption"] = text
        if tool in SPAWN_TOOLS:
            kind = tool_input.get("subagent_type")
            scratch.pending.append(
                Spawn(
                    use_id,
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
        remaining = None
        for owner, call in calls.values():
            if owner == agent_id:
                remaining = call
                break
        if remaining is not None:
            self._agent_set(agent_id, tool=remaining, state="working", wait=None)
            return agent_id, True
        old_state = agent["state"]
        if old_state not in ("left", "done"):
            # _agent_set(agent_id, state="thinking", wait=None, tool=None), written out: the
            # end of nearly every call (see _on_pre_tool; the values need no copies).
            changed: dict[str, Any] = {}
            if old_state != "thinking":
                changed["state"] = "thinking"
            if agent["wait"] is not None:
                changed["wait"] = None
            if current is not None:
                changed["tool"] = None
            if changed:
                if "state" in changed:
                    states = self._states
                    if old_state is not None:
                        states[old_state] -= 1
                    states["thinking"] = states.get("thinking", 0) + 1
                    self._moved = True
                self._deltas.append(["merge", ["agents", agent_id], changed])
                agent.update(changed)
            self._caption(agent_id, "is thinking about what to do next")
        return agent_id, False

    def _on_post_tool(self, event: HookEvent) -> None:
        agent_id = event.agent_id  # _agent_for(event), inlined (see _on_pre_tool)
        if not agent_id or agent_id == MAIN:
            agent_id = MAIN
        elif agent_id not in self._state["agents"]:
            self._add_subagent(agent_id, event.agent_type, event.payload)
        use_id = event.tool_use_id
        # _close_call and _finish_call, written out (a third of all events; see _on_pre_tool).
        scratch = self._scratch
        closed = scratch.closed_calls
        if use_id and use_id in closed:
            self._undo_batch_failure(agent_id, use_id)
        else:
            if use_id:
                closed.add(use_id)
            if not use_id or use_id not in scratch.seen_calls:
                self._count_call(agent_id, event.tool_name or "unknown", use_id)
            self._finish_use(agent_id, use_id)
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
        calls = event.payload.get("tool_calls")
        if not isinstance(calls, list):
            return
        agent_id = self._agent_for(event)
        scratch = self._scratch
        closed = scratch.closed_calls
        for call in calls[:1000]:
            if not isinstance(call, dict):
                continue
            use_id = call.get("tool_use_id")
            # Most calls of a batch had their result already: skipped before anything else.
            if not isinstance(use_id, str) or use_id in closed:
                continue
            tool = as_key(call.get("tool_name")) or "unknown"
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
