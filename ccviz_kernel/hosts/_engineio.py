"""Engine.IO's websocket transport with less kept per idle connection (issue 14).

Stock python-engineio keeps, for each open websocket, an ``asyncio.Queue`` (three deques and
an ``Event``, ~3 KB), a writer task asleep on that queue, a reader task per message behind
``asyncio.wait_for``, and a ping task asleep for ``ping_interval``: six or seven tasks,
coroutines, futures and timer handles per idle viewer. Here, for the hosts' websockets:

* :class:`LeanQueue` is the socket's queue (``AsyncServer.create_queue``, a public hook):
  a list, a count of what is on its way, and a future only while someone waits. Attached to
  a connection, it writes what is put on it from a task that runs only while there is
  something to write (the writer of :func:`serve`), so an idle connection has no writer.
* :class:`Pinger`: one timer per Engine.IO server for every socket's next ping, instead of a
  sleeping task each. It takes over ``AsyncSocket.schedule_ping``'s
  ``start_background_task(self._send_ping)`` (``start_background_task`` is public) and does
  what ``_send_ping`` does ``ping_interval`` later: stamps ``last_ping`` and queues a PING.
* :func:`serve` is what ``AsyncSocket._websocket_handler`` does for a new websocket
  connection, with the reader in the host's own request task: one
  ``asyncio.timeout(ping_interval + ping_timeout)`` per wait (a viewer that stops answering
  pings is dropped then, as by Engine.IO's ``wait_for``), the writer only while packets wait.
  A polling socket upgrading to websocket (never here: the hosts serve websocket only) and a
  socket whose queue is not a :class:`LeanQueue` take Engine.IO's own handler.
* :class:`PushedTransport`: the same, driven by the host's callbacks (tornado's
  ``on_message``/``on_close``), so that not even a reader waits under an idle connection:
  the :class:`Pinger` drops a viewer ``ping_timeout`` after a ping it did not answer, and
  one the server closed that keeps its websocket open is closed ``ping_interval +
  ping_timeout`` after the CLOSE packet, when Engine.IO's reader would have timed out.
* :func:`slim_environ`: once the websocket is open, the environ (python-socketio keeps it
  for the connection's lifetime) keeps only what a socket.io ``CONNECT`` or
  ``get_environ`` caller may still ask (peer, Host, Origin, path, query, the request
  object); cookies, the Authorization header, ``wsgi.input`` go.

Order holds: packets leave in the order they were put; the queue's count
(``_unfinished_tasks``, read by the fan-out, server/fanout.py) drops only once a packet is
written, so the fan-out writes directly only when nothing queued is still on its way.

python-engineio members this relies on besides its public API (pinned in pyproject.toml,
``python-engineio>=4.8,<4.16``; tests/server/test_memory_members.py checks each by name):

* ``AsyncSocket._websocket_handler`` (the handler a host's websocket class is given; the
  fallback) and ``AsyncSocket._send_ping`` (recognised in ``start_background_task``);
* ``AsyncSocket`` attributes ``sid``, ``server``, ``queue``, ``connected``, ``upgraded``,
  ``closing``, ``closed``, ``last_ping`` and methods ``receive()``, ``close()``, ``send()``,
  ``schedule_ping()``;
* ``AsyncServer.sockets``, ``ping_interval``, ``ping_timeout``, ``max_http_buffer_size``,
  ``reason.TRANSPORT_CLOSE``, ``create_queue()`` and ``start_background_task()``;
* ``engineio.exceptions.UnknownPacketError`` and ``SocketIsClosedError``;
* ``AsyncServer._async["translate_request"]`` (hosts/_tornado.py replaces it), besides
  ``_async["websocket"]`` (server/fanout.py).

python-socketio: the environ its ``AsyncServer`` keeps per connection (``environ``, for
``get_environ`` and each namespace's ``connect``) is the very dict Engine.IO hands the host's
websocket, which :func:`slim_environ` trims in place (python-socketio>=5.11,<5.19).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
import weakref
from collections import deque
from typing import Any

from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet

log = logging.getLogger(__name__)

#: What :func:`slim_environ` keeps of an environ once the websocket is open.
KEPT_ENVIRON = frozenset(
    {
        "REQUEST_METHOD",
        "QUERY_STRING",
        "RAW_URI",
        "PATH_INFO",
        "SCRIPT_NAME",
        "SERVER_PROTOCOL",
        "REMOTE_ADDR",
        "REMOTE_PORT",
        "HTTP_HOST",
        "HTTP_ORIGIN",
        "HTTP_USER_AGENT",
        "HTTP_X_FORWARDED_FOR",
        "HTTP_X_FORWARDED_PROTO",
        "HTTP_X_REAL_IP",
        "wsgi.url_scheme",
        "aiohttp.request",
        "tornado.handler",
    }
)


def slim_environ(environ: dict[str, Any]) -> None:
    """Keep, in place (python-socketio holds this very dict), only :data:`KEPT_ENVIRON`
    (its keys interned: the driver makes each ``HTTP_*`` name anew for every request)."""
    kept = {sys.intern(k): v for k, v in environ.items() if k in KEPT_ENVIRON}
    environ.clear()  # frees the table: the update below makes a right-sized one
    environ.update(kept)


class LeanQueue:
    """What Engine.IO and the fan-out ask of a socket's queue (``put``/``put_nowait``,
    ``get``/``get_nowait``, ``task_done``, ``join``, ``qsize``, ``empty`` and the count
    ``_unfinished_tasks``), without ``asyncio.Queue``'s deques and ``Event``.

    Once :meth:`attach`\\ ed to a connection, what is put on it is written to the
    connection, in order, by a task that runs only while there is something to write; a
    ``None`` ends the connection's writing and closes it (as it ends Engine.IO's writer).
    """

    __slots__ = ("_items", "_unfinished_tasks", "_getters", "_joiners", "_ws", "_writer", "_ended")

    def __init__(self, maxsize: int = 0) -> None:
        self._items: list[Any] = []
        self._unfinished_tasks = 0
        self._getters: list[asyncio.Future[None]] | None = None
        self._joiners: list[asyncio.Future[None]] | None = None
        self._ws: Any = None
        self._writer: asyncio.Task[None] | None = None
        self._ended = False

    # -- asyncio.Queue's interface ------------------------------------------------------

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return False

    def put_nowait(self, item: Any) -> None:
        if self._ended:
            return  # the connection is gone: nobody will write it (and join() must not wait)
        self._items.append(item)
        self._unfinished_tasks += 1
        if self._ws is not None:
            if self._writer is None:
                self._writer = asyncio.ensure_future(self._write())
        elif self._getters:
            getter = self._getters.pop(0)
            if not getter.done():
                getter.set_result(None)

    async def put(self, item: Any) -> None:
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.pop(0)

    async def get(self) -> Any:
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
            try:
                await getter
            finally:
                if getter in self._getters:
                    self._getters.remove(getter)
        return self._items.pop(0)

    def task_done(self) -> None:
        if self._unfinished_tasks <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished_tasks -= 1
        if self._unfinished_tasks == 0:
            self._wake_joiners()

    async def join(self) -> None:
        if self._unfinished_tasks:
            joiner = asyncio.get_running_loop().create_future()
            if self._joiners is None:
                self._joiners = []
            self._joiners.append(joiner)
            await joiner

    def _wake_joiners(self) -> None:
        joiners, self._joiners = self._joiners, None
        for joiner in joiners or ():
            if not joiner.done():
                joiner.set_result(None)

    # -- the connection's writer ---------------------------------------------------------

    def attach(self, ws: Any) -> None:
        """Write everything put on this queue to ``ws`` (what is already queued first)."""
        self._ws = ws
        if self._items and self._writer is None:
            self._writer = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        ws = self._ws
        try:
            while self._items:
                pkt = self._items[0]
                if pkt is None:
                    break
                try:
                    await ws.send(pkt.encode())
                except Exception:  # noqa: BLE001 -- Engine.IO's writer: any error ends it
                    break
                self._items.pop(0)
                self._unfinished_tasks -= 1
                if pkt.packet_type == eio_packet.CLOSE and isinstance(ws, PushedTransport):
                    ws.close_sent()
            else:
                return  # all written: the next put starts a new writer
            # a None, or the connection failed: no more writing, and close it
            self._end()
            with contextlib.suppress(Exception):
                await ws.close()
        finally:
            self._writer = None
            if self._unfinished_tasks == 0:
                self._wake_joiners()

    def _end(self) -> None:
        self._ended = True
        self._ws = None
        self._items.clear()
        self._unfinished_tasks = 0
        self._wake_joiners()

    async def finish(self) -> None:
        """The connection ended: write what is queued, then close it (Engine.IO's writer on
        the ``None`` its reader puts at the end)."""
        if self._ended:
            writer = self._writer
        else:
            self.put_nowait(None)
            writer = self._writer
        if writer is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(writer)


class Pinger:
    """The next ping of every socket of one Engine.IO server, on one timer.

    A socket's ping is due ``ping_interval`` after Engine.IO schedules it (the handshake,
    then each PONG); the interval is constant, so due times come in the order they were
    scheduled and a FIFO of ``(due, sid)`` holds them.
    """

    def __init__(self, eio: Any) -> None:
        self.eio = eio
        self._due: deque[tuple[float, str]] = deque()
        #: ``(due, transport, last_ping)`` of each ping sent on a :class:`PushedTransport`
        #: (a weak reference: a closed one is not kept): if it has not answered by then, it
        #: times out. The others time out in their reader.
        self._deadlines: deque[tuple[float, weakref.ref[PushedTransport], float]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def schedule(self, sock: Any) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.eio.ping_interval
        self._due.append((due, sock.sid))
        timer = self._timer
        if timer is None or self._loop is not loop or timer.when() > due:
            if timer is not None:
                timer.cancel()
            self._loop = loop
            self._arm(loop)

    def _fire(self) -> None:
        self._timer = None
        loop = self._loop
        assert loop is not None
        now = loop.time()
        due, sockets = self._due, self.eio.sockets
        timeout, deadlines = self.eio.ping_timeout, self._deadlines
        while due and due[0][0] <= now:
            _, sid = due.popleft()
            sock = sockets.get(sid)
            if sock is not None and _ping(sock):
                transport = getattr(sock.queue, "_ws", None)
                if isinstance(transport, PushedTransport):
                    deadlines.append((now + timeout, weakref.ref(transport), sock.last_ping))
        while deadlines and deadlines[0][0] <= now:
            _, ref, stamp = deadlines.popleft()
            transport = ref()
            if transport is not None and transport.unanswered(stamp):
                transport.timed_out()
        self._arm(loop)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        heads = [q[0][0] for q in (self._due, self._deadlines) if q]
        if heads:
            self._timer = loop.call_at(min(heads), self._fire)

    def close(self) -> None:
        """Forget every scheduled ping (the server is stopping)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due.clear()
        self._deadlines.clear()

    def __len__(self) -> int:
        return len(self._due)


def _ping(sock: Any) -> bool:
    """``AsyncSocket._send_ping`` once its sleep is over; ``False`` if the socket closed."""
    if sock.closing or sock.closed:
        return False
    sock.last_ping = time.time()
    pkt = eio_packet.Packet(eio_packet.PING)
    queue = sock.queue
    if isinstance(queue, LeanQueue):
        queue.put_nowait(pkt)  # what sock.send() does once its check has passed
    else:
        asyncio.ensure_future(sock.send(pkt))
    return True


def use_lean_engineio(eio: Any) -> Pinger:
    """Give Engine.IO server ``eio`` :class:`LeanQueue`\\ s and a :class:`Pinger`."""
    pinger = Pinger(eio)
    inner_start = eio.start_background_task

    def start_background_task(target: Any, *args: Any, **kwargs: Any) -> Any:
        sock = getattr(target, "__self__", None)
        if (
            getattr(target, "__name__", None) == "_send_ping"
            and getattr(sock, "server", None) is eio
            and not args
            and not kwargs
        ):
            pinger.schedule(sock)
            return None
        return inner_start(target, *args, **kwargs)

    eio.start_background_task = start_background_task
    eio.create_queue = LeanQueue
    eio.ccviz_pinger = pinger
    return pinger


def stop_pinger(eio: Any) -> None:
    """Cancel the :class:`Pinger` of ``eio``, if :func:`use_lean_engineio` gave it one."""
    pinger = getattr(eio, "ccviz_pinger", None)
    if isinstance(pinger, Pinger):
        pinger.close()


#: ``asyncio.timeout`` (Python 3.11+); on 3.10 a task per wait, as Engine.IO itself does.
_timeout = getattr(asyncio, "timeout", None)


class PushedTransport:
    """Engine.IO's websocket transport driven by the host's callbacks (tornado calls
    ``on_message`` and ``on_close``): while the connection is idle nothing waits, not even
    a reader. A host websocket class mixes this in, calls :meth:`start` from its
    ``__call__`` (which then returns at once), :meth:`feed` with each message and ``None``
    at close, and is told :meth:`ended`. What ``AsyncSocket._websocket_handler``'s reader
    does happens in a task that runs only while messages wait; a viewer that stops
    answering pings is dropped ``ping_timeout`` after the unanswered ping, by the
    :class:`Pinger` (:meth:`timed_out`), when Engine.IO's reader would time out.
    """

    _sock: Any = None
    _inbox: list[Any] | None = None
    _reading: asyncio.Task[None] | None = None
    _done = False

    def start(self, handler: Any) -> bool:
        """Take over the socket whose ``_websocket_handler`` is ``handler``; ``False``
        when Engine.IO's own handler must run instead (see :func:`serve`)."""
        sock = handler.__self__
        queue = sock.queue
        if sock.connected or not isinstance(queue, LeanQueue):
            return False
        self._sock = sock
        sock.connected = True
        sock.upgraded = True
        queue.attach(self)  # the OPEN packet (queued at the handshake) goes first
        return True

    def feed(self, data: Any) -> None:
        """A message from the peer, or ``None``: the connection closed."""
        if self._done:
            return
        if self._inbox is None:
            self._inbox = [data]
        else:
            self._inbox.append(data)
        if self._reading is None:
            self._reading = asyncio.ensure_future(self._read())

    def timed_out(self) -> None:
        """No answer to a ping within ``ping_timeout``: as Engine.IO's reader timing out."""
        if not self._done:
            self._inbox = None
            self.feed(None)

    def unanswered(self, stamp: float) -> bool:
        """Still open, and no PONG since the ping sent at ``stamp`` (``last_ping``)?"""
        sock = self._sock
        return not self._done and sock is not None and sock.last_ping == stamp

    def close_sent(self) -> None:
        """Engine.IO's CLOSE packet went out (the server closed the socket): the peer
        should close the websocket now. If it does not, it is closed when Engine.IO's
        reader would have timed out, ``ping_interval + ping_timeout`` later."""
        server = self._sock.server
        asyncio.get_running_loop().call_later(
            server.ping_interval + server.ping_timeout, self.timed_out
        )

    async def _read(self) -> None:
        sock = self._sock
        limit = sock.server.max_http_buffer_size
        try:
            while self._inbox:
                if not await _take(sock.receive, self._inbox.pop(0), limit):
                    break
            else:
                return  # all handled: the next message starts a new reader
            await self._end()
        finally:
            self._reading = None

    async def _end(self) -> None:
        self._done = True
        self._inbox = None
        sock = self._sock
        try:
            await sock.queue.finish()  # what is queued goes out, then the websocket closes
            await sock.close(wait=False, abort=True, reason=sock.server.reason.TRANSPORT_CLOSE)
        finally:
            if sock.closed and sock.server.sockets.get(sock.sid) is sock:
                del sock.server.sockets[sock.sid]  # as Engine.IO's handshake does at the end
            self.ended()

    def ended(self) -> None:
        """The connection is over (the host detaches it)."""


async def _take(receive: Any, data: Any, limit: int) -> bool:
    """One websocket message into Engine.IO's socket (``receive``), as its own handler takes
    it; ``False`` when the connection must end: closed (``None``), over ``limit``, an
    unreadable packet, or a socket already closed."""
    if data is None or (data and len(data) > limit):
        return False
    try:
        pkt = eio_packet.Packet(encoded_packet=data)
    except Exception:  # noqa: BLE001 -- Engine.IO's handler ends on an unreadable packet
        return False
    try:
        await receive(pkt)
    except eio_exceptions.UnknownPacketError:
        pass
    except eio_exceptions.SocketIsClosedError:
        return False
    except Exception:  # noqa: BLE001 -- as Engine.IO: log and keep the connection
        log.exception("engine.io: unknown receive error")
    return True


async def serve(ws: Any, handler: Any) -> None:
    """Run Engine.IO's websocket transport on host websocket ``ws`` for the socket whose
    ``_websocket_handler`` is ``handler`` (what ``handler(ws)`` does, lighter)."""
    sock = handler.__self__
    queue = sock.queue
    if sock.connected or not isinstance(queue, LeanQueue):
        await handler(ws)  # an upgrade from polling, or a queue of Engine.IO's: its own way
        return
    server = sock.server
    sock.connected = True
    sock.upgraded = True
    queue.attach(ws)  # the OPEN packet (queued at the handshake) goes first
    limit = server.max_http_buffer_size
    timeout = server.ping_interval + server.ping_timeout
    receive = sock.receive
    try:
        while True:
            try:
                if _timeout is None:  # pragma: no cover -- Python 3.10
                    data = await asyncio.wait_for(ws.wait(), timeout)
                else:  # no coroutine of its own: one less frame under every idle viewer
                    async with _timeout(timeout):
                        data = await ws.wait()
            except BaseException:  # noqa: BLE001 -- Engine.IO's reader: closed, timed out, cancelled
                break
            if not await _take(receive, data, limit):
                break
    finally:
        await queue.finish()  # what is queued goes out, then the websocket closes
        await sock.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)
