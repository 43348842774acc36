"""The game state and the one way to change it, shared by every part of :class:`Game`.

Every change goes through :meth:`GameCore._set` / ``_inc`` / ``_del`` / ``_agent_set``, which
record a delta and apply it with the same function the views use, so the deltas cannot
drift from the state; effects go through ``_effect``. The few paths every event or tool call
takes (``Game.apply``'s clock and status, ``_count_call``, ``_caption``, and the common cases
of ``ToolRules._on_pre_tool`` and ``_finish_use``) record the same deltas and make the same
changes by hand, for the engine's throughput budget (docs/design.md §8);
tests/test_engine_fastpaths.py checks that every event's deltas rebuild the state and
that no delta shares an object with it. The bookkeeping every rule needs (how many agents
are in each state, the calls still open) lives here too. Every part (``_agents``,
``_tools``, ``_todos``, ``_session``, ``_control``) is a mixin built on :class:`GameCore`;
one that needs another's rules inherits that part (``ToolRules`` builds on ``AgentRules``
and ``TodoRules``), so the dependencies between parts are visible in the class statements.
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
    #: How many PermissionRequests the game has seen (the ids of those nobody can answer).
    requests: int = 0


#: Recent caption sentences, by their parts (``(name, doing)``; ``_on_pre_tool``'s are
#: ``(name, "is ", doing)``) → their redacted, cut text (``shorten(raw, MAX_CAPTION)``, a
#: pure function of the sentence), shared by every game: they repeat within a session
#: (names × phrases) and across sessions ("Claude is thinking about what to do next"), and
#: a game's own table started empty in every new game. Emptied when full.
CAPTIONS: dict[tuple[str | None, ...], str] = {}
#: How many caption sentences :data:`CAPTIONS` holds at most (some 250 bytes each): the
#: 10,000-event replay of bench/engine_bench.py has 2,704 different ones, and a replay
#: clock seeking back rebuilds its game from the start, saying them all again.
CAPTIONS_KEPT = 4096


class GameCore:
    """The state :class:`Game` owns (set up in ``Game.__init__``) and its primitives."""

    game_id: str
    _state: dict[str, Any]
    _scratch: Scratch
    _deltas: list[Delta]  # of the event being applied
    _effects: list[dict[str, Any]]  # of the event being applied
    _moved: bool  # an agent's state changed: the game status may follow
    _states: dict[str, int]  # how many agents are in each state
    _captions: dict[tuple[str | None, ...], str]  # CAPTIONS: a sentence's parts → its text
    _tool_places: dict[str, str]  # tool → its place under the current rules and places

    # -- the one way to change state ------------------------------------------------------

    def _set(self, path: tuple[Any, ...], value: Any) -> None:
        self._deltas.append(["set", list(path), value])
        target = self._state
        if len(path) > 1:
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
        """One ``merge`` delta with the keys that really change.

        Asked on most tool events: ``_count_state`` is inlined and the values are copied
        in with one ``update`` (only dicts need a copy of their own), one of the changes
        that took parse + apply of the long session from 99k towards its 150k lines/s
        budget (bench/engine_bench.py). ``_on_pre_tool`` and ``_finish_use`` write their
        own common cases out."""
        agent = self._state["agents"][agent_id]
        changed = {k: v for k, v in changes.items() if agent[k] != v}
        if changed:
            new_state = changed.get("state")
            if new_state is not None:
                states = self._states
                old = agent["state"]
                if old is not None:
                    states[old] -= 1
                states[new_state] = states.get(new_state, 0) + 1
                self._moved = True
            self._deltas.append(["merge", ["agents", agent_id], changed])
            agent.update(changed)
            for key, value in changed.items():
                if isinstance(value, dict):
                    agent[key] = clone(value)

    def _caption(self, agent_id: str | None, doing: str) -> None:
        """Say in plain words what is happening now: "Explore #2 is searching the code…".

        ``doing`` finishes the sentence after the agent's name (or is the whole sentence
        when ``agent_id`` is None). The views show it as is, on every view alike.
        """
        agents = self._state["agents"]
        name = agents[agent_id]["name"] if agent_id in agents else None
        # The hot path: "… is thinking about what to do next" after every tool result, for
        # a handful of agents in turn: remember the redacted sentences of recent ones, by
        # their parts (strings the game holds already: their hashes are known).
        known = self._captions
        key = (name, doing)
        text = known.get(key)
        if text is None:
            if len(known) > CAPTIONS_KEPT:
                known.clear()
            raw = f"{name} {doing}" if name else doing
            text = known[key] = shorten(raw, MAX_CAPTION)
        state = self._state
        if text != state["caption"]:
            # ``_set(("caption",), text)``, inlined: a caption changes on most tool events.
            self._deltas.append(["set", ["caption"], text])
            state["caption"] = text

    def _effect(self, kind: str, agent_id: str | None, text: str | None = None) -> None:
        effect: dict[str, Any] = {"kind": kind, "agentId": agent_id}
        if text:
            effect["text"] = text
        self._effects.append(effect)

    # -- bookkeeping ----------------------------------------------------------------------

    def _count_state(self, old: str | None, new: str) -> None:
        states = self._states
        if old is not None:
            states[old] -= 1
        states[new] = states.get(new, 0) + 1
        self._moved = True

    def _close_calls(self, agent_id: str) -> None:
        calls = self._scratch.open_calls
        for use_id in [u for u, (owner, _) in calls.items() if owner == agent_id]:
            del calls[use_id]


def as_key(value: Any) -> str | None:
    """A payload value usable as a lookup key: only strings (others may be unhashable)."""
    return value if isinstance(value, str) else None
