"""The spool as an entry point (issue 11): whatever bytes the spool file holds, a running
server's drain never raises, ingests every good line exactly once and in order, puts every
other non-blank line in the dead-letter file, and keeps serving.

Each example is a spool file built from segments: good lines (real hook payloads and
numbered notifications, a delivery id each), garbage lines, lines of the wrong shape, bad
delivery ids, invalid UTF-8, over-long lines, deeply nested JSON, re-deliveries of a good
line, and a last line without its line end. The file is put in place atomically (as a hook
appends under the lock) and drained by the server on its own loop; its periodic pass may
take it first, which must change nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccviz_kernel import runtime
from ccviz_kernel.config import DEAD_LETTER_FILE, SPOOL_FILE
from ccviz_kernel.runtime import dead_letters

from .support import EXAMPLES, REAL_PAYLOADS, ServerThread, fuzz_settings, watched_logs

#: Small limits, so over-long lines cost little per example (one test below uses the real ones).
MAX_LINE = 65_536
HEAD = 1024


def good(n: int, game: str, real: int | None) -> dict[str, Any]:
    if real is None:
        return {"hook_event_name": "Notification", "session_id": game, "message": f"n{n}"}
    return {**REAL_PAYLOADS[real % len(REAL_PAYLOADS)], "session_id": game}


garbage = st.binary(max_size=300).map(lambda b: b.replace(b"\n", b"") + b"\n")
segment = st.one_of(
    # good lines weigh three times (notifications, real payloads): order is checked among many
    st.tuples(st.just("good"), st.none()),
    st.tuples(st.just("good"), st.just(None)),
    st.tuples(st.just("good"), st.integers(0, 10_000)),
    st.tuples(st.just("garbage"), garbage),
    st.tuples(st.just("shape"), st.sampled_from([b"no tabs at all", b"k\tonly two", b"\t\t"])),
    st.tuples(st.just("badkey"), st.sampled_from([b"", b"x" * 65, b"k\x01y", b"\xff\xfe"])),
    st.tuples(st.just("utf8"), st.binary(min_size=1, max_size=40)),
    st.tuples(st.just("long"), st.integers(MAX_LINE, 3 * MAX_LINE)),
    st.tuples(st.just("deep"), st.integers(900, 6000)),
    st.tuples(st.just("again"), st.integers(0, 50)),
    st.tuples(st.just("badjson"), st.sampled_from([b"{", b"[]", b'"s"', b"{}", b'{"a":1}'])),
)
spools = st.tuples(
    st.lists(segment, max_size=30),
    st.none() | st.binary(min_size=1, max_size=200).map(lambda b: b.replace(b"\n", b"")),
    st.sampled_from([b"1.5", b"nan", b"inf", b"-1e400", b"", b"x"]),
)


class Built:
    """A spool file's bytes and what must become of each of its lines."""

    def __init__(self, example: int) -> None:
        self.game = f"spool-fuzz-{example}"
        self.deep_game = f"{self.game}-deep"
        self.prefix = f"e{example}-"
        self.data = bytearray()
        self.order: list[str] = []  # the good notifications' texts, in file order
        self.good = 0  # good lines of the main game (notifications and real payloads)
        self.dead: list[bytes] = []  # lines that must be dead-lettered (as recorded)
        self.either: list[bytes] = []  # deep lines: refused (dead) or taken, never both
        self.lines: list[bytes] = []

    def add(self, line: bytes, fate: str) -> None:
        self.data += line
        if fate == "either" and len(line) > MAX_LINE:
            fate = "dead"
        if fate == "dead":
            self.dead.append(line[:HEAD] if len(line) > MAX_LINE else line.rstrip(b"\n"))
        elif fate == "either":
            self.either.append(line.rstrip(b"\n"))
        self.lines.append(line)


def build(example: int, segments: list, tail: bytes | None, stamp: bytes) -> Built:
    built = Built(example)
    keys: list[bytes] = []
    for kind, value in segments:
        n = len(built.lines)
        key = f"{built.prefix}{n}".encode()
        if kind == "good":
            payload = good(n, built.game, value)
            line = key + b"\t" + stamp + b"\t" + json.dumps(payload).encode() + b"\n"
            built.add(line, "good")
            keys.append(line)
            built.good += 1
            if value is None:
                built.order.append(f"n{n}")
        elif kind == "again" and keys:  # a re-delivery (a hook's retry): taken once
            built.add(keys[value % len(keys)], "again")
        elif kind in ("garbage", "shape"):
            if not value.endswith(b"\n"):
                value += b"\n"
            built.add(value, "dead" if value.strip() else "blank")
        elif kind == "badkey":
            body = json.dumps(good(n, built.game, None)).encode()
            built.add(value + b"\t1.0\t" + body + b"\n", "dead")
        elif kind == "utf8":  # whatever the bytes, the lone \xff makes it invalid
            body = b'{"hook_event_name":"Notification","session_id":"x","message":"'
            body += value.replace(b"\n", b"") + b'\xff"}'
            built.add(key + b"\t1.0\t" + body + b"\n", "dead")
        elif kind == "long":
            built.add(key + b"\t1.0\t" + b"x" * value + b"\n", "dead")
        elif kind == "deep":
            head = json.dumps({"hook_event_name": "Notification", "session_id": built.deep_game})
            text = head[:-1] + ', "extra": ' + '{"a": [' * value + "0" + "]}" * value + "}"
            built.add(key + b"\t1.0\t" + text.encode() + b"\n", "either")
        elif kind == "badjson":
            built.add(key + b"\t1.0\t" + value + b"\n", "dead")
    if tail:  # a last line without its line end: a hook killed while writing
        built.add(tail, "dead")
    return built


def texts(hub, game: str) -> list[str]:
    return [row["text"] for row in hub.event_rows(game) or []]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("spool-fuzz") / "ccviz-home"
    old = os.environ.get("CCVIZ_HOME")
    os.environ["CCVIZ_HOME"] = str(home)
    saved = runtime.MAX_SPOOL_LINE, runtime.DEAD_LETTER_HEAD
    runtime.MAX_SPOOL_LINE, runtime.DEAD_LETTER_HEAD = MAX_LINE, HEAD
    try:
        with watched_logs() as logs, ServerThread() as server:
            yield server, home, logs
    finally:
        runtime.MAX_SPOOL_LINE, runtime.DEAD_LETTER_HEAD = saved
        if old is None:
            os.environ.pop("CCVIZ_HOME", None)
        else:
            os.environ["CCVIZ_HOME"] = old


def drain(server: ServerThread) -> int:
    async def run() -> int:
        return server.host.server.drain_spool()

    return server.run(run())


def put_spool(home: Path, data: bytes) -> None:
    """Atomically, as the hook's locked append would leave it."""
    tmp = home / ".spool-fuzz.tmp"
    tmp.write_bytes(data)
    tmp.chmod(0o600)
    os.replace(tmp, home / SPOOL_FILE)


counter = {"n": 0, "good": 0, "dead": 0, "either": 0}


@fuzz_settings()
@given(spools)
def test_any_spool_file_drains_without_raising_in_order_once_with_dead_letters(served, spool):
    server, home, logs = served
    os.environ["CCVIZ_HOME"] = str(home)  # conftest gives every test its own: keep the server's
    segments, tail, stamp = spool
    example = counter["n"]
    counter["n"] += 1
    built = build(example, segments, tail, stamp)
    (home / DEAD_LETTER_FILE).unlink(missing_ok=True)
    put_spool(home, bytes(built.data))
    drain(server)  # the server's own pass may have taken it already: same outcome
    drain(server)
    hub = server.hub
    assert not (home / SPOOL_FILE).exists() or (home / SPOOL_FILE).stat().st_size == 0
    assert not [p for p in os.listdir(home) if p.endswith(".work")]
    notes = [t for t in texts(hub, built.game) if t and t.startswith("n")]
    assert notes == built.order  # every good notification, once, in order
    assert len(hub.event_rows(built.game) or []) == built.good  # and every good line once
    letters = [d["line"].encode("utf-8", "surrogateescape") for d in dead_letters()]
    deep_taken = len(hub.event_rows(built.deep_game) or [])
    deep_dead = [line for line in letters if line in built.either]
    assert [line for line in letters if line not in built.either] == built.dead
    assert deep_taken + len(deep_dead) == len(built.either)  # each deep line in one place
    assert logs.lines() == []  # no traceback, no error logged
    with urllib.request.urlopen(server.url + "healthz", timeout=5) as answer:
        assert answer.status == 200  # still serving
    counter["good"] += built.good
    counter["dead"] += len(built.dead)
    counter["either"] += len(built.either)


def test_the_fuzz_ran_its_budget_and_games_stay_joinable(served):
    from .support import join_every_game

    server, _, logs = served
    assert counter["n"] >= min(EXAMPLES, 100), counter
    assert counter["good"] > 0 and counter["dead"] > 0 and counter["either"] > 0, counter
    games = [g["gameId"] for g in server.hub.summaries()][:20]
    acks = asyncio.run(join_every_game(server.url, games, "msgpack"))
    assert set(acks) == set(games)
    assert logs.lines() == []
    print(f"spool fuzz: {counter}")
