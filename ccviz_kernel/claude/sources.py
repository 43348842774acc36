"""Past sessions as the same event stream the live hooks produce.

A replayed session and a live one must drive the engine identically, so both readers turn
files into hook-payload dicts (the shape Claude Code sends on a hook's stdin) rather than
into a format of their own. :func:`load` is the entry point: it works out which kind of
file it was given.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import SourceError
from .hooklog import load_hooklog
from .lines import (
    LoadResult,
    iter_lines,
    looks_like_hook_payload,
    looks_like_transcript_line,
    resolve_path,
)
from .transcript import load_transcript

__all__ = ["LoadResult", "SourceError", "load", "sniff"]

#: How far ``load`` reads looking for a line that identifies the file, so a large file of
#: unrelated text is rejected quickly.
SNIFF_LINES = 200


def sniff(path: Path) -> str:
    """``"transcript"`` or ``"hooklog"``, judged by the first line that identifies the file.

    Broken lines before it are tolerated, since a session file can start with a damaged
    line and still be worth replaying.
    """
    seen = 0
    first_problem: str | None = None
    for number, obj, problem in iter_lines(path):
        seen += 1
        if obj is None:
            if first_problem is None:
                first_problem = f"line {number}: {problem}"
        elif looks_like_hook_payload(obj):
            return "hooklog"
        elif looks_like_transcript_line(obj):
            return "transcript"
        elif first_problem is None:
            first_problem = f"line {number}: neither a transcript line nor a hook payload"
        if seen >= SNIFF_LINES:
            break
    if seen == 0:
        raise SourceError(f"{path}: file is empty")
    raise SourceError(
        f"{path}: not a Claude Code transcript or hook log ({first_problem or 'nothing usable'})"
    )


def load(path: str | os.PathLike[str]) -> LoadResult:
    """Read a transcript or a hook log, whichever ``path`` is, into hook payloads."""
    resolved = resolve_path(path)
    kind = sniff(resolved)
    if kind == "hooklog":
        return load_hooklog(resolved)
    return load_transcript(resolved)
