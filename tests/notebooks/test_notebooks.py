"""Every notebook in notebooks/ runs top to bottom in a real kernel, without Claude Code.

The notebooks assert what they show (sample numbers, a rule change moving an agent), so a
clean run checks them too. The saved files stay small and output-free.
"""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
# The kernel needs these (events.frame(), timeline()); the test process need not import them.
needs_kernel_packages = pytest.mark.skipif(
    find_spec("pandas") is None or find_spec("matplotlib") is None,
    reason="the notebooks need pandas and matplotlib",
)

from .support import KERNEL_NAME, kernel_env  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = {"quickstart", "replay-a-session", "inspect-and-steer", "classroom-demo"}
CELL_TIMEOUT = 120  # seconds, per cell
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
MAX_SAVED_BYTES = 40_000


def _ids(path: Path) -> str:
    return path.stem


def run_notebook(nb, tmp_path: Path, km) -> None:
    """Execute ``nb`` in place (raises ``CellExecutionError`` on the first failing cell)."""
    client = nbclient.NotebookClient(
        nb,
        km=km,
        kernel_name=KERNEL_NAME,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working folder
        store_widget_state=False,
        shutdown_kernel="immediate",
    )
    # cleanup_kc: shut the kernel down afterwards (nbclient leaves a kernel it did not make).
    client.execute(cleanup_kc=True, env=kernel_env(tmp_path))


def outputs(nb) -> list[dict]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def test_the_four_notebooks_are_there():
    assert {p.stem for p in NOTEBOOKS} >= EXPECTED


@needs_kernel_packages
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_runs(path: Path, tmp_path: Path, kernel_manager):
    nb = nbformat.read(path, as_version=4)
    run_notebook(nb, tmp_path, kernel_manager())

    outs = outputs(nb)
    assert not [o for o in outs if o.output_type == "error"]
    # Exceptions raised in callbacks or tasks (not in the cell itself) land on stderr.
    stderr = "".join(o.text for o in outs if o.output_type == "stream" and o.name == "stderr")
    assert "Traceback" not in stderr, stderr
    # Each notebook shows the game at least once, as a widget.
    assert any(WIDGET_MIME in o.get("data", {}) for o in outs), "no GameView was displayed"
    # The kernel kept its data in the test's folder (the in-kernel host writes its token there).
    assert (tmp_path / "ccviz-home" / "token").is_file()


@needs_kernel_packages
def test_steering_notebook_runs_again_on_the_same_data(tmp_path: Path, kernel_manager):
    """Injected games are logged in ``CCVIZ_HOME``; running the notebook a second time (a
    user re-running it) must not trip over the first run's game."""
    path = ROOT / "notebooks" / "inspect-and-steer.ipynb"
    for _ in range(2):
        run_notebook(nbformat.read(path, as_version=4), tmp_path, kernel_manager())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_saved_notebook_is_clean(path: Path):
    """Saved without outputs, widget state or the front-end bundle; explained in markdown."""
    text = path.read_text()
    assert len(text.encode()) < MAX_SAVED_BYTES, f"{path.name} is {len(text)} bytes"
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert "widgets" not in nb.metadata
    assert "_esm" not in text
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook with no code"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert len(markdown) >= len(code) // 2, "explain the cells"
    json.loads(text)  # plain JSON, as Jupyter writes it


@needs_kernel_packages
def test_timeline_shows_one_figure(tmp_path: Path, kernel_manager):
    source = "\n".join(
        [
            "import ccviz_kernel as ccviz",
            "from ccviz_kernel import samples",
            "r = ccviz.connect().replay(samples.path('short', 'hooks'), play=False)",
            "r.seek(r.total)",
            "r.game.timeline()",
        ]
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    run_notebook(nb, tmp_path, kernel_manager())
    images = [o for o in outputs(nb) if "image/png" in o.get("data", {})]
    assert len(images) == 1
