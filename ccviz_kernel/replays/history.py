"""A game's whole history for viewers that scrub: the state after any event, cheaply.

The history is built by replaying a game's events through a fresh engine :class:`Game` (the
rules live there only) and keeps, per event, its deltas, its effects and its time, plus a
snapshot every :data:`SNAPSHOT_EVERY` events. The state after event ``n`` is then one
snapshot copy plus at most ``SNAPSHOT_EVERY - 1`` events' deltas, never the whole history.
A history grows: :meth:`GameHistory.extend` feeds its private game the events that came
since (a live game's new log rows).

Markers and lanes are read off the engine's outputs, never from rules of their own: a
marker comes from an effect's kind (and, for the session's end, the event's name) or from a
todo the engine's state now shows completed; a lane from the agents the engine's deltas
touch. :class:`HistoryCache` keeps the histories of the most recently used games.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from ..engine.deltas import Delta, apply_in_place, clone
from ..engine.game import Applied, Game
from ..errors import PayloadError
from ..events import HookEvent

#: A snapshot is kept after every this many events.
SNAPSHOT_EVERY = 256
#: The most events' deltas one ``game-at`` answer carries.
MAX_COUNT = 1000
#: Histories kept in memory (the most recently used games).
CACHED_GAMES = 8

#: Effect kind → marker kind. A ``leave`` of the event ``SessionEnd`` is the marker ``end``.
_MARKER_OF_EFFECT = {
    "prompt": "prompt",
    "flash": "failure",
    "wait": "wait",
    "spawn": "spawn",
    "leave": "leave",
    "compact": "compact",
}
_END_EVENT = "SessionEnd"


class GameHistory:
    """Every event of one game, as the engine saw it. Not thread-safe (one owner)."""

    def __init__(self, game_id: str) -> None:
        self.game_id = game_id
        self._game = Game(game_id)
        self._deltas: list[list[Delta]] = []
        self._effects: list[list[dict[str, Any]]] = []
        self._times: list[int | None] = []
        #: Encoded size of each event's deltas and effects, measured when first asked.
        self._sizes: list[int | None] = []
        #: ``_snapshots[k]`` is the state after event ``k * SNAPSHOT_EVERY``.
        self._snapshots: list[dict[str, Any]] = [self._game.snapshot()]
        self._markers: list[dict[str, Any]] = []
        #: Agent id → seq of its first event, and seq when it left (``None``: still there).
        self._from: dict[str, int] = {}
        self._to: dict[str, int | None] = {}
        self._completed: set[tuple[str | None, str]] = set()

    @property
    def seq(self) -> int:
        """How many events the history covers."""
        return self._game.seq

    # -- growing -------------------------------------------------------------------------

    def extend(self, events: Iterable[HookEvent]) -> None:
        """Apply the events that follow the last one seen, in order."""
        for event in events:
            applied = self._game.apply(event)
            self._deltas.append(applied.deltas)
            self._effects.append(applied.effects)
            self._times.append(int(event.ts * 1000) if event.ts is not None else None)
            self._sizes.append(None)
            self._follow(event, applied)
            if applied.seq % SNAPSHOT_EVERY == 0:
                self._snapshots.append(self._game.snapshot())

    def _follow(self, event: HookEvent, applied: Applied) -> None:
        """Markers and lanes from what the engine just did."""
        seq = applied.seq
        for effect in applied.effects:
            kind = _MARKER_OF_EFFECT.get(effect["kind"])
            if kind is not None:
                if kind == "leave" and event.name == _END_EVENT:
                    kind = "end"
                self._mark(seq, kind, effect.get("agentId"), effect.get("text"))
        agents: set[str] | None = set()
        todos = False
        for delta in applied.deltas:
            path = delta[1]
            if path[0] == "agents":
                if len(path) == 1:
                    agents = None  # the whole map was set: look at every agent
                elif agents is not None:
                    agents.add(path[1])
            elif path[0] == "todos":
                todos = True
        state = self._game.peek("agents")
        for agent_id in state if agents is None else agents:
            agent = state.get(agent_id)
            if agent is None:
                continue
            if agent_id not in self._from:
                self._from[agent_id] = seq
                self._to[agent_id] = None
            if agent["state"] == "left":
                if self._to[agent_id] is None:
                    self._to[agent_id] = seq
            else:
                self._to[agent_id] = None
        if todos:
            self._follow_todos(seq, applied)

    def _follow_todos(self, seq: int, applied: Applied) -> None:
        completed = {
            (todo.get("id"), todo["content"])
            for todo in self._game.peek("todos")
            if todo.get("status") == "completed"
        }
        new = completed - self._completed
        self._completed = completed
        if not new:
            return
        # The agent the event was about, as the engine's outputs name it.
        agent_id = next((e.get("agentId") for e in applied.effects), None)
        if agent_id is None:
            agent_id = next(
                (d[1][1] for d in applied.deltas if d[1][0] == "agents" and len(d[1]) > 1), None
            )
        for todo in self._game.peek("todos"):
            if (todo.get("id"), todo["content"]) in new:
                self._mark(seq, "todo", agent_id, todo["content"])

    def _mark(self, seq: int, kind: str, agent_id: str | None, text: str | None) -> None:
        self._markers.append({"seq": seq, "kind": kind, "agentId": agent_id, "text": text or ""})

    # -- reading -------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """``{seq, times, markers, lanes}`` of the ``game-history`` ack (copies)."""
        agents = self._game.peek("agents")
        lanes = [
            {
                "agentId": agent_id,
                "name": agents[agent_id]["name"],
                "kind": agents[agent_id]["kind"],
                "type": agents[agent_id]["type"],
                "parent": agents[agent_id]["parent"],
                "from": first,
                "to": self._to[agent_id],
            }
            for agent_id, first in self._from.items()
            if agent_id in agents
        ]
        return {
            "seq": self.seq,
            "times": list(self._times),
            "markers": [dict(m) for m in self._markers],
            "lanes": lanes,
        }

    def state_at(self, seq: int) -> dict[str, Any]:
        """The snapshot after event ``seq`` (clamped to ``0 … self.seq``), a fresh copy."""
        at = max(0, min(seq, self.seq))
        base = at // SNAPSHOT_EVERY
        state = clone(self._snapshots[base])
        for deltas in self._deltas[base * SNAPSHOT_EVERY : at]:
            apply_in_place(state, deltas)
        return state

    def at(
        self, seq: int, count: int = 0, *, budget: int | None = None
    ) -> tuple[int, dict[str, Any], list[list[Delta]], list[list[dict[str, Any]]]]:
        """``(at, snapshot, deltas, effects)``: the state after event ``at`` (``seq``
        clamped to ``0 … self.seq``) and the deltas and effects of the events after it, at
        most ``count`` of them (and at most :data:`MAX_COUNT`).

        With ``budget``, fewer events are given when the snapshot and the deltas together
        would take more than ``budget`` bytes of JSON (msgpack is never bigger for these
        shapes); the snapshot always comes. The lists returned are the history's own:
        do not change them.
        """
        at = max(0, min(seq, self.seq))
        snapshot = self.state_at(at)
        end = min(self.seq, at + max(0, min(count, MAX_COUNT)))
        if budget is not None and end > at:
            used = _size(snapshot)
            stop = at
            while stop < end:
                used += self._size_of(stop)
                if used > budget:
                    break
                stop += 1
            end = stop
        return at, snapshot, self._deltas[at:end], self._effects[at:end]

    def at_ack(self, game_id: str, seq: Any, count: Any = 0, *, budget: int) -> dict[str, Any]:
        """The ``game-at`` ack (docs/protocol.md §3), for the server and the widget comm
        alike; ``seq`` and ``count`` are checked here."""
        if not is_int(seq) or not is_int(count) or count < 0:
            raise PayloadError("game-at needs {gameId: string, seq: integer, count?: integer >= 0}")
        at, snapshot, deltas, effects = self.at(seq, count, budget=budget)
        return {
            "ok": True,
            "gameId": game_id,
            "total": self.seq,
            "at": at,
            "snapshot": snapshot,
            "deltas": deltas,
            "effects": effects,
        }

    def _size_of(self, index: int) -> int:
        size = self._sizes[index]
        if size is None:
            size = _size(self._deltas[index]) + _size(self._effects[index]) + 2
            self._sizes[index] = size
        return size


def is_int(value: Any) -> bool:
    """An integer that is not a boolean (JSON's ``true`` must not pass for 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


class HistoryCache:
    """The histories of the :data:`CACHED_GAMES` most recently used games.

    Each entry remembers the source it was built from (the store, or a replay's clock): a
    game whose source changed (a replay opened again under the same id) starts afresh.
    """

    def __init__(self, capacity: int = CACHED_GAMES) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, tuple[object, GameHistory]] = OrderedDict()

    def get(self, game_id: str, source: object) -> GameHistory:
        """The history of ``game_id`` built from ``source`` (an empty one the first time)."""
        entry = self._entries.get(game_id)
        if entry is not None and entry[0] is source:
            self._entries.move_to_end(game_id)
            return entry[1]
        history = GameHistory(game_id)
        self._entries[game_id] = (source, history)
        self._entries.move_to_end(game_id)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        return history

    def drop(self, game_id: str) -> None:
        self._entries.pop(game_id, None)

    def __contains__(self, game_id: object) -> bool:
        return game_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)
