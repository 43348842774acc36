"""``ccviz.connect()``: the notebook's way into ccviz.

It finds where games live by itself: the Jupyter server extension (or any ``ccviz
serve``) named in the runtime file, else it starts the in-kernel host. Replays always
run in this kernel, so they need no server and play in any notebook front end.
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


def connect(url: str | None = None, *, token: str | None = None, serve: bool = True) -> Connection:
    """The hub this notebook should use.

    ``url``: a ccviz server to use (default: the one in the runtime file, if it answers).
    Without one, the in-kernel host is started (``serve=False``: a hub in this kernel only).
    """
    from ..hosts import kernel
    from ..runtime import read_or_create_token, read_runtime

    host = kernel.current()
    if url is None and host is not None:
        return Connection(LocalBackend(host.hub), url=host.url, kind="kernel")
    secret = token or read_or_create_token()
    if url is not None:
        return Connection(RemoteBackend(url, secret), url=url, kind="server")
    info = read_runtime()
    if info is not None and info.get("pid") != os.getpid():
        remote = RemoteBackend(info["url"], secret, kind=str(info.get("kind", "server")))
        if remote.reachable():
            return Connection(remote, url=info["url"], kind=remote.kind)
    if serve:
        try:
            host = kernel.serve()
            return Connection(LocalBackend(host.hub), url=host.url, kind="kernel")
        except RuntimeError:  # no running loop: not in a kernel
            pass
    return Connection(LocalBackend(Hub()), url=None, kind="local")
