"""``install-hooks``' options, shared by ``ccviz install-hooks`` and ``%ccviz install-hooks``.

One parser definition and one set of defaults (lean, user scope), so the magic and the
command line cannot drift apart; the work itself is :mod:`.settings`.
"""

from __future__ import annotations

import os
from typing import Any

from .settings import SCOPES, install, settings_path, uninstall

__all__ = ["add_install_options", "add_where_options", "cmd_install", "cmd_uninstall", "target"]


def add_install_options(parser: Any) -> None:
    """``install-hooks``' options: where, how (lean by default, ``--per-call``, ``--command``)."""
    add_where_options(parser)
    how = parser.add_mutually_exclusive_group()
    how.add_argument(
        "--http",
        dest="all_command",
        action="store_false",
        help="Claude Code posts prompts, turn ends and permissions straight to the server "
        "(http hooks; the default); the rarer events run `ccviz hook` (spooled while no "
        "server runs). SessionStart and Setup always run `ccviz hook`",
    )
    how.add_argument(
        "--command",
        dest="all_command",
        action="store_true",
        help="run `ccviz hook` on every event instead, tool calls included (a process per "
        "event: much slower, but every event waits in the spool while no server runs)",
    )
    parser.set_defaults(all_command=False)
    parser.add_argument(
        "--per-call",
        action="store_true",
        help="also hook the events that fire for every tool call (PreToolUse, PostToolUse, "
        "PostToolUseFailure, PostToolBatch) with http handlers. By default they are not "
        "hooked: the server reads them from the transcript it follows, and a hook per call "
        "costs Claude Code about a third of its time (docs/claude-code.md §2.7)",
    )
    parser.add_argument("--dry-run", action="store_true", help="show the change, write nothing")


def add_where_options(p: Any) -> None:
    """Which settings file: ``--scope``, ``--project-dir``, ``--settings``."""
    p.add_argument(
        "--scope",
        choices=SCOPES,
        default="user",
        help="user: ~/.claude/settings.json (default); project: .claude/settings.json; "
        "local: .claude/settings.local.json",
    )
    p.add_argument(
        "--project-dir",
        metavar="DIR",
        default=None,
        help="the project for --scope project/local (default: the current directory)",
    )
    p.add_argument(
        "--settings", metavar="FILE", default=None, help="edit this settings file instead"
    )


def target(ns: Any) -> str:
    """The settings file the options name."""
    if ns.settings:
        return os.path.abspath(os.path.expanduser(ns.settings))
    return settings_path(ns.scope, ns.project_dir)


def cmd_install(ns: Any) -> int:
    return install(
        target(ns),
        http=not ns.all_command,
        per_call=getattr(ns, "per_call", False),
        dry_run=getattr(ns, "dry_run", False),
    )


def cmd_uninstall(ns: Any) -> int:
    return uninstall(target(ns), dry_run=getattr(ns, "dry_run", False))
