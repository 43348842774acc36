"""``ccviz install-hooks`` / ``ccviz uninstall-hooks``: the command-line side.

The work (finding the settings file, merging our handlers, safe writes) is
:mod:`ccviz_kernel.claude.settings`; this module only parses the options.
"""

from __future__ import annotations

import os
from typing import Any

from ..claude.settings import SCOPES, install, settings_path, uninstall


def add_parser(sub: Any) -> None:
    """Add ``install-hooks`` and ``uninstall-hooks`` to the ``ccviz`` subcommands."""

    def where(p: Any) -> None:
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

    install = sub.add_parser(
        "install-hooks", help="add the ccviz hook to Claude Code's settings (all events)"
    )
    where(install)
    how = install.add_mutually_exclusive_group()
    how.add_argument(
        "--http",
        dest="command",
        action="store_false",
        help="Claude Code posts each event straight to the server (http hooks; the default: "
        "no process per event). SessionStart and Setup still run `ccviz hook`",
    )
    how.add_argument(
        "--command",
        dest="command",
        action="store_true",
        help="run `ccviz hook` on every event instead (a process per event: slower, but "
        "events wait in the spool while no server runs)",
    )
    install.set_defaults(command=False)
    install.add_argument("--dry-run", action="store_true", help="show the change, write nothing")
    install.set_defaults(handler=cmd_install)

    uninstall = sub.add_parser(
        "uninstall-hooks", help="remove the ccviz hooks from Claude Code's settings"
    )
    where(uninstall)
    uninstall.add_argument("--dry-run", action="store_true", help="show the change, write nothing")
    uninstall.set_defaults(handler=cmd_uninstall)


def _target(ns: Any) -> str:
    if ns.settings:
        return os.path.abspath(os.path.expanduser(ns.settings))
    return settings_path(ns.scope, ns.project_dir)


def cmd_install(ns: Any) -> int:
    return install(_target(ns), http=not ns.command, dry_run=getattr(ns, "dry_run", False))


def cmd_uninstall(ns: Any) -> int:
    return uninstall(_target(ns), dry_run=getattr(ns, "dry_run", False))
