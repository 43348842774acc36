"""``ccviz forward``: send the spool to a remote server (``$CCVIZ_URL``), in firing order.

A hook that targets a team server over the network (``CCVIZ_URL=https://…``) cannot wait
for a slow or unreachable server: it spools the event and starts this command, detached
(:func:`start`), and returns. The forwarder holds the data folder's forward lock (one at a
time), takes the spool aside as a local server would (``runtime.spool_take``) and POSTs each
line with its delivery id and firing time over one kept-alive connection; the server's
delivery keys make a line sent twice (a POST whose answer was lost) count once. It retries
with backoff while the server is down or answers 5xx/429, moves a line the server will never
take (400/413) to the dead-letter file, stops at a refused token (401/403: the lines stay),
and lingers :data:`LINGER` s after the spool is empty, so the events of a busy session go out
through one process and one TLS connection. It runs at most :data:`MAX_RUN` s; the next hook
starts another.

Not on the hook's hot path: the hook only starts it (``os.posix_spawn``, its standard streams
on ``/dev/null``, so Claude Code never waits for it); ``http.client`` and ``ssl`` are fine here.
"""

from __future__ import annotations

import os
import sys
import time

from ..config import ENV_URL, FORWARD_LOCK_FILE

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs milliseconds, and the hook imports this to start us
    from typing import Any

#: Seconds the forwarder waits for more after the spool is empty.
LINGER = 5.0
#: The longest a forwarder runs (a server down for hours: the next hook starts a new one).
MAX_RUN = 600.0
#: Seconds for one POST (connect, TLS, answer).
POST_TIMEOUT = 10.0
#: How often an idle forwarder looks at the spool (seconds).
POLL = 0.02


def add_parser(sub: Any) -> None:
    forward = sub.add_parser(
        "forward",
        help=f"send hook events waiting in the spool to ${ENV_URL} (hooks start it themselves)",
    )
    forward.add_argument(
        "--linger",
        type=float,
        default=LINGER,
        help=f"seconds to wait for more events once the spool is empty (default {LINGER:g})",
    )
    forward.set_defaults(handler=_cmd_forward)


def _cmd_forward(ns: Any) -> int:
    from ..errors import CcvizError

    url = os.environ.get(ENV_URL, "").strip()
    if not url:
        raise CcvizError(f"${ENV_URL} is not set: nothing to forward to")
    sent = run(url, linger=max(0.0, ns.linger))
    if sent is None:
        print("another ccviz forward is running", file=sys.stderr)
    return 0


def start(folder: str) -> bool:
    """Start a detached forwarder unless one runs (its lock is held); never raises."""
    from ..runtime import lock_fd, unlock_fd

    path = os.path.join(folder, FORWARD_LOCK_FILE)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError:
        return False
    try:
        if not lock_fd(fd, wait=False):
            return False  # one is running: it will find this event in the spool
        unlock_fd(fd)
    finally:
        os.close(fd)
    argv = [sys.executable, "-m", "ccviz_kernel.cli", "forward"]
    try:
        if hasattr(os, "posix_spawn"):
            null = os.devnull
            actions = [
                (os.POSIX_SPAWN_OPEN, 0, null, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, null, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_OPEN, 2, null, os.O_WRONLY, 0),
            ]
            os.posix_spawn(sys.executable, argv, os.environ, file_actions=actions, setsid=True)
        else:  # Windows
            import subprocess

            flags = getattr(subprocess, "DETACHED_PROCESS", 0)
            subprocess.Popen(  # noqa: S603 - our own interpreter and module
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                creationflags=flags,
            )
    except OSError:
        return False
    return True


def run(url: str, *, linger: float = LINGER, max_run: float = MAX_RUN) -> int | None:
    """Forward until the spool has been empty for ``linger`` s; how many lines the server
    took, or ``None`` if another forwarder holds the lock."""
    from ..config import data_dir_str
    from ..runtime import lock_fd, unlock_fd

    folder = data_dir_str()
    fd = os.open(
        os.path.join(folder, FORWARD_LOCK_FILE),
        os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0),
        0o600,
    )
    try:
        if not lock_fd(fd, wait=False):
            return None
        try:
            return _Forwarder(url).run(linger, max_run)
        finally:
            unlock_fd(fd)
    finally:
        os.close(fd)


class _Forwarder:
    def __init__(self, url: str) -> None:
        from urllib.parse import urlsplit

        from ..runtime import read_token

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"${ENV_URL} must be an http:// or https:// URL")
        self.parts = parts
        self.path = (parts.path.rstrip("/") or "") + "/api/hooks"
        self.token = read_token()
        self.conn: Any = None
        self.sent = 0

    def run(self, linger: float, max_run: float) -> int:
        from ..runtime import spool_pending, spool_take

        started = time.monotonic()
        idle_since = started
        while time.monotonic() - started < max_run:
            work = spool_pending() or [p for p in [spool_take()] if p]
            if not work:
                if time.monotonic() - idle_since >= linger:
                    break
                time.sleep(POLL)
                continue
            for path in work:
                if not self._send_file(path, started + max_run):
                    self._close()
                    return self.sent  # refused or out of time: the file stays for the next
            idle_since = time.monotonic()
        self._close()
        return self.sent

    def _send_file(self, path: str, deadline: float) -> bool:
        """Every line of one spool file, in order; the file goes once all went out."""
        from ..runtime import dead_letter, spool_lines

        for line in spool_lines(path):
            if line.problem is not None:
                dead_letter(line.raw, line.problem, line.key, path)
                continue
            delay = 0.2
            while True:
                status = self._post(line.body, line.ts, line.key)
                if status is not None and (200 <= status < 300 or status in (400, 413)):
                    if status >= 300:
                        dead_letter(line.raw, f"refused by the server (HTTP {status})", line.key)
                    else:
                        self.sent += 1
                    break
                if status in (401, 403):
                    return False  # a wrong token: nothing will get through; the lines stay
                if time.monotonic() + delay > deadline:
                    return False
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        os.unlink(path)
        return True

    def _post(self, body: str, ts: float | None, key: str) -> int | None:
        import http.client

        headers = {"Content-Type": "application/json", "X-Ccviz-Id": key}
        if ts is not None:
            headers["X-Ccviz-Time"] = f"{ts:.6f}"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            if self.conn is None:
                kind = (
                    http.client.HTTPSConnection
                    if self.parts.scheme == "https"
                    else http.client.HTTPConnection
                )
                self.conn = kind(self.parts.hostname, self.parts.port, timeout=POST_TIMEOUT)
            self.conn.request("POST", self.path, body=body.encode(), headers=headers)
            answer = self.conn.getresponse()
            answer.read()
            if answer.will_close:
                self._close()
            return answer.status
        except (OSError, http.client.HTTPException):
            self._close()
            return None

    def _close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
