"""The hook payloads a transcript line implies, written once for the replay and the tail.

The transcript replay (``_transcript_emit``) and the live tail (``tail.py``) both turn
``tool_use`` blocks and ``tool_result`` blocks into the ``PreToolUse`` / ``PostToolUse`` /
``PostToolUseFailure`` payloads Claude Code's hooks would have sent; the fields come from
here, so a live game made from the transcript and a replay of it count the same calls,
failures and interrupts.
"""

from __future__ import annotations

import json
from typing import Any

from ._transcript_lines import text_of
from .prompts import INTERRUPT
from .results import unwrap_error


def base_payload(
    name: str,
    session_id: str,
    transcript_path: str,
    cwd: str | None,
    prompt_id: str | None,
    stamp: str,
    agent_id: str | None = None,
    agent_type: str | None = None,
) -> dict[str, Any]:
    """What every hook payload carries, in the order Claude Code writes it (positional
    arguments allowed: the transcript replay makes one per event it emits)."""
    payload: dict[str, Any] = {"session_id": session_id, "transcript_path": transcript_path}
    if cwd is not None:
        payload["cwd"] = cwd
    if prompt_id is not None:
        payload["prompt_id"] = prompt_id
    payload["hook_event_name"] = name
    if agent_id is not None:
        payload["agent_id"] = agent_id
        payload["agent_type"] = agent_type
    payload["timestamp"] = stamp
    return payload


def pre_tool_fields(payload: dict[str, Any], block: dict[str, Any]) -> dict[str, Any]:
    """A ``tool_use`` block's fields on a ``PreToolUse`` payload."""
    tool_input = block.get("input")
    payload["tool_name"] = block["name"]
    payload["tool_input"] = tool_input if isinstance(tool_input, dict) else {}
    if isinstance(block.get("id"), str):
        payload["tool_use_id"] = block["id"]
    return payload


def result_name(block: dict[str, Any]) -> str:
    return "PostToolUseFailure" if block.get("is_error") is True else "PostToolUse"


def result_fields(
    payload: dict[str, Any],
    block: dict[str, Any],
    *,
    tool_name: str,
    tool_input: dict[str, Any],
    line: dict[str, Any],
    only_result: bool,
    micros: int | None = None,
) -> dict[str, Any]:
    """A ``tool_result`` block's fields on a ``PostToolUse``/``PostToolUseFailure`` payload.

    ``only_result``: the block is the line's only result, so the line's ``toolUseResult``
    (the structured result hooks get) belongs to it. ``micros``: the time from the call to
    its result, for ``duration_ms``.
    """
    payload["tool_name"] = tool_name
    payload["tool_input"] = dict(tool_input)  # one object per payload, as live
    if block.get("is_error") is True:
        error = error_text(block.get("content"))
        payload["tool_use_id"] = block.get("tool_use_id")
        payload["error"] = error
        if error.startswith(INTERRUPT):
            payload["is_interrupt"] = True
    else:
        if only_result and "toolUseResult" in line:
            payload["tool_response"] = line["toolUseResult"]
        else:
            payload["tool_response"] = block.get("content")
        payload["tool_use_id"] = block.get("tool_use_id")
    if micros is not None and micros >= 0:
        payload["duration_ms"] = micros // 1000
    return payload


def error_text(content: Any) -> str:
    """A failed result's text, without ``<tool_use_error>`` tags."""
    text = text_of(content)
    if text is None:
        text = "" if content is None else json.dumps(content, ensure_ascii=False)
    return unwrap_error(text)
