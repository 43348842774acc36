"""Record a session from the real Claude Code CLI, offline, with the live game it made.

    .venv/bin/python tools/record_session.py tools/scenarios/short.json --out /tmp/samples

A scenario (JSON, see tools/scenarios/) is one or more *steps*, each one ``claude -p`` run
in the same temporary project and ``HOME``: the first a plain prompt, later ones with
``"continue": true`` (``--continue``), ``"resume": N`` (``--resume`` the session of step
``N``), a slash command as the prompt (``/compact``), a ``"permission_mode"``, a
``"model"``, their own ``"allowed_tools"`` and ``"args"``. Each step gives the assistant's
turns (text and tool calls; ``{"repeat": n, "turns": [...]}`` repeats turns with ``{i}``
replaced by 0…n-1) and optionally its subagents' turns. A scenario without ``"steps"``
is one step (its ``prompt``, ``turns``, ``subagents`` at the top level).

Claude Code talks to the stand-in Messages API of the end-to-end tests
(tests/e2e/fake_anthropic.py). ccviz's hooks are installed into the project by the
product's own installer (``ccviz install-hooks --scope project``), exactly as a user
would, and a real ccviz server (``ccviz_kernel.hosts.standalone.start``, data folder in
the temporary folder) builds the live game. Next to every installed handler a
synchronous *witness* (this file's ``--capture`` mode, ``python -S -I``) appends each
payload, stamped with the time it fired, to the hook log; the events in ``WITNESS_ONLY``
are witnessed too though ccviz does not install them (to ``<name>.extra-hooks.jsonl``).
Every ``claude`` run gets ``--debug-file``: Claude Code logs each witness run there with its
finish time and duration, so the time it *dispatched* the hook (finish − duration, on
Claude Code's own clock, no interpreter start-up in it) is kept for every hook-log line
(``fired_at`` in ``<name>.live.json``, see :func:`dispatch_times`); the log itself is not
kept (``--keep-debug DIR`` copies it out for a look).
When the last step is over and the server has everything (or nothing arrived for a
while), the server's snapshot and applied events of every game are saved. Written to
``--out``, laid out like ccviz_kernel/samples/:

    <out>/<name>.hooks.jsonl             every installed event, as fired (the witness)
    <out>/<name>.live.json               the live games: snapshot + events as applied
    <out>/<name>.extra-hooks.jsonl       events ccviz does not hook (if any fired)
    <out>/<name>/<session-id>.jsonl      (+ <session-id>/subagents/agent-*.jsonl, .meta.json)

The temporary paths are rewritten to ``/home/dev`` (``--keep-paths`` keeps them). Check
the result with ``.venv/bin/ccviz replay <file>``. Claude Code comes from ``--claude``,
else ``$CCVIZ_CLAUDE``, else the pinned npm install in .cache/ the e2e tests use.
"""

from __future__ import annotations

import json
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_TOOLS = ["Bash", "Read", "Write", "Edit", "Glob", "Grep", "Agent"]
FAKE_HOME = "/home/dev"
CLAUDE_TIMEOUT = 120.0
#: Events 2.1.332 fires that the installer may not hook: witnessed anyway, kept apart.
WITNESS_ONLY = ["PreModelSwitch", "PostModelSwitch", "PreSkillShellCommand", "MessageDisplay"]
#: How long to wait after the last step for the server to get every witnessed event.
SETTLE_TIMEOUT = 10.0
SETTLE_QUIET = 2.5


def capture(log: str) -> int:
    """The hook command: append stdin's payload, stamped, to ``log``. Never fails.

    Runs under ``python -S -I`` (about 11 ms): standard library only, nothing at the top."""
    now = time.time()
    try:
        import fcntl

        payload = json.loads(sys.stdin.buffer.read())
        if isinstance(payload, dict):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
            payload.setdefault("timestamp", f"{stamp}.{int(now * 1000) % 1000:03d}Z")
            line = json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n"
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # parallel tool calls fire hooks at once
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
    except Exception:  # noqa: BLE001 - a hook must never fail Claude Code
        pass
    return 0


# -- the scenario --------------------------------------------------------------------------


def load_scenario(path: str, home: str) -> tuple[dict, str]:
    """The scenario, with ``{project}`` replaced by the project's path; and that path.

    A scenario without ``steps`` becomes one step made of its top-level fields."""
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    project = os.path.join(home, json.loads(raw).get("project", "project"))
    scenario = json.loads(raw.replace("{project}", project))
    if "steps" not in scenario:
        keys = ("prompt", "turns", "subagents", "model", "permission_mode", "args", "match")
        scenario["steps"] = [{k: scenario[k] for k in keys if k in scenario}]
    return scenario, project


def tool_id() -> str:
    """A made-up id shaped like Claude's: ``toolu_01`` and 22 letters or digits."""
    import secrets
    import string

    alphabet = string.ascii_letters + string.digits
    return "toolu_01" + "".join(secrets.choice(alphabet) for _ in range(22))


def expand(spec: list) -> list:
    """Turn specs with ``{"repeat": n, "turns": [...]}`` unrolled (``{i}`` → 0…n-1)."""
    out = []
    for turn in spec:
        if isinstance(turn, dict) and "repeat" in turn:
            body = json.dumps(turn["turns"])
            for i in range(int(turn["repeat"])):
                out.extend(expand(json.loads(body.replace("{i}", str(i)))))
        else:
            out.append(turn)
    return out


def turns(spec: list) -> list:
    from tests.e2e.fake_anthropic import text, tool

    def block(b: dict) -> dict:
        if "text" in b:
            return text(b["text"])
        return tool(b["tool"], b["input"], b.get("id") or tool_id())

    return [[block(b) for b in turn] for turn in expand(spec)]


def step_scripts(step: dict, n: int) -> list:
    """The stand-in API's scripts for one step: each subagent's, then the main agent's."""
    from tests.e2e.fake_anthropic import Script

    subs = [
        Script(f"step{n}.sub{k}", sub["prompt_contains"], turns(sub["turns"]))
        for k, sub in enumerate(step.get("subagents", []))
    ]
    main = Script(f"step{n}.main", step.get("match") or step["prompt"], turns(step["turns"]))
    main.main = True  # matched anywhere in the conversation (see StepAPI)
    return [*subs, main]


def make_api(scripts: list, log_path):
    """The fake API, where a step's main script answers a continued conversation too.

    Subagents' scripts match the first user message, as in the e2e tests. A main script
    matches the *last* user message holding its prompt, and its turn is the number of
    assistant messages after that one: so a ``--continue``/``--resume`` step, whose
    requests carry the earlier steps' conversation, plays its own turns from the first."""
    from tests.e2e.fake_anthropic import FakeAnthropic, message_text

    class StepAPI(FakeAnthropic):
        def answer(self, body):
            from tests.e2e.fake_anthropic import IDLE_TEXT, text

            messages = body.get("messages") or []
            if not body.get("tools"):
                return "", [text(IDLE_TEXT)]
            users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
            if not users:
                return "", [text(IDLE_TEXT)]
            head = message_text(messages[users[0]])
            for script in self.scripts:
                if getattr(script, "main", False):
                    at = next(
                        (i for i in reversed(users) if script.match in message_text(messages[i])),
                        None,
                    )
                    if at is None:
                        continue
                    turn = sum(1 for m in messages[at:] if m.get("role") == "assistant")
                elif script.match in head:
                    turn = sum(1 for m in messages if m.get("role") == "assistant")
                else:
                    continue
                script.answered.append(turn)
                if turn >= len(script.turns):
                    return script.name, [text(IDLE_TEXT)]
                return script.name, script.turns[turn]
            return "", [text(IDLE_TEXT)]

    return StepAPI(scripts, log_path=log_path)


# -- the hooks ---------------------------------------------------------------------------


def capture_command(log: str) -> str:
    import shlex

    return shlex.join([sys.executable, "-S", "-I", os.path.abspath(__file__), "--capture", log])


def ccviz_bin() -> str:
    import shutil

    beside = os.path.join(os.path.dirname(sys.executable), "ccviz")
    found = beside if os.path.exists(beside) else shutil.which("ccviz")
    if found is None:
        sys.exit("record_session: the ccviz console script is not installed")
    return found


def install_hooks(project: str, home: str, log: str, extra_log: str) -> list[str]:
    """``ccviz install-hooks --scope project`` as a user runs it, then a synchronous witness
    beside every handler it wrote (and for ``WITNESS_ONLY``); the events it hooks."""
    import subprocess
    from pathlib import Path

    env = {**os.environ, "HOME": home}
    proc = subprocess.run(
        [ccviz_bin(), "install-hooks", "--scope", "project", "--project-dir", project],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    if proc.returncode != 0:
        sys.exit(f"record_session: ccviz install-hooks failed: {proc.stderr.strip()}")
    files = sorted(Path(project, ".claude").glob("settings*.json"))
    hooked: list[str] = []
    witness = {"type": "command", "command": capture_command(log), "timeout": 10}
    for path in files:
        settings = json.loads(path.read_text())
        for event, groups in (settings.get("hooks") or {}).items():
            for group in groups:
                group["hooks"].append(dict(witness))
            hooked.append(event)
        path.write_text(json.dumps(settings, indent=2) + "\n")
    if not hooked:
        sys.exit("record_session: ccviz install-hooks wrote no hook into the project")
    # Events ccviz could hook but did not (the per-call events of the lean default: the
    # server reads them from the transcript): witnessed into the hook log all the same, since
    # the live game must show them.
    from ccviz_kernel.claude.hooks import INSTALLED_EVENTS

    unhooked = [e for e in INSTALLED_EVENTS if e not in hooked]
    if unhooked:
        path = Path(project, ".claude", "settings.json")
        settings = json.loads(path.read_text()) if path.exists() else {}
        for event in unhooked:
            settings.setdefault("hooks", {})[event] = [{"hooks": [dict(witness)]}]
        path.write_text(json.dumps(settings, indent=2) + "\n")
    extra = [e for e in WITNESS_ONLY if e not in hooked and e not in unhooked]
    if extra:
        path = Path(project, ".claude", "settings.json")
        settings = json.loads(path.read_text()) if path.exists() else {}
        other = {"type": "command", "command": capture_command(extra_log), "timeout": 10}
        for event in extra:
            settings.setdefault("hooks", {})[event] = [{"hooks": [dict(other)]}]
        path.write_text(json.dumps(settings, indent=2) + "\n")
    return hooked


# -- running claude ------------------------------------------------------------------------


def find_claude(chosen: str | None) -> str:
    import shutil

    chosen = chosen or os.environ.get("CCVIZ_CLAUDE")
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            sys.exit(f"record_session: {chosen!r} is not an executable")
        return found
    from tests.e2e.conftest import pinned_claude

    path, reason = pinned_claude()
    if reason is not None:
        sys.exit(f"record_session: {reason}")
    return path


def claude_env(home: str, api_url: str, ccviz_home: str) -> dict[str, str]:
    mine = ("CLAUDE", "ANTHROPIC", "CCVIZ_", "OTEL_")  # nothing of your own setup leaks in
    env = {k: v for k, v in os.environ.items() if not k.startswith(mine)}
    env.update(HOME=home, ANTHROPIC_BASE_URL=api_url, ANTHROPIC_API_KEY="sk-test-anything")
    env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1"
    env["CCVIZ_HOME"] = ccviz_home
    env["PATH"] = os.pathsep.join([os.path.dirname(ccviz_bin()), env.get("PATH", "")])
    return env


def step_args(scenario: dict, step: dict, session_ids: list) -> list[str]:
    args = ["-p", step["prompt"], "--output-format", "json"]
    tools = step.get("allowed_tools", scenario.get("allowed_tools", DEFAULT_TOOLS))
    if tools:
        args += ["--allowedTools", " ".join(tools)]
    if step.get("model") or scenario.get("model"):
        args += ["--model", step.get("model") or scenario["model"]]
    if step.get("permission_mode"):
        args += ["--permission-mode", step["permission_mode"]]
    if step.get("continue"):
        args.append("--continue")
    if "resume" in step:
        args += ["--resume", session_ids[int(step["resume"])]]
    return args + list(step.get("args", []))


async def run_claude(claude: str, args: list[str], project: str, env: dict) -> dict:
    import asyncio

    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        claude,
        *args,
        cwd=project,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    timed_out = False
    try:
        out, err = await asyncio.wait_for(proc.communicate(), CLAUDE_TIMEOUT)
    except asyncio.TimeoutError:
        timed_out = True
        proc.kill()
        out, err = await proc.communicate()
    text = out.decode(errors="replace")
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    return {
        "rc": -1 if timed_out else proc.returncode or 0,
        "seconds": round(time.monotonic() - started, 2),
        "answer": answer,
        "stdout": text if answer is None else "",
        "stderr": err.decode(errors="replace")[-4000:],
    }


def read_jsonl(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def event_key(payload: dict) -> tuple:
    """What tells one hook firing from another (for settling: fired vs arrived)."""
    return tuple(
        payload.get(k) or ""
        for k in ("session_id", "hook_event_name", "tool_name", "tool_use_id", "agent_id")
    )


#: Per-call events the server makes from the transcript when they are not hooked.
TRANSCRIPT_EVENTS = frozenset({"PreToolUse", "PostToolUse", "PostToolUseFailure", "PostToolBatch"})


def from_transcript(payload: dict) -> bool:
    return payload.get("ccviz_source") == "transcript"


def delivered(hooked: list[str]):
    """Which fired events reach the server: the hooked ones, and the per-call events the
    server reads from the transcript (``PostToolBatch`` unhooked reaches it as its calls)."""

    def reaches(row: dict) -> bool:
        name = row.get("hook_event_name")
        return name in hooked or name in TRANSCRIPT_EVENTS

    return reaches


async def run(claude: str, scenario: dict, project: str, home: str, tmp: str) -> dict:
    """Every step, one ``claude`` at a time, with the live server up; what happened."""
    import asyncio
    from collections import Counter
    from pathlib import Path

    from ccviz_kernel.hosts.standalone import start

    log = os.path.join(tmp, "hooks.jsonl")
    # The server reads the transcripts claude writes (the per-call events of the lean
    # install, tokens) only under Claude Code's projects folder: claude's, in this HOME.
    saved_home = os.environ.get("HOME")
    os.environ["HOME"] = home
    os.environ.pop("CLAUDE_CONFIG_DIR", None)
    host = await start(port=0)
    # after the server is up: the installer may point http handlers at the running server
    hooked = await asyncio.to_thread(
        install_hooks, project, home, log, os.path.join(tmp, "extra.jsonl")
    )
    applied: list[tuple[str, int]] = []
    host.hub.subscribe(lambda gid, a: applied.append((gid, a.seq)))
    steps, session_ids, unplayed, starts = [], [], [], []
    try:
        for n, step in enumerate(scenario["steps"]):
            fake = make_api(step_scripts(step, n), Path(tmp, f"requests-{n}.jsonl"))
            url = await fake.start()
            try:
                args = step_args(scenario, step, session_ids)
                env = claude_env(home, url, tmp_ccviz(tmp))
                env.update(scenario.get("env", {}), **step.get("env", {}))
                starts.append(len(read_jsonl(log)))
                debug = ["--debug-file", debug_log(tmp, n)]
                result = await run_claude(claude, [*args, *debug], project, env)
            finally:
                await fake.close()
            answer = result["answer"] or {}
            session_ids.append(answer.get("session_id"))
            result["args"] = args
            result["requests"] = [
                (r.get("script"), r.get("answer"), r.get("model")) for r in fake.requests
            ]
            offered = [r["body"].get("tools") for r in fake.requests if r.get("script")]
            result["tools_offered"] = sorted(t.get("name", "?") for t in (offered or [[]])[0])
            steps.append(result)
            unplayed += [s.name for s in fake.scripts if set(range(len(s.turns))) - set(s.answered)]
            if result["rc"] != 0 and not step.get("may_fail"):
                break
        # settle: every witnessed event arrived, or nothing new for a while
        deadline, last, quiet = time.monotonic() + SETTLE_TIMEOUT, -1, time.monotonic()
        while time.monotonic() < deadline:
            fired = Counter(map(event_key, filter(delivered(hooked), read_jsonl(log))))
            arrived = Counter(
                event_key(json.loads(row.payload))
                for gid in game_ids(host.hub)
                for row in host.hub.store.events(gid)
            )
            total = sum(arrived.values())
            if total != last:
                last, quiet = total, time.monotonic()
            still = time.monotonic() - quiet
            # all in, and quiet a moment for what the server derives (transcript reads)
            if (not fired - arrived and still > 1.0) or still > SETTLE_QUIET:
                break
            await asyncio.sleep(0.2)
        witnessed = fired_index(read_jsonl(log))
        by_key: dict[tuple, list[int]] = {}
        for n, row in enumerate(read_jsonl(log)):
            by_key.setdefault(event_key(row), []).append(n)
        games = {}
        for gid in game_ids(host.hub):
            events = []
            for row in host.hub.store.events(gid):
                payload = json.loads(row.payload)
                event = {"seq": row.seq, "ts": row.ts}
                same = witnessed.get(canonical(payload))
                if same:  # the n-th line of the hook log: not copied again
                    event["fired"] = same.pop(0)
                    added = {k: v for k, v in payload.items() if k.startswith("ccviz_")}
                    if added:  # what the server added to it (ccviz_continues, …)
                        event["with"] = added
                else:
                    event["payload"] = payload
                    # A per-call event the server read from the transcript: the line of the
                    # hook log where Claude Code fired it (the witness), if it fired one.
                    lines = by_key.get(event_key(payload)) if from_transcript(payload) else None
                    if lines:
                        event["fired"] = lines.pop(0)
                events.append(event)
            games[gid] = {
                "snapshot": host.hub.snapshot(gid),
                "events": events,
                "applied": [seq for g, seq in applied if g == gid],
            }
    finally:
        await host.close()
        if saved_home is not None:
            os.environ["HOME"] = saved_home
    fired_at, witness_ms, missing = dispatch_times(tmp, log, starts)
    witness_lost = lost_witnesses(tmp, log, len(starts))
    return {
        "fired_at": fired_at,
        "witness_ms": witness_ms,
        "witness_lost": witness_lost,
        "fired_at_missing": missing,
        "steps": steps,
        "session_ids": session_ids,
        "unplayed": unplayed,
        "games": games,
        "hooked": hooked,
    }


def debug_log(tmp: str, n: int) -> str:
    return os.path.join(tmp, f"claude-debug-{n}.log")


#: A handler's end in Claude Code's ``--debug-file`` log (2.1.332): ``Hooks: PreToolUse:Read
#: [<command>] finished with status 0 (73ms)``; SessionEnd's is ``SessionEnd:other
#: [<command>] completed with status 0`` (no duration, no ``Hooks:``).
HOOK_END = (
    r"^(?P<at>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z) \[DEBUG\] (?:Hooks: )?"
    r"(?P<event>[A-Za-z]+)(?::(?P<matcher>[^ \[]*))? \[(?P<command>[^\]]*)\] "
    r"(?:finished with status -?\d+ \((?P<ms>\d+)ms\)|completed with status -?\d+)"
)


def lost_witnesses(tmp: str, log: str, steps: int) -> list[str]:
    """Events whose witness Claude Code killed (a ``-p`` run ends without waiting for the
    handlers still running: ``finished with status 1``, the hook log lacks that line) while
    the event itself fired, so the server may have it and the hook log not."""
    import re

    lost = []
    command = capture_command(log)
    for n in range(steps):
        path = debug_log(tmp, n)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = re.match(HOOK_END, line)
                if m is None or m["command"] != command:
                    continue
                status = re.search(r"with status (-?\d+)", line)
                if status is not None and status.group(1) != "0":
                    lost.append(m["event"])
    return lost


def hook_runs(text: str, command: str) -> list[tuple[str, str | None, float, int | None]]:
    """The runs of ``command`` in a debug log, in the order they ended: ``(event, matcher,
    finished at (epoch s), duration ms or None)``."""
    import re

    runs = []
    for line in text.splitlines():
        m = re.match(HOOK_END, line)
        if m is None or m["command"] != command:
            continue
        ms = int(m["ms"]) if m["ms"] is not None else None
        runs.append((m["event"], m["matcher"] or None, iso_epoch(m["at"]), ms))
    return runs


#: ``[Stall] tool_dispatch_start|end tool=Read toolUseId=toolu_…``: a tool starts after its
#: PreToolUse handlers ended; its PostToolUse handlers are dispatched after it ended.
STALL = (
    r"^(?P<at>\S+Z) \[INFO\] \[Stall\] tool_dispatch_(?P<what>start|end) \S+ "
    r"toolUseId=(?P<id>\S+)"
)


def tool_spans(text: str) -> tuple[dict[str, float], dict[str, float]]:
    import re

    start: dict[str, float] = {}
    end: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(STALL, line)
        if m:
            (start if m["what"] == "start" else end).setdefault(m["id"], iso_epoch(m["at"]))
    return start, end


def iso_epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


SLACK = 0.002  # both logs keep whole milliseconds


def dispatch_times(
    tmp: str, log: str, starts: list[int]
) -> tuple[list[float | None], list[int | None], list[int]]:
    """When Claude Code dispatched each hook-log line's witness: ``fired_at`` (epoch s, ms
    precision) = the run's finish − its duration in the step's debug log, ``witness_ms`` =
    that duration; None (and the line in the third list) where the log has no duration
    (SessionEnd, PreCompact, PostCompact) or no run for the line.

    Runs and lines are paired per step and per event name (and tool name, which the log
    gives as the matcher of tool events). Runs that do not overlap in time wrote their
    lines in their order; runs that overlap (parallel calls) are paired with their block of
    lines by the pairing that breaks fewest of: the line's witness stamp lies within its
    run, a PreToolUse run ended before its tool started and a PostToolUse(Failure) run began
    after its tool ended (claude's ``[Stall] tool_dispatch_*`` lines name the tool_use_id);
    ties go to finish order = file order (a witness appends, then exits)."""
    rows = read_jsonl(log)
    fired_at: list[float | None] = [None] * len(rows)
    took: list[int | None] = [None] * len(rows)
    command = capture_command(log)
    tool_events = {r.get("hook_event_name") for r in rows if r.get("tool_name")}
    bounds = [*starts, len(rows)]
    for n in range(len(starts)):
        path = debug_log(tmp, n)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        spans = tool_spans(text)
        runs: dict[tuple, list[tuple[float, int | None]]] = {}
        for event, matcher, at, ms in hook_runs(text, command):
            runs.setdefault((event, matcher if event in tool_events else None), []).append((at, ms))
        lines: dict[tuple, list[int]] = {}
        for i in range(bounds[n], bounds[n + 1]):
            event = rows[i].get("hook_event_name")
            key = (event, rows[i].get("tool_name") if event in tool_events else None)
            lines.setdefault(key, []).append(i)
        for key, mine in lines.items():
            for i, (at, ms) in pair_runs(key[0], runs.get(key, []), mine, rows, spans):
                if ms is not None:
                    fired_at[i], took[i] = round(at - ms / 1000, 3), ms
    missing = [i for i, t in enumerate(fired_at) if t is None]
    return fired_at, took, missing


def pair_runs(event, runs, lines, rows, spans):
    """``(line, run)`` pairs of one event (and tool) in one step; see dispatch_times."""
    import itertools

    start, end = spans

    def interval(run):
        at, ms = run
        return (at - ms / 1000 if ms is not None else at), at

    def broken(run, i) -> int:
        lo, hi = interval(run)
        row, bad = rows[i], 0
        try:
            stamp = iso_epoch(row.get("timestamp", ""))
            bad += not lo - SLACK <= stamp <= hi + SLACK
        except ValueError:
            pass
        tid = row.get("tool_use_id")
        if event == "PreToolUse" and tid in start:
            bad += hi > start[tid] + SLACK
        if event in ("PostToolUse", "PostToolUseFailure") and tid in end:
            bad += lo < end[tid] - SLACK
        return bad

    # runs in finish order, cut where none overlaps the next ones
    blocks, block, reach = [], [], None
    for run in runs:
        lo, hi = interval(run)
        if block and lo > reach:
            blocks.append(block)
            block = []
        block.append(run)
        reach = hi if len(block) == 1 else max(reach, hi)
    if block:
        blocks.append(block)
    out, k = [], 0
    for block in blocks:
        mine = lines[k : k + len(block)]
        k += len(block)
        block = block[: len(mine)]
        if 1 < len(block) <= 6:
            best = min(
                itertools.permutations(range(len(block))),
                key=lambda p: (
                    sum(broken(block[p[j]], mine[j]) for j in range(len(mine))),
                    sum(p[j] != j for j in range(len(mine))),
                ),
            )
        else:
            best = range(len(block))
        out += [(mine[j], block[best[j]]) for j in range(len(mine))]
    return out


def canonical(payload: dict) -> str:
    """A payload as Claude Code sent it: without the witness's stamp or server additions."""
    kept = {k: v for k, v in payload.items() if k != "timestamp" and not k.startswith("ccviz_")}
    return json.dumps(kept, sort_keys=True)


def fired_index(rows: list[dict]) -> dict[str, list[int]]:
    """Line numbers (from 0) of the hook log, by payload (its witness stamp left out)."""
    index: dict[str, list[int]] = {}
    for n, row in enumerate(rows):
        index.setdefault(canonical(row), []).append(n)
    return index


def tmp_ccviz(tmp: str) -> str:
    return os.path.join(tmp, "ccviz-home")


def game_ids(hub) -> list[str]:
    return sorted({*hub.live_ids(), *(row.game_id for row in hub.store.games())})


# -- copying the result out --------------------------------------------------------------


def copy_out(tmp: str, out: str, name: str, live: dict, rewrite: dict[str, str]) -> list[str]:
    """Copy the hook logs, the live games and every session's transcript tree into ``out``."""
    from pathlib import Path

    log, extra = Path(tmp, "hooks.jsonl"), Path(tmp, "extra.jsonl")
    rows = read_jsonl(str(log)) + read_jsonl(str(extra))
    transcripts = []
    for row in rows:
        path = row.get("transcript_path")
        if path and path not in transcripts and os.path.exists(path):
            transcripts.append(path)
    sources: list[tuple[Path, Path]] = [(log, Path(out, f"{name}.hooks.jsonl"))]
    if extra.exists():
        sources.append((extra, Path(out, f"{name}.extra-hooks.jsonl")))
    for path in map(Path, transcripts):
        sources.append((path, Path(out, name, path.name)))
        tree = path.with_suffix("")  # <session-id>/: subagents/ and the like
        if tree.is_dir():
            for src in sorted(p for p in tree.rglob("*") if p.is_file()):
                sources.append((src, Path(out, name, tree.name, src.relative_to(tree))))
    written = []

    def put(dst: Path, data: str) -> None:
        for old, new in rewrite.items():
            data = data.replace(old, new)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(data, encoding="utf-8")
        written.append(str(dst))

    for src, dst in sources:
        data = src.read_text(encoding="utf-8")
        if src.suffix == ".jsonl" and src not in (log, extra):
            data = trim_transcript(data)
        put(dst, data)
    put(Path(out, f"{name}.live.json"), json.dumps(live, ensure_ascii=False, indent=1) + "\n")
    return written


#: Transcript lines ccviz never reads for the game, whose long strings (the system prompt,
#: the skill and tool listings, request shapes) are cut to keep the corpus small.
BULKY = {"attachment", "api-request-shape", "api-request-blob"}
CUT = 600


def trim_transcript(data: str) -> str:
    """Cut long strings in the bulky lines (see ``BULKY``); every other line is kept as is."""

    def cut(value):
        if isinstance(value, str) and len(value) > CUT:
            return value[:200] + f"…[{len(value) - 200} chars cut by record_session]"
        if isinstance(value, list):
            if len(value) > 2 and len(json.dumps(value)) > 4 * CUT:
                rest = f"…[{len(value) - 2} more cut by record_session]"
                return [cut(v) for v in value[:2]] + [rest]
            return [cut(v) for v in value]
        if isinstance(value, dict):
            return {k: cut(v) for k, v in value.items()}
        return value

    lines = []
    for line in data.splitlines(keepends=True):
        try:
            obj = json.loads(line)
        except ValueError:
            lines.append(line)
            continue
        if isinstance(obj, dict) and obj.get("type") in BULKY and len(line) > CUT:
            line = json.dumps(cut(obj), ensure_ascii=False, separators=(",", ":")) + "\n"
        lines.append(line)
    return "".join(lines)


def path_rewrites(home: str, tmp: str) -> dict[str, str]:
    """The witness command → ``ccviz hook`` (Claude Code logs the Stop hook's command), the
    installed ``ccviz`` path → ``ccviz``, the temporary HOME → /home/dev (as a path and as a
    ~/.claude/projects folder name) and the rest of the temporary folder → /tmp/ccviz-record."""
    import re

    def dashed(path: str) -> str:
        return re.sub(r"[^A-Za-z0-9]", "-", path)

    rewrite = {
        capture_command(os.path.join(tmp, "hooks.jsonl")): "ccviz hook",
        capture_command(os.path.join(tmp, "extra.jsonl")): "ccviz hook",
        ccviz_bin(): "ccviz",
        home: FAKE_HOME,
        dashed(home) + "-": dashed(FAKE_HOME) + "-",
        tmp: "/tmp/ccviz-record",
    }
    return rewrite


def handler_kinds(project: str) -> dict[str, list[str]]:
    """What the installer wrote, by event: each handler's type (and url or command head)."""
    from pathlib import Path

    kinds: dict[str, list[str]] = {}
    for path in sorted(Path(project, ".claude").glob("settings*.json")):
        for event, groups in (json.loads(path.read_text()).get("hooks") or {}).items():
            for group in groups:
                for h in group["hooks"]:
                    if "--capture" in h.get("command", ""):
                        continue  # the witness
                    what = h.get("url") or os.path.basename(h.get("command", "").split()[0])
                    kinds.setdefault(event, []).append(f"{h.get('type')} {what}".strip())
    return kinds


def summary(path: str) -> dict:
    from collections import Counter

    return dict(sorted(Counter(r["hook_event_name"] for r in read_jsonl(path)).items()))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--capture"]:  # run by Claude Code on every hook event: stay light
        return capture(argv[1])
    import argparse
    import asyncio
    import shutil
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", help="a scenario JSON file (see tools/scenarios/)")
    parser.add_argument("--out", required=True, help="folder to write the recording into")
    parser.add_argument("--name", help="the recording's name (default: the scenario's file name)")
    parser.add_argument("--claude", help="the claude binary (default: $CCVIZ_CLAUDE or .cache/)")
    parser.add_argument("--keep-paths", action="store_true", help="keep the temporary paths")
    parser.add_argument("--keep-debug", help="copy claude's --debug-file logs into this folder")
    ns = parser.parse_args(argv)
    name = ns.name or os.path.splitext(os.path.basename(ns.scenario))[0]
    targets = [os.path.join(ns.out, f"{name}.hooks.jsonl"), os.path.join(ns.out, name)]
    if any(os.path.exists(t) for t in targets):
        parser.error(f"{targets[0]} or {targets[1]}/ exists: remove it or pick another --name")
    sys.path.insert(0, REPO)  # for tests.e2e

    claude = find_claude(ns.claude)
    with tempfile.TemporaryDirectory(prefix="ccviz-record-") as tmp:
        tmp = os.path.realpath(tmp)
        home = os.path.join(tmp, "home")
        os.environ["CCVIZ_HOME"] = tmp_ccviz(tmp)  # the live server's data folder
        os.environ["HOME"] = home  # the server reads transcripts under ~/.claude/projects only
        scenario, project = load_scenario(ns.scenario, home)
        files = scenario.get("files")
        if files:
            shutil.copytree(os.path.join(os.path.dirname(ns.scenario), files), project)
        os.makedirs(project, exist_ok=True)
        log = os.path.join(tmp, "hooks.jsonl")
        result = asyncio.run(run(claude, scenario, project, home, tmp))
        failed = [
            (n, s["rc"])
            for n, s in enumerate(result["steps"])
            if s["rc"] != 0 and not scenario["steps"][n].get("may_fail")
        ]
        if failed or result["unplayed"] or not os.path.exists(log):
            print(f"steps failed {failed}; scripts not played through: {result['unplayed']}")
            for s in result["steps"]:
                print(s["args"], s["rc"], s["stdout"][-1500:], s["stderr"][-1500:], sep="\n")
                print("requests:", s["requests"])
            if not ns.keep_paths and (failed or not os.path.exists(log)):
                return 1
        version = os_version(claude)
        live = {
            "claude_version": version,
            "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "scenario": os.path.basename(ns.scenario),
            "hooked": result["hooked"],
            "handlers": handler_kinds(project),
            "session_ids": result["session_ids"],
            "steps": [
                {k: s[k] for k in ("args", "rc", "seconds", "answer", "requests", "tools_offered")}
                for s in result["steps"]
            ],
            "games": result["games"],
            # parallel to the hook log's lines: when Claude Code dispatched each (see
            # dispatch_times), and how long its witness ran
            "fired_at": result["fired_at"],
            "witness_ms": result["witness_ms"],
            "fired_at_missing": result["fired_at_missing"],
            # events whose witness Claude Code killed at the end of a run (see lost_witnesses)
            "witness_lost": result["witness_lost"],
        }
        rewrite = {} if ns.keep_paths else path_rewrites(home, tmp)
        written = copy_out(tmp, ns.out, name, live, rewrite)
        if ns.keep_debug:
            os.makedirs(ns.keep_debug, exist_ok=True)
            for n in range(len(result["steps"])):
                if os.path.exists(debug_log(tmp, n)):
                    shutil.copy(debug_log(tmp, n), ns.keep_debug)
            shutil.copy(log, os.path.join(ns.keep_debug, "hooks.jsonl"))
    print(f"claude {claude} {version}")
    for n, s in enumerate(result["steps"]):
        answer = s["answer"] or {}
        print(f"step {n}: rc {s['rc']} in {s['seconds']} s, {answer.get('result', '')!r:.80}")
    print(f"hook events: {summary(written[0])}")
    if result["fired_at_missing"]:
        print(f"no dispatch time (witness stamp used): lines {result['fired_at_missing']}")
    for path in written:
        print(f"  {path} ({os.path.getsize(path)} bytes)")
    print(f"check with: .venv/bin/ccviz replay {written[0]}")
    return 0


def os_version(claude: str) -> str:
    import subprocess

    try:
        out = subprocess.run([claude, "--version"], capture_output=True, text=True, timeout=60)
        return out.stdout.strip().split()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
