"""Subprocess helper for tests/test_store.py: writes to an EventStore from another process.

Usage:
  _store_writer.py loop  DB GAME MAX_SECONDS   append forever-ish (bounded) until killed
  _store_writer.py count DB GAME N TAG         wait for "go" on stdin, then append N events
                                               (DB may be a redis:// URL)

Prints "ready" once it can write, so the test knows when to start the clock.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ccviz_kernel.store import EventStore, open_store  # noqa: E402

MAX_ITERATIONS = 200_000


def loop(db: str, game: str, max_seconds: float) -> None:
    """Mix single appends and multi-page batches so a SIGKILL often lands mid-transaction."""
    deadline = time.monotonic() + max_seconds
    run = os.getpid()  # batches are identified by (run, i) across several killed runs
    with EventStore(db) as store:
        store.append(game, json.dumps({"kind": "start"}), time.time())
        print("ready", flush=True)
        for i in range(MAX_ITERATIONS):
            if time.monotonic() > deadline:
                break
            pad = "x" * ((i * 7919) % 20_000)
            if i % 3 == 0:
                batch = [
                    (
                        json.dumps(
                            {"kind": "batch", "run": run, "i": i, "j": j, "pad": pad[:2000]}
                        ),
                        time.time(),
                    )
                    for j in range(50)
                ]
                store.append_many(game, batch)
            else:
                store.append(game, json.dumps({"kind": "one", "i": i, "pad": pad}), time.time())


def count(db: str, game: str, n: int, tag: str) -> None:
    with open_store(db) as store:  # a file, or a redis:// URL
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range(n):
            store.append(game, json.dumps({"w": tag, "i": i}), time.time())


def main(argv: list[str]) -> None:
    mode = argv[1]
    if mode == "loop":
        loop(argv[2], argv[3], float(argv[4]))
    elif mode == "count":
        count(argv[2], argv[3], int(argv[4]), argv[5])
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv)
