"""A live Python mirror of one game, over python-socketio's ``AsyncClient``.

It speaks the same protocol as the browser and applies updates with the same
:func:`~ccviz_kernel.engine.deltas.apply_deltas`; on a gap in ``seq`` it re-joins with ``since``
and is brought up to date. The tests use it, and notebook handles build on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..engine.deltas import apply_in_place
from ..errors import ClientError

#: Seconds before the first reconnect attempt (python-socketio doubles it on each failure).
RECONNECT_DELAY = 0.2
#: Seconds a join waits for its answer; after a reconnect an unanswered join is asked again.
JOIN_TIMEOUT = 10.0
#: Longest pause between two re-joins that got no answer.
REJOIN_DELAY_MAX = 2.0


class GameMirror:
    def __init__(
        self,
        url: str,
        game_id: str,
        *,
        token: str | None = None,
        serializer: str = "msgpack",
        socketio_path: str = "socket.io",
        headers: dict[str, str] | None = None,
    ) -> None:
        import socketio

        self.url = url
        self.game_id = game_id
        self.token = token
        #: A relative path is under the URL's own path (a server with ``--base-url``):
        #: socket.io's client would otherwise drop that path and ask the host's root.
        self.socketio_path = _under(url, socketio_path)
        self.headers = headers or {}
        self.snapshot: dict[str, Any] | None = None
        self.effects: list[dict[str, Any]] = []
        self.replay: dict[str, Any] | None = None
        self.updates = 0
        self.rejoins = 0
        self.on_update: list[Callable[[GameMirror], None]] = []
        self.join_timeout = JOIN_TIMEOUT
        #: ``callback(kind, data)`` for what arrives as it arrives: ``"snapshot"`` (after a
        #: join), ``"update"`` (a game-state-update applied, its ``effects`` inside it) and
        #: ``"effect"`` (a ``visualization-event``: replay status); a relay (the notebook
        #: widget's comm) passes these on untouched.
        self.on_raw: list[Callable[[str, dict[str, Any]], None]] = []
        self._changed = asyncio.Event()
        self._joining = False
        self.sio = socketio.AsyncClient(
            serializer=serializer,
            reconnection=True,
            reconnection_delay=RECONNECT_DELAY,
            reconnection_delay_max=2,
        )
        self.sio.on("game-state-update", self._on_update)
        self.sio.on("visualization-event", self._on_effect)
        self.sio.on("connect", self._on_connect)
        self.sio.on("server-closing", self._on_closing)
        #: The last ``server-closing`` hint (a drain): its reason and reconnect delay.
        self.closing: dict[str, Any] | None = None

    @property
    def seq(self) -> int:
        return self.snapshot["seq"] if self.snapshot is not None else 0

    async def connect(self, timeout: float = 10.0) -> GameMirror:
        await self.sio.connect(
            self.url,
            transports=["websocket"],
            socketio_path=self.socketio_path,
            auth={"token": self.token} if self.token else None,
            headers=self.headers,
            wait_timeout=timeout,
        )
        await self.join()
        return self

    async def close(self) -> None:
        await self.sio.disconnect()

    async def __aenter__(self) -> GameMirror:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def join(self, since: int | None = None) -> None:
        data: dict[str, Any] = {"gameId": self.game_id}
        if since is not None:
            data["since"] = since
        self._joining = True
        try:
            ack = await self.sio.call("join-game", data, timeout=self.join_timeout)
        finally:
            self._joining = False
        if not ack.get("ok"):
            raise ClientError(ack.get("error") or "join-game refused")
        if "replay" in ack:
            self.replay = ack["replay"]
        if "snapshot" in ack:
            self.snapshot = ack["snapshot"]
        elif self.snapshot is not None and ack.get("from") == self.seq + 1:
            apply_in_place(self.snapshot, ack["deltas"])
            self.snapshot["seq"] = ack["seq"]
        else:  # the catch-up does not fit what we hold: start again from a snapshot
            await self.join()
            return
        self._relay("snapshot", self.snapshot)
        self._notify()

    async def act(self, kind: str, **fields: Any) -> int:
        """Send an ``agent-action`` (needs the ingest token); returns the new seq."""
        ack = await self.sio.call(
            "agent-action", {"gameId": self.game_id, "type": kind, **fields}, timeout=10
        )
        if not ack.get("ok"):
            raise ClientError(ack.get("error") or "agent-action refused")
        return ack["seq"]

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """Wait until ``predicate(snapshot)`` holds; returns the snapshot."""

        async def wait() -> dict[str, Any]:
            while self.snapshot is None or not predicate(self.snapshot):
                self._changed.clear()
                await self._changed.wait()
            return self.snapshot

        return await asyncio.wait_for(wait(), timeout)

    async def wait_seq(self, seq: int, timeout: float = 10.0) -> dict[str, Any]:
        return await self.wait_for(lambda s: s["seq"] >= seq, timeout)

    async def _on_closing(self, data: Any) -> None:
        """A draining server's hint: come back after its delay (each viewer its own)."""
        self.closing = data if isinstance(data, dict) else {}
        after = self.closing.get("retryAfterMs")
        if isinstance(after, (int, float)) and 0 <= after <= 10_000:
            self.sio.reconnection_delay = max(0.05, after / 1000)

    async def _on_connect(self) -> None:
        self.sio.reconnection_delay = RECONNECT_DELAY
        if self.snapshot is not None:  # a reconnect: catch up from where we were
            asyncio.ensure_future(self._rejoin_connected())

    async def _rejoin_connected(self) -> None:
        """Re-join after a reconnect; a join that gets no answer is asked again while the
        connection lasts, as the page does (a server whose event log is away, Redis
        restarting, answers no join of a game it does not hold until the log is back)."""
        import socketio

        delay = RECONNECT_DELAY
        while True:
            try:
                await self._rejoin()
                return
            except socketio.exceptions.TimeoutError:
                if not self.sio.connected:
                    return  # the next connect re-joins
                await asyncio.sleep(delay)
                delay = min(2 * delay, REJOIN_DELAY_MAX)

    async def _on_update(self, data: dict[str, Any]) -> None:
        if data.get("gameId") != self.game_id or self.snapshot is None or self._joining:
            return
        if not data.get("reset"):  # reset: the game was rebuilt (a replay seeking back)
            if data["seq"] <= self.seq:
                return  # already have it (sent before our snapshot was taken)
            if data["from"] != self.seq + 1:
                await self._rejoin()
                return
        apply_in_place(self.snapshot, data["deltas"])
        self.updates += 1
        # the update's effects (protocol §4): kept once, with the update that brought them
        self._keep_effects({"gameId": self.game_id, **e} for e in data.get("effects", ()))
        self._relay("update", data)
        self._notify()

    async def _rejoin(self) -> None:
        self.rejoins += 1
        await self.join(since=self.seq)

    async def _on_effect(self, data: dict[str, Any]) -> None:
        if data.get("gameId") == self.game_id:
            if data.get("kind") == "replay":
                self.replay = {
                    k: data[k] for k in ("playing", "speed", "position", "total", "loop")
                }
            self._keep_effects((data,))
            self._relay("effect", data)

    def _keep_effects(self, effects: Any) -> None:
        self.effects.extend(effects)
        del self.effects[:-500]

    def _relay(self, kind: str, data: dict[str, Any]) -> None:
        for callback in list(self.on_raw):
            callback(kind, data)

    def _notify(self) -> None:
        self._changed.set()
        for callback in list(self.on_update):
            callback(self)


def _under(url: str, path: str) -> str:
    """``path`` as an absolute path: a relative one is taken under ``url``'s path."""
    if path.startswith("/"):
        return path
    from urllib.parse import urlsplit

    return urlsplit(url).path.rstrip("/") + "/" + path
