"""The town: its places and which tool sends an agent where (docs/design.md §5).

The facts live once, in ``town.json`` next to this module: the engine reads them here and
the JS build imports the same file (``widgets/src/town/facts.ts``), so the views never hold
a second copy. Kept as plain data so that a game carries its own copy in its snapshot and
Python code can change it while the game runs (``ccviz.rules`` events).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Everything in town.json, as loaded (treat as read-only; the functions below copy).
FACTS: dict[str, Any] = json.loads(Path(__file__).with_name("town.json").read_text("utf-8"))

#: The size of the world the views draw, in world units.
WORLD_WIDTH: int = FACTS["world"]["width"]
WORLD_HEIGHT: int = FACTS["world"]["height"]
#: Place id → label and position in the world.
PLACES: dict[str, dict[str, Any]] = FACTS["places"]
HOME: str = FACTS["home"]
WAITING_PLACE: str = FACTS["waiting"]
#: The kinds of ``visualization-event`` effects the server sends.
EFFECT_KINDS: frozenset[str] = frozenset(FACTS["effects"])
#: The replay speeds the players offer, and the range a replay clock accepts.
REPLAY_SPEEDS: tuple[float, ...] = tuple(FACTS["replay"]["speeds"])
MIN_SPEED: float = FACTS["replay"]["minSpeed"]
MAX_SPEED: float = FACTS["replay"]["maxSpeed"]
#: The longest message a person sends with an answer to a permission request.
MAX_ANSWER_MESSAGE: int = FACTS["permissions"]["maxMessage"]


def default_rules() -> dict[str, Any]:
    """A fresh copy of the tool → place rules: exact names, then longest prefix, then default."""
    rules = FACTS["rules"]
    tools = {tool: place for place, names in rules["tools"].items() for tool in names}
    return {"tools": tools, "prefixes": dict(rules["prefixes"]), "default": rules["default"]}


def default_places() -> dict[str, dict[str, Any]]:
    """A fresh copy of the places, each with its id, in town.json's order."""
    return {pid: {"id": pid, **spec} for pid, spec in PLACES.items()}


def place_for(rules: dict[str, Any], tool: str) -> str:
    place = rules["tools"].get(tool)
    if place is not None:
        return place
    best = ""
    for prefix, target in rules["prefixes"].items():
        if len(prefix) > len(best) and tool.startswith(prefix):
            best, place = prefix, target
    return place if place is not None else rules["default"]
