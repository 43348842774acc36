"""Transcript phase 3: link each subagent to the ``Agent``/``Task`` call that spawned it.

In order of trust: the sidecar ``.meta.json``'s ``toolUseId``, else the ``agentId`` in the
call's result or a task notification (found by phase 2), else the latest unclaimed spawn
before the agent's first line, preferring one whose prompt matches. Each call is claimed by
one agent at most. An unlinked ``Warmup`` agent (a 2.0.x start-up ritual) is dropped. Then
each agent's type and parent are settled from the same sources.
"""

from __future__ import annotations

from ._transcript_index import Index
from ._transcript_lines import Agent, text_of


def link_agents(agents: dict[str, Agent], index: Index) -> None:
    """Fill in ``spawn_id``, ``agent_type``, ``parent_agent_id`` and ``dropped``."""
    ordered = sorted((a for a in agents.values() if a.lines), key=lambda a: a.lines[0].pos)
    claimed: set[str] = set()
    for agent in ordered:
        use_id = agent.meta.get("toolUseId")
        if not isinstance(use_id, str) or use_id not in index.tool_uses:
            use_id = index.agent_spawned_by.get(agent.agent_id)
        if isinstance(use_id, str) and use_id in index.tool_uses and use_id not in claimed:
            agent.spawn_id = use_id
            claimed.add(use_id)
    for agent in ordered:
        if agent.spawn_id is None:
            _guess_spawn(agent, claimed, index)
        _describe(agent, index)


def _guess_spawn(agent: Agent, claimed: set[str], index: Index) -> None:
    first = agent.lines[0]
    prompt = _first_prompt(agent)
    if prompt == "Warmup":
        agent.dropped = True
        return
    candidates = [
        (use_id, tool_input)
        for pos, use_id, lane, tool_input in index.spawns
        if pos < first.pos and use_id not in claimed and lane != agent.agent_id
    ]
    if not candidates:
        return
    matching = [
        use_id
        for use_id, tool_input in candidates
        if isinstance(tool_input.get("prompt"), str) and tool_input["prompt"].strip() == prompt
    ]
    agent.spawn_id = matching[-1] if matching else candidates[-1][0]
    claimed.add(agent.spawn_id)


def _describe(agent: Agent, index: Index) -> None:
    spawn = index.tool_uses.get(agent.spawn_id) if agent.spawn_id else None
    spawn_type = spawn.tool_input.get("subagent_type") if spawn else None
    for candidate in (
        agent.meta.get("agentType"),
        spawn_type,
        index.agent_type_hint.get(agent.agent_id),
    ):
        if isinstance(candidate, str) and candidate:
            agent.agent_type = candidate
            break
    parent = agent.meta.get("parentAgentId")
    if isinstance(parent, str) and parent:
        agent.parent_agent_id = parent
    elif spawn is not None and spawn.lane is not None:
        agent.parent_agent_id = spawn.lane


def _first_prompt(agent: Agent) -> str | None:
    for line in agent.lines:
        if line.obj.get("type") == "user":
            message = line.obj.get("message")
            text = text_of(message.get("content")) if isinstance(message, dict) else None
            return text.strip() if text is not None else None
    return None
