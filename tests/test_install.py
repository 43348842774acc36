"""``ccviz install-hooks`` / ``uninstall-hooks``: ours in, ours out, nothing else touched."""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import ccviz_kernel.cli as cli
from ccviz_kernel.claude import hooks
from ccviz_kernel.claude import settings as claude_settings
from ccviz_kernel.cli import install
from ccviz_kernel.engine.game import _HANDLERS, _SILENT

#: The 31 hook events of the reference (docs/claude-code.md §1.1), copied independently.
CLAUDE_CODE_EVENTS = {
    "SessionStart", "Setup", "InstructionsLoaded", "UserPromptSubmit", "UserPromptExpansion",
    "MessageDisplay", "PreToolUse", "PermissionRequest", "PermissionDenied", "PostToolUse",
    "PostToolUseFailure", "PostToolBatch", "Notification", "SubagentStart", "SubagentStop",
    "TaskCreated", "TaskCompleted", "Stop", "StopFailure", "TeammateIdle", "ConfigChange",
    "CwdChanged", "DirectoryAdded", "FileChanged", "WorktreeCreate", "WorktreeRemove",
    "PreCompact", "PostCompact", "Elicitation", "ElicitationResult", "SessionEnd",
    "PreModelSwitch", "PostModelSwitch", "PreSkillShellCommand",  # seen on 2.1.332
}  # fmt: skip

REALISTIC = {
    "$schema": "https://json.schemastore.org/claude-code-settings.json",
    "model": "opus",
    "env": {"BASH_DEFAULT_TIMEOUT_MS": "120000", "DISABLE_TELEMETRY": "1"},
    "permissions": {
        "allow": ["Bash(npm run test:*)", "Read(~/.zshrc)"],
        "deny": ["Read(./.env)", "Read(./secrets/**)"],
        "defaultMode": "acceptEdits",
    },
    "hooks": {
        "PreToolUse": [
            {
                "matcher": "Bash",
                "hooks": [{"type": "command", "command": "~/.claude/hooks/guard.sh", "timeout": 5}],
            },
            {
                "matcher": "Edit|Write",
                "hooks": [
                    {"type": "command", "command": "npx prettier --write", "async": True},
                    {"type": "http", "url": "https://hooks.example.com/api/hooks"},
                ],
            },
        ],
        "Stop": [{"hooks": [{"type": "command", "command": "say done", "if": ""}]}],
    },
    "statusLine": {"type": "command", "command": "~/.claude/statusline.sh", "padding": 0},
    "includeCoAuthoredBy": False,
    "cleanupPeriodDays": 30,
    "ratio": 1.5,
    "unicode": "café ✓",
}


@pytest.fixture(autouse=True)
def _claude_home(tmp_path, monkeypatch):
    """Never touch the real ~/.claude: HOME and CLAUDE_CONFIG_DIR point into tmp_path."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude-config"))
    monkeypatch.delenv("CCVIZ_TOKEN", raising=False)


@pytest.fixture()
def ccviz(monkeypatch):
    """``ccviz.cli.main`` with our subcommands wired in."""

    def parser():
        p = argparse.ArgumentParser(prog="ccviz")
        install.add_parser(p.add_subparsers())
        return p

    monkeypatch.setattr(cli, "_parser", parser)
    return cli.main


def write(path: Path, value) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=4) + "\n")
    return path


def ordered(value) -> str:
    """The JSON value with key order (dumps keeps insertion order)."""
    return json.dumps(value)


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".ccviz-backup-*"))


def ours_by_event(settings: dict) -> dict[str, list[dict]]:
    return claude_settings.find_ours(settings)


def test_install_into_a_missing_file_creates_it(tmp_path, ccviz, capsys):
    path = tmp_path / "mine" / "settings.json"  # not a project file: an absolute command
    assert ccviz(["install-hooks", "--command", "--settings", str(path)]) == 0
    text = path.read_text()
    assert text.endswith("}\n") and text.startswith('{\n  "hooks": {\n    "')
    settings = json.loads(text)
    assert list(settings["hooks"]) == list(hooks.INSTALLED_EVENTS)
    for event, groups in settings["hooks"].items():
        matcher = {"matcher": hooks.MATCHERS[event]} if event in hooks.MATCHERS else {}
        assert groups == [{**matcher, "hooks": [groups[0]["hooks"][0]]}], event
        handler = groups[0]["hooks"][0]
        assert handler["type"] == "command"
        assert handler["async"] is (event not in hooks.SYNC_EVENTS)  # turn ends wait for us
        assert handler["timeout"] == 10
        assert handler["command"].endswith(" hook # ccviz install-hooks")
        assert claude_settings.is_ours(handler)
    program = settings["hooks"]["Stop"][0]["hooks"][0]["command"].split(" hook # ")[0]
    assert os.path.isabs(program) and os.access(program, os.X_OK)
    assert backups(path) == []  # nothing to back up
    assert "installed ccviz hooks" in capsys.readouterr().out


def test_install_into_an_empty_file(tmp_path, ccviz):
    path = tmp_path / "settings.json"
    path.write_text("")
    assert ccviz(["install-hooks", "--settings", str(path)]) == 0
    installed = set(json.loads(path.read_text())["hooks"])
    assert installed == set(hooks.INSTALLED_EVENTS) - hooks.PER_CALL_EVENTS  # lean


def test_install_is_idempotent(tmp_path, ccviz, capsys):
    path = write(tmp_path / "settings.json", REALISTIC)
    assert ccviz(["install-hooks", "--settings", str(path)]) == 0
    first = path.read_text()
    assert len(backups(path)) == 1
    assert ccviz(["install-hooks", "--settings", str(path)]) == 0
    assert path.read_text() == first
    assert len(backups(path)) == 1  # an unchanged file is not rewritten
    assert "already installed" in capsys.readouterr().out
    assert all(len(h) == 1 for h in ours_by_event(json.loads(first)).values())


def test_install_then_uninstall_gives_back_the_original(tmp_path, ccviz):
    path = write(tmp_path / "settings.json", REALISTIC)
    assert ccviz(["install-hooks", "--settings", str(path)]) == 0
    installed = json.loads(path.read_text())
    # others' hooks are untouched and stay first; ours come after
    assert installed["hooks"]["PreToolUse"][:2] == REALISTIC["hooks"]["PreToolUse"]
    assert installed["hooks"]["Stop"][0] == REALISTIC["hooks"]["Stop"][0]
    assert list(installed)[: len(REALISTIC)] == list(REALISTIC)
    assert ccviz(["uninstall-hooks", "--settings", str(path)]) == 0
    assert ordered(json.loads(path.read_text())) == ordered(REALISTIC)
    # and the same through --http
    assert ccviz(["install-hooks", "--http", "--settings", str(path)]) == 0
    assert ccviz(["uninstall-hooks", "--settings", str(path)]) == 0
    assert ordered(json.loads(path.read_text())) == ordered(REALISTIC)


def test_round_trip_without_any_hooks_key(tmp_path, ccviz):
    original = {"model": "sonnet", "permissions": {"allow": []}}
    path = write(tmp_path / "settings.json", original)
    assert ccviz(["install-hooks", "--settings", str(path)]) == 0
    assert ccviz(["uninstall-hooks", "--settings", str(path)]) == 0
    assert ordered(json.loads(path.read_text())) == ordered(original)


def test_uninstall_keeps_others_sharing_a_group_with_ours(tmp_path, ccviz):
    path = write(tmp_path / "settings.json", {})
    assert ccviz(["install-hooks", "--settings", str(path)]) == 0
    settings = json.loads(path.read_text())
    theirs = {"type": "command", "command": "logger stop"}
    settings["hooks"]["Stop"][0]["hooks"].append(theirs)  # someone added theirs to our group
    write(path, settings)
    assert ccviz(["install-hooks", "--settings", str(path)]) == 0
    assert json.loads(path.read_text())["hooks"]["Stop"][0] == {"hooks": [theirs]}
    assert ccviz(["uninstall-hooks", "--settings", str(path)]) == 0
    assert json.loads(path.read_text()) == {"hooks": {"Stop": [{"hooks": [theirs]}]}}


def test_switching_to_http_and_back(tmp_path, ccviz, capsys):
    path = write(tmp_path / "settings.json", REALISTIC)
    assert ccviz(["install-hooks", "--command", "--settings", str(path)]) == 0
    as_command = path.read_text()
    capsys.readouterr()
    assert ccviz(["install-hooks", "--http", "--per-call", "--settings", str(path)]) == 0
    out = capsys.readouterr().out
    assert "CCVIZ_HOOK_TOKEN" in out and "export" not in out  # nothing for the user to do
    settings = json.loads(path.read_text())
    ours = ours_by_event(settings)
    assert set(ours) == set(hooks.INSTALLED_EVENTS)
    for event, handlers in ours.items():
        assert len(handlers) == 1, event
        if event not in claude_settings.HTTP_EVENTS:
            assert handlers[0]["type"] == "command"
        else:
            assert handlers[0] == {
                "type": "http",
                "url": "http://127.0.0.1:8765/api/hooks",
                "timeout": 2,
                "headers": {
                    "Authorization": "Bearer $CCVIZ_HOOK_TOKEN",
                    "X-Ccviz-Installed-By": "ccviz install-hooks",
                },
                "allowedEnvVars": ["CCVIZ_HOOK_TOKEN"],
            }
    # others' https hook that happens to end in /api/hooks is not ours
    assert settings["hooks"]["PreToolUse"][1] == REALISTIC["hooks"]["PreToolUse"][1]
    assert ccviz(["install-hooks", "--per-call", "--settings", str(path)]) == 0  # http: default
    assert json.loads(path.read_text()) == settings
    assert ccviz(["install-hooks", "--command", "--settings", str(path)]) == 0
    assert path.read_text() == as_command
    assert ccviz(["install-hooks", "--command", "--per-call", "--settings", str(path)]) == 0
    assert path.read_text() == as_command  # --command hooks every event anyway


def test_http_url_follows_the_runtime_file(tmp_path, ccviz):
    from ccviz_kernel.runtime import write_runtime

    write_runtime("http://127.0.0.1:9999/ccviz", "jupyter")
    path = tmp_path / "settings.json"
    assert ccviz(["install-hooks", "--http", "--settings", str(path)]) == 0
    handler = json.loads(path.read_text())["hooks"]["Stop"][0]["hooks"][0]
    assert handler["url"] == "http://127.0.0.1:9999/ccviz/api/hooks"


def test_the_token_is_never_printed(tmp_path, ccviz, capsys, monkeypatch):
    from ccviz_kernel.runtime import read_or_create_token

    token = read_or_create_token()
    monkeypatch.setenv("CCVIZ_TOKEN", "s3cret-env-value")
    path = tmp_path / "settings.json"
    assert ccviz(["install-hooks", "--http", "--settings", str(path)]) == 0
    seen = capsys.readouterr().out + path.read_text()
    assert token not in seen and "s3cret-env-value" not in seen


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{\n  "model": "opus",\n  "hooks": {,}\n}\n', "line 3, column"),
        ('{"a": 1} trailing', "line 1, column 10"),
        ("[1, 2]", "expected a JSON object at the top, found an array"),
        ('"just a string"', "found a string"),
        ('{"hooks": []}', '"hooks" should be an object'),
    ],
)
def test_malformed_settings_are_refused_and_untouched(tmp_path, ccviz, capsys, text, expected):
    path = tmp_path / "work" / "settings.json"
    path.parent.mkdir()
    path.write_text(text)
    for command in ("install-hooks", "uninstall-hooks"):
        assert ccviz([command, "--settings", str(path)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("ccviz: ") and err.count("\n") == 1
        assert str(path) in err and expected in err
        assert path.read_text() == text
    assert os.listdir(path.parent) == ["settings.json"]


def test_backup_and_mode_are_kept(tmp_path, ccviz):
    path = write(tmp_path / "work" / "settings.json", REALISTIC)
    original = path.read_bytes()
    path.chmod(0o600)
    assert ccviz(["install-hooks", "--settings", str(path)]) == 0
    (saved,) = backups(path)
    assert saved.read_bytes() == original
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert ccviz(["uninstall-hooks", "--settings", str(path)]) == 0
    assert len(backups(path)) == 2  # the uninstall kept the installed version too
    assert sorted(os.listdir(path.parent)) == sorted(
        ["settings.json"] + [p.name for p in backups(path)]
    )  # no temp files left behind


def test_a_symlinked_settings_file_stays_a_link(tmp_path, ccviz):
    real = write(tmp_path / "dotfiles" / "claude-settings.json", {"model": "opus"})
    link = tmp_path / "claude" / "settings.json"
    link.parent.mkdir()
    link.symlink_to(real)
    assert ccviz(["install-hooks", "--settings", str(link)]) == 0
    assert link.is_symlink() and "hooks" in json.loads(real.read_text())


def test_dry_run_writes_nothing(tmp_path, ccviz, capsys):
    path = write(tmp_path / "settings.json", REALISTIC)
    before = path.read_text()
    assert ccviz(["install-hooks", "--dry-run", "--settings", str(path)]) == 0
    out = capsys.readouterr().out
    assert '+        "hooks": [' in out and "dry run" in out
    assert path.read_text() == before and backups(path) == []


def test_uninstall_without_ours_changes_nothing(tmp_path, ccviz, capsys):
    path = write(tmp_path / "settings.json", REALISTIC)
    before = path.read_text()
    assert ccviz(["uninstall-hooks", "--settings", str(path)]) == 0
    assert "no ccviz hooks" in capsys.readouterr().out
    assert path.read_text() == before and backups(path) == []
    assert ccviz(["uninstall-hooks", "--settings", str(tmp_path / "missing.json")]) == 0


def test_installed_events_are_real_claude_code_events():
    assert len(CLAUDE_CODE_EVENTS) == 34
    assert set(hooks.ALL_EVENTS) == CLAUDE_CODE_EVENTS
    assert set(hooks.INSTALLED_EVENTS) <= CLAUDE_CODE_EVENTS
    assert "MessageDisplay" not in hooks.INSTALLED_EVENTS
    assert "WorktreeCreate" not in hooks.INSTALLED_EVENTS  # its hook would replace git worktree add
    used = {e for e in set(_HANDLERS) | _SILENT if not e.startswith("ccviz.")}
    assert used <= CLAUDE_CODE_EVENTS
    assert used - hooks.SKIPPED_EVENTS <= set(hooks.INSTALLED_EVENTS)


def test_scopes_resolve_to_claude_code_files(tmp_path, monkeypatch, ccviz):
    assert claude_settings.settings_path("user") == str(
        tmp_path / "claude-config" / "settings.json"
    )
    monkeypatch.delenv("CLAUDE_CONFIG_DIR")
    assert claude_settings.settings_path("user") == str(
        tmp_path / "home" / ".claude" / "settings.json"
    )
    project = tmp_path / "proj"
    project.mkdir()  # --project-dir must exist
    assert claude_settings.settings_path("project", str(project)) == str(
        project / ".claude" / "settings.json"
    )
    assert claude_settings.settings_path("local", str(project)) == str(
        project / ".claude" / "settings.local.json"
    )
    monkeypatch.chdir(tmp_path)
    assert ccviz(["install-hooks", "--scope", "local"]) == 0
    assert (tmp_path / ".claude" / "settings.local.json").exists()
    assert ccviz(["install-hooks", "--scope", "project", "--project-dir", str(project)]) == 0
    assert (project / ".claude" / "settings.json").exists()
    assert ccviz(["install-hooks"]) == 0
    assert (tmp_path / "home" / ".claude" / "settings.json").exists()


#: What ``command_handler()`` returned in the release before markers (and ``http_handler()``).
OLD_COMMAND = {
    "type": "command",
    "command": "/old/venv/bin/ccviz hook",
    "async": True,
    "timeout": 10,
}
OLD_HTTP = {
    "type": "http",
    "url": "http://127.0.0.1:8765/api/hooks",
    "timeout": 2,
    "headers": {"Authorization": "Bearer $CCVIZ_HOOK_TOKEN"},
    "allowedEnvVars": ["CCVIZ_HOOK_TOKEN"],
}


def test_recognises_only_our_handlers():
    """Ours: our marker, or exactly what the release before markers wrote (so an upgrade
    replaces it). Never a URL or a command shape alone: those are other tools' too."""
    legacy_http = OLD_HTTP
    yes = [
        {"type": "command", "command": "/opt/venv/bin/ccviz hook # ccviz install-hooks"},
        {"type": "command", "command": "anything at all  #ccviz install-hooks keep=event "},
        {"type": "http", "url": "x", "headers": {"X-Ccviz-Installed-By": "ccviz install-hooks"}},
        # the exact shapes the release before markers wrote
        {**OLD_COMMAND, "command": "/opt/venv/bin/ccviz hook"},
        {**OLD_COMMAND, "command": "'/path with space/ccviz' hook", "async": False},
        {**OLD_COMMAND, "command": "/usr/bin/python3 -m ccviz_kernel.cli hook"},
        legacy_http,
        {**legacy_http, "url": "http://localhost:8888/ccviz/api/hooks"},
    ]  # fmt: skip
    no = [
        {"type": "command", "command": "/opt/venv/bin/ccviz hook"},  # no async/timeout
        {"type": "command", "command": "uvx ccviz hook", "async": True, "timeout": 10},
        {"type": "command", "command": "ccviz hook", "async": True, "timeout": 10},
        {"type": "command", "command": "/opt/venv/bin/ccviz hook", "async": True, "timeout": 5},
        {"type": "command", "command": "/opt/venv/bin/ccviz hook", "async": 1, "timeout": 10},
        {"type": "command", "command": "/opt/venv/bin/ccviz hook", "async": True, "timeout": 10.0},
        {"type": "command", "command": "/opt/ccviz hook", "async": True, "timeout": 10, "if": ""},
        {"type": "command", "command": "/opt/ccviz-helper hook", "async": True, "timeout": 10},
        {"type": "command", "command": "/opt/x/ccviz hook --v", "async": True, "timeout": 10},
        {"type": "command", "command": "echo '# ccviz install-hooks'"},
        {"type": "command", "command": "x # ccviz install-hooks-not"},
        {"type": "command", "command": "'unbalanced # ccviz", "async": True, "timeout": 10},
        {"type": "http", "url": "http://127.0.0.1:8765/api/hooks"},
        {**legacy_http, "headers": {"Authorization": "Bearer $OTHER"}},
        {**legacy_http, "statusMessage": "mine"},
        {**legacy_http, "url": "http://127.0.0.1:8765/api/hooks?mine=1"},
        {**legacy_http, "url": "http://127.0.0.1:8765/other"},
        {"type": "http", "url": "x", "headers": {"X-Ccviz-Installed-By": "someone else"}},
        {"type": "prompt", "prompt": "ccviz hook # ccviz install-hooks"},
        "not a handler",
    ]
    assert all(claude_settings.is_ours(h) for h in yes)
    assert not [h for h in no if claude_settings.is_ours(h)]


def test_through_a_real_process(tmp_path):
    """The subcommands wired into a plain argparse parser, run as a separate process."""
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(
            """
            import argparse, sys
            from ccviz_kernel.errors import CcvizError
            from ccviz_kernel.cli import install
            parser = argparse.ArgumentParser(prog="ccviz")
            install.add_parser(parser.add_subparsers())
            ns = parser.parse_args(sys.argv[1:])
            try:
                sys.exit(ns.handler(ns))
            except CcvizError as exc:
                print(f"ccviz: {exc}", file=sys.stderr)
                sys.exit(1)
            """
        )
    )
    config = tmp_path / "claude-config"
    env = {**os.environ, "HOME": str(tmp_path / "home"), "CLAUDE_CONFIG_DIR": str(config)}

    def run(*args):
        return subprocess.run(
            [sys.executable, str(script), *args], capture_output=True, text=True, env=env
        )

    done = run("install-hooks", "--http")
    assert done.returncode == 0, done.stderr
    settings = json.loads((config / "settings.json").read_text())
    assert settings["hooks"]["SessionStart"][0]["hooks"][0]["type"] == "command"
    assert settings["hooks"]["Stop"][0]["hooks"][0]["type"] == "http"
    done = run("uninstall-hooks")
    assert done.returncode == 0, done.stderr
    assert json.loads((config / "settings.json").read_text()) == {}
    (config / "settings.json").write_text("{oops")
    done = run("install-hooks")
    assert done.returncode == 1 and "line 1, column 2" in done.stderr


# -- the default: http hooks, the hook-only token in the user settings ------------------------


def test_the_default_install_posts_over_http_and_keeps_the_token_out_of_the_project(
    tmp_path, ccviz, capsys
):
    project = tmp_path / "proj"
    project.mkdir()  # --project-dir must exist
    assert ccviz(["install-hooks", "--scope", "project", "--project-dir", str(project)]) == 0
    out = capsys.readouterr().out
    text = (project / ".claude" / "settings.json").read_text()
    settings = json.loads(text)
    token_file = Path(os.environ["CCVIZ_HOME"]) / "hook-token"
    token = token_file.read_text().strip()
    assert len(token) >= 32 and stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token not in text and token not in out  # the project file is often committed
    assert "env" not in settings
    for event, handlers in ours_by_event(settings).items():
        (handler,) = handlers
        if event not in claude_settings.HTTP_EVENTS:  # rare, and not in the transcript
            assert handler["type"] == "command"
            # a committed file names no path of this machine: ccviz from PATH, else nothing
            assert handler["command"] == "ccviz hook || true # ccviz install-hooks"
            assert handler["async"] is False  # in its place among the (awaited) http events
        else:
            assert handler["type"] == "http", event
            assert handler["headers"] == {
                "Authorization": "Bearer $CCVIZ_HOOK_TOKEN",
                "X-Ccviz-Installed-By": "ccviz install-hooks",
            }
            assert handler["allowedEnvVars"] == ["CCVIZ_HOOK_TOKEN"]
            assert handler["url"].startswith("http://127.0.0.1:")
    user = json.loads(Path(claude_settings.settings_path("user")).read_text())
    assert user == {"env": {"CCVIZ_HOOK_TOKEN": token}}  # Claude Code's env: no export needed
    # again: nothing changes, the token stays the same
    assert ccviz(["install-hooks", "--scope", "project", "--project-dir", str(project)]) == 0
    assert "already installed" in capsys.readouterr().out
    assert token_file.read_text().strip() == token


def test_the_token_joins_the_users_env_without_touching_the_rest(tmp_path, ccviz):
    user_path = Path(claude_settings.settings_path("user"))
    write(user_path, REALISTIC)
    project = tmp_path / "proj"
    project.mkdir()  # --project-dir must exist
    assert ccviz(["install-hooks", "--scope", "project", "--project-dir", str(project)]) == 0
    user = json.loads(user_path.read_text())
    token = (Path(os.environ["CCVIZ_HOME"]) / "hook-token").read_text().strip()
    assert user["env"] == {**REALISTIC["env"], "CCVIZ_HOOK_TOKEN": token}
    assert {k: v for k, v in user.items() if k != "env"} == {
        k: v for k, v in REALISTIC.items() if k != "env"
    }
    assert len(backups(user_path)) == 1
    # uninstalling from the project leaves the user's env alone (other projects may use it)
    assert ccviz(["uninstall-hooks", "--scope", "project", "--project-dir", str(project)]) == 0
    assert json.loads(user_path.read_text())["env"]["CCVIZ_HOOK_TOKEN"] == token


def test_user_scope_install_and_uninstall_round_trip_with_the_token(tmp_path, ccviz):
    user_path = write(Path(claude_settings.settings_path("user")), REALISTIC)
    assert ccviz(["install-hooks"]) == 0
    installed = json.loads(user_path.read_text())
    assert "CCVIZ_HOOK_TOKEN" in installed["env"]
    assert claude_settings.uses_http(installed)
    assert len(backups(user_path)) == 1  # hooks and token: one write
    assert ccviz(["uninstall-hooks"]) == 0
    assert ordered(json.loads(user_path.read_text())) == ordered(REALISTIC)


def test_back_to_command_hooks_drops_the_token_from_the_user_settings(ccviz):
    user_path = Path(claude_settings.settings_path("user"))
    assert ccviz(["install-hooks"]) == 0
    assert ccviz(["install-hooks", "--command"]) == 0
    settings = json.loads(user_path.read_text())
    assert "env" not in settings and not claude_settings.uses_http(settings)


def test_dry_run_shows_the_token_change_but_never_the_token(tmp_path, ccviz, capsys):
    from ccviz_kernel.claude.settings import hook_token

    token = hook_token()
    project = tmp_path / "proj"
    project.mkdir()  # --project-dir must exist
    args = ["install-hooks", "--scope", "project", "--project-dir", str(project), "--dry-run"]
    assert ccviz(args) == 0
    out = capsys.readouterr().out
    assert "CCVIZ_HOOK_TOKEN" in out and "<hook token>" in out and token not in out
    assert not (project / ".claude").exists()
    assert not Path(claude_settings.settings_path("user")).exists()
    assert ccviz([*args, "--scope", "user"]) == 0
    assert token not in capsys.readouterr().out


def test_http_goes_to_the_frequent_events_that_the_transcript_also_holds():
    # per tool call, per turn, per prompt: hundreds of events a session
    assert {"PreToolUse", "PostToolUse", "PostToolUseFailure", "PostToolBatch"} <= (
        claude_settings.HTTP_EVENTS
    )
    assert {"UserPromptSubmit", "Stop"} <= claude_settings.HTTP_EVENTS
    # never where Claude Code takes no http handler; all of them are installed events
    assert not claude_settings.HTTP_EVENTS & hooks.COMMAND_ONLY_EVENTS
    assert set(hooks.INSTALLED_EVENTS) >= claude_settings.HTTP_EVENTS
    # the session's ends and the subagents' are spooled when no server runs
    for event in ("SessionStart", "SessionEnd", "SubagentStart", "SubagentStop", "Notification"):
        assert event not in claude_settings.HTTP_EVENTS


def test_http_and_command_flags_exclude_each_other(ccviz, capsys):
    with pytest.raises(SystemExit):
        ccviz(["install-hooks", "--http", "--command"])


def test_a_broken_user_settings_file_stops_a_project_install_before_any_write(tmp_path, ccviz):
    user_path = Path(claude_settings.settings_path("user"))
    user_path.parent.mkdir(parents=True)
    user_path.write_text("{oops")
    project = tmp_path / "proj"
    project.mkdir()  # --project-dir must exist
    args = ["install-hooks", "--scope", "project", "--project-dir", str(project)]
    assert ccviz(args) == 1  # the token has nowhere to go: refuse, write nothing
    assert not (project / ".claude" / "settings.json").exists()
    assert user_path.read_text() == "{oops"
    assert ccviz([*args, "--command"]) == 0  # command hooks need no token


# -- lean (the default): no hook per tool call -------------------------------------------


def test_the_default_is_lean_and_hooks_no_per_call_event(tmp_path, ccviz, capsys):
    path = write(tmp_path / "settings.json", REALISTIC)
    assert ccviz(["install-hooks", "--settings", str(path)]) == 0
    out = capsys.readouterr().out
    assert "for 27 events" in out and "transcript" in out
    settings = json.loads(path.read_text())
    ours = ours_by_event(settings)
    assert set(ours) == set(hooks.INSTALLED_EVENTS) - hooks.PER_CALL_EVENTS
    assert set(ours) == set(claude_settings.events_for(per_call=False))
    assert claude_settings.install_mode(settings) == "lean"
    # prompts, turn ends and permissions still post over http; the rest run `ccviz hook`
    for event in ("UserPromptSubmit", "Stop", "PermissionRequest", "PermissionDenied"):
        assert ours[event][0]["type"] == "http", event
    for event in ("SessionStart", "SessionEnd", "SubagentStart", "SubagentStop", "Notification"):
        assert ours[event][0]["type"] == "command" and ours[event][0]["async"] is False, event
    # others' per-call hooks are untouched
    assert settings["hooks"]["PreToolUse"] == REALISTIC["hooks"]["PreToolUse"]
    assert "PostToolUse" not in settings["hooks"]


def test_per_call_adds_http_handlers_on_the_per_call_events(tmp_path, ccviz):
    path = tmp_path / "settings.json"
    assert ccviz(["install-hooks", "--per-call", "--settings", str(path)]) == 0
    settings = json.loads(path.read_text())
    ours = ours_by_event(settings)
    assert set(ours) == set(hooks.INSTALLED_EVENTS)
    for event in hooks.PER_CALL_EVENTS:
        (handler,) = ours[event]
        assert handler["type"] == "http" and handler["url"].endswith("/api/hooks"), event
    assert claude_settings.install_mode(settings) == "per-call"


def test_upgrading_to_lean_removes_our_per_call_handlers_only(tmp_path, ccviz, capsys):
    path = tmp_path / "settings.json"
    for earlier in (["--per-call"], ["--command"]):
        write(path, REALISTIC)
        assert ccviz(["install-hooks", *earlier, "--settings", str(path)]) == 0
        before = json.loads(path.read_text())
        theirs = {"type": "command", "command": "logger post"}
        before["hooks"]["PostToolUse"][0]["hooks"].append(theirs)  # theirs in our group
        write(path, before)
        capsys.readouterr()
        assert ccviz(["install-hooks", "--dry-run", "--settings", str(path)]) == 0
        shown = capsys.readouterr().out
        removed = [line for line in shown.splitlines() if line.startswith("-")]
        assert any('"PostToolBatch": [' in line for line in removed) and "dry run" in shown
        assert ccviz(["install-hooks", "--settings", str(path)]) == 0
        settings = json.loads(path.read_text())
        assert claude_settings.install_mode(settings) == "lean"
        assert not set(ours_by_event(settings)) & hooks.PER_CALL_EVENTS
        assert settings["hooks"]["PreToolUse"] == REALISTIC["hooks"]["PreToolUse"]
        assert settings["hooks"]["PostToolUse"] == [{"hooks": [theirs]}]
        assert "PostToolBatch" not in settings["hooks"]
        # and back to the original once uninstalled (but for theirs)
        assert ccviz(["uninstall-hooks", "--settings", str(path)]) == 0
        left = json.loads(path.read_text())
        assert left["hooks"].pop("PostToolUse") == [{"hooks": [theirs]}]
        assert ordered(left) == ordered(REALISTIC)


def test_install_mode_tells_the_three_apart(tmp_path, ccviz):
    assert claude_settings.install_mode({}) is None
    assert claude_settings.install_mode(REALISTIC) is None  # others' hooks only
    for flags, mode in (([], "lean"), (["--per-call"], "per-call"), (["--command"], "command")):
        path = tmp_path / f"{mode}.json"
        assert ccviz(["install-hooks", *flags, "--settings", str(path)]) == 0
        assert claude_settings.install_mode(json.loads(path.read_text())) == mode
    assert claude_settings.events_for(per_call=True) == hooks.INSTALLED_EVENTS


def test_the_magic_and_the_command_line_share_one_default_scope(tmp_path, monkeypatch, capsys):
    """``%ccviz install-hooks`` and ``ccviz install-hooks`` parse with the same options
    (claude/install_options.py), so with no ``--scope`` both write the user settings; through
    the magic's public entry point, whatever parser the magic builds around them."""
    from ccviz_kernel.claude.install_options import DEFAULT_SCOPE, add_install_options
    from ccviz_kernel.notebook.magics import ccviz_magic

    parser = argparse.ArgumentParser()
    add_install_options(parser)
    ns = parser.parse_args([])
    assert DEFAULT_SCOPE == "user" and ns.scope == DEFAULT_SCOPE
    assert (ns.per_call, ns.all_command, ns.dry_run) == (False, False, False)
    project = tmp_path / "proj"
    project.mkdir()
    monkeypatch.chdir(project)
    ccviz_magic("install-hooks --per-call --dry-run --scope project")
    assert "dry run" in capsys.readouterr().out and not (project / ".claude").exists()
    ccviz_magic("install-hooks")
    settings = json.loads(Path(claude_settings.settings_path("user")).read_text())
    assert claude_settings.install_mode(settings) == "lean"
    assert "CCVIZ_HOOK_TOKEN" in settings["env"]
    assert "installed ccviz hooks" in capsys.readouterr().out
    assert not (project / ".claude").exists()  # not the project: one default everywhere


# -- issue 11, point 5: only ours, every value kept, odd files refused ------------------------

#: Other tools' handlers shaped like ours were: a loopback ``…/api/hooks`` URL, a command
#: whose last words are ``ccviz hook``. The release before markers took them for its own.
LOOKALIKES = {
    "$schema": "https://json.schemastore.org/claude-code-settings.json",
    "hooks": {
        "Stop": [
            {
                "hooks": [
                    {"type": "http", "url": "http://127.0.0.1:9000/api/hooks", "timeout": 5},
                    {"type": "command", "command": "uvx ccviz hook"},
                ]
            }
        ],
        "PreToolUse": [
            {
                "matcher": "Bash",
                "hooks": [
                    {"type": "command", "command": "/opt/venv/bin/ccviz hook", "async": True},
                    {"type": "http", "url": "http://localhost:3000/team/api/hooks"},
                ],
            }
        ],
        "MessageDisplay": [
            {"hooks": [{"type": "command", "command": "python -m ccviz_kernel.cli hook"}]}
        ],
    },
}  # fmt: skip


@pytest.mark.parametrize("flags", [[], ["--per-call"], ["--command"]])
def test_other_tools_handlers_that_look_like_ours_are_never_removed(tmp_path, ccviz, flags):
    path = write(tmp_path / "settings.json", LOOKALIKES)
    assert ccviz(["install-hooks", *flags, "--settings", str(path)]) == 0
    installed = json.loads(path.read_text())
    for event, groups in LOOKALIKES["hooks"].items():
        assert installed["hooks"][event][: len(groups)] == groups, event
    assert ccviz(["install-hooks", *flags, "--settings", str(path)]) == 0
    assert ccviz(["uninstall-hooks", "--settings", str(path)]) == 0
    assert ordered(json.loads(path.read_text())) == ordered(LOOKALIKES)


def test_an_upgrade_replaces_what_the_release_before_markers_wrote(tmp_path, ccviz):
    """The exact handlers of the previous release are still ours: replaced, not doubled."""
    old_command = {
        "type": "command",
        "command": "/old/venv/bin/ccviz hook",
        "async": True,
        "timeout": 10,
    }
    old_http = {
        "type": "http",
        "url": "http://127.0.0.1:8765/api/hooks",
        "timeout": 2,
        "headers": {"Authorization": "Bearer $CCVIZ_HOOK_TOKEN"},
        "allowedEnvVars": ["CCVIZ_HOOK_TOKEN"],
    }  # fmt: skip
    theirs = {"type": "command", "command": "say done"}
    path = write(
        tmp_path / "settings.json",
        {
            "hooks": {
                "SessionStart": [{"hooks": [old_command]}],
                "Stop": [{"hooks": [theirs, old_http]}],
                "MessageDisplay": [{"hooks": [old_command]}],  # an event we no longer hook
            }
        },
    )
    assert ccviz(["install-hooks", "--settings", str(path)]) == 0
    settings = json.loads(path.read_text())
    assert "MessageDisplay" not in settings["hooks"]
    for event, handlers in ours_by_event(settings).items():
        assert len(handlers) == 1 and "ccviz install-hooks" in json.dumps(handlers[0]), event
    assert settings["hooks"]["Stop"][0] == {"hooks": [theirs]}
    assert ccviz(["uninstall-hooks", "--settings", str(path)]) == 0
    assert json.loads(path.read_text()) == {"hooks": {"Stop": [{"hooks": [theirs]}]}}


NUMBERS_TEXT = (
    '{\n  "cleanupPeriodDays": 1e400,\n  "minus": -1E+400,\n  "tiny": 2.5e-400,\n'
    '  "zero": -0,\n  "ratio": 1.50,\n  "big": 123456789012345678901234567890,\n'
    '  "exact": 9007199254740993,\n  "lone": "\\ud800",\n  "hooks": {}\n}\n'
)


def _exact(text: str):
    from decimal import Decimal

    def refuse(name):
        raise ValueError(name)

    return json.loads(text, parse_float=Decimal, parse_int=Decimal, parse_constant=refuse)


def test_numbers_and_strings_come_back_as_written(tmp_path, ccviz):
    """``1e400`` stays ``1e400`` (Python reads inf and wrote ``Infinity``, which Claude Code
    cannot parse, so it dropped the whole file); a lone surrogate is written escaped."""
    path = tmp_path / "settings.json"
    path.write_text(NUMBERS_TEXT)
    assert ccviz(["install-hooks", "--settings", str(path)]) == 0
    installed = path.read_text()
    assert "Infinity" not in installed and "NaN" not in installed
    for literal in ("1e400", "-1E+400", "2.5e-400", "-0,", "1.50", "9007199254740993", '"\\ud800"'):
        assert literal in installed, literal
    assert _exact(installed)["cleanupPeriodDays"] == _exact(NUMBERS_TEXT)["cleanupPeriodDays"]
    assert ccviz(["uninstall-hooks", "--settings", str(path)]) == 0
    assert _exact(path.read_text()) == _exact(NUMBERS_TEXT)
    assert list(_exact(path.read_text())) == list(_exact(NUMBERS_TEXT))  # order, "hooks": {} too


def test_what_we_write_is_json_that_node_parses(tmp_path, ccviz):
    """Claude Code is JavaScript: its JSON.parse must take the file, 1e400 and all."""
    import shutil

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    path = tmp_path / "settings.json"
    path.write_text(NUMBERS_TEXT)
    assert ccviz(["install-hooks", "--settings", str(path)]) == 0
    script = "const s = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'));"
    script += (
        "process.stdout.write(String(s.cleanupPeriodDays) + ' ' + Object.keys(s.hooks).length)"
    )
    done = subprocess.run([node, "-e", script, str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "Infinity" and int(done.stdout.split()[1]) > 0


def test_empty_containers_that_were_there_come_back(ccviz):
    """``"hooks": {}``, an event's ``[]`` and ``"env": {}`` were the user's: uninstall keeps
    them (our markers say ``keep=…``), whereas what we created goes."""
    original = {"env": {}, "hooks": {}, "model": "opus"}
    user_path = write(Path(claude_settings.settings_path("user")), original)
    assert ccviz(["install-hooks"]) == 0  # http: the token goes into this file's env
    assert ccviz(["install-hooks", "--command"]) == 0  # and out again
    assert ccviz(["install-hooks", "--per-call"]) == 0
    assert ccviz(["uninstall-hooks"]) == 0
    assert ordered(json.loads(user_path.read_text())) == ordered(original)
    original = {"hooks": {"Stop": [], "PostToolUse": [], "Other": []}}
    write(user_path, original)
    for flags in ([], ["--per-call"], []):
        assert ccviz(["install-hooks", *flags]) == 0
    assert json.loads(user_path.read_text())["hooks"]["PostToolUse"] == []  # lean again
    assert ccviz(["uninstall-hooks"]) == 0
    assert ordered(json.loads(user_path.read_text())) == ordered(original)


def _run_cli(tmp_path: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """``ccviz install-hooks …`` in a process of its own (a hang is a failure, not a hang)."""
    script = tmp_path / "run_install.py"
    script.write_text(
        "import argparse, sys\n"
        "from ccviz_kernel.errors import CcvizError\n"
        "from ccviz_kernel.cli import install\n"
        "parser = argparse.ArgumentParser(prog='ccviz')\n"
        "install.add_parser(parser.add_subparsers())\n"
        "ns = parser.parse_args(sys.argv[1:])\n"
        "try:\n"
        "    sys.exit(ns.handler(ns))\n"
        "except CcvizError as exc:\n"
        "    print(f'ccviz: {exc}', file=sys.stderr)\n"
        "    sys.exit(1)\n"
    )
    env = {**os.environ}
    try:
        return subprocess.run(
            [sys.executable, str(script), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"ccviz {' '.join(args)} still running after {timeout:g} s (blocked?)")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
@pytest.mark.parametrize("through_a_link", [False, True])
def test_a_fifo_settings_path_is_refused_without_blocking(tmp_path, through_a_link):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    path = fifo
    if through_a_link:
        path = tmp_path / "settings.json"
        path.symlink_to(fifo)
    for command in ("install-hooks", "uninstall-hooks"):
        done = _run_cli(tmp_path, command, "--settings", str(path), timeout=20)
        assert done.returncode == 1, done.stderr
        assert (
            done.stderr
            == f"ccviz: {path} is a named pipe (FIFO), not a settings file; nothing changed\n"
        )
    assert stat.S_ISFIFO(os.stat(path).st_mode)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no unix sockets or device nodes here")
def test_a_directory_socket_or_device_is_refused(tmp_path, ccviz, capsys):
    """Never the real /dev/null here: a build that replaced it would break the machine."""
    import socket

    folder = tmp_path / "settings.json"
    folder.mkdir()
    odd = [(folder, "a directory")]
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    odd.append((tmp_path / "sock", "a socket"))
    if os.geteuid() == 0:  # a private copy of /dev/null's node, in tmp_path
        os.mknod(tmp_path / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        odd.append((tmp_path / "null", "a device"))
    try:
        for path, kind in odd:
            assert ccviz(["install-hooks", "--command", "--settings", str(path)]) == 1
            assert f"{path} is {kind}, not a settings file" in capsys.readouterr().err
            assert not stat.S_ISREG(os.stat(path).st_mode)
    finally:
        sock.close()
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("command", ["install-hooks", "uninstall-hooks"])
def test_a_read_only_settings_file_is_refused_not_replaced(tmp_path, ccviz, capsys, command):
    path = write(tmp_path / "work" / "settings.json", REALISTIC)
    if command == "uninstall-hooks":
        assert ccviz(["install-hooks", "--settings", str(path)]) == 0
    before, inode = path.read_bytes(), path.stat().st_ino
    names = sorted(os.listdir(path.parent))
    path.chmod(0o444)  # refused even as root, who could write it anyway
    capsys.readouterr()
    assert ccviz([command, "--settings", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path} is read-only (mode 444)" in err and "chmod u+w" in err
    assert path.read_bytes() == before and path.stat().st_ino == inode
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert sorted(os.listdir(path.parent)) == names  # no backup, no temp file


def test_a_read_only_user_file_stops_a_project_install_before_any_write(tmp_path, ccviz, capsys):
    user_path = write(Path(claude_settings.settings_path("user")), {"model": "opus"})
    user_path.chmod(0o444)
    project = tmp_path / "proj"
    project.mkdir()  # --project-dir must exist
    args = ["install-hooks", "--scope", "project", "--project-dir", str(project)]
    assert ccviz(args) == 1  # the token cannot go in: nothing written anywhere
    assert f"{user_path} is read-only" in capsys.readouterr().err
    assert not (project / ".claude" / "settings.json").exists()


ODD_FILES = {
    "deep": ('{"a": ' + "[" * 5000 + "]" * 5000 + "}", "nested more than 64 levels deep"),
    "deep-65": ('{"a": ' + "[" * 64 + "]" * 64 + "}", "nested more than 64 levels deep"),
    "long-number": (
        '{"n": ' + "9" * 5000 + "}",
        "a number of 5,000 characters (the limit is 1,000)",
    ),
    "nan": ('{"a": NaN}', "NaN is not JSON"),
    "infinity": ('{"a": -Infinity}', "-Infinity is not JSON"),
    "hooks-null": ('{"hooks": null}', '"hooks" should be an object, found null'),
    "env-null": ('{"env": null}', '"env" should be an object, found null'),
    "event-object": ('{"hooks": {"Stop": {}}}', '"hooks.Stop" should be an array, found an object'),
    "huge": ('{"pad": "' + "x" * (5 << 20) + '"}', "larger than 4 MiB, the most a settings file"),
}


@pytest.mark.parametrize(("text", "expected"), list(ODD_FILES.values()), ids=list(ODD_FILES))
def test_odd_settings_files_get_a_clear_error_and_lose_nothing(
    tmp_path, ccviz, capsys, text, expected
):
    path = tmp_path / "work" / "settings.json"
    path.parent.mkdir()
    path.write_text(text)
    assert ccviz(["install-hooks", "--settings", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"ccviz: {path}") and err.count("\n") == 1, err[:300]
    assert expected in err and "nothing changed" in err, err[:300]
    assert path.read_text() == text
    assert os.listdir(path.parent) == ["settings.json"]


def test_the_marker_is_inside_values_claude_code_runs(tmp_path, ccviz):
    """A shell comment ends the command, a header rides on the http post: no key Claude Code
    does not know, so nothing a settings rewrite could drop (checked against Claude Code
    2.1.332 with ``claude -p --debug``: both ran, no "Invalid setting")."""
    path = tmp_path / "settings.json"
    assert ccviz(["install-hooks", "--per-call", "--settings", str(path)]) == 0
    for handlers in ours_by_event(json.loads(path.read_text())).values():
        (handler,) = handlers
        if handler["type"] == "command":
            assert set(handler) == {"type", "command", "async", "timeout"}
            program, comment = handler["command"].split(" hook # ")
            assert comment == "ccviz install-hooks" and shlex_split(program) == [program]
        else:
            assert set(handler) == {"type", "url", "timeout", "headers", "allowedEnvVars"}
            assert handler["headers"]["X-Ccviz-Installed-By"] == "ccviz install-hooks"


def shlex_split(text: str) -> list[str]:
    import shlex

    return shlex.split(text)


# -- the Claude Code plugin (plugin/, .claude-plugin/marketplace.json) -------------------------

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "plugin"
LAUNCHER = PLUGIN / "hooks" / "ccviz-hook"


def test_the_plugin_hooks_the_lean_events_with_the_launcher():
    """hooks/hooks.json is what plugin.hooks_json() makes from claude/hooks.py (one list of
    events): regenerate it with
    ``python -c "import json; from ccviz_kernel.claude.plugin import hooks_json;
    print(json.dumps(hooks_json(), indent=2))" > plugin/hooks/hooks.json``."""
    from ccviz_kernel.claude import plugin

    on_disk = json.loads((PLUGIN / "hooks" / "hooks.json").read_text())
    assert on_disk == plugin.hooks_json()
    assert list(on_disk["hooks"]) == list(claude_settings.events_for(per_call=False))
    assert not hooks.PER_CALL_EVENTS & set(on_disk["hooks"])  # nothing per tool call
    for event, groups in on_disk["hooks"].items():
        (group,) = groups
        assert group.get("matcher") == hooks.MATCHERS.get(event)
        (handler,) = group["hooks"]
        assert handler == {
            "type": "command",
            "command": 'sh "${CLAUDE_PLUGIN_ROOT}/hooks/ccviz-hook"',
            "async": False,
            # the events that may wait for an answer (the plugin's option): the answering
            # handler's timeout, past the server's wait
            "timeout": 120 if event in ("PermissionRequest", "Elicitation") else 10,
        }
    assert plugin.hooked_events(str(PLUGIN)) == frozenset(on_disk["hooks"])
    assert plugin.source_root() == str(PLUGIN)


def test_the_manifests_name_the_plugin_folder_and_this_version():
    from ccviz_kernel._version import __version__
    from ccviz_kernel.claude import plugin
    from ccviz_kernel.config import ENV_PLUGIN_ANSWER

    manifest = json.loads((PLUGIN / ".claude-plugin" / "plugin.json").read_text())
    assert manifest["name"] == "ccviz" and manifest["version"] == __version__
    # the one option, as plugin.USER_CONFIG says; Claude Code names its variable after it
    assert manifest["userConfig"] == plugin.USER_CONFIG
    (option,) = manifest["userConfig"]
    assert f"CLAUDE_PLUGIN_OPTION_{option.upper()}" == ENV_PLUGIN_ANSWER
    market = json.loads((REPO / ".claude-plugin" / "marketplace.json").read_text())
    (entry,) = market["plugins"]
    # a subfolder: Claude Code copies the plugin's whole folder into its cache
    assert (entry["name"], entry["source"], entry["version"]) == ("ccviz", "./plugin", __version__)
    assert os.access(LAUNCHER, os.X_OK)


def fake_program(folder: Path, name: str, body: str, log: Path) -> Path:
    """A program that logs its arguments and stdin (absolute paths: PATH is only ``folder``)."""
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(
        f'#!/bin/sh\n{body}\nprintf "%s\\n" "$*" >> {log}\n/bin/cat >> {log}\n'
        f'echo "noise on stdout"\necho "noise on stderr" >&2\nexit 3\n'
    )
    path.chmod(0o755)
    return path


def launch(path_dirs: list[Path], *args: str, env: dict | None = None, stdin: str = "{}"):
    return subprocess.run(
        ["/bin/sh", str(LAUNCHER), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={"PATH": os.pathsep.join(map(str, path_dirs)), **(env or {})},
        timeout=30,
    )


def test_the_launcher_runs_ccviz_hook_from_path_quietly(tmp_path):
    log = tmp_path / "log"
    fake_program(tmp_path / "bin", "ccviz", "# from ccviz_kernel.cli import main", log)
    done = launch([tmp_path / "bin"], stdin='{"hook_event_name": "Stop"}')
    assert (done.returncode, done.stdout, done.stderr) == (0, "noise on stdout\n", "")
    assert log.read_text() == 'hook\n{"hook_event_name": "Stop"}'
    which = launch([tmp_path / "bin"], "--which")
    assert (which.returncode, which.stdout) == (0, f"{tmp_path / 'bin' / 'ccviz'} hook\n")


def test_the_launcher_skips_another_projects_ccviz(tmp_path):
    """``ccviz`` on the package index is another project: its script does not import
    ccviz_kernel, so the launcher passes it by and tries python3."""
    log, py_log = tmp_path / "log", tmp_path / "py-log"
    fake_program(tmp_path / "bin", "ccviz", "# someone else's", log)
    fake_program(tmp_path / "bin", "python3", "", py_log)
    done = launch([tmp_path / "bin"], stdin="payload")
    assert done.returncode == 0 and done.stderr == ""
    assert not log.exists()
    assert py_log.read_text() == "-m ccviz_kernel.cli hook\npayload"


def test_the_launcher_with_no_ccviz_exits_0_at_once(tmp_path):
    """After ``make clean`` (the venv gone) Claude Code must not notice anything."""
    empty = tmp_path / "empty"
    empty.mkdir()
    started = time.monotonic()
    done = launch([empty], stdin='{"hook_event_name": "SessionStart"}')
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert time.monotonic() - started < 5
    which = launch([empty], "--which")
    assert (which.returncode, which.stdout) == (1, "")
    # a python3 that has no ccviz_kernel: still nothing, still 0
    done = launch([Path(sys.executable).parent.parent / "missing", "/usr/bin", "/bin"])
    assert done.returncode == 0 and done.stdout == ""


def test_the_launcher_prefers_ccviz_hook_bin(tmp_path):
    log, other = tmp_path / "log", tmp_path / "other"
    chosen = fake_program(tmp_path / "venv", "ccviz", "", log)
    fake_program(tmp_path / "bin", "ccviz", "# ccviz_kernel", other)
    done = launch([tmp_path / "bin"], env={"CCVIZ_HOOK_BIN": str(chosen)}, stdin="x")
    assert done.returncode == 0 and log.read_text() == "hook\nx" and not other.exists()


def test_the_launcher_runs_the_real_ccviz(tmp_path):
    """This install's console script is taken for ccviz's, and ``ccviz hook`` spools."""
    done = launch(
        [Path(sys.executable).parent, "/usr/bin", "/bin"],
        env={"CCVIZ_HOME": os.environ["CCVIZ_HOME"]},
        stdin=json.dumps({"hook_event_name": "Notification", "session_id": "s1"}),
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    spooled = list(Path(os.environ["CCVIZ_HOME"]).glob("spool*"))
    assert spooled and "s1" in spooled[0].read_text()


# -- project scope: a committed file names no path of this machine -----------------------------


def test_a_project_install_writes_portable_commands(tmp_path, ccviz, capsys, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    project = tmp_path / "proj"
    project.mkdir()  # --project-dir must exist
    assert ccviz(["install-hooks", "--scope", "project", "--project-dir", str(project)]) == 0
    out = capsys.readouterr().out
    assert "this shell's PATH has none" in out
    text = (project / ".claude" / "settings.json").read_text()
    assert sys.prefix not in text and str(REPO) not in text
    commands = {
        h["command"]
        for handlers in ours_by_event(json.loads(text)).values()
        for h in handlers
        if h["type"] == "command"
    }
    assert commands == {"ccviz hook || true # ccviz install-hooks"}
    # a teammate without ccviz: the hook exits 0, with nothing on stdout
    (command,) = commands
    done = subprocess.run(
        ["/bin/sh", "-c", command], input="{}", capture_output=True, text=True, timeout=10
    )
    assert (done.returncode, done.stdout) == (0, "")
    # the user and local scopes are this machine's own: the absolute path stays
    assert ccviz(["install-hooks", "--scope", "local", "--project-dir", str(project)]) == 0
    local = json.loads((project / ".claude" / "settings.local.json").read_text())
    programs = {
        h["command"].split(" hook # ")[0]
        for handlers in ours_by_event(local).values()
        for h in handlers
        if h["type"] == "command"
    }
    assert len(programs) == 1 and os.path.isabs(programs.pop())
    assert claude_settings.is_portable_target(str(project / ".claude" / "settings.json"))
    assert not claude_settings.is_portable_target(claude_settings.settings_path("user"))


def test_install_hooks_warns_when_the_plugin_is_enabled_too(tmp_path, ccviz, capsys):
    config = Path(os.environ["CLAUDE_CONFIG_DIR"])
    write(
        config / "plugins" / "installed_plugins.json",
        {"version": 2, "plugins": {"ccviz@ccviz": [{"scope": "user", "installPath": str(PLUGIN)}]}},
    )
    write(config / "settings.json", {"enabledPlugins": {"ccviz@ccviz": True}})
    assert ccviz(["install-hooks"]) == 0
    out = capsys.readouterr().out
    assert "the ccviz plugin (ccviz@ccviz, user scope) is enabled too" in out


# -- issue 16: --answer-permissions (docs/claude-code.md §2.9) ---------------------------------


def _answering(settings: dict) -> dict:
    (handler,) = ours_by_event(settings)["PermissionRequest"]
    return handler


def test_answer_permissions_holds_permission_requests_at_api_permissions(tmp_path, ccviz, capsys):
    """The PermissionRequest handler posts to api/permissions with a timeout above the
    server's wait; every other handler is what a plain install writes; without the option
    the plain handler comes back, and uninstall gives back the original file."""
    from ccviz_kernel.config import ANSWER_HOOK_MARGIN, ANSWER_WAIT

    plain_path = write(tmp_path / "plain.json", REALISTIC)
    assert ccviz(["install-hooks", "--settings", str(plain_path)]) == 0
    plain = json.loads(plain_path.read_text())
    path = write(tmp_path / "settings.json", REALISTIC)
    capsys.readouterr()
    assert ccviz(["install-hooks", "--answer-permissions", "--settings", str(path)]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8765/api/permissions" in out and "--answer-permissions" in out
    settings = json.loads(path.read_text())
    assert _answering(settings) == {
        "type": "http",
        "url": "http://127.0.0.1:8765/api/permissions",
        "timeout": ANSWER_WAIT + ANSWER_HOOK_MARGIN,
        "headers": {
            "Authorization": "Bearer $CCVIZ_HOOK_TOKEN",
            "X-Ccviz-Installed-By": "ccviz install-hooks",
        },
        "allowedEnvVars": ["CCVIZ_HOOK_TOKEN"],
    }
    assert claude_settings.answer_timeout() == 120 == ANSWER_WAIT + ANSWER_HOOK_MARGIN
    assert claude_settings.answers_permissions(settings)
    assert not claude_settings.answers_permissions(plain)
    # what `ccviz doctor` takes for this server's own URLs
    urls = claude_settings.handler_urls("http://127.0.0.1:8765/")
    assert {_answering(settings)["url"], _answering(plain)["url"]} == urls
    assert claude_settings.install_mode(settings) == "lean"
    # an MCP server's form (Elicitation) waits there too, with the same handler
    (elicitation,) = ours_by_event(settings)["Elicitation"]
    assert elicitation == _answering(settings)
    for event in claude_settings.ANSWERED_EVENTS:
        del settings["hooks"][event], plain["hooks"][event]
    assert ordered(settings) == ordered(plain)  # nothing else differs
    # the same again changes nothing; without the option the plain handler is back
    before = path.read_text()
    assert ccviz(["install-hooks", "--answer-permissions", "--settings", str(path)]) == 0
    assert path.read_text() == before and "nothing changed" in capsys.readouterr().out
    assert ccviz(["install-hooks", "--settings", str(path)]) == 0
    assert path.read_text() == plain_path.read_text()
    # and uninstall removes the answering handler like the others
    assert ccviz(["install-hooks", "--answer-permissions", "--settings", str(path)]) == 0
    assert ccviz(["uninstall-hooks", "--settings", str(path)]) == 0
    assert ordered(json.loads(path.read_text())) == ordered(REALISTIC)


@pytest.mark.parametrize(
    ("flags", "mode"), [(["--per-call"], "per-call"), (["--command"], "command")]
)
def test_answer_permissions_works_in_every_mode(tmp_path, ccviz, flags, mode):
    path = tmp_path / f"{mode}.json"
    assert ccviz(["install-hooks", *flags, "--answer-permissions", "--settings", str(path)]) == 0
    settings = json.loads(path.read_text())
    assert claude_settings.install_mode(settings) == mode  # the doctor's report stays right
    assert claude_settings.answers_permissions(settings)
    handler = _answering(settings)
    assert handler["type"] == "http" and handler["url"].endswith("/api/permissions")
    ours = ours_by_event(settings)
    assert ours["Elicitation"] == [handler]
    answered = claude_settings.ANSWERED_EVENTS
    kinds = {h["type"] for e, hs in ours.items() if e not in answered for h in hs}
    assert kinds == ({"command"} if mode == "command" else {"http", "command"})
    # the http handler needs the hook token, with --command too (in the user settings' env)
    user = json.loads(Path(claude_settings.settings_path("user")).read_text())
    assert user["env"]["CCVIZ_HOOK_TOKEN"]


def test_answer_permissions_follows_the_running_server(tmp_path, ccviz):
    from ccviz_kernel.runtime import write_runtime

    write_runtime("http://127.0.0.1:9999/team/", "standalone")
    path = tmp_path / "settings.json"
    assert ccviz(["install-hooks", "--answer-permissions", "--settings", str(path)]) == 0
    settings = json.loads(path.read_text())
    assert _answering(settings)["url"] == "http://127.0.0.1:9999/team/api/permissions"
    assert settings["hooks"]["Stop"][0]["hooks"][0]["url"] == "http://127.0.0.1:9999/team/api/hooks"


def test_the_magic_takes_answer_permissions_too(tmp_path, monkeypatch, capsys):
    from ccviz_kernel.notebook.magics import ccviz_magic

    monkeypatch.chdir(tmp_path)
    ccviz_magic("install-hooks --answer-permissions")
    settings = json.loads(Path(claude_settings.settings_path("user")).read_text())
    assert claude_settings.answers_permissions(settings)
    assert "api/permissions" in capsys.readouterr().out
    ccviz_magic("install-hooks")
    settings = json.loads(Path(claude_settings.settings_path("user")).read_text())
    assert not claude_settings.answers_permissions(settings)
    assert _answering(settings)["url"].endswith("/api/hooks")


def test_elicitation_goes_back_to_the_spooled_command_without_answer_permissions(tmp_path, ccviz):
    """Reinstalling without the option puts Elicitation's plain handler back (``ccviz
    hook``, synchronous: it is rare and not in the transcript); uninstall removes both."""
    path = tmp_path / "settings.json"
    assert ccviz(["install-hooks", "--settings", str(path)]) == 0
    plain = ours_by_event(json.loads(path.read_text()))["Elicitation"]
    assert [(h["type"], h.get("async")) for h in plain] == [("command", False)]
    assert ccviz(["install-hooks", "--answer-permissions", "--settings", str(path)]) == 0
    (held,) = ours_by_event(json.loads(path.read_text()))["Elicitation"]
    assert held["url"].endswith("/api/permissions")
    assert held["timeout"] == claude_settings.answer_timeout()
    assert ccviz(["install-hooks", "--settings", str(path)]) == 0
    assert ours_by_event(json.loads(path.read_text()))["Elicitation"] == plain
    assert ccviz(["install-hooks", "--answer-permissions", "--settings", str(path)]) == 0
    assert ccviz(["uninstall-hooks", "--settings", str(path)]) == 0
    assert "Elicitation" not in json.loads(path.read_text()).get("hooks", {})
