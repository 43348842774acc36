"""The player bar on the page (widgets/src/player/): live, a viewer's own playhead, and the
presenter's shared replay, in Chromium against a real server (msgpack and JSON).

Each viewer's state is read from its debug handle (``window.__ccviz.player``, and
``drawn()``: the snapshot the view draws) and checked against the server: the state after
event ``n`` is what the hub's history says it is (``hub.history(id).state_at(n)``), and the
replay clock the server owns is untouched by what viewers without a token do.
"""

from __future__ import annotations

import json
import time

import pytest

from ccviz_kernel import samples
from ccviz_kernel.replays.load import load_replay

from .support import WAIT_MS, new_game_id, post_hook_log
from .support import wait_until as _wait_until

READY = "window.__ccviz && window.__ccviz.ready"
P = "window.__ccviz.player"

#: Records, at the first frame the view is ready, what the bar shows (a late joiner must have
#: the bar and its status from that first frame, not a moment later).
FIRST_FRAME = """
(() => {
  const look = () => {
    const h = window.__ccviz;
    if (h && h.ready && h.player) {
      const bar = document.querySelector(".ccviz-player");
      window.__firstFrame = {
        visible: !!bar && !bar.hidden && bar.getBoundingClientRect().height > 0,
        badge: document.querySelector(".ccviz-player-status")?.textContent ?? null,
        mode: h.player.mode,
        seq: h.drawnSeq,
      };
      return;
    }
    requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
})();
"""


def wait_until(page, expression: str, timeout: int = WAIT_MS):
    """``support.wait_until``, telling the player's state when it times out."""
    try:
        return _wait_until(page, expression, timeout=timeout)
    except Exception as exc:
        raise AssertionError(f"{expression}: {exc}; player: {player(page)}") from None


#: Every text of the bar (the tooltip too) with its font size, and whether the controls row
#: overflows (something clipped) or a control sticks out of the window.
BAR_LAYOUT = """() => {
  const bar = document.querySelector(".ccviz-player");
  const hasText = (e) => [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  const texts = [...bar.querySelectorAll("*")]
    .filter((e) => e.offsetParent !== null && hasText(e))
    .map((e) => ({text: e.textContent.trim(), px: parseFloat(getComputedStyle(e).fontSize)}));
  const row = bar.querySelector(".ccviz-player-row");
  const out = [...row.children].filter((e) => e.offsetParent !== null)
    .filter((e) => {
      const r = e.getBoundingClientRect();
      return r.right > innerWidth || r.left < 0;
    })
    .map((e) => e.className);
  return {texts, overflow: row.scrollWidth > row.clientWidth + 1, out};
}"""


def check_bar_layout(page) -> list[dict]:
    """Text at least 11 px, nothing clipped in the controls row; returns the texts."""
    layout = page.evaluate(BAR_LAYOUT)
    small = [t for t in layout["texts"] if t["px"] < 11]
    assert small == [], small
    assert not layout["overflow"] and layout["out"] == [], layout
    return layout["texts"]


def player(page) -> dict:
    return page.evaluate(
        f"""() => {{ const p = {P}; return {{mode: p.mode, status: p.status, at: p.at,
        live: p.live, total: p.total, playing: p.playing, speed: p.speed,
        controller: p.controller, history: p.history, visible: p.visible,
        markers: p.markers, lanes: p.lanes, drawnSeq: window.__ccviz.drawnSeq}}; }}"""
    )


def open_viewer(open_page, server, game_id: str, query: str = ""):
    watched = open_page()
    watched.page.add_init_script(FIRST_FRAME)
    watched.page.goto(f"{server.url}view/{game_id}{query}")
    wait_until(watched.page, READY)
    wait_until(watched.page, f"{P}.history === 'ok'")
    wait_until(watched.page, "window.__firstFrame")  # its animation frame may come later
    return watched


def state_at(server, game_id: str, seq: int) -> dict:
    return server.call(lambda: server.host.hub.history(game_id).state_at(seq))


def history(server, game_id: str) -> dict:
    return server.call(lambda: server.host.hub.history(game_id).summary())


def drawn(page) -> dict:
    return page.evaluate("window.__ccviz.drawn()")


def wait_at(page, seq: int, mode: str = "own") -> None:
    wait_until(
        page,
        f"{P}.mode === {json.dumps(mode)} && {P}.at === {seq} && window.__ccviz.drawnSeq === {seq}",
    )


def click_timeline(page, seq: int) -> None:
    point = page.evaluate(f"{P}.point({seq})")
    assert point is not None
    page.mouse.click(point["x"], point["y"])


def open_subagents_replay(server, game_id: str, **options):
    events = load_replay(samples.path("subagents", "hooks")).events
    clock = server.call(server.host.hub.open_replay, events, game_id=game_id, **options)
    return events, clock


def test_a_late_joiner_of_a_running_replay_gets_the_bar_at_once(server, open_page):
    game = f"replay-{new_game_id()}"
    events, clock = open_subagents_replay(server, game, speed=2, loop=True)
    try:
        wait_until_server(lambda: server.call(lambda: clock.position) >= 5)
        watched = open_viewer(open_page, server, game)
        page = watched.page
        first = page.evaluate("window.__firstFrame")
        assert first == {
            "visible": True,
            "badge": "FOLLOWING THE PRESENTER",
            "mode": "presenter",
            "seq": first["seq"],
        }
        assert first["seq"] >= 5
        state = player(page)
        assert state["status"] == "FOLLOWING THE PRESENTER"
        assert state["total"] == len(events)
        assert state["playing"] is True and state["controller"] is False
        # The whole recording's markers and lanes, not only what was played so far.
        summary = history(server, game)
        assert summary["seq"] == len(events)
        assert state["markers"] == len(summary["markers"]) > 0
        assert state["lanes"] == len(summary["lanes"]) == 3
        # A viewer is offered its own playhead; the shared replay goes on playing.
        follow = page.locator(".ccviz-player-btn.follow")
        assert follow.is_visible() and follow.inner_text() == "take my own playhead"
        # The longest row there is (the longest status, the longest button) fits at 800×500.
        texts = {t["text"] for t in check_bar_layout(page)}
        assert {"FOLLOWING THE PRESENTER", "take my own playhead"} <= texts
        seq = state["live"]
        wait_until(page, f"{P}.live > {seq}")
        assert page.locator(".ccviz-player .pos").inner_text().endswith(f"/ {len(events)}")
        watched.assert_clean()
    finally:
        server.call(server.host.hub.close_replay, game)


def wait_until_server(predicate, timeout: float = WAIT_MS / 1000) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_viewers_scrub_alone_and_followers_follow_the_controller(server, open_page):
    game = f"replay-{new_game_id()}"
    events, clock = open_subagents_replay(server, game, speed=1, loop=False, play=False)
    try:
        server.call(clock.seek, 20)
        summary = history(server, game)
        markers = [m["seq"] for m in summary["markers"]]
        failures = [m["seq"] for m in summary["markers"] if m["kind"] == "failure"]
        assert failures, summary["markers"]

        a = open_viewer(open_page, server, game)  # scrubs on its own
        b = open_viewer(open_page, server, game)  # has its own playhead too
        c = open_viewer(open_page, server, game)  # follows the presenter throughout
        pa, pb, pc = a.page, b.page, c.page
        for page in (pa, pb, pc):
            assert player(page)["mode"] == "presenter"
            assert player(page)["at"] == 20

        # B steps forward: its own playhead, one event on; nothing else moves.
        pb.keyboard.press(".")
        wait_at(pb, 21)
        assert drawn(pb) == state_at(server, game, 21)
        assert player(pb)["status"] == "REPLAY"

        # A: Space plays (the presenter is paused) on A's own playhead, from where the
        # presenter is; Space again pauses it.
        pa.keyboard.press("Space")
        wait_until(pa, f"{P}.mode === 'own' && {P}.playing")
        assert player(pa)["at"] >= 20
        pa.keyboard.press("Space")
        wait_until(pa, f"!{P}.playing")
        assert pa.locator(".ccviz-player-status").inner_text() == "REPLAY"
        assert pa.locator(".ccviz-player-btn.follow").inner_text() == "back to the presenter"
        # A click on the timeline seeks there.
        click_timeline(pa, 45)
        wait_until(pa, f"Math.abs({P}.at - 45) <= 2 && window.__ccviz.drawnSeq === {P}.at")
        at = player(pa)["at"]
        assert drawn(pa) == state_at(server, game, at)
        # ] and [: the next and the previous marker.
        pa.keyboard.press("]")
        after = next(s for s in markers if s > at)
        wait_at(pa, after)
        assert drawn(pa) == state_at(server, game, after)
        pa.keyboard.press("[")
        before = max(s for s in markers if s < after)
        wait_at(pa, before)
        # , steps back one event.
        pa.keyboard.press(",")
        wait_at(pa, before - 1)
        assert drawn(pa) == state_at(server, game, before - 1)
        # "Next failure" from the start.
        click_timeline(pa, 0)
        wait_until(pa, f"{P}.at <= 2")
        pa.locator(".ccviz-player-btn.failure").click()
        wait_at(pa, failures[0])
        assert drawn(pa)["stats"]["failures"] >= 1
        # Speed, then play on its own playhead.
        pa.locator(".ccviz-player-speed").select_option("4")
        wait_until(pa, f"{P}.speed === 4")
        pa.keyboard.press("Space")
        wait_until(pa, f"{P}.playing && {P}.at > {failures[0] + 1}")
        pa.keyboard.press("Space")
        wait_until(pa, f"!{P}.playing")

        # Nobody else moved: B where it was, C and the server's replay at 20, paused.
        assert (player(pb)["mode"], player(pb)["at"], player(pb)["speed"]) == ("own", 21, 1)
        assert drawn(pb) == state_at(server, game, 21)
        assert (player(pc)["mode"], player(pc)["at"]) == ("presenter", 20)
        assert server.call(lambda: (clock.position, clock.playing, clock.speed)) == (20, False, 1)

        # A controller (the ingest token) drives the shared replay; C follows it.
        d = open_viewer(open_page, server, game, f"?token={server.token}")
        pd = d.page
        wait_until(pd, f"{P}.controller === true")
        assert pd.locator(".ccviz-player-status").inner_text() == "PRESENTING"
        click_timeline(pd, 40)
        wait_until_server(lambda: abs(server.call(lambda: clock.position) - 40) <= 2)
        position = server.call(lambda: clock.position)
        wait_at(pc, position, "presenter")
        assert drawn(pc) == state_at(server, game, position)
        pd.locator(".ccviz-player-speed").select_option("8")
        wait_until_server(lambda: server.call(lambda: clock.speed) == 8)
        wait_until(pc, f"{P}.speed === 8")
        pd.keyboard.press("Space")
        wait_until_server(lambda: server.call(lambda: clock.playing))
        wait_until(pc, f"{P}.playing && {P}.at > {position}")
        assert player(pc)["mode"] == "presenter"
        # The viewers on their own playheads stay where they were.
        assert player(pb)["at"] == 21 and player(pa)["mode"] == "own"
        a_at = player(pa)["at"]
        pd.keyboard.press("Space")
        wait_until_server(lambda: not server.call(lambda: clock.playing))

        # A goes back to the presenter: where the replay is now.
        pa.locator(".ccviz-player-btn.follow").click()
        position = server.call(lambda: clock.position)
        wait_at(pa, position, "presenter")
        assert position != a_at
        assert drawn(pa) == server.snapshot(game)
        for w in (a, b, c, d):
            w.assert_clean()
    finally:
        server.call(server.host.hub.close_replay, game)


def test_an_ended_hook_game_plays_from_the_start(server, open_page):
    game = new_game_id()
    total = post_hook_log(server, samples.path("short", "hooks"), game)
    final = server.snapshot(game)
    assert final["seq"] == total and final["status"] == "ended"
    watched = open_viewer(open_page, server, game, "?seq=0&play=1")
    page = watched.page
    first = page.evaluate("window.__firstFrame")
    assert first["visible"] and first["badge"] == "REPLAY" and first["mode"] == "own"
    assert first["seq"] <= 2  # it starts at the start, not at the end
    page.locator(".ccviz-player-speed").select_option("16")
    seen = []
    deadline = time.monotonic() + 30
    while True:
        state = player(page)
        seen.append(state["at"])
        if state["at"] == total and not state["playing"]:
            break
        assert time.monotonic() < deadline, seen
        page.wait_for_timeout(50)
    assert seen == sorted(seen) and len(set(seen)) > 3, seen  # it played, event by event
    assert player(page)["mode"] == "own" and player(page)["status"] == "REPLAY"
    assert drawn(page) == final
    watched.assert_clean()


@pytest.mark.parametrize("server", ["msgpack"], indirect=True)
def test_a_live_game_pauses_zooms_and_goes_back_to_live(server, open_page):
    game = new_game_id()
    total = post_hook_log(server, samples.path("long", "hooks"), game)
    watched = open_viewer(open_page, server, game)
    page = watched.page
    state = player(page)
    assert (state["mode"], state["status"], state["at"]) == ("live", "LIVE", total)
    assert page.locator(".ccviz-player-btn.follow").is_hidden()
    # Space: hold the state shown now, on this viewer's own playhead.
    page.keyboard.press("Space")
    wait_until(page, f"{P}.mode === 'own' && !{P}.playing")
    page.keyboard.press(",")
    wait_at(page, total - 1)
    # The game goes on meanwhile: the view does not draw it, but keeps up with it.
    server.post(
        {
            "session_id": game,
            "hook_event_name": "SessionStart",
            "source": "resume",
            "cwd": "/home/dev/pixel-quest",
        }
    )
    wait_until(page, f"{P}.live === {total + 1}")
    assert page.evaluate("window.__ccviz.drawnSeq") == total - 1
    # Hover tells what a marker is.
    mid = history(server, game)["markers"][10]
    point = page.evaluate(f"{P}.point({mid['seq']})")
    canvas = page.locator(".ccviz-player-track").bounding_box()
    page.mouse.move(point["x"], canvas["y"] + 7)
    tip = page.locator(".ccviz-player-tip")
    tip.wait_for(state="visible")
    assert f"event {mid['seq']}" in tip.inner_text()
    assert any(f"event {mid['seq']}" in t["text"] for t in check_bar_layout(page))
    # The wheel zooms in around the pointer, a double-click shows everything again.
    page.mouse.wheel(0, -400)
    wait_until(page, f"{P}.zoomed")
    assert page.locator(".ccviz-player-btn.zoom-reset").is_visible()
    page.locator(".ccviz-player-btn.zoom-reset").click()
    wait_until(page, f"!{P}.zoomed")
    # A drag zooms to the dragged range.
    page.mouse.move(canvas["x"] + 100, canvas["y"] + 30)
    page.mouse.down()
    page.mouse.move(canvas["x"] + 300, canvas["y"] + 30, steps=5)
    page.mouse.up()
    wait_until(page, f"{P}.zoomed")
    # Back to live: at once, with the event that came meanwhile.
    page.locator(".ccviz-player-btn.follow").click()
    wait_at(page, total + 1, "live")
    assert drawn(page) == server.snapshot(game)
    watched.assert_clean()


@pytest.mark.parametrize("server", ["msgpack"], indirect=True)
def test_a_transcript_sent_as_by_ccviz_view_plays_from_the_start_to_the_end(server, open_page):
    """What ``ccviz view FILE`` does with a running server: POST api/replays in parts."""
    from ccviz_kernel.notebook.backends import RemoteBackend

    replay = load_replay(samples.path("subagents", "transcript"))
    game = f"replay-{new_game_id()}"
    remote = RemoteBackend(server.url, server.token)
    answer = remote.upload_replay(game, replay.events, part_bytes=20_000)  # several parts
    total = answer["events"]
    assert total == len(replay.events)
    watched = open_viewer(open_page, server, game, "?seq=0&play=1")
    page = watched.page
    assert page.evaluate("window.__firstFrame")["seq"] <= 2
    page.locator(".ccviz-player-speed").select_option("16")
    deadline = time.monotonic() + 40
    while not (player(page)["at"] == total and not player(page)["playing"]):
        assert time.monotonic() < deadline, player(page)
        page.wait_for_timeout(100)
    assert drawn(page) == server.snapshot(game)
    watched.assert_clean()
