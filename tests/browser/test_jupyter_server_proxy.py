"""The page under jupyter-server-proxy (issue 15): a real ``jupyter server`` with the proxy
extension, a real ``ccviz serve`` on a free port, and headless Chromium on
``{jupyter}/proxy/{port}/``: the page loads its bundle and socket.io through that prefix and
shows a game. The same Jupyter server runs ccviz's own extension, so its stderr is Jupyter's
log with ccviz's lines in it: neither ccviz token may be there.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from common import CCVIZ, SERVE_SCRUBBED, free_port

from .support import hook, new_game_id, tool, wait_arrived, wait_until

#: Server extensions this test does not need (each costs start-up time); the proxy and
#: ccviz's own extension stay on.
OFF = {
    name: False
    for name in ("jupyterlab", "jupyter_lsp", "notebook_shim", "jupyter_server_terminals")
}
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


class Process:
    """A server process whose output goes to a file; :meth:`wait_http` until it answers."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._out = open(log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(args, stdout=self._out, stderr=subprocess.STDOUT, env=env)

    def wait_http(self, url: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                _http.open(url, timeout=1).read()
                return
            except urllib.error.HTTPError:  # answering: a 403 without credentials is fine
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{url} never answered:\n{self.log()}")

    def log(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._out.close()


def environment(tmp: Path, name: str) -> dict[str, str]:
    home = tmp / f"{name}-home"
    home.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if k not in SERVE_SCRUBBED}
    env["CCVIZ_HOME"] = str(home)
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR"):
        env[var] = str(tmp / f"{name}-{var.lower()}")
    return env


@pytest.fixture
def stack(tmp_path, browser) -> Iterator[dict[str, Any]]:
    """``ccviz serve`` and ``jupyter server`` (with jupyter-server-proxy), both on 127.0.0.1."""
    pytest.importorskip("jupyter_server_proxy")
    ccviz_port, jupyter_port = free_port(), free_port()
    ccviz_env = environment(tmp_path, "serve")  # not "ccviz-home": every test's CCVIZ_HOME
    ccviz = Process(
        [*CCVIZ, "serve", "--port", str(ccviz_port), "--log-level", "info"],
        ccviz_env,
        tmp_path / "ccviz.log",
    )
    token = secrets.token_hex(16)
    jupyter_env = environment(tmp_path, "jupyter")
    config_dir = Path(jupyter_env["JUPYTER_CONFIG_DIR"])
    config_dir.mkdir()
    (config_dir / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": OFF}})
    )
    (tmp_path / "root").mkdir()
    jupyter = Process(
        [
            str(Path(sys.executable).with_name("jupyter-server")),
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={jupyter_port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={tmp_path / 'root'}",
        ],
        jupyter_env,
        tmp_path / "jupyter.log",
    )
    try:
        ccviz.wait_http(f"http://127.0.0.1:{ccviz_port}/healthz")
        jupyter.wait_http(f"http://127.0.0.1:{jupyter_port}/api/status")
        ccviz_token = (Path(ccviz_env["CCVIZ_HOME"]) / "token").read_text().strip()
        yield {
            "front": f"http://127.0.0.1:{jupyter_port}/proxy/{ccviz_port}/",
            "jupyter_token": token,
            "ccviz": f"http://127.0.0.1:{ccviz_port}/",
            "ccviz_token": ccviz_token,
            "jupyter_home": Path(jupyter_env["CCVIZ_HOME"]),
            "jupyter": jupyter,
            "server": ccviz,
        }
    finally:
        jupyter.stop()
        ccviz.stop()


def post(stack: dict[str, Any], payload: dict[str, Any], to: str = "", token: str = "") -> None:
    """A hook to the ``ccviz serve`` (or to ``to``, with ``token``)."""
    request = urllib.request.Request(
        (to or stack["ccviz"]) + "api/hooks",
        data=json.dumps(payload).encode(),
        headers={"Authorization": f"Bearer {token or stack['ccviz_token']}"},
        method="POST",
    )
    with _http.open(request, timeout=5) as answer:
        assert answer.status == 204


def test_the_page_works_under_jupyter_server_proxy(stack, open_page):
    game = new_game_id()
    watched = open_page()
    page = watched.page
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    page.on("websocket", lambda w: seen.append(w.url))  # socket.io: websocket only
    # The token logs the browser in (a cookie), as Jupyter's own links do.
    page.goto(f"{stack['front']}view/{game}?token={stack['jupyter_token']}")
    wait_until(page, "window.__ccviz && window.__ccviz.ready")
    post(stack, hook(game, "SessionStart", source="startup"))
    post(stack, hook(game, "UserPromptSubmit", prompt="Make the jump higher."))
    wait_arrived(page, "main", "square")
    post(stack, tool(game, "Read", "toolu_j1", file_path="/home/dev/pixel-quest/src/a.ts"))
    wait_arrived(page, "main", "library")
    assert page.evaluate("window.__ccviz.seq") == 3
    assert page.evaluate("window.__ccviz.errors") == []
    # Everything the page asked for went through the proxy's prefix (http: or ws:).
    front = stack["front"].split("//", 1)[1]
    ours = [url for url in seen if "/static/" in url or "/socket.io/" in url]
    assert any("/static/" in url for url in ours) and any("/socket.io/" in url for url in ours)
    assert all(url.split("//", 1)[1].startswith(front) for url in ours), ours
    # Jupyter's log: a hook to Jupyter's own ccviz extension makes a ccviz.server line
    # (the transcript it will not read), which must be a line of Jupyter's log; neither
    # ccviz token appears in it or in the standalone server's log.
    ingest = (stack["jupyter_home"] / "token").read_text().strip()
    jupyter_ccviz = stack["front"].split("/proxy/")[0] + "/ccviz/"
    post(stack, hook(game, "SessionStart", source="startup"), jupyter_ccviz, ingest)
    for _ in range(100):  # bounded: 5 s
        jupyter_log = stack["jupyter"].log()
        if "ccviz.server] not reading the transcript" in jupyter_log:
            break
        time.sleep(0.05)
    assert "ccviz.server] not reading the transcript" in jupyter_log, jupyter_log
    assert "ccviz: serving at" in jupyter_log
    for log in (jupyter_log, stack["server"].log()):
        assert ingest not in log and stack["ccviz_token"] not in log
