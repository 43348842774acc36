"""Seeking benchmark (issue 9): a viewer's own playhead over a 10,000-event game.

    .venv/bin/python bench/seek_bench.py                 # table; records bench/results/seek.json
    .venv/bin/python bench/seek_bench.py --replay        # the same game as a replay game
    .venv/bin/python bench/seek_bench.py --serve         # only serve it; prints READY <url> <id>

The game is the bundled long sample's hook log repeated, one copy after another, as one
session (fresh agent and tool-use ids and times shifted per copy), written to a fresh event
log in a temporary data folder. A child process serves it with the standalone host on
127.0.0.1 (so the client's work is not counted as the server's); a python-socketio client
(msgpack, no token: a loopback viewer) then measures

1. connect + ``join-game`` with a snapshot: the first join (the hub rebuilds the game from
   its log) and a warm one;
2. ``game-history``: the first call (builds the history cache) and a warm one, and its size;
3. 50 ``game-at`` seeks to random seqs with ``count=256``: median and p90 round trip, size.

The load average is printed at the start and at the end. To measure in a browser, start
``--serve`` (or call :func:`serve_game` / :func:`start_child`) and point a page at the URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgpack
import socketio

from ccviz_kernel import samples
from ccviz_kernel.events import HookEvent, parse_event

GAME = "seek-bench"
RESULTS = Path(__file__).resolve().parent / "results" / "seek.json"
#: Session seconds between the starts of two copies of the sample.
COPY_SPAN = 6 * 3600.0
_RENAMED = ("agent_id", "tool_use_id", "agentId", "prompt_id")


def build_events(target: int = 10_000, game_id: str = GAME) -> list[HookEvent]:
    """``target`` events of one session: the long sample's hook log, repeated."""
    lines = samples.path("long", "hooks").read_text().splitlines()
    events: list[HookEvent] = []
    k = 0
    while len(events) < target:
        for line in lines:
            if len(events) == target:
                break
            payload = _renamed(json.loads(line), k)
            payload["session_id"] = game_id
            event = parse_event(payload)
            if event.ts is not None:
                event.ts += k * COPY_SPAN
            events.append(event)
        k += 1
    return events


def _renamed(value: Any, k: int) -> Any:
    """Fresh ids per copy, so each copy's subagents are new characters."""
    if isinstance(value, dict):
        return {
            key: f"{v}-{k}" if key in _RENAMED and isinstance(v, str) and k else _renamed(v, k)
            for key, v in value.items()
        }
    if isinstance(value, list):
        return [_renamed(v, k) for v in value]
    return value


@contextlib.asynccontextmanager
async def serve_game(
    target: int = 10_000, *, replay: bool = False, game_id: str = GAME
) -> AsyncIterator[tuple[Any, str]]:
    """Serve a ``target``-event game on 127.0.0.1 (in this process); yields ``(host, id)``.

    The game is a logged one (written to the event log, as if its hooks had come in), or
    with ``replay`` a replay game paused at its end. Needs ``CCVIZ_HOME`` pointing at a
    scratch folder (``main`` sets one).
    """
    from ccviz_kernel.hosts.standalone import start
    from ccviz_kernel.hub import Hub
    from ccviz_kernel.store import EventStore

    events = build_events(target, game_id)
    hub = Hub(EventStore())
    if replay:
        host = await start(port=0, runtime=False, hub=hub)
        clock = hub.open_replay(events, game_id=game_id, play=False)
        clock.seek(clock.total)
    else:
        hub.store.append_many(game_id, [(e.to_json(), e.ts) for e in events])
        host = await start(port=0, runtime=False, hub=hub)
    try:
        yield host, game_id
    finally:
        await host.close()


def start_child(target: int, *, replay: bool, home: str) -> tuple[subprocess.Popen[str], str]:
    """This script with ``--serve`` in a child process; returns it and the server's URL."""
    args = [sys.executable, __file__, "--serve", "--events", str(target)]
    if replay:
        args.append("--replay")
    child = subprocess.Popen(
        args, stdout=subprocess.PIPE, text=True, env={**os.environ, "CCVIZ_HOME": home}
    )
    assert child.stdout is not None
    line = child.stdout.readline().split()
    if not line or line[0] != "READY":
        child.kill()
        raise RuntimeError("the server child did not start")
    return child, line[1]


async def _serve_forever(target: int, replay: bool) -> None:
    async with serve_game(target, replay=replay) as (host, game_id):
        print("READY", host.url, game_id, flush=True)
        await asyncio.Event().wait()


def _size(data: Any) -> int:
    return len(msgpack.packb(data))


async def _connect(url: str) -> socketio.AsyncClient:
    client = socketio.AsyncClient(serializer="msgpack", reconnection=False)
    await client.connect(url, transports=["websocket"], wait_timeout=10)
    return client


_PROBES: list[float] = []


async def _probe(url: str) -> None:
    """GET healthz back to back: each answer's time says whether the loop was free."""
    import aiohttp

    _PROBES.clear()
    async with aiohttp.ClientSession() as session:
        while True:
            start = time.perf_counter()
            async with session.get(url + "healthz") as response:
                await response.read()
            _PROBES.append((time.perf_counter() - start) * 1000)
            await asyncio.sleep(0.005)


async def _gathered(task: asyncio.Future[None]) -> list[float]:
    try:
        await task
    except asyncio.CancelledError:
        pass
    return list(_PROBES)


async def measure(url: str, game_id: str, seeks: int = 50, count: int = 256) -> dict[str, Any]:
    """The client side: join, game-history, random game-at seeks (times in ms)."""
    out: dict[str, Any] = {}
    for name in ("join_cold_ms", "join_warm_ms"):
        start = time.perf_counter()
        client = await _connect(url)
        ack = await client.call("join-game", {"gameId": game_id}, timeout=60)
        out[name] = (time.perf_counter() - start) * 1000
        assert ack["ok"] and "snapshot" in ack, ack
        out["join_bytes"] = _size(ack)
        out["seq"] = ack["seq"]
        if name == "join_cold_ms":
            await client.disconnect()
    for name in ("history_cold_ms", "history_warm_ms"):
        start = time.perf_counter()
        probe = asyncio.ensure_future(_probe(url)) if name == "history_cold_ms" else None
        history = await client.call("game-history", {"gameId": game_id}, timeout=60)
        out[name] = (time.perf_counter() - start) * 1000
        assert history["ok"], history
        if probe is not None:  # how long the server's loop was held while it built
            probe.cancel()
            out["healthz_during_cold_history_max_ms"] = max(await _gathered(probe), default=0)
    out["history_bytes"] = _size(history)
    out["markers"] = len(history["markers"])
    out["lanes"] = len(history["lanes"])
    total = history["seq"]
    rng = random.Random(9)
    times, sizes, got = [], [], []
    for _ in range(seeks):
        seq = rng.randint(0, total)
        start = time.perf_counter()
        ack = await client.call(
            "game-at", {"gameId": game_id, "seq": seq, "count": count}, timeout=60
        )
        times.append((time.perf_counter() - start) * 1000)
        assert ack["ok"] and ack["at"] == seq, ack
        sizes.append(_size(ack))
        got.append(len(ack["deltas"]))
    await client.disconnect()
    times.sort()
    out.update(
        seeks=seeks,
        count=count,
        seek_median_ms=statistics.median(times),
        seek_p90_ms=times[int(0.9 * (len(times) - 1))],
        seek_max_ms=times[-1],
        seek_bytes_median=statistics.median(sizes),
        seek_deltas_min=min(got),
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--seeks", type=int, default=50)
    parser.add_argument("--count", type=int, default=256)
    parser.add_argument("--replay", action="store_true", help="serve it as a replay game")
    parser.add_argument("--serve", action="store_true", help="only serve the game (for browsers)")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to record the numbers")
    args = parser.parse_args(argv)
    if args.serve:
        if "CCVIZ_HOME" not in os.environ:
            os.environ["CCVIZ_HOME"] = tempfile.mkdtemp(prefix="ccviz-seek-")
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve_forever(args.events, args.replay))
        return 0
    load_start = os.getloadavg()
    print(f"load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")
    with tempfile.TemporaryDirectory(prefix="ccviz-seek-") as home:
        child, url = start_child(args.events, replay=args.replay, home=home)
        try:
            numbers = asyncio.run(measure(url, GAME, args.seeks, args.count))
        finally:
            child.terminate()
            child.wait(10)
    load_end = os.getloadavg()
    print(f"load average at end:   {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")
    kind = "replay" if args.replay else "logged"
    rows = [
        ("events", f"{numbers['seq']} ({kind} game)"),
        ("join + snapshot, first (rebuild)", f"{numbers['join_cold_ms']:.1f} ms"),
        ("join + snapshot, warm", f"{numbers['join_warm_ms']:.1f} ms"),
        ("snapshot ack size", f"{numbers['join_bytes'] / 1024:.1f} KiB"),
        ("game-history, first (builds cache)", f"{numbers['history_cold_ms']:.1f} ms"),
        ("game-history, warm", f"{numbers['history_warm_ms']:.1f} ms"),
        ("game-history size", f"{numbers['history_bytes'] / 1024:.1f} KiB"),
        ("markers, lanes", f"{numbers['markers']}, {numbers['lanes']}"),
        (f"game-at count={args.count}, median", f"{numbers['seek_median_ms']:.1f} ms"),
        (f"game-at count={args.count}, p90", f"{numbers['seek_p90_ms']:.1f} ms"),
        ("game-at size, median", f"{numbers['seek_bytes_median'] / 1024:.1f} KiB"),
    ]
    print_rows(rows)
    record_run(args.json, load_start, load_end, {"game": kind, **numbers})
    return 0


def print_rows(rows: list[tuple[str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def record_run(
    path: Path, load_start: tuple[float, ...], load_end: tuple[float, ...], numbers: dict
) -> None:
    """Append one run (date, machine, load averages, the numbers) to ``path``'s runs."""
    record = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in load_end],
        **numbers,
    }
    previous = json.loads(path.read_text()) if path.exists() else {}
    runs = previous.get("runs", []) if isinstance(previous, dict) else []
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"runs": [*runs, record]}, indent=2) + "\n")
    print(f"recorded in {path}")


if __name__ == "__main__":
    sys.exit(main())
