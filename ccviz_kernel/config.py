"""Where ccviz keeps its files: one data folder per user, movable with ``CCVIZ_HOME``.

Tests and several parallel servers each point ``CCVIZ_HOME`` at their own folder, so
nothing here may cache the answer at import time. The hook command imports this module,
so it stays on ``os`` alone (pathlib and typing cost milliseconds there).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


def data_dir_str(create: bool = True) -> str:
    """The data folder as a string: ``$CCVIZ_HOME`` if set, else the per-user data dir."""
    home = os.environ.get("CCVIZ_HOME")
    path = os.path.expanduser(home) if home else _user_data_dir()
    if create and not os.path.isdir(path):
        os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _user_data_dir() -> str:
    """The platform's per-user data folder (what platformdirs gives, without importing a
    third-party package into the hook command)."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Application Support")
    else:
        base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(base, "ccviz")


def data_dir(create: bool = True) -> Path:
    from pathlib import Path

    return Path(data_dir_str(create))


def db_path() -> Path:
    return data_dir() / "events.sqlite3"
