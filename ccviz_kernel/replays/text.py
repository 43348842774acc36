"""Plain-text views of a game: one line per event, and a summary of the final state."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..engine.game import Applied, Game
from ..events import HookEvent


def format_time(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _clock(game: Game) -> str:
    started, last = game.peek("startedAt"), game.peek("lastEventAt")
    if started is None or last is None:
        return f"#{game.seq:<5}"
    seconds = (last - started) / 1000
    return f"{int(seconds // 60):02d}:{seconds % 60:04.1f}"


def format_event(game: Game, event: HookEvent, applied: Applied) -> list[str]:
    agents = game.peek("agents")
    lines = []
    texts = [e for e in applied.effects if e.get("text")] or [{"agentId": None, "text": ""}]
    for effect in texts[:2]:
        agent_id = effect.get("agentId") or event.agent_id or "main"
        name = agents[agent_id]["name"] if agent_id in agents else agent_id
        label = event.name if event.name != "PreToolUse" else event.tool_name or event.name
        lines.append(f"{_clock(game)}  {name[:18]:18}  {label[:22]:22}  {effect['text']}".rstrip())
    return lines


def format_final(snapshot: dict[str, Any], replay: Any = None) -> str:
    stats = snapshot["stats"]
    places = snapshot["places"]
    out = [f"Game {snapshot['gameId']}  ({snapshot['status']}, {snapshot['seq']} events)"]
    if snapshot.get("title"):
        out.append(f"  title:   {snapshot['title']}")
    if snapshot.get("cwd"):
        out.append(f"  folder:  {snapshot['cwd']}")
    if snapshot["startedAt"] is not None and snapshot["lastEventAt"] is not None:
        seconds = (snapshot["lastEventAt"] - snapshot["startedAt"]) / 1000
        out.append(f"  time:    {format_time(snapshot['startedAt'] / 1000)}, {seconds:.1f} s")
    tokens = stats.get("tokens")
    out.append(
        f"  prompts: {stats['prompts']}   tool calls: {sum(stats['toolCalls'].values())}   "
        f"failures: {stats['failures']}   subagents: {stats['subagents']}"
        + (f"   tokens: {tokens['total']:,}" if tokens else "")
    )
    out.append("  agents:")
    for agent in snapshot["agents"].values():
        parent = (
            f" ← {snapshot['agents'].get(agent['parent'], {}).get('name', agent['parent'])}"
            if agent["parent"]
            else ""
        )
        place = places.get(agent["place"], {}).get("label", agent["place"])
        out.append(
            f"    {agent['name'][:24]:24} {agent['state']:9} at {place:12} "
            f"calls {agent['calls']:<4} failures {agent['failures']}{parent}"
        )
    if stats["toolCalls"]:
        calls = sorted(stats["toolCalls"].items(), key=lambda kv: (-kv[1], kv[0]))
        out.append("  tools:   " + ", ".join(f"{tool} {n}" for tool, n in calls))
    if stats["placeCalls"]:
        visits = sorted(stats["placeCalls"].items(), key=lambda kv: (-kv[1], kv[0]))
        out.append(
            "  places:  " + ", ".join(f"{places.get(p, {}).get('label', p)} {n}" for p, n in visits)
        )
    if snapshot["todos"]:
        out.append("  todos:")
        marks = {"completed": "[x]", "in_progress": "[~]", "pending": "[ ]"}
        for todo in snapshot["todos"]:
            out.append(f"    {marks.get(todo['status'], '[ ]')} {todo['content']}")
    if replay is not None and (replay.skipped or replay.ignored):
        out.append(
            f"  source:  {replay.kind}, {replay.skipped} lines skipped, {replay.ignored} ignored"
        )
    return "\n".join(out)


def event_row(game: Game, event: HookEvent, applied: Applied) -> dict[str, Any]:
    """One event as a table row (what notebooks put in a DataFrame): redacted, no payload."""
    agent_id = event.agent_id or "main"
    agent = game.peek("agents").get(agent_id) or {}
    text = next((e["text"] for e in applied.effects if e.get("text")), "")
    return {
        "seq": applied.seq,
        "time": int(event.ts * 1000) if event.ts is not None else None,
        "event": event.name,
        "agent": agent_id,
        "agentName": agent.get("name"),
        "tool": event.tool_name,
        "place": agent.get("place"),
        "text": text,
    }


def event_rows(game_id: str, events: list[HookEvent]) -> list[dict[str, Any]]:
    game = Game(game_id)
    return [event_row(game, event, game.apply(event)) for event in events]
