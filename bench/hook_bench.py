"""``ccviz hook`` overhead: what Claude Code pays per hook event (issue: live path).

    .venv/bin/python bench/hook_bench.py            # prints a table; --json FILE saves it

Wall time of the real console script (``.venv/bin/ccviz hook`` with a fixture payload on
stdin) against a bare ``true``, in three cases:

- server running (``ccviz serve`` in its own process; the hook POSTs to it);
- server down, no runtime file (the hook spools at once);
- server down with a stale runtime file (connection refused, then spool);
- and a PermissionRequest (the fixture's) with the server down, with and without the
  plugin's ``answer_permissions`` option (``CLAUDE_PLUGIN_OPTION_ANSWER_PERMISSIONS``:
  then the hook reads the payload to see that it waits, and tries ``api/permissions``
  before it spools), and the default payload under that option (what every other event
  pays for it).

Timed with ``hyperfine`` when installed (``apt-get install -y hyperfine``; each case in its
own block, its shell start-up subtracted), else, or with ``--method interleaved``, by
``subprocess`` calls taking one call of each case in turn (fair when other work comes and
goes on the machine) and also recording each call's CPU time (user + system). Every call
goes through ``sh -c 'cmd < payload'``, the same for ``true``, so "p50 − true" is the
hook's own cost. Target: ≤ 40 ms.

Python's bytecode cache matters here (compiling ``ccviz_kernel`` on every call costs
~20 ms): the timed runs unset ``PYTHONDONTWRITEBYTECODE`` and point ``PYTHONPYCACHEPREFIX``
at a temporary folder (the warm-up runs fill it), as on a normal install; one extra row
shows the cost without a cache.

It also checks correctness: events spooled while no server ran (no runtime file, then a
stale one) are ingested exactly once when the server starts, stay once after the spool
is polled again and after a restart, and replay to the engine's snapshot.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _machine import loadavg
from _machine import machine as shared_machine

from ccviz_kernel.config import ENV_PLUGIN_ANSWER

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
CCVIZ = str(VENV_BIN / "ccviz")
FIXTURE = ROOT / "tests" / "fixtures" / "hook-payloads.jsonl"
TARGET_MS = 40.0
NO_CACHE = "server down, no .pyc cache"
TEAM = "team server over https (CCVIZ_URL)"
TEAM_DOWN = "team server down (spool, start forward)"
ASKS = "PermissionRequest, server down"
ASKS_OPTION = "PermissionRequest, server down, plugin's answer option"
OTHER_OPTION = "server down (spool), plugin's answer option"
CASES = [
    "server running",
    "server down (spool)",
    "stale runtime file (refused)",
    NO_CACHE,
    TEAM,
    TEAM_DOWN,
    ASKS,
    ASKS_OPTION,
    OTHER_OPTION,
]


# -- helpers -----------------------------------------------------------------------------


def machine() -> dict[str, str]:
    return shared_machine(loadavg_at_start=loadavg())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(home: Path, pycache: Path | None) -> dict[str, str]:
    env = {**os.environ, "CCVIZ_HOME": str(home)}
    env.pop("CCVIZ_TOKEN", None)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    return env


class Server:
    """``ccviz serve --port 0`` in its own process, found through its runtime file."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        runtime = home / "runtime.json"
        runtime.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [CCVIZ, "serve", "--port", "0"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ccviz serve exited: {self.proc.stderr.read().decode()}")
            try:
                info = json.loads(runtime.read_text())
                if info.get("pid") == self.proc.pid:
                    self.url = info["url"]
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("ccviz serve did not write its runtime file within 20 s")

    def game(self, game_id: str) -> dict | None:
        try:
            with urllib.request.urlopen(f"{self.url}api/games/{game_id}", timeout=5) as r:
                return json.load(r)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def hyperfine_times(commands: list[str], env: dict[str, str], runs: int, warmup: int):
    """Wall times in seconds of each shell command, ``runs`` each after ``warmup``."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [
                "hyperfine",
                "--style",
                "none",
                "--shell",
                "sh",
                "--warmup",
                str(warmup),
                "--runs",
                str(runs),
                "--export-json",
                out.name,
                *commands,
            ],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # its calibration warnings about `true`
            timeout=300,
        )
        data = json.loads(Path(out.name).read_text())
    return [r["times"] for r in data["results"]]


def run_once(command: str, env: dict[str, str]) -> tuple[float, float]:
    """One ``sh -c command``: wall seconds and CPU seconds (user + system, children too)."""
    start = time.perf_counter()
    proc = subprocess.Popen(["sh", "-c", command], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{command!r} exited {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def stats(times: list[float]) -> dict[str, float]:
    ms = sorted(t * 1000 for t in times)
    return {
        "p50_ms": statistics.median(ms),
        "p90_ms": ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))],
        "mean_ms": statistics.fmean(ms),
        "runs": len(ms),
    }


def spooled(home: Path) -> int:
    path = home / "spool.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


# -- the timing cases ----------------------------------------------------------------------


def timing(runs: int, warmup: int, method: str, line: int) -> dict:
    """The four cases; ``hyperfine`` times them one block after another, ``interleaved``
    takes one call of each in turn (fair when other work comes and goes on the machine)."""
    lines = FIXTURE.read_text().splitlines()
    payload_text = lines[line - 1]
    game_id = json.loads(payload_text)["session_id"]
    with tempfile.TemporaryDirectory(prefix="ccviz-hook-bench-") as tmp:
        tmp = Path(tmp)
        payload = tmp / "payload.json"
        payload.write_text(payload_text + "\n")
        asking = tmp / "asking.json"  # the fixture's PermissionRequest
        asking.write_text(next(t for t in lines if '"PermissionRequest"' in t) + "\n")
        hook = f"{CCVIZ} hook < {payload}"
        commands = {name: hook for name in CASES}
        commands[ASKS] = commands[ASKS_OPTION] = f"{CCVIZ} hook < {asking}"
        true = f"true < {payload}"
        pycache = tmp / "pycache"
        homes = {name: tmp / str(k) for k, name in enumerate(CASES)}
        for home in homes.values():
            home.mkdir()
        stale = homes["stale runtime file (refused)"] / "runtime.json"
        stale.write_text(
            json.dumps({"url": f"http://127.0.0.1:{free_port()}/", "pid": 1, "kind": "standalone"})
        )
        envs = {
            name: env_for(home, None if name == NO_CACHE else pycache)
            for name, home in homes.items()
        }
        running = "server running"
        server = Server(homes[running], envs[running])
        tls = TlsFront(server.url, tmp)
        token = (homes[running] / "token").read_text().strip()
        for name, url in ((TEAM, tls.url), (TEAM_DOWN, f"https://localhost:{free_port()}/")):
            envs[name].update(CCVIZ_URL=url, CCVIZ_TOKEN=token, SSL_CERT_FILE=str(tls.ca_file))
        envs[ASKS_OPTION][ENV_PLUGIN_ANSWER] = envs[OTHER_OPTION][ENV_PLUGIN_ANSWER] = "true"
        try:
            wall: dict[str, list[float]] = {name: [] for name in ["true", *CASES]}
            cpu: dict[str, list[float]] = {name: [] for name in ["true", *CASES]}
            if method == "hyperfine":
                for name in CASES:
                    t_true, t_hook = hyperfine_times(
                        [true, commands[name]], envs[name], runs, warmup
                    )
                    wall[name] = t_hook
                    wall["true"] += t_true
            else:
                order = [("true", true), *((name, commands[name]) for name in CASES)]
                for i in range(warmup + runs):
                    k = i % len(order)
                    for name, command in order[k:] + order[:k]:  # rotate who goes first
                        env = envs[name] if name != "true" else envs[running]
                        w, c = run_once(command, env)
                        if i >= warmup:
                            wall[name].append(w)
                            cpu[name].append(c)
            snap = server.game(game_id)
        finally:
            stop_forwarders(homes[TEAM_DOWN])
            tls.close()
            server.stop()
    results: dict = {}
    true_p50 = stats(wall["true"])["p50_ms"]
    for name in CASES:
        row = stats(wall[name])
        row["true_p50_ms"] = true_p50
        row["overhead_p50_ms"] = row["p50_ms"] - true_p50
        if cpu[name]:
            row["cpu_p50_ms"] = stats(cpu[name])["p50_ms"]
        row["meets_target"] = row["overhead_p50_ms"] <= TARGET_MS
        results[name] = row
    delivered = snap["seq"] if snap else 0
    results[running]["delivered"] = delivered  # and the https runs, to the same server
    results[running]["all_delivered"] = delivered == 2 * (warmup + runs)
    return results


def forward_latency(events: int = 20, gap: float = 0.2) -> dict:
    """How long after a ``CCVIZ_URL`` hook returns its event is stored on the team server
    (https through :class:`TlsFront`): the first event includes starting ``ccviz forward``,
    the others find it running (it polls the spool every 20 ms)."""
    import uuid

    lines = FIXTURE.read_text().splitlines()
    with tempfile.TemporaryDirectory(prefix="ccviz-forward-bench-") as tmp:
        tmp = Path(tmp)
        server_home, client = tmp / "server", tmp / "client"
        server_home.mkdir()
        client.mkdir(mode=0o700)
        pycache = tmp / "pycache"
        server = Server(server_home, env_for(server_home, pycache))
        tls = TlsFront(server.url, tmp)
        token = (server_home / "token").read_text().strip()
        env = env_for(client, pycache)
        env.update(CCVIZ_URL=tls.url, CCVIZ_TOKEN=token, SSL_CERT_FILE=str(tls.ca_file))
        game_id = str(uuid.uuid4())
        waits: list[float] = []
        try:
            for i in range(events):
                payload = json.loads(lines[i % 2])  # SessionStart, UserPromptSubmit: never held
                payload["session_id"] = game_id
                subprocess.run(
                    [CCVIZ, "hook"], input=json.dumps(payload).encode(), env=env, check=True
                )
                done = time.perf_counter()
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    snap = server.game(game_id)
                    if snap and snap["seq"] >= i + 1:
                        break
                    time.sleep(0.002)
                waits.append(time.perf_counter() - done)
                time.sleep(gap)
        finally:
            stop_forwarders(client)
            tls.close()
            server.stop()
    later = stats(waits[1:])
    return {"first_ms": waits[0] * 1000, "later": later, "events": events, "gap_s": gap}


class TlsFront:
    """A TLS-terminating proxy (tests/common.py ``start_proxy``, a trustme CA) in front of
    ``upstream``, on its own loop in a thread: a team server reached over https."""

    def __init__(self, upstream: str, tmp: Path) -> None:
        import asyncio
        import ssl
        import threading

        import trustme

        sys.path.insert(0, str(ROOT / "tests"))
        from common import start_proxy

        ca = trustme.CA()
        self.ca_file = tmp / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost").configure_cert(context)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        coro = start_proxy(upstream, "/", ssl_context=context)
        self.runner, self.url = asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def close(self) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def stop_forwarders(home: Path) -> int:
    """Kill the ``ccviz forward`` processes the down-server runs started (they would retry
    for minutes); how many there were (one at a time is the design: expect 1)."""
    mark = f"CCVIZ_HOME={home}".encode()
    found = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"ccviz_kernel.cli\0forward" in cmd and mark in env:
            found += 1
            os.kill(int(pid), signal.SIGKILL)
    return found


# -- correctness: spooled events appear exactly once ---------------------------------------


def spool_once() -> dict:
    from ccviz_kernel.engine.game import Game
    from ccviz_kernel.events import parse_event

    lines = FIXTURE.read_text().splitlines()
    game_id = json.loads(lines[0])["session_id"]
    first, second = lines[:15], lines[15:]
    with tempfile.TemporaryDirectory(prefix="ccviz-hook-spool-") as tmp:
        home = Path(tmp)
        env = env_for(home, home / "pycache")

        def hook(text: str) -> None:
            subprocess.run([CCVIZ, "hook"], input=text.encode(), env=env, check=True, timeout=30)

        for text in first:  # no runtime file
            hook(text)
        port = free_port()
        (home / "runtime.json").write_text(
            json.dumps({"url": f"http://127.0.0.1:{port}/", "pid": 1, "kind": "standalone"})
        )
        for text in second:  # a stale one
            hook(text)
        in_spool = spooled(home)
        seqs = []
        server = Server(home, env)
        try:
            seqs.append((server.game(game_id) or {"seq": 0})["seq"])
            time.sleep(2.5)  # the server polls the spool every second
            snap = server.game(game_id)
            seqs.append(snap["seq"])
            live_hook = lines[0]  # one more, live, while it runs
            hook(live_hook)
            seqs.append(server.game(game_id)["seq"])
        finally:
            server.stop()
        server = Server(home, env)  # a restart must not ingest anything again
        try:
            time.sleep(1.5)
            seqs.append(server.game(game_id)["seq"])
        finally:
            server.stop()
        leftovers = sorted(p.name for p in home.glob("spool.jsonl*"))
    replayed = Game(game_id)
    for text in lines:
        replayed.apply(parse_event(text))
    sys.path.insert(0, str(ROOT / "tests"))  # one list of a snapshot's times, the tests'
    from common import without_times

    # times aside: the server's come from the hooks, the replay's lines carry none
    same = without_times(snap) == without_times(replayed.snapshot())
    n = len(lines)
    ok = in_spool == n and seqs == [n, n, n + 1, n + 1] and same and not leftovers
    return {
        "events": n,
        "spooled": in_spool,
        "seq_after_start_after_2s_after_live_after_restart": seqs,
        "matches_engine_replay": same,
        "spool_files_left": leftovers,
        "exactly_once": ok,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50, help="timed runs per command (50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first (5)")
    parser.add_argument(
        "--line", type=int, default=3, help="fixture line used as the payload (3: PreToolUse)"
    )
    parser.add_argument(
        "--method",
        choices=["hyperfine", "interleaved"],
        help="hyperfine (default when installed) or interleaved subprocess calls with CPU time",
    )
    parser.add_argument("--label", default="ccviz", help="name of the variant under test")
    parser.add_argument("--json", type=Path, help="also write the results here")
    ns = parser.parse_args()
    ns.runs = max(3, min(ns.runs, 1000))
    ns.warmup = max(1, min(ns.warmup, 100))
    if ns.method is None:
        ns.method = "hyperfine" if shutil.which("hyperfine") else "interleaved"

    info = machine()
    rows = timing(ns.runs, ns.warmup, ns.method, ns.line)
    check = spool_once()
    forward = forward_latency()
    tool = ns.method
    print(f"{ns.label} hook, wall time per call ({tool}, {ns.runs} runs after {ns.warmup} warm-up)")
    print()
    print("| case | p50 ms | p90 ms | p50 − `true` ms | CPU p50 ms | target ≤ 40 ms |")
    print("|---|---:|---:|---:|---:|---|")
    for name, r in rows.items():
        mark = "yes" if r["meets_target"] else "**no**"
        cpu = f"{r['cpu_p50_ms']:.1f}" if "cpu_p50_ms" in r else "–"
        print(
            f"| {name} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | "
            f"{r['overhead_p50_ms']:.1f} | {cpu} | {mark} |"
        )
    print(f"(`true` p50 {rows[CASES[0]]['true_p50_ms']:.2f} ms)")
    print()
    print(
        f"spooled events delivered exactly once: {'yes' if check['exactly_once'] else '**NO**'}"
        f" ({check['events']} spooled; seq after start / +2 s / +1 live / restart: "
        f"{check['seq_after_start_after_2s_after_live_after_restart']}; "
        f"matches engine replay: {check['matches_engine_replay']})"
    )
    print(
        f"CCVIZ_URL (https): stored {forward['first_ms']:.0f} ms after the first hook returned"
        f" (ccviz forward starting), then p50 {forward['later']['p50_ms']:.0f} /"
        f" p90 {forward['later']['p90_ms']:.0f} ms ({forward['events'] - 1} events,"
        f" {forward['gap_s']:g} s apart)"
    )
    info["loadavg_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{info['cpu']}, {info['cpus']} CPUs; load average at start {info['loadavg_at_start']},"
        f" at end {info['loadavg_at_end']}"
    )
    if ns.json:
        out = {
            "benchmark": "hook",
            "variant": ns.label,
            **info,
            "tool": tool,
            "runs": ns.runs,
            "warmup": ns.warmup,
            "target_overhead_ms": TARGET_MS,
            "cases": rows,
            "spool_exactly_once": check,
            "forward_latency": forward,
        }
        ns.json.parent.mkdir(parents=True, exist_ok=True)
        ns.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0 if check["exactly_once"] else 1


if __name__ == "__main__":
    sys.exit(main())
