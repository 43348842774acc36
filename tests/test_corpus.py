"""The recorded corpus (tests/fixtures/corpus/, recorded with the real Claude Code CLI by
tools/record_session.py): for every session, the live game the server built from the
installed hooks, the replay of the hook log and the replay of the transcript agree on
every compared field (tests/corpus_support.py); and replaying the events in the order
Claude Code fired them and in the order the server applied them shows the same agent
states after (nearly) every event. Fast: no CLI, no server."""

from __future__ import annotations

import pytest

from tests.corpus_support import (
    TOKEN_TOLERANCE,
    delivered_events,
    derived,
    describe,
    diff,
    epoch,
    hooklog_games,
    live_games,
    picture_agreement,
    position_evidence,
    recordings,
    transcript_games,
)

RECORDINGS = recordings()
IDS = [r.name for r in RECORDINGS]
#: The share of events after which both orders must show the same agent states.
PICTURE_TARGET = 0.999
#: Events whose handler end 2.1.332 logs as ``completed with status 0``, without a duration:
#: no dispatch time from the debug log (the witness's stamp stands in).
NO_DURATION = {"SessionEnd", "PreCompact", "PostCompact"}


def test_the_corpus_is_there():
    assert len(RECORDINGS) >= 16, IDS
    for rec in RECORDINGS:
        assert rec.transcripts, f"{rec.name}: no transcript"
        assert rec.live()["claude_version"] == "2.1.332", rec.name


@pytest.mark.parametrize("rec", RECORDINGS, ids=IDS)
def test_live_equals_hooklog_replay_equals_transcript_replay(rec):
    games = {
        "live": live_games(rec),
        "hooklog": hooklog_games(rec),
        "transcript": transcript_games(rec),
    }
    found = diff(games)
    assert not found, f"{rec.name}: {len(found)} disagreements\n{describe(found)}"


@pytest.mark.parametrize("rec", RECORDINGS, ids=IDS)
def test_every_fired_event_reached_the_live_game(rec):
    from collections import Counter

    def key(p):
        return (p.get("session_id"), p.get("hook_event_name"), p.get("tool_use_id"))

    reaches = delivered_events(rec)
    fired = Counter(key(p) for p in rec.fired() if reaches(p))
    arrived = Counter(  # events the server made itself (usage, gap fill) are not hooks
        key(p) for events in rec.applied().values() for p in events if not derived(p)
    )
    assert not fired - arrived, f"fired but never applied: {dict(fired - arrived)}"
    # A witness Claude Code killed at the end of a `-p` run (its debug log says so) leaves
    # the event out of the hook log though the server may have it: only those may be extra.
    lost = Counter(rec.live().get("witness_lost") or [])
    extra = Counter(name for (_, name, _) in (arrived - fired).elements())
    assert not extra - lost, f"applied but never fired: {dict(arrived - fired)}"


#: The CLI's ``modelUsage`` keys → the game's token keys.
CLI_KEYS = {
    "inputTokens": "input",
    "outputTokens": "output",
    "cacheReadInputTokens": "cacheRead",
    "cacheCreationInputTokens": "cacheWrite",
}


def cli_usage(rec) -> dict[str, dict[str, int]]:
    """The CLI's own token count per session: ``modelUsage`` (summed over models) of the
    session's last run's ``--output-format json`` answer. It is the session's running total
    (restored on --continue/--resume), subagents and compaction requests included; the
    answer's ``usage`` is only the last prompt's main-agent requests."""
    totals: dict[str, dict[str, int]] = {}
    for step in rec.live()["steps"]:
        answer = step.get("answer") or {}
        models, sid = answer.get("modelUsage"), answer.get("session_id")
        if not isinstance(models, dict) or not sid:
            continue
        total = totals[sid] = {}
        for usage in models.values():
            for theirs, ours in CLI_KEYS.items():
                total[ours] = total.get(ours, 0) + int(usage.get(theirs) or 0)
    return totals


@pytest.mark.parametrize("rec", RECORDINGS, ids=IDS)
def test_tokens_match_the_cli_own_count(rec):
    games = {"live": live_games(rec), "transcript": transcript_games(rec)}
    wrong = []
    for sid, usage in cli_usage(rec).items():
        for source, per in games.items():
            tokens = ((per.get(sid) or {}).get("stats") or {}).get("tokens") or {}
            for k, want in usage.items():
                got = tokens.get(k)
                if got is None or abs(got - want) > TOKEN_TOLERANCE * max(want, 1):
                    wrong.append(f"{sid[:8]} {source} {k}: {got} (the CLI says {want})")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("rec", RECORDINGS, ids=IDS)
def test_every_hook_has_its_dispatch_time(rec):
    """``fired_at`` (from claude's debug log) for every hook-log line but those of
    ``NO_DURATION``, and each within its witness run: dispatched no later
    than the witness stamped it, which it did before the run ended. A line paired with
    another run of the same event and tool would fall outside."""
    import math

    live, rows = rec.live(), rec.fired()
    fired_at, took = live.get("fired_at"), live.get("witness_ms")
    assert fired_at is not None and len(fired_at) == len(took) == len(rows)
    missing = [rows[n]["hook_event_name"] for n, t in enumerate(fired_at) if t is None]
    assert set(missing) <= NO_DURATION, missing
    outside = []
    for n, (at, ms) in enumerate(zip(fired_at, took, strict=True)):
        if at is None:
            continue
        stamp = epoch(rows[n]["timestamp"])
        # both clocks are the machine's, in whole ms; the stamp is cut, not rounded
        if not at - 0.0015 <= stamp <= at + ms / 1000 + 0.0015 or not math.isfinite(at):
            outside.append(f"#{n} {rows[n]['hook_event_name']} at {at} +{ms} ms, stamp {stamp}")
    assert not outside, "\n".join(outside)


def _picture_lines(order: str) -> tuple[int, int, list[str]]:
    total = agree = 0
    lines = []
    for rec in RECORDINGS:
        for check in picture_agreement(rec, order):
            total += check.events
            agree += check.agree
            if check.agree < check.events:
                lines.append(
                    f"{rec.name} {check.game[:8]}: {check.events - check.agree} of "
                    f"{check.events} differ, first at {[w[0] for w in check.first_wrong]}"
                )
                lines += [f"  {why}" for why in position_evidence(rec, check)]
    return agree, total, lines


def test_intermediate_pictures_agree():
    """Claude Code's dispatch order (its debug log) against the server's applied order; the
    witness order (the hook log's file order) is printed beside it, not asserted."""
    w_agree, w_total, w_lines = _picture_lines("witness")
    agree, total, lines = _picture_lines("dispatch")
    rate = agree / total if total else 1.0
    w_rate = w_agree / w_total if w_total else 1.0
    print(f"intermediate pictures, dispatch order: {agree} of {total} agree ({rate:.2%})")
    print(*lines, sep="\n")
    print(f"intermediate pictures, witness order: {w_agree} of {w_total} agree ({w_rate:.2%})")
    print(*w_lines, sep="\n")
    assert total > 0
    assert rate >= PICTURE_TARGET, f"{rate:.3%} < {PICTURE_TARGET:.1%}\n" + "\n".join(lines)


def test_the_recorders_fake_api_plays_each_step_from_its_own_prompt():
    """tools/record_session.py: a --continue step's requests carry the earlier steps'
    conversation; the step's script answers from its own first turn, counted from the
    last user message holding its prompt. Subagents match their first user message."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "tools" / "record_session.py"
    spec = importlib.util.spec_from_file_location("record_session", path)
    recorder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recorder)
    step = {
        "prompt": "second prompt",
        "turns": [{"repeat": 2, "turns": [[{"text": "turn {i}"}]]}],
        "subagents": [{"prompt_contains": "sub job", "turns": [[{"text": "sub 0"}]]}],
    }
    api = recorder.make_api(recorder.step_scripts(step, 1), None)

    def ask(*messages):
        roles = ["user", "assistant"] * len(messages)
        body = {"tools": [{"name": "Bash"}], "messages": []}
        for role, content in zip(roles, messages, strict=False):
            body["messages"].append({"role": role, "content": content})
        return api.answer(body)

    assert ask("first prompt", "old answer", "second prompt") == (
        "step1.main",
        [{"type": "text", "text": "turn 0"}],
    )
    assert ask("first prompt", "a", "second prompt", "b", "result")[1][0]["text"] == "turn 1"
    assert ask("sub job")[0] == "step1.sub0"
    assert ask("something else")[0] == ""
