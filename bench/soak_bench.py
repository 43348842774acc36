"""Soak: viewers joining and leaving in a loop while hooks arrive, then connection churn.

    .venv/bin/python bench/soak_bench.py            # about 4 minutes; --json FILE saves it
    .venv/bin/python bench/soak_bench.py --duration 60 --churn 5000   # a short look

The server is ``ccviz serve`` (msgpack, the default page's serializer) in a child process,
with its own ``CCVIZ_HOME``, started through :func:`serve_child` below so that two knobs of
a long-lived server can be shortened to fit a few minutes: games nobody watches are
forgotten after ``--idle`` seconds (the hub's ``idle_seconds``, 600 in ``ccviz serve``,
checked every 5 s instead of 60 s). Without that, every game the soak starts stays in memory
for the whole run and the RSS comparison measures games kept, not connections leaked.

Phases, measured from ``/proc/<pid>``:

1. **Soak** (``--duration`` s, 180 by default): ``--viewers`` (500) viewers, each in a loop:
   open a socket.io connection, ``join-game`` one of the live games, stay 2–8 s, maybe
   leave it for another, ``leave-game``, disconnect, pause up to 1 s. Meanwhile hooks are
   POSTed at ``--rate`` (50/s) in total, spread over ``--games`` (5) concurrent sessions:
   each is the long sample session (``ccviz_kernel/samples/long.hooks.jsonl``, 621 hooks),
   looped with a fresh session id each pass (the same ids again would be deduplicated by
   their ``tool_use_id``). RSS and open descriptors are read after ``--warmup`` (60) s and
   at the end; the soak passes when RSS at the end is within 10 % of RSS after warm-up and
   the descriptor count is back where it was.
2. **Hostile joins**: one connection tries ``--hostile-joins`` (2,000) distinct games as
   fast as it can (before issue 11: every one became a room); counts accepted / refused.
3. **Churn**: ``--churn`` (20,000) connections, ``--batch`` (500) at a time, each joins a
   game and leaves; RSS and descriptors before, with the last batch connected, and after
   they all left (after a few seconds' settle).
4. **Seqs**: every POST must have been answered 2xx (204, or 200 with a seq); the store's
   seqs per game are gap-free from 1 and as many as the hooks each game took.

Viewers are raw websockets (aiohttp) speaking Engine.IO/socket.io with the msgpack packet
of python-socketio, decoding only what they must (acks): a full client per viewer would
spend the client core on decoding and slow the loop, not the server. The server is pinned
to CPU 0 and this process to CPU 1 when the machine has two or more (``--no-pin``). The
load average is recorded at start and end (a shared machine: compare runs at similar load).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from _machine import loadavg, machine
from socketio import packet as sio_packet
from socketio.msgpack_packet import MsgPackPacket

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "ccviz_kernel" / "samples" / "long.hooks.jsonl"
RESULTS = Path(__file__).resolve().parent / "results" / "soak.json"
PAGE = os.sysconf("SC_PAGE_SIZE")
CLK_TCK = os.sysconf("SC_CLK_TCK")

#: The child process: ``ccviz serve``'s host with the two knobs of the module docstring.
SERVE_CHILD = """
import asyncio, sys
from ccviz_kernel.hosts import standalone
from ccviz_kernel.hub import Hub
from ccviz_kernel.server import core
core.EVICT_EVERY = 5.0
async def main():
    running = await standalone.start("127.0.0.1", 0, hub=Hub(idle_seconds=float(sys.argv[1])))
    print("READY", running.url, flush=True)
    await standalone.until_stopped(running)
asyncio.run(main())
"""


# -- the server child ---------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def probe(pid: int) -> dict[str, float]:
    return {"rss_mb": round(rss_mb(pid), 1), "fds": fds(pid), "cpu_s": round(cpu_s(pid), 2)}


async def serve_child(
    home: Path, idle: float, pin: bool, pythonpath: str | None = None
) -> tuple[asyncio.subprocess.Process, str]:
    """Start the server; returns the process and its URL. ``pythonpath``: serve the
    ``ccviz_kernel`` found there (another checkout, e.g. before a change) instead."""
    argv = [sys.executable, "-c", SERVE_CHILD, str(idle)]
    if pin:
        argv = ["taskset", "-c", "0", *argv]
    env = {**os.environ, "CCVIZ_HOME": str(home), "HOME": str(home)}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH")) if p)
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        cwd=home,  # not this checkout: `-c` puts the working folder first on sys.path
        stdout=asyncio.subprocess.PIPE,
        stderr=open(home / "stderr.log", "wb"),  # noqa: SIM115
    )
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    if not line.startswith(b"READY "):
        raise RuntimeError(f"server said {line!r}: {(home / 'stderr.log').read_text()[-2000:]}")
    return proc, line.split()[1].decode()


async def stop_child(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), 15)
    except asyncio.TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


# -- a raw socket.io viewer --------------------------------------------------------------------


class Viewer:
    """One socket.io connection over a raw websocket (msgpack packets), decoding only acks."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.messages = 0
        self._ids = itertools.count(1)
        self._acks: dict[int, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None

    async def connect(self, timeout: float = 20.0) -> None:
        ws_url = self.url + "socket.io/?EIO=4&transport=websocket"
        self.ws = await self.session.ws_connect(ws_url, timeout=timeout, autoping=True)
        opened = await self.ws.receive(timeout=timeout)
        if opened.type != aiohttp.WSMsgType.TEXT or not opened.data.startswith("0"):
            raise ConnectionError(f"no engine.io open: {opened.type} {opened.data!r}")
        await self.ws.send_bytes(MsgPackPacket(sio_packet.CONNECT, namespace="/").encode())
        while True:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type == aiohttp.WSMsgType.TEXT and msg.data == "2":
                await self.ws.send_str("3")
                continue
            if msg.type != aiohttp.WSMsgType.BINARY:
                raise ConnectionError(f"no socket.io connect: {msg.type} {msg.data!r}")
            pkt = MsgPackPacket(encoded_packet=msg.data)
            if pkt.packet_type == sio_packet.CONNECT:
                break
            raise ConnectionError(f"socket.io refused: {pkt.data!r}")
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        ws = self.ws
        assert ws is not None
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                self.messages += 1
                if self._acks:  # only a call waits: decode to find its ack
                    pkt = MsgPackPacket(encoded_packet=msg.data)
                    if pkt.packet_type == sio_packet.ACK:
                        future = self._acks.pop(pkt.id, None)
                        if future is not None and not future.done():
                            future.set_result(pkt.data[0] if pkt.data else None)
            elif msg.type == aiohttp.WSMsgType.TEXT and msg.data == "2":
                await ws.send_str("3")
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
                break
        for future in self._acks.values():
            if not future.done():
                future.set_exception(ConnectionError("closed"))

    async def call(self, event: str, data: dict, timeout: float = 20.0) -> dict:
        assert self.ws is not None
        ident = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._acks[ident] = future
        pkt = MsgPackPacket(sio_packet.EVENT, namespace="/", data=[event, data], id=ident)
        await self.ws.send_bytes(pkt.encode())
        return await asyncio.wait_for(future, timeout)

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._reader, 5)


# -- the hooks ---------------------------------------------------------------------------------


def sample_payloads() -> list[dict]:
    return [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]


class Hooks:
    """POST the long sample at ``rate`` per second, ``games`` sessions at a time, each pass
    under a fresh session id; records every answer."""

    def __init__(self, url: str, token: str, rate: float, games: int) -> None:
        self.url, self.token, self.rate, self.games = url, token, rate, games
        self.payloads = sample_payloads()
        self.sent = 0
        self.statuses: dict[int, int] = {}
        self.per_game: dict[str, int] = {}
        self.failures: list[str] = []
        #: The sessions being posted now (viewers join these).
        self.live: list[str] = []
        self._passes = itertools.count()

    def _next_id(self) -> str:
        return f"soak-{next(self._passes):04d}-{os.urandom(3).hex()}"

    async def run(self, stop: asyncio.Event) -> None:
        connector = aiohttp.TCPConnector(limit=32)
        async with aiohttp.ClientSession(connector=connector) as session:
            streams = [iter(()) for _ in range(self.games)]
            ids = ["" for _ in range(self.games)]
            pending: set[asyncio.Task] = set()
            start = time.monotonic()
            for n in itertools.count():
                if stop.is_set():
                    break
                slot = n % self.games
                payload = next(streams[slot], None)
                if payload is None:  # this session ended: the next pass, a fresh id
                    if ids[slot] in self.live:
                        self.live.remove(ids[slot])
                    ids[slot] = self._next_id()
                    self.live.append(ids[slot])
                    streams[slot] = iter(self.payloads)
                    payload = next(streams[slot])
                body = json.dumps({**payload, "session_id": ids[slot]}).encode()
                delay = start + n / self.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.ensure_future(self._post(session, body, ids[slot]))
                pending.add(task)
                task.add_done_callback(pending.discard)
            if pending:
                await asyncio.wait(pending, timeout=30)

    async def _post(self, session: aiohttp.ClientSession, body: bytes, game: str) -> None:
        self.sent += 1
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/json",
            "X-Ccviz-Time": f"{time.time():.6f}",
        }
        try:
            async with session.post(self.url + "api/hooks", data=body, headers=headers) as r:
                text = await r.text()
                self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
                if r.status == 200:
                    seq = json.loads(text).get("seq")
                    if not isinstance(seq, int):
                        self.failures.append(f"200 without a seq: {text[:80]}")
                elif r.status != 204:
                    self.failures.append(f"{r.status}: {text[:80]}")
                    return
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self.statuses[-1] = self.statuses.get(-1, 0) + 1
            self.failures.append(f"{type(exc).__name__}: {exc}")
            return
        self.per_game[game] = self.per_game.get(game, 0) + 1


# -- the phases --------------------------------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.connects = 0
        self.connect_errors: dict[str, int] = {}
        self.joins = 0
        self.joins_refused: dict[str, int] = {}
        self.messages = 0

    def error(self, where: dict[str, int], text: str) -> None:
        key = text[:60]
        where[key] = where.get(key, 0) + 1


async def viewer_loop(
    url: str, hooks: Hooks, stop: asyncio.Event, tally: Tally, rng: random.Random
) -> None:
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.sleep(rng.uniform(0, 5))  # spread the first connects
        while not stop.is_set():
            viewer = Viewer(session, url)
            try:
                await viewer.connect()
                tally.connects += 1
                for _ in range(rng.choice((1, 1, 2))):
                    if not hooks.live or stop.is_set():
                        break
                    game = rng.choice(hooks.live)
                    ack = await viewer.call("join-game", {"gameId": game})
                    tally.joins += 1
                    if not ack.get("ok"):
                        tally.error(tally.joins_refused, ack.get("error", "?"))
                        break
                    await asyncio.sleep(rng.uniform(2, 8))
                    await viewer.call("leave-game", {"gameId": game})
            except (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError) as exc:
                tally.error(tally.connect_errors, f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(1.0)
            finally:
                tally.messages += viewer.messages
                await viewer.close()
            await asyncio.sleep(rng.uniform(0, 1))


async def soak(args: argparse.Namespace, pid: int, url: str, token: str) -> tuple[dict, Hooks]:
    hooks = Hooks(url, token, args.rate, args.games)
    stop = asyncio.Event()
    tally = Tally()
    rng = random.Random(11)
    started = time.monotonic()
    loops = [asyncio.ensure_future(hooks.run(stop))]
    await asyncio.sleep(0.5)  # the first games exist before viewers come
    loops += [
        asyncio.ensure_future(viewer_loop(url, hooks, stop, tally, random.Random(rng.random())))
        for _ in range(args.viewers)
    ]
    samples = []
    warm = None
    while (elapsed := time.monotonic() - started) < args.duration:
        await asyncio.sleep(min(5.0, args.duration - elapsed))
        sample = {"t": round(time.monotonic() - started, 1), **probe(pid)}
        samples.append(sample)
        if warm is None and sample["t"] >= args.warmup:
            warm = sample
        print(
            f"  t={sample['t']:6.1f}s rss={sample['rss_mb']:6.1f} MB fds={sample['fds']:5d}"
            f" connects={tally.connects} posts={hooks.sent}",
            flush=True,
        )
    stop.set()
    await asyncio.wait(loops, timeout=60)
    await asyncio.sleep(5.0)  # held events applied, closed sockets gone
    end = {"t": round(time.monotonic() - started, 1), **probe(pid)}
    warm = warm or samples[0]
    growth = (end["rss_mb"] - warm["rss_mb"]) / warm["rss_mb"]
    result = {
        "viewers": args.viewers,
        "duration_s": args.duration,
        "hook_rate": args.rate,
        "games_at_once": args.games,
        "after_warmup": warm,
        "end": end,
        "rss_growth_pct": round(100 * growth, 1),
        "rss_ok": abs(growth) <= 0.10,
        "fds_ok": end["fds"] <= warm["fds"],
        "connects": tally.connects,
        "connect_errors": tally.connect_errors,
        "joins": tally.joins,
        "joins_refused": tally.joins_refused,
        "messages_received": tally.messages,
        "posts": hooks.sent,
        "post_statuses": {str(k): v for k, v in sorted(hooks.statuses.items())},
        "post_failures": hooks.failures[:10],
        "samples": samples,
    }
    return result, hooks


async def hostile(url: str, attempts: int) -> dict:
    async with aiohttp.ClientSession() as session:
        viewer = Viewer(session, url)
        await viewer.connect()
        accepted = refused = 0
        reasons: dict[str, int] = {}
        for i in range(attempts):
            ack = await viewer.call("join-game", {"gameId": f"hostile-{i}"})
            if ack.get("ok"):
                accepted += 1
            else:
                refused += 1
                key = ack.get("error", "?").split(" (")[0]
                reasons[key] = reasons.get(key, 0) + 1
        try:  # before issue 11: no answer, the connect handler ran again with this "environ"
            forged = await viewer.call("connect", {"REMOTE_ADDR": "10.0.0.1"}, timeout=5)
        except asyncio.TimeoutError:
            forged = "no answer"
        await viewer.close()
    return {
        "attempts": attempts,
        "accepted": accepted,
        "refused": refused,
        "reasons": reasons,
        "connect_event": forged,
    }


async def churn(url: str, pid: int, total: int, batch: int, game: str | None) -> dict:
    before = probe(pid)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    errors: dict[str, int] = {}
    done = 0
    peak = before
    trend: list[tuple[int, float]] = []
    t0 = time.monotonic()
    async with aiohttp.ClientSession(connector=connector) as session:
        while done < total:
            size = min(batch, total - done)
            viewers = [Viewer(session, url) for _ in range(size)]

            async def one(v: Viewer) -> None:
                try:
                    await v.connect()
                    await v.call("join-game", {"gameId": game or "churn"})
                except (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError) as exc:
                    key = f"{type(exc).__name__}: {exc}"[:60]
                    errors[key] = errors.get(key, 0) + 1

            await asyncio.gather(*(one(v) for v in viewers))
            done += size
            if done >= total:
                peak = probe(pid)  # the last batch still connected
            await asyncio.gather(*(v.close() for v in viewers))
            if (done // batch) % 10 == 0:
                trend.append((done, round(rss_mb(pid), 1)))  # flat: no growth per connection
                print(f"  churn {done}/{total} rss={trend[-1][1]} MB", flush=True)
    elapsed = time.monotonic() - t0
    await asyncio.sleep(10.0)  # closed sockets are gone, pings cancelled
    after = probe(pid)
    return {
        "connections": total,
        "batch": batch,
        "seconds": round(elapsed, 1),
        "before": before,
        "last_batch_connected": peak,
        "after_all_left": after,
        "rss_mb_by_connections": trend,
        "returned_pct": round(
            100 * (peak["rss_mb"] - after["rss_mb"]) / max(0.1, peak["rss_mb"] - before["rss_mb"]),
            1,
        )
        if peak["rss_mb"] > before["rss_mb"]
        else None,
        "errors": errors,
    }


def check_seqs(db: Path, per_game: dict[str, int]) -> dict:
    """Every game's seqs gap-free from 1, and as many as the hooks it took."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT game_id, COUNT(*), MIN(seq), MAX(seq) FROM events GROUP BY 1")
        stored = {gid: (n, lo, hi) for gid, n, lo, hi in rows}
    gaps = [g for g, (n, lo, hi) in stored.items() if lo != 1 or hi != n]
    counts = {g: stored.get(g, (0,))[0] for g in per_game}
    short = {g: (n, counts[g]) for g, n in per_game.items() if counts[g] < n}
    return {
        "games": len([g for g in stored if g.startswith("soak-")]),
        "events_stored": sum(n for g, (n, _, _) in stored.items() if g.startswith("soak-")),
        "hooks_accepted": sum(per_game.values()),
        "games_with_gaps": gaps,
        "games_missing_events": short,
        "ok": not gaps and not short,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=180.0, help="soak seconds (180)")
    parser.add_argument("--warmup", type=float, default=60.0, help="warm-up seconds (60)")
    parser.add_argument("--viewers", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0, help="hooks per second in all")
    parser.add_argument("--games", type=int, default=5, help="sessions posted at once")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds before idle games go")
    parser.add_argument("--hostile-joins", type=int, default=2000)
    parser.add_argument("--churn", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument(
        "--phases", default="soak,hostile,churn", help="which phases (soak,hostile,churn)"
    )
    parser.add_argument(
        "--pythonpath", default=None, help="serve the ccviz_kernel of this checkout instead"
    )
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"results ({RESULTS})")
    args = parser.parse_args()
    if args.duration > 420 or args.churn > 50_000:
        parser.error("bounded: --duration at most 420 s, --churn at most 50,000")
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    if pin:
        os.sched_setaffinity(0, {1})
    record = {"machine": machine(loadavg_at_start=loadavg()), "args": vars(args) | {"json": None}}
    with tempfile.TemporaryDirectory(prefix="ccviz-soak-") as tmp:
        home = Path(tmp)
        proc, url = await serve_child(home, args.idle, pin, args.pythonpath)
        token = (home / "token").read_text().strip()
        phases = set(args.phases.split(","))
        hooks = Hooks(url, token, args.rate, args.games)
        try:
            record["idle"] = probe(proc.pid)
            print(f"server {proc.pid} at {url}: {record['idle']}", flush=True)
            if "soak" in phases:
                print(f"soak: {args.viewers} viewers, hooks at {args.rate:g}/s", flush=True)
                record["soak"], hooks = await soak(args, proc.pid, url, token)
            if "hostile" in phases:
                print("hostile joins", flush=True)
                record["hostile_joins"] = await hostile(url, args.hostile_joins)
            if "churn" in phases:
                print(f"churn: {args.churn} connections", flush=True)
                record["churn"] = await churn(
                    url, proc.pid, args.churn, args.batch, hooks.live[0] if hooks.live else None
                )
            record["server_stderr_lines"] = len(
                (home / "stderr.log").read_text(errors="replace").splitlines()
            )
        finally:
            await stop_child(proc)
        record["seqs"] = check_seqs(home / "events.sqlite3", hooks.per_game)
    record["machine"]["loadavg_at_end"] = loadavg()
    print(json.dumps({k: v for k, v in record.items() if k != "soak"}, indent=1))
    ok = record["seqs"]["ok"]
    soak_ = record.get("soak")
    if soak_ is not None:
        ok = ok and soak_["rss_ok"] and soak_["fds_ok"] and not soak_["post_failures"]
        print(
            f"soak RSS {soak_['after_warmup']['rss_mb']} -> {soak_['end']['rss_mb']} MB"
            f" ({soak_['rss_growth_pct']:+.1f} %), fds {soak_['after_warmup']['fds']} ->"
            f" {soak_['end']['fds']}, posts {soak_['post_statuses']},"
            f" seqs ok: {record['seqs']['ok']}"
        )
    if "churn" in record:
        c = record["churn"]
        print(
            f"churn {c['connections']}: RSS {c['before']['rss_mb']} -> "
            f"{c['last_batch_connected']['rss_mb']} (last batch connected) -> "
            f"{c['after_all_left']['rss_mb']} MB (all left); fds {c['after_all_left']['fds']}"
        )
    record["ok"] = ok
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
