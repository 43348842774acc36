"""The API reference builds from the docstrings, warnings as errors, with the pages it promises.

It is built exactly as ``make docs`` builds it (the modules are the Makefile's
``API_MODULES``), into a temporary folder instead of ``build/api/``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("pdoc")


def _api_modules() -> list[str]:
    text = (ROOT / "Makefile").read_text()
    match = re.search(r"^API_MODULES\s*:=\s*(.+)$", text, re.M)
    assert match, "the Makefile has no API_MODULES"
    return match.group(1).split()


def test_the_api_reference_builds_without_warnings(tmp_path):
    modules = _api_modules()
    out = tmp_path / "api"
    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "pdoc", "-o", str(out), *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Warn" not in done.stderr, done.stderr[-4000:]

    pages = {p.relative_to(out).as_posix() for p in out.rglob("*.html")}
    for module in modules:
        assert module.replace(".", "/") + ".html" in pages, (module, sorted(pages))
    assert "index.html" in pages

    top = (out / "ccviz_kernel.html").read_text()
    for name in ("connect", "GameView", "Game", "EventStore", "HookEvent", "parse_event"):
        assert f'id="{name}"' in top, name
    assert "import ccviz_kernel as ccviz" in top  # the package docstring's example
    handles = (out / "ccviz_kernel/notebook/handles.html").read_text()
    for name in ("GameHandle", "AgentHandle", "ReplayController", "GameHandle.say"):
        assert f'id="{name}"' in handles, name
