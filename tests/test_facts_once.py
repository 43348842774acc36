"""Each fact is written once (docs/design.md §2, "each fact once").

These are the facts that were once copied between modules or between Python and
TypeScript. Each test searches the shipped sources for the spelling of the fact and fails if
it is defined anywhere but its one home, so a second copy cannot creep back in.
"""

from __future__ import annotations

import re

import pytest
from common import REPO

PY = sorted(p for p in (REPO / "ccviz_kernel").rglob("*.py"))
TS = sorted((REPO / "widgets" / "src").rglob("*.ts"))
#: The 800×500 world as a literal next to a width or height (a 500 ms retry is not it).
WORLD_SIZE = r"(?i)(width|height|_w|_h|\bw|\bh)\b\W{1,4}(800|500)\b|\b800\b"


def where(pattern: str, files: list) -> list[str]:
    regex = re.compile(pattern)
    found = []
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith(("#", "//", "*", "/*")):
                continue  # a comment may name a fact; only code can define one
            if regex.search(line):
                found.append(f"{path.relative_to(REPO)}:{number}")
    return found


def homes(found: list[str]) -> set[str]:
    return {f.rsplit(":", 1)[0] for f in found}


@pytest.mark.parametrize(
    ("fact", "pattern", "files", "home"),
    [
        ("hook event list", r'"PostToolUseFailure",?$', PY, {"ccviz_kernel/claude/hooks.py"}),
        ("spawn tools", r'frozenset\(\{"Agent", "Task"\}\)', PY, {"ccviz_kernel/claude/hooks.py"}),
        ("sync events", r"SYNC_EVENTS\b.*=", PY, {"ccviz_kernel/claude/hooks.py"}),
        ("ISO timestamp parsing", r"fromisoformat\(", PY, {"ccviz_kernel/claude/timestamps.py"}),
        ("token file name", r'= "token"', PY, {"ccviz_kernel/config.py"}),
        ("runtime file name", r'"runtime\.json"', PY, {"ccviz_kernel/config.py"}),
        ("spool file name", r'"spool\.jsonl"', PY, {"ccviz_kernel/config.py"}),
        ("viewer token variable", r'"CCVIZ_VIEWER_TOKEN"', PY, {"ccviz_kernel/config.py"}),
        ("ingest token variable", r'= "CCVIZ_TOKEN"', PY, {"ccviz_kernel/config.py"}),
        ("default port", r"= 8765\b|default=8765", PY, {"ccviz_kernel/config.py"}),
        ("payload limit", r"MAX_PAYLOAD_BYTES = ", PY, {"ccviz_kernel/config.py"}),
        ("atomic replace", r"os\.replace\(", PY, {"ccviz_kernel/runtime.py"}),
        ("token generation", r"token_urlsafe\(", PY, {"ccviz_kernel/runtime.py"}),
        ("place labels (Python)", r'"Town Square"', PY, set()),
        ("place labels (TypeScript)", r'"Town Square"', TS, set()),
        ("world size (TypeScript)", WORLD_SIZE, TS, set()),
        ("replay speeds (TypeScript)", r"\[0\.5, 1, 2", TS, set()),
        ("replay speeds (Python)", r"SPEEDS = \(", PY, set()),
    ],
)
def test_defined_once(fact, pattern, files, home):
    found = where(pattern, files)
    assert homes(found) <= home, f"{fact} is also written in: {found}"


def test_the_town_lives_in_town_json():
    town = (REPO / "ccviz_kernel" / "engine" / "town.json").read_text()
    assert '"Town Square"' in town and '"width": 800' in town
    facts = (REPO / "widgets" / "src" / "town" / "facts.ts").read_text()
    assert "engine/town.json" in facts  # the JS build imports the Python package's file


def test_one_mirror_in_js():
    """The re-join logic (``since``) lives in mirror.ts only; the JS client test runs it."""
    joins = homes(where(r'"join-game"', TS))
    assert joins == {"widgets/src/socket.ts"}, joins  # the transport sends it, for the mirror
    rejoins = homes(where(r"this\.join\(", TS))  # deciding to (re-)join: the mirror only
    assert rejoins <= {"widgets/src/mirror.ts"}, rejoins
    client = (REPO / "tests" / "js" / "client.mjs").read_text()
    assert "src/mirror.ts" in client and "applyDeltas" not in client
