"""The server core: one python-socketio server speaking docs/protocol.md, whatever hosts it.

Hosts (standalone aiohttp, the Jupyter server's tornado, the kernel's loop) give it an
``async_mode``, a way to check credentials, optionally a :class:`~.fanout.FrameWriter` for
the fast fan-out path, and mount the route table of :mod:`.routes`, whose routes call
:meth:`GameServer.handle_hook` and friends; the protocol, roles, limits and broadcast live
here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from math import inf
from typing import Any

import socketio

from ..claude.hooks import ANSWERED_EVENTS
from ..config import ANSWER_WAIT, MAX_PAYLOAD_BYTES, REORDER_WINDOW, SPOOL_POLL, data_dir_str
from ..engine.game import Applied, Game
from ..errors import StoreError
from ..events import PayloadError, hook_event_key, parse_event
from ..hub import Hub
from ..redis_store import RedisEventStore
from ..runtime import (
    UntrustedError,
    check_folder,
    dead_letter,
    disk_full_log,
    ensure_reserve,
    lock_server,
    spool_keep,
    spool_lines,
    spool_pending,
    spool_take,
    spool_waiting,
    unlock_server,
)
from .auth import Auth, HostRule, RateLimiter
from .broadcast import Broadcaster
from .fanout import FanoutManager, FrameWriter
from .follow import LogFollower
from .limits import RESERVED_EVENTS, ConnectionLimits, Limits, guard_engineio, reserved_refusal
from .metrics import ServerMetrics
from .packets import BAD_PACKET, JsonPacket, MsgPackPacket
from .permissions import MAX_HELD, PermissionDesk
from .transcripts import TranscriptWatcher
from .uploads import ReplayUploads

log = logging.getLogger("ccviz.server")

LOBBY = "lobby"
#: socket.io pings: generous, so idle viewers (a projector left on) are never dropped.
PING_INTERVAL = 25
PING_TIMEOUT = 60
SPOOL_EVERY = 1.0
LOBBY_EVERY = 0.5
EVICT_EVERY = 60.0
#: How often permission requests nobody can be holding any more are closed (seconds).
SWEEP_EVERY = 5.0
#: How often a server on SQLite looks for held events a killed server never logged (one
#: SELECT of a table that is empty but for the reorder window's few; Redis: follow.py).
ORPHANS_EVERY = 1.0
#: The environ key a host's role check may set to the connection's user name (Jupyter's
#: user): what an answer to a permission is logged as coming from.
USER_KEY = "ccviz.user"
#: A stopping server spreads its viewers' reconnects over this many seconds (``server-closing``).
RECONNECT_SPREAD = 2.0

#: A function a host passes to decide a socket.io connection's role from its environ and
#: auth data; ``None`` refuses it.
RoleCheck = Callable[[dict[str, Any], Any], str | None]


def room(game_id: str) -> str:
    return f"game-{game_id}"


@dataclass
class HttpAnswer:
    """What an HTTP route answers (:mod:`.routes`); the host writes it with its framework."""

    status: int
    body: str | bytes = ""
    content_type: str = "text/plain; charset=utf-8"
    #: Extra headers (besides ``Content-Type`` and ``routes.SECURITY_HEADERS``).
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> HttpAnswer:
        return cls(status, json.dumps(data, ensure_ascii=False), "application/json")

    def payload(self) -> bytes:
        """The body as bytes (empty for none)."""
        return self.body.encode() if isinstance(self.body, str) else self.body


@dataclass(frozen=True)
class HookRequest:
    """A ``POST api/hooks``, parsed from its headers by :func:`.routes.parse_hook`."""

    body: bytes = field(repr=False)
    #: The ``Authorization: Bearer`` token (``None``: missing or not a bearer). Never shown.
    token: str | None = field(repr=False)
    client: str = "?"
    #: ``X-Ccviz-Time``: when the hook ran (epoch seconds), if it is a number.
    hook_time: float | None = None
    #: ``X-Ccviz-Id``: the delivery id, if it has 1 to 64 characters.
    delivery_id: str | None = None


#: What a request without the controller role gets on ``POST api/games/<id>/actions``.
CONTROLLER_REQUIRED = "actions need the controller role (the ingest token)\n"


def too_large() -> HttpAnswer:
    """The answer to a body over :data:`~ccviz_kernel.config.MAX_PAYLOAD_BYTES`."""
    return HttpAnswer(413, f"payload too large (limit {MAX_PAYLOAD_BYTES} bytes)\n")


class GameServer:
    """The socket.io server, the broadcast and the HTTP logic around one :class:`Hub`."""

    def __init__(
        self,
        hub: Hub,
        auth: Auth,
        *,
        async_mode: str,
        serializer: str = "msgpack",
        fps: float = 30.0,
        cors_allowed_origins: list[str] | None = None,
        role_check: RoleCheck | None = None,
        frame_writer: FrameWriter | None = None,
        hook_rate: tuple[float, float] = (500.0, 2000.0),
        action_rate: tuple[float, float] = (50.0, 200.0),
        read_rate: tuple[float, float] = (30.0, 120.0),
        reorder_window: float = REORDER_WINDOW,
        host_rule: HostRule | None = None,
        limits: Limits | None = None,
        answer_wait: float = ANSWER_WAIT,
    ) -> None:
        self.hub = hub
        #: Hooks arrive concurrently: the hub holds one that came before its cause.
        hub.reorder.window = reorder_window
        self._flush_handle: asyncio.TimerHandle | None = None
        self.auth = auth
        self.serializer = "msgpack" if serializer == "msgpack" else "json"
        self.origins = set(cors_allowed_origins or ())
        #: Host names and the Origin rule (auth.py): loopback names only unless the host says.
        self.host_rule = host_rule or HostRule(origins=frozenset(self.origins))
        #: Connections per address, rooms and joins per connection (limits.py).
        self.limits = ConnectionLimits(limits)
        self.role_check = role_check or self._default_role
        self.manager = FanoutManager(frame_writer)
        self.sio = socketio.AsyncServer(
            async_mode=async_mode,
            serializer=MsgPackPacket if serializer == "msgpack" else JsonPacket,
            client_manager=self.manager,
            transports=["websocket"],
            ping_interval=PING_INTERVAL,
            ping_timeout=PING_TIMEOUT,
            max_http_buffer_size=MAX_PAYLOAD_BYTES + 4096,
            cors_allowed_origins=self._origin_ok,
            async_handlers=False,  # one client's messages are handled in order
            logger=False,
            engineio_logger=False,
        )
        self.broadcaster = Broadcaster(self._emit_room, fps=fps)
        self.hook_limiter = RateLimiter(*hook_rate)
        self.action_limiter = RateLimiter(*action_rate)
        self.uploads = ReplayUploads(hub)
        #: Follows live transcripts: the calls (lean install), tokens, model, gap fill.
        self.transcripts = TranscriptWatcher(hub, on_held=self._schedule_flush)
        #: game-history and game-at, per connection (each may replay up to 1255 events).
        self.read_limiter = RateLimiter(*read_rate)
        self._roles: dict[str, str] = {}
        #: The user names hosts know (USER_KEY), by connection.
        self._users: dict[str, str] = {}
        self._lobby_dirty = False
        self._tasks: list[asyncio.Task[None]] = []
        #: Spool files a pass stopped in (the store failed: a full disk), and where.
        self._spool_resume: dict[str, int] = {}
        self._spool_stuck: str | None = None
        self._spool_last = 0.0
        self._server_lock: str | None = None
        #: Tails a shared Redis log (follow.py); None on SQLite.
        self._follower: LogFollower | None = None
        self._unsubscribe = hub.subscribe(self._on_applied)
        hub.subscribe_status(self._on_replay_status)
        #: Claude Code's PermissionRequest hooks held for an answer (permissions.py).
        self.permissions = PermissionDesk(hub, answer_wait)
        #: ``GET metrics`` (server/metrics.py).
        self.metrics = ServerMetrics(self)
        self._register()

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Ingest what the hook spooled while no server ran, then keep watching the spool.

        Refuses a data folder another user could write (:class:`UntrustedError`: its spool
        and tokens would be theirs) and, when this server's store is the data folder's, a
        second server process on it (:class:`ServerBusy`: the two would share the store but
        not their live views). Keeps the disk reserve the hook spools into when the disk is
        full. A store that cannot be written (a full disk) does not stop the start: the
        spool stays on disk, is reported, and is drained once there is room.

        The spool is drained now, before the host opens its port, then looked at every
        :data:`~ccviz_kernel.config.SPOOL_POLL` s. An event spooled between this drain and
        the runtime file appearing is not overtaken: the hook queues behind a non-empty
        spool instead of posting (cli/hook.py), so the next pass ingests both in order.
        """
        folder = check_folder()
        # A shared Redis log is never the data folder's: several servers use it by design
        # (each keeps its own spool and runtime file), and each tails what the others append.
        shared = isinstance(self.hub.store, RedisEventStore)
        store = None if shared else self.hub.store.path
        if isinstance(store, str) and os.path.dirname(os.path.abspath(store)) == os.path.abspath(
            folder
        ):
            self._server_lock = lock_server(data_dir_str())
            ensure_reserve()
            saved, lost, when = disk_full_log()
            if saved or lost:
                log.warning(
                    "hooks met a full disk (last at %s): %d event(s) kept in the spool, %d lost"
                    "; see `ccviz doctor`",
                    _when(when),
                    saved,
                    lost,
                )
        if not shared:
            # Held by a server killed within its reorder window, answered and never logged:
            # first, before the spool (they came before it). With the data folder's lock
            # every one is a dead server's; else only those past their time.
            self._log_orphans(inf if self._server_lock else None)
        self.drain_spool()
        self.transcripts.start()  # catch up unended games from their transcripts
        if shared:  # the follower looks for orphans on Redis
            self._follower = LogFollower(self.hub, self._watched_games, self._mark_lobby)
            self.hub.ask_owner = self._follower.ask_owner  # mirrored replays' controls
            self._follower.start()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._every(SPOOL_POLL, self._spool_tick)),
            loop.create_task(self._every(LOBBY_EVERY, self._push_lobby)),
            loop.create_task(self._every(EVICT_EVERY, self._evict)),
            loop.create_task(self._every(SWEEP_EVERY, self._sweep_permissions)),
        ]
        if not shared:
            self._tasks.append(loop.create_task(self._every(ORPHANS_EVERY, self._log_orphans)))
        if gc.get_freeze_count() == 0:  # once per process (tests start many servers)
            # The start-up heap (modules, the caught-up games) lives as long as the process:
            # frozen, full collections no longer walk it, so their pauses (the hub's p99)
            # shrink: longest 16 → 4 ms over the long sample (bench/engine_bench.py).
            gc.collect()
            gc.freeze()

    async def stop(self) -> None:
        """Drain: flush, tell every viewer to reconnect, disconnect them, end all background
        work. The host has stopped accepting connections before (SIGTERM: a balancer sends
        new viewers and hooks elsewhere) and closes its port after (open websockets would
        otherwise hold a shutdown for a minute).

        Nothing applied is lost on the way out: events the reorder window holds are applied,
        every room's pending update and every fan-out under way are written, then each viewer
        gets ``server-closing`` (protocol.md §4) with a reconnect delay spread over
        :data:`RECONNECT_SPREAD` s, so a thousand viewers do not all re-join the next server
        in the same millisecond, and its connection is closed behind what it was sent."""
        if self._follower is not None:  # its replays stay shared: a mirror plays them on
            self._follower.stopping = True
        for game_id in list(self.hub.replays):
            self.hub.close_replay(game_id)
        self.permissions.stop()  # held hooks: no decision, Claude Code asks in its own way
        self._flush_held(float("inf"))  # nothing held is lost on a clean stop
        self.broadcaster.flush_all()
        self.manager.finish()
        open_sockets = [s for s in self.sio.eio.sockets.values() if not (s.closed or s.closing)]
        if open_sockets:
            for sid in list(self._roles):
                hint = {"reason": "shutdown", "retryAfterMs": _reconnect_after_ms()}
                with contextlib.suppress(Exception):
                    await self.sio.emit("server-closing", hint, to=sid)
            with contextlib.suppress(Exception):  # a viewer that never answers must not hold us
                await asyncio.wait_for(
                    asyncio.gather(
                        *(s.close(wait=True, reason="server disconnect") for s in open_sockets),
                        return_exceptions=True,
                    ),
                    2.0,
                )
        if self._follower is not None:
            await self._follower.stop()
            self._follower = None
        await self.transcripts.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            await self.sio.shutdown()
        await _cancel_pings(self.sio.eio)
        self._unsubscribe()
        if self._server_lock is not None:
            unlock_server(self._server_lock)
            self._server_lock = None

    def _watched_games(self) -> list[str]:
        """Games some viewer of this process has joined (the follower tails them)."""
        rooms = self.manager.rooms.get("/", {})
        prefix = room("")
        return [
            r[len(prefix) :]
            for r, who in rooms.items()
            if who and isinstance(r, str) and r.startswith(prefix)
        ]

    def _replay_elsewhere(self, game_id: str) -> str | None:
        """Why a game cannot be joined here: another process on the shared log plays it as
        a replay (a replay's clock lives in the process that opened it, follow.py)."""
        owner = self._follower.replay_owner(game_id) if self._follower is not None else None
        if owner is None:
            return None
        return (
            f"game {game_id!r} is a replay playing on another server ({owner}); a replay's "
            "clock lives in the server that opened it: connect to that one, or open the "
            "replay here"
        )

    def _mark_lobby(self) -> None:
        self._lobby_dirty = True

    async def _every(self, seconds: float, work: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                work()
            except Exception:  # a bad spool line or store hiccup must not stop the loop
                log.exception("ccviz background work failed")

    # -- ingest --------------------------------------------------------------------------

    def handle_hook(self, hook: HookRequest) -> HttpAnswer:
        """``POST api/hooks`` (parsed by :func:`.routes.parse_hook`): 204 at once, or a
        clear 4xx. Never raises."""
        return self.metrics.timed(lambda: self._handle_hook(hook))

    def handle_permission(
        self, hook: HookRequest, gone: Callable[[], bool]
    ) -> HttpAnswer | Awaitable[HttpAnswer]:
        """``POST api/permissions`` (protocol.md §14): Claude Code's PermissionRequest,
        logged as its event and held until a decision (200 with it) or none (204); a clear
        4xx at once for anything else. ``gone()`` says Claude Code closed the connection."""
        checked = self._check_hook(hook)
        if isinstance(checked, HttpAnswer):
            return checked
        event, ts, key = checked
        if event.name not in ANSWERED_EVENTS:
            return HttpAnswer(
                400, f"api/permissions takes PermissionRequest or Elicitation, not {event.name}\n"
            )
        desk = self.permissions
        if desk.held() >= MAX_HELD:
            return HttpAnswer(429, f"{MAX_HELD} requests wait already; Claude Code asks itself\n")
        rid = desk.new_id()
        tool_input = event.payload.get("tool_input")  # as sent: a question's answer goes in it
        event.payload = {**event.payload, "ccviz_request": rid}
        refused = self._ingest_hook(event, ts, key)
        if refused is not None:
            return refused

        async def answer() -> HttpAnswer:
            decision = await desk.hold(event.session_id, rid, gone, tool_input)
            return HttpAnswer(204) if decision is None else HttpAnswer.json(decision)

        return answer()

    def _log_orphans(self, now: float | None = None) -> None:
        try:
            orphans = self.hub.store.overdue_held(time.time() if now is None else now)
        except StoreError:  # a full disk, a locked file: the next look
            return
        if orphans:
            self.hub.log_orphans(orphans)

    def _sweep_permissions(self) -> None:
        self.permissions.sweep(int(self.hub.clock() * 1000))

    def _check_hook(self, hook: HookRequest) -> HttpAnswer | tuple[Any, float, str]:
        """A hook POST's token, size, rate and payload: a clear 4xx, or the parsed event,
        its time and its delivery key."""
        if hook.token is None:
            return HttpAnswer(401, "missing bearer token\n")
        if not self.auth.can_hook(hook.token):
            return HttpAnswer(403, "wrong token\n")
        if len(hook.body) > MAX_PAYLOAD_BYTES:
            return too_large()
        if not self.hook_limiter.allow(hook.client):
            return HttpAnswer(429, "too many requests\n")
        ts = _hook_time(hook.hook_time, self.hub.clock())
        try:
            event = parse_event(hook.body, ts=ts)  # a bad payload is a 400 now, never later
            event.to_json()
        except PayloadError as exc:
            return HttpAnswer(400, f"{exc}\n")
        gid = event.session_id
        if gid in self.hub.replays:
            return HttpAnswer(400, f"game {gid!r} is a replay; it takes no new events\n")
        # Without X-Ccviz-Id (Claude Code's own http hooks send fixed headers), an event about
        # one tool call has its natural id: the transcript gap fill gives the event it rebuilds
        # the same id, so an event that did arrive is never applied twice.
        key = hook.delivery_id or hook_event_key(event.payload)
        return event, ts, key

    def _handle_hook(self, hook: HookRequest) -> HttpAnswer:
        checked = self._check_hook(hook)
        if isinstance(checked, HttpAnswer):
            return checked
        event, ts, key = checked
        return self._ingest_hook(event, ts, key) or HttpAnswer(204)

    def _ingest_hook(self, event: Any, ts: float, key: str) -> HttpAnswer | None:
        """Ingest a checked hook event; ``None``, or the answer that refuses it."""
        gid = event.session_id
        payload = event.payload  # parsed once; the hub checks the object, not the text again

        def ingest() -> None:
            try:
                self.hub.ingest(payload, ts=ts, key=key, reorder=True)
            except PayloadError as exc:
                log.warning("skipped a hook event: %s", exc)
            except StoreError as exc:  # answered 204 already: the spool keeps it for later
                self._keep_for_later(event, ts, key, exc)
            self._schedule_flush()

        self.transcripts.saw(gid, payload)
        # The transcript the server follows holds the session's calls (the lean install
        # hooks none of them) and is written before the hooks that follow them fire: read
        # it up to now first, so a SubagentStop or a Stop never comes before the last calls.
        if event.name.startswith("ccviz.") or not self.transcripts.read_first(gid, ingest):
            try:
                self.hub.ingest(payload, ts=ts, key=key, reorder=True)
            except PayloadError as exc:
                return HttpAnswer(400, f"{exc}\n")
            except StoreError as exc:  # a full disk: the hook spools it and the drain retries
                log.warning("could not store a hook event, answered 503: %s", exc)
                return HttpAnswer(503, "the event store cannot be written now; spool and retry\n")
            self._schedule_flush()
        return None

    def _keep_for_later(self, event: Any, ts: float, key: str | None, exc: Exception) -> None:
        """An acknowledged event the store refused (a full disk): into the spool, which the
        drain retries in order, so nothing acknowledged is lost."""
        outcome = spool_keep(event.to_json(), ts, key or f"server-{uuid.uuid4().hex}")
        log.warning("could not store an acknowledged hook event (%s): %s", exc, outcome)

    def drain_spool(self) -> int:
        """Ingest spooled hook events in order, each exactly once; returns how many.

        Never raises. A line that cannot be ingested (garbage, torn, not UTF-8, a refused
        payload, one that makes the engine raise) goes to the dead-letter file and the rest
        follow. When the store itself cannot be written (a full disk) the pass stops at that
        line and keeps it and everything after it on disk for the next pass: nothing is
        skipped, nothing acknowledged is lost, and the order holds.
        """
        count = 0
        try:
            spool_take(on_untrusted=self._untrusted_spool)
            pending = spool_pending(on_untrusted=self._untrusted_spool)
        except OSError as exc:
            self._spool_blocked(f"cannot take the spool: {exc.strerror or exc}")
            return 0
        for path in pending:
            done, taken = self._drain_file(path)
            count += taken
            if not done:
                break  # later files wait: they were spooled after this one
            self._spool_resume.pop(path, None)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        else:
            if self._spool_stuck is not None:
                log.warning("the spool drains again (%s is over)", self._spool_stuck)
                self._spool_stuck = None
        self._schedule_flush()
        return count

    def _drain_file(self, path: str) -> tuple[bool, int]:
        """One spool file from where the last pass stopped: ``(finished, ingested)``."""
        count = 0
        try:
            for line in spool_lines(path, self._spool_resume.get(path, 0)):
                problem = line.problem
                if problem is None:
                    try:
                        gid, seq = self.hub.ingest(line.body, ts=line.ts, key=line.key)
                    except Exception as exc:  # noqa: BLE001 - sorted below
                        if _environment_fault(exc):
                            self._spool_blocked(f"the event store cannot be written: {exc}")
                            return False, count
                        problem = str(exc) if isinstance(exc, PayloadError) else _describe(exc)
                    else:
                        count += seq is not None
                        try:
                            self.transcripts.saw(gid, line.body)
                        except Exception:  # noqa: BLE001 - following a transcript is extra
                            log.exception("following the transcript of a spooled event failed")
                        self._spool_resume[path] = line.end
                        continue
                try:
                    dead_letter(line.raw, problem, line.key, path)
                except (OSError, UntrustedError) as exc:
                    self._spool_blocked(f"cannot write the dead-letter file: {exc}")
                    return False, count
                log.warning("moved a spooled line to the dead-letter file: %s", problem)
                self._spool_resume[path] = line.end
        except OSError as exc:  # the file itself cannot be read: try again next pass
            self._spool_blocked(f"cannot read {path}: {exc.strerror or exc}")
            return False, count
        return True, count

    def _spool_blocked(self, why: str) -> None:
        """Say once (not every pass) that the spool waits, and why."""
        if self._spool_stuck != why:
            self._spool_stuck = why
            log.warning("spooled events wait on disk: %s; is the disk full? (retrying)", why)

    def _untrusted_spool(self, path: str, problem: str) -> None:
        log.warning(
            "not ingesting a spool another user could write: %s; moved to %s",
            problem,
            path,
        )

    def _spool_tick(self) -> None:
        """Every SPOOL_POLL s: drain when the spool has something (one ``stat``) or a pass
        stopped, and at least every SPOOL_EVERY s (files a dead server left, the reserve)."""
        now = asyncio.get_running_loop().time()
        due = now - self._spool_last >= SPOOL_EVERY
        if due or self._spool_resume or self._spool_stuck or spool_waiting():
            self._spool_last = now
            self.drain_spool()
        if due and self._server_lock is not None:
            ensure_reserve()

    def _schedule_flush(self) -> None:
        """Apply held events when their reorder window ends (one timer at a time)."""
        deadline = self.hub.next_hold_deadline()
        if deadline is None or self._flush_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside a loop (a test, a script): apply them now
            self._flush_held(float("inf"))
            return
        delay = max(0.0, deadline - self.hub.clock())
        self._flush_handle = loop.call_later(delay, self._flush_held)

    def _flush_held(self, now: float | None = None) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        try:
            self.hub.flush_held(now)
        except StoreError as exc:  # held again by the hub: retried after another window
            log.warning("held hook events wait for the event store: %s", exc)
        except Exception:  # noqa: BLE001 - a timer callback must not die silently
            log.exception("applying held events failed")
        if now is None:
            self._schedule_flush()

    # -- HTTP reads ----------------------------------------------------------------------

    def games_answer(self) -> HttpAnswer:
        return HttpAnswer.json({"games": self.hub.summaries()})

    def game_answer(self, game_id: str) -> HttpAnswer:
        snapshot = self.hub.snapshot(game_id)
        if snapshot is None:
            return HttpAnswer.json({"error": f"no game {game_id!r}"}, 404)
        return HttpAnswer.json(snapshot)

    def handle_action(
        self, game_id: str, body: bytes, *, controller: bool, client: str
    ) -> HttpAnswer:
        """``POST api/games/<id>/actions``: an agent-action over HTTP (for notebook code)."""
        if not controller:
            return HttpAnswer(403, CONTROLLER_REQUIRED)
        if not self.action_limiter.allow(client):
            return HttpAnswer(429, "too many requests\n")
        try:
            action = json.loads(body)
        except ValueError as exc:
            return HttpAnswer.json({"ok": False, "error": f"invalid JSON: {exc}"}, 400)
        if not isinstance(action, dict):
            return HttpAnswer.json({"ok": False, "error": "an action must be an object"}, 400)
        try:
            seq = self.hub.act(game_id, action)
        except PayloadError as exc:
            return HttpAnswer.json({"ok": False, "error": str(exc)}, 400)
        return HttpAnswer.json({"ok": True, "seq": seq})

    def events_answer(self, game_id: str) -> HttpAnswer:
        rows = self.hub.event_rows(game_id)
        if rows is None:
            return HttpAnswer.json({"error": f"no game {game_id!r}"}, 404)
        return HttpAnswer.json({"gameId": game_id, "events": rows})

    def health(self) -> HttpAnswer:
        return HttpAnswer.json(
            {"ok": True, "games": len(self.hub.live_ids()), "viewers": len(self._roles)}
        )

    # -- socket.io -----------------------------------------------------------------------

    def _origin_ok(self, origin: str | None, environ: dict[str, Any] | None = None) -> bool:
        """Engine.IO's Origin check: the shared rule (:meth:`.auth.HostRule.origin_ok`), so
        a page on a name that is not this server's (DNS rebinding) cannot open a socket."""
        return self.host_rule.origin_ok(origin, (environ or {}).get("HTTP_HOST"))

    def _default_role(self, environ: dict[str, Any], auth: Any) -> str | None:
        token = auth.get("token") if isinstance(auth, dict) else None
        return self.auth.role_for(token, environ.get("REMOTE_ADDR"))

    def _register(self) -> None:
        sio = self.sio
        sio.on("connect", self._connect)
        sio.on("disconnect", self._disconnect)
        for name, handler in (
            ("join-game", self._join),
            ("leave-game", self._leave),
            ("list-games", self._list),
            ("agent-action", self._action),
            ("game-history", self._history),
            ("game-at", self._game_at),
        ):
            sio.on(name, _always_answers(name, handler))
        sio.on(BAD_PACKET, self._bad_packet)  # what packets.py makes of unreadable bytes
        # Any other name (``connect_error`` and the like included): a clear error ack.
        # python-socketio never routes ``connect``/``disconnect`` here; those two handlers
        # refuse being called as events themselves.
        sio.on("*", self._unknown)
        self._check_socket = guard_engineio(sio.eio, self.limits, self._has_session)

    def _has_session(self, eio_sid: str) -> bool:
        return self.manager.sid_from_eio_sid(eio_sid, "/") is not None

    def _as_event(self, sid: str) -> bool:
        """Was a ``connect``/``disconnect`` handler called for a client's *event*?

        python-socketio calls both for an EVENT packet of that name too, with the client's
        arguments. During a real connect the session is still pending, during a real
        disconnect it is already leaving: only an event finds it connected.
        """
        return self.manager.is_connected(sid, "/")

    async def _bad_packet(self, sid: str, reason: Any = None, *rest: Any) -> dict[str, Any]:
        """A packet python-socketio could not have read (packets.py): one log line, and
        the client's call, if it was one, gets a clear error instead of no answer."""
        log.info("refused an unreadable socket.io packet: %s", reason)
        return _error(f"refused: {reason[:300]}" if isinstance(reason, str) else "refused")

    async def _unknown(self, *args: Any) -> dict[str, Any]:
        """Any other event: python-socketio calls this catch-all with ``(event, sid, *data)``,
        but for an event literally named ``*`` with ``(sid, *data)``."""
        if not args or self.manager.is_connected(args[0], "/"):
            return _error("unknown event '*'")
        event = args[0] if isinstance(args[0], str) else repr(args[0])
        if event in RESERVED_EVENTS:
            self.limits.refused["reserved"] += 1
            return reserved_refusal(event)
        return _error(f"unknown event {event[:100]!r}")

    async def _connect(
        self, sid: str, environ: Any = None, auth: Any = None, *extra: Any
    ) -> dict[str, Any] | None:
        if self._as_event(sid):  # a client's event named "connect": its "environ" is its own
            self.limits.refused["reserved"] += 1
            return reserved_refusal("connect")
        role = self.role_check(environ, auth)
        if role is None:
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")
        self._roles[sid] = role
        user = environ.get(USER_KEY) if isinstance(environ, dict) else None
        if isinstance(user, str) and user:
            self._users[sid] = user[:80]
        self.limits.start(sid)
        return None

    async def _disconnect(self, sid: str, *args: Any) -> dict[str, Any] | None:
        if self._as_event(sid):  # a client's event named "disconnect": it stays connected
            self.limits.refused["reserved"] += 1
            return reserved_refusal("disconnect")
        self._roles.pop(sid, None)
        self._users.pop(sid, None)
        self.limits.end(sid)
        for limiter in (self.action_limiter, self.read_limiter):
            limiter.forget(sid)
        eio_sid = self.manager.eio_sid_from_sid(sid, "/")
        if eio_sid is not None:  # its websocket may stay open: it gets the grace period again
            self.limits.watch(eio_sid, self._check_socket)
        return None

    async def _join(self, sid: str, data: Any = None) -> Any:
        game_id = _game_id(data)
        if game_id is None:
            return _error("join-game needs {gameId: string, since?: integer}")
        since = data.get("since")
        if since is not None and (not isinstance(since, int) or isinstance(since, bool)):
            return _error("'since' must be an integer")
        refusal = self.limits.join(sid, game_id)
        if refusal is not None:
            return _error(refusal)
        # No await between entering the room and taking the state: no update can slip between.
        await self.sio.enter_room(sid, room(game_id))
        self.broadcaster.flush(game_id)
        try:
            game = self.hub.game(game_id)
            if game is not None and since is not None and since > game.seq:
                self.hub.sync(game_id)  # a viewer from another process may be ahead of us
        except StoreError as exc:  # the log is away (Redis restarting): no answer, so the
            # client asks again (the page after 2 s, GameMirror after its join timeout)
            await self.sio.leave_room(sid, room(game_id))
            self.limits.left(sid, game_id)
            log.warning("a join of game %r waits for the event store: %s", game_id, exc)
            return self.sio.not_handled
        fresh = game is None or game.seq == 0
        # a replay another server plays: shown here, its clock still there (follow.py)
        if fresh and self._follower is not None and self._follower.mirror(game_id):
            game, fresh = self.hub.game(game_id), False
        if fresh and (elsewhere := self._replay_elsewhere(game_id)):
            await self.sio.leave_room(sid, room(game_id))
            self.limits.left(sid, game_id)
            return _error(elsewhere)
        if game is None:
            return {
                "ok": True,
                "gameId": game_id,
                "seq": 0,
                "snapshot": Game(game_id).snapshot(),
                "replay": None,
                "role": self._roles.get(sid),
            }
        clock = self.hub.replays.get(game_id)
        replay = clock.status() if clock is not None else None
        if since is not None:
            deltas = self.hub.deltas_since(game_id, since)
            if deltas is not None:
                return {
                    "ok": True,
                    "gameId": game_id,
                    "seq": game.seq,
                    "from": since + 1,
                    "deltas": deltas,
                    "replay": replay,
                    "role": self._roles.get(sid),
                }
        return {
            "ok": True,
            "gameId": game_id,
            "seq": game.seq,
            "snapshot": game.snapshot(),
            "replay": replay,
            "role": self._roles.get(sid),
        }

    async def _leave(self, sid: str, data: Any = None) -> dict[str, Any]:
        game_id = _game_id(data)
        if game_id is None:
            return _error("leave-game needs {gameId: string}")
        await self.sio.leave_room(sid, room(game_id))
        self.limits.left(sid, game_id)
        return {"ok": True}

    async def _list(self, sid: str, data: Any = None) -> dict[str, Any]:
        await self.sio.enter_room(sid, LOBBY)
        return {"ok": True, "games": self.hub.summaries(), "role": self._roles.get(sid)}

    async def _action(self, sid: str, data: Any = None) -> dict[str, Any]:
        role = self._roles.get(sid)
        if role != "controller":
            return _error("agent-action needs the controller role (connect with the ingest token)")
        if isinstance(data, dict) and data.get("type") == "permission" and not data.get("by"):
            data = {**data, "by": self._users.get(sid, role)}
        if not self.action_limiter.allow(sid):
            return _error("rate limited: too many actions")
        game_id = _game_id(data)
        if game_id is None:
            return _error("agent-action needs {gameId: string, type: string, ...}")
        try:
            seq = self.hub.act(game_id, data)
        except PayloadError as exc:
            return _error(str(exc))
        return {"ok": True, "seq": seq}

    async def _history(self, sid: str, data: Any = None) -> dict[str, Any]:
        """``game-history``: any viewer; reads the history cache, changes no game."""
        game_id = _game_id(data)
        if game_id is None:
            return _error("game-history needs {gameId: string}")
        if not self.read_limiter.allow(sid):
            return _error("rate limited: too many history reads")
        # off the loop: building a long game's history the first time takes a while
        history = await asyncio.to_thread(self.hub.history, game_id)
        if history is None:
            return _error(f"no game {game_id!r}")
        return {"ok": True, "gameId": game_id, **history.summary()}

    async def _game_at(self, sid: str, data: Any = None) -> dict[str, Any]:
        """``game-at``: the state after an event and the deltas that follow, for a viewer's
        own playhead; reads the history cache, changes no game and reaches no other viewer."""
        game_id = _game_id(data)
        if game_id is None:
            return _error("game-at needs {gameId: string, seq: integer, count?: integer >= 0}")
        if not self.read_limiter.allow(sid):
            return _error("rate limited: too many history reads")
        # off the loop: building a long game's history the first time takes a while
        history = await asyncio.to_thread(self.hub.history, game_id)
        if history is None:
            return _error(f"no game {game_id!r}")
        try:
            return history.at_ack(
                game_id, data.get("seq"), data.get("count", 0), budget=MAX_PAYLOAD_BYTES
            )
        except PayloadError as exc:
            return _error(str(exc))

    # -- broadcast -----------------------------------------------------------------------

    def _on_applied(self, game_id: str, applied: Applied) -> None:
        self._lobby_dirty = True
        if self._follower is not None and game_id in self.hub.replays:
            self._follower.replay_moved(game_id)
        try:
            self.broadcaster.push(game_id, applied)
        except RuntimeError:  # no running loop (a hub used outside the server): nothing to send
            pass

    def _on_replay_status(self, game_id: str, status: dict[str, Any]) -> None:
        self._lobby_dirty = True
        if self._follower is not None:
            self._follower.replay_moved(game_id)
        self.broadcaster.flush(game_id)
        self._emit_room(
            "visualization-event",
            {"gameId": game_id, "kind": "replay", "seq": status["position"], **status},
            game_id,
        )

    def _emit_room(self, event: str, data: Any, game_id: str) -> None:
        self.manager.fanout(event, data, "/", room(game_id))

    def _push_lobby(self) -> None:
        # Nobody in the lobby room: stay dirty and skip the rows (on a shared log they
        # change whenever any process appends; list-games reads them fresh anyway).
        if self._lobby_dirty and self.manager.rooms.get("/", {}).get(LOBBY):
            self._lobby_dirty = False
            self.manager.fanout("games", {"games": self.hub.summaries()}, "/", LOBBY)

    def _evict(self) -> None:
        rooms = self.manager.rooms.get("/", {})
        for game_id in self.hub.evict_idle(lambda gid: bool(rooms.get(room(gid)))):
            self.broadcaster.forget(game_id)


async def _cancel_pings(eio: Any) -> None:
    """Engine.IO leaves each socket's next ping asleep (up to ``ping_interval``) after the
    socket closed. Cancel ours, so a stopping host leaves no pending task behind."""
    pings = []
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        frame = getattr(coro, "cr_frame", None)
        owner = frame.f_locals.get("self") if frame is not None else None
        if getattr(coro, "__qualname__", "") == "AsyncSocket._send_ping" and (
            getattr(owner, "server", None) is eio
        ):
            task.cancel()
            pings.append(task)
    await asyncio.gather(*pings, return_exceptions=True)


def _game_id(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    game_id = data.get("gameId")
    if isinstance(game_id, str) and 0 < len(game_id) <= 200:
        return game_id
    return None


def _error(message: str) -> dict[str, Any]:
    return {"ok": False, "error": message}


def _always_answers(name: str, handler: Callable[..., Awaitable[dict[str, Any]]]):
    """``handler``, answering every message: a bug it meets (an input nobody foresaw) is
    logged once with its traceback and acked as an error, instead of leaving the client
    waiting for an ack that never comes (python-socketio only logs it)."""

    async def answer(sid: str, *data: Any) -> dict[str, Any]:
        if len(data) > 1:
            return _error(f"{name} takes one argument (an object), not {len(data)}")
        try:
            return await handler(sid, *data)
        except Exception as exc:  # noqa: BLE001 - said in the log, with its traceback
            log.exception("%s failed on a message it should have refused or answered", name)
            return _error(f"{name} failed inside the server ({type(exc).__name__}); it is logged")

    return answer


def _hook_time(ts: float | None, now: float) -> float:
    """The hook's own clock when plausible (spooled or slow deliveries keep their time)."""
    if ts is not None and abs(ts - now) < 86_400:
        return ts
    return now


def _environment_fault(exc: BaseException) -> bool:
    """Is this the disk or the store failing (retry the same line later), not the line?"""
    if isinstance(exc, (OSError, MemoryError)):
        return True
    if isinstance(exc, StoreError):
        import sqlite3

        cause = exc.__cause__
        return cause is None or isinstance(cause, sqlite3.OperationalError)
    return False


def _describe(exc: BaseException) -> str:
    """One line for the dead-letter file (a RecursionError's message is short; others are
    cut so a payload quoted in an error cannot bloat it)."""
    text = str(exc).replace("\n", " ")
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _reconnect_after_ms() -> int:
    """One viewer's reconnect delay in a drain: anywhere in the spread, so they arrive apart."""
    import random

    return int(random.uniform(0.0, RECONNECT_SPREAD) * 1000)


def _when(ts: float | None) -> str:
    import time

    return "?" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
