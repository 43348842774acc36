"""The package's import graph: no circles, and no import from a lower layer to a higher one.

The layers are the data flow of docs/design.md §2 (events → engine → store → hub → server →
hosts → views). Every import counts, also the ones inside functions and under
``TYPE_CHECKING``: a lazy import is still a dependency, only a cheaper one.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ccviz_kernel"

#: Low to high. A module may import its own layer and the layers before it.
LAYERS: list[set[str]] = [
    {"_version", "config", "errors", "samples"},
    {"runtime", "redact", "untrusted"},
    {"claude"},
    {"events"},
    {"engine"},
    {"arguments"},
    {"store", "redis_store", "_store_common"},
    {"replays"},
    {"hub"},
    {"server"},
    {"hosts"},
    {"notebook"},
    {"cli"},
]
LAYER_OF = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = ("ccviz_kernel", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py") if "static" not in p.parts}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The ccviz_kernel modules ``name`` imports (a name imported from a package is the
    submodule when there is one, else the package)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("ccviz_kernel"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("ccviz_kernel"):
                target = node.module
            else:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return {m for m in found if m != name}


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports(name, path, known) & known for name, path in mods.items()}


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYER_OF.get(parts[1]) if len(parts) > 1 else None


def test_every_module_has_a_layer():
    missing = sorted(m for m in graph() if m != "ccviz_kernel" and layer(m) is None)
    assert not missing, f"modules in no layer (add them to LAYERS and docs/design.md): {missing}"


def test_no_import_from_a_lower_layer_to_a_higher_one():
    wrong = []
    for module, targets in sorted(graph().items()):
        own = layer(module)
        if own is None:  # the package root re-exports the public API lazily
            continue
        for target in sorted(targets):
            theirs = layer(target)
            if theirs is None or theirs > own:
                wrong.append(f"{module} (layer {own}) imports {target} (layer {theirs})")
    assert not wrong, "imports against the data flow:\n" + "\n".join(wrong)


def test_no_import_circles():
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                group.append(item)
                if item == node:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    assert not circles, f"import circles: {circles}"


def test_the_graph_is_real():
    """Guard against a checker that silently sees nothing."""
    edges = graph()
    assert "ccviz_kernel.engine.deltas" in edges["ccviz_kernel.engine.game"]
    assert "ccviz_kernel.hub" in edges["ccviz_kernel.server.core"]
    assert len(edges) > 40
