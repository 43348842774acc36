"""Turn a past session (transcript or hook log) into a finished game and its timeline.

The CLI, the hub's replay clocks and the notebooks share this, so a replay shows the
same thing wherever it is watched.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..engine.game import Applied, Game
from ..engine.links import SessionLinks
from ..events import HookEvent, PayloadError, parse_event


@dataclass
class Replay:
    """A source read into events, with what could not be used."""

    game_id: str
    kind: str
    events: list[HookEvent]
    skipped: int = 0
    ignored: int = 0
    title: str | None = None
    problems: list[str] = field(default_factory=list)
    #: The other sessions of the same file (a hook log spanning a ``/clear``, or several
    #: sessions logged side by side): each is its own game, see :func:`load_replays`.
    others: list[str] = field(default_factory=list)

    def play(self) -> Iterator[tuple[HookEvent, Applied, Game]]:
        """Apply every event to a fresh game, yielding as it goes (for timelines and clocks)."""
        game = Game(self.game_id)
        for event in self.events:
            yield event, game.apply(event), game

    def game(self) -> Game:
        """The finished game: every event applied to a fresh one (see :func:`_paused_gc`)."""
        game = Game(self.game_id)
        apply = game.apply
        with _paused_gc():
            for event in self.events:
                apply(event)
        return game


@contextmanager
def _paused_gc() -> Iterator[None]:
    """Python's cycle collector held off while a whole file is read and replayed.

    Reading a transcript keeps every parsed line alive until the replay is built (a
    10,000-event session is some 18 MB of JSON: hundreds of thousands of dicts and lists)
    and every allocation counts towards the next collection, so collections came often and
    the full ones walked all of it again: about a fifth of the time to load such a session
    and replay it to its final state (0.37 s, the budget 0.25 s; bench/engine_bench.py).
    Nothing in it makes garbage that only the collector could free. A caller that already
    paused the collector (or another thread, meanwhile) keeps it paused: it is turned
    back on only by whoever turned it off.

    Turned back on, the collector's first young-generation pass would still walk all
    those objects once (7-10 ms here). Unless the process froze objects of its own (the
    server freezes its start-up heap), they are moved straight to the oldest generation
    instead (``gc.freeze()`` + ``gc.unfreeze()``: two list splices, no walk), where the
    next full collection sees them like any other long-lived objects.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        gc.enable()


def load_replay(
    path: str | os.PathLike[str],
    game_id: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Replay:
    """Read a transcript or hook log (told apart by its content) into parsed events.

    A hook log that holds several sessions gives the main one (the most events); the
    others are named in ``Replay.others``. ``progress(done, total)`` is called as events
    are parsed (for progress bars).
    """
    return _load(path, game_id, progress)[0]


def load_replays(
    path: str | os.PathLike[str], progress: Callable[[int, int], None] | None = None
) -> list[Replay]:
    """Every session of a file as its own replay: the main one first, then the others in
    the order they start (a ``/clear`` starts a new session, so a new game)."""
    return _load(path, None, progress, every=True)


def _load(
    path: str | os.PathLike[str],
    game_id: str | None,
    progress: Callable[[int, int], None] | None,
    *,
    every: bool = False,
) -> list[Replay]:
    from ..claude.sources import load

    with _paused_gc():
        result = load(path)
        events, bad, problems = parse_all(result.events, result.session_id, progress)
    sessions = list(dict.fromkeys(e.session_id for e in events))
    if len(sessions) <= 1:
        return [_replay(path, game_id, result, events, bad, problems)]
    links = SessionLinks()  # as the hub links them live
    for event in events:
        links.link(event)
    main = result.session_id if result.session_id in sessions else sessions[0]
    order = [main, *(s for s in sessions if s != main)]
    replays = []
    for sid in order if every else order[:1]:
        own = [e for e in events if e.session_id == sid]
        is_main = sid == main
        replay = _replay(path, (game_id or sid) if is_main else sid, result, own, bad, problems)
        if not is_main:
            replay.title = None  # the file's title is its main session's
        replay.others = [s for s in order if s != sid]
        replays.append(replay)
    return replays


def _replay(
    path: str | os.PathLike[str],
    game_id: str | None,
    result: Any,
    events: list[HookEvent],
    bad: int,
    problems: list[str],
) -> Replay:
    if (
        result.title
        and events
        and events[0].name == "SessionStart"
        and game_id
        in (
            None,
            result.session_id,
        )
    ):
        first = events[0]
        if not first.get("session_title"):
            first.payload = {**first.payload, "session_title": result.title}
            first.text = None  # logged as changed
    gid = game_id or result.session_id or (events[0].session_id if events else None)
    if gid is None:
        gid = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    return Replay(
        game_id=gid,
        kind=result.kind,
        events=events,
        skipped=result.skipped + bad,
        ignored=result.ignored,
        title=result.title,
        problems=[*result.problems, *problems][:20],
    )


def parse_all(
    payloads: list[dict[str, Any]],
    session_id: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[HookEvent], int, list[str]]:
    """Parse payloads, keeping the good ones in order and describing the bad ones."""
    events: list[HookEvent] = []
    bad = 0
    problems: list[str] = []
    total = len(payloads)
    for index, payload in enumerate(payloads, 1):
        if progress is not None and index % 1000 == 0:
            progress(index, total)
        try:
            events.append(parse_event(payload, session_id=session_id))
        except PayloadError as exc:
            bad += 1
            if len(problems) < 10:
                problems.append(f"event {index}: {exc}")
    return events, bad, problems
