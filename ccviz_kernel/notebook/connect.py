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
from .backends import Backend, LocalBackend, RemoteBackend
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


class Connection:
    """What :func:`connect` gives: the games on the server this kernel uses, plus replays
    running in this kernel. (The server side's game registry is :class:`ccviz_kernel.hub.Hub`.)"""

    def __init__(self, backend: Backend, *, url: str | None, kind: str) -> None:
        self.backend = backend
        self.url = url
        self.kind = kind  # "jupyter", "standalone", "kernel"
        self._local_hub: Hub | None = backend.hub if isinstance(backend, LocalBackend) else None

    @property
    def local(self) -> LocalBackend:
        """The hub in this kernel (replays); made on first use."""
        if self._local_hub is None:
            from ..store import EventStore

            self._local_hub = Hub(EventStore(":memory:"))
        return LocalBackend(self._local_hub)

    @property
    def games(self) -> Games:
        return Games(self)

    def summaries(self) -> list[dict[str, Any]]:
        rows = self.backend.summaries()
        if self._local_hub is not None and not isinstance(self.backend, LocalBackend):
            rows = [*self._local_hub.summaries(), *rows]
        return rows

    def game(self, game_id: str) -> GameHandle:
        if self._local_hub is not None and self._local_hub.game(game_id) is not None:
            return GameHandle(self.local, game_id, hub=self)
        if self.backend.snapshot(game_id) is None:
            raise GameNotFound(f"no game {game_id!r}; games: {', '.join(self.games) or 'none'}")
        return GameHandle(self.backend, game_id, hub=self)

    def replay(
        self,
        path: str | os.PathLike[str],
        speed: float = 4.0,
        *,
        game_id: str | None = None,
        loop: bool = False,
        play: bool = True,
    ) -> ReplayController:
        """Replay a transcript or hook log in this kernel; returns its controller."""
        replay = load_with_progress(path)
        gid = game_id or f"replay-{replay.game_id}"
        local = self.local
        clock = local.hub.open_replay(
            replay.events, game_id=gid, speed=speed, loop=loop, play=False
        )
        if play:
            try:
                clock.play()
            except RuntimeError:  # no running loop (a plain script): step it by hand
                pass
        return ReplayController(clock, GameHandle(local, gid, hub=self))

    def view(self, game_id: str, **options: Any) -> Any:
        return self.game(game_id).view(**options)

    def inject(self, payload: dict[str, Any]) -> tuple[str, int | None]:
        """Send a hook payload as Claude Code would (it starts a game if new)."""
        return self.backend.ingest(payload)

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
