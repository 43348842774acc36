"""The lighter Engine.IO transport of both hosts (hosts/_engineio.py, issue 14): the queue,
the server-wide pinger, and on each host: pings answered keep a viewer, a viewer that stops
answering is dropped after ``ping_interval + ping_timeout``, nothing waits per idle viewer
but what the host's own websocket needs, and the environ and request keep no credentials."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import aiohttp
import pytest
from engineio import packet as eio_packet
from socketio import packet
from socketio.msgpack_packet import MsgPackPacket

from ccviz_kernel.hosts import jupyter
from ccviz_kernel.hosts._engineio import LeanQueue, Pinger, PushedTransport
from ccviz_kernel.hosts.standalone import start

# -- the queue and the pinger --------------------------------------------------------------


class FakeWs:
    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.sent: list = []
        self.closed = False
        self.gate = gate

    async def send(self, data) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.sent.append(data)

    async def close(self) -> None:
        self.closed = True


def pkt(data: str) -> eio_packet.Packet:
    return eio_packet.Packet(eio_packet.MESSAGE, data)


def test_the_queue_writes_in_order_and_counts_until_written():
    async def scenario():
        gate = asyncio.Event()
        queue, ws = LeanQueue(), FakeWs(gate)
        queue.put_nowait(pkt("a"))  # before the connection: waits for it
        queue.attach(ws)
        await queue.put(pkt("b"))
        queue.put_nowait(pkt("c"))
        assert queue._unfinished_tasks == 3 and queue.qsize() == 3
        await asyncio.sleep(0.01)
        assert ws.sent == [] and queue._unfinished_tasks == 3  # the send is under way
        joined = asyncio.ensure_future(queue.join())
        gate.set()
        await asyncio.wait_for(joined, 1)
        assert ws.sent == ["4a", "4b", "4c"] and queue._unfinished_tasks == 0
        assert queue._writer is None  # idle: no writer task
        queue.put_nowait(pkt("d"))
        await asyncio.sleep(0.01)
        assert ws.sent[-1] == "4d" and queue._writer is None
        # a None ends the writing and closes the connection; later puts are dropped
        queue.put_nowait(pkt("e"))
        await queue.finish()
        assert ws.sent[-1] == "4e" and ws.closed
        queue.put_nowait(pkt("f"))
        assert queue.qsize() == 0 and queue._unfinished_tasks == 0
        await asyncio.wait_for(queue.join(), 1)

    asyncio.run(scenario())


def test_the_queue_unattached_is_an_asyncio_queue():
    async def scenario():
        queue = LeanQueue()
        getter = asyncio.ensure_future(queue.get())
        await asyncio.sleep(0)
        queue.put_nowait(1)
        queue.put_nowait(2)
        assert await getter == 1
        assert queue.get_nowait() == 2
        with pytest.raises(asyncio.QueueEmpty):
            queue.get_nowait()
        queue.task_done()
        queue.task_done()
        with pytest.raises(ValueError):
            queue.task_done()
        await asyncio.wait_for(queue.join(), 1)

    asyncio.run(scenario())


def test_a_failed_send_ends_the_writer_and_closes():
    class Broken(FakeWs):
        async def send(self, data):
            raise OSError("gone")

    async def scenario():
        queue, ws = LeanQueue(), Broken()
        queue.attach(ws)
        queue.put_nowait(pkt("a"))
        await asyncio.sleep(0.01)
        assert ws.closed and queue._unfinished_tasks == 0

    asyncio.run(scenario())


class FakeTransport(PushedTransport):
    def __init__(self, sock, timed_out: list) -> None:
        self._sock, self.sent, self.timed = sock, [], timed_out

    async def send(self, data) -> None:
        self.sent.append(data)

    async def close(self) -> None:
        pass

    def timed_out(self) -> None:
        self.timed.append(self._sock.sid)


def test_the_pinger_pings_on_time_and_times_out_the_silent():
    async def scenario():
        eio = SimpleNamespace(ping_interval=0.05, ping_timeout=0.1, sockets={})
        pinger = Pinger(eio)
        timed_out: list = []
        socks = {}
        for sid in ("answers", "silent", "gone"):
            sock = SimpleNamespace(sid=sid, closing=False, closed=False, last_ping=None)
            sock.queue = LeanQueue()
            sock.queue.attach(FakeTransport(sock, timed_out))
            eio.sockets[sid] = socks[sid] = sock
            pinger.schedule(sock)
        del eio.sockets["gone"]
        t0 = time.monotonic()
        await asyncio.sleep(0.08)
        assert socks["answers"].last_ping and socks["silent"].last_ping
        assert socks["gone"].last_ping is None  # closed meanwhile: no ping
        assert socks["answers"].queue._ws.sent == ["2"]
        socks["answers"].last_ping = None  # its PONG (schedule_ping resets it)
        pinger.schedule(socks["answers"])
        while not timed_out and time.monotonic() - t0 < 2:
            await asyncio.sleep(0.01)
        assert timed_out == ["silent"]
        assert time.monotonic() - t0 >= 0.14  # ping_interval + ping_timeout
        pinger.close()
        assert len(pinger) == 0

    asyncio.run(scenario())


# -- on the hosts --------------------------------------------------------------------------


async def raw_viewer(session: aiohttp.ClientSession, base: str, headers=None):
    """A raw socket.io viewer (msgpack): OPEN, CONNECT; returns the websocket."""
    url = base + "socket.io/?EIO=4&transport=websocket"
    ws = await session.ws_connect(url, headers=headers or {}, autoping=True)
    opened = await ws.receive(timeout=5)
    assert opened.type == aiohttp.WSMsgType.TEXT and opened.data.startswith("0{")
    await ws.send_bytes(MsgPackPacket(packet.CONNECT, namespace="/").encode())
    answer = await ws.receive(timeout=5)
    assert MsgPackPacket(encoded_packet=answer.data).packet_type == packet.CONNECT
    return ws


async def answer_pings(ws, seconds: float) -> int:
    """Answer every ping for ``seconds``; how many came. Fails if the server closes."""
    pings, end = 0, time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except asyncio.TimeoutError:
            break
        assert msg.type == aiohttp.WSMsgType.TEXT, f"closed: {msg.type}"
        if msg.data == "2":
            pings += 1
            await ws.send_str("3")
    return pings


async def silent_until_closed(ws, limit: float = 10) -> float:
    """Ignore the pings; seconds until the server closed the connection."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        msg = await ws.receive(timeout=limit)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            return time.monotonic() - t0
    raise AssertionError("not dropped")


def waiting_per_connection(eio) -> list[str]:
    """Tasks of Engine.IO's or of this transport that wait under an idle connection."""
    names = []
    for task in asyncio.all_tasks():
        name = getattr(task.get_coro(), "__qualname__", "")
        if name in ("AsyncSocket._send_ping", "LeanQueue._write", "PushedTransport._read") or (
            "_websocket_handler" in name
        ):
            names.append(name)
    return names


async def check_pings_and_timeouts(eio, base: str, headers=None) -> None:
    eio.ping_interval, eio.ping_timeout = 0.2, 0.4
    async with aiohttp.ClientSession() as session:
        answering = await raw_viewer(session, base, headers)
        silent = await raw_viewer(session, base, headers)
        idle = await raw_viewer(session, base, headers)
        before = set(eio.sockets)
        stays = await raw_viewer(session, base, headers)
        (stays_sid,) = set(eio.sockets) - before
        await asyncio.sleep(0.05)
        assert waiting_per_connection(eio) == []
        dropped = asyncio.ensure_future(silent_until_closed(silent))
        # the server closes a socket (Engine.IO's CLOSE packet, "1"); a peer that keeps its
        # websocket open anyway is cut off when Engine.IO's reader would have timed out
        await eio.disconnect(stays_sid)
        cut_off = asyncio.ensure_future(silent_until_closed(stays))
        pings = await answer_pings(answering, 1.5)
        assert pings >= 4  # every ping_interval, and the answers keep it
        seconds = await dropped
        assert 0.45 <= seconds < 5  # ping_interval + ping_timeout after its last message
        assert 0.45 <= await cut_off < 5
        assert not answering.closed
        await idle.close()
        await answering.close()
    for _ in range(100):
        if not eio.sockets:
            break
        await asyncio.sleep(0.05)
    assert not eio.sockets
    await asyncio.sleep(0.05)
    assert waiting_per_connection(eio) == []


def test_standalone_pings_timeouts_and_a_lean_environ():
    async def scenario():
        host = await start(port=0, runtime=False)
        sio = host.server.sio
        try:
            await check_pings_and_timeouts(sio.eio, host.url)
            async with aiohttp.ClientSession() as session:
                headers = {"Cookie": "secret=1", "Authorization": "Bearer x"}
                ws = await raw_viewer(session, host.url, headers)
                (environ,) = sio.environ.values()
                assert "HTTP_COOKIE" not in environ and "HTTP_AUTHORIZATION" not in environ
                assert "wsgi.input" not in environ
                assert environ["HTTP_HOST"].startswith("127.0.0.1") and environ["REMOTE_ADDR"]
                assert "aiohttp.request" in environ
                await ws.close()
        finally:
            await host.close()
        assert len(sio.eio.ccviz_pinger) == 0

    asyncio.run(scenario())


@pytest.fixture
def started(jp_serverapp, http_server_client, jp_asyncio_loop):
    running = jupyter.current()
    assert running is not None
    jp_asyncio_loop.run_until_complete(running.ready())
    return running


async def test_jupyter_pings_timeouts_and_a_lean_request(started, jp_serverapp):
    token = jp_serverapp.identity_provider.token
    headers = {"Authorization": f"token {token}"}
    base = f"http://127.0.0.1:{jp_serverapp.port}{started.base}"
    sio = started.server.sio
    frames = started.server.manager.frame_writer
    await check_pings_and_timeouts(sio.eio, base, headers)
    assert len(frames) == 0  # every connection detached from the fast path
    async with aiohttp.ClientSession() as session:
        ws = await raw_viewer(session, base, {**headers, "Cookie": "secret=1"})
        (environ,) = sio.environ.values()
        assert "HTTP_COOKIE" not in environ and "HTTP_AUTHORIZATION" not in environ
        assert "wsgi.input" not in environ
        handler = environ["tornado.handler"]
        assert handler.ccviz_transport is not None and len(frames) == 1
        # the parsed cookies and the 101 answer's headers and cookies are gone
        request = handler.request
        assert "_cookies" not in vars(request) and "_new_cookie" not in vars(handler)
        assert request.cookies["secret"].value == "1"  # parsed again when asked
        assert list(handler._headers.get_all()) == []
        # the connection still works both ways: a call and its answer
        join = MsgPackPacket(packet.EVENT, namespace="/", data=["list-games", {}], id=7)
        await ws.send_bytes(join.encode())
        msg = await ws.receive(timeout=5)
        answer = MsgPackPacket(encoded_packet=msg.data)
        assert answer.packet_type == packet.ACK and answer.id == 7 and answer.data[0]["ok"]
        await ws.close()
    for _ in range(100):
        if not sio.eio.sockets:
            break
        await asyncio.sleep(0.05)
    assert not sio.eio.sockets and len(frames) == 0
