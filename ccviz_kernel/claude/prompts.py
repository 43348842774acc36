"""What a user turn's text is: a prompt someone typed, a slash command, or the harness's own.

Claude Code sends some of its own text through the same door as a person's prompt: a
background task's result comes back as a ``<task-notification>`` block (live, as a
``UserPromptSubmit``), a slash command is logged as ``<command-name>`` tags, an interrupted
turn as ``[Request interrupted by user…``. The live game and the transcript replay classify
the text with this one function, so both count the same prompts.
"""

from __future__ import annotations

import re

#: Harness text (``<command-name>``, ``<local-command-stdout>``, ``<bash-input>``,
#: ``<system-reminder>``...): all hyphenated tags, which user prose starting with
#: ``<div>`` or ``<html>`` is not.
_HARNESS_TAG = re.compile(r"<[a-z]+(?:-[a-z]+)+>")
_COMMAND_TAG = re.compile(r"<command-name>\s*(/?[^<\s]+)\s*</command-name>")
_COMMAND_ARGS = re.compile(r"<command-args>(.*?)</command-args>", re.S)
_SLASH = re.compile(r"/[A-Za-z][\w:.-]*(?:\s|$)")
_TAG_TEXT = re.compile(r"<(summary|status|result)>(.*?)</\1>", re.S)
_TASK_ID = re.compile(r"<task-id>\s*([^<\s]+)\s*</task-id>")
INTERRUPT = "[Request interrupted by user"


def prompt_kind(text: str) -> str:
    """``prompt``, ``command`` (``/compact``), ``notification`` (a background task's
    result), ``interrupt``, ``harness`` (other tagged text) or ``empty``."""
    stripped = text.lstrip()
    if stripped.startswith("<task-notification>"):
        return "notification"
    if stripped.startswith(INTERRUPT):
        return "interrupt"
    if stripped.startswith("<command-name>") or stripped.startswith("<command-message>"):
        return "command" if _COMMAND_TAG.search(stripped) else "harness"
    if _HARNESS_TAG.match(stripped):
        return "harness"
    if _SLASH.match(stripped):
        return "command"
    if not stripped:
        return "empty"
    return "prompt"


def command_text(text: str) -> str:
    """``/model sonnet`` from a typed command or from its ``<command-name>`` tags."""
    match = _COMMAND_TAG.search(text)
    if match is None:
        return text.strip()
    name = match.group(1)
    name = name if name.startswith("/") else f"/{name}"
    args = _COMMAND_ARGS.search(text)
    extra = args.group(1).strip() if args else ""
    return f"{name} {extra}" if extra else name


def notification_text(text: str) -> str:
    """The readable part of a ``<task-notification>`` block: its summary (or status)."""
    found = {tag: body.strip() for tag, body in _TAG_TEXT.findall(text)}
    for tag in ("summary", "result", "status"):
        if found.get(tag):
            return found[tag]
    return "A background task finished"


def notification_key(text: str) -> str | None:
    """``task:<id>`` for a ``<task-notification>`` text: the same background task's result
    seen as a hook, a transcript prompt line or a queued prompt is one notification."""
    match = _TASK_ID.search(text[:4000]) if prompt_kind(text) == "notification" else None
    return f"task:{match.group(1)}" if match else None
