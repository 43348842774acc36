"""Live Python handles on games: read them, change them, replay and plot them.

Every read asks the backend afresh, so a handle is always current; every change is an
action the server logs and broadcasts, so all viewers see it at once.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from html import escape
from typing import Any

from ..config import os_user
from ..errors import GameNotFound
from ..replays.load import load_replay
from .backends import Backend, LocalBackend, RemoteBackend, loop_running


class AgentHandle:
    """One character. Attributes read the current snapshot."""

    def __init__(self, game: GameHandle, agent_id: str) -> None:
        self._game = game
        self.id = agent_id

    def _data(self) -> dict[str, Any]:
        agent = self._game.snapshot()["agents"].get(self.id)
        if agent is None:
            raise KeyError(f"agent {self.id!r} is not in game {self._game.id!r}")
        return agent

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        data = self._data()
        if name in data:
            return data[name]
        raise AttributeError(f"agents have no {name!r}; they have {', '.join(data)}")

    def move(self, place: str) -> int:
        """Send this agent to ``place`` (``game.move(agent, place)`` does the same)."""
        return self._game._act("move", agent=self.id, place=place)

    def say(self, text: str) -> int:
        """A speech bubble over this agent; returns the new seq.
        ``game.agents["main"].say("hi")``"""
        return self._game._act("say", agent=self.id, text=text)

    def rename(self, name: str) -> int:
        """Give this agent another name on screen. ``game.agents["main"].rename("Claude")``"""
        return self._game._act("rename", agent=self.id, name=name)

    def annotate(self, text: str) -> int:
        """A note pinned to this agent (kept in the log, shown in the ticker).
        ``game.agents["main"].annotate("look here")``"""
        return self._game._act("annotate", agent=self.id, text=text)

    def __repr__(self) -> str:
        try:
            a = self._data()
        except KeyError:
            return f"<agent {self.id} (gone)>"
        return f"<agent {a['name']!r} {a['state']} at {a['place']}>"


class Agents(Mapping[str, AgentHandle]):
    """A game's characters by id, read afresh on each access. ``game.agents["main"]``"""

    def __init__(self, game: GameHandle) -> None:
        self._game = game

    def _ids(self) -> list[str]:
        return list(self._game.snapshot()["agents"])

    def __getitem__(self, agent_id: str) -> AgentHandle:
        if agent_id not in self._ids():
            raise KeyError(f"no agent {agent_id!r}; agents: {', '.join(self._ids())}")
        return AgentHandle(self._game, agent_id)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids())

    def __len__(self) -> int:
        return len(self._ids())

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in self.items()) + "}"


class Rules(Mapping[str, str]):
    """The tool → place table of one game. ``rules["Read"] = "observatory"`` takes effect at
    once for every viewer; ``del rules["Read"]`` falls back to prefixes and the default."""

    def __init__(self, game: GameHandle) -> None:
        self._game = game

    def _table(self) -> dict[str, str]:
        return self._game.snapshot()["rules"]["tools"]

    def __getitem__(self, tool: str) -> str:
        return self._table()[tool]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def __setitem__(self, tool: str, place: str) -> None:
        self._game._act("rules", tools={tool: place})

    def __delitem__(self, tool: str) -> None:
        self._game._act("rules", tools={tool: None})

    def prefix(self, prefix: str, place: str | None) -> int:
        """Tools starting with ``prefix`` (longest prefix wins) go to ``place``."""
        return self._game._act("rules", prefixes={prefix: place})

    def default(self, place: str) -> int:
        """Where tools no rule names go. ``game.rules.default("townsquare")``"""
        return self._game._act("rules", default=place)

    def place_for(self, tool: str) -> str:
        """Where ``tool`` goes under the rules now (table, then prefixes, then the default).
        ``game.rules.place_for("Read")``"""
        from ..engine.town import place_for

        return place_for(self._game.snapshot()["rules"], tool)


class EventList(list):
    """The game's events as rows (``seq, time, event, agent, tool, place, text``)."""

    def frame(self) -> Any:
        """A pandas DataFrame of the rows (needs pandas), times as datetimes."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("events.frame() needs pandas: pip install pandas") from None
        frame = pd.DataFrame(
            list(self),
            columns=["seq", "time", "event", "agent", "agentName", "tool", "place", "text"],
        )
        frame["time"] = pd.to_datetime(frame["time"], unit="ms", utc=True)
        return frame.set_index("seq")


class GameHandle:
    """One game, wherever it lives."""

    def __init__(self, backend: Backend, game_id: str, hub: Any = None) -> None:
        self._backend = backend
        self._hub = hub
        self.id = game_id

    # -- reading ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole state now, as viewers get it (docs/protocol.md). ``game.snapshot()["seq"]``"""
        snap = self._backend.snapshot(self.id)
        if snap is None:
            raise GameNotFound(f"no game {self.id!r}")
        return snap

    @property
    def agents(self) -> Agents:
        """The characters, by id (``"main"``, subagents' ids). ``game.agents["main"].place``"""
        return Agents(self)

    @property
    def rules(self) -> Rules:
        """The tool → place table; assign to change it. ``game.rules["Read"] = "observatory"``"""
        return Rules(self)

    @property
    def events(self) -> EventList:
        """Every event so far as rows; ``.frame()`` makes a DataFrame. ``game.events[-1]``"""
        rows = self._backend.event_rows(self.id)
        if rows is None:
            raise GameNotFound(f"no game {self.id!r}")
        return EventList(rows)

    def stats(self) -> dict[str, Any]:
        """Counts at a glance: events, prompts, tool calls by tool and place, failures,
        subagents, tokens, duration. ``game.stats()["tool_calls"]``"""
        snap = self.snapshot()
        stats = snap["stats"]
        start, last = snap["startedAt"], snap["lastEventAt"]
        tokens = stats.get("tokens")
        return {
            "events": snap["seq"],
            "prompts": stats["prompts"],
            "tool_calls": sum(stats["toolCalls"].values()),
            "tools": dict(sorted(stats["toolCalls"].items(), key=lambda kv: -kv[1])),
            "places": dict(sorted(stats["placeCalls"].items(), key=lambda kv: -kv[1])),
            "failures": stats["failures"],
            "subagents": stats["subagents"],
            "tokens": tokens["total"] if tokens else None,
            "duration_s": (last - start) / 1000 if start is not None and last is not None else None,
            "status": snap["status"],
        }

    def timeline(self, ax: Any = None) -> Any:
        """A matplotlib figure: one lane per agent, a mark per tool call, by place (red
        crosses: failures); on ``ax`` if given. ``game.timeline()``"""
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError("timeline() needs matplotlib: pip install matplotlib") from None
        rows = [r for r in self.events if r["time"] is not None]
        snap = self.snapshot()
        agents = list(snap["agents"])
        created = ax is None
        if created:
            fig, ax = plt.subplots(figsize=(10, 1 + 0.45 * max(len(agents), 2)))
        else:
            fig = ax.figure
        start = rows[0]["time"] if rows else 0
        places = sorted({r["place"] for r in rows if r["event"] == "PreToolUse" and r["place"]})
        colours = plt.get_cmap("tab10")
        for index, place in enumerate(places):
            calls = [r for r in rows if r["event"] == "PreToolUse" and r["place"] == place]
            ax.scatter(
                [(r["time"] - start) / 1000 for r in calls],
                [agents.index(r["agent"]) for r in calls if r["agent"] in agents][: len(calls)],
                s=28,
                color=colours(index % 10),
                label=snap["places"][place]["label"],
                zorder=3,
            )
        fails = [r for r in rows if r["event"] in ("PostToolUseFailure", "StopFailure")]
        if fails:
            ax.scatter(
                [(r["time"] - start) / 1000 for r in fails],
                [agents.index(r["agent"]) if r["agent"] in agents else 0 for r in fails],
                marker="x",
                s=60,
                color="crimson",
                label="failure",
                zorder=4,
            )
        ax.set_yticks(range(len(agents)), [snap["agents"][a]["name"] for a in agents])
        ax.set_xlabel("seconds since the session started")
        ax.set_title(snap.get("title") or self.id, loc="left", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        if places or fails:  # an empty game has nothing to name (matplotlib would warn)
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
        else:
            ax.text(0.5, 0.5, "no tool calls yet", ha="center", va="center", transform=ax.transAxes)
        fig.tight_layout()
        if created:  # shown once, as the cell's result (not again by the inline backend)
            plt.close(fig)
        return fig

    # -- changing --------------------------------------------------------------------------

    def _act(self, kind: str, **fields: Any) -> int:
        return self._backend.act(self.id, {"type": kind, **fields})

    def inject(self, payload: dict[str, Any]) -> int:
        """Feed a Claude Code hook payload into this game, as if the hook had sent it;
        returns the new seq. A replay takes none: :meth:`fork` it first.

        >>> game.inject({"hook_event_name": "PreToolUse", "tool_name": "Read",  # doctest: +SKIP
        ...              "tool_input": {"file_path": "a.py"}, "tool_use_id": "t1"})
        """
        return self._act("hook", payload=payload)

    def say(self, agent: str, text: str) -> int:
        """A speech bubble over ``agent``; returns the new seq. ``game.say("main", "hi")``"""
        return self._act("say", agent=agent, text=text)

    def move(self, agent: str, place: str) -> int:
        """Send ``agent`` to ``place`` (``game.agents[agent].move(place)`` does the same).
        ``game.move("main", "observatory")``"""
        return self._act("move", agent=agent, place=place)

    #: The same as :meth:`move` (the name some examples use).
    move_to = move

    def rename(self, name: str, agent: str | None = None) -> int:
        """Rename the game (or an agent, with ``agent=``). ``game.rename("demo")``"""
        return self._act("rename", name=name, **({"agent": agent} if agent else {}))

    def annotate(self, agent: str, text: str) -> int:
        """A note pinned to ``agent``. ``game.annotate("main", "look here")``"""
        return self._act("annotate", agent=agent, text=text)

    def add_place(self, place_id: str, label: str, x: float, y: float) -> int:
        """A new place on the map at ``x, y`` (map units); rules can then send tools there.
        ``game.add_place("lab", "Lab", 300, 200); game.rules["Bash"] = "lab"``"""
        return self._act("rules", places={place_id: {"label": label, "x": x, "y": y}})

    def fork(self, game_id: str | None = None) -> GameHandle:
        """A live copy of this game as it is now (``<id>~fork-N``, or ``game_id``), to
        change without touching the original: the way to steer a replay.

        >>> sandbox = game.fork()  # doctest: +SKIP
        >>> sandbox.rules["Read"] = "observatory"  # doctest: +SKIP
        """
        fork = getattr(self._backend, "fork", None)
        if fork is None:
            raise GameNotFound(
                f"game {self.id!r} is on a server; only games in this kernel (replays, the "
                "in-kernel host) can be forked: replay its transcript and fork that"
            )
        return GameHandle(self._backend, fork(self.id, game_id), hub=self._hub)

    # -- the person in the loop -----------------------------------------------------------

    def pending(self) -> PendingRequests:
        """The requests Claude Code holds open now, oldest first: permissions (answer one with
        ``req.allow()`` / ``req.deny("why")``), questions (``req.answer({question: label})``)
        and MCP servers' forms (``req.accept({field: value})`` / ``req.decline()``), told
        apart by ``req.kind`` (docs/protocol.md §14). Only requests that came through
        ``install-hooks --answer-permissions`` are ``answerable``.

        >>> game.pending()  # doctest: +SKIP
        [<permission 3f… open: main asks '$ npm test'>]
        >>> game.pending()[0].allow()  # doctest: +SKIP
        """
        permissions = self.snapshot().get("permissions") or {}
        opened = [p for p in permissions.values() if p.get("state") == "open"]
        opened.sort(key=lambda p: p.get("askedAt") or 0)
        return PendingRequests(PermissionRequest(self, p) for p in opened)

    def on_permission(self, callback: Callable[[PermissionRequest], Any]) -> PermissionRule:
        """A rule written in a cell: ``callback(req)`` gets each open, answerable request of
        this game once (those open now, then each new one, also while the kernel waits
        between cells), and returns ``"allow"``, ``"deny"``, ``("deny", "why")``, or
        ``None`` to leave it to a person; it may also call ``req.allow()`` itself. It sees
        every kind (``req.kind``): for a question it returns the answers as a dict
        (``{question: label}``, as :meth:`PermissionRequest.answer` takes them) or
        ``"deny"``, for an elicitation the form's content as a dict (``{field: value}``)
        or ``"decline"``.
        If it raises, or returns what does not fit the kind, the request is passed back
        (Claude Code asks in its own way at once) and the error is shown as a warning.
        Returns a :class:`PermissionRule`; ``.cancel()`` stops it.

        In this kernel's own hub the callback runs on its loop (keep it quick); on a server
        it runs in a thread of its own, fed by a socket.io mirror of the game.

        >>> @game.on_permission  # doctest: +SKIP
        ... def rule(req):
        ...     if req.tool == "Read":
        ...         return "allow"
        ...     if req.tool == "Bash" and "rm " in req.input.get("command", ""):
        ...         return "deny", "no rm from this session"
        ...     if req.kind == "elicitation" and req.server == "colours":
        ...         return {"colour": "blue"}
        >>> rule.cancel()  # doctest: +SKIP
        """
        if not callable(callback):
            raise TypeError(f"on_permission() needs a callable, got {callback!r}")
        rule = PermissionRule(self, callback)
        if isinstance(self._backend, LocalBackend):
            rule._stop = _watch_local(rule, self._backend)
        elif isinstance(self._backend, RemoteBackend):
            rule._stop = _watch_remote(rule, self._backend)
        else:
            raise TypeError(f"on_permission() cannot follow games on {self._backend!r}")
        return rule

    # -- showing ---------------------------------------------------------------------------

    def view(self, **options: Any) -> Any:
        """The game inline (a :class:`~ccviz_kernel.notebook.widget.GameView`)."""
        return self._backend.view(self.id, **options)

    def export(self, path: str | os.PathLike[str], *, title: str | None = None) -> int:
        """Write the game as one HTML file that plays the whole replay offline in any
        browser (``ccviz export``); returns its size in bytes.

        The game's history comes from the hub in this kernel, else from the event store on
        this machine (where a ``ccviz serve`` or the Jupyter extension logs it).
        """
        from ..replays.export import load_history, write_export

        history = None
        hub = getattr(self._backend, "hub", None)  # a game in this kernel (LocalBackend)
        if hub is not None:
            history = hub.history(self.id)
        if history is None:
            history = load_history(self.id)
        return write_export(history, path, title=title)

    def _repr_html_(self) -> str:
        try:
            snap = self.snapshot()
        except GameNotFound:
            return f"<p>ccviz: no game <code>{escape(self.id)}</code></p>"
        stats = self.stats()
        rows = "".join(
            _cells(
                a["name"],
                a["kind"],
                a["state"],
                _place_label(snap, a["place"]),
                (a.get("tool") or {}).get("summary") or "",
                a["calls"],
            )
            for a in snap["agents"].values()
        )
        title = escape(snap.get("title") or self.id)
        return (
            f"<div><b>{title}</b> <code>{escape(self.id)}</code> · {escape(snap['status'])} · "
            f"{stats['events']} events · {stats['tool_calls']} tool calls · "
            f"{stats['failures']} failures · {stats['subagents']} subagents"
            "<table><tr><th>agent</th><th>kind</th><th>state</th><th>place</th>"
            f"<th>doing</th><th>calls</th></tr>{rows}</table></div>"
        )

    def __repr__(self) -> str:
        return f"<ccviz game {self.id!r}>"


def _cells(*values: Any) -> str:
    """A table row of escaped cells: payload text is never rendered as HTML."""
    return "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in values) + "</tr>"


def _place_label(snap: dict[str, Any], place: str) -> str:
    return snap["places"].get(place, {}).get("label", place)


# -- permissions: the person in the loop (docs/protocol.md §14) ---------------------------

#: What an ``on_permission`` callback may return as a word, by kind of request (``req.kind``:
#: a tool call, AskUserQuestion's questions, an MCP server's form; docs/protocol.md §14),
#: besides ``None`` (leave it to a person) and a dict (a question's answers, a form's content).
RULE_ANSWERS = {
    "permission": ("allow", "deny", "pass"),
    "question": ("deny", "pass"),
    "elicitation": ("decline", "pass"),
}

#: "a question", "an elicitation" (in errors).
_ARTICLE = {"elicitation": "an"}

#: How each kind is answered, for the errors that point a wrong call at the right method.
_HOW = {
    "permission": 'req.allow() or req.deny("why")',
    "question": 'req.answer({question: label}) or req.deny("why")',
    "elicitation": "req.accept({field: value}) or req.decline()",
}


class PermissionRequest:
    """What Claude Code holds until someone answers. From :meth:`GameHandle.pending` and
    ``game.on_permission``; ``kind`` says which it is:

    - ``"permission"``, a tool call: ``req.allow()``, ``req.deny("why")``;
    - ``"question"`` (AskUserQuestion): ``req.answer({question: label})`` (a plain label
      when there is one question; a list of labels for a multi-select) or ``req.deny()``;
      ``questions`` lists them, each ``{question, header, options, multiSelect}``;
    - ``"elicitation"``, an MCP server's form: ``req.accept({field: value})`` or
      ``req.decline()``; ``server`` names it, ``fields`` is the form, each ``{name, type,
      title, description, enum, required}``.

    A method of another kind raises a ``TypeError`` naming the right one. ``id``,
    ``agent``, ``tool``, ``text`` (one redacted line: ``"$ npm test"``, the question, the
    form's message), ``input`` (a few redacted fields of the tool's input),
    ``suggestions`` (what Claude Code offers to remember, as labels), ``asked_at`` (epoch
    ms) and ``answerable`` are as asked; ``state``, ``by``, ``message`` and ``answers``
    are read afresh (``"open"`` until someone answers).

    >>> req = game.pending()[0]  # doctest: +SKIP
    >>> req.tool, req.input.get("command")  # doctest: +SKIP
    ('Bash', 'rm -rf build')
    >>> req.deny("not the build folder")  # doctest: +SKIP
    """

    def __init__(self, game: GameHandle, data: dict[str, Any], source: str = "python") -> None:
        self._game = game
        self._data = data
        self._source = source
        self._answered = False
        self.id: str = data["id"]
        self.agent: str = data.get("agent", "main")
        self.tool: str = data.get("tool", "")
        self.text: str = data.get("text", "")
        self.input: dict[str, str] = dict(data.get("input") or {})
        self.suggestions: list[str] = list(data.get("suggestions") or [])
        self.asked_at: int | None = data.get("askedAt")
        self.answerable: bool = bool(data.get("answerable"))
        self.kind: str = data.get("kind") or "permission"
        self.questions: list[dict[str, Any]] = [dict(q) for q in data.get("questions") or []]
        self.server: str | None = data.get("server")
        self.fields: list[dict[str, Any]] = [dict(f) for f in data.get("fields") or []]

    def _fresh(self) -> dict[str, Any]:
        try:
            found = (self._game.snapshot().get("permissions") or {}).get(self.id)
        except GameNotFound:
            found = None
        if found is not None:
            self._data = found
        return self._data

    @property
    def state(self) -> str:
        """``open``, or how it ended: ``allowed``, ``denied``, ``answered`` (a question),
        ``accepted`` / ``declined`` (an elicitation), ``expired`` (nobody answered in time),
        ``withdrawn`` (Claude Code gave up), ``passed``, ``moved-on``."""
        return self._fresh().get("state", "open")

    @property
    def answers(self) -> dict[str, Any] | None:
        """What was answered: a question's ``{question: label}``, an accepted form's
        ``{field: value}`` (``None`` otherwise, and while open)."""
        return self._fresh().get("answer")

    @property
    def by(self) -> str | None:
        """Who answered (``None`` while open)."""
        return self._fresh().get("by")

    @property
    def message(self) -> str | None:
        """A deny's message, as the model read it."""
        return self._fresh().get("message")

    def allow(self, always: bool = False) -> int:
        """Let the tool run; ``always``: this tool without asking again for the rest of the
        session (nothing is written to a settings file). Returns the new seq; a
        :class:`~ccviz_kernel.events.PayloadError` if someone answered first."""
        self._only("permission", "allow()")
        return self._answer("allow", always=True if always else None)

    def deny(self, message: str | None = None) -> int:
        """Refuse the call (or the question); ``message`` (≤ 500 characters) is what the
        model reads as the tool's result. Returns the new seq.
        ``req.deny("use the test database")``"""
        self._only(("permission", "question"), "deny()")
        return self._answer("deny", message=message)

    def answer(self, answers: Mapping[str, Any] | str | list[str]) -> int:
        """Answer a question: ``{question text: label}`` for each question (a list of labels
        for a multi-select, joined as Claude Code joins them), or one label when there is
        one question. A label need not be an option: any short text is an answer of one's
        own (Claude Code's "Other"). The model reads the answers. Returns the new seq.
        ``req.answer("Blue")``, ``req.answer({"Which colour?": "Blue"})``"""
        self._only("question", "answer()")
        return self._answer("allow", answers=_answers(answers, self.questions))

    def accept(self, content: Mapping[str, Any] | None = None) -> int:
        """Fill in an MCP server's form: ``{field: value}`` (checked against ``fields``: the
        required ones, the types, an enum's values); the server gets it as given. Returns
        the new seq. ``req.accept({"colour": "blue"})``"""
        self._only("elicitation", "accept()")
        if content is not None and not isinstance(content, Mapping):
            raise TypeError(f"accept() takes the form's content as a dict, not {content!r}")
        return self._answer("accept", content=dict(content or {}))

    def decline(self) -> int:
        """Refuse an MCP server's form (the server is told the user declined). Returns the
        new seq. ``req.decline()``"""
        self._only("elicitation", "decline()")
        return self._answer("decline")

    def _only(self, kinds: str | tuple[str, ...], method: str) -> None:
        """Raise, naming the right methods, when ``method`` does not answer this kind."""
        if self.kind in ((kinds,) if isinstance(kinds, str) else kinds):
            return
        what = {"question": "a question", "elicitation": "an MCP server's form (elicitation)"}
        raise TypeError(
            f"{self.id} is {what.get(self.kind, f'a {self.kind} request')}, which "
            f"{method} does not answer: use {_HOW.get(self.kind, _HOW['permission'])}"
        )

    def _answer(self, behavior: str, **fields: Any) -> int:
        action: dict[str, Any] = {
            "type": "permission",
            "request": self.id,
            "behavior": behavior,
            "source": self._source,
            "by": os_user(),
        }
        action.update({k: v for k, v in fields.items() if v is not None})
        seq = self._game._backend.act(self._game.id, action)
        self._answered = True
        return seq

    def __repr__(self) -> str:
        who = self.server if self.kind == "elicitation" and self.server else self.agent
        return f"<{self.kind} {self.id} {self.state}: {who} asks {self.text!r}>"

    def _repr_html_(self) -> str:
        data = self._fresh()
        if self.kind == "question":
            rows = "".join(_cells(q["question"], ", ".join(q["options"])) for q in self.questions)
            more = ""
            hints = ["req.answer({question: label})", 'req.deny("why")']
        elif self.kind == "elicitation":
            rows = "".join(
                _cells(f["name"], f["type"], ", ".join(f.get("enum") or []), f.get("required"))
                for f in self.fields
            )
            more = f"<small>form from the MCP server {escape(self.server or '?')}</small>"
            hints = ["req.accept({field: value})", "req.decline()"]
        else:
            rows = "".join(_cells(k, v) for k, v in self.input.items())
            more = f"<small>Claude Code offers: {escape(', '.join(self.suggestions) or 'none')}"
            more += "</small>"
            hints = ["req.allow()", "req.allow(always=True)", 'req.deny("why")']
        hint = (
            " · ".join(f"<code>{escape(h, quote=False)}</code>" for h in hints)
            if data.get("state") == "open" and self.answerable
            else escape(_ended(data))
        )
        return (
            f"<div><b>{escape(self.agent)}</b> asks: <code>{escape(self.text)}</code> "
            f"({escape(self.tool)}, {escape(data.get('state', 'open'))})"
            f"<table>{rows}</table>{more}<br>{hint}</div>"
        )


def _answers(answers: Any, questions: list[dict[str, Any]]) -> dict[str, str]:
    """A question's answers as Claude Code takes them, ``{question text: label}``: a plain
    label answers the only question; a list of labels (a multi-select) is joined with
    ``", "``. Unknown questions are refused here, with the ones there are."""
    asked = [q.get("question") for q in questions]
    if isinstance(answers, str):
        if len(asked) != 1:
            raise ValueError(
                f"a plain answer fits one question; this request asks {len(asked)}: "
                f"answer with a dict {{question: label}} for {asked!r}"
            )
        answers = {asked[0]: answers}
    if not isinstance(answers, Mapping) or not answers:
        raise TypeError(f"answer() takes {{question: label}} (or one label), not {answers!r}")
    chosen: dict[str, str] = {}
    for question, label in answers.items():
        if question not in asked:
            raise ValueError(f"no question {question!r} in this request; it asks {asked!r}")
        if isinstance(label, (list, tuple)):
            label = ", ".join(str(one) for one in label)
        if not isinstance(label, str):
            raise TypeError(f"the answer to {question!r} is a label (a string), not {label!r}")
        chosen[question] = label
    return chosen


def _ended(data: dict[str, Any]) -> str:
    if data.get("state") == "open":
        return "seen through api/hooks: answer it in Claude Code (see --answer-permissions)"
    by = f" by {data['by']}" if data.get("by") else ""
    return f"{data.get('state')}{by}"


class PendingRequests(list):
    """:meth:`GameHandle.pending`'s list of :class:`PermissionRequest`, oldest first; a
    table in a notebook."""

    def _repr_html_(self) -> str:
        if not self:
            return "<p>ccviz: no open permission requests</p>"
        rows = "".join(
            _cells(r.id, r.agent, r.tool, r.text, ", ".join(r.suggestions), r.answerable)
            for r in self
        )
        return (
            "<table><tr><th>request</th><th>agent</th><th>tool</th><th>asks</th>"
            f"<th>Claude Code offers</th><th>answerable</th></tr>{rows}</table>"
        )


def _name(callback: Any) -> str:
    return getattr(callback, "__name__", None) or type(callback).__name__


def _decision(result: Any, request: PermissionRequest) -> tuple[str | None, dict[str, Any]]:
    """An ``on_permission`` callback's return value as ``(behavior, fields of the answer)``
    for ``request``'s kind: a word of :data:`RULE_ANSWERS`, a ``(word, message)`` pair, or
    a dict (a question's answers, an elicitation's content)."""
    kind = request.kind
    words = RULE_ANSWERS.get(kind, RULE_ANSWERS["permission"])
    if result is None:
        return None, {}
    if isinstance(result, str) and result in words:
        return result, {}
    if isinstance(result, Mapping) and kind == "question":
        return "allow", {"answers": _answers(result, request.questions)}
    if isinstance(result, Mapping) and kind == "elicitation":
        return "accept", {"content": dict(result)}
    if (
        kind != "elicitation"
        and isinstance(result, (tuple, list))
        and len(result) == 2
        and result[0] in words
        and (result[1] is None or isinstance(result[1], str))
    ):
        return result[0], {"message": result[1][:500] if result[1] else None}
    expected = {
        "permission": "'allow', 'deny', 'pass' or a (behavior, message) pair",
        "question": "the answers as a dict {question: label}, 'deny', ('deny', why) or 'pass'",
        "elicitation": "the form's content as a dict {field: value}, 'decline' or 'pass'",
    }
    raise ValueError(
        f"the on_permission callback returned {result!r} for {_ARTICLE.get(kind, 'a')} {kind}; "
        "expected "
        f"{expected.get(kind, expected['permission'])}, or None (leave it to a person)"
    )


class PermissionRule:
    """What :meth:`GameHandle.on_permission` returns: the callback at work until
    :meth:`cancel`. ``decided``, ``left`` (to a person) and ``errors`` count what it did."""

    def __init__(self, game: GameHandle, callback: Callable[[PermissionRequest], Any]) -> None:
        self.game = game
        self.callback = callback
        self.decided = 0
        self.left = 0
        #: The callback's exceptions (each request it raised on was passed back to Claude Code).
        self.errors: list[BaseException] = []
        self._seen: set[str] = set()
        self._stop: Callable[[], None] | None = None
        self.active = True

    def _new(self, permissions: Any) -> list[dict[str, Any]]:
        """The open, answerable requests not handed to the callback yet (each once)."""
        if not self.active or not isinstance(permissions, dict):
            return []
        fresh = [
            dict(p)
            for rid, p in permissions.items()
            if rid not in self._seen and p.get("state") == "open" and p.get("answerable")
        ]
        self._seen.update(p["id"] for p in fresh)
        fresh.sort(key=lambda p: p.get("askedAt") or 0)
        return fresh

    def _handle(self, data: dict[str, Any]) -> None:
        """Ask the callback about one request and send its answer. Whatever it does, the
        request is never left hanging on us: a raise (or a return we cannot read) is a
        ``pass``, so Claude Code asks in its own way at once."""
        request = PermissionRequest(self.game, data, source="rule")
        try:
            behavior, fields = _decision(self.callback(request), request)
        except Exception as exc:  # noqa: BLE001 - the callback is user code: any error
            self.errors.append(exc)
            _report(
                f"on_permission: {_name(self.callback)} failed on {request.id} ({request.text}): "
                f"{type(exc).__name__}: {exc}; passed it back to Claude Code",
                self.callback,
            )
            if not request._answered:
                self._send(request, "pass", {"message": f"the rule failed ({type(exc).__name__})"})
            return
        if request._answered:
            self.decided += 1
        elif behavior is None:
            self.left += 1
        else:
            self.decided += behavior != "pass"
            self._send(request, behavior, fields)

    def _send(self, request: PermissionRequest, behavior: str, fields: dict[str, Any]) -> None:
        """Send the answer; one the server refuses while the request is still open (a form's
        content that does not fit it) is an error of the rule: passed back like a raise."""
        try:
            request._answer(behavior, **fields)
        except Exception as exc:  # noqa: BLE001 - answered first by someone else, server gone
            _report(f"on_permission: could not answer {request.id}: {exc}", self.callback)
            try:
                still_open = behavior != "pass" and request.state == "open"
            except Exception:  # noqa: BLE001 - the server is gone: nothing to pass back to
                still_open = False
            if not still_open:
                return
            self.errors.append(exc)
            self.decided -= 1
            self._send(request, "pass", {"message": "the rule's answer was refused"})

    def cancel(self) -> None:
        """Stop: new requests wait for a person again. Safe to call twice."""
        self.active = False
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()

    def __repr__(self) -> str:
        state = "active" if self.active else "cancelled"
        return (
            f"<ccviz permission rule {_name(self.callback)} on {self.game.id!r}: {state}, "
            f"{self.decided} decided, {self.left} left to a person, {len(self.errors)} errors>"
        )


def _report(text: str, where: Any = None) -> None:
    """Say what went wrong where a notebook shows it: the log, and a warning that points at
    ``where`` (the callback's own code, in the user's cell), shown every time."""
    import warnings

    logging.getLogger("ccviz.rules").warning("%s", text)
    code = getattr(where, "__code__", None)
    if code is None:
        warnings.warn(text, RuntimeWarning, stacklevel=3)
    else:
        warnings.warn_explicit(text, RuntimeWarning, code.co_filename, code.co_firstlineno)


def _touches_permissions(applied: Any) -> bool:
    if getattr(applied, "reset", False):
        return True
    for delta in getattr(applied, "deltas", ()) or ():
        path = delta[1] if len(delta) > 1 else None
        if path and path[0] == "permissions":
            return True
    return False


def _watch_local(rule: PermissionRule, backend: LocalBackend) -> Callable[[], None]:
    """Follow the game in this process: a hub listener (the hub's own thread) that looks
    at the requests after an event changed them, on the loop's next turn (never inside
    the hub's apply, where an answer would reach the other listeners out of order)."""
    import asyncio

    hub, game_id = backend.hub, rule.game.id
    scheduled = False

    def check() -> None:
        nonlocal scheduled
        scheduled = False
        game = hub.game(game_id)
        if game is None:
            return
        for data in rule._new(game.peek().get("permissions")):
            rule._handle(data)

    def schedule() -> None:
        nonlocal scheduled
        if not scheduled:
            scheduled = True
            asyncio.get_running_loop().call_soon(check)

    def listener(gid: str, applied: Any) -> None:
        if gid == game_id and _touches_permissions(applied):
            schedule()

    def start() -> Callable[[], None]:
        if not loop_running():
            raise RuntimeError(
                "on_permission() needs a running event loop to listen on (a notebook kernel, "
                "or a script's ccviz.connect())"
            )
        unsubscribe = hub.subscribe(listener)
        schedule()  # the requests already open
        return unsubscribe

    unsubscribe = backend.call(start)
    return lambda: backend.call(unsubscribe)


def _watch_remote(rule: PermissionRule, backend: RemoteBackend) -> Callable[[], None]:
    """Follow the game on a server: a :class:`~.mirror.GameMirror` on the backend's own
    loop thread (the kernel may block between cells); the callback runs in a worker
    thread, so a slow one holds up neither the mirror nor the kernel."""
    from concurrent.futures import ThreadPoolExecutor

    worker = ThreadPoolExecutor(1, thread_name_prefix="ccviz-rule")

    def on_update(mirror: Any) -> None:
        for data in rule._new((mirror.snapshot or {}).get("permissions")):
            worker.submit(rule._handle, data)

    mirror = backend.mirror(rule.game.id)
    mirror.on_update.append(on_update)
    backend.runner.call(on_update, mirror)  # the requests already open

    def stop() -> None:
        mirror.on_update.remove(on_update)
        closing = backend.runner.submit(mirror.close())
        worker.shutdown(wait=False)
        if threading.current_thread().name != backend.runner.name:
            try:  # gone before we return: a server shutting down then waits for no one
                closing.result(5)
            except Exception as exc:  # noqa: BLE001 - the server went first: nothing to close
                logging.getLogger("ccviz.rules").debug("closing the mirror: %s", exc)

    return stop


class ReplayController:
    """A replay running in this kernel (or, in a script, on the connection's own loop).

    ``pause()``, ``resume()``, ``step()``, ``seek(seq)``, ``speed``, ``markers()``;
    ``game`` is its live handle, ``view()`` shows it and ``fork()`` takes it over: a live
    copy at the current position that takes rule changes, speech and injected events,
    while the recording stays as it was.

    >>> import ccviz_kernel as ccviz
    >>> from ccviz_kernel import samples
    >>> r = ccviz.connect(serve=False).replay(samples.path("short"), play=False)  # doctest: +SKIP
    >>> r.seek(5)  # doctest: +SKIP
    5
    >>> sandbox = r.fork()  # doctest: +SKIP
    >>> sandbox.say("main", "what if?")  # doctest: +SKIP
    6
    """

    def __init__(self, clock: Any, game: GameHandle) -> None:
        self._clock = clock
        self.game = game

    @property
    def _local(self) -> LocalBackend:
        backend = self.game._backend
        assert isinstance(backend, LocalBackend)  # replays always run in this process
        return backend

    def _call(self, fn: Any, *args: Any) -> Any:
        return self._local.call(fn, *args)

    def pause(self) -> None:
        """Stop where it is (``resume()`` goes on). ``r.pause(); r.position``"""
        self._call(self._clock.pause)

    def resume(self) -> None:
        """Play on from the current position, at :attr:`speed`. ``r.resume()``

        In a script the connection's own loop plays it while the script goes on.
        """
        self._call(self._clock.play)

    play = resume

    def step(self) -> bool:
        """Apply the next event now; ``False`` at the end. ``while r.step(): ...``"""
        return self._call(self._clock.step)

    def seek(self, seq: int | dict[str, Any]) -> int:
        """Jump to just after event ``seq`` (0 = the start, or a marker from
        :meth:`markers`); returns the position reached.

        A ``seq`` beyond the recording is clamped to ``0 … total``, with a printed note and a
        ``UserWarning`` that say where it landed, so a mistyped number is never silently a
        different moment.

        >>> r.seek(r.markers("failure")[0])  # doctest: +SKIP
        41
        """
        import operator

        raw = seq.get("seq") if isinstance(seq, dict) else seq
        try:  # any integer: a numpy one from a DataFrame's index too
            target = operator.index(raw) if not isinstance(raw, bool) else None
        except TypeError:
            target = None
        if target is None:
            raise TypeError(f"seek() needs an event number or a marker, got {seq!r}")
        reached = self._call(self._clock.seek, target)
        if reached != target:
            import warnings

            note = f"seek({target}): the replay has events 0 … {self.total}; it is at {reached}"
            # A note too: detect-secrets (imported for redaction) routes warnings to a logger.
            print(f"ccviz: {note}")
            warnings.warn(note, stacklevel=2)
        return reached

    def markers(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The recording's markers (the player bar's ``[``/``]`` stops), in order: dicts
        with ``seq``, ``kind`` (``prompt``, ``failure``, ``wait``, ``subagent``,
        ``compact``, ``todo``…), ``agentId`` and ``text``; only those of ``kind`` if given.

        >>> [m["kind"] for m in r.markers()][:2]  # doctest: +SKIP
        ['prompt', 'subagent']
        >>> r.seek(r.markers("failure")[0])  # doctest: +SKIP
        """
        history = self._call(self._local.hub.history, self.game.id)
        found = history.summary()["markers"] if history is not None else []
        return [m for m in found if kind is None or m["kind"] == kind]

    def fork(self, game_id: str | None = None) -> GameHandle:
        """Take the replay over: a new live game (``<replay id>~fork-N``, or ``game_id``)
        that starts as the replay is now and takes ``say``, ``move``, ``rename``,
        ``rules``, ``add_place`` and ``inject``. The recording is never changed: show both
        views side by side and compare.

        >>> sandbox = r.fork()  # doctest: +SKIP
        >>> sandbox.rules["Read"] = "observatory"  # doctest: +SKIP
        >>> sandbox.view(), r.view()  # doctest: +SKIP
        """
        new_id = self._local.fork(self.game.id, game_id)
        return GameHandle(self._local, new_id, hub=self.game._hub)

    @property
    def speed(self) -> float:
        """Playback speed (1 = as recorded; long pauses are capped). ``r.speed = 16``"""
        return self._clock.speed

    @speed.setter
    def speed(self, value: float) -> None:
        self._call(self._clock.set_speed, value)

    @property
    def position(self) -> int:
        """Events applied so far (``0 … total``)."""
        return self._call(lambda: self._clock.position)

    @property
    def total(self) -> int:
        """Events in the recording."""
        return self._clock.total

    @property
    def playing(self) -> bool:
        """Whether the clock plays now (``False`` when paused or at the end)."""
        return self._clock.playing

    async def finished(self) -> None:
        """``await r.finished()`` in a cell: returns when the replay stops playing (at its
        end, or at once if it is paused). In a script, :meth:`wait` is the plain form."""
        runner = self._local.runner
        if runner is None:
            await self._clock.finished()
        else:  # the replay plays on the connection's loop, not on this one
            import asyncio

            await asyncio.wrap_future(runner.submit(self._clock.finished()))

    def wait(self, timeout: float | None = None) -> int:
        """Block until the replay stops playing (a script's form of ``await
        r.finished()``); returns the position. ``r.resume(); r.wait()``

        Not on a running loop (a notebook cell): blocking there would stop the very loop
        that plays the replay, so it raises and says to ``await r.finished()``.
        """
        runner = self._local.runner
        if runner is None:
            raise RuntimeError(
                "r.wait() would block the loop this replay plays on: use `await r.finished()`"
            )
        runner.submit(self._clock.finished()).result(timeout)
        return self.position

    def close(self) -> None:
        """Stop the replay and forget its game (its forks stay). ``r.close()``"""
        self._call(self._local.hub.close_replay, self.game.id)

    def view(self, **options: Any) -> Any:
        """The replay inline (a GameView; ``width=``, ``height=`` …). ``r.view()``"""
        return self.game.view(**options)

    def __repr__(self) -> str:
        state = "playing" if self.playing else "paused"
        where = f"{self.position}/{self.total}"
        return f"<ccviz replay {self.game.id!r}: {state} at {where}, {self.speed:g}x>"


def load_with_progress(path: str | os.PathLike[str]) -> Any:
    """Read a transcript, with a progress bar in the notebook for long ones."""
    size = os.path.getsize(path) if os.path.isfile(path) else 0
    bar = None
    if size > 2_000_000:
        try:
            import ipywidgets
            from IPython.display import display

            bar = ipywidgets.IntProgress(min=0, max=1, description="Reading…", bar_style="info")
            display(bar)
        except ImportError:
            bar = None

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.max, bar.value, bar.description = total, done, f"{done}/{total}"

    try:
        replay = load_replay(path, progress=progress)
    except BaseException:
        if bar is not None:
            bar.bar_style, bar.description = "danger", "failed"
        raise
    if bar is not None:
        bar.max = bar.value = max(1, len(replay.events))
        bar.bar_style, bar.description = "success", f"{len(replay.events)} events"
    return replay


def local_backend(hub: Any) -> LocalBackend:
    """A :class:`LocalBackend` on ``hub`` (for code that has a hub and wants handles)."""
    return LocalBackend(hub)
