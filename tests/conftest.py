from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _ccviz_home(tmp_path, monkeypatch):
    """Every test gets its own data folder: no test reads or writes the user's."""
    monkeypatch.setenv("CCVIZ_HOME", str(tmp_path / "ccviz-home"))
