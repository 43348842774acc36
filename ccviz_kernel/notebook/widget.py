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

What a view costs a notebook (docs/design.md §2): each view's ``_esm`` is a loader of a few
hundred bytes that imports the bundle once per page — from the server's static URL when one
serves it (the Jupyter extension), else from the one :class:`BundleHolder` widget every view
of the kernel refers to, which carries the bundle gzipped (about 0.5 MB) once in the comm
and once in the saved notebook, however many views there are. Each view's ``_offline`` trait
holds its game's compact log (:mod:`ccviz_kernel.replays.export`; tens of KB): a saved
notebook opened without a kernel, nbconvert HTML and nbviewer draw and play it from there.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from typing import Any

import anywidget
import traitlets

from ..config import MAX_PAYLOAD_BYTES, os_user
from ..engine.game import Applied
from ..engine.town import MAX_SPEED, MIN_SPEED, WORLD_HEIGHT, WORLD_WIDTH
from ..errors import PayloadError
from ..replays.export import encode_log, offline_log
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

#: Each view's ``_esm``: imports the bundle once per page, from ``BUNDLE_URL`` (the server's
#: static URL, when there is one) or else from the :class:`BundleHolder` model the view's
#: ``_bundle`` names (gzip, base64). A few hundred bytes in the comm and the saved notebook
#: instead of the 1.5 MB bundle per view.
_LOADER = """const BUNDLE_URL = %s;
async function load(model) {
  const ref = String(model.get("_bundle") || "").replace(/^IPY_MODEL_/, "");
  if (BUNDLE_URL) {
    try { return await import(new URL(BUNDLE_URL, location.href).href); }
    catch (e) { if (!ref) throw e; }
  }
  if (!ref) throw new Error("ccviz: no bundle to load");
  const holder = await model.widget_manager.get_model(ref);
  const bin = Uint8Array.from(atob(holder.get("source")), (c) => c.charCodeAt(0));
  const gz = new Blob([bin]).stream().pipeThrough(new DecompressionStream("gzip"));
  const code = new Blob([await new Response(gz).text()], { type: "text/javascript" });
  const url = URL.createObjectURL(code);
  try { return await import(url); } finally { URL.revokeObjectURL(url); }
}
function bundle(model) {
  const p = (globalThis.__ccvizBundle ??= load(model));
  p.catch(() => { if (globalThis.__ccvizBundle === p) globalThis.__ccvizBundle = null; });
  return p;
}
export default {
  async render(ctx) { const m = await bundle(ctx.model); return m.default.render(ctx); },
};
"""


class BundleHolder(anywidget.AnyWidget):
    """The widget bundle, gzipped, in one model that every :class:`GameView` of this kernel
    refers to: the bundle crosses the comm and lands in a saved notebook once, not once per
    view. Never displayed; its own ``_esm`` is empty."""

    _esm = "export default {};"
    source = traitlets.Unicode("").tag(sync=True)


_holder: BundleHolder | None = None


def bundle_holder() -> BundleHolder:
    """The kernel's one :class:`BundleHolder` (made again if it was closed)."""
    global _holder
    if _holder is None or getattr(_holder, "comm", None) is None:
        data = gzip.compress((STATIC / "widget.js").read_bytes(), compresslevel=9, mtime=0)
        _holder = BundleHolder(source=base64.b64encode(data).decode("ascii"))
    return _holder


class GameView(anywidget.AnyWidget):
    """The Phaser town for one game. ``GameView(game_id, hub=...)`` or ``(game_id, url=...)``.

    With a ``hub`` (a game in this kernel) the view talks to it over the widget's comm; with
    a server ``url`` it follows the game over socket.io (``transport="auto"`` picks). A
    handle makes one for you, and Python drives its player bar::

        view = conn.game(game_id).view()    # or GameView(game_id, url="http://127.0.0.1:8765")
        view.seek(120)                      # this view's own playhead: the game goes on
        view.play(speed=4); view.pause()
        view.follow("live")                 # back to the game as it happens
        view.freeze()                       # save the game as it is now with the notebook

    ``offline=True`` (the default) keeps the game's compact log and the bundle in the
    notebook, so a saved notebook shows the view without a kernel.
    """

    _esm = traitlets.Unicode(_LOADER % "null").tag(sync=True)
    _feed: _Feed | None = None
    _offline_wanted = False
    #: The model that holds the bundle when no server serves it (``IPY_MODEL_<id>``).
    _bundle = traitlets.Unicode("").tag(sync=True)
    #: The game's offline log (``replays/export.py``: base64 of gzipped JSON), shown when no
    #: kernel or server answers; "" until :meth:`freeze` (or the game's end) fills it.
    _offline = traitlets.Unicode("").tag(sync=True)

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
        offline: bool = True,
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
        # Before the comm opens: it must never carry the whole bundle.
        kwargs["_esm"] = _LOADER % json.dumps(bundle_url or None)
        # The bundle a page without a server still needs, once per notebook; with
        # offline=False a view the server's URL serves carries none (a 1 KB loader only).
        if offline or not bundle_url:
            kwargs["_bundle"] = f"IPY_MODEL_{bundle_holder().model_id}"
        if offline:  # in the comm's first message: no second one to carry the log
            history = _history_of(hub, game_id)
            if history is not None and history.seq:
                kwargs["_offline"] = encode_log(offline_log(history))
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
        self._offline_wanted = offline
        if transport == "comm":
            self._feed = _HubFeed(self, hub, fps) if hub is not None else _MirrorFeed(self, url)
        self.on_msg(self._on_front_message)

    # -- without a kernel ----------------------------------------------------------------

    def freeze(self) -> int:
        """Put the game as it is now into the view's saved state (its offline log), so that
        the notebook saved from here shows and plays it without a kernel: nbconvert HTML,
        nbviewer, a notebook opened later. Returns the log's size in bytes (0: no history
        here to freeze).

        Views of a game in this kernel freeze when made and again when the game ends; call
        this to save a live game's later state. The live view does not change.
        """
        history = _history_of(self._hub, self.game_id)
        if history is None or history.seq == 0:
            return 0
        self._offline = encode_log(offline_log(history))
        return len(self._offline)

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
        """Stop following the game and close the widget (its output area shows nothing).
        The game is not touched; closing twice is fine::

            view = game.view()
            view.close()
        """
        if self._feed is not None:  # (a class default: close() also runs after a failed init)
            self._feed.close()
            self._feed = None
        super().close()


def _history_of(hub: Any, game_id: str) -> Any:
    """The game's history: from the hub in this kernel, else from the event store on this
    machine (the one the Jupyter extension writes), else ``None``."""
    if hub is not None:
        try:
            return hub.history(game_id)
        except Exception:  # noqa: BLE001 - a hub that cannot tell: nothing to freeze
            return None
    import os

    from ..config import db_path
    from ..events import parse_event
    from ..replays.export import history_of
    from ..store import EventStore, StoreError

    if not os.path.exists(db_path()):  # never make a store just to look into it
        return None
    try:
        with EventStore() as store:
            if store.last_seq(game_id) == 0:
                return None
            rows = list(store.events(game_id))
    except StoreError:
        return None
    return history_of(game_id, (parse_event(r.payload, ts=r.ts, session_id=game_id) for r in rows))


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
            if self.view._offline_wanted and any(
                d[0] == "set" and d[1] == ["status"] and d[2] == "ended" for d in applied.deltas
            ):
                self._freeze_soon()

    def _freeze_soon(self) -> None:
        """The game ended: save it whole in the view's state, after the hub's apply."""
        try:
            asyncio.get_running_loop().call_soon(self._freeze)
        except RuntimeError:
            self._freeze()

    def _freeze(self) -> None:
        if not self._closed:
            self.view.freeze()

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
            if isinstance(action, dict) and action.get("type") == "permission":
                # the person at this notebook answers a held permission request (§14)
                by = action.get("by") or os_user("notebook")
                answer = {**action, "source": "widget", "by": by}
                return {"ok": True, "seq": self.hub.act(game_id, answer)}
            if not isinstance(action, dict) or action.get("type") not in _REPLAY_CONTROLS:
                raise PayloadError(
                    f"the widget may only send {', '.join(_REPLAY_CONTROLS)} or permission"
                )
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
        if event == "game-state-update":  # its effects inside it (protocol §4)
            self.view.send({"type": "update", "update": data})

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
