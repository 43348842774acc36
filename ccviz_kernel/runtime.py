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
  never delivers an event twice. While the spool is not empty the hook appends to it
  instead of posting, so nothing overtakes an event that waits there.
- **trust**: nothing another user could have written is used. The folder and each file
  are checked for owner and mode when opened (:func:`stat_problem`: one ``stat`` or
  ``fstat`` each); a refusal says which path and the command that fixes it.
- **dead letters**: a spooled line the server cannot ingest is kept in the dead-letter
  file with its reason (:func:`dead_letter`), and the lines after it go on.
- **full disk**: a server keeps a small reserve file; a hook that cannot append frees it
  and writes again, and notes it in the disk-full log (:func:`spool_keep`). A line is
  written whole or not at all.
- **server lock**: one server process per data folder's store (:func:`lock_server`).
- **locks**: one exclusive file lock for all of these (:func:`lock_fd`): ``fcntl.flock`` on
  POSIX, ``msvcrt.locking`` on Windows, imported when first used.
"""

from __future__ import annotations

import os

from .config import (
    DEAD_LETTER_FILE,
    DEAD_LETTER_HEAD,
    DISK_FULL_FILE,
    ENV_TOKEN,
    ENV_VIEWER_TOKEN,
    MAX_SPOOL_BYTES,
    MAX_SPOOL_LINE,
    RESERVE_BYTES,
    RESERVE_FILE,
    RUNTIME_FILE,
    SERVER_LOCK_FILE,
    SPOOL_FILE,
    TOKEN_FILE,
    UNTRUSTED_SUFFIX,
    VIEWER_TOKEN_FILE,
    data_dir_str,
)
from .errors import ServerBusy, UntrustedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

#: A range locked by another process (``msvcrt.locking``): EACCES, or EDEADLOCK (36) after
#: its own retries.
_LOCK_HELD = (13, 36)

#: Windows cannot rename a file while any handle on it is open (``os.open`` does not share
#: delete access), so the spool is moved aside after our handle is closed there
#: (:func:`spool_take` says why that is still safe).
_RENAME_WHILE_OPEN = os.name != "nt"

#: Disk full or over quota: the errors a hook answers by using the reserve.
_NO_SPACE = (28, 122)  # errno.ENOSPC, errno.EDQUOT (Linux; `import errno` costs nothing, but
#: the numbers are checked against it in tests/test_runtime.py)


# -- trust: who could have written a file -------------------------------------------------


def stat_problem(st: os.stat_result, path: str, folder: bool = False) -> str | None:
    """Why ``path`` (as ``st`` describes it) must not be trusted, or ``None``.

    Trusted: owned by us (or root, who could do anything anyway), not writable by group or
    others, and a regular file (or a folder). A token, runtime file or spool another user
    could write would let them read our payloads, take our bearer token or inject events.
    One ``stat`` the caller already made, so the hook pays nothing extra.
    """
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None:  # Windows: ACLs, not modes; the per-user folder is private there
        return None
    me = geteuid()
    kind = "folder" if folder else "file"
    file_type = st.st_mode & 0o170000  # stat.S_IFMT, without importing `stat` in the hook
    if folder and file_type != 0o040000:  # S_IFDIR
        return f"{path} is not a folder; fix: remove it or point CCVIZ_HOME elsewhere"
    if not folder and file_type != 0o100000:  # S_IFREG
        return f"{path} is not a regular file; fix: `rm {path}` if you did not make it"
    if st.st_uid not in (me, 0):
        if folder:
            fix = (
                "use a folder of your own (unset CCVIZ_HOME, or `export CCVIZ_HOME=<a folder "
                f"you own>`), or `chown {me} {path}` if it is yours"
            )
        else:
            fix = f"`rm {path}` if you did not put it there (a server makes a new one)"
        return (
            f"{path} belongs to uid {st.st_uid}, not to you (uid {me}): another user could "
            f"have planted this {kind}; fix: {fix}"
        )
    if st.st_mode & 0o022:
        who = (
            "group and others"
            if st.st_mode & 0o022 == 0o022
            else ("its group" if st.st_mode & 0o020 else "others")
        )
        return (
            f"{path} is writable by {who} (mode {st.st_mode & 0o7777:04o}): another user "
            f"could change this {kind}; fix: `chmod go-w {path}`"
        )
    return None


def path_problem(path: str, folder: bool = False) -> str | None:
    """:func:`stat_problem` for a path (one ``os.stat``); a missing path is no problem."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot look at {path}: {exc.strerror or exc}"
    return stat_problem(st, path, folder)


def folder_problem(folder: str | None = None) -> str | None:
    """Why the data folder must not be used, or ``None`` (the hook's one check per call)."""
    return path_problem(folder or data_dir_str(create=False), folder=True)


def check_folder(folder: str | None = None) -> str:
    """The data folder, or :class:`UntrustedError` if another user could write it (servers
    call this before they read a token, the store or the spool)."""
    folder = folder or data_dir_str(create=False)
    problem = folder_problem(folder)
    if problem is not None:
        raise UntrustedError(f"refusing the data folder: {problem}")
    return folder


def _open_checked(path: str, flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
    """Open ``path`` and check what was opened (``fstat``: no race with a swap).

    ``O_NONBLOCK``: a FIFO planted in place of a file must not hang us (it has no effect on
    regular files). Raises :class:`UntrustedError` or ``OSError``.
    """
    fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0), mode)
    try:
        problem = stat_problem(os.fstat(fd), path)
    except BaseException:
        os.close(fd)
        raise
    if problem is not None:
        os.close(fd)
        raise UntrustedError(f"refusing {problem}")
    return fd


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
        # Exactly this mode, whatever the umask. Not on Windows: modes there are only the
        # read-only bit (ACLs decide who reads; the per-user folder is private), and
        # os.fchmod exists there only from Python 3.13.
        fchmod = getattr(os, "fchmod", None) if os.name != "nt" else None
        if fchmod is not None:
            fchmod(fd, mode)
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


def _read_text(path: str, limit: int = 65536) -> str | None:
    """The file's text, stripped; ``None`` if missing or unreadable. Raises
    :class:`UntrustedError` when another user could have written it."""
    try:
        fd = _open_checked(path)
    except OSError:
        return None
    try:
        data = os.read(fd, limit)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data.decode("utf-8", errors="replace").strip() or None


def find_token(name: str = TOKEN_FILE, env: str = ENV_TOKEN) -> tuple[str | None, str]:
    """The token and where it comes from (``$VAR`` or the file's path; never the value).

    Reads only: nothing is created (the hook and ``ccviz doctor`` look, servers make it).
    Raises :class:`UntrustedError` when the folder or the file could have been written by
    another user (a planted token would let them in).
    """
    value = (os.environ.get(env) or "").strip()
    if value:
        return value, f"${env}"
    folder = check_folder()
    path = os.path.join(folder, name)
    found = _read_text(path)
    return (found, path) if found else (None, f"no token ({path} missing or empty)")


def read_token(folder: str | None = None) -> str | None:
    """The ingest token a hook sends, if there is one; ``None`` when it is not to be trusted.

    ``folder``: the data folder, already checked by the caller (the hook's hot path: then
    one ``open`` and one ``fstat``).
    """
    if folder is None:
        try:
            return find_token()[0]
        except UntrustedError:
            return None
    value = (os.environ.get(ENV_TOKEN) or "").strip()
    if value:
        return value
    try:
        return _read_text(os.path.join(folder, TOKEN_FILE))
    except UntrustedError:
        return None


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


def _read_runtime_text(path: str, folder_checked: bool = False) -> str | None:
    """The runtime file's first 4 KiB, or ``None``: missing, unreadable, or writable by
    someone else (then it may name their server: our payloads and token must not go there)."""
    if not folder_checked and folder_problem(os.path.dirname(path)) is not None:
        return None
    try:
        fd = _open_checked(path)
    except (OSError, UntrustedError):
        return None
    try:
        return os.read(fd, 4096).decode("utf-8", errors="replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def read_runtime(create: bool = True) -> dict[str, Any] | None:
    """The runtime file's contents, or ``None`` when there is none or it is not ours (not
    written by us: :func:`stat_problem`)."""
    import json

    text = _read_runtime_text(runtime_path(create))
    if text is None:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return None
    return info if isinstance(info, dict) and isinstance(info.get("url"), str) else None


def read_runtime_url(folder: str | None = None) -> str | None:
    """Just the url, without importing ``json`` (the hook command's hot path): the file is
    ours (checked), written by :func:`write_runtime`, and a URL holds no quote characters.
    ``folder``: the data folder, already checked by the caller (the hook: this then costs
    one ``open`` and one ``fstat``)."""
    if folder is None:
        text = _read_runtime_text(runtime_path())
    else:
        text = _read_runtime_text(os.path.join(folder, RUNTIME_FILE), folder_checked=True)
    if text is None:
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


# -- one portable file lock --------------------------------------------------------------

#: Which lock this platform has: ``fcntl.flock`` (POSIX) or ``msvcrt.locking`` (Windows).
#: Both implementations live here and take ``impl`` so that tests run each on any platform.
LOCK_IMPL = "msvcrt" if os.name == "nt" else "fcntl"

#: The one byte every ccviz lock covers under ``msvcrt``. Windows locks are mandatory (a
#: locked range cannot be read or written through another handle), so the byte sits far past
#: any data we keep (the spool is capped at 256 MiB) and a locked file stays readable: the
#: server lock's holder pid, at offset 0, is read by the server that is refused. Below 2**31:
#: the C runtime's ``_locking`` seeks with a 32-bit offset.
LOCK_OFFSET = 1 << 30

#: Longest pause between two tries of a waiting ``msvcrt`` lock (seconds): it has no blocking
#: mode without a 10 s limit, so waiting is a loop of non-blocking tries with a growing pause.
_LOCK_POLL_MAX = 0.05


def lock_fd(fd: int, wait: bool = True, impl: str | None = None) -> bool:
    """Lock the open file ``fd`` exclusively; ``True`` once held.

    The lock belongs to this open file (not to the process: a second ``os.open`` of the same
    path in this process is refused too, under both implementations), and ``fd``'s position
    is left as it was. With ``wait=False``, ``False`` at once when another holds it. Other errors
    (a file system without locks) are raised. Release with :func:`unlock_fd` (closing the fd
    releases it too: at once under ``flock``, "soon" on Windows, hence the explicit unlock).
    The spool's appenders and its taker, and the one-server-per-folder lock, all use this, so
    ``ccviz hook`` and ``ccviz serve`` work the same on Windows (``impl``: for tests).
    """
    if (impl or LOCK_IMPL) == "fcntl":
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # EWOULDBLOCK: only with LOCK_NB
            return False
        return True
    import msvcrt

    pause = 0.001
    while True:
        if _msvcrt_at_lock_byte(fd, msvcrt.LK_NBLCK):
            return True
        if not wait:
            return False
        import time

        time.sleep(pause)
        pause = min(pause * 2, _LOCK_POLL_MAX)


def _msvcrt_at_lock_byte(fd: int, mode: int) -> bool:
    """``msvcrt.locking(fd, mode, 1)`` on the byte at :data:`LOCK_OFFSET` (it works from the
    current position), the position put back after: a caller's reads and writes never land
    a gigabyte into the file. ``False`` when another handle holds the byte."""
    import msvcrt

    at = os.lseek(fd, 0, os.SEEK_CUR)
    os.lseek(fd, LOCK_OFFSET, os.SEEK_SET)
    try:
        msvcrt.locking(fd, mode, 1)
    except OSError as exc:
        if exc.errno not in _LOCK_HELD:
            raise
        return False
    finally:
        os.lseek(fd, at, os.SEEK_SET)
    return True


def unlock_fd(fd: int, impl: str | None = None) -> None:
    """Release what :func:`lock_fd` took on ``fd`` (before closing it)."""
    if (impl or LOCK_IMPL) == "fcntl":
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)
        return
    import msvcrt

    if not _msvcrt_at_lock_byte(fd, msvcrt.LK_UNLCK):
        raise OSError(13, "ccviz lock: this handle does not hold the lock")


def _release(fd: int) -> None:
    """Unlock (where that can fail, e.g. never locked: ignored) and close ``fd``."""
    try:
        unlock_fd(fd)
    except OSError:
        pass
    os.close(fd)


def server_runtime_path(pid: int | None = None, create: bool = True) -> str:
    """The runtime record of the server in process ``pid`` (default: this one).

    The runtime file says where *hooks* go, and the last server to start wins it; a kernel
    instead needs the ccviz of *its own* Jupyter server, whichever started last, so the
    Jupyter extension also keeps this record, named by its process (``runtime-<pid>.json``).
    """
    stem, ext = os.path.splitext(RUNTIME_FILE)
    return os.path.join(data_dir_str(create), f"{stem}-{pid or os.getpid()}{ext}")


def write_server_runtime(url: str, kind: str, **extra: Any) -> str:
    """Record where this process serves, in its own record (:func:`server_runtime_path`)."""
    import json

    path = server_runtime_path()
    info = {"url": url.rstrip("/") + "/", "pid": os.getpid(), "kind": kind, **extra}
    write_private(path, json.dumps(info))
    return path


def read_server_runtime(pid: int) -> dict[str, Any] | None:
    """The record of the server in process ``pid``, or ``None`` (none, or not ours)."""
    import json

    text = _read_runtime_text(server_runtime_path(pid, create=False))
    try:
        info = json.loads(text) if text is not None else None
    except ValueError:
        return None
    if not isinstance(info, dict) or not isinstance(info.get("url"), str):
        return None
    return info if info.get("pid") == pid else None


def remove_server_runtime() -> None:
    """Remove this process's record (:func:`server_runtime_path`)."""
    try:
        os.unlink(server_runtime_path(create=False))
    except FileNotFoundError:
        pass


# -- the spool -------------------------------------------------------------------------


def spool_path(create: bool = True) -> str:
    return os.path.join(data_dir_str(create), SPOOL_FILE)


def spool_waiting(folder: str | None = None) -> bool:
    """Is anything in the spool? (one ``stat``). While it is, the hook appends there too
    instead of posting, so a server that drains it later still ingests in firing order."""
    path = os.path.join(folder or data_dir_str(create=False), SPOOL_FILE)
    try:
        return os.stat(path).st_size > 0
    except OSError:
        return False


def _spool_line(body: str, ts: float, key: str | None) -> bytes:
    # JSON allows raw line breaks only as whitespace, so flattening them keeps the payload.
    flat = body.replace("\r", " ").replace("\n", " ")
    return f"{key or os.urandom(16).hex()}\t{ts:.6f}\t{flat}\n".encode()


def _write_line(fd: int, line: bytes, size: int) -> None:
    """Write all of ``line`` at the end, or nothing: a short or failed write (a full disk)
    is cut back to ``size``, so the next line never lands on half of this one."""
    view = memoryview(line)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        try:
            os.ftruncate(fd, size)
        except OSError:
            pass
        raise


def spool_append(body: str, ts: float, key: str | None = None, folder: str | None = None) -> bool:
    """Append one hook payload (its raw text); ``False`` if the spool is full or is not ours
    (:func:`stat_problem`). Raises ``OSError`` when it cannot be written (a full disk: see
    :func:`spool_keep`); then nothing of the line is left in the file."""
    line = _spool_line(body, ts, key)
    path = os.path.join(folder or data_dir_str(), SPOOL_FILE)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(5):  # the server may move the file away between our open and lock
        try:
            fd = _open_checked(path, flags)
        except UntrustedError:
            return False
        try:
            lock_fd(fd)
            st = os.fstat(fd)
            try:
                same = st.st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                continue
            if st.st_size > MAX_SPOOL_BYTES:
                return False
            _write_line(fd, line, st.st_size)
            return True
        finally:
            _release(fd)
    return False


def spool_keep(body: str, ts: float, key: str, folder: str | None = None) -> str:
    """Spool one event, whatever the disk says: ``spooled``, ``dropped`` (spool full or not
    ours), ``refused`` (the data folder is not ours) or ``lost`` (no room even after freeing
    the reserve). ``folder``: the data folder the caller checked already.

    On a full disk the event is still in memory: free the reserve the server keeps
    (:data:`~ccviz_kernel.config.RESERVE_FILE`) and write again, then note what happened in
    the disk-full log (``ccviz doctor`` reports it).
    """
    missing = folder is None or not os.path.isdir(folder)
    folder = data_dir_str()  # made now if it was missing (owner-only)...
    if missing and folder_problem(folder) is not None:
        return "refused"  # ...unless someone else made it first
    try:
        return "spooled" if spool_append(body, ts, key, folder) else "dropped"
    except OSError as exc:
        if exc.errno not in _NO_SPACE:
            return "dropped"
    release_reserve(folder)
    try:
        kept = spool_append(body, ts, key, folder)
    except OSError:
        kept = False
    note_disk_full(folder, key, "saved" if kept else "lost")
    return "spooled" if kept else "lost"


def spool_take(
    folder: str | None = None, on_untrusted: Callable[[str, str], None] | None = None
) -> str | None:
    """Move the spool aside for ingestion; returns the new path, or ``None`` if empty.

    A spool another user could have written is not ours to ingest (it would be a way in
    without the token): it is moved aside as ``*.untrusted``, unread, and ``on_untrusted``
    told ``(new path, why)``.

    On POSIX the rename happens under the lock, so an appender that waited for it finds the
    path names another file and opens the new spool. Windows refuses to rename an open file
    (ours too), so there the rename follows our close, and that is safe for the same reason:
    it fails while any appender has the file open (``None`` now; the server looks again in
    0.1 s), and an appender that opens after it creates a new spool, so nobody can be half-way
    through a line in the file that moved.
    """
    path = os.path.join(folder or data_dir_str(), SPOOL_FILE)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    work = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.work"
    try:
        lock_fd(fd)
        st = os.fstat(fd)
        problem = stat_problem(st, path)
        if problem is not None:
            _quarantine(path, problem, on_untrusted)
            return None
        if st.st_size == 0:
            return None
        if _RENAME_WHILE_OPEN:
            os.rename(path, work)
            return work
    finally:
        _release(fd)
    try:
        os.rename(path, work)
    except PermissionError:  # an appender has it open right now
        return None
    except FileNotFoundError:
        return None
    return work


def _quarantine(path: str, problem: str, tell: Callable[[str, str], None] | None) -> None:
    aside = f"{path}.{os.urandom(4).hex()}{UNTRUSTED_SUFFIX}"
    try:
        os.rename(path, aside)
    except OSError:
        return
    if tell is not None:
        tell(aside, problem)


def spool_files(create: bool = True) -> list[str]:
    """The spool and every file moved aside from it, as names in the data folder."""
    folder = data_dir_str(create)
    if not os.path.isdir(folder):
        return []
    prefix = SPOOL_FILE + "."
    return [n for n in os.listdir(folder) if n == SPOOL_FILE or n.startswith(prefix)]


def spool_pending(on_untrusted: Callable[[str, str], None] | None = None) -> list[str]:
    """Spool files moved aside earlier (by us or a server that died), oldest first; one
    another user could have written is moved aside as ``*.untrusted`` instead."""
    folder = data_dir_str()
    found: list[tuple[float, str]] = []
    for name in spool_files():
        if not name.endswith(".work"):
            continue
        path = os.path.join(folder, name)
        try:
            st = os.stat(path)
        except OSError:
            continue
        problem = stat_problem(st, path)
        if problem is not None:
            _quarantine(path, problem, on_untrusted)
            continue
        found.append((st.st_mtime, path))
    return [path for _, path in sorted(found)]


class SpoolLine:
    """One line of a spool file, read as bytes: what to ingest, or why it cannot be."""

    __slots__ = ("key", "ts", "body", "raw", "problem", "end")

    def __init__(
        self, key: str, ts: float | None, body: str, raw: bytes, problem: str | None, end: int
    ) -> None:
        self.key, self.ts, self.body, self.raw = key, ts, body, raw
        #: Why the line cannot be ingested (then it goes to the dead-letter file), or None.
        self.problem = problem
        #: The offset just after this line: where a stopped drain takes up again.
        self.end = end


def spool_lines(path: str, offset: int = 0) -> Iterator[SpoolLine]:
    """Every line from ``offset`` on, good or bad; never raises on what the file holds.

    Bounded: a line over :data:`~ccviz_kernel.config.MAX_SPOOL_LINE` is skipped in chunks
    (only its head is kept for the dead-letter file). A last line without its line end (a
    hook killed while writing) is reported as torn. Blank lines are skipped.
    """
    import math

    with open(path, "rb") as f:
        f.seek(offset)
        at = offset
        while True:
            raw = f.readline(MAX_SPOOL_LINE + 1)
            if not raw:
                return
            at += len(raw)
            if len(raw) > MAX_SPOOL_LINE and not raw.endswith(b"\n"):
                size = len(raw)
                while True:  # the rest of an over-long line, never all of it in memory
                    chunk = f.readline(1 << 20)
                    at += len(chunk)
                    size += len(chunk)
                    if not chunk or chunk.endswith(b"\n"):
                        break
                head = raw[:DEAD_LETTER_HEAD]
                why = f"a line of {size} bytes, over the limit of {MAX_SPOOL_LINE}"
                yield SpoolLine("", None, "", head, why, at)
                continue
            if not raw.endswith(b"\n"):
                why = "a torn last line (no line end: the hook writing it was stopped)"
                yield SpoolLine("", None, "", raw, why, at)
                return
            if not raw.strip():
                continue
            fields = raw[:-1].split(b"\t", 2)
            if len(fields) != 3:
                yield SpoolLine(
                    "", None, "", raw, "not a spool line (<id>\\t<time>\\t<payload>)", at
                )
                continue
            key_b, stamp_b, body_b = fields
            try:
                key = key_b.decode("ascii")
                body = body_b.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield SpoolLine(
                    "", None, "", raw, f"not UTF-8 ({exc.reason} at byte {exc.start})", at
                )
                continue
            if not (0 < len(key) <= 64 and key.isprintable()):
                yield SpoolLine("", None, "", raw, "no usable delivery id (1 to 64 characters)", at)
                continue
            try:
                ts: float | None = float(stamp_b)
            except ValueError:
                ts = None
            if ts is not None and not math.isfinite(ts):
                ts = None
            yield SpoolLine(key, ts, body, raw, None, at)


def spool_read(path: str) -> Iterator[tuple[str, float | None, str]]:
    """``(id, ts, body)`` for every good line (:func:`spool_lines` says why the others are not)."""
    for line in spool_lines(path):
        if line.problem is None:
            yield line.key, line.ts, line.body


# -- dead letters, the disk reserve, the server lock ----------------------------------------


def dead_letter(raw: bytes, reason: str, key: str = "", source: str = "") -> str:
    """Keep a spooled line the server could not ingest in the dead-letter file; its path.

    One JSON object a line: when, why, the delivery id, the spool file it came from, and the
    line itself as text (bytes that are not UTF-8 survive as ``\\udcXX`` escapes: encode with
    ``surrogateescape`` to get them back). Raises ``OSError`` (a full disk): the caller then
    keeps the spool file, and nothing is lost.
    """
    import json
    import time

    folder = data_dir_str()
    path = os.path.join(folder, DEAD_LETTER_FILE)
    record = {
        "time": round(time.time(), 3),
        "reason": reason,
        "key": key,
        "source": os.path.basename(source),
        "line": raw.rstrip(b"\n").decode("utf-8", errors="surrogateescape"),
    }
    data = (json.dumps(record, ensure_ascii=True) + "\n").encode()
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    fd = _open_checked(path, flags)
    try:
        _write_line(fd, data, os.fstat(fd).st_size)
    finally:
        os.close(fd)
    return path


def dead_letters() -> list[dict[str, Any]]:
    """What the dead-letter file holds (for ``ccviz doctor`` and tests); ``[]`` if none."""
    import json

    path = os.path.join(data_dir_str(create=False), DEAD_LETTER_FILE)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            found.append(record)
    return found


def ensure_reserve(folder: str | None = None) -> bool:
    """Keep :data:`~ccviz_kernel.config.RESERVE_BYTES` of disk aside for the hook (a server
    calls this when it starts and while it runs). Random bytes, so a compressing file system
    stores them whole. Not made when the disk is nearly full already (it would only push
    someone else over); ``True`` if the reserve is there."""
    folder = folder or data_dir_str()
    path = os.path.join(folder, RESERVE_FILE)
    try:
        if os.stat(path).st_size >= RESERVE_BYTES:
            return True
    except OSError:
        pass
    try:
        disk = os.statvfs(folder)
        if disk.f_bavail * disk.f_frsize < 16 * RESERVE_BYTES:
            return False
        write_private(path, os.urandom(RESERVE_BYTES))
    except (OSError, AttributeError):  # no statvfs (Windows), or the disk filled meanwhile
        return False
    return True


def release_reserve(folder: str | None = None) -> bool:
    """Free the reserve (the hook, on a full disk); whether there was one."""
    try:
        os.unlink(os.path.join(folder or data_dir_str(), RESERVE_FILE))
    except OSError:
        return False
    return True


def note_disk_full(folder: str, key: str, outcome: str) -> None:
    """Record that a hook met a full disk (``saved`` in the spool after freeing the reserve,
    or ``lost``). Best effort: when not even a line fits, an empty file's time says when."""
    import time

    path = os.path.join(folder, DISK_FULL_FILE)
    line = f"{time.time():.3f}\t{outcome}\t{key}\n".encode()
    try:
        fd = _open_checked(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    except (OSError, UntrustedError):
        return
    try:
        _write_line(fd, line, os.fstat(fd).st_size)
    except OSError:
        try:
            os.utime(fd)
        except OSError:
            pass
    finally:
        os.close(fd)


def disk_full_log() -> tuple[int, int, float | None]:
    """``(saved, lost, last time)`` from the disk-full log; ``(0, 0, None)`` when there is none.

    An empty log (not even a line could be written) counts as one lost event at its mtime.
    """
    path = os.path.join(data_dir_str(create=False), DISK_FULL_FILE)
    try:
        with open(path, "rb") as f:
            lines = f.read(1 << 20).splitlines()
        mtime = os.stat(path).st_mtime
    except OSError:
        return 0, 0, None
    saved = sum(1 for line in lines if b"\tsaved\t" in line)
    lost = sum(1 for line in lines if b"\tlost\t" in line)
    if not lines:
        lost = 1
    return saved, lost, mtime


#: Server locks this process holds: folder → [fd, servers using it]. Servers in one process
#: (tests, a kernel) share one lock; it is another *process* that is refused.
_LOCKS: dict[str, list[int]] = {}


def lock_server(folder: str | None = None) -> str:
    """Take the data folder's server lock, held until :func:`unlock_server` (or until the
    process ends, however it ends: the OS drops a dead process's locks); returns the key to
    unlock it with.

    Raises :class:`ServerBusy` naming the server process that holds it: two servers on one
    folder would share the store but not their live views (each shows only the events
    posted to it).
    """
    key = os.path.abspath(folder or data_dir_str())
    held = _LOCKS.get(key)
    if held is not None:
        held[1] += 1
        return key
    path = os.path.join(key, SERVER_LOCK_FILE)
    fd = _open_checked(path, os.O_RDWR | os.O_CREAT)
    try:
        got = lock_fd(fd, wait=False)
    except BaseException:
        os.close(fd)
        raise
    if not got:
        holder = os.read(fd, 200).decode("ascii", errors="replace").strip() or "?"
        os.close(fd)
        info = read_runtime(create=False) or {}
        where = f" at {info['url']}" if str(info.get("pid")) == holder else ""
        raise ServerBusy(
            f"another ccviz server (pid {holder}{where}) already uses {key}: two servers on "
            "one data folder would share the store but not their live views. Use that one, "
            "stop it first, or give this one its own folder (CCVIZ_HOME=<another folder>)"
        )
    try:  # who holds it, for the message above (best effort: a full disk may refuse)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError:
        pass
    _LOCKS[key] = [fd, 1]
    return key


def unlock_server(key: str) -> None:
    """Release what :func:`lock_server` took (the lock goes with this process's last server)."""
    held = _LOCKS.get(key)
    if held is None:
        return
    held[1] -= 1
    if held[1] <= 0:
        del _LOCKS[key]
        _release(held[0])
