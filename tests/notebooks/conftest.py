"""Real ipykernels for the notebook and magic tests.

Every kernel runs this interpreter (a kernelspec of our own, so a ``python3`` kernelspec in
the user's Jupyter folders can never pick another Python), in a temporary working folder,
with its own ``CCVIZ_HOME``, ``IPYTHONDIR`` and no ccviz token from the environment: the
tests never read or write the user's data, settings or Claude Code configuration.
"""

from __future__ import annotations

import json
import sys

import pytest
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager

from .support import KERNEL_NAME


@pytest.fixture(scope="session")
def kernel_specs(tmp_path_factory) -> KernelSpecManager:
    """Only our kernelspec: ``python3`` is this interpreter, whatever the user has."""
    root = tmp_path_factory.mktemp("kernels")
    spec_dir = root / KERNEL_NAME
    spec_dir.mkdir()
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "ccviz tests",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(root)], ensure_native_kernel=False)


@pytest.fixture
def kernel_manager(kernel_specs):
    """A (not yet started) kernel manager for this interpreter."""

    def make() -> KernelManager:
        return KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=kernel_specs)

    return make
