"""Per-connection limits of the socket.io server, the same on every host.

A viewer needs no token on a loopback server, so anything a viewer can do, any local
process or page can do as often as it likes. Without limits one client could open rooms
without end (20,000 in 6 s), hold websockets that never open a socket.io session, or open
connections until the server runs out of memory or descriptors. What is limited, with the
numbers in :mod:`ccviz_kernel.config` (``HEADER_TIMEOUT`` and ``BODY_TIMEOUT`` are the
HTTP side, applied by each host):

* connections per client address (Engine.IO level, before any socket.io work): more
  from loopback, where local processes, a reverse proxy and the benchmarks share one address;
* a websocket without a socket.io session is closed after ``CONNECT_GRACE`` seconds;
* game rooms per connection and ``join-game`` calls per second per connection;
* socket.io's reserved event names sent as events (:data:`RESERVED_EVENTS`).

Engine.IO hooks used (:func:`guard_engineio`): ``AsyncServer.handlers`` (the handlers
python-socketio registers with ``on``), ``on()``, ``sockets`` and ``disconnect()``; a
``connect`` handler's return value other than ``None``/``True`` refuses the connection; a
socket's ``queue``, where ``None`` ends its writer (which closes the websocket); and
``start_background_task``, through which a socket starts its next ping as
``socket._send_ping`` (the ping of a closed socket is cancelled).
tests/server/test_limits.py checks them against the installed python-engineio.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import (
    CONNECT_GRACE,
    JOIN_BURST,
    JOIN_RATE,
    MAX_CONNECTIONS_PER_ADDRESS,
    MAX_CONNECTIONS_PER_LOOPBACK,
    MAX_ROOMS_PER_CONNECTION,
)
from .auth import is_loopback

#: Event names socket.io keeps for itself (the JS client's and server's list). Sent by a
#: client as an ordinary event, python-socketio would call the ``connect`` or
#: ``disconnect`` handler with whatever arguments the client chose.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)


def reserved_refusal(event: str) -> dict[str, Any]:
    """The ack to a client that sent a reserved event name as an event."""
    return {
        "ok": False,
        "error": f"{event!r} is a reserved socket.io event; clients may not send it",
    }


def client_address(environ: dict[str, Any]) -> str:
    """The peer address of a connection, from the environ a host's driver builds.

    Not ``REMOTE_ADDR``: Engine.IO's aiohttp driver always writes ``127.0.0.1`` there, and
    under Jupyter it is the proxy's; the request object each driver puts in the environ
    knows the real peer.
    """
    request = environ.get("aiohttp.request")
    if request is not None:
        return getattr(request, "remote", None) or "?"
    handler = environ.get("tornado.handler")
    if handler is not None:
        return getattr(getattr(handler, "request", None), "remote_ip", None) or "?"
    return environ.get("REMOTE_ADDR") or "?"


@dataclass(frozen=True)
class Limits:
    """The numbers (defaults from :mod:`ccviz_kernel.config`; tests pass small ones)."""

    rooms_per_connection: int = MAX_ROOMS_PER_CONNECTION
    join_rate: float = JOIN_RATE
    join_burst: float = JOIN_BURST
    per_address: int = MAX_CONNECTIONS_PER_ADDRESS
    per_loopback: int = MAX_CONNECTIONS_PER_LOOPBACK
    connect_grace: float = CONNECT_GRACE


@dataclass
class _Socket:
    """One open Engine.IO connection."""

    address: str
    timer: asyncio.TimerHandle | None = None


@dataclass
class _Session:
    """One socket.io session: its game rooms and its join bucket."""

    tokens: float
    last: float
    rooms: set[str] = field(default_factory=set)


class ConnectionLimits:
    """What each connection holds, and the decisions: one instance per :class:`GameServer`.

    Everything kept per connection is dropped when it ends, so nothing grows with churn.
    """

    def __init__(self, limits: Limits | None = None, clock: Callable[[], float] = time.monotonic):
        self.limits = limits or Limits()
        #: The join buckets' clock (tests freeze it).
        self.clock = clock
        self._sockets: dict[str, _Socket] = {}
        self._per_address: dict[str, int] = {}
        self._sessions: dict[str, _Session] = {}
        #: Counts of refusals, for the health answer and the benchmarks.
        self.refused = {"connections": 0, "joins": 0, "rooms": 0, "reserved": 0}

    # -- Engine.IO connections ---------------------------------------------------------

    def open(self, eio_sid: str, address: str) -> str | None:
        """Count a new connection from ``address``; a refusal message when over the cap."""
        cap = self.limits.per_loopback if is_loopback(address) else self.limits.per_address
        count = self._per_address.get(address, 0)
        if count >= cap:
            self.refused["connections"] += 1
            return f"too many connections from this address (limit {cap})"
        self._per_address[address] = count + 1
        self._sockets[eio_sid] = _Socket(address)
        return None

    def close(self, eio_sid: str) -> None:
        """The connection ended: forget it (idempotent)."""
        sock = self._sockets.pop(eio_sid, None)
        if sock is None:
            return
        if sock.timer is not None:
            sock.timer.cancel()
        left = self._per_address.get(sock.address, 0) - 1
        if left > 0:
            self._per_address[sock.address] = left
        else:
            self._per_address.pop(sock.address, None)

    def watch(self, eio_sid: str, check: Callable[[str], None]) -> None:
        """Call ``check(eio_sid)`` after the grace period (a websocket must have a socket.io
        session by then)."""
        sock = self._sockets.get(eio_sid)
        if sock is None:
            return
        if sock.timer is not None:
            sock.timer.cancel()
        loop = asyncio.get_running_loop()
        sock.timer = loop.call_later(self.limits.connect_grace, check, eio_sid)

    def tracked(self, eio_sid: str) -> bool:
        return eio_sid in self._sockets

    def connections(self, address: str | None = None) -> int:
        """Open connections, from ``address`` or from everyone."""
        if address is None:
            return len(self._sockets)
        return self._per_address.get(address, 0)

    # -- socket.io sessions ------------------------------------------------------------

    def start(self, sid: str) -> None:
        self._sessions[sid] = _Session(self.limits.join_burst, self.clock())

    def end(self, sid: str) -> None:
        self._sessions.pop(sid, None)

    def join(self, sid: str, room: str) -> str | None:
        """May ``sid`` join ``room`` now? ``None`` (and the room is counted) or why not."""
        session = self._sessions.get(sid)
        if session is None:  # not a session this server started: refuse rather than track
            return "not connected"
        now = self.clock()
        tokens = min(
            self.limits.join_burst, session.tokens + (now - session.last) * self.limits.join_rate
        )
        session.last = now
        if tokens < 1.0:
            session.tokens = tokens
            self.refused["joins"] += 1
            return (
                f"rate limited: too many joins (at most {self.limits.join_rate:g} per second,"
                f" bursts of {self.limits.join_burst:g})"
            )
        if room not in session.rooms and len(session.rooms) >= self.limits.rooms_per_connection:
            session.tokens = tokens
            self.refused["rooms"] += 1
            return (
                f"too many games on one connection (limit {self.limits.rooms_per_connection});"
                " leave one first"
            )
        session.tokens = tokens - 1.0
        session.rooms.add(room)
        return None

    def left(self, sid: str, room: str) -> None:
        session = self._sessions.get(sid)
        if session is not None:
            session.rooms.discard(room)

    def rooms(self, sid: str) -> set[str]:
        session = self._sessions.get(sid)
        return set(session.rooms) if session is not None else set()


def guard_engineio(
    eio: Any, limits: ConnectionLimits, has_session: Callable[[str], bool]
) -> Callable[[str], None]:
    """Put ``limits`` in front of python-socketio's Engine.IO handlers on server ``eio``.

    A connection over its address's cap is refused before python-socketio sees it (Engine.IO
    answers 401 with the reason); every accepted one is closed after the grace period
    unless ``has_session(eio_sid)`` says it opened a socket.io session by then. Returns
    that check, for a socket.io session that ends while its socket stays open
    (:meth:`ConnectionLimits.watch` it again).
    """
    inner_connect = eio.handlers["connect"]
    inner_disconnect = eio.handlers["disconnect"]
    inner_start = eio.start_background_task
    #: Each open socket's next ping: Engine.IO starts it as a task that sleeps
    #: ``ping_interval`` (25 s) and keeps no handle, so after a disconnect it holds the
    #: closed socket (its queue, its environ, its websocket) until it wakes. 20,000
    #: connections in two minutes left ~4,000 dead sockets alive at any time (issue 11).
    pings: dict[str, asyncio.Task[Any]] = {}

    def start_background_task(target: Any, *args: Any, **kwargs: Any) -> Any:
        task = inner_start(target, *args, **kwargs)
        sock = getattr(target, "__self__", None)
        sid = getattr(sock, "sid", None)
        if getattr(target, "__name__", None) == "_send_ping" and isinstance(sid, str):
            pings[sid] = task
            task.add_done_callback(lambda done, sid=sid: _forget(pings, sid, done))
        return task

    def check(eio_sid: str) -> None:
        if not limits.tracked(eio_sid):
            return
        if eio_sid not in eio.sockets:  # gone without a disconnect event: forget it
            limits.close(eio_sid)
            return
        if not has_session(eio_sid):
            asyncio.ensure_future(_disconnect(eio, eio_sid))

    async def on_connect(eio_sid: str, environ: dict[str, Any], *args: Any) -> Any:
        refusal = limits.open(eio_sid, client_address(environ))
        if refusal is not None:
            return refusal  # Engine.IO: 401 {"message": refusal}, no socket kept
        try:
            result = await inner_connect(eio_sid, environ, *args)
        except BaseException:
            limits.close(eio_sid)
            raise
        if result is not None and result is not True:
            limits.close(eio_sid)
        else:
            limits.watch(eio_sid, check)
        return result

    async def on_disconnect(eio_sid: str, *args: Any) -> Any:
        limits.close(eio_sid)
        ping = pings.pop(eio_sid, None)
        if ping is not None and ping is not asyncio.current_task():
            ping.cancel()  # asleep: it would only find the socket closed
        return await inner_disconnect(eio_sid, *args)

    eio.on("connect", on_connect)
    eio.on("disconnect", on_disconnect)
    eio.start_background_task = start_background_task
    return check


def _forget(pings: dict[str, Any], sid: str, task: Any) -> None:
    if pings.get(sid) is task:
        del pings[sid]


async def _disconnect(eio: Any, eio_sid: str) -> None:
    """Close an Engine.IO connection for good, whether or not the client plays along.

    ``eio.disconnect`` only sends Engine.IO's CLOSE packet: the websocket stays open until
    the client closes it, or for ``ping_interval + ping_timeout`` (85 s) when it does not.
    A ``None`` on the socket's queue then ends Engine.IO's writer, which closes the
    websocket itself (the host driver's ``close``), on every host alike.
    """
    sock = eio.sockets.get(eio_sid)
    with contextlib.suppress(Exception):  # it may have gone meanwhile
        await eio.disconnect(eio_sid)
    queue = getattr(sock, "queue", None)
    if queue is not None:
        queue.put_nowait(None)
