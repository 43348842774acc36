"""Several ``ccviz serve --redis URL`` behind one real redis-server (issue 15, "Show").

    .venv/bin/python bench/redis_bench.py --json bench/results/redis.json

Rows, each its own processes, measured in one run by the same clients and load
(``bench/fanout_bench.py``'s: raw Engine.IO viewers from ``bench/node/viewers.mjs``, the
open-loop load generator on one keep-alive connection, POST times, CPU from
``/proc/<pid>/stat``):

- ``sqlite ×1``: one ``ccviz serve`` on its data folder's SQLite log, what ships by default;
- ``redis ×1``, ``×2``, ``×3``: that many ``ccviz serve --redis URL`` on one fresh
  redis-server (Debian's, a free loopback port, AOF on, no snapshots: tests/common.py
  ``RedisServer``), each with its own data folder (token, spool, runtime file);
- ``redis: serve + jupyter``: A a ``ccviz serve --redis URL``, B a ``jupyter server`` whose
  extension joins the same Redis (``--CcvizExtension.redis_url``): the Jupyter host on it;
- ``node``: the socket.io 4.8 reference (``bench/node/ref-server.mjs``), the ratio base.

At ``--rates`` (30 and 300 events/s) with ``--viewers`` (1000) spread evenly over the
processes, ``--fps`` 30 (what ships). The hooks all go to process A (the first): one
session's hooks go to one server URL, and one connection keeps the k-th POST the k-th seq.
Per row: deliveries/s (events × viewers that got them, ÷ the load's time), sustained when
p99 ≤ 100 ms (POST written → viewer receipt), nothing lost and the load on schedule; server
CPU per 1000 deliveries (the ccviz processes; Redis's own CPU beside it and in the total, the
ratio's numerator: total ÷ Node's); and the Redis hop: latency from the POST *answered* by A
(the kernel's receive timestamp of the answer) to the update at a viewer on A, and at a
viewer on B/C; the hop is the difference (p50 and p99).

Then the hop alone, lightly loaded (``--probe-viewers`` per process, ``--probe-rate``, fps
240: about one update per event, so frame waits do not blur it): two ccviz processes, and
the alternative the issue asks about, measured the same way by the same viewers: two
minimal python-socketio aiohttp servers (``--mini-server``, this file) on the same Redis,
one room, an update emitted per POST on A:

- ``pubsub``: ``socketio.AsyncRedisManager`` (A emits to its own clients, then publishes;
  B's listener emits what it gets);
- ``tail``: what ccviz does, reduced to the mechanism: A appends to a stream (``XADD``) and
  emits to its own clients; B tails it with ``XREAD BLOCK`` and emits what it reads.

Pinning: the clients and the load generator on CPU 1, as in fanout_bench; the servers on the
other cores, one each where there are enough, else sharing (this 2-core machine has one such
core: every server and redis-server share CPU 0; the output says so). ``--server-cpus``
overrides. Bounded: every loop has a count and a deadline; everything binds 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import fanout_bench as fb
from _machine import loadavg

ROOT = Path(__file__).resolve().parents[1]
SUSTAINED_P99_MS = fb.RAMP_P99_MS  # 100 ms, as the fan-out ramp
#: The rows of one rate: (label, store, processes).
CONFIGS = [("sqlite ×1", "sqlite", 1)] + [(f"redis ×{n}", "redis", n) for n in (1, 2, 3)]
#: The Jupyter extension on the same Redis (issue 15, "Build" 4): A is ``ccviz serve --redis``
#: (the hooks go there), B a ``jupyter server`` whose extension joins the same Redis.
CONFIGS += [("redis: serve + jupyter", "redis-jupyter", 2)]
CONFIGS += [("node", "node", 1)]
STREAM_KEY = "bench:mini:{game}"


def redis_server_class():
    """tests/common.py's RedisServer (one starter for the tests and the benches)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from common import RedisServer

    return RedisServer


class Meter:
    """CPU of the servers, of redis-server, of the clients (viewers + this process) and of
    everything else on the machine, between :meth:`start` and :meth:`stop` (fanout_bench's
    Meter, for several server processes)."""

    def __init__(self, servers: list[int], redis: int | None, clients: list[int]) -> None:
        self.servers, self.redis, self.clients = servers, redis, clients

    def _read(self) -> tuple[float, ...]:
        servers = sum(map(fb.cpu_ms, self.servers))
        redis = fb.cpu_ms(self.redis) if self.redis else 0.0
        clients = sum(map(fb.cpu_ms, self.clients)) + sum(os.times()[:2]) * 1000
        return servers, redis, clients, fb.machine_busy_ms()[0], time.monotonic(), *core_busy_ms()

    def start(self) -> None:
        self.begin = self._read()

    def stop(self) -> dict:
        s, r, c, m, t, *cores = (b - a for a, b in zip(self.begin, self._read(), strict=True))
        wall = max(1e-3, t) * 1000
        return {
            # each core's busy share (user+nice+system+steal): which core the other work was on
            "core_busy_pct": [round(100.0 * x / wall, 1) for x in cores],
            "server_cpu_ms": s,
            "redis_cpu_ms": r,
            "server_cpu_pct": 100.0 * s / wall,
            "redis_cpu_pct": 100.0 * r / wall,
            "client_cpu_pct": 100.0 * c / wall,
            "other_cpu_pct": 100.0 * max(0.0, m - s - r - c) / wall,
            "wall_s": wall / 1000,
        }


def core_busy_ms() -> list[float]:
    """Per CPU, busy time so far in ms (/proc/stat's cpuN lines, as fb.machine_busy_ms)."""
    out = []
    for line in Path("/proc/stat").read_text().splitlines()[1:]:
        if not line.startswith("cpu"):
            break
        user, nice, system, _, _, _, _, steal = (int(x) for x in line.split()[1:9])
        out.append((user + nice + system + steal) * 1000.0 / fb.CLK_TCK)
    return out


def server_cpus(ns) -> list[int | None]:
    """The cores the servers may use: every core but the clients', or ``--server-cpus``."""
    if ns.no_pin:
        return [None]
    if ns.server_cpus:
        return [int(c) for c in ns.server_cpus.split(",")]
    cores = [c for c in sorted(os.sched_getaffinity(0)) if c != fb.CLIENT_CPU]
    return cores or [fb.SERVER_CPU]


def placement(cores: list[int | None], n: int) -> tuple[list[int | None], int | None]:
    """Server i on cores[i % len]; redis-server on a core of its own when one is left, else
    on the last server's."""
    servers = [cores[i % len(cores)] for i in range(n)]
    return servers, (cores[n] if len(cores) > n else servers[-1])


def pin(pid: int, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(pid, {cpu})


async def start_servers(store: str, n: int, fps: float, ns, tmp: Path, plan: dict, redis_url):
    cores, redis_cpu = placement(server_cpus(ns), n)
    servers: list[fb.Host] = []
    for i in range(n):
        if store == "node":
            server = fb.NodeServer(fps, tmp, cores[i], ns.node_effects)
        elif store == "redis-jupyter" and i > 0:
            redis_option = f"--CcvizExtension.redis_url={redis_url}"
            server = fb.JupyterServer(fps, tmp, cores[i], args=(redis_option,))
        elif store == "redis-jupyter":
            server = fb.CcvizServer(fps, tmp, cores[i], "redis-0", args=("--redis", redis_url))
        else:
            args = ("--redis", redis_url) if store == "redis" else ()
            server = fb.CcvizServer(fps, tmp, cores[i], f"{store}-{i}", args=args)
        servers.append(server)
        await server.start(plan)
    return servers, cores, redis_cpu


async def run_row(label: str, store: str, n: int, viewers: int, rate: float, fps: float, ns, tmp):
    """One configuration at one rate: its servers, viewers spread over them, the load on A."""
    warm, n_ingest = 25, int(rate * ns.ingest_seconds)
    n_settle, n_timed = int(rate * ns.settle_seconds), int(rate * ns.duration)
    total = warm + n_ingest + n_settle + n_timed
    bodies, game_id = fb.event_stream(total)
    plan = {"precomputed": fb.precompute(bodies, game_id, rate)} if store == "node" else {}
    row: dict = {
        "row": label,
        "store": store,
        "processes": n,
        "viewers": viewers,
        "rate": rate,
        "fps": fps,
        "duration_s": ns.duration,
        "loadavg_before": loadavg(),
    }
    if ns.quiet_wait > 0:
        row["machine_idle_before_pct"] = await fb.wait_quiet(ns.quiet_wait)
    redis = None
    servers: list[fb.Host] = []
    groups: list[list] = []
    poster = None
    try:
        if store in ("redis", "redis-jupyter"):
            redis = redis_server_class()(Path(tempfile.mkdtemp(prefix="redis-", dir=tmp))).start()
        servers, cores, redis_cpu = await start_servers(
            store, n, fps, ns, tmp, plan, redis.url if redis else None
        )
        if redis is not None:
            pin(redis.proc.pid, redis_cpu)
            row["redis_cpu"] = redis_cpu
        row["server_cpus"] = cores
        pids = [s.proc.pid for s in servers]
        redis_pid = redis.proc.pid if redis else None
        a = servers[0]
        poster = await fb.Poster("127.0.0.1", a.port, a.token, a.hooks_path).open()
        for body in bodies[:warm]:
            await poster.post(body)
        ingest = Meter(pids, redis_pid, [])
        ingest.start()
        await fb.paced(poster, bodies[warm : warm + n_ingest], rate)
        await asyncio.sleep(0.5)
        spent = ingest.stop()
        row["ingest_cpu_ms_per_event"] = spent["server_cpu_ms"] / max(1, n_ingest)
        row["ingest_redis_cpu_ms_per_event"] = spent["redis_cpu_ms"] / max(1, n_ingest)

        first = warm + n_ingest + n_settle + 1
        lifetime = ns.duration + ns.ingest_seconds + 180 + viewers * 0.1
        share = [viewers // n + (1 if i < viewers % n else 0) for i in range(n)]
        for server, count in zip(servers, share, strict=True):
            groups.append(await fb.start_viewers(server, game_id, count, "raw", ns, lifetime))
        clients = [c for g in groups for c in g]
        ready = [await fb.read_json_line(c, 60 + viewers * 0.1) for c in clients]
        row["connected"] = sum(r["connected"] for r in ready)
        if row["connected"] != viewers:
            errors = [e for r in ready for e in r["errors"]][:5]
            raise RuntimeError(f"only {row['connected']} of {viewers} viewers joined: {errors}")
        await asyncio.sleep(1.0)
        await poster.close()  # a fresh connection: the old one sat idle while viewers joined
        poster = await fb.Poster("127.0.0.1", a.port, a.token, a.hooks_path).open()
        await fb.paced(poster, bodies[first - 1 - n_settle : first - 1], rate)
        await fb.drained(clients, first - 1, 30)
        meter = Meter(pids, redis_pid, [c.pid for c in clients])
        meter.start()
        t_load = time.monotonic()
        sends, answered, _ = await fb.paced(poster, bodies[first - 1 :], rate)
        load_s = time.monotonic() - t_load
        row["drain_s"] = await fb.drained(clients, total, 60)
        cpu = meter.stop()
        row["server_seqs"] = [await s.seq(game_id) for s in servers]
        if any(seq != total for seq in row["server_seqs"]):
            raise RuntimeError(f"server seqs {row['server_seqs']} != {total} POSTs")
        row["achieved_rate"] = (n_timed - 1) / max(1e-3, (sends[-1] - sends[0]) / 1000)
        row.update(fb.post_waits(sends, answered))
        # per process: latency from the POST written and from its answer
        written, from_answer = await measured(groups, first, sends, answered)
    finally:
        if poster is not None:
            await poster.close()
        for g in groups:
            for c in g:
                await fb.stop_process(c)
        for s in servers:
            await s.stop()
        if redis is not None:
            redis.stop()
    summarize(row, written, from_answer, cpu)
    row["events"] = n_timed
    row["expected"] = n_timed * viewers
    row["load_s"] = load_s
    row["deliveries_per_s"] = row["received"] / (load_s + 1 / rate)
    why = []
    if row["achieved_rate"] < 0.95 * rate:
        why.append("load generator behind")
    if row["lost"]:
        why.append(f"lost {row['lost']:,}")
    if not row["p99_ms"] <= SUSTAINED_P99_MS:
        why.append(f"p99 {row['p99_ms']:.0f} ms")
    row["sustained"] = not why
    row["failed"] = ", ".join(why)
    row["loadavg_after"] = loadavg()
    return row


#: Latencies from a POST's answer can be below 0 (a local viewer can get the update before
#: the answer is back) and viewers.mjs bins them from 0: they are measured from the answer
#: minus this, then this is taken off again (see :func:`unshift`).
SHIFT_MS = 20.0


async def measured(groups: list[list], first: int, sends: list, answered: list):
    """Per server's viewers: latencies from each POST's write, and from its answer."""
    written, from_answer = [], []
    early = [t - SHIFT_MS for t in answered]
    for g in groups:
        written.append(await fb.ask(g, {"cmd": "measure", "first": first, "send": sends}, 60))
        from_answer.append(await fb.ask(g, {"cmd": "measure", "first": first, "send": early}, 60))
    return written, from_answer


def unshift(reports: list[dict]) -> dict:
    lat = fb.latencies(reports)
    return {k: v - SHIFT_MS if k.endswith("_ms") else v for k, v in lat.items()}


def summarize(row: dict, written: list[list[dict]], from_answer: list[list[dict]], cpu: dict):
    """Latency, losses and CPU per 1000 deliveries of every viewer; per process; the hop."""
    row.update(fb.latencies([r for g in written for r in g]))
    row.update(cpu)
    row["gaps"] = sum(r["gaps"] for g in written for r in g)
    deliveries = max(1, row["received"])
    row["cpu_ms_per_1000_deliveries"] = cpu["server_cpu_ms"] / deliveries * 1000
    row["redis_cpu_ms_per_1000_deliveries"] = cpu["redis_cpu_ms"] / deliveries * 1000
    row["total_cpu_ms_per_1000_deliveries"] = (
        row["cpu_ms_per_1000_deliveries"] + row["redis_cpu_ms_per_1000_deliveries"]
    )
    row["per_process"] = [
        {k: fb.latencies(g)[k] for k in ("received", "lost", "p50_ms", "p99_ms")} for g in written
    ]
    # per event, its slowest delivery (as fanout_bench): a stall shows as whole slow events
    worst = [max(col) for col in zip(*(r["worst"] for g in written for r in g), strict=True)]
    ranked = sorted(range(len(worst)), key=worst.__getitem__, reverse=True)[:5]
    row["events_slowest_delivery_p50_ms"] = sorted(worst)[len(worst) // 2] if worst else 0
    row["slowest_events"] = [{"index": i, "ms": worst[i]} for i in ranked]
    hop(row, from_answer)


def hop(row: dict, from_answer: list[list[dict]]) -> None:
    """Latency from A's answer at A's viewers and at the others'; the hop is the difference."""
    on_a = unshift(from_answer[0])
    row["answered_to_a_p50_ms"], row["answered_to_a_p99_ms"] = on_a["p50_ms"], on_a["p99_ms"]
    if len(from_answer) < 2:
        return
    others = unshift([r for g in from_answer[1:] for r in g])
    row["answered_to_others_p50_ms"] = others["p50_ms"]
    row["answered_to_others_p99_ms"] = others["p99_ms"]
    row["hop_p50_ms"] = others["p50_ms"] - on_a["p50_ms"]
    row["hop_p99_ms"] = others["p99_ms"] - on_a["p99_ms"]


# -- the hop alone: ccviz's log tailing vs AsyncRedisManager ------------------------------------


async def mini_server(mode: str, port: int, redis_url: str, game: str, origin: bool) -> None:
    """A minimal python-socketio server of one room: ``join-game`` enters it; on the origin
    (A) a POST to ``/api/hooks`` emits one update; the others get it through Redis, by
    ``mode``: ``pubsub`` (AsyncRedisManager) or ``tail`` (A: XADD; the others: XREAD BLOCK)."""
    import redis.asyncio as aioredis
    import socketio
    from aiohttp import web

    manager = socketio.AsyncRedisManager(redis_url) if mode == "pubsub" else None
    sio = socketio.AsyncServer(
        async_mode="aiohttp", serializer="msgpack", client_manager=manager, http_compression=False
    )
    app = web.Application()
    sio.attach(app)
    state = {"seq": 0}
    key = STREAM_KEY.format(game=game)
    client = aioredis.from_url(redis_url) if mode == "tail" else None

    @sio.on("join-game")
    async def join(sid, data):
        await sio.enter_room(sid, game)
        return {"ok": True, "seq": state["seq"]}

    def update(seq: int, body: str) -> dict:
        return {"gameId": game, "from": seq, "seq": seq, "deltas": [], "effects": [], "raw": body}

    async def hooks(request: web.Request) -> web.Response:
        body = (await request.read()).decode()
        state["seq"] += 1
        seq = state["seq"]
        if client is not None:  # the log first, as ccviz appends before it applies
            await client.xadd(key, {"seq": seq, "body": body})
        await sio.emit("game-state-update", update(seq, body), room=game)
        return web.Response(status=204)

    async def tail() -> None:
        last = "$"
        while True:  # ended with the process (SIGTERM)
            got = await client.xread({key: last}, block=100, count=500)
            for _, entries in got or []:
                for entry_id, fields in entries:
                    last = entry_id
                    seq = int(fields[b"seq"])
                    state["seq"] = seq
                    data = update(seq, fields[b"body"].decode())
                    await sio.emit("game-state-update", data, room=game)

    app.router.add_post("/api/hooks", hooks)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    if mode == "tail" and not origin:
        asyncio.get_running_loop().create_task(tail())
    print(f"listening {port}", flush=True)
    await asyncio.sleep(3600)  # the bench stops it long before


class MiniServer(fb.Host):
    """:func:`mini_server` in a child process (this file with ``--mini-server``)."""

    name = "mini"

    def __init__(self, mode: str, redis_url: str, game: str, origin: bool, cpu) -> None:
        super().__init__(240.0, Path(), cpu)
        self.mode, self.redis_url, self.game, self.origin_ = mode, redis_url, game, origin
        self.label, self.token = f"python-socketio {mode}", "unused"

    async def start(self, plan: dict) -> None:
        self.port = fb.free_port()
        argv = [
            sys.executable, __file__, "--mini-server", self.mode, "--port", str(self.port),
            "--redis-url", self.redis_url, "--game", self.game,
            *(["--origin"] if self.origin_ else []),
        ]  # fmt: skip
        self.proc = await fb.spawn(*fb.pinned(self.cpu, argv), stdout=asyncio.subprocess.PIPE)
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        if not line.startswith(b"listening "):
            raise RuntimeError(f"mini server said {line!r}")
        self.viewer_args = ["--path", self.sio_path]


async def probe(kind: str, ns, tmp: Path) -> dict:
    """Two servers on one fresh redis-server, ``--probe-viewers`` on each, ``--probe-rate``
    POSTs/s to A for ``--probe-seconds``: the hop from A's answer to B's viewers."""
    n, viewers, rate = 2, ns.probe_viewers * 2, ns.probe_rate
    n_settle, n_timed = int(rate * 2), int(rate * ns.probe_seconds)
    total = 25 + n_settle + n_timed
    bodies, game_id = fb.event_stream(total)
    row: dict = {
        "row": kind,
        "processes": n,
        "viewers": viewers,
        "rate": rate,
        "fps": 240.0,
        "loadavg_before": loadavg(),
    }
    redis = redis_server_class()(Path(tempfile.mkdtemp(prefix="redis-", dir=tmp))).start()
    servers: list[fb.Host] = []
    groups: list[list] = []
    poster = None
    try:
        cores, redis_cpu = placement(server_cpus(ns), n)
        pin(redis.proc.pid, redis_cpu)
        for i in range(n):
            if kind == "ccviz tail":
                args = ("--redis", redis.url)
                server = fb.CcvizServer(240.0, tmp, cores[i], f"probe-{i}", args=args)
            else:
                server = MiniServer(kind.split()[-1], redis.url, game_id, i == 0, cores[i])
            servers.append(server)
            await server.start({})
        a = servers[0]
        poster = await fb.Poster("127.0.0.1", a.port, a.token, a.hooks_path).open()
        for body in bodies[:25]:
            await poster.post(body)
        for server in servers:
            groups.append(await fb.start_viewers(server, game_id, ns.probe_viewers, "raw", ns, 300))
        clients = [c for g in groups for c in g]
        ready = [await fb.read_json_line(c, 60) for c in clients]
        if sum(r["connected"] for r in ready) != viewers:
            raise RuntimeError(f"probe {kind}: not every viewer joined: {ready}")
        await poster.close()
        poster = await fb.Poster("127.0.0.1", a.port, a.token, a.hooks_path).open()
        await fb.paced(poster, bodies[25 : 25 + n_settle], rate)
        await fb.drained(clients, 25 + n_settle, 30)
        meter = Meter([s.proc.pid for s in servers], redis.proc.pid, [c.pid for c in clients])
        meter.start()
        sends, answered, _ = await fb.paced(poster, bodies[25 + n_settle :], rate)
        await fb.drained(clients, total, 30)
        cpu = meter.stop()
        first = 25 + n_settle + 1
        written, from_answer = await measured(groups, first, sends, answered)
    finally:
        if poster is not None:
            await poster.close()
        for g in groups:
            for c in g:
                await fb.stop_process(c)
        for s in servers:
            await s.stop()
        redis.stop()
    summarize(row, written, from_answer, cpu)
    row.update(fb.post_waits(sends, answered))
    row["events"], row["expected"] = n_timed, n_timed * viewers
    row["loadavg_after"] = loadavg()
    return row


# -- main ------------------------------------------------------------------------------------


def table(rows: list[dict]) -> str:
    node = {r["rate"]: r for r in rows if r["store"] == "node"}
    out = [
        "| row | scenario | deliveries / s | sustained (p99 ≤ 100 ms, none lost) | p50 / p99 ms "
        "| lost / expected | CPU ms / 1000 deliveries: servers + redis = total | ratio vs Node "
        "| hop p50 / p99 ms (answered → A; → B/C) | hook POST p99 ms | server / redis / client "
        "/ other CPU % (busy % per core) | server CPUs | load avg before → after |",
        "|---|---|---:|---|---:|---:|---:|---:|---|---:|---:|---|---|",
    ]
    f = fb.fmt
    for r in rows:
        ref = node.get(r["rate"])
        ratio = "–"
        if ref is not None:
            base = ref["total_cpu_ms_per_1000_deliveries"]
            ratio = f"{r['total_cpu_ms_per_1000_deliveries'] / base:.2f}"
        hop_txt = "–"
        if "hop_p50_ms" in r:
            hop_txt = (
                f"{f(r['hop_p50_ms'], '+.1f')} / {f(r['hop_p99_ms'], '+.1f')} "
                f"({f(r['answered_to_a_p50_ms'])}/{f(r['answered_to_a_p99_ms'])}; "
                f"{f(r['answered_to_others_p50_ms'])}/{f(r['answered_to_others_p99_ms'])})"
            )
        out.append(
            f"| {r['row']} | {r['viewers']} × {r['rate']:g}/s, {r['fps']:g} fps "
            f"| {r['deliveries_per_s']:,.0f} | {'yes' if r['sustained'] else 'no: ' + r['failed']} "
            f"| {f(r['p50_ms'])} / {f(r['p99_ms'])} | {r['lost']:,} / {r['expected']:,} "
            f"| {r['cpu_ms_per_1000_deliveries']:.2f} + {r['redis_cpu_ms_per_1000_deliveries']:.2f}"
            f" = {r['total_cpu_ms_per_1000_deliveries']:.2f} | {ratio} | {hop_txt} "
            f"| {f(r['post_answer_p99_ms'], '.2f')} "
            f"| {r['server_cpu_pct']:.0f} / {r['redis_cpu_pct']:.0f} / {r['client_cpu_pct']:.0f}"
            f" / {r['other_cpu_pct']:.0f} ({'/'.join(f'{x:.0f}' for x in r['core_busy_pct'])}) "
            f"| {','.join(map(str, r['server_cpus']))} "
            f"| {r['loadavg_before']} → {r['loadavg_after']} |"
        )
    return "\n".join(out)


def probe_table(rows: list[dict]) -> str:
    f = fb.fmt
    out = [
        "| fan-out across 2 processes | viewers × events/s | answered → viewer on A p50 / p99 ms "
        "| → viewer on B p50 / p99 ms | hop p50 / p99 ms | lost | CPU ms / 1000 deliveries: "
        "servers + redis = total | orders across processes, catches up after a gap |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        ordered = "yes (the log's seq; read again from any seq)"
        if r["row"].endswith("pubsub"):
            ordered = "no (plain pub/sub: a message while B reconnects is gone)"
        elif r["row"] == "python-socketio tail":
            ordered = "yes (the stream's order; XREAD from the last id)"
        out.append(
            f"| {r['row']} | {r['viewers']} × {r['rate']:g}/s "
            f"| {f(r['answered_to_a_p50_ms'], '.2f')} / {f(r['answered_to_a_p99_ms'], '.2f')} "
            f"| {f(r['answered_to_others_p50_ms'], '.2f')} / "
            f"{f(r['answered_to_others_p99_ms'], '.2f')} "
            f"| {f(r['hop_p50_ms'], '+.2f')} / {f(r['hop_p99_ms'], '+.2f')} | {r['lost']:,} "
            f"| {r['cpu_ms_per_1000_deliveries']:.2f} + "
            f"{r['redis_cpu_ms_per_1000_deliveries']:.2f} = "
            f"{r['total_cpu_ms_per_1000_deliveries']:.2f} | {ordered} |"
        )
    return "\n".join(out)


def save(ns, info: dict, pinning: str, rows: list[dict], probes: list[dict]) -> None:
    """Write the results (``--json``); also after every row, so a stopped run keeps its rows."""
    if not ns.json:
        return
    out = {
        "benchmark": "redis",
        **info,
        "pinning": pinning,
        "command": " ".join(sys.argv),
        "viewer_mode": "raw",
        "node_effects": ns.node_effects,
        "sustained_p99_ms": SUSTAINED_P99_MS,
        "runs": rows,
        "probes": probes,
    }
    ns.json.parent.mkdir(parents=True, exist_ok=True)
    ns.json.write_text(json.dumps(out, indent=2) + "\n")


async def amain(ns, info: dict, pinning: str) -> tuple[list[dict], list[dict]]:
    rows, probes = [], []
    deadline = time.monotonic() + ns.budget
    with tempfile.TemporaryDirectory(prefix="ccviz-redis-bench-") as tmp:
        tmp = Path(tmp)
        if ns.node_effects == "auto":
            ns.node_effects = await fb.effects_mode(ns, tmp)
        for rate in ns.rates:
            for label, store, n in CONFIGS:
                if label not in ns.rows:
                    continue
                if time.monotonic() > deadline:
                    print(f"  budget spent: {label} @ {rate:g}/s skipped", file=sys.stderr)
                    continue
                print(f"… {label}, {ns.viewers} viewers @ {rate:g}/s", file=sys.stderr, flush=True)

                async def make(label=label, store=store, n=n, rate=rate) -> dict:
                    return await run_row(label, store, n, ns.viewers, rate, ns.fps, ns, tmp)

                row = await fb.with_retries(make, ns)  # again when other work disturbed it
                print(
                    f"  {row['deliveries_per_s']:,.0f} deliveries/s, p99 {row['p99_ms']:.1f} ms,"
                    f" lost {row['lost']:,}, {row['total_cpu_ms_per_1000_deliveries']:.2f} ms CPU"
                    f" / 1000, hop p50 {fb.fmt(row.get('hop_p50_ms'))} ms,"
                    f" other {row['other_cpu_pct']:.0f}%",
                    file=sys.stderr,
                    flush=True,
                )
                rows.append(row)
                save(ns, info, pinning, rows, probes)
        for kind in ns.probes:
            if time.monotonic() > deadline:
                print(f"  budget spent: probe {kind} skipped", file=sys.stderr)
                continue
            print(f"… hop probe: {kind}", file=sys.stderr, flush=True)
            probes.append(await fb.with_retries(lambda kind=kind: probe(kind, ns, tmp), ns))
            save(ns, info, pinning, rows, probes)
    return rows, probes


PROBES = ("ccviz tail", "python-socketio tail", "python-socketio pubsub")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="30,300", help="events/s list")
    parser.add_argument("--viewers", type=int, default=1000, help="spread over the processes")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--duration", type=float, default=12.0, help="seconds of load per row")
    parser.add_argument("--ingest-seconds", type=float, default=3.0, help="no-viewer phase")
    parser.add_argument("--settle-seconds", type=float, default=2.0)
    parser.add_argument(
        "--rows", default=",".join(c[0] for c in CONFIGS), help="which rows, by label"
    )
    parser.add_argument("--probes", default=",".join(PROBES), help="hop probes ('' for none)")
    parser.add_argument("--probe-viewers", type=int, default=50, help="per process")
    parser.add_argument("--probe-rate", type=float, default=50.0)
    parser.add_argument("--probe-seconds", type=float, default=10.0)
    parser.add_argument("--procs", type=int, default=0, help="viewer processes per server")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--server-cpus", default="", help="cores for the servers, e.g. 0,2,3")
    parser.add_argument("--node-effects", choices=("auto", "inline", "events"), default="auto")
    parser.add_argument("--quiet-wait", type=float, default=0.0)
    parser.add_argument(
        "--max-other",
        type=float,
        default=25.0,
        help="a row during which other work used more CPU (%% of one core) is run again",
    )
    parser.add_argument("--retries", type=int, default=1, help="at most this many times")
    parser.add_argument("--budget", type=float, default=720.0, help="seconds at most")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--mini-server", choices=("pubsub", "tail"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--game", help=argparse.SUPPRESS)
    parser.add_argument("--origin", action="store_true", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.mini_server:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(mini_server(ns.mini_server, ns.port, ns.redis_url, ns.game, ns.origin))
        return 0
    ns.rates = [max(1.0, min(float(r), 450.0)) for r in ns.rates.split(",") if r]
    ns.rows = [r for r in ns.rows.split(",") if r]
    ns.probes = [p for p in ns.probes.split(",") if p]
    known = {c[0] for c in CONFIGS}
    if not set(ns.rows) <= known or not set(ns.probes) <= set(PROBES):
        parser.error(f"rows: {sorted(known)}; probes: {PROBES}")
    ns.viewers = max(1, min(ns.viewers, 3000))
    ns.duration = max(2.0, min(ns.duration, 60.0))
    ns.ingest_seconds = max(1.0, min(ns.ingest_seconds, 30.0))
    ns.settle_seconds = max(0.0, min(ns.settle_seconds, 30.0))
    ns.probe_viewers = max(1, min(ns.probe_viewers, 500))
    ns.probe_seconds = max(2.0, min(ns.probe_seconds, 60.0))
    ns.budget = max(30.0, min(ns.budget, 1800.0))
    ns.retries = max(0, min(ns.retries, 3))
    if (os.cpu_count() or 1) < 2:
        ns.no_pin = True
    fb.ensure_node_modules()
    info = fb.machine()
    cores = server_cpus(ns)
    if ns.no_pin:
        pinning = "no pinning"
    else:
        os.sched_setaffinity(0, {fb.CLIENT_CPU})
        own = len(cores) >= 4  # three servers and redis-server each on a core of its own
        pinning = (
            f"{info['cpus']} CPUs: viewers + load generator on CPU {fb.CLIENT_CPU}; servers on "
            f"CPU(s) {','.join(map(str, cores))}, "
            + ("one each" if own else "shared (too few cores for one each), redis-server too")
        )
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, fb.LOADGEN_NICE)
    print(f"load average at start {info['loadavg_at_start']}; {pinning}", file=sys.stderr)
    t0 = time.monotonic()
    rows, probes = asyncio.run(amain(ns, info, pinning))
    info["loadavg_at_end"] = loadavg()
    info["took_s"] = round(time.monotonic() - t0)
    print(f"Processes behind one redis-server ({ns.duration:g} s of load per row; hooks to A):")
    print(table(rows))
    print()
    if probes:
        print(
            f"The Redis hop alone ({ns.probe_viewers} raw viewers per process, "
            f"{ns.probe_rate:g} events/s, fps 240 / one emit per event):"
        )
        print(probe_table(probes))
        print()
    print(f"{info['cpu']}, {info['cpus']} CPUs, Node {info['node']}; {pinning}")
    print(f"Node sends effects {ns.node_effects}")
    print(
        f"load average at start {info['loadavg_at_start']}, at end {info['loadavg_at_end']};"
        f" took {info['took_s']} s"
    )
    save(ns, info, pinning, rows, probes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
