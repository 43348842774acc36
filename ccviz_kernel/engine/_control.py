"""Our own control events (``ccviz.say/move/rename/annotate/rules``): people and programs.

Unlike hooks, these come from Python code and page users, so they are checked before they
are logged (:meth:`ControlRules._check_control`, behind ``Game.validate``) and refused with
a :class:`PayloadError` if they could not do anything. Applying one that was never
checked (an old log) still never raises, like every other event.
"""

from __future__ import annotations

from typing import Any

from ..events import HookEvent, PayloadError
from ._agents import AgentRules
from ._core import MAIN, as_key
from .speech import shorten


class ControlRules(AgentRules):
    """Checking and applying the ``ccviz.*`` events."""

    def _check_control(self, event: HookEvent) -> None:
        """Refuse a control event that could not do anything, before it is logged."""
        name, p = event.name, event.payload
        if name == "ccviz.move":
            self._need_agent(p.get("agent"))
            if as_key(p.get("place")) not in self._state["places"]:
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

    def _control_agent(self, event: HookEvent) -> str | None:
        """The agent a control event names: ``main`` if none, ``None`` if unknown."""
        agent = event.get("agent")
        if agent is None:
            return MAIN
        return agent if isinstance(agent, str) and agent in self._state["agents"] else None

    # -- handlers --------------------------------------------------------------------------

    def _on_say(self, event: HookEvent) -> None:
        agent_id = self._control_agent(event)
        text = event.get("text")
        if isinstance(text, str) and text:
            self._effect("say", agent_id, shorten(text))

    def _on_move(self, event: HookEvent) -> None:
        agent_id = self._control_agent(event)
        place = as_key(event.get("place"))
        if agent_id and place in self._state["places"]:
            self._agent_set(agent_id, place=place)

    def _on_rename(self, event: HookEvent) -> None:
        name = event.get("name")
        if not isinstance(name, str) or not name.strip():
            return
        if event.get("agent") is None:
            self._set(("title",), shorten(name))
            return
        agent_id = self._control_agent(event)
        if agent_id:
            self._agent_set(agent_id, name=shorten(name, 40))

    def _on_annotate(self, event: HookEvent) -> None:
        agent_id = self._control_agent(event) or MAIN
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
        self._tool_places.clear()  # the places tools lead to are worked out again
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
            if place is not None and as_key(place) not in known:
                raise PayloadError(f"{key[:-1]} {name!r}: unknown place {place!r}")
    default = p.get("default")
    if default is not None and as_key(default) not in known:
        raise PayloadError(f"default: unknown place {default!r}")
