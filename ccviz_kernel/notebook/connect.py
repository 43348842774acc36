"""``ccviz.connect()``: the notebook's way into ccviz.

It finds where games live by itself (:func:`connect` says in which order): the ccviz of
the Jupyter server that started this kernel, else a ``ccviz serve`` named in the runtime
file, else the in-kernel host. Replays always run in this kernel, so they need no server
and play in any notebook front end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from ..hub import Hub
from .backends import Backend, LocalBackend, LoopThread, RemoteBackend, loop_running
from .handles import GameHandle, GameNotFound, ReplayController, _cells, load_with_progress


class Games(Mapping[str, GameHandle]):
    """The games right now (each access asks again, so it is always current)."""

    def __init__(self, hub: Connection) -> None:
        self._hub = hub

    def _rows(self) -> list[dict[str, Any]]:
        return self._hub.summaries()

    def __getitem__(self, game_id: str) -> GameHandle:
        return self._hub.game(game_id)

    def __iter__(self) -> Iterator[str]:
        return iter([row["gameId"] for row in self._rows()])

    def __len__(self) -> int:
        return len(self._rows())

    def _repr_html_(self) -> str:
        rows = "".join(
            _cells(
                r["gameId"],
                r.get("title") or "",
                r.get("status") or "",
                r.get("seq"),
                "replay" if r.get("replay") else "",
            )
            for r in self._rows()
        )
        return (
            "<table><tr><th>game</th><th>title</th><th>status</th><th>events</th><th></th>"
            f"</tr>{rows or '<tr><td colspan=5>no games yet</td></tr>'}</table>"
        )

    def __repr__(self) -> str:
        return f"<ccviz games: {', '.join(self) or 'none'}>"


#: The hub for replays in this kernel when the games live on a server in another process:
#: one per kernel, so every ``connect()`` (each magic makes one) sees the same replays.
_kernel_replays: Hub | None = None

NO_GAMES = (
    "no games yet: run Claude Code with the hooks installed (`ccviz install-hooks`, or "
    "`%ccviz install-hooks` in a notebook), or replay a session: "
    'conn.replay(ccviz_kernel.samples.path("short")) plays a bundled one'
)


class Connection:
    """What :func:`connect` gives: the games on the server this kernel uses, plus replays
    running in this kernel. (The server side's game registry is :class:`ccviz_kernel.hub.Hub`.)

    The same calls work everywhere. On a running loop (a notebook cell) the hub in this
    process lives on that loop, as it always did; with none (a plain ``python``), the
    connection runs a loop of its own in a daemon thread (started on first need, stopped by
    :meth:`close` or at exit) and every call goes there, so replays play in the background
    while the script goes on.

    >>> conn = ccviz.connect()  # doctest: +SKIP
    >>> r = conn.replay(ccviz_kernel.samples.path("short"))  # doctest: +SKIP
    >>> conn.latest()  # doctest: +SKIP
    <ccviz game 'replay-…'>
    """

    def __init__(
        self, backend: Backend, *, url: str | None, kind: str, runner: LoopThread | None = None
    ) -> None:
        self.backend = backend
        self.url = url
        self.kind = kind  # "jupyter", "standalone", "kernel", "server", "local"
        if runner is None and not loop_running():
            runner = LoopThread()
        #: The loop thread that owns this process's hub in a script (``None`` on a loop).
        self.runner = runner
        if isinstance(backend, LocalBackend):
            if backend.runner is None and runner is not None:
                backend.runner = runner
            self._local_hub: Hub | None = backend.hub
        else:
            self._local_hub = _kernel_replays if runner is None else None

    @property
    def local(self) -> LocalBackend:
        """The hub in this process (replays, forks); made on first use."""
        if isinstance(self.backend, LocalBackend):
            return self.backend
        if self._local_hub is None:
            from ..store import EventStore

            self._local_hub = Hub(EventStore(":memory:"))
            if self.runner is None:  # on the kernel's loop: shared by every connect()
                global _kernel_replays
                if _kernel_replays is None:
                    _kernel_replays = self._local_hub
                self._local_hub = _kernel_replays
        return LocalBackend(self._local_hub, runner=self.runner)

    @property
    def games(self) -> Games:
        """The games right now, by id (a live mapping: each access asks again).
        ``list(conn.games)``"""
        return Games(self)

    def summaries(self) -> list[dict[str, Any]]:
        """Lobby rows of every game this connection reaches (the server's and this
        kernel's replays and forks), newest first. ``conn.summaries()[0]["gameId"]``"""
        rows = self.backend.summaries()
        if self._local_hub is not None and not isinstance(self.backend, LocalBackend):
            rows = [*self.local.summaries(), *rows]
            rows.sort(key=lambda r: (r.get("lastEventAt") is None, -(r.get("lastEventAt") or 0)))
        return rows

    def waiting(self) -> list[dict[str, Any]]:
        """Who needs you, across every game this connection reaches (the lobby's "who needs
        you", :meth:`ccviz_kernel.hub.Hub.waiting` on the server): each agent waiting at a
        permission or a question, or a session idle after its turn, newest first;
        ``{gameId, title, agent, name, wait, text, since, request?}``. Answer a permission
        with ``conn.game(row["gameId"]).pending()``."""
        rows = [
            {"gameId": row["gameId"], "title": row.get("title"), **entry}
            for row in self.summaries()
            for entry in row.get("waiting") or []
        ]
        rows.sort(key=lambda e: e.get("since") or 0, reverse=True)
        return rows

    def game(self, game_id: str | None = None) -> GameHandle:
        """The game ``game_id``, or with none the newest (:meth:`latest`); a
        :class:`~ccviz_kernel.errors.GameNotFound` that lists the games if there is no
        such game. ``conn.game("3f1c…")``, ``conn.game()``"""
        if game_id is None:
            return self.latest()
        if self._local_hub is not None and self.local.has(game_id):
            return GameHandle(self.local, game_id, hub=self)
        if self.backend.snapshot(game_id) is None:
            raise GameNotFound(f"no game {game_id!r}; games: {', '.join(self.games) or 'none'}")
        return GameHandle(self.backend, game_id, hub=self)

    def latest(self) -> GameHandle:
        """The newest game (the one whose last event came last; a replay or fork counts),
        or a :class:`~ccviz_kernel.errors.GameNotFound` that says how to get one.

        >>> game = conn.latest()  # doctest: +SKIP
        >>> game.stats()["events"]  # doctest: +SKIP
        """
        rows = self.summaries()
        if not rows:
            raise GameNotFound(NO_GAMES)
        return self.game(rows[0]["gameId"])

    def replay(
        self,
        path: str | os.PathLike[str],
        speed: float = 4.0,
        *,
        game_id: str | None = None,
        loop: bool = False,
        play: bool = True,
        steer: bool = False,
        at: int | None = None,
    ) -> Any:
        """Replay a transcript or hook log in this process; returns its
        :class:`~ccviz_kernel.notebook.handles.ReplayController` (playing unless
        ``play=False``; in a script it plays on the connection's own loop).

        ``steer=True`` returns a live sandbox instead: a fork
        (:meth:`ReplayController.fork`) of the replay at event ``at`` (default: the end),
        that takes rule changes, speech and injected events; the recording stays as it was.

        >>> r = conn.replay(ccviz_kernel.samples.path("long"), speed=16)  # doctest: +SKIP
        >>> short = ccviz_kernel.samples.path("short")
        >>> sandbox = conn.replay(short, steer=True, at=5)  # doctest: +SKIP
        """
        replay = load_with_progress(path)
        gid = game_id or f"replay-{replay.game_id}"
        local = self.local
        clock = local.call(
            local.hub.open_replay, replay.events, game_id=gid, speed=speed, loop=loop, play=False
        )
        controller = ReplayController(clock, GameHandle(local, gid, hub=self))
        if steer:
            controller.seek(controller.total if at is None else at)
            return controller.fork()
        if play:
            controller.resume()
        return controller

    def view(self, game_id: str | None = None, **options: Any) -> Any:
        """The game inline (the newest with no id). ``conn.view()``"""
        return self.game(game_id).view(**options)

    def inject(self, payload: dict[str, Any]) -> tuple[str, int | None]:
        """Send a hook payload as Claude Code would (it starts a game if new).
        ``conn.inject({"hook_event_name": "SessionStart", "session_id": "demo"})``"""
        return self.backend.ingest(payload)

    def close(self) -> None:
        """Stop this connection's own loop thread, if it runs one (a script); replays on
        it stop. Also at exit, so scripts need not call it. ``conn.close()``"""
        if self.runner is not None:
            self.runner.stop()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ccviz connection: {self.kind} at {self.url or 'this kernel'}>"


#: Seconds a server named by discovery or by the runtime file gets to answer.
PROBE_TIMEOUT = 0.5
#: Runtime-file kinds whose views work from any front end: the kernel mirrors their games
#: and feeds the view through its own comm. A ``jupyter`` server's views load from its own
#: origin, so only the kernels it started use it (:mod:`.discovery`).
FRONT_END_NEUTRAL = ("standalone", "kernel")

_told: set[str] = set()


def _tell(note: str) -> None:
    """Say ``note`` once per kernel: connect() runs for every magic."""
    if note not in _told:
        _told.add(note)
        print(f"ccviz: {note}")


def _probe(url: str, secret: str, kind: str) -> RemoteBackend | None:
    remote = RemoteBackend(url, secret, kind=kind)
    return remote if remote.reachable(timeout=PROBE_TIMEOUT) else None


def connect(url: str | None = None, *, token: str | None = None, serve: bool = True) -> Connection:
    """The hub this notebook should use, the first of:

    1. ``url``, a ccviz server to use (``token``: its ingest token, default ours);
    2. the in-kernel host, if this kernel already runs one;
    3. the ccviz of the Jupyter server that started this kernel (:func:`.discovery.discover`,
       once per kernel), if it answers: its views load from the page's own origin;
    4. a ``ccviz serve`` (or another kernel's host) named in the runtime file, if it
       answers: views go through this kernel's comm, so they work in any front end. A
       Jupyter server named there is never used from a kernel it did not start: its
       views could not load on this kernel's page (VS Code, a console, another server);
    5. the in-kernel host, started now (``serve=False``: a hub in this kernel only). When
       another process's server holds the data folder it cannot start: this says so once
       and gives a hub in this kernel only (replays work).
    """
    from ..errors import CcvizError
    from ..hosts import kernel
    from ..runtime import read_or_create_token, read_runtime
    from .discovery import discover

    host = kernel.current()
    if url is None and host is not None:
        return Connection(LocalBackend(host.hub), url=host.url, kind="kernel")
    secret = token or read_or_create_token()
    if url is not None:
        return Connection(RemoteBackend(url, secret), url=url, kind="server")
    found = discover()
    if found.ccviz_url is not None:
        remote = _probe(found.ccviz_url, secret, "jupyter")
        if remote is not None:
            return Connection(remote, url=remote.url, kind="jupyter")
    info = read_runtime()
    if info is not None and info.get("pid") != os.getpid():
        kind = str(info.get("kind", "server"))
        if kind in FRONT_END_NEUTRAL or not found.in_kernel:
            # Outside a kernel (a script) no page shows views: any server's games will do.
            remote = _probe(info["url"], secret, kind if kind in FRONT_END_NEUTRAL else "server")
            if remote is not None:
                return Connection(remote, url=remote.url, kind=remote.kind)
    if serve:
        try:
            host = kernel.serve()
            return Connection(LocalBackend(host.hub), url=host.url, kind="kernel")
        except CcvizError as exc:  # the data folder is another server's, or not ours
            _tell(f"{_why_not_served(exc, info)} This notebook sees only the replays it runs.")
            from ..store import EventStore

            # Not the data folder's store: that one belongs to the server holding it.
            return Connection(LocalBackend(Hub(EventStore(":memory:"))), url=None, kind="local")
        except RuntimeError:  # no running loop: not in a kernel
            pass
    return Connection(LocalBackend(Hub()), url=None, kind="local")


def _why_not_served(error: Exception, info: dict[str, Any] | None) -> str:
    """Why the in-kernel host cannot start, in the words that help: a foreign Jupyter
    server owning the data folder is the common case (JupyterLab open, and a notebook in
    VS Code or a console on the same machine)."""
    from ..errors import ServerBusy

    if isinstance(error, ServerBusy) and info is not None and info.get("kind") == "jupyter":
        return (
            f"the ccviz of the Jupyter server at {info['url']} (pid {info.get('pid')}) holds "
            "this data folder, and that server did not start this kernel, so its views "
            "cannot show here. Open this notebook in that server, or give this front end "
            "its own data folder (CCVIZ_HOME) and point the hooks at it."
        )
    return str(error)
