"""What the transcript reader's phases share: its line and agent records, and content helpers.

The reader (``transcript.py``) runs in phases, each in its own ``_transcript_*`` module;
they pass these records along instead of sharing one big object, so each phase says in its
signature what it reads and what it fills in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .lines import MAX_PROBLEMS, LoadResult
from .prompts import prompt_kind

DEFAULT_AGENT_TYPE = "general-purpose"


@dataclass(slots=True)
class Line:
    """One timed line of any of the session's files; ``pos`` is its place in time order.

    One is made per line read (slots: quicker to make and to read; ``where`` is only
    spelled out for a problem), on the path a replay's load time is measured on."""

    when: int
    stamp: str
    file: int
    number: int
    obj: dict[str, Any]
    lane: str | None
    #: The file's part of ``where``: ``""`` for the main file, else its name and a space.
    label: str
    pos: int = -1
    _blocks: list[dict[str, Any]] | None = field(default=None, init=False, repr=False)
    _user_kind: str | None = field(default=None, init=False, repr=False)

    @property
    def where(self) -> str:
        """The line as problems name it: ``agent-x.jsonl line 12``."""
        return f"{self.label}line {self.number}"

    def content_blocks(self) -> list[dict[str, Any]]:
        """:func:`blocks` of the line's message content (``[]`` without a message), made
        once: the index, the stops and the emitter all read them (callers must not change
        the list)."""
        got = self._blocks
        if got is None:
            message = self.obj.get("message")
            got = blocks(message.get("content")) if isinstance(message, dict) else []
            self._blocks = got
        return got

    def kind_of_user(self) -> str:
        """:func:`user_kind` of the line, worked out once (the stops and the emitter ask)."""
        got = self._user_kind
        if got is None:
            got = self._user_kind = user_kind(self.obj)
        return got


@dataclass
class Agent:
    """A subagent's lane: its lines, and what linking found out about who spawned it."""

    agent_id: str
    path: str
    meta: dict[str, Any]
    lines: list[Line] = field(default_factory=list)
    spawn_id: str | None = None
    agent_type: str = DEFAULT_AGENT_TYPE
    parent_agent_id: str | None = None
    dropped: bool = False
    started: bool = False


@dataclass
class ToolUse:
    """A ``tool_use`` block, as later result lines and spawned agents need it."""

    name: str
    tool_input: dict[str, Any]
    when: int
    lane: str | None
    pos: int


class Problems:
    """Skipped lines, reported in file order however late in the replay each was noticed."""

    def __init__(self) -> None:
        self.found: list[tuple[int, int, str, str]] = []

    def add(self, file: int, number: int, where: str, problem: str) -> None:
        self.found.append((file, number, where, problem))

    def add_line(self, line: Line, problem: str) -> None:
        self.add(line.file, line.number, line.where, problem)

    def report(self, result: LoadResult) -> None:
        found = self.found
        found.sort()
        result.skipped += len(found)
        result.problems = [f"{where}: {text}" for _, _, where, text in found[:MAX_PROBLEMS]]


# -- message content ------------------------------------------------------------------------


def blocks(content: Any) -> list[dict[str, Any]]:
    """A message's content as a list of block dicts (a plain string is one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [block for block in content if isinstance(block, dict)]
    return []


def text_of(content: Any) -> str | None:
    """The text of a message's content: a string, or its text blocks joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [b.get("text") for b in blocks(content) if b.get("type") == "text"]
        return "\n".join(text for text in texts if isinstance(text, str))
    return None


def nonblank(text: Any) -> bool:
    return isinstance(text, str) and bool(text.strip())


def user_kind(obj: dict[str, Any]) -> str:
    """What a ``user`` line is: a prompt, tool results, or one of the harness's own lines."""
    message = obj.get("message")
    if not isinstance(message, dict):
        return "broken"
    content = message.get("content")
    if isinstance(content, list) and any(b.get("type") == "tool_result" for b in blocks(content)):
        return "tool_result"
    origin = obj.get("origin")
    if isinstance(origin, dict) and origin.get("kind") == "task-notification":
        return "notification"
    text = text_of(content)
    if text is None:
        return "broken"
    if obj.get("isMeta") is True or obj.get("isCompactSummary") is True:
        return "meta"
    kind = prompt_kind(text)
    if kind == "empty" and any(b.get("type") == "image" for b in blocks(content)):
        return "prompt"
    return kind
