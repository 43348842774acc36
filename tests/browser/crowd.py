"""A session with 20 concurrent subagents, as hook payloads, for the town's readability tests.

``twenty(game)`` yields the session in moments: each is a name and the payloads that lead to
it. Claude Code caps concurrent subagents at 20 by default; here the main agent spawns 16 of
them and two of those spawn two each (a tree three levels deep).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .support import hook, tool

TYPES = ["Explore", "Plan", "general-purpose", "code-reviewer"]


def sub_id(i: int) -> str:
    return f"a{i:02d}f00dcafe{i:02d}"


def _sub(game: str, name: str, agent: str, agent_type: str, **fields: Any) -> dict[str, Any]:
    return hook(game, name, agent_id=agent, agent_type=agent_type, **fields)


def _tool(game: str, agent: str | None, agent_type: str, name: str, use: str, **tool_input: Any):
    payload = tool(game, name, use, **tool_input)
    if agent:
        payload.update(agent_id=agent, agent_type=agent_type)
    return payload


def _post(game: str, agent: str | None, agent_type: str, name: str, use: str) -> dict[str, Any]:
    extra = {"agent_id": agent, "agent_type": agent_type} if agent else {}
    return hook(game, "PostToolUse", tool_name=name, tool_use_id=use, tool_response={}, **extra)


#: Where each subagent goes in the "spread" moment: a tool and its input.
SPREAD = [
    ("Read", {"file_path": "/home/dev/pixel-quest/src/player.ts"}),
    ("Grep", {"pattern": "jumpVelocity"}),
    ("Bash", {"command": "npm test -- --run tests/player.test.ts"}),
    (
        "Edit",
        {"file_path": "/home/dev/pixel-quest/src/physics.ts", "old_string": "a", "new_string": "b"},
    ),
    ("WebFetch", {"url": "https://vitest.dev/api/vi.html", "prompt": "fake timers"}),
    ("Glob", {"pattern": "src/**/*.ts"}),
    ("Bash", {"command": "git status --short"}),
    ("Write", {"file_path": "/home/dev/pixel-quest/src/sfx.ts", "content": "x"}),
    ("mcp__github__search_issues", {"query": "double jump"}),
    ("WebSearch", {"query": "coyote time platformer"}),
]


def twenty(game: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The session's moments: ``spawned`` (all 20 at the Guild Hall), ``spread`` (at work all
    over the town: a permission wait, a failure), ``library`` (all of them reading), ``said``
    (each says its last words as it finishes)."""
    events: list[dict[str, Any]] = [
        hook(game, "SessionStart", source="startup", model="claude-opus-4-1"),
        hook(game, "UserPromptSubmit", prompt="Make the whole game 20% more fun, with tests."),
    ]
    types: dict[str, str] = {}
    for i in range(16):
        kind = TYPES[i % len(TYPES)]
        use = f"toolu_spawn_{i:02d}"
        events.append(
            _tool(
                game,
                None,
                "",
                "Agent",
                use,
                description=f"Helper {i}",
                prompt="help",
                subagent_type=kind,
            )
        )
        events.append(_sub(game, "SubagentStart", sub_id(i), kind))
        types[sub_id(i)] = kind
    # Two of them spawn two each: nested subagents.
    n = 16
    for parent in (sub_id(0), sub_id(1)):
        for _ in range(2):
            kind = "Explore"
            use = f"toolu_spawn_{n:02d}"
            events.append(
                _tool(
                    game,
                    parent,
                    types[parent],
                    "Agent",
                    use,
                    description=f"Nested {n}",
                    prompt="dig",
                    subagent_type=kind,
                )
            )
            events.append(_sub(game, "SubagentStart", sub_id(n), kind))
            types[sub_id(n)] = kind
            n += 1
    yield "spawned", events

    events = []
    for i in range(20):
        agent = sub_id(i)
        name, tool_input = SPREAD[i % len(SPREAD)]
        events.append(_tool(game, agent, types[agent], name, f"toolu_s{i:02d}", **tool_input))
    # One asks for permission, one fails.
    events.append(
        _sub(
            game,
            "PermissionRequest",
            sub_id(2),
            types[sub_id(2)],
            tool_name="Bash",
            tool_input={"command": "npm test -- --run tests/player.test.ts"},
        )
    )
    events.append(
        _sub(
            game,
            "PostToolUseFailure",
            sub_id(6),
            types[sub_id(6)],
            tool_name="Bash",
            tool_use_id="toolu_s06",
            error="Exit code 1\nFAIL tests/player.test.ts",
        )
    )
    yield "spread", events

    events = []
    for i in range(20):
        agent = sub_id(i)
        name, _ = SPREAD[i % len(SPREAD)]
        if i != 6:
            events.append(_post(game, agent, types[agent], name, f"toolu_s{i:02d}"))
        events.append(
            _tool(
                game,
                agent,
                types[agent],
                "Read",
                f"toolu_r{i:02d}",
                file_path=f"/home/dev/pixel-quest/src/level{i}.ts",
            )
        )
    yield "library", events

    events = []
    for i in range(20):
        agent = sub_id(i)
        events.append(_post(game, agent, types[agent], "Read", f"toolu_r{i:02d}"))
        if i >= 14:
            words = f"Level {i} checked: the jump arc is fine, the coin sound plays twice."
            events.append(
                _sub(game, "SubagentStop", agent, types[agent], last_assistant_message=words)
            )
    yield "said", events
