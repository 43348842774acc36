"""What both event stores share: the row types they return and the checks of what comes in.

The SQLite log (``store.py``) and the Redis log (``redis_store.py``) implement one interface;
their inputs are validated here, once, so the two can never disagree on what may be stored.
This module sits under both: ``store.open_store`` picks an implementation, so neither may
import the other's internals without making an import circle.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

_S = TypeVar("_S", bound="Closable")


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event as it sits in the log; ``payload`` is returned byte-for-byte as appended.

    >>> from ccviz_kernel.store import EventStore
    >>> store = EventStore(":memory:")
    >>> store.append("s1", '{"a": 1}', ts=2.5)
    1
    >>> next(store.events("s1"))
    StoredEvent(seq=1, ts=2.5, payload='{"a": 1}')
    """

    seq: int
    ts: float | None
    payload: str


@dataclass(frozen=True, slots=True)
class GameRow:
    """Summary of one game; ``first_ts``/``last_ts`` are the min/max of the non-null ``ts``.

    >>> from ccviz_kernel.store import EventStore
    >>> store = EventStore(":memory:")
    >>> store.append_many("s1", [("{}", 3.0), ("{}", None), ("{}", 1.0)])
    [1, 2, 3]
    >>> store.games()
    [GameRow(game_id='s1', events=3, first_ts=1.0, last_ts=3.0)]
    """

    game_id: str
    events: int
    first_ts: float | None
    last_ts: float | None


def check_game_id(game_id: str) -> None:
    if not isinstance(game_id, str) or not game_id:
        raise TypeError(f"game_id must be a non-empty str, got {game_id!r:.80}")


def check_since(since: int) -> None:
    if not isinstance(since, int) or isinstance(since, bool):
        raise TypeError(f"since must be an int, got {type(since).__name__}")


def check_item(game_id: str, payload: str, ts: float | None) -> tuple[str, float | None]:
    """Reject what would poison a replay later: non-text, non-JSON, or non-finite times."""
    if not isinstance(payload, str):
        raise TypeError(f"payload must be JSON text (str), got {type(payload).__name__}")
    try:
        json.loads(payload)
    except ValueError as e:
        raise ValueError(f"payload for game {game_id!r} is not valid JSON: {e}") from None
    if ts is None:
        return payload, None
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        raise TypeError(f"ts must be epoch seconds (float) or None, got {type(ts).__name__}")
    ts = float(ts)
    if not math.isfinite(ts):
        raise ValueError(f"ts must be finite, got {ts}")
    return payload, ts


def check_items(
    game_id: str, items: Iterable[tuple[str, float | None]]
) -> list[tuple[str, float | None]]:
    """Read and check every ``(payload, ts)`` pair of an ``append_many`` before anything is
    written, so a bad item (or an iterator that raises) appends nothing."""
    rows: list[tuple[str, float | None]] = []
    for item in items:
        try:
            payload, ts = item
        except (TypeError, ValueError):
            raise TypeError(
                f"append_many items must be (payload, ts) pairs, got {item!r:.80}"
            ) from None
        rows.append(check_item(game_id, payload, ts))
    return rows


class Closable:
    """What both stores do alike around ``close()``: ``with`` closes on leaving, and the
    repr names the location and whether it is still open."""

    _path: str

    def _is_closed(self) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._is_closed() else "open"
        return f"<{type(self).__name__} {self._path!r} {state}>"
