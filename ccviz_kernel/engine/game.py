"""The game rules: a Claude Code session as a town full of characters.

Pure and deterministic: no I/O, no clock, no asyncio. ``Game.apply(event)`` returns the
new ``seq``, the deltas that turn the previous snapshot into the new one, and the
transient effects (speech bubbles, flashes) for views. Times come from the events only,
so the same events always give the same game, which is what makes replays, rebuilds
from the log and several servers agree.

This module is the public face and the dispatch; the rules live in private parts, one
concern each, that :class:`Game` composes as mixins over :class:`~._core.GameCore`:

* ``_core``: the state's primitives (every change goes through ``_set`` / ``_inc`` /
  ``_del`` / ``_agent_set``, which record a delta and apply it with the same function the
  views use, so the deltas cannot drift from the state) and the agents' state counts
  (``apply`` itself moves the clock and sets the game status from them);
* ``_agents``: creating characters, linking subagents to their spawn calls;
* ``_tools``: tool calls, their results, failures and permissions;
* ``_todos``: the quest board (``TodoWrite`` and the ``Task*`` tools and hooks);
* ``_session``: session start and end, prompts and stops, waits, compaction, tokens;
* ``_control``: our ``ccviz.*`` control events and their validation.

``_HANDLERS`` below says which method handles each event.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..events import HookEvent
from ._control import ControlRules
from ._core import CAPTIONS, MAIN, Scratch
from ._permissions import ANSWERS as PERMISSION_ANSWERS
from ._permissions import MOVES_ON, PermissionRules
from ._session import WAITING_NOTIFICATIONS, SessionRules
from ._tools import ToolRules
from .deltas import Delta, clone
from .speech import shorten
from .town import default_places, default_rules

__all__ = ["MAIN", "PERMISSION_ANSWERS", "WAITING_NOTIFICATIONS", "Applied", "Game"]


class Applied(NamedTuple):
    """What :meth:`Game.apply` did: the game's new ``seq``, the ``deltas`` that turn the
    previous snapshot into the new one (:func:`~ccviz_kernel.apply_deltas`), and the
    transient ``effects`` for views (speech bubbles, flashes), each stamped with ``seq``.

    >>> from ccviz_kernel import parse_event
    >>> applied = Game("s1").apply(parse_event({"hook_event_name": "Stop", "session_id": "s1"}))
    >>> applied.seq, applied.deltas[0], applied.reset
    (1, ['set', ['seq'], 1], False)
    """

    seq: int
    deltas: list[Delta]
    effects: list[dict[str, Any]]
    #: True when the game was rebuilt (a replay seeking back): ``deltas`` then set every
    #: top-level key, so they turn any earlier state into the new one.
    reset: bool = False


#: What ``_deltas`` and ``_effects`` hold between events: nothing may be recorded then.
_BETWEEN_EVENTS: tuple[()] = ()

#: ``Applied(seq, deltas, effects)`` without the generated ``__new__``'s Python frame (the
#: same tuple: one is made per event).
_new_applied = tuple.__new__

# The generated ``__new__`` names no module: pdoc (the API reference, make docs) then cannot
# resolve its annotations (``list[Delta]``) and warns. This module is where they resolve.
Applied.__new__.__module__ = __name__


class Game(SessionRules, ToolRules, ControlRules, PermissionRules):
    """One Claude Code session. Not thread-safe: one owner applies events in order.

    Feed it parsed events; read its state with :meth:`snapshot` (a copy) or :meth:`peek`:

    >>> from ccviz_kernel import parse_event
    >>> game = Game("s1")
    >>> game.apply(parse_event(
    ...     {"hook_event_name": "PreToolUse", "session_id": "s1", "tool_name": "Read",
    ...      "tool_input": {"file_path": "a.py"}, "tool_use_id": "t1"}, ts=1700000000.0
    ... )).effects
    [{'kind': 'say', 'agentId': 'main', 'text': 'Reading a.py', 'seq': 1}]
    >>> game.peek("agents", "main", "place"), game.seq
    ('library', 1)
    """

    def __init__(self, game_id: str) -> None:
        self.game_id = game_id
        self._state = {
            "gameId": game_id,
            "seq": 0,
            "title": None,
            #: The prompt being worked on (the title stays the first one).
            "prompt": None,
            #: One plain sentence: what is happening now.
            "caption": None,
            "cwd": None,
            "model": None,
            #: The session this one carries on from (a ``/clear`` starts a new session id:
            #: its game names the one it cleared), or None.
            "continues": None,
            "status": "idle",
            "startedAt": None,
            "lastEventAt": None,
            "agents": {},
            "places": default_places(),
            "rules": default_rules(),
            "stats": {
                "prompts": 0,
                "toolCalls": {},
                "placeCalls": {},
                "failures": 0,
                "subagents": 0,
                "tokens": None,
            },
            "todos": [],
            #: Permission requests (protocol.md §14): the open ones and the last closed.
            "permissions": {},
        }
        self._scratch = Scratch()
        self._deltas = self._effects = _BETWEEN_EVENTS  # type: ignore[assignment]
        self._moved = False
        self._states = {}
        self._captions = CAPTIONS
        self._tool_places = {}
        self._open_requests = 0
        #: The error a rule raised on the last event, or None (the hub logs it and clears it).
        self.failure: Exception | None = None

    @property
    def seq(self) -> int:
        """How many events the game has applied (``0``: none yet); deltas carry it too.

        >>> Game("s1").seq
        0
        """
        return self._state["seq"]

    def snapshot(self) -> dict[str, Any]:
        """The whole state as plain JSON-able data (a copy: safe to keep and change).

        >>> state = Game("s1").snapshot()
        >>> state["gameId"], state["status"], list(state["agents"])
        ('s1', 'idle', [])
        """
        return clone(self._state)

    def reset_deltas(self) -> Applied:
        """Deltas that turn any state into this one (after a rebuild, ``seq`` may go back)."""
        return Applied(self.seq, [["set", [k], v] for k, v in self.snapshot().items()], [], True)

    def peek(self, *path: str) -> Any:
        """Read part of the live state without copying it (callers must not change it).

        >>> Game("s1").peek("stats", "prompts")
        0
        """
        value: Any = self._state
        for key in path:
            value = value[key]
        return value

    def apply(self, event: HookEvent) -> Applied:
        """Advance the game by one event. Never raises for a parsed event.

        >>> from ccviz_kernel import apply_deltas, parse_event
        >>> game = Game("s1")
        >>> before = game.snapshot()
        >>> applied = game.apply(parse_event({"hook_event_name": "Stop", "session_id": "s1"}))
        >>> apply_deltas(before, applied.deltas) == game.snapshot()
        True
        """
        # The clock and the game status are worked out here, not in methods of their own:
        # this runs once per event, and its own cost was a fifth of the engine's (parse +
        # apply of the long session: 99k lines/s, the budget 150k; bench/engine_bench.py).
        state = self._state
        seq = state["seq"] + 1
        state["seq"] = seq
        self._deltas = deltas = [["set", ["seq"], seq]]
        self._effects = effects = []
        ts = event.ts
        if ts is not None:
            ms = int(ts * 1000)
            if state["startedAt"] is None:
                deltas.append(["set", ["startedAt"], ms])
                state["startedAt"] = ms
            last = state["lastEventAt"]
            if last is None or ms > last:
                deltas.append(["set", ["lastEventAt"], ms])
                state["lastEventAt"] = ms
        if MAIN not in state["agents"]:
            self._add_main()
        payload = event.payload
        if "usage" in payload or "model" in payload or "context_tokens" in payload:
            self._take_usage(event)
        name = event.name
        if self._open_requests and name in MOVES_ON:  # one int test on most events
            self._settle_agent(self._agent_for(event), name)
        handler = _HANDLERS.get(name)
        if handler is not None:
            try:
                handler(self, event)
            except Exception as error:  # a rule's bug must not stop the game: see _failed
                self._failed(event, error)
        elif name not in _SILENT:
            self._effect("event", self._agent_for(event), shorten(name))
        if self._moved:  # an agent's state changed: the game status may follow
            self._moved = False
            status = state["status"]
            if status != "ended":
                states = self._states
                if states.get("waiting"):
                    new_status = "waiting"
                elif states.get("working") or states.get("thinking") or states.get("spawning"):
                    new_status = "active"
                else:
                    new_status = "idle"
                if new_status != status:
                    deltas.append(["set", ["status"], new_status])
                    state["status"] = new_status
        for effect in effects:
            effect["seq"] = seq
        # Nothing changes the state between events: no list is needed until the next one.
        self._deltas = self._effects = _BETWEEN_EVENTS  # type: ignore[assignment]
        return _new_applied(Applied, (seq, deltas, effects, False))

    def _failed(self, event: HookEvent, error: Exception) -> None:
        """A rule could not handle an event it was given (a bug in ccviz, found by a payload
        nobody foresaw). The event is in the log already; the game goes on from the state
        the rule left, which every replay of the log reaches the same way, so a viewer and
        a rebuild agree and the game stays joinable. The hub logs ``failure`` once."""
        self.failure = error
        self._effect("event", MAIN, shorten(f"{event.name} (ccviz could not follow it)"))

    def _on_elicitation_asked(self, event: HookEvent) -> None:
        """An MCP server asks for input: its agent waits (SessionRules), and the form is a
        request a person may answer (PermissionRules)."""
        self._on_elicitation(event)
        self._open_elicitation(event)

    def validate(self, event: HookEvent) -> None:
        """Refuse a control event that could not do anything, before it is logged."""
        if event.name == "ccviz.permission":
            self._check_permission(event)
        else:
            self._check_control(event)


_HANDLERS = {
    "SessionStart": Game._on_session_start,
    "UserPromptSubmit": Game._on_prompt,
    "UserPromptExpansion": Game._on_prompt_expansion,
    "PreToolUse": Game._on_pre_tool,
    "PostToolUse": Game._on_post_tool,
    "PostToolUseFailure": Game._on_failure,
    "PostToolBatch": Game._on_tool_batch,
    "PermissionRequest": Game._on_permission_request,
    "PermissionDenied": Game._on_permission_denied,
    "Notification": Game._on_notification,
    "SubagentStart": Game._on_subagent_start,
    "SubagentStop": Game._on_subagent_stop,
    "Stop": Game._on_stop,
    "StopFailure": Game._on_stop_failure,
    "PreCompact": Game._on_pre_compact,
    "PostCompact": Game._on_post_compact,
    "SessionEnd": Game._on_session_end,
    "TaskCreated": Game._on_task_created,
    "TaskCompleted": Game._on_task_completed,
    "CwdChanged": Game._on_cwd_changed,
    "Elicitation": Game._on_elicitation_asked,
    "ElicitationResult": Game._on_elicitation_result,
    "PostModelSwitch": Game._on_model_switch,
    "ccviz.usage": Game._on_usage,
    "ccviz.say": Game._on_say,
    "ccviz.move": Game._on_move,
    "ccviz.rename": Game._on_rename,
    "ccviz.annotate": Game._on_annotate,
    "ccviz.rules": Game._on_rules,
    "ccviz.permission": Game._on_permission_answer,
}

#: Known events that change nothing anyone would watch (still counted and logged).
_SILENT = frozenset(
    {
        "MessageDisplay",
        "InstructionsLoaded",
        "Setup",
        "ConfigChange",
        "FileChanged",
        "DirectoryAdded",
    }
)
