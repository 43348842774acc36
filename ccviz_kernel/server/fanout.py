"""Room fan-out without a task per recipient (DESIGN §7).

Stock python-socketio encodes a room broadcast once, then creates one asyncio task per
recipient to push it through Engine.IO. At a thousand viewers those tasks are most of the
server's work. Here the packet is encoded once, wrapped once in a websocket frame, and
that frame is written straight to every ready transport (the standalone host's aiohttp
websockets; nothing else queued for that viewer, so order with acks and pings holds);
otherwise it goes on the socket's Engine.IO queue. A viewer whose buffer or queue is backed
up is skipped: it sees a gap in ``seq`` and re-joins, which brings it back with a fresh
snapshot instead of an unbounded queue. Measured with 1000 viewers at 30 events/s: about
17 ms of server CPU per 1000 deliveries, against 18 for Node's socket.io 4.8 and 54 for the
queue alone (bench/fanout_bench.py).
"""

from __future__ import annotations

import struct
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

#: Packets waiting for one viewer before it counts as slow and is skipped.
SLOW_QUEUE = 64
#: Bytes waiting in one viewer's socket buffer before it counts as slow and is skipped.
SLOW_BYTES = 1 << 20


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


class FanoutManager(socketio.AsyncManager):
    def __init__(self, slow_queue: int = SLOW_QUEUE) -> None:
        super().__init__()
        self.slow_queue = slow_queue
        self.skipped = 0  # deliveries skipped because the viewer was slow (for metrics)

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
        """Queue one encoded packet for every ready participant; returns how many got it."""
        if namespace not in self.rooms:
            return 0
        args = list(data) if isinstance(data, tuple) else ([] if data is None else [data])
        pkt = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=[event, *args])
        encoded = pkt.encode()
        frames = [
            eio_packet.Packet(eio_packet.MESSAGE, p)
            for p in (encoded if isinstance(encoded, list) else [encoded])
        ]
        wire = b"".join(_ws_frame(f.encode()) for f in frames)
        skip = skip_sid if isinstance(skip_sid, (list, set, tuple)) else (skip_sid,)
        sockets = self.server.eio.sockets
        sent = 0
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed or sock.closing:
                continue
            queue = sock.queue
            response = getattr(sock, "ws_response", None)
            writer = response._writer if response is not None else None
            if writer is not None and queue.empty() and not writer.protocol._paused:
                # nothing queued before it: the pre-built frame goes straight out, in order
                transport = writer.transport
                if transport is None or transport.is_closing():
                    continue
                if transport.get_write_buffer_size() > SLOW_BYTES:
                    self.skipped += 1
                    continue
                transport.write(wire)
                sent += 1
                continue
            if queue.qsize() >= self.slow_queue:
                self.skipped += 1  # it will see a gap in seq and re-join
                continue
            for frame in frames:
                queue.put_nowait(frame)
            sent += 1
        return sent
