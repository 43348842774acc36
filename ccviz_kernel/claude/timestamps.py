"""Claude Code's timestamps → epoch time: the one parser every reader and the engine use.

Claude Code writes ``2026-08-20T14:03:11.250Z`` in transcripts and in our hook logs; people
and other tools send other ISO-8601 shapes or epoch numbers. Exact integer microseconds keep
sorting stable across files; the hand-rolled parse accepts what ``datetime.fromisoformat``
refuses on Python 3.10 (``Z``, 1-9 fraction digits). Every replayed event passes through
here, so the common shape takes one C call and plain arithmetic.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.I,
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_ORDINAL = _EPOCH.toordinal()
#: Epoch numbers above this are milliseconds (1e11 s is the year 5138).
_MILLIS_ABOVE = 1e11


def parse_micros(value: Any) -> int | None:
    """ISO-8601 text → integer microseconds since the epoch (naive means UTC), or None."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    if len(value) == 24 and value[-1] == "Z" and value[10] == "T":
        # The shape Claude Code writes (2026-08-20T14:03:11.250Z): one C call, no regex.
        try:
            d = datetime.fromisoformat(value[:-1])  # naive, read as UTC
        except ValueError:
            pass
        else:
            seconds = (d.toordinal() - _EPOCH_ORDINAL) * 86_400 + d.hour * 3600 + d.minute * 60
            return (seconds + d.second) * 1_000_000 + d.microsecond
    match = _TIMESTAMP.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    tz = timezone.utc
    if zone and zone.upper() != "Z":
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        tz = timezone(-offset if zone[0] == "-" else offset)
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError:
        return None
    return (moment - _EPOCH) // timedelta(microseconds=1)


def parse_time(value: Any) -> float | None:
    """ISO-8601 text or epoch seconds/milliseconds → epoch seconds; anything else → None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return float(value) / 1000.0 if value > _MILLIS_ABOVE else float(value)
    micros = parse_micros(value)
    return None if micros is None else micros / 1_000_000
