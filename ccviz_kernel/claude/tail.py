"""Reading a live session's transcript as it grows: tokens, model and context per agent,
and the hooks the transcript shows but the game may never have received.

A hook payload names the session's transcript (``transcript_path``; ``SubagentStop`` also
``agent_transcript_path``, a file of ``<session>/subagents/``). :class:`TranscriptTail`
follows that file and its subagents' files from the offset it last read, taking complete
lines only (a half-written last line is read again next time), so a poll costs what was
written since the last one. It reads only under Claude Code's projects folder
(:func:`projects_roots`; symlinks resolved), since the path comes from a payload anyone
with the ingest token can send.

It counts with :class:`~.usage.UsageCounter`, the rules the transcript replay counts by.
Files that shrank or were replaced are read again from the start; what was counted is not
counted twice (message keys and tool ids are remembered). Damaged lines are skipped, lines
longer than :data:`MAX_LINE` are skipped unread, a file that vanished costs only itself.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._transcript_lines import DEFAULT_AGENT_TYPE, blocks, nonblank, text_of, user_kind
from ._transcript_payloads import base_payload, pre_tool_fields, result_fields, result_name
from .lines import MAX_LINE_BYTES, _parse_line, read_json_object
from .prompts import notification_key
from .timestamps import parse_micros
from .usage import MAX_TOKENS, USAGE_FIELDS, AgentTotals, UsageCounter, count_tokens

__all__ = [
    "USAGE_FIELDS",
    "AgentTotals",
    "Fill",
    "TailRefused",
    "TailUpdate",
    "TranscriptTail",
    "UsageCounter",
    "allowed_path",
    "projects_roots",
]

#: A line longer than this is skipped without being held in memory: the readers' limit
#: (``lines.MAX_LINE_BYTES``; the other limits apply through ``_parse_line``).
MAX_LINE = MAX_LINE_BYTES
_CHUNK = 1024 * 1024
#: How much one poll reads of one file at most; the rest waits for the next poll.
MAX_READ = 256 * 1024 * 1024


class TailRefused(ValueError):
    """The path is not a transcript under Claude Code's projects folder."""


def projects_roots() -> list[Path]:
    """Where Claude Code keeps transcripts: ``$CLAUDE_CONFIG_DIR/projects`` when that is set
    (Claude Code moves its whole folder there), and ``~/.claude/projects``."""
    roots = []
    config = os.environ.get("CLAUDE_CONFIG_DIR")
    if config:
        roots.append(Path(config).expanduser() / "projects")
    roots.append(Path.home() / ".claude" / "projects")
    return roots


def allowed_path(path: str | os.PathLike[str], roots: Iterable[Path] | None = None) -> Path:
    """``path`` with symlinks resolved, if it is a ``.jsonl`` file inside one of ``roots``
    (default :func:`projects_roots`); raises :class:`TailRefused` otherwise."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise TailRefused("no transcript path")
    if "\x00" in str(os.fspath(path)):
        raise TailRefused("transcript path holds a NUL character")
    try:
        real = os.path.realpath(os.fspath(path))
    except (OSError, ValueError) as exc:
        raise TailRefused(f"{path}: cannot be resolved ({exc})") from None
    if not real.endswith(".jsonl"):
        raise TailRefused(f"{path}: not a .jsonl file")
    for root in projects_roots() if roots is None else roots:
        top = os.path.realpath(root)
        if real.startswith(top.rstrip(os.sep) + os.sep):
            return Path(real)
    raise TailRefused(f"{path}: not under Claude Code's projects folder")


# -- gap fill ---------------------------------------------------------------------------


@dataclass
class Fill:
    """A hook the transcript shows: ``kind`` ``pre``/``post`` (keyed by tool_use_id),
    ``prompt`` or ``stop`` (keyed by prompt_id), its time (epoch s) and the payload
    to ingest if the game never received the hook (``ccviz_source: "transcript"``)."""

    kind: str
    key: str
    when: float
    payload: dict[str, Any]
    #: For a call: the assistant message it is part of (calls of one message may run
    #: side by side; the next message's start after all of them).
    group: str | None = None


@dataclass
class _Call:
    name: str
    tool_input: dict[str, Any]
    when: int
    group: str | None = None


class _Fills:
    """Hook payloads from transcript lines, with the transcript replay's field names."""

    def __init__(self, session_id: str, transcript_path: str) -> None:
        self.session_id = session_id
        self.transcript_path = transcript_path
        self.calls: dict[str, _Call] = {}
        #: Per assistant message: its calls in order, and the results the model saw.
        self.groups: dict[str, list[str]] = {}
        self.results: dict[str, Any] = {}
        self.done: set[tuple[str, str]] = set()
        self.found: list[Fill] = []
        self.cwd: str | None = None
        self.prompt_id: str | None = None
        self.last_text: dict[str | None, str] = {}

    def take(self, obj: dict[str, Any], agent: str | None, agent_type: str | None) -> None:
        cwd = obj.get("cwd")
        if isinstance(cwd, str) and cwd:
            self.cwd = cwd
        prompt_id = obj.get("promptId")
        if isinstance(prompt_id, str) and prompt_id and agent is None:
            self.prompt_id = prompt_id
        when = parse_micros(obj.get("timestamp"))
        if when is None:
            return
        kind = obj.get("type")
        if kind == "queue-operation" and agent is None:
            self._queued(obj, when)
            return
        message = obj.get("message")
        if not isinstance(message, dict):
            return
        if kind == "assistant":
            self._assistant(obj, message, agent, agent_type, when)
        elif kind == "user":
            self._user(obj, message, agent, agent_type, when)

    def _base(self, name: str, obj: dict[str, Any], agent: str | None, agent_type: str | None):
        payload = base_payload(
            name,
            session_id=self.session_id,
            transcript_path=self.transcript_path,
            cwd=self.cwd,
            prompt_id=self.prompt_id,
            stamp=obj["timestamp"],
            agent_id=agent,
            agent_type=(agent_type or DEFAULT_AGENT_TYPE) if agent is not None else None,
        )
        payload["ccviz_source"] = "transcript"
        return payload

    def _add(
        self, kind: str, key: str, when: int, payload: dict[str, Any], group: str | None = None
    ) -> None:
        if (kind, key) in self.done:
            return
        self.done.add((kind, key))
        self.found.append(Fill(kind, key, when / 1e6, payload, group))

    def _assistant(self, obj, message, agent, agent_type, when) -> None:
        content = message.get("content")
        for block in blocks(content):
            kind = block.get("type")
            if kind == "text" and nonblank(block.get("text")):
                self.last_text[agent] = block["text"]
            elif kind == "tool_use":
                use_id, name = block.get("id"), block.get("name")
                if not isinstance(use_id, str) or not isinstance(name, str) or not name:
                    continue
                payload = pre_tool_fields(self._base("PreToolUse", obj, agent, agent_type), block)
                group = message.get("id") or obj.get("uuid")
                group = group if isinstance(group, str) else None
                if use_id not in self.calls:
                    self.calls[use_id] = _Call(name, payload["tool_input"], when, group)
                    if group is not None:
                        self.groups.setdefault(group, []).append(use_id)
                self._add("pre", use_id, when, payload, group)
        if (
            agent is None
            and obj.get("isSidechain") is not True
            and message.get("stop_reason") == "end_turn"
            and self.prompt_id is not None
        ):
            payload = self._base("Stop", obj, None, None)
            payload["stop_hook_active"] = False
            if None in self.last_text:
                payload["last_assistant_message"] = self.last_text[None]
            self._add("stop", self.prompt_id, when, payload)

    def _queued(self, obj: dict[str, Any], when: int) -> None:
        """A background task's result is queued as a prompt (a ``queue-operation`` line) and
        fires UserPromptSubmit, even when the session ends before a turn takes it up (then
        no user line is ever written for it)."""
        content = obj.get("content")
        if obj.get("operation") != "enqueue" or not isinstance(content, str):
            return
        key = notification_key(content)
        if key is not None:
            payload = self._base("UserPromptSubmit", obj, None, None)
            payload["prompt"] = content
            self._add("prompt", key, when, payload)

    def _user(self, obj, message, agent, agent_type, when) -> None:
        kind = user_kind(obj)
        # A background task's result comes back as a prompt too (live: a UserPromptSubmit).
        if kind in ("prompt", "notification") and agent is None and not obj.get("isSidechain"):
            text = text_of(message.get("content")) or ""
            prompt_id = obj.get("promptId")
            key = notification_key(text) if kind == "notification" else None
            key = key or (prompt_id if isinstance(prompt_id, str) and prompt_id else None)
            if key is not None:
                payload = self._base("UserPromptSubmit", obj, None, None)
                payload["prompt"] = text
                self._add("prompt", key, when, payload)
            return
        if kind != "tool_result":
            return
        results = [b for b in blocks(message.get("content")) if b.get("type") == "tool_result"]
        for block in results:
            use_id = block.get("tool_use_id")
            call = self.calls.get(use_id) if isinstance(use_id, str) else None
            if call is None:
                continue
            payload = result_fields(
                self._base(result_name(block), obj, agent, agent_type),
                block,
                tool_name=call.name,
                tool_input=call.tool_input,
                line=obj,
                only_result=len(results) == 1,
                micros=when - call.when,
            )
            self._add("post", use_id, when, payload)
            self.results[use_id] = block.get("content")
            self._batch_done(call.group, obj, agent, agent_type, when)

    def _batch_done(self, group, obj, agent, agent_type, when) -> None:
        """``PostToolBatch`` once every call of one assistant message has its result: the
        calls with the results the model saw, as Claude Code sends it."""
        ids = self.groups.get(group) if group is not None else None
        if not ids or any(i not in self.results for i in ids):
            return
        payload = self._base("PostToolBatch", obj, agent, agent_type)
        payload["tool_calls"] = [
            {
                "tool_name": self.calls[i].name,
                "tool_input": self.calls[i].tool_input,
                "tool_use_id": i,
                "tool_response": self.results[i],
            }
            for i in ids
        ]
        self._add("batch", group, when, payload, group)


# -- reading files ----------------------------------------------------------------------


@dataclass
class _File:
    path: Path
    agent: str | None
    own: bool = True
    agent_type: str | None = None
    ident: tuple[int, int] | None = None
    offset: int = 0
    #: Inside a line longer than MAX_LINE: bytes up to the next newline are dropped.
    skipping: bool = False
    #: The time of the newest timed line read (µs), for the untimed lines after it.
    when: int = 0


@dataclass
class TailUpdate:
    """What one poll found: every agent's totals so far, the hooks it newly saw in the
    transcript (for the caller to fill in where the game lacks them), and whether a file
    had to be read again from its start."""

    totals: dict[str | None, AgentTotals]
    fills: list[Fill]
    restarted: bool = False
    lines: int = 0


#: One parsed line, for callers that feed a counter themselves (hook-log replays):
#: (transcript time in µs, file index, agent, own, line object).
Record = tuple[int, int, str | None, bool, dict[str, Any]]


class TranscriptTail:
    """One session's transcript files, read incrementally. Not thread-safe: one poll at a
    time (the server polls from a worker thread, one per session at once).

    ``roots``: the folders allowed (default :func:`projects_roots`); ``None`` elements are
    not accepted, but a hook-log replay passes the folders it trusts.
    """

    def __init__(
        self,
        transcript_path: str | os.PathLike[str],
        *,
        session_id: str | None = None,
        roots: Iterable[Path] | None = None,
    ) -> None:
        self.roots = list(projects_roots() if roots is None else roots)
        self.path = allowed_path(transcript_path, self.roots)
        self.session_id = session_id or self.path.stem
        self.counter = UsageCounter()
        self.fills = _Fills(self.session_id, os.fspath(transcript_path))
        self._files: dict[Path, _File] = {self.path: _File(self.path, None)}
        self.restarted = False

    def poll(self) -> TailUpdate:
        """Read what was written since the last poll; never raises for file trouble."""
        self.restarted = False
        count = 0
        # In transcript order across the files (a subagent's lines before the main file's
        # result of its call), as the transcript replay walks them.
        for record in sorted(self.read_new(), key=_record_order):
            self._feed(record)
            count += 1
        self.counter.settle()
        found, self.fills.found = self.fills.found, []
        return TailUpdate(self.counter.agents, found, self.restarted, count)

    def feed(self, records: Iterable[Record]) -> None:
        """Count records from :meth:`read_new` (in the caller's order), then settle."""
        for record in records:
            self._feed(record)
        self.counter.settle()

    def _feed(self, record: Record) -> None:
        _, _, agent, own, obj = record
        self.counter.take(obj, agent, own=own)
        if own and not (agent is None and obj.get("isSidechain") is True):
            file = self._files.get(self.path) if agent is None else None
            agent_type = file.agent_type if file is not None else self._agent_type(agent)
            self.fills.take(obj, agent, agent_type)

    def _agent_type(self, agent: str | None) -> str | None:
        for file in self._files.values():
            if file.agent == agent and file.own:
                return file.agent_type
        return None

    def read_new(self) -> list[Record]:
        """Every complete line written since the last read, main file first, parsed.
        Lines without a time get the time of the line before them in their file."""
        records: list[Record] = []
        self._find_subagents()
        for index, file in enumerate(list(self._files.values())):
            records.extend(self._read(file, index))
        return records

    def _find_subagents(self) -> None:
        folder = self.path.with_suffix("") / "subagents"
        if not folder.is_dir():
            return
        found = []
        for top, dirs, names in os.walk(folder):  # nested agents may sit in subfolders
            dirs.sort()
            found.extend(Path(top) / name for name in sorted(names))
        for path in found:
            name = path.name
            if not (name.startswith("agent-") and name.endswith(".jsonl")) or path in self._files:
                continue
            try:
                real = allowed_path(path, self.roots)
            except TailRefused:
                continue
            agent_id = name[len("agent-") : -len(".jsonl")]
            if not agent_id:
                continue
            if agent_id.startswith("acompact"):
                # Claude Code's own compaction agent: the main agent's tokens.
                self._files[path] = _File(real, None, own=False)
            else:
                self._files[path] = _File(real, agent_id, agent_type=_agent_type(real))

    def _read(self, file: _File, index: int) -> list[Record]:
        try:
            handle = open(file.path, "rb")  # noqa: SIM115 - closed below
        except OSError:
            return []
        with handle:
            try:
                info = os.fstat(handle.fileno())
            except OSError:
                return []
            ident = (info.st_dev, info.st_ino)
            if file.ident is not None and (ident != file.ident or info.st_size < file.offset):
                file.offset = 0  # replaced or cut short: read it again (nothing counts twice)
                file.skipping = False
                file.when = 0
                self.restarted = True
            file.ident = ident
            if info.st_size == file.offset:
                return []
            try:
                handle.seek(file.offset)
                return self._lines(handle, file, index)
            except OSError:
                return []

    def _lines(self, handle: Any, file: _File, index: int) -> list[Record]:
        records: list[Record] = []
        pending = bytearray()
        start = file.offset  # where ``pending`` begins in the file
        read = 0
        while read < MAX_READ:
            chunk = handle.read(_CHUNK)
            if not chunk:
                break
            read += len(chunk)
            if file.skipping:
                cut = chunk.find(b"\n")
                if cut < 0:
                    file.offset += len(chunk)
                    start = file.offset
                    continue
                file.skipping = False
                file.offset += cut + 1
                start = file.offset
                chunk = chunk[cut + 1 :]
            pending += chunk
            last = pending.rfind(b"\n")
            if last < 0:
                if len(pending) > MAX_LINE:
                    file.skipping = True
                    file.offset = start + len(pending)
                    start = file.offset
                    pending.clear()
                continue
            for raw in bytes(pending[:last]).split(b"\n"):
                raw = raw.strip()
                if not raw or len(raw) > MAX_LINE:
                    continue
                obj, _ = _parse_line(raw, last=False)
                if obj is None:
                    continue
                stamp = parse_micros(obj.get("timestamp"))
                if stamp is not None:
                    file.when = stamp
                agent = file.agent
                if agent is None and file.own and obj.get("isSidechain") is True:
                    inline = obj.get("agentId")  # old versions: subagents inside the main file
                    agent = inline if isinstance(inline, str) and inline else None
                records.append((file.when, index, agent, file.own, obj))
            del pending[: last + 1]
            start += last + 1
            file.offset = start
        return records


def _record_order(record: Record) -> tuple[int, int]:
    return record[0], record[1]


def _agent_type(path: Path) -> str | None:
    sidecar = path.with_name(path.name[: -len(".jsonl")] + ".meta.json")
    meta = read_json_object(sidecar)
    kind = meta.get("agentType") if meta is not None else None
    return kind if isinstance(kind, str) and kind else None


# -- usage events -----------------------------------------------------------------------

USAGE_EVENT = "ccviz.usage"


class UsageReporter:
    """Turns an agent's running totals into ``ccviz.usage`` events: the delta since the last
    one for that agent, with its newest model and context. The server and hook-log replays
    both use it, so they send the same events for the same lines."""

    def __init__(self) -> None:
        self.reported: dict[str | None, dict[str, int]] = {}
        self.model: dict[str | None, Any] = {}
        self.context: dict[str | None, Any] = {}

    def note(self, payload: dict[str, Any]) -> None:
        """Take a ``ccviz.usage`` event already in the game (from its log) into account."""
        agent = payload.get("agent_id")
        agent = agent if isinstance(agent, str) else None
        usage = payload.get("usage")
        total = self.reported.setdefault(agent, dict.fromkeys(USAGE_FIELDS, 0))
        if isinstance(usage, dict):
            for key in USAGE_FIELDS:
                # The counter's rule (usage.py): a logged event is input like any other.
                total[key] = min(total[key] + count_tokens(usage.get(key)), MAX_TOKENS)
        if "model" in payload:
            self.model[agent] = payload["model"]
        if "context_tokens" in payload:
            self.context[agent] = payload["context_tokens"]

    def events(
        self, session_id: str, totals: dict[str | None, AgentTotals]
    ) -> list[dict[str, Any]]:
        """One event per agent whose numbers changed (noted as reported)."""
        out = []
        for agent, agent_totals in totals.items():
            reported = self.reported.get(agent) or dict.fromkeys(USAGE_FIELDS, 0)
            delta = {key: agent_totals.usage[key] - reported[key] for key in USAGE_FIELDS}
            # A transcript that lost lines reports nothing rather than less.
            grew = any(v > 0 for v in delta.values()) and not any(v < 0 for v in delta.values())
            model, context = agent_totals.model, agent_totals.context
            if not (
                grew
                or (model is not None and model != self.model.get(agent))
                or (context is not None and context != self.context.get(agent))
            ):
                continue
            payload: dict[str, Any] = {"hook_event_name": USAGE_EVENT, "session_id": session_id}
            if agent is not None:
                payload["agent_id"] = agent
            payload["usage"] = delta if grew else dict.fromkeys(USAGE_FIELDS, 0)
            if model is not None:
                payload["model"] = model
            if context is not None:
                payload["context_tokens"] = context
            if agent_totals.timestamp is not None:
                payload["timestamp"] = agent_totals.timestamp
            self.note(payload)
            out.append(payload)
        return out


# -- hook-log replays -------------------------------------------------------------------

#: Hooks after which the server reads the transcript (``server/transcripts.py`` uses these).
TRIGGERS = frozenset({"Stop", "SubagentStop", "PostToolBatch", "SessionEnd", "StopFailure"})


#: The hooks that fire for every tool call: a lean install (``hooks.PER_CALL_EVENTS``) has
#: none of them, and the server makes them from the transcript as it grows.
PER_CALL = frozenset({"PreToolUse", "PostToolUse", "PostToolUseFailure"})


@dataclass
class _Replayed:
    """One session of a hook log, read from its transcript beside it."""

    tail: TranscriptTail
    records: list[Record]
    usage: bool
    calls: bool
    reporter: UsageReporter
    fed: int = 0


def with_usage(events: list[dict[str, Any]], log_path: str | os.PathLike[str]) -> list[dict]:
    """``events`` (a hook log's payloads) with what the server would have added from the
    session's transcript, through the same :class:`TranscriptTail`:

    * the ``ccviz.usage`` events: after each hook of :data:`TRIGGERS`, the transcript's
      lines up to that hook's time; after the last event, the rest. Sessions whose log
      already holds usage events get none.
    * for a session whose log has no per-call hook at all (:data:`PER_CALL`: recorded with
      the lean install, where the server follows the transcript for them), the tail's
      ``PreToolUse``/``PostToolUse``/``PostToolUseFailure`` fills, each placed before the
      first hook whose ``timestamp`` is later than its line (the order the server ingests
      them in, a poll after the line was written).

    The transcript is the one the payloads name (under Claude Code's projects folder), else
    ``<name>/<session-id>.jsonl`` beside ``<name>.hooks.jsonl`` (the samples' and the
    corpus's layout). Sessions whose transcript cannot be found are left as they are."""
    replayed: dict[str, _Replayed | None] = {}
    # Any payload field may be any JSON value: only string session ids and names are keys.
    has_usage = {_sid(e) for e in events if e.get("hook_event_name") == USAGE_EVENT}
    has_usage |= {_sid(e) for e in events if isinstance(e.get("usage"), dict)}
    has_calls = {_sid(e) for e in events if _name_in(e.get("hook_event_name"), PER_CALL)}
    out: list[dict[str, Any]] = []
    until = None

    def feed(one: _Replayed, bound: int | None) -> None:
        start = stop = one.fed
        while stop < len(one.records) and (bound is None or one.records[stop][0] <= bound):
            stop += 1
        if stop == start:
            return
        one.tail.feed(one.records[start:stop])
        one.fed = stop
        found, one.tail.fills.found = one.tail.fills.found, []
        if one.calls:
            out.extend(fill.payload for fill in found if fill.kind in ("pre", "post"))

    def report(session_id: str, one: _Replayed) -> None:
        if one.usage:
            out.extend(one.reporter.events(session_id, one.tail.counter.agents))

    for event in events:
        session_id = event.get("session_id")
        if not isinstance(session_id, str):
            out.append(event)
            continue
        if session_id not in replayed:
            usage, calls = session_id not in has_usage, session_id not in has_calls
            tail = _find_tail(event, session_id, Path(os.fspath(log_path)))
            if tail is None or not (usage or calls):
                replayed[session_id] = None
            else:
                records = sorted(tail.read_new(), key=_record_order)
                replayed[session_id] = _Replayed(tail, records, usage, calls, UsageReporter())
        one = replayed[session_id]
        stamp = parse_micros(event.get("timestamp"))
        until = stamp if stamp is not None else until
        if one is not None and one.calls and stamp is not None:
            feed(one, stamp)  # what the transcript showed when this hook fired
        out.append(event)
        if one is not None and _name_in(event.get("hook_event_name"), TRIGGERS):
            feed(one, until)
            report(session_id, one)
    for session_id, one in replayed.items():
        if one is not None:
            feed(one, None)
            report(session_id, one)
    return out


def _sid(event: dict[str, Any]) -> str | None:
    sid = event.get("session_id")
    return sid if isinstance(sid, str) else None


def _name_in(name: Any, names: frozenset[str]) -> bool:
    return isinstance(name, str) and name in names


def _find_tail(event: dict[str, Any], session_id: str, log_path: Path) -> TranscriptTail | None:
    """The transcript of a hook log's session, or None. The path and the session id come
    from the log (any text): a name the file system refuses (too long, a NUL) is no
    transcript, not an error."""
    path = event.get("transcript_path")
    if isinstance(path, str) and path:
        with contextlib.suppress(TailRefused, OSError, ValueError):
            if os.path.isfile(path):
                return TranscriptTail(path, session_id=session_id)
    name = log_path.name
    if name.endswith(".hooks.jsonl"):
        folder = log_path.with_name(name[: -len(".hooks.jsonl")])
        with contextlib.suppress(TailRefused, OSError, ValueError):
            beside = folder / f"{session_id}.jsonl"
            if beside.is_file():
                return TranscriptTail(beside, session_id=session_id, roots=[folder])
    return None
