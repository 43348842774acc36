"""The runtime file: where a running ccviz server can be reached.

``ccviz serve``, the Jupyter extension and the in-kernel host write it; ``ccviz hook``,
``ccviz doctor`` and ``ccviz install-hooks`` read it. Standard library only: the hook
command imports this on every Claude Code event.
"""

from __future__ import annotations

import os

from .config import data_dir_str

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RUNTIME_FILE = "runtime.json"


def runtime_path() -> str:
    return os.path.join(data_dir_str(), RUNTIME_FILE)


def write_runtime(url: str, kind: str, **extra: Any) -> str:
    """Record ``url`` (the base that ``api/hooks`` and ``healthz`` hang off) atomically."""
    path = runtime_path()
    info = {"url": url.rstrip("/") + "/", "pid": os.getpid(), "kind": kind, **extra}
    tmp = f"{path}.{os.getpid()}.tmp"
    import json

    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)
    os.replace(tmp, path)
    return path


def read_runtime() -> dict[str, Any] | None:
    import json

    try:
        with open(runtime_path()) as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("url"), str) else None


def read_runtime_url() -> str | None:
    """Just the url, without importing ``json`` (the hook command's hot path): the file is
    ours, written by :func:`write_runtime`, and a URL holds no quote characters."""
    try:
        with open(runtime_path()) as f:
            text = f.read(4096)
    except OSError:
        return None
    start = text.find('"url": "')
    if start < 0:
        return None
    start += len('"url": "')
    end = text.find('"', start)
    return text[start:end] if end > start else None


def remove_runtime(pid: int | None = None) -> None:
    """Remove the file if it is ours (another server may have taken over since)."""
    info = read_runtime()
    if info is None or info.get("pid") == (pid if pid is not None else os.getpid()):
        try:
            os.unlink(runtime_path())
        except FileNotFoundError:
            pass
