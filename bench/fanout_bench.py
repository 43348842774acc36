"""Broadcast fan-out: many viewers of one game, ccviz against a plain Node socket.io server.

    .venv/bin/python bench/fanout_bench.py            # prints a table; --json FILE saves it

Scenarios (docs/design.md §7): (a) 100 viewers at 60 events/s, (b) 1000 viewers at 30 events/s,
each ``--duration`` seconds (20 by default). Servers, each its own process, measured in the
same run by the same clients:

- ``ccviz``: ``ccviz serve --fps F`` (msgpack), what ships; ``--fps 0`` here means no
  coalescing (``ccviz serve --fps 1000``: one update per event at these rates);
- ``node``: ``bench/node/ref-server.mjs``, socket.io 4.8 with the msgpack parser,
  websocket only, perMessageDeflate off, the same leading-edge coalescing at the same fps.
  It takes the same POSTs and emits the very deltas and effects ccviz's engine makes for
  them (precomputed here), so the messages have the same shape and size.

Viewers are Node processes (``bench/node/viewers.mjs``), each holding many socket.io-client
connections with the msgpack parser. The load generator is this process: one keep-alive
HTTP connection, requests written by hand on asyncio streams (no client library between
the clock and the socket), on schedule and pipelined: the load never waits for answers
(hooks do not wait for a slow server either; a server that falls behind must coalesce or
queue). Latency = viewer receipt time (in the socket.io event handler) − the moment the
POST was written, per event and viewer; the event's seq maps it to its send time (one game,
requests answered in order, so seq k is the k-th POST; the server's final seq is checked).

Fairness on a 2-core machine: the server under test is pinned to CPU 0 and runs alone there;
the viewers and the load generator are pinned to CPU 1 (``--no-pin`` to turn off). Both
servers get identical clients and load, one after the other; the clients' own CPU use is
reported so a saturated client core (which would inflate latency for both) shows.

Measured per run: p50/p90/p99/max latency; event deliveries expected (events × viewers)
vs received (lost = a viewer never saw that seq); messages delivered (updates + effects);
server CPU (``/proc/<pid>/stat`` utime+stime) per 1000 messages delivered, raw and with the
ingest cost taken out (measured first with the same rate and no viewers); RSS per
connection ((RSS with viewers joined − RSS idle) / viewers); how long POSTs waited for
their answer (a server behind on its work answers late); and "other CPU %": what anything
outside this run used on the machine meanwhile (on a shared machine, a run with much of it
is noise: it is run again, up to ``--retries`` times, keeping the least disturbed; and
``--quiet-wait S`` waits for a calm machine before each run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _machine import loadavg
from _machine import machine as shared_machine

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = Path(__file__).resolve().parent / "node"
VENV_BIN = Path(sys.executable).parent
CCVIZ = str(VENV_BIN / "ccviz")
FIXTURE = ROOT / "tests" / "fixtures" / "hook-payloads.jsonl"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
SCENARIOS = {"a": (100, 60.0), "b": (1000, 30.0)}
TARGET_P99_MS = 10.0
SERVER_CPU, CLIENT_CPU = 0, 1


# -- machine and processes ---------------------------------------------------------------


def machine() -> dict[str, str]:
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return shared_machine(node=node, loadavg_at_start=loadavg())


def cpu_ms(pid: int) -> float:
    """utime + stime of a process (all its threads), in ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / CLK_TCK


def machine_busy_ms() -> tuple[float, float]:
    """All CPUs' busy and idle time so far, in ms (from /proc/stat). Interrupt time is left
    out of "busy": it is mostly this run's own loopback traffic, which no process is billed
    for."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    busy = user + nice + system + steal
    return busy * 1000.0 / CLK_TCK, (idle + iowait) * 1000.0 / CLK_TCK


async def wait_quiet(max_wait: float, idle_pct: float = 80.0) -> float:
    """Wait (at most ``max_wait`` s) until the machine is idle ≥ ``idle_pct`` over 2 s."""
    deadline = time.monotonic() + max_wait
    while True:
        b0, i0 = machine_busy_ms()
        await asyncio.sleep(2.0)
        b1, i1 = machine_busy_ms()
        idle = 100.0 * (i1 - i0) / max(1.0, (b1 - b0) + (i1 - i0))
        if idle >= idle_pct or time.monotonic() >= deadline:
            return idle


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def pinned(cpu: int | None, argv: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if cpu is not None else argv


async def stop_process(proc: asyncio.subprocess.Process | None) -> None:
    if proc is None or proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), 10)
    except asyncio.TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await asyncio.wait_for(proc.wait(), 10)


async def read_json_line(proc: asyncio.subprocess.Process, timeout: float) -> dict:
    raw = await asyncio.wait_for(proc.stdout.readline(), timeout)
    if not raw:
        raise RuntimeError(f"process {proc.pid} ended without answering")
    record = json.loads(raw)
    if record.get("event") == "error":
        raise RuntimeError(f"process {proc.pid}: {record}")
    return record


def ensure_node_modules() -> None:
    if (NODE_DIR / "node_modules" / "socket.io").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed: the viewers and the reference server run on Node")
    command = "ci" if (NODE_DIR / "package-lock.json").exists() else "install"
    subprocess.run(
        [npm, command, "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=NODE_DIR,
        check=True,
        timeout=300,
    )


# -- the event stream ------------------------------------------------------------------------


def event_stream(count: int) -> tuple[list[bytes], str]:
    """``count`` hook payloads: a session start, then the fixture's work cycled."""
    lines = FIXTURE.read_text().splitlines()
    game_id = json.loads(lines[0])["session_id"]
    work = lines[1:-1]  # everything between SessionStart and SessionEnd
    stream = [lines[0], *itertools.islice(itertools.cycle(work), count - 1)]
    return [line.encode() for line in stream], game_id


def precompute(bodies: list[bytes], game_id: str, rate: float) -> dict:
    """What ccviz's engine emits for each payload: the reference server sends the same."""
    from ccviz_kernel.engine.game import Game
    from ccviz_kernel.events import parse_event

    game = Game(game_id)
    now = time.time()
    updates = []
    for i, body in enumerate(bodies):
        applied = game.apply(parse_event(body, ts=now + i / rate))
        effects = [{k: v for k, v in e.items() if k != "seq"} for e in applied.effects]
        updates.append({"deltas": applied.deltas, "effects": effects})
    return {"snapshot": game.snapshot(), "updates": updates}


class Poster:
    """One keep-alive HTTP/1.1 connection. Requests are written whole at their moment and
    pipelined: the load does not wait for answers (hooks do not wait for a slow server
    either), and both servers answer pipelined requests in order, so the k-th request is
    the k-th event."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token

    async def open(self) -> Poster:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), 10
        )
        return self

    def write(self, body: bytes) -> float:
        """Write one hook POST; returns the epoch ms at which it was written."""
        t = time.time()
        head = (
            f"POST /api/hooks HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
            f"X-Ccviz-Time: {t:.6f}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        return t * 1000.0

    async def answer(self, timeout: float = 30) -> float:
        """Read one answer (it must be 204); returns the epoch ms it was read."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        t = time.time() * 1000.0
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if length:
            await asyncio.wait_for(self.reader.readexactly(length), timeout)
        if status != 204:
            raise RuntimeError(f"POST answered {status}")
        return t

    async def post(self, body: bytes) -> float:
        sent = self.write(body)
        await self.answer()
        return sent

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


async def paced(
    poster: Poster, bodies: list[bytes], rate: float
) -> tuple[list[float], list[float]]:
    """Write the POSTs on schedule; returns their send times and answer times (epoch ms)."""

    async def answers() -> list[float]:
        return [await poster.answer() for _ in bodies]

    reading = asyncio.ensure_future(answers())
    sends = []
    start = time.monotonic()
    try:
        for i, body in enumerate(bodies):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if reading.done():  # an early answer other than 204
                reading.result()
            sends.append(poster.write(body))
        return sends, await asyncio.wait_for(reading, 120)
    finally:
        reading.cancel()


# -- servers -----------------------------------------------------------------------------------


class CcvizServer:
    name = "ccviz"

    def __init__(
        self,
        fps: float,
        tmp: Path,
        cpu: int | None,
        label: str = "ccviz",
        pythonpath: str | None = None,
    ) -> None:
        self.fps, self.tmp, self.cpu = fps, tmp, cpu
        self.label, self.pythonpath = label, pythonpath

    async def start(self, plan: dict) -> None:
        home = Path(tempfile.mkdtemp(prefix="ccviz-", dir=self.tmp))
        self.stderr = open(home / "stderr.log", "wb")  # noqa: SIM115
        env = {**os.environ, "CCVIZ_HOME": str(home)}
        if self.pythonpath:  # a variant: its ccviz_kernel comes first on sys.path
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (self.pythonpath, env.get("PYTHONPATH")) if p
            )
        fps = self.fps if self.fps > 0 else 1000.0
        self.proc = await asyncio.create_subprocess_exec(
            *pinned(self.cpu, [CCVIZ, "serve", "--port", "0", "--fps", str(fps)]),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self.stderr,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                raise RuntimeError(f"ccviz serve exited: {(home / 'stderr.log').read_text()}")
            with contextlib.suppress(OSError, ValueError):
                info = json.loads((home / "runtime.json").read_text())
                if info.get("pid") == self.proc.pid:
                    self.url = info["url"]
                    self.token = (home / "token").read_text().strip()
                    self.port = int(self.url.rstrip("/").rsplit(":", 1)[1])
                    return
            await asyncio.sleep(0.05)
        raise RuntimeError("ccviz serve did not start within 30 s")

    async def seq(self, game_id: str) -> int:
        return (await http_get_json(self.port, f"/api/games/{game_id}"))["seq"]

    async def stop(self) -> None:
        await stop_process(self.proc)
        self.stderr.close()


class NodeServer:
    name = label = "node"

    def __init__(self, fps: float, tmp: Path, cpu: int | None) -> None:
        self.fps, self.tmp, self.cpu = fps, tmp, cpu

    async def start(self, plan: dict) -> None:
        updates = self.tmp / "updates.json"
        updates.write_text(json.dumps(plan["precomputed"]))
        self.token = os.urandom(16).hex()
        argv = [
            "node",
            str(NODE_DIR / "ref-server.mjs"),
            "--port",
            "0",
            "--token",
            self.token,
            "--updates",
            str(updates),
            "--fps",
            str(self.fps),
        ]
        self.proc = await asyncio.create_subprocess_exec(
            *pinned(self.cpu, argv), stdout=asyncio.subprocess.PIPE
        )
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        if not line.startswith(b"listening "):
            raise RuntimeError(f"ref-server said {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}/"

    async def seq(self, game_id: str) -> int:
        return (await http_get_json(self.port, f"/api/games/{game_id}"))["seq"]

    async def stop(self) -> None:
        await stop_process(self.proc)


async def http_get_json(port: int, path: str) -> dict:
    def get() -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return json.load(r)

    return await asyncio.to_thread(get)


# -- one run ---------------------------------------------------------------------------------


async def status(clients: list[asyncio.subprocess.Process]) -> tuple[float, int]:
    """The oldest seq any viewer holds, and how many messages they all received so far."""
    lowest, messages = float("inf"), 0
    for c in clients:
        c.stdin.write(b'{"cmd": "status"}\n')
        await c.stdin.drain()
        answer = await read_json_line(c, 30)
        lowest = min(lowest, answer["min"] if answer["min"] is not None else -1)
        messages += answer["messages"]
    return lowest, messages


async def drained(clients: list[asyncio.subprocess.Process], seq: int, limit: float) -> float:
    """Wait (at most ``limit`` s) until every viewer holds ``seq``; returns the wait."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if (await status(clients))[0] >= seq:
            break
        await asyncio.sleep(0.25)
    await asyncio.sleep(0.25)  # their visualization-events follow the update
    return time.monotonic() - start


def percentile(fine: dict[int, int], slow: list[float], q: float) -> float:
    total = sum(fine.values()) + len(slow)
    if total == 0:
        return float("nan")
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bin_, n in sorted(fine.items()):
        seen += n
        if seen >= rank:
            return (bin_ + 0.5) / 100.0
    return sorted(slow)[rank - seen - 1]


async def run_one(server, viewers: int, rate: float, ns, tmp: Path) -> dict:
    warm = 25
    n_ingest = int(rate * ns.ingest_seconds)
    n_settle = int(rate * ns.settle_seconds)
    n_timed = int(rate * ns.duration)
    total = warm + n_ingest + n_settle + n_timed
    bodies, game_id = event_stream(total)
    plan = {"precomputed": precompute(bodies, game_id, rate)} if server.name == "node" else {}
    procs = max(1, min(10, ns.procs or max(4, math.ceil(viewers / 125))))
    per = [viewers // procs + (1 if i < viewers % procs else 0) for i in range(procs)]
    clients: list[asyncio.subprocess.Process] = []
    result: dict = {
        "server": server.label,
        "fps": server.fps,
        "viewers": viewers,
        "rate": rate,
        "duration_s": ns.duration,
        "viewer_processes": procs,
        "loadavg_before": loadavg(),
    }
    if ns.quiet_wait > 0:
        result["machine_idle_before_pct"] = await wait_quiet(ns.quiet_wait)
    await server.start(plan)
    poster = None
    try:
        pid = server.proc.pid
        poster = await Poster("127.0.0.1", server.port, server.token).open()
        for body in bodies[:warm]:  # the game exists and every code path has run once
            await poster.post(body)
        # ingest only: the same rate, no viewers
        c0 = cpu_ms(pid)
        await paced(poster, bodies[warm : warm + n_ingest], rate)
        await asyncio.sleep(0.5)
        ingest_cpu = cpu_ms(pid) - c0
        result["ingest_cpu_ms_per_event"] = ingest_cpu / max(1, n_ingest)
        result["rss_idle_mb"] = rss_mb(pid)

        first = warm + n_ingest + n_settle + 1
        lifetime = str(int(ns.duration + ns.ingest_seconds + 120 + viewers * 0.1))
        for count in per:
            argv = [
                "node",
                str(NODE_DIR / "viewers.mjs"),
                "--url",
                server.url,
                "--game",
                game_id,
                "--count",
                str(count),
                "--max-seq",
                str(total + 10),
                "--timeout",
                lifetime,
            ]
            clients.append(
                await asyncio.create_subprocess_exec(
                    *pinned(None if ns.no_pin else CLIENT_CPU, argv),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    limit=64 * 1024 * 1024,
                )
            )
        t_join = time.monotonic()
        ready = [await read_json_line(c, 60 + viewers * 0.1) for c in clients]
        result["join_s"] = time.monotonic() - t_join
        result["connected"] = sum(r["connected"] for r in ready)
        if result["connected"] != viewers:
            raise RuntimeError(f"only {result['connected']} of {viewers} viewers joined: {ready}")
        await asyncio.sleep(1.0)
        result["rss_viewers_mb"] = rss_mb(pid)
        result["rss_per_viewer_kb"] = (
            (result["rss_viewers_mb"] - result["rss_idle_mb"]) * 1024 / viewers
        )

        client_pids = [c.pid for c in clients]
        await poster.close()  # a fresh connection: the old one sat idle while viewers joined
        poster = await Poster("127.0.0.1", server.port, server.token).open()
        # untimed: the viewers' first updates (JIT, heap growth) are not what we measure
        await paced(poster, bodies[first - 1 - n_settle : first - 1], rate)
        await drained(clients, first - 1, 30)
        _, messages_before = await status(clients)
        c1, k1, t1 = cpu_ms(pid), sum(map(cpu_ms, client_pids)), time.monotonic()
        me1 = sum(os.times()[:2]) * 1000
        m1, _ = machine_busy_ms()
        spy = None
        if ns.py_spy and server.name == "ccviz":  # a profiling run: its numbers are perturbed
            spy = await asyncio.create_subprocess_exec(
                *pinned(None if ns.no_pin else CLIENT_CPU, [ns.py_spy, "record", "--pid"]),
                str(pid),
                "--rate",
                "250",
                "--format",
                "raw",
                "--nonblocking",
                "-o",
                str(ns.profile_dir / f"ccviz-{viewers}v-{rate:g}hz-fps{server.fps:g}.txt"),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        sends, answered = await paced(poster, bodies[first - 1 :], rate)
        if spy is not None:
            with contextlib.suppress(ProcessLookupError):
                spy.send_signal(signal.SIGINT)
            await asyncio.wait_for(spy.wait(), 30)
        result["drain_s"] = await drained(clients, total, 60)  # the last updates arrive
        _, messages_after = await status(clients)
        c2, k2, t2 = cpu_ms(pid), sum(map(cpu_ms, client_pids)), time.monotonic()
        me2 = sum(os.times()[:2]) * 1000
        m2, _ = machine_busy_ms()
        result["rss_end_mb"] = rss_mb(pid)
        result["server_seq"] = await server.seq(game_id)
        if result["server_seq"] != total:
            raise RuntimeError(f"server seq {result['server_seq']} != {total} POSTs")
        result["achieved_rate"] = (n_timed - 1) / max(1e-3, (sends[-1] - sends[0]) / 1000)
        waits = sorted(a - b for a, b in zip(answered, sends, strict=True))
        result["post_answer_p50_ms"] = waits[len(waits) // 2]
        result["post_answer_max_ms"] = waits[-1]

        report = json.dumps({"cmd": "report", "first": first, "send": sends}) + "\n"
        for c in clients:
            c.stdin.write(report.encode())
            await c.stdin.drain()
        reports = [await read_json_line(c, 60) for c in clients]
    finally:
        if poster is not None:
            await poster.close()
        for c in clients:
            await stop_process(c)
        await server.stop()

    fine: dict[int, int] = {}
    slow: list[float] = []
    for r in reports:
        for bin_, n in r["fine"]:
            fine[bin_] = fine.get(bin_, 0) + n
        slow.extend(r["slow"])
    messages = messages_after - messages_before  # in the timed window, like the CPU
    # per event, its slowest delivery: do slow deliveries come as whole slow events
    # (the server or the machine stalled) or as scattered slow viewers (client backlog)?
    worst = [max(col) for col in zip(*(r["worst"] for r in reports), strict=True)]
    ranked = sorted(range(len(worst)), key=worst.__getitem__, reverse=True)[:10]
    server_cpu = c2 - c1
    elapsed = t2 - t1
    result.update(
        {
            "events": n_timed,
            "expected": n_timed * viewers,
            "received": sum(r["received"] for r in reports),
            "lost": sum(r["lost"] for r in reports),
            "gaps": sum(r["gaps"] for r in reports),
            "disconnects": sum(r["disconnects"] for r in reports),
            "messages": messages,
            "p50_ms": percentile(fine, slow, 0.50),
            "p90_ms": percentile(fine, slow, 0.90),
            "p99_ms": percentile(fine, slow, 0.99),
            "max_ms": max(slow) if slow else (max(fine) + 1) / 100.0 if fine else float("nan"),
            "server_cpu_ms": server_cpu,
            "server_cpu_pct": 100.0 * server_cpu / (elapsed * 1000),
            "cpu_ms_per_1000_deliveries": server_cpu / max(1, messages) * 1000,
            "fanout_cpu_ms_per_1000_deliveries": (
                (server_cpu - result["ingest_cpu_ms_per_event"] * n_timed) / max(1, messages) * 1000
            ),
            "client_cpu_pct": 100.0 * ((k2 - k1) + (me2 - me1)) / (elapsed * 1000),
            # CPU used on the machine by anything else than this run (other people's work)
            "other_cpu_pct": 100.0
            * max(0.0, (m2 - m1) - server_cpu - (k2 - k1) - (me2 - me1))
            / (elapsed * 1000),
            "loadavg_after": loadavg(),
            "events_slowest_delivery_p50_ms": sorted(worst)[len(worst) // 2] if worst else 0,
            "slowest_events": [
                {"at_s": round((sends[i] - sends[0]) / 1000, 3), "ms": worst[i]} for i in ranked
            ],
        }
    )
    return result


# -- main ------------------------------------------------------------------------------------


def table(rows: list[dict]) -> str:
    out = [
        "| scenario | server | fps | POST→204 p50 / max ms | p50 ms | p90 ms | p99 ms | max ms "
        "| lost / expected "
        "| msgs delivered | server CPU % | CPU ms / 1000 deliveries (fan-out only) "
        "| RSS / viewer KB | client CPU % | other CPU % |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        fps = "none" if not r["fps"] else f"{r['fps']:g}"
        out.append(
            f"| {r['viewers']} viewers @ {r['rate']:g}/s | {r['server']} | {fps} "
            f"| {r['post_answer_p50_ms']:.1f} / {r['post_answer_max_ms']:.0f} "
            f"| {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.1f} "
            f"| {r['lost']:,} / {r['expected']:,} | {r['messages']:,} "
            f"| {r['server_cpu_pct']:.0f} | {r['cpu_ms_per_1000_deliveries']:.1f} "
            f"({r['fanout_cpu_ms_per_1000_deliveries']:.1f}) "
            f"| {r['rss_per_viewer_kb']:.0f} | {r['client_cpu_pct']:.0f} "
            f"| {r['other_cpu_pct']:.0f} |"
        )
    return "\n".join(out)


async def amain(ns) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="ccviz-fanout-") as tmp:
        tmp = Path(tmp)
        for key in ns.scenarios:
            viewers, rate = SCENARIOS[key]
            viewers = ns.viewers or viewers
            rate = ns.rate or rate
            for fps in ns.fps:
                for _ in range(ns.repeat):
                    for name in ns.servers:
                        cpu = None if ns.no_pin else SERVER_CPU
                        if name == "node":
                            server = NodeServer(fps, tmp, cpu)
                        else:
                            label = ns.ccviz_label if name == "ccviz" else name
                            server = CcvizServer(fps, tmp, cpu, label, ns.variant.get(name))
                        print(
                            f"… {viewers} viewers @ {rate:g}/s, {name}, fps {fps:g}",
                            file=sys.stderr,
                            flush=True,
                        )
                        best = None
                        for attempt in range(1, ns.retries + 2):
                            row = await run_one(server, viewers, rate, ns, tmp)
                            row["attempt"] = attempt
                            if best is None or row["other_cpu_pct"] < best["other_cpu_pct"]:
                                best = row
                            if row["other_cpu_pct"] <= ns.max_other:
                                break
                            print(
                                f"  other work took {row['other_cpu_pct']:.0f}% CPU meanwhile:"
                                " measuring again",
                                file=sys.stderr,
                                flush=True,
                            )
                        best["scenario"] = key
                        rows.append(best)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default="a,b", help="a: 100 viewers @ 60/s; b: 1000 @ 30/s")
    parser.add_argument("--servers", default="ccviz,node", help="ccviz, node or both")
    parser.add_argument(
        "--fps", default="30,0", help="coalescing fps list (0: none, ccviz gets --fps 1000)"
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per run")
    parser.add_argument("--ingest-seconds", type=float, default=5.0, help="no-viewer phase")
    parser.add_argument(
        "--settle-seconds", type=float, default=3.0, help="untimed load once viewers joined"
    )
    parser.add_argument("--viewers", type=int, help="override the scenario's viewer count")
    parser.add_argument("--rate", type=float, help="override the scenario's events/s")
    parser.add_argument("--procs", type=int, default=0, help="viewer processes (default 4–10)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/clients to CPUs")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        help="before each run, wait up to this many seconds for the machine to be ≥ 80%% idle",
    )
    parser.add_argument(
        "--ccviz-label", default="ccviz", help="name for the ccviz rows (a variant under test)"
    )
    parser.add_argument(
        "--py-spy", metavar="PY_SPY", help="profile the ccviz server with this py-spy binary"
    )
    parser.add_argument(
        "--profile-dir", type=Path, default=Path("."), help="where py-spy writes (raw format)"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also run a ccviz variant whose ccviz_kernel package is in DIR (repeatable)",
    )
    parser.add_argument(
        "--max-other",
        type=float,
        default=25.0,
        help="a run during which other work used more CPU (%% of one core) is run again",
    )
    parser.add_argument("--retries", type=int, default=2, help="at most this many times")
    parser.add_argument("--json", type=Path, help="also write the results here")
    ns = parser.parse_args()
    ns.scenarios = [s for s in ns.scenarios.split(",") if s]
    ns.servers = [s for s in ns.servers.split(",") if s]
    ns.fps = [float(f) for f in ns.fps.split(",") if f]
    variants = dict(v.split("=", 1) for v in ns.variant if "=" in v)
    if len(variants) != len(ns.variant) or not all(
        (Path(d) / "ccviz_kernel").is_dir() for d in variants.values()
    ):
        parser.error("--variant takes NAME=DIR, DIR holding a ccviz_kernel package")
    ns.variant = {k: str(Path(v).resolve()) for k, v in variants.items()}
    ns.servers += [k for k in ns.variant if k not in ns.servers]
    if not set(ns.scenarios) <= set(SCENARIOS) or not set(ns.servers) <= {
        "ccviz",
        "node",
        *ns.variant,
    }:
        parser.error("unknown scenario or server")
    ns.duration = max(2.0, min(ns.duration, 120.0))
    ns.ingest_seconds = max(1.0, min(ns.ingest_seconds, 30.0))
    ns.settle_seconds = max(0.0, min(ns.settle_seconds, 30.0))
    ns.repeat = max(1, min(ns.repeat, 5))
    ns.quiet_wait = max(0.0, min(ns.quiet_wait, 1800.0))
    ns.retries = max(0, min(ns.retries, 5))
    if ns.viewers is not None:
        ns.viewers = max(1, min(ns.viewers, 5000))
    if ns.rate is not None:
        ns.rate = max(1.0, min(ns.rate, 500.0))
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        ns.no_pin = True
    ensure_node_modules()
    info = machine()
    if not ns.no_pin:
        os.sched_setaffinity(0, {CLIENT_CPU})  # the load generator shares the clients' core
    rows = asyncio.run(amain(ns))
    info["loadavg_at_end"] = loadavg()
    print(table(rows))
    print()
    pin = "no pinning" if ns.no_pin else "server on CPU 0 alone; viewers + load generator on CPU 1"
    print(f"{info['cpu']}, {info['cpus']} CPUs, Node {info['node']}; {pin}")
    print(f"load average at start {info['loadavg_at_start']}, at end {info['loadavg_at_end']}")
    for r in rows:
        if r["viewers"] <= 100 and r["p99_ms"] > TARGET_P99_MS:
            print(f"target missed: {r['server']} fps {r['fps']:g} p99 {r['p99_ms']:.1f} ms > 10")
        if r["achieved_rate"] < 0.95 * r["rate"]:
            print(
                f"load generator behind: {r['server']} fps {r['fps']:g} sent"
                f" {r['achieved_rate']:.1f}/s of {r['rate']:g}/s"
            )
        if r["lost"]:
            print(f"target missed: {r['server']} fps {r['fps']:g} lost {r['lost']:,} deliveries")
    if ns.json:
        out = {
            "benchmark": "fanout",
            **info,
            "pinning": pin,
            "variants": ns.variant,
            "duration_s": ns.duration,
            "target": {"p99_ms_at_100_viewers": TARGET_P99_MS, "lost_at_1000_viewers": 0},
            "runs": rows,
        }
        ns.json.parent.mkdir(parents=True, exist_ok=True)
        ns.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
