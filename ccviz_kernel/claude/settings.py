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

from ..config import DEFAULT_URL, HOOK_COMMAND_TIMEOUT, HOOK_HTTP_TIMEOUT, claude_config_dir
from ..errors import SettingsError, json_type
from .hooks import COMMAND_ONLY_EVENTS, INSTALLED_EVENTS, SYNC_EVENTS

SCOPES = ("user", "project", "local")
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


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
    # from its own environment, and only for the variables listed in allowedEnvVars.
    return {
        "type": "http",
        "url": url or hook_url(),
        "timeout": HOOK_HTTP_TIMEOUT,
        "headers": {"Authorization": "Bearer $CCVIZ_TOKEN"},
        "allowedEnvVars": ["CCVIZ_TOKEN"],
    }


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
) -> dict[str, Any]:
    """Install our handler on every event in :data:`INSTALLED_EVENTS`, replacing any earlier ones.

    Mutates and returns ``settings``. Existing events keep their place and their other
    groups; ours is appended as a group with no matcher (matches everything).
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
        use_http = http and event not in COMMAND_ONLY_EVENTS
        handler = http_handler(url) if use_http else dict(ours_command)
        if not use_http and event in SYNC_EVENTS:
            handler["async"] = False
        kept.append({"hooks": [handler]})
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


def install(path: str, *, http: bool = False, dry_run: bool = False, out: Any = None) -> int:
    """Install our handlers in the settings file at ``path`` and say what changed on ``out``.

    Used by ``ccviz install-hooks`` and by the ``%ccviz install-hooks`` magic alike.
    """
    out = out or sys.stdout
    settings, old = read_settings(path)
    url = hook_url() if http else None
    command = hook_command()
    new = dump_settings(merge_hooks(settings, http=http, command=command, url=url))
    how = f"http hooks to {url}" if http else f"`{command}`"
    if new == old:
        out.write(f"ccviz hooks already installed in {path} ({how}); nothing changed\n")
    elif dry_run:
        _show_diff(path, old, new, out)
        out.write(f"dry run: would install ccviz hooks in {path}; nothing written\n")
        return 0
    else:
        saved = write_settings(path, new)
        count = len(INSTALLED_EVENTS)
        out.write(f"installed ccviz hooks for {count} events in {path}\n  handler: {how}\n")
        if saved:
            out.write(f"  previous file kept as {saved}\n")
    if http:
        from ..runtime import find_token
        from ..runtime import token_file as ingest_token_file

        token_file = ingest_token_file()
        if find_token()[0] is None:
            out.write(f"note: {token_file} is made when a server first starts (`ccviz serve`)\n")
        out.write(
            "note: http hooks send the token from Claude Code's environment; start Claude "
            "Code with\n"
            f"  export CCVIZ_TOKEN=$(cat {_quote(token_file)})\n"
            "(SessionStart and Setup take no http hooks and keep running `ccviz hook`.) "
            "The URL is fixed: run install-hooks again if the server moves.\n"
        )
    if settings.get("disableAllHooks") is True:
        out.write(f'warning: {path} sets "disableAllHooks": true, so no hook runs\n')
    if "-m ccviz_kernel.cli" in command:
        out.write(f"note: no `ccviz` executable found; the hook runs {sys.executable} directly\n")
    return 0


def uninstall(path: str, *, dry_run: bool = False, out: Any = None) -> int:
    """Remove our handlers from the settings file at ``path``; say what changed on ``out``."""
    out = out or sys.stdout
    settings, old = read_settings(path)
    if old is None:
        out.write(f"no settings file at {path}; nothing to remove\n")
        return 0
    count = remove_hooks(settings)
    if not count:
        out.write(f"no ccviz hooks in {path}; nothing changed\n")
        return 0
    new = dump_settings(settings)
    if dry_run:
        _show_diff(path, old, new, out)
        out.write(f"dry run: would remove {count} ccviz handler(s); nothing written\n")
        return 0
    saved = write_settings(path, new)
    out.write(f"removed {count} ccviz handler(s) from {path}\n")
    if saved:
        out.write(f"  previous file kept as {saved}\n")
    return 0


def _quote(path: str) -> str:
    import shlex

    return shlex.quote(path)


def _show_diff(path: str, old: str | None, new: str, out: Any) -> None:
    import difflib

    lines = difflib.unified_diff(
        (old or "").splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=path if old is not None else "/dev/null",
        tofile=path,
    )
    out.writelines(lines)
