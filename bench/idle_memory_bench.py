"""Server memory per idle viewer, on the standalone and the Jupyter host (issue 14).

    .venv/bin/python bench/idle_memory_bench.py                 # both hosts, 5,000 viewers
    .venv/bin/python bench/idle_memory_bench.py --hosts standalone --viewers 1000

For each host, two runs of the server in a child process pinned to CPU 0 (this process, the
viewers, on CPU 1), each with its own temporary ``CCVIZ_HOME``:

1. **RSS**: the server as it ships (msgpack). One game is created by a hook POST; 50 viewers
   connect, join and leave (lazy imports, first-use caches); after a settle the server's
   ``VmRSS`` (``/proc/PID/status``) is the *before*. Then ``--viewers`` (5,000) viewers
   connect in batches of ``--batch`` and each joins the game; they stay idle (answering
   Engine.IO pings ``2`` -> ``3``) for ``--settle`` seconds (30: one ping round of 25 s, so
   every socket has been pinged and has its next ping scheduled) and ``VmRSS`` is read
   again: (after - before) / viewers is the KB per idle viewer.
2. **tracemalloc**: the same again; at *before* and *after* the bench sends ``SIGUSR2`` and
   the child runs ``gc.collect()``; at *before* it starts ``tracemalloc`` (6 frames), so
   only what is allocated from then on is traced (starting it at start-up, ``-X
   tracemalloc``, made Jupyter's start take over a minute) with ``--trace-viewers`` (1,000)
   viewers, as a snapshot diff of 5,000 took over 2 minutes; at *after* it writes the diff:
   top entries by line, by file and by traceback
   (the innermost frames), and a census of live objects by type (``gc.get_objects()``,
   counts and ``sys.getsizeof``) -- divided by the viewer count. tracemalloc's own memory
   inflates RSS there, so RSS comes from run 1 only (which also records the type census).

Hosts: **standalone** is ``ccviz serve``'s host (``standalone.start`` on 127.0.0.1, port 0);
**jupyter** is ``jupyter server --allow-root --IdentityProvider.token=T --ServerApp.port=P
--no-browser --ServerApp.ip=127.0.0.1`` run in-process by the child (``jupyter_server``'s
``main``) with the ccviz extension (enabled by this package's
``jupyter_server_config.d``); viewers send ``Authorization: token T`` at the upgrade, as a
Jupyter user (role controller).

Viewers are raw websockets (aiohttp) speaking Engine.IO/socket.io with python-socketio's
msgpack packets: ``CONNECT``, one ``join-game`` call, then only ping answers.

Two limits are raised **in the child only**, before the server is imported: the
descriptor limit (``RLIMIT_NOFILE`` to its hard limit) and the per-address cap for loopback,
``ccviz_kernel.config.MAX_CONNECTIONS_PER_LOOPBACK`` (4096), set to ``viewers + 1000``:
every viewer comes from 127.0.0.1. Bounded: at most 20,000 viewers and 10 minutes in all
(the bench stops itself). Results: ``bench/results/idle_memory.json`` with the date, the
machine and the load average at start and end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
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
RESULTS = Path(__file__).resolve().parent / "results" / "idle_memory.json"
DEADLINE_S = 600.0

#: What both children do first: raise the fd limit, lift the loopback cap, and (under
#: ``$IDLE_TRACE``, with tracemalloc) answer SIGUSR2 (the first: the baseline; the second: the
#: diff written to $IDLE_DUMP as JSON).
CHILD_PRELUDE = r"""
import gc, json, os, resource, signal, sys, tracemalloc
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
import ccviz_kernel.config as _cfg
_cfg.MAX_CONNECTIONS_PER_LOOPBACK = int(os.environ["IDLE_LOOPBACK_CAP"])
from ccviz_kernel.server import limits as _limits
assert _limits.Limits().per_loopback == _cfg.MAX_CONNECTIONS_PER_LOOPBACK, "cap not lifted"
_state = {}

def _census():
    counts, sizes = {}, {}
    for obj in gc.get_objects():
        t = type(obj)
        name = f"{t.__module__}.{t.__qualname__}"
        counts[name] = counts.get(name, 0) + 1
        sizes[name] = sizes.get(name, 0) + sys.getsizeof(obj)
    return counts, sizes

def _frames(tb):
    return [f"{f.filename}:{f.lineno}" for f in tb]

def _dump(signum, frame):
    gc.collect()
    counts, sizes = _census()
    if "base" not in _state:
        if os.environ.get("IDLE_TRACE"):  # from here on: what the viewers allocate
            tracemalloc.start(6)
        _state["base"] = (tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None,
                          counts, sizes)
        out = {"phase": "before"}
    else:
        base, bcounts, bsizes = _state["base"]
        out = {"phase": "after"}
        snap = tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None
        if snap is not None:
            for key in ("lineno", "filename", "traceback"):
                stats = snap.compare_to(base, key)
                out[key] = [
                    {"size_diff": s.size_diff, "count_diff": s.count_diff,
                     "where": _frames(s.traceback)}
                    for s in stats[:40]
                ]
            out["traced_diff"] = sum(s.size_diff for s in snap.compare_to(base, "filename"))
        out["types"] = sorted(
            ({"type": k, "count_diff": counts.get(k, 0) - bcounts.get(k, 0),
              "getsizeof_diff": sizes.get(k, 0) - bsizes.get(k, 0)}
             for k in set(counts) | set(bcounts)),
            key=lambda r: -r["getsizeof_diff"])[:40]
    path = os.environ["IDLE_DUMP"] + "." + out["phase"]
    with open(path + ".tmp", "w") as f:
        json.dump(out, f)
    os.replace(path + ".tmp", path)

signal.signal(signal.SIGUSR2, _dump)
"""

STANDALONE_CHILD = (
    CHILD_PRELUDE
    + r"""
import asyncio
from ccviz_kernel.hosts import standalone
async def main():
    running = await standalone.start("127.0.0.1", 0)
    print("READY", running.url, flush=True)
    await standalone.until_stopped(running)
asyncio.run(main())
"""
)

JUPYTER_CHILD = (
    CHILD_PRELUDE
    + r"""
from jupyter_server.serverapp import main
sys.argv = ["jupyter-server"] + sys.argv[1:]
sys.exit(main())
"""
)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One server child: ``url`` (the ccviz mount), ``headers`` for the upgrade, ``token``."""

    def __init__(self, host: str, home: Path, viewers: int, trace: bool, pin: bool) -> None:
        self.host, self.home, self.trace, self.pin = host, home, trace, pin
        self.cap = viewers + 1000
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self.headers: dict[str, str] = {}
        self.dump = home / "dump"

    async def start(self) -> None:
        py = [sys.executable]
        env = {
            **os.environ,
            "CCVIZ_HOME": str(self.home),
            "HOME": str(self.home),
            "JUPYTER_CONFIG_DIR": str(self.home / "jupyter-config"),
            "JUPYTER_RUNTIME_DIR": str(self.home / "jupyter-runtime"),
            "JUPYTER_DATA_DIR": str(self.home / "jupyter-data"),
            "IDLE_LOOPBACK_CAP": str(self.cap),
            "IDLE_DUMP": str(self.dump),
            **({"IDLE_TRACE": "1"} if self.trace else {}),
        }
        env.pop("PYTHONTRACEMALLOC", None)
        stderr = open(self.home / "stderr.log", "wb")  # noqa: SIM115
        if self.host == "standalone":
            argv = [*py, "-c", STANDALONE_CHILD]
        else:
            port = free_port()
            jtoken = os.urandom(12).hex()
            argv = [
                *py, "-c", JUPYTER_CHILD, "--allow-root", "--no-browser",
                f"--IdentityProvider.token={jtoken}", f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.root_dir={self.home}",
            ]  # fmt: skip
            self.url = f"http://127.0.0.1:{port}/ccviz/"
            self.headers = {"Authorization": f"token {jtoken}"}
        if self.pin:
            argv = ["taskset", "-c", "0", *argv]
        self.proc = await asyncio.create_subprocess_exec(
            *argv, env=env, cwd=self.home, stdout=asyncio.subprocess.PIPE, stderr=stderr
        )
        if self.host == "standalone":
            line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
            if not line.startswith(b"READY "):
                raise RuntimeError(f"server said {line!r}: {self.stderr()[-2000:]}")
            self.url = line.split()[1].decode()
        else:
            await self._wait_jupyter()
        self.token = (self.home / "token").read_text().strip()

    async def _wait_jupyter(self) -> None:
        t0 = time.monotonic()
        async with aiohttp.ClientSession() as session:
            while time.monotonic() - t0 < 60:
                if self.proc.returncode is not None:
                    break
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(self.url + "healthz", headers=self.headers) as r:
                        if r.status == 200 and (self.home / "token").exists():
                            return
                await asyncio.sleep(0.3)
        raise RuntimeError(f"jupyter did not come up: {self.stderr()[-3000:]}")

    def stderr(self) -> str:
        return (self.home / "stderr.log").read_text(errors="replace")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid if not self.pin else self._real_pid()

    def _real_pid(self) -> int:
        return self.proc.pid  # taskset execs the program: same pid

    async def snapshot(self, phase: str, timeout: float = 240) -> dict:
        path = Path(f"{self.dump}.{phase}")
        os.kill(self.pid, signal.SIGUSR2)
        t0 = time.monotonic()
        while not path.exists():
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"no {phase} dump: {self.stderr()[-2000:]}")
            await asyncio.sleep(0.2)
        return json.loads(path.read_text())

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 20)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


class Viewer:
    """One idle socket.io viewer over a raw websocket (msgpack packets)."""

    def __init__(self, session: aiohttp.ClientSession, url: str, headers: dict) -> None:
        self.session, self.url, self.headers = session, url, headers
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.reader: asyncio.Task | None = None
        self.ack: asyncio.Future | None = None

    async def connect(self, game: str, timeout: float = 30.0) -> None:
        ws_url = self.url + "socket.io/?EIO=4&transport=websocket"
        self.ws = await self.session.ws_connect(
            ws_url,
            timeout=aiohttp.ClientWSTimeout(ws_close=10),
            headers=self.headers,
            autoping=True,
            compress=0,
        )
        opened = await self.ws.receive(timeout=timeout)
        if opened.type != aiohttp.WSMsgType.TEXT or not opened.data.startswith("0"):
            raise ConnectionError(f"no engine.io open: {opened.type} {opened.data!r}")
        await self.ws.send_bytes(MsgPackPacket(sio_packet.CONNECT, namespace="/").encode())
        msg = await self.ws.receive(timeout=timeout)
        if msg.type != aiohttp.WSMsgType.BINARY:
            raise ConnectionError(f"no socket.io connect: {msg.type} {msg.data!r}")
        pkt = MsgPackPacket(encoded_packet=msg.data)
        if pkt.packet_type != sio_packet.CONNECT:
            raise ConnectionError(f"socket.io refused: {pkt.data!r}")
        self.ack = asyncio.get_running_loop().create_future()
        self.reader = asyncio.ensure_future(self._read())
        join = MsgPackPacket(
            sio_packet.EVENT, namespace="/", data=["join-game", {"gameId": game}], id=1
        )
        await self.ws.send_bytes(join.encode())
        answer = await asyncio.wait_for(self.ack, timeout)
        if not (isinstance(answer, dict) and answer.get("ok")):
            raise ConnectionError(f"join refused: {answer!r}")

    async def _read(self) -> None:
        ws = self.ws
        assert ws is not None
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                if self.ack is not None and not self.ack.done():
                    pkt = MsgPackPacket(encoded_packet=msg.data)
                    if pkt.packet_type == sio_packet.ACK:
                        self.ack.set_result(pkt.data[0] if pkt.data else None)
            elif msg.type == aiohttp.WSMsgType.TEXT and msg.data == "2":
                await ws.send_str("3")
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
                break
        if self.ack is not None and not self.ack.done():
            self.ack.set_exception(ConnectionError("closed"))

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await self.reader


async def create_game(server: Server, game: str) -> None:
    payload = json.loads(SAMPLE.read_text().splitlines()[0])
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session, session.post(
        server.url + "api/hooks", data=json.dumps({**payload, "session_id": game}),
        headers=headers,
    ) as r:  # fmt: skip
        if r.status not in (200, 204):
            raise RuntimeError(f"hook POST {r.status}: {await r.text()}")


async def connect_all(
    session: aiohttp.ClientSession, server: Server, game: str, n: int, batch: int
) -> tuple[list[Viewer], dict[str, int]]:
    viewers: list[Viewer] = []
    errors: dict[str, int] = {}

    async def one(v: Viewer) -> None:
        try:
            await v.connect(game)
            viewers.append(v)
        except (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError, OSError) as exc:
            key = f"{type(exc).__name__}: {exc}"[:80]
            errors[key] = errors.get(key, 0) + 1
            await v.close()

    for start in range(0, n, batch):
        size = min(batch, n - start)
        await asyncio.gather(
            *(one(Viewer(session, server.url, server.headers)) for _ in range(size))
        )
    return viewers, errors


def short(where: list[str]) -> list[str]:
    """Paths relative to site-packages or the repository; innermost frame first."""
    out = []
    for w in reversed(where):  # tracemalloc: oldest first
        for marker in ("site-packages/", str(ROOT) + "/", "/lib/python3"):
            if marker in w:
                w = w.split(marker, 1)[1]
                break
        out.append(w)
    return out


async def run_host(host: str, args: argparse.Namespace, trace: bool, pin: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"ccviz-idle-{host}-") as tmp:
        n_viewers = args.trace_viewers if trace else args.viewers
        server = Server(host, Path(tmp), n_viewers, trace, pin)
        t0 = time.monotonic()
        await server.start()
        game = "idle-bench-game"
        result: dict = {"host": host, "tracemalloc": trace, "viewers_asked": n_viewers}
        try:
            await create_game(server, game)
            connector = aiohttp.TCPConnector(limit=0, force_close=True)
            async with aiohttp.ClientSession(connector=connector) as session:
                warm, _ = await connect_all(session, server, game, 50, 50)
                await asyncio.gather(*(v.close() for v in warm))
                await asyncio.sleep(args.settle_before)
                result["rss_before_kb"] = rss_kb(server.pid)
                await server.snapshot("before")  # the type census; tracemalloc starts
                t1 = time.monotonic()
                viewers, errors = await connect_all(session, server, game, n_viewers, args.batch)
                result["connect_s"] = round(time.monotonic() - t1, 1)
                result["viewers"] = len(viewers)
                result["connect_errors"] = errors
                print(f"  {host}{' (tracemalloc)' if trace else ''}: {len(viewers)} viewers in"
                      f" {result['connect_s']} s, errors {errors}; settle {args.settle} s",
                      flush=True)  # fmt: skip
                await asyncio.sleep(args.settle)
                result["rss_after_kb"] = rss_kb(server.pid)
                alive = sum(1 for v in viewers if v.ws is not None and not v.ws.closed)
                result["viewers_alive_at_after"] = alive
                result["kb_per_viewer"] = round(
                    (result["rss_after_kb"] - result["rss_before_kb"]) / max(1, alive), 2
                )
                dump = await server.snapshot("after")
                n = max(1, alive)
                result["top_types"] = [
                    {**t, "per_viewer": round(t["count_diff"] / n, 2),
                     "getsizeof_per_viewer": round(t["getsizeof_diff"] / n, 1)}
                    for t in dump["types"][:20]
                ]  # fmt: skip
                if trace:
                    result["traced_kb_per_viewer"] = round(dump["traced_diff"] / 1024 / n, 2)
                    for key in ("lineno", "filename", "traceback"):
                        result[f"top_{key}"] = [
                            {
                                "bytes_per_viewer": round(s["size_diff"] / n, 1),
                                "blocks_per_viewer": round(s["count_diff"] / n, 2),
                                "where": short(s["where"])[: 6 if key == "traceback" else 1],
                            }
                            for s in dump[key][:15]
                        ]
                await asyncio.gather(*(v.close() for v in viewers))
        finally:
            await server.stop()
        result["seconds"] = round(time.monotonic() - t0, 1)
        return result


def print_result(r: dict) -> None:
    print(
        f"{r['host']:>10}{' +tracemalloc' if r['tracemalloc'] else '':13} viewers={r['viewers']}"
        f" RSS {r['rss_before_kb'] / 1024:.1f} -> {r['rss_after_kb'] / 1024:.1f} MB:"
        f" {r['kb_per_viewer']} KB/viewer"
        + (f" (traced {r['traced_kb_per_viewer']} KB/viewer)" if r["tracemalloc"] else "")
    )
    if r["tracemalloc"]:
        print("   top by traceback (bytes/viewer, innermost frames):")
        for s in r["top_traceback"]:
            print(f"   {s['bytes_per_viewer']:8.1f} B {s['blocks_per_viewer']:5.2f} blk  "
                  + " <- ".join(s["where"][:4]))  # fmt: skip
        print("   top by line:")
        for s in r["top_lineno"]:
            size, blocks = s["bytes_per_viewer"], s["blocks_per_viewer"]
            print(f"   {size:8.1f} B {blocks:5.2f} blk  {s['where'][0]}")
    else:
        print("   objects by type (per viewer: count, getsizeof bytes):")
        for t in r["top_types"][:15]:
            print(f"   {t['per_viewer']:6.2f} {t['getsizeof_per_viewer']:8.1f} B  {t['type']}")


async def amain(args: argparse.Namespace) -> dict:
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    if pin:
        os.sched_setaffinity(0, {1})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    record: dict = {
        "machine": machine(loadavg_at_start=loadavg()),
        "args": vars(args) | {"json": None},
        "loopback_cap_in_child": args.viewers + 1000,
        "runs": [],
    }
    modes = [False] + ([True] if not args.no_trace else [])
    for host in args.hosts.split(","):
        for trace in modes:
            r = await run_host(host, args, trace, pin)
            print_result(r)
            record["runs"].append(r)
    record["machine"]["loadavg_at_end"] = loadavg()
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=5000)
    parser.add_argument(
        "--trace-viewers", type=int, default=1000, help="viewers in the tracemalloc runs (1000)"
    )
    parser.add_argument("--batch", type=int, default=250, help="viewers connecting at once")
    parser.add_argument("--settle", type=float, default=30.0, help="idle seconds before 'after'")
    parser.add_argument("--settle-before", type=float, default=3.0)
    parser.add_argument("--hosts", default="standalone,jupyter")
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"results ({RESULTS})")
    parser.add_argument("--append", action="store_true", help="append to the JSON list")
    args = parser.parse_args()
    if args.viewers > 20_000:
        parser.error("bounded: at most 20,000 viewers")

    async def bounded() -> dict:
        return await asyncio.wait_for(amain(args), DEADLINE_S)  # children stopped on timeout

    record = asyncio.run(bounded())
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        runs = []
        if args.append and args.json.exists():
            old = json.loads(args.json.read_text())
            runs = old if isinstance(old, list) else [old]
        args.json.write_text(
            json.dumps([*runs, record] if args.append else record, indent=1) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
