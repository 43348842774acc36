#!/usr/bin/env python3
"""Generate ccviz's bundled sample sessions in ``ccviz_kernel/samples/``.

Each sample session is described once, at the bottom of this file, as a script of steps:
prompts, assistant messages with (parallel) tool calls, subagents with their own steps,
permission waits, todo updates, compaction and the session end. The renderer plays the
script on a simulated clock against a small in-memory copy of the project (so ``Read``
shows what earlier ``Edit``s wrote, ``Grep``/``Glob`` find what is there) and writes the
result out twice, with identical content:

* ``<name>.hooks.jsonl``: one Claude Code hook payload per line, as Claude Code would send
  it, plus our own ``"timestamp"`` (ISO-8601 UTC, ms) so a replay knows when it happened;
* ``<name>/<session-id>.jsonl`` with ``<name>/<session-id>/subagents/agent-<id>.jsonl``
  and ``.meta.json`` sidecars: the transcript tree, laid out like one project folder of
  ``~/.claude/projects`` in the 2.1.2xx style (see /work/shared/claude-code-hooks.md §4-5).

All ids, durations and token counts come from ``random.Random`` seeded with the sample
name, so reruns give byte-identical files. Standard library only.

    .venv/bin/python tools/make_samples.py             # rewrite ccviz_kernel/samples/
    .venv/bin/python tools/make_samples.py --out DIR   # write somewhere else
"""

from __future__ import annotations

import argparse
import difflib
import json
import random
import re
import shutil
import string
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLES_DIR = ROOT / "ccviz_kernel" / "samples"

VERSION = "2.1.228"
MODEL = "claude-sonnet-4-5-20250929"
MODEL_ALIAS = "claude-sonnet-4-5"
HAIKU = "claude-haiku-4-5-20251001"
HOME = "/home/dev"
HOOK_COMMAND = "${CLAUDE_PROJECT_DIR}/.claude/hooks/emit-event.sh"
ALNUM = string.ascii_letters + string.digits
TODO_ACK = (
    "Todos have been modified successfully. Ensure that you continue to use the todo list to "
    "track your progress. Please proceed with the current tasks if applicable"
)
COMPACT_PREFIX = (
    "This session is being continued from a previous conversation that ran out of context. "
    "The summary below covers the earlier portion of the conversation.\n\n"
)
# Tools Claude Code runs side by side when one assistant message asks for several.
CONCURRENT = {"Read", "Glob", "Grep", "WebFetch", "WebSearch", "Agent"}
# How long a tool takes, in ms, unless the script says otherwise.
DURATION_MS = {
    "Read": (3, 28),
    "Write": (6, 35),
    "Edit": (8, 45),
    "Glob": (9, 90),
    "Grep": (25, 320),
    "Bash": (300, 2400),
    "WebFetch": (900, 4200),
    "WebSearch": (3000, 7800),
    "TodoWrite": (2, 9),
    "NotebookEdit": (10, 45),
    "AskUserQuestion": (14000, 32000),
    "mcp": (350, 1900),
}
GREP_TYPES = {"ts": (".ts", ".tsx"), "js": (".js", ".mjs"), "json": (".json",), "yaml": (".yml",)}


# --------------------------------------------------------------------------- script model


@dataclass
class Tool:
    """One tool call. Most results are computed from the virtual project when rendered."""

    name: str
    input: dict[str, Any]
    fails: bool = False  # the expected outcome; rendering checks it so scripts stay honest
    out: str = ""  # Bash output, WebFetch result text
    code: int = 0  # Bash exit code, WebFetch HTTP status
    extra: dict[str, Any] = field(default_factory=dict)  # tool-specific result details
    secs: float | None = None  # run time; default from DURATION_MS
    approve_after: float | None = None  # needs approval; the user clicks after N seconds
    agent: Agent | None = None  # for the Agent tool
    id: str = ""  # tool_use id, assigned while rendering


@dataclass
class Msg:
    """One assistant API response: optional thinking and text, then tool calls (a batch)."""

    text: str | None = None
    tools: list[Tool] = field(default_factory=list)
    think: str | None = None


def M(text: str | None = None, *tools: Tool, think: str | None = None) -> Msg:  # noqa: N802
    return Msg(text, list(tools), think)


@dataclass
class Agent:
    """A subagent spawned by an Agent tool call; its last step is its final answer."""

    type: str
    description: str
    prompt: str
    steps: list[Msg]
    model: str = MODEL
    skills: tuple[str, ...] = ()


@dataclass
class Prompt:
    text: str
    gap: float  # seconds since the previous turn ended (or since the session started)


@dataclass
class Compact:
    """Auto-compaction between two model calls of the current turn."""

    summary: str
    pre_tokens: int


@dataclass
class Mode:
    """The user switches permission mode (shift+tab) before the next prompt."""

    mode: str


@dataclass
class End:
    reason: str
    gap: float


@dataclass
class Session:
    name: str
    blurb: str
    cwd: str
    start: str  # "YYYY-MM-DDTHH:MM:SS", UTC
    slug: str
    title: str
    branch: str
    files: dict[str, str]  # the project as it is when the session starts (relative paths)
    steps: list[Prompt | Msg | Compact | Mode | End]


class Kit:
    """Tool-call builders for one project; paths are given relative to the project root."""

    def __init__(self, cwd: str) -> None:
        self.cwd = cwd

    def a(self, rel: str = "") -> str:
        return f"{self.cwd}/{rel}" if rel else self.cwd

    def read(self, rel: str, offset: int | None = None, limit: int | None = None,
             fails: bool = False) -> Tool:
        inp: dict[str, Any] = {"file_path": self.a(rel)}
        if offset is not None:
            inp["offset"] = offset
        if limit is not None:
            inp["limit"] = limit
        return Tool("Read", inp, fails=fails)

    def edit(self, rel: str, old: str, new: str, replace_all: bool = False,
             fails: bool = False) -> Tool:
        inp: dict[str, Any] = {"file_path": self.a(rel), "old_string": old, "new_string": new}
        if replace_all:
            inp["replace_all"] = True
        return Tool("Edit", inp, fails=fails)

    def write(self, rel: str, content: str) -> Tool:
        return Tool("Write", {"file_path": self.a(rel), "content": content})

    def glob(self, pattern: str, under: str | None = None) -> Tool:
        inp = {"pattern": pattern}
        if under is not None:
            inp["path"] = self.a(under)
        return Tool("Glob", inp)

    def grep(self, pattern: str, under: str | None = None, mode: str | None = None,
             **opts: Any) -> Tool:
        inp: dict[str, Any] = {"pattern": pattern}
        if under is not None:
            inp["path"] = self.a(under)
        for key in ("glob", "type"):
            if key in opts:
                inp[key] = opts.pop(key)
        if mode is not None:
            inp["output_mode"] = mode
        for key, value in opts.items():
            inp[{"n": "-n", "i": "-i"}.get(key, key)] = value
        return Tool("Grep", inp)

    def bash(self, command: str, description: str, out: str = "", code: int = 0,
             secs: float | None = None, approve_after: float | None = None,
             **extra: Any) -> Tool:
        inp: dict[str, Any] = {"command": command, "description": description}
        for key in ("timeout", "run_in_background"):
            if key in extra:
                inp[key] = extra.pop(key)
        return Tool("Bash", inp, fails=code != 0, out=out, code=code, secs=secs,
                    approve_after=approve_after, extra=extra)

    def fetch(self, url: str, prompt: str, result: str = "", code: int = 200,
              secs: float | None = None) -> Tool:
        return Tool("WebFetch", {"url": url, "prompt": prompt}, fails=code != 200, out=result,
                    code=code, secs=secs)

    def search(self, query: str, links: list[tuple[str, str]], summary: str) -> Tool:
        return Tool("WebSearch", {"query": query}, extra={"links": links, "summary": summary})

    def todo(self, *items: tuple[str, str, str]) -> Tool:
        """items: (status, content, activeForm); status is "x" done, ">" doing, " " pending."""
        status = {"x": "completed", ">": "in_progress", " ": "pending"}
        todos = [{"content": c, "status": status[s], "activeForm": f} for s, c, f in items]
        return Tool("TodoWrite", {"todos": todos})

    def agent(self, agent_type: str, description: str, prompt: str, steps: list[Msg],
              model: str = MODEL, skills: tuple[str, ...] = ()) -> Tool:
        inp = {"description": description, "prompt": prompt, "subagent_type": agent_type,
               "run_in_background": False}
        return Tool("Agent", inp, agent=Agent(agent_type, description, prompt, steps, model,
                                              skills))

    def mcp(self, name: str, inp: dict[str, Any], result: Any = None, text: str | None = None,
            secs: float | None = None) -> Tool:
        extra = {"text": text} if text is not None else {"result": result}
        return Tool(name, inp, extra=extra, secs=secs)

    def notebook(self, rel: str, cell_id: str, source: str, cell_type: str = "code",
                 edit_mode: str = "replace", new_id: str = "") -> Tool:
        inp = {"notebook_path": self.a(rel), "cell_id": cell_id, "new_source": source,
               "cell_type": cell_type, "edit_mode": edit_mode}
        return Tool("NotebookEdit", inp, extra={"new_id": new_id})

    def ask(self, question: str, header: str, options: list[tuple[str, str]],
            answer: str) -> Tool:
        q = {"question": question, "header": header,
             "options": [{"label": label, "description": d} for label, d in options],
             "multiSelect": False}
        return Tool("AskUserQuestion", {"questions": [q]}, extra={"answers": {question: answer}})


# --------------------------------------------------------------------------- rendering


class ScriptError(Exception):
    """The script asks for something the virtual project cannot give (a bug in a sample)."""


@dataclass
class Outcome:
    ok: bool
    response: Any  # structured result: PostToolUse.tool_response == transcript toolUseResult
    content: Any  # what the model sees: tool_result content == PostToolBatch tool_response
    error: str = ""  # PostToolUseFailure.error


@dataclass
class Lane:
    """One agent (the main session or a subagent): its transcript file and running state."""

    file: str
    depth: int = 0
    agent_id: str | None = None
    agent_type: str | None = None
    model: str = MODEL
    leaf: str | None = None  # uuid of the last chain line
    todos: list[dict[str, Any]] = field(default_factory=list)
    read: set[str] = field(default_factory=set)  # files this agent has read (Edit needs it)
    cached: int = 0  # prompt tokens already in the cache
    pending: int = 0  # tokens added since the last model call
    last_usage: dict[str, Any] = field(default_factory=dict)
    tool_count: int = 0
    stats: Counter[str] = field(default_factory=Counter)


def _tokens(obj: Any) -> int:
    return max(4, len(json.dumps(obj, ensure_ascii=False)) // 4)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _epoch_ms(stamp: str) -> int:
    when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return int(when.timestamp()) * 1000


def iso(ms: int) -> str:
    when = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def glob_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "{":
            j = pattern.index("}", i)
            out.append("(?:" + "|".join(re.escape(a) for a in pattern[i + 1:j].split(",")) + ")")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def structured_patch(old: str, new: str) -> list[dict[str, Any]]:
    a, b = old.splitlines(), new.splitlines()
    hunks = []
    for group in difflib.SequenceMatcher(None, a, b).get_grouped_opcodes(3):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        lines: list[str] = []
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                lines += [" " + x for x in a[a1:a2]]
                continue
            if tag in ("replace", "delete"):
                lines += ["-" + x for x in a[a1:a2]]
            if tag in ("replace", "insert"):
                lines += ["+" + x for x in b[b1:b2]]
        hunks.append({"oldStart": i1 + 1, "oldLines": i2 - i1, "newStart": j1 + 1,
                      "newLines": j2 - j1, "lines": lines})
    return hunks


class Renderer:
    """Plays one Session script and collects its hook events and transcript lines."""

    def __init__(self, session: Session) -> None:
        self.s = session
        self.rng = random.Random(f"ccviz-samples/{session.name}")
        self.sid = self.uuid()
        self.project = re.sub(r"[^A-Za-z0-9]", "-", session.cwd)
        self.transcript_path = f"{HOME}/.claude/projects/{self.project}/{self.sid}.jsonl"
        self.vfs = dict(session.files)
        self.branch = session.branch
        self.committed: dict[str, str] = {}  # the files as of the last commit
        self.committed = self.tracked()
        self.mode = "default"
        self.prompt_id: str | None = None
        self.prompt_uuid = ""
        self.last_prompt = ""
        self.titled = False
        self.idle_since: int | None = None
        self.backups: dict[str, dict[str, Any]] = {}  # file-history-snapshot entries
        self.touched: set[str] = set()  # files edited during the current prompt
        self.hooks: list[tuple[int, int, dict[str, Any]]] = []
        self.files: dict[str, list[dict[str, Any]]] = {}
        self.metas: dict[str, dict[str, Any]] = {}
        self.main = Lane(file=f"{self.sid}.jsonl")
        # the system prompt and tool list: mostly cached already, the rest written on call 1
        self.main.cached, self.main.pending = self.ms(12_000, 14_500), self.ms(2500, 4000)
        self.files[self.main.file] = []
        self.end_ms = 0

    # ---- small helpers

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def alnum(self, n: int) -> str:
        return "".join(self.rng.choice(ALNUM) for _ in range(n))

    def hex(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def ms(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def rel(self, path: str) -> str:
        prefix = self.s.cwd + "/"
        if not path.startswith(prefix):
            raise ScriptError(f"path outside the project: {path}")
        return path[len(prefix):]

    def emit(self, t: int, payload: dict[str, Any]) -> None:
        payload["timestamp"] = iso(t)
        self.hooks.append((t, len(self.hooks), payload))

    def hook(self, lane: Lane | None, event: str, *, mode: bool = True, effort: bool = False,
             prompt: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {"session_id": self.sid}
        if prompt and self.prompt_id:
            d["prompt_id"] = self.prompt_id
        d["transcript_path"] = self.transcript_path
        d["cwd"] = self.s.cwd
        if mode:
            d["permission_mode"] = self.mode
        if effort:
            d["effort"] = {"level": "high"}
        d["hook_event_name"] = event
        if lane is not None and lane.agent_id:
            d["agent_id"] = lane.agent_id
            d["agent_type"] = lane.agent_type
        return d

    def head(self, lane: Lane, prompt: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {"parentUuid": lane.leaf, "isSidechain": lane.agent_id is not None}
        if prompt:
            d["promptId"] = self.prompt_id
        if lane.agent_id:
            d["agentId"] = lane.agent_id
        return d

    def tail(self) -> dict[str, Any]:
        return {"userType": "external", "entrypoint": "cli", "cwd": self.s.cwd,
                "sessionId": self.sid, "version": VERSION, "gitBranch": self.branch,
                "slug": self.s.slug}

    def add(self, lane: Lane, line: dict[str, Any]) -> dict[str, Any]:
        self.files[lane.file].append(line)
        if "uuid" in line:
            lane.leaf = line["uuid"]
        return line

    # ---- the session

    def render(self) -> Renderer:
        t = _epoch_ms(self.s.start)
        self.emit(t, {**self.hook(None, "SessionStart", mode=False), "source": "startup",
                      "model": MODEL_ALIAS})
        self.add(self.main, {"type": "permission-mode", "permissionMode": self.mode,
                             "sessionId": self.sid})
        for step in self.s.steps:
            if isinstance(step, Prompt):
                t = self.prompt(step, t)
            elif isinstance(step, Msg):
                t = self.message(self.main, step, t)
            elif isinstance(step, Compact):
                t = self.compact(step, t)
            elif isinstance(step, Mode):
                self.mode = step.mode
                self.add(self.main, {"type": "permission-mode", "permissionMode": step.mode,
                                     "sessionId": self.sid})
            else:
                t = self.end(step, t)
        return self

    def idle(self, until: int) -> None:
        """Claude Code nags after 60 s without input once a turn has ended."""
        if self.idle_since is not None and until - self.idle_since > 61_000:
            self.emit(self.idle_since + 60_000 + self.ms(0, 900),
                      {**self.hook(None, "Notification", mode=False),
                       "message": "Claude is waiting for your input",
                       "notification_type": "idle_prompt"})
        self.idle_since = None

    def prompt(self, p: Prompt, t: int) -> int:
        t += int(p.gap * 1000)
        self.idle(t)
        self.prompt_id, self.prompt_uuid = self.uuid(), self.uuid()
        self.last_prompt = p.text
        self.touched = set()
        self.add(self.main, self.snapshot(t, update=False))
        self.add(self.main, {**self.head(self.main, prompt=True), "type": "user",
                             "message": {"role": "user", "content": p.text},
                             "uuid": self.prompt_uuid, "timestamp": iso(t),
                             "origin": {"kind": "human"}, **self.tail()})
        self.emit(t + self.ms(1, 9), {**self.hook(None, "UserPromptSubmit"), "prompt": p.text})
        t += self.ms(15, 60)
        self.add(self.main, {**self.head(self.main), "type": "attachment",
                             "attachment": {"type": "hook_success",
                                            "hookName": "UserPromptSubmit",
                                            "hookEvent": "UserPromptSubmit", "content": "",
                                            "exitCode": 0},
                             "uuid": self.uuid(), "timestamp": iso(t), **self.tail()})
        if not self.titled:
            self.titled = True
            self.add(self.main, {"type": "ai-title", "aiTitle": self.s.title,
                                 "sessionId": self.sid})
        self.main.pending += _tokens(p.text) + 40
        return t

    def snapshot(self, t: int, update: bool) -> dict[str, Any]:
        return {"type": "file-history-snapshot", "messageId": self.prompt_uuid,
                "snapshot": {"messageId": self.prompt_uuid,
                             "trackedFileBackups": dict(sorted(self.backups.items())),
                             "timestamp": iso(t)},
                "isSnapshotUpdate": update}

    def track(self, rel: str, created: bool, t: int) -> None:
        """Checkpointing: back a file up the first time a prompt's turn changes it."""
        if rel in self.touched:
            return
        self.touched.add(rel)
        version = self.backups[rel]["version"] + 1 if rel in self.backups else 1
        name = None if created else f"{self.hex(16)}@v{version}"
        self.backups[rel] = {"backupFileName": name, "version": version, "backupTime": iso(t)}
        self.add(self.main, self.snapshot(t, update=True))

    def end(self, e: End, t: int) -> int:
        t += int(e.gap * 1000)
        self.idle(t)
        self.emit(t, {**self.hook(None, "SessionEnd", mode=False), "reason": e.reason})
        self.add(self.main, {"type": "last-prompt", "lastPrompt": self.last_prompt,
                             "sessionId": self.sid})
        self.end_ms = t
        return t

    def compact(self, c: Compact, t: int) -> int:
        lane = self.main
        t += self.ms(200, 900)
        self.emit(t, {**self.hook(None, "PreCompact"), "trigger": "auto",
                      "custom_instructions": ""})
        t += self.ms(16_000, 29_000)
        boundary = self.uuid()
        self.add(lane, {"parentUuid": None, "logicalParentUuid": lane.leaf,
                        "isSidechain": False, "userType": "external", "cwd": self.s.cwd,
                        "sessionId": self.sid, "version": VERSION, "gitBranch": self.branch,
                        "slug": self.s.slug, "type": "system", "subtype": "compact_boundary",
                        "content": "Conversation compacted", "isMeta": False,
                        "timestamp": iso(t), "uuid": boundary, "level": "info",
                        "compactMetadata": {"trigger": "auto", "preTokens": c.pre_tokens}})
        t += self.ms(5, 30)
        self.add(lane, {**self.head(lane, prompt=True), "type": "user",
                        "message": {"role": "user", "content": COMPACT_PREFIX + c.summary},
                        "isVisibleInTranscriptOnly": True, "isCompactSummary": True,
                        "uuid": self.uuid(), "timestamp": iso(t), **self.tail()})
        self.emit(t + self.ms(3, 20), {**self.hook(None, "PostCompact"), "trigger": "auto",
                                       "compact_summary": c.summary})
        t += self.ms(25, 60)
        self.emit(t, {**self.hook(None, "SessionStart", mode=False), "source": "compact",
                      "model": MODEL_ALIAS})
        lane.cached, lane.pending = 0, 15_800 + _tokens(c.summary)
        return t

    # ---- one assistant message and its tool batch

    def message(self, lane: Lane, msg: Msg, t: int) -> int:
        final = not msg.tools
        t += self.ms(1200, 4200) + (self.ms(1500, 4000) if msg.think else 0)
        msg_id, req_id = "msg_01" + self.alnum(22), "req_011C" + self.alnum(18)
        blocks: list[dict[str, Any]] = []
        if msg.think:
            sig = self.alnum(180) + "=="
            blocks.append({"type": "thinking", "thinking": msg.think, "signature": sig})
        if msg.text:
            blocks.append({"type": "text", "text": msg.text})
        for tool in msg.tools:
            tool.id = "toolu_01" + self.alnum(22)
            blocks.append({"type": "tool_use", "id": tool.id, "name": tool.name,
                           "input": tool.input, "caller": {"type": "direct"}})
        if not blocks:
            raise ScriptError("empty assistant message")
        usage = {"input_tokens": self.ms(1, 6), "cache_creation_input_tokens": lane.pending,
                 "cache_read_input_tokens": lane.cached,
                 "cache_creation": {"ephemeral_5m_input_tokens": 0,
                                    "ephemeral_1h_input_tokens": lane.pending},
                 "output_tokens": 0, "service_tier": "standard"}
        lane.cached += lane.pending + usage["input_tokens"]
        tool_times, tool_lines = [], []
        for i, block in enumerate(blocks):
            t += min(7_500, 80 + _tokens(block) * self.ms(8, 14))  # streaming the block
            usage = {**usage, "output_tokens": usage["output_tokens"] + _tokens(block)}
            if block["type"] == "tool_use":
                stop = "tool_use"
            else:
                stop = "end_turn" if final and i == len(blocks) - 1 else None
            line = self.add(lane, {
                **self.head(lane),
                "message": {"model": lane.model, "id": msg_id, "type": "message",
                            "role": "assistant", "content": [block], "stop_reason": stop,
                            "stop_sequence": None, "usage": usage},
                "requestId": req_id, "type": "assistant", "uuid": self.uuid(),
                "timestamp": iso(t), **self.tail()})
            if block["type"] == "tool_use":
                tool_times.append(t)
                tool_lines.append(line["uuid"])
        lane.pending = usage["output_tokens"]
        lane.last_usage = usage
        if not final:
            return self.batch(lane, msg.tools, tool_times, tool_lines)
        if lane is self.main:
            t += self.ms(30, 140)
            self.emit(t, {**self.hook(None, "Stop", effort=True), "stop_hook_active": False,
                          "last_assistant_message": msg.text, "background_tasks": [],
                          "session_crons": []})
            t += self.ms(80, 260)
            self.add(lane, {**self.head(lane), "type": "system",
                            "subtype": "stop_hook_summary", "hookCount": 1,
                            "hookInfos": [{"command": HOOK_COMMAND}], "hookErrors": [],
                            "preventedContinuation": False, "stopReason": "",
                            "hasOutput": False, "level": "suggestion", "uuid": self.uuid(),
                            "timestamp": iso(t), **self.tail()})
            self.idle_since = t
        return t

    def batch(self, lane: Lane, tools: list[Tool], times: list[int], lines: list[str]) -> int:
        concurrent = all(tool.name in CONCURRENT for tool in tools)
        done: list[tuple[int, int, Tool, Outcome, int]] = []
        prev_end = 0
        t0 = max(times)  # tools start once the whole message has streamed
        for i, tool in enumerate(tools):
            if i and not concurrent:
                t0 = prev_end + self.ms(10, 60)
            else:
                t0 += self.ms(8, 40)
            self.emit(t0, {**self.hook(lane, "PreToolUse", effort=True), "tool_name": tool.name,
                           "tool_input": tool.input, "tool_use_id": tool.id})
            start = t0 + self.ms(2, 15)
            if tool.approve_after is not None:
                if tool.approve_after < 7:
                    raise ScriptError("permission waits last at least 7 s (Notification at 6 s)")
                self.emit(t0 + self.ms(6, 20),
                          {**self.hook(lane, "PermissionRequest"), "tool_name": tool.name,
                           "tool_input": tool.input,
                           "permission_suggestions": self.suggestions(tool)})
                self.emit(t0 + 6000 + self.ms(10, 400),
                          {**self.hook(lane, "Notification", mode=False),
                           "message": f"Claude needs your permission to use {tool.name}",
                           "title": "Permission needed", "notification_type": "permission_prompt"})
                start = t0 + int(tool.approve_after * 1000)
            if tool.agent is not None:
                end, out = self.subagent(lane, tool, start)
            else:
                kind = "mcp" if tool.name.startswith("mcp__") else tool.name
                lo, hi = DURATION_MS[kind]
                run = int(tool.secs * 1000) + self.ms(0, 99) if tool.secs else self.ms(lo, hi)
                out = self.resolve(lane, tool, run)
                end = start + run
            if out.ok == tool.fails:
                raise ScriptError(f"{tool.name} {tool.input}: expected fails={tool.fails}, "
                                  f"got {out.error or 'success'}")
            self.count(lane, tool, out)
            done.append((end, i, tool, out, end - start))
            prev_end = end
        for end, i, tool, out, run in sorted(done, key=lambda d: (d[0], d[1])):
            self.result_line(lane, tool, out, end, lines[i])
            post = {**self.hook(lane, "PostToolUse" if out.ok else "PostToolUseFailure",
                                effort=True),
                    "tool_name": tool.name, "tool_input": tool.input}
            if out.ok:
                post["tool_response"] = out.response
                post["tool_use_id"] = tool.id
            else:
                post.update({"tool_use_id": tool.id, "error": out.error, "is_interrupt": False})
            post["duration_ms"] = run
            self.emit(end + self.ms(2, 12), post)
        t = max(d[0] for d in done) + self.ms(20, 90)
        calls = [{"tool_name": tool.name, "tool_input": tool.input, "tool_use_id": tool.id,
                  "tool_response": out.content} for _, _, tool, out, _ in
                 sorted(done, key=lambda d: d[1])]
        self.emit(t, {**self.hook(lane, "PostToolBatch"), "tool_calls": calls})
        return t

    def suggestions(self, tool: Tool) -> list[dict[str, Any]]:
        words = tool.input.get("command", "").split()
        rule = " ".join(words[:2]) + ":*" if words else tool.name
        if words and words[0] == "export":
            rule = "curl:*"
        return [{"type": "addRules", "rules": [{"toolName": tool.name, "ruleContent": rule}],
                 "behavior": "allow", "destination": "localSettings"}]

    def result_line(self, lane: Lane, tool: Tool, out: Outcome, t: int, source: str) -> None:
        if out.ok:
            block: dict[str, Any] = {"tool_use_id": tool.id, "type": "tool_result",
                                     "content": out.content}
            if tool.name == "Bash":
                block["is_error"] = False
            result = out.response
        else:
            block = {"type": "tool_result", "content": out.content, "is_error": True,
                     "tool_use_id": tool.id}
            result = "Error: " + out.error
        if lane is self.main and out.ok and tool.name in ("Edit", "Write", "NotebookEdit"):
            path = tool.input.get("file_path") or tool.input["notebook_path"]
            self.track(self.rel(path), created=result.get("type") == "create", t=t - 1)
        self.add(lane, {**self.head(lane, prompt=True), "type": "user",
                        "message": {"role": "user", "content": [block]}, "uuid": self.uuid(),
                        "timestamp": iso(t), "toolUseResult": result,
                        "sourceToolAssistantUUID": source, **self.tail()})
        lane.pending += _tokens(block) + 8

    def count(self, lane: Lane, tool: Tool, out: Outcome) -> None:
        lane.tool_count += 1
        kind = {"Read": "readCount", "Grep": "searchCount", "Glob": "searchCount",
                "Bash": "bashCount", "Edit": "editFileCount", "Write": "editFileCount",
                "NotebookEdit": "editFileCount"}.get(tool.name, "otherToolCount")
        lane.stats[kind] += 1
        if out.ok and isinstance(out.response, dict):
            patch = out.response.get("structuredPatch") or []
            for hunk in patch:
                lane.stats["linesAdded"] += sum(1 for x in hunk["lines"] if x.startswith("+"))
                lane.stats["linesRemoved"] += sum(1 for x in hunk["lines"] if x.startswith("-"))
            if out.response.get("type") == "create":
                lane.stats["linesAdded"] += len(out.response["content"].splitlines())

    # ---- subagents

    def subagent(self, parent: Lane, tool: Tool, t: int) -> tuple[int, Outcome]:
        spec = tool.agent
        assert spec is not None
        aid = "a" + self.hex(16)
        child = Lane(file=f"{self.sid}/subagents/agent-{aid}.jsonl", depth=parent.depth + 1,
                     agent_id=aid, agent_type=spec.type, model=spec.model)
        self.files[child.file] = []
        meta: dict[str, Any] = {"agentType": spec.type, "description": spec.description,
                                "toolUseId": tool.id, "spawnDepth": child.depth}
        if parent.agent_id:
            meta["parentAgentId"] = parent.agent_id
        self.metas[f"{self.sid}/subagents/agent-{aid}.meta.json"] = meta
        start = t
        self.emit(t, self.hook(child, "SubagentStart", mode=False))
        t += self.ms(4, 30)
        self.add(child, {**self.head(child, prompt=True), "type": "user",
                         "message": {"role": "user", "content": spec.prompt},
                         "uuid": self.uuid(), "timestamp": iso(t), **self.tail()})
        if spec.skills:
            t += self.ms(5, 20)
            self.add(child, {**self.head(child, prompt=True), "type": "attachment",
                             "attachment": {"type": "skill_listing", "skills": list(spec.skills)},
                             "uuid": self.uuid(), "timestamp": iso(t), **self.tail()})
        child.cached = self.ms(3800, 5200)
        child.pending = _tokens(spec.prompt) + self.ms(900, 1400)
        for k, msg in enumerate(spec.steps):
            if (k == len(spec.steps) - 1) != (not msg.tools):
                raise ScriptError(f"{spec.description}: only the last step may lack tools")
            t = self.message(child, msg, t)
        final = spec.steps[-1].text or ""
        t += self.ms(25, 110)
        self.emit(t, {**self.hook(child, "SubagentStop", effort=True), "stop_hook_active": False,
                      "agent_transcript_path": f"{HOME}/.claude/projects/{self.project}/"
                                               f"{child.file}",
                      "last_assistant_message": final, "background_tasks": [],
                      "session_crons": []})
        end = t + self.ms(20, 90)
        u = child.last_usage
        usage = {k: u[k] for k in ("input_tokens", "output_tokens",
                                   "cache_creation_input_tokens", "cache_read_input_tokens")}
        total = sum(usage.values())
        stats = {k: child.stats[k] for k in ("readCount", "searchCount", "bashCount",
                                             "editFileCount", "linesAdded", "linesRemoved",
                                             "otherToolCount")}
        response = {"status": "completed", "prompt": spec.prompt, "agentId": aid,
                    "agentType": spec.type, "content": [{"type": "text", "text": final}],
                    "resolvedModel": spec.model, "totalDurationMs": end - start,
                    "totalTokens": total, "totalToolUseCount": child.tool_count,
                    "usage": usage, "toolStats": stats}
        note = (f"agentId: {aid} (use SendMessage with to: '{aid}' to continue this agent)\n"
                f"<usage>subagent_tokens: {total}\ntool_uses: {child.tool_count}\n"
                f"duration_ms: {end - start}</usage>")
        content = [{"type": "text", "text": final}, {"type": "text", "text": note}]
        return end, Outcome(True, response, content)

    # ---- tool results, computed against the virtual project

    def resolve(self, lane: Lane, tool: Tool, run: int) -> Outcome:
        if "error" in tool.extra:
            return self.fail(tool.extra["error"])
        if tool.name.startswith("mcp__"):
            return self.t_mcp(lane, tool, run)
        handler: Callable[[Lane, Tool, int], Outcome] = getattr(self, "t_" + tool.name)
        return handler(lane, tool, run)

    @staticmethod
    def fail(msg: str, wrap: bool = True) -> Outcome:
        content = f"<tool_use_error>{msg}</tool_use_error>" if wrap else msg
        return Outcome(False, None, content, msg)

    def t_Read(self, lane: Lane, tool: Tool, run: int) -> Outcome:  # noqa: N802
        path = tool.input["file_path"]
        rel = self.rel(path)
        if rel not in self.vfs:
            return self.fail("File does not exist. Note: your current working directory is "
                             f"{self.s.cwd}.")
        lane.read.add(rel)
        text = self.vfs[rel]
        if rel.endswith(".ipynb"):
            cells = json.loads(text)["cells"]
            listed, shown = [], []
            for c in cells:
                src = "".join(c["source"])
                entry = {"cellType": c["cell_type"], "source": src, "cell_id": c["id"]}
                if c["cell_type"] == "code":
                    entry["language"] = "python"
                listed.append(entry)
                kind = "" if c["cell_type"] == "code" else "<cell_type>markdown</cell_type>"
                shown.append(f'<cell id="{c["id"]}">{kind}{src}</cell id="{c["id"]}">')
            return Outcome(True, {"type": "notebook", "file": {"filePath": path,
                                                               "cells": listed}},
                           "\n".join(shown))
        lines = text.splitlines()
        offset = tool.input.get("offset", 1)
        chunk = lines[offset - 1:offset - 1 + tool.input.get("limit", 2000)]
        body = text if len(chunk) == len(lines) else "\n".join(chunk) + "\n"
        listing = "".join(f"{offset + n:>6}→{line}\n" for n, line in enumerate(chunk))
        return Outcome(True, {"type": "text", "file": {"filePath": path, "content": body,
                                                       "numLines": len(chunk),
                                                       "startLine": offset,
                                                       "totalLines": len(lines)}}, listing)

    def t_Edit(self, lane: Lane, tool: Tool, run: int) -> Outcome:  # noqa: N802
        path = tool.input["file_path"]
        rel = self.rel(path)
        if rel not in self.vfs:
            return self.fail("File does not exist.")
        if rel not in lane.read:
            return self.fail("File has not been read yet. Read it first before writing to it.")
        old, new = tool.input["old_string"], tool.input["new_string"]
        replace_all = tool.input.get("replace_all", False)
        text = self.vfs[rel]
        count = text.count(old)
        if count == 0:
            return self.fail(f"String to replace not found in file.\nString: {old}")
        if count > 1 and not replace_all:
            return self.fail(f"Found {count} matches of the string to replace, but replace_all "
                             "is false. To replace all occurrences, set replace_all to true. To "
                             "replace only one occurrence, please provide more context to "
                             f"uniquely identify the instance.\nString: {old}")
        updated = text.replace(old, new) if replace_all else text.replace(old, new, 1)
        self.vfs[rel] = updated
        return Outcome(True, {"filePath": path, "oldString": old, "newString": new,
                              "originalFile": text,
                              "structuredPatch": structured_patch(text, updated),
                              "userModified": False, "replaceAll": replace_all},
                       f"The file {path} has been updated successfully.")

    def t_Write(self, lane: Lane, tool: Tool, run: int) -> Outcome:  # noqa: N802
        path, content = tool.input["file_path"], tool.input["content"]
        rel = self.rel(path)
        original = self.vfs.get(rel)
        if original is not None and rel not in lane.read:
            return self.fail("File has not been read yet. Read it first before writing to it.")
        self.vfs[rel] = content
        lane.read.add(rel)
        if original is None:
            return Outcome(True, {"type": "create", "filePath": path, "content": content,
                                  "structuredPatch": [], "originalFile": None},
                           f"File created successfully at: {path}")
        return Outcome(True, {"type": "update", "filePath": path, "content": content,
                              "structuredPatch": structured_patch(original, content),
                              "originalFile": original},
                       f"The file {path} has been updated successfully.")

    def paths_under(self, base: str) -> list[tuple[str, str]]:
        """(absolute path, path relative to base) of every project file under base."""
        out = []
        for rel in sorted(self.vfs):
            path = f"{self.s.cwd}/{rel}"
            if path == base:
                out.append((path, path.rsplit("/", 1)[-1]))
            elif path.startswith(base.rstrip("/") + "/"):
                out.append((path, path[len(base.rstrip("/")) + 1:]))
        return out

    def t_Glob(self, lane: Lane, tool: Tool, run: int) -> Outcome:  # noqa: N802
        rx = glob_regex(tool.input["pattern"])
        base = tool.input.get("path", self.s.cwd)
        found = [path for path, sub in self.paths_under(base) if rx.match(sub)]
        return Outcome(True, {"filenames": found, "durationMs": run, "numFiles": len(found),
                              "truncated": False}, "\n".join(found) or "No files found")

    def t_Grep(self, lane: Lane, tool: Tool, run: int) -> Outcome:  # noqa: N802
        inp = tool.input
        rx = re.compile(inp["pattern"], re.IGNORECASE if inp.get("-i") else 0)
        mode = inp.get("output_mode", "files_with_matches")
        grx = glob_regex(inp["glob"]) if "glob" in inp else None
        exts = GREP_TYPES[inp["type"]] if "type" in inp else None
        files, rows, counts = [], [], []
        for path, sub in self.paths_under(inp.get("path", self.s.cwd)):
            name = sub if grx is not None and "/" in inp["glob"] else sub.rsplit("/", 1)[-1]
            if grx is not None and not grx.match(name):
                continue
            if exts is not None and not path.endswith(exts):
                continue
            hits = [(n, line) for n, line in enumerate(self.vfs[self.rel(path)].splitlines(), 1)
                    if rx.search(line)]
            if not hits:
                continue
            files.append(path)
            counts.append(f"{path}:{len(hits)}")
            for n, line in hits:
                rows.append(f"{path}:{n}:{line}" if inp.get("-n") else f"{path}:{line}")
        if "head_limit" in inp:
            rows = rows[:inp["head_limit"]]
        if mode == "content":
            text = "\n".join(rows)
            return Outcome(True, {"mode": "content", "numFiles": 0, "filenames": [],
                                  "content": text, "numLines": len(rows)},
                           text or "No matches found")
        if mode == "count":
            total = sum(int(c.rsplit(":", 1)[1]) for c in counts)
            text = "\n".join(counts)
            return Outcome(True, {"mode": "count", "numFiles": len(files), "filenames": [],
                                  "content": text, "numMatches": total},
                           f"{text}\n\nFound {total} total occurrences across {len(files)} "
                           "files." if files else "No matches found")
        head = f"Found {len(files)} file{'s' if len(files) != 1 else ''}\n"
        return Outcome(True, {"mode": "files_with_matches", "filenames": files,
                              "numFiles": len(files)},
                       head + "\n".join(files) if files else "No files found")

    def t_Bash(self, lane: Lane, tool: Tool, run: int) -> Outcome:  # noqa: N802
        if tool.code:
            return self.fail(f"Exit code {tool.code}\n{tool.out}".rstrip("\n"), wrap=False)
        if "branch" in tool.extra:
            self.branch = tool.extra["branch"]
        out = self.git(tool.extra) + tool.out if "git" in tool.extra else tool.out
        response: dict[str, Any] = {"stdout": out.rstrip("\n"), "stderr": "",
                                    "interrupted": False, "isImage": False}
        content = out.rstrip("\n") or "(Bash completed with no output)"
        if "background" in tool.extra:
            task = tool.extra["background"]
            response["backgroundTaskId"] = task
            content = (f"Command running in background with ID: {task}. Output is being "
                       f"written to: /tmp/claude-1000/{self.project}/tasks/{task}.output")
        return Outcome(True, response, content)

    # ---- git, simulated against the committed state of the virtual project

    def tracked(self) -> dict[str, str]:
        ignored = [line.rstrip("/") for line in self.vfs.get(".gitignore", "").splitlines()
                   if line and not line.startswith("#")]
        return {rel: text for rel, text in self.vfs.items()
                if not any(rel == i or rel.startswith(i + "/") for i in ignored)}

    def changes(self) -> list[tuple[str, str | None, str | None]]:
        now = self.tracked()
        names = sorted(set(self.committed) | set(now))
        return [(rel, self.committed.get(rel), now.get(rel)) for rel in names
                if self.committed.get(rel) != now.get(rel)]

    @staticmethod
    def plus_minus(old: str | None, new: str | None) -> tuple[int, int]:
        added = removed = 0
        for line in difflib.unified_diff((old or "").splitlines(), (new or "").splitlines(),
                                         lineterm="", n=0):
            if line.startswith(("+++", "---")):
                continue
            added += line.startswith("+")
            removed += line.startswith("-")
        return added, removed

    def git(self, extra: dict[str, Any]) -> str:
        what = extra["git"]
        changes = self.changes()
        if what == "status":
            rows = []
            for rel, old, new in changes:
                if old is None:
                    parts = rel.split("/")
                    for depth in range(1, len(parts)):
                        folder = "/".join(parts[:depth]) + "/"
                        if not any(h.startswith(folder) for h in self.committed):
                            rel = folder
                            break
                rows.append(("?? " if old is None else " D " if new is None else " M ") + rel)
            return "\n".join(dict.fromkeys(rows)) + "\n"
        if what == "diffstat":
            counts = [(rel, *self.plus_minus(old, new)) for rel, old, new in changes
                      if old is not None]
            width = max(len(rel) for rel, _, _ in counts)
            rows = [f" {rel:<{width}} | {a + r:>3} {'+' * a}{'-' * r}" for rel, a, r in counts]
            added, removed = sum(c[1] for c in counts), sum(c[2] for c in counts)
            rows.append(f" {len(counts)} files changed, {added} insertions(+), "
                        f"{removed} deletions(-)")
            return "\n".join(rows) + "\n"
        if what == "diff":
            out = []
            for rel, old, new in changes:
                if old is None or rel not in extra["paths"]:
                    continue
                out.append(f"diff --git a/{rel} b/{rel}\nindex {self.hex(7)}..{self.hex(7)} "
                           "100644")
                out += list(difflib.unified_diff(old.splitlines(), (new or "").splitlines(),
                                                 f"a/{rel}", f"b/{rel}", lineterm=""))
            return "\n".join(out) + "\n"
        # commit everything that `git add -A` would pick up
        added = removed = 0
        created = []
        for rel, old, new in changes:
            a, r = self.plus_minus(old, new)
            added, removed = added + a, removed + r
            if old is None:
                created.append(f" create mode 100644 {rel}")
        self.committed = self.tracked()
        files = f"{len(changes)} file{'s' if len(changes) != 1 else ''} changed"
        return "\n".join([f"[{self.branch} {extra.get('sha') or self.hex(7)}] {what}",
                          f" {files}, {added} insertions(+), {removed} deletions(-)",
                          *created]) + "\n"

    def t_WebFetch(self, lane: Lane, tool: Tool, run: int) -> Outcome:  # noqa: N802
        if tool.code != 200:
            return self.fail(f"Request failed with status code {tool.code}", wrap=False)
        page = len(tool.out.encode()) * 11 + self.ms(2000, 40000)
        return Outcome(True, {"bytes": page, "code": 200, "codeText": "OK",
                              "result": tool.out, "durationMs": run,
                              "url": tool.input["url"]}, tool.out)

    def t_WebSearch(self, lane: Lane, tool: Tool, run: int) -> Outcome:  # noqa: N802
        links = [{"title": title, "url": url} for title, url in tool.extra["links"]]
        summary = tool.extra["summary"]
        query = tool.input["query"]
        results = [{"tool_use_id": "srvtoolu_01" + self.alnum(22), "content": links}, summary]
        text = (f'Web search results for query: "{query}"\n\nLinks: '
                f"{json.dumps(links, ensure_ascii=False)}\n\n{summary}")
        return Outcome(True, {"query": query, "results": results,
                              "durationSeconds": round(run / 1000, 3)}, text)

    def t_TodoWrite(self, lane: Lane, tool: Tool, run: int) -> Outcome:  # noqa: N802
        old, lane.todos = lane.todos, tool.input["todos"]
        return Outcome(True, {"oldTodos": old, "newTodos": lane.todos}, TODO_ACK)

    def t_NotebookEdit(self, lane: Lane, tool: Tool, run: int) -> Outcome:  # noqa: N802
        inp = tool.input
        rel = self.rel(inp["notebook_path"])
        if rel not in lane.read:
            return self.fail("File has not been read yet. Read it first before writing to it.")
        nb = json.loads(self.vfs[rel])
        ids = [c["id"] for c in nb["cells"]]
        if inp["cell_id"] not in ids:
            return self.fail(f"Cell with ID \"{inp['cell_id']}\" not found in notebook.")
        source = inp["new_source"].splitlines(keepends=True)
        at = ids.index(inp["cell_id"])
        cell_id = inp["cell_id"]
        if inp["edit_mode"] == "insert":
            cell_id = tool.extra["new_id"]
            cell: dict[str, Any] = {"cell_type": inp["cell_type"], "id": cell_id,
                                    "metadata": {}, "source": source}
            if inp["cell_type"] == "code":
                cell.update(execution_count=None, outputs=[])
            nb["cells"].insert(at + 1, cell)
            said = f"Inserted cell {cell_id} with {inp['new_source']}"
        else:
            nb["cells"][at]["source"] = source
            said = f"Updated cell {cell_id} with {inp['new_source']}"
        self.vfs[rel] = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        return Outcome(True, {"new_source": inp["new_source"], "cell_id": cell_id,
                              "cell_type": inp["cell_type"], "language": "python",
                              "edit_mode": inp["edit_mode"], "error": ""}, said)

    def t_AskUserQuestion(self, lane: Lane, tool: Tool, run: int) -> Outcome:  # noqa: N802
        answers = tool.extra["answers"]
        said = ", ".join(f'"{q}"="{a}"' for q, a in answers.items())
        return Outcome(True, {"questions": tool.input["questions"], "answers": answers},
                       f"User has answered your questions: {said}. You can now continue with "
                       "the user's answers in mind.")

    def t_mcp(self, lane: Lane, tool: Tool, run: int) -> Outcome:
        text = tool.extra.get("text")
        if text is None:
            text = json.dumps(tool.extra["result"], indent=2, ensure_ascii=False)
        blocks = [{"type": "text", "text": text}]
        return Outcome(True, blocks, blocks)

    # ---- output

    def write(self, out: Path) -> list[Path]:
        name = self.s.name
        tree = out / name
        if tree.exists():
            shutil.rmtree(tree)
        written = [out / f"{name}.hooks.jsonl"]
        events = [payload for _, _, payload in sorted(self.hooks, key=lambda h: (h[0], h[1]))]
        _write_lines(written[0], events)
        for rel, lines in self.files.items():
            written.append(tree / rel)
            _write_lines(tree / rel, lines)
        for rel, meta in self.metas.items():
            written.append(tree / rel)
            (tree / rel).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return written

    def event_counts(self) -> Counter[str]:
        return Counter(payload["hook_event_name"] for _, _, payload in self.hooks)


def _write_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(_dumps(row) + "\n")


# --------------------------------------------------------------------------- sample helpers


def vitest_pass(cwd: str, suites: dict[str, int], duration_ms: int) -> str:
    """Output of a green ``vitest run`` over the given {test file: number of tests}."""
    rows = [f" ✓ {path} ({n} tests) {2 + len(path) % 7}ms" for path, n in sorted(suites.items())]
    total = sum(suites.values())
    return "\n".join([
        f" RUN  v2.1.1 {cwd}", "", *rows, "",
        f" Test Files  {len(suites)} passed ({len(suites)})",
        f"      Tests  {total} passed ({total})",
        f"   Duration  {duration_ms}ms (transform 88ms, setup 0ms, collect 231ms, tests 19ms, "
        "environment 402ms, prepare 96ms)",
    ]) + "\n"


def vitest_fail(cwd: str, suites: dict[str, int], failed: str, test: str, error: str,
                at: str, code: list[str], duration_ms: int) -> str:
    """Output of a red ``vitest run`` with exactly one failing test."""
    rows = []
    for path, n in sorted(suites.items()):
        if path == failed:
            rows.append(f" ❯ {path} ({n} tests | 1 failed) {9 + n}ms")
            rows.append(f"   × {test.replace(' > ', ' > ', 1)} 4ms")
            rows.append(f"     → {error.split(': ', 1)[-1]}")
        else:
            rows.append(f" ✓ {path} ({n} tests) {2 + len(path) % 7}ms")
    total = sum(suites.values())
    bar = "⎯" * 7
    return "\n".join([
        f" RUN  v2.1.1 {cwd}", "", *rows, "",
        f"{bar} Failed Tests 1 {bar}", "",
        f" FAIL  {failed} > {test}", error, f" ❯ {at}", *code, "",
        f"{bar * 7}[1/1]⎯", "",
        f" Test Files  1 failed | {len(suites) - 1} passed ({len(suites)})",
        f"      Tests  1 failed | {total - 1} passed ({total})",
        f"   Duration  {duration_ms}ms (transform 91ms, setup 0ms, collect 244ms, tests 23ms, "
        "environment 398ms, prepare 101ms)",
    ]) + "\n"


# --------------------------------------------------------------------------- space-shooter

SPACE_SHOOTER: dict[str, str] = {
    "package.json": """\
{
  "name": "space-shooter",
  "version": "1.2.0",
  "private": true,
  "type": "module",
  "scripts": {
    "dev": "vite",
    "build": "tsc --noEmit && vite build",
    "test": "vitest run"
  },
  "devDependencies": {
    "typescript": "^5.6.2",
    "vite": "^5.4.6",
    "vitest": "^2.1.1"
  }
}
""",
    "src/boss.ts": """\
import { Laser } from "./weapons/laser";

export type BossState = "idle" | "charging" | "firing";

export const IDLE_MS = 2000;
export const CHARGE_MS = 1200;
export const FIRE_MS = 800;

export class Boss {
  state: BossState = "idle";
  timer = 0;
  hp = 40;
  lasers: Laser[] = [];

  constructor(
    public x: number,
    public y: number,
  ) {}

  update(dtMs: number): void {
    this.timer += dtMs;
    for (const laser of this.lasers) laser.update(dtMs);
    this.lasers = this.lasers.filter((l) => l.alive);
    switch (this.state) {
      case "idle":
        if (this.timer >= IDLE_MS) this.enter("charging");
        break;
      case "charging":
        if (this.timer >= CHARGE_MS) {
          this.enter("firing");
          this.fireLaser();
        }
        break;
      case "firing":
        if (this.timer >= FIRE_MS) this.enter("idle");
        break;
    }
  }

  hit(damage: number): void {
    this.hp = Math.max(0, this.hp - damage);
  }

  private enter(state: BossState): void {
    this.state = state;
    this.timer = 0;
  }

  private fireLaser(): void {
    if (this.state !== "charging") return;
    this.lasers.push(new Laser(this.x, this.y + 24, -1));
  }
}
""",
    "src/weapons/laser.ts": """\
export const LASER_SPEED = 0.6; // px per ms
export const LASER_TTL_MS = 1500;

export class Laser {
  age = 0;

  constructor(
    public x: number,
    public y: number,
    public dir: 1 | -1,
  ) {}

  get alive(): boolean {
    return this.age < LASER_TTL_MS;
  }

  update(dtMs: number): void {
    this.age += dtMs;
    this.y += this.dir * LASER_SPEED * dtMs;
  }
}
""",
    "src/weapons/blaster.ts": """\
export class Blaster {
  cooldownMs = 0;

  tryFire(): boolean {
    if (this.cooldownMs > 0) return false;
    this.cooldownMs = 180;
    return true;
  }

  update(dtMs: number): void {
    this.cooldownMs = Math.max(0, this.cooldownMs - dtMs);
  }
}
""",
    "src/levels/level3.ts": """\
import { Boss } from "../boss";

export const LEVEL3 = {
  name: "Nebula Core",
  waves: 4,
  spawnBoss: () => new Boss(160, 40),
};
""",
    "src/game.ts": """\
import { LEVEL3 } from "./levels/level3";
import { Blaster } from "./weapons/blaster";

export class Game {
  boss = LEVEL3.spawnBoss();
  blaster = new Blaster();

  tick(dtMs: number): void {
    this.blaster.update(dtMs);
    this.boss.update(dtMs);
  }
}
""",
    "tests/boss.test.ts": """\
import { beforeEach, describe, expect, it } from "vitest";
import { Boss, CHARGE_MS, IDLE_MS } from "../src/boss";

describe("Boss", () => {
  let boss: Boss;

  beforeEach(() => {
    boss = new Boss(160, 40);
  });

  it("starts idle", () => {
    expect(boss.state).toBe("idle");
  });

  it("charges after the idle time", () => {
    boss.update(IDLE_MS);
    expect(boss.state).toBe("charging");
  });

  it("fires a laser after charging", () => {
    boss.update(IDLE_MS);
    boss.update(CHARGE_MS);
    expect(boss.state).toBe("firing");
    expect(boss.lasers).toHaveLength(1);
  });

  it("never drops below 0 hp", () => {
    boss.hit(999);
    expect(boss.hp).toBe(0);
  });
});
""",
    "tests/laser.test.ts": """\
import { describe, expect, it } from "vitest";
import { Laser, LASER_TTL_MS } from "../src/weapons/laser";

describe("Laser", () => {
  it("moves in its direction", () => {
    const laser = new Laser(0, 100, -1);
    laser.update(10);
    expect(laser.y).toBeLessThan(100);
  });

  it("expires after its time to live", () => {
    const laser = new Laser(0, 0, 1);
    laser.update(LASER_TTL_MS);
    expect(laser.alive).toBe(false);
  });
});
""",
    "tests/blaster.test.ts": """\
import { describe, expect, it } from "vitest";
import { Blaster } from "../src/weapons/blaster";

describe("Blaster", () => {
  it("has a cooldown", () => {
    const b = new Blaster();
    expect(b.tryFire()).toBe(true);
    expect(b.tryFire()).toBe(false);
    b.update(200);
    expect(b.tryFire()).toBe(true);
  });
});
""",
    "README.md": """\
# Space Shooter

A vertical shoot-'em-up with three levels and a boss at the end of each.
Run `npm run dev` to play and `npm test` for the unit tests.
""",
}
SHOOTER_SUITES = {"tests/blaster.test.ts": 1, "tests/boss.test.ts": 4, "tests/laser.test.ts": 2}


# --------------------------------------------------------------------------- pixel-quest

FAKE_ANTHROPIC_KEY = "sk-ant-api03-FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE-NOTAREALKEY-0000000000AA"
FAKE_GITHUB_TOKEN = "ghp_FAKEFAKEFAKEFAKEFAKEFAKEFAKE00000000"


def _notebook() -> str:
    def cell(cid: str, kind: str, source: str) -> dict[str, Any]:
        c: dict[str, Any] = {"cell_type": kind, "id": cid, "metadata": {},
                             "source": source.splitlines(keepends=True)}
        if kind == "code":
            c.update(execution_count=None, outputs=[])
        return c

    nb = {
        "cells": [
            cell("intro", "markdown", "# Pixel Quest balance sheet\n\n"
                 "Enemy stats, jump arcs and coin counts per level. Keep in sync with src/."),
            cell("load", "code", "import pandas as pd\nimport matplotlib.pyplot as plt\n\n"
                 "GRAVITY = 0.35\nJUMP_VELOCITY = -5.2"),
            cell("enemy-table", "code", "enemies = pd.DataFrame([\n"
                 '    {"kind": "slime", "hp": 2, "speed": 0.4},\n'
                 '    {"kind": "bat", "hp": 1, "speed": 0.8},\n'
                 "])\nenemies"),
            cell("jump-arc", "code", "frames = range(40)\n"
                 "height = [-(JUMP_VELOCITY * f + GRAVITY * f * f / 2) for f in frames]\n"
                 'plt.plot(frames, height)\nplt.title("jump arc (px)")'),
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"},
                     "language_info": {"name": "python", "version": "3.12.4"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(nb, indent=1) + "\n"


PIXEL_QUEST: dict[str, str] = {
    "package.json": """\
{
  "name": "pixel-quest",
  "version": "0.4.0",
  "private": true,
  "type": "module",
  "scripts": {
    "dev": "vite",
    "build": "tsc --noEmit && vite build",
    "test": "vitest run",
    "lint": "eslint src tests",
    "e2e": "playwright test"
  },
  "devDependencies": {
    "@playwright/test": "^1.47.0",
    "eslint": "^9.10.0",
    "jsdom": "^25.0.0",
    "typescript": "^5.6.2",
    "typescript-eslint": "^8.6.0",
    "vite": "^5.4.6",
    "vitest": "^2.1.1"
  }
}
""",
    "tsconfig.json": """\
{
  "compilerOptions": {
    "target": "ES2022",
    "module": "ESNext",
    "moduleResolution": "bundler",
    "strict": true,
    "noUnusedLocals": true,
    "lib": ["ES2022", "DOM"],
    "types": ["vitest/globals"]
  },
  "include": ["src", "tests"]
}
""",
    "vite.config.ts": """\
import { defineConfig } from "vitest/config";

export default defineConfig({
  base: "./",
  server: { port: 5173 },
  test: { environment: "jsdom", include: ["tests/**/*.test.ts"] },
});
""",
    "playwright.config.ts": """\
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: "e2e",
  use: { baseURL: "http://localhost:5173", viewport: { width: 320, height: 180 } },
  webServer: { command: "npm run dev", port: 5173, reuseExistingServer: true },
});
""",
    "index.html": """\
<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>Pixel Quest</title>
    <link rel="stylesheet" href="./style.css" />
  </head>
  <body>
    <canvas id="screen"></canvas>
    <script type="module" src="./src/main.ts"></script>
  </body>
</html>
""",
    "README.md": """\
# Pixel Quest

A tiny 16x16-tile platformer in TypeScript, drawn on a 320x180 canvas.

    npm install
    npm run dev      # http://localhost:5173
    npm test         # unit tests (vitest)
    npm run e2e      # browser smoke test (playwright)

Levels live in `public/levels/*.json`: `#` is ground, `.` is air, `o` is a coin.
""",
    "CLAUDE.md": """\
# Notes for Claude

- TypeScript strict mode, no `any`.
- Run `npm test` after every change and `npm run build` before committing.
- Physics runs at a fixed 60 Hz step; `dt` is in frames, not milliseconds.
- Keep sprites and the HUD on whole pixels of the 320x180 screen.
""",
    ".gitignore": """\
node_modules/
dist/
test-results/
.playwright-mcp/
.env.local
""",
    ".env.local": f"""\
# local secrets for scripts/release.sh - never commit this file
API_TOKEN={FAKE_ANTHROPIC_KEY}
GITHUB_TOKEN={FAKE_GITHUB_TOKEN}
""",
    ".github/workflows/ci.yml": """\
name: ci
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with:
          node-version: 22
      - run: npm ci
      - run: npm run lint
      - run: npm test
      - run: npm run build
""",
    ".github/workflows/release.yml": """\
name: release
on:
  workflow_dispatch:
jobs:
  upload:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Find latest release
        id: latest
        run: |
          tag=$(curl -s -H "Authorization: Bearer ${{ secrets.GITHUB_TOKEN }}" \\
            "https://api.github.com/repos/${{ github.repository }}/releases/latest" \\
            | jq -r .tag_name)
          echo "tag=$tag" >> "$GITHUB_OUTPUT"
      - run: npm ci && npm run build
      - name: Upload to itch.io
        run: butler push dist dev-example/pixel-quest:html5 --userversion "$TAG"
        env:
          TAG: ${{ steps.latest.outputs.tag }}
          BUTLER_API_KEY: ${{ secrets.BUTLER_API_KEY }}
""",
    "public/levels/level1.json": """\
{
  "name": "Mossy Hills",
  "tiles": [
    "........................................",
    "........................................",
    "........................................",
    "...................o.o..................",
    "..................######.......o.o......",
    ".........o...................#####......",
    "........###.............................",
    "..................................o.....",
    "...............#####.........########...",
    "....#####...............................",
    "########################....############",
    "########################....############"
  ],
  "spawn": { "x": 32, "y": 128 },
  "enemies": [
    { "kind": "slime", "x": 160, "y": 150 },
    { "kind": "slime", "x": 290, "y": 54 },
    { "kind": "bat", "x": 480, "y": 98 }
  ]
}
""",
    "scripts/release.sh": """\
#!/usr/bin/env bash
# Build, write release notes with Claude, and upload to itch.io.
set -euo pipefail
source .env.local
: "${API_TOKEN:?set API_TOKEN in .env.local}"
: "${GITHUB_TOKEN:?set GITHUB_TOKEN in .env.local}"
tag=$(curl -s -H "Authorization: Bearer $GITHUB_TOKEN" \\
  https://api.github.com/repos/dev-example/pixel-quest/releases/latest | jq -r .tag_name)
npm run build
node scripts/release-notes.mjs "$tag" > dist/RELEASE_NOTES.md
butler push dist dev-example/pixel-quest:html5 --userversion "$tag"
""",
    "notebooks/balance.ipynb": _notebook(),
    "src/main.ts": """\
import { Game } from "./game";
import { loadLevel } from "./level";
import { load } from "./save";

const canvas = document.querySelector<HTMLCanvasElement>("#screen")!;
const game = new Game(canvas, 320, 180);
const saved = load();

loadLevel(saved?.level ?? 1).then((level) => game.start(level, saved));
""",
    "src/game.ts": """\
import { Camera } from "./camera";
import { type Enemy, spawnEnemies } from "./enemies";
import { Input } from "./input";
import type { Level } from "./level";
import { step } from "./physics";
import { Player } from "./player";
import type { SaveData } from "./save";
import { drawHud } from "./ui/hud";
import { PauseMenu } from "./ui/pause-menu";

export class Game {
  private ctx: CanvasRenderingContext2D;
  private input = new Input(window);
  private camera: Camera;
  private pause = new PauseMenu();
  private player!: Player;
  private enemies: Enemy[] = [];
  private level!: Level;
  private last = 0;

  constructor(
    canvas: HTMLCanvasElement,
    readonly width: number,
    readonly height: number,
  ) {
    canvas.width = width;
    canvas.height = height;
    this.ctx = canvas.getContext("2d")!;
    this.camera = new Camera(width, height);
  }

  start(level: Level, saved: SaveData | null): void {
    this.level = level;
    this.player = new Player(level.spawn.x, level.spawn.y);
    if (saved) {
      this.player.coins = saved.coins;
      this.player.hp = saved.hp;
    }
    this.enemies = spawnEnemies(level);
    requestAnimationFrame((t) => this.frame(t));
  }

  private frame(now: number): void {
    const dt = this.last ? Math.min((now - this.last) / 16.67, 2) : 1;
    this.last = now;
    this.pause.update(this.input);
    if (!this.pause.open) this.update(dt);
    this.draw();
    this.input.endFrame();
    requestAnimationFrame((t) => this.frame(t));
  }

  private update(dt: number): void {
    this.player.update(this.input, dt);
    step(this.player.body, (tx, ty) => this.level.solid(tx, ty));
    for (const enemy of this.enemies) enemy.update(this.level);
    this.camera.follow(this.player.body);
  }

  private draw(): void {
    const { ctx } = this;
    ctx.fillStyle = "#1d2b53";
    ctx.fillRect(0, 0, this.width, this.height);
    this.level.draw(ctx, this.camera);
    for (const enemy of this.enemies) enemy.draw(ctx, this.camera);
    this.player.draw(ctx, this.camera);
    drawHud(ctx, this.player, this.width);
    if (this.pause.open) this.pause.draw(ctx, this.width, this.height);
  }
}
""",
    "src/player.ts": """\
import { playSound } from "./audio";
import type { Camera } from "./camera";
import type { Input } from "./input";
import { Body, GRAVITY, TILE } from "./physics";

export const RUN_SPEED = 1.6;
export const JUMP_VELOCITY = -5.2;

export class Player {
  body: Body;
  facing: 1 | -1 = 1;
  hp = 3;
  coins = 0;

  constructor(x: number, y: number) {
    this.body = new Body(x, y, TILE - 4, TILE);
  }

  update(input: Input, dt: number): void {
    const dir = (input.right ? 1 : 0) - (input.left ? 1 : 0);
    this.body.vx = dir * RUN_SPEED;
    if (dir !== 0) this.facing = dir > 0 ? 1 : -1;
    if (input.jumpPressed && this.body.onGround) {
      this.jump();
    }
    this.body.vy += GRAVITY * dt;
  }

  jump(): void {
    this.body.vy = JUMP_VELOCITY;
    playSound("jump");
  }

  hurt(): void {
    this.hp -= 1;
    playSound("hurt", 0.8);
  }

  draw(ctx: CanvasRenderingContext2D, cam: Camera): void {
    ctx.fillStyle = "#ffec27";
    ctx.fillRect(this.body.x - cam.x, this.body.y - cam.y, this.body.w, this.body.h);
  }
}
""",
    "src/physics.ts": """\
export const TILE = 16;
export const GRAVITY = 0.35;
export const MAX_FALL = 7;

export class Body {
  vx = 0;
  vy = 0;
  onGround = false;

  constructor(
    public x: number,
    public y: number,
    public w: number,
    public h: number,
  ) {}
}

type Solid = (tx: number, ty: number) => boolean;

export function step(body: Body, solid: Solid): void {
  body.vy = Math.min(body.vy, MAX_FALL);
  body.x += body.vx;
  if (hits(body, solid)) {
    body.x -= body.vx;
    body.vx = 0;
  }
  body.y += body.vy;
  body.onGround = false;
  if (hits(body, solid)) {
    if (body.vy > 0) body.onGround = true;
    body.y -= body.vy;
    body.vy = 0;
  }
}

function hits(b: Body, solid: Solid): boolean {
  const x0 = Math.floor(b.x / TILE);
  const x1 = Math.floor((b.x + b.w - 1) / TILE);
  const y0 = Math.floor(b.y / TILE);
  const y1 = Math.floor((b.y + b.h - 1) / TILE);
  for (let ty = y0; ty <= y1; ty++) {
    for (let tx = x0; tx <= x1; tx++) {
      if (solid(tx, ty)) return true;
    }
  }
  return false;
}
""",
    "src/input.ts": """\
const KEYS: Record<string, string> = {
  ArrowLeft: "left",
  ArrowRight: "right",
  KeyA: "left",
  KeyD: "right",
  Space: "jump",
  ArrowUp: "jump",
  Escape: "pause",
};

export class Input {
  private down = new Set<string>();
  private pressed = new Set<string>();

  constructor(target: Window | null) {
    target?.addEventListener("keydown", (e) => this.press(KEYS[e.code] ?? e.code));
    target?.addEventListener("keyup", (e) => this.release(KEYS[e.code] ?? e.code));
  }

  press(key: string): void {
    if (!this.down.has(key)) this.pressed.add(key);
    this.down.add(key);
  }

  release(key: string): void {
    this.down.delete(key);
  }

  endFrame(): void {
    this.pressed.clear();
  }

  get left(): boolean {
    return this.down.has("left");
  }

  get right(): boolean {
    return this.down.has("right");
  }

  get jumpPressed(): boolean {
    return this.pressed.has("jump");
  }

  get pauseHeld(): boolean {
    return this.down.has("pause");
  }
}
""",
    "src/audio.ts": """\
const ctx = new AudioContext();
const cache = new Map<string, AudioBuffer>();

export async function preload(names: string[]): Promise<void> {
  await Promise.all(
    names.map(async (name) => {
      const res = await fetch(`./sfx/${name}.wav`);
      cache.set(name, await ctx.decodeAudioData(await res.arrayBuffer()));
    }),
  );
}

export function playSound(name: string, volume = 1): void {
  const buffer = cache.get(name);
  if (!buffer) return;
  const gain = ctx.createGain();
  gain.gain.value = volume;
  const src = ctx.createBufferSource();
  src.buffer = buffer;
  src.connect(gain).connect(ctx.destination);
  src.start();
}
""",
    "src/camera.ts": """\
import type { Body } from "./physics";

export class Camera {
  x = 0;
  y = 0;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {}

  follow(target: Body): void {
    this.x = Math.round(target.x + target.w / 2 - this.width / 2);
    this.y = Math.round(target.y + target.h / 2 - this.height / 2);
  }
}
""",
    "src/particles.ts": """\
import type { Camera } from "./camera";

interface Particle {
  x: number;
  y: number;
  vx: number;
  vy: number;
  life: number;
  color: string;
}

export class Particles {
  private items: Particle[] = [];

  burst(x: number, y: number, color: string, count = 8): void {
    for (let i = 0; i < count; i++) {
      const angle = (Math.PI * 2 * i) / count;
      this.items.push({ x, y, vx: Math.cos(angle), vy: Math.sin(angle) - 1, life: 20, color });
    }
  }

  update(): void {
    for (const p of this.items) {
      p.x += p.vx;
      p.y += p.vy;
      p.vy += 0.1;
      p.life -= 1;
    }
    this.items = this.items.filter((p) => p.life > 0);
  }

  draw(ctx: CanvasRenderingContext2D, cam: Camera): void {
    for (const p of this.items) {
      ctx.fillStyle = p.color;
      ctx.fillRect(Math.round(p.x - cam.x), Math.round(p.y - cam.y), 1, 1);
    }
  }
}
""",
    "src/level.ts": """\
import type { Camera } from "./camera";
import { TILE } from "./physics";

export interface LevelData {
  name: string;
  tiles: string[];
  spawn: { x: number; y: number };
  enemies: { kind: "slime" | "bat"; x: number; y: number }[];
}

export class Level {
  constructor(readonly data: LevelData) {}

  get spawn(): { x: number; y: number } {
    return this.data.spawn;
  }

  solid(tx: number, ty: number): boolean {
    const row = this.data.tiles[ty];
    return row !== undefined && row[tx] === "#";
  }

  isSolidAt(px: number, py: number): boolean {
    return this.solid(Math.floor(px / TILE), Math.floor(py / TILE));
  }

  draw(ctx: CanvasRenderingContext2D, cam: Camera): void {
    ctx.fillStyle = "#5f574f";
    this.data.tiles.forEach((row, ty) => {
      for (let tx = 0; tx < row.length; tx++) {
        if (row[tx] === "#") ctx.fillRect(tx * TILE - cam.x, ty * TILE - cam.y, TILE, TILE);
      }
    });
  }
}

export async function loadLevel(n: number): Promise<Level> {
  const res = await fetch(`./levels/level${n}.json`);
  return new Level((await res.json()) as LevelData);
}
""",
    "src/save.ts": """\
const KEY = "pixel-quest/save";

export interface SaveData {
  level: number;
  coins: number;
  hp: number;
}

export function save(data: SaveData): void {
  localStorage.setItem(KEY, JSON.stringify(data));
}

export function load(): SaveData | null {
  const raw = localStorage.getItem(KEY);
  if (!raw) return null;
  try {
    return JSON.parse(raw) as SaveData;
  } catch {
    return null;
  }
}
""",
    "src/enemies/index.ts": """\
import type { Level } from "../level";
import { Bat } from "./bat";
import { Slime } from "./slime";

export type Enemy = Slime | Bat;

export function spawnEnemies(level: Level): Enemy[] {
  return level.data.enemies.map((e) =>
    e.kind === "slime" ? new Slime(e.x, e.y) : new Bat(e.x, e.y),
  );
}
""",
    "src/enemies/slime.ts": """\
import type { Camera } from "../camera";
import type { Level } from "../level";
import { Body, TILE } from "../physics";

export class Slime {
  body: Body;
  dir: 1 | -1 = -1;
  speed = 0.5;
  hp = 2;

  constructor(x: number, y: number) {
    this.body = new Body(x, y, TILE, TILE - 6);
  }

  update(level: Level): void {
    const front = this.dir > 0 ? this.body.x + this.body.w : this.body.x - 1;
    if (level.isSolidAt(front, this.body.y + this.body.h / 2)) {
      this.dir = this.dir > 0 ? -1 : 1;
    }
    this.body.x += this.dir * this.speed;
  }

  draw(ctx: CanvasRenderingContext2D, cam: Camera): void {
    ctx.fillStyle = "#00e436";
    ctx.fillRect(this.body.x - cam.x, this.body.y - cam.y, this.body.w, this.body.h);
  }
}
""",
    "src/enemies/bat.ts": """\
import type { Camera } from "../camera";
import type { Level } from "../level";
import { Body, TILE } from "../physics";

export class Bat {
  body: Body;
  dir: 1 | -1 = 1;
  speed = 0.9;
  hp = 1;
  private t = 0;

  constructor(x: number, y: number) {
    this.body = new Body(x, y, TILE - 4, TILE - 8);
  }

  update(level: Level): void {
    this.t += 1;
    const front = this.dir > 0 ? this.body.x + this.body.w : this.body.x - 1;
    if (level.isSolidAt(front, this.body.y)) {
      this.dir = this.dir > 0 ? -1 : 1;
    }
    this.body.x += this.dir * this.speed;
    this.body.y += Math.cos(this.t / 10) * 0.4;
  }

  draw(ctx: CanvasRenderingContext2D, cam: Camera): void {
    ctx.fillStyle = "#7e2553";
    ctx.fillRect(this.body.x - cam.x, this.body.y - cam.y, this.body.w, this.body.h);
  }
}
""",
    "src/ui/hud.ts": """\
import type { Player } from "../player";

const HEART = "♥";

export function drawHud(ctx: CanvasRenderingContext2D, player: Player, width: number): void {
  ctx.font = "8px 'Press Start 2P'";
  ctx.textBaseline = "top";
  ctx.textAlign = "left";
  ctx.fillStyle = "#ff004d";
  ctx.fillText(HEART.repeat(player.hp), 6, 6);
  ctx.fillStyle = "#ffec27";
  ctx.fillText(`COINS ${player.coins}`, width - 64, 6);
}
""",
    "src/ui/pause-menu.ts": """\
import type { Input } from "../input";

const ITEMS = ["Resume", "Options", "Quit to title"];

export class PauseMenu {
  open = false;
  selected = 0;

  update(input: Input): void {
    if (input.pauseHeld) {
      this.open = !this.open;
      this.selected = 0;
    }
  }

  draw(ctx: CanvasRenderingContext2D, w: number, h: number): void {
    ctx.fillStyle = "rgba(0, 0, 0, 0.6)";
    ctx.fillRect(0, 0, w, h);
    ctx.font = "8px 'Press Start 2P'";
    ctx.textAlign = "center";
    ITEMS.forEach((item, i) => {
      ctx.fillStyle = i === this.selected ? "#ffec27" : "#fff1e8";
      ctx.fillText(item, w / 2, h / 2 - 12 + i * 14);
    });
  }
}
""",
    "tests/player.test.ts": """\
import { describe, expect, it, vi } from "vitest";
import { Input } from "../src/input";
import { JUMP_VELOCITY, Player, RUN_SPEED } from "../src/player";

vi.mock("../src/audio", () => ({ playSound: vi.fn() }));

function press(...keys: string[]): Input {
  const input = new Input(null);
  for (const key of keys) input.press(key);
  return input;
}

describe("Player", () => {
  it("runs right", () => {
    const p = new Player(0, 0);
    p.update(press("right"), 0);
    expect(p.body.vx).toBe(RUN_SPEED);
    expect(p.facing).toBe(1);
  });

  it("faces left when running left", () => {
    const p = new Player(0, 0);
    p.update(press("left"), 0);
    expect(p.facing).toBe(-1);
  });

  it("jumps from the ground", () => {
    const p = new Player(0, 0);
    p.body.onGround = true;
    p.update(press("jump"), 0);
    expect(p.body.vy).toBe(JUMP_VELOCITY);
  });

  it("cannot jump in mid-air", () => {
    const p = new Player(0, 0);
    p.update(press("jump"), 0);
    expect(p.body.vy).toBe(0);
  });

  it("loses hp when hurt", () => {
    const p = new Player(0, 0);
    p.hurt();
    expect(p.hp).toBe(2);
  });
});
""",
    "tests/physics.test.ts": """\
import { describe, expect, it } from "vitest";
import { Body, MAX_FALL, step, TILE } from "../src/physics";

const empty = () => false;
const floor = (_tx: number, ty: number) => ty >= 4;

describe("step", () => {
  it("moves a body by its velocity", () => {
    const b = new Body(0, 0, 12, 16);
    b.vx = 2;
    step(b, empty);
    expect(b.x).toBe(2);
  });

  it("caps the fall speed", () => {
    const b = new Body(0, 0, 12, 16);
    b.vy = 50;
    step(b, empty);
    expect(b.vy).toBe(MAX_FALL);
  });

  it("lands on the floor", () => {
    const b = new Body(0, 4 * TILE - 18, 12, 16);
    b.vy = 4;
    step(b, floor);
    expect(b.onGround).toBe(true);
    expect(b.vy).toBe(0);
  });

  it("is not on the ground in mid-air", () => {
    const b = new Body(0, 0, 12, 16);
    step(b, floor);
    expect(b.onGround).toBe(false);
  });

  it("stops at walls", () => {
    const b = new Body(4, 0, 12, 16);
    b.vx = 3;
    step(b, (tx) => tx >= 1);
    expect(b.vx).toBe(0);
  });

  it("bumps its head on ceilings", () => {
    const b = new Body(0, 1, 12, 16);
    b.vy = -4;
    step(b, (_tx, ty) => ty < 0);
    expect(b.vy).toBe(0);
  });
});
""",
    "tests/level.test.ts": """\
import { describe, expect, it } from "vitest";
import { Level } from "../src/level";

const level = new Level({
  name: "test",
  tiles: ["....", "..#.", "####"],
  spawn: { x: 0, y: 0 },
  enemies: [],
});

describe("Level", () => {
  it("reports solid tiles", () => expect(level.solid(2, 1)).toBe(true));
  it("reports air", () => expect(level.solid(0, 0)).toBe(false));
  it("treats out-of-bounds as air", () => expect(level.solid(9, 9)).toBe(false));
  it("converts pixels to tiles", () => expect(level.isSolidAt(40, 20)).toBe(true));
});
""",
    "tests/save.test.ts": """\
import { beforeEach, describe, expect, it } from "vitest";
import { load, save } from "../src/save";

describe("save", () => {
  beforeEach(() => localStorage.clear());

  it("returns null when nothing is saved", () => {
    expect(load()).toBeNull();
  });

  it("round-trips save data", () => {
    save({ level: 2, coins: 31, hp: 2 });
    expect(load()).toEqual({ level: 2, coins: 31, hp: 2 });
  });

  it("ignores corrupt data", () => {
    localStorage.setItem("pixel-quest/save", "{oops");
    expect(load()).toBeNull();
  });
});
""",
}
PIXEL_SUITES = {"tests/level.test.ts": 4, "tests/physics.test.ts": 6, "tests/player.test.ts": 5,
                "tests/save.test.ts": 3}


# --------------------------------------------------------------------------- the samples


def short_sample() -> Session:
    cwd = "/home/dev/pixel-quest"
    k = Kit(cwd)
    steps: list[Prompt | Msg | Compact | Mode | End] = [
        Prompt("The jump feels floaty. Make it a bit snappier and check the tests still pass.",
               gap=7.2),
        M("I'll check how the jump is set up first.", k.read("src/player.ts")),
        M("The jump starts at `JUMP_VELOCITY = -5.2` against a gravity of 0.35 per frame. "
          "I'll raise it to -6.0.",
          k.edit("src/player.ts", "export const JUMP_VELOCITY = -5.2;",
                 "export const JUMP_VELOCITY = -6.0;")),
        M(None, k.bash("npm test", "Run the test suite",
                       out=vitest_pass(cwd, PIXEL_SUITES, 861), secs=2.9)),
        M("Done. `JUMP_VELOCITY` in src/player.ts is now -6.0 (was -5.2), so a jump peaks at "
          "about 51 px instead of 39 px and launches faster. All 18 tests pass."),
        End("prompt_input_exit", gap=34.0),
    ]
    return Session(
        name="short",
        blurb="One prompt on pixel-quest: Read, Edit, a passing `npm test`, a final answer.",
        cwd=cwd, start="2026-08-24T09:14:06", slug="snappy-leaping-falcon",
        title="Make the jump snappier", branch="main", files=dict(PIXEL_QUEST), steps=steps)


def subagents_sample() -> Session:
    cwd = "/home/dev/space-shooter"
    k = Kit(cwd)
    red = vitest_fail(
        cwd, SHOOTER_SUITES, "tests/boss.test.ts", "Boss > fires a laser after charging",
        "AssertionError: expected [] to have a length of 1 but got +0",
        "tests/boss.test.ts:24:25",
        ["     22|     boss.update(CHARGE_MS);",
         '     23|     expect(boss.state).toBe("firing");',
         "     24|     expect(boss.lasers).toHaveLength(1);",
         "       |                         ^",
         "     25|   });",
         "     26| "], 1043)
    explore = [
        M("Reading the boss state machine.", k.read("src/boss.ts")),
        M(None, k.grep(r"enter\(|state = ", "src", mode="content", n=True)),
        M(None, k.read("src/weapons/laser.ts"), k.read("src/levels/level3.ts")),
        M(None, k.grep("lasers", "src")),
        M("The bug is the order of two calls in `Boss.update` (src/boss.ts:30-31). When the "
          "charge time is up it calls `this.enter(\"firing\")` first, which sets `state` to "
          "`firing`, and only then `this.fireLaser()`. `fireLaser()` (line 49) returns early "
          "unless `state === \"charging\"`, so the laser is never created. Nothing else "
          "touches `lasers`: it is only filled in `fireLaser()` and filtered in `update()`. "
          "`Laser` itself is fine, and level3.ts just spawns the boss at (160, 40). "
          "Fix: call `fireLaser()` before `enter(\"firing\")`, or drop the state guard."),
    ]
    timing = [
        M("Checking the test first.", k.read("tests/boss.test.ts")),
        M(None, k.grep("useFakeTimers|advanceTimersByTime|performance\\.now|Date\\.now", "src")),
        M(None, k.fetch(
            "https://vitest.dev/api/vi.html#vi-usefaketimers",
            "When do tests need vi.useFakeTimers? Does it matter for code that gets dt passed in?",
            result="`vi.useFakeTimers()` replaces setTimeout, setInterval, Date and "
                   "performance.now with fake versions that you advance with "
                   "`vi.advanceTimersByTime(ms)`. Code that receives the elapsed time as an "
                   "argument does not need fake timers: the test controls time directly.")),
        M("The test drives time explicitly: it calls `boss.update(IDLE_MS)` and then "
          "`boss.update(CHARGE_MS)`, and nothing in src/ reads the clock (no Date.now, "
          "performance.now or timers), so fake timers are not involved and the test is "
          "deterministic. After those two calls the boss is correctly in `firing`; the "
          "failing assertion is only `lasers` having length 0, so the problem is in how the "
          "laser is spawned, not in the test's timing."),
    ]
    issue = {"total_count": 1, "incomplete_results": False, "items": [{
        "number": 17, "title": "Level 3 boss never fires its laser", "state": "open",
        "html_url": "https://github.com/dev-example/space-shooter/issues/17",
        "user": {"login": "playtester-jo"}, "labels": [{"name": "bug"}, {"name": "level-3"}],
        "comments": 2, "created_at": "2026-08-22T18:03:11Z",
        "body": "Since 1.2.0 the Nebula Core boss charges up (glows) but never shoots."}]}
    steps: list[Prompt | Msg | Compact | Mode | End] = [
        Prompt("The level 3 boss never fires its laser any more and `npm test` is red. Find out "
               "why, fix it, and check whether there's already a GitHub issue for it.", gap=6.4),
        M("I'll track this with a todo list.", k.todo(
            (">", "Reproduce the failing boss test", "Reproducing the failing boss test"),
            (" ", "Find why the boss never fires its laser",
             "Finding why the boss never fires its laser"),
            (" ", "Fix the boss laser", "Fixing the boss laser"),
            (" ", "Re-run the tests and look for a GitHub issue",
             "Re-running the tests and looking for a GitHub issue"))),
        M("Let me look at the boss, every place that fires a laser, and the test files at once.",
          k.read("src/boss.ts"), k.grep("fireLaser|new Laser", mode="content", n=True),
          k.glob("tests/**/*.test.ts")),
        M("Now the tests themselves.",
          k.bash("npm test", "Run the unit tests", out=red, code=1, secs=3.4,
                 approve_after=12.5)),
        M("`fires a laser after charging` fails: the boss reaches `firing` but `lasers` stays "
          "empty. I'll have one agent trace the state machine while another checks how the "
          "test drives time.",
          k.agent("Explore", "Trace the boss state machine",
                  "In /home/dev/space-shooter, trace how Boss in src/boss.ts moves between idle, "
                  "charging and firing, and find why no Laser is ever added to `lasers`. Report "
                  "file:line references.", explore, model=HAIKU,
                  skills=("frontend-design", "test-runner")),
          k.agent("general-purpose", "Check boss test timing",
                  "Check how tests/boss.test.ts advances time and whether anything in src/ "
                  "depends on real timers, so we know whether the failure could be a timing "
                  "artefact of the test. Look up vitest's fake-timer docs if useful.", timing),
          think="The failing assertion is lasers.length. fireLaser() returns unless state is "
                "charging, and update() calls enter(\"firing\") before fireLaser(). That looks "
                "like the bug, but let me confirm nothing else resets lasers and that the test "
                "timing is sound."),
        M(None, k.todo(
            ("x", "Reproduce the failing boss test", "Reproducing the failing boss test"),
            ("x", "Find why the boss never fires its laser",
             "Finding why the boss never fires its laser"),
            (">", "Fix the boss laser", "Fixing the boss laser"),
            (" ", "Re-run the tests and look for a GitHub issue",
             "Re-running the tests and looking for a GitHub issue"))),
        Compact("The user reported that the level 3 boss never fires its laser and npm test "
                "fails. The failing test is tests/boss.test.ts > 'fires a laser after "
                "charging' (lasers has length 0). Cause, confirmed by an Explore agent: in "
                "src/boss.ts Boss.update calls this.enter(\"firing\") before this.fireLaser(), "
                "and fireLaser() returns unless state === \"charging\". A second agent "
                "confirmed the test drives time explicitly, so it is not a timing artefact. "
                "Next: swap the two calls, re-run npm test, search GitHub issues.", 158_420),
        M("Fixing the order: fire while still charging, then switch to firing.",
          k.edit("src/boss.ts", '          this.enter("firing");\n          this.fireLaser();',
                 '          this.fireLaser();\n          this.enter("firing");')),
        M(None, k.bash("npm test", "Run the unit tests again",
                       out=vitest_pass(cwd, SHOOTER_SUITES, 987), secs=3.1)),
        M("All green. Now GitHub.", k.mcp(
            "mcp__github__search_issues",
            {"query": "boss laser repo:dev-example/space-shooter is:issue is:open"}, issue)),
        M(None, k.todo(
            ("x", "Reproduce the failing boss test", "Reproducing the failing boss test"),
            ("x", "Find why the boss never fires its laser",
             "Finding why the boss never fires its laser"),
            ("x", "Fix the boss laser", "Fixing the boss laser"),
            ("x", "Re-run the tests and look for a GitHub issue",
             "Re-running the tests and looking for a GitHub issue"))),
        M("Fixed. `Boss.update` switched the state to `firing` before calling `fireLaser()`, "
          "and `fireLaser()` only fires while `charging`, so the laser was never created. It "
          "now fires first and then changes state (src/boss.ts). All 7 tests pass.\n\n"
          "There is an open issue for this: #17 \"Level 3 boss never fires its laser\". "
          "Put `Fixes #17` in the commit message to close it."),
        End("prompt_input_exit", gap=48.0),
    ]
    return Session(
        name="subagents",
        blurb="One prompt on space-shooter with a todo list, parallel Read/Grep/Glob, two "
              "parallel subagents, a failing then passing `npm test`, a permission wait, an "
              "MCP call, a WebFetch and an auto-compaction.",
        cwd=cwd, start="2026-08-24T10:32:41", slug="quiet-orbiting-comet",
        title="Fix level 3 boss laser", branch="main", files=dict(SPACE_SHOOTER), steps=steps)


SLOT_SELECT = """\
import { Input } from "../input";
import { listSlots, type SaveData, SLOT_COUNT } from "../save";

export interface SlotChoice {
  slot: number;
  data: SaveData | null;
}

export class SlotSelect {
  private selected = 0;
  private input = new Input(window);
  private ctx: CanvasRenderingContext2D;

  constructor(private canvas: HTMLCanvasElement) {
    this.ctx = canvas.getContext("2d")!;
  }

  choose(): Promise<SlotChoice> {
    const slots = listSlots();
    return new Promise((resolve) => {
      const frame = (now: number) => {
        if (this.input.wasPressed("left")) this.move(-1);
        if (this.input.wasPressed("right")) this.move(1);
        this.draw(slots, now);
        if (this.input.jumpPressed) {
          resolve({ slot: this.selected, data: slots[this.selected] });
          return;
        }
        this.input.endFrame();
        requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
    });
  }

  private move(step: number): void {
    this.selected = (this.selected + step + SLOT_COUNT) % SLOT_COUNT;
  }

  private draw(slots: (SaveData | null)[], now: number): void {
    const { ctx } = this;
    const { width, height } = this.canvas;
    ctx.fillStyle = "#1d2b53";
    ctx.fillRect(0, 0, width, height);
    ctx.font = "8px 'Press Start 2P'";
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    ctx.fillStyle = "#fff1e8";
    ctx.fillText("SELECT A SLOT", width / 2, 24);
    slots.forEach((data, i) => {
      const x = width / 2 + (i - 1) * 96;
      const active = i === this.selected;
      ctx.strokeStyle = active ? "#ffec27" : "#5f574f";
      ctx.strokeRect(x - 40, 60, 80, 72);
      ctx.fillStyle = active ? "#ffec27" : "#fff1e8";
      ctx.fillText(`SLOT ${i + 1}`, x, 68);
      ctx.fillText(data ? `LEVEL ${data.level}` : "EMPTY", x, 92);
      if (data) ctx.fillText(`${data.coins} COINS`, x, 108);
    });
    ctx.fillText("← → TO CHOOSE, SPACE TO START", width / 2, height - 20);
  }
}
"""

SAVE_SLOTS = """\
const PREFIX = "pixel-quest/slot-";
export const SLOT_COUNT = 3;

export interface SaveData {
  level: number;
  coins: number;
  hp: number;
  savedAt: string;
}

function key(slot: number): string {
  if (!Number.isInteger(slot) || slot < 0 || slot >= SLOT_COUNT) {
    throw new RangeError(`no save slot ${slot}`);
  }
  return PREFIX + slot;
}

export function save(slot: number, data: SaveData): void {
  localStorage.setItem(key(slot), JSON.stringify(data));
}

export function load(slot: number): SaveData | null {
  const raw = localStorage.getItem(key(slot));
  if (!raw) return null;
  try {
    return JSON.parse(raw) as SaveData;
  } catch {
    return null;
  }
}

export function listSlots(): (SaveData | null)[] {
  return Array.from({ length: SLOT_COUNT }, (_, slot) => load(slot));
}

export function clearSlot(slot: number): void {
  localStorage.removeItem(key(slot));
}
"""

SAVE_TESTS = """\
import { beforeEach, describe, expect, it } from "vitest";
import { clearSlot, listSlots, load, save, SLOT_COUNT } from "../src/save";

const DATA = { level: 2, coins: 31, hp: 2, savedAt: "2026-08-24T15:00:00.000Z" };

describe("save slots", () => {
  beforeEach(() => localStorage.clear());

  it("returns null for an empty slot", () => {
    expect(load(0)).toBeNull();
  });

  it("round-trips save data per slot", () => {
    save(1, DATA);
    expect(load(1)).toEqual(DATA);
    expect(load(0)).toBeNull();
  });

  it("lists every slot", () => {
    save(2, DATA);
    expect(listSlots()).toEqual([null, null, DATA]);
    expect(listSlots()).toHaveLength(SLOT_COUNT);
  });

  it("clears a slot", () => {
    save(0, DATA);
    clearSlot(0);
    expect(load(0)).toBeNull();
  });

  it("rejects slots out of range", () => {
    expect(() => save(SLOT_COUNT, DATA)).toThrow(RangeError);
    expect(() => load(-1)).toThrow(RangeError);
  });

  it("ignores corrupt data", () => {
    localStorage.setItem("pixel-quest/slot-0", "{oops");
    expect(load(0)).toBeNull();
  });
});
"""

SLIME_TESTS = """\
import { describe, expect, it } from "vitest";
import { Slime } from "../src/enemies/slime";
import { Level } from "../src/level";

function levelWith(tiles: string[]): Level {
  return new Level({ name: "test", tiles, spawn: { x: 0, y: 0 }, enemies: [] });
}

describe("Slime", () => {
  it("turns around at the edge of a platform", () => {
    const level = levelWith(["......", "..###.", "......"]);
    const slime = new Slime(33, 4);
    for (let i = 0; i < 10; i++) slime.update(level);
    expect(slime.dir).toBe(1);
  });

  it("still turns around at walls", () => {
    const level = levelWith(["#.....", "#.....", "######"]);
    const slime = new Slime(17, 22);
    for (let i = 0; i < 10; i++) slime.update(level);
    expect(slime.dir).toBe(1);
  });
});
"""

HUD_SPEC = """\
import { expect, test } from "@playwright/test";

test("HUD fits on a 320x180 screen", async ({ page }) => {
  await page.goto("/");
  const canvas = page.locator("canvas#screen");
  await expect(canvas).toHaveAttribute("width", "320");
  await expect(canvas).toHaveScreenshot("hud.png", {
    clip: { x: 0, y: 0, width: 320, height: 20 },
  });
});
"""


E2E_PASS = "\n".join([
    "Running 1 test using 1 worker", "",
    "  ✓  1 [chromium] › e2e/hud.spec.ts:3:5 › HUD fits on a 320x180 screen (1.8s)", "",
    "  1 passed (4.2s)"])

BUILD_OK = ("\n> pixel-quest@0.4.0 build\n> tsc --noEmit && vite build\n\n"
            "vite v5.4.6 building for production...\n✓ 24 modules transformed.\n"
            "dist/index.html                  0.41 kB │ gzip: 0.28 kB\n"
            "dist/assets/index-C8fQz1Lm.js   16.87 kB │ gzip: 5.94 kB\n✓ built in 431ms\n")

E2E_SLOTS = "\n".join([
    "Running 1 test using 1 worker", "",
    "  ✘  1 [chromium] › e2e/hud.spec.ts:3:5 › HUD fits on a 320x180 screen (3.4s)", "",
    "  1) [chromium] › e2e/hud.spec.ts:3:5 › HUD fits on a 320x180 screen ───────────", "",
    "    Error: expect(locator).toHaveScreenshot(expected)", "",
    "      2817 pixels (ratio 0.44 of all image pixels) are different.", "",
    "    Expected: /home/dev/pixel-quest/e2e/hud.spec.ts-snapshots/hud-chromium-linux.png",
    "    Received: /home/dev/pixel-quest/test-results/hud-HUD-fits-chromium/hud-actual.png",
    "        Diff: /home/dev/pixel-quest/test-results/hud-HUD-fits-chromium/hud-diff.png", "",
    '       6 |   await expect(canvas).toHaveAttribute("width", "320");',
    '    >  7 |   await expect(canvas).toHaveScreenshot("hud.png", {',
    "         |                        ^",
    "       8 |     clip: { x: 0, y: 0, width: 320, height: 20 },", "",
    "  1 failed",
    "    [chromium] › e2e/hud.spec.ts:3:5 › HUD fits on a 320x180 screen ─────────────"])


def _pos(text: str, needle: str) -> tuple[int, int]:
    """1-based line and column of needle in text."""
    before = text[:text.index(needle)]
    return before.count("\n") + 1, len(before) - before.rfind("\n")


def _pw(code: str, result: str = "", state: bool = False) -> str:
    """Text the Playwright MCP server returns for a browser_* tool."""
    parts = [f"### Result\n{result}\n"] if result else []
    parts.append(f"### Ran Playwright code\n```js\n{code}\n```")
    if state:
        parts.append("### Page state\n- Page URL: http://localhost:5173/\n"
                     "- Page Title: Pixel Quest\n- Page Snapshot:\n```yaml\n"
                     "- canvas [ref=e2]\n```")
    return "\n\n".join(parts)


def long_sample() -> Session:
    cwd = "/home/dev/pixel-quest"
    k = Kit(cwd)
    gh = {"owner": "dev-example", "repo": "pixel-quest"}
    suites = dict(PIXEL_SUITES)

    def green(ms: int) -> str:
        return vitest_pass(cwd, suites, ms)

    steps: list[Prompt | Msg | Compact | Mode | End] = []
    add = steps.append

    # 1. -------------------------------------------------------------- a tour of the code
    tour = [
        M("Let me get the layout first.", k.glob("src/**/*.ts"), k.glob("tests/**/*.ts"),
          k.read("package.json")),
        M(None, k.read("src/main.ts"), k.read("src/game.ts")),
        M(None, k.read("src/player.ts"), k.read("src/physics.ts"), k.read("src/input.ts")),
        M(None, k.grep(r"class \w+|export function \w+", "src", mode="content", n=True)),
        M(None, k.read("src/enemies/index.ts"), k.read("src/enemies/slime.ts"),
          k.read("src/enemies/bat.ts")),
        M(None, k.read("src/level.ts"), k.glob("public/levels/*.json")),
        M("Checking whether particles and audio preloading are wired up.",
          k.grep("particles|preload", "src", i=True)),
        M(None, k.read("src/ui/hud.ts"), k.read("src/ui/pause-menu.ts")),
        M(None, k.read("src/camera.ts"), k.read("src/audio.ts"), k.read("src/particles.ts"),
          k.read("src/save.ts")),
        M("And the tests, to see what is covered.", k.read("tests/player.test.ts"),
          k.read("tests/physics.test.ts")),
        M("Architecture of pixel-quest (TypeScript + Vite, 320x180 canvas):\n\n"
          "- **Entry**: src/main.ts loads the save (src/save.ts, localStorage), fetches "
          "`levels/level<N>.json` with `loadLevel` (src/level.ts) and calls `Game.start`.\n"
          "- **Loop**: `Game.frame` (src/game.ts) runs on requestAnimationFrame with `dt` in "
          "60 Hz frames, capped at 2. Each frame: pause menu, then `update()` (player input, "
          "`step()` physics, enemies, camera), then `draw()` (level, enemies, player, HUD, "
          "pause overlay), then `input.endFrame()` clears the per-frame key presses.\n"
          "- **Physics**: src/physics.ts has `Body` (x, y, w, h, vx, vy, onGround) and "
          "`step(body, solid)`, axis-separated collision against 16 px tiles; GRAVITY 0.35, "
          "MAX_FALL 7.\n"
          "- **Player**: src/player.ts sets vx from input, jumps only when `onGround` and adds "
          "gravity itself; `Game` calls `step()` for it.\n"
          "- **Enemies**: src/enemies/slime.ts and bat.ts, spawned from the level's `enemies` "
          "list by `spawnEnemies`. They move themselves and only probe for walls with "
          "`level.isSolidAt`; no gravity, no `step()`.\n"
          "- **Level**: rows of characters (`#` solid); `solid(tx, ty)` and "
          "`isSolidAt(px, py)`.\n"
          "- **UI**: src/ui/hud.ts (hearts and coin counter) and src/ui/pause-menu.ts.\n\n"
          "Loose ends: src/particles.ts is never imported, and `preload()` in src/audio.ts is "
          "never called, so `playSound` currently plays nothing."),
    ]
    add(Prompt("I'm back on pixel-quest after a few weeks. Give me a quick tour: how do the "
               "game loop, player, physics and enemies fit together?", gap=11.3))
    add(M("I'll have an Explore agent map the code while I read the project notes.",
          k.agent("Explore", "Map the game architecture",
                  "Map the architecture of the TypeScript platformer in /home/dev/pixel-quest: "
                  "entry point, game loop, player, physics, enemies, levels and UI. Note "
                  "anything that looks unused. Keep it short, with file paths.", tour,
                  model=HAIKU, skills=("frontend-design", "test-runner")),
          k.read("CLAUDE.md"), k.read("README.md"),
          think="The user wants an overview. An Explore agent can read the whole tree "
                "quickly; meanwhile CLAUDE.md may have conventions worth mentioning."))
    add(M("Here's the tour.\n\n"
          "**Loop.** `src/main.ts` loads the save and level 1, then `Game.start` "
          "(src/game.ts) runs a requestAnimationFrame loop. `dt` is measured in 60 Hz frames "
          "(capped at 2). Each frame updates the pause menu, then the player, the physics "
          "step, enemies and camera, and draws everything with the HUD on top.\n\n"
          "**Player and physics.** `Player` turns input into velocity and jumps only from the "
          "ground. `step()` in src/physics.ts moves a `Body` and resolves tile collisions one "
          "axis at a time, which is what sets `onGround`.\n\n"
          "**Enemies.** Slimes and bats steer themselves and only look for walls, so they "
          "ignore gravity and ledges.\n\n"
          "**Tests** (vitest) cover physics, player, level and save; nothing covers enemies "
          "or the UI yet.\n\n"
          "**Worth knowing.** particles.ts is unused and `preload()` is never called, so "
          "sounds are silent. CLAUDE.md asks for `npm test` after every change and "
          "`npm run build` before commits, and I'll stick to that."))

    # 2. -------------------------------------------------------------- double jump
    jump_fail = vitest_fail(
        cwd, {**suites, "tests/player.test.ts": 7}, "tests/player.test.ts",
        "Player > cannot jump in mid-air", "AssertionError: expected -5.2 to be +0 // Object.is "
        "equality", "tests/player.test.ts:37:23",
        ["     35|     const p = new Player(0, 0);",
         '     36|     p.update(press("jump"), 0);',
         "     37|     expect(p.body.vy).toBe(0);",
         "       |                       ^",
         "     38|   });",
         "     39| "], 1107)
    todo_jump = [("Add double-jump state to Player", "Adding double-jump state to Player"),
                 ("Reset jumps on landing", "Resetting jumps on landing"),
                 ("Add double-jump tests", "Adding double-jump tests"),
                 ("Run the test suite", "Running the test suite")]

    def jump_todos(marks: str) -> Tool:
        return k.todo(*[(m, c, f) for m, (c, f) in zip(marks, todo_jump, strict=True)])

    add(Prompt("Let's add a double jump: one extra jump in mid-air, and both jumps reset when "
               "you land. Add tests for it.", gap=96.0))
    add(M("I'll plan this out.", jump_todos(">   ")))
    add(M(None, k.read("src/player.ts"), k.read("tests/player.test.ts"),
          k.grep("onGround", "src", mode="content", n=True)))
    add(M("I'll add a `MAX_JUMPS` constant and a `jumpsLeft` counter.",
          k.edit("src/player.ts", "export const JUMP_VELOCITY = -5.2;\n",
                 "export const JUMP_VELOCITY = -5.2;\nexport const MAX_JUMPS = 2;\n")))
    add(M(None, k.edit("src/player.ts", "  coins = 0;\n",
                       "  coins = 0;\n  jumpsLeft = MAX_JUMPS;\n")))
    add(M(None, k.edit("src/player.ts",
                       "if (input.jumpPressed && this.body.onGround) {\n  this.jump();\n}",
                       "if (this.body.onGround) this.jumpsLeft = MAX_JUMPS;\n"
                       "if (input.jumpPressed && this.jumpsLeft > 0) {\n  this.jump();\n}",
                       fails=True)))
    add(M("Wrong indentation in my match; retrying with the exact text.",
          k.edit("src/player.ts",
                 "    if (input.jumpPressed && this.body.onGround) {\n      this.jump();\n    }",
                 "    if (this.body.onGround) this.jumpsLeft = MAX_JUMPS;\n"
                 "    if (input.jumpPressed && this.jumpsLeft > 0) {\n      this.jump();\n    }")))
    add(M(None, k.edit("src/player.ts", "    this.body.vy = JUMP_VELOCITY;\n",
                       "    this.body.vy = JUMP_VELOCITY;\n    this.jumpsLeft -= 1;\n")))
    add(M(None, jump_todos("xx> ")))
    add(M("Now the tests.",
          k.edit("tests/player.test.ts",
                 'import { JUMP_VELOCITY, Player, RUN_SPEED } from "../src/player";',
                 'import { JUMP_VELOCITY, MAX_JUMPS, Player, RUN_SPEED } from "../src/player";')))
    add(M(None, k.edit(
        "tests/player.test.ts",
        "    p.hurt();\n    expect(p.hp).toBe(2);\n  });\n});\n",
        "    p.hurt();\n    expect(p.hp).toBe(2);\n  });\n\n"
        '  it("allows one extra jump in mid-air", () => {\n'
        "    const p = new Player(0, 0);\n    p.body.onGround = true;\n"
        '    p.update(press("jump"), 0);\n    p.body.onGround = false;\n'
        '    p.update(press("jump"), 0);\n    expect(p.jumpsLeft).toBe(0);\n'
        "    expect(p.body.vy).toBe(JUMP_VELOCITY);\n  });\n\n"
        '  it("resets jumps on landing", () => {\n'
        "    const p = new Player(0, 0);\n    p.jumpsLeft = 0;\n    p.body.onGround = true;\n"
        "    p.update(press(), 0);\n    expect(p.jumpsLeft).toBe(MAX_JUMPS);\n  });\n});\n")))
    add(M(None, jump_todos("xxx>")))
    add(M(None, k.bash("npm test", "Run the test suite", out=jump_fail, code=1, secs=3.2)))
    suites["tests/player.test.ts"] = 7
    add(M("That failure is expected: the old test starts the player in mid-air with both "
          "jumps available, and a mid-air jump is now allowed. I'll make it check the case "
          "that must still fail, no jumps left.",
          k.edit("tests/player.test.ts",
                 '  it("cannot jump in mid-air", () => {\n    const p = new Player(0, 0);\n',
                 '  it("cannot jump in mid-air without jumps left", () => {\n'
                 "    const p = new Player(0, 0);\n    p.jumpsLeft = 0;\n")))
    add(M(None, k.bash("npm test", "Run the test suite", out=green(948), secs=3.0),
          k.bash("npx tsc --noEmit", "Type-check", secs=3.8)))
    add(M(None, jump_todos("xxxx")))
    add(M("Double jump is in. `Player` has `jumpsLeft` (max `MAX_JUMPS = 2`), which is reset "
          "every frame the player stands on the ground and decremented by `jump()`. Tests: "
          "two new ones (extra mid-air jump, reset on landing), and \"cannot jump in mid-air\" "
          "now sets `jumpsLeft = 0` first, since a single mid-air jump is now allowed. "
          "All 20 tests pass."))

    # 3. -------------------------------------------------------------- slimes and ledges
    slime_fail = vitest_fail(
        cwd, {"tests/slime.test.ts": 2}, "tests/slime.test.ts",
        "Slime > turns around at the edge of a platform",
        "AssertionError: expected -1 to be 1 // Object.is equality",
        "tests/slime.test.ts:14:23",
        ["     12|     const slime = new Slime(33, 4);",
         "     13|     for (let i = 0; i < 10; i++) slime.update(level);",
         "     14|     expect(slime.dir).toBe(1);",
         "       |                       ^",
         "     15|   });",
         "     16| "], 702)
    plan = [
        M("Starting with the slime and the level helpers.", k.read("src/enemies/slime.ts"),
          k.read("src/level.ts")),
        M(None, k.read("src/enemies/bat.ts"),
          k.grep("isSolidAt", "src", mode="content", n=True)),
        M(None, k.read("src/physics.ts")),
        M(None, k.glob("tests/**/*.test.ts")),
        M(None, k.read("tests/level.test.ts")),
        M("Looking at where slimes are placed in the level.",
          k.grep('"slime"', "public", mode="content", n=True)),
        M(None, k.read("public/levels/level1.json")),
        M(None, k.grep("dir", "src/enemies", mode="count")),
        M("## Plan: slimes turn at ledges\n\n"
          "1. In `Slime.update` (src/enemies/slime.ts:15-21) keep the wall probe and add a "
          "floor probe one pixel below the slime's front edge: "
          "`level.isSolidAt(front, this.body.y + this.body.h + 1)`. Turn around when there "
          "is a wall ahead **or** no floor ahead.\n"
          "2. Nothing else has to change: `Level.isSolidAt` converts pixels to tiles and "
          "treats out-of-bounds as air, so slimes at the map edge turn as well.\n"
          "3. Add tests/slime.test.ts with a tiny `Level`, as tests/level.test.ts does: one "
          "test for a slime walking off a 3-tile platform, one that walls still work.\n"
          "4. level1.json: the slime at (290, 54) stands on the 6-tile platform in row 4, "
          "the exact case from the report.\n\n"
          "Risk: probe at `front`, not at the centre, or slimes hang half over the edge "
          "before turning. Bats fly, so they are unaffected."),
    ]
    add(Mode("acceptEdits"))
    add(Prompt("Slimes walk straight off ledges. Make them turn around at the edge of a "
               "platform, like they already do at walls. Plan it first.", gap=163.0))
    add(M(None, k.agent("Plan", "Plan slime ledge turning",
                        "Plan how to make slimes in /home/dev/pixel-quest (src/enemies/slime.ts) "
                        "turn around at platform edges as they do at walls. Read the relevant "
                        "code and tests, then give a short numbered plan with file:line "
                        "references and the tests to add. Do not edit files.", plan)))
    add(M("The plan is sound. Implementing it.", k.read("src/enemies/slime.ts")))
    add(M(None, k.edit("src/enemies/slime.ts",
                       "    if (level.isSolidAt(front, this.body.y + this.body.h / 2)) {\n",
                       "    const wall = level.isSolidAt(front, this.body.y + this.body.h / 2);\n"
                       "    const ledge = !level.isSolidAt(front, this.body.y + this.body.h + 1);"
                       "\n    if (wall || ledge) {\n")))
    add(M("Checking the existing level test helpers before writing a slime test.",
          k.read("tests/level.test.ts"), k.grep("new Slime", mode="content", n=True)))
    add(M(None, k.write("tests/slime.test.ts", SLIME_TESTS)))
    add(M(None, k.bash("npx vitest run tests/slime.test.ts", "Run the new slime tests",
                       out=slime_fail, code=1, secs=1.6)))
    add(M("My test slime floats 2 px above the platform (y 4 + height 10 = 14, the platform "
          "starts at 16), so it never sees floor and flips every frame. Placing it on the "
          "platform.",
          k.edit("tests/slime.test.ts", "new Slime(33, 4)", "new Slime(33, 6)")))
    suites["tests/slime.test.ts"] = 2
    add(M(None, k.bash("npm test", "Run the full test suite", out=green(1012), secs=3.3),
          k.bash("npx tsc --noEmit", "Type-check", secs=4.1)))
    add(M("Slimes now turn around at platform edges as well as walls. `Slime.update` probes "
          "one pixel below its front edge and reverses when there is no floor there. New "
          "tests/slime.test.ts covers ledges and walls; all 22 tests pass and the type check "
          "is clean. (My first test placed the slime 2 px above the platform, so it flipped "
          "every frame; the code was fine.)"))

    # 4. -------------------------------------------------------------- a GitHub issue
    issues = [
        {"number": 45, "title": "Music keeps playing after 'Quit to title'", "state": "open",
         "labels": ["bug", "audio"], "comments": 0, "created_at": "2026-08-19T08:12:40Z"},
        {"number": 42, "title": "Pause menu flickers and reopens while Esc is held",
         "state": "open", "labels": ["bug", "ui", "good first issue"], "comments": 3,
         "created_at": "2026-08-11T19:44:02Z"},
        {"number": 38, "title": "Bat clips through ceiling tiles on level 1", "state": "open",
         "labels": ["bug", "physics"], "comments": 1, "created_at": "2026-08-02T10:27:55Z"},
    ]
    issue42 = {
        "number": 42, "title": "Pause menu flickers and reopens while Esc is held",
        "state": "open", "user": {"login": "playtester-jo"},
        "labels": [{"name": "bug"}, {"name": "ui"}, {"name": "good first issue"}],
        "body": "Steps: start level 1, press and hold Esc.\n\nExpected: the pause menu "
                "opens once.\nActual: it flickers open/closed every frame until Esc is "
                "released, and ends up in a random state.",
        "html_url": "https://github.com/dev-example/pixel-quest/issues/42", "comments": 3}
    add(Prompt("Can you check GitHub for open bugs about the pause menu and fix the easiest "
               "one?", gap=1262.0))
    add(M(None, k.mcp("mcp__github__list_issues",
                      {**gh, "state": "open", "labels": ["bug"]}, issues)))
    music = [
        M(None, k.grep("music|playSound|AudioContext", "src", mode="content", n=True)),
        M(None, k.read("src/audio.ts"), k.grep("Quit to title", "src", mode="content", n=True)),
        M(None, k.read("src/ui/pause-menu.ts")),
        M("#45 is not a quick fix: there is no music in the code at all. src/audio.ts only "
          "has one-shot `playSound(name, volume)` on a shared AudioContext, and "
          "'Quit to title' (src/ui/pause-menu.ts:3) is just a label with no handler, so "
          "there is no title screen to quit to. The bug needs a music player and a title "
          "screen first."),
    ]
    bob = _pos(PIXEL_QUEST["src/enemies/bat.ts"], "this.body.y += Math.cos")[0]
    probe = _pos(PIXEL_QUEST["src/enemies/bat.ts"], "if (level.isSolidAt")[0]
    bats = [
        M(None, k.read("src/enemies/bat.ts"), k.read("src/physics.ts")),
        M(None, k.grep("isSolidAt", "src/enemies", mode="content", n=True)),
        M(None, k.read("public/levels/level1.json")),
        M(f"#38 is real but medium-sized. Bats bob with `body.y += Math.cos(t / 10) * 0.4` "
          f"(src/enemies/bat.ts:{bob}), about ±4 px, and only probe for walls at their top "
          f"edge (`isSolidAt(front, this.body.y)`, line {probe}); nothing checks vertically. "
          "The bat in level1.json starts at (480, 98), 2 px below the platform in row 5 "
          "(y 80-95), so its bob pushes it 2 px into the ceiling. Fix: run bats through "
          "`step()` with a solid-tile callback, or check the tile above/below before "
          "bobbing. Needs tests."),
    ]
    add(M("#42 is the pause-menu one and is labelled a good first issue.",
          k.mcp("mcp__github__get_issue", {**gh, "issue_number": 42}, issue42)))
    add(M("To be sure #42 is the easiest, two agents will size up the other bugs while I look "
          "at the pause menu.",
          k.agent("Explore", "Size up issue #45 (music after quit)",
                  "In /home/dev/pixel-quest, find how music is played and how 'Quit to title' "
                  "works, to judge how hard GitHub issue #45 'Music keeps playing after Quit to "
                  "title' is to fix. Short answer with file:line.", music, model=HAIKU),
          k.agent("Explore", "Size up issue #38 (bat clipping)",
                  "In /home/dev/pixel-quest, find why bats could clip through ceiling tiles "
                  "(GitHub issue #38) and how hard a fix would be. Short answer with "
                  "file:line.", bats, model=HAIKU),
          k.read("src/ui/pause-menu.ts"), k.read("src/input.ts")))
    add(M("Found it: the menu toggles on `input.pauseHeld`, which is true on every frame the "
          "key is down. It needs an edge-triggered press, like `jumpPressed`.",
          k.edit("src/ui/pause-menu.ts", "    if (input.pauseHeld) {",
                 "    if (input.pausePressed) {")))
    add(M(None, k.edit("src/input.ts",
                       '  get pauseHeld(): boolean {\n    return this.down.has("pause");\n  }',
                       '  get pausePressed(): boolean {\n    return this.pressed.has("pause");\n'
                       "  }")))
    add(M("Making sure nothing else used `pauseHeld`.", k.grep("pauseHeld")))
    add(M(None, k.bash("npm test", "Run the test suite", out=green(979), secs=3.1),
          k.bash("npx tsc --noEmit", "Type-check", secs=3.9)))
    add(M(None, k.mcp(
        "mcp__github__add_issue_comment",
        {**gh, "issue_number": 42,
         "body": "Fixed locally: the pause menu toggled on the held state of Esc, so it "
                 "flipped every frame. It now uses an edge-triggered `pausePressed` (like "
                 "`jumpPressed`). Will land with the next PR."},
        {"id": 2331145090,
         "html_url": "https://github.com/dev-example/pixel-quest/issues/42"
                     "#issuecomment-2331145090"})))
    add(M("Fixed #42 (\"Pause menu flickers and reopens while Esc is held\"), the easiest of "
          "the three open bugs. The menu toggled on `input.pauseHeld`, which stays true while "
          "Esc is down, so it flipped every frame. `Input` now exposes an edge-triggered "
          "`pausePressed` instead (src/input.ts), and the menu uses it "
          "(src/ui/pause-menu.ts). Tests and type check pass, and I left a comment on the "
          "issue. The other two (#45 music after quitting, #38 bat clipping) need more "
          "digging."))

    # 5. -------------------------------------------------------------- coyote time
    research = [
        M(None, k.search(
            "coyote time jump buffering platformer how many frames",
            [("Coyote time and jump buffering, explained",
              "https://gamedev-notes.example.com/coyote-time"),
             ("Platformer feel: seven small forgiveness tricks",
              "https://blog.example.org/platformer-forgiveness"),
             ("Jump buffering in 20 lines", "https://devlog.example.net/jump-buffer")],
            "Coyote time keeps a jump available for a few frames after the player runs off "
            "a ledge; jump buffering remembers a jump pressed shortly before landing. "
            "Articles suggest 4-8 frames at 60 fps for coyote time and 4-6 for the buffer.")),
        M(None, k.fetch(
            "https://gamedev-notes.example.com/coyote-time",
            "How are coyote time and jump buffering implemented, and with what values?",
            result="Coyote time: keep a counter that is reset to N frames whenever the "
                   "player is grounded and counts down in the air; allow a ground jump while "
                   "it is above zero, and clear it when jumping so it cannot be used twice. "
                   "5-7 frames (about 100 ms) feels fair without looking like a mid-air jump. "
                   "Jump buffer: when jump is pressed, store N frames; each frame, if the "
                   "player can jump and the buffer is above zero, jump and clear it."),
          k.fetch("https://blog.example.org/platformer-forgiveness",
                  "List the forgiveness tricks and their typical values.", code=404)),
        M("One source is gone; looking for how this interacts with a double jump.",
          k.search("coyote time double jump interaction platformer",
                   [("Double jumps and coyote time",
                     "https://devlog.example.net/double-jump-coyote"),
                    ("Forum: coyote time with air jumps",
                     "https://forum.example.com/t/coyote-time-air-jumps/4121")],
                   "With a double jump, walking off a ledge usually keeps the ground jump "
                   "during coyote time; once it runs out, only the air jump remains.")),
        M(None, k.fetch(
            "https://devlog.example.net/double-jump-coyote",
            "How should coyote time interact with a double jump?",
            result="Treat the coyote window as still being on the ground: a jump in it uses "
                   "the ground jump and leaves the air jump. When the window closes without a "
                   "jump, remove the ground jump so the player has exactly one air jump left, "
                   "the same as after jumping.")),
        M(None, k.fetch(
            "https://devlog.example.net/jump-buffer",
            "How should the buffer count down with a variable timestep?",
            result="Count the buffer down by dt (in frames) rather than by 1 when the game "
                   "uses a variable timestep, and check it before applying gravity so a "
                   "buffered jump fires on the landing frame.")),
        M("Summary for pixel-quest (dt is in 60 Hz frames):\n\n"
          "- **Coyote time**: counter set to `COYOTE_FRAMES = 6` (~100 ms) while grounded, "
          "counted down by `dt` in the air; a ground jump is allowed while it is above zero. "
          "Clear it on jump.\n"
          "- **Jump buffer**: on jump press set `BUFFER_FRAMES = 5`; jump as soon as a jump "
          "is available and the buffer is above zero, then clear it; count down by `dt`.\n"
          "- **With the double jump**: during coyote time the player keeps both jumps; when "
          "it runs out without jumping, drop to one (air) jump.\n"
          "- Sources: gamedev-notes.example.com/coyote-time, "
          "devlog.example.net/jump-buffer, a forum thread on air jumps. "
          "blog.example.org/platformer-forgiveness returned 404."),
    ]
    add(Prompt("Jumps still feel unforgiving at platform edges. Look up how other platformers "
               "handle coyote time and jump buffering, then add both.", gap=318.0))
    add(M("I'll send a research agent for the web part.",
          k.agent("general-purpose", "Research coyote time and jump buffering",
                  "Research how 2D platformers implement coyote time and jump buffering: "
                  "typical frame counts at 60 fps, how the counters reset, and how they "
                  "interact with a double jump. Our game measures dt in 60 Hz frames. "
                  "Summarise in under 200 words with sources.", research)))
    add(M("Clear recommendations. Adding both to the player.", k.read("src/player.ts")))
    add(M(None, k.edit("src/player.ts", "export const MAX_JUMPS = 2;\n",
                       "export const MAX_JUMPS = 2;\nexport const COYOTE_FRAMES = 6;\n"
                       "export const BUFFER_FRAMES = 5;\n")))
    add(M(None, k.edit("src/player.ts", "  jumpsLeft = MAX_JUMPS;\n",
                       "  jumpsLeft = MAX_JUMPS;\n  coyote = 0;\n  buffer = 0;\n")))
    add(M(None, k.edit(
        "src/player.ts",
        "    if (this.body.onGround) this.jumpsLeft = MAX_JUMPS;\n"
        "    if (input.jumpPressed && this.jumpsLeft > 0) {\n      this.jump();\n    }",
        "    if (this.body.onGround) {\n      this.jumpsLeft = MAX_JUMPS;\n"
        "      this.coyote = COYOTE_FRAMES;\n    } else if (this.coyote > 0) {\n"
        "      this.coyote -= dt;\n    } else if (this.jumpsLeft === MAX_JUMPS) {\n"
        "      this.jumpsLeft = MAX_JUMPS - 1; // walked off a ledge: only the air jump left\n"
        "    }\n    if (input.jumpPressed) this.buffer = BUFFER_FRAMES;\n"
        "    if (this.buffer > 0 && this.jumpsLeft > 0) {\n      this.buffer = 0;\n"
        "      this.jump();\n    }\n    this.buffer = Math.max(0, this.buffer - dt);")))
    add(M(None, k.edit("src/player.ts", "    this.jumpsLeft -= 1;\n",
                       "    this.jumpsLeft -= 1;\n    this.coyote = 0;\n")))
    add(M("And tests for both.", k.edit(
        "tests/player.test.ts",
        "    expect(p.jumpsLeft).toBe(MAX_JUMPS);\n  });\n});\n",
        "    expect(p.jumpsLeft).toBe(MAX_JUMPS);\n  });\n\n"
        '  it("still jumps shortly after walking off a ledge", () => {\n'
        "    const p = new Player(0, 0);\n    p.body.onGround = true;\n"
        "    p.update(press(), 1);\n    p.body.onGround = false;\n"
        "    p.update(press(), 3);\n"
        '    p.update(press("jump"), 0);\n'
        "    expect(p.body.vy).toBe(JUMP_VELOCITY);\n"
        "    expect(p.jumpsLeft).toBe(MAX_JUMPS - 1);\n  });\n\n"
        '  it("remembers a jump pressed just before landing", () => {\n'
        "    const p = new Player(0, 0);\n    p.jumpsLeft = 0;\n"
        '    p.update(press("jump"), 2);\n    p.body.onGround = true;\n'
        "    p.update(press(), 0);\n    expect(p.body.vy).toBe(JUMP_VELOCITY);\n  });\n});\n")))
    suites["tests/player.test.ts"] = 9
    add(M(None, k.bash("npm test", "Run the test suite", out=green(1034), secs=3.2),
          k.bash("npx tsc --noEmit", "Type-check", secs=4.0)))
    add(M("Added both, using the research agent's numbers:\n\n"
          "- **Coyote time**: `COYOTE_FRAMES = 6` (~100 ms). While it runs, walking off a "
          "ledge still gives you the ground jump plus the air jump; after that only the air "
          "jump is left.\n"
          "- **Jump buffer**: `BUFFER_FRAMES = 5`. A jump pressed up to 5 frames before "
          "landing fires on the landing frame.\n\n"
          "Both count down by `dt`, so they behave the same at any frame rate. Two new tests "
          "cover them; all 24 pass."))
    return _long_part2(k, cwd, gh, suites, steps)


def _long_part2(k: Kit, cwd: str, gh: dict[str, Any], suites: dict[str, int],
                steps: list[Prompt | Msg | Compact | Mode | End]) -> Session:
    add = steps.append

    def green(ms: int) -> str:
        return vitest_pass(cwd, suites, ms)

    # 6. -------------------------------------------------------------- HUD in the browser
    hud_hunt = [
        M(None, k.grep("drawHud|fillText", "src", mode="content", n=True)),
        M(None, k.read("src/ui/hud.ts"), k.read("src/game.ts")),
        M(None, k.grep(r"new Game\(", "src", mode="content", n=True), k.read("src/main.ts")),
        M("The HUD is drawn by `drawHud(ctx, player, width)` in src/ui/hud.ts, called from "
          "`Game.draw` (src/game.ts) after the player, with `width` 320 from src/main.ts. "
          "Hearts are drawn left-aligned at (6, 6). The coin counter is drawn left-aligned at "
          "`width - 64` = 256 px in an 8 px font: `COINS 10` is exactly 64 px wide and ends "
          "at the screen edge, and `COINS 100` (72 px) loses its last digit. Nothing else "
          "draws text over the HUD."),
    ]
    e2e_fail = "\n".join([
        "Running 1 test using 1 worker", "",
        "  ✘  1 [chromium] › e2e/hud.spec.ts:3:5 › HUD fits on a 320x180 screen (2.1s)", "",
        "  1) [chromium] › e2e/hud.spec.ts:3:5 › HUD fits on a 320x180 screen ───────────", "",
        "    Error: A snapshot doesn't exist at "
        "/home/dev/pixel-quest/e2e/hud.spec.ts-snapshots/hud-chromium-linux.png, "
        "writing actual.", "",
        '       6 |   await expect(canvas).toHaveAttribute("width", "320");',
        '    >  7 |   await expect(canvas).toHaveScreenshot("hud.png", {',
        "         |                        ^",
        "       8 |     clip: { x: 0, y: 0, width: 320, height: 20 },", "",
        "  1 failed",
        "    [chromium] › e2e/hud.spec.ts:3:5 › HUD fits on a 320x180 screen ─────────────"])
    shots = f"{cwd}/.playwright-mcp"
    add(Prompt("Run the game in the browser at 320x180 and check the HUD looks right. I think "
               "the coin counter gets cut off.", gap=204.0))
    todo_hud = [("Find the HUD layout code", "Finding the HUD layout code"),
                ("Reproduce the clipped counter in the browser", "Reproducing it in the browser"),
                ("Fix the coin counter position", "Fixing the coin counter position"),
                ("Add a screenshot test", "Adding a screenshot test")]

    def hud_todos(marks: str) -> Tool:
        return k.todo(*[(m, c, f) for m, (c, f) in zip(marks, todo_hud, strict=True)])

    add(M(None, hud_todos(">   ")))
    add(M("I'll have an agent find the HUD layout code first.",
          k.agent("Explore", "Find HUD layout code",
                  "In /home/dev/pixel-quest, find where the HUD is laid out and drawn, how the "
                  "coin counter is positioned, and what screen width it assumes. Report "
                  "file:line and the exact positions.", hud_hunt, model=HAIKU)))
    add(M(None, hud_todos("x>  ")))
    add(M("Starting the dev server so I can look at it.",
          k.bash("npm run dev -- --port 5173", "Start the Vite dev server",
                 run_in_background=True, background="b7m2q4x", secs=0.3)))
    add(M(None, k.mcp("mcp__playwright__browser_resize", {"width": 320, "height": 180},
                      text=_pw("await page.setViewportSize({ width: 320, height: 180 });"))))
    add(M(None, k.mcp("mcp__playwright__browser_navigate", {"url": "http://localhost:5173/"},
                      text=_pw("await page.goto('http://localhost:5173/');", state=True),
                      secs=1.9)))
    add(M(None, k.mcp("mcp__playwright__browser_take_screenshot", {"filename": "hud-before.png"},
                      text=_pw(f"await page.screenshot({{ path: '{shots}/hud-before.png' }});",
                               f"Took the viewport screenshot and saved it as "
                               f"{shots}/hud-before.png"))))
    add(M("The counter is clipped at the right edge. Measuring the label to be sure.",
          k.mcp("mcp__playwright__browser_evaluate",
                {"function": "() => { const c = document.querySelector('canvas')"
                             ".getContext('2d'); c.font = \"8px 'Press Start 2P'\"; "
                             "return c.measureText('COINS 100').width; }"},
                text=_pw("await page.evaluate('() => { ... }');", "72"))))
    add(M("72 px from x = 256 runs 8 px past the 320 px edge. Right-aligning it to the edge "
          "margin fixes it for any coin count.", k.read("src/ui/hud.ts")))
    add(M(None, k.edit("src/ui/hud.ts",
                       "  ctx.fillText(`COINS ${player.coins}`, width - 64, 6);",
                       '  ctx.textAlign = "right";\n'
                       "  ctx.fillText(`COINS ${player.coins}`, width - 6, 6);")))
    add(M(None, hud_todos("xx> ")))
    add(M(None, k.mcp("mcp__playwright__browser_navigate", {"url": "http://localhost:5173/"},
                      text=_pw("await page.goto('http://localhost:5173/');", state=True),
                      secs=1.4)))
    add(M(None, k.mcp("mcp__playwright__browser_take_screenshot", {"filename": "hud-after.png"},
                      text=_pw(f"await page.screenshot({{ path: '{shots}/hud-after.png' }});",
                               f"Took the viewport screenshot and saved it as "
                               f"{shots}/hud-after.png"))))
    add(M("The counter now fits with a 6 px margin.", hud_todos("xxx>")))
    add(M("I'll add a screenshot test so this doesn't regress.",
          k.write("e2e/hud.spec.ts", HUD_SPEC)))
    add(M(None, k.bash("npx playwright test e2e/hud.spec.ts", "Run the HUD browser test",
                       out=e2e_fail, code=1, secs=6.2)))
    add(M("As expected for a new screenshot test: there's no baseline yet. Recording it.",
          k.bash("npx playwright test e2e/hud.spec.ts --update-snapshots",
                 "Record the HUD screenshot baseline", out=E2E_PASS, secs=5.4)))
    add(M(None, k.mcp("mcp__playwright__browser_close", {},
                      text=_pw("await page.close()"))))
    add(M(None, k.bash("npm test", "Run the unit tests", out=green(1021), secs=3.2),
          hud_todos("xxxx")))
    add(M("You were right: the coin counter was drawn left-aligned at x = 256, so `COINS 100` "
          "(72 px) ran 8 px off the 320 px screen. It is now right-aligned 6 px from the edge "
          "(src/ui/hud.ts), matching the hearts' margin, and fits any count. I checked it in "
          "the browser before and after, and added e2e/hud.spec.ts, a Playwright screenshot "
          "test of the HUD strip, with its baseline recorded. The dev server is still running "
          "in the background on port 5173."))

    # 7. -------------------------------------------------------------- the notebook
    add(Prompt("Update the balance notebook so the enemy table matches the real slime and bat "
               "stats, and add a note about the double jump.", gap=1748.0))
    add(M(None, k.read("notebooks/balance.ipynb"),
          k.grep("hp = |speed = ", "src/enemies", mode="content", n=True)))
    add(M("The table has slime speed 0.4 and bat speed 0.8; the code says 0.5 and 0.9.",
          k.notebook("notebooks/balance.ipynb", "enemy-table",
                     "enemies = pd.DataFrame([\n"
                     '    {"kind": "slime", "hp": 2, "speed": 0.5, "turns_at_ledges": True},\n'
                     '    {"kind": "bat", "hp": 1, "speed": 0.9, "turns_at_ledges": False},\n'
                     "])\nenemies")))
    add(M(None, k.notebook("notebooks/balance.ipynb", "load",
                           "import pandas as pd\nimport matplotlib.pyplot as plt\n\n"
                           "GRAVITY = 0.35\nJUMP_VELOCITY = -5.2\nMAX_JUMPS = 2\n"
                           "COYOTE_FRAMES = 6\nBUFFER_FRAMES = 5")))
    add(M(None, k.notebook("notebooks/balance.ipynb", "jump-arc",
                           "## Double jump\n\nThe player has `MAX_JUMPS = 2`: a ground jump and "
                           "one air jump, both reset on landing. Walking off a ledge keeps the "
                           "ground jump for `COYOTE_FRAMES = 6` frames; a jump pressed up to "
                           "`BUFFER_FRAMES = 5` frames before landing still fires. Two "
                           "back-to-back jumps reach about 77 px, nearly 5 tiles.",
                           cell_type="markdown", edit_mode="insert", new_id="double-jump")))
    add(M("Updated notebooks/balance.ipynb:\n\n"
          "- `enemy-table`: slime speed 0.4 → 0.5 and bat speed 0.8 → 0.9 to match "
          "src/enemies, plus a `turns_at_ledges` column.\n"
          "- `load`: added `MAX_JUMPS`, `COYOTE_FRAMES` and `BUFFER_FRAMES` next to the "
          "physics constants.\n"
          "- New markdown cell `double-jump` after the jump-arc plot explains the double "
          "jump, coyote time and buffering.\n\n"
          "I didn't run the notebook; re-run it to refresh the table and the plot."))

    # 8. -------------------------------------------------------------- save slots
    todo_slots = [("Change the save API to per-slot saves", "Changing the save API"),
                  ("Build the slot-select screen", "Building the slot-select screen"),
                  ("Update the save tests", "Updating the save tests"),
                  ("Wire the slot-select screen into startup", "Wiring up the slot screen"),
                  ("Run build and tests", "Running build and tests")]

    def slot_todos(marks: str) -> Tool:
        return k.todo(*[(m, c, f) for m, (c, f) in zip(marks, todo_slots, strict=True)])

    tsc_red = "src/main.ts(7,15): error TS2554: Expected 1 arguments, but got 0.\n"
    menu_hunt = [
        M(None, k.glob("src/ui/*.ts")),
        M(None, k.read("src/ui/pause-menu.ts"), k.read("src/ui/hud.ts")),
        M(None, k.grep(r"Pressed|Held|\.left|\.right", "src", mode="content", n=True)),
        M(None, k.read("src/input.ts")),
        M("UI patterns:\n- Menus are plain classes with `update(input)` and "
          "`draw(ctx, w, h)`, e.g. `PauseMenu` (src/ui/pause-menu.ts): an `ITEMS` array, a "
          "`selected` index, highlight colour #ffec27, other text #fff1e8, font "
          "`8px 'Press Start 2P'`, centred text.\n- The HUD is a free function "
          "`drawHud(ctx, player, width)`.\n- `Input` (src/input.ts) has edge-triggered "
          "`jumpPressed` and `pausePressed`, but `left`/`right` are only held states; there "
          "is no per-key pressed check yet, so a menu that moves on left/right would need one "
          "(the `pressed` set exists, it just isn't exposed)."),
    ]
    screen = [
        M("First, how the existing menus are built.",
          k.agent("Explore", "Find menu and UI patterns",
                  "In /home/dev/pixel-quest/src, find how menus and UI screens are built "
                  "(classes, draw functions, colours, fonts) and how they read input. Short "
                  "answer with file paths.", menu_hunt, model=HAIKU)),
        M("I need an edge-triggered left/right for the menu. Adding a small helper to Input.",
          k.read("src/input.ts")),
        M(None, k.edit("src/input.ts", "  endFrame(): void {\n    this.pressed.clear();\n  }\n",
                       "  endFrame(): void {\n    this.pressed.clear();\n  }\n\n"
                       "  wasPressed(key: string): boolean {\n"
                       "    return this.pressed.has(key);\n  }\n")),
        M(None, k.read("src/save.ts")),
        M(None, k.write("src/ui/slot-select.ts", SLOT_SELECT)),
        M(None, k.bash("npx tsc --noEmit", "Type-check", out=tsc_red, code=2, secs=4.4)),
        M("Created src/ui/slot-select.ts: `new SlotSelect(canvas).choose()` draws three slot "
          "boxes (SLOT n, LEVEL n or EMPTY, coins), moves with left/right and resolves with "
          "`{ slot, data }` when jump (Space) is pressed. I added `Input.wasPressed(key)` "
          "(src/input.ts) for the left/right edges. `npx tsc --noEmit` reports one error, "
          "src/main.ts(7,15): `load()` now needs a slot. I left main.ts alone as asked."),
    ]
    tests = [
        M(None, k.read("tests/save.test.ts")),
        M("Rewriting the tests for the slot API.", k.write("tests/save.test.ts", SAVE_TESTS)),
        M(None, k.bash("npx vitest run tests/save.test.ts", "Run the save tests",
                       out=vitest_pass(cwd, {"tests/save.test.ts": 6}, 655), secs=1.5)),
        M("tests/save.test.ts now has 6 tests for the slot API: empty slot, round trip per "
          "slot, `listSlots`, `clearSlot`, out-of-range slots throwing `RangeError`, and "
          "corrupt data. All 6 pass."),
    ]
    api = ("The save API in src/save.ts is now: `SLOT_COUNT = 3`; `save(slot, data)`; "
           "`load(slot): SaveData | null`; `listSlots(): (SaveData | null)[]`; "
           "`clearSlot(slot)`; `SaveData` gained `savedAt: string`; slots outside "
           "0..2 throw RangeError.")
    add(Prompt("Big one: I want save slots. A slot-select screen on startup, and save/load per "
               "slot. Split the work up if you can.", gap=287.0))
    add(M(None, k.ask("How many save slots should the select screen offer?", "Save slots",
                      [("3 slots", "Classic, fits side by side on the 320x180 screen"),
                       ("5 slots", "Needs a smaller font or two rows"),
                       ("Unlimited", "A scrolling list; more UI work")], "3 slots")))
    add(M("Three slots it is.", slot_todos(">    ")))
    add(M(None, k.read("src/save.ts"), k.read("tests/save.test.ts"), k.read("src/main.ts")))
    add(M("I'll change the save API myself first so both agents build against the same "
          "thing.", k.write("src/save.ts", SAVE_SLOTS)))
    add(M(None, slot_todos("x>>  ")))
    add(M("Now the screen and the tests in parallel.",
          k.agent("general-purpose", "Build the slot-select screen",
                  "In /home/dev/pixel-quest, build a slot-select screen in "
                  "src/ui/slot-select.ts, shown on startup before the game. " + api +
                  " Follow the style of the existing UI in src/ui/. Do not touch tests or "
                  "src/main.ts; report the class API when done.", screen),
          k.agent("general-purpose", "Update the save tests",
                  "In /home/dev/pixel-quest, rewrite tests/save.test.ts (vitest, jsdom "
                  "localStorage) for the new slot-based save API. " + api +
                  " Run just that test file and report.", tests)))
    add(M(None, slot_todos("xxx> ")))
    add(Compact("Afternoon session on pixel-quest (TypeScript platformer, vitest, Vite). Done "
                "so far: double jump (MAX_JUMPS), slimes turn at ledges, pause menu fix for "
                "GitHub #42 (pausePressed), coyote time and jump buffering, HUD coin counter "
                "right-aligned plus e2e/hud.spec.ts, balance notebook updated. Current task: "
                "save slots (3, chosen by the user). src/save.ts now has SLOT_COUNT, "
                "save(slot, data), load(slot), listSlots(), clearSlot(slot). A subagent wrote "
                "src/ui/slot-select.ts (new SlotSelect(canvas).choose() resolves "
                "{ slot, data }) and added Input.wasPressed; another rewrote "
                "tests/save.test.ts (6 tests, passing). Remaining: wire SlotSelect into "
                "src/main.ts (tsc currently fails there: load() needs a slot), then run "
                "build and tests.", 161_874))
    add(M("Wiring the slot screen into startup.", k.edit(
        "src/main.ts",
        'import { load } from "./save";\n\n'
        'const canvas = document.querySelector<HTMLCanvasElement>("#screen")!;\n'
        "const game = new Game(canvas, 320, 180);\nconst saved = load();\n\n"
        "loadLevel(saved?.level ?? 1).then((level) => game.start(level, saved));\n",
        'import { SlotSelect } from "./ui/slot-select";\n\n'
        'const canvas = document.querySelector<HTMLCanvasElement>("#screen")!;\n'
        "const game = new Game(canvas, 320, 180);\n\n"
        "new SlotSelect(canvas).choose().then(async ({ data }) => {\n"
        "  game.start(await loadLevel(data?.level ?? 1), data);\n});\n")))
    suites["tests/save.test.ts"] = 6
    add(M(None, k.bash("npm run build", "Type-check and build", out=BUILD_OK, secs=6.8)))
    add(M(None, k.bash("npm test", "Run the test suite", out=green(1088), secs=3.4)))
    add(M("Startup now shows the slot screen first, so the browser test needs a look too.",
          k.bash("npx playwright test", "Run the browser tests", out=E2E_SLOTS, code=1,
                 secs=7.1)))
    add(M("The screenshot now shows the slot screen instead of the HUD. The test has to pick a "
          "slot first.", k.edit("e2e/hud.spec.ts", '  await page.goto("/");\n',
                                '  await page.goto("/");\n'
                                '  await page.keyboard.press("Space"); // start in slot 1\n')))
    add(M(None, k.bash("npx playwright test", "Run the browser tests", out=E2E_PASS, secs=6.0)))
    add(M(None, slot_todos("xxxxx")))
    add(M("Save slots are in.\n\n"
          "- **API** (src/save.ts): three slots; `save(slot, data)`, `load(slot)`, "
          "`listSlots()`, `clearSlot(slot)`; each slot has its own localStorage key and "
          "records `savedAt`.\n"
          "- **Screen** (src/ui/slot-select.ts, built by a subagent): three boxes showing "
          "level and coins or EMPTY; left/right to choose, Space to start. `Input` gained "
          "`wasPressed(key)` for that.\n"
          "- **Startup** (src/main.ts): shows the slot screen, then loads the chosen "
          "slot's level.\n"
          "- **Tests**: tests/save.test.ts rewritten for slots (6 tests), and "
          "e2e/hud.spec.ts now presses Space to get past the slot screen. Build, all 27 "
          "unit tests and the browser test pass.\n\n"
          "Not done yet: the game never calls `save()` (it didn't before either), so slots "
          "stay EMPTY until we decide when to save, e.g. at the end of a level."))
    return _long_part3(k, cwd, gh, suites, steps)


def _long_part3(k: Kit, cwd: str, gh: dict[str, Any], suites: dict[str, int],
                steps: list[Prompt | Msg | Compact | Mode | End]) -> Session:
    add = steps.append

    # 9. -------------------------------------------------------------- a token check
    curl_out = "\n".join([
        "{",
        '  "url": "https://api.github.com/repos/dev-example/pixel-quest/releases/171234567",',
        '  "tag_name": "v0.3.2",',
        '  "name": "v0.3.2 - Mossy Hills",',
        '  "draft": false,',
        '  "prerelease": false,',
        '  "created_at": "2026-07-30T16:02:19Z",',
        '  "published_at": "2026-07-30T16:12:44Z",',
        '  "author": {',
        '    "login": "dev-example",'])
    add(Prompt("The release workflow can't find the latest release. The tokens are in "
               ".env.local; check whether the GitHub API answers with them.", gap=2281.0))
    add(M(None, k.read(".github/workflows/release.yml"), k.read(".env.local"),
          k.read("scripts/release.sh")))
    add(M("I'll call the releases endpoint the same way the workflow does, with your token "
          "(and `API_TOKEN` exported, which scripts/release.sh expects).",
          k.bash(f"export API_TOKEN={FAKE_ANTHROPIC_KEY} && curl -s -H \"Authorization: "
                 f"Bearer {FAKE_GITHUB_TOKEN}\" "
                 "https://api.github.com/repos/dev-example/pixel-quest/releases/latest "
                 "| head -n 10",
                 "Query the latest GitHub release with the local token", out=curl_out,
                 secs=0.9, approve_after=14.2)))
    add(M("The token works, but the answer is v0.3.2, not the v0.4.0 beta. Checking what "
          "`/releases/latest` is documented to return.",
          k.fetch("https://docs.github.com/en/rest/releases/releases#get-the-latest-release",
                  "What does the get-the-latest-release endpoint return? Does it include "
                  "prereleases or drafts?",
                  result="GET /repos/{owner}/{repo}/releases/latest: \"View the latest "
                         "published full release for the repository. The latest release is "
                         "the most recent non-prerelease, non-draft release, sorted by the "
                         "created_at attribute.\" Prereleases are never returned; use "
                         "GET /repos/{owner}/{repo}/releases to list all releases.")))
    add(M(None, k.grep("releases/latest", mode="content", n=True)))
    add(M(None, k.bash("git tag --sort=-creatordate | head -n 3", "List the newest tags",
                       out="v0.4.0-beta.1\nv0.3.2\nv0.3.1\n", secs=0.2)))
    add(M("That's it: v0.4.0-beta.1 is a prerelease, which `/releases/latest` skips. "
          "Switching the workflow to the newest release of any kind.",
          k.edit(".github/workflows/release.yml",
                 '            "https://api.github.com/repos/${{ github.repository }}/releases/'
                 'latest" \\\n            | jq -r .tag_name)',
                 '            "https://api.github.com/repos/${{ github.repository }}/releases?'
                 "per_page=1\" \\\n            | jq -r '.[0].tag_name')")))
    add(M("scripts/release.sh has the same call.",
          k.edit("scripts/release.sh",
                 "  https://api.github.com/repos/dev-example/pixel-quest/releases/latest "
                 "| jq -r .tag_name)",
                 "  \"https://api.github.com/repos/dev-example/pixel-quest/releases?per_page=1\" "
                 "| jq -r '.[0].tag_name')")))
    add(M("The tokens are fine: the API answered, but `/releases/latest` only ever returns the "
          "newest *full* release (v0.3.2) and skips prereleases like v0.4.0-beta.1. "
          ".github/workflows/release.yml and scripts/release.sh now ask for "
          "`/releases?per_page=1` and take the first entry, which includes prereleases.\n\n"
          "One caution: the command I ran put both tokens from .env.local on the command "
          "line, so they are now in this session's transcript and your shell history. "
          ".env.local itself is gitignored. If these are real tokens, rotate them."))

    # 10. ------------------------------------------------------------- review and PR
    review = [
        M(None, k.bash("git status --short", "Show changed files", git="status", secs=0.1)),
        M(None, k.bash("git diff --stat", "Summarise the diff", git="diffstat", secs=0.1)),
        M(None, k.bash("git diff -- src/player.ts src/enemies/slime.ts src/input.ts",
                       "Show the gameplay diffs", git="diff",
                       paths=["src/player.ts", "src/enemies/slime.ts", "src/input.ts"],
                       secs=0.1)),
        M(None, k.read("src/ui/slot-select.ts"), k.read("src/save.ts"), k.read("src/main.ts")),
        M(None, k.grep(r"\bsave\(|\bload\(", "src", mode="content", n=True)),
        M(None, k.read("src/game.ts")),
        M(None, k.read("tests/player.test.ts"), k.read("tests/save.test.ts")),
        M(None, k.read("tests/slime.test.ts"), k.read("e2e/hud.spec.ts"),
          k.read("src/ui/hud.ts")),
        M(None, k.read(".github/workflows/release.yml"), k.read("src/enemies/slime.ts")),
        M(None, k.grep("TODO|FIXME|console\\.log", mode="content", n=True)),
        M("Review of the uncommitted work: no blockers.\n\n"
          "1. **Saving is not wired**: nothing in src/ calls `save()`, so every slot shows "
          "EMPTY forever. Fine for this PR if it's called out; otherwise save on level "
          "complete in `Game`.\n"
          "2. `Player.update` now does coyote, buffer and jump resets in one block; readable, "
          "but a short comment on the order (buffer checked before gravity) would help.\n"
          "3. `SlotSelect` creates its own `Input(window)`, so two listeners exist while the "
          "game runs. Harmless, but passing the game's `Input` in would be cleaner.\n"
          "4. Tests cover double jump, coyote time, buffering, ledges and slots. There is no "
          "test for `Input.wasPressed` or `pausePressed`.\n"
          "No TODOs or console.log left behind."),
    ]
    push_out = "\n".join([
        "remote: ",
        "remote: Create a pull request for 'feat/double-jump-save-slots' on GitHub by "
        "visiting:",
        "remote:      https://github.com/dev-example/pixel-quest/pull/new/"
        "feat/double-jump-save-slots",
        "remote: ",
        "To github.com:dev-example/pixel-quest.git",
        " * [new branch]      feat/double-jump-save-slots -> feat/double-jump-save-slots",
        "branch 'feat/double-jump-save-slots' set up to track "
        "'origin/feat/double-jump-save-slots'."])
    pr_body = ("## What\n- Double jump, coyote time (6 frames) and jump buffering (5 frames)\n"
               "- Slimes turn around at platform edges\n- Pause menu no longer flickers "
               "while Esc is held (fixes #42)\n- HUD coin counter right-aligned, plus a "
               "Playwright screenshot test\n- Three save slots with a slot-select screen on "
               "startup\n- Release workflow finds prereleases\n\n## Not yet\n- The game "
               "does not call `save()` yet, so slots stay empty.\n\n## Checks\n"
               "`npm test` (27 tests), `npm run build`, `npx playwright test`")
    add(Prompt("Nice. Have someone review all of today's changes, then commit everything on a "
               "branch and open a PR.", gap=247.0))
    add(M(None, k.agent("general-purpose", "Review today's changes",
                        "Review the uncommitted changes in /home/dev/pixel-quest (git diff and "
                        "new files) as a careful senior reviewer: correctness, missing wiring, "
                        "test gaps, leftovers. Do not edit anything. List findings by "
                        "severity.", review)))
    add(M("No blockers; I'll mention the unwired saving in the PR. A last full check first.",
          k.bash("npm run build", "Type-check and build", out=BUILD_OK, secs=6.5),
          k.bash("npm test", "Run the unit tests", out=vitest_pass(cwd, suites, 1049),
                 secs=3.3),
          k.bash("npx playwright test", "Run the browser tests", out=E2E_PASS, secs=6.1)))
    add(M("All green. Creating the branch.",
          k.bash("git checkout -b feat/double-jump-save-slots", "Create a feature branch",
                 out="Switched to a new branch 'feat/double-jump-save-slots'\n", secs=0.1,
                 branch="feat/double-jump-save-slots")))
    add(M(None, k.bash("git add -A && git commit -m \"Add double jump, coyote time, ledge-aware "
                       "slimes and save slots\"", "Commit all changes", secs=0.3,
                       git="Add double jump, coyote time, ledge-aware slimes and save slots",
                       sha="4be1c07")))
    add(M(None, k.bash("git push -u origin feat/double-jump-save-slots", "Push the branch",
                       out=push_out, secs=2.2, approve_after=9.4)))
    add(M(None, k.mcp("mcp__github__create_pull_request",
                      {**gh, "title": "Double jump, save slots and fixes",
                       "head": "feat/double-jump-save-slots", "base": "main", "body": pr_body},
                      {"number": 57, "state": "open",
                       "html_url": "https://github.com/dev-example/pixel-quest/pull/57",
                       "title": "Double jump, save slots and fixes",
                       "head": {"ref": "feat/double-jump-save-slots"},
                       "base": {"ref": "main"}, "draft": False}, secs=1.3)))
    add(M("Done: PR #57 (https://github.com/dev-example/pixel-quest/pull/57) from "
          "`feat/double-jump-save-slots`. The reviewer found no blockers. The PR description "
          "notes that `save()` isn't called yet, so slots stay empty. Smaller suggestions "
          "for later: a comment on the jump logic order, sharing one `Input` with the slot "
          "screen, and tests for `wasPressed`/`pausePressed`."))

    # 11. ------------------------------------------------------------- CI is red
    line, col = _pos(SLOT_SELECT, "now: number): void")
    lint_red = ("\n> pixel-quest@0.4.0 lint\n> eslint src tests\n\n\n"
                "/home/dev/pixel-quest/src/ui/slot-select.ts\n"
                f"  {line}:{col}  error  'now' is defined but never used  "
                "@typescript-eslint/no-unused-vars\n\n✖ 1 problem (1 error, 0 warnings)\n")
    push2 = ("To github.com:dev-example/pixel-quest.git\n"
             "   4be1c07..9d02f3a  feat/double-jump-save-slots -> feat/double-jump-save-slots\n")
    add(Prompt("CI on the PR is red. Can you check and fix it?", gap=1541.0))
    add(M(None, k.mcp("mcp__github__get_pull_request_status", {**gh, "pullNumber": 57},
                      {"state": "failure", "sha": "4be1c07e2d9a4f1b8c3e6a5d7f90b1c2d3e4f5a6",
                       "total_count": 1,
                       "statuses": [{"context": "ci / test", "state": "failure",
                                     "description": "Failing after 41s",
                                     "target_url": "https://github.com/dev-example/pixel-quest"
                                                   "/actions/runs/10987654321"}]})))
    add(M("The `ci / test` job failed. CI runs lint before the tests, and I didn't run lint "
          "locally. Running it now.",
          k.bash("npm run lint", "Run eslint", out=lint_red, code=1, secs=4.6)))
    add(M("An unused parameter in the slot screen. tsc doesn't flag unused parameters here, "
          "but eslint does.", k.read("src/ui/slot-select.ts")))
    add(M(None, k.edit("src/ui/slot-select.ts",
                       "  private draw(slots: (SaveData | null)[], now: number): void {",
                       "  private draw(slots: (SaveData | null)[]): void {")))
    add(M(None, k.edit("src/ui/slot-select.ts",
                       "      const frame = (now: number) => {", "      const frame = () => {")))
    add(M(None, k.edit("src/ui/slot-select.ts", "        this.draw(slots, now);",
                       "        this.draw(slots);")))
    add(M(None, k.bash("npm run lint", "Run eslint again",
                       out="\n> pixel-quest@0.4.0 lint\n> eslint src tests\n", secs=4.3),
          k.bash("npm test", "Run the test suite", out=vitest_pass(cwd, suites, 1061),
                 secs=3.3)))
    add(M(None, k.bash("git commit -am \"Remove unused parameter flagged by eslint\" && "
                       "git push", "Commit and push the lint fix", out=push2, secs=2.0,
                       git="Remove unused parameter flagged by eslint", sha="9d02f3a")))
    add(M("Fixed. CI failed in `npm run lint`: `SlotSelect.draw` had an unused `now` "
          "parameter (@typescript-eslint/no-unused-vars). I removed it and the matching "
          "argument, lint and all 27 tests pass locally, and the fix is pushed to the PR "
          "branch, so CI should go green on the next run. From now on I'll run "
          "`npm run lint` before committing, as CI does."))

    # 12. ------------------------------------------------------------- wrap up
    add(Prompt("Thanks, that's it for today. What should I pick up next time?", gap=186.0))
    add(M("Good candidates for next time, most valuable first:\n\n"
          "1. **Actually save progress**: call `save(slot, ...)` at the end of a level (and "
          "maybe on quit), otherwise the new slot screen always shows EMPTY. Game needs the "
          "slot number from `SlotSelect` for that.\n"
          "2. **Sound**: `preload()` is never called, so `playSound` is silent. One line in "
          "main.ts plus the wav files.\n"
          "3. **Open bugs** #45 (music after quitting) and #38 (bat clipping through "
          "ceilings).\n"
          "4. **Stomp feedback**: particles.ts is ready but unused; a burst when a slime is "
          "defeated would be a nice touch.\n"
          "5. **Tests** for `Input.wasPressed`/`pausePressed` and the slot screen.\n\n"
          "Also: rotate the tokens from .env.local if they're real, and stop the dev server "
          "running in the background (task b7m2q4x)."))
    add(End("prompt_input_exit", gap=52.0))
    return Session(
        name="long",
        blurb="A whole afternoon on pixel-quest: 12 prompts, every common tool (Read, Write, "
              "Edit, Bash, Glob, Grep, WebFetch, WebSearch, TodoWrite, NotebookEdit, "
              "AskUserQuestion, Agent, mcp__github__*, mcp__playwright__*), subagents of types "
              "Explore, Plan and general-purpose (two pairs in parallel, one nested), "
              "several failures, two permission waits, one auto-compaction, a switch to "
              "acceptEdits mode, a git branch switch, and a Bash command with fake secrets "
              "to show redaction.",
        cwd=cwd, start="2026-08-24T13:05:12", slug="brave-pixel-badger",
        title="Double jump, slimes, save slots and CI fixes", branch="main",
        files=dict(PIXEL_QUEST), steps=steps)


# --------------------------------------------------------------------------- output


SAMPLES: dict[str, Callable[[], Session]] = {
    "short": short_sample,
    "subagents": subagents_sample,
    "long": long_sample,
}


def render(name: str) -> Renderer:
    return Renderer(SAMPLES[name]()).render()


def readme(done: list[Renderer]) -> str:
    out = [
        "# Sample sessions",
        "",
        "Invented Claude Code sessions for demos, tests and the replay UI. **Generated** by",
        "`tools/make_samples.py` (`.venv/bin/python tools/make_samples.py`); do not edit by",
        "hand. Ids, times and token counts come from a fixed seed, so reruns are",
        "byte-identical and `tests/test_samples.py` checks that.",
        "",
        "Each sample exists in two formats with the same content:",
        "",
        "- `<name>.hooks.jsonl`: the hook payloads Claude Code sends (one per line), plus our",
        "  own `timestamp` field (ISO-8601 UTC, ms) so a replay knows when each happened;",
        "- `<name>/<session-id>.jsonl` with `<name>/<session-id>/subagents/agent-<id>.jsonl`",
        "  and `.meta.json`: the transcript tree, laid out like one project folder of",
        "  `~/.claude/projects` (2.1.2xx style).",
        "",
        "Use `ccviz_kernel.samples.path(name, kind)` with kind `\"hooks\"` or `\"transcript\"`.",
        "All names, paths, tokens and keys are made up (the `sk-ant-...FAKE...` and",
        "`ghp_FAKE...` strings in `long` exist to show redaction).",
        "",
        "Notes on the hook logs: `PreToolUse` comes before `PermissionRequest`, and the",
        "`permission_prompt` Notification follows about 6 s later, as in Claude Code.",
        "Compaction is `PreCompact`, `PostCompact`, then `SessionStart` with",
        "`source: \"compact\"`. An `idle_prompt` Notification fires 60 s after a turn",
        "ends when the user takes longer than that to write the next prompt.",
    ]
    for r in done:
        counts = r.event_counts()
        subagents = sorted(f for f in r.files if "/subagents/" in f)
        start = iso(_epoch_ms(r.s.start))
        out += ["", f"## `{r.s.name}`", "", r.s.blurb, "",
                f"- session `{r.sid}`, project `{r.s.cwd}`, {start} to {iso(r.end_ms)}",
                f"- {sum(counts.values())} hook events, "
                f"{len(r.files[r.main.file])} main transcript lines, "
                f"{len(subagents)} subagent transcripts",
                "", "| hook event | count |", "|---|---:|"]
        out += [f"| {event} | {n} |" for event, n in sorted(counts.items())]
        tools = Counter(p["tool_name"] for _, _, p in r.hooks
                        if p["hook_event_name"] == "PreToolUse")
        out += ["", "Tool calls: " + ", ".join(f"{t} {n}" for t, n in sorted(tools.items())) + ".",
                "", "Prompts:", ""]
        prompts = [step.text for step in r.s.steps if isinstance(step, Prompt)]
        out += [f"{i}. {text}" for i, text in enumerate(prompts, 1)]
    return "\n".join(out) + "\n"


def render_all(out: Path) -> list[Path]:
    """Write every sample and the README into ``out``; return the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    done = []
    for name in SAMPLES:
        r = render(name)
        written += r.write(out)
        done.append(r)
    (out / "README.md").write_text(readme(done), encoding="utf-8")
    written.append(out / "README.md")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SAMPLES_DIR,
                        help="folder to write into (default: ccviz_kernel/samples)")
    args = parser.parse_args(argv)
    files = render_all(args.out)
    for name in SAMPLES:
        events = sum(1 for _ in (args.out / f"{name}.hooks.jsonl").open(encoding="utf-8"))
        print(f"{name}: {events} hook events")
    print(f"wrote {len(files)} files to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
