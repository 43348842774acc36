"""``ccviz hook``: what Claude Code runs on every hook event.

It must never break or slow Claude Code: it reads the payload, POSTs it to the running
server with a short timeout, falls back to the spool when the server is down, slow or
unknown, prints nothing and always exits 0. Standard library only, imported lazily.

It trusts nothing another user could have written: the data folder (one ``stat``), the
runtime and token files (checked as they are opened). On a full disk the event stays in
memory while the hook frees the server's disk reserve and writes again (runtime.spool_keep).

One exception to "prints nothing, at once": under the plugin's ``answer_permissions`` option
(:data:`~ccviz_kernel.config.ENV_PLUGIN_ANSWER`), a PermissionRequest or Elicitation waits
at the server's ``api/permissions`` for an answer, as ``install-hooks
--answer-permissions``' http handlers do, and prints the decision Claude Code reads. With
no server it still returns at once (connecting has the usual budget), and the event takes
the usual path.
"""

from __future__ import annotations

import os
import sys
import time

from ..config import ENV_PLUGIN_ANSWER, ENV_URL, MAX_PAYLOAD_BYTES

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs milliseconds: only for type checkers
    from typing import IO

#: Seconds to wait for the server in all (connect plus answer); then the event is spooled.
TIMEOUT = 0.06
#: Strings longer than this are cut when a payload is over the size cap (file contents).
MAX_STRING = 16_384
#: Bytes of a server's answer read at most (a decision is a few hundred).
MAX_ANSWER = 1 << 20


def main() -> int:
    try:
        run(sys.stdin.buffer)
    except BaseException:  # noqa: BLE001 - the hook must never fail Claude Code
        pass
    return 0


def run(stream: IO[bytes]) -> str:
    """Deliver one payload; returns ``sent``, ``spooled``, ``dropped``, ``lost`` (a full
    disk, even after freeing the reserve: noted for ``ccviz doctor``), ``refused`` (another
    user could write the data folder: nothing is sent or kept) or ``empty``.

    While events wait in the spool, this one queues behind them instead of being posted: a
    server that starts (or catches up) then ingests them all in the order they fired.
    """
    ts = time.time()
    body = stream.read(8 * MAX_PAYLOAD_BYTES + 1)
    if not body.strip():
        return "empty"
    text = body.decode("utf-8", errors="replace")
    if len(body) > MAX_PAYLOAD_BYTES:
        text = shrink(text)
        if text is None:
            return "dropped"
    from ..config import data_dir_str
    from ..runtime import folder_problem, spool_append, spool_keep, spool_waiting

    folder = data_dir_str(create=False)
    if folder_problem(folder) is not None:  # one stat; `ccviz doctor` says why and the fix
        return "refused"
    key = os.urandom(16).hex()  # one delivery id for both paths: the server takes it once
    if os.environ.get(ENV_PLUGIN_ANSWER) == "true" and not os.environ.get(ENV_URL, "").strip():
        held = _wait_for_answer(text, ts, key, folder)
        if held is not None:
            return held
    if os.environ.get(ENV_URL, "").strip():  # a team server: spooled, sent by ccviz forward
        return _to_remote(text, ts, key, folder)
    if spool_waiting(folder):  # one stat
        try:
            if spool_append(text, ts, key, folder):
                return "spooled"
        except OSError:  # a full disk: try the server, then spool_keep's reserve
            pass
    status = post(text, ts, key, folder)
    if status is not None and (200 <= status < 300 or status in (400, 413)):
        return "sent" if status < 300 else "dropped"  # 400/413: the server will never take it
    return spool_keep(text, ts, key, folder)


def _wait_for_answer(text: str, ts: float, key: str, folder: str | None) -> str | None:
    """The plugin's option: hold a PermissionRequest or Elicitation at ``api/permissions``
    and print the server's decision for Claude Code. Returns ``answered`` (a decision was
    printed), ``unanswered`` (logged, nobody answered: Claude Code asks its own way),
    ``dropped`` (the server will never take it), or ``None``: not such an event, or no
    answer from the server (down, busy: 429, 503), so it goes the usual way.

    Every other event under the option costs one substring test: ``json`` (it imports
    ``re``) and the parse add about 6 ms (bench/hook_bench.py), paid only by the two that
    wait anyway."""
    from ..claude.hooks import ANSWERED_EVENTS

    if not any(f'"{name}"' in text for name in ANSWERED_EVENTS):
        return None
    import json

    from ..config import ANSWER_HOOK_MARGIN, ANSWER_WAIT, PERMISSIONS_PATH

    try:
        event = json.loads(text).get("hook_event_name")
    except (ValueError, AttributeError, RecursionError):  # not ours to judge: the usual path
        return None
    if event not in ANSWERED_EVENTS:
        return None
    # Within the plugin's timeout for these (ANSWER_WAIT + ANSWER_HOOK_MARGIN, hooks.json):
    # the server answers first, and this exits before Claude Code would kill it.
    wait = ANSWER_WAIT + ANSWER_HOOK_MARGIN / 2
    answer = exchange(PERMISSIONS_PATH, text, ts, key, folder, wait=wait)
    if answer is None:
        return None
    status, body = answer
    if status == 200 and body.strip():
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
        return "answered"
    if 200 <= status < 300:
        return "unanswered"
    return "dropped" if status in (400, 413) else None


def _to_remote(text: str, ts: float, key: str, folder: str | None) -> str:
    """``$CCVIZ_URL``: spool the event and make sure a ``ccviz forward`` runs; it sends the
    spool on in order over one kept-alive (TLS) connection. The hook never talks to the
    network itself: a TLS handshake and ``import ssl`` cost it ~55 ms per event, measured
    (bench/hook_bench.py), the spool ~25 ms in all."""
    from ..runtime import spool_append, spool_keep

    try:
        outcome = "spooled" if spool_append(text, ts, key, folder) else "dropped"
    except OSError:  # a full disk: spool_keep frees the reserve and tries again
        outcome = spool_keep(text, ts, key, folder)
    if outcome == "spooled":
        from ..config import data_dir_str
        from .forward import start

        start(folder or data_dir_str())
    return outcome


def shrink(text: str) -> str | None:
    """Cut long strings (file contents, outputs) so a huge payload still gets through."""
    import json

    try:
        payload = json.loads(text)
    except ValueError:
        return None

    def cut(value, depth=0):
        if isinstance(value, str) and len(value) > MAX_STRING:
            return value[:MAX_STRING] + f"… [{len(value) - MAX_STRING} characters cut by ccviz]"
        if depth > 50:
            return None
        if isinstance(value, dict):
            return {k: cut(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [cut(v, depth + 1) for v in value[:1000]]
        return value

    small = json.dumps(cut(payload), ensure_ascii=False)
    return small if len(small.encode()) <= MAX_PAYLOAD_BYTES else None


def post(text: str, ts: float, key: str, folder: str | None = None) -> int | None:
    """POST to the server in the runtime file; the HTTP status, or ``None`` if unreachable.

    ``folder``: the data folder, checked by the caller; the runtime and token files are
    checked as they are opened (owner and mode: a planted one is ignored)."""
    answer = exchange("api/hooks", text, ts, key, folder)
    return None if answer is None else answer[0]


def exchange(
    route: str, text: str, ts: float, key: str, folder: str | None, wait: float | None = None
) -> tuple[int, bytes] | None:
    """POST ``text`` to ``route`` of the server in the runtime file: ``(status, body)``, or
    ``None`` if unreachable. Connecting and, without ``wait``, the status line take at most
    :data:`TIMEOUT` in all (the body is not read); with ``wait``, the whole answer is read
    for up to that many seconds (a request held for a person's answer).

    A few lines of HTTP/1.1 over a socket rather than ``http.client``: importing that pulls
    in the ``email`` package, about 40 ms, which alone would break the hook's time budget.
    """
    from ..runtime import read_runtime_url, read_token

    url = read_runtime_url(folder)
    if url is None:
        return None
    host, port, path = _split_http_url(url)
    if host is None:
        return None
    import _socket  # the C module: `import socket` costs ~16 ms here (enum, selectors)

    token = read_token(folder)
    data = text.encode()
    head = [
        f"POST {path}{route} HTTP/1.1",
        f"Host: [{host}]:{port}" if ":" in host else f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(data)}",
        f"X-Ccviz-Time: {ts:.6f}",
        f"X-Ccviz-Id: {key}",
        "Connection: close",
    ]
    if token:
        head.append(f"Authorization: Bearer {token}")
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + data
    deadline = time.monotonic() + TIMEOUT
    try:  # an ASCII host as bytes: a str makes getaddrinfo import the idna codec (~13 ms)
        name: str | bytes = host.encode("ascii")
    except UnicodeError:
        name = host
    answer = b""
    try:
        for family, kind, proto, _, address in _socket.getaddrinfo(
            name, port, 0, _socket.SOCK_STREAM
        ):  # like socket.create_connection: each address in turn
            sock = _socket.socket(family, kind, proto)
            try:
                sock.settimeout(max(0.005, deadline - time.monotonic()))
                sock.connect(address)
            except OSError:
                sock.close()
                continue
            try:
                sock.sendall(request)
                if wait is not None:  # held: the answer comes when someone gives it
                    deadline = time.monotonic() + wait
                while len(answer) < MAX_ANSWER and (wait is not None or b"\r\n" not in answer):
                    sock.settimeout(max(0.005, deadline - time.monotonic()))
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
            finally:
                sock.close()
            break
    except OSError:
        if wait is None or not answer:
            return None
    parts = answer.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return None
    head_bytes, _, body = answer.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head_bytes.lower():
        body = _unchunk(body)
    return int(parts[1]), body


def _unchunk(body: bytes) -> bytes:
    """A chunked body's data (tornado may send one)."""
    out, rest = b"", body
    while rest:
        size, _, rest = rest.partition(b"\r\n")
        try:
            n = int(size.split(b";")[0], 16)
        except ValueError:
            break
        if n == 0:
            break
        out, rest = out + rest[:n], rest[n + 2 :]
    return out


def _split_http_url(url: str) -> tuple[str | None, int, str]:
    """``http://host:port/base/`` → host, port, base path ending in ``/``."""
    if not url.startswith("http://"):
        return None, 0, "/"
    rest = url[7:]
    hostport, slash, path = rest.partition("/")
    path = "/" + path if slash else "/"
    if not path.endswith("/"):
        path += "/"
    host, colon, port = (
        hostport.rpartition(":")
        if ":" in hostport.strip("[]") or "]:" in hostport
        else (hostport, "", "")
    )
    if not colon:
        host, port = hostport, "80"
    host = host.strip("[]")
    if not host or not port.isdigit():
        return None, 0, "/"
    return host, int(port), path
