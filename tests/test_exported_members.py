"""The public API of ``ccviz_kernel``: ``__all__``, the lazy map and the type-checking
imports name the same things, from the same modules, and every one of them resolves."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import ccviz_kernel

INIT = Path(ccviz_kernel.__file__)


def _type_checking_imports() -> dict[str, str]:
    """name → module (relative to the package) of the imports under ``if TYPE_CHECKING:``."""
    tree = ast.parse(INIT.read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for item in node.body:
                assert isinstance(item, ast.ImportFrom) and item.level == 1
                for alias in item.names:
                    found[alias.asname or alias.name] = item.module or ""
    return found


def test_all_lazy_map_and_type_checking_imports_agree():
    lazy = {k: v for k, v in ccviz_kernel._LAZY.items() if not k.startswith("_")}
    typed = _type_checking_imports()
    public = set(ccviz_kernel.__all__) - {"__version__"}
    assert set(lazy) == public, set(lazy) ^ public
    assert set(typed) == public, set(typed) ^ public
    assert lazy == typed, {k: (lazy[k], typed[k]) for k in lazy if lazy[k] != typed[k]}


def test_every_exported_name_resolves():
    for name in ccviz_kernel.__all__:
        assert getattr(ccviz_kernel, name) is not None, name
    for name, module in ccviz_kernel._LAZY.items():
        target = importlib.import_module(f"ccviz_kernel.{module}")
        assert getattr(ccviz_kernel, name) is getattr(target, name), name


def test_unknown_names_raise_attribute_error():
    try:
        ccviz_kernel.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_dir_is_the_public_api():
    names = dir(ccviz_kernel)
    assert set(ccviz_kernel.__all__) <= set(names)
    extra = {n for n in names if not (n.startswith("__") and n.endswith("__"))}
    assert extra == set(ccviz_kernel.__all__) - {"__version__"}, extra
    assert "TYPE_CHECKING" not in names and "annotations" not in names
    assert names == sorted(names)


def test_help_shows_the_api_and_an_example():
    import pydoc
    import warnings

    with warnings.catch_warnings():  # ipywidgets' own deprecated class attributes (GameView's base)
        warnings.simplefilter("ignore", DeprecationWarning)
        text = pydoc.render_doc(ccviz_kernel, renderer=pydoc.plaintext)
    assert "import ccviz_kernel as ccviz" in text and "conn = ccviz.connect()" in text
    for name in set(ccviz_kernel.__all__) - {"__version__"}:
        assert name in text, name
    assert "TYPE_CHECKING" not in text
    assert len(text.splitlines()) > 50


def test_importing_the_package_loads_nothing_else():
    import subprocess
    import sys

    code = "import sys, ccviz_kernel; print(sorted(m for m in sys.modules if 'ccviz' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["['ccviz_kernel',", "'ccviz_kernel._version']"], out.stdout
