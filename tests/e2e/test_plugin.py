"""The plugin path with the real Claude Code CLI: ``claude plugin validate`` passes the
repository's marketplace and plugin, ``claude plugin marketplace add <repo>`` and ``claude
plugin install ccviz@ccviz`` install it into a temporary HOME, a scripted ``claude -p``
session runs with no ccviz handler in any settings file, and the plugin's hooks (the
launcher ``plugin/hooks/ccviz-hook`` finding ``ccviz`` on PATH) plus the transcript the server
follows build the whole game. ``ccviz doctor`` then recognises the plugin. Last, the
``make clean`` case: with no ccviz on PATH the same session still succeeds (the launcher
exits 0 quietly), nothing arrives, and ``ccviz doctor`` says the plugin's hooks find no ccviz.

A synchronous witness (``cat >> fired.jsonl``, in the project's settings) on every event
ccviz can hook tells what Claude Code fired, as in test_claude_code.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ccviz_kernel.claude.hooks import INSTALLED_EVENTS, MATCHERS
from ccviz_kernel.claude.plugin import active, plugin_events
from ccviz_kernel.hosts.standalone import start

from .fake_anthropic import FakeAnthropic, Script, text, tool
from .test_claude_code import (
    AGENT_USE_ID,
    CLAUDE_TIMEOUT,
    FINAL_TEXT,
    SETTLE_QUIET,
    SETTLE_TIMEOUT,
    ccviz_bin,
    claude_env,
    key,
    project_and_home,
    read_fired,
    run_claude,
    scripts,
)

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
#: Seconds for one ``claude plugin …`` command (a local folder: about a second here).
PLUGIN_CLI_TIMEOUT = 60.0


def plugin_cli(claude: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``claude plugin <args>``; fails the test with its output when it exits non-zero."""
    proc = subprocess.run(
        [claude, "plugin", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=PLUGIN_CLI_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    print(f"$ claude plugin {' '.join(args)}\n{proc.stdout}{proc.stderr}")
    assert proc.returncode == 0, f"claude plugin {' '.join(args)} failed: {proc.stderr}"
    return proc


def add_witness(project: Path, fired_log: Path) -> None:
    """A synchronous ``cat`` on every event ccviz can hook, in the project's settings: what
    Claude Code fired (the plugin's own hooks are not in any settings file)."""
    witness = {"type": "command", "command": f"cat >> {shlex.quote(str(fired_log))}", "timeout": 10}
    hooks: dict[str, Any] = {}
    for event in INSTALLED_EVENTS:
        group: dict[str, Any] = {"hooks": [dict(witness)]}
        if event in MATCHERS:
            group["matcher"] = MATCHERS[event]
        hooks[event] = [group]
    (project / ".claude").mkdir(exist_ok=True)
    (project / ".claude" / "settings.json").write_text(json.dumps({"hooks": hooks}, indent=2))


def without_ccviz(env: dict[str, str]) -> dict[str, str]:
    """``env`` as after ``make clean``: no ccviz on PATH, and no python3 that imports it."""
    venv_bin = str(Path(ccviz_bin()).parent)
    path = [p for p in env["PATH"].split(os.pathsep) if p and os.path.realpath(p) != venv_bin]
    return {**env, "PATH": os.pathsep.join(path)}


def doctor(env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """``ccviz doctor --json`` run by this interpreter (so it runs whatever PATH says)."""
    proc = subprocess.run(
        [sys.executable, "-m", "ccviz_kernel.cli", "doctor", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )
    print("ccviz doctor:", proc.stdout, proc.stderr)
    return json.loads(proc.stdout)


def test_the_plugin_installed_by_the_real_cli_builds_the_game(claude_bin, tmp_path, monkeypatch):
    project, home = project_and_home(tmp_path, monkeypatch)
    fired_log, debug_log = tmp_path / "fired.jsonl", tmp_path / "claude-debug.log"
    base_env = claude_env(home, "http://127.0.0.1:9")  # the API URL is set per run below

    # the manifests, then the install, as a user would run them
    for target in (REPO, REPO / "plugin"):
        out = plugin_cli(claude_bin, base_env, "validate", str(target)).stdout
        assert "Validation passed" in out and "✘" not in out
    out = plugin_cli(claude_bin, base_env, "marketplace", "add", str(REPO)).stdout
    assert "Successfully added marketplace: ccviz" in out
    out = plugin_cli(claude_bin, base_env, "install", "ccviz@ccviz").stdout
    assert "Successfully installed plugin: ccviz@ccviz" in out
    listed = json.loads(plugin_cli(claude_bin, base_env, "list", "--json").stdout)
    ours = [p for p in listed if p["id"] == "ccviz@ccviz"]
    assert ours and ours[0]["enabled"] is True, listed
    found = active(str(project))
    assert [(p.id, p.scope) for p in found] == [("ccviz@ccviz", "user")]
    assert found[0].events == frozenset(plugin_events())
    # what Claude Code copied is the plugin folder alone, not the repository around it
    assert sorted(os.listdir(found[0].path)) == sorted(os.listdir(REPO / "plugin"))
    add_witness(project, fired_log)

    fake = FakeAnthropic(scripts(project), log_path=tmp_path / "requests.jsonl")

    async def scenario() -> dict[str, Any]:
        host = await start(port=0)
        try:
            url = await fake.start()
            env = claude_env(home, url)
            started = time.monotonic()
            rc, out, err = await run_claude(claude_bin, project, env, debug_log)
            ran = time.monotonic() - started
            arrived: list[dict[str, Any]] = []
            game_id, last, quiet_since = None, -1, time.monotonic()
            deadline = time.monotonic() + SETTLE_TIMEOUT
            while time.monotonic() < deadline:
                ids = host.hub.live_ids()
                game_id = ids[0] if len(ids) == 1 else game_id
                stored = host.hub.store.events(game_id) if game_id else []
                arrived = [
                    payload
                    for payload in (json.loads(e.payload) for e in stored)
                    if not str(payload.get("hook_event_name", "")).startswith("ccviz.")
                ]
                if len(arrived) != last:
                    last, quiet_since = len(arrived), time.monotonic()
                fired = read_fired(fired_log)
                if fired and Counter(map(key, arrived)) == Counter(map(key, fired)):
                    break
                if rc != 0 or time.monotonic() - quiet_since > SETTLE_QUIET:
                    break
                await asyncio.sleep(0.1)
            checkup = await asyncio.to_thread(doctor, env, project)
            # `make clean`: the venv is gone from PATH; the session must not notice
            fired_before = len(read_fired(fired_log))
            gone = without_ccviz(env)
            rc2, out2, err2 = await run_claude(claude_bin, project, gone, tmp_path / "d2.log")
            await asyncio.sleep(SETTLE_QUIET)
            return {
                "rc": rc,
                "out": out,
                "err": err,
                "ran": ran,
                "live": host.hub.live_ids(),
                "game_id": game_id,
                "snapshot": host.hub.snapshot(game_id) if game_id else None,
                "arrived": arrived,
                "doctor": checkup,
                "gone": (rc2, out2, err2),
                "gone_fired": read_fired(fired_log)[fired_before:],
                "gone_live": host.hub.live_ids(),
                "gone_doctor": await asyncio.to_thread(doctor, gone, project),
            }
        finally:
            await fake.close()
            await host.close()

    budget = 2 * CLAUDE_TIMEOUT + SETTLE_TIMEOUT + 60
    result = asyncio.run(asyncio.wait_for(scenario(), budget))
    first = json.loads(result["out"]).get("session_id") if result["rc"] == 0 else None
    fired = [p for p in read_fired(fired_log) if p.get("session_id") == first]
    arrived = result["arrived"]
    missing = Counter(map(key, fired)) - Counter(map(key, arrived))
    extra = Counter(map(key, arrived)) - Counter(map(key, fired))
    print(f"claude ran {result['ran']:.1f} s; fired {len(fired)}, arrived {len(arrived)}")
    print("missing", dict(missing), "extra", dict(extra))
    print("claude stderr:", result["err"][-2000:])
    if debug_log.exists():
        lines = [ln for ln in debug_log.read_text().splitlines() if "ccviz-hook" in ln]
        print("debug log, plugin hook lines:", *lines[-30:], sep="\n  ")

    assert result["rc"] == 0, "claude failed"
    answer = json.loads(result["out"])
    assert answer["is_error"] is False and answer["result"] == FINAL_TEXT
    session_id = answer["session_id"]

    # the game, with no ccviz handler in any settings file: the plugin's hooks and the
    # transcript brought every event Claude Code fired, and nothing else
    assert result["live"] == [session_id]
    assert not missing, f"the plugin's hooks lost events: {missing}"
    assert not extra, f"events arrived that were never fired: {extra}"
    hooked = [p for p in arrived if p.get("ccviz_source") != "transcript"]
    print("by the plugin's hooks:", Counter(p["hook_event_name"] for p in hooked))
    assert {p["hook_event_name"] for p in hooked} >= {
        "SessionStart",
        "UserPromptSubmit",
        "SubagentStart",
        "SubagentStop",
        "Stop",
        "SessionEnd",
    }
    snap = result["snapshot"]
    agents = snap["agents"]
    subs = [a for a in agents if a != "main"]
    assert len(subs) == 1 and agents[subs[0]]["spawnedBy"] == AGENT_USE_ID, agents
    assert agents[subs[0]]["state"] == "left" and agents["main"]["state"] == "left"
    stats = snap["stats"]
    assert stats["toolCalls"] == {"Write": 1, "Read": 2, "Bash": 3, "Glob": 1, "Agent": 1}
    assert stats["failures"] >= 1 and stats["prompts"] == 1 and stats["subagents"] == 1

    # ccviz doctor recognises the plugin, and does not ask for install-hooks
    checks = {c["name"]: c for c in result["doctor"]["checks"]}
    assert checks["hooks (plugin)"]["status"] == "ok", checks
    assert "ccviz@ccviz" in checks["hooks (plugin)"]["detail"]
    assert "for an answer" not in checks["hooks (plugin)"]["detail"]  # the option is off
    assert "hooks" not in checks, checks  # the "not installed in any scope" failure

    # after `make clean`: Claude Code runs as before, the hooks deliver nothing, and
    # the doctor says why
    rc2, out2, err2 = result["gone"]
    assert rc2 == 0, err2
    assert json.loads(out2)["result"] == FINAL_TEXT
    assert result["gone_fired"], "the second session fired no hook"
    assert result["gone_live"] == [session_id], "events arrived with no ccviz on PATH"
    gone = {c["name"]: c for c in result["gone_doctor"]["checks"]}
    assert gone["hooks (plugin)"]["status"] == "fail", gone
    assert "no ccviz" in gone["hooks (plugin)"]["detail"]


PLUGIN_PROMPT = "ccviz-e2e plugin: write a file, if you may."


def test_the_plugins_option_lets_python_answer_a_permission(claude_bin, tmp_path, monkeypatch):
    """``claude plugin install ccviz@ccviz --config answer_permissions=true``: no settings
    file names a ccviz handler, yet the plugin's hook holds the Write's PermissionRequest at
    the server (Claude Code in its default permission mode), and an answer from Python
    lets the Write run."""
    from .test_permissions import claude_process, fake_api_and_server, killed, runtime_file

    project, home = project_and_home(tmp_path, monkeypatch)
    base_env = claude_env(home, "http://127.0.0.1:9")
    plugin_cli(claude_bin, base_env, "marketplace", "add", str(REPO))
    option = "answer_permissions=true"
    out = plugin_cli(claude_bin, base_env, "install", "ccviz@ccviz", "--config", option).stdout
    assert "Successfully installed plugin: ccviz@ccviz" in out
    settings = json.loads((home / ".claude" / "settings.json").read_text())
    assert settings["pluginConfigs"]["ccviz@ccviz"]["options"] == {"answer_permissions": True}
    write = tool("Write", {"file_path": str(project / "a.txt"), "content": "A\n"})
    script = Script("main", PLUGIN_PROMPT, [[write], [text("Written.")]])
    proc = None
    with fake_api_and_server([script]) as served:
        try:
            runtime_file(served.host.url)
            argv = [claude_bin, "-p", PLUGIN_PROMPT, "--allowedTools", "Read"]
            argv += ["--output-format", "json"]
            proc = claude_process(argv, project, claude_env(home, served.api))
            game_id, game = served.game()
            deadline = time.monotonic() + CLAUDE_TIMEOUT
            while not (pending := game.pending()):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "no permission request came"
                time.sleep(0.05)
            (request,) = pending
            assert (request.tool, request.kind) == ("Write", "permission")
            began = time.monotonic()
            request.allow()
            out, err = proc.communicate(timeout=CLAUDE_TIMEOUT)
            took = time.monotonic() - began
        finally:
            killed(proc)
        assert proc.returncode == 0, err[-2000:]
        result = json.loads(out)
        assert result.get("permission_denials", []) == [] and result["result"] == "Written."
        assert (project / "a.txt").read_text() == "A\n"
        closed = served.snapshot(game_id)["permissions"][request.id]
        assert (closed["state"], closed["source"]) == ("allowed", "python")
        checks = {c["name"]: c for c in doctor(claude_env(home, served.api), project)["checks"]}
        said = checks["hooks (plugin)"]
        assert said["status"] == "ok" and "wait at the server for an answer" in said["detail"]
        print(f"allowed from Python through the plugin's hook: claude finished {took:.2f} s after")
