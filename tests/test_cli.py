from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from common import CCVIZ, FIXTURES

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


# -- every argument checked before anything starts: one line, exit 2 -------------------------


def _cli(args: list[str], home, **kwargs) -> subprocess.CompletedProcess:
    """The real command in its own process, with its own data folder (``home``)."""
    env = {**os.environ, "CCVIZ_HOME": str(home)}
    return subprocess.run(
        [*CCVIZ, *args], capture_output=True, text=True, env=env, timeout=60, **kwargs
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["serve", "--port", "99999"], "argument --port: a port is a number from 0 to 65535"),
        (["demo", "--port", "-1"], "argument --port: a port is a number from 0 to 65535"),
        (["view", "x", "--port", "http"], "argument --port: a port is a number"),
        (["demo", "--speed", "-1"], "argument --speed: a speed is from 0.05 to 1000"),
        (["demo", "--speed", "0"], "argument --speed: a speed is from"),
        (["demo", "--speed", "inf"], "argument --speed: a speed is a number, not 'inf'"),
        (["demo", "--sample", "nope"], "no sample 'nope'; choose one of: short"),
        (["serve", "--fps", "0"], "argument --fps: an update rate is above 0"),
        (["serve", "--fps", "nan"], "argument --fps: an update rate is a number"),
        (["serve", "--host", "bad..host"], "argument --host: a host is an IP address"),
        (["serve", "--host", ""], "argument --host: a host is"),
        (["serve", "--cors-origin", "localhost:3000"], "argument --cors-origin: an origin is"),
        (["serve", "--public-name", "http://x"], "argument --public-name: a public name is"),
        (["serve", "--viewer-token", ""], "argument --viewer-token: a viewer token is"),
        (["export", "x", "-o", "/no/such/dir/x.html"], "no folder /no/such/dir to write x.html"),
    ],
)
def test_a_bad_argument_is_one_line_and_exit_2_before_anything_starts(tmp_path, args, says):
    home = tmp_path / "home"
    done = _cli(args, home)
    assert done.returncode == 2, done
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"ccviz {args[0]}: ") and says in done.stderr, done.stderr
    assert f"(see `ccviz {args[0]} --help`)" in done.stderr
    assert done.stdout == ""
    assert not (home / "runtime.json").exists()  # nothing was served, so nothing is stale


def test_good_values_pass_the_checks():
    from ccviz_kernel import arguments as checks

    assert checks.port("0") == 0 and checks.port("65535") == 65535
    assert checks.speed("0.05") == 0.05 and checks.speed("1000") == 1000
    assert checks.fps("30") == 30
    for host in ("127.0.0.1", "::1", "[::1]", "0.0.0.0", "localhost", "my-box.example.org"):
        assert checks.host(host) == host.strip("[]")
    assert checks.origin("http://localhost:3000") == "http://localhost:3000"
    assert checks.origin("https://[::1]:8443") == "https://[::1]:8443"
    assert checks.public_name("my-box.local") == "my-box.local"


def test_a_demo_that_fails_once_serving_leaves_no_runtime_file(monkeypatch, capsys):
    """Past the parser (a caller of run_demo), a refused speed still closes the server."""
    from ccviz_kernel.cli.demo import run_demo
    from ccviz_kernel.runtime import read_runtime

    with pytest.raises(ValueError, match="speed must be between"):
        run_demo("127.0.0.1", 0, sample="short", speed=-1)
    assert read_runtime(create=False) is None


def test_view_of_a_missing_game_leaves_no_runtime_file(tmp_path):
    home = tmp_path / "home"
    done = _cli(["view", "no-such-game", "--port", "0"], home)
    assert done.returncode == 1, done
    assert done.stderr == "ccviz: no game 'no-such-game' here, and no such file\n"
    assert home.is_dir() and not (home / "runtime.json").exists()


def test_install_hooks_refuses_a_project_dir_that_does_not_exist(tmp_path):
    typo = tmp_path / "no" / "such" / "project"
    done = _cli(["install-hooks", "--scope", "project", "--project-dir", str(typo)], tmp_path)
    assert done.returncode == 2, done
    assert done.stderr == (
        f"ccviz install-hooks: argument --project-dir: the project folder {typo} does not"
        " exist (see `ccviz install-hooks --help`)\n"
    )
    assert not (tmp_path / "no").exists()  # no directory tree made for a typo
    afile = tmp_path / "file"
    afile.write_text("")
    done = _cli(["install-hooks", "--scope", "local", "--project-dir", str(afile)], tmp_path)
    assert done.returncode == 2 and "is not a folder" in done.stderr


def test_hook_help_documents_the_hook_and_the_hook_stays_silent(tmp_path):
    done = _cli(["hook", "--help"], tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("usage: ccviz hook")
    assert "stdin" in done.stdout and "always exits 0" in done.stdout
    assert _cli(["hook", "-h"], tmp_path).stdout == done.stdout
    for args in (["hook"], ["hook", "--bogus"]):  # other arguments: still the hook
        quiet = _cli(args, tmp_path / "home", input="{}")
        assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", ""), quiet
