"""The whole path with the real Claude Code CLI: hooks installed by ``ccviz install-hooks``,
``claude -p`` running a scripted session against a fake Messages API on 127.0.0.1, every
hook reaching a real ccviz server that builds the game.

The default install is *lean*: no handler on the per-call events (``PreToolUse``,
``PostToolUse``, ``PostToolUseFailure``, ``PostToolBatch``), which the server reads from the
transcript it follows (those events carry ``"ccviz_source": "transcript"``); http handlers on
prompts, turn ends and permissions (Claude Code posts each itself) and ``ccviz hook`` on the
rest. So it runs once the server is up: the URL is fixed at install time. Run three times:
lean with the command handlers made ``async: true`` (as ``--command`` installs them), lean
as installed (synchronous), and ``--per-call`` (http handlers on the per-call events too).
Every installed event also gets a synchronous *witness* handler that appends the payload to
a file (beside ours, or alone on the per-call events lean leaves unhooked), so the test
knows exactly which events Claude Code fired and can tell them from what reached the
server, matched by (event, tool_use_id, agent_id). See README.md beside this file for what
was observed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ccviz_kernel.claude.hooks import INSTALLED_EVENTS, MATCHERS, PER_CALL_EVENTS
from ccviz_kernel.hosts.standalone import start

from .fake_anthropic import FakeAnthropic, Script, text, tool

pytestmark = pytest.mark.e2e

MAIN_PROMPT = "ccviz-e2e main: run the scripted session."
SUB_PROMPT = "ccviz-e2e subagent: list the folder and read notes.txt."
AGENT_USE_ID = "toolu_e2e_main_5_0"  # the id the fake gives the Agent call (turn 5, block 0)
FINAL_TEXT = "All done."
ALLOWED_TOOLS = "Bash Read Write Edit Glob Grep Agent"
CLAUDE_TIMEOUT = 120.0
SETTLE_TIMEOUT = 10.0
#: The server drains the hook spool every second; quiet for longer than that means settled.
SETTLE_QUIET = 1.5


def ccviz_bin() -> str:
    beside = Path(sys.executable).with_name("ccviz")
    found = str(beside) if beside.exists() else shutil.which("ccviz")
    if found is None:
        pytest.skip("the ccviz console script is not installed")
    return found


def scripts(project: Path) -> list[Script]:
    """What the fake API answers: the main agent's turns and the subagent's."""
    notes = str(project / "notes.txt")
    return [
        # first: the subagent's first message holds only its own prompt
        Script(
            "sub",
            SUB_PROMPT,
            [
                [tool("Bash", {"command": "ls", "description": "List the folder"})],
                [tool("Read", {"file_path": notes})],
                [text("The folder holds notes.txt, which says hello.")],
            ],
        ),
        Script(
            "main",
            MAIN_PROMPT,
            [
                [
                    text("Writing a file."),
                    tool("Write", {"file_path": notes, "content": "hello\n"}),
                ],
                [tool("Read", {"file_path": notes})],
                [tool("Bash", {"command": "echo hi", "description": "Say hi"})],
                [tool("Bash", {"command": "exit 3", "description": "Fail on purpose"})],
                [tool("Glob", {"pattern": "*.txt"})],
                [
                    tool(
                        "Agent",
                        {
                            "description": "Look around",
                            "prompt": SUB_PROMPT,
                            "subagent_type": "general-purpose",
                            "run_in_background": False,
                        },
                    )
                ],
                [text(FINAL_TEXT)],
            ],
        ),
    ]


# -- installing the hooks ---------------------------------------------------------------


def install_hooks(project: Path, env: dict[str, str], flags: tuple[str, ...] = ()) -> list[Path]:
    """Install ccviz's hooks into ``project`` with the real CLI; the settings files written."""
    env = {k: v for k, v in env.items() if k != "CLAUDE_CONFIG_DIR"}  # HOME's, as claude's
    proc = subprocess.run(
        [ccviz_bin(), "install-hooks", "--scope", "project", "--project-dir", str(project), *flags],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, f"ccviz install-hooks failed: {proc.stderr.strip()}"
    files = [
        path
        for path in sorted((project / ".claude").glob("settings*.json"))
        if _ccviz_handlers(json.loads(path.read_text()))
    ]
    assert files, "install-hooks wrote no ccviz hook into the project's .claude/ settings"
    return files


def _ccviz_handlers(settings: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for groups in (settings.get("hooks") or {}).values():
        for group in groups:
            for handler in group.get("hooks", []):
                command = " ".join([handler.get("command", ""), *handler.get("args", [])])
                ours_http = handler.get("type") == "http" and handler["url"].endswith("/api/hooks")
                if ours_http or ("ccviz" in command and "hook" in command):
                    found.append(handler)
    return found


def prepare(files: list[Path], *, run_async: bool, fired_log: Path) -> bool:
    """Set ``async`` on ccviz's handlers, and add a synchronous witness to each of their
    groups that logs what Claude Code fired, and to every installed event that has none of
    ours (the per-call events of a lean install). Returns whether the installer chose async."""
    # `cat`, not a Python one-liner: a few ms instead of about 100 per event, so the witness
    # barely changes the timing it observes
    witness = {"type": "command", "command": f"cat >> {shlex.quote(str(fired_log))}", "timeout": 10}
    installed_async = []
    everywhere = [json.loads(path.read_text()) for path in files]
    hooked = {
        event
        for settings in everywhere
        for event, groups in settings["hooks"].items()
        if _ccviz_handlers({"hooks": {event: groups}})
    }
    for event in INSTALLED_EVENTS:
        if event not in hooked:  # a witness alone, where lean hooks nothing
            group: dict[str, Any] = {"hooks": [dict(witness)]}
            if event in MATCHERS:
                group["matcher"] = MATCHERS[event]
            everywhere[0]["hooks"].setdefault(event, []).append(group)
    for path, settings in zip(files, everywhere, strict=True):
        for groups in settings["hooks"].values():
            for group in groups:
                ours = _ccviz_handlers({"hooks": {"x": [group]}})
                for handler in ours:
                    if handler.get("type") == "http":
                        continue  # always synchronous
                    assert handler.get("type", "command") == "command", handler
                    installed_async.append(bool(handler.get("async")))
                    handler["async"] = run_async
                if ours:
                    group["hooks"].append(dict(witness))
        path.write_text(json.dumps(settings, indent=2) + "\n")
    return all(installed_async)


# -- running claude ---------------------------------------------------------------------


def project_and_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A project folder and a HOME of Claude Code's own under ``tmp_path``; this process's
    HOME too (the server reads transcripts only under its user's ~/.claude/projects)."""
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    return project, home


def claude_env(home: Path, api_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # nothing of the developer's own Claude Code, API or ccviz setup leaks in
        if not key.startswith(("CLAUDE", "ANTHROPIC", "CCVIZ_", "OTEL_")) or key == "CCVIZ_HOME"
    }
    env.update(
        HOME=str(home),
        ANTHROPIC_BASE_URL=api_url,
        ANTHROPIC_API_KEY="sk-test-anything",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        CCVIZ_HOME=os.environ["CCVIZ_HOME"],  # tests/conftest.py sets one per test
        PATH=os.pathsep.join([str(Path(ccviz_bin()).parent), env.get("PATH", "")]),
    )
    return env


async def run_claude(
    claude: str, project: Path, env: dict[str, str], debug_log: Path
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        claude,
        "-p",
        MAIN_PROMPT,
        "--allowedTools",
        ALLOWED_TOOLS,
        "--output-format",
        "json",
        "--debug-file",
        str(debug_log),
        cwd=project,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), CLAUDE_TIMEOUT)
    except asyncio.TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        return -1, out.decode(errors="replace"), err.decode(errors="replace")
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def key(payload: dict[str, Any]) -> tuple[str, str, str]:
    """What tells one hook firing from another in this session (a hook's payload or the
    event the server made from the transcript alike)."""
    return (
        payload.get("hook_event_name", ""),
        payload.get("tool_use_id", ""),
        payload.get("agent_id", ""),
    )


def expected(fired: list[dict[str, Any]], lean: bool) -> list[dict[str, Any]]:
    """What should reach the server of what fired: everything, lean too (the per-call
    events, PostToolBatch included, from the transcript the server follows)."""
    return list(fired)


def read_fired(path: Path) -> list[dict[str, Any]]:
    """The witness's log: the payloads as Claude Code sent them, one after another."""
    if not path.exists():
        return []
    text, decoder, payloads, at = path.read_text(), json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return payloads
        payload, at = decoder.raw_decode(text, at)
        payloads.append(payload)


# -- the test -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["async", "sync", "per-call"])
def test_a_real_claude_code_session_becomes_a_game(mode, claude_bin, tmp_path, monkeypatch):
    project, home = project_and_home(tmp_path, monkeypatch)
    lean = mode != "per-call"
    fired_log, debug_log = tmp_path / "fired.jsonl", tmp_path / "claude-debug.log"
    fake = FakeAnthropic(scripts(project), log_path=tmp_path / "requests.jsonl")
    installed_async = None

    async def scenario() -> dict[str, Any]:
        nonlocal installed_async
        host = await start(port=0)
        try:
            flags = ("--per-call",) if mode == "per-call" else ()
            files = install_hooks(project, {**os.environ, "HOME": str(home)}, flags)
            installed_async = prepare(files, run_async=mode == "async", fired_log=fired_log)
            url = await fake.start()
            started = time.monotonic()
            rc, out, err = await run_claude(claude_bin, project, claude_env(home, url), debug_log)
            ran = time.monotonic() - started
            # wait until every fired event arrived, or nothing changed for a while
            game_id, arrived, last, quiet_since = None, [], -1, time.monotonic()
            deadline = time.monotonic() + SETTLE_TIMEOUT
            while time.monotonic() < deadline:
                ids = host.hub.live_ids()
                game_id = ids[0] if len(ids) == 1 else game_id
                stored = host.hub.store.events(game_id) if game_id else []
                # the server's own events (ccviz.usage: token counts read from the
                # transcript) are not hook firings
                arrived = [
                    payload
                    for payload in (json.loads(e.payload) for e in stored)
                    if not str(payload.get("hook_event_name", "")).startswith("ccviz.")
                ]
                if len(arrived) != last:
                    last, quiet_since = len(arrived), time.monotonic()
                fired = expected(read_fired(fired_log), lean)
                if fired and Counter(map(key, arrived)) == Counter(map(key, fired)):
                    break
                if rc != 0 or time.monotonic() - quiet_since > SETTLE_QUIET:
                    break
                await asyncio.sleep(0.1)
            return {
                "rc": rc,
                "out": out,
                "err": err,
                "ran": ran,
                "settled": time.monotonic() - started - ran,
                "live": host.hub.live_ids(),
                "game_id": game_id,
                "snapshot": host.hub.snapshot(game_id) if game_id else None,
                "arrived": arrived,
            }
        finally:
            await fake.close()
            await host.close()

    result = asyncio.run(asyncio.wait_for(scenario(), CLAUDE_TIMEOUT + SETTLE_TIMEOUT + 30))
    all_fired = read_fired(fired_log)
    fired = expected(all_fired, lean)
    arrived = result["arrived"]
    missing = Counter(map(key, fired)) - Counter(map(key, arrived))
    extra = Counter(map(key, arrived)) - Counter(map(key, fired))
    # shown when the test fails
    print(f"mode={mode} installed async={installed_async} claude={claude_bin}")
    print(f"claude ran {result['ran']:.1f} s, settled in {result['settled']:.1f} s")
    print(f"hook events fired {len(fired)}, arrived {len(arrived)}; missing {dict(missing)}")
    print("requests:", [(r["path"], r.get("script"), r.get("answer")) for r in fake.requests])
    print("claude stdout:", result["out"][-2000:])
    print("claude stderr:", result["err"][-2000:])
    if debug_log.exists():
        ours = f"{ccviz_bin()} hook"
        hooks = [
            line
            for line in debug_log.read_text().splitlines()
            if ours in line or "cancel" in line.lower() or "async_hook" in line
        ]
        print("debug log, hook lines:", *hooks[-40:], sep="\n  ")

    assert result["rc"] == 0, "claude failed"
    answer = json.loads(result["out"])
    assert answer["is_error"] is False and answer["result"] == FINAL_TEXT
    session_id = answer["session_id"]
    main, sub = fake.scripts[1], fake.scripts[0]
    assert main.answered == list(range(len(main.turns)))
    assert sub.answered == list(range(len(sub.turns)))

    # the game: one per session, named by the session id
    assert result["live"] == [session_id]
    assert all(p["session_id"] == session_id for p in arrived)
    snap = result["snapshot"]
    agents = snap["agents"]
    subs = [a for a in agents if a != "main"]
    assert len(subs) == 1, agents
    assert agents[subs[0]]["kind"] == "subagent"
    child = agents[subs[0]]
    assert child["parent"] == "main"
    assert child["spawnedBy"] == AGENT_USE_ID
    assert child["state"] == "left"
    stats = snap["stats"]
    assert stats["toolCalls"] == {"Write": 1, "Read": 2, "Bash": 3, "Glob": 1, "Agent": 1}
    assert stats["failures"] >= 1
    assert stats["subagents"] == 1 and stats["prompts"] == 1

    # fired vs arrived
    names = Counter(p["hook_event_name"] for p in all_fired)
    assert names["PreToolUse"] == 8 and names["PostToolUseFailure"] == 1, names
    assert names["SubagentStart"] == 1 and names["SubagentStop"] == 1, names
    assert not extra, f"events arrived that were never fired: {extra}"
    per_call = [p for p in arrived if p["hook_event_name"] in PER_CALL_EVENTS]
    from_transcript = [p for p in arrived if p.get("ccviz_source") == "transcript"]
    print(f"from the transcript: {Counter(p['hook_event_name'] for p in from_transcript)}")
    if lean:
        # no hook on the per-call events, so each one came from the transcript
        assert per_call and all(p.get("ccviz_source") == "transcript" for p in per_call)
        batches = [p for p in arrived if p["hook_event_name"] == "PostToolBatch"]
        assert names["PostToolBatch"] == 8 == len(batches), (names, len(batches))
    if mode in ("sync", "per-call"):
        assert not missing, f"synchronous hooks lost events: {missing}"
        assert agents["main"]["state"] == "left"  # SessionEnd arrived
    else:
        # `claude -p` kills async hooks still running at teardown: only the tail may be lost
        # (in practice Stop, fired a few ms before the end). Everything up to SubagentStop
        # fired long before that and must be there.
        cut = next(i for i, p in enumerate(fired) if p["hook_event_name"] == "SubagentStop")
        early_missing = Counter(map(key, fired[: cut + 1])) - Counter(map(key, arrived))
        assert not early_missing, f"async hooks lost events well before teardown: {early_missing}"
