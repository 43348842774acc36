"""Every public name of the API has a docstring, and the examples in them run.

"Public" is what a user reaches: each name in ``ccviz_kernel.__all__``, and each public
class and function of the modules below (their ``__all__`` when they have one), with every
public method and property a class defines itself. A docstring that Python or dataclasses
made up (``Applied(seq, deltas, effects, reset)``) does not count. The API reference
(tests/test_api_reference.py) is built from the same docstrings.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import re
from collections.abc import Iterator

import pytest

import ccviz_kernel

#: The modules whose public members make up the API (handles, connection, backends, hub, the
#: widget, the game, the store, events and errors).
API_MODULES = (
    "ccviz_kernel.notebook",
    "ccviz_kernel.notebook.handles",
    "ccviz_kernel.notebook.connect",
    "ccviz_kernel.notebook.backends",
    "ccviz_kernel.notebook.widget",
    "ccviz_kernel.hub",
    "ccviz_kernel.engine.game",
    "ccviz_kernel.engine.deltas",
    "ccviz_kernel.store",
    "ccviz_kernel.events",
    "ccviz_kernel.errors",
)
#: Modules whose docstring examples are doctests: each must have some, and they must pass.
DOCTESTED = (
    "ccviz_kernel.engine.game",
    "ccviz_kernel.store",
    "ccviz_kernel.events",
    "ccviz_kernel.errors",
)


def _own_doc(obj: object) -> str:
    """The docstring ``obj`` has itself: not one made up from its signature."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    doc = (doc or "").strip()
    if inspect.isclass(obj) and re.fullmatch(rf"{re.escape(obj.__name__)}\(.*\)", doc, re.S):
        return ""  # namedtuple's and dataclass's generated "Name(field, ...)"
    return doc


def _public_objects(module_name: str) -> Iterator[tuple[str, object]]:
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and (inspect.isclass(value) or inspect.isfunction(value))
            and getattr(value, "__module__", None) == module_name
        ]
    for name in names:
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            yield f"{value.__module__}.{value.__qualname__}", value


def _members(cls: type) -> Iterator[tuple[str, object]]:
    """The public methods and properties ``cls`` defines itself (not inherited ones)."""
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if isinstance(value, property):
            yield name, value.fget
        elif inspect.isfunction(value):
            yield name, value


def _api() -> dict[str, object]:
    """Qualified name → object of every public class, function, method and property."""
    found: dict[str, object] = {}
    for name in ccviz_kernel.__all__:
        value = getattr(ccviz_kernel, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            found[f"{value.__module__}.{value.__qualname__}"] = value
    for module_name in API_MODULES:
        found.update(_public_objects(module_name))
    for qualname, value in list(found.items()):
        if inspect.isclass(value) and value.__module__.startswith("ccviz_kernel"):
            for name, member in _members(value):
                found[f"{qualname}.{name}"] = member
    return found


def test_the_api_is_found():
    api = _api()
    for name in (
        "ccviz_kernel.notebook.handles.GameHandle.say",
        "ccviz_kernel.notebook.handles.ReplayController.seek",
        "ccviz_kernel.notebook.connect.Connection.game",
        "ccviz_kernel.notebook.widget.GameView.play",
        "ccviz_kernel.engine.game.Game.apply",
        "ccviz_kernel.store.EventStore.append",
        "ccviz_kernel.events.HookEvent.get",
        "ccviz_kernel.events.parse_event",
        "ccviz_kernel.hub.Hub.ingest",
    ):
        assert name in api, name
    assert not any(".__" in name.rsplit(".", 1)[-1] for name in api)


@pytest.mark.parametrize("module", sorted({m for m in (*API_MODULES, "ccviz_kernel")}))
def test_every_public_member_has_a_docstring(module):
    api = _api()
    names = [q for q, v in api.items() if (getattr(v, "__module__", "") or "") == module]
    assert names or module in ("ccviz_kernel", "ccviz_kernel.notebook"), module
    missing = sorted(q for q in names if not _own_doc(api[q]))
    assert not missing, f"{len(missing)} public member(s) without a docstring: {missing}"


def test_every_exported_name_has_a_docstring():
    missing = [n for n in ccviz_kernel.__all__ if n != "__version__"]
    missing = [n for n in missing if not _own_doc(getattr(ccviz_kernel, n))]
    assert not missing, missing


def test_the_package_docstring_lists_the_api_with_an_example():
    doc = ccviz_kernel.__doc__ or ""
    assert "import ccviz_kernel as ccviz" in doc and "connect()" in doc
    for name in set(ccviz_kernel.__all__) - {"__version__"}:
        assert name in doc, name


@pytest.mark.parametrize("module_name", DOCTESTED)
def test_docstring_examples_run(module_name):
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = [t for t in finder.find(module) if t.examples]
    assert tests, f"{module_name} has no docstring examples"
    for test in tests:
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} example(s) failed in {module_name}"


@pytest.mark.parametrize("module_name", DOCTESTED)
def test_every_public_class_and_function_shows_an_example(module_name):
    without = [
        qualname
        for qualname, value in _public_objects(module_name)
        if (inspect.isfunction(value) or not issubclass(value, BaseException))
        and ">>>" not in _own_doc(value)
    ]
    assert not without, without
