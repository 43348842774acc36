"""The town: its places and which tool sends an agent where (DESIGN §5).

Kept as plain data so that a game carries its own copy in its snapshot and Python code can
change it while the game runs (``ccviz.rules`` events).
"""

from __future__ import annotations

from typing import Any

#: Place id → label and position in the 800×500 world the views draw.
PLACES: dict[str, dict[str, Any]] = {
    "square": {"label": "Town Square", "x": 400, "y": 250},
    "library": {"label": "Library", "x": 125, "y": 95},
    "workshop": {"label": "Workshop", "x": 400, "y": 80},
    "terminal": {"label": "Terminal", "x": 675, "y": 95},
    "observatory": {"label": "Observatory", "x": 690, "y": 285},
    "questboard": {"label": "Quest Board", "x": 575, "y": 420},
    "guildhall": {"label": "Guild Hall", "x": 110, "y": 285},
    "embassy": {"label": "Embassy", "x": 225, "y": 420},
    "helpdesk": {"label": "Help Desk", "x": 400, "y": 430},
}

HOME = "square"
WAITING_PLACE = "helpdesk"

_TOOLS_BY_PLACE = {
    "library": "Read Grep Glob LSP ToolSearch NotebookRead Skill",
    "workshop": "Write Edit MultiEdit NotebookEdit",
    "terminal": "Bash PowerShell BashOutput KillShell KillBash Monitor TaskOutput TaskStop",
    "observatory": "WebFetch WebSearch",
    "questboard": "TodoWrite TodoRead TaskCreate TaskUpdate TaskGet TaskList EnterPlanMode "
    "ExitPlanMode CronCreate CronDelete CronList ScheduleWakeup",
    "guildhall": "Agent Task SendMessage",
    "helpdesk": "AskUserQuestion",
}


def default_rules() -> dict[str, Any]:
    """A fresh copy of the tool → place rules: exact names, then longest prefix, then default."""
    tools = {tool: place for place, names in _TOOLS_BY_PLACE.items() for tool in names.split()}
    return {
        "tools": tools,
        "prefixes": {
            "mcp__": "embassy",
            "Web": "observatory",
            "Notebook": "workshop",
            "Task": "questboard",
            "Todo": "questboard",
            "Cron": "questboard",
        },
        "default": "workshop",
    }


def default_places() -> dict[str, dict[str, Any]]:
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
