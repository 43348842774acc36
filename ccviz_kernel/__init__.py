"""ccviz: Claude Code sessions as a live 2D game you can watch, replay and program.

Every Claude Code session is a game: its agents are characters walking between the places
of a town (a ``Read`` sends one to the library, a ``Bash`` to the workshop), its todos a
quest board. In a notebook or a script::

    import ccviz_kernel as ccviz
    conn = ccviz.connect()                    # the Jupyter server's ccviz, else one in this process
    game = conn.game(next(iter(conn.games)))  # a live game: agents, rules, stats, events
    game.agents["main"].place, game.stats()   # read the live state
    game.view()                               # the town, inline (a GameView widget)

The public API (``__all__``):

* :func:`connect` gives a :class:`~ccviz_kernel.notebook.Connection`: ``games``,
  ``game(id)`` (a :class:`~ccviz_kernel.notebook.GameHandle`), ``replay(path)`` (a
  :class:`~ccviz_kernel.notebook.ReplayController`), ``view(id)``;
  :func:`load_ipython_extension` is ``%load_ext ccviz_kernel`` (the ``%ccviz`` magic).
* :class:`GameView`: the widget that shows one game (``GameView(game_id, hub=...)``).
* :class:`Game`, :class:`Applied`, :func:`apply_deltas`: the game rules, pure and
  deterministic: ``Game.apply(event)`` returns the deltas that a view applies.
* :class:`HookEvent`, :func:`parse_event`, :class:`PayloadError`: one validated hook event.
* :class:`EventStore`: the append-only SQLite log every game is rebuilt from.

Importing this package is cheap (the ``ccviz hook`` command starts on it): the server,
widget and Jupyter parts load on first use. ``make docs`` builds the API reference (pdoc)
into ``build/api/``.
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


def __dir__() -> list[str]:
    """The public API and the module's own dunders, not the names its imports leave behind."""
    return sorted(
        {*__all__, "__doc__", "__file__", "__name__", "__package__", "__path__", "__spec__"}
    )
