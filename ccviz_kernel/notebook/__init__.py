"""The notebook face of ccviz: ``connect()``, live game handles, replays and magics."""

from __future__ import annotations

from typing import Any

from .connect import Connection, connect
from .handles import (
    AgentHandle,
    GameHandle,
    GameNotFound,
    PendingRequests,
    PermissionRequest,
    PermissionRule,
    ReplayController,
)

__all__ = [
    "AgentHandle",
    "Connection",
    "GameHandle",
    "GameNotFound",
    "PendingRequests",
    "PermissionRequest",
    "PermissionRule",
    "ReplayController",
    "connect",
    "load_ipython_extension",
]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext ccviz_kernel``: registers the ``%ccviz`` magic."""
    from .magics import ccviz_magic

    ipython.register_magic_function(ccviz_magic, magic_kind="line", magic_name="ccviz")
