"""ccviz as a Claude Code plugin: its hooks, and finding it where Claude Code installed it.

The repository is a plugin marketplace (``.claude-plugin/marketplace.json``) whose one plugin
lives in ``plugin/`` (a subfolder: Claude Code copies a plugin's whole folder into its cache
on install, and the repository root holds a virtualenv and node_modules). So
``claude plugin marketplace add <checkout or owner/repo>`` then ``claude plugin install
ccviz@ccviz`` is the whole setup, instead of ``ccviz install-hooks`` merging handlers into a
settings file.

A plugin's hook commands cannot know where ccviz is installed, so they run the launcher
``plugin/hooks/ccviz-hook`` (POSIX sh), which finds ``ccviz`` on PATH and always exits 0
(docs/claude-code.md §2.8). Every hook is a command: an http hook needs the hook token and
the server's URL, which only ``install-hooks`` can write into the user's settings, while
``ccviz hook`` reads both from the data folder (and follows a server that moved). The events
are the lean set (:func:`~.settings.events_for`): nothing per tool call, which the server
reads from the transcript it follows.

Where Claude Code records installed plugins (**[2.1.332]**, seen with the real CLI):
``<config dir>/plugins/installed_plugins.json`` (``{"version": 2, "plugins": {"<name>@<market>":
[{"scope", "installPath", "version", "projectPath"?}, …]}}``), the plugin's files copied to
``installPath`` (``…/plugins/cache/<market>/<name>/<version>``), and whether it is enabled in
the settings' ``enabledPlugins`` (``{"ccviz@ccviz": true}``) of the scope it was installed
to. Standard library only, cheap to import (``ccviz doctor`` and ``install-hooks`` read it).
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..config import (
    ANSWER_HOOK_MARGIN,
    ANSWER_WAIT,
    HOOK_COMMAND_TIMEOUT,
    PLUGIN_ANSWER_OPTION,
    claude_config_dir,
)
from .hooks import ANSWERED_EVENTS, MATCHERS

#: The plugin's name in its manifest, and so the first half of its id (``ccviz@<market>``).
PLUGIN_NAME = "ccviz"
#: The launcher, relative to the plugin's root.
LAUNCHER = "hooks/ccviz-hook"
#: What every hook of the plugin runs. Through ``sh``, so a copy that lost the executable
#: bit still runs; ``${CLAUDE_PLUGIN_ROOT}`` is the plugin's folder in Claude Code's cache.
COMMAND = 'sh "${CLAUDE_PLUGIN_ROOT}/hooks/ccviz-hook"'
#: The plugin's ``hooks/hooks.json`` holds what :func:`hooks_json` makes (a test compares).
HOOKS_FILE = "hooks/hooks.json"
#: Seconds for ``ccviz-hook --which`` (a shell, maybe one ``python3 -c``).
WHICH_TIMEOUT = 5.0


def plugin_events() -> tuple[str, ...]:
    """The events the plugin hooks: the lean set, as ``install-hooks`` by default."""
    from .settings import events_for

    return events_for(per_call=False)


#: The manifest's ``userConfig`` (plugin/.claude-plugin/plugin.json holds it; a test
#: compares): Claude Code asks for it when the plugin is enabled (``claude plugin install
#: ccviz@ccviz --config answer_permissions=true``, or ``/plugin configure``), keeps it in the
#: settings' ``pluginConfigs``, and hands it to every hook command as
#: ``CLAUDE_PLUGIN_OPTION_ANSWER_PERMISSIONS`` [2.1.332] (config.ENV_PLUGIN_ANSWER).
USER_CONFIG: dict[str, Any] = {
    PLUGIN_ANSWER_OPTION: {
        "type": "boolean",
        "title": "Answer permission requests from ccviz",
        "description": "Hold Claude Code's permission requests, questions and MCP forms at the "
        "running ccviz server until someone answers on the page, in the notebook widget or "
        "from Python (ccviz install-hooks --answer-permissions does the same without the "
        "plugin). Off: Claude Code asks as usual.",
        "default": False,
    }
}


def hooks_json() -> dict[str, Any]:
    """The plugin's ``hooks/hooks.json``: the launcher, synchronously, on every lean event.

    Synchronous like ``install-hooks``' command handlers: ``claude -p`` cancels async hooks
    still running at teardown (the last ``Stop`` was lost in 7 of 8 runs), and events then
    reach the server in the order they fired. They fire a few times a session. The events
    that wait for an answer (:data:`~.hooks.ANSWERED_EVENTS`) get the answering handler's
    timeout, which only matters under the :data:`USER_CONFIG` option (the hook then waits
    at the server for an answer; else it exits at once as on every event).
    """
    hooks: dict[str, Any] = {}
    for event in plugin_events():
        answered = event in ANSWERED_EVENTS
        handler = {
            "type": "command",
            "command": COMMAND,
            "async": False,
            "timeout": int(ANSWER_WAIT + ANSWER_HOOK_MARGIN) if answered else HOOK_COMMAND_TIMEOUT,
        }
        group: dict[str, Any] = {"hooks": [handler]}
        if event in MATCHERS:
            group = {"matcher": MATCHERS[event], **group}
        hooks[event] = [group]
    return {
        "description": "ccviz: every event but the per-tool-call ones goes to `ccviz hook` "
        "(found on PATH by hooks/ccviz-hook; nothing happens when ccviz is not installed)",
        "hooks": hooks,
    }


def source_root() -> str | None:
    """The plugin folder of this checkout (``<repo>/plugin``), if there is one."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    root = os.path.join(here, "plugin")
    return root if os.path.isfile(os.path.join(root, ".claude-plugin", "plugin.json")) else None


# -- finding it installed --------------------------------------------------------------


class Installed:
    """One install of the ccviz plugin as Claude Code recorded it.

    ``enabled``: what ``enabledPlugins`` of the settings seen from ``cwd`` says (local over
    project over user, as Claude Code merges them); ``None`` when no file names it.
    ``events``: the events its ``hooks.json`` hooks with the launcher (an older plugin
    version may hook others: ``claude plugin update`` brings the current set).
    ``answers``: whether its ``answer_permissions`` option is on (``pluginConfigs``).
    """

    __slots__ = ("id", "scope", "path", "version", "project", "enabled", "events", "answers")

    def __init__(self, **fields: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, fields.get(name))

    def __repr__(self) -> str:
        return f"Installed({self.id!r}, {self.scope!r}, {self.path!r}, enabled={self.enabled!r})"


def plugins_file() -> str:
    """Claude Code's record of installed plugins (``$CLAUDE_CONFIG_DIR`` honoured)."""
    return os.path.join(claude_config_dir(), "plugins", "installed_plugins.json")


def installed(cwd: str | None = None) -> list[Installed]:
    """Every install of the ccviz plugin that applies from ``cwd`` (user scope ones, and
    project or local ones whose project holds ``cwd``); broken records are skipped.

    A plugin counts as ccviz's when its folder holds our launcher and its ``hooks.json``
    runs it: the name alone could be another project's (``ccviz`` on the package index is).
    """
    cwd = os.path.realpath(cwd or os.getcwd())
    try:
        with open(plugins_file(), "rb") as f:
            data = json.loads(f.read(4 * 1024 * 1024))
    except (OSError, ValueError):
        return []
    records = data.get("plugins") if isinstance(data, dict) else None
    if not isinstance(records, dict):
        return []
    found = []
    for plugin_id, entries in records.items():
        if not isinstance(plugin_id, str) or not isinstance(entries, list):
            continue
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("installPath"), str):
                continue
            scope, project = entry.get("scope"), entry.get("projectPath")
            if scope in ("project", "local"):
                if not isinstance(project, str) or not _within(cwd, project):
                    continue
            elif scope != "user":
                continue
            events = hooked_events(entry["installPath"])
            if events is None:
                continue
            found.append(
                Installed(
                    id=plugin_id,
                    scope=scope,
                    path=entry["installPath"],
                    version=entry.get("version"),
                    project=project,
                    enabled=enabled_state(plugin_id, project or cwd),
                    events=events,
                    answers=option_state(plugin_id, project or cwd, PLUGIN_ANSWER_OPTION) is True,
                )
            )
    return found


def _within(path: str, folder: str) -> bool:
    folder = os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def hooked_events(root: str) -> frozenset[str] | None:
    """The events ``root/hooks/hooks.json`` hooks with our launcher; ``None`` when ``root``
    is not a ccviz plugin (no launcher, or no hook runs it)."""
    if not os.path.isfile(os.path.join(root, LAUNCHER)):
        return None
    try:
        with open(os.path.join(root, HOOKS_FILE), "rb") as f:
            data = json.loads(f.read(1024 * 1024))
    except (OSError, ValueError):
        return None
    hooks = data.get("hooks") if isinstance(data, dict) else None
    if not isinstance(hooks, dict):
        return None
    events = set()
    for event, groups in hooks.items():
        for group in groups if isinstance(groups, list) else ():
            handlers = group.get("hooks") if isinstance(group, dict) else None
            for handler in handlers if isinstance(handlers, list) else ():
                command = handler.get("command") if isinstance(handler, dict) else None
                if isinstance(command, str) and "ccviz-hook" in command:
                    events.add(event)
    return frozenset(events) if events else None


def enabled_state(plugin_id: str, project: str) -> bool | None:
    """``enabledPlugins[plugin_id]`` as Claude Code merges it: the local settings of
    ``project`` over its project settings over the user's; ``None`` if none names it."""

    def enabled(settings: dict[str, Any]) -> bool | None:
        plugins = settings.get("enabledPlugins")
        found = plugins.get(plugin_id) if isinstance(plugins, dict) else None
        return found if isinstance(found, bool) else None

    return _merged(project, enabled)


def option_state(plugin_id: str, project: str, option: str) -> Any:
    """The value of the plugin's ``userConfig`` ``option`` that Claude Code keeps in
    ``pluginConfigs[plugin_id].options`` [2.1.332], merged as :func:`enabled_state`;
    ``None`` if unset."""

    def value(settings: dict[str, Any]) -> Any:
        configs = settings.get("pluginConfigs")
        ours = configs.get(plugin_id) if isinstance(configs, dict) else None
        options = ours.get("options") if isinstance(ours, dict) else None
        return options.get(option) if isinstance(options, dict) else None

    return _merged(project, value)


def _merged(project: str, pick: Any) -> Any:
    """The first of ``pick(settings)`` that is not ``None``: local, project, then user."""
    from ..errors import SettingsError
    from .settings import read_settings, settings_path

    for scope in ("local", "project", "user"):
        try:
            settings, _ = read_settings(settings_path(scope, project))
        except SettingsError:
            continue
        found = pick(settings)
        if found is not None:
            return found
    return None


def active(cwd: str | None = None) -> list[Installed]:
    """The installs whose hooks run in a session started in ``cwd`` (enabled ones)."""
    return [p for p in installed(cwd) if p.enabled]


def launcher_target(root: str, env: dict[str, str] | None = None) -> str | None:
    """What the launcher in ``root`` would run (``<ccviz> hook``), asked with ``--which``
    under this process's PATH (Claude Code's is usually the same shell's); ``None``: nothing,
    so its hooks deliver nothing."""
    import shutil
    import subprocess

    shell = shutil.which("sh") or "/bin/sh"  # Claude Code's own shell, whatever PATH says
    try:
        done = subprocess.run(
            [shell, os.path.join(root, LAUNCHER), "--which"],
            capture_output=True,
            text=True,
            timeout=WHICH_TIMEOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    line = done.stdout.strip()
    return line if done.returncode == 0 and line else None
