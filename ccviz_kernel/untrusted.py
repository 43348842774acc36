"""The one check of untrusted data's shape: depth, string length, number range.

Hook payloads (HTTP, socket.io actions, the spool, Python), transcript and hook-log lines
all pass :func:`within_limits` where they enter (``events.HookEvent.to_json`` and
``claude/lines.py``), so a payload refused live is refused in a replay of its log too, and
nothing downstream can fail on a payload's shape: the limits are
:data:`~ccviz_kernel.config.MAX_DEPTH` and :data:`~ccviz_kernel.config.MAX_STRING`, and
integers within what msgpack carries. orjson already refuses NaN, infinities and lone
surrogates in JSON text and reads integers beyond 64 bits as floats; the number checks
here catch what laxer sources (a Python caller's dict) bring.

It runs on every event, so it first looks at the JSON text: a text with fewer brackets than
the depth limit and shorter than the string limit cannot break either, and most do not.
"""

from __future__ import annotations

import math
from typing import Any

from . import config

__all__ = ["check_limits", "within_limits"]

#: What msgpack carries: integers within −2⁶³…2⁶⁴−1.
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1
#: The types :func:`check_limits` looks at (None and bools are always fine).
_CHECKED = frozenset({dict, list, str, int, float})


def check_limits(value: Any) -> str | None:
    """None if ``value`` (parsed JSON) is within the limits, else what is wrong, naming the
    limit: nesting beyond ``MAX_DEPTH``, a string or key beyond ``MAX_STRING``, an integer
    beyond 64 bits, a number that is not finite."""
    max_depth, max_string = config.MAX_DEPTH, config.MAX_STRING
    stack: list[tuple[Any, int]] = [(value, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        kind = type(node)
        if kind is str:
            if len(node) > max_string:
                return f"a string of {len(node):,} characters (the limit is {max_string:,})"
        elif kind is dict or kind is list:
            depth += 1
            if depth > max_depth:
                return f"nested deeper than {max_depth} levels (the limit)"
            if kind is dict:
                for key in node:
                    if type(key) is str and len(key) > max_string:
                        return f"a key of {len(key):,} characters (the limit is {max_string:,})"
                children = node.values()
            else:
                children = node
            for child in children:
                if type(child) in _CHECKED:
                    push((child, depth))
        elif kind is int:
            if not _INT_MIN <= node <= _INT_MAX:
                return f"an integer beyond 64 bits ({str(node)[:20]}…)"
        elif kind is float and not math.isfinite(node):
            return "a number that is not finite"
    return None


def within_limits(value: Any, text: bytes | str) -> str | None:
    """:func:`check_limits` of ``value`` whose JSON text is ``text``, skipped when the
    text is too short to hold a long string and has too few brackets to nest too deep."""
    if (
        len(text) <= config.MAX_STRING
        and text.count("{" if isinstance(text, str) else b"{")
        + (text.count("[" if isinstance(text, str) else b"["))
        <= config.MAX_DEPTH
    ):
        return None
    return check_limits(value)
