"""The files a running ccviz shares on disk: tokens, the runtime file and the spool.

All of them live in the data folder (:func:`ccviz_kernel.config.data_dir_str`) and are
owner-only: tokens are secrets, and spooled payloads hold commands, prompts and file
contents. ``ccviz hook`` imports this module on every Claude Code event, so it stays on
the standard library, with ``json`` imported only where the hook never goes.

- **tokens**: the ingest token (hooks, controllers) and the optional viewer token, each
  from its environment variable or else from its file; the ingest token file is made on
  first use by a server.
- **runtime file**: where a running server can be reached. ``ccviz serve``, the Jupyter
  extension and the in-kernel host write it; the hook, ``doctor`` and ``install-hooks``
  read it.
- **spool**: hook events kept while no server takes them. ``ccviz hook`` appends one line
  per event, ``<id>\\t<time>\\t<payload>``, under an exclusive lock; the server moves the
  file aside under the same lock, ingests it in order and deletes it. Each line's ``id`` is
  recorded with its event in the store, so a server that dies halfway and starts again
  never delivers an event twice.
"""

from __future__ import annotations

import os

from .config import (
    ENV_TOKEN,
    ENV_VIEWER_TOKEN,
    MAX_SPOOL_BYTES,
    RUNTIME_FILE,
    SPOOL_FILE,
    TOKEN_FILE,
    VIEWER_TOKEN_FILE,
    data_dir_str,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any


def write_private(path: str, data: str | bytes, mode: int = 0o600) -> None:
    """Replace ``path`` atomically with ``data``, with exactly ``mode`` (owner-only unless told).

    The one atomic write of the package: tokens, the runtime file and Claude Code's settings
    files (which keep their own mode) all go through here. A reader sees the old file or the
    new one, never half of it.
    """
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, mode)  # exactly this mode, whatever the umask
        view = memoryview(data.encode() if isinstance(data, str) else data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)


# -- tokens ----------------------------------------------------------------------------


def _read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip() or None
    except OSError:
        return None


def find_token(name: str = TOKEN_FILE, env: str = ENV_TOKEN) -> tuple[str | None, str]:
    """The token and where it comes from (``$VAR`` or the file's path; never the value).

    Reads only: nothing is created (the hook and ``ccviz doctor`` look, servers make it).
    """
    value = (os.environ.get(env) or "").strip()
    if value:
        return value, f"${env}"
    path = os.path.join(data_dir_str(create=False), name)
    found = _read_text(path)
    return (found, path) if found else (None, f"no token ({path} missing or empty)")


def read_token() -> str | None:
    """The ingest token a hook sends, if there is one (the hook's hot path)."""
    return find_token()[0]


def read_or_create_token(name: str = TOKEN_FILE, env: str = ENV_TOKEN) -> str:
    """The token from ``$env``, else from the owner-only file ``name`` (made on first run)."""
    value, _ = find_token(name, env)
    if value:
        return value
    import secrets

    token = secrets.token_urlsafe(32)
    write_private(os.path.join(data_dir_str(), name), token + "\n")
    return token


def viewer_token() -> str | None:
    """The viewer token every host uses: ``$CCVIZ_VIEWER_TOKEN``, else the viewer-token file."""
    return find_token(VIEWER_TOKEN_FILE, ENV_VIEWER_TOKEN)[0]


def token_file() -> str:
    """Where the ingest token file is (for messages telling people how to export it)."""
    return os.path.join(data_dir_str(create=False), TOKEN_FILE)


# -- the runtime file ------------------------------------------------------------------


def runtime_path(create: bool = True) -> str:
    return os.path.join(data_dir_str(create), RUNTIME_FILE)


def write_runtime(url: str, kind: str, **extra: Any) -> str:
    """Record ``url`` (the base that ``api/hooks`` and ``healthz`` hang off) atomically."""
    import json

    path = runtime_path()
    info = {"url": url.rstrip("/") + "/", "pid": os.getpid(), "kind": kind, **extra}
    write_private(path, json.dumps(info))
    return path


def read_runtime(create: bool = True) -> dict[str, Any] | None:
    """The runtime file's contents, or ``None`` when there is none or it is not ours."""
    import json

    try:
        with open(runtime_path(create)) as f:
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


# -- the spool -------------------------------------------------------------------------


def spool_path(create: bool = True) -> str:
    return os.path.join(data_dir_str(create), SPOOL_FILE)


def spool_append(body: str, ts: float, key: str | None = None) -> bool:
    """Append one hook payload (its raw text); ``False`` if the spool is full."""
    import fcntl

    # JSON allows raw line breaks only as whitespace, so flattening them keeps the payload.
    flat = body.replace("\r", " ").replace("\n", " ")
    line = f"{key or os.urandom(16).hex()}\t{ts:.6f}\t{flat}\n".encode()
    path = spool_path()
    for _ in range(5):  # the server may move the file away between our open and lock
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                continue
            if os.fstat(fd).st_size > MAX_SPOOL_BYTES:
                return False
            os.write(fd, line)
            return True
        finally:
            os.close(fd)
    return False


def spool_take() -> str | None:
    """Move the spool aside for ingestion; returns the new path, or ``None`` if empty."""
    import fcntl

    path = spool_path()
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_size == 0:
            return None
        work = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.work"
        os.rename(path, work)
        return work
    finally:
        os.close(fd)


def spool_files(create: bool = True) -> list[str]:
    """The spool and every file moved aside from it, as names in the data folder."""
    folder = data_dir_str(create)
    if not os.path.isdir(folder):
        return []
    prefix = SPOOL_FILE + "."
    return [n for n in os.listdir(folder) if n == SPOOL_FILE or n.startswith(prefix)]


def spool_pending() -> list[str]:
    """Spool files moved aside earlier (by us or a server that died), oldest first."""
    folder = data_dir_str()
    paths = [os.path.join(folder, n) for n in spool_files() if n.endswith(".work")]
    return sorted(paths, key=lambda p: os.stat(p).st_mtime)


def spool_read(path: str) -> Iterator[tuple[str, float | None, str]]:
    """``(id, ts, body)`` for every whole line; a torn last line is skipped."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.endswith("\n"):
                break
            key, _, rest = line.rstrip("\n").partition("\t")
            stamp, _, body = rest.partition("\t")
            try:
                ts: float | None = float(stamp)
            except ValueError:
                ts = None
            yield (key or f"{path}:{number}"), ts, body
