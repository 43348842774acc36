"""Record a sample session from the real Claude Code CLI, offline.

    .venv/bin/python tools/record_session.py tools/scenarios/short.json --out /tmp/samples

A scenario (JSON, see tools/scenarios/short.json) gives a prompt, the assistant's turns
(text and tool calls) and optionally subagents' turns and a folder of project files. This
runs the real ``claude -p`` in a temporary project with a temporary ``HOME``, against the
stand-in Messages API of the end-to-end tests (tests/e2e/fake_anthropic.py) playing those
turns. ccviz's hooks are installed into the project's ``.claude/settings.json`` by the
package's own installer, with the ``ccviz hook`` command swapped for this file's
``--capture`` mode, run synchronously, which appends each payload plus a ``timestamp``
to the hook log. Then the hook log and the transcript tree (``~/.claude/projects/...``)
are copied into ``--out`` laid out like ccviz_kernel/samples/:

    <out>/<name>.hooks.jsonl
    <out>/<name>/<session-id>.jsonl    (+ <session-id>/subagents/agent-*.jsonl, .meta.json)

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
CLAUDE_TIMEOUT = 180.0


def capture(log: str) -> int:
    """The hook command: append stdin's payload, stamped, to ``log``. Never fails."""
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
    """The scenario, with ``{project}`` replaced by the project's path; and that path."""
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    project = os.path.join(home, json.loads(raw).get("project", "project"))
    return json.loads(raw.replace("{project}", project)), project


def tool_id() -> str:
    """A made-up id shaped like Claude's: ``toolu_01`` and 22 letters or digits."""
    import secrets
    import string

    alphabet = string.ascii_letters + string.digits
    return "toolu_01" + "".join(secrets.choice(alphabet) for _ in range(22))


def scripts(scenario: dict) -> list:
    """The stand-in API's scripts: each subagent's (matched by its prompt), then the main's."""
    from tests.e2e.fake_anthropic import Script, text, tool

    def turns(spec: list) -> list:
        return [
            [
                text(b["text"])
                if "text" in b
                else tool(b["tool"], b["input"], b.get("id") or tool_id())
                for b in turn
            ]
            for turn in spec
        ]

    subs = [
        Script(f"sub{n}", sub["prompt_contains"], turns(sub["turns"]))
        for n, sub in enumerate(scenario.get("subagents", []))
    ]
    return [*subs, Script("main", scenario["prompt"], turns(scenario["turns"]))]


# -- the hooks ---------------------------------------------------------------------------


def capture_command(log: str) -> str:
    import shlex

    return shlex.join([sys.executable, os.path.abspath(__file__), "--capture", log])


def install_capture(project: str, log: str) -> None:
    """Install ccviz's hooks into the project's settings, capturing into ``log``."""
    from ccviz_kernel.claude.settings import dump_settings, merge_hooks, write_settings

    settings = merge_hooks({}, command=capture_command(log))
    for groups in settings["hooks"].values():
        for group in groups:
            for handler in group["hooks"]:
                handler["async"] = False  # in order, and none lost at the end of `-p`
    path = os.path.join(project, ".claude", "settings.json")
    write_settings(path, dump_settings(settings), backup=False)


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


def claude_env(home: str, api_url: str) -> dict[str, str]:
    mine = ("CLAUDE", "ANTHROPIC", "CCVIZ_", "OTEL_")  # nothing of your own setup leaks in
    env = {k: v for k, v in os.environ.items() if not k.startswith(mine)}
    env.update(HOME=home, ANTHROPIC_BASE_URL=api_url, ANTHROPIC_API_KEY="sk-test-anything")
    env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1"
    return env


async def run(claude: str, scenario: dict, project: str, home: str, fake) -> tuple[int, str, str]:
    import asyncio

    url = await fake.start()
    try:
        args = ["-p", scenario["prompt"], "--output-format", "json"]
        args += ["--allowedTools", " ".join(scenario.get("allowed_tools", DEFAULT_TOOLS))]
        if scenario.get("model"):
            args += ["--model", scenario["model"]]
        proc = await asyncio.create_subprocess_exec(
            claude,
            *args,
            cwd=project,
            env=claude_env(home, url),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), CLAUDE_TIMEOUT)
        except asyncio.TimeoutError:
            proc.kill()
            out, err = await proc.communicate()
        return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")
    finally:
        await fake.close()


# -- copying the result out --------------------------------------------------------------


def copy_out(log: str, out: str, name: str, rewrite: dict[str, str]) -> list[str]:
    """Copy the hook log and the transcript tree into ``out``; the files written."""
    from pathlib import Path

    with open(log, encoding="utf-8") as f:
        first = json.loads(f.readline())
    transcript = Path(first["transcript_path"])
    sources = [(Path(log), Path(out, f"{name}.hooks.jsonl"))]
    sources.append((transcript, Path(out, name, transcript.name)))
    tree = transcript.with_suffix("")  # <session-id>/: subagents/ and the like
    if tree.is_dir():
        for src in sorted(p for p in tree.rglob("*") if p.is_file()):
            sources.append((src, Path(out, name, tree.name, src.relative_to(tree))))
    written = []
    for src, dst in sources:
        data = src.read_text(encoding="utf-8")
        for old, new in rewrite.items():
            data = data.replace(old, new)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(data, encoding="utf-8")
        written.append(str(dst))
    return written


def path_rewrites(home: str, log: str) -> dict[str, str]:
    """The capture command → ``ccviz hook`` (Claude Code logs the Stop hook's command), and
    the temporary HOME → /home/dev, as a path and as a ~/.claude/projects folder name."""
    import re

    def dashed(path: str) -> str:
        return re.sub(r"[^A-Za-z0-9]", "-", path)

    return {
        capture_command(log): "ccviz hook",
        home: FAKE_HOME,
        dashed(home) + "-": dashed(FAKE_HOME) + "-",
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--capture"]:  # run by Claude Code on every hook event: stay light
        return capture(argv[1])
    import argparse
    import asyncio
    import shutil
    import tempfile
    from collections import Counter
    from pathlib import Path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", help="a scenario JSON file (see tools/scenarios/)")
    parser.add_argument("--out", required=True, help="folder to write the sample into")
    parser.add_argument("--name", help="the sample's name (default: the scenario's file name)")
    parser.add_argument("--claude", help="the claude binary (default: $CCVIZ_CLAUDE or .cache/)")
    parser.add_argument("--keep-paths", action="store_true", help="keep the temporary paths")
    ns = parser.parse_args(argv)
    name = ns.name or os.path.splitext(os.path.basename(ns.scenario))[0]
    targets = [os.path.join(ns.out, f"{name}.hooks.jsonl"), os.path.join(ns.out, name)]
    if any(os.path.exists(t) for t in targets):
        parser.error(f"{targets[0]} or {targets[1]}/ exists: remove it or pick another --name")
    sys.path.insert(0, REPO)  # for tests.e2e
    from tests.e2e.fake_anthropic import FakeAnthropic

    claude = find_claude(ns.claude)
    with tempfile.TemporaryDirectory(prefix="ccviz-record-") as tmp:
        home = os.path.join(os.path.realpath(tmp), "home")
        scenario, project = load_scenario(ns.scenario, home)
        files = scenario.get("files")
        if files:
            shutil.copytree(os.path.join(os.path.dirname(ns.scenario), files), project)
        os.makedirs(project, exist_ok=True)
        log = os.path.join(tmp, "hooks.jsonl")
        install_capture(project, log)
        fake = FakeAnthropic(scripts(scenario), log_path=Path(tmp, "requests.jsonl"))
        rc, out, err = asyncio.run(run(claude, scenario, project, home, fake))
        unplayed = [s.name for s in fake.scripts if set(range(len(s.turns))) - set(s.answered)]
        if rc != 0 or unplayed or not os.path.exists(log):
            print(f"claude exited {rc}; scripts not played through: {unplayed}", file=sys.stderr)
            print("stdout:", out[-2000:], "stderr:", err[-2000:], sep="\n", file=sys.stderr)
            return 1
        written = copy_out(log, ns.out, name, {} if ns.keep_paths else path_rewrites(home, log))
    with open(written[0], encoding="utf-8") as f:
        events = Counter(json.loads(line)["hook_event_name"] for line in f)
    print(f"claude {claude}: {json.loads(out).get('result', '')!r}")
    print(f"{sum(events.values())} hook events: {dict(sorted(events.items()))}")
    for path in written:
        print(f"  {path}")
    print(f"check with: .venv/bin/ccviz replay {written[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
