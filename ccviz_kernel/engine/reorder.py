"""The reorder window: events that arrived before their cause wait for it, briefly.

Claude Code runs hooks concurrently (async command hooks, http hooks sent side by side), so
they reach the server a few milliseconds out of the order it fired them: a ``PostToolUse``
before its ``PreToolUse``, a subagent's first call before its ``SubagentStart``, the
``Stop`` while the turn's last result is still on its way. Applied as they come, the final
game is right (the rules count every call once, whatever the order) but the picture in
between is wrong. So an event whose cause the game has not seen yet is held, at most
:data:`~ccviz_kernel.config.REORDER_WINDOW` seconds, and applied as soon as the cause
arrives; when the window ends it is applied anyway, so nothing is reordered across a gap
longer than the window, and an event whose cause was lost only waits that long.

Pure like the rest of the engine: the hub passes the time in and applies what comes out.
Only :func:`waits_for` and the turn order (:func:`rank`) know the game rules;
:class:`ReorderBuffer` is bookkeeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..claude.hooks import SPAWN_TOOLS
from ..claude.results import refusal
from ..events import HookEvent
from ._core import MAIN
from ._todos import unhooked_task_call
from .game import Game

#: Events that end a turn: they wait while their agent still has calls open.
_TURN_ENDS = frozenset({"Stop", "SubagentStop"})
_RESULTS = frozenset({"PostToolUse", "PostToolUseFailure", "PermissionDenied"})

#: Where an event comes in a turn when Claude Code fires it: calls, then their results,
#: then the batch, then the turn's end, then the session's. Held events are released in
#: this order, and an event waits behind held events of a lower rank.
_RANK = {
    "PostToolUse": 1,
    "PostToolUseFailure": 1,
    "PermissionDenied": 1,
    "PostToolBatch": 2,
    "Stop": 3,
    "StopFailure": 3,
    "SubagentStop": 3,
    "SessionEnd": 4,
}


def rank(event: HookEvent) -> int:
    """The event's place in a turn (0 for everything that starts something)."""
    return _RANK.get(event.name, 0)


def waits_for(game: Game, event: HookEvent) -> bool:
    """Whether ``event`` came before something it follows when Claude Code fires it."""
    name = event.name
    if name.startswith("ccviz."):
        return False
    if name == "SubagentStart":
        scratch = game._scratch
        known = event.agent_id in game.peek("agents") or event.agent_id in scratch.by_agent
        if not scratch.pending and not known:
            return True  # before the Agent call that spawns it
        # A background spawn's result comes before its subagent starts.
        return any(s.background and s.use_id in scratch.open_calls for s in scratch.pending)
    if name == "SessionEnd":  # the session's last word: after every call it made
        return bool(game._scratch.open_calls)
    scratch = game._scratch
    agents = game.peek("agents")
    agent_id = event.agent_id
    if agent_id and agent_id != MAIN and agent_id not in agents and event.agent_type:
        return True  # before its SubagentStart (the compaction helper has no type, no start)
    use_id = event.tool_use_id
    if name in _RESULTS:
        if use_id and use_id not in scratch.seen_calls:
            return True  # before its PreToolUse
        if name == "PostToolUse" and event.tool_name in SPAWN_TOOLS:
            return _child_not_done(agents, event.get("tool_response"))
        if name == "PostToolUse" and event.tool_name in _TASK_TOOLS:
            return _task_hook_pending(game.peek("todos"), event)
        return False
    if name == "PermissionRequest":  # asked while its call runs: after its PreToolUse
        return not _has_open_call(scratch, agent_id or MAIN, event.tool_name)
    if name in _TASK_HOOKS:  # fired while its TaskCreate/TaskUpdate call runs
        return unhooked_task_call(scratch, agent_id or MAIN, _TASK_HOOKS[name]) is None
    if name == "PostToolBatch":
        return any(_result_pending(scratch, call) for call in _calls(event))
    if name in _TURN_ENDS:
        owner = agent_id or MAIN
        return any(o == owner for o, _ in scratch.open_calls.values())
    return False


def _has_open_call(scratch: Any, agent_id: str, tool: str | None) -> bool:
    return any(o == agent_id and c.get("name") == tool for o, c in scratch.open_calls.values())


def _calls(event: HookEvent) -> Iterator[dict[str, Any]]:
    calls = event.get("tool_calls")
    if isinstance(calls, list):
        yield from (c for c in calls[:1000] if isinstance(c, dict))


def _result_pending(scratch: Any, call: dict[str, Any]) -> bool:
    """A call the batch lists whose ``PreToolUse`` may still be on its way.

    A call that is open (its ``PreToolUse`` came, its result did not) is not waited for:
    Claude Code fires a call's result before the batch, so such a call was denied (no
    result event fires then), and waiting would only hold the turn's next call behind it.
    Should its result still come, it corrects the count (see ``ToolRules._on_tool_batch``).
    """
    use_id = call.get("tool_use_id")
    if not isinstance(use_id, str) or use_id in scratch.seen_calls:
        return False
    # Refused by validation: nothing else will ever name it.
    return refusal(call.get("tool_response")) is None


#: Task tools whose hook (``TaskCreated``, ``TaskCompleted``) fires while the call runs.
_TASK_TOOLS = frozenset({"TaskCreate", "TaskUpdate"})
_TASK_HOOKS = {"TaskCreated": "TaskCreate", "TaskCompleted": "TaskUpdate"}


def _task_hook_pending(todos: list[dict[str, Any]], event: HookEvent) -> bool:
    """A task call's result comes after the TaskCreated/TaskCompleted hook it fired."""
    if event.tool_name == "TaskCreate":
        response = event.get("tool_response")
        task = response.get("task") if isinstance(response, dict) else None
        task_id = task.get("id") if isinstance(task, dict) else None
        return task_id is not None and not any(t.get("id") == str(task_id) for t in todos)
    tool_input = event.get("tool_input") or {}
    if tool_input.get("status") != "completed":
        return False
    task_id = str(tool_input.get("taskId"))
    return any(t.get("id") == task_id and t.get("status") != "completed" for t in todos)


def _child_not_done(agents: dict[str, Any], response: Any) -> bool:
    """A foreground spawn's result comes after its subagent stopped."""
    if not isinstance(response, dict):
        return False
    child = response.get("agentId")
    if not isinstance(child, str) or response.get("status") == "async_launched":
        return False  # a background spawn returns at once, before its subagent starts
    agent = agents.get(child)
    return agent is None or agent["state"] != "left"


def _behind(event: HookEvent, held: list[Held]) -> bool:
    """Whether a held event comes before ``event`` in its agent's turn (any agent's, for
    ``SessionEnd``)."""
    mine = rank(event)
    if mine == 0:
        return False
    agent = event.agent_id or MAIN
    return any(
        0 < rank(h.event) < mine  # what starts something (rank 0) holds nothing up
        and (mine == _SESSION_END or (h.event.agent_id or MAIN) == agent)
        for h in held
    )


_SESSION_END = _RANK["SessionEnd"]


@dataclass(slots=True)
class Held:
    """One event waiting for its cause, with what the hub needs to log it later."""

    event: HookEvent
    key: str | None
    deadline: float


class ReorderBuffer:
    """The held events of every game, in arrival order."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._held: dict[str, list[Held]] = {}

    def __len__(self) -> int:
        return sum(len(items) for items in self._held.values())

    def hold(self, game_id: str, event: HookEvent, key: str | None, now: float) -> None:
        self._held.setdefault(game_id, []).append(Held(event, key, now + self.window))

    def behind(self, game_id: str, event: HookEvent) -> bool:
        """Whether a held event of the game comes before ``event`` in a turn: then it waits
        too (a ``Stop`` behind the batch that is waiting for its last result)."""
        items = self._held.get(game_id)
        return bool(items) and _behind(event, items)

    def holds(self, game_id: str, key: str | None) -> bool:
        """Whether a delivery with ``key`` is already waiting (a retried spooled event)."""
        return key is not None and any(h.key == key for h in self._held.get(game_id, ()))

    def take_ready(self, game_id: str, game: Game) -> Held | None:
        """The first held event of the game whose cause has now arrived, removed."""
        items = self._held.get(game_id)
        if not items:
            return None
        for i, held in enumerate(items):
            if _behind(held.event, [h for h in items if h is not held]):
                continue  # behind another held event of the turn
            if not waits_for(game, held.event):
                del items[i]
                if not items:
                    del self._held[game_id]
                return held
        return None

    def take_due(self, now: float) -> list[tuple[str, Held]]:
        """Every held event of each game one of whose windows has ended, removed, in the
        order a turn fires them (then arrival order): nothing held waits any longer for a
        cause that did not come, and what was held behind it follows it."""
        due: list[tuple[str, Held]] = []
        for game_id in list(self._held):
            items = self._held[game_id]
            if any(h.deadline <= now for h in items):
                del self._held[game_id]
                ordered = sorted(enumerate(items), key=lambda p: (rank(p[1].event), p[0]))
                due.extend((game_id, h) for _, h in ordered)
        return due

    def take_game(self, game_id: str) -> list[Held]:
        """Everything held for one game (it is closing), removed."""
        return self._held.pop(game_id, [])

    def next_deadline(self) -> float | None:
        deadlines = [h.deadline for items in self._held.values() for h in items]
        return min(deadlines) if deadlines else None
