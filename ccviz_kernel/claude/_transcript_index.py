"""Transcript phase 2: one pass over all lines for what later lines need to know.

Emitting goes line by line, but some of what a line means is written elsewhere: a tool
result needs its call's name and input, a subagent's spawn call is only named in that
call's result or a later task notification, a compaction's summary comes on a line after
its boundary. This pass collects those cross-references (and the session's model) first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ._transcript_lines import Line, ToolUse, text_of
from .hooks import SPAWN_TOOLS

_TASK_ID = re.compile(r"<task-id>\s*([^<\s]+)\s*</task-id>")
_TASK_USE_ID = re.compile(r"<tool-use-id>\s*([^<\s]+)\s*</tool-use-id>")


@dataclass
class Index:
    """Cross-references between the lines of a session, by tool-use id, agent id or pos."""

    tool_uses: dict[str, ToolUse] = field(default_factory=dict)
    #: ``(pos, tool_use_id, lane, tool_input)`` of every spawn call, in time order.
    spawns: list[tuple[int, str, str | None, dict[str, Any]]] = field(default_factory=list)
    agent_spawned_by: dict[str, str] = field(default_factory=dict)
    agent_type_hint: dict[str, str] = field(default_factory=dict)
    #: A compaction boundary's pos → the summary that followed it.
    compact_summaries: dict[int, str] = field(default_factory=dict)
    model: str | None = None


def index_lines(lines: list[Line]) -> Index:
    """Index ``lines`` (all of a session's, in time order)."""
    index = Index()
    open_boundaries: dict[str | None, int] = {}
    fallback_model = None
    for line in lines:
        obj = line.obj
        kind = obj.get("type")
        message = obj.get("message")
        if kind == "assistant" and isinstance(message, dict):
            model = message.get("model")
            if isinstance(model, str) and model and not model.startswith("<"):
                if line.lane is None and index.model is None:
                    index.model = model
                fallback_model = fallback_model or model
            for block in line.content_blocks():
                if block.get("type") == "tool_use":
                    _index_tool_use(index, block, line)
        elif kind == "user" and isinstance(message, dict):
            _index_user(index, obj, message, line, open_boundaries)
        elif kind == "system" and obj.get("subtype") == "compact_boundary":
            open_boundaries[line.lane] = line.pos
    index.model = index.model or fallback_model
    return index


def _index_tool_use(index: Index, block: dict[str, Any], line: Line) -> None:
    use_id, name = block.get("id"), block.get("name")
    if not isinstance(use_id, str) or not isinstance(name, str) or use_id in index.tool_uses:
        return
    tool_input = block.get("input")
    tool_input = tool_input if isinstance(tool_input, dict) else {}
    index.tool_uses[use_id] = ToolUse(name, tool_input, line.when, line.lane, line.pos)
    if name in SPAWN_TOOLS:
        index.spawns.append((line.pos, use_id, line.lane, tool_input))


def _index_user(
    index: Index,
    obj: dict[str, Any],
    message: dict[str, Any],
    line: Line,
    open_boundaries: dict[str | None, int],
) -> None:
    content = message.get("content")
    results = [b for b in line.content_blocks() if b.get("type") == "tool_result"]
    outcome = obj.get("toolUseResult")
    use_id = results[0].get("tool_use_id") if len(results) == 1 else None
    spawn = index.tool_uses.get(use_id) if isinstance(use_id, str) else None
    if spawn is not None and spawn.name in SPAWN_TOOLS:
        # The child's id is in the structured result (2.1.x) or, in 2.0.x, on the
        # parent's result line itself.
        child = outcome.get("agentId") if isinstance(outcome, dict) else None
        if not (isinstance(child, str) and child) and line.lane is None:
            child = obj.get("agentId")
        if isinstance(child, str) and child:
            index.agent_spawned_by.setdefault(child, use_id)
            kind = outcome.get("agentType") if isinstance(outcome, dict) else None
            if isinstance(kind, str) and kind:
                index.agent_type_hint.setdefault(child, kind)
    if results:
        return
    text = text_of(content) or ""
    if "<task-notification>" in text:
        child_match, use_match = _TASK_ID.search(text), _TASK_USE_ID.search(text)
        if child_match and use_match:
            index.agent_spawned_by.setdefault(child_match.group(1), use_match.group(1))
    if obj.get("isCompactSummary") is True and line.lane in open_boundaries:
        index.compact_summaries[open_boundaries.pop(line.lane)] = text
