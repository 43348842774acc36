"""``POST api/replays``: a recorded session sent to a running server, to watch in a browser.

``ccviz view FILE`` reads a transcript or hook log on the user's machine and sends its hook
payloads here in parts of at most 1 MiB (every route's body limit), the last one marked
``done``. The server then opens the recording as a replay game (not stored: replays never
are) with its position at the end, so its history is whole: every viewer plays it back
on its own playhead from any point, and the page's deep link starts it from the start.
The server never opens a path named in a request: the file is read by the client.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import PayloadError
from ..events import HookEvent, parse_event

if TYPE_CHECKING:
    from ..hub import Hub

#: A recording larger than this is refused (about a day of a very busy session).
MAX_EVENTS = 200_000
#: Parts of an upload that stops coming are dropped after this many seconds.
STALE_SECONDS = 300.0
#: Game ids: as long as a session id may be.
MAX_GAME_ID = 200


@dataclass
class _Pending:
    events: list[HookEvent] = field(default_factory=list)
    skipped: int = 0
    touched: float = field(default_factory=time.monotonic)


class ReplayUploads:
    """The uploads in progress on one server, by game id."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._pending: dict[str, _Pending] = {}

    def receive(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """One part of an upload → the HTTP status and the JSON answer."""
        try:
            part = json.loads(body)
        except ValueError as exc:
            return 400, {"ok": False, "error": f"invalid JSON: {exc}"}
        try:
            return 200, self._receive(part)
        except PayloadError as exc:
            return 400, {"ok": False, "error": str(exc)}

    def _receive(self, part: Any) -> dict[str, Any]:
        if not isinstance(part, dict) or not isinstance(part.get("events"), list):
            raise PayloadError("api/replays takes {gameId, events: [hook payload, …], done?}")
        game_id = part.get("gameId")
        if not isinstance(game_id, str) or not 0 < len(game_id) <= MAX_GAME_ID:
            raise PayloadError(f"'gameId' must be a string of 1 to {MAX_GAME_ID} characters")
        self._forget_stale()
        pending = self._pending.setdefault(game_id, _Pending())
        pending.touched = time.monotonic()
        for payload in part["events"]:
            try:
                pending.events.append(parse_event(payload, session_id=game_id))
            except PayloadError:
                pending.skipped += 1
        if len(pending.events) > MAX_EVENTS:
            del self._pending[game_id]
            raise PayloadError(f"a recording may hold at most {MAX_EVENTS} events")
        if part.get("done") is not True:
            return {"ok": True, "gameId": game_id, "received": len(pending.events)}
        del self._pending[game_id]
        return {**self.open(game_id, pending.events), "skipped": pending.skipped}

    def open(self, game_id: str, events: list[HookEvent]) -> dict[str, Any]:
        """Open ``events`` as a replay game positioned at its end (its history is whole)."""
        if not events:
            raise PayloadError("the recording holds no usable events")
        try:
            clock = self.hub.open_replay(events, game_id=game_id, play=False)
        except ValueError as exc:  # the id belongs to a stored game
            raise PayloadError(str(exc)) from None
        clock.seek(clock.total)
        return {"ok": True, "gameId": game_id, "events": clock.total, "url": f"view/{game_id}"}

    def _forget_stale(self) -> None:
        now = time.monotonic()
        for game_id in [g for g, p in self._pending.items() if now - p.touched > STALE_SECONDS]:
            del self._pending[game_id]
