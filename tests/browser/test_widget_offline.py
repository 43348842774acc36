"""The widget without its kernel: a comm view whose kernel never answers shows the game
from its ``_offline`` trait (a notebook opened without a kernel, nbconvert HTML), and the
widget follows JupyterLab's dark theme. tests/notebooks/test_offline_notebook.py runs the
whole path through nbclient and nbconvert.
"""

from __future__ import annotations

import json
import os

from ccviz_kernel import samples
from ccviz_kernel.replays.export import encode_log, history_of, offline_log
from ccviz_kernel.replays.load import load_replay

from .support import screenshot, wait_until
from .test_widget import handle, open_widget


def _traits(dark: bool) -> tuple[str, dict]:
    replay = load_replay(samples.path("short", "hooks"))
    history = history_of(replay.game_id, replay.events)
    traits = {
        "transport": "comm",
        "game_id": replay.game_id,
        "width": 800,
        "height": 500,
        "_offline": encode_log(offline_log(history)),
    }
    return replay.game_id, traits


def test_a_view_without_a_kernel_plays_its_saved_game(open_page, server):
    game_id, traits = _traits(dark=False)
    watched = open_widget(open_page, server, traits)
    page = watched.page
    h = handle(game_id)
    wait_until(page, f"{h} && {h}.ready && {h}.seq > 0 && {h}.player.history === 'ok'")
    total = page.evaluate(f"{h}.player.total")
    assert page.evaluate(f"{h}.drawnSeq") == total
    # The bar plays it: its own playhead, answered by the saved log.
    assert page.evaluate(f"{h}.player.seek(1).then(() => true)")
    page.locator("button.ccviz-player-btn.play").click()
    wait_until(page, f"{h}.player.at > 1")
    # Asked the kernel first (join), and only that: nothing else went out to it.
    sent = page.evaluate("window.__test.sent.map((m) => m.type)")
    assert set(sent) == {"join"}, sent
    watched.assert_clean(h)


def test_the_widget_follows_a_dark_jupyterlab_theme(open_page, server):
    game_id, traits = _traits(dark=True)
    watched = open_widget(open_page, server, traits)
    page = watched.page
    h = handle(game_id)
    wait_until(page, f"{h} && {h}.ready && {h}.seq > 0")
    assert page.evaluate("getComputedStyle(document.querySelector('.ccviz-view')).filter") == "none"
    light = screenshot(page)
    page.evaluate(
        "document.body.style.background = '#111';document.body.dataset.jpThemeLight = 'false'"
    )
    wait_until(page, "getComputedStyle(document.querySelector('.ccviz-view')).filter !== 'none'")
    page.wait_for_timeout(200)
    dark = screenshot(page)
    if os.environ.get("CCVIZ_SHOTS"):
        light.save(os.path.join(os.environ["CCVIZ_SHOTS"], "widget-light.png"))
        dark.save(os.path.join(os.environ["CCVIZ_SHOTS"], "widget-dark.png"))
    from PIL import ImageStat

    box = (0, 0, 800, 400)
    mean = lambda im: sum(ImageStat.Stat(im.crop(box)).mean) / 3  # noqa: E731
    assert mean(dark) < mean(light) - 10  # the town at dusk
    page.evaluate("document.body.dataset.jpThemeLight = 'true'")
    wait_until(page, "getComputedStyle(document.querySelector('.ccviz-view')).filter === 'none'")
    watched.assert_clean(h)
    assert json.dumps(traits)  # the traits were plain JSON
