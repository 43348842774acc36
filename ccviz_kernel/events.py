"""One typed event for anything Claude Code (or a transcript, or a Python cell) tells us.

Claude Code adds fields and events in nearly every release, so parsing is lenient about
what it does not need (unknown fields ignored, unknown events kept) and strict about what
it does (a clear :class:`PayloadError` naming the field), so the engine never sees junk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from .claude.hooks import HOOK_EVENTS, TOOL_EVENTS
from .claude.timestamps import parse_micros, parse_time
from .config import MAX_PAYLOAD_BYTES
from .errors import PayloadError, json_type
from .untrusted import within_limits

#: Our own events: changes made by people and programs, logged like hooks so that a game
#: rebuilt from its log is the game everyone saw.
CONTROL_EVENTS: frozenset[str] = frozenset(
    {"ccviz.say", "ccviz.move", "ccviz.rename", "ccviz.annotate", "ccviz.rules"}
)

_MAX_NAME = 200
#: Every event name ccviz has rules for: valid names, whatever the checks below say.
_KNOWN_NAMES: frozenset[str] = HOOK_EVENTS | CONTROL_EVENTS
#: ``parse_event`` is on every event's path (parse + apply of the long session was 99k
#: lines/s, the budget 150k): what it calls is bound here, and the common cases of
#: ``_decode`` is inlined (it must agree with it exactly).
_loads = orjson.loads
#: Event times end with the year 9999 (epoch seconds): later ones, and every time that is
#: not a finite number, are taken as unknown, so every time in a game is an integer of
#: milliseconds that any wire carries (a ``timestamp: 1e300`` once made 300-digit integers).
MAX_EVENT_TIME = 253_402_300_800.0


@dataclass(slots=True)
class HookEvent:
    """A validated hook payload plus the time it happened (epoch seconds, if known).

    Treat it as read-only; it is not frozen only because frozen dataclasses are slow to
    build, and one is built per event on the hot path. Make one with :func:`parse_event`:

    >>> event = parse_event(
    ...     {"hook_event_name": "PreToolUse", "session_id": "s1", "tool_name": "Read"}, ts=1.5
    ... )
    >>> event.name, event.session_id, event.tool_name, event.ts
    ('PreToolUse', 's1', 'Read', 1.5)
    """

    name: str
    session_id: str
    payload: dict[str, Any] = field(repr=False)
    ts: float | None = None
    agent_id: str | None = None
    agent_type: str | None = None
    tool_name: str | None = None
    tool_use_id: str | None = None
    #: The payload as logged (made once, by :meth:`to_json`).
    text: str | None = field(default=None, repr=False)

    @property
    def known(self) -> bool:
        """Whether the game has rules for this event: a Claude Code hook ccviz knows, or
        one of our own ``ccviz.*`` control events. Unknown events are kept, not refused.

        >>> parse_event({"hook_event_name": "NewHook2030", "session_id": "s1"}).known
        False
        """
        return self.name in HOOK_EVENTS or self.name in CONTROL_EVENTS

    def get(self, key: str, default: Any = None) -> Any:
        """A field of the raw payload, ``default`` when it is absent (``dict.get``).

        >>> event = parse_event({"hook_event_name": "Stop", "session_id": "s1", "x": 1})
        >>> event.get("x"), event.get("missing", "-")
        (1, '-')
        """
        return self.payload.get(key, default)

    def to_json(self) -> str:
        """The payload as the store logs it; a :class:`PayloadError` for one beyond the
        limits every entry point shares (:mod:`.untrusted`: nested too deep, a string too
        long) or that JSON cannot hold again, rather than a crash wherever it is first
        written. Every live event passes here before it is logged or applied.

        >>> parse_event({"hook_event_name": "Stop", "session_id": "s1"}).to_json()
        '{"hook_event_name":"Stop","session_id":"s1"}'
        """
        if self.text is None:
            try:
                self.text = orjson.dumps(self.payload).decode()
            except (orjson.JSONEncodeError, TypeError) as exc:
                if "64-bit" not in str(exc):
                    raise PayloadError(f"payload cannot be stored: {exc}") from None
                # An integer beyond 64 bits (a Python caller's; JSON text reads it as a
                # float already): the same float it would be read as, here too, so the
                # live game and the game rebuilt from the log see the same payload.
                try:
                    self.payload = _floats_for_huge_ints(self.payload)
                    self.text = orjson.dumps(self.payload).decode()
                except (orjson.JSONEncodeError, TypeError, RecursionError) as again:
                    raise PayloadError(f"payload cannot be stored: {again}") from None
            problem = within_limits(self.payload, self.text)
            if problem is not None:
                self.text = None
                raise PayloadError(f"payload refused: {problem}")
        return self.text


def parse_event(
    data: bytes | bytearray | str | dict[str, Any],
    *,
    ts: float | None = None,
    session_id: str | None = None,
) -> HookEvent:
    """Validate one payload. ``ts`` wins over a ``timestamp`` field in the payload;
    ``session_id`` fills in for payloads that lack one (agent actions on a known game).

    ``data`` is a dict or its JSON text (bytes or str). Unknown fields are kept in
    ``payload`` and ignored; a field the game needs that is missing or of the wrong type
    raises :class:`PayloadError` naming it.

    >>> parse_event('{"hook_event_name": "UserPromptSubmit", "session_id": "s1"}').name
    'UserPromptSubmit'
    >>> parse_event({"hook_event_name": "Stop"})
    Traceback (most recent call last):
    ...
    ccviz_kernel.errors.PayloadError: field 'session_id' is missing: expected a non-empty string
    """
    kind = type(data)
    if kind is dict:
        payload = data
    elif (kind is str or kind is bytes) and len(data) <= MAX_PAYLOAD_BYTES:
        # The common case without ``_decode``'s frame: text within the limit that is a
        # JSON object; anything else goes through ``_decode`` again for its error.
        try:
            payload = _loads(data)
        except orjson.JSONDecodeError:
            payload = _decode(data)
        else:
            if type(payload) is not dict:
                payload = _decode(data)
    else:
        payload = data if isinstance(data, dict) else _decode(data)
    get = payload.get
    name = get("hook_event_name")
    # The names ccviz knows pass at once (one set lookup, whose hash the dispatch reuses).
    if type(name) is not str or (
        name not in _KNOWN_NAMES and (not name or len(name) > _MAX_NAME or name.isspace())
    ):
        raise PayloadError(_bad(name, "hook_event_name", "a non-empty string"))
    sid = get("session_id")
    if sid is None:
        sid = session_id
    if type(sid) is not str or not sid or len(sid) > _MAX_NAME or sid.isspace():
        raise PayloadError(_bad(sid, "session_id", "a non-empty string"))
    agent_id = get("agent_id")
    agent_type = get("agent_type")
    tool_name = get("tool_name")
    tool_use_id = get("tool_use_id")
    # The four names, checked in this order (the first bad one is the one named); the
    # common case (absent, or a short string) costs one test each.
    if agent_id is not None and (type(agent_id) is not str or len(agent_id) > _MAX_NAME):
        raise PayloadError(_bad(agent_id, "agent_id", "a string"))
    if agent_type is not None and (type(agent_type) is not str or len(agent_type) > _MAX_NAME):
        raise PayloadError(_bad(agent_type, "agent_type", "a string"))
    if tool_name is not None and (type(tool_name) is not str or len(tool_name) > _MAX_NAME):
        raise PayloadError(_bad(tool_name, "tool_name", "a string"))
    if tool_use_id is not None and (type(tool_use_id) is not str or len(tool_use_id) > _MAX_NAME):
        raise PayloadError(_bad(tool_use_id, "tool_use_id", "a string"))
    if not tool_name and name in TOOL_EVENTS:
        raise PayloadError(f"{name}: field 'tool_name' is required (a non-empty string)")
    tool_input = get("tool_input")
    if tool_input is not None and type(tool_input) is not dict:
        raise PayloadError(_expected("tool_input", "an object", tool_input))
    if ts is None:
        stamp = get("timestamp")
        if stamp is not None:
            if type(stamp) is str:  # parse_time of text, without its type tests
                micros = parse_micros(stamp)
                ts = None if micros is None else micros / 1_000_000
            else:
                ts = parse_time(stamp)
    if ts is not None and not (type(ts) in (float, int) and 0.0 <= ts < MAX_EVENT_TIME):
        ts = None  # an impossible time (1e300, NaN, before 1970) is no time: the clock's
    return HookEvent(name, sid, payload, ts, agent_id or None, agent_type, tool_name, tool_use_id)


def _bad(value: Any, key: str, what: str) -> str:
    if isinstance(value, str) and len(value) > _MAX_NAME:
        return f"field '{key}' is too long ({len(value)} characters; at most {_MAX_NAME})"
    return _expected(key, what, value)


def _decode(data: bytes | bytearray | str) -> dict[str, Any]:
    if not isinstance(data, (bytes, bytearray, str)):
        raise PayloadError(f"expected a JSON object, got {type(data).__name__}")
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadError(
            f"payload too large ({len(data)} bytes; the limit is {MAX_PAYLOAD_BYTES})"
        )
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        # Only text that is not JSON can be empty (checked here, not on every payload:
        # stripping copies the whole text).
        if not data or not (data.strip() if isinstance(data, str) else bytes(data).strip()):
            raise PayloadError("empty payload: expected a JSON object") from None
        raise PayloadError(
            f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(payload, dict):
        raise PayloadError(f"expected a JSON object, got {json_type(payload)}")
    return payload


def _expected(key: str, what: str, got: Any) -> str:
    if got is None:
        return f"field '{key}' is missing: expected {what}"
    return f"field '{key}' must be {what}, got {json_type(got)}"


def hook_event_key(payload: Mapping[str, Any]) -> str | None:
    """The natural delivery id of a hook event about one tool call, else ``None``.

    Claude Code fires each tool event once per call: (session, agent, event, tool_use_id)
    names one firing. Whoever ingests the same firing again (the transcript gap fill, for
    an http hook that failed or timed out) passes this as the key, and the store keeps one.

    >>> hook_event_key({"session_id": "s1", "hook_event_name": "PreToolUse", "tool_use_id": "t1"})
    'hook:s1::PreToolUse:t1'
    >>> hook_event_key({"session_id": "s1", "hook_event_name": "Stop"}) is None
    True
    """
    names = ("session_id", "hook_event_name", "tool_use_id")
    values = [payload.get(n) for n in names]
    if not all(isinstance(v, str) and v for v in values):
        return None
    agent = payload.get("agent_id")
    agent = agent if isinstance(agent, str) else ""
    session, event, use = values
    return f"hook:{session}:{agent}:{event}:{use}"


_INT64 = 1 << 63


def _floats_for_huge_ints(value: Any) -> Any:
    """``value`` with every integer outside 64 bits as a float (a string if even that
    overflows), as orjson reads such numbers from JSON text."""
    if type(value) is int and not -_INT64 <= value < 2 * _INT64:
        try:
            return float(value)
        except OverflowError:
            return str(value)
    if isinstance(value, dict):
        return {k: _floats_for_huge_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats_for_huge_ints(v) for v in value]
    return value
