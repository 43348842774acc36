"""The game state and the one way to change it, shared by every part of :class:`Game`.

Every change goes through :meth:`GameCore._set` / ``_inc`` / ``_del`` / ``_agent_set``, which
record a delta and apply it with the same function the views use, so the deltas cannot
drift from the state; effects go through ``_effect``. The bookkeeping every rule needs
(the event clock, how many agents are in each state and so the game status, the calls still
open) lives here too. Every part (``_agents``, ``_tools``, ``_todos``, ``_session``,
``_control``) is a mixin built on :class:`GameCore`; one that needs another's rules inherits
that part (``ToolRules`` builds on ``AgentRules`` and ``TodoRules``), so the dependencies
between parts are visible in the class statements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .deltas import Delta, apply_in_place, clone
from .speech import MAX_CAPTION, shorten

MAIN = "main"


@dataclass(slots=True)
class Spawn:
    """An ``Agent``/``Task`` call waiting for the subagent it starts."""

    use_id: str | None
    caller: str
    agent_type: str | None
    #: ``run_in_background``: its result comes at once, before the subagent starts.
    background: bool = False


@dataclass(slots=True)
class Scratch:
    """Bookkeeping that views never need (rebuilt from the log like everything else)."""

    pending: list[Spawn] = field(default_factory=list)
    by_agent: dict[str, Spawn] = field(default_factory=dict)
    open_calls: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    #: Every call id counted (a call is counted once, whichever event names it first: the
    #: ``PreToolUse``, its result, a permission event or the ``PostToolBatch``).
    seen_calls: set[str] = field(default_factory=set)
    #: Call ids whose outcome (success, failure, denial) has been counted.
    closed_calls: set[str] = field(default_factory=set)
    #: Calls a ``PostToolBatch`` closed as failed because no result had come.
    batch_failed: set[str] = field(default_factory=set)
    #: Open TaskCreate/TaskUpdate calls whose TaskCreated/TaskCompleted hook came.
    task_hooked: set[str] = field(default_factory=set)
    token_keys: set[str] = field(default_factory=set)


#: How many recent caption sentences a game remembers (they repeat: names × phrases).
CAPTIONS_KEPT = 256


class GameCore:
    """The state :class:`Game` owns (set up in ``Game.__init__``) and its primitives."""

    game_id: str
    _state: dict[str, Any]
    _scratch: Scratch
    _deltas: list[Delta]  # of the event being applied
    _effects: list[dict[str, Any]]  # of the event being applied
    _moved: bool  # an agent's state changed: the game status may follow
    _states: dict[str, int]  # how many agents are in each state
    _captions: dict[str, str]  # recent caption sentences → their redacted, cut text

    # -- the one way to change state ------------------------------------------------------

    def _set(self, path: tuple[Any, ...], value: Any) -> None:
        self._deltas.append(["set", list(path), value])
        target = self._state
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = clone(value) if isinstance(value, (dict, list)) else value

    def _inc(self, path: tuple[Any, ...], amount: int = 1) -> None:
        self._deltas.append(["inc", list(path), amount])
        target = self._state
        for key in path[:-1]:
            target = target[key]
        last = path[-1]
        target[last] = target.get(last, 0) + amount

    def _del(self, path: tuple[Any, ...]) -> None:
        delta = ["del", list(path)]
        self._deltas.append(delta)
        apply_in_place(self._state, [delta])

    def _agent_set(self, agent_id: str, **changes: Any) -> None:
        """One ``merge`` delta with the keys that really change."""
        agent = self._state["agents"][agent_id]
        changed = {k: v for k, v in changes.items() if agent[k] != v}
        if changed:
            new_state = changed.get("state")
            if new_state is not None:
                self._count_state(agent["state"], new_state)
            self._deltas.append(["merge", ["agents", agent_id], changed])
            for key, value in changed.items():
                agent[key] = clone(value) if isinstance(value, dict) else value

    def _caption(self, agent_id: str | None, doing: str) -> None:
        """Say in plain words what is happening now: "Explore #2 is searching the code…".

        ``doing`` finishes the sentence after the agent's name (or is the whole sentence
        when ``agent_id`` is None). The views show it as is, on every view alike.
        """
        agents = self._state["agents"]
        name = agents[agent_id]["name"] if agent_id in agents else None
        raw = f"{name} {doing}" if name else doing
        # The hot path: "… is thinking about what to do next" after every tool result, for
        # a handful of agents in turn: remember the redacted sentences of recent ones.
        known = self._captions
        text = known.get(raw)
        if text is None:
            if len(known) > CAPTIONS_KEPT:
                known.clear()
            text = known[raw] = shorten(raw, MAX_CAPTION)
        if text != self._state.get("caption"):
            self._set(("caption",), text)

    def _effect(self, kind: str, agent_id: str | None, text: str | None = None) -> None:
        effect: dict[str, Any] = {"kind": kind, "agentId": agent_id}
        if text:
            effect["text"] = text
        self._effects.append(effect)

    # -- bookkeeping ----------------------------------------------------------------------

    def _advance_clock(self, ts: float) -> None:
        ms = int(ts * 1000)
        state = self._state
        if state["startedAt"] is None:
            self._set(("startedAt",), ms)
        last = state["lastEventAt"]
        if last is None or ms > last:
            self._deltas.append(["set", ["lastEventAt"], ms])
            state["lastEventAt"] = ms

    def _count_state(self, old: str | None, new: str) -> None:
        states = self._states
        if old is not None:
            states[old] -= 1
        states[new] = states.get(new, 0) + 1
        self._moved = True

    def _update_status(self) -> None:
        state = self._state
        if state["status"] == "ended":
            return
        states = self._states
        if states.get("waiting"):
            status = "waiting"
        elif states.get("working") or states.get("thinking") or states.get("spawning"):
            status = "active"
        else:
            status = "idle"
        if status != state["status"]:
            self._set(("status",), status)

    def _close_calls(self, agent_id: str) -> None:
        calls = self._scratch.open_calls
        for use_id in [u for u, (owner, _) in calls.items() if owner == agent_id]:
            del calls[use_id]


def as_key(value: Any) -> str | None:
    """A payload value usable as a lookup key: only strings (others may be unhashable)."""
    return value if isinstance(value, str) else None
