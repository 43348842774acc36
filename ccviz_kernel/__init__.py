"""ccviz: Claude Code sessions as a live 2D game you can watch, replay and program.

Importing this package is cheap (the ``ccviz hook`` command starts on it): the server,
widget and Jupyter parts load on first use.
"""

from __future__ import annotations

from ._version import __version__

TYPE_CHECKING = False  # not imported from typing: that costs the hook command 5 ms
if TYPE_CHECKING:
    from .engine.deltas import apply_deltas
    from .engine.game import Applied, Game
    from .events import HookEvent, PayloadError, parse_event
    from .notebook import connect, load_ipython_extension
    from .notebook.widget import GameView
    from .store import EventStore

__all__ = [
    "Applied",
    "EventStore",
    "Game",
    "GameView",
    "HookEvent",
    "PayloadError",
    "__version__",
    "apply_deltas",
    "connect",
    "load_ipython_extension",
    "parse_event",
]

_LAZY = {
    "apply_deltas": "engine.deltas",
    "Applied": "engine.game",
    "Game": "engine.game",
    "HookEvent": "events",
    "PayloadError": "events",
    "parse_event": "events",
    "EventStore": "store",
    "GameView": "notebook.widget",
    "connect": "notebook",
    "load_ipython_extension": "notebook",
    "_jupyter_server_extension_points": "hosts.jupyter",
    "_load_jupyter_server_extension": "hosts.jupyter",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ccviz_kernel' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
