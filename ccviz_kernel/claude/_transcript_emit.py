"""Transcript phase 5: walk the lines in time order and emit the hook payloads they imply.

This is where a transcript becomes the live hooks: ``SessionStart`` before the first line,
``SubagentStart``/``SubagentStop`` around each subagent's lines, ``PreToolUse`` per
``tool_use`` block, ``PostToolUse``/``PostToolUseFailure`` per result, ``UserPromptSubmit``
per real prompt, ``Stop``/``StopFailure`` where phase 4 found a turn's end, and
``PreCompact``/``PostCompact`` at compaction boundaries. Token ``usage`` rides on the events
as ``transcript.py``'s docstring explains, kept per agent (its ``_Lane``) with its last
text and event.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ._transcript_index import Index
from ._transcript_lines import (
    Agent,
    Line,
    Problems,
    nonblank,
    text_of,
)
from ._transcript_payloads import base_payload, pre_tool_fields, result_fields, result_name
from ._transcript_read import SessionLines
from .lines import LoadResult
from .prompts import command_text
from .usage import USAGE_FIELDS, AgentTotals, UsageCounter


@dataclass
class _Lane:
    #: The agent's totals (the counter's); ``reported``: what its events carry so far.
    totals: AgentTotals
    reported: dict[str, int] = field(default_factory=lambda: dict.fromkeys(USAGE_FIELDS, 0))
    last_text: str | None = None
    last_event: dict[str, Any] | None = None

    def unreported(self) -> dict[str, int] | None:
        """The usage counted since the last event that carried some, or None (asked on
        every event emitted: one comprehension, not three; the counts are integers)."""
        usage, reported = self.totals.usage, self.reported
        if usage == reported:  # nothing new: most events (one dict comparison, in C)
            return None
        counted = {k: v - reported[k] for k, v in usage.items() if v > reported[k]}
        if not counted:
            return None
        self.reported = dict(usage)
        return counted


def emit_events(
    session: SessionLines,
    index: Index,
    stops: dict[int, bool],
    result: LoadResult,
    problems: Problems,
) -> None:
    """Append the session's hook payloads to ``result.events``, in time order."""
    _Emitter(session, index, stops, result, problems).run()


class _Emitter:
    def __init__(
        self,
        session: SessionLines,
        index: Index,
        stops: dict[int, bool],
        result: LoadResult,
        problems: Problems,
    ) -> None:
        self.lines = session.lines
        self.ended = session.ended
        self.agents = session.agents
        self.session_id = session.session_id
        self.transcript_path = session.transcript_path
        self.tool_uses = index.tool_uses
        self.compact_summaries = index.compact_summaries
        self.model = index.model
        self.stops = stops
        self.result = result
        self.problems = problems
        self.cwd: str | None = None
        self.prompt_id: str | None = None
        self.lanes: dict[str | None, _Lane] = {}
        self.counter = UsageCounter()
        self.cost_states = session.cost_states
        self.pre_seen: set[str] = set()
        self.post_seen: set[str] = set()

    def run(self) -> None:
        last_pos = {a.agent_id: a.lines[-1].pos for a in self.agents.values() if a.lines}
        started = False
        for line in self.lines:
            agent = self.agents.get(line.lane) if line.lane is not None else None
            if agent is not None and agent.dropped:
                self.result.ignored += 1
                continue
            obj = line.obj
            cwd = obj.get("cwd")
            if isinstance(cwd, str) and cwd:
                self.cwd = cwd
            if not started:
                self._session_start(line)
                started = True
            prompt_id = obj.get("promptId")
            if isinstance(prompt_id, str) and prompt_id:
                self.prompt_id = prompt_id
            if agent is not None and not agent.started:
                self._subagent_start(line, agent)
            kind = obj.get("type")
            if kind == "assistant":
                self._on_assistant(line, agent)
            elif kind == "user":
                self._on_user(line, agent)
            elif kind == "system" and obj.get("subtype") == "compact_boundary":
                self._on_compact(line, agent)
            else:
                self.result.ignored += 1
            if agent is not None and last_pos.get(agent.agent_id) == line.pos:
                self._subagent_stop(line, agent)
        for obj in self.cost_states:  # Claude Code's own count: the compaction request
            self.counter.take(obj, None)
        self.counter.settle()
        for lane in self.lanes.values():
            usage = lane.unreported()
            if usage is not None and lane.last_event is not None:
                event = lane.last_event
                event["usage"] = _add_usage(event.get("usage"), usage)
                _take_model(event, lane)
        if self.ended and self.lines:
            self._session_end(self.lines[-1])

    def _session_end(self, line: Line) -> None:
        payload = self._base("SessionEnd", line, None)
        payload["reason"] = "other"
        self._emit(payload, None, usage=False)

    def _base(self, name: str, line: Line, agent: Agent | None) -> dict[str, Any]:
        if agent is None:
            return base_payload(
                name, self.session_id, self.transcript_path, self.cwd, self.prompt_id, line.stamp
            )
        return base_payload(
            name,
            self.session_id,
            self.transcript_path,
            self.cwd,
            self.prompt_id,
            line.stamp,
            agent.agent_id,
            agent.agent_type,
        )

    def _emit(self, payload: dict[str, Any], agent: Agent | None, usage: bool = True) -> None:
        lane = self._lane(agent)
        if usage:
            counted = lane.unreported()
            if counted is not None:
                payload["usage"] = counted
                _take_model(payload, lane)
        self.result.events.append(payload)
        lane.last_event = payload

    def _lane(self, agent: Agent | None) -> _Lane:
        key = agent.agent_id if agent is not None else None
        lane = self.lanes.get(key)
        if lane is None:
            lane = self.lanes[key] = _Lane(self.counter.agent(key))
        return lane

    def _session_start(self, line: Line) -> None:
        payload = self._base("SessionStart", line, None)
        payload["source"] = "startup"
        if self.model:
            payload["model"] = self.model
        self._emit(payload, None, usage=False)

    def _subagent_start(self, line: Line, agent: Agent) -> None:
        agent.started = True
        payload = self._base("SubagentStart", line, agent)
        if agent.spawn_id:
            payload["parent_tool_use_id"] = agent.spawn_id
        if agent.parent_agent_id:
            payload["parent_agent_id"] = agent.parent_agent_id
        self._emit(payload, agent, usage=False)

    def _subagent_stop(self, line: Line, agent: Agent) -> None:
        payload = self._base("SubagentStop", line, agent)
        payload["stop_hook_active"] = False
        payload["agent_transcript_path"] = agent.path
        text = self._lane(agent).last_text
        if text is not None:
            payload["last_assistant_message"] = text
        self._emit(payload, agent)

    def _on_assistant(self, line: Line, agent: Agent | None) -> None:
        obj = line.obj
        message = obj.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("content"), (list, str)):
            self.problems.add_line(line, "assistant line without message content")
            return
        lane = self._lane(agent)
        self.counter.take(obj, agent.agent_id if agent is not None else None)
        for block in line.content_blocks():
            kind = block.get("type")
            if kind == "text" and nonblank(block.get("text")):
                lane.last_text = block["text"]
            elif kind == "tool_use":
                self._pre_tool(block, line, agent)
        if line.pos in self.stops:
            failed = self.stops[line.pos]
            payload = self._base("StopFailure" if failed else "Stop", line, agent)
            if failed:
                error = obj.get("error")
                payload["error"] = error if isinstance(error, str) and error else "unknown"
            else:
                payload["stop_hook_active"] = False
            if lane.last_text is not None:
                payload["last_assistant_message"] = lane.last_text
            self._emit(payload, agent)

    def _pre_tool(self, block: dict[str, Any], line: Line, agent: Agent | None) -> None:
        use_id, name = block.get("id"), block.get("name")
        if not isinstance(name, str) or not name:
            return
        if isinstance(use_id, str):
            if use_id in self.pre_seen:
                return  # the same call written twice
            self.pre_seen.add(use_id)
        self._emit(pre_tool_fields(self._base("PreToolUse", line, agent), block), agent)

    def _on_user(self, line: Line, agent: Agent | None) -> None:
        obj = line.obj
        kind = line.kind_of_user()
        if kind == "tool_result":
            self._post_tools(line, agent)
        elif kind == "broken":
            self.problems.add_line(line, "user line without message content")
        elif agent is not None:
            # A subagent's prompt arrives as SubagentStart, not as a user prompt.
            if line is not agent.lines[0]:
                self.result.ignored += 1
        elif kind in ("prompt", "notification"):
            # A background task's result reaches the main agent as a prompt, live too (a
            # UserPromptSubmit the engine tells apart from a person's by its text).
            payload = self._base("UserPromptSubmit", line, None)
            payload["prompt"] = text_of(obj["message"].get("content")) or ""
            self._emit(payload, None)
        elif kind == "command" and _model_command(obj):
            # `/model X` fires PostModelSwitch live (no prompt); the transcript logs the command.
            payload = self._base("PostModelSwitch", line, None)
            payload["to_model"] = _model_command(obj)
            payload["source"] = "command"
            self._emit(payload, None, usage=False)
        else:
            self.result.ignored += 1  # meta, harness output, other commands, interruptions

    def _post_tools(self, line: Line, agent: Agent | None) -> None:
        obj = line.obj
        results = [b for b in line.content_blocks() if b.get("type") == "tool_result"]
        emitted = 0
        unknown: str | None = None
        for block in results:
            use_id = block.get("tool_use_id")
            use = self.tool_uses.get(use_id) if isinstance(use_id, str) else None
            if use is None:
                unknown = unknown or repr(use_id)
                continue
            if use_id in self.post_seen:
                continue
            self.post_seen.add(use_id)
            payload = result_fields(
                self._base(result_name(block), line, agent),
                block,
                tool_name=use.name,
                tool_input=use.tool_input,
                line=obj,
                only_result=len(results) == 1,
                micros=line.when - use.when,
            )
            self._emit(payload, agent)
            emitted += 1
        if emitted:
            return
        if unknown is not None:
            self.problems.add_line(line, f"tool_result for unknown tool_use {unknown}")
        else:
            self.result.ignored += 1

    def _on_compact(self, line: Line, agent: Agent | None) -> None:
        metadata = line.obj.get("compactMetadata")
        trigger = metadata.get("trigger") if isinstance(metadata, dict) else None
        trigger = trigger if trigger in ("manual", "auto") else "auto"
        before = self._base("PreCompact", line, agent)
        before["trigger"] = trigger
        before["custom_instructions"] = ""
        self._emit(before, agent, usage=False)
        after = self._base("PostCompact", line, agent)
        after["trigger"] = trigger
        after["compact_summary"] = self.compact_summaries.get(line.pos, "")
        self._emit(after, agent, usage=False)


def _model_command(obj: dict[str, Any]) -> str | None:
    """The model a ``/model <name>`` command line asked for, or None."""
    text = text_of(obj["message"].get("content")) or ""
    name, _, model = command_text(text).partition(" ")
    return model.strip() or None if name == "/model" else None


def _take_model(payload: dict[str, Any], lane: _Lane) -> None:
    if lane.totals.model is not None:
        payload["model"] = lane.totals.model
    if lane.totals.context is not None:
        payload["context_tokens"] = lane.totals.context


def _add_usage(total: dict[str, Any] | None, usage: dict[str, Any]) -> dict[str, Any]:
    """``total`` plus ``usage``, numbers summed field by field; never aliases the input."""
    if total is None:
        return copy.deepcopy(usage)
    for key, value in usage.items():
        current = total.get(key)
        if _is_number(value) and _is_number(current):
            total[key] = current + value
        elif isinstance(value, dict) and isinstance(current, dict):
            total[key] = _add_usage(current, value)
        elif key not in total:
            total[key] = copy.deepcopy(value)
    return total


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
