"""The README's "In Jupyter" Python snippet, run as written, on a fresh HOME with only the
bundled samples: in a plain ``python`` here, and in an nbclient kernel in
tests/notebooks/test_api.py (which imports these helpers), with the same results.

The snippet is read out of README.md, so the README and the tests cannot drift apart.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Printed after the snippet: what every host must agree on.
CHECK = """
import json as _json
print("CCVIZ-RESULT " + _json.dumps({
    "place": game.agents["main"].place,
    "events": game.stats()["events"],
    "replay": r.game.snapshot()["seq"],
    "fork_rule": sandbox.rules["Read"],
    "replay_rule": r.game.rules.get("Read"),
    "fork_seq": sandbox.snapshot()["seq"],
    "rows": len(game.events.frame()),
}))
"""


def readme_snippet() -> str:
    """The ```python block after "And from Python" in README.md."""
    text = (ROOT / "README.md").read_text()
    found = re.search(r"And from Python[^\n]*\n\n```python\n(.*?)```", text, re.S)
    assert found, "README.md has no 'And from Python' snippet"
    return found.group(1)


def result_of(output: str) -> dict:
    line = next(x for x in output.splitlines() if x.startswith("CCVIZ-RESULT "))
    return json.loads(line.removeprefix("CCVIZ-RESULT "))


def fresh_env(tmp_path: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("CCVIZ_")}
    (tmp_path / "home").mkdir(exist_ok=True)
    env.update(HOME=str(tmp_path / "home"), CCVIZ_HOME=str(tmp_path / "ccviz-home"))
    env.pop("JUPYTER_RUNTIME_DIR", None)
    return env


#: What the snippet must give everywhere: paused at event 120 of the long sample, then a
#: fork that took one rule change and one speech bubble; the recording unchanged.
EXPECTED = {
    "events": 120,
    "fork_rule": "observatory",
    "replay_rule": "library",
    "fork_seq": 122,
    "rows": 120,
}


def check(result: dict) -> None:
    assert {k: result[k] for k in EXPECTED} == EXPECTED
    assert isinstance(result["place"], str) and result["place"]
    assert result["replay"] >= 120  # it plays on after the snippet's last line


def test_the_snippet_is_in_the_readme():
    snippet = readme_snippet()
    assert "conn.latest()" in snippet and "r.fork()" in snippet
    assert 'samples.path("long")' in snippet


def test_readme_snippet_in_a_plain_script(tmp_path: Path):
    script = tmp_path / "snippet.py"
    script.write_text(readme_snippet() + CHECK)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=fresh_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    check(result_of(done.stdout))
