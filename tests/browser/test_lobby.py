"""The lobby as a person uses it: badges that look like badges, search and filters."""

from __future__ import annotations

from .support import hook, new_game_id, wait_until

READY = "window.__ccviz && window.__ccviz.lobby && window.__ccviz.ready"


def test_badges_stay_badges_and_search_filters_the_list(server, open_page, tmp_path):
    boss, jump = new_game_id(), new_game_id()
    for game, prompt, cwd in (
        (boss, "Make the boss fight harder", "/home/dev/pixel-quest"),
        (jump, "Fix the double jump", "/home/dev/space-shooter"),
    ):
        server.post(hook(game, "SessionStart", source="startup", cwd=cwd))
        server.post(hook(game, "UserPromptSubmit", prompt=prompt, cwd=cwd))
    watched = open_page(server.url)
    page = watched.page
    page.set_viewport_size({"width": 1280, "height": 800})
    wait_until(page, READY)
    wait_until(page, f"window.__ccviz.shown().includes({boss!r})")

    # Every badge is a small inline label inside its card, never a fixed strip.
    styles = page.evaluate(
        """() => [...document.querySelectorAll('.badge')].map((b) => {
          const s = getComputedStyle(b); const r = b.getBoundingClientRect();
          return {position: s.position, height: r.height, width: r.width};
        })"""
    )
    assert styles and all(s["position"] == "static" and s["height"] <= 22 for s in styles), styles
    assert all(s["width"] < 200 for s in styles), styles

    page.fill("input.search", "boss")
    wait_until(page, f"JSON.stringify(window.__ccviz.shown()) === JSON.stringify([{boss!r}])")
    page.fill("input.search", "")
    page.select_option("select.project-filter", "space-shooter")
    wait_until(page, f"JSON.stringify(window.__ccviz.shown()) === JSON.stringify([{jump!r}])")
    page.select_option("select.project-filter", "")
    page.fill("input.search", "no session is called this")
    wait_until(page, "window.__ccviz.shown().length === 0")
    assert page.locator("p.none").is_visible()
    page.screenshot(path=str(tmp_path / "lobby.png"))
    watched.assert_clean()
