"""Helpers for the tests in this folder (the fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

VIEWPORT = {"width": 800, "height": 500}


WAIT_MS = 15_000


STATIC = Path(__file__).resolve().parents[2] / "ccviz_kernel" / "static"


class ServerThread:
    """``hosts.standalone.start()`` on a loop in a background thread."""

    def __init__(
        self, *, json_mode: bool, base_url: str = "/", port: int = 0, hub: Any = None
    ) -> None:
        self.json_mode = json_mode
        self.base_url = base_url
        self.port = port
        self.hub = hub  # e.g. one on a shared Redis log (None: the data folder's SQLite)
        self.serializer = "json" if json_mode else "msgpack"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="ccviz-server", daemon=True
        )
        self.host: Any = None

    def start(self) -> ServerThread:
        from ccviz_kernel.hosts.standalone import start

        self.thread.start()
        try:
            self.host = self.run(
                start(
                    "127.0.0.1",
                    self.port,
                    runtime=False,
                    json_mode=self.json_mode,
                    base_url=self.base_url,
                    hub=self.hub,
                )
            )
        except BaseException:
            self.close()
            raise
        assert self.host.url.startswith("http://127.0.0.1:")
        self.url = self.host.url  # ends with "/"
        self.origin = self.url.rstrip("/")
        self.token = self.host.server.auth.ingest_token
        return self

    def run(self, coro: Any, timeout: float = 20.0) -> Any:
        """Run a coroutine on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``fn`` on the loop's thread (the hub is not thread-safe)."""
        done: Future[Any] = Future()

        def work() -> None:
            try:
                done.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed back to the caller
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(work)
        return done.result(20.0)

    def close(self) -> None:
        try:
            if self.host is not None:
                self.run(self.host.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    # -- HTTP, as any client would -------------------------------------------------------

    def post(self, payload: dict[str, Any] | str) -> None:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        request = urllib.request.Request(
            self.url + "api/hooks",
            data=body.encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 204, response.read()

    def get(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"GET {path}: {exc.code} {exc.read()!r}") from None

    def snapshot(self, game_id: str) -> dict[str, Any]:
        return self.get(f"api/games/{game_id}")


class Watched:
    """A page plus every console error/warning and uncaught error it produced."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"pageerror: {exc}"))
        page.set_default_timeout(WAIT_MS)

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console.{message.type}: {message.text}")

    def assert_clean(self, handle: str = "window.__ccviz") -> None:
        errors = self.page.evaluate(f"({handle} && {handle}.errors) || []")
        assert self.problems == [] and errors == [], (self.problems, errors)


def new_game_id() -> str:
    return str(uuid.uuid4())


def hook(game_id: str, name: str, **fields: Any) -> dict[str, Any]:
    """A hand-built hook payload, shaped like Claude Code's."""
    return {
        "session_id": game_id,
        "transcript_path": f"/tmp/{game_id}.jsonl",
        "cwd": "/home/dev/pixel-quest",
        "hook_event_name": name,
        **fields,
    }


def tool(game_id: str, name: str, use_id: str, agent: str | None = None, **tool_input: Any):
    extra = {"agent_id": agent, "agent_type": "Explore"} if agent else {}
    return hook(
        game_id, "PreToolUse", tool_name=name, tool_use_id=use_id, tool_input=tool_input, **extra
    )


def wait_until(page: Any, expression: str, arg: Any = None, timeout: int = WAIT_MS) -> Any:
    """Poll a JS expression (or arrow function of ``arg``) until truthy; returns its value."""
    return page.wait_for_function(expression, arg=arg, timeout=timeout, polling=50).json_value()


ARRIVED = """([handle, id, place]) => {
  const h = eval(handle);
  const a = h && h.ready && h.agents().find((x) => x.id === id);
  const p = h && h.placeXY(place);
  return !!a && !!p && a.visible && !a.walking && a.place === place
    && Math.abs(a.x - a.spot.x) <= 2 && Math.abs(a.y - a.spot.y) <= 2
    && Math.hypot(a.spot.x - p.x, a.spot.y - p.y) <= 110 && a;
}"""


def wait_arrived(page: Any, agent: str, place: str, handle: str = "window.__ccviz") -> dict:
    return wait_until(page, ARRIVED, [handle, agent, place])


def screenshot(page: Any):
    """The page as a Pillow image (Pillow comes with the test extra)."""
    pytest.importorskip("PIL", reason="Pillow is needed to compare screenshots")
    from PIL import Image

    return Image.open(io.BytesIO(page.screenshot())).convert("RGB")


def crop_difference(before: Any, after: Any, box: tuple[int, int, int, int]) -> float:
    """Mean absolute difference per channel (0–255) of two screenshots inside ``box``."""
    from PIL import ImageChops, ImageStat

    diff = ImageChops.difference(before.crop(box), after.crop(box))
    return sum(ImageStat.Stat(diff).mean) / 3


def spot_box(page: Any, spot: dict[str, float]) -> tuple[int, int, int, int]:
    """The screenshot box around a character standing on ``spot`` (canvas CSS pixels): the
    feet are at the spot, the body and head above it."""
    rect = page.evaluate(
        "() => { const r = document.querySelector('.ccviz-view').getBoundingClientRect();"
        " return {x: r.left, y: r.top}; }"
    )
    x, y = rect["x"] + spot["x"], rect["y"] + spot["y"]
    return (round(x - 12), round(y - 36), round(x + 12), round(y - 2))


def post_hook_log(server: ServerThread, path: Path, game_id: str, *, ends_ago: float = 5.0) -> int:
    """Ingest a hook log (``samples/*.hooks.jsonl``: payloads plus ``timestamp``) through
    ``POST api/hooks`` as game ``game_id``, each event with its own time (``X-Ccviz-Time``)
    moved so that the session ended ``ends_ago`` seconds ago; returns the number of events."""
    from ccviz_kernel.claude.timestamps import parse_time

    payloads = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    times = [parse_time(p.pop("timestamp", None)) for p in payloads]
    last = max(t for t in times if t is not None)
    shift = time.time() - ends_ago - last
    for payload, ts in zip(payloads, times, strict=True):
        payload["session_id"] = game_id
        headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
        if ts is not None:
            headers["X-Ccviz-Time"] = f"{ts + shift:.3f}"
        request = urllib.request.Request(
            server.url + "api/hooks", data=json.dumps(payload).encode(), headers=headers
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 204, response.read()
    return len(payloads)
