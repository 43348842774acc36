"""The player bar in the widget (``static/widget.js``), driven from Python.

Over the comm, the kernel's side is the real :class:`~ccviz_kernel.notebook.widget.GameView`
on the server's loop and hub: what it sends goes into the page as ``msg:custom`` messages and
what the widget sends comes back to its ``_on_front_message``, pumped by the test (the stand-in
model of test_widget.py records ``send``). So ``GameView.seek/play/pause/follow`` and the
kernel's answers to the bar's ``history``/``at``/``act``/``role`` requests are the shipped code.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from ccviz_kernel import samples
from ccviz_kernel.replays.load import load_replay

from .support import WAIT_MS, new_game_id, post_hook_log, wait_until
from .test_widget import handle, open_widget, traits_for

pytestmark = pytest.mark.parametrize("server", ["msgpack"], indirect=True)


class Kernel:
    """A GameView in the server's process, its comm wired to the page by hand."""

    def __init__(self, server, page, game_id: str) -> None:
        from ccviz_kernel.notebook.widget import GameView

        self.server, self.page = server, page
        self.outbox: list[dict[str, Any]] = []
        self.lock = threading.Lock()

        def make() -> GameView:
            view = GameView(game_id, hub=server.host.hub)
            view.send = self._send  # the comm: into the outbox, JSON as a comm would carry
            return view

        self.view = server.call(make)

    def _send(self, content: Any, buffers: Any = None) -> None:
        with self.lock:
            self.outbox.append(json.loads(json.dumps(content)))

    def pump(self) -> None:
        for message in self.page.evaluate("window.__test.sent.splice(0)"):
            self.server.call(self.view._on_front_message, self.view, message, [])
        with self.lock:
            out, self.outbox[:] = self.outbox[:], []
        for message in out:
            self.page.evaluate("(m) => window.__test.push(m)", message)

    def until(self, expression: str, timeout: float = WAIT_MS / 1000) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            value = self.page.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                state = self.page.evaluate(f"JSON.stringify({self.h} && {self.h}.player)")
                raise AssertionError(f"timed out: {expression}; player: {state}")
            time.sleep(0.03)

    def call(self, method: str, *args: Any, **kwargs: Any) -> None:
        self.server.call(getattr(self.view, method), *args, **kwargs)

    def close(self) -> None:
        self.server.call(self.view.close)


def test_the_widget_bar_over_the_comm_from_python(server, open_page):
    game = new_game_id()
    total = post_hook_log(server, samples.path("short", "hooks"), game)
    final = server.snapshot(game)
    watched = open_widget(open_page, server, traits_for(server, game, "comm"))
    page, h = watched.page, f"({handle(game)})"
    kernel = Kernel(server, page, game)
    kernel.h = h
    p = f"{h}.player"
    try:
        kernel.until(f"{h} && {h}.ready && {p}.history === 'ok'")
        bar = page.locator(".ccviz-player")
        assert bar.is_visible()
        view_box = page.locator(".ccviz-view").bounding_box()
        bar_box = bar.bounding_box()
        # Under the town, as wide as it.
        assert bar_box["y"] >= view_box["y"] + view_box["height"] - 1
        assert abs(bar_box["width"] - view_box["width"]) <= 1
        assert page.evaluate(f"{p}.mode") == "live"
        assert page.locator(".ccviz-player-status").inner_text() == "LIVE"

        kernel.call("seek", 5)
        kernel.until(f"{p}.mode === 'own' && {p}.at === 5 && {h}.drawnSeq === 5")
        at5 = server.call(lambda: server.host.hub.history(game).state_at(5))
        assert page.evaluate(f"{h}.drawn()") == at5
        assert page.locator(".ccviz-player-status").inner_text() == "REPLAY"

        kernel.call("play", speed=16)
        kernel.until(f"{p}.speed === 16 && {p}.at === {total} && !{p}.playing")
        assert page.evaluate(f"{h}.drawn()") == final

        kernel.call("follow", "live")
        kernel.until(f"{p}.mode === 'live'")
        kernel.call("pause")
        kernel.until(f"{p}.mode === 'own' && !{p}.playing && {p}.at === {total}")
        # The keys work while the widget has the focus.
        page.locator(".ccviz-view").click()
        page.keyboard.press(",")
        kernel.until(f"{p}.at === {total - 1} && {h}.drawnSeq === {total - 1}")
        page.locator(".ccviz-player-btn.follow").click()
        kernel.until(f"{p}.mode === 'live' && {h}.drawnSeq === {total}")
        with pytest.raises(ValueError):
            kernel.call("seek", -1)
        with pytest.raises(ValueError):
            kernel.call("follow", "nobody")
        watched.assert_clean(h)
    finally:
        kernel.close()


def test_a_kernel_replay_in_the_widget_is_presented_from_the_bar(server, open_page):
    game = f"replay-{new_game_id()}"
    events = load_replay(samples.path("subagents", "hooks")).events
    clock = server.call(
        server.host.hub.open_replay, events, game_id=game, speed=1, loop=False, play=False
    )
    watched = open_widget(open_page, server, traits_for(server, game, "comm"))
    page, h = watched.page, f"({handle(game)})"
    kernel = Kernel(server, page, game)
    kernel.h = h
    p = f"{h}.player"
    try:
        server.call(clock.seek, 10)
        kernel.until(f"{h} && {h}.ready && {p}.history === 'ok' && {p}.controller")
        # The notebook owns its kernel's replays: the bar drives the shared one.
        assert page.evaluate(f"{p}.mode") == "presenter"
        assert page.locator(".ccviz-player-status").inner_text() == "PRESENTING"
        kernel.until(f"{p}.at === 10")
        page.locator(".ccviz-player-btn.fwd").click()
        kernel.until(f"{p}.at === 11")
        assert server.call(lambda: clock.position) == 11
        page.locator(".ccviz-player-btn.play").click()
        kernel.until(f"{p}.playing")
        assert server.call(lambda: clock.playing)
        page.locator(".ccviz-player-btn.play").click()
        kernel.until(f"!{p}.playing")
        assert server.call(lambda: clock.playing) is False
        # Its own playhead, from Python: the shared replay stays where it is.
        position = server.call(lambda: clock.position)
        kernel.call("seek", 3)
        kernel.until(f"{p}.mode === 'own' && {h}.drawnSeq === 3")
        assert server.call(lambda: clock.position) == position
        kernel.call("follow", "presenter")
        kernel.until(f"{p}.mode === 'presenter' && {h}.drawnSeq === {position}")
        watched.assert_clean(h)
    finally:
        kernel.close()
        server.call(server.host.hub.close_replay, game)


def test_the_widget_bar_over_socketio(server, open_page):
    game = new_game_id()
    total = post_hook_log(server, samples.path("short", "hooks"), game)
    watched = open_widget(open_page, server, traits_for(server, game, "socketio"))
    page, h = watched.page, f"({handle(game)})"
    p = f"{h}.player"
    wait_until(page, f"{h} && {h}.ready && {p}.history === 'ok'")
    assert page.locator(".ccviz-player").is_visible()
    page.locator(".ccviz-view").click()
    page.keyboard.press(",")
    wait_until(page, f"{p}.mode === 'own' && {h}.drawnSeq === {total - 1}")
    # Python's commands come as msg:custom messages over socket.io too.
    page.evaluate("(m) => window.__test.push(m)", {"type": "player", "action": "seek", "seq": 2})
    wait_until(page, f"{h}.drawnSeq === 2")
    assert page.evaluate("window.__test.sent") == []  # socket.io: nothing on the comm
    watched.assert_clean(h)


def test_a_kernel_mirroring_a_server_answers_the_bar_from_it(server):
    """``GameView(url=..., transport="comm")``: the kernel mirrors the server's game and asks
    the server for what the bar wants (no browser here: the comm's two ends are the test)."""
    from ccviz_kernel.notebook.widget import GameView

    game = f"replay-{new_game_id()}"
    events = load_replay(samples.path("subagents", "hooks")).events
    server.call(server.host.hub.open_replay, events, game_id=game, speed=1, play=False)
    sent: list[dict[str, Any]] = []
    lock = threading.Lock()

    def make() -> GameView:
        view = GameView(game, url=server.origin, transport="comm", serializer=server.serializer)

        def send(content: Any, buffers: Any = None) -> None:
            with lock:
                sent.append(json.loads(json.dumps(content)))

        view.send = send
        return view

    def wait_for(predicate) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_MS / 1000
        while time.monotonic() < deadline:
            with lock:
                found = [m for m in sent if predicate(m)]
            if found:
                return found[-1]
            time.sleep(0.05)
        raise AssertionError(f"nothing came: {sent}")

    view = server.call(make)
    try:
        # The mirror's snapshot says it is a replay game, so the widget follows the presenter.
        snapshot = wait_for(lambda m: m["type"] == "snapshot")
        assert snapshot["replay"]["total"] == len(events)
        requests = [
            {"type": "history", "id": 1},
            {"type": "at", "id": 2, "seq": 3, "count": 2},
            {"type": "role", "id": 3},
        ]
        for message in requests:
            server.call(view._on_front_message, view, message, [])
        history = wait_for(lambda m: m["type"] == "reply" and m["id"] == 1)["ack"]
        assert history["ok"] and history["seq"] == len(events) == len(history["times"])
        at = wait_for(lambda m: m["type"] == "reply" and m["id"] == 2)["ack"]
        assert (at["at"], len(at["deltas"]), at["total"]) == (3, 2, len(events))
        expected = server.call(lambda: server.host.hub.history(game).state_at(3))
        assert at["snapshot"] == expected
        # The kernel's mirror connects without a token: a viewer, not a controller.
        assert wait_for(lambda m: m["type"] == "reply" and m["id"] == 3)["ack"] == {
            "ok": True,
            "controller": False,
        }
    finally:
        server.call(view.close)
        server.call(server.host.hub.close_replay, game)
