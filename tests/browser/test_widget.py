"""The anywidget entry (``static/widget.js``) in a plain page with a stand-in model.

The page is served on the server's own origin (Playwright answers one extra URL there), so
``import widget from "/static/widget.js"`` loads the real bundle from the real server. The
stand-in model is the one of ``widgets/dev/serve.mjs``: traits from a dict, ``on``/``off``
handlers, and ``send`` recorded so the test can play the kernel's side of the comm.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from .support import (
    crop_difference,
    hook,
    new_game_id,
    screenshot,
    spot_box,
    tool,
    wait_arrived,
    wait_until,
)

#: Screenshot crop differences, as in test_page.py.
DRAWN = 12.0
CLEARED = 3.0

WIDGET_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ccviz widget test</title>
<link rel="icon" href="data:,">
<style>html, body { margin: 0; padding: 0; background: #fff; }</style>
</head><body>
<div id="out"></div>
<script type="application/json" id="traits">__TRAITS__</script>
<script type="module">
import widget from "/static/widget.js";
const traits = JSON.parse(document.getElementById("traits").textContent);
const handlers = {};
const sent = [];
const model = {
  get: (k) => traits[k],
  on: (ev, f) => ((handlers[ev] ??= []).push(f)),
  off: (ev, f) => { handlers[ev] = (handlers[ev] || []).filter((g) => g !== f); },
  send: (msg) => { sent.push(structuredClone(msg)); },
};
window.__test = {
  sent,
  push: (msg) => { for (const f of handlers["msg:custom"] || []) f(msg); },
};
window.__cleanup = widget.render({ model, el: document.getElementById("out") });
</script></body></html>"""


def open_widget(open_page, server, traits: dict[str, Any]):
    """A page on the server's origin rendering the widget with ``traits``.

    The page is written into a document the server really served (``/healthz``): Chromium's
    local network access checks block a page that Playwright fulfils itself (it counts as
    public) from opening a websocket to 127.0.0.1.
    """
    watched = open_page()
    # The server has no favicon (its pages say so in HTML); a JSON document cannot.
    watched.page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    watched.page.goto(f"{server.origin}/healthz")
    html = WIDGET_PAGE.replace("__TRAITS__", json.dumps(traits).replace("</", "<\\/"))
    watched.page.set_content(html)
    return watched


def handle(game_id: str) -> str:
    return f"window.__ccvizWidgets && window.__ccvizWidgets[{json.dumps(game_id)}]"


def traits_for(server, game_id: str, transport: str) -> dict[str, Any]:
    return {
        "transport": transport,
        "game_id": game_id,
        "server_url": server.origin,
        "socketio_path": "socket.io",
        "serializer": server.serializer,
        "token": "",
        "width": 800,
        "height": 500,
    }


def test_widget_over_socketio(server, open_page):
    game = new_game_id()
    server.post(hook(game, "SessionStart", source="startup", model="claude-sonnet-4-5"))
    server.post(hook(game, "UserPromptSubmit", prompt="Add a jump sound to the player."))
    watched = open_widget(open_page, server, traits_for(server, game, "socketio"))
    page, h = watched.page, handle(game)
    wait_until(page, f"{h} && {h}.ready")
    wait_arrived(page, "main", "square", h)
    before = screenshot(page)

    server.post(tool(game, "Read", "toolu_r1", file_path="/home/dev/pixel-quest/src/player.ts"))
    arrived = wait_arrived(page, "main", "library", h)
    snap = server.snapshot(game)
    assert snap["agents"]["main"]["place"] == "library"
    wait_until(page, f"{h}.seq >= {snap['seq']}")
    assert page.evaluate(f"{h}.snapshot()") == snap
    assert crop_difference(before, screenshot(page), spot_box(page, arrived["spot"])) > DRAWN
    assert page.evaluate("window.__test.sent") == []  # socket.io: nothing on the comm
    watched.assert_clean(h)


class HubFeed:
    """The kernel's side of the comm in this test: every applied event of one game on the
    server's hub, as the widget comm's ``update`` messages (one per event)."""

    def __init__(self, server, game_id: str) -> None:
        self.server, self.game_id = server, game_id
        self.messages: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.unsubscribe = server.call(server.host.hub.subscribe, self._on_applied)

    def _on_applied(self, game_id: str, applied: Any) -> None:  # on the server's loop
        if game_id != self.game_id:
            return
        update = {"gameId": game_id, "from": applied.seq, "seq": applied.seq}
        update["deltas"] = json.loads(json.dumps(applied.deltas))
        with self.lock:
            self.messages.append({"type": "update", "update": update})

    def take(self, count: int) -> list[dict[str, Any]]:
        with self.lock:
            assert len(self.messages) >= count, self.messages
            taken, self.messages[:] = self.messages[:count], self.messages[count:]
        return taken

    def snapshot_message(self) -> dict[str, Any]:
        snap = self.server.call(self.server.host.hub.snapshot, self.game_id)
        return {"type": "snapshot", "snapshot": json.loads(json.dumps(snap))}

    def close(self) -> None:
        self.server.call(self.unsubscribe)


@pytest.mark.parametrize("server", ["msgpack"], indirect=True)  # the server's wire is unused
def test_widget_over_the_comm(server, open_page):
    game = new_game_id()
    server.post(hook(game, "SessionStart", source="startup", model="claude-sonnet-4-5"))
    server.post(hook(game, "UserPromptSubmit", prompt="Add a jump sound to the player."))
    feed = HubFeed(server, game)
    try:
        watched = open_widget(open_page, server, traits_for(server, game, "comm"))
        page, h = watched.page, handle(game)
        # The widget asks for the game; the "kernel" answers with a snapshot.
        wait_until(page, "window.__test && window.__test.sent.length > 0")
        assert page.evaluate("window.__test.sent[0]") == {"type": "join"}
        page.evaluate("(m) => window.__test.push(m)", feed.snapshot_message())
        wait_until(page, f"{h} && {h}.ready")
        wait_arrived(page, "main", "square", h)
        before = screenshot(page)

        # Updates, in order, as they come from the hub.
        server.post(tool(game, "Read", "toolu_r1", file_path="/home/dev/pixel-quest/a.ts"))
        page.evaluate("(m) => window.__test.push(m)", feed.take(1)[0])
        arrived = wait_arrived(page, "main", "library", h)
        assert page.evaluate(f"{h}.snapshot()") == server.snapshot(game)
        box = spot_box(page, arrived["spot"])
        assert crop_difference(before, screenshot(page), box) > DRAWN

        # A lost update: the widget sees the gap, asks with `since`, gets a snapshot.
        server.post(
            hook(game, "PostToolUse", tool_name="Read", tool_use_id="toolu_r1", tool_response={})
        )
        server.post(tool(game, "Bash", "toolu_b1", command="npm test"))
        lost, kept = feed.take(2)
        seq = lost["update"]["from"] - 1
        page.evaluate("(m) => window.__test.push(m)", kept)
        wait_until(page, f"window.__test.sent.some((m) => m.type === 'join' && m.since === {seq})")
        page.evaluate("(m) => window.__test.push(m)", feed.snapshot_message())
        arrived = wait_arrived(page, "main", "terminal", h)
        assert page.evaluate(f"{h}.snapshot()") == server.snapshot(game)
        shot = screenshot(page)
        assert crop_difference(before, shot, spot_box(page, arrived["spot"])) > DRAWN
        assert crop_difference(before, shot, box) < CLEARED  # gone from the library
        watched.assert_clean(h)
    finally:
        feed.close()
