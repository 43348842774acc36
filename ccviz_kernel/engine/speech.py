"""What a person watching reads: bubble texts, and the caption's plain sentences.

Every text is redacted and cut to :data:`MAX_TEXT` characters here, so nothing longer or
secret reaches a view.
"""

from __future__ import annotations

from typing import Any

from ..redact import redact

MAX_TEXT = 80
#: The caption line spans the view, so it may say a little more than a bubble.
MAX_CAPTION = 120


#: Results of :func:`shorten` by limit, then by the text's first ``limit * 4`` characters
#: (all the result depends on): the engine says the same things again and again (tool
#: summaries, names, captions). Bounded: a full table is emptied.
_SHORT: dict[int, dict[str, str]] = {}
_SHORT_KEPT = 2048


def shorten(text: str, limit: int = MAX_TEXT) -> str:
    """One line of at most ``limit`` characters, redacted."""
    if not isinstance(text, str):
        text = str(text)
    cut = text[: limit * 4]  # never copy a whole file's worth of text below
    memo = _SHORT.get(limit)
    if memo is None:
        memo = _SHORT[limit] = {}
    line = memo.get(cut)
    if line is None:
        if len(memo) >= _SHORT_KEPT:
            memo.clear()
        line = memo[cut] = _shorten(cut, limit)
    return line


def _shorten(text: str, limit: int) -> str:
    text = text.strip()
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
    if cwd:
        root = cwd.rstrip("/") + "/"
        if path.startswith(root):
            return path[len(root) :]
    return path


def tool_speech(tool: str, tool_input: dict[str, Any] | None, cwd: str | None = None) -> str:
    """``Reading src/player.py``, ``$ npm test``, ``Spawning Explore: find the jump code``."""
    return tool_texts(tool, tool_input, cwd)[0]


def tool_doing(tool: str, tool_input: dict[str, Any] | None, cwd: str | None = None) -> str:
    """What the call is, as the end of a plain sentence: ``searching the code for 'x'``."""
    return shorten(tool_texts(tool, tool_input, cwd)[1], MAX_CAPTION)


#: The tools about one file: the input field naming it, the bubble's and the phrase's start.
_FILE_TOOLS: dict[str, tuple[str, str, str]] = {
    "Read": ("file_path", "Reading ", "reading "),
    "Write": ("file_path", "Writing ", "writing "),
    "Edit": ("file_path", "Editing ", "editing "),
    "MultiEdit": ("file_path", "Editing ", "editing "),
    "NotebookEdit": ("notebook_path", "Editing notebook ", "editing the notebook "),
}


#: The tools whose texts depend on one input field (and the cwd) alone: what
#: :func:`tool_texts` remembers them by.
_KEYED_TOOLS: dict[str, str] = {
    **{tool: spec[0] for tool, spec in _FILE_TOOLS.items()},
    "Bash": "command",
    "PowerShell": "command",
    "Grep": "pattern",
    "Glob": "pattern",
}
#: (tool, that field's text, cwd) → the texts; bounded: a full table is emptied.
_TEXTS: dict[tuple[str, str, str | None], tuple[str, str]] = {}
_TEXTS_KEPT = 2048


def tool_texts(
    tool: str, tool_input: dict[str, Any] | None, cwd: str | None = None
) -> tuple[str, str]:
    """The bubble text and the caption phrase of one tool call, from one table.

    The bubble is short and terse (it hangs over a character); the phrase finishes "Explore
    #2 is …" in the caption line. The bubble comes redacted and cut to one line; the phrase
    only cut, since the engine redacts the whole caption sentence once.

    Every ``PreToolUse`` asks, and most calls are the same few tools on the same files and
    commands again: the texts of the tools in :data:`_KEYED_TOOLS` are remembered by the
    one field they read (a sixth of a ``PreToolUse``'s cost, on the path of the 150k
    lines/s budget; bench/engine_bench.py).
    """
    field = _KEYED_TOOLS.get(tool)
    if field is not None and tool_input:
        value = tool_input.get(field)
        if type(value) is str:
            key = (tool, value, cwd)
            texts = _TEXTS.get(key)
            if texts is None:
                if len(_TEXTS) >= _TEXTS_KEPT:
                    _TEXTS.clear()
                texts = _TEXTS[key] = _tool_texts(tool, tool_input, cwd)
            return texts
    return _tool_texts(tool, tool_input, cwd)


def _tool_texts(tool: str, tool_input: dict[str, Any] | None, cwd: str | None) -> tuple[str, str]:
    args = tool_input or {}
    get = args.get
    # The file tools (most calls) from one table lookup, before the chain of names below.
    file_tool = _FILE_TOOLS.get(tool)
    if file_tool is not None:
        key, bubble, phrase = file_tool
        where = relpath(get(key), cwd)
        text, doing = bubble + where, phrase + where
    elif tool in ("Bash", "PowerShell"):
        command = get("command") or ""
        text, doing = f"$ {command}", f"running `{command}`"
    elif tool == "Grep":
        pattern = _quote(get("pattern"))
        text, doing = f"Searching for {pattern}", f"searching the code for {pattern}"
    elif tool == "Glob":
        pattern = get("pattern") or "files"
        text, doing = f"Finding {pattern}", f"looking for files named {pattern}"
    elif tool == "WebFetch":
        page = _host_path(get("url"))
        text, doing = f"Fetching {page}", f"reading the web page {page}"
    elif tool == "WebSearch":
        query = get("query") or ""
        text, doing = f"Searching the web: {query}", f"searching the web for '{query}'"
    elif tool in ("Agent", "Task"):
        kind = get("subagent_type") or "general-purpose"
        task = get("description") or get("prompt") or ""
        text, doing = f"Spawning {kind}: {task}", f"calling in {kind}: {task}"
    elif tool == "TodoWrite":
        todos = get("todos")
        count = len(todos) if isinstance(todos, list) else 0
        text, doing = f"Updating the todo list ({count})", "updating the todo list"
    elif tool == "TaskCreate":
        subject = get("subject") or ""
        text, doing = f"New task: {subject}", f"adding the task '{subject}'"
    elif tool == "TaskUpdate":
        status = get("status") or "updated"
        text = f"Task {get('taskId') or ''} → {status}"
        doing = f"marking task {get('taskId') or ''} {status}"
    elif tool == "AskUserQuestion":
        questions = get("questions")
        first = questions[0] if isinstance(questions, list) and questions else {}
        question = first.get("question") if isinstance(first, dict) else None
        text, doing = f"Asking: {question or 'a question'}", f"asking you: {question or '…'}"
    elif tool == "SendMessage":
        to = get("to") or "an agent"
        text, doing = f"Message to {to}", f"writing to {to}"
    elif tool.startswith("mcp__"):
        server, _, name = tool[5:].partition("__")
        text, doing = f"{server}: {name or 'call'}", f"asking {server} for {name or 'something'}"
    else:
        text, doing = tool, f"using {tool}"
    # The phrase is cut here but redacted once, with the rest of its sentence (_caption).
    return shorten(text), doing[: MAX_CAPTION * 4]


def mcp_server(tool: str) -> str | None:
    if tool.startswith("mcp__"):
        return tool[5:].partition("__")[0] or None
    return None


def _quote(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else "a pattern"


def _host_path(url: Any) -> str:
    """``host/path`` of a URL, redacted whole first: without its scheme, a password in
    ``user:password@host`` no longer looks like one. The user part is dropped too."""
    if not isinstance(url, str):
        return "a page"
    url = redact(url)
    rest = url.partition("://")[2] or url
    rest = rest.partition("?")[0].partition("#")[0]
    host, slash, path = rest.partition("/")
    return (host.rpartition("@")[2] + slash + path) or url
