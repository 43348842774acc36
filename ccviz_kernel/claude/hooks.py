"""Claude Code's hook events and the tool names the game cares about, written once.

The engine, the parser, the installer, ``ccviz doctor`` and the tests all read these lists;
docs/claude-code.md says where each fact comes from and which Claude Code version it was
seen on. Standard library only and cheap to import.
"""

from __future__ import annotations

#: Every Claude Code hook event, in the order of docs/claude-code.md §1.1.
ALL_EVENTS: tuple[str, ...] = (
    "SessionStart",
    "Setup",
    "InstructionsLoaded",
    "UserPromptSubmit",
    "UserPromptExpansion",
    "PreSkillShellCommand",
    "MessageDisplay",
    "PreToolUse",
    "PermissionRequest",
    "PermissionDenied",
    "PostToolUse",
    "PostToolUseFailure",
    "PostToolBatch",
    "Notification",
    "SubagentStart",
    "SubagentStop",
    "TaskCreated",
    "TaskCompleted",
    "Stop",
    "StopFailure",
    "TeammateIdle",
    "ConfigChange",
    "PreModelSwitch",
    "PostModelSwitch",
    "CwdChanged",
    "DirectoryAdded",
    "FileChanged",
    "WorktreeCreate",
    "WorktreeRemove",
    "PreCompact",
    "PostCompact",
    "Elicitation",
    "ElicitationResult",
    "SessionEnd",
)
HOOK_EVENTS: frozenset[str] = frozenset(ALL_EVENTS)

#: Events we never hook.
#: - ``MessageDisplay`` fires for every streamed chunk of assistant text: one process (or
#:   request) per chunk would cost the user real CPU for nothing the game shows.
#: - ``WorktreeCreate`` and ``WorktreeRemove`` hooks *replace* Claude Code's own
#:   ``git worktree`` handling (the create hook must print the new worktree's path), so an
#:   observer there would break ``claude --worktree`` and worktree-isolated subagents.
SKIPPED_EVENTS: frozenset[str] = frozenset({"MessageDisplay", "WorktreeCreate", "WorktreeRemove"})

#: Events that end a turn or a session. Claude Code kills async hooks still running at the
#: end of a ``-p`` session (measured: the async Stop hook was lost in 7 of 8 runs), and
#: nothing waits on these events, so here the hook runs synchronously: it costs Claude
#: Code the hook's few tens of milliseconds (bounded by its POST timeout), once per turn.
SYNC_EVENTS: frozenset[str] = frozenset({"Stop", "StopFailure", "SubagentStop", "SessionEnd"})

#: The events we install a handler for.
INSTALLED_EVENTS: tuple[str, ...] = tuple(e for e in ALL_EVENTS if e not in SKIPPED_EVENTS)

#: The events that fire for every tool call. Their facts are all in the transcript, which
#: the server follows live (server/transcripts.py), so by default no handler runs for them:
#: a handler per call costs Claude Code a quarter to a third of its time on a busy 2-core
#: machine, even as an http hook (bench/claude_cost_bench.py). ``install-hooks --per-call``
#: hooks them anyway.
PER_CALL_EVENTS: frozenset[str] = frozenset(
    {"PreToolUse", "PostToolUse", "PostToolUseFailure", "PostToolBatch"}
)

#: Matchers an event needs to fire at all. ``FileChanged`` watches only the file names its
#: matcher lists (literal names, ``|``-separated): the files whose change matters to a session.
MATCHERS: dict[str, str] = {
    "FileChanged": "CLAUDE.md|AGENTS.md|package.json|pyproject.toml|Makefile|.env",
}

#: The events Claude Code waits on for an answer a hook may give: a permission request (also
#: an AskUserQuestion), and an MCP server's form. ``install-hooks --answer-permissions`` and
#: the plugin's option hold them at the server's ``api/permissions`` until a person or a
#: rule answers (docs/protocol.md §14).
ANSWERED_EVENTS: tuple[str, ...] = ("PermissionRequest", "Elicitation")

#: Events that take no ``http`` handler: with ``--http`` they keep the command handler.
COMMAND_ONLY_EVENTS: frozenset[str] = frozenset({"SessionStart", "Setup"})

#: Events that are about one tool call and so must name the tool.
TOOL_EVENTS: frozenset[str] = frozenset(
    {"PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest", "PermissionDenied"}
)

#: Tools Claude Code runs one at a time even when a message asks for several calls at
#: once (they change files or the task list); reads, searches, shell commands and spawns
#: of one message run side by side. Seen on 2.1.332 (tests/fixtures/corpus: tasks,
#: parallel, long).
SERIAL_TOOLS: frozenset[str] = frozenset(
    {"Edit", "Write", "MultiEdit", "NotebookEdit", "TodoWrite", "TaskCreate", "TaskUpdate"}
)

#: Tools whose call starts a subagent (``Task`` before 2.1.x, ``Agent`` since).
SPAWN_TOOLS: frozenset[str] = frozenset({"Agent", "Task"})
