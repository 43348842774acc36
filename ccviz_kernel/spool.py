"""The spool: hook events kept on disk while no server takes them.

``ccviz hook`` appends one line per event, ``<id>\\t<time>\\t<payload>``, under an exclusive
lock; the server moves the file aside under the same lock, ingests it in order and deletes
it. Each line's ``id`` is recorded with its event in the store, so a server that dies
halfway and starts again never delivers an event twice. Standard library only, and no
``json`` or ``uuid`` on the writing side: the hook command imports this on every event.
"""

from __future__ import annotations

import fcntl
import os

from .config import data_dir_str

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

SPOOL_FILE = "spool.jsonl"
#: A spool larger than this stops growing (the oldest events are kept; new ones dropped).
MAX_SPOOL_BYTES = 256 * 1024 * 1024


def spool_path() -> str:
    return os.path.join(data_dir_str(), SPOOL_FILE)


def append(body: str, ts: float, key: str | None = None) -> bool:
    """Append one hook payload (its raw text); ``False`` if the spool is full."""
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


def take() -> str | None:
    """Move the spool aside for ingestion; returns the new path, or ``None`` if empty."""
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


def pending_work() -> list[str]:
    """Spool files moved aside earlier (by us or a server that died), oldest first."""
    folder = data_dir_str()
    prefix = SPOOL_FILE + "."
    names = [n for n in os.listdir(folder) if n.startswith(prefix) and n.endswith(".work")]
    paths = [os.path.join(folder, n) for n in names]
    return sorted(paths, key=lambda p: os.stat(p).st_mtime)


def read(path: str) -> Iterator[tuple[str, float | None, str]]:
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
