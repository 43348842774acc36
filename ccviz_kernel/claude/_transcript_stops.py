"""Transcript phase 4: find the line that ends each main-agent turn, which needs look-ahead.

A turn ends on its last assistant text line when no tool call follows before the next real
prompt, task notification or the end of the file; a turn the user interrupted gets no stop
(the live ``Stop`` hook does not fire then). Emitting reads the result to send ``Stop``, or
``StopFailure`` when the line is an API error message.
"""

from __future__ import annotations

from ._transcript_lines import Line, nonblank


def find_stops(lines: list[Line]) -> dict[int, bool]:
    """``pos`` of each turn's last line → whether the turn ended in an API error."""
    stops: dict[int, bool] = {}
    candidate: Line | None = None
    for line in lines:
        if line.lane is not None:
            continue
        obj = line.obj
        kind = obj.get("type")
        if kind == "user":
            kind_of_user = line.kind_of_user()
            if kind_of_user in ("prompt", "notification"):
                _mark_stop(stops, candidate)
                candidate = None
            elif kind_of_user == "interrupt":
                candidate = None
        elif kind == "assistant" and isinstance(obj.get("message"), dict):
            for block in line.content_blocks():
                if block.get("type") == "tool_use":
                    candidate = None
                elif block.get("type") == "text" and nonblank(block.get("text")):
                    candidate = line
    _mark_stop(stops, candidate)
    return stops


def _mark_stop(stops: dict[int, bool], line: Line | None) -> None:
    if line is not None:
        stops[line.pos] = line.obj.get("isApiErrorMessage") is True
