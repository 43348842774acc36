"""Check a built wheel the way a user meets it: a fresh virtualenv with no Node on the PATH.

Usage (from the repository root, with the test extra installed: Playwright, Pillow, hatchling):

    .venv/bin/python tools/check_wheel.py [--wheel dist/ccviz_kernel-*.whl]
        [--python /path/to/python3.12 ...] [--keep] [--no-browser]

``make check-wheel`` runs it. It is slow (a virtualenv with JupyterLab per interpreter: about
a minute each, most of it pip) and so is not part of ``make test``; run it before a release
or after changing pyproject.toml. Steps, each one line of output, the first failure ends the
run with exit status 1:

1. build the wheel from this checkout (hatchling, as pip would), unless ``--wheel`` names one;
2. for each ``--python`` (default: the interpreter this virtualenv was made from), make a
   fresh virtualenv and ``pip install '<wheel>[jupyter]'`` with ``PATH`` holding only the
   virtualenv's ``bin``: no ``node``, no ``npm``;
3. ``ccviz demo`` serves: ``healthz``, the page and its bundle answer, and the page draws the
   town in headless Chromium (pixels differ from an empty canvas);
4. ``jupyter server extension list`` shows ``ccviz_kernel`` enabled and OK, ``jupyter
   labextension list`` shows anywidget (the widget's front end), ``jupyter lab --help`` runs;
5. ``jupyter server`` on an odd ``base_url`` answers ``{base}ccviz/healthz``;
6. ``jupyter lab``: a notebook that connects, starts a game and shows ``GameView`` is run in
   Chromium; the town must be drawn in the cell's output and no cell may fail.

Every process it starts runs in its own process group and is stopped by its id; every
folder it uses (virtualenv, Jupyter's config, data and runtime folders, ``HOME``,
``CCVIZ_HOME``) is temporary, so nothing of the user's is read or written.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from common import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (one copy of the browser's flags)

#: Seconds: a server up, a page drawn, a notebook run.
START_S = 60.0
DRAW_MS = 60_000
GAME = "wheel-check"
#: Jupyter colours "enabled" and "OK" even when its output is not a terminal.
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class CheckFailed(Exception):
    """One step failed; the message says which and what was seen."""


def step(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Print ``name``, run the step, print how long it took and what it found."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            print(f"- {name} ...", end=" ", flush=True)
            started = time.monotonic()
            try:
                result = fn(*args, **kwargs)
            except CheckFailed:
                print(f"FAILED ({time.monotonic() - started:.1f} s)", flush=True)
                raise
            detail = f": {result}" if isinstance(result, str) and result else ""
            print(f"ok ({time.monotonic() - started:.1f} s){detail}", flush=True)
            return result

        return run

    return wrap


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str, token: str | None = None, timeout: float = 5) -> tuple[int, bytes]:
    headers = {"Authorization": f"token {token}"} if token else {}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=timeout
        ) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, token: str | None = None) -> bytes:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CheckFailed(f"exited ({proc.returncode}) before {url} answered:\n{tail(log)}")
        try:
            status, body = fetch(url, token, timeout=2)
            if status == 200:
                return body
        except OSError:
            pass
        time.sleep(0.2)
    raise CheckFailed(f"{url} did not answer in {START_S:g} s:\n{tail(log)}")


def tail(path: Path, size: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


@contextmanager
def started(command: list[str], env: dict[str, str], log: Path, cwd: Path) -> Iterator[Any]:
    """A process in its own group; stopped (SIGINT, then SIGKILL of its group) on exit."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        try:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                proc.wait(15)
        except subprocess.TimeoutExpired:
            pass
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)


# -- the steps -------------------------------------------------------------------------------


@step("build the wheel")
def build_wheel(out: Path) -> Path:
    code = "import sys; from hatchling.build import build_wheel; print(build_wheel(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", code, str(out)], cwd=REPO, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise CheckFailed(done.stderr[-4000:])
    return out / done.stdout.strip().splitlines()[-1]


class Env:
    """A fresh virtualenv and the temporary folders of one interpreter's check."""

    def __init__(self, python: str, root: Path) -> None:
        self.python = python
        self.root = root
        self.venv = root / "venv"
        self.bin = self.venv / ("Scripts" if os.name == "nt" else "bin")
        self.dirs = {
            n: root / n for n in ("home", "ccviz-home", "config", "data", "runtime", "notebooks")
        }
        for path in self.dirs.values():
            path.mkdir(parents=True, exist_ok=True)

    def environ(self) -> dict[str, str]:
        """Only the virtualenv's ``bin`` on the PATH: no Node, no npm, no other Python."""
        keep = ("LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "SYSTEMROOT", "XDG_CONFIG_DIRS")
        env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("PIP_")}
        env.update(
            PATH=str(self.bin),
            HOME=str(self.dirs["home"]),
            CCVIZ_HOME=str(self.dirs["ccviz-home"]),
            JUPYTER_CONFIG_DIR=str(self.dirs["config"]),
            JUPYTER_DATA_DIR=str(self.dirs["data"]),
            JUPYTER_RUNTIME_DIR=str(self.dirs["runtime"]),
            JUPYTER_PLATFORM_DIRS="1",
            PYDEVD_DISABLE_FILE_VALIDATION="1",
        )
        # pip's own configuration (indexes, constraints) stays where the user keeps it.
        if "PIP_CONFIG_FILE" not in env:
            for conf in ("~/.config/pip/pip.conf", "~/.pip/pip.conf"):
                if os.path.exists(os.path.expanduser(conf)):
                    env["PIP_CONFIG_FILE"] = os.path.expanduser(conf)
                    break
        return env

    def run(self, *command: str, timeout: float = 600) -> str:
        done = subprocess.run(
            [str(self.bin / command[0]), *command[1:]],
            env=self.environ(),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise CheckFailed(
                f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-4000:]}"
            )
        return done.stdout + done.stderr


@step("fresh virtualenv, no Node on the PATH, pip install '<wheel>[jupyter]'")
def install(env: Env, wheel: Path) -> str:
    subprocess.run([env.python, "-m", "venv", str(env.venv)], check=True, timeout=120)
    path = env.environ()["PATH"]
    for tool in ("node", "npm", "npx"):
        if shutil.which(tool, path=path):
            raise CheckFailed(f"{tool} is on the check's PATH ({path})")
    env.run("python", "-m", "pip", "install", "-q", f"{wheel}[jupyter]")
    code = (
        "import sys, importlib.metadata as m, ccviz_kernel;"
        "print(sys.version.split()[0], m.version('ccviz-kernel'))"
    )
    version = env.run("python", "-c", code).strip()
    return f"Python {version.replace(' ', ', ccviz-kernel ')}"


def canvas_colours(page: Any, selector: str) -> int:
    """How many distinct colours the first canvas matching ``selector`` shows (an empty or
    cleared canvas has one or two)."""
    from PIL import Image

    shot = page.locator(selector).first.screenshot()
    image = Image.open(io.BytesIO(shot)).convert("RGB").resize((200, 150))
    return len(image.getcolors(maxcolors=200 * 150) or [])


def wait_drawn(page: Any, selector: str, timeout_ms: int = DRAW_MS) -> int:
    page.wait_for_selector(selector, timeout=timeout_ms)
    deadline = time.monotonic() + timeout_ms / 1000
    colours = 0
    while time.monotonic() < deadline:
        colours = canvas_colours(page, selector)
        if colours >= 20:
            return colours
        time.sleep(0.5)
    raise CheckFailed(f"the canvas stayed blank ({colours} colours)")


@step("ccviz demo serves and the page draws the town")
def demo(env: Env, browser: Any | None) -> str:
    port = free_port()
    log = env.root / "demo.log"
    command = [str(env.bin / "ccviz"), "demo", "--port", str(port), "--sample", "short"]
    with started(command, env.environ(), log, env.root) as proc:
        base = f"http://127.0.0.1:{port}/"
        health = json.loads(wait_for(f"{base}healthz", proc, log))
        status, page_html = fetch(base)
        if status != 200 or b"<html" not in page_html.lower():
            raise CheckFailed(f"the page: {status} {page_html[:200]!r}")
        status, bundle = fetch(f"{base}static/page.js")
        if status != 200 or len(bundle) < 100_000:
            raise CheckFailed(f"the bundle: {status}, {len(bundle)} bytes")
        found = f"healthz {health}, page.js {len(bundle) / 1e6:.2f} MB"
        if browser is None:
            return found
        deadline = time.monotonic() + 20
        url = ""
        while not url and time.monotonic() < deadline:  # the demo prints the game's page
            url = next((w for w in tail(log).split() if w.startswith(f"{base}view/")), "")
            time.sleep(0.1)
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            page.goto(url or base, timeout=30_000)
            colours = wait_drawn(page, "canvas")
        finally:
            page.close()
        if errors:
            raise CheckFailed(f"errors in the page: {errors}")
        return f"{found}; {url or base} drawn ({colours} colours)"


@step("jupyter knows the extension")
def extension_listed(env: Env) -> str:
    servers = ANSI.sub("", env.run("jupyter", "server", "extension", "list"))
    lines = [x.strip() for x in servers.splitlines()]
    if "ccviz_kernel enabled" not in lines:
        raise CheckFailed(f"ccviz_kernel not enabled:\n{servers}")
    line = next((x for x in lines if x.startswith("ccviz_kernel ") and x.endswith(" OK")), "")
    if not line:
        raise CheckFailed(f"ccviz_kernel does not validate:\n{servers}")
    labs = ANSI.sub("", env.run("jupyter", "labextension", "list"))
    if "anywidget" not in labs:
        raise CheckFailed(f"anywidget's front end is missing:\n{labs}")
    env.run("jupyter", "lab", "--help")
    return f"enabled, {line}; anywidget's lab extension listed; jupyter lab --help runs"


def server_command(env: Env, app: str, port: int, token: str, base: str = "/") -> list[str]:
    return [
        str(env.bin / "jupyter"),
        app,
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.base_url={base}",
        f"--ServerApp.root_dir={env.dirs['notebooks']}",
        "--ServerApp.terminals_enabled=False",
    ]


@step("jupyter server answers {base}ccviz/healthz")
def jupyter_server(env: Env) -> str:
    # Not at the root (a space would be odder, but Jupyter's own login cookie refuses one).
    port, token, base = free_port(), uuid.uuid4().hex, "/wheel-check/jp/"
    log = env.root / "jupyter-server.log"
    command = server_command(env, "server", port, token, base)
    with started(command, env.environ(), log, env.root) as proc:
        quoted = urllib.request.quote(base)
        body = wait_for(f"http://127.0.0.1:{port}{quoted}ccviz/healthz", proc, log, token)
    return f"{quoted}ccviz/healthz -> {body.decode()[:80]}"


def notebook() -> dict[str, Any]:
    sources = [
        "import ccviz_kernel as ccviz\nconn = ccviz.connect()\nassert conn.kind == 'jupyter', conn",
        f"GID = {GAME!r}\n"
        "def hook(name, **fields):\n"
        "    return {'session_id': GID, 'cwd': '/tmp/wheel-check', 'hook_event_name': name, "
        "**fields}\n"
        "conn.inject(hook('SessionStart', source='startup', model='claude-sonnet-4-5'))\n"
        "conn.inject(hook('UserPromptSubmit', prompt='Check the wheel.'));",
        "view = conn.game(GID).view()\nview",
    ]
    cells = [
        {
            "cell_type": "code",
            "id": f"c{i}",
            "metadata": {},
            "source": s,
            "outputs": [],
            "execution_count": None,
        }
        for i, s in enumerate(sources)
    ]
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "cells": cells,
        "metadata": {"kernelspec": kernel, "language_info": {"name": "python"}},
    }


NOTEBOOK_JS = "window.jupyterapp && window.jupyterapp.shell.currentWidget"
KERNEL_IDLE = f"""() => {{
  const w = {NOTEBOOK_JS};
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle' && !!document.querySelector('.jp-Notebook .jp-Cell');
}}"""
CELLS = f"""() => {{
  const cells = ({NOTEBOOK_JS}).content.model.cells, out = [];
  for (let i = 0; i < cells.length; i++) {{
    const c = cells.get(i);
    out.push({{count: c.executionCount ?? null, outputs: c.outputs ? c.outputs.toJSON() : []}});
  }}
  return out;
}}"""


@step("jupyter lab: the notebook runs and GameView draws the town")
def jupyter_lab(env: Env, browser: Any) -> str:
    spec = env.dirs["data"] / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    argv = [str(env.bin / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "Python 3", "language": "python"})
    )
    (env.dirs["notebooks"] / "check.ipynb").write_text(json.dumps(notebook()))
    port, token = free_port(), uuid.uuid4().hex
    log = env.root / "jupyter-lab.log"
    command = [
        *server_command(env, "lab", port, token),
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with started(command, env.environ(), log, env.root) as proc:
        base = f"http://127.0.0.1:{port}/"
        wait_for(f"{base}ccviz/healthz", proc, log, token)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            page.goto(f"{base}lab/tree/check.ipynb?token={token}", timeout=30_000)
            page.wait_for_function(KERNEL_IDLE, timeout=DRAW_MS, polling=200)
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            colours = wait_drawn(page, ".jp-OutputArea-output canvas")
            page.wait_for_function(KERNEL_IDLE, timeout=DRAW_MS, polling=200)
            cells = page.evaluate(CELLS)
        except Exception as exc:
            if isinstance(exc, CheckFailed):
                raise
            raise CheckFailed(f"{type(exc).__name__}: {exc}\n{tail(log)}") from None
        finally:
            page.close()
    failed = [
        o
        for c in cells
        for o in c["outputs"]
        if o.get("output_type") == "error" or o.get("name") == "stderr"
    ]
    if [c["count"] for c in cells] != [1, 2, 3] or failed:
        raise CheckFailed(f"cells: {[c['count'] for c in cells]}, failures: {failed}")
    ours = [e for e in errors if "ccviz" in e.lower() or "anywidget" in e.lower()]
    if ours:
        raise CheckFailed(f"errors in the page: {ours}")
    return f"drawn ({colours} colours), 3 cells ran"


# -- the run -----------------------------------------------------------------------------------


def check(python: str, wheel: Path, root: Path, browser: Any | None) -> None:
    print(f"{python}:")
    env = Env(python, root)
    install(env, wheel)
    demo(env, browser)
    extension_listed(env)
    jupyter_server(env)
    if browser is not None:
        jupyter_lab(env, browser)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--wheel", type=Path, help="a built wheel (default: build one now)")
    parser.add_argument(
        "--python", action="append", help="an interpreter to check with (repeatable)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium checks")
    args = parser.parse_args(argv)
    pythons = args.python or [getattr(sys, "_base_executable", sys.executable)]
    root = Path(tempfile.mkdtemp(prefix="ccviz-wheel-check-"))
    try:
        wheel = args.wheel.resolve() if args.wheel else build_wheel(root)
        print(f"wheel: {wheel.name}, {wheel.stat().st_size / 1e6:.2f} MB")
        with browser_or_none(not args.no_browser) as browser:
            for n, python in enumerate(pythons):
                check(python, wheel, root / f"py{n}", browser)
    except CheckFailed as exc:
        print(f"\n{exc}", file=sys.stderr)
        print(f"(folders kept in {root})", file=sys.stderr)
        return 1
    if args.keep:
        print(f"folders kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    print("all checks passed")
    return 0


@contextmanager
def browser_or_none(wanted: bool) -> Iterator[Any | None]:
    if not wanted:
        yield None
        return
    if not os.path.exists(CHROMIUM):
        raise CheckFailed(f"{CHROMIUM} is missing (make system installs it; or --no-browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()


if __name__ == "__main__":
    sys.exit(main())
