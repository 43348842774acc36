"""``ccviz export`` of the long sample, opened from ``file://`` with the network off: it
draws, plays to the end on its own, and logs no error. No server runs for this test.
"""

from __future__ import annotations

import os
from pathlib import Path

from ccviz_kernel import samples
from ccviz_kernel.cli import main

from .support import Watched, screenshot, wait_until

PLAYER = "window.__ccviz.player"


def test_exported_replay_plays_offline_to_the_end(browser, tmp_path: Path):
    out = tmp_path / "replay.html"
    assert main(["export", str(samples.path("long", "hooks")), "-o", str(out)]) == 0
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, device_scale_factor=1, offline=True
    )
    asked: list[str] = []

    def route(r):
        if r.request.url.startswith("file://"):
            return r.continue_()
        asked.append(r.request.url)
        return r.abort()

    context.route("**/*", route)
    try:
        watched = Watched(context.new_page())
        page = watched.page
        page.goto(out.as_uri())
        # It opens on the first event and plays by itself.
        wait_until(page, f"{PLAYER} && {PLAYER}.history === 'ok' && {PLAYER}.playing")
        assert page.evaluate(f"{PLAYER}.mode") == "own"
        total = page.evaluate(f"{PLAYER}.total")
        assert total == 796
        wait_until(page, f"{PLAYER}.at >= 3")
        first = screenshot(page)
        if os.environ.get("CCVIZ_SHOTS"):
            first.save(os.path.join(os.environ["CCVIZ_SHOTS"], "export-start.png"))
        # To the end: 16×, from the last few dozen events (the whole session at 16× takes
        # minutes; every seek and chunk is answered by the same offline source).
        page.select_option(".ccviz-player-speed", "16")
        page.evaluate(f"{PLAYER}.seek({total - 40})")
        if not page.evaluate(f"{PLAYER}.playing"):
            page.keyboard.press("Space")
        wait_until(page, f"{PLAYER}.at === {total} && !{PLAYER}.playing", timeout=60_000)
        assert page.evaluate("window.__ccviz.drawnSeq") == total
        last = screenshot(page)
        if os.environ.get("CCVIZ_SHOTS"):
            last.save(os.path.join(os.environ["CCVIZ_SHOTS"], "export-end.png"))
        from PIL import ImageChops, ImageStat

        assert sum(ImageStat.Stat(ImageChops.difference(first, last)).mean) / 3 > 1.0
        watched.assert_clean()
    finally:
        context.close()
    assert asked == []
