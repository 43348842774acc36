from __future__ import annotations

import json
import subprocess
import sys

from common import FIXTURES

from ccviz_kernel.cli import main
from ccviz_kernel.store import EventStore


def test_replay_prints_a_timeline_and_final_state(capsys):
    assert main(["replay", str(FIXTURES / "hook-payloads.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "Spawning Explore: Find audio helpers" in out
    assert "Exit code 1 · FAIL src/player.test.ts" in out
    assert "subagents: 1" in out and "failures: 2" in out


def test_replay_json_prints_the_final_snapshot(capsys):
    assert main(["replay", "--json", str(FIXTURES / "hook-payloads.jsonl")]) == 0
    snap = json.loads(capsys.readouterr().out)
    assert snap["seq"] == 27 and set(snap["agents"]) == {"main", "a3f9c27e81d04b6a5"}


def test_replay_of_broken_lines_reports_what_it_skipped(tmp_path, capsys):
    lines = (FIXTURES / "hook-payloads.jsonl").read_text().splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([lines[0], "{not json", lines[1], "[1,2]", lines[2]]) + "\n")
    assert main(["replay", "-q", str(broken)]) == 0
    captured = capsys.readouterr()
    assert "3 events" in captured.out
    assert "skipped 2 unusable line(s)" in captured.err


def test_errors_are_one_line_and_a_nonzero_exit(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "missing.jsonl")]) != 0
    err = capsys.readouterr().err
    assert err.startswith("ccviz: ") and err.count("\n") == 1 and "Traceback" not in err
    junk = tmp_path / "junk.jsonl"
    junk.write_bytes(b"\x00\x01 random text\nmore\n")
    assert main(["replay", str(junk)]) != 0
    assert capsys.readouterr().err.startswith("ccviz: ")


def test_games_lists_the_store(capsys):
    with EventStore() as store:
        store.append("game-1", '{"hook_event_name": "Stop", "session_id": "game-1"}', 1.7e9)
    assert main(["games"]) == 0
    assert "game-1" in capsys.readouterr().out
    assert main(["games", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["game_id"] == "game-1"


def test_version_from_the_console_script():
    out = subprocess.run(
        [sys.executable, "-m", "ccviz_kernel.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("ccviz ")


def test_the_hook_command_imports_only_the_standard_library(tmp_path):
    code = (
        "import sys, io; sys.stdin = io.TextIOWrapper(io.BytesIO(b'{}'));"
        "from ccviz_kernel.cli import main; main(['hook']);"
        "import sys; bad = sorted(m for m in sys.modules if m.split('.')[0] not in"
        " sys.stdlib_module_names and m.split('.')[0] not in ('ccviz_kernel', '__main__',"
        " '_distutils_hack'));"  # setuptools' .pth hook, loaded by site at start-up
        "print(','.join(bad))"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "CCVIZ_HOME"}
    env["HOME"] = str(tmp_path)  # the per-user data folder, computed without platformdirs
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.strip()
    assert out == ""
    assert (tmp_path / ".local/share/ccviz").is_dir()
