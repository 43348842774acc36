"""A round-robin TCP balancer on loopback: what a team runs in front of several servers.

Stands in for nginx or a cloud load balancer in the failover tests (issue 15): each new
client connection goes to the next backend in turn, and a backend that refuses the
connection (its process is gone) is skipped for the next one. Bytes are passed both ways
untouched, so HTTP and websockets (socket.io) work through it; when either side closes,
so does the other, which is how a viewer of a killed server learns that it must reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib


class Balancer:
    """``await Balancer([port, ...]).start()``; ``url`` is where clients connect."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = list(backends)
        #: The backend port of each accepted connection, in the order they came.
        self.assigned: list[int] = []
        #: Connections a backend refused (it was down), by port.
        self.refused: dict[int, int] = {}
        self._next = 0
        self._server: asyncio.base_events.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def start(self) -> Balancer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        backend = None
        for _ in range(len(self.backends)):
            port = self.backends[self._next % len(self.backends)]
            self._next += 1
            try:
                backend = await asyncio.open_connection("127.0.0.1", port)
            except OSError:  # that server is down: the next one
                self.refused[port] = self.refused.get(port, 0) + 1
                continue
            self.assigned.append(port)
            break
        if backend is None:
            writer.close()
            return
        up_reader, up_writer = backend
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._pipes.discard(task)
            for w in (writer, up_writer):
                w.close()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until either end goes; then close the sink so the other direction ends too."""
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        sink.close()
