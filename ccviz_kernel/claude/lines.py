"""Reading Claude Code's JSON-lines files: lines parsed one by one, bad ones described.

The transcript and hook-log readers both start here. The result of either is a
:class:`LoadResult` of hook-payload dicts (the shape Claude Code sends on a hook's stdin).

Files on disk are written by many Claude Code versions, are sometimes cut off mid-write and
are occasionally edited by hand, so a bad line is counted and described, never fatal: only
a file that cannot be a session at all raises ``SourceError``.

This is also where what the files hold enters (docs/design.md, "Untrusted input"): every
line is checked once, here, against :data:`MAX_LINE_BYTES` and the limits every entry point
shares (:mod:`ccviz_kernel.untrusted`: depth, string length, the 64-bit integer range), and a
line beyond any of them is skipped with a problem that names the limit, so a hook payload
refused live is skipped in a replay of its log too. No reader or engine step after this
point can fail on a line's shape (counters are clamped where they are summed, see
``usage.py``; times are range-checked by ``timestamps.py``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .. import config
from ..config import MAX_DEPTH
from ..errors import SourceError, json_type
from ..untrusted import within_limits

__all__ = [
    "MAX_LINE_BYTES",
    "LoadResult",
    "SourceError",
    "iter_lines",
    "read_json_object",
    "resolve_path",
]

#: How many skipped lines get a description in ``LoadResult.problems``; a badly damaged
#: file should produce a readable report, not thousands of lines of it.
MAX_PROBLEMS = 10

#: A line longer than this is skipped without being held in memory (attachments with
#: images run to a few MB; nothing Claude Code writes is ever this long).
MAX_LINE_BYTES = 32 * 1024 * 1024
#: The most a ``.meta.json`` sidecar may weigh (they hold a few short fields).
MAX_META_BYTES = 1024 * 1024


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
    """One line → ``(object, None)`` or ``(None, problem)``; checks the limits too."""
    try:
        value = orjson.loads(raw)  # the fast path: most lines are clean UTF-8 JSON
    except orjson.JSONDecodeError as exc:
        if _too_deep(exc):
            return None, f"nested deeper than {MAX_DEPTH} levels (the limit)"
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
            if _too_deep(exc):
                return None, f"nested deeper than {MAX_DEPTH} levels (the limit)"
            if binary:
                return None, "invalid JSON (binary data)"
            cut = exc.pos >= len(text.rstrip()) - 1 or exc.msg.startswith("unexpected end")
            if cut:
                return None, "truncated JSON (cut off mid-write?)" if last else "truncated JSON"
            return None, f"invalid JSON ({exc.msg} at column {exc.colno})"
    if type(value) is not dict:
        return None, f"not a JSON object ({json_type(value)})"
    # within_limits' own shortcut first (the text is too short to hold a long string and
    # has too few brackets to nest too deep): every line of a replay passes here.
    if len(raw) > config.MAX_STRING or raw.count(b"{") + raw.count(b"[") > config.MAX_DEPTH:
        problem = within_limits(value, raw)
        if problem is not None:
            return None, problem
    return value, None


def _too_deep(exc: orjson.JSONDecodeError) -> bool:
    return "depth" in exc.msg or "recursion" in exc.msg.lower()


_NOT_PARSED = object()

ParsedLine = tuple[int, dict[str, Any] | None, str | None]


def iter_lines(path: str | os.PathLike[str]) -> Iterator[ParsedLine]:
    """Yield ``(line number, object, None)`` or ``(line number, None, problem)`` per line.

    Reads in binary and streams, so multi-hundred-megabyte transcripts and files with
    invalid UTF-8, CRLF endings or a half-written last line all go through; blank lines
    are not yielded at all (they carry nothing and are not errors). A line beyond
    :data:`MAX_LINE_BYTES` is skipped unread. Raises ``SourceError`` for a file that
    cannot be read at all: missing, not a regular file (a FIFO would block), UTF-16.
    """
    handle = _open_regular(path)
    with handle:
        number = 0
        try:
            while True:
                raw = handle.readline(MAX_LINE_BYTES + 1)
                if not raw:
                    break
                number += 1
                if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    _skip_rest_of_line(handle)
                    limit = f"{MAX_LINE_BYTES:,}"
                    yield number, None, f"longer than {limit} bytes (the limit; skipped unread)"
                    continue
                if number == 1 and _utf16_json(raw):
                    raise SourceError(
                        f"{path}: the file is UTF-16; Claude Code writes UTF-8"
                        " (convert it with: iconv -f UTF-16 -t UTF-8)"
                    )
                stripped = raw.strip()
                if number == 1 and stripped.startswith(b"\xef\xbb\xbf"):
                    stripped = stripped[3:].strip()
                if stripped:
                    # Only the last line can lack its newline; if it is broken too, it was
                    # most likely cut off while being written.
                    yield (number, *_parse_line(stripped, last=not raw.endswith(b"\n")))
        except OSError as exc:
            raise SourceError(f"{path}: read failed at line {number + 1} ({exc})") from None


def _utf16_json(raw: bytes) -> bool:
    """Whether a first line is JSON written in UTF-16 (with or without its BOM)."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raw = raw[2:]
    return raw[:2] in (b"{\x00", b"\x00{")


def _open_regular(path: str | os.PathLike[str]) -> Any:
    """``path`` opened for binary reading, if it is a regular file; else ``SourceError``.
    Opened without blocking, so a FIFO or device is refused instead of hanging the read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a directory, not a .jsonl file") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise SourceError(
            f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})"
        ) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise SourceError(f"{path}: is a directory, not a .jsonl file")
        if not stat.S_ISREG(mode):
            raise SourceError(f"{path}: not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _skip_rest_of_line(handle: Any) -> None:
    while True:
        chunk = handle.readline(1024 * 1024)
        if not chunk or chunk.endswith(b"\n"):
            return


def read_json_object(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """A small JSON file (a subagent's ``.meta.json``) as an object within the limits, or
    None when it is missing, not a regular file, bigger than :data:`MAX_META_BYTES`, not
    JSON, not an object or beyond a limit. Never raises: a sidecar is a hint, and the
    readers link a subagent by other clues without it."""
    try:
        handle = _open_regular(path)
    except SourceError:
        return None
    try:
        with handle:
            data = handle.read(MAX_META_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_META_BYTES:
        return None
    data = data.strip()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    value, _ = _parse_line(data, last=True)
    return value


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """The session file meant by ``path``: the file itself, or a folder's only ``*.jsonl``.

    Accepting a folder lets users point at a project folder of ``~/.claude/projects``
    that holds one session; anything ambiguous is refused with what was found, so the
    user can pick.
    """
    p = Path(os.fspath(path)).expanduser()
    try:
        exists, is_dir = p.exists(), p.is_dir()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise SourceError(f"{p}: cannot read ({exc})") from None
    if not exists:
        raise SourceError(f"{p}: no such file or directory")
    if not is_dir:
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
