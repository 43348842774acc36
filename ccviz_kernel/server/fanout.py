"""Room fan-out without a task per recipient (docs/design.md §7).

Stock python-socketio encodes a room broadcast once, then creates one asyncio task per
recipient to push it through Engine.IO. At a thousand viewers those tasks are most of the
server's work. Here the packet is encoded once, wrapped once in a websocket frame, and that
frame is written straight to every viewer whose connection is ready for it; otherwise it
goes on the socket's Engine.IO queue. A viewer whose buffer or queue is backed up is
skipped: it sees a gap in ``seq`` and re-joins, which brings it back with a fresh snapshot
instead of an unbounded queue. Measured with 1000 viewers at 30 events/s: about 17 ms of
server CPU per 1000 deliveries, against 18 for Node's socket.io 4.8 and 54 for the queue
alone (bench/fanout_bench.py).

A fan-out to more than :data:`CHUNK` viewers is written :data:`CHUNK` at a time, one batch
per loop turn, so that a hook POST arriving meanwhile is answered between two batches
instead of after the whole room (the recipients are the room as it was when the fan-out
began; later fan-outs wait their turn behind it, so each viewer's order holds).

"Ready" is the host's business, behind one small interface, :class:`FrameWriter`: the
aiohttp hosts (standalone, in-kernel) supply one in ``hosts/_aiohttp.py``, the Jupyter host
one for tornado in ``hosts/_tornado.py``; a server made without one (``frame_writer=None``)
sends everything through Engine.IO's queue. Either way order holds: a frame is written
directly only when nothing put on that viewer's queue (acks, pings, the connect) is still on
its way (:func:`queue_idle`) and the host's own writer holds nothing back.

Engine.IO internals this relies on, all here (tests/server/test_fanout.py checks each one
by name against the installed python-engineio): ``AsyncServer.sockets``, a socket's
``queue`` (an ``asyncio.Queue``, or on ccviz's hosts the ``LeanQueue`` of hosts/_engineio.py;
``_unfinished_tasks`` read by :func:`queue_idle`),
``closed`` and ``closing``; ``AsyncServer._async["websocket"]`` (the websocket class a host
replaces, :func:`use_websocket_class`), constructed as ``cls(socket._websocket_handler,
server)`` (:func:`engineio_socket`).
"""

from __future__ import annotations

import asyncio
import struct
from collections import deque
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any, Protocol

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

#: Packets waiting for one viewer before it counts as slow and is skipped.
SLOW_QUEUE = 64
#: Bytes waiting in one viewer's socket buffer before it counts as slow and is skipped.
SLOW_BYTES = 1 << 20
#: Viewers one fan-out writes to per loop turn: about 0.3 ms of work at ~5 us a delivery
#: (bench/fanout_bench.py), what a hook POST arriving meanwhile waits for.
CHUNK = 64


def _ws_frame(payload: bytes | str) -> bytes:
    """One unmasked, unfragmented server websocket frame (RFC 6455 section 5.2)."""
    if isinstance(payload, str):
        data, first = payload.encode(), 0x81  # text
    else:
        data, first = payload, 0x82  # binary
    n = len(data)
    if n < 126:
        header = struct.pack("!BB", first, n)
    elif n < 65536:
        header = struct.pack("!BBH", first, 126, n)
    else:
        header = struct.pack("!BBQ", first, 127, n)
    return header + data


class FrameWriter(Protocol):
    """How a host writes one pre-built websocket frame straight to a viewer's connection.

    The manager calls :meth:`ready` once per recipient and, when it gives a transport,
    :meth:`buffered` and :meth:`write` on it, all synchronously on the event loop (or a
    writer's own ``push(socket, frame, slow_bytes)``, the three in one call, answering
    :data:`WRITTEN`, :data:`NOT_READY` or :data:`SLOW`: see :func:`composed_push`); the
    transport is whatever the host's connection is (an asyncio transport for aiohttp, a
    tornado ``IOStream``). None of them may raise for a connection that went away.
    """

    def ready(self, socket: Any) -> Any | None:
        """The transport of Engine.IO ``socket`` when a frame may go straight to it now: the
        connection is open, not flow-controlled, and the host's own writer for it holds no
        frame back; else ``None`` (the frame then goes on Engine.IO's queue)."""
        ...

    def write(self, transport: Any, frame: bytes) -> None:
        """Write ``frame`` (one or more whole, unmasked websocket frames) to ``transport``."""
        ...

    def buffered(self, transport: Any) -> int:
        """Bytes written to ``transport`` that the kernel has not taken yet."""
        ...


#: What a writer's optional ``push(socket, frame, slow_bytes)`` answers: the frame went out
#: (or the connection is going away and the frame with it), the connection is not ready (it
#: goes on Engine.IO's queue), or the viewer is slow (skipped).
WRITTEN, NOT_READY, SLOW = 1, 0, -1


def composed_push(writer: FrameWriter) -> Callable[[Any, bytes, int], int]:
    """``push`` made of a writer's :meth:`~FrameWriter.ready`, :meth:`~FrameWriter.buffered`
    and :meth:`~FrameWriter.write`, for a writer without a ``push`` of its own (a host's
    own does the same in one call: it runs once per recipient)."""
    ready, buffered, write = writer.ready, writer.buffered, writer.write

    def push(socket: Any, frame: bytes, slow_bytes: int) -> int:
        transport = ready(socket)
        if transport is None:
            return NOT_READY
        if buffered(transport) > slow_bytes:
            return SLOW
        write(transport, frame)
        return WRITTEN

    return push


class Connections:
    """Engine.IO sid → a host's connection, for a :class:`FrameWriter`: the host's Engine.IO
    websocket class attaches each connection once it is open and detaches it when it ends."""

    def __init__(self) -> None:
        self._by_sid: dict[str, Any] = {}

    def attach(self, sid: str, connection: Any) -> None:
        self._by_sid[sid] = connection

    def detach(self, sid: str, connection: Any) -> None:
        if self._by_sid.get(sid) is connection:
            del self._by_sid[sid]

    def connection(self, sid: str) -> Any | None:
        return self._by_sid.get(sid)

    def __len__(self) -> int:
        return len(self._by_sid)


#: Whether asyncio's queues count unfinished puts (see :func:`queue_idle`); read once.
_COUNTED = isinstance(getattr(asyncio.Queue(), "_unfinished_tasks", None), int)


def queue_idle(queue: Any) -> bool:
    """Nothing put on this Engine.IO queue is still on its way to the connection.

    Not ``queue.empty()``: the socket's writer task takes packets with
    ``asyncio.wait_for(queue.get(), ...)``, which before Python 3.12 runs the ``get`` in a
    task of its own; the queue is then empty for a couple of loop turns before the writer
    has written what it took, and a frame written directly meanwhile would overtake it (an
    ack overtaken by an update). ``asyncio.Queue`` counts what was put and not yet marked
    done (``_unfinished_tasks``), and Engine.IO's ``poll`` marks each packet done only once
    the writer has it; a queue without that count falls back to ``empty()``.
    """
    if _COUNTED:
        return queue._unfinished_tasks == 0
    return queue.empty()


def engineio_socket(websocket: Any) -> Any:
    """The Engine.IO socket a host's websocket object (``cls(handler, server)``) serves:
    Engine.IO passes the socket's bound ``_websocket_handler`` as ``handler``."""
    return websocket.handler.__self__


def use_websocket_class(eio: Any, factory: Callable[..., Any]) -> None:
    """Make Engine.IO server ``eio`` open its websockets with ``factory(handler, server)``."""
    eio._async = {**eio._async, "websocket": factory}


class _Fanout:
    """One fan-out under way: its frames and the recipients still to go."""

    __slots__ = ("frames", "wire", "recipients", "skip")

    def __init__(self, frames: list[Any], wire: bytes | None, recipients: Iterator, skip):
        self.frames, self.wire, self.recipients, self.skip = frames, wire, recipients, skip


class FanoutManager(socketio.AsyncManager):
    """python-socketio's client manager, with room broadcasts fanned out as one frame.

    Counters (for metrics and tests): :attr:`direct` deliveries written straight to a
    connection (the host's fast path), :attr:`queued` put on Engine.IO's queue,
    :attr:`skipped` left out because the viewer was slow.
    """

    def __init__(
        self,
        frame_writer: FrameWriter | None = None,
        *,
        slow_queue: int = SLOW_QUEUE,
        slow_bytes: int = SLOW_BYTES,
        chunk: int = CHUNK,
    ) -> None:
        super().__init__()
        #: The host's fast path; ``None``: every delivery goes through Engine.IO's queue.
        self.frame_writer = frame_writer
        self.slow_queue = slow_queue
        self.slow_bytes = slow_bytes
        self.chunk = chunk
        self.direct = 0
        self.queued = 0
        self.skipped = 0
        self._backlog: deque[_Fanout] = deque()
        self._draining: asyncio.Handle | None = None

    async def emit(
        self, event, data, namespace, room=None, skip_sid=None, callback=None, to=None, **kwargs
    ):
        room = to or room
        if callback is not None or room is None or kwargs.get("ignore_queue"):
            return await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs
            )
        self.fanout(event, data, namespace, room, skip_sid)

    def fanout(self, event: str, data: Any, namespace: str, room: Any, skip_sid: Any = None) -> int:
        """Send one encoded packet to every ready participant of ``room`` as it is now.

        Returns how many got it in this call; when the room is bigger than :attr:`chunk`
        (or an earlier fan-out is still under way) the rest follow on the next loop turns.
        """
        if namespace not in self.rooms:
            return 0
        args = list(data) if isinstance(data, tuple) else ([] if data is None else [data])
        pkt = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=[event, *args])
        encoded = pkt.encode()
        frames = [
            eio_packet.Packet(eio_packet.MESSAGE, p)
            for p in (encoded if isinstance(encoded, list) else [encoded])
        ]
        wire = None
        if self.frame_writer is not None:
            wire = b"".join(_ws_frame(f.encode()) for f in frames)
        skip = skip_sid if isinstance(skip_sid, (list, set, tuple)) else (skip_sid,)
        # get_participants copies the room first: the recipients are fixed now
        job = _Fanout(frames, wire, self.get_participants(namespace, room), skip)
        if self._backlog:
            self._backlog.append(job)  # after the one under way: order per viewer holds
            return 0
        try:
            asyncio.get_running_loop()
            limit: int | None = self.chunk
        except RuntimeError:  # no loop to come back on (a script, a test): all of it now
            limit = None
        sent = self._deliver(job, limit)
        if job.recipients is not None:
            self._backlog.append(job)
            self._schedule()
        return sent

    def finish(self) -> None:
        """Write every fan-out still under way now, in order (a server that stops: what
        its viewers were owed goes out before their connections close)."""
        if self._draining is not None:
            self._draining.cancel()
            self._draining = None
        while self._backlog:
            self._deliver(self._backlog.popleft(), None)

    def _schedule(self) -> None:
        if self._draining is not None:
            return
        self._draining = asyncio.get_running_loop().call_soon(self._drain)

    def _drain(self) -> None:
        """One loop turn's share of the backlog: :attr:`chunk` recipients."""
        self._draining = None
        budget = self.chunk
        while self._backlog and budget > 0:
            job = self._backlog[0]
            budget -= self._deliver(job, budget, counted=True)
            if job.recipients is None:
                self._backlog.popleft()
        if self._backlog:
            self._schedule()

    def _deliver(self, job: _Fanout, limit: int | None, counted: bool = False) -> int:
        """Up to ``limit`` recipients of ``job`` (all if ``None``); ``job.recipients`` is set
        to ``None`` once it has none left. Returns how many got it, or with ``counted`` how
        many recipients were looked at (the loop turn's budget)."""
        recipients = job.recipients if limit is None else islice(job.recipients, limit)
        frames, wire, skip = job.frames, job.wire, job.skip
        writer = self.frame_writer
        if writer is not None:
            push = getattr(writer, "push", None) or composed_push(writer)
        idle_counted = _COUNTED  # queue_idle(), inlined: this loop runs once per recipient
        sockets = self.server.eio.sockets
        slow_queue, slow_bytes = self.slow_queue, self.slow_bytes
        seen = direct = queued = skipped = 0
        for sid, eio_sid in recipients:
            seen += 1
            if sid in skip:
                continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed or sock.closing:
                continue
            queue = sock.queue
            if wire is not None and (
                queue._unfinished_tasks == 0 if idle_counted else queue.empty()
            ):
                # nothing on its way before it: the pre-built frame goes straight out
                pushed = push(sock, wire, slow_bytes)
                if pushed == WRITTEN:
                    direct += 1
                    continue
                if pushed == SLOW:
                    skipped += 1
                    continue
            if queue.qsize() >= slow_queue:
                skipped += 1  # it will see a gap in seq and re-join
                continue
            for frame in frames:
                queue.put_nowait(frame)
            queued += 1
        if limit is None or seen < limit:
            job.recipients = None
        self.direct += direct
        self.queued += queued
        self.skipped += skipped
        return seen if counted else direct + queued
