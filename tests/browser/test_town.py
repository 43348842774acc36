"""The town stays readable (issue 9: readable crowds, look closer, say what it means).

At several moments of the subagents sample and of a session with 20 concurrent subagents,
the texts the scene draws (``window.__ccviz.texts()``: names, tool tags, bubbles, "+N more"
chips, building signs, the HUD, the caption, the ticker, the quest board) cover no other text
by more than 2 px, and at 800×500 each is at least 11 CSS px tall (box and font); then a
person can hover a character for a panel and press ``?`` for the legend. Screenshots of the
moments go to /tmp (``ccviz-town-*.png``) for looking at.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ccviz_kernel import samples

from .crowd import sub_id, twenty
from .support import hook, new_game_id, tool, wait_until
from .test_widget import handle, open_widget, traits_for

READY = "window.__ccviz && window.__ccviz.ready"
SLACK = 2.0
MIN_PX = 11.0
SHOTS = Path("/tmp")
STILL = (
    """(h) => { const v = eval(h); return v && v.ready && v.agents().every((a) => !a.walking); }"""
)


def text_problems(texts: list[dict[str, Any]], min_px: float | None = MIN_PX) -> list[str]:
    """Pairs of texts that overlap by more than SLACK px (both ways), and texts too small."""
    problems = []
    for i, a in enumerate(texts):
        for b in texts[i + 1 :]:
            ox = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
            oy = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
            if ox > SLACK and oy > SLACK:
                one, other = f"{a['kind']} {a['text']!r}", f"{b['kind']} {b['text']!r}"
                problems.append(f"{one} and {other} overlap {ox:.1f}×{oy:.1f}")
        if min_px is not None and (a["h"] < min_px or a["px"] < min_px):
            problems.append(
                f"{a['kind']} {a['text']!r} is {a['h']:.1f} px high, font {a['px']:.1f} px"
            )
    return problems


def check_moment(
    watched, name: str, handle_expr: str = "window.__ccviz", still: bool = True
) -> list[dict]:
    """Wait for the characters to stand (unless ``still`` is false), save a screenshot, and
    check the texts; returns them."""
    page = watched.page
    if still:
        wait_until(page, STILL, handle_expr)
        page.wait_for_timeout(250)  # a layout pass after the last step
    texts = page.evaluate(f"{handle_expr}.texts()")
    page.screenshot(path=str(SHOTS / f"ccviz-town-{name}.png"))
    kinds = {t["kind"] for t in texts}
    assert {"sign", "hud", "ticker", "board"} <= kinds, kinds
    problems = text_problems(texts)
    assert problems == [], (name, problems)
    return texts


def post_all(server, events) -> None:
    for event in events:
        server.post(event)


def open_game(open_page, server, game: str):
    watched = open_page(f"{server.url}view/{game}")
    wait_until(watched.page, READY)
    return watched


def test_the_subagents_sample_stays_readable(server, open_page):
    lines = [json.loads(x) for x in samples.path("subagents", "hooks").read_text().splitlines()]
    game = new_game_id()
    watched = open_game(open_page, server, game)
    page = watched.page
    posted = 0
    # The prompt; both subagents spawned; both at work; the main agent editing; the end.
    for cut in (3, 21, 36, 48, 62, len(lines)):
        post_all(server, [{**line, "session_id": game} for line in lines[posted:cut]])
        posted = cut
        wait_until(page, f"window.__ccviz.seq >= {cut}")
        if cut == 36:  # also while they walk
            check_moment(watched, f"subagents-{cut}-walking-{server.serializer}", still=False)
        check_moment(watched, f"subagents-{cut}-{server.serializer}")
    snap = server.snapshot(game)
    texts = page.evaluate("window.__ccviz.texts()")
    hud = " ".join(t["text"] for t in texts if t["kind"] in ("hud", "caption"))
    # The HUD shows the prompt being worked on, and the caption line says what happens now.
    assert snap["prompt"] and snap["prompt"][:20] in hud
    captions = [t["text"] for t in texts if t["kind"] == "caption"]
    assert snap["caption"] and captions and snap["caption"].startswith(captions[0].rstrip("…"))
    watched.assert_clean()


def test_twenty_concurrent_subagents_stay_readable(server, open_page):
    game = new_game_id()
    watched = open_game(open_page, server, game)
    page = watched.page
    for name, events in twenty(game):
        post_all(server, events)
        wait_until(page, f"window.__ccviz.seq >= {server.snapshot(game)['seq']}")
        check_moment(watched, f"twenty-{name}-walking-{server.serializer}", still=False)
        texts = check_moment(watched, f"twenty-{name}-{server.serializer}")
        agents = [a for a in page.evaluate("window.__ccviz.agents()") if a["visible"]]
        if name == "spawned":
            # All 21 at the Guild Hall, each on its own spot.
            assert len(agents) == 21 and {a["place"] for a in agents} == {"guildhall"}
            spots = {(round(a["spot"]["x"]), round(a["spot"]["y"])) for a in agents}
            assert len(spots) == 21
            # Names in a crowd show short ("#3"); no two are on top of each other.
            labels = [t for t in texts if t["kind"] == "label"]
            assert len(labels) >= 15, labels
        if name == "library":
            # 20 reading: their tool shows once, by the Library's sign.
            assert any(t["kind"] == "fold" and "Read ×20" in t["text"] for t in texts), texts
    # Subagents are tied to their parents: the nested ones' parent is a subagent.
    snap = server.snapshot(game)
    assert snap["agents"][sub_id(16)]["parent"] == sub_id(0)
    watched.assert_clean()


@pytest.mark.parametrize("server", ["msgpack"], indirect=True)  # nothing wire-specific here
def test_hover_a_character_for_a_panel_and_press_question_mark_for_the_legend(server, open_page):
    game = new_game_id()
    sub = "a5e1f9d2b3c4d5e6f"
    post_all(
        server,
        [
            hook(game, "SessionStart", source="startup", model="claude-sonnet-4-5"),
            hook(game, "UserPromptSubmit", prompt="Find where the player jumps."),
            tool(
                game,
                "Agent",
                "toolu_a1",
                description="Find jump",
                prompt="find",
                subagent_type="Explore",
            ),
            hook(game, "SubagentStart", agent_id=sub, agent_type="Explore"),
        ],
    )
    watched = open_game(open_page, server, game)
    page = watched.page
    # After the page joined, so that the call comes as an effect: its bubble and the ticker's
    # newest line.
    server.post(tool(game, "Grep", "toolu_g1", agent=sub, pattern="jumpVelocity", path="src/"))
    wait_until(page, "window.__ccviz.texts().filter((t) => t.kind === 'ticker').length >= 2")
    wait_until(page, STILL, "window.__ccviz")
    snap = server.snapshot(game)
    summary = snap["agents"][sub]["tool"]["summary"]
    me = next(a for a in page.evaluate("window.__ccviz.agents()") if a["id"] == sub)
    origin = page.evaluate(
        "(() => { const r = document.querySelector('.ccviz-view').getBoundingClientRect();"
        " return {x: r.left, y: r.top}; })()"
    )
    # Hover the body (its feet are at x, y; the body is above them).
    page.mouse.move(origin["x"] + me["x"], origin["y"] + me["y"] - 14)
    panel = page.locator(".ccviz-town-panel")
    panel.wait_for(state="visible")
    text = panel.inner_text()
    assert "Explore #1" in text and "Explore subagent" in text, text
    assert "Grep" in text and summary in text, text
    assert "parent" in text and "Claude" in text, text
    page.screenshot(path=str(SHOTS / "ccviz-town-hover.png"))

    # Click pins it; the raw JSON opens on demand.
    page.mouse.click(origin["x"] + me["x"], origin["y"] + me["y"] - 14)
    page.mouse.move(5, 250)
    assert panel.is_visible()
    page.locator(".ccviz-town-panel .ccviz-town-raw summary").click()
    assert json.loads(page.locator(".ccviz-town-panel pre").inner_text())["id"] == sub
    page.keyboard.press("Escape")
    assert not panel.is_visible()

    # ? shows the legend: the town's places, the costumes, the tags.
    page.keyboard.press("?")
    legend = page.locator(".ccviz-town-legend")
    legend.wait_for(state="visible")
    words = legend.inner_text()
    for label in [p["label"] for p in snap["places"].values()]:
        assert label in words
    assert "Explore subagent" in words and "permission?" in words and "+2 more" in words
    page.screenshot(path=str(SHOTS / "ccviz-town-legend.png"))
    page.keyboard.press("?")
    assert not legend.is_visible()

    # The ? button in the ticker's corner opens it too: the header starts 8 world units into
    # the 156-unit panel, the lines 18 (layout.ts TICKER), the button's centre 13 from its
    # right edge, 11 from its top.
    ticker = [t for t in page.evaluate("window.__ccviz.texts()") if t["kind"] == "ticker"]
    header, line = ticker[0], ticker[1]
    unit = (line["x"] - header["x"]) / 10
    page.mouse.click(
        origin["x"] + header["x"] + (156 - 13 - 8) * unit, origin["y"] + header["y"] + 7 * unit
    )
    legend.wait_for(state="visible")
    page.keyboard.press("Escape")
    assert not legend.is_visible()

    # A ticker line: click it for the event's own fields.
    last = ticker[-1]
    page.mouse.click(origin["x"] + last["x"] + 10, origin["y"] + last["y"] + last["h"] / 2)
    panel.wait_for(state="visible")
    assert "Event" in panel.inner_text() and summary in panel.inner_text()
    page.locator(".ccviz-town-panel .ccviz-town-raw summary").click()
    raw = json.loads(page.locator(".ccviz-town-panel pre").inner_text())
    assert raw["kind"] == "say" and raw["agentId"] == sub and raw["text"] == summary
    watched.assert_clean()


@pytest.mark.parametrize("server", ["msgpack"], indirect=True)
def test_the_widget_keeps_texts_readable_too(server, open_page):
    game = new_game_id()
    post_all(server, next(twenty(game))[1])
    watched = open_widget(open_page, server, traits_for(server, game, "socketio"))
    page, h = watched.page, handle(game)
    wait_until(page, f"{h} && {h}.ready")
    wait_until(page, f"{h}.seq >= {server.snapshot(game)['seq']}")
    texts = check_moment(watched, "widget-spawned", h)
    assert len([t for t in texts if t["kind"] == "label"]) >= 15
    # Hover works in the widget as well.
    me = next(a for a in page.evaluate(f"{h}.agents()") if a["id"] == "main")
    origin = page.evaluate(
        "(() => { const r = document.querySelector('.ccviz-view').getBoundingClientRect();"
        " return {x: r.left, y: r.top}; })()"
    )
    page.mouse.move(origin["x"] + me["x"], origin["y"] + me["y"] - 16)
    page.locator(".ccviz-town-panel").wait_for(state="visible")
    assert "main agent" in page.locator(".ccviz-town-panel").inner_text()
    watched.assert_clean(h)


TICKER_LINES = (
    "window.__ccviz.texts().filter((t) => t.kind === 'ticker').slice(1).map((t) => t.text)"
)


def test_a_viewer_that_joins_or_seeks_midway_sees_what_came_before_in_the_ticker(server, open_page):
    """Recent events are not empty for a viewer who opens a game in the middle: the player
    asks ``game-at`` for the effects of the events before the moment shown, when it joins
    and after a seek; they fill the ticker without being played again (no bubbles)."""
    game = new_game_id()
    post_all(
        server,
        [
            hook(game, "SessionStart", source="startup"),
            hook(game, "UserPromptSubmit", prompt="Jump"),
            tool(game, "Read", "toolu_r1", file_path="/home/dev/pixel-quest/src/a.ts"),
            tool(game, "Grep", "toolu_g1", pattern="jumpVelocity", path="src/"),
            tool(game, "Bash", "toolu_b1", command="npm test"),
        ],
    )
    watched = open_game(open_page, server, game)
    page = watched.page
    wait_until(page, f"{TICKER_LINES}.some((t) => t.includes('npm test'))")
    shown = page.evaluate(TICKER_LINES)  # a narrow panel: long lines end in "…"
    assert shown[:2] == ["Claude: Hello!", "Prompt: Jump"], shown
    assert shown[2].startswith("Claude: Read") and shown[3].startswith("Claude: Search"), shown
    assert shown[4:] == ["Claude: $ npm test"], shown
    assert page.evaluate("window.__ccviz.effects()") == []  # none of them came as effects
    # A new event goes below them.
    server.post(tool(game, "Write", "toolu_w1", file_path="/home/dev/pixel-quest/src/b.ts"))
    wait_until(page, f"{TICKER_LINES}.at(-1).startsWith('Claude: Writ')")
    assert page.evaluate(TICKER_LINES)[:-1] == shown
    # The viewer's own playhead, back to event 3 (the Read): the ticker starts over from there.
    page.evaluate("window.__ccviz.player.seek(3)")
    wait_until(page, f"{TICKER_LINES}.length === 3")
    assert page.evaluate(TICKER_LINES) == shown[:3]
    watched.assert_clean()
