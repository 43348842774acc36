"""Engine and replay benchmarks (issue: foundation).

    .venv/bin/python bench/engine_bench.py            # prints a table; --json FILE saves it

1. events/s through parse + apply, from JSON text and from already-decoded dicts, and
   through apply alone, over copies of the bundled long sample (each copy its own game);
2. time to load a 10,000-event transcript (main file plus subagent files, built from the
   long sample with fresh ids and shifted times) and replay it to its final state;
3. redaction: ``redact_payload`` per event of each bundled sample, a 1 MB Write of the
   long sample and one of this repo's own Python (keyword-dense texts), the slowest of
   a few pathological 1 MB texts (:data:`PATHOLOGICAL`: runs that once made the rules
   backtrack in quadratic time), and ``Hub.ingest`` (in-memory store) redacted vs
   ``keep_raw=True`` as a ratio, interleaved rounds and medians (with the load average:
   the machine is shared).
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ccviz_kernel import samples
from ccviz_kernel.engine.game import Game
from ccviz_kernel.events import parse_event
from ccviz_kernel.hub import Hub
from ccviz_kernel.redact import clear_memo, redact_payload
from ccviz_kernel.replays.load import load_replay
from ccviz_kernel.store import EventStore


def engine_rates(min_events: int) -> dict[str, float]:
    lines = samples.path("long", "hooks").read_text().splitlines()
    copies = max(1, min_events // len(lines) + 1)
    dicts = [json.loads(line) for line in lines]
    events = [parse_event(d) for d in dicts]
    total = len(lines) * copies

    def best(run) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return total / min(times)

    def from_text() -> None:
        for k in range(copies):
            game = Game(f"g{k}")
            for line in lines:
                game.apply(parse_event(line))

    def from_dict() -> None:
        for k in range(copies):
            game = Game(f"g{k}")
            for d in dicts:
                game.apply(parse_event(d))

    def apply_only() -> None:
        for k in range(copies):
            game = Game(f"g{k}")
            for event in events:
                game.apply(event)

    return {
        "events": total,
        "parse_json_and_apply_per_s": best(from_text),
        "parse_dict_and_apply_per_s": best(from_dict),
        "apply_only_per_s": best(apply_only),
        "engine_loadavg": _loadavg(),
    }


_TS = re.compile(r'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)"')


def build_big_transcript(target_events: int, folder: Path) -> tuple[Path, int]:
    """Copies of the long sample's transcript tree, one after another, as one session."""
    src_main = samples.path("long", "transcript")
    src_dir = src_main.with_suffix("")
    span = timedelta(hours=6)
    per_copy = len(load_replay(src_main).events)
    copies = target_events // per_copy + 1
    main = folder / src_main.name
    subdir = folder / src_main.stem / "subagents"
    subdir.mkdir(parents=True)
    files = (
        [src_main, *sorted((src_dir / "subagents").glob("agent-*"))]
        if src_dir.exists()
        else [src_main]
    )
    with main.open("w") as out:
        for k in range(copies):
            for f in files:
                text = _shift(f.read_text(), k, span)
                if f == src_main:
                    out.write(text if text.endswith("\n") else text + "\n")
                else:
                    name = _rename_agent_file(f.name, k)
                    (subdir / name).write_text(text)
    return main, copies * per_copy


def _rename_agent_file(name: str, k: int) -> str:
    return re.sub(r"agent-a([0-9a-f]+)", lambda m: f"agent-a{k:03x}{m.group(1)[3:]}", name)


def _shift(text: str, k: int, span: timedelta) -> str:
    if k == 0:
        return text

    def moved(m: re.Match[str]) -> str:
        t = datetime.fromisoformat(m.group(1).replace("Z", "+00:00")) + span * k
        return '"' + t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + 'Z"'

    text = _TS.sub(moved, text)
    text = re.sub(r"(toolu_01)([A-Za-z0-9]{3})", lambda m: f"{m.group(1)}{k:03d}", text)
    text = re.sub(r'"a([0-9a-f]{16})"', lambda m: f'"a{k:03x}{m.group(1)[3:]}"', text)
    text = re.sub(r"agent-a([0-9a-f]{16})", lambda m: f"agent-a{k:03x}{m.group(1)[3:]}", text)
    text = re.sub(
        r'"([0-9a-f]{8})-([0-9a-f]{4})-4',
        lambda m: f'"{m.group(1)[:5]}{k:03x}-{m.group(2)}-4',
        text,
    )
    return text


def transcript_replay(target: int) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="ccviz-bench-"))
    try:
        path, _ = build_big_transcript(target, folder)
        times = []
        for _ in range(5):
            # The previous round's replay and game are freed before the clock starts (they
            # were freed inside it before, which added ~0.03 s of deallocation per round).
            replay = game = None
            start = time.perf_counter()
            replay = load_replay(path)
            game = replay.game()
            times.append(time.perf_counter() - start)
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        return {
            "transcript_events": len(replay.events),
            "transcript_bytes": size,
            "transcript_agents": len(game.peek("agents")),
            "replay_seconds_median": statistics.median(times),
            "replay_seconds_best": min(times),
            "replay_loadavg": _loadavg(),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


class _Pauses:
    """Python's collections while it is active: each one's duration (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.full = 0
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.times.append(time.perf_counter() - self._start)
            self.full += info["generation"] == 2

    def __enter__(self) -> _Pauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)

    def summary(self, prefix: str, latencies: list[float], unit: str) -> dict[str, float]:
        return {
            f"{prefix}_collections": len(self.times),
            f"{prefix}_full_collections": self.full,
            f"{prefix}_pause_p99_ms": _quantile(self.times, 0.99) * 1e3,
            f"{prefix}_pause_max_ms": max(self.times, default=0.0) * 1e3,
            f"{prefix}_pause_total_ms": sum(self.times) * 1e3,
            f"{prefix}_{unit}_p99_us": _quantile(latencies, 0.99) * 1e6,
            f"{prefix}_{unit}_max_us": max(latencies, default=0.0) * 1e6,
        }


def gc_pauses(engine_events: int = 200_000, hub_copies: int = 30) -> dict[str, object]:
    """Python's GC pauses (every collection timed with ``gc.callbacks``) and the p99 of
    one event: through parse + apply (the engine rates' loop), then through ``Hub.ingest``
    of the long sample with the server's modules loaded, as the server runs it: by default,
    then with the start-up heap frozen (what ``GameServer.start`` does: ``gc.freeze()``)."""
    import ccviz_kernel.server.core  # noqa: F401  (the server's start-up heap)

    lines = samples.path("long", "hooks").read_text().splitlines()
    clock = time.perf_counter
    results: dict[str, object] = {}
    latencies: list[float] = []
    with _Pauses() as pauses:
        for k in range(engine_events // len(lines) + 1):
            game = Game(f"g{k}")
            for line in lines:
                start = clock()
                game.apply(parse_event(line))
                latencies.append(clock() - start)
    results.update(pauses.summary("gc_engine", latencies, "event"))
    for mode in ("default", "frozen"):
        gc.collect()
        if mode == "frozen":
            gc.freeze()
        latencies = []
        try:
            with _Pauses() as pauses:
                for k in range(hub_copies):
                    hub = Hub(EventStore(":memory:"))
                    for line in lines:
                        line = line.replace("c0bac55f", f"{k:08x}", 1)  # a session each
                        start = clock()
                        hub.ingest(line)
                        latencies.append(clock() - start)
        finally:
            gc.unfreeze()
        results.update(pauses.summary(f"gc_hub_{mode}", latencies, "ingest"))
    results["gc_threshold"] = list(gc.get_threshold())
    results["gc_loadavg"] = _loadavg()
    return results


def _loadavg() -> str:
    """The 1, 5 and 15 minute load averages (timings on a shared machine drift with it)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


#: Units repeated to 1 MB (with what ends the text): each made some rule's scan quadratic
#: before its parts were bounded (names, values, lazy runs, token widening).
PATHOLOGICAL = [
    ("api_key", ":"),
    ("secret-", "=v"),
    ("--key", " abc"),
    ("--keyxxxx", "=v"),
    ("keyboard=", ""),
    ("aws_key=", ""),
    ("key=[REDACTED]", ""),
    ("eyJa.", ""),
    ("xoxb-1-", ""),
    ("AKIA", ""),
    ("curl ", ""),
    ("sk-", ""),
    ("//a/:_authToken=", ""),
]


def redaction_worst(size: int = 1_000_000, rounds: int = 3) -> dict[str, object]:
    """The slowest pathological text (median of ``rounds``, memo cleared), and which."""
    from ccviz_kernel.redact import redact

    redact("warm up: api_key=abcdef123")
    times: dict[str, float] = {}
    for unit, tail in PATHOLOGICAL:
        text = (unit * (size // len(unit) + 1))[:size] + tail
        runs = []
        for _ in range(rounds):
            clear_memo()
            start = time.perf_counter()
            redact(text)
            runs.append(time.perf_counter() - start)
        times[f"{unit!r}*n+{tail!r}"] = statistics.median(runs)
    worst = max(times, key=times.__getitem__)
    return {
        "redact_worst_1mb_ms": times[worst] * 1e3,
        "redact_worst_1mb_text": worst,
        "redact_pathological_1mb_ms": {k: round(v * 1e3, 1) for k, v in times.items()},
    }


def redaction(rounds: int = 7) -> dict[str, object]:
    """Redaction costs; the memo is cleared before every pass, so repeats within a
    session's own events count (as they would live) but not repeats across rounds."""
    texts = {n: samples.path(n, "hooks").read_text().splitlines() for n in samples.NAMES}
    dicts = {n: [json.loads(line) for line in lines] for n, lines in texts.items()}
    body = (samples.path("long", "hooks").read_text() * 2)[:1_000_000]
    root = Path(__file__).resolve().parents[1]
    code = "".join(
        path.read_text()
        for folder in ("ccviz_kernel", "tests", "bench")
        for path in sorted((root / folder).rglob("*.py"))
    )
    code = (code * (1_000_000 // len(code) + 1))[:1_000_000]
    write, source_write = (
        {
            "hook_event_name": "PreToolUse",
            "session_id": "bench",
            "tool_name": "Write",
            "tool_input": {"file_path": path, "content": content},
        }
        for path, content in (("/tmp/big.jsonl", body), ("/tmp/big.py", code))
    )
    per_event: dict[str, list[float]] = {n: [] for n in dicts}
    big: list[float] = []
    big_source: list[float] = []
    rates: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for name, payloads in dicts.items():
            clear_memo()
            start = time.perf_counter()
            for payload in payloads:
                redact_payload(payload)
            per_event[name].append((time.perf_counter() - start) / len(payloads))
        clear_memo()
        start = time.perf_counter()
        redact_payload(write)
        big.append(time.perf_counter() - start)
        clear_memo()
        start = time.perf_counter()
        redact_payload(source_write)
        big_source.append(time.perf_counter() - start)
        for keep_raw in (True, False):  # interleaved: drift hits both alike
            clear_memo()
            hub = Hub(EventStore(":memory:"), keep_raw=keep_raw)
            lines = texts["long"]
            start = time.perf_counter()
            for line in lines:
                hub.ingest(line)
            rates[keep_raw].append(len(lines) / (time.perf_counter() - start))
    raw, redacted = statistics.median(rates[True]), statistics.median(rates[False])
    return {
        **{
            f"redact_payload_us_per_event_{n}": statistics.median(v) * 1e6
            for n, v in per_event.items()
        },
        "redact_payload_1mb_write_ms": statistics.median(big) * 1e3,
        "redact_payload_1mb_source_write_ms": statistics.median(big_source) * 1e3,
        "hub_ingest_keep_raw_per_s": raw,
        "hub_ingest_redacted_per_s": redacted,
        "hub_ingest_redacted_ratio": redacted / raw,
        **redaction_worst(),
        "redaction_loadavg": _loadavg(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--transcript-events", type=int, default=10_000)
    parser.add_argument("--json", type=Path, help="also write the results here")
    ns = parser.parse_args()
    results = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": sys.version.split()[0],
        **engine_rates(ns.events),
        **transcript_replay(ns.transcript_events),
        **redaction(),
        **gc_pauses(),
    }
    print(
        f"events through the engine ({results['events']:,} = copies of the long sample, "
        f"load {results['engine_loadavg']}):"
    )
    print(f"  parse JSON text + apply : {results['parse_json_and_apply_per_s']:>10,.0f} events/s")
    print(f"  parse dict + apply      : {results['parse_dict_and_apply_per_s']:>10,.0f} events/s")
    print(f"  apply only              : {results['apply_only_per_s']:>10,.0f} events/s")
    print(
        f"transcript replay ({results['transcript_events']:,} events, "
        f"{results['transcript_bytes'] / 1e6:.1f} MB, {results['transcript_agents']} agents, "
        f"load {results['replay_loadavg']}):"
    )
    print(
        f"  load + replay to final  : "
        f"{results['replay_seconds_median'] * 1000:>10.0f} ms median of 5 "
        f"(best {results['replay_seconds_best'] * 1000:.0f} ms)"
    )
    print(f"redaction (load average {results['redaction_loadavg']}):")
    for name in samples.NAMES:
        us = results[f"redact_payload_us_per_event_{name}"]
        print(f"  redact_payload, {name:<9}: {us:>10.1f} µs/event")
    print(f"  redact_payload, 1 MB Write: {results['redact_payload_1mb_write_ms']:>8.1f} ms")
    print(f"  redact_payload, 1 MB .py  : {results['redact_payload_1mb_source_write_ms']:>8.1f} ms")
    print(
        f"  redact, worst 1 MB       : {results['redact_worst_1mb_ms']:>8.1f} ms "
        f"({results['redact_worst_1mb_text']})"
    )
    print(
        f"  Hub.ingest redacted/raw : {results['hub_ingest_redacted_ratio']:>10.2f} "
        f"({results['hub_ingest_redacted_per_s']:,.0f} vs "
        f"{results['hub_ingest_keep_raw_per_s']:,.0f} events/s)"
    )
    print(f"GC pauses (threshold {results['gc_threshold']}, load {results['gc_loadavg']}):")
    for prefix, what, unit in (
        ("gc_engine", "parse + apply        ", "event"),
        ("gc_hub_default", "Hub.ingest          ", "ingest"),
        ("gc_hub_frozen", "Hub.ingest, frozen  ", "ingest"),
    ):
        print(
            f"  {what}: {results[f'{prefix}_collections']:>5} collections "
            f"({results[f'{prefix}_full_collections']} full), pause p99 "
            f"{results[f'{prefix}_pause_p99_ms']:.2f} ms, max "
            f"{results[f'{prefix}_pause_max_ms']:.2f} ms, total "
            f"{results[f'{prefix}_pause_total_ms']:.1f} ms; one {unit} p99 "
            f"{results[f'{prefix}_{unit}_p99_us']:.0f} µs"
        )
    if ns.json:
        ns.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
