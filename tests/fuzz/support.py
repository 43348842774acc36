"""What every fuzz test shares: how many inputs, and hypothesis settings that are seeded
and bounded.

``make test`` runs each entry point with a short budget; ``make fuzz`` sets
``CCVIZ_FUZZ_EXAMPLES=10000`` (docs/design.md, "Untrusted input").
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgpack
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: Inputs per entry point: short by default, ``make fuzz`` asks for 10,000.
EXAMPLES = int(os.environ.get("CCVIZ_FUZZ_EXAMPLES", "300"))
#: Seconds one fuzz test may take at most, whatever EXAMPLES says.
DEADLINE_S = float(os.environ.get("CCVIZ_FUZZ_SECONDS", "600"))


def fuzz_settings(examples: int | None = None) -> settings:
    """Seeded (derandomised), bounded, no database: the same inputs on every run."""
    return settings(
        max_examples=examples or EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


# -- hostile values --------------------------------------------------------------------------


SAMPLES = Path(__file__).resolve().parents[2] / "ccviz_kernel" / "samples"
#: Real hook payloads, every event Claude Code fired in three real sessions.
REAL_PAYLOADS: list[dict[str, Any]] = [
    json.loads(line)
    for name in ("long", "subagents", "short")
    for line in (SAMPLES / f"{name}.hooks.jsonl").read_text().splitlines()
    if line.strip()
]

#: Numbers at and beyond every edge a wire or a language has.
EDGE_NUMBERS = [
    0, -1, 1 << 31, 1 << 53, (1 << 53) + 1, (1 << 63) - 1, 1 << 63, -(1 << 63), (1 << 64) - 1,
    1 << 64, 10**30, -(10**30), 10**300, 1e300, -1e300, 1.7976931348623157e308, 5e-324, -0.0,
    0.5, 253402300800, 253402300800000, -62135596800, True, False,
]  # fmt: skip
EDGE_STRINGS = [
    "", " ", "\x00", "\ud7ff", "\ufeff", "é" * 3, "🙂", "\u202e", "<script>x</script>",
    "../../etc/passwd", "x" * 5000, "9" * 400, "NaN", "Infinity", "1e400", "2026-13-45T99:99",
    "2026-08-24T13:05:12+99:00", "99999-01-01T00:00:00Z", "connect", "__proto__",
]  # fmt: skip


def deep(depth: int, leaf: Any = 0) -> Any:
    """``depth`` nested lists and objects around ``leaf`` (built without recursion)."""
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


scalars = st.one_of(
    st.sampled_from(EDGE_NUMBERS),
    st.sampled_from(EDGE_STRINGS),
    st.none(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
#: Any JSON value, hostile edges included, nested a little.
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
hostile_values = st.one_of(
    json_values,
    st.integers(min_value=1, max_value=400).map(deep),
)


def paths_of(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside ``value`` (keys and list indexes)."""
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += paths_of(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:8]):
            found += paths_of(v, (*prefix, i))
    return found


def replaced(payload: Any, path: tuple, new: Any) -> Any:
    """``payload`` with the value at ``path`` replaced by ``new`` (a copy)."""
    if not path:
        return new
    copy = dict(payload) if isinstance(payload, dict) else list(payload)
    copy[path[0]] = replaced(copy[path[0]], path[1:], new)
    return copy


@st.composite
def mutated_payloads(draw: Any, sessions: int = 16) -> dict[str, Any]:
    """A real hook payload with one to three values swapped for hostile ones, in one of
    ``sessions`` games (so games pile the mutations up)."""
    payload = draw(st.sampled_from(REAL_PAYLOADS))
    payload = {**payload, "session_id": f"fuzz-{draw(st.integers(0, sessions - 1))}"}
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths_of(payload)[1:]))
        payload = replaced(payload, path, draw(hostile_values))
    if draw(st.booleans()):
        payload[draw(st.sampled_from(["usage", "context_tokens", "timestamp", "extra"]))] = draw(
            st.one_of(hostile_values, st.fixed_dictionaries({"input_tokens": hostile_values}))
        )
    return payload


def dumps_lenient(value: Any) -> bytes:
    """JSON text of ``value`` (big integers written out as Python writes them)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")


# -- a real server in a thread, and what must hold afterwards -------------------------------


class Tracebacks(logging.Handler):
    """Collects every log record at ERROR and above, or carrying a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)

    def lines(self) -> list[str]:
        return [self.format(r) for r in self.records]


@contextmanager
def watched_logs() -> Iterator[Tracebacks]:
    handler = Tracebacks()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


class ServerThread:
    """``ccviz``'s standalone host on 127.0.0.1, on its own loop in a thread, so that a
    synchronous hypothesis test can drive it over real sockets."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ServerThread:
        from ccviz_kernel.hosts.standalone import start

        self.thread.start()
        self.host = self.run(start(port=0, runtime=False, **self.options))
        self.url = self.host.url
        self.port = int(self.url.rstrip("/").rsplit(":", 1)[1])
        self.token = self.host.server.auth.ingest_token
        self.hub = self.host.hub
        return self

    def run(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __exit__(self, *exc: Any) -> None:
        self.run(self.host.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def wire_safe(value: Any) -> None:
    """Raise unless ``value`` travels to every viewer: msgpack packs it, and JSON holds no
    integer a 64-bit reader (python-socketio's clients, JavaScript) refuses."""
    msgpack.packb(value)
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is int:
            assert -(1 << 63) <= item < 1 << 64, f"integer beyond 64 bits: {item}"
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


async def join_every_game(url: str, game_ids: list[str], serializer: str) -> dict[str, dict]:
    """Join each game as a fresh viewer with ``serializer``; the acks, by game id. Also asks
    the lobby (``list-games``), which must answer."""
    import socketio

    sio = socketio.AsyncClient(serializer=serializer, reconnection=False)
    await sio.connect(url, transports=["websocket"], wait_timeout=10)
    try:
        lobby = await sio.call("list-games", {}, timeout=10)
        assert lobby["ok"], lobby
        acks = {}
        for game_id in game_ids:
            ack = await sio.call("join-game", {"gameId": game_id}, timeout=10)
            assert ack["ok"] and "snapshot" in ack, ack
            acks[game_id] = ack
            await sio.call("leave-game", {"gameId": game_id}, timeout=10)
        return acks
    finally:
        await sio.disconnect()
