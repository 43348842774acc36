"""How a kernel finds its own Jupyter server (notebook/discovery.py), without a real one.

Fake ``jpserver-<pid>.json`` files in a temporary runtime folder, and a small HTTP server
standing in for Jupyter's ``api/kernels/<id>``. The real thing (a pytest-jupyter server and
real kernels, one started by it and one not) is in tests/hosts/test_jupyter.py.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ccviz_kernel.notebook import discovery
from ccviz_kernel.notebook.discovery import JupyterServer, find, kernel_id, running_servers
from ccviz_kernel.runtime import read_server_runtime, server_runtime_path, write_server_runtime

# The module, not the function that ccviz_kernel.notebook re-exports under its name.
connect_module = importlib.import_module("ccviz_kernel.notebook.connect")

KID = "3f1c2e9a-0000-4000-8000-0123456789ab"
TOKEN = "jupyter-token"


def dead_pid() -> int:
    """A pid that was a process a moment ago and is none now."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def jpserver(folder: Path, pid: int, port: int = 8888, **info) -> Path:
    """A server info file as jupyter_server writes it."""
    data = {
        "base_url": "/",
        "hostname": "localhost",
        "password": False,
        "pid": pid,
        "port": port,
        "root_dir": "/tmp",
        "secure": False,
        "sock": "",
        "token": TOKEN,
        "url": f"http://localhost:{port}/",
        "version": "2.21.1",
        **info,
    }
    path = folder / f"jpserver-{pid}.json"
    path.write_text(json.dumps(data))
    return path


class FakeJupyter:
    """Answers ``GET {base}api/kernels/<id>`` as Jupyter does: 403 without its token, 200
    for its kernels, 404 for others; ``delay`` makes it slow."""

    def __init__(self, kernels: set[str], token: str = TOKEN, delay: float = 0.0) -> None:
        self.kernels, self.token, self.delay = kernels, token, delay
        self.asked: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                fake.asked.append(self.path)
                time.sleep(fake.delay)
                if self.headers.get("Authorization") != f"token {fake.token}":
                    code = 403
                else:
                    code = 200 if self.path.rsplit("/", 1)[-1] in fake.kernels else 404
                body = json.dumps({"id": KID} if code == 200 else {"message": "no"}).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (the slow case)
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_jupyter() -> Iterator[type[FakeJupyter]]:
    made: list[FakeJupyter] = []

    def make(*args, **kwargs) -> FakeJupyter:
        made.append(FakeJupyter(*args, **kwargs))
        return made[-1]

    yield make  # type: ignore[misc]
    for fake in made:
        fake.close()


def test_the_kernel_id_comes_from_the_connection_files_name():
    assert kernel_id(f"/run/jupyter/kernel-{KID}.json") == KID
    assert kernel_id("kernel-v3-abc.json") == "v3-abc"  # VS Code's: never a server's kernel
    assert kernel_id("/tmp/connection.json") is None
    assert kernel_id(None) is None
    # A kernel whose file no server named (a plain KernelManager's temporary file) is still
    # a kernel: it must not take a Jupyter server's ccviz either.
    plain = find("/tmp/tmp1v4a6449.json")
    assert plain.in_kernel and plain.server is None and "named" in plain.note
    # Outside a kernel (this test process) there is none, and nothing is asked.
    assert discovery.connection_file() is None or "ipykernel" in sys.modules
    assert find(None).note == "not in a Jupyter kernel" and not find(None).in_kernel


def test_running_servers_are_the_live_ones_parent_first(tmp_path: Path):
    me = os.getpid()
    jpserver(tmp_path, dead_pid(), port=1)  # a crashed server's file
    (tmp_path / "jpserver-77.json").write_text("{ half written")
    jpserver(tmp_path, 1, port=2, sock="/tmp/jupyter.sock")  # a unix socket: not over HTTP
    older = jpserver(tmp_path, me, port=8890, hostname="0.0.0.0", base_url="/user/a%40b/")
    os.utime(older, (time.time() - 60, time.time() - 60))
    parent = os.getppid()
    jpserver(tmp_path, parent, port=8891, hostname="::", secure=True, token="")
    (tmp_path / "kernel-1.json").write_text("{}")  # not a server file

    servers = running_servers([str(tmp_path)], parent=parent)
    assert [s.pid for s in servers] == [parent, me]
    assert servers[0].url == "https://[::1]:8891/" and servers[0].token == ""
    assert servers[1].url == "http://127.0.0.1:8890/user/a%40b/"
    assert TOKEN not in repr(servers[1])  # a token is never shown
    # Without a parent among them, the newest file comes first.
    assert [s.pid for s in running_servers([str(tmp_path)], parent=None)] == [parent, me]


def test_the_server_that_lists_this_kernel_is_its_own(tmp_path: Path, fake_jupyter):
    ours = fake_jupyter({KID})
    other = fake_jupyter({"someone-else"})
    jpserver(tmp_path, os.getpid(), port=ours.port)
    jpserver(tmp_path, os.getppid(), port=other.port)  # the parent, asked first: not ours
    write_server_runtime("http://127.0.0.1:1/ccviz/", "jupyter")

    found = find(f"/x/kernel-{KID}.json", dirs=[str(tmp_path)], parent=os.getppid())
    assert found.server is not None and found.server.pid == os.getpid()
    assert found.ccviz_url == "http://127.0.0.1:1/ccviz/"
    assert "lists this kernel" in found.note
    assert other.asked == [f"/api/kernels/{KID}"] and ours.asked == [f"/api/kernels/{KID}"]

    # A kernel neither lists (VS Code's, a console's, a plain KernelManager's): none.
    stranger = find("/x/kernel-feed.json", dirs=[str(tmp_path)], parent=os.getppid())
    assert stranger.server is None and stranger.ccviz_url is None
    assert stranger.note == "none of the 2 running Jupyter server(s) started this kernel"


def test_its_own_server_without_ccviz_is_not_used(tmp_path: Path, fake_jupyter):
    ours = fake_jupyter({KID})
    jpserver(tmp_path, os.getpid(), port=ours.port)
    found = find(f"kernel-{KID}.json", dirs=[str(tmp_path)])
    assert found.server is not None and found.ccviz_url is None
    assert found.note.startswith("ccviz does not run in this kernel's server")
    # A record of another kind (a standalone in this process) is not the extension's.
    write_server_runtime("http://127.0.0.1:2/", "standalone")
    assert find(f"kernel-{KID}.json", dirs=[str(tmp_path)]).ccviz_url is None


def test_a_server_that_will_not_say_counts_only_as_the_parent(tmp_path: Path, fake_jupyter):
    """No token in its file (a password, JupyterHub): only the process that launched this
    kernel is taken for its server; a wrong token is the same as none."""
    refusing = fake_jupyter({KID}, token="not-the-files")
    jpserver(tmp_path, os.getpid(), port=refusing.port)
    write_server_runtime("http://127.0.0.1:3/ccviz/", "jupyter")
    kernel = f"kernel-{KID}.json"
    assert find(kernel, dirs=[str(tmp_path)], parent=os.getpid()).ccviz_url is not None
    assert "launched this kernel" in find(kernel, dirs=[str(tmp_path)], parent=os.getpid()).note
    assert find(kernel, dirs=[str(tmp_path)], parent=os.getppid()).server is None
    jpserver(tmp_path, os.getpid(), port=refusing.port, token="")
    assert find(kernel, dirs=[str(tmp_path)], parent=os.getppid()).server is None
    assert refusing.asked == [f"/api/kernels/{KID}"] * 3  # no token: not even asked


def test_a_slow_or_dead_server_costs_at_most_the_timeout(tmp_path: Path, fake_jupyter):
    slow = fake_jupyter({KID}, delay=3.0)
    jpserver(tmp_path, os.getpid(), port=slow.port)
    jpserver(tmp_path, os.getppid(), port=_closed_port())
    start = time.monotonic()
    found = find(f"kernel-{KID}.json", dirs=[str(tmp_path)], parent=os.getppid(), timeout=0.3)
    took = time.monotonic() - start
    assert found.server is None
    assert took < 1.0, took  # 0.3 s for the slow one, a refused connect costs nothing


def test_at_most_a_few_servers_are_asked(tmp_path: Path, fake_jupyter):
    fakes = [fake_jupyter(set()) for _ in range(discovery.MAX_SERVERS + 2)]
    pids = _live_pids(len(fakes))
    for fake, pid in zip(fakes, pids, strict=True):
        jpserver(tmp_path, pid, port=fake.port)
    found = find(f"kernel-{KID}.json", dirs=[str(tmp_path)])
    assert sum(len(f.asked) for f in fakes) == discovery.MAX_SERVERS
    assert found.note.endswith(f"(of {len(fakes)}) started this kernel")


def test_the_per_server_record_is_this_processs_own(tmp_path: Path):
    path = write_server_runtime("http://127.0.0.1:9/jupyter/ccviz", "jupyter")
    assert path == server_runtime_path() and path.endswith(f"runtime-{os.getpid()}.json")
    assert read_server_runtime(os.getpid()) == {
        "url": "http://127.0.0.1:9/jupyter/ccviz/",
        "pid": os.getpid(),
        "kind": "jupyter",
    }
    assert read_server_runtime(os.getpid() + 1) is None
    Path(path).chmod(0o666)  # writable by others: it could name their server
    assert read_server_runtime(os.getpid()) is None


def test_discovery_is_done_once_per_kernel(monkeypatch):
    calls: list[str | None] = []

    def fake_find(connection, **kwargs):
        calls.append(connection)
        return discovery.Discovery("c", KID, None, None, "none")

    monkeypatch.setattr(discovery, "_FOUND", None)
    monkeypatch.setattr(discovery, "find", fake_find)
    monkeypatch.setattr(discovery, "connection_file", lambda: f"kernel-{KID}.json")
    for _ in range(3):
        assert discovery.discover().kernel_id == KID
    assert calls == [f"kernel-{KID}.json"]
    discovery.discover(refresh=True)
    assert len(calls) == 2


def test_a_kernel_never_takes_a_foreign_jupyter_server_from_the_runtime_file(monkeypatch):
    """connect()'s order without a loop to serve on: a Jupyter server named only by the
    runtime file is not asked from a kernel; outside a kernel (a script) it may be."""
    asked: list[tuple[str, str]] = []

    def probe(url: str, secret: str, kind: str):
        asked.append((url, kind))
        return None

    monkeypatch.setattr(connect_module, "_probe", probe)
    monkeypatch.setattr(
        "ccviz_kernel.runtime.read_runtime",
        lambda create=True: {"url": "http://127.0.0.1:5/j/ccviz/", "pid": 1, "kind": "jupyter"},
    )
    in_kernel = discovery.Discovery("c", KID, None, None, "none of them")
    monkeypatch.setattr(discovery, "discover", lambda refresh=False: in_kernel)
    assert connect_module.connect(serve=False).kind == "local"
    assert asked == []
    script = discovery.Discovery(None, None, None, None, "not in a Jupyter kernel")
    monkeypatch.setattr(discovery, "discover", lambda refresh=False: script)
    connect_module.connect(serve=False)
    assert asked == [("http://127.0.0.1:5/j/ccviz/", "server")]  # never the same-origin kind

    # Its own server's ccviz is asked first, as "jupyter".
    asked.clear()
    own = JupyterServer(os.getpid(), "http://127.0.0.1:6/j/")
    mine = discovery.Discovery("c", KID, own, "http://127.0.0.1:6/j/ccviz/", "it lists")
    monkeypatch.setattr(discovery, "discover", lambda refresh=False: mine)
    connect_module.connect(serve=False)
    assert asked == [("http://127.0.0.1:6/j/ccviz/", "jupyter")]


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _live_pids(count: int) -> list[int]:
    """``count`` distinct live pids: this process, its parent, then whatever else runs."""
    pids = [os.getpid(), os.getppid()]
    for name in (
        sorted(os.listdir("/proc"), key=lambda n: (len(n), n)) if os.path.isdir("/proc") else []
    ):
        if len(pids) >= count:
            break
        if name.isdigit() and int(name) not in pids:
            pids.append(int(name))
    if len(pids) < count:
        pytest.skip("not enough processes to name")
    return pids[:count]
