"""Claude Code's settings files, and our handlers in them (``install-hooks`` / ``uninstall-hooks``).

The settings file belongs to the user: it holds permissions, env, other tools' hooks. So we
only ever touch handlers we recognise as ours, keep every other value and key order as it
was, refuse a file we cannot parse rather than guess, write atomically and keep a backup.
Standard library only, and cheap to import (``ccviz doctor`` reads settings through here).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from ..config import (
    DEFAULT_URL,
    ENV_HOOK_TOKEN,
    HOOK_COMMAND_TIMEOUT,
    HOOK_HTTP_TIMEOUT,
    HOOK_TOKEN_FILE,
    claude_config_dir,
)
from ..errors import SettingsError, json_type
from .hooks import (
    COMMAND_ONLY_EVENTS,
    INSTALLED_EVENTS,
    MATCHERS,
    PER_CALL_EVENTS,
    SYNC_EVENTS,
    TOOL_EVENTS,
)

SCOPES = ("user", "project", "local")
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}

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
    """Which of :data:`MODES` our handlers in ``settings`` are (``None``: none of ours)."""
    ours = find_ours(settings)
    if not ours:
        return None
    if not PER_CALL_EVENTS & set(ours):
        return "lean"
    kinds = {h.get("type") for found in ours.values() for h in found}
    return "per-call" if "http" in kinds else "command"


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


def hook_command() -> str:
    """The shell command Claude Code runs: an absolute path, so it works whatever PATH it has.

    The ``ccviz`` beside the running interpreter comes first: it is this very install,
    whereas the one on PATH may be another, older one.
    """
    import shlex
    import shutil

    sibling = os.path.join(os.path.dirname(sys.executable), "ccviz")
    if os.path.isfile(sibling) and os.access(sibling, os.X_OK):
        return f"{shlex.quote(sibling)} hook"
    found = shutil.which("ccviz")
    if found:
        return f"{shlex.quote(os.path.abspath(found))} hook"
    return f"{shlex.quote(sys.executable)} -m ccviz_kernel.cli hook"


def hook_url() -> str:
    """Where an http handler posts: the running server if any, else the default port."""
    from ..runtime import read_runtime

    info = read_runtime()
    base = info["url"] if info else DEFAULT_URL
    return base.rstrip("/") + "/api/hooks"


def command_handler(command: str | None = None) -> dict[str, Any]:
    # async: Claude Code never waits for us; the hook has nothing to decide anyway.
    return {
        "type": "command",
        "command": command or hook_command(),
        "async": True,
        "timeout": HOOK_COMMAND_TIMEOUT,
    }


def http_handler(url: str | None = None) -> dict[str, Any]:
    # The token stays out of the settings file (often committed): Claude Code fills it in
    # from its own environment, and only for the variables listed in allowedEnvVars; the
    # user settings' "env" puts it there (see install_token).
    return {
        "type": "http",
        "url": url or hook_url(),
        "timeout": HOOK_HTTP_TIMEOUT,
        "headers": {"Authorization": f"Bearer ${HOOK_TOKEN_ENV}"},
        "allowedEnvVars": [HOOK_TOKEN_ENV],
    }


def hook_token(create: bool = True) -> str | None:
    """The hook-only token (``$CCVIZ_HOOK_TOKEN``, else its file, made when ``create``)."""
    from ..runtime import find_token, read_or_create_token

    if create:
        return read_or_create_token(HOOK_TOKEN_FILE, HOOK_TOKEN_ENV)
    return find_token(HOOK_TOKEN_FILE, HOOK_TOKEN_ENV)[0]


def set_token_env(settings: dict[str, Any], token: str) -> bool:
    """Put the hook token in ``settings["env"]``; whether that changed anything."""
    env = settings.get("env")
    if env is None:
        env = settings["env"] = {}
    if not isinstance(env, dict):
        raise SettingsError(f'"env" should be an object, found {json_type(env)}; nothing changed')
    if env.get(HOOK_TOKEN_ENV) == token:
        return False
    env[HOOK_TOKEN_ENV] = token
    return True


def drop_token_env(settings: dict[str, Any]) -> bool:
    """Remove the hook token from ``settings["env"]`` (and ``env`` if that empties it)."""
    env = settings.get("env")
    if not isinstance(env, dict) or HOOK_TOKEN_ENV not in env:
        return False
    del env[HOOK_TOKEN_ENV]
    if not env:
        del settings["env"]
    return True


def uses_http(settings: dict[str, Any]) -> bool:
    return any(h.get("type") == "http" for found in find_ours(settings).values() for h in found)


def is_ours(handler: Any, url: str | None = None) -> bool:
    """Whether a handler is one we installed (any version, any install location).

    Command: its last words are ``<…/ccviz> hook`` or ``-m ccviz_kernel.cli hook``.
    HTTP: it posts to ``…/api/hooks`` on loopback (or to ``url``, our current target).
    """
    if not isinstance(handler, dict):
        return False
    kind = handler.get("type")
    if kind == "command":
        return is_our_command(handler.get("command"))
    if kind == "http":
        target = handler.get("url")
        if not isinstance(target, str):
            return False
        if url is not None and target == url:
            return True
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(target)
            host = parts.hostname
        except ValueError:
            return False
        return host in _LOOPBACK and parts.path.endswith("/api/hooks")
    return False


def is_our_command(command: Any) -> bool:
    if not isinstance(command, str):
        return False
    import shlex

    try:
        words = shlex.split(command)
    except ValueError:
        return False
    if len(words) < 2 or words[-1] != "hook":
        return False
    if words[-3:-1] == ["-m", "ccviz_kernel.cli"]:
        return True
    return os.path.basename(words[-2]).lower() in ("ccviz", "ccviz.exe")


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


# -- reading and writing settings ------------------------------------------------------


def read_settings(path: str) -> tuple[dict[str, Any], str | None]:
    """The parsed settings and the file's text (``None`` if there is no file).

    A file we cannot parse is refused, never rewritten: it may be mid-edit, or hold
    comments Claude Code tolerates, and replacing it would lose the user's settings.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return {}, None
    except IsADirectoryError:
        raise SettingsError(f"{path} is a directory, not a settings file") from None
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"{path} is not UTF-8 text (byte {exc.start}); nothing changed"
        ) from None
    if not text.strip():
        return {}, text
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg}); "
            "fix it first, nothing changed"
        ) from None
    if not isinstance(value, dict):
        raise SettingsError(
            f"{path}: expected a JSON object at the top, found {json_type(value)}; nothing changed"
        )
    hooks = value.get("hooks")
    if hooks is not None and not isinstance(hooks, dict):
        raise SettingsError(
            f'{path}: "hooks" should be an object, found {json_type(hooks)}; nothing changed'
        )
    return value, text


def dump_settings(settings: dict[str, Any]) -> str:
    return json.dumps(settings, indent=2, ensure_ascii=False) + "\n"


def write_settings(path: str, text: str, *, backup: bool = True) -> str | None:
    """Replace the file atomically, keeping its mode; returns the backup's path if any.

    A symlinked settings file (dotfiles) is written through the link, so the link stays.
    """
    from ..runtime import write_private

    real = os.path.realpath(path)
    folder = os.path.dirname(real)
    try:
        os.makedirs(folder, exist_ok=True)
        try:
            mode = os.stat(real).st_mode & 0o7777
            exists = True
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode, exists = 0o666 & ~umask, False
        saved = _backup(path, real, mode) if exists and backup else None
        write_private(real, text, mode)
    except OSError as exc:
        raise SettingsError(f"cannot write {path}: {exc.strerror or exc}") from None
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


def _strip(groups: list[Any], url: str | None) -> tuple[list[Any], bool]:
    """``groups`` without our handlers, and whether any were there.

    Groups holding only ours go; groups that also hold others keep the others, in place.
    """
    kept: list[Any] = []
    removed = False
    for group in groups:
        handlers = group.get("hooks") if isinstance(group, dict) else None
        if isinstance(handlers, list):
            others = [h for h in handlers if not is_ours(h, url)]
            if len(others) != len(handlers):
                removed = True
                if not others:
                    continue
                group["hooks"] = others
        kept.append(group)
    return kept, removed


def merge_hooks(
    settings: dict[str, Any],
    *,
    http: bool = False,
    command: str | None = None,
    url: str | None = None,
    per_call: bool = True,
) -> dict[str, Any]:
    """Install our handler on every event in :data:`INSTALLED_EVENTS`, replacing any earlier ones.

    Mutates and returns ``settings``. Existing events keep their place and their other
    groups; ours is appended as a group with no matcher (matches everything), except on the
    events of :data:`~.hooks.MATCHERS`, which fire only for what a matcher names. Without
    ``per_call``, the per-call events (:data:`~.hooks.PER_CALL_EVENTS`) get no handler and
    lose any of ours from an earlier install (the server reads them from the transcript).
    """
    url = (url or hook_url()) if http else url
    ours_command = command_handler(command)
    hooks = settings.get("hooks")
    if not isinstance(hooks, dict):
        hooks = settings["hooks"] = {}
    for event in list(hooks):
        if event in INSTALLED_EVENTS or not isinstance(hooks[event], list):
            continue
        kept, removed = _strip(hooks[event], url)  # e.g. MessageDisplay from an old version
        if removed:
            if kept:
                hooks[event] = kept
            else:
                del hooks[event]
    for event in INSTALLED_EVENTS:
        groups = hooks.get(event, [])
        if not isinstance(groups, list):
            raise SettingsError(f'"hooks.{event}" should be an array, found {json_type(groups)}')
        kept, _ = _strip(groups, url)
        if not per_call and event in PER_CALL_EVENTS:
            if kept:
                hooks[event] = kept
            else:
                hooks.pop(event, None)
            continue
        use_http = http and event in HTTP_EVENTS and event not in COMMAND_ONLY_EVENTS
        handler = http_handler(url) if use_http else dict(ours_command)
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


def remove_hooks(settings: dict[str, Any], url: str | None = None) -> int:
    """Remove our handlers, and whatever that leaves empty; returns how many were removed.

    An event (or ``hooks``) that was already an empty list (object) before we installed
    cannot be told apart from one we created, so it goes too: the same to Claude Code.
    """
    hooks = settings.get("hooks")
    if not isinstance(hooks, dict):
        return 0
    count = sum(len(v) for v in find_ours(settings).values())
    if not count:
        return 0
    for event in list(hooks):
        if not isinstance(hooks[event], list):
            continue
        kept, removed = _strip(hooks[event], url)
        if removed:
            if kept:
                hooks[event] = kept
            else:
                del hooks[event]
    if not hooks:
        del settings["hooks"]
    return count


# -- installing and removing, with a report --------------------------------------


def install(
    path: str,
    *,
    http: bool = True,
    per_call: bool = False,
    dry_run: bool = False,
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
    """
    out = out or sys.stdout
    per_call = per_call or not http
    settings, old = read_settings(path)
    url = hook_url() if http else None
    command = hook_command()
    merge_hooks(settings, http=http, command=command, url=url, per_call=per_call)
    user_path = settings_path("user")
    same_file = os.path.realpath(user_path) == os.path.realpath(path)
    user: dict[str, Any] | None = None
    user_old: str | None = None
    token: str | None = None
    if http:
        token = hook_token(create=not dry_run) or "<made by install-hooks>"
        if same_file:
            set_token_env(settings, token)
        else:
            user, user_old = read_settings(user_path)
            if not set_token_env(user, token):
                user = None  # already there
    elif same_file:
        drop_token_env(settings)  # back to command hooks: the token is not needed
    new = dump_settings(settings)
    mode = "command" if not http else "per-call" if per_call else "lean"
    if not http:
        how = f"`{command}` on every event"
    elif per_call:
        how = f"http hooks to {url} (tool calls included), `{command}` on the rarer events"
    else:
        how = f"lean: http hooks to {url}, `{command}` on the rarer events, none per tool call"
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
    if settings.get("disableAllHooks") is True:
        out.write(f'warning: {path} sets "disableAllHooks": true, so no hook runs\n')
    if "-m ccviz_kernel.cli" in command:
        out.write(f"note: no `ccviz` executable found; the hook runs {sys.executable} directly\n")
    return 0


def _hide(text: str | None, token: str | None) -> str | None:
    return text.replace(token, "<hook token>") if text and token else text


def uninstall(path: str, *, dry_run: bool = False, out: Any = None) -> int:
    """Remove our handlers from the settings file at ``path``; say what changed on ``out``."""
    out = out or sys.stdout
    settings, old = read_settings(path)
    if old is None:
        out.write(f"no settings file at {path}; nothing to remove\n")
        return 0
    count = remove_hooks(settings)
    # the hook token goes with the last of our hooks in the user settings (elsewhere it is
    # never written); hooks left in a project file lose it only with the user's own hooks
    dropped = drop_token_env(settings) if count and not find_ours(settings) else False
    if not count and not dropped:
        out.write(f"no ccviz hooks in {path}; nothing changed\n")
        return 0
    new = dump_settings(settings)
    if dry_run:
        _show_diff(path, old, new, out)
        out.write(f"dry run: would remove {count} ccviz handler(s); nothing written\n")
        return 0
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
