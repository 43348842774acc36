"""Fuzz the settings merge of ``install-hooks`` / ``uninstall-hooks`` (issue 11, point 5).

Every input is a random Claude Code settings file, written as JSON *text* so that it can hold
what Python's own ``json.dumps`` never writes but Claude Code parses (``1e400``, ``-0``,
``1.50``, 300-digit integers, escaped lone surrogates, duplicate keys), full of other tools'
handlers that look like ours (``uvx ccviz hook``, a loopback ``…/api/hooks`` URL with other
headers, a command ending in ``ccviz hook`` with an extra key…) and of empty containers.
Sometimes the file is odd on purpose (too deep, a number too long, ``"hooks": null``…).

The properties, for each input and a random pair of install modes, with the file either a
project file (the hook token then goes to the user settings) or the user settings itself:

- install, install again (idempotent: the same text, "already installed"), install in the
  other mode, uninstall: the file means what it meant before, equal as parsed JSON with
  types, key order and exact numbers (``Decimal``), and every text written on the way is
  JSON that Claude Code can parse (no ``Infinity``/``NaN``);
- or a :class:`~ccviz_kernel.errors.SettingsError` naming the file, with the file unchanged;
  never another exception.

``make test`` runs :data:`~tests.fuzz.support.EXAMPLES` (300) inputs, ``make fuzz`` 10,000.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccviz_kernel.claude import settings as claude_settings
from ccviz_kernel.errors import SettingsError
from tests.fuzz.support import fuzz_settings

# -- JSON text with the numbers kept as written ---------------------------------------------


@dataclass(frozen=True)
class Num:
    """A number as JSON text writes it (``1e400`` stays ``1e400``)."""

    text: str


@dataclass(frozen=True)
class Obj:
    """A JSON object as written: its pairs in order, duplicate keys allowed."""

    pairs: tuple[tuple[str, Any], ...]


def to_text(node: Any, indent: int | None, ascii_only: bool, level: int = 0) -> str:
    """JSON text for a node of :class:`Num`, :class:`Obj`, lists, strings, bools and None."""
    pad = "" if indent is None else "\n" + " " * (indent * (level + 1))
    end = "" if indent is None else "\n" + " " * (indent * level)
    if isinstance(node, Num):
        return node.text
    if node is None or isinstance(node, bool):
        return json.dumps(node)
    if isinstance(node, str):
        # a lone surrogate can only be written escaped (it has no UTF-8 form)
        surrogate = any(0xD800 <= ord(c) <= 0xDFFF for c in node)
        return json.dumps(node, ensure_ascii=ascii_only or surrogate)
    if isinstance(node, list):
        if not node:
            return "[]"
        items = [to_text(v, indent, ascii_only, level + 1) for v in node]
        return "[" + ",".join(pad + i for i in items) + end + "]"
    assert isinstance(node, Obj)
    if not node.pairs:
        return "{}"
    items = [
        to_text(k, indent, ascii_only) + ": " + to_text(v, indent, ascii_only, level + 1)
        for k, v in node.pairs
    ]
    return "{" + ",".join(pad + i for i in items) + end + "}"


def to_python(node: Any) -> Any:
    """The value Python's ``json.loads`` would give (last duplicate key wins)."""
    if isinstance(node, Num):
        return json.loads(node.text, parse_float=Decimal, parse_int=Decimal)
    if isinstance(node, list):
        return [to_python(v) for v in node]
    if isinstance(node, Obj):
        return {k: to_python(v) for k, v in node.pairs}
    return node


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (Claude Code cannot parse it)")


def meaning(text: str, strict: bool = True) -> Any:
    """What a file means to a strict JSON reader like Claude Code's: types, key order, exact
    numbers (``1e400`` is a number, not ``Infinity``); ``true`` is not ``1``. Not ``strict``:
    ``Infinity`` and ``NaN`` are read too (as themselves), to compare the rest."""
    value = json.loads(
        text.removeprefix("\ufeff"),
        parse_float=Decimal,
        parse_int=Decimal,
        parse_constant=_no_constants if strict else lambda name: ("constant", name),
    )
    return tagged(value)


def tagged(value: Any) -> Any:
    if isinstance(value, dict):
        return ("object", [(k, tagged(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("array", [tagged(v) for v in value])
    if isinstance(value, Decimal):
        return ("number", value)
    return (type(value).__name__, value)


def handlers(tagged_settings: Any) -> list[Any]:
    """Every handler of a tagged settings value, in order (what other tools own)."""
    found: list[Any] = []
    top = dict(tagged_settings[1]) if tagged_settings[0] == "object" else {}
    hooks = top.get("hooks")
    if not hooks or hooks[0] != "object":
        return found
    for _, groups in hooks[1]:
        for group in groups[1] if groups[0] == "array" else []:
            inner = dict(group[1]).get("hooks") if group[0] == "object" else None
            if inner and inner[0] == "array":
                found += inner[1]
    return found


# -- strategies -------------------------------------------------------------------------------

NUMBER_TEXTS = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(
        [
            "1e400", "-1e400", "1E400", "1e+400", "2.5e-400", "-0", "-0.0", "0.10", "1.0",
            "1E2", "100e-2", "9007199254740993", "1" + "0" * 300, "123456789.123456789e300",
            "10", "2", "5e-324",
        ]
    ),
    st.from_regex(r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,4})?", fullmatch=True),
)  # fmt: skip
NUMBERS = NUMBER_TEXTS.map(Num)
WORDS = st.text(st.characters(codec="utf-8"), max_size=12)
TEXT = st.one_of(
    WORDS,
    WORDS,
    WORDS,
    st.sampled_from(["", "ccviz hook", "café ✓", "\u2028", "$CCVIZ_HOOK_TOKEN"]),
)
KEYS = TEXT.filter(lambda k: k != "CCVIZ_HOOK_TOKEN")  # that env variable is ccviz's
LEAVES = st.none() | st.booleans() | NUMBERS | TEXT


def objects(values: st.SearchStrategy[Any], max_size: int = 4) -> st.SearchStrategy[Obj]:
    return st.lists(st.tuples(KEYS, values), max_size=max_size).map(lambda p: Obj(tuple(p)))


JSON = st.recursive(
    LEAVES, lambda inner: st.lists(inner, max_size=4) | objects(inner), max_leaves=12
)

#: Programs other tools (or a user) run, many ending in ``ccviz hook`` like ours did.
PROGRAMS = [
    "ccviz", "/opt/venv/bin/ccviz", "uvx ccviz", "'/path with space/ccviz'", "npx ccviz",
    "/usr/bin/python3 -m ccviz_kernel.cli", "python -m ccviz_kernel.cli", "/opt/ccviz-helper",
    "~/bin/ccviz", "/bin/echo", "logger",
]  # fmt: skip
COMMAND_TAILS = ["", " ", "  # mine", " --verbose", " # ccviz install-hooks-not", " # ccviz"]
URLS = [
    "http://127.0.0.1:8765/api/hooks", "http://localhost:8888/ccviz/api/hooks",
    "http://[::1]:9/api/hooks", "https://hooks.example.com/api/hooks",
    "http://127.0.0.1:8765/other", "http://127.0.0.1:8765/api/hooks?tool=mine", "not a url",
]  # fmt: skip
OUR_HEADERS = Obj((("Authorization", "Bearer $CCVIZ_HOOK_TOKEN"),))
OUR_ENV_VARS = ["CCVIZ_HOOK_TOKEN"]


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, each ``weight`` times as likely (repeating a strategy in
    ``one_of`` does not weigh it: hypothesis merges equal branches)."""
    table = [s for weight, s in choices for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(lambda i: table[i])


def _maybe(key: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple]:
    return st.one_of(st.just(()), values.map(lambda v: ((key, v),)))


def _handler(kind: str, first: tuple, *optional: st.SearchStrategy[tuple]) -> Any:
    return st.tuples(*optional, st.lists(st.tuples(KEYS, LEAVES), max_size=1)).map(
        lambda parts: Obj(
            (("type", kind), first, *(p for part in parts[:-1] for p in part), *parts[-1])
        )
    )


COMMAND_HANDLERS = st.builds(
    lambda program, tail: f"{program} hook{tail}",
    st.sampled_from(PROGRAMS),
    st.sampled_from(COMMAND_TAILS),
).flatmap(
    lambda command: _handler(
        "command",
        ("command", command),
        _maybe("async", st.booleans() | NUMBERS),
        _maybe("timeout", st.sampled_from(["10", "10.0", "1e400", "5"]).map(Num) | NUMBERS),
        _maybe("statusMessage", TEXT),
    )
)
HTTP_HANDLERS = st.sampled_from(URLS).flatmap(
    lambda url: _handler(
        "http",
        ("url", url),
        _maybe("timeout", st.sampled_from(["2", "2.0", "1e400"]).map(Num)),
        _maybe("headers", st.just(OUR_HEADERS) | objects(TEXT, 2)),
        _maybe("allowedEnvVars", st.just(OUR_ENV_VARS) | st.lists(TEXT, max_size=2)),
    )
)
OTHER_HANDLERS = st.one_of(
    st.builds(lambda p: Obj((("type", "prompt"), ("prompt", p))), TEXT | st.just("ccviz hook")),
    objects(LEAVES),
    LEAVES,
)


def legacy(handler: Any) -> bool:
    """What the released ccviz (before markers) wrote, exactly: an upgrade removes these.

    Written out here independently of the code under test, so the two can disagree.
    """
    if not isinstance(handler, Obj):
        return False
    pairs = dict(handler.pairs)
    if len(pairs) != len(handler.pairs):
        return False
    if pairs.get("type") == "command" and set(pairs) == {"type", "command", "async", "timeout"}:
        command = pairs["command"]
        if not (isinstance(pairs["async"], bool) and pairs["timeout"] == Num("10")):
            return False
        try:
            words = shlex.split(command)
        except ValueError:
            return False
        if len(words) == 2 and words[1] == "hook" and os.path.isabs(words[0]):
            return (
                os.path.basename(words[0]) == "ccviz" and command == shlex.quote(words[0]) + " hook"
            )
        if len(words) == 4 and words[1:] == ["-m", "ccviz_kernel.cli", "hook"]:
            return (
                os.path.isabs(words[0])
                and command == shlex.quote(words[0]) + " -m ccviz_kernel.cli hook"
            )
        return False
    if pairs.get("type") == "http" and set(pairs) == {
        "type",
        "url",
        "timeout",
        "headers",
        "allowedEnvVars",
    }:
        url = urlsplit(pairs["url"])
        return (
            pairs["timeout"] == Num("2")
            and pairs["headers"] == OUR_HEADERS
            and pairs["allowedEnvVars"] == OUR_ENV_VARS
            and url.scheme in ("http", "https")
            and url.path.endswith("/api/hooks")
            and not url.query
            and not url.fragment
        )
    return False  # fmt: skip


HANDLERS = weighted((1, OTHER_HANDLERS), (3, COMMAND_HANDLERS), (2, HTTP_HANDLERS)).filter(
    lambda h: not legacy(h)
)
GROUP = st.tuples(
    _maybe("matcher", st.sampled_from(["", "*", "Bash", "Edit|Write"]) | TEXT),
    weighted(
        (1, _maybe("hooks", st.lists(HANDLERS, max_size=3) | LEAVES)),
        (4, st.lists(HANDLERS, min_size=1, max_size=3).map(lambda h: (("hooks", h),))),
    ),
    st.lists(st.tuples(KEYS, LEAVES), max_size=1),
).map(lambda p: Obj((*p[0], *p[1], *p[2])))
GROUPS = weighted((1, LEAVES), (5, GROUP))
EVENT_NAMES = st.sampled_from(
    ["Stop", "SessionStart", "PreToolUse", "PostToolUse", "PostToolBatch", "UserPromptSubmit",
     "Notification", "MessageDisplay", "WorktreeCreate", "FileChanged", "NoSuchEvent"]
) | KEYS  # fmt: skip
HOOKS = objects(st.lists(GROUPS, max_size=3) | st.just([]), max_size=5)
ENV = objects(TEXT, 3) | st.just(Obj(()))


@st.composite
def settings_files(draw: st.DrawFn) -> tuple[Obj, str]:
    """A settings object and its JSON text: realistic keys, others' hooks, random extras."""
    pairs: list[tuple[str, Any]] = []
    if draw(st.booleans()):
        pairs.append(("$schema", "https://json.schemastore.org/claude-code-settings.json"))
    if draw(st.booleans()):
        pairs.append(("env", draw(ENV)))
    if draw(st.integers(1, 4)) != 2:
        groups = st.lists(GROUPS, min_size=1, max_size=3)
        events = draw(st.lists(st.tuples(EVENT_NAMES, groups), min_size=1, max_size=6))
        if draw(st.integers(1, 5)) == 3:  # an event that was already an empty list
            events.append((draw(EVENT_NAMES), []))
        pairs.append(("hooks", Obj(tuple(events))))
    elif draw(st.integers(1, 10)) == 5:
        pairs.append(("hooks", Obj(())))
    pairs += draw(st.lists(st.tuples(KEYS, JSON), max_size=4))
    if draw(st.integers(1, 10)) == 5:
        pairs.append(("lone surrogate \ud800", "\udfff"))  # valid JSON text, escaped
    pairs.append(("cleanupPeriodDays", draw(NUMBERS)))
    order = draw(st.permutations(pairs))
    node = Obj(tuple(order))
    indent = draw(st.sampled_from([None, 2, 4]))
    return node, to_text(node, indent, draw(st.booleans())) + draw(st.sampled_from(["", "\n"]))


#: Files no merge should take: each must give a SettingsError and stay as it was.
ODD_FILES = st.one_of(
    st.integers(101, 3000).map(lambda d: '{"a": ' + "[" * d + "]" * d + "}"),
    st.integers(1001, 6000).map(lambda n: '{"cleanupPeriodDays": ' + "9" * n + "}"),
    st.sampled_from(
        [
            '{"hooks": null}', '{"hooks": []}', '{"hooks": {"Stop": {}}}',
            '{"hooks": {"Stop": null}}',
            '{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}', "[]", "null", '"text"', "{",
            '{"env": null, "hooks": {}}', "\ufeff{\"a\": 1", '{"a": "\x01"}',
        ]
    ),
)  # fmt: skip

MODES = st.sampled_from(["lean", "per-call", "command"])


def _install(path: str, mode: str) -> str:
    out = io.StringIO()
    claude_settings.install(
        path, http=mode != "command", per_call=mode == "per-call", dry_run=False, out=out
    )
    return out.getvalue()


def _uninstall(path: str) -> str:
    out = io.StringIO()
    claude_settings.uninstall(path, out=out)
    return out.getvalue()


def _state(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def check(text: str, first: str, second: str, user_file: bool, root: Path) -> str | None:
    """One input through install ×3 and uninstall; ``None`` if every property held, else what
    went wrong (a sentence; the fuzz test fails with it, the counting script counts it)."""
    config = root / "claude-config"
    config.mkdir()
    os.environ["CLAUDE_CONFIG_DIR"] = str(config)
    path = config / "settings.json" if user_file else root / "proj" / ".claude" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    before = _state(root)
    try:
        original = meaning(text)
    except (ValueError, RecursionError):
        original = None  # not strict JSON: the merge must refuse it
    try:
        _install(str(path), first)
    except SettingsError as exc:
        message = str(exc)
        if str(path) not in message or "\n" in message.strip():
            return f"unclear SettingsError: {message!r}"
        if _state(root) != before:
            return f"a refused file was changed or files were written: {message}"
        return None
    except Exception as exc:  # noqa: BLE001 - the property: nothing else escapes
        return f"install raised {type(exc).__name__}: {exc}"
    if original is None:
        return "install took a file that is not strict JSON"
    steps = []
    try:
        installed = path.read_text()
        steps.append(("install", installed))
        out = _install(str(path), first)
        again = path.read_text()
        if again != installed or "already installed" not in out:
            return "install is not idempotent"
        _install(str(path), second)
        steps.append((f"install {second}", path.read_text()))
        _uninstall(str(path))
        final = path.read_text()
        steps.append(("uninstall", final))
    except SettingsError as exc:
        return f"SettingsError after a successful install: {exc}"
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"
    problems = []
    for step, written in steps:
        try:
            meaning(written)
        except ValueError as exc:
            problems.append(f"after {step} the file is not JSON Claude Code can parse: {exc}")
            break
    if handlers(meaning(final, strict=False)) != handlers(original):
        problems.append("install then uninstall lost or changed a handler it did not write")
    if meaning(final, strict=False) != original:
        problems.append("install then uninstall did not give back the original")
    return "; ".join(problems) or None


@given(data=settings_files(), first=MODES, second=MODES, user_file=st.booleans())
@fuzz_settings()
def test_install_and_uninstall_give_back_what_is_not_ours(data, first, second, user_file):
    with tempfile.TemporaryDirectory() as folder:
        problem = check(data[1], first, second, user_file, Path(folder))
    assert problem is None, problem


@given(text=ODD_FILES, first=MODES, user_file=st.booleans())
@fuzz_settings()
def test_odd_files_get_a_clear_error_and_lose_nothing(text, first, user_file):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        config = root / "claude-config"
        config.mkdir()
        os.environ["CLAUDE_CONFIG_DIR"] = str(config)
        path = config / "settings.json" if user_file else root / "settings.json"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        before = _state(root)
        with pytest.raises(SettingsError) as refused:
            _install(str(path), first)
        message = str(refused.value)
        assert str(path) in message and "\n" not in message, message
        assert "nothing changed" in message or "fix it first" in message, message
        assert _state(root) == before
        try:  # uninstall finds nothing of ours in some (a wrong "hooks.Stop"): fine too
            _uninstall(str(path))
        except SettingsError as exc:
            assert str(path) in str(exc) and "\n" not in str(exc)
        assert _state(root) == before


@pytest.fixture(autouse=True)
def _homes(tmp_path, monkeypatch):
    """A HOME and a Claude config folder of the test's own (each input gets a fresh one)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude-config"))
    monkeypatch.delenv("CCVIZ_HOOK_TOKEN", raising=False)
