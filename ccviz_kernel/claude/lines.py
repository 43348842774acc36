"""Reading Claude Code's JSON-lines files: lines parsed one by one, bad ones described.

The transcript and hook-log readers both start here. The result of either is a
:class:`LoadResult` of hook-payload dicts (the shape Claude Code sends on a hook's stdin).

Files on disk are written by many Claude Code versions, are sometimes cut off mid-write and
are occasionally edited by hand, so a bad line is counted and described, never fatal: only
a file that cannot be a session at all raises ``SourceError``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..errors import SourceError, json_type

__all__ = ["LoadResult", "SourceError", "iter_lines", "resolve_path"]

#: How many skipped lines get a description in ``LoadResult.problems``; a badly damaged
#: file should produce a readable report, not thousands of lines of it.
MAX_PROBLEMS = 10


#: ``type`` values that only transcripts use: lets a transcript whose first usable lines are
#: bookkeeping (no uuid or message) still be recognised.
_TRANSCRIPT_TYPES = frozenset(
    {
        "user",
        "assistant",
        "system",
        "attachment",
        "progress",
        "summary",
        "ai-title",
        "custom-title",
        "last-prompt",
        "queue-operation",
        "file-history-snapshot",
        "permission-mode",
        "mode",
        "tag",
        "pr-link",
        "agent-setting",
        "worktree-state",
    }
)
_TRANSCRIPT_KEYS = ("message", "uuid", "parentUuid", "sessionId", "leafUuid", "snapshot")


@dataclass
class LoadResult:
    """One past session as hook payloads, plus an account of what could not be used."""

    kind: str
    events: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    ignored: int = 0
    session_id: str | None = None
    title: str | None = None
    problems: list[str] = field(default_factory=list)

    def add_problem(self, where: str, problem: str) -> None:
        """Count a skipped line; only the first few get described, to keep reports short."""
        self.skipped += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{where}: {problem}")


def _parse_line(raw: bytes, last: bool) -> tuple[dict[str, Any] | None, str | None]:
    try:
        value = orjson.loads(raw)  # the fast path: most lines are clean UTF-8 JSON
    except orjson.JSONDecodeError:
        value = _NOT_PARSED
    if value is _NOT_PARSED:
        try:
            text = raw.decode("utf-8")
            binary = False
        except UnicodeDecodeError:
            # Junk bytes inside a JSON string should not cost the whole line.
            text = raw.decode("utf-8", errors="replace")
            binary = True
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            if binary:
                return None, "invalid JSON (binary data)"
            cut = exc.pos >= len(text.rstrip()) - 1 or exc.msg.startswith("unexpected end")
            if cut:
                return None, "truncated JSON (cut off mid-write?)" if last else "truncated JSON"
            return None, f"invalid JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(value, dict):
        return None, f"not a JSON object ({json_type(value)})"
    return value, None


_NOT_PARSED = object()

ParsedLine = tuple[int, dict[str, Any] | None, str | None]


def iter_lines(path: str | os.PathLike[str]) -> Iterator[ParsedLine]:
    """Yield ``(line number, object, None)`` or ``(line number, None, problem)`` per line.

    Reads in binary and streams, so multi-hundred-megabyte transcripts and files with
    invalid UTF-8, CRLF endings or a half-written last line all go through; blank lines
    are not yielded at all (they carry nothing and are not errors).
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, also when the caller stops early
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a directory, not a .jsonl file") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with handle:
        number = 0
        try:
            for raw in handle:
                number += 1
                stripped = raw.strip()
                if number == 1 and stripped.startswith(b"\xef\xbb\xbf"):
                    stripped = stripped[3:].strip()
                if stripped:
                    # Only the last line can lack its newline; if it is broken too, it was
                    # most likely cut off while being written.
                    yield (number, *_parse_line(stripped, last=not raw.endswith(b"\n")))
        except OSError as exc:
            raise SourceError(f"{path}: read failed at line {number + 1} ({exc})") from None


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """The session file meant by ``path``: the file itself, or a folder's only ``*.jsonl``.

    Accepting a folder lets users point at a project folder of ``~/.claude/projects``
    that holds one session; anything ambiguous is refused with what was found, so the
    user can pick.
    """
    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        raise SourceError(f"{p}: no such file or directory")
    if not p.is_dir():
        return p
    found = sorted(child.name for child in p.glob("*.jsonl") if child.is_file())
    if len(found) == 1:
        return p / found[0]
    if found:
        shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
        raise SourceError(f"{p}: directory holds {len(found)} .jsonl files ({shown}); pick one")
    sibling = p.with_name(p.name + ".jsonl")
    if sibling.is_file():
        raise SourceError(f"{p}: is a session's side folder; pass {sibling} instead")
    entries = sorted(child.name for child in p.iterdir())
    shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "") or "nothing"
    raise SourceError(f"{p}: directory holds no .jsonl session file (found: {shown})")


def looks_like_hook_payload(obj: dict[str, Any]) -> bool:
    return isinstance(obj.get("hook_event_name"), str)


def looks_like_transcript_line(obj: dict[str, Any]) -> bool:
    kind = obj.get("type")
    if not isinstance(kind, str):
        return False
    return kind in _TRANSCRIPT_TYPES or any(key in obj for key in _TRANSCRIPT_KEYS)
