"""Where a notebook's games live: a hub in this kernel, or a server in another process.

Both answer the same questions and each knows how to make a view of its games, so the
handles in :mod:`.handles` never care which.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Protocol
from urllib.parse import quote

from ..errors import ServerError
from ..events import HookEvent, PayloadError
from ..hub import Hub


class Backend(Protocol):
    def summaries(self) -> list[dict[str, Any]]: ...
    def snapshot(self, game_id: str) -> dict[str, Any] | None: ...
    def event_rows(self, game_id: str) -> list[dict[str, Any]] | None: ...
    def act(self, game_id: str, action: dict[str, Any]) -> int: ...
    def ingest(self, payload: dict[str, Any]) -> tuple[str, int | None]: ...
    def view(self, game_id: str, **options: Any) -> Any: ...


class LocalBackend:
    """A hub in this process: the in-kernel host, or replays."""

    kind = "kernel"

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def summaries(self) -> list[dict[str, Any]]:
        return self.hub.summaries()

    def snapshot(self, game_id: str) -> dict[str, Any] | None:
        return self.hub.snapshot(game_id)

    def event_rows(self, game_id: str) -> list[dict[str, Any]] | None:
        return self.hub.event_rows(game_id)

    def act(self, game_id: str, action: dict[str, Any]) -> int:
        return self.hub.act(game_id, action)

    def ingest(self, payload: dict[str, Any]) -> tuple[str, int | None]:
        return self.hub.ingest(payload)

    def has(self, game_id: str) -> bool:
        return self.hub.game(game_id) is not None

    def view(self, game_id: str, **options: Any) -> Any:
        """A GameView fed straight from the hub in this kernel, through the widget's comm."""
        from .widget import GameView

        return GameView(game_id, hub=self.hub, **options)


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
        status, data = self._call("api/games")
        return data["games"] if status == 200 else []

    def snapshot(self, game_id: str) -> dict[str, Any] | None:
        status, data = self._call(f"api/games/{quote(game_id, safe='')}")
        return data if status == 200 else None

    def event_rows(self, game_id: str) -> list[dict[str, Any]] | None:
        status, data = self._call(f"api/games/{quote(game_id, safe='')}/events")
        return data["events"] if status == 200 else None

    def act(self, game_id: str, action: dict[str, Any]) -> int:
        status, data = self._call(f"api/games/{quote(game_id, safe='')}/actions", action)
        if status != 200 or not isinstance(data, dict) or not data.get("ok"):
            error = data.get("error") if isinstance(data, dict) else data
            raise PayloadError(str(error or f"HTTP {status}"))
        return data["seq"]

    def ingest(self, payload: dict[str, Any]) -> tuple[str, int | None]:
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
