"""Fuzz the transcript reader with mutated real transcripts (issue 11, point 6).

Every input is a real session (``ccviz_kernel/samples/``, ``tests/fixtures/corpus/``,
``tests/fixtures/transcripts/``: main file, subagent files, ``.meta.json`` sidecars) with a
few mutations: field-type swaps, deep nesting, huge/negative/non-finite numbers, odd
timestamps, truncated lines, wrong encodings, missing files and ``.meta.json`` garbage. It
is read the way ``ccviz replay`` reads it (every session of the file, each event applied and
formatted) and must either replay or raise :class:`~ccviz_kernel.errors.SourceError` with a
one-line message; every game built must be joinable (its snapshot encodes with msgpack and
with strict JSON, no integer beyond 64 bits, no NaN), and every event must be storable.

A second property breaks exactly one line of a valid session: the rest must still replay.

The mutation machinery is shared with ``test_hooklog_fuzz.py``. Inputs per test:
``tests/fuzz/support.py`` (``EXAMPLES``; ``make fuzz`` sets 10,000).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccviz_kernel.errors import PayloadError, SourceError
from ccviz_kernel.replays.load import Replay, load_replays
from ccviz_kernel.replays.text import format_event, format_final
from tests.fuzz.support import fuzz_settings

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "ccviz_kernel" / "samples"
CORPUS = ROOT / "tests" / "fixtures" / "corpus"
TRANSCRIPTS = ROOT / "tests" / "fixtures" / "transcripts"
#: Sessions bigger than this are left out of the pool: each input is replayed in full, and
#: the two "long" recordings would make ``make fuzz`` take an hour without adding shapes.
MAX_SESSION_BYTES = 200_000


# -- the pool of real sessions ------------------------------------------------------------


class Session:
    """A real session's files, as bytes by path relative to a folder; ``main`` is the file
    a user would pass to ``ccviz replay``. (Not a dataclass: hypothesis would print every
    byte of every file when it reports a failing input.)"""

    def __init__(self, name: str, main: str, files: dict[str, bytes]) -> None:
        self.name = name
        self.main = main
        self.files = files

    def __repr__(self) -> str:
        return f"Session({self.name!r})"

    def lines_of(self, rel: str) -> list[bytes]:
        return self.files[rel].splitlines(keepends=True)

    def jsonl(self) -> list[str]:
        return sorted(rel for rel in self.files if rel.endswith(".jsonl"))

    def metas(self) -> list[str]:
        return sorted(rel for rel in self.files if rel.endswith(".meta.json"))


def _tree(base: Path, paths: list[Path]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file():
                    files[child.relative_to(base).as_posix()] = child.read_bytes()
        elif path.is_file():
            files[path.relative_to(base).as_posix()] = path.read_bytes()
    return files


def _transcript_mains() -> Iterator[Path]:
    for folder in (SAMPLES, CORPUS, TRANSCRIPTS):
        for path in sorted(folder.rglob("*.jsonl")):
            name = path.name
            if name.endswith(".hooks.jsonl") or name.startswith("agent-"):
                continue
            if "subagents" in path.parts or name.endswith("-hooks.jsonl"):
                continue
            yield path


def transcript_sessions() -> list[Session]:
    """Every real transcript small enough, with its subagents' files beside it."""
    sessions = []
    for main in _transcript_mains():
        base = main.parent
        extra = [main.with_suffix(""), *sorted(base.glob("agent-*.jsonl"))]
        extra += sorted(base.glob("agent-*.meta.json"))
        files = _tree(base, [main, *extra])
        if sum(map(len, files.values())) > MAX_SESSION_BYTES:
            continue
        sessions.append(Session(f"{base.name}/{main.name}", main.name, files))
    return sessions


def hooklog_sessions() -> list[Session]:
    """Every real hook log small enough, with the transcript folder beside it (which
    :func:`~ccviz_kernel.claude.tail.with_usage` reads for tokens and lean installs)."""
    sessions = []
    for log in sorted([*SAMPLES.glob("*.hooks.jsonl"), *CORPUS.glob("*/*.hooks.jsonl")]):
        beside = log.with_name(log.name[: -len(".hooks.jsonl")])
        files = _tree(log.parent, [log, beside])
        if sum(map(len, files.values())) > MAX_SESSION_BYTES:
            continue
        sessions.append(Session(f"{log.parent.name}/{log.name}", log.name, files))
    sessions.append(_tree_session(ROOT / "tests" / "fixtures" / "hook-payloads.jsonl"))
    return sessions


def _tree_session(path: Path) -> Session:
    return Session(path.name, path.name, {path.name: path.read_bytes()})


# -- hostile values -----------------------------------------------------------------------

HUGE_INTS = [
    2**53,
    2**63 - 1,
    2**63,
    2**64 - 1,
    2**64,
    -(2**63) - 1,
    10**30,
    10**300,
    -(10**300),
    -1,
    -(2**53),
]
ODD_FLOATS = [1e308, -1e308, 1e300, 5e-324, -0.0, 1.5, math.nan, math.inf, -math.inf]
#: Timestamps a reader must survive: offsets of 24 h or more, years past 9999 (also once an
#: offset is applied), impossible dates, epoch numbers in s/ms/µs/ns beyond any range.
ODD_TIMESTAMPS: list[Any] = [
    "2026-08-20T14:03:11.250+24:00",
    "2026-08-20T14:03:11.250-24:00",
    "2026-08-20T14:03:11.250+99:99",
    "2026-08-20T14:03:11+2400",
    "2026-08-20T14:03:11.250+23:59",
    "9999-12-31T23:59:59.999-01:00",
    "9999-12-31T23:59:59.999Z",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "0000-00-00T00:00:00Z",
    "2026-13-45T25:61:61Z",
    "2026-02-30T00:00:00Z",
    "10000-01-01T00:00:00Z",
    "2026-08-20T14:03:11.2500000000000000000000001Z",
    "2026-08-20T14:03:11.250Z" + " " * 20,
    "2026-08-20",
    "2026-08-20T14:03:11.250Zjunk",
    "now",
    "",
    "\u0662\u0660\u0662\u0666-08-20T14:03:11Z",  # Arabic-Indic digits: \d matches them
    1_755_698_591,
    1_755_698_591_250,
    1_755_698_591_250_000,
    1_755_698_591_250_000_000,
    253_402_300_800,
    253_402_300_800_000,
    253_402_300_800_000_000,
    -1_755_698_591,
    -(10**12),
    1e19,
    1e300,
    -1e300,
    10**300,
    True,
    math.nan,
    math.inf,
]
ODD_STRINGS = ["", " ", "\x00", "\ud800", "é" * 3, "<synthetic>", "a" * 70_000, "\n" * 5]


@dataclass(frozen=True)
class Deep:
    """A value nested ``depth`` levels deep (lists or objects), written out by :func:`dumps`
    (Python's ``json`` cannot write one deeper than its recursion limit)."""

    depth: int
    kind: str

    def text(self) -> str:
        if self.kind == "list":
            return "[" * self.depth + "1" + "]" * self.depth
        return '{"a":' * self.depth + "1" + "}" * self.depth


hostile_values = st.one_of(
    st.sampled_from(HUGE_INTS),
    st.sampled_from(ODD_FLOATS),
    st.sampled_from(ODD_TIMESTAMPS),
    st.sampled_from(ODD_STRINGS),
    st.sampled_from([None, True, False, [], {}, [None], {"": None}, {"a": 1}, ["x", 1]]),
    st.sampled_from([{"a": 1}, ["x"], {"id": {"id": 1}}, [[1]]]),
    st.builds(
        Deep,
        st.sampled_from([30, 70, 200, 300, 600, 1100, 3000]),
        st.sampled_from(["list", "dict"]),
    ),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
)

#: Fields the readers look at: the mutations aim at these first.
TARGET_PATHS: list[tuple[Any, ...]] = [
    ("timestamp",),
    ("type",),
    ("uuid",),
    ("parentUuid",),
    ("sessionId",),
    ("agentId",),
    ("isSidechain",),
    ("promptId",),
    ("cwd",),
    ("requestId",),
    ("message",),
    ("message", "id"),
    ("message", "model"),
    ("message", "role"),
    ("message", "content"),
    ("message", "content", 0),
    ("message", "content", 0, "type"),
    ("message", "content", 0, "id"),
    ("message", "content", 0, "name"),
    ("message", "content", 0, "input"),
    ("message", "content", 0, "text"),
    ("message", "content", 0, "tool_use_id"),
    ("message", "content", 0, "is_error"),
    ("message", "content", 0, "content"),
    ("message", "usage"),
    ("message", "usage", "input_tokens"),
    ("message", "usage", "output_tokens"),
    ("message", "usage", "cache_read_input_tokens"),
    ("message", "usage", "cache_creation_input_tokens"),
    ("message", "stop_reason"),
    ("toolUseResult",),
    ("toolUseResult", "agentId"),
    ("toolUseResult", "agentType"),
    ("subtype",),
    ("compactMetadata",),
    ("compactMetadata", "trigger"),
    ("modelUsage",),
    ("modelUsage", "claude-opus-4", "inputTokens"),
    ("origin",),
    ("isMeta",),
    ("isCompactSummary",),
    ("isApiErrorMessage",),
    ("error",),
    ("aiTitle",),
    ("customTitle",),
    ("summary",),
    ("leafUuid",),
    ("content",),
    ("operation",),
    # hook payload fields (the hook-log reader, and payloads the transcript reader makes)
    ("hook_event_name",),
    ("session_id",),
    ("transcript_path",),
    ("agent_id",),
    ("agent_type",),
    ("tool_name",),
    ("tool_use_id",),
    ("tool_input",),
    ("tool_response",),
    ("usage",),
    ("usage", "input_tokens"),
    ("usage", "output_tokens"),
    ("context_tokens",),
    ("model",),
    ("prompt",),
    ("session_title",),
    ("duration_ms",),
]


#: The fields the issue's auditor found crashes in, aimed at more often.
HOT_PATHS: list[tuple[Any, ...]] = [
    ("timestamp",),
    ("message", "id"),
    ("requestId",),
    ("message", "usage"),
    ("message", "usage", "output_tokens"),
    ("usage",),
]


def all_paths(value: Any, prefix: tuple[Any, ...] = (), limit: int = 400) -> list[tuple[Any, ...]]:
    """Every path into ``value`` (breadth first, at most ``limit``), for untargeted swaps."""
    out: list[tuple[Any, ...]] = []
    queue = [(prefix, value)]
    while queue and len(out) < limit:
        path, node = queue.pop(0)
        items = (
            node.items()
            if isinstance(node, dict)
            else enumerate(node)
            if isinstance(node, list)
            else ()
        )
        for key, child in items:
            out.append((*path, key))
            queue.append(((*path, key), child))
    return out


def set_path(obj: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    """Set ``obj[path...] = value``, making containers on the way where needed."""
    node: Any = obj
    for i, key in enumerate(path):
        last = i == len(path) - 1
        if isinstance(key, int):
            if not isinstance(node, list):
                return
            if not node:
                node.append({})
            key = min(key, len(node) - 1)
            if last:
                node[key] = value
                return
            if not isinstance(node[key], (dict, list)):
                node[key] = {}
            node = node[key]
        else:
            if not isinstance(node, dict):
                return
            if last:
                node[key] = value
                return
            nxt = path[i + 1]
            want = list if isinstance(nxt, int) else dict
            if not isinstance(node.get(key), want):
                node[key] = [] if want is list else {}
            node = node[key]


def dumps(obj: Any) -> bytes:
    """JSON text as any writer could produce it: NaN/Infinity and huge integers included,
    lone surrogates escaped, :class:`Deep` values written out in full."""
    deep: list[Deep] = []

    def swap(node: Any) -> Any:
        if isinstance(node, Deep):
            deep.append(node)
            return f"\x00DEEP{len(deep) - 1}\x00"
        if isinstance(node, dict):
            return {k: swap(v) for k, v in node.items()}
        if isinstance(node, list):
            return [swap(v) for v in node]
        return node

    text = json.dumps(swap(obj))
    for n, value in enumerate(deep):
        text = text.replace(f'"\\u0000DEEP{n}\\u0000"', value.text())
    return text.encode()


# -- mutations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    """One change to a session's files; ``apply`` returns the files afterwards."""

    kind: str
    file: int  # index into the session's .jsonl (or .meta.json) files
    line: int  # index into the file's lines (modulo their number)
    path: tuple[Any, ...] = ()
    value: Any = None
    fraction: float = 0.5
    variant: int = 0


LINE_OPS = [
    "truncate",
    "garbage",
    "invalid-utf8",
    "delete",
    "duplicate",
    "swap",
    "not-object",
    "nul",
    "latin1",
    "deep-line",
    "huge-line",
]
FILE_OPS = [
    "utf16",
    "utf16-nobom",
    "bom",
    "bom-every-line",
    "crlf",
    "cut",
    "empty",
    "delete",
    "dir",
    "no-newline",
]
META_GARBAGE: list[bytes] = [
    b"",
    b"{",
    b"[]",
    b"null",
    b"1e999",
    b'"\\ud800"',
    b"\xff\xfe{\x00}\x00",
    b'{"toolUseId": {"a": 1}, "agentType": ["x"], "parentAgentId": 1e308}',
    b'{"toolUseId": 12345678901234567890123, "agentType": "\\ud800x", "parentAgentId": "\\udfff"}',
    b'{"agentType": "' + b"A" * 100_000 + b'"}',
    b'{"agentType": NaN, "toolUseId": Infinity}',
    b'{"agentType": "Explore", "description": "' + b"\xc3\x28" * 10 + b'"}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
]


@st.composite
def mutations(draw: st.DrawFn, session: Session) -> list[Mutation]:
    """One to four mutations of ``session``'s files."""
    out = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(["value", "value", "value", "swap-type", "line", "file", "meta"])
        )
        file = draw(st.integers(0, 50))
        line = draw(st.integers(0, 10_000))
        if kind == "value":
            path = draw(st.sampled_from(TARGET_PATHS) | st.sampled_from(HOT_PATHS))
            out.append(Mutation(kind, file, line, path, draw(hostile_values)))
        elif kind == "swap-type":
            out.append(
                Mutation(
                    kind, file, line, (), draw(hostile_values), variant=draw(st.integers(0, 10_000))
                )
            )
        elif kind == "line":
            op = draw(st.sampled_from(LINE_OPS))
            out.append(
                Mutation(
                    op,
                    file,
                    line,
                    fraction=draw(st.floats(0, 1)),
                    variant=draw(st.integers(0, 10_000)),
                )
            )
        elif kind == "file":
            op = draw(st.sampled_from(FILE_OPS))
            out.append(Mutation("file-" + op, file, line, fraction=draw(st.floats(0, 1))))
        else:
            out.append(
                Mutation("meta", file, line, variant=draw(st.integers(0, len(META_GARBAGE) - 1)))
            )
    return out


def apply(session: Session, changes: list[Mutation]) -> dict[str, bytes | None]:
    """The session's files after ``changes``; ``None`` means deleted, ``b"/dir"`` marks a
    path replaced by a directory."""
    files: dict[str, bytes | None] = dict(session.files)
    for change in changes:
        if change.kind == "meta":
            metas = session.metas()
            if metas:
                files[metas[change.file % len(metas)]] = META_GARBAGE[change.variant]
            continue
        names = [rel for rel in session.jsonl() if files.get(rel) is not None]
        if not names:
            continue
        rel = names[change.file % len(names)]
        data = files[rel]
        assert data is not None
        if change.kind.startswith("file-"):
            files[rel] = _file_op(change.kind[5:], data, change.fraction)
            continue
        lines = data.splitlines(keepends=True)
        if not lines:
            continue
        i = _pick_line(change, lines)
        lines = _line_op(change, lines, i)
        files[rel] = b"".join(lines)
    return files


def _pick_line(change: Mutation, lines: list[bytes]) -> int:
    """The line a mutation changes: for an aimed value, one that has the field's parent
    (so ``message.usage.input_tokens`` lands on an assistant line), else any."""
    if change.kind == "value" and len(change.path) > 1:
        needle = b'"' + str(change.path[-2] if len(change.path) > 2 else change.path[0]).encode()
        having = [n for n, line in enumerate(lines) if needle + b'"' in line]
        if having:
            return having[change.line % len(having)]
    return change.line % len(lines)


def _file_op(op: str, data: bytes, fraction: float) -> bytes | None:
    if op == "utf16":
        return data.decode("utf-8", "replace").encode("utf-16")
    if op == "utf16-nobom":
        return data.decode("utf-8", "replace").encode("utf-16-le")
    if op == "bom":
        return b"\xef\xbb\xbf" + data
    if op == "bom-every-line":
        return b"".join(b"\xef\xbb\xbf" + line for line in data.splitlines(keepends=True))
    if op == "crlf":
        return data.replace(b"\n", b"\r\n")
    if op == "cut":
        return data[: int(len(data) * fraction)]
    if op == "empty":
        return b""
    if op == "delete":
        return None
    if op == "dir":
        return b"/dir"
    return data.rstrip(b"\n")  # no-newline


def _line_op(change: Mutation, lines: list[bytes], i: int) -> list[bytes]:
    raw = lines[i]
    body = raw.rstrip(b"\r\n")
    end = raw[len(body) :]
    kind = change.kind
    if kind in ("value", "swap-type"):
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            return lines
        if not isinstance(obj, dict):
            return lines
        if kind == "value":
            set_path(obj, change.path, change.value)
        else:
            paths = all_paths(obj)
            if paths:
                set_path(obj, paths[change.variant % len(paths)], change.value)
        try:
            lines[i] = dumps(obj) + (end or b"\n")
        except RecursionError:
            return lines  # a line an earlier mutation nested too deep for ``json`` to write
    elif kind == "truncate":
        lines[i] = body[: max(1, int(len(body) * change.fraction))] + end
    elif kind == "garbage":
        lines[i] = (
            bytes((change.variant * 7 + k) % 256 for k in range(40)).replace(b"\n", b"") + end
        )
    elif kind == "invalid-utf8":
        cut = int(len(body) * change.fraction)
        lines[i] = body[:cut] + b"\xc3\x28\xff\xfe\xed\xa0\x80" + body[cut:] + end
    elif kind == "delete":
        del lines[i]
    elif kind == "duplicate":
        lines.insert(i, raw if raw.endswith(b"\n") else raw + b"\n")
    elif kind == "swap":
        j = change.variant % len(lines)
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "not-object":
        lines[i] = [b"[]", b"null", b"1", b'"x"', b"true", b"1e400", b"NaN"][
            change.variant % 7
        ] + end
    elif kind == "nul":
        lines[i] = body.replace(b",", b",\x00", 1) + end
    elif kind == "latin1":
        lines[i] = body.decode("utf-8", "replace").encode("latin-1", "replace") + end
    elif kind == "deep-line":
        depth = [64, 65, 100, 254, 256, 600, 1023, 1025, 5000][change.variant % 9]
        lines[i] = _deep_line(body, depth) + end
    elif kind == "huge-line":
        size = [1_000_000, 5_000_000][change.variant % 2]
        lines[i] = (
            body[:-1] + b', "pad": "' + b"x" * size + b'"}' + end if body.endswith(b"}") else raw
        )
    # keep every line but the last newline-terminated, as files on disk are
    for k in range(len(lines) - 1):
        if not lines[k].endswith(b"\n"):
            lines[k] += b"\n"
    return lines


def _deep_line(body: bytes, depth: int) -> bytes:
    """``body`` with a value ``depth`` levels deep in its ``message`` (or top level)."""
    inner = b'{"a":' * depth + b"1" + b"}" * depth
    if body.endswith(b"}"):
        return body[:-1] + b', "deep": ' + inner + b"}"
    return inner


def write_session(folder: Path, files: dict[str, bytes | None]) -> None:
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            continue
        if data == b"/dir":
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.write_bytes(data)


# -- the checks ---------------------------------------------------------------------------

_INT_LO, _INT_HI = -(2**63), 2**64 - 1


def assert_wire_safe(value: Any, where: str = "snapshot") -> None:
    """``value`` encodes with msgpack and with strict JSON that every client reads: no
    integer outside −2⁶³…2⁶⁴−1 (JSON: within ±2⁵³ is not required, 64 bits is), no NaN or
    infinity, no string that is not UTF-8."""
    msgpack.packb(value)
    orjson.dumps(value)
    stack = [value]
    while stack:
        node = stack.pop()
        if type(node) is int:
            assert _INT_LO <= node <= _INT_HI, f"{where}: integer beyond 64 bits: {node}"
        elif type(node) is float:
            assert math.isfinite(node), f"{where}: non-finite number {node}"
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def replay_like_the_cli(main: Path) -> list[Replay]:
    """What ``ccviz replay`` (and ``ccviz view``) does with a file, every session of it:
    each event applied and formatted, the final summary formatted, each game joinable."""
    try:
        replays = load_replays(main)
    except SourceError as exc:
        message = str(exc)
        assert message.strip() and "\n" not in message, repr(message)
        assert "Traceback" not in message
        return []
    for replay in replays:
        assert isinstance(replay.skipped, int) and replay.skipped >= 0
        assert all(isinstance(p, str) and "\n" not in p for p in replay.problems)
        game = None
        for event, applied, game in replay.play():
            format_event(game, event, applied)
        for event in replay.events:
            try:
                event.to_json()  # what the store and an upload write
            except PayloadError as exc:
                pytest.fail(f"{replay.game_id}: a replayed event cannot be stored: {exc}")
        if game is not None:
            snapshot = game.snapshot()
            assert_wire_safe(snapshot)
            format_final(snapshot, replay)
    return replays


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="ccviz-fuzz-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


_COUNTER: Counter[str] = Counter()


def fresh(scratch: Path, name: str) -> Path:
    """An empty folder for one input (inputs do not share files)."""
    _COUNTER[name] += 1
    folder = scratch / f"{name}-{_COUNTER[name]}"
    folder.mkdir()
    return folder


TRANSCRIPT_SESSIONS = transcript_sessions()


def test_the_pool_holds_real_sessions() -> None:
    assert len(TRANSCRIPT_SESSIONS) >= 15, [s.name for s in TRANSCRIPT_SESSIONS]
    assert any(s.metas() for s in TRANSCRIPT_SESSIONS)  # subagents with sidecars


@st.composite
def mutated_transcripts(draw: st.DrawFn) -> tuple[Session, list[Mutation]]:
    session = draw(st.sampled_from(TRANSCRIPT_SESSIONS))
    return session, draw(mutations(session))


def check_mutated(scratch: Path, case: tuple[Session, list[Mutation]]) -> None:
    """Write the mutated session, replay it as the CLI does (the checks are in there)."""
    session, changes = case
    folder = fresh(scratch, "t")
    try:
        write_session(folder, apply(session, changes))
        replay_like_the_cli(folder / session.main)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@fuzz_settings()
@given(case=mutated_transcripts())
def test_mutated_transcripts_replay_or_fail_clearly(scratch: Path, case) -> None:
    check_mutated(scratch, case)


# -- one broken line: the rest still replays -----------------------------------------------

BREAKS = ["truncate", "garbage", "invalid-json", "deep", "bad-timestamp", "message-id-object"]
#: Breaks that leave no JSON object to read: the line must be counted as skipped. (A line
#: with a bad timestamp or id is still read; what cannot be used of it is dropped.)
UNREADABLE = frozenset({"truncate", "garbage", "invalid-json", "deep"})


def break_line(body: bytes, how: str) -> bytes:
    """``body`` (one line of JSON) made unusable in the way ``how`` names."""
    if how == "truncate":
        return body[: len(body) // 2]
    if how == "garbage":
        return b"\xff\xfe\x00garbage\x00"
    if how == "invalid-json":
        return body.replace(b"{", b"{,", 1)
    if how == "deep":
        return _deep_line(body, 5000)
    obj = orjson.loads(body)
    if how == "bad-timestamp":
        obj["timestamp"] = "2026-08-20T14:03:11.250+24:00"
    else:
        message = obj.get("message")
        if isinstance(message, dict):
            message["id"] = {"not": "a string"}
        obj["timestamp"] = 1e300
    return dumps(obj)


def event_keys(replays: list[Replay]) -> Counter[tuple[Any, ...]]:
    return Counter(
        (r.game_id, e.name, e.tool_use_id, e.agent_id, e.get("timestamp"))
        for r in replays
        for e in r.events
    )


#: Events that move to a neighbouring line when theirs is lost (the first or last line of an
#: agent, the end of a turn), so their key may change though nothing was lost.
MOVABLE = {
    "SessionStart",
    "SessionEnd",
    "SubagentStart",
    "SubagentStop",
    "Stop",
    "StopFailure",
    "PostToolBatch",
    "ccviz.usage",
}


def assert_rest_survives(
    before: list[Replay], after: list[Replay], broken: bytes, stamp: Any, how: str
) -> None:
    """Every event of ``before`` that did not come from the broken line is in ``after``."""
    assert after, "one broken line cost the whole session"
    if how in UNREADABLE:
        assert sum(r.skipped for r in after) > sum(r.skipped for r in before)
    lost = event_keys(before) - event_keys(after)
    for game_id, name, use_id, agent, when in lost.elements():
        if name in MOVABLE:
            continue
        if isinstance(agent, str) and agent.startswith("side-") and agent[5:].encode() in broken:
            continue  # an old inline subagent is named after its first line: now the next
        if when is not None and when == stamp:
            continue  # emitted from the broken line itself
        if isinstance(use_id, str) and use_id.encode() in broken:
            continue  # a result whose call was on the broken line, or the reverse
        pytest.fail(f"{game_id}: {name} {use_id} at {when} lost with an unrelated line")


@st.composite
def one_broken_line(draw: st.DrawFn, pool: list[Session]) -> tuple[Session, str, int, str]:
    session = draw(st.sampled_from(pool))
    names = session.jsonl()
    rel = draw(st.sampled_from(names))
    count = len(session.lines_of(rel))
    return session, rel, draw(st.integers(0, max(0, count - 1))), draw(st.sampled_from(BREAKS))


def replay_clean(scratch: Path, session: Session, cache: dict[str, list[Replay]]) -> list[Replay]:
    if session.name not in cache:
        folder = fresh(scratch, "clean")
        write_session(folder, dict(session.files))
        cache[session.name] = load_replays(folder / session.main)
    return cache[session.name]


_CLEAN: dict[str, list[Replay]] = {}


def check_broken_line(scratch: Path, case: tuple[Session, str, int, str]) -> None:
    """Break one line of a valid session; everything the other lines gave must remain."""
    session, rel, index, how = case
    before = replay_clean(scratch, session, _CLEAN)
    lines = session.lines_of(rel)
    body = lines[index].rstrip(b"\r\n")
    try:
        stamp = orjson.loads(body).get("timestamp")
    except (orjson.JSONDecodeError, AttributeError):
        stamp = None
    broken = break_line(body, how)
    lines = [*lines[:index], broken + b"\n", *lines[index + 1 :]]
    folder = fresh(scratch, "b")
    try:
        write_session(folder, {**session.files, rel: b"".join(lines)})
        after = replay_like_the_cli(folder / session.main)
        if rel == session.main and not after:
            pytest.fail(f"{session.name}: one broken line of the main file refused the file")
        assert_rest_survives(before, after, body, stamp, how)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@fuzz_settings()
@given(case=one_broken_line(TRANSCRIPT_SESSIONS))
def test_a_broken_line_costs_only_itself(scratch: Path, case) -> None:
    check_broken_line(scratch, case)
