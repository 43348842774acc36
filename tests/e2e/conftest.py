"""End-to-end tests against the real Claude Code CLI: the ``e2e`` marker and the ``claude``.

Where ``claude`` comes from, first found wins:

1. ``$CCVIZ_CLAUDE``, a path to (or the name on PATH of) any ``claude`` binary;
2. ``<repo>/.cache/claude-code``, an npm install of the pinned version below, made on the
   first run with ``npm install --prefix <repo>/.cache/claude-code …`` (about 10 s).

Without npm, or when the install fails, the e2e tests are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

#: The Claude Code release these tests were written against (bump it on purpose, then run
#: the e2e tests: the CLI's hook and request shapes change between releases).
CLAUDE_CODE_VERSION = "2.1.332"
PACKAGE = "@anthropic-ai/claude-code"

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "claude-code"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "e2e: runs the real Claude Code CLI (installed from npm into .cache/) against a fake "
        "API; deselect with -m 'not e2e'",
    )


def _installed_version() -> str | None:
    try:
        meta = json.loads((CACHE / "node_modules" / PACKAGE / "package.json").read_text())
    except (OSError, ValueError):
        return None
    return meta.get("version")


def _npm_install() -> str | None:
    """Install the pinned version into the cache; the reason on failure, else ``None``."""
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed, so Claude Code cannot be installed"
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(CACHE),
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                f"{PACKAGE}@{CLAUDE_CODE_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"npm install {PACKAGE}@{CLAUDE_CODE_VERSION} did not finish: {exc}"
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return f"npm install {PACKAGE}@{CLAUDE_CODE_VERSION} failed: " + " | ".join(tail)
    return None


def pinned_claude() -> tuple[str, str | None]:
    """``(path, None)`` for the pinned ``claude`` in the cache, installing it when needed, or
    ``(path, reason)`` when it cannot be. Also used by ``tools/record_session.py``."""
    path = str(CACHE / "node_modules" / ".bin" / "claude")
    if _installed_version() != CLAUDE_CODE_VERSION or not os.access(path, os.X_OK):
        return path, _npm_install()
    return path, None


@pytest.fixture(scope="session")
def claude_bin() -> str:
    """The path of a working ``claude`` binary (installs the pinned one when needed)."""
    chosen = os.environ.get("CCVIZ_CLAUDE")
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            pytest.fail(f"CCVIZ_CLAUDE={chosen!r} is not an executable")
        path = found
    else:
        path, reason = pinned_claude()
        if reason is not None:
            pytest.skip(reason)
    give_up = pytest.fail if chosen else pytest.skip  # a binary chosen on purpose must work
    try:
        proc = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        give_up(f"{path} does not run: {exc}")
    if proc.returncode != 0:
        give_up(f"{path} --version failed: {proc.stderr.strip()[:300]}")
    return path
