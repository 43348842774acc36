"""Helpers shared by tests in every folder (fixtures live in conftest.py, helpers here).

Test modules import these as ``from common import ...``: pytest puts ``tests/`` on
``sys.path`` (rootdir-relative "prepend" import mode), so no conftest is imported as a
module.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

#: Example inputs: hook payloads and transcript trees (see tests/fixtures/transcripts/README.md).
FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parent.parent

#: Debian's Chromium, driven by Playwright (never `playwright install`); WebGL through
#: SwiftShader (docs: tests need no GPU).
CHROMIUM = os.environ.get("CCVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


#: The command line, run by this interpreter (a real process, as Claude Code runs it).
CCVIZ = [sys.executable, "-m", "ccviz_kernel.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [*CCVIZ, "serve", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"server did not start: {proc.stdout.read().decode()}")


def snapshot(port: int, game: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/games/{game}", timeout=5) as r:
        return json.loads(r.read())
