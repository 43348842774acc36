"""``game.on_permission`` in a real kernel: the rule answers while the kernel sits idle
between cells (the in-kernel host's hub, on the kernel's loop), and a rule on a server's
game answers even while a cell blocks the kernel (a mirror on a loop thread of its own);
and through a real Jupyter server's ccviz, as a kernel that Jupyter started reaches it."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .test_magics import URL_RE, get, running_kernel

pytest.importorskip("jupyter_client")

from common import SERVE_SCRUBBED, free_port  # noqa: E402
from test_permissions_api import WAIT, WRITE, Asked, Server, pending, request  # noqa: E402


@pytest.fixture
def kernel(kernel_specs, tmp_path: Path):
    root = tmp_path / "kernel"  # its own data folder: this process serves from the test's
    (root / "project").mkdir(parents=True)
    with running_kernel(kernel_specs, root) as k:
        yield k


def hook(url: str, token: str, payload: dict, path: str = "api/hooks") -> None:
    req = urllib.request.Request(
        url + path,
        data=json.dumps(payload).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as response:
        assert response.status == 204


def test_rules_answer_while_the_kernel_waits(kernel):
    served = Server()  # a `ccviz serve` elsewhere: the kernel reaches it over HTTP
    try:
        kernel.run("%load_ext ccviz_kernel").check()
        out = kernel.run("%ccviz serve").check().stdout
        match = URL_RE.search(out)
        assert match, out
        url = match.group(0)
        deadline = time.monotonic() + 15
        while True:  # the in-kernel server starts once the cell has ended
            try:
                if get(url + "healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the in-kernel server never answered"
            time.sleep(0.05)
        token = (kernel.root / "ccviz-home" / "token").read_text().strip()
        start = {"hook_event_name": "SessionStart", "source": "startup", "cwd": "/work"}
        hook(url, token, {**start, "session_id": "k-local"})
        hook(served.url, served.token, {**start, "session_id": "k-remote"})
        kernel.run(
            "import ccviz_kernel as ccviz\n"
            "local = ccviz.connect().game('k-local')\n"
            f"remote = ccviz.connect({served.url!r}, token={served.token!r}).game('k-remote')\n"
            "def rule(req):\n"
            "    if req.tool == 'Read':\n"
            "        return 'allow'\n"
            "    return 'deny', 'not from this kernel'\n"
            "rules = [local.on_permission(rule), remote.on_permission(rule)]\n"
            "print(type(local._backend).__name__, type(remote._backend).__name__)"
        ).check()
        # the kernel is idle now: the rules answer anyway
        asked = served.ask(request("k-remote", "Bash", {"command": "rm -rf /"}))
        assert asked.answer() == (200, {"behavior": "deny", "message": "not from this kernel"})
        local = Asked(
            url + "api/permissions", token, request("k-local", "Read", {"file_path": "a"})
        )
        assert local.answer() == (200, {"behavior": "allow"})
        # a cell that blocks the kernel's loop: the server's game is still answered at once
        blocking = kernel.start("import time; time.sleep(2)")
        kernel.wait_started(blocking)
        asked = served.ask(request("k-remote", "Read", {"file_path": "b"}))
        began = time.monotonic()
        assert asked.answer() == (200, {"behavior": "allow"})
        assert time.monotonic() - began < 2.0 and asked.seconds < 2.0, asked.seconds
        kernel.collect(blocking, timeout=WAIT).check()
        counts = kernel.run("print([(r.decided, len(r.errors)) for r in rules])").check()
        assert counts.stdout.strip() == "[(1, 0), (2, 0)]"
        kernel.run("for r in rules: r.cancel()").check()
    finally:
        served.close()


#: Server extensions the Jupyter test does not need (each costs start-up time).
OFF = {
    name: False
    for name in (
        "jupyterlab",
        "jupyter_lsp",
        "notebook_shim",
        "jupyter_server_terminals",
        "jupyter_server_proxy",
    )
}


def test_a_rule_answers_through_a_jupyter_servers_ccviz(tmp_path):
    """A ``RemoteBackend`` of kind ``jupyter`` (what a kernel Jupyter started gets): the
    rule's mirror joins over Jupyter's socket.io with the ingest token, and the held POST
    to Jupyter's ``ccviz/api/permissions`` gets the rule's answer, then a person's."""
    from ccviz_kernel.notebook.backends import RemoteBackend
    from ccviz_kernel.notebook.handles import GameHandle

    env = {k: v for k, v in os.environ.items() if k not in SERVE_SCRUBBED}
    env["CCVIZ_HOME"] = str(tmp_path / "jupyter-home")
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR"):
        env[var] = str(tmp_path / var.lower())
    config = Path(env["JUPYTER_CONFIG_DIR"])
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": OFF}})
    )
    (tmp_path / "root").mkdir()
    port = free_port()
    log = open(tmp_path / "jupyter.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("jupyter-server")),
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={secrets.token_hex(16)}",
            f"--ServerApp.root_dir={tmp_path / 'root'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}/ccviz/"
    try:
        start = {"hook_event_name": "SessionStart", "session_id": "jk", "source": "startup"}
        deadline = time.monotonic() + 30
        while True:  # up once its ccviz takes a hook with the token it made
            token_file = Path(env["CCVIZ_HOME"]) / "token"
            try:
                hook(base, token_file.read_text().strip(), start)
                break
            except (OSError, urllib.error.HTTPError, AssertionError):
                assert proc.poll() is None and time.monotonic() < deadline, (
                    tmp_path / "jupyter.log"
                ).read_text(errors="replace")
                time.sleep(0.1)
        token = token_file.read_text().strip()
        game = GameHandle(RemoteBackend(base, token, kind="jupyter"), "jk")
        rule = game.on_permission(lambda req: ("deny", "not here") if req.tool == "Bash" else None)
        try:
            asked = Asked(base + "api/permissions", token, request("jk", "Bash", {"command": "ls"}))
            assert asked.answer() == (200, {"behavior": "deny", "message": "not here"})
            asked = Asked(base + "api/permissions", token, request("jk", "Write", WRITE))
            (req,) = pending(game)
            req.allow()  # left to a person: here, Python
            assert asked.answer() == (200, {"behavior": "allow"})
            assert (rule.decided, rule.left, rule.errors) == (1, 1, [])
        finally:
            rule.cancel()
            game._backend.runner.stop()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
