"""What a tool result the model saw says about the call: ran, or refused with an error.

Claude Code wraps the error of a call it refused (an unknown tool, a missing parameter, an
``Edit`` whose ``old_string`` is not in the file) in ``<tool_use_error>`` tags. Live, such a
call only shows up in ``PostToolBatch``'s ``tool_response``; in a transcript it is an
``is_error`` result. Both read the tags with this one function.
"""

from __future__ import annotations

import re
from typing import Any

_TOOL_ERROR = re.compile(r"\s*<tool_use_error>(.*?)</tool_use_error>", re.S)


def result_text(content: Any) -> str | None:
    """A result's text: a string, or its text blocks joined; None when it has none."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b.get("text") for b in content if isinstance(b, dict)]
        return "\n".join(t for t in parts if isinstance(t, str))
    return None


def unwrap_error(text: str) -> str:
    """The error inside ``<tool_use_error>`` tags, or the text as it is."""
    match = _TOOL_ERROR.match(text)
    if match is not None and not text[match.end() :].strip():
        return match.group(1).strip()
    return text


def refusal(content: Any) -> str | None:
    """The error text when the result says the call was refused; None otherwise."""
    text = result_text(content)
    if not text:
        return None
    match = _TOOL_ERROR.match(text[:4000])
    if match is None:
        return None
    return match.group(1).strip() or "refused"
