"""The socket.io server core (needs python-socketio; imported only by hosts)."""

from .auth import Auth
from .core import GameServer, HttpAnswer, room

__all__ = ["Auth", "GameServer", "HttpAnswer", "room"]
