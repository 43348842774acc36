"""Which session a ``/clear`` carried on from: two games, linked.

``/clear`` ends a session (``SessionEnd`` with ``reason: "clear"``) and starts a new one with
a new id (``SessionStart`` with ``source: "clear"``), in the same folder, a moment later.
The new session is its own game (its own transcript, its own log: a replay of either file
gives exactly that session), and its ``SessionStart`` is given the old id under
:data:`CONTINUES` before it is logged, so the game, the lobby and every replay of the log
show the link. (``--continue``, ``--resume`` and compaction keep the session id: those
stay one game.)

Pure: the hub and hook-log replays feed it the events in the order they apply them.
"""

from __future__ import annotations

from ..events import HookEvent
from ._session import CONTINUES

__all__ = ["CONTINUES", "SessionLinks"]

#: How long after the clear the new session may start, in seconds.
LINK_WINDOW = 30.0


class SessionLinks:
    """Remembers the last cleared session per folder until the session after it starts."""

    def __init__(self) -> None:
        self._cleared: dict[str | None, tuple[str, float | None]] = {}

    def link(self, event: HookEvent) -> None:
        """Note a clear, or add :data:`CONTINUES` to the ``SessionStart`` that follows it."""
        if event.name == "SessionEnd":
            if event.get("reason") == "clear":
                self._cleared[_folder(event)] = (event.session_id, event.ts)
            return
        if event.name != "SessionStart" or event.get("source") != "clear":
            return
        if CONTINUES in event.payload:
            return
        cleared = self._cleared.pop(_folder(event), None)
        if cleared is None or cleared[0] == event.session_id:
            return
        then, now = cleared[1], event.ts
        if then is not None and now is not None and not 0 <= now - then <= LINK_WINDOW:
            return
        event.payload = {**event.payload, CONTINUES: cleared[0]}
        event.text = None  # logged as changed


def _folder(event: HookEvent) -> str | None:
    cwd = event.get("cwd")
    return cwd if isinstance(cwd, str) else None
