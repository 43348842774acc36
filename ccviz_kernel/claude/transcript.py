"""Claude Code transcripts (``~/.claude/projects/<project>/<session>.jsonl``) as hook payloads.

A transcript records what happened, not which hooks fired, so this module re-enacts the
hooks: it merges the session file with its subagents' files, sorts every line by time and
emits the payload each moment would have produced live (see ``docs/claude-code.md`` §4.4).
The format is internal to Claude Code and shifts between versions, so everything is read
leniently: unknown line types are counted as ignored, damaged lines as skipped.

Choices where a transcript does not say what the live hooks would have sent:

* ``usage``: an API response is split over several lines (one content block each) that all
  repeat its ``usage``. Each response is counted once, keyed by ``message.id`` +
  ``requestId`` (as ccusage does), using the usage of its first line, and attached to the
  first event its agent emits from then on: the ``PreToolUse`` of its tool call, or for a
  text-only response the ``Stop``/``SubagentStop`` that ends the turn. If two responses are
  waiting (e.g. a thinking-only one), their numbers are summed. Usage still unattached at the
  end is added to the agent's last event.
* ``Stop``: one per main-agent turn that ends in text, on its last assistant text line when
  no tool call follows it before the next real prompt, task notification or end of file. A
  turn the user interrupted gets none (the live hook does not fire then), and a turn that
  ended in an API error message gets ``StopFailure`` instead.
* Subagents are linked to the ``Agent``/``Task`` call that spawned them through the sidecar
  ``.meta.json``, else the ``agentId`` in the call's result, else a task notification, else
  the latest unclaimed spawn before them (preferring one whose prompt matches). Unlinked
  ``Warmup`` agents (a 2.0.x start-up ritual, not user work) are left out.
* ``duration_ms`` on Post* events is the time between the call and its result lines.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .hooks import SPAWN_TOOLS
from .lines import (
    MAX_PROBLEMS,
    LoadResult,
    SourceError,
    iter_lines,
    looks_like_hook_payload,
    looks_like_transcript_line,
    resolve_path,
)
from .timestamps import parse_micros

__all__ = ["load_transcript"]

DEFAULT_AGENT_TYPE = "general-purpose"

#: Line types that are real moments of the session: without a timestamp they are damaged.
_CHAIN_TYPES = frozenset({"user", "assistant", "system"})
_TITLE_TYPES = frozenset({"ai-title", "custom-title", "summary"})

#: Harness text in user lines (``<command-name>``, ``<local-command-stdout>``,
#: ``<bash-input>``, ``<system-reminder>``...): all hyphenated tags, which user prose
#: starting with ``<div>`` or ``<html>`` is not.
_HARNESS_TAG = re.compile(r"<[a-z]+(?:-[a-z]+)+>")
_INTERRUPT = "[Request interrupted by user"
_TOOL_ERROR = re.compile(r"\s*<tool_use_error>(.*)</tool_use_error>\s*", re.S)
_TASK_ID = re.compile(r"<task-id>\s*([^<\s]+)\s*</task-id>")
_TASK_USE_ID = re.compile(r"<tool-use-id>\s*([^<\s]+)\s*</tool-use-id>")


@dataclass
class _Line:
    when: int
    stamp: str
    file: int
    number: int
    obj: dict[str, Any]
    lane: str | None
    where: str
    pos: int = -1


@dataclass
class _Agent:
    agent_id: str
    path: str
    meta: dict[str, Any]
    lines: list[_Line] = field(default_factory=list)
    spawn_id: str | None = None
    agent_type: str = DEFAULT_AGENT_TYPE
    parent_agent_id: str | None = None
    dropped: bool = False
    started: bool = False


@dataclass
class _Lane:
    usage: dict[str, Any] | None = None
    last_text: str | None = None
    last_event: dict[str, Any] | None = None


@dataclass
class _ToolUse:
    name: str
    tool_input: dict[str, Any]
    when: int
    lane: str | None
    pos: int


def load_transcript(path: str | os.PathLike[str]) -> LoadResult:
    """Replay one session file, with its subagents' files, as hook payloads in time order."""
    return _Reader(resolve_path(path)).run()


class _Reader:
    def __init__(self, main: Path) -> None:
        self.main = main
        self.transcript_path = os.path.abspath(main)
        self.result = LoadResult(kind="transcript")
        self.lines: list[_Line] = []
        self.agents: dict[str, _Agent] = {}
        self.uuids: set[str] = set()
        self.session_ids: Counter[str] = Counter()
        self.titles: dict[str, str] = {}
        self.summaries: list[tuple[str, Any]] = []
        self.problems: list[tuple[int, int, str, str]] = []
        self.inline: list[_Line] = []
        # Filled by _index(), from all lines in time order.
        self.tool_uses: dict[str, _ToolUse] = {}
        self.spawns: list[tuple[int, str, str | None, dict[str, Any]]] = []
        self.agent_spawned_by: dict[str, str] = {}
        self.agent_type_hint: dict[str, str] = {}
        self.compact_summaries: dict[int, str] = {}
        self.stops: dict[int, bool] = {}
        self.model: str | None = None
        # Emission state.
        self.session_id: str = main.stem
        self.cwd: str | None = None
        self.prompt_id: str | None = None
        self.lanes: dict[str | None, _Lane] = {}
        self.responses: set[tuple[Any, Any]] = set()
        self.pre_seen: set[str] = set()
        self.post_seen: set[str] = set()

    # -- reading ------------------------------------------------------------------------

    def run(self) -> LoadResult:
        self._read_main()
        self.session_id = self._pick_session_id()
        for index, (file, agent_id) in enumerate(self._subagent_files(), start=1):
            self._read_agent_file(file, index, agent_id)
        self.lines.sort(key=lambda line: (line.when, line.file, line.number))
        for pos, line in enumerate(self.lines):
            line.pos = pos
        for agent in self.agents.values():
            agent.lines.sort(key=lambda line: line.pos)
        self._index()
        self._link_agents()
        self._find_stops()
        self._emit_all()
        result = self.result
        result.session_id = self.session_id
        result.title = self._pick_title()
        # Reported in file order, however late in the replay each problem was noticed.
        self.problems.sort()
        result.skipped += len(self.problems)
        result.problems = [f"{where}: {text}" for _, _, where, text in self.problems[:MAX_PROBLEMS]]
        return result

    def _skip(self, file: int, number: int, where: str, problem: str) -> None:
        self.problems.append((file, number, where, problem))

    def _skip_line(self, line: _Line, problem: str) -> None:
        self._skip(line.file, line.number, line.where, problem)

    def _read_main(self) -> None:
        seen = transcript_like = hook_like = 0
        for number, obj, problem in iter_lines(self.main):
            seen += 1
            if obj is not None:
                if looks_like_transcript_line(obj):
                    transcript_like += 1
                elif looks_like_hook_payload(obj):
                    hook_like += 1
            self._take(number, obj, problem, file=0, label="", agent_id=None)
        if seen == 0:
            raise SourceError(f"{self.main}: file is empty")
        if not transcript_like:
            what = "a hook log" if hook_like else "no transcript lines"
            raise SourceError(f"{self.main}: not a Claude Code transcript ({what})")
        self._group_inline()

    def _read_agent_file(self, file: Path, index: int, agent_id: str) -> None:
        try:
            records = list(iter_lines(file))
        except SourceError:
            return  # a subagent file that vanished or is unreadable costs only its lane
        if agent_id not in self.agents:
            self.agents[agent_id] = _Agent(agent_id, os.path.abspath(file), _read_meta(file))
        else:
            agent = self.agents[agent_id]
            agent.path = os.path.abspath(file)
            agent.meta = agent.meta or _read_meta(file)
        for number, obj, problem in records:
            self._take(number, obj, problem, file=index, label=f"{file.name} ", agent_id=agent_id)

    def _take(
        self,
        number: int,
        obj: dict[str, Any] | None,
        problem: str | None,
        *,
        file: int,
        label: str,
        agent_id: str | None,
    ) -> None:
        result = self.result
        where = f"{label}line {number}"
        if obj is None:
            self._skip(file, number, where, problem or "unreadable")
            return
        kind = obj.get("type")
        if not isinstance(kind, str):
            hint = " (a hook payload?)" if looks_like_hook_payload(obj) else ""
            self._skip(file, number, where, f"no 'type' field{hint}")
            return
        uuid = obj.get("uuid")
        if isinstance(uuid, str) and uuid:
            if uuid in self.uuids:  # the same line copied into two files
                result.ignored += 1
                return
            self.uuids.add(uuid)
        session_id = obj.get("sessionId")
        if file == 0 and isinstance(session_id, str) and session_id:
            self.session_ids[session_id] += 1
        if kind in _TITLE_TYPES:
            if file == 0:
                self._note_title(kind, obj)
            result.ignored += 1
            return
        when = parse_micros(obj.get("timestamp"))
        if when is None:
            if kind in _CHAIN_TYPES:
                bad = obj.get("timestamp") is not None
                problem = f"{kind} line with {'a bad' if bad else 'no'} timestamp"
                self._skip(file, number, where, problem)
            else:
                result.ignored += 1  # bookkeeping: only ever metadata
            return
        lane = agent_id
        line = _Line(when, obj["timestamp"], file, number, obj, lane, where)
        self.lines.append(line)
        if file == 0 and obj.get("isSidechain") is True:
            self.inline.append(line)  # its lane is settled once the whole file is read
        elif lane is not None:
            agent = self.agents.get(lane)
            if agent is None:
                agent = self.agents[lane] = _Agent(lane, self.transcript_path, {})
            agent.lines.append(line)

    def _group_inline(self) -> None:
        """Sort old-style inline sidechain lines of the main file into subagents.

        A line belongs with its ``parentUuid`` and with every line naming the same
        ``agentId``; both links are needed because 2.0.x files set ``agentId`` on some
        sidechain lines only, and 1.0.x files never. A group is named by its ``agentId``,
        else ``side-`` plus the first line's uuid, which stays the same between loads.
        """
        lines = self.inline
        parent_of = list(range(len(lines)))

        def root(i: int) -> int:
            while parent_of[i] != i:
                parent_of[i] = parent_of[parent_of[i]]
                i = parent_of[i]
            return i

        def join(a: int, b: int) -> None:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent_of[max(ra, rb)] = min(ra, rb)  # the earliest line stays the root

        by_uuid: dict[str, int] = {}
        for i, line in enumerate(lines):
            uuid = line.obj.get("uuid")
            if isinstance(uuid, str) and uuid:
                by_uuid.setdefault(uuid, i)
        by_agent: dict[str, int] = {}
        for i, line in enumerate(lines):
            parent = line.obj.get("parentUuid")
            if isinstance(parent, str) and parent in by_uuid:
                join(i, by_uuid[parent])
            agent_id = line.obj.get("agentId")
            if isinstance(agent_id, str) and agent_id:
                join(i, by_agent.setdefault(agent_id, i))
        names: dict[int, str] = {}
        for i, line in enumerate(lines):
            agent_id = line.obj.get("agentId")
            if isinstance(agent_id, str) and agent_id:
                names.setdefault(root(i), agent_id)
        for i, line in enumerate(lines):
            group = root(i)
            if group not in names:
                uuid = lines[group].obj.get("uuid")
                first = uuid[:8] if isinstance(uuid, str) and uuid else f"L{lines[group].number}"
                names[group] = f"side-{first}"
            line.lane = names[group]
            agent = self.agents.get(line.lane)
            if agent is None:
                agent = self.agents[line.lane] = _Agent(line.lane, self.transcript_path, {})
            agent.lines.append(line)

    def _note_title(self, kind: str, obj: dict[str, Any]) -> None:
        key = {"ai-title": "aiTitle", "custom-title": "customTitle", "summary": "summary"}[kind]
        text = obj.get(key)
        if not isinstance(text, str) or not text.strip():
            return
        if kind == "summary":
            self.summaries.append((text.strip(), obj.get("leafUuid")))
        else:
            self.titles[kind] = text.strip()  # the latest one wins: titles get regenerated

    def _pick_title(self) -> str | None:
        for kind in ("custom-title", "ai-title"):
            if kind in self.titles:
                return self.titles[kind]
        # Old files can carry summaries of other sessions; prefer one about this file.
        own = [text for text, leaf in self.summaries if leaf in self.uuids]
        pool = own or [text for text, _ in self.summaries]
        return pool[-1] if pool else None

    def _pick_session_id(self) -> str:
        # Hooks name the session by its file; resumed files can also hold older ids.
        stem = self.main.stem
        if stem in self.session_ids or not self.session_ids:
            return stem
        return self.session_ids.most_common(1)[0][0]

    def _subagent_files(self) -> list[tuple[Path, str]]:
        found: list[Path] = []
        folder = self.main.with_suffix("") / "subagents"
        if folder.is_dir():
            found.extend(sorted(folder.rglob("agent-*.jsonl")))
        main = os.path.abspath(self.main)
        for file in sorted(self.main.parent.glob("agent-*.jsonl")):
            # Old layout: agent files beside the session files, for any session.
            if os.path.abspath(file) != main and _first_session_id(file) == self.session_id:
                found.append(file)
        agents = []
        for file in found:
            agent_id = file.name[len("agent-") : -len(".jsonl")]
            if agent_id and not agent_id.startswith("acompact") and file.is_file():
                agents.append((file, agent_id))  # acompact-*: Claude Code's own compaction
        return agents

    # -- cross-references ---------------------------------------------------------------

    def _index(self) -> None:
        """One pass over all lines for what later lines need to know about earlier ones."""
        open_boundaries: dict[str | None, int] = {}
        fallback_model = None
        for line in self.lines:
            obj = line.obj
            kind = obj.get("type")
            message = obj.get("message")
            if kind == "assistant" and isinstance(message, dict):
                model = message.get("model")
                if isinstance(model, str) and model and not model.startswith("<"):
                    if line.lane is None and self.model is None:
                        self.model = model
                    fallback_model = fallback_model or model
                for block in _blocks(message.get("content")):
                    if block.get("type") == "tool_use":
                        self._index_tool_use(block, line)
            elif kind == "user" and isinstance(message, dict):
                self._index_user(obj, message, line, open_boundaries)
            elif kind == "system" and obj.get("subtype") == "compact_boundary":
                open_boundaries[line.lane] = line.pos
        self.model = self.model or fallback_model

    def _index_tool_use(self, block: dict[str, Any], line: _Line) -> None:
        use_id, name = block.get("id"), block.get("name")
        if not isinstance(use_id, str) or not isinstance(name, str) or use_id in self.tool_uses:
            return
        tool_input = block.get("input")
        tool_input = tool_input if isinstance(tool_input, dict) else {}
        self.tool_uses[use_id] = _ToolUse(name, tool_input, line.when, line.lane, line.pos)
        if name in SPAWN_TOOLS:
            self.spawns.append((line.pos, use_id, line.lane, tool_input))

    def _index_user(
        self,
        obj: dict[str, Any],
        message: dict[str, Any],
        line: _Line,
        open_boundaries: dict[str | None, int],
    ) -> None:
        content = message.get("content")
        results = [b for b in _blocks(content) if b.get("type") == "tool_result"]
        outcome = obj.get("toolUseResult")
        use_id = results[0].get("tool_use_id") if len(results) == 1 else None
        spawn = self.tool_uses.get(use_id) if isinstance(use_id, str) else None
        if spawn is not None and spawn.name in SPAWN_TOOLS:
            # The child's id is in the structured result (2.1.x) or, in 2.0.x, on the
            # parent's result line itself.
            child = outcome.get("agentId") if isinstance(outcome, dict) else None
            if not (isinstance(child, str) and child) and line.lane is None:
                child = obj.get("agentId")
            if isinstance(child, str) and child:
                self.agent_spawned_by.setdefault(child, use_id)
                kind = outcome.get("agentType") if isinstance(outcome, dict) else None
                if isinstance(kind, str) and kind:
                    self.agent_type_hint.setdefault(child, kind)
        if results:
            return
        text = _text_of(content) or ""
        if "<task-notification>" in text:
            child_match, use_match = _TASK_ID.search(text), _TASK_USE_ID.search(text)
            if child_match and use_match:
                self.agent_spawned_by.setdefault(child_match.group(1), use_match.group(1))
        if obj.get("isCompactSummary") is True and line.lane in open_boundaries:
            self.compact_summaries[open_boundaries.pop(line.lane)] = text

    def _link_agents(self) -> None:
        agents = sorted((a for a in self.agents.values() if a.lines), key=lambda a: a.lines[0].pos)
        claimed: set[str] = set()
        for agent in agents:
            use_id = agent.meta.get("toolUseId")
            if not isinstance(use_id, str) or use_id not in self.tool_uses:
                use_id = self.agent_spawned_by.get(agent.agent_id)
            if isinstance(use_id, str) and use_id in self.tool_uses and use_id not in claimed:
                agent.spawn_id = use_id
                claimed.add(use_id)
        for agent in agents:
            if agent.spawn_id is None:
                self._guess_spawn(agent, claimed)
            self._describe(agent)

    def _guess_spawn(self, agent: _Agent, claimed: set[str]) -> None:
        first = agent.lines[0]
        prompt = _first_prompt(agent)
        if prompt == "Warmup":
            agent.dropped = True
            return
        candidates = [
            (use_id, tool_input)
            for pos, use_id, lane, tool_input in self.spawns
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

    def _describe(self, agent: _Agent) -> None:
        spawn = self.tool_uses.get(agent.spawn_id) if agent.spawn_id else None
        spawn_type = spawn.tool_input.get("subagent_type") if spawn else None
        for candidate in (
            agent.meta.get("agentType"),
            spawn_type,
            self.agent_type_hint.get(agent.agent_id),
        ):
            if isinstance(candidate, str) and candidate:
                agent.agent_type = candidate
                break
        parent = agent.meta.get("parentAgentId")
        if isinstance(parent, str) and parent:
            agent.parent_agent_id = parent
        elif spawn is not None and spawn.lane is not None:
            agent.parent_agent_id = spawn.lane

    def _find_stops(self) -> None:
        """Mark the line that ends each main-agent turn, which needs look-ahead."""
        candidate: _Line | None = None
        for line in self.lines:
            if line.lane is not None:
                continue
            obj = line.obj
            kind = obj.get("type")
            if kind == "user":
                user_kind = _user_kind(obj)
                if user_kind in ("prompt", "notification"):
                    self._mark_stop(candidate)
                    candidate = None
                elif user_kind == "interrupt":
                    candidate = None
            elif kind == "assistant" and isinstance(obj.get("message"), dict):
                for block in _blocks(obj["message"].get("content")):
                    if block.get("type") == "tool_use":
                        candidate = None
                    elif block.get("type") == "text" and _nonblank(block.get("text")):
                        candidate = line
        self._mark_stop(candidate)

    def _mark_stop(self, line: _Line | None) -> None:
        if line is not None:
            self.stops[line.pos] = line.obj.get("isApiErrorMessage") is True

    # -- emitting -----------------------------------------------------------------------

    def _emit_all(self) -> None:
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
        for lane in self.lanes.values():
            if lane.usage is not None and lane.last_event is not None:
                event = lane.last_event
                event["usage"] = _add_usage(event.get("usage"), lane.usage)

    def _base(self, name: str, line: _Line, agent: _Agent | None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "session_id": self.session_id,
            "transcript_path": self.transcript_path,
        }
        if self.cwd is not None:
            payload["cwd"] = self.cwd
        if self.prompt_id is not None:
            payload["prompt_id"] = self.prompt_id
        payload["hook_event_name"] = name
        if agent is not None:
            payload["agent_id"] = agent.agent_id
            payload["agent_type"] = agent.agent_type
        payload["timestamp"] = line.stamp
        return payload

    def _emit(self, payload: dict[str, Any], agent: _Agent | None, usage: bool = True) -> None:
        lane = self._lane(agent)
        if usage and lane.usage is not None:
            payload["usage"] = lane.usage
            lane.usage = None
        self.result.events.append(payload)
        lane.last_event = payload

    def _lane(self, agent: _Agent | None) -> _Lane:
        key = agent.agent_id if agent is not None else None
        lane = self.lanes.get(key)
        if lane is None:
            lane = self.lanes[key] = _Lane()
        return lane

    def _session_start(self, line: _Line) -> None:
        payload = self._base("SessionStart", line, None)
        payload["source"] = "startup"
        if self.model:
            payload["model"] = self.model
        self._emit(payload, None, usage=False)

    def _subagent_start(self, line: _Line, agent: _Agent) -> None:
        agent.started = True
        payload = self._base("SubagentStart", line, agent)
        if agent.spawn_id:
            payload["parent_tool_use_id"] = agent.spawn_id
        if agent.parent_agent_id:
            payload["parent_agent_id"] = agent.parent_agent_id
        self._emit(payload, agent, usage=False)

    def _subagent_stop(self, line: _Line, agent: _Agent) -> None:
        payload = self._base("SubagentStop", line, agent)
        payload["stop_hook_active"] = False
        payload["agent_transcript_path"] = agent.path
        text = self._lane(agent).last_text
        if text is not None:
            payload["last_assistant_message"] = text
        self._emit(payload, agent)

    def _on_assistant(self, line: _Line, agent: _Agent | None) -> None:
        obj = line.obj
        message = obj.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("content"), (list, str)):
            self._skip_line(line, "assistant line without message content")
            return
        lane = self._lane(agent)
        usage = message.get("usage")
        if isinstance(usage, dict):
            key = (message.get("id") or obj.get("uuid") or line.where, obj.get("requestId"))
            if key not in self.responses:
                self.responses.add(key)
                lane.usage = _add_usage(lane.usage, usage)
        for block in _blocks(message["content"]):
            kind = block.get("type")
            if kind == "text" and _nonblank(block.get("text")):
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

    def _pre_tool(self, block: dict[str, Any], line: _Line, agent: _Agent | None) -> None:
        use_id, name = block.get("id"), block.get("name")
        if not isinstance(name, str) or not name:
            return
        if isinstance(use_id, str):
            if use_id in self.pre_seen:
                return  # the same call written twice
            self.pre_seen.add(use_id)
        tool_input = block.get("input")
        payload = self._base("PreToolUse", line, agent)
        payload["tool_name"] = name
        payload["tool_input"] = tool_input if isinstance(tool_input, dict) else {}
        if isinstance(use_id, str):
            payload["tool_use_id"] = use_id
        self._emit(payload, agent)

    def _on_user(self, line: _Line, agent: _Agent | None) -> None:
        obj = line.obj
        kind = _user_kind(obj)
        if kind == "tool_result":
            self._post_tools(line, agent)
        elif kind == "broken":
            self._skip_line(line, "user line without message content")
        elif agent is not None:
            # A subagent's prompt arrives as SubagentStart, not as a user prompt.
            if line is not agent.lines[0]:
                self.result.ignored += 1
        elif kind == "prompt":
            payload = self._base("UserPromptSubmit", line, None)
            payload["prompt"] = _text_of(obj["message"].get("content")) or ""
            self._emit(payload, None)
        else:
            self.result.ignored += 1  # meta, harness output, notifications, interruptions

    def _post_tools(self, line: _Line, agent: _Agent | None) -> None:
        obj = line.obj
        blocks = _blocks(obj["message"].get("content"))
        results = [b for b in blocks if b.get("type") == "tool_result"]
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
            failed = block.get("is_error") is True
            payload = self._base("PostToolUseFailure" if failed else "PostToolUse", line, agent)
            payload["tool_name"] = use.name
            payload["tool_input"] = dict(use.tool_input)  # one object per payload, as live
            if failed:
                error = _error_text(block.get("content"))
                payload["tool_use_id"] = use_id
                payload["error"] = error
                if error.startswith(_INTERRUPT):
                    payload["is_interrupt"] = True
            else:
                # toolUseResult belongs to the line, so it is only unambiguous for one result.
                if len(results) == 1 and "toolUseResult" in obj:
                    payload["tool_response"] = obj["toolUseResult"]
                else:
                    payload["tool_response"] = block.get("content")
                payload["tool_use_id"] = use_id
            if line.when >= use.when:
                payload["duration_ms"] = (line.when - use.when) // 1000
            self._emit(payload, agent)
            emitted += 1
        if emitted:
            return
        if unknown is not None:
            self._skip_line(line, f"tool_result for unknown tool_use {unknown}")
        else:
            self.result.ignored += 1

    def _on_compact(self, line: _Line, agent: _Agent | None) -> None:
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


# -- helpers ------------------------------------------------------------------------------


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [block for block in content if isinstance(block, dict)]
    return []


def _text_of(content: Any) -> str | None:
    """The text of a message's content: a string, or its text blocks joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [b.get("text") for b in _blocks(content) if b.get("type") == "text"]
        return "\n".join(text for text in texts if isinstance(text, str))
    return None


def _nonblank(text: Any) -> bool:
    return isinstance(text, str) and bool(text.strip())


def _user_kind(obj: dict[str, Any]) -> str:
    """What a ``user`` line is: a prompt, tool results, or one of the harness's own lines."""
    message = obj.get("message")
    if not isinstance(message, dict):
        return "broken"
    content = message.get("content")
    if isinstance(content, list) and any(b.get("type") == "tool_result" for b in _blocks(content)):
        return "tool_result"
    origin = obj.get("origin")
    if isinstance(origin, dict) and origin.get("kind") == "task-notification":
        return "notification"
    text = _text_of(content)
    if text is None:
        return "broken"
    if obj.get("isMeta") is True or obj.get("isCompactSummary") is True:
        return "meta"
    stripped = text.lstrip()
    if stripped.startswith("<task-notification>"):
        return "notification"
    if stripped.startswith(_INTERRUPT):
        return "interrupt"
    if _HARNESS_TAG.match(stripped):
        return "harness"
    if not stripped and not any(b.get("type") == "image" for b in _blocks(content)):
        return "empty"
    return "prompt"


def _first_prompt(agent: _Agent) -> str | None:
    for line in agent.lines:
        if line.obj.get("type") == "user":
            message = line.obj.get("message")
            text = _text_of(message.get("content")) if isinstance(message, dict) else None
            return text.strip() if text is not None else None
    return None


def _error_text(content: Any) -> str:
    text = _text_of(content)
    if text is None:
        text = "" if content is None else json.dumps(content, ensure_ascii=False)
    match = _TOOL_ERROR.fullmatch(text)
    return match.group(1).strip() if match else text


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


def _read_meta(file: Path) -> dict[str, Any]:
    sidecar = file.with_name(file.name[: -len(".jsonl")] + ".meta.json")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _first_session_id(file: Path) -> str | None:
    """The session an old-layout agent file belongs to, from its first readable lines."""
    lines = iter_lines(file)
    try:
        for count, (_, obj, _) in enumerate(lines):
            if obj is not None and isinstance(obj.get("sessionId"), str):
                return obj["sessionId"]
            if count >= 5:
                break
    except SourceError:
        pass
    finally:
        lines.close()
    return None
