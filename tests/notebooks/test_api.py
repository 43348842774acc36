"""The Python API in a real kernel: the README's snippet (read out of README.md) gives the
same results as in a plain script (tests/test_readme_snippet.py), and the kernel-only
forms (``await r.finished()``, the shared replay hub the magics count) work."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pandas") is None or importlib.util.find_spec("matplotlib") is None,
    reason="the snippet needs pandas and matplotlib",
)

from .support import KERNEL_NAME, kernel_env  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_readme_snippet import CHECK, check, readme_snippet, result_of  # noqa: E402


def run_cells(sources: list[str], tmp_path: Path, km) -> list:
    """Run ``sources`` as the cells of a new notebook in a fresh kernel; their outputs."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    client = nbclient.NotebookClient(
        nb,
        km=km,
        kernel_name=KERNEL_NAME,
        timeout=120,
        resources={"metadata": {"path": str(tmp_path)}},
        allow_errors=True,
        shutdown_kernel="immediate",
    )
    client.execute(cleanup_kc=True, env=kernel_env(tmp_path, home=True))
    return [out for cell in nb.cells for out in cell.outputs]


def _text(outputs: list) -> str:
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream")


def test_readme_snippet_in_a_kernel(tmp_path: Path, kernel_manager):
    outputs = run_cells([readme_snippet(), CHECK], tmp_path, kernel_manager())
    assert not [o for o in outputs if o.output_type == "error"], outputs
    assert "Traceback" not in _text(outputs)
    check(result_of(_text(outputs)))


def test_magics_count_the_kernels_replays_and_forks(tmp_path: Path, kernel_manager):
    cells = [
        "%load_ext ccviz_kernel",
        "import ccviz_kernel as ccviz\nfrom ccviz_kernel import samples\n"
        "conn = ccviz.connect()\n"
        "r = conn.replay(samples.path('short'), play=False)\nr.seek(5)\nf = r.fork()",
        "%ccviz status",
        "print(sorted(ccviz.connect().games) == sorted([r.game.id, f.id]))",
        "r.speed = 64\nr.resume()\nawait r.finished()\nprint('at', r.position, r.total)",
        "try:\n    r.wait()\nexcept RuntimeError as e:\n    print('no wait:', e)",
    ]
    outputs = run_cells(cells, tmp_path, kernel_manager())
    assert not [o for o in outputs if o.output_type == "error"], outputs
    text = _text(outputs)
    assert "2 game(s)" in text, text
    assert "True" in text
    assert "at 10 10" in text
    assert "no wait: r.wait() would block" in text
