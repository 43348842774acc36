"""The permission desk: hold Claude Code's ``PermissionRequest`` hook until someone answers.

``POST api/permissions`` (protocol.md §14) logs the request as its event, with a fresh id
(``ccviz_request``), and waits. Answers are never delivered to the desk directly: they are
``ccviz.permission`` events in the game's log (an ``agent-action`` of type ``permission``
from a page, a widget, Python, a rule; checked by the engine, so only the first counts), and
the desk watches what the hub applies. So an answer logged anywhere — this process, a
kernel's hub, another server sharing the Redis log — reaches the held hook, and a replay
shows it. What the request ends as is read from the game's state, the one truth.

Never worse than without ccviz: every way this can end without a decision (the wait runs
out, Claude Code gives up first and closes the connection, the server stops, a rule passes)
answers no decision, and Claude Code asks in its own way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Any

from ..errors import PayloadError, StoreError

log = logging.getLogger("ccviz.server")

#: Hooks one server holds at most: each is an open connection and an open request in its
#: game, and a team's sessions ask one at a time each; past it, a new one gets 429 at once
#: (Claude Code then asks in its own way), so a runaway client cannot pile them up.
MAX_HELD = 256
#: How often a held hook looks whether Claude Code is still there (seconds).
GONE_EVERY = 0.25
#: An answerable request still open this long after it was asked (beyond the wait) can no
#: longer be held by anyone (the hook's own timeout has passed): it is closed as withdrawn.
STALE_AFTER = 15.0


class PermissionDesk:
    """The hooks one server holds, by ``(game_id, request id)``."""

    def __init__(self, hub: Any, wait: float) -> None:
        self.hub = hub
        #: Seconds a hook is held at most (``--answer-wait``).
        self.wait = wait
        self._held: dict[tuple[str, str], asyncio.Future[dict[str, Any] | None]] = {}
        #: A held question's tool_input as Claude Code sent it: an answer goes back inside it.
        self._inputs: dict[tuple[str, str], Any] = {}
        self._unsubscribe = hub.subscribe(self._on_applied)

    def new_id(self) -> str:
        """A request id: short, unguessable enough, and nothing a redactor takes for a secret."""
        return "p" + secrets.token_hex(6)

    def held(self) -> int:
        return len(self._held)

    async def hold(
        self, game_id: str, request_id: str, gone: Callable[[], bool], tool_input: Any = None
    ) -> dict[str, Any] | None:
        """Wait for the answer to a request just logged: the decision Claude Code gets
        (``hookSpecificOutput``), or ``None`` for none. ``tool_input``: what a question's
        answer goes back inside (``updatedInput``)."""
        key = (game_id, request_id)
        self._inputs[key] = tool_input
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._held[key] = future
        self._settle(game_id)  # answered already (a rule on the same loop turn)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        try:
            while not future.done():
                left = deadline - loop.time()
                if left <= 0:
                    self._close(game_id, request_id, "expire")
                    break
                if gone():
                    self._close(game_id, request_id, "withdraw")
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(future), min(GONE_EVERY, left))
            return future.result() if future.done() else self._decision(game_id, request_id)
        finally:
            self._held.pop(key, None)
            self._inputs.pop(key, None)

    def stop(self) -> None:
        """The server stops: every held hook gets no decision now (Claude Code asks itself)."""
        for (game_id, rid), future in list(self._held.items()):
            if not future.done():
                self._close(game_id, rid, "withdraw")
                if not future.done():
                    future.set_result(None)
        self._unsubscribe()

    def sweep(self, now_ms: int) -> int:
        """Close open answerable requests nobody can be holding any more (their hook timed
        out: a server that held them was killed or restarted); how many."""
        closed = 0
        limit = (self.wait + STALE_AFTER) * 1000
        for game_id in self.hub.live_ids():
            game = self.hub.game(game_id)
            if game is None:
                continue
            for rid, request in list(game.peek("permissions").items()):
                asked = request["askedAt"]
                if (
                    request["state"] == "open"
                    and request["answerable"]
                    and (game_id, rid) not in self._held
                    and asked is not None
                    and now_ms - asked > limit
                ):
                    self._close(game_id, rid, "withdraw")
                    closed += 1
        return closed

    # -- the log decides ----------------------------------------------------------------

    def _close(self, game_id: str, request_id: str, behavior: str) -> None:
        """Log the server's own end of a request (``expire``, ``withdraw``); an answer that
        came first wins (the engine refuses this one then, and the state says the answer)."""
        payload = {
            "hook_event_name": "ccviz.permission",
            "session_id": game_id,
            "request": request_id,
            "behavior": behavior,
            "by": "ccviz",
            "source": "server",
        }
        try:
            self.hub.ingest(payload)
        except PayloadError:
            pass  # answered meanwhile: _settle picks the answer up
        except StoreError as exc:  # the hook still gets no decision; the log says later
            log.warning("could not log the end of permission request %s: %s", request_id, exc)
        self._settle(game_id)

    def _on_applied(self, game_id: str, applied: Any) -> None:
        if self._held:
            self._settle(game_id)

    def _settle(self, game_id: str) -> None:
        for (gid, rid), future in list(self._held.items()):
            if gid != game_id or future.done():
                continue
            request = self._request(gid, rid)
            if request is not None and request["state"] != "open":
                future.set_result(self._decision(gid, rid))

    def _request(self, game_id: str, request_id: str) -> dict[str, Any] | None:
        game = self.hub.game(game_id)
        return game.peek("permissions").get(request_id) if game is not None else None

    def _decision(self, game_id: str, request_id: str) -> dict[str, Any] | None:
        request = self._request(game_id, request_id)
        if request is None:
            return None
        state = request["state"]
        if request.get("kind") == "elicitation":
            if state not in ("accepted", "declined"):
                return None
            output: dict[str, Any] = {"hookEventName": "Elicitation"}
            output["action"] = "accept" if state == "accepted" else "decline"
            if state == "accepted":
                output["content"] = request["answer"] or {}
            return {"hookSpecificOutput": output}
        if state == "answered":  # a question: allowed, its answers inside the input
            sent = self._inputs.get((game_id, request_id))
            updated = {**(sent if isinstance(sent, dict) else {}), "answers": request["answer"]}
            decision = {"behavior": "allow", "updatedInput": updated}
            return {
                "hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": decision}
            }
        if state not in ("allowed", "denied"):
            return None
        if state == "allowed":
            decision = {"behavior": "allow"}
            if request["always"]:
                decision["updatedPermissions"] = [
                    {
                        "type": "addRules",
                        "rules": [{"toolName": request["tool"]}],
                        "behavior": "allow",
                        "destination": "session",
                    }
                ]
        else:
            who = f" by {request['by']}" if request["by"] else ""
            message = request["message"] or f"Denied{who} from ccviz."
            decision = {"behavior": "deny", "message": message}
        return {"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": decision}}
