"""``GameView``: the game inline in a notebook, as an anywidget.

Two transports, one scene. With ``transport="socketio"`` the browser joins the game on a
ccviz server itself (the Jupyter server extension, or any ``ccviz serve``). With
``transport="comm"`` the kernel feeds the widget through the widget comm: from a hub in
this kernel (the in-kernel host, a local replay) or from a server the kernel mirrors. That
is what VS Code, Colab and kernels without the server extension get.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anywidget
import traitlets

from ..engine.game import Applied
from ..engine.town import WORLD_HEIGHT, WORLD_WIDTH
from ..server.broadcast import Broadcaster
from ..server.pages import STATIC

TRANSPORTS = ("socketio", "comm")

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
        if self._feed is not None and isinstance(content, dict) and content.get("type") == "join":
            self._feed.join(content.get("since"))

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

    def close(self) -> None:
        pass


class _HubFeed(_Feed):
    """From a hub in this kernel, coalesced per frame like the server does."""

    def __init__(self, view: GameView, hub: Any, fps: float) -> None:
        super().__init__(view)
        self.broadcaster = Broadcaster(self._emit, fps=fps)
        self.hub = hub
        self._unsubscribe = hub.subscribe(self._on_applied)

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

    def _emit(self, event: str, data: Any, _game_id: str) -> None:
        if event == "game-state-update":
            self.view.send({"type": "update", "update": data})
        elif event == "visualization-event":
            self.view.send({"type": "effect", "effect": data})

    def close(self) -> None:
        self._unsubscribe()
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
            self.view.send({"type": "snapshot", "snapshot": data})
        elif kind == "update":
            self.view.send({"type": "update", "update": data})
        elif kind == "effect":
            self.view.send({"type": "effect", "effect": data})

    def join(self, since: Any) -> None:
        if self.mirror.snapshot is not None:
            self.view.send({"type": "snapshot", "snapshot": self.mirror.snapshot})

    def close(self) -> None:
        asyncio.get_event_loop().create_task(self.mirror.close())
