"""Frame budget of the game page in Chromium (issue: browser views).

    .venv/bin/python bench/frame_bench.py            # prints a table; --json FILE saves it

A ``ccviz serve`` in its own process (its own ``CCVIZ_HOME``, 127.0.0.1, a free port), the
game page open in Debian's ``/usr/bin/chromium`` (headless, SwiftShader WebGL, 800x500 at
device scale 1) through Playwright, and a synthetic busy session POSTed to ``api/hooks``:
a main agent and 19 subagents (20 agents) calling tools round-robin at 30 events/s, as
``widgets/dev/feed.mjs busy`` does. Once all 20 characters stand in town (plus 2 s), the
page is measured for 15 s:

- main-thread busy %: the Chrome DevTools Protocol's ``Performance.getMetrics``
  ``TaskDuration`` delta over the window divided by the wall time (also ``ScriptDuration``
  and ``LayoutDuration``). Target: < 50 %;
- fps: the page's own frame counter (``window.__ccviz.frames``) over the window, and the
  rAF-to-rAF intervals (p50, p95, max) from a ``requestAnimationFrame`` loop;
- long tasks (> 50 ms) seen by a ``PerformanceObserver``;
- updates the page applied per second (its mirror's ``seq``) and the JS heap at the end.

Then the feed stops and the same numbers are taken for 5 s of an idle town (20 characters
standing) as a baseline. The sizes of the bundles (``ccviz_kernel/static/page.js`` and
``widget.js``, raw and gzip level 6 as a web server would send them) close the table.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from _machine import loadavg
from _machine import machine as shared_machine

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "ccviz_kernel" / "static"
CCVIZ = str(Path(sys.executable).parent / "ccviz")
sys.path.insert(0, str(ROOT / "tests"))
from common import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (one copy of the browser's flags)

TARGET_BUSY = 0.50

# -- the machine ---------------------------------------------------------------------------


def machine() -> dict[str, str]:
    version = "?"
    try:
        version = subprocess.run(
            [CHROMIUM, "--version"], capture_output=True, text=True, timeout=20
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return shared_machine(chromium=version, loadavg_at_start=loadavg())


def bundle_sizes() -> dict[str, dict[str, int]]:
    out = {}
    for name in ("page.js", "widget.js", "page.css"):
        data = (STATIC / name).read_bytes()
        out[name] = {"raw": len(data), "gzip": len(gzip.compress(data, compresslevel=6))}
    return out


# -- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``ccviz serve`` on 127.0.0.1 in its own process, with its own data folder."""

    def __init__(self, json_mode: bool) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="ccviz-frame-bench-"))
        self.port = free_port()
        env = {**os.environ, "CCVIZ_HOME": str(self.home)}
        env.pop("CCVIZ_TOKEN", None)
        cmd = [CCVIZ, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if json_mode:
            cmd.append("--json")
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        self.url = f"http://127.0.0.1:{self.port}/"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ccviz serve exited: {self.proc.stderr.read().decode()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError("ccviz serve did not answer /healthz within 20 s")
        self.token = (self.home / "token").read_text().strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.home, ignore_errors=True)


# -- the busy session (widgets/dev/feed.mjs busy, in Python) ---------------------------------

FILES = ["player.ts", "audio.ts", "level.ts", "boss.ts", "input.ts", "hud.ts"]
TODOS = [
    {"content": "Find where the player jumps", "status": "completed", "activeForm": "Finding"},
    {"content": "Play the sound on jump", "status": "in_progress", "activeForm": "Playing"},
    {"content": "Write a test for the jump sound", "status": "pending", "activeForm": "Writing"},
]
TOOLS: list[tuple[str, Any]] = [
    ("Read", lambda r: {"file_path": f"/home/dev/pixel-quest/src/{r.choice(FILES)}"}),
    ("Grep", lambda r: {"pattern": r.choice(["jumpSound", "TODO", "fireLaser"])}),
    ("Glob", lambda r: {"pattern": "src/**/*.ts"}),
    (
        "Edit",
        lambda r: {"file_path": f"src/{r.choice(FILES)}", "old_string": "a", "new_string": "b"},
    ),
    ("Write", lambda r: {"file_path": f"src/{r.choice(FILES)}", "content": "..."}),
    ("Bash", lambda r: {"command": r.choice(["npm test", "git status", "npx tsc --noEmit"])}),
    ("WebSearch", lambda r: {"query": "phaser tween along path"}),
    ("WebFetch", lambda r: {"url": "https://example.org/docs"}),
    ("TodoWrite", lambda r: {"todos": TODOS}),
    ("mcp__github__search_issues", lambda r: {"q": "jump sound"}),
    ("mcp__linear__list_issues", lambda r: {}),
]
TYPES = ["Explore", "Plan", "general-purpose", "code-reviewer"]


class Feeder:
    """POSTs hook payloads over one keep-alive connection."""

    def __init__(self, server: Server, session: str) -> None:
        self.server, self.session = server, session
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        self.posted = 0
        self.failed = 0
        self.late = 0.0
        self.stop = threading.Event()
        self.rand = random.Random(12345)

    def post(self, name: str, **fields: Any) -> None:
        body = {
            "session_id": self.session,
            "cwd": "/home/dev/pixel-quest",
            "transcript_path": "/tmp/x.jsonl",
            "hook_event_name": name,
            **fields,
        }
        headers = {"Authorization": f"Bearer {self.server.token}"}
        headers["Content-Type"] = "application/json"
        self.conn.request("POST", "/api/hooks", json.dumps(body), headers)
        response = self.conn.getresponse()
        response.read()
        self.posted += 1
        if response.status != 204:
            self.failed += 1

    def start_session(self, agents: int) -> list[dict[str, str] | None]:
        self.post("SessionStart", source="startup", model="claude-opus-4-1")
        self.post("UserPromptSubmit", prompt="Make the whole game 20% more fun, with tests.")
        subs: list[dict[str, str] | None] = []
        for i in range(agents - 1):
            kind = TYPES[i % len(TYPES)]
            self.post(
                "PreToolUse",
                tool_name="Agent",
                tool_use_id=f"toolu_spawn_{i}",
                tool_input={"description": f"Helper {i}", "prompt": "help", "subagent_type": kind},
            )
            sub = {"agent_id": f"a{i:03d}{self.session[:6]}", "agent_type": kind}
            self.post("SubagentStart", **sub)
            subs.append(sub)
        return [None, *subs]

    def run(self, everyone: list[dict[str, str] | None], rate: float) -> None:
        """Tool calls round-robin at ``rate`` events/s until :attr:`stop` is set."""
        open_calls: dict[str, tuple[str, str]] = {}
        interval = 1.0 / rate
        next_at = time.monotonic()
        i = 0
        while not self.stop.is_set():
            who = everyone[i % len(everyone)]
            i += 1
            key = who["agent_id"] if who else "main"
            extra = who or {}
            prev = open_calls.pop(key, None)
            if prev is not None:
                tool, use = prev
                if self.rand.random() < 0.05:
                    self.post(
                        "PostToolUseFailure",
                        tool_name=tool,
                        tool_use_id=use,
                        tool_input={},
                        error="Exit code 1\nFAIL tests/player.test.ts",
                        **extra,
                    )
                else:
                    self.post(
                        "PostToolUse",
                        tool_name=tool,
                        tool_use_id=use,
                        tool_input={},
                        tool_response={},
                        **extra,
                    )
            else:
                tool, make_input = self.rand.choice(TOOLS)
                use = f"toolu_{uuid.uuid4().hex[:12]}"
                open_calls[key] = (tool, use)
                self.post(
                    "PreToolUse",
                    tool_name=tool,
                    tool_use_id=use,
                    tool_input=make_input(self.rand),
                    **extra,
                )
            next_at += interval
            wait = next_at - time.monotonic()
            if wait > 0:
                self.stop.wait(wait)
            else:
                self.late = max(self.late, -wait)


# -- the measurement -------------------------------------------------------------------------

#: Injected before the page's own scripts: rAF intervals and long tasks, for the window.
PROBE = """
window.__bench = { on: false, intervals: [], longTasks: 0, longTaskMs: 0, last: 0 };
(function tick(t) {
  const b = window.__bench;
  if (b.on && b.last) b.intervals.push(t - b.last);
  b.last = t;
  requestAnimationFrame(tick);
})(0);
try {
  new PerformanceObserver((list) => {
    const b = window.__bench;
    if (!b.on) return;
    for (const e of list.getEntries()) { b.longTasks++; b.longTaskMs += e.duration; }
  }).observe({ type: "longtask", buffered: false });
} catch (e) {}
"""


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def process_cpu(browser_cdp: Any) -> dict[str, float]:
    """Cumulative CPU seconds of Chromium's processes, summed by type (renderer, GPU, ...)."""
    out: dict[str, float] = {}
    for proc in browser_cdp.send("SystemInfo.getProcessInfo")["processInfo"]:
        kind = proc["type"].split(".")[-1]
        out[kind] = out.get(kind, 0.0) + proc["cpuTime"]
    return out


def measure(
    page: Any, wall_cdp: Any, cpu_cdp: Any, browser_cdp: Any, seconds: float
) -> dict[str, Any]:
    def metrics() -> dict[str, float]:
        out = {m["name"]: m["value"] for m in wall_cdp.send("Performance.getMetrics")["metrics"]}
        for m in cpu_cdp.send("Performance.getMetrics")["metrics"]:
            out[f"cpu:{m['name']}"] = m["value"]
        return out

    page.evaluate(
        "() => { const b = window.__bench; b.intervals = []; b.longTasks = 0;"
        " b.longTaskMs = 0; b.last = 0; b.on = true; }"
    )
    a = metrics()
    p0 = process_cpu(browser_cdp)
    f0, s0 = page.evaluate("[window.__ccviz.frames, window.__ccviz.seq]")
    t0 = time.monotonic()
    time.sleep(seconds)
    b = metrics()
    p1 = process_cpu(browser_cdp)
    f1, s1 = page.evaluate("[window.__ccviz.frames, window.__ccviz.seq]")
    wall = time.monotonic() - t0
    probe = page.evaluate("() => { const b = window.__bench; b.on = false; return b; }")

    def share(name: str) -> float:
        return (b[name] - a[name]) / wall

    intervals = probe["intervals"]
    return {
        "seconds": round(wall, 2),
        "main_thread_busy": round(share("TaskDuration"), 4),
        "main_thread_cpu": round(share("cpu:TaskDuration"), 4),
        "script": round(share("ScriptDuration"), 4),
        "layout": round(share("LayoutDuration") + share("RecalcStyleDuration"), 4),
        "fps": round((f1 - f0) / wall, 1),
        "raf_interval_ms": {
            "p50": round(percentile(intervals, 0.5), 1),
            "p95": round(percentile(intervals, 0.95), 1),
            "max": round(max(intervals, default=float("nan")), 1),
        },
        "long_tasks": probe["longTasks"],
        "long_task_ms": round(probe["longTaskMs"]),
        "updates_per_s": round((s1 - s0) / wall, 1),
        "heap_mb": round(b["JSHeapUsedSize"] / 1e6, 1),
        # CPU of each Chromium process type over the window, as a share of one core: with
        # SwiftShader the GPU process rasterizes WebGL on the CPU too.
        "process_cpu": {k: round((p1[k] - p0.get(k, 0.0)) / wall, 3) for k in sorted(p1)},
    }


def run(ns: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    info = machine()
    server = Server(json_mode=ns.serializer == "json")
    session = str(uuid.uuid4())
    feeder = Feeder(server, session)
    thread: threading.Thread | None = None
    problems: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(
                viewport={"width": ns.width, "height": ns.height}, device_scale_factor=ns.dpr
            )
            context.add_init_script(PROBE)
            page = context.new_page()
            page.on(
                "console",
                lambda m: m.type in ("error", "warning") and problems.append(f"{m.type}: {m.text}"),
            )
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            page.goto(f"{server.url}view/{session}")
            page.wait_for_function("window.__ccviz && window.__ccviz.ready", timeout=30_000)
            renderer = page.evaluate("window.__ccviz.renderer")

            everyone = feeder.start_session(ns.agents)
            thread = threading.Thread(target=feeder.run, args=(everyone, ns.rate), daemon=True)
            thread.start()
            page.wait_for_function(
                f"window.__ccviz.agents().filter((a) => a.visible).length >= {ns.agents}",
                timeout=30_000,
            )
            time.sleep(ns.warmup)
            wall_cdp = context.new_cdp_session(page)
            wall_cdp.send("Performance.enable", {"timeDomain": "timeTicks"})
            cpu_cdp = context.new_cdp_session(page)
            cpu_cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
            browser_cdp = browser.new_browser_cdp_session()
            busy = measure(page, wall_cdp, cpu_cdp, browser_cdp, ns.seconds)
            feeder.stop.set()
            thread.join(10)
            time.sleep(2.5)  # the last walks end
            idle = measure(page, wall_cdp, cpu_cdp, browser_cdp, ns.idle_seconds)
            visible = page.evaluate("window.__ccviz.agents().filter((a) => a.visible).length")
            problems.extend(page.evaluate("window.__ccviz.errors"))
            if ns.shot:
                page.screenshot(path=ns.shot)
            browser.close()
    finally:
        feeder.stop.set()
        if thread is not None:
            thread.join(10)
        server.stop()
    info["loadavg_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "benchmark": "frame",
        **info,
        "renderer": renderer,
        "serializer": ns.serializer,
        "viewport": f"{ns.width}x{ns.height}@{ns.dpr}",
        "agents": ns.agents,
        "agents_visible_at_end": visible,
        "rate_per_s": ns.rate,
        "events_posted": feeder.posted,
        "posts_failed": feeder.failed,
        "feeder_worst_lag_s": round(feeder.late, 3),
        "target_main_thread_busy": TARGET_BUSY,
        "busy": busy,
        "idle": idle,
        "meets_target": busy["main_thread_busy"] < TARGET_BUSY and not problems,
        "errors": problems,
        "bundles": bundle_sizes(),
    }


def pct(x: float) -> str:
    return f"{x * 100:.1f} %"


def print_table(r: dict[str, Any]) -> None:
    busy, idle = r["busy"], r["idle"]
    print(
        f"frame budget: {r['agents']} agents, {r['rate_per_s']:g} events/s, {r['viewport']}, "
        f"{r['renderer']}, {r['serializer']}  ({r['chromium']}, {r['cpus']} CPUs, "
        f"load {r['loadavg_at_start']})"
    )
    rows = [
        ("window (s)", busy["seconds"], idle["seconds"]),
        ("main-thread busy", pct(busy["main_thread_busy"]), pct(idle["main_thread_busy"])),
        ("  of it on CPU", pct(busy["main_thread_cpu"]), pct(idle["main_thread_cpu"])),
        ("  script", pct(busy["script"]), pct(idle["script"])),
        ("  style + layout", pct(busy["layout"]), pct(idle["layout"])),
        ("fps (frames drawn)", busy["fps"], idle["fps"]),
        ("rAF interval p50 (ms)", busy["raf_interval_ms"]["p50"], idle["raf_interval_ms"]["p50"]),
        ("rAF interval p95 (ms)", busy["raf_interval_ms"]["p95"], idle["raf_interval_ms"]["p95"]),
        ("rAF interval max (ms)", busy["raf_interval_ms"]["max"], idle["raf_interval_ms"]["max"]),
        ("long tasks (> 50 ms)", busy["long_tasks"], idle["long_tasks"]),
        ("updates applied / s", busy["updates_per_s"], idle["updates_per_s"]),
        ("JS heap (MB)", busy["heap_mb"], idle["heap_mb"]),
    ]
    for kind in ("renderer", "GPU", "browser"):
        rows.append(
            (
                f"CPU {kind} process(es)",
                pct(busy["process_cpu"].get(kind, 0.0)),
                pct(idle["process_cpu"].get(kind, 0.0)),
            )
        )
    print(f"  {'':<24}{'busy':>12}{'idle':>12}")
    for name, a, b in rows:
        print(f"  {name:<24}{a!s:>12}{b!s:>12}")
    verdict = "meets" if r["meets_target"] else "MISSES"
    print(f"  target: main-thread busy < {pct(r['target_main_thread_busy'])}: {verdict}")
    if r["errors"]:
        print(f"  page errors: {r['errors'][:5]}")
    print("bundles (ccviz_kernel/static):")
    for name, size in r["bundles"].items():
        print(
            f"  {name:<12}{size['raw'] / 1024:>9.0f} KiB raw {size['gzip'] / 1024:>8.0f} KiB gzip"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--rate", type=float, default=30.0, help="hook events per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="busy measurement window")
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--serializer", choices=["msgpack", "json"], default="msgpack")
    parser.add_argument("--width", type=int, default=800)
    parser.add_argument("--height", type=int, default=500)
    parser.add_argument("--dpr", type=float, default=1.0)
    parser.add_argument("--shot", help="save a screenshot at the end")
    parser.add_argument("--json", type=Path, help="also write the results here")
    ns = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 2
    if not (STATIC / "page.js").exists():
        print(
            f"the front end is not built in {STATIC}: cd widgets && npm run build", file=sys.stderr
        )
        return 2
    results = run(ns)
    print_table(results)
    if ns.json:
        ns.json.parent.mkdir(parents=True, exist_ok=True)
        ns.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if results["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
