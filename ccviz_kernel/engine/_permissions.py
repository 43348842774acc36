"""Permissions: Claude Code asks before a tool runs, and a person (or a rule) may answer.

A ``PermissionRequest`` opens a request in ``state["permissions"]`` (protocol.md §14) and
sends its agent to wait at the help desk. One that came through ``POST api/permissions``
carries ``ccviz_request`` (the id the server holds the hook under): it is *answerable*, and
stays open until a ``ccviz.permission`` event closes it (an answer, the wait's end, Claude
Code giving up). One seen only through ``api/hooks`` cannot be answered from here: it is
shown, and closed as ``moved-on`` when its agent does something else (it was answered in
Claude Code). Answers are checked before they are logged (:meth:`_check_permission`): only
an open, answerable request takes one, so only the first answer counts, on every process.
"""

from __future__ import annotations

import math
from typing import Any

from ..claude.hooks import SYNC_EVENTS
from ..errors import json_type
from ..events import HookEvent, PayloadError
from ._agents import AgentRules
from .speech import shorten, tool_texts
from .town import MAX_ANSWER_MESSAGE, WAITING_PLACE

#: Closed requests a game keeps in its snapshot (the open ones are always there).
CLOSED_KEPT = 20
#: What a ``ccviz.permission`` event may say, and the state each leaves the request in.
OUTCOMES = {
    "allow": "allowed",
    "deny": "denied",
    "expire": "expired",
    "withdraw": "withdrawn",
    "pass": "passed",
}
OUTCOMES.update(accept="accepted", decline="declined")
#: What a person or a program may answer (the others are the server's own).
ANSWERS = frozenset({"allow", "deny", "accept", "decline", "pass"})
#: The tool whose PermissionRequest is a question to the person (its options to pick from).
QUESTION_TOOL = "AskUserQuestion"
#: What answers each kind of request takes from a person, and with the server's own.
KIND_ANSWERS = {
    "permission": frozenset({"allow", "deny", "pass"}),
    "question": frozenset({"allow", "deny", "pass"}),
    "elicitation": frozenset({"accept", "decline", "pass"}),
}
KIND_BEHAVIORS = {kind: answers | {"expire", "withdraw"} for kind, answers in KIND_ANSWERS.items()}
#: Outcomes after which the agent goes on (its call runs, or it reads the refusal).
_GOES_ON = frozenset({"allowed", "denied", "answered", "accepted", "declined"})
_WORDS = {
    "allowed": "Allowed",
    "denied": "Denied",
    "answered": "Answered",
    "accepted": "Accepted",
    "declined": "Declined",
}
_PHRASES = {
    "allowed": "was allowed to go on",
    "denied": "was not allowed to go on",
    "answered": "got its answer",
    "accepted": "got the input it asked for",
    "declined": "was told no",
}
#: Field types an elicitation's form may have (MCP's primitive schema types).
FIELD_TYPES = frozenset({"string", "number", "integer", "boolean"})
#: The longest deny message (the model reads it as the tool's result): town.json's.
MAX_MESSAGE = MAX_ANSWER_MESSAGE
#: ``tool_input`` fields a request shows, in this order, at most :data:`_INPUT_FIELDS_KEPT`.
_INPUT_FIELDS = ("command", "file_path", "path", "notebook_path", "url", "pattern", "description")
_INPUT_FIELDS_KEPT = 3
#: Events after which even an answerable request is over (the turn or session ended: the
#: hook that asked is gone, e.g. with a server that restarted while holding it).
_TURN_OVER = SYNC_EVENTS | {"UserPromptSubmit"}
#: Events after which an agent cannot still be waiting on a request only seen (api/hooks):
#: its call's outcome, or its next request.
MOVES_ON = (
    _TURN_OVER
    | {"PermissionRequest", "PermissionDenied", "PostToolUse", "Elicitation"}
    | {"PostToolUseFailure", "ElicitationResult"}
)


class PermissionRules(AgentRules):
    """``PermissionRequest`` and ``ccviz.permission``."""

    _open_requests: int  # how many requests are open (Game.apply asks on every event)

    def _on_permission_request(self, event: HookEvent) -> None:
        tool = event.tool_name or "a tool"
        tool_input = event.get("tool_input")
        text, doing = tool_texts(tool, tool_input, self._state["cwd"])
        extra: dict[str, Any] = {"input": _input_fields(tool_input)}
        kind = "permission"
        if tool == QUESTION_TOOL:
            kind = "question"
            extra["questions"] = _questions(tool_input)
            first = extra["questions"][0]["question"] if extra["questions"] else "a question"
            text, doing = first, "asking you a question"
        extra["suggestions"] = _suggestion_labels(event.get("permission_suggestions"))
        agent_id = self._open_request(event, kind, tool, text, extra, wait="permission")
        if kind == "question":
            self._effect("wait", agent_id, shorten(f"Asks: {text}"))
            self._caption(agent_id, "asks you a question")
        else:
            self._effect("wait", agent_id, shorten(f"May I? {text}"))
            self._caption(agent_id, f"asks your permission before {doing}")

    def _open_elicitation(self, event: HookEvent) -> None:
        """An MCP server's form (``Elicitation``): a request of kind ``elicitation``."""
        server = event.get("mcp_server_name")
        server = shorten(server, 80) if isinstance(server, str) and server else "an MCP server"
        message = event.get("message")
        text = message if isinstance(message, str) and message else f"{server} asks for input"
        extra = {"server": server, "fields": _fields(event.get("requested_schema"))}
        self._open_request(event, "elicitation", server, text, extra, wait="input")

    def _open_request(
        self, event: HookEvent, kind: str, tool: str, text: str, extra: dict[str, Any], wait: str
    ) -> str:
        """Record an open request of ``kind``; the agent waits for it. Returns the agent."""
        agent_id = self._agent_for(event)
        self._settle_agent(agent_id, event.name)
        rid = event.get("ccviz_request")
        answerable = isinstance(rid, str) and 0 < len(rid) <= 64
        self._scratch.requests += 1
        if not answerable:  # its place among the game's requests: the same whatever the
            rid = f"r{self._scratch.requests}"  # reorder window did to its seq
        request = {
            "id": rid,
            "kind": kind,
            "agent": agent_id,
            "tool": shorten(tool, 80),
            "text": shorten(text),
            "input": {},
            "suggestions": [],
            **extra,
            "askedAt": int(event.ts * 1000) if event.ts is not None else None,
            "state": "open",
            "by": None,
            "source": None,
            "message": None,
            "always": False,
            "answer": None,
            "answeredAt": None,
            "answerable": answerable,
        }
        old = self._state["permissions"].get(rid)
        if old is not None and old["state"] == "open":  # the same id again: the old one ends
            self._close(old, "moved-on", at=None)
        self._set(("permissions", rid), request)
        self._open_requests += 1
        self._agent_set(agent_id, state="waiting", wait=wait, place=WAITING_PLACE, request=rid)
        return agent_id

    def _check_permission(self, event: HookEvent) -> None:
        """Refuse an answer that could not count (before it is logged)."""
        p = event.payload
        rid, behavior = p.get("request"), p.get("behavior")
        if not isinstance(behavior, str) or behavior not in OUTCOMES:
            raise PayloadError(
                f"'behavior' must be one of {', '.join(OUTCOMES)}, not {_named(behavior)}"
            )
        request = self._state["permissions"].get(rid) if isinstance(rid, str) else None
        if request is None:
            raise PayloadError(f"no open request {_named(rid)} in this game")
        if request["state"] != "open":
            raise PayloadError(f"request {rid!r} is already answered ({request['state']})")
        if not request["answerable"]:
            raise PayloadError(
                f"request {rid!r} cannot be answered here: it came through api/hooks "
                "(install-hooks --answer-permissions makes requests answerable)"
            )
        kind = request.get("kind", "permission")
        if behavior not in KIND_BEHAVIORS[kind]:
            raise PayloadError(
                f"a {kind} is answered with {', '.join(sorted(KIND_ANSWERS[kind]))}, "
                f"not {behavior!r}"
            )
        message = p.get("message")
        if message is not None and not isinstance(message, str):
            raise PayloadError("field 'message' must be a string")
        if isinstance(message, str) and len(message) > MAX_MESSAGE:
            raise PayloadError(f"field 'message' is longer than {MAX_MESSAGE} characters")
        if kind == "question" and behavior == "allow":
            _check_answers(p.get("answers"), request["questions"])
        if kind == "elicitation" and behavior == "accept":
            _check_content(p.get("content"), request["fields"])

    def _on_permission_answer(self, event: HookEvent) -> None:
        rid = event.get("request")
        requests = self._state["permissions"]
        request = requests.get(rid) if isinstance(rid, str) else None
        behavior = event.get("behavior")
        outcome = OUTCOMES.get(behavior) if isinstance(behavior, str) else None
        if request is None or outcome is None or request["state"] != "open":
            return  # an unchecked answer from an old log: nothing to do
        by, source, message = event.get("by"), event.get("source"), event.get("message")
        kind = request.get("kind", "permission")
        always = event.get("always") is True and outcome == "allowed" and kind == "permission"
        answer = None
        if kind == "question" and outcome == "allowed":
            outcome, answer = "answered", _kept(event.get("answers"))
        elif kind == "elicitation" and outcome == "accepted":
            answer = _kept(event.get("content"))
        self._close(
            request,
            outcome,
            by=shorten(by, 40) if isinstance(by, str) and by else None,
            source=shorten(source, 20) if isinstance(source, str) and source else None,
            message=shorten(message, 200) if isinstance(message, str) and message else None,
            always=always,
            answer=answer,
            at=int(event.ts * 1000) if event.ts is not None else None,
        )
        agent_id = request["agent"]
        agent = self._state["agents"].get(agent_id)
        if outcome in _GOES_ON and agent is not None and agent["state"] == "waiting":
            # allowed: its call runs now; denied: the model reads the refusal and goes on
            self._agent_set(
                agent_id, state="working" if outcome == "allowed" else "thinking", wait=None
            )
        if outcome in _GOES_ON:
            who = f" by {request['by']}" if request["by"] else ""
            word = _WORDS[outcome]
            self._effect("say", agent_id, shorten(f"{word}{who}: {request['text']}"))
            self._caption(agent_id, f"{_PHRASES[outcome]}{who}")

    def _settle_agent(self, agent_id: str, name: str) -> None:
        """Close the agent's open request when ``name`` shows it is no longer waiting."""
        agents = self._state["agents"]
        rid = agents[agent_id]["request"] if agent_id in agents else None
        request = self._state["permissions"].get(rid) if rid is not None else None
        if request is None or request["state"] != "open":
            return
        if name in _TURN_OVER or (name in MOVES_ON and not request["answerable"]):
            self._close(request, "moved-on", at=None)

    def _close(
        self, request: dict[str, Any], outcome: str, *, at: int | None, **fields: Any
    ) -> None:
        rid = request["id"]
        self._open_requests -= 1
        changes = {"state": outcome, "answeredAt": at, **fields}
        self._deltas.append(["merge", ["permissions", rid], changes])
        request.update(changes)
        agent = self._state["agents"].get(request["agent"])
        if agent is not None and agent.get("request") == rid:
            self._agent_set(request["agent"], request=None)
        closed = [k for k, r in self._state["permissions"].items() if r["state"] != "open"]
        for old in closed[:-CLOSED_KEPT]:
            self._del(("permissions", old))


def _input_fields(tool_input: Any) -> dict[str, str]:
    """A few fields of ``tool_input`` a person needs to decide, each one short line."""
    if not isinstance(tool_input, dict):
        return {}
    shown: dict[str, str] = {}
    for key in _INPUT_FIELDS:
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            shown[key] = shorten(value, 160)
            if len(shown) == _INPUT_FIELDS_KEPT:
                break
    content = tool_input.get("content")
    if isinstance(content, str) and len(shown) < _INPUT_FIELDS_KEPT + 1:
        shown["content"] = f"{len(content)} characters"
    return shown


def _suggestion_labels(suggestions: Any) -> list[str]:
    """Claude Code's ``permission_suggestions`` as short labels ("mode acceptEdits")."""
    if not isinstance(suggestions, list):
        return []
    labels = []
    for s in suggestions[:5]:
        if not isinstance(s, dict):
            continue
        kind = s.get("type")
        if kind == "setMode":
            label = f"mode {s.get('mode')}"
        elif kind == "addRules" and isinstance(s.get("rules"), list):
            rules = [r for r in s["rules"] if isinstance(r, dict)]
            named = [_rule_label(r) for r in rules]
            label = f"allow {', '.join(named)}"
        elif kind == "addDirectories" and isinstance(s.get("directories"), list):
            label = "add folder " + ", ".join(str(d) for d in s["directories"])
        else:
            label = str(kind)
        destination = s.get("destination")
        if isinstance(destination, str) and destination != "session":
            label += f" ({destination})"
        labels.append(shorten(label, 80))
    return labels


def _rule_label(rule: dict[str, Any]) -> str:
    content = rule.get("ruleContent")
    return f"{rule.get('toolName')}({content})" if content else str(rule.get("toolName"))


def _questions(tool_input: Any) -> list[dict[str, Any]]:
    """AskUserQuestion's questions: the text, the header and the option labels."""
    raw = tool_input.get("questions") if isinstance(tool_input, dict) else None
    found = []
    for q in raw[:4] if isinstance(raw, list) else []:
        if not isinstance(q, dict) or not isinstance(q.get("question"), str):
            continue
        options = q.get("options") if isinstance(q.get("options"), list) else []
        labels = [
            shorten(o["label"], 80)
            for o in options[:8]
            if isinstance(o, dict) and isinstance(o.get("label"), str)
        ]
        header = q.get("header")
        found.append(
            {
                "question": shorten(q["question"], MAX_MESSAGE),
                "header": shorten(header, 40) if isinstance(header, str) and header else None,
                "options": labels,
                "multiSelect": q.get("multiSelect") is True,
            }
        )
    return found


def _fields(schema: Any) -> list[dict[str, Any]]:
    """An elicitation's form: its fields, from the flat JSON schema MCP allows."""
    props = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(props, dict):
        return []
    required = schema.get("required") if isinstance(schema.get("required"), list) else []
    fields = []
    for name, spec in list(props.items())[:12]:
        if not isinstance(name, str) or not isinstance(spec, dict):
            continue
        kind = spec.get("type")
        kind = kind if isinstance(kind, str) and kind in FIELD_TYPES else "string"
        enum = spec.get("enum")
        if isinstance(enum, list):  # the choices a person picks from: plain values only
            enum = [v for v in enum[:20] if isinstance(v, (str, int, float)) and v is not None]
        title, description = spec.get("title"), spec.get("description")
        fields.append(
            {
                "name": shorten(name, 64),
                "type": kind,
                "title": shorten(title, 80) if isinstance(title, str) and title else None,
                "description": shorten(description, 160)
                if isinstance(description, str) and description
                else None,
                "enum": [shorten(str(v), 80) for v in enum] if isinstance(enum, list) else None,
                "required": name in required,
            }
        )
    return fields


def _check_answers(answers: Any, questions: list[dict[str, Any]]) -> None:
    if not isinstance(answers, dict) or not answers:
        raise PayloadError("a question is answered with 'answers': {question: label}")
    asked = {q["question"] for q in questions}
    for question, label in answers.items():
        if question not in asked:
            raise PayloadError(f"no question {_named(question)} in this request")
        if not isinstance(label, str) or not label or len(label) > MAX_MESSAGE:
            raise PayloadError(
                f"the answer to {_named(question)} must be a short, non-empty string"
            )


def _check_content(content: Any, fields: list[dict[str, Any]]) -> None:
    if not isinstance(content, dict):
        raise PayloadError("an elicitation is accepted with 'content': {field: value}")
    known = {f["name"]: f for f in fields}
    for name, value in content.items():
        field = known.get(name)
        if field is None:
            raise PayloadError(f"the form has no field {_named(name)}")
        kind = field["type"]
        ok = (
            (kind == "boolean" and isinstance(value, bool))
            or (kind == "integer" and isinstance(value, int) and not isinstance(value, bool))
            or (
                kind == "number"
                and isinstance(value, (int, float))
                and not isinstance(value, bool)
                and value == value
                and abs(value) != float("inf")
            )
            or (kind == "string" and isinstance(value, str) and len(value) <= MAX_MESSAGE)
        )
        if not ok:
            raise PayloadError(f"field {name!r} takes a {kind}, not {_named(value)}")
        if field["enum"] is not None and str(value) not in field["enum"]:
            raise PayloadError(f"field {name!r} takes one of {', '.join(field['enum'])}")
    missing = [f["name"] for f in fields if f["required"] and f["name"] not in content]
    if missing:
        raise PayloadError(f"the form needs {', '.join(missing)}")


def _kept(answer: Any) -> dict[str, Any] | None:
    """What was answered, as the state keeps it (strings redacted and cut)."""
    if not isinstance(answer, dict):
        return None
    kept: dict[str, Any] = {}
    for k, v in list(answer.items())[:12]:
        if isinstance(v, str):
            v = shorten(v, MAX_MESSAGE)
        elif not (
            isinstance(v, bool)
            or (isinstance(v, float) and math.isfinite(v))
            or (isinstance(v, int) and -(1 << 53) <= v <= 1 << 53)
        ):
            continue  # an unchecked answer from an old log: only plain values are kept
        kept[shorten(str(k), MAX_MESSAGE)] = v
    return kept


def _named(value: Any) -> str:
    """How an error names a value someone sent: a short string, or its JSON type."""
    return repr(shorten(value, 60)) if isinstance(value, str) else json_type(value)
