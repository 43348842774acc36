"""Transcript phase 1: read the session's files into one list of lines in time order.

Reads the main file, then its subagents' files (the ``<session>/subagents/`` folder, or
old-layout ``agent-*.jsonl`` files beside it that name the same session), drops lines copied
into two files, sorts old-style inline sidechain lines into their subagents, and notes the
session's id and title. Damaged lines go to ``Problems``, bookkeeping lines count as
ignored; a main file that is not a transcript at all raises ``SourceError``.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any

from ..errors import json_type
from ._transcript_lines import Agent, Line, Problems
from .lines import (
    LoadResult,
    SourceError,
    iter_lines,
    looks_like_hook_payload,
    looks_like_transcript_line,
    read_json_object,
)
from .timestamps import parse_micros

#: Line types that are real moments of the session: without a timestamp they are damaged.
_CHAIN_TYPES = frozenset({"user", "assistant", "system"})
_TITLE_TYPES = frozenset({"ai-title", "custom-title", "summary"})
#: Bookkeeping lines written as the process exits: ``cost-state`` since 2.1.3xx (whose
#: ``last-prompt`` lines follow every message), ``last-prompt`` before (once, at exit).
_END_TYPES = frozenset({"cost-state", "last-prompt"})


@dataclass
class SessionLines:
    """Every timed line of a session's files, and the subagent lanes they fall into."""

    transcript_path: str
    session_id: str
    title: str | None
    #: In time order (then file, then line number); ``Line.pos`` is the index here.
    lines: list[Line]
    #: By agent id; each agent's ``lines`` are in time order too.
    agents: dict[str, Agent]
    #: The main file ends with a line Claude Code writes when the process exits (see
    #: ``_END_TYPES``): the session ended there (a later ``--continue`` writes on after it).
    ended: bool = False
    #: The main file's ``cost-state`` lines (Claude Code's own token count, untimed).
    cost_states: list[dict[str, Any]] = field(default_factory=list)


def read_session(main: Path, result: LoadResult, problems: Problems) -> SessionLines:
    """Read ``main`` and its subagents' files (counting ignored lines in ``result``)."""
    return _FileReader(main, result, problems).read()


class _FileReader:
    def __init__(self, main: Path, result: LoadResult, problems: Problems) -> None:
        self.main = main
        self.transcript_path = os.path.abspath(main)
        self.result = result
        self.problems = problems
        self.lines: list[Line] = []
        self.agents: dict[str, Agent] = {}
        self.uuids: set[str] = set()
        self.session_ids: Counter[str] = Counter()
        self.titles: dict[str, str] = {}
        self.summaries: list[tuple[str, Any]] = []
        self.inline: list[Line] = []
        self.session_id: str = main.stem
        self.last_main_type: str | None = None
        self.cost_states: list[dict[str, Any]] = []

    def read(self) -> SessionLines:
        self._read_main()
        self.session_id = self._pick_session_id()
        for index, (file, agent_id) in enumerate(self._subagent_files(), start=1):
            self._read_agent_file(file, index, agent_id)
        self.lines.sort(key=attrgetter("when", "file", "number"))
        for pos, line in enumerate(self.lines):
            line.pos = pos
        by_pos = attrgetter("pos")
        for agent in self.agents.values():
            agent.lines.sort(key=by_pos)
        return SessionLines(
            self.transcript_path,
            self.session_id,
            self._pick_title(),
            self.lines,
            self.agents,
            self.last_main_type in _END_TYPES,
            self.cost_states,
        )

    def _read_main(self) -> None:
        seen = transcript_like = hook_like = 0
        for number, obj, problem in iter_lines(self.main):
            seen += 1
            if obj is not None and not transcript_like:  # one transcript line settles it
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
            self.agents[agent_id] = Agent(agent_id, os.path.abspath(file), _read_meta(file))
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
        if obj is None:
            self.problems.add(file, number, f"{label}line {number}", problem or "unreadable")
            return
        kind = obj.get("type")
        if not isinstance(kind, str):
            hint = " (a hook payload?)" if looks_like_hook_payload(obj) else ""
            self.problems.add(file, number, f"{label}line {number}", f"no 'type' field{hint}")
            return
        if file == 0:
            self.last_main_type = kind
            if kind == "cost-state":
                self.cost_states.append(obj)
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
        stamp = obj.get("timestamp")
        when = parse_micros(stamp)
        if when is None:
            if kind in _CHAIN_TYPES:
                stamp = obj.get("timestamp")
                if stamp is None:
                    problem = f"{kind} line with no timestamp"
                else:
                    problem = (
                        f"{kind} line with a bad timestamp ({_shown(stamp)}: not a time"
                        " between 1970 and 9999 with an offset under 24 hours)"
                    )
                self.problems.add(file, number, f"{label}line {number}", problem)
            else:
                result.ignored += 1  # bookkeeping: only ever metadata
            return
        lane = agent_id
        line = Line(when, stamp, file, number, obj, lane, label)
        self.lines.append(line)
        if file == 0 and obj.get("isSidechain") is True:
            self.inline.append(line)  # its lane is settled once the whole file is read
        elif lane is not None:
            agent = self.agents.get(lane)
            if agent is None:
                agent = self.agents[lane] = Agent(lane, self.transcript_path, {})
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
                agent = self.agents[line.lane] = Agent(line.lane, self.transcript_path, {})
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
            if (
                os.path.abspath(file) != main
                and file.is_file()
                and _first_session_id(file) == self.session_id
            ):
                found.append(file)
        agents = []
        for file in found:
            agent_id = file.name[len("agent-") : -len(".jsonl")]
            if agent_id and not agent_id.startswith("acompact") and file.is_file():
                agents.append((file, agent_id))  # acompact-*: Claude Code's own compaction
        return agents


def _read_meta(file: Path) -> dict[str, Any]:
    """The subagent's ``.meta.json`` sidecar, or ``{}`` if it is missing or unusable (read
    within the same limits as lines: it is only a hint for linking the agent)."""
    sidecar = file.with_name(file.name[: -len(".jsonl")] + ".meta.json")
    return read_json_object(sidecar) or {}


def _shown(value: Any) -> str:
    """A bad value as a problem quotes it: short, on one line."""
    text = repr(value) if not isinstance(value, (dict, list)) else json_type(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
