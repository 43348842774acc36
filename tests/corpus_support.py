"""Comparing games built from the recorded corpus (tests/fixtures/corpus/, see its README).

Each recording holds one scenario run with the real Claude Code CLI: the hook log (every
event as Claude Code fired it, from a synchronous witness), the transcripts Claude Code
wrote, and the live games a real ccviz server built from the installed hooks
(``<name>.live.json``: each game's final snapshot and the events in the order it applied
them). The same session read three ways must give the same game:

- :func:`project` cuts a snapshot down to the fields compared (agents with kind, type,
  parent, state, calls, failures, model; toolCalls, failures, prompts, todos, tokens,
  model, status);
- :func:`diff` lists the fields where the sources disagree (tokens within 1 %);
- :func:`pictures` and :func:`picture_agreement` replay events in two orders and compare
  the agent states after every event (the intermediate-picture check).

"The order Claude Code fired them" is the *dispatch* order: the hook-log lines sorted by
the time Claude Code dispatched each one's witness (``fired_at`` in ``<name>.live.json``:
the witness run's finish − its duration in claude's ``--debug-file`` log; stable, file
order on ties; the witness's own ``timestamp`` where the log gives no duration, i.e.
SessionEnd). The hook log's file order (the *witness* order: when each witness appended,
after its interpreter started) is kept for comparison: ``order="witness"``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"
#: Relative tolerance for token counts.
TOKEN_TOLERANCE = 0.01
MISSING = "<absent>"


# -- the recordings -----------------------------------------------------------------------


@dataclass
class Recording:
    name: str
    folder: Path

    @property
    def hooklog(self) -> Path:
        return self.folder / f"{self.name}.hooks.jsonl"

    @property
    def live_path(self) -> Path:
        return self.folder / f"{self.name}.live.json"

    @property
    def transcripts(self) -> list[Path]:
        """The main transcript of every session (subagents' files are beside them)."""
        return sorted((self.folder / self.name).glob("*.jsonl"))

    def live(self) -> dict[str, Any]:
        return json.loads(self.live_path.read_text(encoding="utf-8"))

    def fired(self) -> list[dict[str, Any]]:
        """The hook log's payloads, in its (witness) order; indexed by line as in live.json."""
        return [json.loads(line) for line in self.hooklog.read_text("utf-8").splitlines() if line]

    def fired_at(self) -> list[float | None]:
        """When Claude Code dispatched each hook-log line (epoch s): the recorded ``fired_at``
        (from claude's debug log), else the witness's own ``timestamp``."""
        recorded = self.live().get("fired_at") or []
        out = []
        for n, payload in enumerate(self.fired()):
            at = recorded[n] if n < len(recorded) else None
            out.append(at if at is not None else epoch(payload.get("timestamp")))
        return out

    def order(self, by: str = "dispatch") -> list[int]:
        """The hook log's line numbers in the order Claude Code fired them: ``dispatch``
        (sorted by :meth:`fired_at`, file order on ties) or ``witness`` (file order)."""
        n = len(self.fired())
        if by == "witness":
            return list(range(n))
        if by != "dispatch":
            raise ValueError(by)
        at = self.fired_at()
        return sorted(range(n), key=lambda i: (at[i] if at[i] is not None else float("inf"), i))

    def arrived_at(self) -> dict[int, float]:
        """When the server stored each hook-log line (its event's ``ts``), by line number."""
        out = {}
        for game in self.live()["games"].values():
            for event in game["events"]:
                if "fired" in event:
                    out[event["fired"]] = event.get("ts")
        return out

    def applied(self) -> dict[str, list[dict[str, Any]]]:
        """Each live game's events, in the order the server applied them, as payloads."""
        fired = self.fired()
        out: dict[str, list[dict[str, Any]]] = {}
        for gid, game in self.live()["games"].items():
            by_seq = {e["seq"]: e for e in game["events"]}
            order = game.get("applied") or sorted(by_seq)
            payloads = []
            for seq in order:
                event = by_seq[seq]
                if "payload" in event:
                    payload = event["payload"]
                else:  # the hook log's line, plus what the server added (ccviz_continues …)
                    payload = {**fired[event["fired"]], **event.get("with", {})}
                payloads.append({**payload, "_ts": event.get("ts"), "_fired": event.get("fired")})
            out[gid] = payloads
        return out


def recordings(corpus: Path = CORPUS) -> list[Recording]:
    if not corpus.is_dir():
        return []
    return [
        Recording(p.name, p)
        for p in sorted(corpus.iterdir())
        if (p / f"{p.name}.hooks.jsonl").exists() and (p / f"{p.name}.live.json").exists()
    ]


# -- building the games -------------------------------------------------------------------


def replay_snapshots(path: Path) -> dict[str, dict[str, Any]]:
    """``{game id: final snapshot}`` of a hook log or transcript, through the product's own
    loader (``load_replays`` when the loader gives several games for one file)."""
    from ccviz_kernel.replays import load as loader

    many = getattr(loader, "load_replays", None)
    replays = many(path) if many is not None else [loader.load_replay(path)]
    return {r.game_id: r.game().snapshot() for r in replays}


def hooklog_games(rec: Recording) -> dict[str, dict[str, Any]]:
    return replay_snapshots(rec.hooklog)


def transcript_games(rec: Recording) -> dict[str, dict[str, Any]]:
    games: dict[str, dict[str, Any]] = {}
    for path in rec.transcripts:
        games.update(replay_snapshots(path))
    return games


def live_games(rec: Recording) -> dict[str, dict[str, Any]]:
    """The live games: the events the server applied, in its order, through today's engine.

    The same as the server's own snapshot when it was recorded with today's engine (the
    e2e test tests/e2e/test_corpus_live.py checks that on fresh runs); unlike the stored
    snapshot, it follows the engine as it is fixed."""
    from ccviz_kernel.engine.game import Game
    from ccviz_kernel.events import parse_event

    games = {}
    for gid, payloads in rec.applied().items():
        game = Game(gid)
        for payload in payloads:
            clean = {k: v for k, v in payload.items() if k not in ("_ts", "_fired")}
            game.apply(parse_event(clean, ts=payload.get("_ts"), session_id=gid))
        games[gid] = game.snapshot()
    return games


def recorded_live_games(rec: Recording) -> dict[str, dict[str, Any]]:
    """The server's own final snapshots, as saved when the recording was made."""
    return {gid: game["snapshot"] for gid, game in rec.live()["games"].items()}


# -- projection and diff ------------------------------------------------------------------


def project(snapshot: dict[str, Any] | None) -> dict[str, Any]:
    """The compared fields of a game snapshot, flattened to ``{"a.b.c": value}``."""
    if snapshot is None:
        return {}
    out: dict[str, Any] = {}
    stats = snapshot.get("stats") or {}
    out["status"] = snapshot.get("status")
    out["model"] = snapshot.get("model")
    out["stats.prompts"] = stats.get("prompts")
    out["stats.failures"] = stats.get("failures")
    out["stats.subagents"] = stats.get("subagents")
    for tool, n in sorted((stats.get("toolCalls") or {}).items()):
        out[f"stats.toolCalls.{tool}"] = n
    _tokens(out, "stats.tokens", stats.get("tokens"))
    out["todos"] = [(t.get("content"), t.get("status")) for t in snapshot.get("todos") or []]
    for aid, agent in sorted((snapshot.get("agents") or {}).items()):
        for key in ("kind", "type", "parent", "state", "calls", "failures"):
            out[f"agents.{aid}.{key}"] = agent.get(key)
        if agent.get("model") is not None:
            out[f"agents.{aid}.model"] = agent.get("model")
        _tokens(out, f"agents.{aid}.tokens", agent.get("tokens"))
    return out


def _tokens(out: dict[str, Any], prefix: str, tokens: Any) -> None:
    if isinstance(tokens, dict):
        for key, value in sorted(tokens.items()):
            if isinstance(value, (int, float)):
                out[f"{prefix}.{key}"] = value
    else:
        out[prefix] = tokens


def _same(path: str, a: Any, b: Any) -> bool:
    numbers = isinstance(a, (int, float)) and isinstance(b, (int, float))
    if numbers and (".tokens." in path or path.startswith("stats.tokens")):
        return abs(a - b) <= TOKEN_TOLERANCE * max(abs(a), abs(b), 1)
    return a == b


@dataclass
class Disagreement:
    game: str
    field: str
    values: dict[str, Any]  # by source

    def __str__(self) -> str:
        shown = "  ".join(f"{src}={_short(v)}" for src, v in self.values.items())
        return f"{self.game[:8]} {self.field}: {shown}"


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def diff(games: dict[str, dict[str, dict[str, Any]]]) -> list[Disagreement]:
    """Field-by-field disagreements between sources: ``games[source][game id] = snapshot``.

    A game one source has and another lacks is one disagreement on the field ``game``."""
    sources = list(games)
    ids = sorted({gid for per in games.values() for gid in per})
    found: list[Disagreement] = []
    for gid in ids:
        present = {src: gid in games[src] for src in sources}
        if not all(present.values()):
            found.append(Disagreement(gid, "game", {s: p or MISSING for s, p in present.items()}))
            continue
        projected = {src: project(games[src][gid]) for src in sources}
        fields = sorted({f for p in projected.values() for f in p})
        for name in fields:
            values = {src: projected[src].get(name, MISSING) for src in sources}
            first = values[sources[0]]
            if not all(_same(name, first, v) for v in values.values()):
                found.append(Disagreement(gid, name, values))
    return found


def describe(found: list[Disagreement]) -> str:
    return "\n".join(str(d) for d in found) or "no disagreement"


# -- the intermediate picture -------------------------------------------------------------


def agent_states(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {aid: a.get("state") for aid, a in (snapshot.get("agents") or {}).items()}


def pictures(
    game_id: str, payloads: list[dict[str, Any]], *, hooks_only: bool = False
) -> list[dict[str, Any]]:
    """The agent states after every event, applying ``payloads`` in order to a fresh game.

    ``hooks_only``: a picture only after the events that came from a hook (``_fired`` set),
    so events the server derived itself (``ccviz.usage``, gap fill from the transcript)
    are applied but do not shift the positions compared with the hook log."""
    from ccviz_kernel.engine.game import Game
    from ccviz_kernel.events import parse_event

    game = Game(game_id)
    out = []
    for payload in payloads:
        ts = payload.get("_ts")
        clean = {k: v for k, v in payload.items() if k not in ("_ts", "_fired")}
        game.apply(parse_event(clean, ts=ts, session_id=game_id))
        if not hooks_only or payload.get("_fired") is not None:
            out.append(agent_states(game.snapshot()))
    return out


@dataclass
class PictureCheck:
    game: str
    events: int
    agree: int
    #: ``(position, fired-order states, applied-order states)`` of the first few that differ
    first_wrong: list[tuple[int, Any, Any]] = field(default_factory=list)
    #: the hook-log line numbers behind each position, in fired and in applied order
    fired_lines: list[int] = field(default_factory=list)
    applied_lines: list[int | None] = field(default_factory=list)


def picture_agreement(rec: Recording, order: str = "dispatch") -> list[PictureCheck]:
    """Fired order (the hook log in ``order``, see :meth:`Recording.order`, split by
    session) against the live applied order, per game: after each fired event, do both
    show the same agent states? Events are matched by the hook-log line they come from
    (a per-call event the server read from the transcript knows its line too), so an event
    only one side has (an unhooked ``PostToolBatch``; a refused call the transcript shows)
    shifts nothing; a fired event that never reached the server disagrees. The sequences
    are compared position by position: two concurrent results applied the other way round
    (the transcript writes them in its order) give the same sequence of states."""
    rows = rec.fired()
    reaches = delivered_events(rec)
    fired: dict[str, list[int]] = {}
    for n in rec.order(order):
        fired.setdefault(rows[n].get("session_id", ""), []).append(n)
    applied = rec.applied()
    checks = []
    for gid in sorted(set(fired) | set(applied)):
        lines = fired.get(gid, [])
        expected = [n for n in lines if reaches(rows[n])]
        keep = set(expected)
        a = states_by_line(gid, [{**rows[n], "_fired": n} for n in lines], keep)
        b = states_by_line(gid, applied.get(gid, []), keep)
        total = max(len(a), len(b))
        check = PictureCheck(gid, total, 0, fired_lines=[n for n, _ in a])
        check.applied_lines = [n for n, _ in b]
        for i in range(total):
            x = a[i][1] if i < len(a) else MISSING
            y = b[i][1] if i < len(b) else MISSING
            if x == y:
                check.agree += 1
            elif len(check.first_wrong) < 5:
                check.first_wrong.append((i, x, y))
        checks.append(check)
    return checks


def states_by_line(
    game_id: str, payloads: list[dict[str, Any]], keep: set[int]
) -> list[tuple[int, Any]]:
    """Apply ``payloads`` in order; ``(line, agent states)`` after each one that came from
    a line of the hook log (``_fired``) in ``keep``, in the order applied."""
    from ccviz_kernel.engine.game import Game
    from ccviz_kernel.events import parse_event

    game = Game(game_id)
    out: list[tuple[int, Any]] = []
    for payload in payloads:
        clean = {k: v for k, v in payload.items() if k not in ("_ts", "_fired")}
        game.apply(parse_event(clean, ts=payload.get("_ts"), session_id=game_id))
        if payload.get("_fired") in keep:
            out.append((payload["_fired"], agent_states(game.snapshot())))
    return out


#: Per-call events the server reads from the transcript when they are not hooked.
TRANSCRIPT_EVENTS = frozenset({"PreToolUse", "PostToolUse", "PostToolUseFailure", "PostToolBatch"})


def delivered_events(rec: Recording):
    """Which fired events the live game should have: the hooked ones, and the per-call
    events the server reads from the transcript (an unhooked ``PostToolBatch`` reaches it
    only as its calls)."""
    hooked = set(rec.live().get("hooked") or ())

    def reaches(row: dict[str, Any]) -> bool:
        name = row.get("hook_event_name")
        return not hooked or name in hooked or name in TRANSCRIPT_EVENTS

    return reaches


def picture_rate(recs: list[Recording], order: str = "dispatch") -> tuple[int, int]:
    """``(agreeing positions, positions)`` over ``recs``."""
    agree = total = 0
    for rec in recs:
        for check in picture_agreement(rec, order):
            agree += check.agree
            total += check.events
    return agree, total


def position_evidence(rec: Recording, check: PictureCheck) -> list[str]:
    """For each differing position of ``check``: the event there in fired order and in
    applied order, with their dispatch times (claude's clock) and arrival times (server)."""
    rows, at, arrived = rec.fired(), rec.fired_at(), rec.arrived_at()
    witness_ms = rec.live().get("witness_ms") or []
    t0 = min((t for t in at if t is not None), default=0.0)

    def show(n: int | None) -> str:
        if n is None:
            return MISSING
        took = witness_ms[n] if n < len(witness_ms) else None
        parts = [f"#{n} {event_label(rows[n])}"]
        parts.append(f"dispatched {_rel(at[n], t0)}" + (f" (witness {took} ms)" if took else ""))
        parts.append(f"witness stamp {_rel(epoch(rows[n].get('timestamp')), t0)}")
        parts.append(f"arrived {_rel(arrived.get(n), t0)}")
        return ", ".join(parts)

    out = []
    for i, _x, _y in check.first_wrong:
        f = check.fired_lines[i] if i < len(check.fired_lines) else None
        a = check.applied_lines[i] if i < len(check.applied_lines) else None
        out.append(f"position {i}: fired order {show(f)} | applied order {show(a)}")
    return out


def _rel(t: float | None, t0: float) -> str:
    return "?" if t is None else f"+{(t - t0) * 1000:.0f} ms"


def epoch(stamp: Any) -> float | None:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def derived(payload: dict[str, Any]) -> bool:
    """An event the server made itself that no hook fired (``ccviz.usage``, gap fill from
    the transcript); a per-call event read from the transcript for a fired one is not."""
    name = str(payload.get("hook_event_name", ""))
    if payload.get("_fired") is not None:
        return False
    return name.startswith("ccviz.") or payload.get("ccviz_source") == "transcript"


def inversions(rec: Recording, order: str = "dispatch") -> list[str]:
    """Where the server applied hook events in another order than Claude Code fired them
    (``order``, see :meth:`Recording.order`): each event applied before one fired earlier,
    with both labels and how far apart they were dispatched."""
    fired, at = rec.fired(), rec.fired_at()
    rank = {n: r for r, n in enumerate(rec.order(order))}
    out = []
    for gid, payloads in rec.applied().items():
        seen_max, seen_n = -1, -1
        for p in payloads:
            index = p.get("_fired")
            if index is None:
                continue
            if rank[index] < seen_max:
                a, b = at[index], at[seen_n]
                ms = "?" if a is None or b is None else round((b - a) * 1000)
                out.append(
                    f"{gid[:8]}: fired #{index} {event_label(fired[index])} applied after "
                    f"fired #{seen_n} {event_label(fired[seen_n])} (dispatched {ms} ms apart)"
                )
            elif rank[index] > seen_max:
                seen_max, seen_n = rank[index], index
    return out


def event_label(payload: dict[str, Any]) -> str:
    """``PreToolUse Read toolu_…`` – enough to find the event in the hook log."""
    parts = [payload.get("hook_event_name", "?")]
    for key in ("tool_name", "agent_type", "source", "reason"):
        if payload.get(key):
            parts.append(str(payload[key]))
    if payload.get("tool_use_id"):
        parts.append(str(payload["tool_use_id"])[-8:])
    if payload.get("agent_id"):
        parts.append(f"agent={str(payload['agent_id'])[:8]}")
    return " ".join(parts)


# -- the disagreements report -------------------------------------------------------------


def evidence(rec: Recording) -> list[str]:
    """Raw facts from the hook log and the transcripts that explain most disagreements."""
    fired = rec.fired()
    lines: list[str] = []
    pre = {p.get("tool_use_id") for p in fired if p.get("hook_event_name") == "PreToolUse"}
    for p in fired:
        name = p.get("hook_event_name")
        if name == "PostToolBatch":
            for call in p.get("tool_calls") or []:
                if call.get("tool_use_id") not in pre:
                    said = _short(call.get("tool_response"), 160)
                    lines.append(
                        f"PostToolBatch only (no PreToolUse): {call.get('tool_name')} "
                        f"{str(call.get('tool_use_id'))[-8:]} → {said}"
                    )
        elif name in ("PermissionRequest", "PermissionDenied", "PostToolUseFailure"):
            extra = p.get("reason") or p.get("error") or ""
            lines.append(f"{event_label(p)} {_short(extra, 120)}")
        elif name in ("SessionStart", "SessionEnd", "PreCompact", "PostCompact"):
            what = p.get("source") or p.get("reason") or p.get("trigger") or ""
            lines.append(f"{name} {what} session={str(p.get('session_id'))[:8]}")
        elif name in ("PreModelSwitch", "PostModelSwitch"):
            lines.append(f"{name} {p.get('from_model')} → {p.get('to_model')}")
        elif name == "UserPromptSubmit":
            lines.append(f"UserPromptSubmit {_short(p.get('prompt'), 100)}")
        elif name in ("SubagentStart", "SubagentStop") and not p.get("agent_type"):
            lines.append(f"{event_label(p)} (empty agent_type)")
    for path in rec.transcripts:
        for raw in path.read_text("utf-8").splitlines():
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            msg = obj.get("message") or {}
            if obj.get("type") == "user" and isinstance(msg.get("content"), str):
                lines.append(
                    f"transcript {path.stem[:8]} user line (meta={obj.get('isMeta')}, "
                    f"compact={obj.get('isCompactSummary')}): {_short(msg['content'], 110)}"
                )
            if obj.get("type") == "system" and obj.get("subtype"):
                lines.append(f"transcript {path.stem[:8]} system {obj.get('subtype')}")
    for step in rec.live()["steps"]:
        answer = step.get("answer") or {}
        usage = answer.get("usage") or {}
        lines.append(
            f"CLI step {' '.join(step['args'][1:2])!r} session={str(answer.get('session_id'))[:8]}"
            f" usage in={usage.get('input_tokens')} out={usage.get('output_tokens')}"
            f" models={sorted(answer.get('modelUsage') or {})}"
        )
    return lines


def write_report(path: str | Path) -> str:
    """The disagreements over the whole corpus, per scenario, as Markdown (the lead's queue)."""
    out = ["# Corpus disagreements (live vs hook-log replay vs transcript replay)", ""]
    out.append(
        "Generated by `python -m tests.corpus_support` from tests/fixtures/corpus/ with "
        "today's engine. `live` = the events the server applied, in its order, re-applied "
        "through today's engine; `live-recorded` = the server's own snapshot when recorded."
    )
    total = agree = witness_total = witness_agree = 0
    summary = []
    for rec in recordings():
        games = {
            "live": live_games(rec),
            "hooklog": hooklog_games(rec),
            "transcript": transcript_games(rec),
        }
        found = diff(games)
        recorded = diff({"live": games["live"], "live-recorded": recorded_live_games(rec)})
        checks = picture_agreement(rec)
        total += sum(c.events for c in checks)
        agree += sum(c.agree for c in checks)
        w_agree, w_total = picture_rate([rec], "witness")
        witness_agree += w_agree
        witness_total += w_total
        summary.append(f"| {rec.name} | {len(found)} | {len(recorded)} |")
        out += ["", f"## {rec.name}", ""]
        out.append(f"{_about(rec)}")
        out.append("")
        if found:
            out.append("| game | field | live | hooklog | transcript |")
            out.append("| --- | --- | --- | --- | --- |")
            for d in found:
                vals = [_short(d.values.get(s), 60) for s in ("live", "hooklog", "transcript")]
                out.append(f"| {d.game[:8]} | {d.field} | " + " | ".join(vals) + " |")
        else:
            out.append("live == hooklog == transcript on every compared field.")
        if recorded:
            out += ["", "Recorded live snapshot vs today's engine on the applied events:", ""]
            out += [f"- {d}" for d in recorded[:20]]
        for c in checks:
            if c.agree < c.events:
                out.append("")
                wrong = c.events - c.agree
                out.append(f"Intermediate pictures {c.game[:8]}: {wrong} of {c.events} differ")
                for (i, x, y), why in zip(c.first_wrong, position_evidence(rec, c), strict=True):
                    out.append(f"- after event {i}: fired-order {x} / applied-order {y}")
                    out.append(f"  - {why}")
        inv = inversions(rec)
        if inv:
            out += ["", f"Applied out of fired order ({len(inv)}):", ""]
            out += [f"- {line}" for line in inv[:15]]
        out += ["", "<details><summary>evidence (hook log, transcript, CLI)</summary>", ""]
        out += [f"    {line}" for line in evidence(rec)]
        out += ["", "</details>"]
    rate = agree / total if total else 1.0
    head = [
        "",
        f"Intermediate pictures over the corpus: {agree} of {total} events agree ({rate:.3%}) "
        "in dispatch order (claude's debug log); in witness order (the hook log's file order) "
        f"{witness_agree} of {witness_total} ({witness_agree / max(witness_total, 1):.3%}).",
        "",
        "| scenario | disagreements | recorded-live vs replayed-live |",
        "| --- | --- | --- |",
        *summary,
    ]
    text = "\n".join(out[:3] + head + out[3:]) + "\n"
    Path(path).write_text(text, encoding="utf-8")
    return text


def _about(rec: Recording) -> str:
    scenario = Path(__file__).resolve().parents[1] / "tools" / "scenarios" / f"{rec.name}.json"
    try:
        return json.loads(scenario.read_text()).get("about", "")
    except (OSError, ValueError):
        return ""


if __name__ == "__main__":  # python -m tests.corpus_support [report.md]
    import sys

    target = sys.argv[1] if len(sys.argv) > 1 else "/tmp/reports/A-disagreements.md"
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    text = write_report(target)
    print(text.split("\n## ")[0])
    print(f"written to {target}")
