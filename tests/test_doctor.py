"""``ccviz doctor``: each link from Claude Code to the server, checked and reported."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

import ccviz_kernel.cli as cli
from ccviz_kernel.claude import settings as claude_settings
from ccviz_kernel.cli import doctor, install
from ccviz_kernel.config import data_dir
from ccviz_kernel.hosts.standalone import start
from ccviz_kernel.runtime import write_runtime


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No real ~/.claude, no real `claude`, no proxy, and a cwd without a project."""
    home = tmp_path / "home"
    home.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude-config"))
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9/")  # doctor must bypass it
    monkeypatch.delenv("CCVIZ_TOKEN", raising=False)
    monkeypatch.chdir(project)


@pytest.fixture()
def ccviz(monkeypatch):
    def parser():
        p = argparse.ArgumentParser(prog="ccviz")
        sub = p.add_subparsers()
        install.add_parser(sub)
        doctor.add_parser(sub)
        return p

    monkeypatch.setattr(cli, "_parser", parser)
    return cli.main


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def report(ccviz, capsys) -> tuple[int, dict[str, list[dict]], str]:
    """Exit code, checks by name, and the plain text report."""
    code = ccviz(["doctor", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] == (code == 0)
    assert ccviz(["doctor"]) == code
    text = capsys.readouterr().out
    checks: dict[str, list[dict]] = {}
    for check in data["checks"]:
        checks.setdefault(check["name"], []).append(check)
    return code, checks, text


def status(checks: dict[str, list[dict]], name: str) -> str:
    (check,) = checks[name]
    return check["status"]


def with_server(ccviz, capsys, before=None):
    """Run the doctor (in a thread) while a real server runs on this test's loop."""

    async def scenario():
        host = await start(port=0)
        try:
            if before:
                before()
            return await asyncio.to_thread(report, ccviz, capsys)
        finally:
            await host.close()

    return run(scenario())


def test_no_server_means_not_reachable_and_exit_1(ccviz, capsys):
    assert ccviz(["install-hooks"]) == 0
    capsys.readouterr()
    code, checks, text = report(ccviz, capsys)
    assert code == 1
    assert status(checks, "server") == "fail" and "not reachable" in checks["server"][0]["detail"]
    assert status(checks, "token") == "skip"
    assert status(checks, "hooks (user)") == "ok"
    assert "✗ server" in text or "FAIL server" in text
    assert not (data_dir() / "token").exists()  # the doctor creates nothing


def test_a_stale_runtime_file_is_explained(ccviz, capsys):
    assert ccviz(["install-hooks"]) == 0
    write_runtime("http://127.0.0.1:9/", "standalone", pid=2**22 + 12345)
    capsys.readouterr()
    code, checks, _ = report(ccviz, capsys)
    assert code == 1 and "stale runtime file" in checks["server"][0]["detail"]


def test_a_running_server_with_the_right_token(ccviz, capsys):
    assert ccviz(["install-hooks", "--command"]) == 0
    capsys.readouterr()
    code, checks, text = with_server(ccviz, capsys)
    assert status(checks, "server") == "ok" and status(checks, "token") == "ok", text
    assert status(checks, "hooks (user)") == "ok"
    assert status(checks, "hooks (project)") == "info"
    assert status(checks, "claude") == "info"  # not on PATH: not an error
    assert status(checks, "data") == "ok"
    assert code == 0, text
    token = (data_dir() / "token").read_text().strip()
    assert token not in text


def test_a_wrong_token_is_a_mismatch(ccviz, capsys, monkeypatch):
    assert ccviz(["install-hooks", "--command"]) == 0
    capsys.readouterr()

    def wrong():  # after the server read its token
        monkeypatch.setenv("CCVIZ_TOKEN", "not-the-server-token")

    code, checks, text = with_server(ccviz, capsys, before=wrong)
    assert status(checks, "server") == "ok"
    assert status(checks, "token") == "fail" and "mismatch" in checks["token"][0]["detail"]
    assert "$CCVIZ_TOKEN" in checks["token"][0]["detail"]
    assert code == 1
    assert "not-the-server-token" not in text
    assert (data_dir() / "token").read_text().strip() not in text


def test_no_hooks_anywhere_fails(ccviz, capsys):
    code, checks, _ = report(ccviz, capsys)
    assert code == 1 and status(checks, "hooks") == "fail"
    assert {status(checks, f"hooks ({s})") for s in ("user", "project", "local")} == {"info"}


def test_hooks_in_the_project_scopes_seen_from_the_cwd(ccviz, capsys):
    assert ccviz(["install-hooks", "--scope", "local", "--http"]) == 0
    capsys.readouterr()
    _, checks, _ = report(ccviz, capsys)
    local = checks["hooks (local)"][0]
    assert local["status"] == "ok" and "command+http" in local["detail"]
    assert "hooks" not in checks
    assert status(checks, "hooks (user)") == "info"


def test_a_hook_pointing_at_a_missing_program_fails(ccviz, capsys, tmp_path):
    path = Path(claude_settings.settings_path("user"))
    settings = claude_settings.merge_hooks({}, command="/gone/venv/bin/ccviz hook")
    claude_settings.write_settings(str(path), claude_settings.dump_settings(settings))
    code, checks, _ = report(ccviz, capsys)
    assert code == 1 and status(checks, "hooks (user)") == "fail"
    assert "/gone/venv/bin/ccviz" in checks["hooks (user)"][0]["detail"]


def test_a_broken_settings_file_is_reported(ccviz, capsys):
    path = Path(claude_settings.settings_path("project", os.getcwd()))
    path.parent.mkdir(parents=True)
    path.write_text("{nope")
    _, checks, _ = report(ccviz, capsys)
    assert status(checks, "hooks (project)") == "fail"
    assert "line 1, column 2" in checks["hooks (project)"][0]["detail"]


def test_disable_all_hooks_is_a_failure(ccviz, capsys):
    assert ccviz(["install-hooks"]) == 0
    path = Path(claude_settings.settings_path("user"))
    settings = json.loads(path.read_text())
    settings["disableAllHooks"] = True
    path.write_text(json.dumps(settings))
    capsys.readouterr()
    code, checks, _ = report(ccviz, capsys)
    assert code == 1
    assert "fail" in {c["status"] for c in checks["hooks (user)"]}


def test_claude_version_is_shown(ccviz, capsys, tmp_path):
    fake = tmp_path / "bin" / "claude"
    fake.write_text("#!/bin/sh\necho '2.1.328 (Claude Code)'\n")
    fake.chmod(0o755)
    _, checks, _ = report(ccviz, capsys)
    assert status(checks, "claude") == "ok"
    assert "2.1.328 (Claude Code)" in checks["claude"][0]["detail"]


def test_an_old_claude_with_http_hooks_is_a_warning(ccviz, capsys, tmp_path):
    fake = tmp_path / "bin" / "claude"
    fake.write_text("#!/bin/sh\necho '2.0.10 (Claude Code)'\n")
    fake.chmod(0o755)
    assert ccviz(["install-hooks", "--http"]) == 0
    capsys.readouterr()
    _, checks, _ = report(ccviz, capsys)
    assert status(checks, "claude") == "warn" and "2.1.63" in checks["claude"][0]["detail"]


def test_spooled_events_are_counted(ccviz, capsys):
    from ccviz_kernel.runtime import spool_append

    spool_append('{"hook_event_name": "Stop"}', 1.0)
    spool_append('{"hook_event_name": "Stop"}', 2.0)
    _, checks, _ = report(ccviz, capsys)
    assert status(checks, "data") == "warn"
    assert "2 event(s) waiting" in checks["data"][0]["detail"]


def test_ascii_fallback(monkeypatch):
    import io

    class Ascii(io.StringIO):
        encoding = "ascii"

    monkeypatch.setattr("sys.stdout", Ascii())
    text = doctor.format_checks(
        [doctor.Check("server", "ok", "fine"), doctor.Check("token", "fail", "bad")]
    )
    assert text == "ok   server  fine\nFAIL token   bad\n"


def test_http_hooks_aimed_at_another_port_fail(ccviz, capsys):
    assert ccviz(["install-hooks", "--http"]) == 0  # no server yet: the default port
    capsys.readouterr()
    code, checks, text = with_server(ccviz, capsys)  # port=0: somewhere else
    assert status(checks, "server") == "ok"
    assert status(checks, "http hooks") == "fail" and "8765" in checks["http hooks"][0]["detail"]
    assert code == 1


def test_http_hooks_aimed_at_the_server(ccviz, capsys, monkeypatch):
    def install_now():
        monkeypatch.setenv("CCVIZ_TOKEN", (data_dir() / "token").read_text().strip())
        assert ccviz(["install-hooks", "--http"]) == 0
        capsys.readouterr()

    code, checks, text = with_server(ccviz, capsys, before=install_now)
    assert "http hooks" not in checks and status(checks, "token") == "ok"
    assert code == 0, text


def ccviz_on_path() -> Path:
    """This install's ``ccviz`` on the test's PATH (what a project file's hooks run)."""
    link = Path(os.environ["PATH"].split(os.pathsep)[0]) / "ccviz"
    link.symlink_to(Path(sys.executable).with_name("ccviz"))
    return link


def test_http_hooks_send_the_hook_token_from_the_user_settings(ccviz, capsys):
    ccviz_on_path()

    def install_now():  # the default install: http hooks, the hook token in the user env
        assert ccviz(["install-hooks", "--scope", "project"]) == 0
        capsys.readouterr()

    code, checks, text = with_server(ccviz, capsys, before=install_now)
    assert status(checks, "hooks (project)") == "ok", text
    assert status(checks, "token") == "ok" and '"env"' in checks["token"][0]["detail"], text
    assert code == 0, text
    assert (data_dir() / "hook-token").read_text().strip() not in text


def test_http_hooks_without_the_hook_token_fail(ccviz, capsys):
    assert ccviz(["install-hooks", "--scope", "project"]) == 0
    path = Path(claude_settings.settings_path("user"))
    settings = json.loads(path.read_text())
    del settings["env"]  # someone tidied the user settings
    path.write_text(json.dumps(settings))
    capsys.readouterr()
    code, checks, _ = report(ccviz, capsys)
    assert status(checks, "token") == "fail" and "CCVIZ_HOOK_TOKEN" in checks["token"][0]["detail"]
    assert code == 1


@pytest.mark.parametrize(
    ("flags", "mode", "events"),
    [([], "lean", 27), (["--per-call"], "per-call", 31), (["--command"], "command", 31)],
)
def test_the_doctor_says_which_mode_is_installed(ccviz, capsys, flags, mode, events):
    assert ccviz(["install-hooks", *flags]) == 0
    capsys.readouterr()
    _, checks, text = report(ccviz, capsys)
    (user,) = checks["hooks (user)"]
    assert user["status"] == "ok", text
    assert user["detail"].startswith(f"{mode}: {events}/{events} events ("), user["detail"]
    # lean: where the per-call events come from instead
    from_transcript = "come from the transcript the server follows" in user["detail"]
    assert from_transcript is (mode == "lean")
    if mode == "lean":
        assert "PreToolUse" in user["detail"] and "--per-call" in user["detail"]


def test_a_lean_install_missing_a_prompt_hook_is_incomplete(ccviz, capsys):
    assert ccviz(["install-hooks"]) == 0
    path = Path(claude_settings.settings_path("user"))
    settings = json.loads(path.read_text())
    del settings["hooks"]["UserPromptSubmit"]
    path.write_text(json.dumps(settings))
    capsys.readouterr()
    _, checks, _ = report(ccviz, capsys)
    (user,) = checks["hooks (user)"]
    assert user["status"] == "warn" and user["detail"].startswith("lean: 26/27 events")


# -- issue 11: trust, dead letters, full disk ------------------------------------------------


def test_a_data_folder_others_can_write_fails_with_the_fix(ccviz, capsys):
    home = data_dir()
    write_runtime("http://127.0.0.1:9/", "standalone")
    home.chmod(0o777)
    try:
        code, checks, text = report(ccviz, capsys)
    finally:
        home.chmod(0o700)
    assert code == 1
    (trust,) = checks["trust"]
    assert trust["status"] == "fail" and f"chmod go-w {home}" in trust["detail"]
    assert "runtime file not trusted" in checks["server"][0]["detail"]
    assert "hooks send and keep nothing" in text


def test_a_planted_token_file_fails_the_trust_check(ccviz, capsys):
    from ccviz_kernel.runtime import write_private

    home = data_dir()
    write_private(str(home / "token"), "planted\n", mode=0o666)
    code, checks, _ = report(ccviz, capsys)
    assert code == 1
    assert status(checks, "trust") == "fail" and "token" in checks["trust"][0]["detail"]
    assert status(checks, "token") == "fail" and "not used" in checks["token"][0]["detail"]


def test_dead_letters_and_untrusted_spools_are_reported(ccviz, capsys):
    from ccviz_kernel.hub import Hub
    from ccviz_kernel.runtime import spool_append, spool_path
    from ccviz_kernel.server.auth import Auth
    from ccviz_kernel.server.core import GameServer
    from ccviz_kernel.store import EventStore

    spool_append('{"hook_event_name": "Stop", "session_id": "s"}', 1.0, "good")
    with open(spool_path(), "ab") as f:
        f.write(b"k2\t2.0\t{not json\n")
    server = GameServer(Hub(EventStore(":memory:")), Auth("t"), async_mode="aiohttp")
    assert server.drain_spool() == 1
    spool_append('{"hook_event_name": "Stop", "session_id": "s"}', 3.0, "planted")
    os.chmod(spool_path(), 0o666)
    assert server.drain_spool() == 0  # moved aside unread
    _, checks, _ = report(ccviz, capsys)
    (dead,) = checks["dead letters"]
    assert dead["status"] == "warn" and "1 spooled line(s)" in dead["detail"]
    assert "dead-letter.jsonl" in dead["detail"]
    (aside,) = checks["untrusted spool"]
    assert aside["status"] == "fail" and ".untrusted" in aside["detail"]
    assert status(checks, "trust") == "ok"


def test_a_full_disk_met_by_hooks_is_reported(ccviz, capsys):
    from ccviz_kernel.runtime import note_disk_full

    folder = str(data_dir())
    note_disk_full(folder, "a" * 32, "saved")
    _, checks, _ = report(ccviz, capsys)
    (full,) = checks["disk full"]
    assert (
        full["status"] == "warn"
        and "1 event(s) kept" in full["detail"]
        and "0 lost" in full["detail"]
    )
    note_disk_full(folder, "b" * 32, "lost")
    _, checks, _ = report(ccviz, capsys)
    assert status(checks, "disk full") == "fail" and "1 lost" in checks["disk full"][0]["detail"]


# -- the Claude Code plugin ---------------------------------------------------------------------

PLUGIN = Path(__file__).resolve().parents[1] / "plugin"


def record_plugin(
    install_path: Path = PLUGIN,
    *,
    enabled: bool | None = True,
    scope: str = "user",
    project: Path | None = None,
    plugin_id: str = "ccviz@ccviz",
) -> None:
    """Record the plugin as Claude Code 2.1.332 does: installed_plugins.json (v2) in the
    config folder, ``enabledPlugins`` in the settings of the scope it went to."""
    config = Path(os.environ["CLAUDE_CONFIG_DIR"])
    entry = {"scope": scope, "installPath": str(install_path), "version": "0.1.0"}
    if project is not None:
        entry["projectPath"] = str(project)
    (config / "plugins").mkdir(parents=True, exist_ok=True)
    (config / "plugins" / "installed_plugins.json").write_text(
        json.dumps({"version": 2, "plugins": {plugin_id: [entry]}})
    )
    if enabled is not None:
        where = (
            Path(claude_settings.settings_path(scope, str(project)))
            if project
            else config / "settings.json"
        )
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_text(json.dumps({"enabledPlugins": {plugin_id: enabled}}))


def test_the_plugin_counts_as_installed_hooks(ccviz, capsys):
    ccviz_on_path()
    record_plugin()
    code, checks, text = with_server(ccviz, capsys)
    assert status(checks, "hooks (plugin)") == "ok", text
    detail = checks["hooks (plugin)"][0]["detail"]
    assert "ccviz@ccviz 0.1.0 (user scope): lean, 27/27 events" in detail
    assert f"runs `{os.environ['PATH']}{os.sep}ccviz hook`" in detail
    assert "hooks" not in checks  # no "not installed in any scope"
    assert status(checks, "token") == "ok"  # `ccviz hook` sends the ingest token
    assert code == 0, text


@pytest.mark.parametrize(
    ("options", "answers"),
    [
        ({"answer_permissions": True}, True),
        ({"answer_permissions": False}, False),
        ({"answer_permissions": "yes"}, False),  # odd settings: not on, and no error
        ([], False),
        ("junk", False),
    ],
)
def test_the_plugins_answer_option_is_said(ccviz, capsys, options, answers):
    ccviz_on_path()
    record_plugin()
    settings = Path(os.environ["CLAUDE_CONFIG_DIR"]) / "settings.json"
    recorded = json.loads(settings.read_text())
    recorded["pluginConfigs"] = {"ccviz@ccviz": {"options": options}}
    settings.write_text(json.dumps(recorded))
    code, checks, text = with_server(ccviz, capsys)
    assert status(checks, "hooks (plugin)") == "ok", text
    said = "PermissionRequest and Elicitation wait at the server for an answer"
    assert (said in checks["hooks (plugin)"][0]["detail"]) is answers


def test_a_plugin_that_finds_no_ccviz_fails(ccviz, capsys):
    """``make clean``: the launcher exits 0 and delivers nothing; only the doctor can tell."""
    record_plugin()
    code, checks, text = report(ccviz, capsys)
    assert status(checks, "hooks (plugin)") == "fail"
    assert "find no ccviz on this PATH" in checks["hooks (plugin)"][0]["detail"]
    assert "hooks" not in checks and code == 1


def test_a_disabled_or_foreign_plugin_is_no_hook(ccviz, capsys, tmp_path):
    ccviz_on_path()
    record_plugin(enabled=False)
    code, checks, text = report(ccviz, capsys)
    assert status(checks, "hooks (plugin)") == "info" and "disabled" in text
    assert status(checks, "hooks") == "fail" and "claude plugin install" in text
    # a plugin named ccviz that is not ours (no launcher) is not taken for it
    other = tmp_path / "other-plugin"
    (other / "hooks").mkdir(parents=True)
    (other / "hooks" / "hooks.json").write_text('{"hooks": {}}')
    record_plugin(other)
    code, checks, text = report(ccviz, capsys)
    assert "none recorded" in checks["hooks (plugin)"][0]["detail"]
    assert status(checks, "hooks") == "fail"


def test_a_project_plugin_counts_only_in_its_project(ccviz, capsys, tmp_path):
    ccviz_on_path()
    record_plugin(scope="project", project=tmp_path / "elsewhere")
    code, checks, text = report(ccviz, capsys)
    assert status(checks, "hooks") == "fail"  # the cwd is another project
    record_plugin(scope="project", project=Path.cwd())
    code, checks, text = report(ccviz, capsys)
    assert status(checks, "hooks (plugin)") == "ok" and "project scope" in text


def test_an_older_plugin_and_settings_hooks_beside_it_warn(ccviz, capsys, tmp_path):
    ccviz_on_path()
    old = tmp_path / "old-plugin"
    (old / "hooks").mkdir(parents=True)
    (old / "hooks" / "ccviz-hook").write_text((PLUGIN / "hooks" / "ccviz-hook").read_text())
    hooks_json = json.loads((PLUGIN / "hooks" / "hooks.json").read_text())
    del hooks_json["hooks"]["PreCompact"]
    (old / "hooks" / "hooks.json").write_text(json.dumps(hooks_json))
    record_plugin(old)
    assert ccviz(["install-hooks"]) == 0
    assert "the ccviz plugin (ccviz@ccviz, user scope) is enabled too" in capsys.readouterr().out
    code, checks, text = report(ccviz, capsys)
    assert status(checks, "hooks (plugin)") == "warn"
    assert "26/27 events" in text and "claude plugin update ccviz@ccviz" in text
    assert status(checks, "hooks (both)") == "warn" and "sent twice" in text


def test_the_doctor_says_what_waits_for_an_answer_and_what_an_older_install_lacks(ccviz, capsys):
    assert ccviz(["install-hooks", "--answer-permissions"]) == 0
    capsys.readouterr()
    _, checks, text = report(ccviz, capsys)
    (user,) = checks["hooks (user)"]
    assert user["status"] == "ok", text
    assert "PermissionRequest and Elicitation wait at the server for an answer" in user["detail"]
    # installed before forms could be answered: the Elicitation handler is the plain one
    path = Path(claude_settings.settings_path("user"))
    settings = json.loads(path.read_text())
    plain = claude_settings.command_handler(None, ())
    settings["hooks"]["Elicitation"] = [{"hooks": [plain]}]
    path.write_text(json.dumps(settings))
    capsys.readouterr()
    _, checks, _ = report(ccviz, capsys)
    (user,) = checks["hooks (user)"]
    assert user["status"] == "warn"
    assert "Elicitation does not" in user["detail"] and "--answer-permissions" in user["detail"]
