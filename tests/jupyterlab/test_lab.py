"""ccviz in a real JupyterLab, driven by Debian's Chromium through Playwright.

``jupyter lab`` (this interpreter's) runs on 127.0.0.1 in temporary folders: its root, its
``CCVIZ_HOME`` and every Jupyter folder (config, data, runtime, ``HOME``), so nothing of the
user's is read or written. The ccviz server extension loads on its own (the package ships
``etc/jupyter/jupyter_server_config.d/ccviz_kernel.json``). The test writes a notebook that
connects to it (``ccviz.connect()`` → kind ``"jupyter"``), starts a game and shows it
(``hub.game(id).view()``), opens the notebook in JupyterLab and runs every cell. Once the
Phaser town is drawn in the output, events come in two ways: a new notebook cell calls
``hub.inject(...)`` in the kernel, and Claude Code's hook route (``POST ccviz/api/hooks``
with the ingest token) takes one from outside; each time the widget must follow.

Every wait is bounded; the server (its whole process group: kernels too) and the browser
are stopped whatever happens. ``CCVIZ_SCREENSHOT=1`` also writes the README's picture,
``docs/jupyterlab.png`` (the town after the cell's event, with the cell below it).

This folder has no ``__init__.py`` on purpose: with pytest's default import mode it would
be a package named ``jupyterlab`` with ``tests/`` first on ``sys.path``, shadowing the real
JupyterLab in pytest's process (for ``importorskip`` and any in-process Jupyter server).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from common import CHROMIUM, CHROMIUM_ARGS

VIEWPORT = {"width": 1280, "height": 1100}
STATIC = Path(__file__).resolve().parents[2] / "ccviz_kernel" / "static"
#: JupyterLab up and ccviz serving in it.
SERVER_START_S = 45.0
#: Notebook open, kernel started, every cell run and the widget drawn.
WIDGET_MS = 60_000
#: Anything after that (a cell, a hook, a walk across the town).
WAIT_MS = 20_000
#: Where the README's screenshot goes (only when CCVIZ_SCREENSHOT=1).
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "jupyterlab.png"

GAME = "pixel-quest"  # each run has its own server and CCVIZ_HOME
CWD = "/home/dev/pixel-quest"

#: A JS predicate: agent ``id`` of widget ``game`` stands still on its spot at ``place``
#: (within 2 px) and that spot belongs to the place (within 110 world units of its point).
#: For a frame after an update, ``place`` is already the new place while ``spot`` and
#: ``walking`` still describe the old one: hence the last check.
ARRIVED = """([game, id, place]) => {
  const h = window.__ccvizWidgets && window.__ccvizWidgets[game];
  const a = h && h.ready && h.agents().find((x) => x.id === id);
  const p = h && h.placeXY(place);
  const canvas = document.querySelector('.jp-OutputArea-output canvas');
  const scale = canvas ? canvas.getBoundingClientRect().width / 800 : 1;
  return !!a && !!p && a.visible && !a.walking && a.place === place
    && Math.abs(a.x - a.spot.x) <= 2 && Math.abs(a.y - a.spot.y) <= 2
    && Math.hypot(a.spot.x - p.x, a.spot.y - p.y) <= 110 * scale && a;
}"""

#: The notebook's own handles, through JupyterLab's application object.
NOTEBOOK_JS = "window.jupyterapp.shell.currentWidget"
KERNEL_IDLE = f"""() => {{
  const w = window.jupyterapp && {NOTEBOOK_JS};
  const kernel = w && w.sessionContext && w.sessionContext.session
    && w.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle'
    && !!document.querySelector('.jp-Notebook .jp-Cell');
}}"""
#: ``[{source, count, outputs}]`` of every cell in the open notebook.
CELLS = f"""() => {{
  const cells = {NOTEBOOK_JS}.content.model.cells;
  const out = [];
  for (let i = 0; i < cells.length; i++) {{
    const c = cells.get(i);
    out.push({{source: c.sharedModel.getSource(), count: c.executionCount ?? null,
               outputs: c.outputs ? c.outputs.toJSON() : []}});
  }}
  return out;
}}"""
#: Insert a code cell at the end, type ``code`` into it and run it (as a user would, through
#: JupyterLab's commands); returns the new cell's index.
RUN_NEW_CELL = f"""async (code) => {{
  const app = window.jupyterapp;
  const nb = {NOTEBOOK_JS}.content;
  nb.activeCellIndex = nb.widgets.length - 1;
  await app.commands.execute('notebook:insert-cell-below');
  nb.activeCell.model.sharedModel.setSource(code);
  app.commands.execute('notebook:run-cell');  // not awaited: the test waits, bounded
  return nb.widgets.length - 1;
}}"""


def hook(name: str, **fields: Any) -> dict[str, Any]:
    """A hook payload for the test's game, shaped like Claude Code's."""
    return {"session_id": GAME, "cwd": CWD, "hook_event_name": name, **fields}


#: The notebook's third cell: the same helper, and a session that starts.
START_CELL = f"""GID = {GAME!r}
def hook(name, **fields):  # a Claude Code hook payload for this game
    return {{"session_id": GID, "cwd": {CWD!r}, "hook_event_name": name, **fields}}

hub.inject(hook("SessionStart", source="startup", model="claude-sonnet-4-5"))
hub.inject(hook("UserPromptSubmit", prompt="Add a jump sound to the player."));"""
#: The cell added once the town is drawn: the agent reads a file (→ the library).
READ_CELL = """hub.inject(hook("PreToolUse", tool_name="Read", tool_use_id="toolu_r1",
                tool_input={"file_path": "/home/dev/pixel-quest/src/player.ts"}));"""


def notebook() -> dict[str, Any]:
    """The notebook the test opens: connect, start a game, show it."""
    sources = [
        "import ccviz_kernel as ccviz",
        'hub = ccviz.connect()\nassert hub.kind == "jupyter", hub\nhub.kind',
        START_CELL,
        "view = hub.game(GID).view()\nview",
    ]
    cells = [
        {"cell_type": "code", "metadata": {}, "source": s, "outputs": [], "execution_count": None}
        for s in sources
    ]
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "cells": [{**c, "id": f"cell-{i}"} for i, c in enumerate(cells)],
    }


# -- JupyterLab ----------------------------------------------------------------------------


class Lab:
    """``jupyter lab`` in its own process group, in temporary folders."""

    def __init__(self, root: Path) -> None:
        self.token = uuid.uuid4().hex
        self.dirs = {
            name: root / name
            for name in ("notebooks", "ccviz-home", "config", "data", "runtime", "home", "ipython")
        }
        for path in self.dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        self.home = self.dirs["ccviz-home"]
        self.log_path = root / "jupyter.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.started_in = 0.0

    def environ(self) -> dict[str, str]:
        drop = ("CCVIZ_TOKEN", "CCVIZ_VIEWER_TOKEN", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH")
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in drop and not k.startswith(("JPY_", "JUPYTERLAB_"))
        }
        env.update(
            CCVIZ_HOME=str(self.home),
            JUPYTER_CONFIG_DIR=str(self.dirs["config"]),
            JUPYTER_DATA_DIR=str(self.dirs["data"]),
            JUPYTER_RUNTIME_DIR=str(self.dirs["runtime"]),
            HOME=str(self.dirs["home"]),
            IPYTHONDIR=str(self.dirs["ipython"]),
            PYDEVD_DISABLE_FILE_VALIDATION="1",
        )
        return env

    def start(self) -> Lab:
        # Our own python3 kernelspec in the data folder (searched first): this interpreter,
        # whatever kernelspecs the machine has.
        spec = self.dirs["data"] / "kernels" / "python3"
        spec.mkdir(parents=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        kernel = {"argv": argv, "display_name": "Python 3", "language": "python"}
        (spec / "kernel.json").write_text(json.dumps(kernel))
        # No "Would you like to get notified about official Jupyter news?" toast over the
        # notebook, and no request to the news feed or for updates.
        settings = self.dirs["config"] / "lab" / "user-settings" / "@jupyterlab"
        settings = settings / "apputils-extension" / "notification.jupyterlab-settings"
        settings.parent.mkdir(parents=True)
        settings.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            "--port=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.dirs['notebooks']}",
            "--LabApp.expose_app_in_browser=True",
            # No news, no update check: nothing leaves the machine, no toast over the page.
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                command,
                cwd=self.dirs["notebooks"],
                env=self.environ(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kernels die with it
            )
        started = time.monotonic()
        self._wait_ready()
        self.started_in = time.monotonic() - started
        return self

    def _wait_ready(self) -> None:
        """The server file names the port; then ccviz must answer under it."""
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"jupyter lab exited ({self.proc.returncode}):\n{self.log()}")
            if not self.url:
                for path in self.dirs["runtime"].glob("jpserver-*.json"):
                    try:
                        info = json.loads(path.read_text())
                    except ValueError:  # being written
                        continue
                    if info.get("pid") == self.proc.pid:
                        self.url = info["url"].rstrip("/") + "/"
            if self.url:
                try:
                    if self.get("ccviz/api/games")[0] == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.1)
        raise AssertionError(f"jupyter lab not ready in {SERVER_START_S} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def get(self, path: str) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"token {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def post_hook(self, payload: dict[str, Any]) -> None:
        """As Claude Code's hook does: the ingest token from ``$CCVIZ_HOME/token``."""
        ingest = (self.home / "token").read_text().strip()
        request = urllib.request.Request(
            self.url + "ccviz/api/hooks",
            data=json.dumps(payload).encode(),
            headers={"Authorization": f"Bearer {ingest}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status in (200, 202, 204), response.read()

    def snapshot(self) -> dict[str, Any]:
        status, snap = self.get(f"ccviz/api/games/{GAME}")
        assert status == 200, (status, snap)
        return snap

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        try:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # Jupyter shuts its kernels down and exits
                proc.wait(15)
        except subprocess.TimeoutExpired:
            pass
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of its group
            except ProcessLookupError:
                pass
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed")
    if not (STATIC / "widget.js").exists():
        pytest.skip(f"the front end is not built in {STATIC} (cd widgets && npm run build)")
    server = Lab(tmp_path_factory.mktemp("jupyterlab"))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (make test installs Debian's chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()


# -- the console ---------------------------------------------------------------------------


class Console:
    """Console errors/warnings and uncaught errors; ccviz's fail the test, the rest are
    JupyterLab's own (listed in the test's output, never hidden)."""

    MARKERS = ("ccviz", "phaser", "socket.io", "widget.js", "anywidget", GAME)

    def __init__(self, page: Any) -> None:
        self.ours: list[str] = []
        self.ignored: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.ours.append(f"pageerror: {exc}"))

    def _console(self, message: Any) -> None:
        if message.type not in ("error", "warning"):
            return
        where = (message.location or {}).get("url", "")
        line = f"console.{message.type}: {message.text} ({where})"
        text = f"{message.text} {where}".lower()
        (self.ours if any(m in text for m in self.MARKERS) else self.ignored).append(line)


def wait_until(page: Any, expression: str, arg: Any = None, timeout: int = WAIT_MS) -> Any:
    """Poll a JS expression (or function of ``arg``) until truthy; returns its value."""
    return page.wait_for_function(expression, arg=arg, timeout=timeout, polling=100).json_value()


def output_text(cell: dict[str, Any]) -> str:
    parts = []
    for out in cell["outputs"]:
        data = out.get("data", {})
        parts.append(str(data.get("text/plain", "")) + str(out.get("text", "")))
    return "".join(parts)


def errors_in(cells: list[dict[str, Any]]) -> list[Any]:
    return [
        (c["source"], o)
        for c in cells
        for o in c["outputs"]
        if o.get("output_type") == "error" or o.get("name") == "stderr"
    ]


def save_screenshot(page: Any, path: Path) -> None:
    """JupyterLab from its menu bar down to the notebook's last cell, the town among the
    cells (a PNG of about 200 KB)."""
    box = page.evaluate(
        """() => {
          const panel = document.querySelector('.jp-NotebookPanel').getBoundingClientRect();
          const cells = document.querySelectorAll('.jp-Notebook .jp-Cell');
          const last = cells[cells.length - 1].getBoundingClientRect();
          return {x: 0, y: 0, width: Math.ceil(panel.right),
                  height: Math.min(Math.ceil(last.bottom) + 12, window.innerHeight)};
        }"""
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), clip=box)


# -- the test ------------------------------------------------------------------------------


def test_game_view_in_jupyterlab(lab, browser, tmp_path):
    status, games = lab.get("ccviz/api/games")
    assert status == 200 and games == {"games": []}, (status, games)
    (lab.dirs["notebooks"] / "ccviz-lab.ipynb").write_text(json.dumps(notebook(), indent=1))
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    try:
        run_and_follow(lab, context.new_page(), tmp_path)
    except BaseException:
        print(f"\n--- jupyter lab's log (end) ---\n{lab.log()}")
        raise
    finally:
        context.close()


def run_and_follow(lab: Lab, page: Any, tmp_path: Path) -> None:
    """Open the notebook, run it, then move the agent twice (a cell, a hook)."""
    h = f"window.__ccvizWidgets && window.__ccvizWidgets[{json.dumps(GAME)}]"
    times = {"start": time.monotonic()}
    page.set_default_timeout(WAIT_MS)
    console = Console(page)
    page.goto(f"{lab.url}lab/tree/ccviz-lab.ipynb?token={lab.token}", timeout=30_000)
    wait_until(page, KERNEL_IDLE, timeout=WIDGET_MS)
    times["kernel idle"] = time.monotonic()
    # Not awaited in the page (it settles when every cell has run): the test waits.
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")

    # The town is drawn in the last cell's output and has the game's first snapshot.
    wait_until(
        page,
        f"!!document.querySelector('.jp-OutputArea-output canvas') && {h} && {h}.ready",
        timeout=WIDGET_MS,
    )
    times["widget ready"] = time.monotonic()
    wait_until(page, KERNEL_IDLE)
    cells = page.evaluate(CELLS)
    assert [c["count"] for c in cells] == [1, 2, 3, 4], cells
    assert errors_in(cells) == [], errors_in(cells)
    assert output_text(cells[1]) == "'jupyter'", cells[1]
    assert cells[3]["outputs"][0]["data"]["application/vnd.jupyter.widget-view+json"]
    assert lab.snapshot()["agents"]["main"]["place"] == "square"
    wait_until(page, ARRIVED, [GAME, "main", "square"])

    # From Python, in a new notebook cell: the kernel injects a Read (→ the library).
    index = page.evaluate(RUN_NEW_CELL, READ_CELL)
    wait_until(page, f"() => ({CELLS})()[{index}].count === 5")
    assert errors_in(page.evaluate(CELLS)) == []
    arrived = wait_until(page, ARRIVED, [GAME, "main", "library"])
    snap = lab.snapshot()
    assert snap["agents"]["main"]["place"] == "library"
    wait_until(page, f"{h}.seq >= {snap['seq']}")
    assert page.evaluate(f"{h}.snapshot()") == snap
    assert not arrived["walking"] and abs(arrived["x"] - arrived["spot"]["x"]) <= 2, arrived
    times["cell followed"] = time.monotonic()
    save_screenshot(page, tmp_path / "jupyterlab.png")
    if os.environ.get("CCVIZ_SCREENSHOT") == "1":  # regenerate the README's picture
        save_screenshot(page, SCREENSHOT)

    # From outside, as Claude Code's hook: the read ends, a command runs (→ the terminal).
    lab.post_hook(hook("PostToolUse", tool_name="Read", tool_use_id="toolu_r1", tool_response={}))
    lab.post_hook(
        hook(
            "PreToolUse",
            tool_name="Bash",
            tool_use_id="toolu_b1",
            tool_input={"command": "npm test"},
        )
    )
    wait_until(page, ARRIVED, [GAME, "main", "terminal"])
    snap = lab.snapshot()
    assert snap["agents"]["main"]["place"] == "terminal"
    wait_until(page, f"{h}.seq >= {snap['seq']}")
    assert page.evaluate(f"{h}.snapshot()") == snap
    times["hook followed"] = time.monotonic()

    assert page.evaluate(f"{h}.errors") == []
    assert console.ours == [], console.ours
    status, health = lab.get("ccviz/healthz")  # one view, one socket.io connection
    assert status == 200 and health["viewers"] == 1, (status, health)
    steps = [f"jupyter lab up in {lab.started_in:.1f} s"]
    names, stamps = list(times), list(times.values())
    for i in range(1, len(names)):
        steps.append(f"{names[i]} +{stamps[i] - stamps[i - 1]:.1f} s")
    print("\n" + ", ".join(steps) + f"; screenshot in {tmp_path}")
    for line in console.ignored:
        print("ignored (JupyterLab's own):", line)
