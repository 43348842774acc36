"""``ccviz install-hooks`` / ``ccviz uninstall-hooks``: the command-line side.

The work (finding the settings file, merging our handlers, safe writes) is
:mod:`ccviz_kernel.claude.settings`, the options (which the ``%ccviz install-hooks`` magic
shares) :mod:`ccviz_kernel.claude.install_options`; this module adds the two subcommands.
"""

from __future__ import annotations

from typing import Any

from ..claude.install_options import (
    add_install_options,
    add_where_options,
    cmd_install,
    cmd_uninstall,
)


def add_parser(sub: Any) -> None:
    """Add ``install-hooks`` and ``uninstall-hooks`` to the ``ccviz`` subcommands."""
    install = sub.add_parser("install-hooks", help="add the ccviz hooks to Claude Code's settings")
    add_install_options(install)
    install.set_defaults(handler=cmd_install)

    uninstall = sub.add_parser(
        "uninstall-hooks", help="remove the ccviz hooks from Claude Code's settings"
    )
    add_where_options(uninstall)
    uninstall.add_argument("--dry-run", action="store_true", help="show the change, write nothing")
    uninstall.set_defaults(handler=cmd_uninstall)
