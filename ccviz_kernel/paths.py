"""Where ccviz keeps its files: one data folder per user, movable with ``CCVIZ_HOME``.

Tests and several parallel servers each point ``CCVIZ_HOME`` at their own folder, so
nothing here may cache the answer at import time. The hook command imports this module,
so it stays on ``os`` alone (pathlib and typing cost milliseconds there).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


def data_dir_str(create: bool = True) -> str:
    """The data folder as a string: ``$CCVIZ_HOME`` if set, else the per-user data dir."""
    home = os.environ.get("CCVIZ_HOME")
    if home:
        path = os.path.expanduser(home)
    else:
        from platformdirs import user_data_dir

        path = user_data_dir("ccviz", appauthor=False)
    if create and not os.path.isdir(path):
        os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def data_dir(create: bool = True) -> Path:
    from pathlib import Path

    return Path(data_dir_str(create))


def db_path() -> Path:
    return data_dir() / "events.sqlite3"
