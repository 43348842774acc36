"""Claude Code's timestamps → epoch time: the one parser every reader and the engine use.

Claude Code writes ``2026-08-20T14:03:11.250Z`` in transcripts and in our hook logs; people
and other tools send other ISO-8601 shapes or epoch numbers. Exact integer microseconds keep
sorting stable across files; the hand-rolled parse accepts what ``datetime.fromisoformat``
refuses on Python 3.10 (``Z``, 1-9 fraction digits). Every replayed event passes through
here, so the common shape takes one C call and plain arithmetic.

Both functions take untrusted input (transcript lines, hook logs, the ``timestamp`` of any
hook payload or controller action, via ``events.parse_event``) and therefore never raise:
anything that is not a moment between 1970-01-01 and the end of 9999 (UTC) is ``None`` —
unparsable text, impossible dates, offsets of 24 hours or more, a time pushed past 9999 by
its offset, booleans, NaN, infinities, negative numbers, epoch numbers beyond year 9999 in
seconds or milliseconds (microsecond and nanosecond epochs included). Every time ccviz keeps
therefore fits a ``datetime``, a JavaScript ``Date`` and an int64 of microseconds, so
nothing downstream (the game clock, the text views, msgpack) can overflow on one.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["MAX_MICROS", "MIN_MICROS", "parse_micros", "parse_time"]

_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.I | re.ASCII,  # ASCII digits only: int() would also read other scripts' digits
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
_fromisoformat = datetime.fromisoformat
_EPOCH_ORDINAL = _EPOCH.toordinal()
#: The times accepted, in µs since the epoch: 1970-01-01T00:00:00Z up to the end of 9999.
MIN_MICROS = 0
MAX_MICROS = (datetime(9999, 12, 31, 23, 59, 59, 999999).toordinal() - _EPOCH_ORDINAL + 1) * (
    86_400 * 1_000_000
) - 1
#: Epoch numbers above this are milliseconds (1e11 s is the year 5138).
_MILLIS_ABOVE = 1e11
#: The first second past 9999 (exact as a float): epoch seconds must be below it.
_END_SECONDS = (MAX_MICROS + 1) // 1_000_000


def parse_micros(value: Any) -> int | None:
    """ISO-8601 text → integer microseconds since the epoch (naive means UTC), or None.

    None for anything else, never an exception (see the module docstring): the transcript
    readers call it on every line, hostile ones included."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    if len(value) == 24 and value[23] == "Z" and value[10] == "T":
        # The shape Claude Code writes (2026-08-20T14:03:11.250Z): one C call, no regex, and
        # timedelta // timedelta for the exact microseconds (every hook line and transcript
        # line comes here: bench/engine_bench.py). An offset before the Z makes an aware
        # time (TypeError against the naive epoch): the general path reads it.
        try:
            micros = (_fromisoformat(value[:23]) - _EPOCH_NAIVE) // _MICROSECOND
        except (ValueError, TypeError):
            pass
        else:
            return micros if micros >= MIN_MICROS else None  # a 4-digit year is <= 9999
    match = _TIMESTAMP.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    offset = timedelta(0)
    if zone and zone.upper() != "Z":
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
        if hours >= 24 or minutes >= 60:
            return None  # no such offset (``timezone`` refuses ±24 h and beyond)
        offset = timedelta(hours=hours, minutes=minutes)
        offset = -offset if zone[0] == "-" else offset
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
        )
    except ValueError:
        return None
    # Naive arithmetic: an offset can push 9999-12-31 past the year 9999 (or 0001 before
    # year 1), which an aware datetime could not even hold.
    micros = (moment - _EPOCH.replace(tzinfo=None) - offset) // timedelta(microseconds=1)
    return micros if MIN_MICROS <= micros <= MAX_MICROS else None


def parse_time(value: Any) -> float | None:
    """ISO-8601 text or epoch seconds/milliseconds → epoch seconds; anything else → None.

    Numbers above 1e11 are milliseconds. None, never an exception, for everything outside
    1970…9999 (see the module docstring): ``events.parse_event`` calls it on the
    ``timestamp`` of every hook payload and controller action, so ``timestamp: 1e300`` or
    a microsecond epoch leaves the event untimed instead of breaking the game's clock."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        if not 0 <= value < _END_SECONDS * 1000:  # also NaN; compared exactly for big ints
            return None
        seconds = float(value) / 1000.0 if value > _MILLIS_ABOVE else float(value)
        return seconds if seconds < _END_SECONDS else None
    micros = parse_micros(value)
    return None if micros is None else micros / 1_000_000
