"""Room fan-out without a task per recipient (DESIGN §7).

Stock python-socketio encodes a room broadcast once, then creates one asyncio task per
recipient to push it through Engine.IO. At a thousand viewers those tasks are most of the
server's work. Here the packet is encoded once and put straight on each ready socket's
send queue (the queue keeps it in order with acks and pings); a viewer whose queue is
backed up is skipped and told to re-join, which brings it back with a fresh snapshot
instead of an unbounded queue.
"""

from __future__ import annotations

from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

#: Packets waiting for one viewer before it counts as slow and is skipped.
SLOW_QUEUE = 64


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
            if queue.qsize() >= self.slow_queue:
                self.skipped += 1  # it will see a gap in seq and re-join
                continue
            for frame in frames:
                queue.put_nowait(frame)
            sent += 1
        return sent
