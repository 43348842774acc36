"""Fixtures for the Jupyter host: pytest-jupyter's server, with the ccviz extension loaded."""

from __future__ import annotations

import pytest

# pytest-jupyter's fixtures and its hooks (async tests run through its pytest_pyfunc_call).
# Imported rather than listed in `pytest_plugins`, which pytest refuses outside the
# top-level conftest when the whole suite runs; this also keeps its hooks to this folder.
from pytest_jupyter.jupyter_server import *  # noqa: F403


@pytest.fixture
def jp_server_config():
    # The module itself, so these tests do not depend on the package-level re-export
    # (test_jupyter.py checks that one separately); terminals off, for speed.
    return {
        "ServerApp": {
            "jpserver_extensions": {
                "ccviz_kernel.hosts.jupyter": True,
                "jupyter_server_terminals": False,
            }
        }
    }


@pytest.fixture
def jp_base_url():
    # A plain prefix: python-socketio's aiohttp client rewrites pytest-jupyter's default
    # "/a%40b/" (tests that want an odd base URL parametrize jp_base_url).
    return "/jupyter/"
