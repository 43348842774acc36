"""Which Jupyter server started this kernel, and whether it runs ccviz.

The runtime file names the server that *hooks* post to, and the last server to start wins
it. A kernel must not take a Jupyter server's ccviz from there: a view of a game hosted by
the Jupyter extension loads its bundle and joins socket.io on the page's own origin, which
is that server only when the notebook is open in that server. A kernel of VS Code, of
``jupyter console`` or of a second Jupyter server shows its outputs on another page.

So a kernel looks for its own server (:func:`discover`, once per kernel):

1. its kernel id, from its connection file (``kernel-<id>.json``, as jupyter_server names
   it);
2. the running Jupyter servers on this machine: the ``jpserver-<pid>.json`` files in the
   Jupyter runtime folder (what ``jupyter_server.serverapp.list_running_servers`` reads;
   read here directly, since importing jupyter_server costs a kernel about half a second);
3. the server that lists this kernel (``GET {url}api/kernels/<id>`` with the token from
   its file: 200 for its own kernels, 404 for others). A server that will not say (no
   token in its file, as with a password or JupyterHub's login) counts only if it is this
   kernel's parent process: the one that launched it;
4. that server's ccviz, from the record the extension keeps per server process
   (:func:`ccviz_kernel.runtime.read_server_runtime`).

Each server gets at most :data:`TIMEOUT` seconds and at most :data:`MAX_SERVERS` are asked,
this kernel's parent first; the answer is kept for the kernel's life (a kernel's server
does not change).
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

#: Seconds each server gets to answer.
TIMEOUT = 0.5
#: Servers asked at most (the parent process first, then the newest).
MAX_SERVERS = 4

_KERNEL_FILE = re.compile(r"kernel-(?P<id>[^/\\]+)\.json$")
_SERVER_FILE = re.compile(r"jpserver-(?P<pid>\d+)\.json$")
#: Never through a proxy: every server here is on this machine.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class JupyterServer:
    """One running Jupyter server, from its ``jpserver-<pid>.json``."""

    pid: int
    #: A URL of its ``base_url`` that this machine can reach (wildcards → loopback).
    url: str
    token: str = field(default="", repr=False)
    info_file: str = ""


@dataclass(frozen=True)
class Discovery:
    """What :func:`discover` found; ``note`` says why, for ``%ccviz status``."""

    #: This kernel's connection file, or ``None`` outside a kernel (a script, IPython).
    connection: str | None
    #: Its kernel id, if its name is a Jupyter server's (``kernel-<id>.json``).
    kernel_id: str | None
    #: The Jupyter server that started this kernel, if one on this machine did.
    server: JupyterServer | None
    #: Its ccviz URL (``{base_url}ccviz/``), when the extension runs there.
    ccviz_url: str | None
    note: str

    @property
    def in_kernel(self) -> bool:
        return self.connection is not None


def connection_file() -> str | None:
    """This kernel's connection file, or ``None`` when not in an ipykernel."""
    if "ipykernel.kernelapp" not in sys.modules:  # not a kernel: import nothing
        return None
    try:
        from ipykernel import get_connection_file

        return get_connection_file()
    except Exception:  # not initialised (an embedded shell), or an ipykernel we do not know
        return None


def kernel_id(path: str | None) -> str | None:
    """The kernel id in a connection file's name (``kernel-<id>.json``), else ``None``."""
    match = _KERNEL_FILE.search(os.path.basename(path)) if path else None
    return match.group("id") if match else None


def runtime_dirs(connection: str | None = None) -> list[str]:
    """Where ``jpserver-*.json`` files may be: Jupyter's runtime folder (the kernel inherits
    the server's environment), and the connection file's folder (a server's default)."""
    dirs: list[str] = []
    try:
        from jupyter_core.paths import jupyter_runtime_dir

        dirs.append(jupyter_runtime_dir())
    except ImportError:
        pass
    if connection:
        dirs.append(os.path.dirname(os.path.abspath(connection)))
    unique: list[str] = []
    for folder in dirs:
        if os.path.abspath(folder) not in map(os.path.abspath, unique):
            unique.append(folder)
    return unique


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would end it there: let the request tell
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's: alive (its kernels are not ours anyway)
        return True
    return True


def _local_url(info: dict[str, Any]) -> str | None:
    """An http(s) URL of a server's base that this machine can reach, or ``None`` (a unix
    socket, or a file missing its port)."""
    if info.get("sock") or not isinstance(info.get("port"), int):
        return None
    host = str(info.get("hostname") or "")
    if host in ("", "localhost", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "[::1]"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    base = str(info.get("base_url") or "/")
    base = "/" + base.strip("/") + "/" if base.strip("/") else "/"
    scheme = "https" if info.get("secure") else "http"
    return f"{scheme}://{host}:{info['port']}{base}"


def running_servers(dirs: list[str], parent: int | None = None) -> list[JupyterServer]:
    """The live servers these folders name: ``parent``'s first, then the newest file first;
    unix-socket servers left out (nothing here speaks HTTP over one)."""
    found: list[tuple[bool, float, JupyterServer]] = []
    seen: set[int] = set()
    for folder in dirs:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            match = _SERVER_FILE.fullmatch(name)
            if match is None:
                continue
            path = os.path.join(folder, name)
            try:
                with open(path, encoding="utf-8") as f:
                    info = json.load(f)
                mtime = os.stat(path).st_mtime
            except (OSError, ValueError):  # gone, or being written
                continue
            pid = info.get("pid") if isinstance(info, dict) else None
            if not isinstance(pid, int) or pid in seen or not _alive(pid):
                continue
            url = _local_url(info)
            if url is None:
                continue
            seen.add(pid)
            token = info.get("token") if isinstance(info.get("token"), str) else ""
            found.append((pid != parent, -mtime, JupyterServer(pid, url, token, path)))
    found.sort(key=lambda row: row[:2])
    return [server for _, _, server in found]


def lists_kernel(server: JupyterServer, kid: str, timeout: float = TIMEOUT) -> bool | None:
    """Whether ``server`` runs kernel ``kid`` (its REST API, with its token): ``None`` when
    it will not say (no token, or it refuses the token)."""
    if not server.token:
        return None
    request = urllib.request.Request(
        f"{server.url}api/kernels/{quote(kid, safe='')}",
        headers={"Authorization": f"token {server.token}"},
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            return response.status == 200
    except urllib.error.HTTPError as exc:
        return None if exc.code in (401, 403) else False
    except (OSError, ValueError):  # not answering in time, refused, a TLS error
        return False


def own_server(
    kid: str,
    servers: list[JupyterServer],
    parent: int | None = None,
    timeout: float = TIMEOUT,
) -> tuple[JupyterServer | None, str]:
    """The server among ``servers`` that started kernel ``kid``, and how that was told."""
    asked = servers[:MAX_SERVERS]
    for server in asked:
        listed = lists_kernel(server, kid, timeout)
        if listed:
            return server, f"it lists this kernel ({server.url}api/kernels)"
        if listed is None and server.pid == parent:
            return server, "it launched this kernel (no token to ask it)"
    if not servers:
        return None, "no Jupyter server runs on this machine"
    more = f" (of {len(servers)})" if len(servers) > len(asked) else ""
    return None, f"none of the {len(asked)} running Jupyter server(s){more} started this kernel"


def find(
    connection: str | None,
    *,
    dirs: list[str] | None = None,
    parent: int | None = None,
    timeout: float = TIMEOUT,
) -> Discovery:
    """:func:`discover`'s work, with everything it reads passed in (tests use this)."""
    if connection is None:
        return Discovery(None, None, None, None, "not in a Jupyter kernel")
    kid = kernel_id(connection)
    if kid is None:  # a plain KernelManager's temporary file: no server started it
        note = "no Jupyter server named this kernel's connection file"
        return Discovery(connection, None, None, None, note)
    servers = running_servers(runtime_dirs(connection) if dirs is None else dirs, parent)
    server, how = own_server(kid, servers, parent, timeout)
    if server is None:
        return Discovery(connection, kid, None, None, how)
    from ..runtime import read_server_runtime

    record = read_server_runtime(server.pid)
    if record is None or record.get("kind") != "jupyter":
        note = f"ccviz does not run in this kernel's server ({how})"
        return Discovery(connection, kid, server, None, note)
    return Discovery(connection, kid, server, record["url"], how)


_FOUND: Discovery | None = None


def discover(refresh: bool = False) -> Discovery:
    """This kernel's Jupyter server and its ccviz, found once per kernel (``refresh``: ask
    again, e.g. after enabling the extension and restarting the server)."""
    global _FOUND
    if _FOUND is None or refresh:
        _FOUND = find(connection_file(), parent=os.getppid())
    return _FOUND
