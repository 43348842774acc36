"""The session and its turns: start and end, prompts and stops, waits, compaction, tokens.

These are the hooks about the conversation rather than one tool call: a prompt sets the
main agent thinking, ``Stop`` ends its turn, notifications and elicitations that need a
person send an agent to the waiting place, compaction shows an overlay, and the token use that
replayed transcripts carry on their events adds up in ``stats.tokens``.
"""

from __future__ import annotations

from typing import Any

from ..claude.models import context_window
from ..claude.prompts import command_text, notification_text, prompt_kind
from ..config import MAX_COUNT
from ..events import HookEvent
from ._agents import AgentRules
from ._core import MAIN, as_key
from .speech import shorten
from .town import HOME, WAITING_PLACE

#: The field the hub (or a hook-log replay) adds to the ``SessionStart`` of a session that
#: a ``/clear`` started: the id of the session it cleared.
CONTINUES = "ccviz_continues"

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


class SessionRules(AgentRules):
    """Session-level hooks: the lifecycle, the turns and what asks a person to act."""

    def _on_session_start(self, event: HookEvent) -> None:
        p = event.payload
        self._take_session_fields(p)
        previous = p.get(CONTINUES)
        if isinstance(previous, str) and previous and previous != self.game_id:
            self._set(("continues",), previous[:200])
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
        kind = prompt_kind(prompt) if isinstance(prompt, str) else "prompt"
        if kind == "notification":  # a background task's result: the turn goes on
            self._agent_set(MAIN, state="thinking", wait=None, tool=None, overlay=None)
            self._effect("event", MAIN, shorten(f"Task done: {notification_text(prompt)}"))
            self._caption(MAIN, "hears back from a background task")
            return
        if kind in ("command", "harness", "interrupt"):
            if kind == "command":
                text = shorten(command_text(prompt))
                self._effect("event", MAIN, text)
                self._caption(MAIN, f"runs {text}")
            return
        text = shorten(prompt) if isinstance(prompt, str) else ""
        if self._state["title"] is None and text:
            self._set(("title",), text)
        self._inc(("stats", "prompts"))
        if text and text != self._state["prompt"]:
            self._set(("prompt",), text)
        self._close_calls(MAIN)
        self._agent_set(MAIN, state="thinking", wait=None, place=HOME, tool=None, overlay=None)
        self._effect("prompt", MAIN, text or "New prompt")
        self._caption(MAIN, "is thinking about the new prompt")

    def _on_prompt_expansion(self, event: HookEvent) -> None:
        name = event.get("command_name")
        self._effect("say", MAIN, shorten(f"/{name}" if isinstance(name, str) else "Command"))

    def _on_stop(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        self._close_calls(agent_id)
        if self._state["status"] == "ended":
            return  # a late Stop: only a SessionStart brings a character back after the end
        self._agent_set(agent_id, state="done", wait=None, tool=None, place=HOME)
        self._caption(agent_id, "has finished and waits for the next prompt")
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
        self._caption(agent_id, "stopped on an API error")

    def _on_notification(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        kind = as_key(event.get("notification_type"))
        message = event.get("message")
        text = shorten(message) if isinstance(message, str) and message else "Notification"
        if kind in WAITING_NOTIFICATIONS:
            wait = "permission" if kind == "permission_prompt" else "input"
            self._agent_set(agent_id, state="waiting", wait=wait, place=WAITING_PLACE)
            self._effect("wait", agent_id, text)
            self._caption(
                agent_id,
                "waits for your permission" if wait == "permission" else "waits for your answer",
            )
        else:
            self._effect("say", agent_id, text)

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

    def _on_pre_compact(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        self._agent_set(agent_id, overlay="compacting")
        self._effect("compact", agent_id, "Compacting the context…")
        self._caption(agent_id, "is compacting its context to make room")

    def _on_post_compact(self, event: HookEvent) -> None:
        agent_id = self._agent_for(event)
        if self._state["agents"][agent_id]["overlay"] == "compacting":
            self._agent_set(agent_id, overlay=None)
        self._effect("say", agent_id, "Context compacted")

    def _on_cwd_changed(self, event: HookEvent) -> None:
        new = event.get("new_cwd")
        if isinstance(new, str) and new:
            self._set(("cwd",), shorten(new, 200))

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
        self._caption(None, "The session has ended.")

    # -- tokens and the model ------------------------------------------------------------

    def _take_usage(self, event: HookEvent) -> None:
        """Token use, the model and the context an event carries, for the event's agent.

        Live, the server reads them from the transcript the hooks name and logs them as
        ``ccviz.usage`` events; a transcript replay carries them on the events it emits;
        ``SessionStart`` and the model-switch hooks carry the model. One rule for all.
        """
        p = event.payload
        agent_id = self._agent_for(event)
        usage = p.get("usage")
        if usage is not None:
            self._add_tokens(agent_id, usage)
        model = p.get("model")
        if isinstance(model, str) and model.strip():
            self._set_model(agent_id, shorten(model, 60))
        used = p.get("context_tokens")
        if type(used) is int and 0 <= used <= MAX_COUNT:
            model = self._state["agents"][agent_id]["model"]
            self._agent_set(agent_id, context={"used": used, "window": context_window(model)})

    def _set_model(self, agent_id: str, model: str) -> None:
        agent = self._state["agents"][agent_id]
        if agent["model"] != model:
            self._agent_set(agent_id, model=model)
        if agent_id == MAIN and self._state["model"] != model:
            self._set(("model",), model)

    def _on_usage(self, event: HookEvent) -> None:
        """``ccviz.usage``: nothing beyond what :meth:`_take_usage` already counted."""

    def _on_model_switch(self, event: HookEvent) -> None:
        """``/model``: the agent's model until the transcript names the next one."""
        agent_id = self._agent_for(event)
        model = event.get("to_model")
        if isinstance(model, str) and model.strip():
            self._set_model(agent_id, shorten(model, 60))
            self._caption(agent_id, f"switches to {shorten(model, 60)}")
        model = self._state["agents"][agent_id]["model"]
        self._effect("say", agent_id, shorten(f"Now on {model}" if model else "Model switched"))

    def _add_tokens(self, agent_id: str, usage: Any) -> None:
        """Add one event's ``usage`` to the agent's and the game's ``tokens``."""
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
            if type(v) is int and 0 < v <= MAX_COUNT  # JSON-safe: a hostile 10**30 is ignored
        }
        if not counted:
            return
        total = sum(counted.values())
        if self._state["stats"]["tokens"] is None:
            self._set(("stats", "tokens"), _no_tokens())
        if self._state["agents"][agent_id]["tokens"] is None:
            self._agent_set(agent_id, tokens=_no_tokens())
        for key, value in (*counted.items(), ("total", total)):
            self._add_count(("stats", "tokens", key), value)
            self._add_count(("agents", agent_id, "tokens", key), value)

    def _add_count(self, path: tuple[str, ...], amount: int) -> None:
        """Add to a counter that stops at :data:`MAX_COUNT`: however many hostile events
        come, every count stays an integer JavaScript and msgpack hold exactly."""
        target = self._state
        for key in path[:-1]:
            target = target[key]
        amount = min(amount, MAX_COUNT - target[path[-1]])
        if amount > 0:
            self._inc(path, amount)


def _no_tokens() -> dict[str, int]:
    return {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0, "total": 0}
