"""What watching costs Claude Code: the real CLI on a long scripted session, with and without hooks.

    .venv/bin/python bench/claude_cost_bench.py                 # prints a table
    .venv/bin/python bench/claude_cost_bench.py --json bench/results/claude_cost.json

The pinned Claude Code CLI (tests/e2e/conftest.py ``pinned_claude()``) runs ``claude -p``
offline against the stand-in Messages API of the end-to-end tests (tests/e2e/fake_anthropic.py)
in a temporary project with a temporary ``HOME``, on a session generated here: ``--turns``
assistant turns of Read, Bash, Glob and Edit calls, every fifth turn three calls in parallel,
and one subagent with its own calls (about 230 tool calls in all). The modes:

- ``none``: no hooks at all (the baseline);
- ``lean-up`` / ``lean-down``: the hooks exactly as ``ccviz install-hooks --scope project``
  writes them by default (no handler on the per-call events, which the server reads from the
  transcript it follows), with ``ccviz serve`` running / not running. Down: the server is
  started after the run and left to catch up (the spool, the transcript), and what reached
  its store then counts;
- ``per-call-up`` / ``per-call-down``: the same with ``install-hooks --per-call`` (http
  handlers on the per-call events too: the default before lean);
- ``command-up`` / ``command-down``: ``install-hooks --command`` (a process per event, the
  design before http hooks);
- ``cat``: ``cat > /dev/null`` as an async command hook on every event ccviz can hook (the
  floor of any hook that is a process);
- ``null-up``: the http handlers ``install-hooks --per-call`` writes, aimed at a stand-in
  server that answers ``204`` at once and keeps nothing (what an http hook costs Claude Code
  itself);
- ``prebatch-up`` / ``pre-up``: ``--per-call`` without ``PostToolUse``, and with only
  ``PreToolUse`` of the per-call events: what hooking some of them costs;
- ``fast-up`` / ``fast-down``: ``install-hooks --command`` with each ``ccviz hook`` replaced
  by a stdlib-only launcher run as ``python -S -I`` (no ``site``: the cheapest Python hook).

Each mode runs ``--runs`` times, interleaved: round *r* runs the modes rotated by *r*, so a
change in the machine's load hits every mode alike. Only the ``claude`` process is timed
(spawn to exit); every run gets a fresh HOME, project and ccviz data folder, and the same
environment. What Claude Code fired is counted once per hook variant by an extra, untimed
*witness* run (a synchronous ``cat >> file`` beside each of ccviz's handlers, and alone on
every event ccviz could hook but this variant does not, as the e2e tests do; the session is
deterministic, so every run fires the same events); each timed run's store is compared with
it on (event, tool_use_id, agent_id), whether the event came by a hook or from the
transcript (``"ccviz_source": "transcript"``). The load average is printed
before and after. "vs none" is the ratio of medians; "paired" the median over rounds of
each run's time over the same round's no-hooks run, steadier when the load drifts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _machine import machine

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.fake_anthropic import FakeAnthropic, Script, text, tool  # noqa: E402

CCVIZ = str(Path(sys.executable).with_name("ccviz"))
PROMPT = "ccviz-bench main: run the long scripted session."
SUB_PROMPT = "ccviz-bench subagent: look around the project."
TOOLS = "Bash Read Edit Glob Agent"
CLAUDE_TIMEOUT = 300.0
SETTLE_QUIET = 1.5
SETTLE_MAX = 20.0
DEFAULT_MODES = ("none", "lean-up", "lean-down", "per-call-up")
#: After a run with the server down, how long the restarted server gets to fill the gaps.
FILL_WAIT = 12.0


# -- the session ---------------------------------------------------------------------------


def make_files(project: Path, count: int) -> None:
    for i in range(count):
        (project / f"f{i:03d}.txt").write_text(f"file {i}\nmarker alpha-{i}\nend\n")


def session(project: Path, turns: int) -> tuple[list[Script], int]:
    """The fake API's scripts (subagent first, then main) and the number of tool calls."""
    files = max(8, turns // 2)
    read: list[int] = []
    edited: set[int] = set()
    main: list[list[dict[str, Any]]] = []
    calls = 0

    def path(i: int) -> str:
        return str(project / f"f{i % files:03d}.txt")

    def one(t: int) -> dict[str, Any]:
        kind = t % 4
        if kind == 0 or not read:
            i = (t * 7) % files
            read.append(i)
            return tool("Read", {"file_path": path(i)})
        if kind == 1:
            return tool("Bash", {"command": f"echo step {t}", "description": f"Step {t}"})
        if kind == 2:
            return tool("Glob", {"pattern": f"f{t % 10}*.txt"})
        todo = [i for i in read if i not in edited]
        if not todo:
            return tool("Bash", {"command": f"echo step {t}", "description": f"Step {t}"})
        i = todo[0]
        edited.add(i)
        return tool(
            "Edit",
            {"file_path": path(i), "old_string": f"alpha-{i}", "new_string": f"beta-{i}"},
        )

    for t in range(turns):
        if t == turns // 2:
            main.append(
                [
                    tool(
                        "Agent",
                        {
                            "description": "Look around",
                            "prompt": SUB_PROMPT,
                            "subagent_type": "general-purpose",
                        },
                    )
                ]
            )
            calls += 1
            continue
        if t % 5 == 4:  # three at once
            blocks = [
                tool("Read", {"file_path": path(t + 1)}),
                tool("Bash", {"command": f"echo parallel {t}", "description": f"Par {t}"}),
                tool("Glob", {"pattern": f"f0{t % 10}*.txt"}),
            ]
            read.append((t + 1) % files)
        else:
            blocks = [one(t)]
        if t % 10 == 0:
            blocks.insert(0, text(f"Turn {t}."))
        calls += sum(1 for b in blocks if b["type"] == "tool_use")
        main.append(blocks)
    main.append([text("All done.")])
    sub = [
        [tool("Bash", {"command": "ls", "description": "List"})],
        [tool("Read", {"file_path": path(0)})],
        [tool("Glob", {"pattern": "*.txt"})],
        [tool("Read", {"file_path": path(1)}), tool("Read", {"file_path": path(2)})],
        [tool("Bash", {"command": "wc -l f000.txt", "description": "Count"})],
        [text("Looked around.")],
    ]
    calls += 6
    return [Script("sub", SUB_PROMPT, sub), Script("main", PROMPT, main)], calls


# -- hooks ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(home: Path, data: Path) -> dict[str, str]:
    mine = ("CLAUDE", "ANTHROPIC", "CCVIZ", "OTEL_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(mine)}
    env.update(HOME=str(home), CCVIZ_HOME=str(data), PYTHONDONTWRITEBYTECODE="1")
    # project-scope hooks run `ccviz` from PATH (portable commands): this interpreter's one
    bin_dir = os.path.dirname(sys.executable)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def install(variant: str, project: Path, env: dict[str, str]) -> None:
    """Write the project's hooks for ``variant``: none, cat, or an ``install-hooks`` flavour."""
    settings = project / ".claude" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    if variant == "none":
        return
    if variant == "cat":
        from ccviz_kernel.claude.settings import dump_settings, merge_hooks

        settings.write_text(dump_settings(merge_hooks({}, command="cat > /dev/null")))
        return
    args = [CCVIZ, "install-hooks", "--scope", "project", "--project-dir", str(project)]
    args += VARIANT_FLAGS[variant]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(args)} failed: {proc.stderr.strip()}")
    if variant in DROPPED:
        data = json.loads(settings.read_text())
        for event in DROPPED[variant]:
            data["hooks"].pop(event, None)
        settings.write_text(json.dumps(data, indent=2) + "\n")
    if variant == "fast":
        launcher = project.parent / "fasthook.py"
        launcher.write_text(FAST_LAUNCHER.format(root=str(REPO)))
        fast = shlex.join([sys.executable, "-S", "-I", str(launcher)])
        data = json.loads(settings.read_text())
        for groups in data["hooks"].values():
            for group in groups:
                for handler in group["hooks"]:
                    if handler.get("type") == "command" and handler["command"].endswith(" hook"):
                        handler["command"] = fast
        settings.write_text(json.dumps(data, indent=2) + "\n")


VARIANT_FLAGS: dict[str, list[str]] = {
    "lean": [],
    "per-call": ["--per-call"],
    "command": ["--command"],
    "fast": ["--command"],
    "null": ["--per-call"],
    "prebatch": ["--per-call"],
    "pre": ["--per-call"],
}
#: Events the ``prebatch`` and ``pre`` variants do not hook.
DROPPED = {
    "prebatch": ("PostToolUse",),
    "pre": ("PostToolUse", "PostToolUseFailure", "PostToolBatch"),
}


def split_mode(mode: str) -> tuple[str, str]:
    """``per-call-up`` → (``per-call``, ``up``); ``none`` → (``none``, ``""``)."""
    variant, _, state = mode.rpartition("-")
    return (variant, state) if state in ("up", "down") else (mode, "")


#: The ``null`` variant's server: answers every request ``204`` and forgets it.
NULL_SERVER = """import asyncio, sys
class P(asyncio.Protocol):
    def connection_made(self, t):
        self.t, self.buf = t, b""
    def data_received(self, data):
        self.buf += data
        while True:
            head, sep, rest = self.buf.partition(b"\\r\\n\\r\\n")
            if not sep:
                return
            size = 0
            for line in head.split(b"\\r\\n"):
                if line.lower().startswith(b"content-length:"):
                    size = int(line.split(b":", 1)[1])
            if len(rest) < size:
                return
            self.buf = rest[size:]
            self.t.write(b"HTTP/1.1 204 No Content\\r\\n\\r\\n")
async def main():
    server = await asyncio.get_running_loop().create_server(P, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


class NullServer:
    def __init__(self, port: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", NULL_SERVER, str(port)],
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == b"ready"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


#: The stdlib-only launcher of the ``fast`` variant: the package's folder on sys.path by
#: hand (``-S`` leaves site-packages out), then ``ccviz hook``'s own code.
FAST_LAUNCHER = """import sys
sys.path.insert(0, {root!r})
from ccviz_kernel.cli.hook import main
sys.exit(main())
"""


def add_witness(project: Path, log: Path) -> None:
    """Beside each ccviz handler, a synchronous ``cat >> log`` that records what fired; on
    every event ccviz can hook but this install does not (lean: the per-call ones), alone."""
    from ccviz_kernel.claude.hooks import INSTALLED_EVENTS, MATCHERS

    path = project / ".claude" / "settings.json"
    settings = json.loads(path.read_text())
    witness = {"type": "command", "command": f"cat >> {shlex.quote(str(log))}", "timeout": 10}
    for groups in settings["hooks"].values():
        for group in groups:
            group["hooks"].append(dict(witness))
    for event in INSTALLED_EVENTS:
        if event not in settings["hooks"]:
            group: dict[str, Any] = {"hooks": [dict(witness)]}
            if event in MATCHERS:
                group["matcher"] = MATCHERS[event]
            settings["hooks"][event] = [group]
    path.write_text(json.dumps(settings, indent=2) + "\n")


def read_concatenated(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    text_, decoder, out, at = path.read_text(), json.JSONDecoder(), [], 0
    while True:
        while at < len(text_) and text_[at].isspace():
            at += 1
        if at >= len(text_):
            return out
        payload, at = decoder.raw_decode(text_, at)
        out.append(payload)


def key(payload: dict[str, Any]) -> tuple[str, str, str]:
    """One firing: a hook's payload and the event the server made from the transcript alike."""
    return (
        payload.get("hook_event_name", ""),
        payload.get("tool_use_id", ""),
        payload.get("agent_id", ""),
    )


def keys(payloads: list[dict[str, Any]]) -> Counter:
    """The firings' keys, with each subagent's id (new in every run) replaced by its rank
    among the subagents' tool call ids, which the scripted session keeps from run to run."""
    calls: dict[str, set[str]] = {}
    for p in payloads:
        if p.get("agent_id") and p.get("tool_use_id"):
            calls.setdefault(p["agent_id"], set()).add(p["tool_use_id"])
    rank = {a: f"agent-{n}" for n, a in enumerate(sorted(calls, key=lambda a: min(calls[a])))}
    return Counter(
        (event, use_id, rank.get(agent, "agent-?") if agent else "")
        for event, use_id, agent in map(key, payloads)
    )


class Server:
    """``ccviz serve`` in its own process on ``port``, with its own data folder."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.data = Path(env["CCVIZ_HOME"])
        runtime = self.data / "runtime.json"
        runtime.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [CCVIZ, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ccviz serve exited: {self.proc.stderr.read().decode()}")
            try:
                if json.loads(runtime.read_text()).get("pid") == self.proc.pid:
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("ccviz serve did not start within 30 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def stored(data: Path) -> list[dict[str, Any]]:
    path = data / "events.sqlite3"
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT payload FROM events ORDER BY game_id, seq").fetchall()
    finally:
        conn.close()
    out = []
    for (payload,) in rows:
        try:
            out.append(json.loads(payload))
        except ValueError:
            pass
    return out


def settle(
    data: Path, minimum: float = 0.0, fired: Counter | None = None
) -> tuple[list[dict[str, Any]], float]:
    """The store once nothing new has arrived for a while (the server is running), and no
    sooner than ``minimum`` seconds from now, unless everything ``fired`` is already there;
    and how long after the call the last event arrived."""
    start = time.monotonic()
    last, quiet, deadline = -1, start, start + max(SETTLE_MAX, minimum + SETTLE_QUIET)
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        events = stored(data)
        if len(events) != last:
            last, quiet = len(events), time.monotonic()
            if fired is not None and not fired - got(events):
                break  # every firing is in
        elif time.monotonic() - quiet > SETTLE_QUIET and time.monotonic() - start >= minimum:
            break
        time.sleep(0.1)
    return events, quiet - start


# -- one run -------------------------------------------------------------------------------


async def run_claude(claude: str, project: Path, env: dict[str, str]) -> tuple[int, float, str]:
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        claude,
        "-p",
        PROMPT,
        "--allowedTools",
        TOOLS,
        "--output-format",
        "json",
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
    took = time.perf_counter() - started
    note = ""
    if proc.returncode != 0:
        note = (err or out).decode(errors="replace")[-500:]
    else:
        try:
            answer = json.loads(out)
            if answer.get("is_error") or answer.get("result") != "All done.":
                note = f"unexpected result: {str(answer.get('result'))[:200]}"
        except ValueError:
            note = "stdout is not JSON"
    return proc.returncode or 0, took, note


def run_once(
    claude: str,
    mode: str,
    turns: int,
    tmp: Path,
    witness: Path | None = None,
    fired: Counter | None = None,
) -> dict:
    """One timed run of ``mode``; with ``witness``, an untimed witness run instead."""
    variant, state = split_mode(mode)
    root = Path(tempfile.mkdtemp(prefix=f"{mode}-", dir=tmp))
    home, data = root / "home", root / "ccviz"
    project = home / "project"
    project.mkdir(parents=True)
    data.mkdir()
    env = base_env(home, data)
    make_files(project, max(8, turns // 2))
    scripts, calls = session(project, turns)
    port = free_port()
    server = None
    if state == "up" and variant == "null":
        (data / "runtime.json").write_text(
            json.dumps({"url": f"http://127.0.0.1:{port}/", "pid": 1, "kind": "standalone"})
        )
        install(variant, project, env)
        (data / "runtime.json").unlink()
        server = NullServer(port)
    elif state == "up":
        server = Server(env, port)
        install(variant, project, env)
    elif state == "down":
        # installed while a server was known at this port, which has gone since
        (data / "runtime.json").write_text(
            json.dumps({"url": f"http://127.0.0.1:{port}/", "pid": 1, "kind": "standalone"})
        )
        install(variant, project, env)
        (data / "runtime.json").unlink()
    else:
        install(variant, project, env)
    if witness is not None:
        add_witness(project, witness)
    fake = FakeAnthropic(scripts)
    claude_env = dict(env)
    claude_env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1"
    claude_env["ANTHROPIC_API_KEY"] = "sk-test-anything"

    async def go() -> tuple[int, float, str]:
        claude_env["ANTHROPIC_BASE_URL"] = await fake.start()
        try:
            return await run_claude(claude, project, claude_env)
        finally:
            await fake.close()

    try:
        rc, took, note = asyncio.run(go())
        unplayed = [s.name for s in scripts if set(range(len(s.turns))) - set(s.answered)]
        if unplayed and not note:
            note = f"scripts not played through: {unplayed}"
        result: dict[str, Any] = {"mode": mode, "seconds": took, "rc": rc, "calls": calls}
        if note:
            result["error"] = note
        if state in ("up", "down") and variant != "null":
            if state == "down":
                time.sleep(1.0)  # async hooks still finishing
                server = Server(env, port)  # drains the spool, follows the transcript
            # the server fills what the transcript shows and no hook brought once it is
            # older than its grace period (ccviz_kernel/server/transcripts.py GRACE)
            arrived, last_at = settle(data, FILL_WAIT if state == "down" else 0.0, fired)
            result["arrived"], result["last_arrival_s"] = arrived, round(last_at, 2)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return result


# -- the whole bench -----------------------------------------------------------------------


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def find_claude(chosen: str | None) -> str:
    chosen = chosen or os.environ.get("CCVIZ_CLAUDE")
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            sys.exit(f"claude_cost_bench: {chosen!r} is not an executable")
        return found
    from tests.e2e.conftest import pinned_claude

    path, reason = pinned_claude()
    if reason is not None:
        sys.exit(f"claude_cost_bench: {reason}")
    return path


def got(arrived: list[dict[str, Any]]) -> Counter:
    """The firings in the store (events of ccviz's own, such as token counts, aside)."""
    return keys([p for p in arrived if not str(p.get("hook_event_name", "")).startswith("ccviz.")])


def delivery(arrived: list[dict[str, Any]], fired: Counter) -> dict[str, Any]:
    events = [p for p in arrived if not str(p.get("hook_event_name", "")).startswith("ccviz.")]
    hooks = [p for p in events if p.get("ccviz_source") != "transcript"]
    filled = [p for p in events if p.get("ccviz_source") == "transcript"]
    have = got(arrived)
    missing = fired - have
    extra = have - fired
    return {
        "fired": sum(fired.values()),
        "by_hook": len(hooks),
        "from_transcript": len(filled),
        "missing": sum(missing.values()),
        # PostToolBatch, unhooked in lean, is not made from the transcript either: what it
        # says (each call of the batch and its result) comes as the transcript's Pre/Post
        "missing_but_batch": sum(n for k, n in missing.items() if k[0] != "PostToolBatch"),
        "extra": sum(extra.values()),
        "from_transcript_by_event": dict(Counter(p.get("hook_event_name") for p in filled)),
        "missing_by_event": dict(Counter(k[0] for k in missing.elements())),
        "extra_by_event": dict(Counter(k[0] for k in extra.elements())),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per mode (default 5)")
    parser.add_argument("--turns", type=int, default=160, help="assistant turns (default 160)")
    parser.add_argument(
        "--modes",
        default=",".join(DEFAULT_MODES),
        help=f"comma-separated modes (default {','.join(DEFAULT_MODES)}; also per-call-down, "
        "command-up, command-down, cat, null-up, prebatch-up, pre-up, fast-up, fast-down)",
    )
    parser.add_argument("--claude", help="the claude binary (default: the pinned npm install)")
    parser.add_argument("--label", default="", help="a note saved with the results")
    parser.add_argument("--json", type=Path, help="append the results to this JSON file")
    ns = parser.parse_args()
    modes = [m.strip() for m in ns.modes.split(",") if m.strip()]
    claude = find_claude(ns.claude)
    version = subprocess.run([claude, "--version"], capture_output=True, text=True).stdout.strip()
    info = {"benchmark": "claude_cost", **machine(), "claude": version, "label": ns.label}
    info.update(runs=ns.runs, turns=ns.turns, modes=modes, loadavg_at_start=loadavg())
    print(f"claude {version}; {ns.runs} runs x {modes}; load average {info['loadavg_at_start']}")
    with tempfile.TemporaryDirectory(prefix="ccviz-cost-") as tmp_name:
        tmp = Path(tmp_name)
        fired: dict[str, Counter] = {}
        variants = {split_mode(m)[0] for m in modes if split_mode(m)[1]} - {"null"}
        for variant in sorted(variants):
            log = tmp / f"witness-{variant}.jsonl"
            w = run_once(claude, f"{variant}-up", ns.turns, tmp, witness=log)
            fired[variant] = keys(read_concatenated(log))
            print(
                f"witness {variant}: {sum(fired[variant].values())} events fired, "
                f"{w['calls']} tool calls, {w['seconds']:.1f} s"
                + (f" ({w['error']})" if w.get("error") else "")
            )
            info.setdefault("fired", {})[variant] = dict(
                Counter(k[0] for k in fired[variant].elements())
            )
        results: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
        for r in range(ns.runs):
            order = modes[r % len(modes) :] + modes[: r % len(modes)]
            for mode in order:
                variant = split_mode(mode)[0]
                res = run_once(claude, mode, ns.turns, tmp, fired=fired.get(variant))
                arrived = res.pop("arrived", None)
                if arrived is not None:
                    res["delivery"] = delivery(arrived, fired[variant])
                results[mode].append(res)
                d = res.get("delivery")
                shown = f" delivered {d['fired'] - d['missing']}/{d['fired']}" if d else ""
                shown += f" extra {d['extra']}" if d and d["extra"] else ""
                if d and d["missing"]:
                    shown += f" missing {d['missing_by_event']}"
                if "last_arrival_s" in res:
                    since = "the server started" if mode.endswith("-down") else "claude exited"
                    shown += f" (last event {res['last_arrival_s']:.1f} s after {since})"
                err = f" ERROR {res['error']}" if res.get("error") else ""
                print(f"  round {r + 1} {mode:<14} {res['seconds']:6.2f} s{shown}{err}", flush=True)
    info["loadavg_at_end"] = loadavg()
    base = statistics.median(x["seconds"] for x in results["none"]) if results.get("none") else None
    summary: dict[str, Any] = {}
    print()
    print(
        f"{'mode':<14} {'median s':>9} {'min':>7} {'max':>7} {'vs none':>8} {'paired':>8}"
        "  delivered"
    )
    for mode, runs in results.items():
        times = [x["seconds"] for x in runs]
        med = statistics.median(times)
        ratio = med / base - 1 if base else None
        # each round's time over the same round's no-hooks time: robust to a load that
        # drifts between rounds (the machine is shared)
        paired = None
        if results.get("none"):
            pairs = [t / n["seconds"] - 1 for t, n in zip(times, results["none"], strict=True)]
            paired = statistics.median(pairs)
        deliveries = [x["delivery"] for x in runs if "delivery" in x]
        row = {"median_s": med, "min_s": min(times), "max_s": max(times), "times_s": times}
        row["vs_none"] = ratio
        row["vs_none_paired"] = paired
        row["errors"] = [x["error"] for x in runs if x.get("error")]
        arrivals = [x["last_arrival_s"] for x in runs if "last_arrival_s" in x]
        if arrivals:
            row["last_arrival_s"] = arrivals
        shown = ""
        if deliveries:
            row["delivery"] = deliveries
            ok = sum(1 for d in deliveries if d["missing"] == 0 and d["extra"] == 0)
            ok_but_batch = sum(
                1 for d in deliveries if d["missing_but_batch"] == 0 and d["extra"] == 0
            )
            worst = max(d["missing"] for d in deliveries)
            fired_n = deliveries[0]["fired"]
            filled = max(d["from_transcript"] for d in deliveries)
            shown = f"{ok}/{len(deliveries)} runs complete of {fired_n} fired"
            if ok_but_batch != ok:
                shown += f" ({ok_but_batch}/{len(deliveries)} but PostToolBatch)"
            shown += f"; worst run missing {worst}" if worst else ""
            shown += f"; up to {filled} from the transcript" if filled else ""
            if arrivals:
                shown += f"; all in {statistics.median(arrivals):.1f} s (median)"
        summary[mode] = row
        vs = f"{ratio * 100:+7.1f}%" if ratio is not None else "      -"
        vp = f"{paired * 100:+7.1f}%" if paired is not None else "      -"
        print(f"{mode:<14} {med:9.2f} {min(times):7.2f} {max(times):7.2f} {vs} {vp}  {shown}")
    print(f"load average at start {info['loadavg_at_start']}, at end {info['loadavg_at_end']}")
    info["results"] = summary
    if ns.json:
        ns.json.parent.mkdir(parents=True, exist_ok=True)
        runs_saved = []
        if ns.json.exists():
            try:
                old = json.loads(ns.json.read_text())
                runs_saved = old.get("runs", []) if isinstance(old, dict) else []
            except ValueError:
                runs_saved = []
        ns.json.write_text(
            json.dumps({"benchmark": "claude_cost", "runs": [*runs_saved, info]}, indent=2) + "\n"
        )
        print(f"saved to {ns.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
