"""Helpers shared by tests in every folder (fixtures live in conftest.py, helpers here).

Test modules import these as ``from common import ...``: pytest puts ``tests/`` on
``sys.path`` (rootdir-relative "prepend" import mode), so no conftest is imported as a
module.
"""

from __future__ import annotations

import json
import os
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
