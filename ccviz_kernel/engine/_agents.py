"""Agents: the characters, how they are created and how a subagent finds who spawned it.

A subagent can show up before its ``SubagentStart`` (or without one), so any event naming an
unknown agent creates it here, linked to the ``Agent``/``Task`` call that most likely
started it: the call its spawn result named, else the one its payload names, else one of
the same type, else the oldest waiting. ``SubagentStart``/``SubagentStop`` are handled here
too; the other events that move agents live with their concern (tools, session, control).
"""

from __future__ import annotations

from typing import Any

from ..events import HookEvent, PayloadError
from ._core import MAIN, GameCore, Spawn
from .speech import shorten
from .town import HOME


class AgentRules(GameCore):
    """Creating and linking agents, and the subagent lifecycle hooks."""

    def _add_main(self) -> None:
        self._set(("agents", MAIN), new_agent(MAIN, "main", "main", "Claude", None, None, HOME))
        self._count_state(None, "idle")

    def _agent_for(self, event: HookEvent) -> str:
        """The agent an event is about, created on first sight (SubagentStart may be missing)."""
        agent_id = event.agent_id
        if not agent_id or agent_id == MAIN:
            return MAIN
        if agent_id not in self._state["agents"]:
            self._add_subagent(agent_id, event.agent_type, event.payload)
        return agent_id

    def _add_subagent(self, agent_id: str, agent_type: str | None, payload: dict[str, Any]) -> None:
        spawn = self._find_spawn(agent_id, agent_type, payload)
        agents = self._state["agents"]
        parent = spawn.caller if spawn and spawn.caller in agents else MAIN
        if spawn is None:
            hinted = payload.get("parent_agent_id")
            if isinstance(hinted, str) and hinted in agents:
                parent = hinted
        kind = agent_type or (spawn.agent_type if spawn else None) or "general-purpose"
        number = self._state["stats"]["subagents"] + 1
        place = agents[parent]["place"]
        agent = new_agent(
            agent_id,
            "subagent",
            kind,
            f"{kind} #{number}",
            parent,
            spawn.use_id if spawn else None,
            place,
        )
        agent["state"] = "spawning"
        self._set(("agents", agent_id), agent)
        self._count_state(None, "spawning")
        self._inc(("stats", "subagents"))
        self._effect("spawn", agent_id, shorten(f"{kind} joins"))
        self._caption(agent_id, "joins the session")

    def _find_spawn(
        self, agent_id: str, agent_type: str | None, payload: dict[str, Any]
    ) -> Spawn | None:
        scratch = self._scratch
        known = scratch.by_agent.pop(agent_id, None)
        if known is not None:
            return known
        pending = scratch.pending
        if not pending:
            return None
        use_id = payload.get("parent_tool_use_id")
        match = None
        if isinstance(use_id, str):
            match = next((s for s in pending if s.use_id == use_id), None)
        if match is None and agent_type:
            match = next((s for s in pending if s.agent_type == agent_type), None)
        if match is None:
            match = pending[0]
        pending.remove(match)
        return match

    def _link_spawn_result(self, caller: str, use_id: str | None, response: Any) -> None:
        """A spawn call's result names its child: link them, or remember it for later."""
        if not isinstance(response, dict):
            return
        child = response.get("agentId")
        if not isinstance(child, str) or not child:
            return
        scratch = self._scratch
        spawn = next((s for s in scratch.pending if s.use_id == use_id), None)
        agents = self._state["agents"]
        if child in agents:
            if spawn is not None:
                scratch.pending.remove(spawn)
            if agents[child].get("spawnedBy") is None and use_id:
                self._agent_set(child, spawnedBy=use_id, parent=caller)
        elif spawn is not None:
            scratch.pending.remove(spawn)
            scratch.by_agent[child] = spawn

    def _need_agent(self, agent_id: Any) -> str:
        if not isinstance(agent_id, str) or agent_id not in self._state["agents"]:
            raise PayloadError(f"unknown agent {agent_id!r}")
        return agent_id

    # -- handlers --------------------------------------------------------------------------

    def _on_subagent_start(self, event: HookEvent) -> None:
        agent_id = event.agent_id
        if not agent_id:
            return
        if agent_id not in self._state["agents"]:
            self._add_subagent(agent_id, event.agent_type, event.payload)
        elif self._state["agents"][agent_id]["state"] == "left":
            self._agent_set(agent_id, state="spawning")

    def _on_subagent_stop(self, event: HookEvent) -> None:
        agent_id = event.agent_id
        agents = self._state["agents"]
        if not agent_id or agent_id == MAIN:
            return
        if agent_id not in agents:
            if not event.agent_type:  # the compaction helper: never a character
                self._effect("event", MAIN, "Compaction agent finished")
                return
            self._add_subagent(agent_id, event.agent_type, event.payload)
        self._close_calls(agent_id)
        message = event.get("last_assistant_message")
        if isinstance(message, str) and message.strip():
            self._effect("say", agent_id, shorten(message))
        self._agent_set(agent_id, state="left", wait=None, tool=None, overlay=None)
        self._effect("leave", agent_id)
        self._caption(agent_id, "is done and leaves")


def new_agent(
    agent_id: str,
    kind: str,
    agent_type: str,
    name: str,
    parent: str | None,
    spawned_by: str | None,
    place: str,
) -> dict[str, Any]:
    """A character as it first appears in the snapshot."""
    return {
        "id": agent_id,
        "kind": kind,
        "type": shorten(agent_type, 40),
        "name": shorten(name, 40),
        "parent": parent,
        "spawnedBy": spawned_by,
        "state": "idle",
        "wait": None,
        #: The id of the permission request it waits on (state["permissions"]), or None.
        "request": None,
        "place": place,
        "tool": None,
        "overlay": None,
        "calls": 0,
        "failures": 0,
        "note": None,
        #: Token use ({input, output, cacheRead, cacheWrite, total}), once known.
        "tokens": None,
        "model": None,
        #: The context the newest request used: {used, window} in tokens.
        "context": None,
    }
