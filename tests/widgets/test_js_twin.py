"""The browser's apply-deltas (widgets/src/deltas.ts) against the Python one, on the same
recorded sequences: every event of the fixture and the bundled samples, plus a replay
that seeks back (a reset update)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from common import FIXTURES

from ccviz_kernel import samples
from ccviz_kernel.engine.deltas import apply_deltas
from ccviz_kernel.engine.game import Game
from ccviz_kernel.replays.load import load_replay

WIDGETS = Path(__file__).parents[2] / "widgets"


def recorded_cases() -> list[dict]:
    cases = []
    sources = [FIXTURES / "hook-payloads.jsonl", *(samples.path(n, "hooks") for n in samples.NAMES)]
    for source in sources:
        replay = load_replay(source)
        game = Game(replay.game_id)
        before = game.snapshot()
        for event in replay.events:
            applied = game.apply(event)
            after = game.snapshot()
            assert apply_deltas(before, applied.deltas) == after
            cases.append({"before": before, "deltas": applied.deltas, "after": after})
            before = after
        reset = Game(replay.game_id)
        for event in replay.events[:3]:
            reset.apply(event)
        cases.append(
            {"before": before, "deltas": reset.reset_deltas().deltas, "after": reset.snapshot()}
        )
    return cases


def test_js_and_python_apply_deltas_agree(tmp_path):
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the JS twin")
    if not (WIDGETS / "node_modules").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=WIDGETS,
            check=True,
            capture_output=True,
            timeout=600,
        )
    cases = recorded_cases()
    assert len(cases) > 700
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases))
    result = subprocess.run(
        [node, "--test", "test/deltas.test.mjs"],
        cwd=WIDGETS,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "CCVIZ_DELTA_CASES": str(path)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "# skipped 0" in result.stdout and "# fail 0" in result.stdout
