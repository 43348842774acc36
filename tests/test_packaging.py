"""What a wheel and an sdist built from this checkout carry (issue 12, finding 1).

Built with the real backend (hatchling and hatch-jupyter-builder, from the test extra, so
no network), once per module, in about 2 s: the bundle is already built, so the builder
hook skips npm. Written to fail on what was shipped before: a distribution named ``ccviz``
(another project's name on the package index), no LICENSE file in either archive, no
``py.typed``, no classifiers, and a ``[jupyter]`` extra that could not start JupyterLab.

The slow end-to-end check (a fresh virtualenv with no Node: the wheel installs, ``ccviz
demo`` serves, ``jupyter lab`` loads the extension, the widget renders in Chromium) is
``tools/check_wheel.py`` (``make check-wheel``), not part of ``make test``.
"""

from __future__ import annotations

import email
import email.message
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from common import REPO

from ccviz_kernel._version import __version__

pytest.importorskip("hatchling", reason="hatchling is not installed (pip install -e '.[test]')")
pytest.importorskip("hatch_jupyter_builder", reason="hatch-jupyter-builder is not installed")

DIST = "ccviz-kernel"
STEM = f"ccviz_kernel-{__version__}"
PACKAGE = REPO / "ccviz_kernel"
BUNDLE = ("ccviz_kernel/static/widget.js", "ccviz_kernel/static/page.js")

BUILD = """
import sys
from hatchling.build import build_sdist, build_wheel
out = sys.argv[1]
print(build_wheel(out) if sys.argv[2] == "wheel" else build_sdist(out))
"""


def build(kind: str, source: Path, out: Path, env: dict[str, str] | None = None) -> Path:
    """Build ``kind`` ("wheel" or "sdist") of the project in ``source`` through the PEP 517
    backend, as pip or ``python -m build`` would, without build isolation (offline)."""
    done = subprocess.run(
        [sys.executable, "-c", BUILD, str(out), kind],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return out / done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    missing = [name for name in BUNDLE if not (REPO / name).exists()]
    if missing:
        pytest.skip(f"the front end is not built ({', '.join(missing)}): make, or npm run build")
    out = tmp_path_factory.mktemp("dist")
    return {"wheel": build("wheel", REPO, out), "sdist": build("sdist", REPO, out)}


def metadata(text: str) -> email.message.Message:
    return email.message_from_string(text)


def wheel_names(path: Path) -> set[str]:
    with zipfile.ZipFile(path) as wheel:
        return set(wheel.namelist())


def package_files() -> set[str]:
    """Every file under ``ccviz_kernel/`` in the checkout, bytecode aside."""
    found = set()
    for root, dirs, files in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if not name.endswith((".pyc", ".pyo")):
                found.add((Path(root) / name).relative_to(REPO).as_posix())
    return found


def requirements(meta: email.message.Message) -> dict[str, set[str]]:
    """``Requires-Dist`` by extra (``""``: the runtime), markers stripped."""
    by_extra: dict[str, set[str]] = {}
    for line in meta.get_all("Requires-Dist") or []:
        spec, _, marker = line.partition(";")
        found = re.search(r"extra == ['\"]([^'\"]+)['\"]", marker)
        by_extra.setdefault(found.group(1) if found else "", set()).add(spec.strip())
    return by_extra


def dist_name(requirement: str) -> str:
    """``jupyter-server>=2.13`` → ``jupyter-server``."""
    return re.split(r"[<>=!~\[ ]", requirement, maxsplit=1)[0].lower()


# -- the wheel -------------------------------------------------------------------------------


def test_the_wheel_is_named_for_the_package_index(built: dict[str, Path]):
    assert built["wheel"].name == f"{STEM}-py3-none-any.whl"
    with zipfile.ZipFile(built["wheel"]) as wheel:
        meta = metadata(wheel.read(f"{STEM}.dist-info/METADATA").decode())
        entry_points = wheel.read(f"{STEM}.dist-info/entry_points.txt").decode()
    assert meta["Name"] == DIST and meta["Version"] == __version__
    assert "ccviz = ccviz_kernel.cli:main" in entry_points  # the command keeps its name


def test_the_wheel_holds_the_package_the_bundle_the_license_and_the_jupyter_config(
    built: dict[str, Path],
):
    names = wheel_names(built["wheel"])
    package = {n for n in names if n.startswith("ccviz_kernel/")}
    assert package == package_files()  # every module, data file and the bundle; nothing else
    assert {*BUNDLE, "ccviz_kernel/py.typed", "ccviz_kernel/engine/town.json"} <= package
    assert f"{STEM}.dist-info/licenses/LICENSE" in names
    config = f"{STEM}.data/data/etc/jupyter/jupyter_server_config.d/ccviz_kernel.json"
    assert config in names  # the server extension is enabled by installing
    others = names - package - {config}
    assert all(n.startswith(f"{STEM}.dist-info/") for n in others), others
    with zipfile.ZipFile(built["wheel"]) as wheel:
        assert wheel.read(f"{STEM}.dist-info/licenses/LICENSE") == (REPO / "LICENSE").read_bytes()


def test_the_metadata_says_what_it_is(built: dict[str, Path]):
    with zipfile.ZipFile(built["wheel"]) as wheel:
        meta = metadata(wheel.read(f"{STEM}.dist-info/METADATA").decode())
    assert meta["License-Expression"] == "MIT" and meta["License-File"] == "LICENSE"
    assert meta["Requires-Python"] == ">=3.10"
    classifiers = set(meta.get_all("Classifier") or [])
    assert {
        "Typing :: Typed",
        "Framework :: Jupyter :: JupyterLab",
        "Operating System :: OS Independent",
    } <= classifiers
    versions = {c.rsplit(" :: ", 1)[1] for c in classifiers if re.search(r":: 3\.\d+$", c)}
    assert versions == {"3.10", "3.11", "3.12", "3.13"}
    # The README is the long description; it names the distribution it describes.
    assert meta["Description-Content-Type"] == "text/markdown"
    assert f"pip install {DIST}" in meta.get_payload()


def test_the_extras_match_their_use(built: dict[str, Path]):
    with zipfile.ZipFile(built["wheel"]) as wheel:
        meta = metadata(wheel.read(f"{STEM}.dist-info/METADATA").decode())
    assert set(meta.get_all("Provides-Extra") or []) == {"jupyter", "analysis", "redis", "test"}
    needs = requirements(meta)
    names = {extra: {dist_name(r) for r in reqs} for extra, reqs in needs.items()}
    # `jupyter lab` in a fresh virtualenv: JupyterLab, a kernel, the extension's server.
    assert {"jupyterlab", "ipykernel", "jupyter-server", "tornado"} <= names["jupyter"]
    assert names["analysis"] == {"pandas", "matplotlib"}
    # the shared event log (redis_store.py), its replies parsed in C
    assert names["redis"] == {"redis", "hiredis"}
    # The runtime stays small: no Jupyter application, no test tools, no data frames.
    assert not names[""] & {
        "jupyterlab",
        "jupyter-server",
        "pandas",
        "pytest",
        "playwright",
        "redis",
    }
    # The test extra is a superset of every other, pin for pin (one install runs everything).
    assert needs["jupyter"] | needs["analysis"] | needs["redis"] <= needs["test"]


# -- the sdist -------------------------------------------------------------------------------


def test_the_sdist_holds_the_sources_the_bundle_and_the_project_files(built: dict[str, Path]):
    assert built["sdist"].name == f"{STEM}.tar.gz"
    with tarfile.open(built["sdist"]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
        meta = metadata(sdist.extractfile(f"{STEM}/PKG-INFO").read().decode())
    assert meta["Name"] == DIST and meta["Version"] == __version__
    assert {"LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml", *BUNDLE} <= names
    assert {"ccviz_kernel/py.typed", "widgets/package.json", "widgets/package-lock.json"} <= names
    assert "jupyter-config/jupyter_server_config.d/ccviz_kernel.json" in names
    assert package_files() <= names
    junk = [
        n
        for n in names
        if re.search(r"(^|/)(node_modules|__pycache__|\.venv|\.cache|\.hypothesis)(/|$)", n)
        or n.endswith(".pyc")
    ]
    assert junk == []


def test_the_sdist_builds_the_same_wheel_without_node(built: dict[str, Path], tmp_path: Path):
    """What pip does with the sdist on a machine without Node: the bundle inside is used."""
    with tarfile.open(built["sdist"]) as sdist:
        if sys.version_info >= (3, 12):
            sdist.extractall(tmp_path, filter="data")
        else:
            sdist.extractall(tmp_path)
    bare = tmp_path / "bin"
    bare.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKIP_JUPYTER")}
    env["PATH"] = str(bare)  # no node, no npm: the interpreter is called by its full path
    out = tmp_path / "out"
    out.mkdir()
    again = build("wheel", tmp_path / STEM, out, env=env)
    skip = {f"{STEM}.dist-info/RECORD"}
    assert wheel_names(again) - skip == wheel_names(built["wheel"]) - skip


# -- what names the distribution -------------------------------------------------------------


def test_the_readme_installs_this_distribution():
    readme = (REPO / "README.md").read_text()
    assert f"pip install {DIST}" in readme and f"'{DIST}[jupyter]'" in readme
    # `pip install ccviz` would install someone else's project.
    assert not re.search(r"pip install ['\"]?ccviz(?![-_\w])", readme)


def test_make_demo_installs_only_the_runtime():
    makefile = (REPO / "Makefile").read_text()
    run_rule = makefile.split("$(RUN_STAMP):", 1)[1].split("\n\n", 1)[0]
    assert "pip install -q -e .\n" in run_rule + "\n" and "[test]" not in run_rule
    demo_rule = makefile.split("\ndemo:", 1)[1].split("\n", 1)[0]
    assert "$(RUN_STAMP)" in demo_rule and "$(STAMP)" not in demo_rule.replace("$(RUN_STAMP)", "")


def test_the_changelog_has_this_version():
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[Unreleased\].*{re.escape(__version__)}", changelog, re.M)
