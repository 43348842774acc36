"""Opening the page (issue 14): bytes over the wire and time to the first frame, cold and warm.

    .venv/bin/python bench/page_load_bench.py          # table; appends to results/page_load.json
    .venv/bin/python bench/page_load_bench.py --warm-loads 5 --events 500

A game of :mod:`seek_bench` (the long sample's hooks as one session, ``--events`` of them) is
served by the standalone host in a child process. Debian's Chromium (headless, the tests'
flags, 1280×800) opens ``view/<id>`` in a fresh browser context (cold: an empty HTTP cache),
then again in the same context (warm, ``--warm-loads`` times, median). For each load:

- the bytes received over HTTP, from the DevTools protocol (``Network.loadingFinished``'s
  ``encodedDataLength``: headers and body as they came off the socket, compressed), in all
  and for the page's script, and whether the script came from the cache;
- navigation → the first frame drawn with the game (``window.__ccviz.ready`` and
  ``frames > 0``, as tests/browser do), on the page's own clock.

Targets: ≤ 450 KB on a cold load, nothing of the bundle re-sent on a warm one. The load
average is recorded at the start and the end (a shared 2-core machine: compare runs at
similar load).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (one copy of the browser's flags)
from seek_bench import GAME, print_rows, record_run, start_child  # noqa: E402  (game, server)

RESULTS = Path(__file__).resolve().parent / "results" / "page_load.json"
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 60_000

#: Records when the view first drew the game (page clock, ms since navigation started).
MARKS = """
(() => {
  const look = () => {
    const h = window.__ccviz;
    if (h && h.ready && h.frames > 0) window.__drawn = performance.now();
    else requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
})();
"""


def load(context: Any, url: str) -> dict[str, Any]:
    """Open ``url`` in a new page of ``context``; the bytes it received and its first frame."""
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("pageerror", lambda e: problems.append(str(e)))
    cdp = context.new_cdp_session(page)
    urls: dict[str, str] = {}
    cached: set[str] = set()
    sizes: dict[str, float] = {}
    cdp.on(
        "Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"])
    )
    cdp.on("Network.requestServedFromCache", lambda e: cached.add(e["requestId"]))
    cdp.on(
        "Network.responseReceived",
        lambda e: e["response"].get("fromDiskCache") and cached.add(e["requestId"]),
    )
    cdp.on(
        "Network.loadingFinished",
        lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]),
    )
    cdp.send("Network.enable")
    page.add_init_script(MARKS)
    page.goto(url)
    page.wait_for_function("window.__drawn !== undefined", timeout=TIMEOUT_MS)
    drawn = page.evaluate("window.__drawn")
    page.wait_for_timeout(300)  # let the last loadingFinished events arrive
    if problems:
        raise RuntimeError(f"the page reported errors: {problems}")
    script = [r for r, u in urls.items() if "/static/page" in u and u.endswith(".js")]
    page.close()
    return {
        "first_frame_ms": drawn,
        "bytes": int(sum(sizes.values())),
        "requests": len(urls),
        "script_url": urls[script[0]] if script else None,
        "script_bytes": int(sum(sizes.get(r, 0) for r in script)),
        "script_from_cache": bool(script) and all(r in cached for r in script),
    }


def measure(url: str, warm_loads: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
            cold = load(context, url)
            warm = [load(context, url) for _ in range(warm_loads)]
            context.close()
        finally:
            browser.close()
    return {
        "cold_bytes": cold["bytes"],
        "cold_script_bytes": cold["script_bytes"],
        "cold_requests": cold["requests"],
        "cold_first_frame_ms": round(cold["first_frame_ms"], 1),
        "warm_bytes_median": int(statistics.median(w["bytes"] for w in warm)),
        "warm_script_bytes_max": max(w["script_bytes"] for w in warm),
        "warm_script_from_cache": all(w["script_from_cache"] for w in warm),
        "warm_first_frame_ms_median": round(
            statistics.median(w["first_frame_ms"] for w in warm), 1
        ),
        "warm_loads": warm_loads,
        "script_url": cold["script_url"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500, help="the game's events")
    parser.add_argument("--warm-loads", type=int, default=5)
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to append the run")
    args = parser.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        print(f"{CHROMIUM} is missing", file=sys.stderr)
        return 2
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ccviz-page-load-") as home:
        child, url = start_child(args.events, replay=False, home=home)
        try:
            numbers = measure(f"{url}view/{GAME}", args.warm_loads)
        finally:
            child.kill()
            child.wait()
    load_end = os.getloadavg()
    print(f"load average: start {load_start[0]:.2f}, end {load_end[0]:.2f}")
    rows = [
        ("cold load, bytes received (all requests)", f"{numbers['cold_bytes'] / 1000:.1f} KB"),
        ("cold load, of which page.js", f"{numbers['cold_script_bytes'] / 1000:.1f} KB"),
        ("cold load, navigation → first frame", f"{numbers['cold_first_frame_ms']:.0f} ms"),
        ("warm load, bytes received (median)", f"{numbers['warm_bytes_median'] / 1000:.1f} KB"),
        ("warm load, page.js bytes (max)", f"{numbers['warm_script_bytes_max']} B"),
        ("warm load, page.js from the cache", str(numbers["warm_script_from_cache"])),
        ("warm load, navigation → first frame", f"{numbers['warm_first_frame_ms_median']:.0f} ms"),
    ]
    print_rows(rows)
    record_run(args.json, load_start, load_end, {"events": args.events, **numbers})
    return 0


if __name__ == "__main__":
    sys.exit(main())
