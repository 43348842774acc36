"""Token use, model and context per agent, counted from transcript lines: one set of rules.

The live tail (``tail.py``), the transcript replay (``_transcript_emit.py``) and hook-log
replays all count with :class:`UsageCounter`, so a live game and its replays agree:

* an assistant message's ``usage`` once per ``message.id`` + ``requestId`` (a streamed
  message is written as one line per content block, each repeating the usage), from its
  first line, for the agent whose file (or ``agentId``) it is in;
* requests the transcript has no assistant line for, above all the compaction request
  (``/compact`` and auto-compaction write only a ``compact_boundary`` line): Claude Code's
  own count is the ``modelUsage`` of its ``cost-state`` lines, cumulative for the session
  and summed over models (the same numbers as ``claude -p --output-format json``); what it
  holds beyond the assistant lines counted (all agents) is the main agent's;
* the model of each agent's newest assistant message, and the context its newest request
  used (input + cache read + cache creation).

Transcripts are untrusted input, and these numbers travel to every viewer (msgpack carries
integers within −2⁶³…2⁶⁴−1, JSON clients refuse 300-digit ones, JavaScript is exact up to
2⁵³). So a token count is used only if it is an integer (not a bool) in 1…2⁵³−1, the same
rule the engine applies to a hook payload's ``usage``; anything else (a float, a string,
NaN, a negative number, 10³⁰) counts as 0 — dropped, not clamped, as a hostile number says
nothing about the real count. Sums saturate at :data:`MAX_TOKENS`, so no total or delta the
counter hands out can pass it. A response is keyed by ``message.id`` + ``requestId`` only
when those are strings (else the line's ``uuid``); other values cannot name a response.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import MAX_COUNT as MAX_TOKENS

__all__ = ["MAX_TOKENS", "USAGE_FIELDS", "AgentTotals", "UsageCounter", "count_tokens"]

#: The four numbers a usage event carries, as the API and the transcript name them.
USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
#: ``cost-state`` ``modelUsage`` names for the same numbers.
_COST_FIELDS = {
    "inputTokens": "input_tokens",
    "outputTokens": "output_tokens",
    "cacheReadInputTokens": "cache_read_input_tokens",
    "cacheCreationInputTokens": "cache_creation_input_tokens",
}
#: Models that are not models: the harness's own messages (API errors, interruptions).
_NOT_MODELS = frozenset({"<synthetic>", ""})


@dataclass
class AgentTotals:
    """One agent's numbers so far: cumulative ``usage``, newest ``model`` and ``context``."""

    usage: dict[str, int] = field(default_factory=lambda: dict.fromkeys(USAGE_FIELDS, 0))
    model: str | None = None
    context: int | None = None
    #: The transcript time of the newest message counted (ISO, as written).
    timestamp: str | None = None


class UsageCounter:
    """The counting rules, line by line; the tail and hook-log replays feed it.

    Agent keys are the subagent id, or ``None`` for the main agent.
    """

    def __init__(self) -> None:
        self.agents: dict[str | None, AgentTotals] = {}
        self._responses: set[tuple[Any, Any]] = set()
        self._counted = dict.fromkeys(USAGE_FIELDS, 0)  # over all agents, assistant lines
        self._extra = dict.fromkeys(USAGE_FIELDS, 0)  # given to main from cost-state
        self._cost = dict.fromkeys(USAGE_FIELDS, 0)  # the newest cost-state, summed
        self._cost_base = dict.fromkeys(USAGE_FIELDS, 0)  # earlier runs, if one restarted
        self._cost_stamp: str | None = None
        self._stamp: str | None = None  # the newest timed line fed

    def agent(self, key: str | None) -> AgentTotals:
        totals = self.agents.get(key)
        if totals is None:
            totals = self.agents[key] = AgentTotals()
        return totals

    def take(self, obj: dict[str, Any], agent: str | None, *, own: bool = True) -> None:
        """Count one transcript line of ``agent``. ``own=False``: the line is Claude Code's
        compaction agent's (``agent-acompact-*``): its usage is counted for ``agent``, but
        its model and context are not the agent's."""
        stamp = obj.get("timestamp")
        if isinstance(stamp, str):
            self._stamp = stamp
        kind = obj.get("type")
        if kind == "assistant":
            self._assistant(obj, agent, own)
        elif kind == "cost-state":
            self._cost_state(obj)

    def _assistant(self, obj: dict[str, Any], agent: str | None, own: bool) -> None:
        message = obj.get("message")
        if not isinstance(message, dict):
            return
        usage = message.get("usage")
        if not isinstance(usage, dict):
            return
        key = (_name(message.get("id")) or _name(obj.get("uuid")), _name(obj.get("requestId")))
        if key[0] is None or key in self._responses:
            return
        self._responses.add(key)
        totals = self.agent(agent)
        numbers = {name: count_tokens(usage.get(name)) for name in USAGE_FIELDS}
        for name, value in numbers.items():
            totals.usage[name] = _add(totals.usage[name], value)
            self._counted[name] = _add(self._counted[name], value)
        stamp = obj.get("timestamp")
        if isinstance(stamp, str):
            totals.timestamp = stamp
        if not own:
            return
        model = message.get("model")
        if isinstance(model, str) and model not in _NOT_MODELS:
            totals.model = model
        if not (isinstance(model, str) and model in _NOT_MODELS):  # any JSON value may come
            totals.context = min(
                MAX_TOKENS,
                numbers["input_tokens"]
                + numbers["cache_read_input_tokens"]
                + numbers["cache_creation_input_tokens"],
            )

    def _cost_state(self, obj: dict[str, Any]) -> None:
        models = obj.get("modelUsage")
        if not isinstance(models, dict):
            return
        total = dict.fromkeys(USAGE_FIELDS, 0)
        for numbers in models.values():
            if isinstance(numbers, dict):
                for name, ours in _COST_FIELDS.items():
                    total[ours] = _add(total[ours], count_tokens(numbers.get(name)))
        if any(total[name] < self._cost[name] for name in USAGE_FIELDS):
            # A new run that did not carry the session's totals over: add on to them.
            for name in USAGE_FIELDS:
                self._cost_base[name] = _add(self._cost_base[name], self._cost[name])
        self._cost = total
        self._cost_stamp = self._stamp

    def settle(self) -> None:
        """Give the main agent what Claude Code counted beyond the assistant lines fed so far
        (the compaction request). Call it once every file has been read up to now: a
        ``cost-state`` line can count a subagent's messages before its file is read."""
        gap = {
            name: min(self._cost_base[name] + self._cost[name], MAX_TOKENS)
            - self._counted[name]
            - self._extra[name]
            for name in USAGE_FIELDS
        }
        if not any(value > 0 for value in gap.values()):
            return
        main = self.agent(None)
        for name, value in gap.items():
            if value > 0:
                main.usage[name] = _add(main.usage[name], value)
                self._extra[name] = _add(self._extra[name], value)
        if self._cost_stamp is not None:
            main.timestamp = self._cost_stamp


def count_tokens(value: Any) -> int:
    """A token count as the counter takes it: an int in 1…MAX_TOKENS, else 0 (dropped)."""
    return value if type(value) is int and 0 < value <= MAX_TOKENS else 0


def _add(total: int, value: int) -> int:
    """``total + value``, saturating at :data:`MAX_TOKENS`."""
    return min(total + value, MAX_TOKENS)


def _name(value: Any) -> str | None:
    """A string that can name a response (a hashable key), else None."""
    return value if isinstance(value, str) and value else None
