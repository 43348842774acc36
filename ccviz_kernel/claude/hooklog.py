"""Hook logs: files of hook payloads, one JSON object per line, as captured live.

They already are the event stream, so they are passed through untouched and in file order
(the order the hooks fired, which a timestamp sort could only get wrong: many payloads
carry no timestamp at all). A log is as untrusted as a payload posted to the server: each
line passes the limits of ``lines.py`` (size, depth, string length, 64-bit integers) or is
skipped and described; a field of the wrong type costs only what needs it (``events``
refuses the payload, ``timestamps`` leaves it untimed, the usage counter drops the number).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from .lines import LoadResult, SourceError, iter_lines, looks_like_hook_payload, resolve_path
from .tail import with_usage

__all__ = ["load_hooklog"]


def load_hooklog(path: str | os.PathLike[str]) -> LoadResult:
    """Read a hook log; lines that are not hook payloads are counted and described."""
    file = resolve_path(path)
    result = LoadResult(kind="hooklog")
    sessions: Counter[str] = Counter()
    lines = 0
    for number, obj, problem in iter_lines(file):
        lines += 1
        where = f"line {number}"
        if obj is None:
            result.add_problem(where, problem or "unreadable")
            continue
        if not looks_like_hook_payload(obj):
            result.add_problem(where, "no 'hook_event_name' (not a hook payload)")
            continue
        result.events.append(obj)
        session_id = obj.get("session_id")
        if isinstance(session_id, str) and session_id:
            sessions[session_id] += 1
        title = _title_of(obj)
        if title:
            result.title = title
    if lines == 0:
        raise SourceError(f"{file}: file is empty")
    if not result.events:
        first = f" ({result.problems[0]})" if result.problems else ""
        raise SourceError(f"{file}: no hook payloads in this file{first}")
    result.events = with_usage(result.events, file)  # helper C: tokens from the transcript
    if sessions:
        # A log can interleave several sessions (or a /clear); the game follows the main one.
        result.session_id = sessions.most_common(1)[0][0]
    return result


def _title_of(payload: dict[str, Any]) -> str | None:
    # Recent Claude Code versions put the session's title on SessionStart/UserPromptSubmit.
    title = payload.get("session_title")
    return title.strip() if isinstance(title, str) and title.strip() else None
