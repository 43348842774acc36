"""The server reads live games' transcripts (server/transcripts.py): tokens and model after
the hooks that end work, and hooks that never arrived filled in from the transcript, once."""

from __future__ import annotations

import asyncio
import json
import shutil

import aiohttp
from common import REPO

from ccviz_kernel.claude.tail import USAGE_FIELDS, TranscriptTail
from ccviz_kernel.claude.timestamps import parse_time
from ccviz_kernel.hosts.standalone import start
from ccviz_kernel.server import transcripts

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


def _events(host):
    return [json.loads(row.payload) for row in host.hub.store.events(SESSION)]


def test_tokens_model_and_a_lost_call_come_from_the_transcript(tmp_path, monkeypatch):
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
                    # The hooks come as Claude Code writes the transcript: our clock follows.
                    now[0] = parse_time(payload["timestamp"]) + 1.0
                    r = await session.post(
                        host.url + "api/hooks", data=json.dumps(payload), headers=headers
                    )
                    assert r.status == 204

                now = [0.0]
                watcher.clock = lambda: now[0]
                for payload in hooks[:8]:  # up to the lost call's turn's end
                    await post(payload)
                    await watcher.idle()
                # The lost call is younger than the grace: its hooks may be on their way.
                assert not [e for e in _events(host) if e.get("ccviz_source") == "transcript"]
                for payload in hooks[8:]:
                    await post(payload)
                    await watcher.idle()
                await asyncio.sleep(0.2)  # the follow-up read after SessionEnd
                await watcher.idle()
                # More triggers change nothing: everything is already in.
                await post(hooks[-2])
                await watcher.idle()
            events = _events(host)
            filled = [e for e in events if e.get("ccviz_source") == "transcript"]
            assert [(e["hook_event_name"], e.get("tool_use_id")) for e in filled] == [
                ("PreToolUse", LOST),
                ("PostToolUse", LOST),
            ]
            assert filled[0]["tool_name"] == "Bash" or filled[0]["tool_name"]
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
