"""The quest board: the todo list from ``TodoWrite`` calls and the ``Task*`` tools and hooks.

Two sources feed one ``todos`` list: ``TodoWrite`` replaces the whole list, while
``TaskCreated``/``TaskCompleted`` hooks and ``TaskUpdate`` calls change one task by id. A
delta is only recorded when the list really changes.
"""

from __future__ import annotations

from typing import Any

from ..events import HookEvent
from ._core import GameCore, as_key
from .speech import shorten

_TODO_STATUSES = frozenset({"pending", "in_progress", "completed"})


class TodoRules(GameCore):
    """Keeping ``todos`` in step with the session's task list."""

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
                    "status": status if as_key(status) in _TODO_STATUSES else "pending",
                }
            )
        if todos != self._state["todos"]:
            self._set(("todos",), todos)


def _str_or_none(value: Any) -> str | None:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)[:100]
    return None
