"""Helpers shared by tests in every folder (fixtures live in conftest.py, helpers here).

Test modules import these as ``from common import ...``: pytest puts ``tests/`` on
``sys.path`` (rootdir-relative "prepend" import mode), so no conftest is imported as a
module.
"""

from __future__ import annotations

import json
from pathlib import Path

#: Example inputs: hook payloads and transcript trees (see tests/fixtures/transcripts/README.md).
FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parent.parent


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
