"""A notebook's saved widget state shows the game without any kernel or server.

A notebook with two replay views runs in a real kernel (nbclient, widget state stored as
Jupyter would save it), is converted with ``jupyter nbconvert --to html``, and the HTML opens
in headless Chromium from ``file://`` with no server anywhere. The page's CDN scripts (the
widget manager, require.js, anywidget's front end: what nbconvert HTML always loads from a
CDN) are answered from the npm copies in ``widgets/node_modules``; every other request is
refused. The town must be drawn from the saved state and play on its player bar.

It also measures what the state costs (docs/design.md §2): the shared bundle once per
notebook, a compact log per view, a few hundred bytes of loader per view.
"""

from __future__ import annotations

import json
import os
import re
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
nbconvert = pytest.importorskip("nbconvert")

from .support import KERNEL_NAME, kernel_env  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from common import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

NODE = ROOT / "widgets" / "node_modules"
#: What a CDN would serve nbconvert's page: (a pattern of the URL, the local file).
CDN = [
    (re.compile(r"/require(\.min)?\.js$"), NODE / "requirejs" / "require.js"),
    (re.compile(r"/@jupyter-widgets/html-manager@[^/]*/dist/(?P<f>[^/?]+)"), None),
    (re.compile(r"/anywidget@[^/]*/dist/index(\.js)?$"), NODE / "anywidget" / "dist" / "index.js"),
]
#: What the saved state of the whole notebook may add, and the part of it per view.
MAX_STATE_BYTES = 700_000
MAX_PER_VIEW_BYTES = 80_000
SOURCE = """\
import ccviz_kernel as ccviz
from ccviz_kernel import samples

conn = ccviz.connect()
r = conn.replay(samples.path("long", "hooks"), play=False)
r.view()
---
s = conn.replay(samples.path("short", "transcript"), play=False)
s.view()
"""


def _notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(part.strip()) for part in SOURCE.split("---")]
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "ccviz", "language": "python"}
    return nb


def _cdn_file(url: str) -> Path | None:
    for pattern, path in CDN:
        m = pattern.search(url.split("?")[0])
        if m:
            return path or NODE / "@jupyter-widgets" / "html-manager" / "dist" / m.group("f")
    return None


@pytest.mark.skipif(find_spec("playwright") is None, reason="playwright is not installed")
def test_nbconvert_html_shows_and_plays_the_game_offline(tmp_path: Path, kernel_manager):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing")
    if not (NODE / "@jupyter-widgets" / "html-manager" / "dist" / "embed-amd.js").exists():
        pytest.skip("the widget manager's npm copy is missing (cd widgets && npm install)")
    nb = _notebook()
    client = nbclient.NotebookClient(
        nb,
        km=kernel_manager(),
        kernel_name=KERNEL_NAME,
        timeout=120,
        resources={"metadata": {"path": str(tmp_path)}},
        store_widget_state=True,
        shutdown_kernel="immediate",
    )
    client.execute(cleanup_kc=True, env=kernel_env(tmp_path))
    assert not [o for c in nb.cells for o in c.outputs if o.output_type == "error"]

    with_state = nbformat.writes(nb).encode()
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    bare = nbformat.from_dict(json.loads(nbformat.writes(nb)))
    del bare.metadata["widgets"]
    without = nbformat.writes(bare).encode()
    views = {k: v for k, v in state.items() if v["state"].get("_offline")}
    holders = [v for v in state.values() if "source" in v["state"]]
    sizes = {
        "with_state": len(with_state),
        "without_state": len(without),
        "bundle_holders": [len(h["state"]["source"]) for h in holders],
        "offline_logs": sorted(len(v["state"]["_offline"]) for v in views.values()),
        "loaders": sorted(len(v["state"]["_esm"]) for v in views.values()),
    }
    (tmp_path / "sizes.json").write_text(json.dumps(sizes))
    print("notebook sizes:", sizes)
    assert len(views) == 2 and len(holders) == 1, sizes  # the bundle once, for both views
    assert len(with_state) - len(without) < MAX_STATE_BYTES, sizes
    assert all(n < MAX_PER_VIEW_BYTES for n in sizes["offline_logs"] + sizes["loaders"]), sizes

    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_notebook_node(nb)
    page = tmp_path / "notebook.html"
    page.write_text(html)

    from playwright.sync_api import sync_playwright

    refused: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith(("file://", "blob:", "data:")):
            return r.continue_()
        local = _cdn_file(url)
        if local is not None and local.exists():
            return r.fulfill(path=str(local), content_type="text/javascript")
        refused.append(url)
        return r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.route("**/*", route)
            tab = context.new_page()
            problems: list[str] = []
            tab.on("pageerror", lambda e: problems.append(str(e)))
            tab.goto(page.as_uri())
            tab.wait_for_function(
                "() => { const w = window.__ccvizWidgets || {}; const hs = Object.values(w);"
                " return hs.length === 2 && hs.every((h) => h.ready && h.player"
                " && h.player.history === 'ok' && h.player.total > 0); }",
                timeout=30_000,
                polling=100,
            )
            ids = tab.evaluate("Object.keys(window.__ccvizWidgets)")
            # Drawn: the view's canvases are far from one flat colour.
            for box in tab.locator(".ccviz-view").all():
                shot = box.screenshot()
                assert _spread(shot) > 40, "the town is not drawn"
            if os.environ.get("CCVIZ_SHOTS"):
                tab.screenshot(path=os.path.join(os.environ["CCVIZ_SHOTS"], "nbconvert.png"))
            long_id = next(
                i
                for i in ids
                if tab.evaluate(f"window.__ccvizWidgets[{json.dumps(i)}].player.total") > 500
            )
            handle = f"window.__ccvizWidgets[{json.dumps(long_id)}]"
            # It plays: from the start, on the bar's own playhead.
            tab.evaluate(f"{handle}.player.seek(0)")
            tab.locator(".ccviz-player-widget").first.locator(
                "button.ccviz-player-btn.play"
            ).click()
            tab.wait_for_function(
                f"{handle}.player.at > 2 && {handle}.player.playing", timeout=20_000
            )
            errors = tab.evaluate(
                "Object.values(window.__ccvizWidgets).flatMap((h) => h.errors || [])"
            )
            assert errors == [] and problems == [], (errors, problems)
        finally:
            browser.close()
    assert not [u for u in refused if "ccviz" in u or "127.0.0.1" in u or "localhost" in u]


def _spread(png: bytes) -> float:
    """How far the pixels of a screenshot are from its mean colour (0: one flat colour)."""
    from io import BytesIO

    from PIL import Image, ImageStat

    stat = ImageStat.Stat(Image.open(BytesIO(png)).convert("RGB"))
    return sum(stat.stddev) / 3
