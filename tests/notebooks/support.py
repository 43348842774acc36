"""Helpers for the tests in this folder (the fixtures are in conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

KERNEL_NAME = "python3"


def kernel_env(root: Path, *, home: bool = False) -> dict[str, str]:
    """The kernel's environment: ours, with its data folders under ``root``.

    ``home=True`` also moves ``HOME`` (for kernels that might touch ``~/.claude``).
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CCVIZ_TOKEN", "CCVIZ_VIEWER_TOKEN", "JUPYTER_RUNTIME_DIR")
    }
    env.update(
        CCVIZ_HOME=str(root / "ccviz-home"),
        IPYTHONDIR=str(root / "ipython"),
        PYDEVD_DISABLE_FILE_VALIDATION="1",  # the debugger's frozen-modules warning
        JUPYTER_PLATFORM_DIRS="1",
    )
    if home:
        env["HOME"] = str(root / "home")
        (root / "home").mkdir(exist_ok=True)
    return env
