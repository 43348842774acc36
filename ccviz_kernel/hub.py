"""The hub owns the live games: ingest → store → engine → listeners (the broadcast).

It is synchronous and knows nothing of sockets: every host (standalone, Jupyter, kernel)
wraps the same hub. Events are logged before they are applied, so a game rebuilt from the
log after a crash or an eviction is exactly the game viewers saw.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from .engine.deltas import Delta
from .engine.game import PERMISSION_ANSWERS, Applied, Game
from .engine.links import CONTINUES, SessionLinks
from .engine.reorder import ReorderBuffer, waits_for
from .engine.speech import shorten
from .errors import StoreError, json_type
from .events import PayloadError, parse_event
from .redact import redact_payload
from .replays.history import GameHistory, HistoryCache
from .store import EventStore, GameRow, StoredEvent

log = logging.getLogger("ccviz.server")

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .replays.clock import ReplayClock

#: Deltas kept per game so a viewer that dropped out briefly catches up without a snapshot.
HISTORY = 2048
IDLE_SECONDS = 600.0
#: On a shared log, how long past its window a held event may wait for the process holding
#: it before another process logs it (that process died): covers a busy loop and clocks
#: a little apart.
HELD_GRACE = 2.0

Listener = Callable[[str, Applied], None]

#: agent-action types that become logged control events, and the fields each one carries.
_ACTIONS: dict[str, tuple[str, ...]] = {
    "say": ("agent", "text"),
    "move": ("agent", "place"),
    "rename": ("agent", "name"),
    "annotate": ("agent", "text"),
    "rules": ("tools", "prefixes", "default", "places"),
    # answering a held PermissionRequest (protocol.md §14); the engine checks it
    "permission": (
        "request",
        "behavior",
        "message",
        "always",
        "answers",
        "content",
        "by",
        "source",
    ),
}


class Store(Protocol):
    """What the hub needs of an event log: :class:`~.store.EventStore` (SQLite, the
    default) and :class:`~.redis_store.RedisEventStore` (shared by several processes)."""

    @property
    def path(self) -> str:
        """Where the log is, for messages (a Redis URL with its password redacted)."""
        ...

    def append(
        self, game_id: str, payload: str, ts: float | None = None, *, key: str | None = None
    ) -> int | None:
        """Append one event; its seq, or ``None`` when ``key`` was delivered before."""
        ...

    def events(self, game_id: str, since: int = 0) -> Iterator[StoredEvent]:
        """The game's events with ``seq > since``, in order."""
        ...

    def last_seq(self, game_id: str) -> int:
        """The game's newest seq (0 for none)."""
        ...

    def games(self) -> list[GameRow]:
        """Every game's summary, most recently active first."""
        ...

    def keep_held(
        self, game_id: str, key: str, payload: str, ts: float | None, until: float
    ) -> None:
        """Record an event the reorder window holds until it is appended with ``key``."""
        ...

    def overdue_held(self, now: float) -> list[tuple[str, str, str, float | None]]:
        """Held events nobody appended by their time: ``(game_id, key, payload, ts)``."""
        ...

    def forget_held(self, key: str) -> None:
        """Drop a held event that cannot be appended."""
        ...

    def close(self) -> None:
        """Let go of the file or connection."""
        ...


@dataclass
class _Live:
    game: Game
    history: deque[tuple[int, list[Delta]]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    touched: float = 0.0


class Hub:
    """Many games at once. Not thread-safe: call it from one thread (the host's loop)."""

    def __init__(
        self,
        store: Store | None = None,
        *,
        idle_seconds: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.time,
        reorder_window: float = 0.0,
        keep_raw: bool = False,
    ) -> None:
        self.store: Store = store if store is not None else EventStore()
        #: Log payloads as they came (opt-in: ``ccviz serve --keep-raw``). By default every
        #: string of a payload is redacted before it is logged and applied, so the store
        #: holds what a viewer could see, and the live game and the game rebuilt from the
        #: store see the same payload.
        self.keep_raw = keep_raw
        self.idle_seconds = idle_seconds
        self.clock = clock
        #: Hooks that came before their cause, held briefly (see engine/reorder.py). Off
        #: (0 s) unless a server turns it on: it is about hooks arriving concurrently.
        self.reorder = ReorderBuffer(reorder_window)
        self.links = SessionLinks()
        self._live: dict[str, _Live] = {}
        self._listeners: list[Listener] = []
        self._status_listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self.replays: dict[str, ReplayClock] = {}
        #: Replays whose clock runs in another process on a shared log: this one shows them
        #: (:meth:`open_replay` with ``mirror``) and hands their controls to
        #: :attr:`ask_owner` (server/follow.py passes them on).
        self.mirrored: set[str] = set()
        self.ask_owner: Callable[[str, dict[str, Any]], None] | None = None
        self._replay_history: dict[str, deque[tuple[int, list[Delta]]]] = {}
        #: Whole histories for viewers that scrub (game-history, game-at): a few games only.
        self.histories = HistoryCache()
        self._history_lock = threading.Lock()
        #: Lobby rows of stored games not in memory: (events, title/folder/end), by game.
        self._meta: dict[str, tuple[int, dict[str, Any]]] = {}

    # -- listening ---------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(game_id, applied)`` after every applied event; returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # -- writing -----------------------------------------------------------------------

    def ingest(
        self,
        data: bytes | str | dict[str, Any],
        *,
        ts: float | None = None,
        key: str | None = None,
        game_id: str | None = None,
        reorder: bool = False,
    ) -> tuple[str, int | None]:
        """Log and apply one hook payload; returns ``(game_id, seq)``.

        ``seq`` is ``None`` when ``key`` was delivered before (a spooled event seen twice).
        Raises :class:`PayloadError` for anything that is not a usable payload.

        ``reorder``: the event came the way Claude Code's hooks come, concurrently (the
        server's hook route says so). Then, with the reorder window on, an event that came
        before its cause is held and ``seq`` is 0: it is logged and applied when the cause
        arrives or the window ends. Events from Python, the spool and the transcript are
        applied at once, in the order given.
        """
        event = parse_event(data, ts=ts, session_id=game_id)
        if ts is None and event.ts is None:
            event.ts = self.clock()
        gid = game_id or event.session_id
        if gid in self.replays:
            raise PayloadError(
                f"game {gid!r} is a replay; it takes no new events (fork it for a live copy "
                "that does: replay.fork() or game.fork() in Python)"
            )
        event.to_json()  # a payload the log cannot hold is refused here, never later
        if not self.keep_raw:
            clean = redact_payload(event.payload)
            if clean is not event.payload:  # the same object when nothing was secret
                event.payload = clean
                event.text = None
        if event.name.startswith("ccviz."):
            self._live_game(gid, create=True).game.validate(event)
        self.links.link(event)  # a /clear's new session names the one it cleared
        live = self._live_game(gid, create=True)
        held = self.reorder
        if reorder and held.window > 0:
            if held.holds(gid, key):
                return gid, None
            if self._waits(gid, live, event) and self._behind_log(gid, live):
                self._catch_up(gid, live)  # its cause may be in a shared log already
            if self._waits(gid, live, event):
                key = self._keep_held(gid, event, key)
                held.hold(gid, event, key, self.clock())
                return gid, 0
        seq = self._log_and_apply(gid, live, event, key)
        if held.window > 0:
            try:
                self._release_ready(gid, live)
            except StoreError:  # this event is logged; the held one is held again (_log_held)
                pass
        return gid, seq

    def _keep_held(self, game_id: str, event: Any, key: str | None) -> str | None:
        """Record a held event in the log's store too (its hook was answered, and this
        process may die before the window ends: the next server start, or on a shared log
        another process, then logs it, see :meth:`log_orphans`); returns its delivery key,
        made up when it had none, since the key is what keeps it logged once."""
        key = key or f"held-{uuid.uuid4().hex}"
        until = time.time() + self.reorder.window + HELD_GRACE  # wall time: other processes
        self.store.keep_held(game_id, key, event.to_json(), event.ts, until)
        return key

    def log_orphans(self, orphans: Iterable[tuple[str, str, str, float | None]]) -> int:
        """Log held events their process recorded and never logged (it was killed within
        the window): ``(game_id, key, payload, ts)`` as the store's ``overdue_held`` gives
        them. Returns how many were logged; one that is not a usable payload is dropped
        from the store with a warning; a store that fails leaves the rest for the next look.
        """
        logged = 0
        for gid, key, payload, ts in orphans:
            try:
                if self.log_orphan(gid, payload, ts, key) is not None:
                    logged += 1
                    log.warning(
                        "ccviz logged a held hook event of game %r that the server holding it "
                        "never logged (it was stopped)",
                        gid,
                    )
            except PayloadError as exc:
                log.warning("ccviz dropped a held hook event: %s", exc)
                try:
                    self.store.forget_held(key)
                except StoreError:
                    pass
            except StoreError:  # the store away again: the next look finds it again
                break
        return logged

    def log_orphan(self, game_id: str, payload: str, ts: float | None, key: str) -> int | None:
        """Log a held event another process recorded and never logged (it died within
        the window): in order from now on, exactly once by its key (``None`` when someone
        logged it meanwhile). Raises PayloadError or StoreError as ingest does."""
        if game_id in self.replays:
            return None
        return self.ingest(payload, ts=ts, key=key, game_id=game_id)[1]

    def _waits(self, game_id: str, live: _Live, event: Any) -> bool:
        return self.reorder.behind(game_id, event) or waits_for(live.game, event)

    def _behind_log(self, game_id: str, live: _Live) -> bool:
        """Whether the log has more of the game than memory: on a shared log another
        process appended it and the follower has not handed it over yet (one read)."""
        return self.store.last_seq(game_id) > live.game.seq

    def _log_and_apply(self, game_id: str, live: _Live, event: Any, key: str | None) -> int | None:
        seq = self.store.append(game_id, event.to_json(), event.ts, key=key)
        if seq is None:
            return None
        if seq != live.game.seq + 1:  # another process appended to this game: catch up
            self._catch_up(game_id, live)
            return seq
        self._apply(game_id, live, event)
        return seq

    def _release_ready(self, game_id: str, live: _Live) -> None:
        while (held := self.reorder.take_ready(game_id, live.game)) is not None:
            self._log_held(game_id, live, [held])

    def _log_held(self, game_id: str, live: _Live, items: list[Any]) -> None:
        """Log and apply held events in order. Their hooks were answered already, so when
        the store cannot be written (Redis restarting, a full disk) the one that failed and
        those after it are held again, for the next window, and the error is raised."""
        for n, held in enumerate(items):
            try:
                self._log_and_apply(game_id, live, held.event, held.key)
            except StoreError:
                for again in items[n:]:
                    self.reorder.hold(game_id, again.event, again.key, self.clock())
                raise

    def flush_held(self, now: float | None = None) -> int:
        """Apply the held events whose reorder window has ended; returns how many.

        The server calls this when :meth:`next_hold_deadline` comes (and with ``now=inf``
        as it stops, so nothing held is lost on a clean shutdown). When the store cannot be
        written, what could not be logged is held again for another window and the
        :class:`StoreError` raised: those hooks were answered, so they must not be dropped.
        """
        due = self.reorder.take_due(self.clock() if now is None else now)
        games: dict[str, list[Any]] = {}
        for game_id, held in due:
            games.setdefault(game_id, []).append(held)
        failed: StoreError | None = None
        for game_id, items in games.items():
            try:
                live = self._live_game(game_id, create=True)
            except StoreError as exc:  # not in memory and the log cannot be read: wait
                for again in items:
                    self.reorder.hold(game_id, again.event, again.key, self.clock())
                failed = exc
                continue
            try:
                self._log_held(game_id, live, items)
            except StoreError as exc:  # held again, in order (_log_held)
                failed = exc
        if failed is not None:
            raise failed
        return len(due)

    def next_hold_deadline(self) -> float | None:
        """When the next held event must be applied (the hub's clock), or None."""
        return self.reorder.next_deadline()

    def act(self, game_id: str, action: dict[str, Any]) -> int:
        """An ``agent-action`` from a viewer with the controller role; returns the new seq."""
        if not isinstance(action, dict):
            raise PayloadError("an action must be an object")
        kind = action.get("type")
        if kind == "hook":
            payload = action.get("payload")
            if not isinstance(payload, dict):
                raise PayloadError("a 'hook' action needs a 'payload' object")
            sid = payload.get("session_id")
            if sid is not None and sid != game_id:
                raise PayloadError(f"payload session_id {sid!r} does not match game {game_id!r}")
            _, seq = self.ingest({**payload, "session_id": game_id})
            return seq or 0
        if kind in ("pause", "resume", "step", "seek", "speed"):
            return self.control(game_id, kind, action)
        fields = _ACTIONS.get(kind) if isinstance(kind, str) else None
        if fields is None:
            raise PayloadError(
                f"unknown action type {kind!r}; expected one of: hook, {', '.join(_ACTIONS)}, "
                "pause, resume, step, seek, speed"
            )
        if self.game(game_id) is None:
            raise PayloadError(f"no game {game_id!r}")
        behavior = action.get("behavior")
        if kind == "permission" and not (
            isinstance(behavior, str) and behavior in PERMISSION_ANSWERS
        ):
            got = repr(behavior) if isinstance(behavior, str) else json_type(behavior)
            raise PayloadError(
                f"'behavior' must be one of {', '.join(sorted(PERMISSION_ANSWERS))}, "
                f"not {shorten(got, 60)}"
            )
        payload = {"hook_event_name": f"ccviz.{kind}", "session_id": game_id}
        payload.update({k: action[k] for k in fields if k in action})
        _, seq = self.ingest(payload)
        return seq or 0

    def _apply(self, game_id: str, live: _Live, event: Any) -> None:
        applied = live.game.apply(event)
        if live.game.failure is not None:  # a rule's bug (Game._failed): said once, here
            error, live.game.failure = live.game.failure, None
            log.error(
                "game %s: the engine could not follow event %d (%s); the game goes on",
                game_id,
                applied.seq,
                event.name,
                exc_info=error,
            )
        live.history.append((applied.seq, applied.deltas))
        live.touched = self.clock()
        for listener in list(self._listeners):
            listener(game_id, applied)

    def follow(self, game_id: str, rows: Iterable[StoredEvent]) -> int:
        """Apply events another process appended to a shared log (server/follow.py hands
        them over as read, in order); returns how many were applied.

        Rows at or below the game's seq were applied already (this process appended them,
        or an earlier call did) and are skipped; a row past the next seq means some were
        not handed over, and the game catches up from the log instead. So an event is
        never applied twice nor skipped, and listeners (the broadcast) see each once, in
        order. A game not in memory starts empty and takes every row from seq 1, so the
        viewers already waiting for it see all of it. Replays are not logged: never here.
        """
        if game_id in self.replays:
            return 0
        live = self._live.get(game_id)
        if live is None:
            live = self._live[game_id] = _Live(Game(game_id), touched=self.clock())
        before = live.game.seq
        for row in rows:
            if row.seq <= live.game.seq:
                continue
            if row.seq != live.game.seq + 1:
                self._catch_up(game_id, live)
                break
            self._apply(game_id, live, parse_event(row.payload, ts=row.ts, session_id=game_id))
        if self.reorder.window > 0:  # a held hook's cause may have come from another process
            self._release_ready(game_id, live)
        return live.game.seq - before

    def watch(self, game_id: str) -> None:
        """Keep a game some viewer waits for (it joined before the game existed) in memory.

        On a shared log another process may append a game's first events before this one
        hears of them; a game loaded from the log then would skip its listeners for those
        events, and the waiting viewers would see a gap. Held in memory, everything that
        comes for it goes through :meth:`follow` or the catch-up, listeners included.
        """
        if game_id not in self._live and game_id not in self.replays:
            # Empty even if the log has events by now: the viewers hold seq 0 (their join
            # found no game), so every event must reach them through the listeners.
            self._live[game_id] = _Live(Game(game_id), touched=self.clock())

    def sync(self, game_id: str) -> int:
        """Bring a game in memory up to the log's end now, listeners included; its seq.

        For a viewer that is ahead of this process: after a failover it re-joins here with
        the ``since`` it had on another process, and this process's follower may not have
        handed over the newest events yet. One read of the log; a game not in memory (or
        a replay) is left as it is. May raise :class:`StoreError`.
        """
        live = self._live.get(game_id)
        if live is None or game_id in self.replays:
            return self.live_seq(game_id)
        if self._behind_log(game_id, live):
            self._catch_up(game_id, live)
        return live.game.seq

    def live_seq(self, game_id: str) -> int:
        """The seq of the game in memory, 0 when it is not (no log read)."""
        live = self._live.get(game_id)
        return live.game.seq if live is not None else 0

    def _catch_up(self, game_id: str, live: _Live) -> None:
        for row in self.store.events(game_id, since=live.game.seq):
            self._apply(game_id, live, parse_event(row.payload, ts=row.ts, session_id=game_id))

    # -- reading -----------------------------------------------------------------------

    def game(self, game_id: str) -> Game | None:
        """The live game, rebuilt from the log if it was evicted; ``None`` if never seen."""
        clock = self.replays.get(game_id)
        if clock is not None:
            return clock.game
        live = self._live_game(game_id, create=False)
        return live.game if live is not None else None

    def snapshot(self, game_id: str) -> dict[str, Any] | None:
        """The game's whole state now (docs/protocol.md), or ``None`` if never seen."""
        game = self.game(game_id)
        return game.snapshot() if game is not None else None

    def deltas_since(self, game_id: str, since: int) -> list[Delta] | None:
        """Every delta after ``since`` in order, or ``None`` when history no longer reaches back."""
        game = self.game(game_id)
        if game is None or since > game.seq or since < 0:
            return None
        if since == game.seq:
            return []
        if game_id in self.replays:
            history = self._replay_history[game_id]
        else:
            history = self._live[game_id].history
        if not history or history[0][0] > since + 1:
            return None
        out: list[Delta] = []
        for seq, deltas in history:
            if seq > since:
                out.extend(deltas)
        return out

    def events(self, game_id: str) -> list[Any] | None:
        """Every event of a game, parsed (from the log, or a replay's source)."""
        clock = self.replays.get(game_id)
        if clock is not None:
            return clock.events[: clock.position]
        if self.store.last_seq(game_id) == 0:
            return None
        return [
            parse_event(row.payload, ts=row.ts, session_id=game_id)
            for row in self.store.events(game_id)
        ]

    def history(self, game_id: str) -> GameHistory | None:
        """The game's whole history (``None`` if never seen), for viewers that scrub.

        Built on first use from the log (or a replay's whole recording) through a fresh
        engine, then extended by the events logged since. Reading it changes no game, so
        the server may call it from a worker thread (the first build of a long game takes
        a while and must not hold the loop, ingest included); one lock keeps two builders
        of the same history apart.
        """
        with self._history_lock:
            return self._history(game_id)

    def _history(self, game_id: str) -> GameHistory | None:
        clock = self.replays.get(game_id)
        if clock is not None:
            history = self.histories.get(game_id, clock)
            if history.seq < clock.total:
                history.extend(clock.events[history.seq :])
            return history
        last = self.store.last_seq(game_id)
        if last == 0:
            return None
        history = self.histories.get(game_id, self.store)
        if history.seq > last:  # cannot happen with an append-only log; start afresh
            self.histories.drop(game_id)
            history = self.histories.get(game_id, self.store)
        if history.seq < last:
            history.extend(
                parse_event(row.payload, ts=row.ts, session_id=game_id)
                for row in self.store.events(game_id, since=history.seq)
            )
        return history

    def event_rows(self, game_id: str) -> list[dict[str, Any]] | None:
        """The game's events as table rows, rebuilt through the engine (see timeline)."""
        from .replays.text import event_rows

        events = self.events(game_id)
        return None if events is None else event_rows(game_id, events)

    def summaries(self) -> list[dict[str, Any]]:
        """Lobby rows for every game in the store, newest first (live games are up to date)."""
        rows = []
        for row in self.store.games():
            live = self._live.get(row.game_id)
            if live is not None:
                rows.append(summary(live.game))
            else:
                rows.append(
                    {
                        "gameId": row.game_id,
                        "seq": row.events,
                        **self._stored_meta(row.game_id, row.events),
                        "lastEventAt": _ms(row.last_ts),
                        "startedAt": _ms(row.first_ts),
                        "agents": None,
                        "live": False,
                        "waiting": [],
                    }
                )
        for clock in self.replays.values():  # a replay's people wait for nobody now
            rows.append({**summary(clock.game), "replay": clock.status(), "waiting": []})
        rows.sort(key=lambda r: (r["lastEventAt"] is None, -(r["lastEventAt"] or 0)))
        return rows

    def waiting(self) -> list[dict[str, Any]]:
        """Everyone waiting for a person across the live games (protocol.md §14), the
        newest first: ``{gameId, title, agent, name, wait, text, since, request?}``."""
        found = [
            {"gameId": gid, "title": live.game.peek("title"), **entry}
            for gid, live in self._live.items()
            for entry in waiting(live.game)
        ]
        found.sort(key=lambda e: e["since"] or 0, reverse=True)
        return found

    def _stored_meta(self, game_id: str, events: int) -> dict[str, Any]:
        """Title, folder and end of a stored game (cached until the game grows)."""
        cached = self._meta.get(game_id)
        if cached is None or cached[0] != events:
            from itertools import islice

            last = None
            # The last hook's name: usage events read from the transcript come after it.
            for stored in self.store.events(game_id, since=max(0, events - 8)):
                try:
                    name = parse_event(stored.payload).name
                except PayloadError:
                    continue
                if not name.startswith("ccviz."):
                    last = name
            head = islice(self.store.events(game_id), META_EVENTS)
            cached = (events, _meta_from_log(head, last))
            self._meta[game_id] = cached
        return cached[1]

    def live_ids(self) -> list[str]:
        """Ids of the games in memory now: the logged ones, then the replays."""
        return [*self._live, *self.replays]

    # -- replays -------------------------------------------------------------------------

    def open_replay(
        self,
        events: list[Any],
        *,
        game_id: str,
        speed: float = 4.0,
        loop: bool = False,
        play: bool = True,
        mirror: dict[str, Any] | None = None,
    ) -> ReplayClock:
        """A game fed from a recorded session at ``speed`` (needs a running asyncio loop).

        Replay games live beside the logged ones, not in the store: seeking back rebuilds
        them, which a log that only grows could not express. ``mirror``: the state of the
        same replay's clock in another process (a shared log): this one follows it
        (:meth:`ReplayClock.follow`) and passes its controls on, so the clock stays in
        one place.
        """
        from .replays.clock import ReplayClock

        if game_id in self.replays:
            self.replays.pop(game_id).stop()
        elif self.store.last_seq(game_id):
            raise ValueError(f"game {game_id!r} already exists in the store; pick another id")

        def publish(applied: Applied) -> None:
            self._history_for(game_id, applied)
            for listener in list(self._listeners):
                listener(game_id, applied)

        def status(state: dict[str, Any]) -> None:
            for listener in list(self._status_listeners):
                listener(game_id, state)

        clock = ReplayClock(game_id, events, publish, speed=speed, loop=loop, on_status=status)
        self.replays[game_id] = clock
        self._replay_history[game_id] = deque(maxlen=HISTORY)
        self.mirrored.discard(game_id)
        if mirror is not None:
            self.mirrored.add(game_id)
            clock.follow(mirror)
        elif play:
            clock.play()
        return clock

    def fork(self, game_id: str, *, new_id: str | None = None) -> str:
        """A new live game that starts as ``game_id`` is now; returns its id.

        Why: a replay takes no new events (its log is the recording), yet a learner wants to
        ask "what if?" of it. The fork's log starts with the events the game has applied so
        far (a replay's up to its position), each ingested like any hook payload, so the
        engine builds the same state and the fork is a game like any other: it takes
        ``say``, ``move``, ``rules``, hooks. The original is never changed. The id is
        ``<game_id>~fork-N`` (the first N free) unless ``new_id`` names one.

        >>> hub = Hub(EventStore(":memory:"))
        >>> _ = hub.ingest({"hook_event_name": "SessionStart", "session_id": "s1"})
        >>> hub.fork("s1")
        's1~fork-1'
        >>> hub.game("s1~fork-1").seq
        1
        """
        events = self.events(game_id)
        if events is None:
            if self.game(game_id) is None:
                raise PayloadError(f"no game {game_id!r} to fork")
            events = []
        if new_id is None:
            n = 1
            while self._taken(f"{game_id}~fork-{n}"):
                n += 1
            new_id = f"{game_id}~fork-{n}"
        elif self._taken(new_id):
            raise PayloadError(f"game {new_id!r} already exists; pick another id")
        for event in events:
            self.ingest(event.payload, ts=event.ts, game_id=new_id)
        if not events:  # forked at the start: an empty live game, there to take events
            self._live_game(new_id, create=True)
        return new_id

    def _taken(self, game_id: str) -> bool:
        return game_id in self.replays or game_id in self._live or self.store.last_seq(game_id) > 0

    def close_replay(self, game_id: str) -> None:
        """Stop a replay and forget its game (its forks are games of their own and stay)."""
        clock = self.replays.pop(game_id, None)
        self.mirrored.discard(game_id)
        if clock is not None:
            clock.stop()
            self._replay_history.pop(game_id, None)
            self.histories.drop(game_id)

    def adopt_replay(self, game_id: str) -> None:
        """A mirrored replay becomes this process's own (its owner went): the clock plays
        on from where it was shown, if it was playing."""
        clock = self.replays.get(game_id)
        if clock is None or game_id not in self.mirrored:
            return
        self.mirrored.discard(game_id)
        if clock.playing:
            clock.playing = False
            clock.play()

    def subscribe_status(self, listener: Callable[[str, dict[str, Any]], None]) -> None:
        """Call ``listener(game_id, status)`` when a replay plays, pauses, seeks or ends."""
        self._status_listeners.append(listener)

    def control(self, game_id: str, kind: str, action: dict[str, Any]) -> int:
        """Replay controls from agent-action: ``pause``, ``resume``, ``seek``, ``speed``."""
        clock = self.replays.get(game_id)
        if clock is None:
            raise PayloadError(f"game {game_id!r} is not a replay")
        if game_id in self.mirrored:
            return self._ask_owner(game_id, kind, action, clock)
        try:
            if kind == "pause":
                clock.pause()
            elif kind == "resume":
                clock.play()
            elif kind == "step":
                clock.step()
            elif kind == "seek":
                seq = action.get("seq")
                if not isinstance(seq, int) or isinstance(seq, bool):
                    raise PayloadError("seek needs an integer 'seq'")
                clock.seek(seq)
            elif kind == "speed":
                clock.set_speed(action.get("speed"))
        except ValueError as exc:
            raise PayloadError(str(exc)) from None
        return clock.position

    def _ask_owner(self, game_id: str, kind: str, action: dict[str, Any], clock: Any) -> int:
        """A control of a mirrored replay, checked here (a bad one is refused at once, not
        lost over there) and passed to the process whose clock it is; returns the position
        shown now (the move comes back as the owner's clock moves)."""
        from .replays.clock import check_speed

        ask: dict[str, Any] = {"type": kind}
        if kind == "seek":
            seq = action.get("seq")
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise PayloadError("seek needs an integer 'seq'")
            ask["seq"] = seq
        elif kind == "speed":
            try:
                ask["speed"] = check_speed(action.get("speed"))
            except ValueError as exc:
                raise PayloadError(str(exc)) from None
        if self.ask_owner is None:
            raise PayloadError(f"replay {game_id!r} plays on another server, out of reach")
        self.ask_owner(game_id, ask)
        return clock.position

    def _history_for(self, game_id: str, applied: Applied) -> None:
        history = self._replay_history.setdefault(game_id, deque(maxlen=HISTORY))
        if applied.reset:
            history.clear()
        else:
            history.append((applied.seq, applied.deltas))

    # -- memory ------------------------------------------------------------------------

    def evict_idle(self, has_viewers: Callable[[str], bool] = lambda _gid: False) -> list[str]:
        """Forget games idle for ``idle_seconds`` that nobody watches (the log keeps them)."""
        now = self.clock()
        gone = [
            gid
            for gid, live in self._live.items()
            if now - live.touched >= self.idle_seconds and not has_viewers(gid)
        ]
        for gid in gone:
            del self._live[gid]
        return gone

    def _live_game(self, game_id: str, *, create: bool) -> _Live | None:
        live = self._live.get(game_id)
        if live is not None:
            live.touched = self.clock()
            return live
        if not create and self.store.last_seq(game_id) == 0:
            return None
        live = _Live(Game(game_id), touched=self.clock())
        for row in self.store.events(game_id):
            applied = live.game.apply(parse_event(row.payload, ts=row.ts, session_id=game_id))
            live.history.append((applied.seq, applied.deltas))
        live.game.failure = None  # said when the event came in (_apply), not at each rebuild
        self._live[game_id] = live
        return live


#: How far into a stored game the lobby looks for its title and folder.
META_EVENTS = 50


def _meta_from_log(events: Any, last: str | None) -> dict[str, Any]:
    """Title, folder and whether it ended, from the first events and the last one's name:
    a lobby row for a game not in memory, without rebuilding the game."""
    title = cwd = continues = None
    for stored in events:
        try:
            event = parse_event(stored.payload)
        except PayloadError:
            continue
        if cwd is None and isinstance(event.get("cwd"), str):
            cwd = shorten(event.get("cwd"), 200)  # redacted, as the engine shows it
        if event.name == "SessionStart" and isinstance(event.get(CONTINUES), str):
            continues = continues or event.get(CONTINUES)
        named = event.get("session_title") or (
            event.get("prompt") if event.name == "UserPromptSubmit" else None
        )
        if isinstance(named, str) and named.strip():
            title = shorten(named)
        if title and cwd:
            break
    return {
        "title": title,
        "cwd": cwd,
        "status": "ended" if last == "SessionEnd" else None,
        "continues": continues,
    }


def summary(game: Game) -> dict[str, Any]:
    """One lobby row: what a list of games shows at a glance."""
    agents = game.peek("agents")
    return {
        "waiting": waiting(game),
        "gameId": game.game_id,
        "seq": game.seq,
        "title": game.peek("title"),
        "cwd": game.peek("cwd"),
        "status": game.peek("status"),
        "startedAt": game.peek("startedAt"),
        "lastEventAt": game.peek("lastEventAt"),
        "agents": sum(1 for a in agents.values() if a["state"] != "left"),
        "live": True,
        "continues": game.peek("continues"),
    }


def waiting(game: Game) -> list[dict[str, Any]]:
    """Who in ``game`` waits for a person (protocol.md §14): an agent at a permission or a
    question, and the main agent of a session idle after its turn; the newest first."""
    if game.peek("status") == "ended":
        return []
    found = []
    requests = game.peek("permissions")
    prompted = game.peek("stats", "prompts") > 0
    for agent in game.peek("agents").values():
        wait = agent["wait"] if agent["state"] == "waiting" else None
        if wait is None and agent["kind"] == "main" and agent["state"] == "idle" and prompted:
            wait = "idle"  # its turn is over: the session waits for the next prompt
        if wait is None:
            continue
        entry = {"agent": agent["id"], "name": agent["name"], "wait": wait, "text": None}
        request = requests.get(agent["request"]) if agent["request"] else None
        since = game.peek("lastEventAt")
        if request is not None:
            entry.update(text=request["text"], request=request["id"], kind=request["kind"])
            since = request["askedAt"] or since
        elif wait != "idle":
            entry["text"] = game.peek("caption")
        entry["since"] = since
        found.append(entry)
    found.sort(key=lambda e: e["since"] or 0, reverse=True)
    return found


def _ms(ts: float | None) -> int | None:
    return int(ts * 1000) if ts is not None else None
