"""Live Python handles on games: read them, change them, replay and plot them.

Every read asks the backend afresh, so a handle is always current; every change is an
action the server logs and broadcasts, so all viewers see it at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from html import escape
from typing import Any

from ..errors import GameNotFound
from ..replays.load import load_replay
from .backends import Backend, LocalBackend


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
