"""Where a notebook's games live: a hub in this kernel, or a server in another process.

Both answer the same questions and each knows how to make a view of its games, so the
handles in :mod:`.handles` never care which.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from ..errors import ServerError
from ..events import HookEvent, PayloadError
from ..hub import Hub

T = TypeVar("T")


def loop_running() -> bool:
    """Whether this thread runs an asyncio loop now (a notebook cell, an ``async def``).

    It decides between the two ways the API works: on that loop, as it is, or through a
    :class:`LoopThread` of our own (a plain script).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class LoopThread:
    """An asyncio loop in a daemon thread, for code that runs none (a plain ``python``).

    Replays need a running loop to play, and the hub is not thread-safe, so in a script the
    hub lives on this loop and every call goes through :meth:`call`: the script's calls
    stay plain (``r.resume()``, ``game.agents``) and the replay plays between them. The
    thread starts on first need and stops at :meth:`stop` or at interpreter exit.

    >>> runner = LoopThread()
    >>> runner.call(lambda: 6 * 7)
    42
    >>> runner.stop()
    """

    def __init__(self, name: str = "ccviz-loop") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._registered = False

    @property
    def started(self) -> bool:
        """Whether the thread runs now (it starts on the first :meth:`call`)."""
        return self._thread is not None and self._thread.is_alive()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is not None and self.started:
                return self._loop
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                try:
                    loop.run_forever()
                    tasks = asyncio.all_tasks(loop)
                    for task in tasks:  # the replay clocks: stop them where they wait
                        task.cancel()
                    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                finally:
                    loop.close()

            thread = threading.Thread(target=run, name=self.name, daemon=True)
            thread.start()
            ready.wait()
            self._loop, self._thread = loop, thread
            if not self._registered:  # stop cleanly before the interpreter goes
                atexit.register(self.stop)
                self._registered = True
            return loop

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the loop's thread, waiting for its result (or its
        exception, raised here). Called from that thread, it just calls ``fn``.

        >>> runner = LoopThread()
        >>> runner.call(max, 3, 9)
        9
        >>> runner.stop()
        """
        if self._thread is not None and threading.current_thread() is self._thread:
            return fn(*args, **kwargs)
        loop = self._ensure()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to the caller, raised there
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop; a future to wait on (``.result(timeout)``) or to await
        from another loop (``asyncio.wrap_future``)."""
        return asyncio.run_coroutine_threadsafe(coro, self._ensure())

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop (replays on it stop where they are) and wait for the thread.

        Safe to call twice; the next :meth:`call` starts a new thread.
        """
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None or not thread.is_alive():
            return
        loop.call_soon_threadsafe(loop.stop)
        if threading.current_thread() is not thread:
            thread.join(timeout)

    def __repr__(self) -> str:
        return f"<ccviz loop thread {'running' if self.started else 'idle'}>"


class Backend(Protocol):
    """What the handles need of a place where games live (:class:`LocalBackend`,
    :class:`RemoteBackend`), so they never care which it is."""

    def summaries(self) -> list[dict[str, Any]]:
        """Lobby rows of every game, newest first."""
        ...

    def snapshot(self, game_id: str) -> dict[str, Any] | None:
        """The game's whole state now, or ``None`` if there is no such game."""
        ...

    def event_rows(self, game_id: str) -> list[dict[str, Any]] | None:
        """The game's events as table rows, or ``None`` if there is no such game."""
        ...

    def act(self, game_id: str, action: dict[str, Any]) -> int:
        """Apply an ``agent-action`` (``{"type": "say", ...}``); returns the new seq."""
        ...

    def ingest(self, payload: dict[str, Any]) -> tuple[str, int | None]:
        """Feed a hook payload as Claude Code would; returns ``(game_id, seq)``."""
        ...

    def view(self, game_id: str, **options: Any) -> Any:
        """A GameView of the game, reaching it the best way from here."""
        ...


class LocalBackend:
    """A hub in this process: the in-kernel host, or replays.

    ``runner``: the :class:`LoopThread` that owns the hub in a script (every call goes
    there, so the hub stays on one thread); ``None`` where the caller's own loop owns it (a
    kernel).
    """

    kind = "kernel"

    def __init__(self, hub: Hub, runner: LoopThread | None = None) -> None:
        self.hub = hub
        self.runner = runner

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the hub's thread (here, unless a runner owns it)."""
        if self.runner is None:
            return fn(*args, **kwargs)
        return self.runner.call(fn, *args, **kwargs)

    def summaries(self) -> list[dict[str, Any]]:
        """Lobby rows of the hub's games, newest first. ``backend.summaries()``"""
        return self.call(self.hub.summaries)

    def snapshot(self, game_id: str) -> dict[str, Any] | None:
        """The game's state now, or ``None``. ``backend.snapshot(game_id)``"""
        return self.call(self.hub.snapshot, game_id)

    def event_rows(self, game_id: str) -> list[dict[str, Any]] | None:
        """The game's events as rows, or ``None``. ``backend.event_rows(game_id)``"""
        return self.call(self.hub.event_rows, game_id)

    def act(self, game_id: str, action: dict[str, Any]) -> int:
        """An agent-action on the game; the new seq. ``backend.act(gid, {"type": "say", ...})``"""
        return self.call(self.hub.act, game_id, action)

    def ingest(self, payload: dict[str, Any]) -> tuple[str, int | None]:
        """A hook payload into the hub; ``(game_id, seq)``. ``backend.ingest(payload)``"""
        return self.call(self.hub.ingest, payload)

    def has(self, game_id: str) -> bool:
        """Whether the hub knows the game. ``backend.has(game_id)``"""
        return self.call(self.hub.game, game_id) is not None

    def is_replay(self, game_id: str) -> bool:
        """Whether ``game_id`` is a replay here (it takes no new events: fork it)."""
        return game_id in self.hub.replays

    def fork(self, game_id: str, new_id: str | None = None) -> str:
        """A live copy of the game as it is now (:meth:`ccviz_kernel.hub.Hub.fork`)."""
        return self.call(self.hub.fork, game_id, new_id=new_id)

    def view(self, game_id: str, **options: Any) -> Any:
        """A GameView fed straight from the hub in this kernel, through the widget's comm."""
        from .widget import GameView

        return self.call(lambda: GameView(game_id, hub=self.hub, **options))


def _cut_strings(value: Any, limit: int = 4096, depth: int = 0) -> Any:
    """``value`` with every string longer than ``limit`` cut (nested up to 50 deep)."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "… [cut by ccviz]"
    if depth > 50:
        return None
    if isinstance(value, dict):
        return {k: _cut_strings(v, limit, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut_strings(v, limit, depth + 1) for v in value[:1000]]
    return value


class RemoteBackend:
    """A ccviz server in another process (the Jupyter extension, ``ccviz serve``), over HTTP.

    Calls are short blocking requests: fine from a kernel, whose loop the server does not
    share.
    """

    def __init__(self, url: str, token: str, kind: str = "server", timeout: float = 10.0) -> None:
        self.url = url.rstrip("/") + "/"
        self.kind = kind
        self._token = token
        self.timeout = timeout
        self._runner: LoopThread | None = None

    @property
    def runner(self) -> LoopThread:
        """A loop of its own (a :class:`LoopThread`, started on first need) for what must
        listen to the server between calls: a :class:`~.mirror.GameMirror` behind
        ``game.on_permission``. Not the kernel's loop, which a blocking cell stops."""
        if self._runner is None:
            self._runner = LoopThread(name="ccviz-remote")
        return self._runner

    def mirror(self, game_id: str, timeout: float = 10.0) -> Any:
        """A connected :class:`~.mirror.GameMirror` of the game, on :attr:`runner`'s loop
        (close it there: ``backend.runner.submit(mirror.close())``), with this backend's
        token, so the server sees the same controller."""
        from .mirror import GameMirror

        mirror = GameMirror(self.url, game_id, token=self._token or None)
        try:
            self.runner.submit(mirror.connect(timeout)).result(timeout + 5)
        except Exception as exc:  # socket.io's connection errors, a refused join, a timeout
            self.runner.submit(mirror.close())  # no reconnecting in the background
            raise ServerError(f"cannot follow game {game_id!r} at {self.url}: {exc}") from None
        return mirror

    def __repr__(self) -> str:  # never show the token
        return f"RemoteBackend({self.url!r}, kind={self.kind!r})"

    def _call(self, path: str, data: Any = None) -> tuple[int, Any]:
        body = None if data is None else json.dumps(data).encode()
        request = urllib.request.Request(
            self.url + path,
            data=body,
            method="GET" if body is None else "POST",
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except OSError as exc:
            raise ServerError(f"cannot reach the ccviz server at {self.url}: {exc}") from None
        if status in (401, 403):
            raise ServerError(f"the ccviz server at {self.url} refused the token (HTTP {status})")
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def summaries(self) -> list[dict[str, Any]]:
        """Lobby rows from ``GET api/games`` (none if the server refuses)."""
        status, data = self._call("api/games")
        return data["games"] if status == 200 else []

    def snapshot(self, game_id: str) -> dict[str, Any] | None:
        """The game's state from the server, or ``None`` if it has no such game."""
        status, data = self._call(f"api/games/{quote(game_id, safe='')}")
        return data if status == 200 else None

    def event_rows(self, game_id: str) -> list[dict[str, Any]] | None:
        """The game's events as rows from the server, or ``None``."""
        status, data = self._call(f"api/games/{quote(game_id, safe='')}/events")
        return data["events"] if status == 200 else None

    def act(self, game_id: str, action: dict[str, Any]) -> int:
        """An agent-action through ``POST api/games/<id>/actions``; a :class:`PayloadError`
        with the server's reason if refused."""
        status, data = self._call(f"api/games/{quote(game_id, safe='')}/actions", action)
        if status != 200 or not isinstance(data, dict) or not data.get("ok"):
            error = data.get("error") if isinstance(data, dict) else data
            raise PayloadError(str(error or f"HTTP {status}"))
        return data["seq"]

    def ingest(self, payload: dict[str, Any]) -> tuple[str, int | None]:
        """A hook payload through ``POST api/hooks``, as Claude Code sends it; the seq is
        not reported (``None``)."""
        status, data = self._call("api/hooks", payload)
        if status >= 300:
            raise PayloadError(str(data).strip() or f"HTTP {status}")
        sid = payload.get("session_id")
        return (sid if isinstance(sid, str) else ""), None

    def upload_replay(
        self, game_id: str, events: list[HookEvent], *, part_bytes: int = 900_000
    ) -> dict[str, Any]:
        """Open a recording on the server as a replay game (``POST api/replays``, in parts
        under the server's 1 MiB body limit); returns the server's last answer."""
        parts: list[list[dict[str, Any]]] = [[]]
        size = 0
        for event in events:
            payload = event.payload
            if event.ts is not None and "timestamp" not in payload:
                payload = {**payload, "timestamp": event.ts}
            length = len(json.dumps(payload)) + 2
            if length > part_bytes:  # a file's whole contents: the game shows a summary only
                payload = _cut_strings(payload)
                length = len(json.dumps(payload)) + 2
            if parts[-1] and size + length > part_bytes:
                parts.append([])
                size = 0
            parts[-1].append(payload)
            size += length
        answer: Any = None
        for index, part in enumerate(parts):
            done = index == len(parts) - 1
            status, answer = self._call(
                "api/replays", {"gameId": game_id, "events": part, "done": done}
            )
            if status != 200 or not isinstance(answer, dict) or not answer.get("ok"):
                error = answer.get("error") if isinstance(answer, dict) else answer
                raise ServerError(f"the server refused the recording: {error or f'HTTP {status}'}")
        return answer

    def view(self, game_id: str, **options: Any) -> Any:
        """A GameView that reaches the game the best way from here.

        Under the Jupyter extension the browser is on Jupyter's own origin, so the view joins
        there over socket.io with Jupyter's login and loads the bundle from the server (a
        small loader instead of the bundle in every view). Only a kernel that this Jupyter
        server started gets a ``jupyter`` backend (:mod:`.discovery`): on any other page
        that origin is not Jupyter's. Elsewhere this kernel mirrors the game and feeds the
        view through the comm.
        """
        from urllib.parse import urlsplit

        from .widget import GameView

        if self.kind == "jupyter":
            base = urlsplit(self.url).path.rstrip("/")
            return GameView(
                game_id,
                url="",
                transport="socketio",
                socketio_path=base + "/socket.io",
                bundle_url=base + "/static/widget.js",
                **options,
            )
        return GameView(game_id, url=self.url, transport="comm", **options)

    def reachable(self, timeout: float | None = None) -> bool:
        """Whether the server answers, with our token, within ``timeout`` seconds (default
        this backend's own): discovery asks with a short one, so a dead server costs little."""
        saved = self.timeout
        if timeout is not None:
            self.timeout = timeout
        try:
            return self._call("api/games")[0] == 200
        except ServerError:
            return False
        finally:
            self.timeout = saved
