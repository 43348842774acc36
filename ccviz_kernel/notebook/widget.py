"""``GameView``: the game inline in a notebook, as an anywidget.

Two transports, one scene. With ``transport="socketio"`` the browser joins the game on a
ccviz server itself (the Jupyter server extension, or any ``ccviz serve``). With
``transport="comm"`` the kernel feeds the widget through the widget comm: from a hub in
this kernel (the in-kernel host, a local replay) or from a server the kernel mirrors. That
is what VS Code, Colab and kernels without the server extension get.

Under the town the widget shows the player bar (``widgets/src/player/``): live, the view's
own playhead, or the presenter's replay. :meth:`GameView.seek`, :meth:`~GameView.play`,
:meth:`~GameView.pause` and :meth:`~GameView.follow` drive it from Python. Over the comm the
kernel also answers the bar's reads of the game's history (``history``, ``at``: the same
answers as socket.io's ``game-history`` and ``game-at``) and its replay controls.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anywidget
import traitlets

from ..config import MAX_PAYLOAD_BYTES
from ..engine.game import Applied
from ..engine.town import MAX_SPEED, MIN_SPEED, WORLD_HEIGHT, WORLD_WIDTH
from ..errors import PayloadError
from ..server.broadcast import Broadcaster
from ..server.pages import STATIC

TRANSPORTS = ("socketio", "comm")
#: What :meth:`GameView.follow` takes.
FOLLOW_TARGETS = ("live", "presenter")
#: The requests of the player bar over the comm (``{type, id, ...}``, answered by
#: ``{type: "reply", id, ack}``).
_REQUESTS = ("history", "at", "act", "role")
#: The actions the bar may send over the comm: the replay controls.
_REPLAY_CONTROLS = ("pause", "resume", "step", "seek", "speed")

#: When a server serves the bundle at a URL the browser can reach (the Jupyter extension,
#: same origin), each view carries these few lines instead of the 1.5 MB bundle, in the comm
#: and in the saved notebook.
_LOADER = """const url = new URL(%s, window.location.href).href;
export default { async render(ctx) { const m = await import(url); return m.default.render(ctx); } };
"""


class GameView(anywidget.AnyWidget):
    """The Phaser town for one game. ``GameView(game_id, hub=...)`` or ``(game_id, url=...)``."""

    _esm = STATIC / "widget.js"
    _feed: _Feed | None = None

    game_id = traitlets.Unicode("").tag(sync=True)
    transport = traitlets.Unicode("comm").tag(sync=True)
    server_url = traitlets.Unicode("").tag(sync=True)
    socketio_path = traitlets.Unicode("socket.io").tag(sync=True)
    serializer = traitlets.Unicode("msgpack").tag(sync=True)
    #: Only a viewer token belongs here (it is saved with the notebook); never the ingest one.
    token = traitlets.Unicode("").tag(sync=True)
    #: The view's size on the page; by default the world's own size (one pixel a unit).
    width = traitlets.Int(WORLD_WIDTH).tag(sync=True)
    height = traitlets.Int(WORLD_HEIGHT).tag(sync=True)

    def __init__(
        self,
        game_id: str,
        *,
        hub: Any = None,
        url: str | None = None,
        transport: str = "auto",
        socketio_path: str = "socket.io",
        serializer: str = "msgpack",
        fps: float = 30.0,
        bundle_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        if transport not in ("auto", *TRANSPORTS):
            raise ValueError(f"transport must be 'auto', 'socketio' or 'comm', not {transport!r}")
        if hub is None and url is None:
            raise ValueError("GameView needs a hub (a game in this kernel) or a server url")
        if transport == "auto":
            transport = "comm" if hub is not None else "socketio"
        if transport == "comm" and hub is None and url is None:
            raise ValueError("the comm transport needs a hub or a url to mirror")
        if bundle_url:  # before the comm opens: it must never carry the whole bundle
            import json

            kwargs["_esm"] = _LOADER % json.dumps(bundle_url)
        super().__init__(
            game_id=game_id,
            transport=transport,
            server_url=url or "",
            socketio_path=socketio_path,
            serializer=serializer,
            **kwargs,
        )
        self._hub = hub
        self._feed: _Feed | None = None
        if transport == "comm":
            self._feed = _HubFeed(self, hub, fps) if hub is not None else _MirrorFeed(self, url)
        self.on_msg(self._on_front_message)

    def _on_front_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if self._feed is None or not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "join":
            self._feed.join(content.get("since"))
        elif kind in _REQUESTS:
            self._feed.request(content, lambda ack: self._reply(content.get("id"), ack))

    def _reply(self, request_id: Any, ack: dict[str, Any]) -> None:
        if self._feed is not None:  # closed meanwhile: nobody to answer
            self.send({"type": "reply", "id": request_id, "ack": ack})

    # -- the player bar ----------------------------------------------------------------

    def seek(self, seq: int) -> None:
        """Show the state just after event ``seq`` (``0``: before the first event) on this
        view's own playhead, paused or playing as it was.

        The view leaves the live game (or the presenter's replay) for its own playhead; the
        game and every other view go on unchanged. ``follow()`` comes back.
        """
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ValueError(f"seq must be an integer >= 0, not {seq!r}")
        self.send({"type": "player", "action": "seek", "seq": seq})

    def play(self, speed: float | None = None) -> None:
        """Play this view's own playhead from where it is (from the start when at the end),
        at ``speed`` times the session's pace (the bar offers 0.5× to 16×; any speed a replay
        accepts will do; ``None``: the speed it has).

        Events come at the pace they happened, idle gaps shortened to a few seconds. Only
        this view plays: the game and the presenter's replay are not touched.
        """
        if speed is not None:
            try:
                speed = float(speed)
            except (TypeError, ValueError):
                raise ValueError(f"speed must be a number, not {speed!r}") from None
            if not MIN_SPEED <= speed <= MAX_SPEED:
                raise ValueError(f"speed must be between {MIN_SPEED:g} and {MAX_SPEED:g}")
        message: dict[str, Any] = {"type": "player", "action": "play"}
        if speed is not None:
            message["speed"] = speed
        self.send(message)

    def pause(self) -> None:
        """Pause this view on the state it shows (a live view then holds still on its own
        playhead while the game goes on; ``follow()`` catches up)."""
        self.send({"type": "player", "action": "pause"})

    def follow(self, target: str = "live") -> None:
        """Leave this view's own playhead and show the game itself again: ``"live"`` (the
        game as it happens) or ``"presenter"`` (a replay game's shared replay, as its
        controller drives it). A replay game has only the presenter's replay to follow, a
        logged game only itself: either name brings the view back to it.
        """
        if target not in FOLLOW_TARGETS:
            raise ValueError(f"target must be 'live' or 'presenter', not {target!r}")
        self.send({"type": "player", "action": "follow", "target": target})

    def close(self) -> None:
        if self._feed is not None:  # (a class default: close() also runs after a failed init)
            self._feed.close()
            self._feed = None
        super().close()


class _Feed:
    """Sends a game's updates to one widget over its comm."""

    def __init__(self, view: GameView) -> None:
        self.view = view

    def join(self, since: Any) -> None:
        raise NotImplementedError

    def request(self, content: dict[str, Any], answer: Any) -> None:
        """A request of the player bar: call ``answer(ack)`` with its ack, now or later."""
        answer({"ok": False, "error": "not available here"})

    def close(self) -> None:
        pass


class _HubFeed(_Feed):
    """From a hub in this kernel, coalesced per frame like the server does."""

    def __init__(self, view: GameView, hub: Any, fps: float) -> None:
        super().__init__(view)
        self.broadcaster = Broadcaster(self._emit, fps=fps)
        self.hub = hub
        self._closed = False
        self._unsubscribe = hub.subscribe(self._on_applied)
        # A replay's status as it plays, pauses, seeks (the server sends these as `replay`
        # effects too). The hub may not hand back a way to unsubscribe: then a closed feed
        # just ignores them.
        unsubscribe = hub.subscribe_status(self._on_status)
        self._unsubscribe_status = unsubscribe if callable(unsubscribe) else None

    def _on_status(self, game_id: str, status: dict[str, Any]) -> None:
        if self._closed or game_id != self.view.game_id:
            return
        self.broadcaster.flush(game_id)  # the events played so far come first
        effect = {"gameId": game_id, "kind": "replay", "seq": status["position"], **status}
        self.view.send({"type": "effect", "effect": effect})

    def _on_applied(self, game_id: str, applied: Applied) -> None:
        if game_id == self.view.game_id:
            try:
                self.broadcaster.push(game_id, applied)
            except RuntimeError:  # no running loop: send it straight away
                self.broadcaster.flush(game_id)

    def join(self, since: Any) -> None:
        game_id = self.view.game_id
        self.broadcaster.flush(game_id)
        game = self.hub.game(game_id)
        if game is None:
            from ..engine.game import Game

            game = Game(game_id)
        message: dict[str, Any] = {"type": "snapshot", "snapshot": game.snapshot()}
        clock = getattr(self.hub, "replays", {}).get(game_id)
        if clock is not None:
            message["replay"] = clock.status()
        self.view.send(message)

    def request(self, content: dict[str, Any], answer: Any) -> None:
        try:
            answer(self._answer(content))
        except PayloadError as exc:
            answer({"ok": False, "error": str(exc)})

    def _answer(self, content: dict[str, Any]) -> dict[str, Any]:
        """The same answers as the server's ``game-history``, ``game-at`` and replay
        controls (``ccviz_kernel/server/core.py``), from the hub in this kernel."""
        game_id = self.view.game_id
        kind = content.get("type")
        if kind == "role":  # the kernel owns its hub: the widget may drive its replays
            return {"ok": True, "controller": True}
        if kind == "act":
            action = content.get("action")
            if not isinstance(action, dict) or action.get("type") not in _REPLAY_CONTROLS:
                raise PayloadError(f"the widget may only send {', '.join(_REPLAY_CONTROLS)}")
            return {"ok": True, "seq": self.hub.control(game_id, action["type"], action)}
        history = self.hub.history(game_id)
        if history is None:
            raise PayloadError(f"no game {game_id!r}")
        if kind == "history":
            return {"ok": True, "gameId": game_id, **history.summary()}
        return history.at_ack(
            game_id, content.get("seq"), content.get("count", 0), budget=MAX_PAYLOAD_BYTES
        )

    def _emit(self, event: str, data: Any, _game_id: str) -> None:
        if event == "game-state-update":
            self.view.send({"type": "update", "update": data})
        elif event == "visualization-event":
            self.view.send({"type": "effect", "effect": data})

    def close(self) -> None:
        self._closed = True
        self._unsubscribe()
        if self._unsubscribe_status is not None:
            self._unsubscribe_status()
        self.broadcaster.forget(self.view.game_id)


class _MirrorFeed(_Feed):
    """The kernel joins the game on a server and passes its updates on to the widget."""

    def __init__(self, view: GameView, url: str) -> None:
        super().__init__(view)
        from .mirror import GameMirror

        self.mirror = GameMirror(
            url, view.game_id, serializer=view.serializer, socketio_path=view.socketio_path
        )
        self.mirror.on_raw.append(self._on_raw)
        self._task = asyncio.get_event_loop().create_task(self.mirror.connect())

    def _on_raw(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "snapshot":
            message: dict[str, Any] = {"type": "snapshot", "snapshot": data}
            if self.mirror.replay is not None:  # the join's ack says it is a replay game
                message["replay"] = self.mirror.replay
            self.view.send(message)
        elif kind == "update":
            self.view.send({"type": "update", "update": data})
        elif kind == "effect":
            self.view.send({"type": "effect", "effect": data})

    def join(self, since: Any) -> None:
        if self.mirror.snapshot is not None:
            message: dict[str, Any] = {"type": "snapshot", "snapshot": self.mirror.snapshot}
            if self.mirror.replay is not None:
                message["replay"] = self.mirror.replay
            self.view.send(message)

    def request(self, content: dict[str, Any], answer: Any) -> None:
        """Asked of the server the kernel mirrors, over the mirror's own connection."""
        kind = content.get("type")
        game_id = self.view.game_id
        if kind == "history":
            event, data = "game-history", {"gameId": game_id}
        elif kind == "at":
            data = {"gameId": game_id, "seq": content.get("seq"), "count": content.get("count", 0)}
            event = "game-at"
        elif kind == "act":
            action = content.get("action")
            event, data = "agent-action", {**(action if isinstance(action, dict) else {})}
            data["gameId"] = game_id
        else:  # role: what the server says to an action without a game
            event, data = "agent-action", {}

        async def ask() -> None:
            try:
                ack = await self.mirror.sio.call(event, data, timeout=10)
            except Exception as exc:  # noqa: BLE001 - any failure is the bar's answer
                ack = {"ok": False, "error": f"no answer from the server ({exc})"}
            if kind == "role":
                error = str(ack.get("error", "")) if isinstance(ack, dict) else ""
                ack = {"ok": True, "controller": "controller role" not in error}
            answer(ack if isinstance(ack, dict) else {"ok": False, "error": "bad answer"})

        asyncio.get_event_loop().create_task(ask())

    def close(self) -> None:
        asyncio.get_event_loop().create_task(self.mirror.close())
