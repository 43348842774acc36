"""``install-hooks``' options, shared by ``ccviz install-hooks`` and ``%ccviz install-hooks``.

One parser definition and one set of defaults (lean, user scope: :data:`DEFAULT_SCOPE`), so
the magic and the command line cannot drift apart; the work itself is :mod:`.settings`.
"""

from __future__ import annotations

import os
from typing import Any

from .settings import SCOPES, install, settings_path, uninstall

__all__ = [
    "DEFAULT_SCOPE",
    "add_install_options",
    "add_where_options",
    "cmd_install",
    "cmd_uninstall",
    "existing_dir",
    "target",
]

#: The scope ``ccviz install-hooks`` and ``%ccviz install-hooks`` write to when not told:
#: the user's own settings, private to them and never committed (the hook token's home too).
#: One value for both, so a notebook and a terminal never install to different files.
DEFAULT_SCOPE = "user"


def add_install_options(parser: Any) -> None:
    """``install-hooks``' options: where, how (lean by default, ``--per-call``, ``--command``),
    whether permission requests and elicitations wait for an answer
    (``--answer-permissions``)."""
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
    parser.add_argument(
        "--answer-permissions",
        action="store_true",
        help="let the page, the widget and Python answer Claude Code's permission requests "
        "and questions and MCP servers' forms: the PermissionRequest and Elicitation hooks "
        "post to the server's api/permissions and wait there for an answer (at most the "
        "server's --answer-wait); no answer or no server, and Claude Code asks in its own "
        "way as before (docs/claude-code.md §2.9)",
    )
    parser.add_argument("--dry-run", action="store_true", help="show the change, write nothing")


def add_where_options(p: Any) -> None:
    """Which settings file: ``--scope``, ``--project-dir``, ``--settings``."""
    p.add_argument(
        "--scope",
        choices=SCOPES,
        default=DEFAULT_SCOPE,
        help="user: ~/.claude/settings.json (the default, here and in the %%ccviz magic); "
        "project: .claude/settings.json, committed, so its hooks run `ccviz` from PATH "
        "instead of this machine's path; local: .claude/settings.local.json",
    )
    p.add_argument(
        "--project-dir",
        metavar="DIR",
        type=existing_dir,
        default=None,
        help="the project for --scope project/local, a folder that exists (default: the "
        "current directory)",
    )
    p.add_argument(
        "--settings", metavar="FILE", default=None, help="edit this settings file instead"
    )


def existing_dir(text: str) -> str:
    """``--project-dir``: a folder that exists. The settings go in its ``.claude`` folder,
    which is made if needed; a mistyped project must not become a new directory tree."""
    import argparse

    path = os.path.abspath(os.path.expanduser(text))
    if not os.path.isdir(path):
        what = "is not a folder" if os.path.exists(path) else "does not exist"
        raise argparse.ArgumentTypeError(f"the project folder {text} {what}")
    return path


def target(ns: Any) -> str:
    """The settings file the options name."""
    if ns.settings:
        return os.path.abspath(os.path.expanduser(ns.settings))
    return settings_path(ns.scope, ns.project_dir)


def cmd_install(ns: Any) -> int:
    """Install as the options say; then warn when the ccviz plugin is enabled too."""
    path = target(ns)
    code = install(
        path,
        http=not ns.all_command,
        per_call=getattr(ns, "per_call", False),
        answer_permissions=getattr(ns, "answer_permissions", False),
        dry_run=getattr(ns, "dry_run", False),
    )
    note_plugin(path)
    return code


def note_plugin(path: str, out: Any = None) -> None:
    """Warn when the ccviz plugin is enabled where ``path``'s hooks run: both would send
    every event (docs/claude-code.md §2.8)."""
    import sys

    from .plugin import active

    out = out or sys.stdout
    if os.path.realpath(path) == os.path.realpath(settings_path("user")):
        project = os.getcwd()
    else:  # <project>/.claude/settings*.json
        project = os.path.dirname(os.path.dirname(os.path.abspath(path)))
    for plugin in active(project):
        out.write(
            f"warning: the ccviz plugin ({plugin.id}, {plugin.scope} scope) is enabled too, "
            "so each event would be sent twice: keep one (`claude plugin disable "
            f"{plugin.id}`, or `ccviz uninstall-hooks`)\n"
        )


def cmd_uninstall(ns: Any) -> int:
    return uninstall(target(ns), dry_run=getattr(ns, "dry_run", False))
