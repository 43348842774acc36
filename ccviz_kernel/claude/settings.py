"""Claude Code's settings files, and our handlers in them (``install-hooks`` / ``uninstall-hooks``).

The settings file belongs to the user: it holds permissions, env, other tools' hooks. So we
only ever touch handlers carrying our marker (:data:`MARKER`; never a URL or command shape,
which other tools share), keep every other value as it was written (numbers' text, key
order, empty containers), refuse a file we cannot parse or that is not a plain writable
file rather than guess, write atomically and keep a backup.
Standard library only, and cheap to import (``ccviz doctor`` reads settings through here).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..config import (
    DEFAULT_URL,
    ENV_HOOK_TOKEN,
    HOOK_COMMAND_TIMEOUT,
    HOOK_HTTP_TIMEOUT,
    HOOK_TOKEN_FILE,
    MAX_DEPTH,
    MAX_NUMBER_CHARS,
    MAX_SETTINGS_BYTES,
    PERMISSIONS_PATH,
    claude_config_dir,
)
from ..errors import SettingsError, json_type
from .hooks import (
    ANSWERED_EVENTS,
    COMMAND_ONLY_EVENTS,
    INSTALLED_EVENTS,
    MATCHERS,
    PER_CALL_EVENTS,
    SYNC_EVENTS,
    TOOL_EVENTS,
)

SCOPES = ("user", "project", "local")

#: The hook-only credential http handlers send: a token that lets its holder post hook
#: events and nothing else (not the ingest token, which also controls agents). Its file is
#: in the data folder, made by ``install-hooks``; Claude Code gets it through the ``env`` of
#: the *user* settings (private to the user), never through a project file teams commit.
HOOK_TOKEN_ENV = ENV_HOOK_TOKEN

#: The events that get an http handler: those that fire per tool call, per turn or per
#: prompt (hundreds in a long session, where a process each costs Claude Code dearly:
#: bench/claude_cost_bench.py), and whose facts the transcript also holds, so the server
#: fills them in from it when an http hook found no server. Lean (the default, :data:`MODES`)
#: leaves the per-call ones out altogether. Every other event fires a few times a session
#: and is not in the transcript: it keeps ``ccviz hook`` and the spool, which delivers it
#: exactly once whenever the server is back, run synchronously so that it reaches the
#: server in its place among the http events.
HTTP_EVENTS: frozenset[str] = TOOL_EVENTS | {"PostToolBatch", "UserPromptSubmit", "Stop"}

#: How ``install-hooks`` can hook Claude Code (what ``ccviz doctor`` reports):
#: - ``lean`` (the default): no handler on the per-call events (:data:`~.hooks.PER_CALL_EVENTS`),
#:   which the server reads from the transcript it follows; http on the rest of
#:   :data:`HTTP_EVENTS`, ``ccviz hook`` (sync, spooled) on the rarer events;
#: - ``per-call`` (``--per-call``): the same plus http handlers on the per-call events;
#: - ``command`` (``--command``): ``ccviz hook`` on every event, per-call ones included.
MODES = ("lean", "per-call", "command")


def events_for(per_call: bool) -> tuple[str, ...]:
    """The events we install a handler for: all of them, or all but the per-call ones."""
    return tuple(e for e in INSTALLED_EVENTS if per_call or e not in PER_CALL_EVENTS)


def install_mode(settings: dict[str, Any]) -> str | None:
    """Which of :data:`MODES` our handlers in ``settings`` are (``None``: none of ours).

    Told by the per-call events' handlers alone: ``--answer-permissions`` makes the
    PermissionRequest handler an http one in every mode (:func:`answers_permissions`).
    """
    ours = find_ours(settings)
    if not ours:
        return None
    if not PER_CALL_EVENTS & set(ours):
        return "lean"
    kinds = {h.get("type") for event in PER_CALL_EVENTS for h in ours.get(event, ())}
    return "per-call" if "http" in kinds else "command"


def answers_permissions(settings: dict[str, Any]) -> bool:
    """Whether our PermissionRequest handler in ``settings`` posts to ``api/permissions``
    (``install-hooks --answer-permissions``), so the page and Python can answer."""
    return PERMISSION_EVENT in answering_events(settings)


def answering_events(settings: dict[str, Any]) -> list[str]:
    """Which of :data:`ANSWERED_EVENTS` our handlers in ``settings`` hold at the server for
    an answer (``api/permissions``): ``ccviz doctor`` says when one of them is missing."""
    ours = find_ours(settings)
    return [
        event
        for event in ANSWERED_EVENTS
        if any(
            h.get("type") == "http" and _posts_to(h.get("url"), PERMISSIONS_PATH)
            for h in ours.get(event, ())
        )
    ]


def _posts_to(url: Any, path: str) -> bool:
    from urllib.parse import urlsplit

    try:
        return isinstance(url, str) and urlsplit(url).path.endswith("/" + path)
    except ValueError:
        return False


# -- where the settings live ------------------------------------------------------------


def settings_path(scope: str, project_dir: str | None = None) -> str:
    """The settings file Claude Code reads for ``scope`` (user, project or local)."""
    if scope == "user":
        return os.path.join(claude_config_dir(), "settings.json")
    if scope not in ("project", "local"):
        raise SettingsError(f"unknown scope {scope!r} (expected user, project or local)")
    project = os.path.abspath(os.path.expanduser(project_dir or os.getcwd()))
    name = "settings.json" if scope == "project" else "settings.local.json"
    return os.path.join(project, ".claude", name)


# -- our handlers ----------------------------------------------------------------------


#: The command a *project* settings file gets (``--scope project``): that file is committed
#: and shared, so it names no path of this machine (a path into this checkout's ``.venv``
#: breaks for every teammate, and for everyone after ``make clean``). ``ccviz`` comes from
#: the PATH Claude Code runs with; ``|| true``: where there is none (a teammate without
#: ccviz), the hook does nothing and exits 0 instead of a hook error on every event
#: (``ccviz hook`` itself always exits 0, so ``||`` only ever catches "not found").
PORTABLE_COMMAND = "ccviz hook || true"


def is_portable_target(path: str) -> bool:
    """Whether ``path`` is a project's committed settings file (``<dir>/.claude/settings.json``
    other than the user's own): such a file gets :data:`PORTABLE_COMMAND`."""
    if os.path.basename(path) != "settings.json":
        return False
    if os.path.basename(os.path.dirname(os.path.abspath(path))) != ".claude":
        return False
    return os.path.realpath(path) != os.path.realpath(settings_path("user"))


def hook_command(portable: bool = False) -> str:
    """The shell command Claude Code runs. By default an absolute path, so it works whatever
    PATH Claude Code has (user and local settings are this machine's own files);
    ``portable``: :data:`PORTABLE_COMMAND`, for a file teams commit.

    The ``ccviz`` beside the running interpreter comes first: it is this very install,
    whereas the one on PATH may be another, older one.
    """
    import shlex
    import shutil

    if portable:
        return PORTABLE_COMMAND
    sibling = os.path.join(os.path.dirname(sys.executable), "ccviz")
    if os.path.isfile(sibling) and os.access(sibling, os.X_OK):
        return f"{shlex.quote(sibling)} hook"
    found = shutil.which("ccviz")
    if found:
        return f"{shlex.quote(os.path.abspath(found))} hook"
    return f"{shlex.quote(sys.executable)} -m ccviz_kernel.cli hook"


def hook_url(path: str = "api/hooks") -> str:
    """Where an http handler posts (``path`` under the server): the running server if any,
    else the default port."""
    from ..runtime import read_runtime

    info = read_runtime()
    base = info["url"] if info else DEFAULT_URL
    return base.rstrip("/") + "/" + path


#: ``install-hooks --answer-permissions``: Claude Code's PermissionRequest handler posts
#: here instead of ``api/hooks``, and the server holds the request until a person (the
#: page, the widget) or a rule in Python answers, or its wait ends (docs/protocol.md §14).
#: An MCP server asking the user for input (a form, ``ELICITATION_EVENT``): with
#: ``--answer-permissions`` its handler posts to :data:`PERMISSIONS_PATH` too and is held and
#: answered the same way (``accept`` with the form's content, or ``decline``;
#: tests/e2e/PERMISSIONS.md §5). :data:`ANSWERED_EVENTS` (claude/hooks.py) names both.
PERMISSION_EVENT, ELICITATION_EVENT = ANSWERED_EVENTS


def handler_urls(base: str) -> frozenset[str]:
    """Every URL our http handlers post to for a server at ``base`` (ending in ``/``):
    ``ccviz doctor`` takes any other for a server that moved."""
    return frozenset({base + "api/hooks", base + PERMISSIONS_PATH})


def answer_timeout() -> int:
    """The PermissionRequest handler's ``timeout``: the server's default answer wait
    (``ccviz serve --answer-wait``, :data:`~ccviz_kernel.config.ANSWER_WAIT`) plus
    :data:`~ccviz_kernel.config.ANSWER_HOOK_MARGIN`, in whole seconds. The server gives up
    first and answers "no decision" (a 204), so Claude Code never cancels the hook itself
    and falls back to asking in its own way at once (tests/e2e/PERMISSIONS.md §3: a
    cancelled hook is a clean default too, only later)."""
    import math

    from ..config import ANSWER_HOOK_MARGIN, ANSWER_WAIT

    return math.ceil(ANSWER_WAIT + ANSWER_HOOK_MARGIN)


def permission_handler(url: str | None = None, keep: Any = ()) -> dict[str, Any]:
    """Our answering handler (PermissionRequest and Elicitation, :data:`ANSWERED_EVENTS`):
    :func:`http_handler` posting to ``api/permissions`` with Claude Code's wait raised to
    :func:`answer_timeout`."""
    handler = http_handler(url or hook_url(PERMISSIONS_PATH), keep)
    handler["timeout"] = answer_timeout()
    return handler


#: What marks a handler as written by ``install-hooks`` (and nothing else): a trailing shell
#: comment on a command (``… hook  # ccviz install-hooks``), a header on an http handler
#: (``X-Ccviz-Installed-By: ccviz install-hooks``). Both live inside values Claude Code
#: uses, so they survive any tool that rewrites the file with only the keys it knows, and
#: Claude Code 2.1.332 runs both handlers as usual (checked with ``claude -p --debug``: no
#: "Invalid setting", the comment is ignored by the shell, the header is sent). Recognising
#: our handlers by a URL or a command shape took other tools' handlers for ours.
MARKER = "ccviz install-hooks"
MARKER_HEADER = "X-Ccviz-Installed-By"
_COMMAND_MARK = re.compile(r"\s#\s*ccviz install-hooks(?: keep=([a-z,]*))?\s*\Z")
_HEADER_MARK = re.compile(r"\A\s*ccviz install-hooks(?: keep=([a-z,]*))?\s*\Z")

#: What an install found already there and *empty* (``"hooks": {}``, ``"Stop": []``,
#: ``"env": {}``), written into the marker as ``keep=…`` so that uninstall leaves it as it
#: was instead of deleting a container it cannot otherwise tell from one it made. The
#: common case (nothing there) writes no flag, and then what we emptied goes.
KEEP_FLAGS = ("env", "event", "hooks")


def _mark(keep: Any = ()) -> str:
    flags = sorted(set(keep) & set(KEEP_FLAGS))
    return MARKER + (f" keep={','.join(flags)}" if flags else "")


def command_handler(command: str | None = None, keep: Any = ()) -> dict[str, Any]:
    """Our command handler: ``ccviz hook`` with the marker comment (``keep``: see KEEP_FLAGS).

    async: Claude Code never waits for us; the hook has nothing to decide anyway.
    """
    return {
        "type": "command",
        "command": f"{command or hook_command()} # {_mark(keep)}",
        "async": True,
        "timeout": HOOK_COMMAND_TIMEOUT,
    }


def http_handler(url: str | None = None, keep: Any = ()) -> dict[str, Any]:
    """Our http handler: posts to ``url`` with the hook token and the marker header.

    The token stays out of the settings file (often committed): Claude Code fills it in from
    its own environment, and only for the variables listed in allowedEnvVars; the user
    settings' "env" puts it there (see :func:`set_token_env`).
    """
    return {
        "type": "http",
        "url": url or hook_url(),
        "timeout": HOOK_HTTP_TIMEOUT,
        "headers": {"Authorization": f"Bearer ${HOOK_TOKEN_ENV}", MARKER_HEADER: _mark(keep)},
        "allowedEnvVars": [HOOK_TOKEN_ENV],
    }


def hook_token(create: bool = True) -> str | None:
    """The hook-only token (``$CCVIZ_HOOK_TOKEN``, else its file, made when ``create``)."""
    from ..runtime import find_token, read_or_create_token

    if create:
        return read_or_create_token(HOOK_TOKEN_FILE, HOOK_TOKEN_ENV)
    return find_token(HOOK_TOKEN_FILE, HOOK_TOKEN_ENV)[0]


def set_token_env(settings: dict[str, Any], token: str) -> bool:
    """Put the hook token in ``settings["env"]``; whether that changed anything.

    ``env.CCVIZ_HOOK_TOKEN`` is ccviz's own: whatever it held is replaced.
    """
    env = settings.get("env")
    if "env" not in settings:
        env = settings["env"] = {}
    if not isinstance(env, dict):
        raise SettingsError(f'"env" should be an object, found {json_type(env)}; nothing changed')
    if env.get(HOOK_TOKEN_ENV) == token:
        return False
    env[HOOK_TOKEN_ENV] = token
    return True


def drop_token_env(settings: dict[str, Any], keep_empty: bool = False) -> bool:
    """Remove the hook token from ``settings["env"]``, and ``env`` if that empties it (unless
    ``keep_empty``: it was there, empty, before we installed)."""
    env = settings.get("env")
    if not isinstance(env, dict) or HOOK_TOKEN_ENV not in env:
        return False
    del env[HOOK_TOKEN_ENV]
    if not env and not keep_empty:
        del settings["env"]
    return True


def uses_http(settings: dict[str, Any]) -> bool:
    """Whether any of our handlers in ``settings`` is an http one (it needs the token)."""
    return any(h.get("type") == "http" for found in find_ours(settings).values() for h in found)


def marker_flags(handler: Any) -> frozenset[str] | None:
    """The ``keep=`` flags of a handler carrying our marker, ``None`` if it carries none."""
    if not isinstance(handler, dict):
        return None
    found = None
    kind = handler.get("type")
    if kind == "command" and isinstance(handler.get("command"), str):
        found = _COMMAND_MARK.search(handler["command"])
    elif kind == "http" and isinstance(handler.get("headers"), dict):
        value = handler["headers"].get(MARKER_HEADER)
        found = _HEADER_MARK.match(value) if isinstance(value, str) else None
    if found is None:
        return None
    return frozenset(f for f in (found.group(1) or "").split(",") if f)


def is_ours(handler: Any) -> bool:
    """Whether a handler is one ``install-hooks`` wrote: it carries our marker, or it is
    exactly what the released ccviz wrote before markers (:func:`is_legacy`)."""
    return marker_flags(handler) is not None or is_legacy(handler)


def is_legacy(handler: Any) -> bool:
    """Exactly a handler of the ccviz release before markers, so an upgrade replaces it.

    Only its exact shape: the four keys of a command handler with our timeout and
    ``<absolute …/ccviz> hook`` (or ``<absolute python> -m ccviz_kernel.cli hook``) quoted the
    way it quoted them; the five keys of an http handler with our timeout, token header and
    variable, posting to ``…/api/hooks``. A lookalike (``uvx ccviz hook``, one more key,
    another header) is someone else's.
    """
    if not isinstance(handler, dict):
        return False
    kind = handler.get("type")
    if kind == "command":
        if set(handler) != {"type", "command", "async", "timeout"}:
            return False
        return (
            isinstance(handler["async"], bool)
            and _is_int(handler["timeout"], HOOK_COMMAND_TIMEOUT)
            and _is_legacy_command(handler["command"])
        )
    if kind == "http":
        if set(handler) != {"type", "url", "timeout", "headers", "allowedEnvVars"}:
            return False
        if not (
            _is_int(handler["timeout"], HOOK_HTTP_TIMEOUT)
            and handler["headers"] == {"Authorization": f"Bearer ${HOOK_TOKEN_ENV}"}
            and handler["allowedEnvVars"] == [HOOK_TOKEN_ENV]
            and isinstance(handler["url"], str)
        ):
            return False
        from urllib.parse import urlsplit

        try:
            url = urlsplit(handler["url"])
        except ValueError:
            return False
        return (
            url.scheme in ("http", "https")
            and url.path.endswith("/api/hooks")
            and not url.query
            and not url.fragment
        )
    return False


def _is_int(value: Any, expected: int) -> bool:
    return type(value) is int and value == expected


def _is_legacy_command(command: Any) -> bool:
    if not isinstance(command, str):
        return False
    import shlex

    try:
        words = shlex.split(command)
    except ValueError:
        return False
    program = words[0] if words else ""
    if not os.path.isabs(program):
        return False
    if words[1:] == ["hook"]:
        name = os.path.basename(program).lower()
        return name in ("ccviz", "ccviz.exe") and command == f"{shlex.quote(program)} hook"
    if words[1:] == ["-m", "ccviz_kernel.cli", "hook"]:
        return command == f"{shlex.quote(program)} -m ccviz_kernel.cli hook"
    return False


def find_ours(settings: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Our handlers in a parsed settings object, by event (``ccviz doctor`` reports them)."""
    found: dict[str, list[dict[str, Any]]] = {}
    hooks = settings.get("hooks")
    if not isinstance(hooks, dict):
        return found
    for event, groups in hooks.items():
        if not isinstance(groups, list):
            continue
        for group in groups:
            handlers = group.get("hooks") if isinstance(group, dict) else None
            if isinstance(handlers, list):
                found.setdefault(event, []).extend(h for h in handlers if is_ours(h))
        if not found.get(event):
            found.pop(event, None)
    return found


def _flags_of(settings: dict[str, Any]) -> frozenset[str]:
    """The ``keep=`` flags our handlers in ``settings`` carry, all together."""
    flags: set[str] = set()
    for handlers in find_ours(settings).values():
        for handler in handlers:
            flags |= marker_flags(handler) or set()
    return frozenset(flags)


# -- reading and writing settings ------------------------------------------------------

#: A settings file is untrusted input (another tool, a sync, a hand edit wrote it): the
#: limits in config.py bound what we read (size, depth, number literals), each refused with
#: an error that names it. Real files are a few KB, nested about 6 deep.


class _Number(float):
    """A JSON number with a fraction or an exponent, kept as written.

    Python would read ``1e400`` as ``inf`` and write it back as ``Infinity``, which no JSON
    reader (Claude Code's included) takes; ``1.50`` would come back as ``1.5``. Its value
    is the float's, so comparisons work; :func:`dump_settings` writes :attr:`text`.
    """

    text: str

    def __new__(cls, text: str) -> _Number:
        self = super().__new__(cls, text)
        self.text = text
        return self


class _Integer(int):
    """An integer whose text Python would not write back the same (``-0``)."""

    text: str

    def __new__(cls, text: str) -> _Integer:
        self = super().__new__(cls, text)
        self.text = text
        return self


class _Refused(Exception):
    """Raised from inside ``json.loads``' hooks; becomes a SettingsError naming the file."""


def _number_text(text: str) -> str:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(f"a number of {len(text):,} characters (the limit is {MAX_NUMBER_CHARS:,})")
    return text


def _parse_float(text: str) -> float:
    return _Number(_number_text(text))


def _parse_int(text: str) -> int:
    value = int(_number_text(text))
    return value if str(value) == text else _Integer(text)


def _parse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON (Claude Code cannot read this file either)")


def _require_regular(path: str, info: os.stat_result) -> None:
    import stat

    mode = info.st_mode
    if stat.S_ISREG(mode):
        return
    kind = (
        "a directory"
        if stat.S_ISDIR(mode)
        else "a named pipe (FIFO)"
        if stat.S_ISFIFO(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    raise SettingsError(f"{path} is {kind}, not a settings file; nothing changed")


def read_settings(path: str) -> tuple[dict[str, Any], str | None]:
    """The parsed settings and the file's text (``None`` if there is no file).

    A file we cannot parse is refused, never rewritten: it may be mid-edit, or hold
    comments Claude Code tolerates, and replacing it would lose the user's settings. Only a
    regular file is opened, and without blocking (a FIFO put in its place would hang us):
    stat first, open non-blocking, check the open file again.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror or exc}; nothing changed") from None
    _require_regular(path, info)
    too_big = SettingsError(
        f"{path} is larger than {MAX_SETTINGS_BYTES // (1024 * 1024)} MiB, the most a settings "
        "file may hold here; nothing changed"
    )
    if info.st_size > MAX_SETTINGS_BYTES:
        raise too_big
    flags = os.O_RDONLY
    for name in ("O_NONBLOCK", "O_NOCTTY", "O_CLOEXEC", "O_BINARY"):
        flags |= getattr(os, name, 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror or exc}; nothing changed") from None
    try:
        _require_regular(path, os.fstat(fd))
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 1 << 16):
            size += len(chunk)
            if size > MAX_SETTINGS_BYTES:
                raise too_big
            chunks.append(chunk)
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror or exc}; nothing changed") from None
    finally:
        os.close(fd)
    return parse_settings(b"".join(chunks), path)


def parse_settings(raw: bytes, path: str) -> tuple[dict[str, Any], str]:
    """Settings from a file's bytes (``path`` names it in errors), with the limits above.

    Numbers keep their text (:class:`_Number`), so what we write back means what it meant:
    ``1e400`` stays ``1e400``. ``NaN`` and ``Infinity`` are not JSON and are refused.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"{path} is not UTF-8 text (byte {exc.start}); nothing changed"
        ) from None
    if not text.strip():
        return {}, text
    try:
        value = json.loads(
            text,
            parse_float=_parse_float,
            parse_int=_parse_int,
            parse_constant=_parse_constant,
        )
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg}); "
            "fix it first, nothing changed"
        ) from None
    except _Refused as exc:
        raise SettingsError(f"{path}: {exc}; nothing changed") from None
    except RecursionError:
        value = None  # deeper than Python reads: far beyond the limit
        too_deep = True
    else:
        too_deep = _depth(value) > MAX_DEPTH
    if too_deep:
        raise SettingsError(
            f"{path}: nested more than {MAX_DEPTH} levels deep, the most a settings file may "
            "be; nothing changed"
        )
    if not isinstance(value, dict):
        raise SettingsError(
            f"{path}: expected a JSON object at the top, found {json_type(value)}; nothing changed"
        )
    for key in ("hooks", "env"):
        if key in value and not isinstance(value[key], dict):
            raise SettingsError(
                f'{path}: "{key}" should be an object, found {json_type(value[key])}; '
                "nothing changed"
            )
    return value, text


def _depth(value: Any) -> int:
    """How deeply containers nest in a parsed value (1 for a flat object), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if level <= MAX_DEPTH:
            stack.extend((child, level + 1) for child in children)
    return deepest


_SURROGATE = re.compile("[\ud800-\udfff]")


def _string(value: str) -> str:
    # a lone surrogate ("\ud800" in the file) is valid JSON but has no UTF-8 form: escaped
    text = json.dumps(value, ensure_ascii=False)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def dump_settings(settings: dict[str, Any]) -> str:
    """JSON text for settings, laid out like ``json.dumps(indent=2)``, numbers as they were
    written (:class:`_Number`), lone surrogates escaped: text any JSON reader takes."""
    out: list[str] = []
    _dump(settings, out, "\n")
    out.append("\n")
    return "".join(out)


def _dump(value: Any, out: list[str], newline: str) -> None:
    if value is None:
        out.append("null")
    elif value is True or value is False:
        out.append("true" if value else "false")
    elif isinstance(value, (_Number, _Integer)):
        out.append(value.text)
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        import math

        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no JSON form")
        out.append(float.__repr__(value))
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = newline + "  "
        out.append("{")
        for n, (key, item) in enumerate(value.items()):
            out.append(("," if n else "") + inner + _string(key) + ": ")
            _dump(item, out, inner)
        out.append(newline + "}")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        inner = newline + "  "
        out.append("[")
        for n, item in enumerate(value):
            out.append(("," if n else "") + inner)
            _dump(item, out, inner)
        out.append(newline + "]")
    else:
        raise TypeError(f"{type(value).__name__} has no JSON form")


def check_writable(path: str) -> None:
    """Refuse, before anything is written, a settings file we must not replace.

    A read-only file (no write bit: the user froze it, even against root) or one we may not
    write is left alone, as is anything but a regular file; a missing file is fine (its
    folder is checked by the write itself).
    """
    real = os.path.realpath(path)
    try:
        info = os.stat(real)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise SettingsError(
            f"cannot write {path}: {exc.strerror or exc}; nothing changed"
        ) from None
    _require_regular(path, info)
    if not info.st_mode & 0o222 or not os.access(real, os.W_OK):
        raise SettingsError(
            f"{path} is read-only (mode {info.st_mode & 0o777:o}); ccviz does not replace a "
            f"file you cannot write: make it writable (chmod u+w) and run again; nothing changed"
        )


def write_settings(path: str, text: str, *, backup: bool = True) -> str | None:
    """Replace the file atomically, keeping its mode (and owner, where we may); returns the
    backup's path if any. Refuses what :func:`check_writable` refuses.

    A symlinked settings file (dotfiles) is written through the link, so the link stays.
    """
    from ..runtime import write_private

    check_writable(path)
    real = os.path.realpath(path)
    folder = os.path.dirname(real)
    try:
        os.makedirs(folder, exist_ok=True)
        try:
            info: os.stat_result | None = os.stat(real)
        except FileNotFoundError:
            info = None
        if info is not None:
            mode = info.st_mode & 0o7777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        saved = _backup(path, real, mode) if info is not None and backup else None
        write_private(real, text, mode)
    except OSError as exc:
        raise SettingsError(f"cannot write {path}: {exc.strerror or exc}") from None
    if (
        info is not None
        and hasattr(os, "chown")
        and (info.st_uid, info.st_gid)
        != (
            os.geteuid(),
            os.getegid(),
        )
    ):
        try:
            os.chown(real, info.st_uid, info.st_gid)
        except OSError:
            pass  # not ours to give away: the file is now the writer's, as any editor leaves it
    return saved


def _backup(path: str, real: str, mode: int) -> str:
    import time

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    base = f"{path}.ccviz-backup-{stamp}"
    with open(real, "rb") as f:
        data = f.read()
    for n in range(100):
        name = base if n == 0 else f"{base}-{n}"
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return name
    raise OSError(f"too many backups named {base}*")


# -- merging ---------------------------------------------------------------------------


def _strip(groups: list[Any]) -> tuple[list[Any], bool, frozenset[str]]:
    """``groups`` without our handlers, whether any were there, and the flags they carried.

    Groups holding only ours go; groups that also hold others keep the others, in place.
    """
    kept: list[Any] = []
    removed = False
    flags: set[str] = set()
    for group in groups:
        handlers = group.get("hooks") if isinstance(group, dict) else None
        if isinstance(handlers, list):
            others = []
            for handler in handlers:
                if is_ours(handler):
                    flags |= marker_flags(handler) or set()
                else:
                    others.append(handler)
            if len(others) != len(handlers):
                removed = True
                if not others:
                    continue
                group["hooks"] = others
        kept.append(group)
    return kept, removed, frozenset(flags)


def _put_back(hooks: dict[str, Any], event: str, kept: list[Any], flags: frozenset[str]) -> None:
    """After removing ours from ``event``: its other groups, or an empty list it had before
    we came (``keep=event``), or nothing."""
    if kept or "event" in flags:
        hooks[event] = kept
    else:
        del hooks[event]


def merge_hooks(
    settings: dict[str, Any],
    *,
    http: bool = False,
    command: str | None = None,
    url: str | None = None,
    per_call: bool = True,
    answer_url: str | None = None,
) -> dict[str, Any]:
    """Install our handler on every event in :data:`INSTALLED_EVENTS`, replacing any earlier ones.

    Mutates and returns ``settings``. Existing events keep their place and their other
    groups; ours is appended as a group with no matcher (matches everything), except on the
    events of :data:`~.hooks.MATCHERS`, which fire only for what a matcher names. Without
    ``per_call``, the per-call events (:data:`~.hooks.PER_CALL_EVENTS`) get no handler and
    lose any of ours from an earlier install (the server reads them from the transcript).
    Only handlers :func:`is_ours` takes are touched; an empty ``hooks``, event list or
    ``env`` found here is remembered in our markers (:data:`KEEP_FLAGS`) for uninstall.
    ``answer_url``: PermissionRequest and Elicitation (:data:`ANSWERED_EVENTS`) get
    :func:`permission_handler` posting there (any mode, ``--command`` too), so a person or a
    rule can answer; without it, the plain ones.
    """
    url = (url or hook_url()) if http else url
    hooks = settings.get("hooks")
    if "hooks" in settings and not isinstance(hooks, dict):
        raise SettingsError(
            f'"hooks" should be an object, found {json_type(hooks)}; nothing changed'
        )
    for event in INSTALLED_EVENTS:
        groups = hooks.get(event, []) if isinstance(hooks, dict) else []
        if not isinstance(groups, list):
            raise SettingsError(
                f'"hooks.{event}" should be an array, found {json_type(groups)}; nothing changed'
            )
    if find_ours(settings):
        keep = set(_flags_of(settings) & {"hooks", "env"})
    else:
        keep = set()
        if hooks == {}:
            keep.add("hooks")
        if settings.get("env") == {}:
            keep.add("env")
    if not isinstance(hooks, dict):
        hooks = settings["hooks"] = {}
    for event in list(hooks):
        if event in INSTALLED_EVENTS or not isinstance(hooks[event], list):
            continue
        kept, removed, flags = _strip(hooks[event])  # e.g. MessageDisplay from an old version
        if removed:
            _put_back(hooks, event, kept, flags)
    for event in INSTALLED_EVENTS:
        existed = event in hooks
        groups = hooks.get(event, [])
        kept, removed, flags = _strip(groups)
        event_keep = "event" in flags if removed else existed and groups == []
        if not per_call and event in PER_CALL_EVENTS:
            if removed:
                _put_back(hooks, event, kept, flags)
            continue
        use_http = http and event in HTTP_EVENTS and event not in COMMAND_ONLY_EVENTS
        marks = keep | ({"event"} if event_keep else set())
        if answer_url and event in ANSWERED_EVENTS:
            handler = permission_handler(answer_url, marks)
            use_http = True
        elif use_http:
            handler = http_handler(url, marks)
        else:
            handler = command_handler(command, marks)
        if not use_http and (http or event in SYNC_EVENTS):
            # Beside http handlers, which Claude Code awaits, a command runs synchronously
            # too: in the background it would reach the server tens of ms after the http
            # events fired after it. These events are rare, so waiting ~30 ms is cheap.
            handler["async"] = False
        # a matcher only where the event fires for nothing without one (FileChanged)
        matcher = MATCHERS.get(event)
        kept.append({"matcher": matcher, "hooks": [handler]} if matcher else {"hooks": [handler]})
        hooks[event] = kept
    return settings


def remove_hooks(settings: dict[str, Any]) -> int:
    """Remove our handlers, and what that leaves empty; returns how many were removed.

    What was empty before we installed (``keep=`` in our markers) stays, empty, as it was.
    """
    return _remove(settings)[0]


def _remove(settings: dict[str, Any]) -> tuple[int, frozenset[str]]:
    hooks = settings.get("hooks")
    if not isinstance(hooks, dict):
        return 0, frozenset()
    count = sum(len(v) for v in find_ours(settings).values())
    if not count:
        return 0, frozenset()
    every: set[str] = set()
    for event in list(hooks):
        if not isinstance(hooks[event], list):
            continue
        kept, removed, flags = _strip(hooks[event])
        every |= flags
        if removed:
            _put_back(hooks, event, kept, flags)
    if not hooks and "hooks" not in every:
        del settings["hooks"]
    return count, frozenset(every)


# -- installing and removing, with a report --------------------------------------


def install(
    path: str,
    *,
    http: bool = True,
    per_call: bool = False,
    answer_permissions: bool = False,
    dry_run: bool = False,
    portable: bool | None = None,
    out: Any = None,
) -> int:
    """Install our handlers in the settings file at ``path`` and say what changed on ``out``.

    The default (``lean``): no handler on the per-call events (:data:`~.hooks.PER_CALL_EVENTS`:
    the server follows the transcript, which holds every call and result); http handlers on
    prompts, turn ends and permissions; ``ccviz hook`` and its spool on the rarer events.
    ``per_call``: http handlers on the per-call events too. The hook-only token goes into
    the user settings' ``env`` (``~/.claude/settings.json``, private to the user), whatever
    file the hooks go to. ``http=False``: ``ccviz hook`` on every event, per-call included.
    Used by ``ccviz install-hooks`` and by the ``%ccviz install-hooks`` magic alike.
    ``portable`` (default: whether ``path`` is a project's committed settings file): the
    command handlers run ``ccviz`` from PATH (:data:`PORTABLE_COMMAND`), not this machine's
    absolute path. ``answer_permissions`` (``--answer-permissions``): the PermissionRequest
    and Elicitation handlers post to ``api/permissions``, where the server holds them for an
    answer from the page or Python (docs/claude-code.md §2.9); an install without it puts the
    plain ones back.
    """
    out = out or sys.stdout
    per_call = per_call or not http
    settings, old = read_settings(path)
    url = hook_url() if http else None
    answer_url = hook_url(PERMISSIONS_PATH) if answer_permissions else None
    if portable is None:
        portable = is_portable_target(path)
    command = hook_command(portable)
    with _naming(path):
        merge_hooks(
            settings, http=http, command=command, url=url, per_call=per_call, answer_url=answer_url
        )
    user_path = settings_path("user")
    same_file = os.path.realpath(user_path) == os.path.realpath(path)
    user: dict[str, Any] | None = None
    user_old: str | None = None
    token: str | None = None
    if http or answer_permissions:
        # (read_settings refused an "env" that is not an object, before any token is made)
        token = hook_token(create=not dry_run) or "<made by install-hooks>"
        if same_file:
            set_token_env(settings, token)
        else:
            user, user_old = read_settings(user_path)
            if not set_token_env(user, token):
                user = None  # already there
    elif same_file:
        # back to command hooks: the token is not needed ("env" stays if it was there empty)
        drop_token_env(settings, keep_empty="env" in _flags_of(settings))
    new = dump_settings(settings)
    if new != old:
        check_writable(path)  # before anything is written: both files, or neither
    if user is not None:
        check_writable(user_path)
    mode = "command" if not http else "per-call" if per_call else "lean"
    if not http:
        how = f"`{command}` on every event"
    elif per_call:
        how = f"http hooks to {url} (tool calls included), `{command}` on the rarer events"
    else:
        how = f"lean: http hooks to {url}, `{command}` on the rarer events, none per tool call"
    if answer_url:
        how += f"; {' and '.join(ANSWERED_EVENTS)} wait at {answer_url} for an answer"
    if new == old and user is None:
        out.write(f"ccviz hooks already installed in {path} ({how}); nothing changed\n")
    elif dry_run:
        if new != old:
            _show_diff(path, _hide(old, token), _hide(new, token), out)
        if user is not None:
            shown = dump_settings(user).replace(token or "", "<hook token>")
            _show_diff(user_path, _hide(user_old, token), shown, out)
        out.write(f"dry run: would install ccviz hooks in {path}; nothing written\n")
        return 0
    else:
        if new != old:
            saved = write_settings(path, new)
            count = len(events_for(per_call))
            out.write(f"installed ccviz hooks for {count} events in {path}\n  handler: {how}\n")
            if saved:
                out.write(f"  previous file kept as {saved}\n")
        if user is not None:
            saved = write_settings(user_path, dump_settings(user))
            out.write(
                f"  the hook token (hook-only: it can post events, nothing else) is in {user_path} "
                f'under "env" → {HOOK_TOKEN_ENV}, private to you\n'
            )
            if saved:
                out.write(f"  previous file kept as {saved}\n")
    if mode == "lean":
        out.write(
            f"note: no hook runs per tool call ({', '.join(sorted(PER_CALL_EVENTS))}): the "
            "server reads calls and results from the transcript it follows (--per-call hooks "
            "them too). Prompts, turn ends and permissions post over http (what they miss "
            "while no server runs is filled in from the transcript); the rarer events run "
            "`ccviz hook`, spooled meanwhile. The URL is fixed: run install-hooks again if "
            "the server moves.\n"
        )
    elif mode == "per-call":
        out.write(
            "note: tool calls, prompts and turn ends post over http (what they miss while no "
            "server runs is filled in from the transcript); the rarer events run `ccviz hook`, "
            "spooled meanwhile. The URL is fixed: run install-hooks again if the server "
            "moves.\n"
        )
    if answer_url:
        from ..config import ANSWER_WAIT

        out.write(
            f"note: Claude Code's permission requests, questions and MCP servers' forms "
            f"(elicitations) wait at {answer_url} for an answer "
            "from the page, the widget or Python (a controller), up to the server's answer "
            f"wait ({ANSWER_WAIT:g} s unless `ccviz serve --answer-wait`; the handler's timeout "
            f"is {answer_timeout()} s); with no answer, or no server, Claude Code asks in its "
            "own way as before. `ccviz install-hooks` without --answer-permissions puts the "
            "plain handlers back.\n"
        )
    if settings.get("disableAllHooks") is True:
        out.write(f'warning: {path} sets "disableAllHooks": true, so no hook runs\n')
    if "-m ccviz_kernel.cli" in command:
        out.write(f"note: no `ccviz` executable found; the hook runs {sys.executable} directly\n")
    if portable:
        _note_portable(out)
    return 0


def _note_portable(out: Any) -> None:
    """Say what the portable command finds on this PATH, when that is not this install."""
    import shlex
    import shutil

    found = shutil.which("ccviz")
    mine = shlex.split(hook_command())[0]
    if found is None:
        out.write(
            "note: these hooks run `ccviz` from the PATH Claude Code has (the file is meant to "
            "be committed, so it names no path of this machine) and this shell's PATH has "
            f"none: until it does (pipx/uv tool install, or activate the venv of {mine} before "
            "`claude`) they do nothing and exit 0; `ccviz doctor` checks\n"
        )
    elif os.path.realpath(found) != os.path.realpath(mine):
        out.write(f"note: these hooks run `ccviz` from PATH: here {found}, not {mine}\n")


@contextmanager
def _naming(path: str) -> Iterator[None]:
    """A shape error from the merge (which sees no path) names the file it is about."""
    try:
        yield
    except SettingsError as exc:
        raise SettingsError(f"{path}: {exc}") from None


def _hide(text: str | None, token: str | None) -> str | None:
    return text.replace(token, "<hook token>") if text and token else text


def uninstall(path: str, *, dry_run: bool = False, out: Any = None) -> int:
    """Remove our handlers from the settings file at ``path``; say what changed on ``out``."""
    out = out or sys.stdout
    settings, old = read_settings(path)
    if old is None:
        out.write(f"no settings file at {path}; nothing to remove\n")
        return 0
    count, flags = _remove(settings)
    # the hook token goes with the last of our hooks in the user settings (elsewhere it is
    # never written); hooks left in a project file lose it only with the user's own hooks
    dropped = False
    if count and not find_ours(settings):
        dropped = drop_token_env(settings, keep_empty="env" in flags)
    if not count and not dropped:
        out.write(f"no ccviz hooks in {path}; nothing changed\n")
        return 0
    new = dump_settings(settings)
    if dry_run:
        _show_diff(path, old, new, out)
        out.write(f"dry run: would remove {count} ccviz handler(s); nothing written\n")
        return 0
    check_writable(path)
    saved = write_settings(path, new)
    out.write(f"removed {count} ccviz handler(s) from {path}\n")
    if dropped:
        out.write(f'  and the hook token ("env" → {HOOK_TOKEN_ENV})\n')
    if saved:
        out.write(f"  previous file kept as {saved}\n")
    return 0


def _show_diff(path: str, old: str | None, new: str, out: Any) -> None:
    import difflib

    lines = difflib.unified_diff(
        (old or "").splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=path if old is not None else "/dev/null",
        tofile=path,
    )
    out.writelines(lines)
