"""The fan-out manager (server/fanout.py) and the frame writers the hosts supply.

The manager's rules run against fake transports through each implementation of the
``FrameWriter`` interface: a bare fake, the aiohttp hosts' and the Jupyter host's (over fake
aiohttp and tornado objects). Then the private members of aiohttp, tornado, python-engineio
and asyncio that the fast path relies on are checked by name on real objects: when one of
these tests fails after an upgrade, the message names the member; fix the host's module and
its pin in pyproject.toml (tornado: ``TESTED_TORNADO`` in hosts/_tornado.py).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import struct
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace

import pytest
import socketio
from common import FIXTURES
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket
from socketio import packet as sio_packet
from socketio.base_manager import BaseManager
from socketio.msgpack_packet import MsgPackPacket
from tornado.iostream import IOStream, StreamClosedError

from ccviz_kernel.hosts import _aiohttp, _tornado
from ccviz_kernel.hosts.standalone import start
from ccviz_kernel.notebook.mirror import GameMirror
from ccviz_kernel.server.fanout import (
    SLOW_BYTES,
    SLOW_QUEUE,
    FanoutManager,
    FrameWriter,
    _ws_frame,
    queue_idle,
)

LINES = (FIXTURES / "hook-payloads.jsonl").read_text().splitlines()
GAME = json.loads(LINES[0])["session_id"]
ROOM = "game-g"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


# -- fake connections, one kind per FrameWriter implementation --------------------------------


class Wire:
    """What one fake connection was sent, and the knobs the tests turn."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.pending = 0  # bytes the kernel has not taken yet

    def frames(self) -> list[bytes]:
        return [f for chunk in self.written for f in split_frames(chunk)]


class FakeWriter:
    """The interface alone: a dict of wires, each ready unless told otherwise."""

    def __init__(self) -> None:
        self.wires: dict[str, Wire] = {}
        self.not_ready: set[str] = set()

    def ready(self, socket):
        if socket.sid in self.not_ready:
            return None
        return self.wires.get(socket.sid)

    def write(self, transport: Wire, frame: bytes) -> None:
        transport.written.append(frame)

    def buffered(self, transport: Wire) -> int:
        return transport.pending


class FakeHarness:
    name = "fake"
    NOT_READY = ("refused",)

    def writer(self) -> FakeWriter:
        return FakeWriter()

    def connect(self, writer: FakeWriter, sid: str) -> Wire:
        wire = writer.wires[sid] = Wire()
        return wire

    def unready(self, writer: FakeWriter, sid: str, how: str) -> None:
        writer.not_ready.add(sid)

    def backlog(self, writer: FakeWriter, sid: str, size: int) -> None:
        writer.wires[sid].pending = size


class AioTransport:
    """An asyncio transport as aiohttp's websocket writer holds it."""

    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.closing = False

    def write(self, data: bytes) -> None:
        self.wire.written.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.wire.pending


class AiohttpHarness:
    """``AiohttpFrameWriter`` over stand-ins for ``PlainWebSocket`` (``_sock``: aiohttp's
    ``WebSocketResponse``) → ``_writer`` (``WebSocketWriter``) → ``transport``/``protocol``."""

    name = "aiohttp"
    NOT_READY = ("paused", "sending", "closing", "unprepared", "detached")

    def writer(self) -> _aiohttp.AiohttpFrameWriter:
        return _aiohttp.AiohttpFrameWriter()

    def connect(self, writer, sid: str) -> Wire:
        wire = Wire()
        ws_writer = SimpleNamespace(
            protocol=SimpleNamespace(_paused=False), transport=AioTransport(wire)
        )
        ws = SimpleNamespace(sending=0, _sock=SimpleNamespace(_writer=ws_writer))
        writer.attach(sid, ws)
        return wire

    def unready(self, writer, sid: str, how: str) -> None:
        ws = writer.connection(sid)
        if how == "paused":  # the kernel's buffer is full: aiohttp's writer waits for drain
            ws._sock._writer.protocol._paused = True
        elif how == "sending":  # Engine.IO's writer is inside a send
            ws.sending = 1
        elif how == "closing":
            ws._sock._writer.transport.closing = True
        elif how == "unprepared":  # before WebSocketResponse.prepare()
            ws._sock._writer = None
        elif how == "detached":  # the websocket ended
            writer.detach(sid, ws)

    def backlog(self, writer, sid: str, size: int) -> None:
        writer.connection(sid)._sock._writer.transport.wire.pending = size


class TornadoStream:
    """A tornado ``IOStream`` as ``WebSocketProtocol13.stream``."""

    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self._write_buffer = bytearray()
        self.closed = False

    def write(self, data: bytes):
        if self.closed:
            raise StreamClosedError()
        self.wire.written.append(data)


class TornadoHarness:
    """``TornadoFrameWriter`` over stand-ins for tornado's ``WebSocketHandler`` →
    ``ws_connection`` (``WebSocketProtocol13``) → ``stream`` (``IOStream``)."""

    name = "tornado"
    NOT_READY = ("closing", "gone", "detached")

    def writer(self) -> _tornado.TornadoFrameWriter:
        return _tornado.TornadoFrameWriter()

    def connect(self, writer, sid: str) -> Wire:
        wire = Wire()
        state = SimpleNamespace(closing=False)
        connection = SimpleNamespace(
            stream=TornadoStream(wire), is_closing=lambda: state.closing, state=state
        )
        writer.attach(sid, SimpleNamespace(ws_connection=connection))
        return wire

    def unready(self, writer, sid: str, how: str) -> None:
        handler = writer.connection(sid)
        if how == "closing":  # a closing handshake started, or the stream is shut
            handler.ws_connection.state.closing = True
        elif how == "gone":  # tornado drops ws_connection once the connection closed
            handler.ws_connection = None
        elif how == "detached":
            writer.detach(sid, handler)

    def backlog(self, writer, sid: str, size: int) -> None:
        writer.connection(sid).ws_connection.stream._write_buffer = bytearray(size)


HARNESSES = [FakeHarness(), AiohttpHarness(), TornadoHarness()]
EACH = pytest.mark.parametrize("harness", HARNESSES, ids=lambda h: h.name)
NOT_READY = [(h, how) for h in HARNESSES for how in h.NOT_READY]


# -- a manager with viewers in a room, no network ----------------------------------------------


class Viewers:
    """A FanoutManager on a real python-socketio server whose Engine.IO sockets are fakes."""

    def __init__(self, harness, *, serializer: str = "msgpack", writer: object = "harness"):
        self.harness = harness
        self.writer = harness.writer() if writer == "harness" else writer
        self.manager = FanoutManager(self.writer)
        self.sio = socketio.AsyncServer(
            async_mode="aiohttp", client_manager=self.manager, serializer=serializer
        )
        self.sockets: dict[str, SimpleNamespace] = {}
        self.wires: dict[str, Wire] = {}
        self.sids: dict[str, str] = {}

    def add(self, name: str, room: str = ROOM, *, connected: bool = True) -> str:
        eio_sid = f"eio-{name}"
        queue: asyncio.Queue = asyncio.Queue()

        async def send(pkt) -> None:  # AsyncSocket.send: Engine.IO's own path, the queue
            queue.put_nowait(pkt)

        sock = SimpleNamespace(sid=eio_sid, queue=queue, closed=False, closing=False, send=send)
        self.sio.eio.sockets[eio_sid] = self.sockets[name] = sock
        sid = BaseManager.pre_connect(self.manager, eio_sid, "/")  # the sync one
        self.manager.basic_enter_room(sid, "/", room)
        self.sids[name] = sid
        if connected and self.writer is not None:
            self.wires[name] = self.harness.connect(self.writer, eio_sid)
        return sid

    def queued(self, name: str) -> list:
        queue = self.sockets[name].queue
        return [queue.get_nowait() for _ in range(queue.qsize())]

    def unready(self, name: str, how: str) -> None:
        self.harness.unready(self.writer, f"eio-{name}", how)

    def backlog(self, name: str, size: int) -> None:
        self.harness.backlog(self.writer, f"eio-{name}", size)


def split_frames(data: bytes) -> list[bytes]:
    """Server websocket frames (FIN set, unmasked) → their payloads, checking each header."""
    out = []
    while data:
        first, second = data[0], data[1]
        assert first in (0x81, 0x82) and not second & 0x80, data[:2]
        n, at = second, 2
        if n == 126:
            (n,), at = struct.unpack("!H", data[2:4]), 4
        elif n == 127:
            (n,), at = struct.unpack("!Q", data[2:10]), 10
        payload = data[at : at + n]
        out.append(payload.decode() if first == 0x81 else payload)
        data = data[at + n :]
    return out


def decode(payload, serializer: str = "msgpack"):
    """An Engine.IO message payload → the socket.io packet's [event, data]."""
    if serializer == "msgpack":
        return MsgPackPacket(encoded_packet=payload).data
    assert payload.startswith("4")  # Engine.IO MESSAGE
    return sio_packet.Packet(encoded_packet=payload[1:]).data


# -- the manager's rules, through each implementation ----------------------------------------


@EACH
def test_one_prebuilt_frame_goes_to_every_ready_viewer(harness):
    v = Viewers(harness)
    for name in "abc":
        v.add(name)
    v.add("elsewhere", room="game-other")
    data = {"gameId": "g", "from": 1, "seq": 1, "deltas": [["set", ["n"], 1]]}
    assert v.manager.fanout("game-state-update", data, "/", ROOM) == 3
    chunks = [v.wires[name].written for name in "abc"]
    assert all(len(c) == 1 for c in chunks)
    assert chunks[0][0] is chunks[1][0] is chunks[2][0]  # built once, not per viewer
    (payload,) = v.wires["a"].frames()
    assert decode(payload) == ["game-state-update", data]
    assert all(v.queued(name) == [] for name in "abc")
    assert v.wires["elsewhere"].written == [] and v.manager.skipped == 0


def test_a_big_room_is_written_a_chunk_per_loop_turn_and_order_holds():
    """Hook POSTs are answered between two chunks; a later fan-out waits its turn."""
    v = Viewers(FakeHarness())
    v.manager.chunk = 2
    names = "abcde"
    for name in names:
        v.add(name)

    async def scenario():
        assert v.manager.fanout("e", 1, "/", ROOM) == 2  # the first chunk now
        assert v.manager.fanout("e", 2, "/", ROOM) == 0  # behind the first, all of it
        got = [sum(bool(v.wires[n].written) for n in names)]
        for _ in range(6):
            await asyncio.sleep(0)
            got.append(sum(len(v.wires[n].written) for n in names))
        return got

    got = asyncio.run(scenario())
    assert got[0] == 2 and got[-1] == 10  # 2 viewers at first, then 2 more per loop turn
    assert all(b - a <= 2 for a, b in itertools.pairwise(got))
    for name in names:
        assert [decode(p)[1] for p in v.wires[name].frames()] == [1, 2]
    assert (v.manager.direct, v.manager.queued, v.manager.skipped) == (10, 0, 0)
    # without a running loop there is nothing to come back on: all at once
    assert v.manager.fanout("e", 3, "/", ROOM) == 5


@EACH
def test_json_frames_are_text_and_big_ones_take_the_long_header(harness):
    v = Viewers(harness, serializer="default")
    v.add("a")
    big = {"text": "x" * 70_000}
    v.manager.fanout("visualization-event", {"n": 1}, "/", ROOM)
    v.manager.fanout("visualization-event", big, "/", ROOM)
    first, second = v.wires["a"].written
    assert first[0] == 0x81 and second[:2] == bytes([0x81, 127])
    assert [decode(p, "default") for p in v.wires["a"].frames()] == [
        ["visualization-event", {"n": 1}],
        ["visualization-event", big],
    ]


def test_the_websocket_frame_header_sizes():
    for n, header in ((0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)):
        frame = _ws_frame(b"x" * n)
        assert len(frame) == header + n and frame[0] == 0x82
        assert split_frames(frame) == [b"x" * n]
    assert _ws_frame("hé")[:2] == bytes([0x81, 3])


@pytest.mark.parametrize(("harness", "how"), NOT_READY, ids=lambda x: getattr(x, "name", x))
def test_a_viewer_whose_connection_is_not_ready_gets_it_on_its_queue(harness, how):
    v = Viewers(harness)
    v.add("ready")
    v.add("busy")
    v.unready("busy", how)
    assert v.manager.fanout("games", {"games": []}, "/", ROOM) == 2
    assert len(v.wires["ready"].written) == 1 and v.queued("ready") == []
    assert v.wires["busy"].written == []
    (queued,) = v.queued("busy")
    assert queued.packet_type == eio_packet.MESSAGE
    assert decode(queued.data) == ["games", {"games": []}]


@EACH
def test_nothing_overtakes_what_is_already_on_its_way(harness):
    v = Viewers(harness)
    v.add("a")
    ack = eio_packet.Packet(eio_packet.MESSAGE, b"ack")
    v.sockets["a"].queue.put_nowait(ack)  # an ack waiting for Engine.IO's writer
    v.manager.fanout("e", 1, "/", ROOM)
    assert v.wires["a"].written == []  # behind the ack, on the queue
    assert v.sockets["a"].queue.qsize() == 2
    # the writer took both but has not written them yet (a wait_for's get, Python < 3.12)
    queue = v.sockets["a"].queue
    taken = [queue.get_nowait(), queue.get_nowait()]
    assert queue.empty() and not queue_idle(queue)
    v.manager.fanout("e", 2, "/", ROOM)
    assert v.wires["a"].written == [] and queue.qsize() == 1
    for _ in taken:
        queue.task_done()
    queue.get_nowait()
    queue.task_done()  # everything written: the fast path again
    v.manager.fanout("e", 3, "/", ROOM)
    assert [decode(p) for p in v.wires["a"].frames()] == [["e", 3]]


@EACH
def test_slow_viewers_are_skipped_past_the_byte_and_queue_limits(harness):
    v = Viewers(harness)
    for name in ("fast", "full-buffer", "full-queue", "almost"):
        v.add(name)
    v.backlog("full-buffer", SLOW_BYTES + 1)
    v.backlog("almost", SLOW_BYTES)  # at the limit: still sent
    v.unready("full-queue", harness.NOT_READY[0])
    for _ in range(SLOW_QUEUE):
        v.sockets["full-queue"].queue.put_nowait(eio_packet.Packet(eio_packet.NOOP))
    assert v.manager.fanout("e", {"n": 1}, "/", ROOM) == 2
    assert v.manager.skipped == 2
    assert len(v.wires["fast"].written) == len(v.wires["almost"].written) == 1
    assert v.wires["full-buffer"].written == [] and v.queued("full-buffer") == []
    assert v.sockets["full-queue"].queue.qsize() == SLOW_QUEUE  # nothing added
    v.queued("full-queue")  # it drained (a re-join): it gets deliveries again
    assert v.manager.fanout("e", {"n": 2}, "/", ROOM) == 3


@EACH
def test_skipped_closed_closing_and_unknown_sockets(harness):
    v = Viewers(harness)
    for name in ("me", "closed", "closing", "gone", "other"):
        v.add(name)
    v.sockets["closed"].closed = True
    v.sockets["closing"].closing = True
    del v.sio.eio.sockets["eio-gone"]
    assert v.manager.fanout("e", 1, "/", ROOM, skip_sid=v.sids["me"]) == 1
    assert [name for name, w in v.wires.items() if w.written] == ["other"]
    assert all(v.queued(name) == [] for name in v.sockets)
    assert v.manager.fanout("e", 1, "/", "game-nobody") == 0
    assert v.manager.fanout("e", 1, "/elsewhere", ROOM) == 0
    assert v.manager.fanout("e", 1, "/", ROOM, skip_sid=[v.sids["me"], v.sids["other"]]) == 0


def test_without_a_frame_writer_everything_takes_the_queue():
    v = Viewers(FakeHarness(), writer=None)
    v.add("a")
    v.add("b")
    assert v.manager.fanout("e", [1, 2], "/", ROOM) == 2
    assert [decode(p.data) for p in v.queued("a")] == [["e", [1, 2]]]
    assert len(v.queued("b")) == 1


@EACH
def test_emit_to_a_room_fans_out_and_the_rest_is_python_socketio(harness):
    async def scenario():
        v = Viewers(harness)
        v.add("a")
        await v.manager.emit("e", ("x", 2), "/", room=ROOM)
        assert [decode(p) for p in v.wires["a"].frames()] == [["e", "x", 2]]
        await v.sio.emit("e", 3, to=ROOM)  # through the server too
        assert len(v.wires["a"].frames()) == 2
        # with an ack callback: python-socketio's own path (per recipient, queued)
        await v.manager.emit("e", 4, "/", room=v.sids["a"], callback=lambda *a: None)
        for _ in range(3):
            await asyncio.sleep(0)
        assert len(v.wires["a"].frames()) == 2
        (queued,) = v.queued("a")
        assert queued.packet_type == eio_packet.MESSAGE

    run(scenario())


def test_the_interface_is_what_the_hosts_implement():
    for cls in (_aiohttp.AiohttpFrameWriter, _tornado.TornadoFrameWriter, FakeWriter):
        for name in ("ready", "write", "buffered"):
            assert callable(getattr(cls, name, None)), (cls, name)
    assert {"ready", "write", "buffered"} <= set(vars(FrameWriter))


# -- the private members relied on, by name, on real objects ----------------------------------


def test_asyncio_queue_counts_what_is_not_done():
    queue: asyncio.Queue = asyncio.Queue()
    assert getattr(queue, "_unfinished_tasks", None) == 0, (
        "asyncio.Queue._unfinished_tasks is gone: server/fanout.py queue_idle() needs "
        "another way to see a packet taken by Engine.IO's writer but not yet written"
    )
    queue.put_nowait(1)
    queue.get_nowait()
    assert queue.empty() and not queue_idle(queue)
    queue.task_done()
    assert queue_idle(queue)


def test_engineio_writer_never_leaves_the_queue_idle_with_a_packet_unwritten():
    """Engine.IO's real ``AsyncSocket.poll``, its writer loop as in ``_websocket_handler``:
    whenever ``queue_idle`` says so, everything put was written."""

    async def scenario():
        sock = AsyncSocket.__new__(AsyncSocket)
        sock.server = SimpleNamespace(ping_interval=25, ping_timeout=60)
        sock.queue = asyncio.Queue()
        written: list[str] = []

        async def writer():
            while True:
                written.extend(await sock.poll())

        task = asyncio.ensure_future(writer())
        put = []
        for i in range(20):
            if i % 3 == 0:
                sock.queue.put_nowait(f"p{i}")
                put.append(f"p{i}")
            for _ in range(i % 4):
                await asyncio.sleep(0)
            if queue_idle(sock.queue):
                assert written == put, f"queue idle with {put[len(written) :]} unwritten"
        task.cancel()
        with pytest.raises((asyncio.CancelledError, Exception)):
            await task

    run(scenario())


def test_engineio_members():
    sio = socketio.AsyncServer(async_mode="aiohttp")
    eio = sio.eio
    assert isinstance(getattr(eio, "_async", None), dict) and "websocket" in eio._async, (
        "python-engineio: AsyncServer._async['websocket'] (the websocket class the hosts "
        "replace, server/fanout.py use_websocket_class) is gone"
    )
    assert isinstance(getattr(eio, "sockets", None), dict), "engineio AsyncServer.sockets"
    sock = AsyncSocket(eio, "sid-1")
    for name in ("queue", "closed", "closing"):
        assert hasattr(sock, name), f"python-engineio: AsyncSocket.{name} is gone (fanout.py)"
    assert isinstance(sock.queue, asyncio.Queue), "engineio's queue is no asyncio.Queue"
    assert callable(getattr(AsyncSocket, "_websocket_handler", None)), (
        "python-engineio: AsyncSocket._websocket_handler is gone (fanout.engineio_socket)"
    )
    assert getattr(AsyncSocket._send_ping, "__qualname__", "") == "AsyncSocket._send_ping", (
        "python-engineio: AsyncSocket._send_ping renamed (server/core.py _cancel_pings)"
    )
    assert callable(getattr(MsgPackPacket, "_to_dict", None)), (
        "python-socketio: MsgPackPacket._to_dict is gone (server/core.py _MsgPackPacket)"
    )


def test_the_standalone_host_writes_frames_straight_to_aiohttp():
    """Live: real aiohttp websockets, Engine.IO attaching them, frames going out direct."""

    async def scenario():
        host = await start(port=0, runtime=False)
        frames = host.server.manager.frame_writer
        assert isinstance(frames, _aiohttp.AiohttpFrameWriter)
        try:
            viewer = await GameMirror(host.url, GAME).connect()
            (eio_sid,) = host.server.sio.eio.sockets
            ws = frames.connection(eio_sid)
            assert isinstance(ws, _aiohttp.PlainWebSocket), (
                "python-engineio no longer builds the websocket as cls(socket."
                "_websocket_handler, server): fanout.engineio_socket found no socket"
            )
            response = ws.response
            writer = getattr(response, "_writer", None)
            assert writer is not None, "aiohttp: WebSocketResponse._writer is gone"
            assert hasattr(writer, "transport"), "aiohttp: WebSocketWriter.transport is gone"
            assert hasattr(writer, "protocol"), "aiohttp: WebSocketWriter.protocol is gone"
            paused = getattr(writer.protocol, "_paused", None)
            assert isinstance(paused, bool), "aiohttp: BaseProtocol._paused is gone"
            assert hasattr(writer.transport, "get_write_buffer_size")
            raw = _aiohttp._raw_send(writer.transport)
            assert raw is not None, (
                "asyncio: the socket transport's _sock/_buffer are gone (AiohttpFrameWriter.push"
                " now takes transport.write: slower, still right)"
            )
            sock = host.server.sio.eio.sockets[eio_sid]
            assert frames.ready(sock) is writer.transport
            before = host.server.manager.direct
            for line in LINES:
                host.hub.ingest(line)
                await asyncio.sleep(0.002)
            await viewer.wait_seq(len(LINES))
            assert viewer.snapshot == host.hub.snapshot(GAME) and viewer.rejoins == 0
            assert host.server.manager.direct - before >= viewer.updates > 0, "no fast path"
            await viewer.close()
            for _ in range(100):
                if not len(frames):
                    break
                await asyncio.sleep(0.01)
            assert len(frames) == 0  # detached when the websocket ended
        finally:
            await host.close()

    run(scenario())


def test_tornado_members_and_a_frame_on_a_real_stream():
    import tornado
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets
    from tornado.web import Application
    from tornado.websocket import WebSocketHandler, websocket_connect

    low, high = _tornado.TESTED_TORNADO
    assert low <= tornado.version_info[:2] < high, (
        f"tornado {tornado.version} is outside TESTED_TORNADO {low}..{high} (hosts/_tornado.py):"
        " check the members it lists against this release, then widen the range"
    )
    opened: asyncio.Queue = asyncio.Queue()

    class Handler(WebSocketHandler):
        def open(self):
            opened.put_nowait(self)

        def get_compression_options(self):
            return None

    async def scenario():
        [sock] = bind_sockets(0, "127.0.0.1")
        server = HTTPServer(Application([("/ws", Handler)]))
        server.add_sockets([sock])
        port = sock.getsockname()[1]
        client = await websocket_connect(f"ws://127.0.0.1:{port}/ws")
        handler = await asyncio.wait_for(opened.get(), 5)
        try:
            frames = _tornado.TornadoFrameWriter()
            frames.attach("s1", handler)
            connection = getattr(handler, "ws_connection", None)
            assert connection is not None, "tornado: WebSocketHandler.ws_connection is gone"
            assert callable(getattr(connection, "is_closing", None)), (
                "tornado: WebSocketProtocol.is_closing() is gone"
            )
            stream = getattr(connection, "stream", None)
            assert isinstance(stream, IOStream), "tornado: WebSocketProtocol13.stream is gone"
            assert hasattr(stream, "_write_buffer") and len(stream._write_buffer) == 0, (
                "tornado: IOStream._write_buffer is gone (TornadoFrameWriter.buffered)"
            )
            socket_ = SimpleNamespace(sid="s1")
            transport = frames.ready(socket_)
            assert transport is stream and frames.buffered(stream) == 0
            frames.write(stream, _ws_frame(b"\x01\x02") + _ws_frame("4hello"))
            assert await client.read_message() == b"\x01\x02"
            assert await client.read_message() == "4hello"
            client.close()
            for _ in range(200):
                if frames.ready(socket_) is None:
                    break
                await asyncio.sleep(0.005)
            assert frames.ready(socket_) is None  # closed: the queue path again
            frames.write(stream, _ws_frame(b"late"))  # never raises on a closed stream
        finally:
            client.close()
            server.stop()

    run(scenario())


def test_pinned_ranges_hold_what_is_installed():
    """pyproject.toml pins the libraries whose private members the fast path touches."""
    from packaging.requirements import Requirement

    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    pins = {}
    for raw in text.split("dependencies = [", 1)[1].split("]", 1)[0].splitlines():
        raw = raw.strip().rstrip(",").strip('"')
        if raw and not raw.startswith("#"):
            req = Requirement(raw)
            pins[req.name] = req.specifier
    for name in ("aiohttp", "python-engineio", "python-socketio"):
        assert name in pins and pins[name].contains(version(name)), (name, pins.get(name))
        assert any(s.operator == "<" for s in pins[name]), f"{name} needs an upper bound"
