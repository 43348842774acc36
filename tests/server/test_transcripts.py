"""The server follows live games' transcripts (server/transcripts.py): the per-call events
as the lines are written (no per-call hook needed), each once; tokens and model; hooks that
never arrived filled in, once; and a lean hook log replays like the transcript."""

from __future__ import annotations

import asyncio
import json
import shutil
import time

import aiohttp
import pytest
from common import FIXTURES, REPO

from ccviz_kernel.claude.tail import USAGE_FIELDS, TranscriptTail
from ccviz_kernel.claude.timestamps import parse_time
from ccviz_kernel.hosts.standalone import start
from ccviz_kernel.server import transcripts
from tests.corpus_support import project, recordings, replay_snapshots

CORPUS = FIXTURES / "corpus"
SAMPLES = REPO / "ccviz_kernel" / "samples"
SESSION = "69cf624b-794f-4585-8997-d9457788d694"
LOST = "toolu_01FGQqwTw1YeAqIiMcqCkTUE"  # its PreToolUse, PostToolUse and PostToolBatch


def _setup(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    folder = home / ".claude" / "projects" / "-home-dev-pixel-quest"
    folder.mkdir(parents=True)
    transcript = folder / f"{SESSION}.jsonl"
    shutil.copy(SAMPLES / "short" / f"{SESSION}.jsonl", transcript)
    hooks = []
    for line in (SAMPLES / "short.hooks.jsonl").read_text().splitlines():
        payload = json.loads(line)
        payload["transcript_path"] = str(transcript)
        lost = payload.get("tool_use_id") == LOST or any(
            call.get("tool_use_id") == LOST for call in payload.get("tool_calls") or ()
        )
        if not lost:
            hooks.append(payload)
    return transcript, hooks


def _events(host, session_id=SESSION):
    return [json.loads(row.payload) for row in host.hub.store.events(session_id)]


def test_tokens_model_and_a_lost_call_come_from_the_transcript(tmp_path, monkeypatch):
    """Per-call hooks installed too (``--per-call``): each call is stored once, whether its
    hook or the transcript came first; the call whose hooks were lost comes from the
    transcript at once; the tokens equal the transcript's."""
    transcript, hooks = _setup(tmp_path, monkeypatch)
    expected = TranscriptTail(transcript).poll().totals[None]

    async def scenario():
        host = await start(port=0, runtime=False)
        watcher = host.server.transcripts
        watcher.follow_up = 0.05
        try:
            token = host.server.auth.ingest_token
            headers = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession() as session:

                async def post(payload):
                    r = await session.post(
                        host.url + "api/hooks", data=json.dumps(payload), headers=headers
                    )
                    assert r.status == 204

                for payload in hooks:
                    await post(payload)
                    await watcher.idle()
                await asyncio.sleep(0.2)  # the follow-up read after SessionEnd
                await watcher.idle()
                # More hooks change nothing: everything is already in.
                await post(hooks[-2])
                await watcher.idle()
            events = _events(host)
            calls = [
                (e["hook_event_name"], e["tool_use_id"])
                for e in events
                if e["hook_event_name"] in ("PreToolUse", "PostToolUse", "PostToolUseFailure")
            ]
            assert len(calls) == len(set(calls))  # each once
            assert ("PreToolUse", LOST) in calls and ("PostToolUse", LOST) in calls
            filled = [e for e in events if e.get("tool_use_id") == LOST]
            assert all(e.get("ccviz_source") == "transcript" for e in filled)
            usage = [e for e in events if e["hook_event_name"] == "ccviz.usage"]
            assert usage, "no usage event"
            summed = dict.fromkeys(USAGE_FIELDS, 0)
            for event in usage:
                assert "agent_id" not in event  # the short session has only main
                for key in USAGE_FIELDS:
                    summed[key] += event["usage"][key]
            assert summed == expected.usage
            assert usage[-1]["model"] == expected.model
            assert usage[-1]["context_tokens"] == expected.context
            tokens = host.hub.snapshot(SESSION)["stats"]["tokens"]
            assert tokens["input"] == expected.usage["input_tokens"]
            assert tokens["output"] == expected.usage["output_tokens"]
            assert tokens["cacheRead"] == expected.usage["cache_read_input_tokens"]
            assert tokens["cacheWrite"] == expected.usage["cache_creation_input_tokens"]
            count = len(events)
            assert not watcher.following(SESSION)  # ended: no more reads
        finally:
            await host.close()

        # A restarted server catches up unended games once; this one ended: nothing to do,
        # and a game that did not end is read again without counting anything twice.
        host = await start(port=0, runtime=False)
        try:
            await host.server.transcripts.idle()
            assert len(_events(host)) == count
        finally:
            await host.close()
        return count

    asyncio.run(asyncio.wait_for(scenario(), 60))


# -- lean: no per-call hook, the calls come from the transcript as it is written ----------

PER_CALL = {"PreToolUse", "PostToolUse", "PostToolUseFailure", "PostToolBatch"}
CALL_EVENTS = ("PreToolUse", "PostToolUse", "PostToolUseFailure")


def _timeline(rec_dir, folder):
    """The recording's transcript lines (to write under ``folder``, in time order across the
    files) and its lean hooks, merged by time: ``[(time, "line", path, text) | (time,
    "hook", payload)]``."""
    name = rec_dir.name
    tree = rec_dir / name
    steps = []
    for source in sorted(tree.rglob("*")):
        if not source.is_file():
            continue
        target = folder / source.relative_to(tree)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix != ".jsonl":
            shutil.copy(source, target)  # a subagent's .meta.json
            continue
        target.touch()
        when = 0.0
        for text in source.read_text().splitlines():
            if not text.strip():
                continue
            stamp = json.loads(text).get("timestamp")
            when = parse_time(stamp) if stamp else when
            steps.append((when, 0, "line", target, text))
    main = next(p for p in folder.glob("*.jsonl"))
    for text in (rec_dir / f"{name}.hooks.jsonl").read_text().splitlines():
        payload = json.loads(text)
        if payload["hook_event_name"] in PER_CALL:
            continue
        payload["transcript_path"] = str(main)
        if payload.get("agent_transcript_path"):
            agent = payload["agent_transcript_path"].rsplit("/", 1)[-1]
            payload["agent_transcript_path"] = str(next(folder.rglob(agent)))
        steps.append((parse_time(payload["timestamp"]), 1, "hook", payload, None))
    steps.sort(key=lambda s: (s[0], s[1]))
    return main, steps


def _calls_in(text):
    """The (event kind, tool_use_id) a transcript line shows."""
    obj = json.loads(text)
    content = (obj.get("message") or {}).get("content")
    found = []
    for block in content if isinstance(content, list) else ():
        if block.get("type") == "tool_use":
            found.append(("pre", block["id"]))
        elif block.get("type") == "tool_result":
            found.append(("post", block["tool_use_id"]))
    return found


def _lean_live(tmp_path, monkeypatch, name, hook_copies=()):
    """Play recording ``name`` as a lean session: its transcript written line by line, its
    non-per-call hooks posted in their places. ``hook_copies``: tool ids whose per-call
    hooks are posted too (before their line for the first, after for the others)."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    rec_dir = CORPUS / name
    folder = home / ".claude" / "projects" / "-home-dev-pixel-quest"
    main, steps = _timeline(rec_dir, folder)
    session_id = main.stem
    copies = {}
    for text in (rec_dir / f"{name}.hooks.jsonl").read_text().splitlines():
        payload = json.loads(text)
        if (
            payload.get("tool_use_id") in hook_copies
            and payload["hook_event_name"] != "PostToolBatch"
        ):
            payload["transcript_path"] = str(main)
            kind = "pre" if payload["hook_event_name"] == "PreToolUse" else "post"
            copies[(kind, payload["tool_use_id"])] = payload

    async def scenario():
        host = await start(port=0, runtime=False)
        watcher = host.server.transcripts
        watcher.follow_up = 0.05
        applied = {}
        ingest = watcher._ingest

        def spy(payload, key=None, **options):
            if payload.get("hook_event_name") in CALL_EVENTS:
                kind = "pre" if payload["hook_event_name"] == "PreToolUse" else "post"
                applied.setdefault((kind, payload["tool_use_id"]), time.perf_counter())
            return ingest(payload, key, **options)

        watcher._ingest = spy
        written = {}
        headers = {"Authorization": f"Bearer {host.server.auth.ingest_token}"}
        try:
            async with aiohttp.ClientSession() as http:

                async def post(payload):
                    r = await http.post(
                        host.url + "api/hooks", data=json.dumps(payload), headers=headers
                    )
                    assert r.status == 204

                first = True
                for _, _, kind, what, text in steps:
                    if kind == "hook":
                        await post(what)
                        continue
                    shown = _calls_in(text)
                    for call in shown:
                        if call in copies and first:  # a hook copy before the line
                            await post(copies.pop(call))
                            first = False
                    with open(what, "a") as f:
                        f.write(text + "\n")
                    now = time.perf_counter()
                    for call in shown:
                        written.setdefault(call, now)
                    if shown:
                        # Wait for the events (each within ~0.5 s), as Claude Code would
                        # work on meanwhile.
                        deadline = now + 2.0
                        while not all(c in applied or _hooked(host, session_id, c) for c in shown):
                            assert time.perf_counter() < deadline, f"{shown} not applied"
                            await asyncio.sleep(0.005)
                        for call in shown:
                            if call in copies:  # a hook copy after the transcript's
                                await post(copies.pop(call))
                    else:
                        await asyncio.sleep(0.002)
                await asyncio.sleep(0.3)  # SessionEnd's follow-up read
                await watcher.idle()
                reads = len(watcher.read_times)
                stopped = not watcher.following(session_id)
                await asyncio.sleep(0.3)
                assert len(watcher.read_times) == reads, "still polling after SessionEnd"
                assert stopped
            latency = [applied[c] - written[c] for c in applied if c in written]
            return _events(host, session_id), host.hub.snapshot(session_id), latency
        finally:
            await host.close()

    return asyncio.run(asyncio.wait_for(scenario(), 60))


def _hooked(host, session_id, call):
    """Whether the store holds a hook copy of ``call`` (no transcript fill needed)."""
    kind, use_id = call
    for e in _events(host, session_id):
        if (
            e.get("tool_use_id") == use_id
            and e.get("ccviz_source") != "transcript"
            and (e["hook_event_name"] == "PreToolUse") == (kind == "pre")
        ):
            return True
    return False


def _tool_ids(name: str, picks: tuple[int, ...]) -> tuple[str, ...]:
    """Tool ids of recording ``name``'s PreToolUse hooks, by position (the corpus is
    re-recorded now and then, and the ids change with it)."""
    rows = [json.loads(t) for t in (CORPUS / name / f"{name}.hooks.jsonl").read_text().splitlines()]
    ids = [r["tool_use_id"] for r in rows if r["hook_event_name"] == "PreToolUse"]
    return tuple(ids[i] for i in picks)


@pytest.mark.parametrize(
    ("name", "picks"),
    [("validation", (0, -1)), ("subagent_foreground", (1,))],
)
def test_lean_calls_come_from_the_growing_transcript(tmp_path, monkeypatch, name, picks):
    """No per-call hook installed: every call, result, failure and refusal is applied
    within ~0.5 s of its line being written, once each (also where a hook copy came before
    or after), and the live game equals the transcript replay's."""
    copies = _tool_ids(name, picks)
    events, snapshot, latency = _lean_live(tmp_path, monkeypatch, name, copies)
    calls = [
        (e["hook_event_name"], e["tool_use_id"])
        for e in events
        if e["hook_event_name"] in CALL_EVENTS
    ]
    assert calls and len(calls) == len(set(calls)), calls
    assert max(latency) < 0.5, sorted(latency)
    transcript = next((CORPUS / name / name).glob("*.jsonl"))
    replay = replay_snapshots(transcript)
    assert project(snapshot) == project(replay[snapshot["gameId"]])
    for event in events:
        if event["hook_event_name"] in CALL_EVENTS and event.get("tool_use_id") not in copies:
            assert event["ccviz_source"] == "transcript"
            if event.get("agent_id"):
                assert event["agent_type"] == "Explore" or event["agent_type"]


@pytest.mark.parametrize("rec", recordings(), ids=lambda r: r.name)
def test_a_lean_hook_log_replays_like_the_transcript(rec, tmp_path):
    """A hook log without per-call events (recorded with the lean install) gets them from
    the transcript beside it, in their places: the same game as the transcript replay and
    as the full hook log."""
    lean = tmp_path / rec.hooklog.name
    kept = [
        line
        for line in rec.hooklog.read_text().splitlines()
        if line.strip() and json.loads(line)["hook_event_name"] not in PER_CALL
    ]
    lean.write_text("\n".join(kept) + "\n")
    (tmp_path / rec.name).symlink_to(rec.hooklog.with_name(rec.name))
    lean_games = replay_snapshots(lean)
    full = replay_snapshots(rec.hooklog)
    transcript = {}
    for path in rec.transcripts:
        transcript.update(replay_snapshots(path))
    for game_id, snapshot in full.items():
        assert project(lean_games.get(game_id)) == project(snapshot), game_id
        assert project(lean_games.get(game_id)) == project(transcript.get(game_id)), game_id
        assert snapshot["stats"]["toolCalls"], "no calls: the transcript was not found"


def test_on_start_an_unended_game_is_caught_up_from_its_transcript(tmp_path, monkeypatch):
    """Hooks lost while the server was down (``http`` hooks are not spooled): on start the
    game gets its tokens and the calls it missed, exactly once across restarts."""
    transcript, hooks = _setup(tmp_path, monkeypatch)
    monkeypatch.setattr(transcripts, "MAX_AGE", 1e10)  # the sample happened months ago
    expected = TranscriptTail(transcript).poll().totals[None]
    first = [h for h in hooks if h["hook_event_name"] in ("SessionStart", "UserPromptSubmit")]

    async def scenario():
        host = await start(port=0, runtime=False)
        for payload in first:  # the server saw only the start, then went down
            host.hub.ingest(payload)
        await host.close()
        counts = []
        for _ in range(2):  # started again (twice): caught up once, then nothing new
            host = await start(port=0, runtime=False)
            try:
                await host.server.transcripts.idle()
                events = _events(host)
                counts.append(len(events))
            finally:
                await host.close()
        assert counts[0] == counts[1] > len(first)
        return events

    events = asyncio.run(asyncio.wait_for(scenario(), 60))
    filled = [e["hook_event_name"] for e in events if e.get("ccviz_source") == "transcript"]
    assert filled.count("PreToolUse") == 3 and filled.count("PostToolUse") == 3
    usage = [e for e in events if e["hook_event_name"] == "ccviz.usage"]
    summed = {key: sum(e["usage"][key] for e in usage) for key in USAGE_FIELDS}
    assert summed == expected.usage
