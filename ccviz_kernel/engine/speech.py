"""Short speech-bubble texts for tool calls: what a person watching wants to read.

Every text is redacted and cut to :data:`MAX_TEXT` characters here, so nothing longer or
secret reaches a view.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..redact import redact

MAX_TEXT = 80


def shorten(text: str, limit: int = MAX_TEXT) -> str:
    """One line of at most ``limit`` characters, redacted."""
    if not isinstance(text, str):
        text = str(text)
    text = text[: limit * 4].strip()  # never copy a whole file's worth of text below
    line, newline, _ = text.partition("\n")
    if newline and len(line) < limit:
        line += " …"
    line = redact(line[: limit * 3])
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


def relpath(path: Any, cwd: str | None) -> str:
    if not isinstance(path, str) or not path:
        return "a file"
    if cwd and path.startswith(cwd.rstrip("/") + "/"):
        return path[len(cwd.rstrip("/")) + 1 :]
    return path


def tool_speech(tool: str, tool_input: dict[str, Any] | None, cwd: str | None = None) -> str:
    """``Reading src/player.py``, ``$ npm test``, ``Spawning Explore: find the jump code``."""
    args = tool_input or {}
    get = args.get
    if tool == "Read":
        text = f"Reading {relpath(get('file_path'), cwd)}"
    elif tool in ("Write",):
        text = f"Writing {relpath(get('file_path'), cwd)}"
    elif tool in ("Edit", "MultiEdit"):
        text = f"Editing {relpath(get('file_path'), cwd)}"
    elif tool == "NotebookEdit":
        text = f"Editing notebook {relpath(get('notebook_path'), cwd)}"
    elif tool in ("Bash", "PowerShell"):
        text = f"$ {get('command') or ''}"
    elif tool == "Grep":
        text = f"Searching for {_quote(get('pattern'))}"
    elif tool == "Glob":
        text = f"Finding {get('pattern') or 'files'}"
    elif tool == "WebFetch":
        text = f"Fetching {_host_path(get('url'))}"
    elif tool == "WebSearch":
        text = f"Searching the web: {get('query') or ''}"
    elif tool in ("Agent", "Task"):
        kind = get("subagent_type") or "general-purpose"
        text = f"Spawning {kind}: {get('description') or get('prompt') or ''}"
    elif tool == "TodoWrite":
        todos = get("todos")
        text = f"Updating the todo list ({len(todos) if isinstance(todos, list) else 0})"
    elif tool == "TaskCreate":
        text = f"New task: {get('subject') or ''}"
    elif tool == "TaskUpdate":
        text = f"Task {get('taskId') or ''} → {get('status') or 'updated'}"
    elif tool == "AskUserQuestion":
        questions = get("questions")
        first = questions[0] if isinstance(questions, list) and questions else {}
        question = first.get("question") if isinstance(first, dict) else None
        text = f"Asking: {question or 'a question'}"
    elif tool == "SendMessage":
        text = f"Message to {get('to') or 'an agent'}"
    elif tool.startswith("mcp__"):
        server, _, name = tool[5:].partition("__")
        text = f"{server}: {name or 'call'}"
    else:
        text = tool
    return shorten(text)


def mcp_server(tool: str) -> str | None:
    if tool.startswith("mcp__"):
        return tool[5:].partition("__")[0] or None
    return None


def _quote(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else "a pattern"


def _host_path(url: Any) -> str:
    if not isinstance(url, str):
        return "a page"
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return (parts.netloc + parts.path) or url
