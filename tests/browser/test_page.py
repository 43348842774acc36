"""The standalone page in Chromium against a real server (msgpack and JSON, see conftest).

Each test checks the page's debug handle (``window.__ccviz``, widgets/README.md) against
the server's own state, and, where a character moves, the screenshot's pixels too.
"""

from __future__ import annotations

import json

import pytest
from common import FIXTURES

from ccviz_kernel import samples
from ccviz_kernel.replays.load import load_replay

from .support import (
    WAIT_MS,
    crop_difference,
    hook,
    new_game_id,
    screenshot,
    spot_box,
    tool,
    wait_arrived,
    wait_until,
)

READY = "window.__ccviz && window.__ccviz.ready"
#: Mean per-channel difference (0-255) of the 24x34 crop around a spot, screenshot against
#: screenshot, that counts as "a character is drawn here now" (measured with SwiftShader:
#: 60-72 with a character on the spot)...
DRAWN = 12.0
#: ...and as "back to the empty scene" once it has gone (measured: 0.0, the town is drawn
#: identically frame to frame; the margin allows for antialiasing elsewhere).
CLEARED = 3.0


def open_game(open_page, server, game_id: str):
    watched = open_page(f"{server.url}view/{game_id}")
    wait_until(watched.page, READY)
    assert watched.page.evaluate("window.__ccviz.renderer") == "webgl"
    return watched


def wait_seq(page, seq: int, handle: str = "window.__ccviz") -> None:
    wait_until(page, f"{handle} && {handle}.seq >= {seq}")


def kick_viewers(server, game_id: str) -> int:
    """Disconnect every viewer of a game from the server's side; returns how many."""
    from ccviz_kernel.server.core import room

    async def kick() -> int:
        sio = server.host.server.sio
        sids = [sid for sid, _ in sio.manager.get_participants("/", room(game_id))]
        for sid in sids:
            await sio.disconnect(sid)
        return len(sids)

    return server.run(kick())


def test_page_loads_clean_and_characters_walk_to_their_places(server, open_page):
    game = new_game_id()
    watched = open_game(open_page, server, game)
    page = watched.page
    assert page.evaluate("window.__ccviz.seq") == 0
    assert page.evaluate("window.__ccviz.agents()") == []
    assert page.evaluate("window.__ccviz.frames") > 0
    empty = screenshot(page)

    server.post(hook(game, "SessionStart", source="startup", model="claude-sonnet-4-5"))
    server.post(hook(game, "UserPromptSubmit", prompt="Add a jump sound to the player."))
    # Appears on the square first (an agent created and moved within one frame would
    # pop in at its place without walking).
    wait_arrived(page, "main", "square")
    server.post(tool(game, "Read", "toolu_r1", file_path="/home/dev/pixel-quest/src/player.ts"))
    at_library = wait_arrived(page, "main", "library")
    assert server.snapshot(game)["agents"]["main"]["place"] == "library"
    library_box = spot_box(page, at_library["spot"])
    shot = screenshot(page)
    assert crop_difference(empty, shot, library_box) > DRAWN

    # The server drops the viewer (python-socketio's DISCONNECT packet, which carries a
    # null payload the msgpack parser must take): the page reconnects and catches up.
    assert kick_viewers(server, game) == 1
    server.post(
        hook(game, "PostToolUse", tool_name="Read", tool_use_id="toolu_r1", tool_response={})
    )
    server.post(tool(game, "Bash", "toolu_b1", command="npm test"))
    at_terminal = wait_arrived(page, "main", "terminal")
    snap = server.snapshot(game)
    assert snap["agents"]["main"]["place"] == "terminal"
    wait_seq(page, snap["seq"])
    assert page.evaluate("window.__ccviz.snapshot()") == snap
    shot = screenshot(page)
    assert crop_difference(empty, shot, spot_box(page, at_terminal["spot"])) > DRAWN
    # The library is empty again: the character really walked away.
    assert crop_difference(empty, shot, library_box) < CLEARED
    watched.assert_clean()


@pytest.mark.parametrize("server", ["msgpack"], indirect=True)  # nothing wire-specific here
def test_a_subagent_arrives_and_leaves(server, open_page):
    game = new_game_id()
    server.post(hook(game, "SessionStart", source="startup", model="claude-sonnet-4-5"))
    server.post(hook(game, "UserPromptSubmit", prompt="Find where the player jumps."))
    server.post(
        tool(game, "Agent", "toolu_a1", description="Find jump", prompt="find", subagent_type="x")
    )
    watched = open_game(open_page, server, game)
    page = watched.page
    wait_arrived(page, "main", "guildhall")
    before = screenshot(page)

    sub = "a3f9c27e81d04b6a5"
    server.post(hook(game, "SubagentStart", agent_id=sub, agent_type="Explore"))
    server.post(tool(game, "Grep", "toolu_g1", agent=sub, pattern="jump"))
    arrived = wait_arrived(page, sub, "library")
    assert server.snapshot(game)["agents"][sub]["place"] == "library"
    box = spot_box(page, arrived["spot"])
    assert crop_difference(before, screenshot(page), box) > DRAWN
    assert wait_arrived(page, "main", "guildhall")  # the main agent stayed where it was

    server.post(hook(game, "PostToolUse", tool_name="Grep", tool_use_id="toolu_g1", agent_id=sub))
    server.post(hook(game, "SubagentStop", agent_id=sub, agent_type="Explore"))
    assert server.snapshot(game)["agents"][sub]["state"] == "left"
    gone = f"""() => {{
      const a = window.__ccviz.agents().find((x) => x.id === {json.dumps(sub)});
      return !a || (!a.visible && a.state === "left");
    }}"""
    wait_until(page, gone, timeout=WAIT_MS)
    assert crop_difference(before, screenshot(page), box) < CLEARED
    watched.assert_clean()


def test_a_late_page_shows_the_same_state(server, open_page):
    # The fixture session up to its MCP call: the main agent at its embassy booth, the
    # Explore subagent come and gone, a failure, a permission wait behind it.
    lines = (FIXTURES / "hook-payloads.jsonl").read_text().splitlines()[:22]
    assert json.loads(lines[-1])["tool_name"].startswith("mcp__github__")
    game = new_game_id()
    for line in lines:
        server.post({**json.loads(line), "session_id": game})
    snap = server.snapshot(game)
    assert snap["seq"] == len(lines)
    watched = open_game(open_page, server, game)
    page = watched.page
    # The first snapshot is drawn as it stands: nobody walks in from elsewhere.
    agents = {a["id"]: a for a in page.evaluate("window.__ccviz.agents()")}
    main = agents["main"]
    assert (main["place"], main["walking"], main["visible"]) == ("embassy", False, True)
    assert (main["x"], main["y"]) == (main["spot"]["x"], main["spot"]["y"])
    booth = page.evaluate("window.__ccviz.placeXY('embassy', 'github')")
    assert abs(main["x"] - booth["x"]) <= 40 and abs(main["y"] - booth["y"]) <= 40
    assert [a["visible"] for i, a in agents.items() if i != "main"] == [False]  # it left
    assert page.evaluate("window.__ccviz.seq") == snap["seq"]
    assert page.evaluate("window.__ccviz.snapshot()") == snap
    watched.assert_clean()


def test_a_fast_replay_runs_to_the_end(server, open_page):
    events = load_replay(samples.path("long", "hooks")).events
    game = f"replay-{new_game_id()}"
    watched = open_game(open_page, server, game)
    page = watched.page
    hub = server.host.hub
    clock = server.call(hub.open_replay, events, game_id=game, speed=500, loop=False)
    wait_until(page, f"window.__ccviz.seq === {len(events)}", timeout=30_000)
    assert server.call(lambda: (clock.position, clock.playing)) == (len(events), False)
    snap = server.snapshot(game)
    assert snap["seq"] == len(events)
    assert page.evaluate("window.__ccviz.snapshot()") == snap
    # The replay controls came up and show the end.
    assert page.locator(".replay").is_visible()
    wait_until(
        page,
        f"document.querySelector('.replay .pos').textContent === '{len(events)} / {len(events)}'",
    )
    frames = page.evaluate("window.__ccviz.frames")
    page.wait_for_timeout(300)
    assert page.evaluate("window.__ccviz.frames") > frames  # still drawing
    watched.assert_clean()


def test_the_lobby_lists_games_and_updates_live(server, open_page):
    known = new_game_id()
    server.post(hook(known, "SessionStart", source="startup", model="claude-sonnet-4-5"))
    watched = open_page(server.url)
    page = watched.page
    wait_until(page, "window.__ccviz && window.__ccviz.lobby && window.__ccviz.ready")
    listed = {g["gameId"] for g in page.evaluate("window.__ccviz.games()")}
    assert known in listed
    assert listed == {g["gameId"] for g in server.get("api/games")["games"]}
    assert page.locator(f'.game[data-game="{known}"]').is_visible()

    fresh = new_game_id()
    server.post(hook(fresh, "SessionStart", source="startup", model="claude-sonnet-4-5"))
    server.post(hook(fresh, "UserPromptSubmit", prompt="Make the boss fight harder"))
    card = page.locator(f'.game[data-game="{fresh}"]')
    card.wait_for(state="visible", timeout=WAIT_MS)
    wait_until(
        page,
        f"""() => {{
      const g = window.__ccviz.games().find((x) => x.gameId === {json.dumps(fresh)});
      return g && g.title === "Make the boss fight harder" && g.seq === 2;
    }}""",
    )
    assert "Make the boss fight harder" in card.inner_text()
    assert card.locator("a.title").get_attribute("href") == f"/view/{fresh}"
    assert card.locator("a.replay-link").get_attribute("href") == f"/view/{fresh}?seq=0&play=1"
    # Newest first.
    assert page.locator(".game:not(.game--waiting)").first.get_attribute("data-game") == fresh
    watched.assert_clean()


def test_effects_ride_inside_updates_and_reach_the_page_and_the_mirror_once(server, open_page):
    from ccviz_kernel.engine.game import Game
    from ccviz_kernel.events import parse_event
    from ccviz_kernel.notebook.mirror import GameMirror

    game = new_game_id()
    page = open_game(open_page, server, game).page
    wire = "default" if server.json_mode else "msgpack"
    mirror = server.run(GameMirror(server.url, game, serializer=wire).connect())
    seen: dict[str, int] = {}

    async def count(data):  # every message the mirror's connection is sent, by event
        seen["visualization-event"] = seen.get("visualization-event", 0) + 1

    mirror.sio.on("visualization-event", count)
    posts = [hook(game, "SessionStart", source="startup")]
    posts.append(hook(game, "UserPromptSubmit", prompt="Make the jump higher."))
    posts += [tool(game, "Bash", f"toolu_{n}", command=f"echo step {n}") for n in range(12)]
    for payload in posts:  # back to back: several events share a frame's update
        server.post(payload)
    wait_seq(page, len(posts))
    server.run(mirror.wait_seq(len(posts)))
    stored = server.call(lambda: list(server.host.hub.store.events(game)))
    engine = Game(game)
    expected = [
        (e["seq"], e["kind"], e.get("text"))
        for record in stored
        for e in engine.apply(parse_event(record.payload, ts=record.ts)).effects
    ]
    assert len(expected) >= len(posts)

    def keys(effects):
        return [(e["seq"], e["kind"], e.get("text")) for e in effects if e["kind"] != "replay"]

    wait_until(page, f"window.__ccviz.effects().length >= {len(expected)}")
    page.wait_for_timeout(300)  # anything sent twice would have arrived by now
    assert keys(page.evaluate("window.__ccviz.effects()")) == expected
    assert keys(mirror.effects) == expected
    assert all(e["gameId"] == game for e in mirror.effects)
    assert seen == {}  # no effect came as a message of its own
    server.run(mirror.close())
