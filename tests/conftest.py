from __future__ import annotations

import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _ccviz_home(tmp_path, monkeypatch):
    """Every test gets its own data folder: no test reads or writes the user's."""
    monkeypatch.setenv("CCVIZ_HOME", str(tmp_path / "ccviz-home"))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
