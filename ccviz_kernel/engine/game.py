"""The game rules: a Claude Code session as a town full of characters.

Pure and deterministic: no I/O, no clock, no asyncio. ``Game.apply(event)`` returns the
new ``seq``, the deltas that turn the previous snapshot into the new one, and the
transient effects (speech bubbles, flashes) for views. Times come from the events only,
so the same events always give the same game, which is what makes replays, rebuilds
from the log and several servers agree.

Every change goes through :meth:`Game._set` / ``_inc`` / ``_del``, which record a delta and
apply it with the same function the views use, so the deltas cannot drift from the state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..claude.hooks import SPAWN_TOOLS
from ..events import HookEvent, PayloadError
from .deltas import Delta, apply_in_place, clone
from .summaries import mcp_server, shorten, tool_summary
from .town import HOME, WAITING_PLACE, default_places, default_rules, place_for

MAIN = "main"
#: Notification types that mean a person has to act.
WAITING_NOTIFICATIONS = frozenset(
    {
        "permission_prompt",
        "idle_prompt",
        "agent_needs_input",
        "elicitation_dialog",
        "elicitation_url_dialog",
    }
)
_TODO_STATUSES = frozenset({"pending", "in_progress", "completed"})


class Applied(NamedTuple):
    seq: int
    deltas: list[Delta]
    effects: list[dict[str, Any]]
    #: True when the game was rebuilt (a replay seeking back): ``deltas`` then set every
    #: top-level key, so they turn any earlier state into the new one.
    reset: bool = False


@dataclass(slots=True)
class _Spawn:
    use_id: str | None
    caller: str
    agent_type: str | None


@dataclass(slots=True)
class _Scratch:
    """Bookkeeping that views never need (rebuilt from the log like everything else)."""

    pending: list[_Spawn] = field(default_factory=list)
    by_agent: dict[str, _Spawn] = field(default_factory=dict)
    open_calls: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    token_keys: set[str] = field(default_factory=set)


class Game:
    """One Claude Code session. Not thread-safe: one owner applies events in order."""

    def __init__(self, game_id: str) -> None:
        self.game_id = game_id
        self._state: dict[str, Any] = {
            "gameId": game_id,
            "seq": 0,
            "title": None,
            "cwd": None,
            "model": None,
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
        }
        self._scratch = _Scratch()
        self._deltas: list[Delta] = []
        self._effects: list[dict[str, Any]] = []
        self._moved = False  # an agent's state changed: the game status may follow
        self._states: dict[str, int] = {}  # how many agents are in each state

    # -- public --------------------------------------------------------------------------

    @property
    def seq(self) -> int:
        return self._state["seq"]

    def snapshot(self) -> dict[str, Any]:
        """The whole state as plain JSON-able data (a copy: safe to keep and change)."""
        return clone(self._state)

    def reset_deltas(self) -> Applied:
        """Deltas that turn any state into this one (after a rebuild, ``seq`` may go back)."""
        return Applied(self.seq, [["set", [k], v] for k, v in self.snapshot().items()], [], True)

    def peek(self, *path: str) -> Any:
        """Read part of the live state without copying it (callers must not change it)."""
        value: Any = self._state
        for key in path:
            value = value[key]
        return value

    def apply(self, event: HookEvent) -> Applied:
        """Advance the game by one event. Never raises for a parsed event."""
        self._deltas = deltas = []
        self._effects = effects = []
        state = self._state
        seq = state["seq"] + 1
        deltas.append(["set", ["seq"], seq])
        state["seq"] = seq
        if event.ts is not None:
            self._advance_clock(event.ts)
        if MAIN not in state["agents"]:
            self._add_main()
        usage = event.payload.get("usage")
        if usage is not None:  # replayed transcripts carry token use on their events
            self._add_tokens(usage)
        handler = _HANDLERS.get(event.name)
        if handler is not None:
            handler(self, event)
        elif event.name not in _SILENT:
            self._effect("event", self._agent_for(event), shorten(event.name))
        if self._moved:
            self._moved = False
            self._update_status()
        for effect in effects:
            effect["seq"] = seq
        self._deltas, self._effects = [], []
        return Applied(seq, deltas, effects)

    def validate(self, event: HookEvent) -> None:
        """Refuse a control event that could not do anything, before it is logged."""
        name, p = event.name, event.payload
        if name == "ccviz.move":
            self._need_agent(p.get("agent"))
            if _key(p.get("place")) not in self._state["places"]:
                raise PayloadError(f"unknown place {p.get('place')!r}")
        elif name in ("ccviz.say", "ccviz.annotate"):
            if p.get("agent") is not None:
                self._need_agent(p.get("agent"))
            if not isinstance(p.get("text"), str):
                raise PayloadError("field 'text' must be a string")
        elif name == "ccviz.rename":
            if p.get("agent") is not None:
                self._need_agent(p.get("agent"))
            if not isinstance(p.get("name"), str) or not p["name"].strip():
                raise PayloadError("field 'name' must be a non-empty string")
        elif name == "ccviz.rules":
            _check_rules(p, self._state["places"])

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

    def _effect(self, kind: str, agent_id: str | None, text: str | None = None) -> None:
        effect: dict[str, Any] = {"kind": kind, "agentId": agent_id}
        if text:
            effect["text"] = text
        self._effects.append(effect)

    # -- agents ----------------------------------------------------------------------------

    def _add_main(self) -> None:
        self._set(("agents", MAIN), _new_agent(MAIN, "main", "main", "Claude", None, None, HOME))
        self._count_state(None, "idle")

    def _agent_for(self, event: HookEvent) -> str:
        """The agent an event is about, created on first sight (SubagentStart may be missing)."""
        agent_id = event.agent_id
        if not agent_id or agent_id == MAIN:
            return MAIN
        if agent_id not in self._state["agents"]:
            self._add_subagent(agent_id, event.agent_type, event.payload)
        return agent_id

    def _add_subagent(self, agent_id: str, agent_type: str | None, payload: dict[str, Any]) -> None:
        spawn = self._find_spawn(agent_id, agent_type, payload)
        agents = self._state["agents"]
        parent = spawn.caller if spawn and spawn.caller in agents else MAIN
        if spawn is None:
            hinted = payload.get("parent_agent_id")
            if isinstance(hinted, str) and hinted in agents:
                parent = hinted
        kind = agent_type or (spawn.agent_type if spawn else None) or "general-purpose"
        number = self._state["stats"]["subagents"] + 1
        place = agents[parent]["place"]
        agent = _new_agent(
            agent_id,
            "subagent",
            kind,
            f"{kind} #{number}",
            parent,
            spawn.use_id if spawn else None,
            place,
        )
        agent["state"] = "spawning"
        self._set(("agents", agent_id), agent)
        self._count_state(None, "spawning")
        self._inc(("stats", "subagents"))
        self._effect("spawn", agent_id, shorten(f"{kind} joins"))

    def _find_spawn(
        self, agent_id: str, agent_type: str | None, payload: dict[str, Any]
    ) -> _Spawn | None:
        scratch = self._scratch
        known = scratch.by_agent.pop(agent_id, None)
        if known is not None:
            return known
        pending = scratch.pending
        if not pending:
            return None
        use_id = payload.get("parent_tool_use_id")
        match = None
        if isinstance(use_id, str):
            match = next((s for s in pending if s.use_id == use_id), None)
        if match is None and agent_type:
            match = next((s for s in pending if s.agent_type == agent_type), None)
        if match is None:
            match = pending[0]
        pending.remove(match)
        return match

    def _need_agent(self, agent_id: Any) -> str:
        if not isinstance(agent_id, str) or agent_id not in self._state["agents"]:
            raise PayloadError(f"unknown agent {agent_id!r}")
        return agent_id

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

    def _add_tokens(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        parts = {
            "input": usage.get("input_tokens"),
            "output": usage.get("output_tokens"),
            "cacheRead": usage.get("cache_read_input_tokens"),
            "cacheWrite": usage.get("cache_creation_input_tokens"),
        }
        counted = {
            k: v
            for k, v in parts.items()
            if isinstance(v, int) and not isinstance(v, bool) and v > 0
        }
        if not counted:
            return
        if self._state["stats"]["tokens"] is None:
            self._set(
                ("stats", "tokens"),
                {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0, "total": 0},
            )
        for key, value in counted.items():
            self._inc(("stats", "tokens", key), value)
        self._inc(("stats", "tokens", "total"), sum(counted.values()))

    def _close_calls(self, agent_id: str) -> None:
        calls = self._scratch.open_calls
        for use_id in [u for u, (owner, _) in calls.items() if owner == agent_id]:
            del calls[use_id]

    # -- handlers --------------------------------------------------------------------------

    def _on_session_start(self, event: HookEvent) -> None:
        p = event.payload
        self._take_session_fields(p)
        model = p.get("model")
        if isinstance(model, str) and model != self._state["model"]:
            self._set(("model",), shorten(model))
        if self._state["status"] == "ended":
            self._set(("status",), "idle")
        source = p.get("source")
        if source == "compact":
            return
        self._agent_set(MAIN, state="idle", wait=None, place=HOME, tool=None, overlay=None)
        self._effect("say", MAIN, "Session resumed" if source == "resume" else "Hello!")

    def _take_session_fields(self, p: dict[str, Any]) -> None:
        cwd = p.get("cwd")
        if isinstance(cwd, str) and cwd and cwd != self._state["cwd"]:
            self._set(("cwd",), shorten(cwd, 200))
        title = p.get("session_title")
        if isinstance(title, str) and title.strip():
            text = shorten(title)
            if text != self._state["title"]:
                self._set(("title",), text)

    def _on_prompt(self, event: HookEvent) -> None:
        p = event.payload
        self._take_session_fields(p)
        prompt = p.get("prompt")
        text = shorten(prompt) if isinstance(prompt, str) else ""
        if self._state["title"] is None and text:
            self._set(("title",), text)
        self._inc(("stats", "prompts"))
        self._close_calls(MAIN)
        self._agent_set(MAIN, state="thinking", wait=None, place=HOME, tool=None, overlay=None)
        self._effect("prompt", MAIN, text or "New prompt")

    def _on_pre_tool(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        tool = event.tool_name or "unknown"
        p = event.payload
        tool_input = p.get("tool_input") or {}
        rules = self._state["rules"]
        place = place_for(rules, tool)
        if place not in self._state["places"]:
            place = rules["default"] if rules["default"] in self._state["places"] else HOME
        summary = tool_summary(tool, tool_input, self._state["cwd"])
        call: dict[str, Any] = {"name": tool, "useId": event.tool_use_id, "summary": summary}
        server = mcp_server(tool)
        if server:
            call["booth"] = shorten(server, 40)
            self._add_booth(call["booth"])
        if event.tool_use_id:
            self._scratch.open_calls[event.tool_use_id] = (agent_id, call)
        self._inc(("stats", "toolCalls", tool))
        self._inc(("stats", "placeCalls", place))
        waiting = place == WAITING_PLACE
        calls = self._state["agents"][agent_id]["calls"] + 1
        self._agent_set(
            agent_id,
            state="waiting" if waiting else "working",
            calls=calls,
            wait="input" if waiting else None,
            place=place,
            tool=call,
            overlay=None,
        )
        self._effect("say", agent_id, summary)
        if tool in SPAWN_TOOLS:
            kind = tool_input.get("subagent_type")
            self._scratch.pending.append(
                _Spawn(event.tool_use_id, agent_id, kind if isinstance(kind, str) else None)
            )
        elif tool == "TodoWrite":
            self._set_todos(tool_input.get("todos"))
        elif tool == "TaskUpdate":
            self._update_task(tool_input.get("taskId"), tool_input.get("status"))

    def _add_booth(self, server: str) -> None:
        embassy = self._state["places"].get("embassy")
        if embassy is None:
            return
        booths = embassy.get("booths") or []
        if server not in booths:
            self._set(("places", "embassy", "booths"), [*booths, server])

    def _finish_call(self, event: HookEvent) -> tuple[str, bool]:
        """Close the call; returns the agent and whether it still has calls open."""
        agent_id = self._agent_for(event)
        calls = self._scratch.open_calls
        calls.pop(event.tool_use_id or "", None)
        agent = self._state["agents"][agent_id]
        current = agent["tool"]
        use_id = current.get("useId") if current is not None else None
        if use_id not in (event.tool_use_id, None) and use_id in calls:
            return agent_id, True
        remaining = next((call for owner, call in calls.values() if owner == agent_id), None)
        if remaining is not None:
            self._agent_set(agent_id, tool=remaining, state="working", wait=None)
            return agent_id, True
        if agent["state"] not in ("left", "done"):
            self._agent_set(agent_id, state="thinking", wait=None, tool=None)
        return agent_id, False

    def _on_post_tool(self, event: HookEvent) -> None:
        agent_id, _ = self._finish_call(event)
        p = event.payload
        if event.tool_name in SPAWN_TOOLS:
            self._link_spawn_result(agent_id, event.tool_use_id, p.get("tool_response"))
        elif event.tool_name == "TodoWrite":
            response = p.get("tool_response")
            if isinstance(response, dict) and isinstance(response.get("newTodos"), list):
                self._set_todos(response["newTodos"])
        if self._state["agents"][agent_id]["overlay"] == "failure":
            self._agent_set(agent_id, overlay=None)

    def _link_spawn_result(self, caller: str, use_id: str | None, response: Any) -> None:
        if not isinstance(response, dict):
            return
        child = response.get("agentId")
        if not isinstance(child, str) or not child:
            return
        scratch = self._scratch
        spawn = next((s for s in scratch.pending if s.use_id == use_id), None)
        agents = self._state["agents"]
        if child in agents:
            if spawn is not None:
                scratch.pending.remove(spawn)
            if agents[child].get("spawnedBy") is None and use_id:
                self._agent_set(child, spawnedBy=use_id, parent=caller)
        elif spawn is not None:
            scratch.pending.remove(spawn)
            scratch.by_agent[child] = spawn

    def _on_failure(self, event: HookEvent) -> None:
        agent_id, _ = self._finish_call(event)
        p = event.payload
        error = p.get("error")
        interrupted = p.get("is_interrupt") is True
        text = _first_lines(error) or f"{event.tool_name} failed"
        self._inc(("stats", "failures"))
        self._inc(("agents", agent_id, "failures"))
        self._agent_set(agent_id, overlay="failure")
        self._effect("flash", agent_id, "Interrupted" if interrupted else text)

    def _on_permission_request(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        text = tool_summary(
            event.tool_name or "a tool", event.get("tool_input"), self._state["cwd"]
        )
        self._agent_set(agent_id, state="waiting", wait="permission", place=WAITING_PLACE)
        self._effect("wait", agent_id, shorten(f"May I? {text}"))

    def _on_permission_denied(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        self._scratch.open_calls.pop(event.tool_use_id or "", None)
        self._agent_set(agent_id, state="thinking", wait=None, tool=None)
        reason = event.get("reason")
        self._effect(
            "flash",
            agent_id,
            shorten(f"Denied: {reason if isinstance(reason, str) else event.tool_name}"),
        )

    def _on_notification(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        kind = _key(event.get("notification_type"))
        message = event.get("message")
        text = shorten(message) if isinstance(message, str) and message else "Notification"
        if kind in WAITING_NOTIFICATIONS:
            wait = "permission" if kind == "permission_prompt" else "input"
            self._agent_set(agent_id, state="waiting", wait=wait, place=WAITING_PLACE)
            self._effect("wait", agent_id, text)
        else:
            self._effect("say", agent_id, text)

    def _on_subagent_start(self, event: HookEvent) -> None:
        agent_id = event.agent_id
        if not agent_id:
            return
        if agent_id not in self._state["agents"]:
            self._add_subagent(agent_id, event.agent_type, event.payload)
        elif self._state["agents"][agent_id]["state"] == "left":
            self._agent_set(agent_id, state="spawning")

    def _on_subagent_stop(self, event: HookEvent) -> None:
        agent_id = event.agent_id
        agents = self._state["agents"]
        if not agent_id or agent_id == MAIN:
            return
        if agent_id not in agents:
            if not event.agent_type:  # the compaction helper: never a character
                self._effect("event", MAIN, "Compaction agent finished")
                return
            self._add_subagent(agent_id, event.agent_type, event.payload)
        self._close_calls(agent_id)
        message = event.get("last_assistant_message")
        if isinstance(message, str) and message.strip():
            self._effect("say", agent_id, shorten(message))
        self._agent_set(agent_id, state="left", wait=None, tool=None, overlay=None)
        self._effect("leave", agent_id)

    def _on_stop(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        self._close_calls(agent_id)
        self._agent_set(agent_id, state="done", wait=None, tool=None, place=HOME)
        message = event.get("last_assistant_message")
        if isinstance(message, str) and message.strip():
            self._effect("say", agent_id, shorten(message))

    def _on_stop_failure(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        self._close_calls(agent_id)
        self._inc(("stats", "failures"))
        self._inc(("agents", agent_id, "failures"))
        self._agent_set(agent_id, state="done", wait=None, tool=None, overlay="failure")
        error = event.get("error")
        self._effect(
            "flash",
            agent_id,
            shorten(f"API error: {error if isinstance(error, str) else 'unknown'}"),
        )

    def _on_pre_compact(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        self._agent_set(agent_id, overlay="compacting")
        self._effect("compact", agent_id, "Compacting the context…")

    def _on_post_compact(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        if self._state["agents"][agent_id]["overlay"] == "compacting":
            self._agent_set(agent_id, overlay=None)
        self._effect("say", agent_id, "Context compacted")

    def _on_session_end(self, event: HookEvent) -> None:
        for agent_id in list(self._state["agents"]):
            self._agent_set(agent_id, state="left", wait=None, tool=None)
        self._scratch.open_calls.clear()
        self._scratch.pending.clear()
        self._set(("status",), "ended")
        reason = event.get("reason")
        self._effect(
            "leave",
            MAIN,
            shorten(f"Session ended ({reason})" if isinstance(reason, str) else "Session ended"),
        )

    def _on_task_created(self, event: HookEvent) -> None:
        p = event.payload
        subject = p.get("task_subject") or p.get("task_description") or "task"
        todo = {
            "id": _str_or_none(p.get("task_id")),
            "content": shorten(str(subject)),
            "status": "pending",
        }
        todos = self._state["todos"]
        if todo["id"] is not None and any(t.get("id") == todo["id"] for t in todos):
            return
        self._set(("todos",), [*todos, todo])

    def _on_task_completed(self, event: HookEvent) -> None:
        self._update_task(event.get("task_id"), "completed", event.get("task_subject"))

    def _update_task(self, task_id: Any, status: Any, subject: Any = None) -> None:
        task_id = _str_or_none(task_id)
        if task_id is None:
            return
        todos = [dict(t) for t in self._state["todos"]]
        for todo in todos:
            if todo.get("id") == task_id:
                if status == "deleted":
                    todos.remove(todo)
                elif _key(status) in _TODO_STATUSES:
                    todo["status"] = status
                break
        else:
            if _key(status) in _TODO_STATUSES:
                todos.append(
                    {
                        "id": task_id,
                        "content": shorten(str(subject or f"Task {task_id}")),
                        "status": status,
                    }
                )
        if todos != self._state["todos"]:
            self._set(("todos",), todos)

    def _set_todos(self, items: Any) -> None:
        if not isinstance(items, list):
            return
        todos = []
        for item in items[:200]:
            if not isinstance(item, dict):
                continue
            content = item.get("content") or item.get("subject") or ""
            status = item.get("status")
            todos.append(
                {
                    "id": _str_or_none(item.get("id")),
                    "content": shorten(str(content)),
                    "status": status if _key(status) in _TODO_STATUSES else "pending",
                }
            )
        if todos != self._state["todos"]:
            self._set(("todos",), todos)

    def _on_cwd_changed(self, event: HookEvent) -> None:
        new = event.get("new_cwd")
        if isinstance(new, str) and new:
            self._set(("cwd",), shorten(new, 200))

    def _on_prompt_expansion(self, event: HookEvent) -> None:
        name = event.get("command_name")
        self._effect("say", MAIN, shorten(f"/{name}" if isinstance(name, str) else "Command"))

    def _on_elicitation(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        server = event.get("mcp_server_name")
        self._agent_set(agent_id, state="waiting", wait="input", place=WAITING_PLACE)
        self._effect(
            "wait",
            agent_id,
            shorten(f"{server} asks for input" if isinstance(server, str) else "Input needed"),
        )

    def _on_elicitation_result(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        if self._state["agents"][agent_id]["state"] == "waiting":
            self._agent_set(agent_id, state="thinking", wait=None)

    # -- control events (people and programs) ------------------------------------------

    def _on_say(self, event: HookEvent) -> None:
        agent_id = _control_agent(self, event)
        text = event.get("text")
        if isinstance(text, str) and text:
            self._effect("say", agent_id, shorten(text))

    def _on_move(self, event: HookEvent) -> None:
        agent_id = _control_agent(self, event)
        place = _key(event.get("place"))
        if agent_id and place in self._state["places"]:
            self._agent_set(agent_id, place=place)

    def _on_rename(self, event: HookEvent) -> None:
        name = event.get("name")
        if not isinstance(name, str) or not name.strip():
            return
        if event.get("agent") is None:
            self._set(("title",), shorten(name))
            return
        agent_id = _control_agent(self, event)
        if agent_id:
            self._agent_set(agent_id, name=shorten(name, 40))

    def _on_annotate(self, event: HookEvent) -> None:
        agent_id = _control_agent(self, event) or MAIN
        text = event.get("text")
        if isinstance(text, str):
            self._agent_set(agent_id, note=shorten(text) or None)
            if text:
                self._effect("note", agent_id, shorten(text))

    def _on_rules(self, event: HookEvent) -> None:
        p = event.payload
        try:
            _check_rules(p, self._state["places"])
        except PayloadError:
            return
        for pid, spec in (p.get("places") or {}).items():
            self._set(
                ("places", pid),
                {
                    "id": pid,
                    "label": shorten(str(spec.get("label") or pid), 40),
                    "x": spec["x"],
                    "y": spec["y"],
                },
            )
        for tool, place in (p.get("tools") or {}).items():
            if place is None:
                if tool in self._state["rules"]["tools"]:
                    self._del(("rules", "tools", tool))
            elif self._state["rules"]["tools"].get(tool) != place:
                self._set(("rules", "tools", tool), place)
        for prefix, place in (p.get("prefixes") or {}).items():
            if place is None:
                if prefix in self._state["rules"]["prefixes"]:
                    self._del(("rules", "prefixes", prefix))
            else:
                self._set(("rules", "prefixes", prefix), place)
        if p.get("default") is not None:
            self._set(("rules", "default"), p["default"])
        self._effect("event", None, "Rules changed")


def _new_agent(
    agent_id: str,
    kind: str,
    agent_type: str,
    name: str,
    parent: str | None,
    spawned_by: str | None,
    place: str,
) -> dict[str, Any]:
    return {
        "id": agent_id,
        "kind": kind,
        "type": shorten(agent_type, 40),
        "name": shorten(name, 40),
        "parent": parent,
        "spawnedBy": spawned_by,
        "state": "idle",
        "wait": None,
        "place": place,
        "tool": None,
        "overlay": None,
        "calls": 0,
        "failures": 0,
        "note": None,
    }


def _first_lines(text: Any) -> str:
    """``Exit code 1 · FAIL src/player.test.ts``: the first line alone says too little."""
    if not isinstance(text, str):
        return ""
    lines = [line.strip() for line in text[:2000].splitlines() if line.strip()]
    return shorten(" · ".join(lines[:2]))


def _key(value: Any) -> str | None:
    """A payload value usable as a lookup key: only strings (others may be unhashable)."""
    return value if isinstance(value, str) else None


def _str_or_none(value: Any) -> str | None:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)[:100]
    return None


def _control_agent(game: Game, event: HookEvent) -> str | None:
    agent = event.get("agent")
    if agent is None:
        return MAIN
    return agent if isinstance(agent, str) and agent in game.peek("agents") else None


def _check_rules(p: dict[str, Any], places: dict[str, Any]) -> None:
    new_places = p.get("places") or {}
    if not isinstance(new_places, dict):
        raise PayloadError("field 'places' must be an object")
    for pid, spec in new_places.items():
        if not isinstance(spec, dict) or not all(
            isinstance(spec.get(k), (int, float)) and not isinstance(spec.get(k), bool)
            for k in ("x", "y")
        ):
            raise PayloadError(f"place {pid!r} needs numeric 'x' and 'y'")
    known = set(places) | set(new_places)
    for key in ("tools", "prefixes"):
        table = p.get(key) or {}
        if not isinstance(table, dict):
            raise PayloadError(f"field '{key}' must be an object of name → place")
        for name, place in table.items():
            if place is not None and _key(place) not in known:
                raise PayloadError(f"{key[:-1]} {name!r}: unknown place {place!r}")
    default = p.get("default")
    if default is not None and _key(default) not in known:
        raise PayloadError(f"default: unknown place {default!r}")


_HANDLERS = {
    "SessionStart": Game._on_session_start,
    "UserPromptSubmit": Game._on_prompt,
    "UserPromptExpansion": Game._on_prompt_expansion,
    "PreToolUse": Game._on_pre_tool,
    "PostToolUse": Game._on_post_tool,
    "PostToolUseFailure": Game._on_failure,
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
    "Elicitation": Game._on_elicitation,
    "ElicitationResult": Game._on_elicitation_result,
    "ccviz.say": Game._on_say,
    "ccviz.move": Game._on_move,
    "ccviz.rename": Game._on_rename,
    "ccviz.annotate": Game._on_annotate,
    "ccviz.rules": Game._on_rules,
}

#: Known events that change nothing anyone would watch (still counted and logged).
_SILENT = frozenset(
    {
        "MessageDisplay",
        "PostToolBatch",
        "InstructionsLoaded",
        "Setup",
        "ConfigChange",
        "FileChanged",
        "DirectoryAdded",
    }
)
