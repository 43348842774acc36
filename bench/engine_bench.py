"""Engine and replay benchmarks (issue: foundation).

    .venv/bin/python bench/engine_bench.py            # prints a table; --json FILE saves it

1. events/s through parse + apply, from JSON text and from already-decoded dicts, and
   through apply alone, over copies of the bundled long sample (each copy its own game);
2. time to load a 10,000-event transcript (main file plus subagent files, built from the
   long sample with fresh ids and shifted times) and replay it to its final state.
"""

from __future__ import annotations

import argparse
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
from ccviz_kernel.replays.load import load_replay


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
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--transcript-events", type=int, default=10_000)
    parser.add_argument("--json", type=Path, help="also write the results here")
    ns = parser.parse_args()
    results = {
        "python": sys.version.split()[0],
        **engine_rates(ns.events),
        **transcript_replay(ns.transcript_events),
    }
    print(f"events through the engine ({results['events']:,} = copies of the long sample):")
    print(f"  parse JSON text + apply : {results['parse_json_and_apply_per_s']:>10,.0f} events/s")
    print(f"  parse dict + apply      : {results['parse_dict_and_apply_per_s']:>10,.0f} events/s")
    print(f"  apply only              : {results['apply_only_per_s']:>10,.0f} events/s")
    print(
        f"transcript replay ({results['transcript_events']:,} events, "
        f"{results['transcript_bytes'] / 1e6:.1f} MB, {results['transcript_agents']} agents):"
    )
    print(
        f"  load + replay to final  : "
        f"{results['replay_seconds_median'] * 1000:>10.0f} ms median of 5 "
        f"(best {results['replay_seconds_best'] * 1000:.0f} ms)"
    )
    if ns.json:
        ns.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
