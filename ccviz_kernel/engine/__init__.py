"""The game rules: pure, deterministic, no I/O and no asyncio.

``Game.apply(event)`` turns one event into the next state (seq, deltas, effects); the same
events always give the same game, so a game rebuilt from its log is the game everyone saw.
"""

from .game import Applied, Game

__all__ = ["Applied", "Game"]
