"""Where ccviz keeps its files: one data folder per user, movable with ``CCVIZ_HOME``.

Tests and several parallel servers each point ``CCVIZ_HOME`` at their own folder, so
nothing here may cache the answer at import time.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def data_dir(create: bool = True) -> Path:
    """The data folder: ``$CCVIZ_HOME`` if set, else the per-user data dir."""
    home = os.environ.get("CCVIZ_HOME")
    if home:
        path = Path(home).expanduser()
    else:
        from platformdirs import user_data_dir

        path = Path(user_data_dir("ccviz", appauthor=False))
    if create:
        path.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            path.chmod(0o700)
    return path


def db_path() -> Path:
    return data_dir() / "events.sqlite3"
