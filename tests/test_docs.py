"""The documents in docs/ describe the tree that exists, and nothing cites one outside the repo.

The layout is the first fenced block of the section "## 2. Layout" of docs/design.md, one
entry a line: ``<name>  <its job>``, nested by indentation (spaces only). A name ending in
``/`` is a folder; a name holding ``*`` is a glob over the files of its folder (``_*.py``
covers private modules) and may match nothing; an entry whose job starts with "generated"
is made by the build and need not exist. A package's ``__init__.py`` is implied.

Standard library and pytest only, so it runs first and fast.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DESIGN = DOCS / "design.md"
PACKAGE = "ccviz_kernel"
#: Folders that hold no code of ours: generated, installed or caches.
NOT_CODE = frozenset({"static", "node_modules", "__pycache__"})
#: Where a citation of a document outside the repository must not appear.
CITING = ("README.md", "ccviz_kernel", "widgets/src", "tests", "bench", "tools")
#: Citations of documents that live outside the repository (the starting material).
OUTSIDE = re.compile(r"\.\./shared/|/work/shared|DESIGN\.md|claude-code-hooks\.md|DESIGN §")
LAYOUT_HEADING = re.compile(r"##\s+2\.\s+Layout\b")
LINK = re.compile(r"\]\(([^)\s#]*)(?:#[^)\s]*)?\)")


@dataclass(frozen=True)
class Entry:
    """One line of the layout: a repo-relative path (folders end in ``/``)."""

    path: str
    line: int
    generated: bool

    @property
    def is_dir(self) -> bool:
        return self.path.endswith("/")

    @property
    def is_glob(self) -> bool:
        return "*" in self.path


def layout_block(text: str) -> list[tuple[int, str]]:
    """``(line number, line)`` for each line of the layout's fenced block."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if LAYOUT_HEADING.match(line)), None)
    assert start is not None, "docs/design.md has no '## 2. Layout' section"
    block: list[tuple[int, str]] = []
    inside = False
    for index in range(start + 1, len(lines)):
        line = lines[index]
        if not inside and line.startswith("## "):
            break
        if line.startswith("```"):
            if inside:
                return block
            inside = True
            continue
        if inside:
            block.append((index + 1, line))
    raise AssertionError("docs/design.md §2 has no complete fenced block with the layout")


def layout_entries(text: str) -> list[Entry]:
    entries: list[Entry] = []
    stack: list[tuple[int, Entry]] = []
    for number, raw in layout_block(text):
        if not raw.strip():
            continue
        assert "\t" not in raw, f"docs/design.md line {number}: indent the layout with spaces"
        indent = len(raw) - len(raw.lstrip(" "))
        name, _, job = raw.strip().partition(" ")
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1] if stack else None
        assert parent is None or parent.is_dir, (
            f"docs/design.md line {number}: {name!r} is indented under the file {parent.path!r}"
        )
        path = (parent.path if parent else "") + name
        entry = Entry(path, number, generated=job.strip().startswith("generated"))
        entries.append(entry)
        stack.append((indent, entry))
    assert entries, "docs/design.md §2: the layout block is empty"
    return entries


def missing(entries: list[Entry]) -> list[str]:
    """Entries naming a file or folder that is not there."""
    out = []
    for entry in entries:
        if entry.is_glob or entry.generated:
            continue
        where = ROOT / entry.path.rstrip("/")
        if not (where.is_dir() if entry.is_dir else where.is_file()):
            kind = "folder" if entry.is_dir else "file"
            out.append(f"line {entry.line}: {entry.path} (no such {kind})")
    return out


def unnamed(entries: list[Entry]) -> list[str]:
    """Packages and modules under ccviz_kernel/ that the layout does not name."""
    folders = {e.path.rstrip("/") for e in entries if e.is_dir}
    files = {e.path for e in entries if not e.is_dir and not e.is_glob}
    globs = [e.path for e in entries if e.is_glob]

    def covered(path: str) -> bool:
        folder, name = posixpath.split(path)
        return any(
            posixpath.dirname(glob) == folder and fnmatchcase(name, posixpath.basename(glob))
            for glob in globs
        )

    out = []
    for folder, dirs, names in os.walk(ROOT / PACKAGE):
        dirs[:] = sorted(d for d in dirs if d not in NOT_CODE and not d.startswith("."))
        rel = Path(folder).relative_to(ROOT).as_posix()
        modules = sorted(n for n in names if n.endswith(".py"))
        if not modules:  # data only (samples), or nothing
            continue
        if rel != PACKAGE and rel not in folders:
            out.append(f"{rel}/ (a package)")
        for name in modules:
            path = f"{rel}/{name}"
            if name != "__init__.py" and path not in files and not covered(path):
                out.append(path)
    return out


def citing_files() -> list[Path]:
    found = []
    for top in CITING:
        start = ROOT / top
        if start.is_file():
            found.append(start)
            continue
        for folder, dirs, names in os.walk(start):
            dirs[:] = sorted(d for d in dirs if d not in NOT_CODE and not d.startswith("."))
            found.extend(Path(folder) / name for name in sorted(names))
    return [path for path in found if path.resolve() != Path(__file__).resolve()]


def outside_citations() -> list[str]:
    out = []
    for path in citing_files():
        data = path.read_bytes()
        if b"\0" in data:  # binary (images, databases)
            continue
        text = data.decode("utf-8", errors="replace")
        if not OUTSIDE.search(text):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                rel = path.relative_to(ROOT).as_posix()
                out.append(f"{rel}:{number}: {line.strip()[:120]}")
    return out


def test_layout_names_only_what_exists():
    problems = missing(layout_entries(DESIGN.read_text(encoding="utf-8")))
    assert not problems, "docs/design.md §2 names what is not in the tree:\n  " + "\n  ".join(
        problems
    )


def test_layout_names_every_package_and_module():
    problems = unnamed(layout_entries(DESIGN.read_text(encoding="utf-8")))
    assert not problems, (
        "not named in docs/design.md §2 (add a line saying its one job, "
        "or a `_*.py` line for private modules):\n  " + "\n  ".join(problems)
    )


def test_nothing_cites_a_document_outside_the_repo():
    problems = outside_citations()
    assert not problems, (
        "cite docs/design.md §N, docs/protocol.md or docs/claude-code.md §N instead of:\n  "
        + "\n  ".join(problems)
    )


def test_links_between_documents_resolve():
    problems = []
    for doc in sorted(DOCS.glob("*.md")):
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            for target in LINK.findall(line):
                if not target or "://" in target or target.startswith("mailto:"):
                    continue
                if not (doc.parent / target).exists():
                    problems.append(f"docs/{doc.name}:{number}: {target}")
    assert not problems, "links to nothing:\n  " + "\n  ".join(problems)


def test_the_layout_parses():
    entries = layout_entries(DESIGN.read_text(encoding="utf-8"))
    paths = {entry.path for entry in entries}
    assert {f"{PACKAGE}/", f"{PACKAGE}/__init__.py", "widgets/"} <= paths
    assert len(paths) == len(entries), "a path is named twice in docs/design.md §2"
