"""Seeking in the browser (issue 9): the page's player on a 10,000-event game, in Chromium.

    .venv/bin/python bench/seek_browser_bench.py      # table; appends to results/seek_browser.json
    .venv/bin/python bench/seek_browser_bench.py --events 2000 --seeks 20

The game is :mod:`seek_bench`'s (the long sample's hook log repeated as one session, in a
fresh event log), served by the standalone host in a child process. Debian's Chromium
(headless, SwiftShader WebGL, 1280×800) then measures, with the page's own clock:

1. opening ``view/<id>``: navigation → the first frame drawn with the game's state (the
   view's ``ready``; this includes loading the bundle and starting Phaser), and from the
   socket's opening (connect, ``join-game``, the snapshot) to that frame; the first time (the
   server rebuilds the game from its log) and warm (median of 5 loads); and until the player
   bar has the game's history;
2. 50 seeks of the viewer's own playhead to random events: from the seek until a frame has
   been rendered with the new state (``window.__ccviz.player.seek``: one ``game-at``, the
   snapshot applied, the next frame drawn): median, p90, max.

Targets: first frame < 500 ms, a seek < 100 ms. The load average is printed at the start and
the end (this is a shared 2-core machine: compare runs at similar load).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (one copy of the browser's flags)
from seek_bench import GAME, print_rows, record_run, start_child  # noqa: E402  (the 10,000-event game and its server)

RESULTS = Path(__file__).resolve().parent / "results" / "seek_browser.json"
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 60_000

#: Records when the view first drew the game, and when the bar had the history (page clock,
#: ms since navigation started), and when the socket.io websocket opened (the join follows at
#: once: the connect handshake, then join-game).
MARKS = """
(() => {
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("open", () => {
        if (window.__open === undefined) window.__open = performance.now();
      });
    }
  };
  const look = () => {
    const h = window.__ccviz;
    if (h && h.ready && window.__ready === undefined) window.__ready = performance.now();
    if (h && h.player && h.player.history === "ok" && window.__history === undefined)
      window.__history = performance.now();
    if (window.__ready === undefined || window.__history === undefined) requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
})();
"""


def open_game(browser: Any, url: str) -> tuple[Any, Any, dict[str, float]]:
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.add_init_script(MARKS)
    page.goto(f"{url}view/{GAME}")
    page.wait_for_function(
        "window.__ready !== undefined && window.__history !== undefined", timeout=TIMEOUT_MS
    )
    marks = page.evaluate(
        "({ready: window.__ready, history: window.__history, open: window.__open})"
    )
    if problems:
        raise RuntimeError(f"the page reported errors: {problems}")
    return context, page, marks


def measure(url: str, seeks: int, warm_loads: int = 5) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context, page, marks = open_game(browser, url)
            out["first_frame_cold_ms"] = marks["ready"]
            out["join_frame_cold_ms"] = marks["ready"] - marks["open"]
            out["history_cold_ms"] = marks["history"]
            context.close()
            warm = []
            for _ in range(warm_loads):
                context, page, marks = open_game(browser, url)
                warm.append(marks)
                context.close()
            out["first_frame_warm_ms"] = statistics.median(m["ready"] for m in warm)
            out["join_frame_warm_ms"] = statistics.median(m["ready"] - m["open"] for m in warm)
            out["history_warm_ms"] = statistics.median(m["history"] for m in warm)

            context, page, _ = open_game(browser, url)
            total = page.evaluate("window.__ccviz.player.total")
            out["events"] = total
            out["renderer"] = page.evaluate("window.__ccviz.renderer")
            rng = random.Random(9)
            times = []
            for _ in range(seeks):
                seq = rng.randint(0, total)
                ms = page.evaluate("(s) => window.__ccviz.player.seek(s)", seq)
                drawn = page.evaluate("window.__ccviz.drawnSeq")
                if drawn != seq:
                    raise RuntimeError(f"asked for event {seq}, the view drew {drawn}")
                times.append(ms)
            errors = page.evaluate("window.__ccviz.errors")
            if errors:
                raise RuntimeError(f"the view reported errors: {errors}")
            context.close()
        finally:
            browser.close()
    times.sort()
    out.update(
        seeks=seeks,
        seek_median_ms=statistics.median(times),
        seek_p90_ms=times[int(0.9 * (len(times) - 1))],
        seek_max_ms=times[-1],
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--seeks", type=int, default=50)
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to record the numbers")
    args = parser.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        print(f"{CHROMIUM} is missing", file=sys.stderr)
        return 2
    load_start = os.getloadavg()
    print(f"load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")
    with tempfile.TemporaryDirectory(prefix="ccviz-seek-browser-") as home:
        child, url = start_child(args.events, replay=False, home=home)
        try:
            numbers = measure(url, args.seeks)
        finally:
            child.terminate()
            child.wait(10)
    load_end = os.getloadavg()
    print(f"load average at end:   {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")
    rows = [
        ("events", f"{numbers['events']} ({numbers['renderer']}, 1280×800)"),
        ("navigation → first frame, first (rebuild)", f"{numbers['first_frame_cold_ms']:.0f} ms"),
        ("navigation → first frame, warm (median)", f"{numbers['first_frame_warm_ms']:.0f} ms"),
        ("socket open → join → first frame, first", f"{numbers['join_frame_cold_ms']:.0f} ms"),
        ("socket open → join → first frame, warm", f"{numbers['join_frame_warm_ms']:.0f} ms"),
        ("navigation → bar has the history, first", f"{numbers['history_cold_ms']:.0f} ms"),
        ("navigation → bar has the history, warm", f"{numbers['history_warm_ms']:.0f} ms"),
        (f"seek → new state drawn, median of {args.seeks}", f"{numbers['seek_median_ms']:.1f} ms"),
        ("seek → new state drawn, p90", f"{numbers['seek_p90_ms']:.1f} ms"),
        ("seek → new state drawn, max", f"{numbers['seek_max_ms']:.1f} ms"),
    ]
    print_rows(rows)
    rounded = {k: round(v, 1) if isinstance(v, float) else v for k, v in numbers.items()}
    record_run(args.json, load_start, load_end, rounded)
    return 0


if __name__ == "__main__":
    sys.exit(main())
