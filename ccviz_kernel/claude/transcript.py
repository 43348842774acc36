"""Claude Code transcripts (``~/.claude/projects/<project>/<session>.jsonl``) as hook payloads.

A transcript records what happened, not which hooks fired, so this module re-enacts the
hooks: it merges the session file with its subagents' files, sorts every line by time and
emits the payload each moment would have produced live (see ``docs/claude-code.md`` §4.4).
The format is internal to Claude Code and shifts between versions, so everything is read
leniently: unknown line types are counted as ignored, damaged lines as skipped — also lines
beyond the readers' limits (``lines.py``: size, depth, string length, 64-bit integers) and
lines without a usable time (``timestamps.py``: 1970…9999, offsets under 24 h); a field of
the wrong type is treated as missing. One bad line costs that line, never the session.

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

The reader runs in five phases, one private module each, every phase passing its results
on to the next rather than sharing one object:

1. ``_transcript_read``: the main and subagent files → one list of lines in time order,
   sorted into agent lanes, with the session's id and title;
2. ``_transcript_index``: one pass for the cross-references later lines need (tool calls
   by id, spawn calls, compaction summaries, the model);
3. ``_transcript_link``: each subagent linked to the call that spawned it;
4. ``_transcript_stops``: the line that ends each main-agent turn;
5. ``_transcript_emit``: the lines → hook payloads.

``_transcript_lines`` holds the records and content helpers they share.
"""

from __future__ import annotations

import os

from ._transcript_emit import emit_events
from ._transcript_index import index_lines
from ._transcript_lines import Problems
from ._transcript_link import link_agents
from ._transcript_read import read_session
from ._transcript_stops import find_stops
from .lines import LoadResult, resolve_path

__all__ = ["load_transcript"]


def load_transcript(path: str | os.PathLike[str]) -> LoadResult:
    """Replay one session file, with its subagents' files, as hook payloads in time order."""
    result = LoadResult(kind="transcript")
    problems = Problems()
    session = read_session(resolve_path(path), result, problems)
    index = index_lines(session.lines)
    link_agents(session.agents, index)
    stops = find_stops(session.lines)
    emit_events(session, index, stops, result, problems)
    result.session_id = session.session_id
    result.title = session.title
    problems.report(result)
    return result
