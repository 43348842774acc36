"""The quest board: the todo list from ``TodoWrite`` calls and the ``Task*`` tools and hooks.

Two sources feed one ``todos`` list: a successful ``TodoWrite`` replaces the whole list,
while ``TaskCreated``/``TaskCompleted`` hooks and successful ``TaskCreate``/``TaskUpdate``
calls change one task by id (a hook and the call's result naming the same task add it once). A
delta is only recorded when the list really changes.
"""

from __future__ import annotations

from typing import Any

from ..events import HookEvent
from ._core import MAIN, GameCore, as_key
from .speech import shorten

_TODO_STATUSES = frozenset({"pending", "in_progress", "completed"})


class TodoRules(GameCore):
    """Keeping ``todos`` in step with the session's task list."""

    def _on_task_created(self, event: HookEvent) -> None:
        p = event.payload
        self._note_task_hook(event, "TaskCreate")
        self._add_task(p.get("task_id"), p.get("task_subject") or p.get("task_description"))

    def _on_task_completed(self, event: HookEvent) -> None:
        self._note_task_hook(event, "TaskUpdate")
        self._update_task(event.get("task_id"), "completed", event.get("task_subject"))

    def _note_task_hook(self, event: HookEvent, tool: str) -> None:
        """The hook fired inside the oldest open call of ``tool`` that had none yet."""
        call = unhooked_task_call(self._scratch, event.agent_id or MAIN, tool)
        if call is not None:
            self._scratch.task_hooked.add(call)

    def _update_task(self, task_id: Any, status: Any, subject: Any = None) -> None:
        task_id = _str_or_none(task_id)
        if task_id is None:
            return
        todos = [dict(t) for t in self._state["todos"]]
        for todo in todos:
            if todo.get("id") == task_id:
                if status == "deleted":
                    todos.remove(todo)
                elif as_key(status) in _TODO_STATUSES:
                    todo["status"] = status
                break
        else:
            if as_key(status) in _TODO_STATUSES:
                todos.append(
                    {
                        "id": task_id,
                        "content": shorten(str(subject or f"Task {task_id}")),
                        "status": status,
                    }
                )
        if todos != self._state["todos"]:
            self._set(("todos",), todos)

    def _take_todo_result(self, tool: str | None, tool_input: Any, response: Any) -> None:
        """A successful ``TodoWrite``/``TaskCreate``/``TaskUpdate`` call's effect on the board."""
        args = tool_input if isinstance(tool_input, dict) else {}
        result = response if isinstance(response, dict) else {}
        if tool == "TodoWrite":
            todos = result.get("newTodos")
            self._set_todos(todos if isinstance(todos, list) else args.get("todos"))
        elif tool == "TaskCreate":
            task = result.get("task")
            task = task if isinstance(task, dict) else {}
            self._add_task(
                task.get("id"),
                task.get("subject") or args.get("subject") or args.get("description"),
            )
        elif tool == "TaskUpdate":
            task_id = args.get("taskId")
            self._update_task(task_id, args.get("status"), args.get("subject"))

    def _add_task(self, task_id: Any, subject: Any) -> None:
        todo = {
            "id": _str_or_none(task_id),
            "content": shorten(str(subject or "task")),
            "status": "pending",
        }
        todos = self._state["todos"]
        if todo["id"] is not None and any(t.get("id") == todo["id"] for t in todos):
            return
        self._set(("todos",), [*todos, todo])

    def _set_todos(self, items: Any) -> None:
        if not isinstance(items, list):
            return
        todos = []
        statuses = _TODO_STATUSES
        # ``_str_or_none`` and ``as_key`` written out: every TodoWrite result lists the
        # whole board again (its cost was a tenth of all PostToolUse time in the long
        # session, on the path of the 150k lines/s budget; bench/engine_bench.py).
        for item in items[:200]:
            if not isinstance(item, dict):
                continue
            get = item.get
            content = get("content") or get("subject") or ""
            status = get("status")
            ident = get("id")
            if ident is not None:
                ident = _str_or_none(ident)
            todos.append(
                {
                    "id": ident,
                    "content": shorten(content if type(content) is str else str(content)),
                    "status": status
                    if isinstance(status, str) and status in statuses
                    else "pending",
                }
            )
        if todos != self._state["todos"]:
            self._set(("todos",), todos)


def _str_or_none(value: Any) -> str | None:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)[:100]
    return None


def unhooked_task_call(scratch: Any, agent_id: str, tool: str) -> str | None:
    """The oldest open ``tool`` call of the agent whose task hook has not come yet."""
    for use_id, (owner, call) in scratch.open_calls.items():
        if owner == agent_id and call.get("name") == tool and use_id not in scratch.task_hooked:
            return use_id
    return None
