"""socket.io packets from clients: whatever the bytes, a packet comes out (issue 11)."""

from __future__ import annotations

import msgpack
import pytest
from socketio import packet
from socketio.msgpack_packet import MsgPackPacket as LibraryMsgPack

from ccviz_kernel.server.packets import BAD_PACKET, JsonPacket, MsgPackPacket

GOOD_TEXT = ['2["join-game",{"gameId":"g","since":3}]', '21["list-games",{}]', "0", "1", "3[1]"]
BAD_TEXT = [
    '2["x",' + "9" * 120 + "]",  # python-socketio's own reader raised "Integer is too large"
    '2["x",' + "[" * 5000 + "]" * 5000 + "]",  # RecursionError
    '2["x",NaN]',
    '2["x",Infinity]',
    "2{}",
    '2"join-game"',
    "2[]",
    "2[5]",
    "9",
    "4{}",
    '51-["x",{"_placeholder":true,"num":0}]',  # binary attachments: no view sends any
    '2["x"',
    "x",
    "2" + "1" * 200 + '["x"]',
]


@pytest.mark.parametrize("text", GOOD_TEXT)
def test_good_text_packets_read_as_python_socketio_reads_them(text):
    ours, theirs = JsonPacket(encoded_packet=text), packet.Packet(encoded_packet=text)
    assert (ours.packet_type, ours.data, ours.id, ours.namespace) == (
        theirs.packet_type,
        theirs.data,
        theirs.id,
        theirs.namespace,
    )


@pytest.mark.parametrize("text", BAD_TEXT)
def test_bad_text_packets_become_a_bad_packet_event(text):
    pkt = JsonPacket(encoded_packet=text)
    assert pkt.packet_type == packet.EVENT
    assert pkt.data[0] == BAD_PACKET and isinstance(pkt.data[1], str) and pkt.data[1]
    assert pkt.attachment_count == 0


def test_a_bad_call_keeps_its_ack_id():
    pkt = JsonPacket(encoded_packet="27" + '["x",' + "9" * 120 + "]")
    assert (pkt.id, pkt.data[0]) == (7, BAD_PACKET)


def test_msgpack_packets():
    good = msgpack.packb({"type": 2, "nsp": "/", "id": 4, "data": ["join-game", {"gameId": "g"}]})
    pkt = MsgPackPacket(encoded_packet=good)
    assert (pkt.packet_type, pkt.id, pkt.data) == (2, 4, ["join-game", {"gameId": "g"}])
    for bad in (
        b"\xc1",
        msgpack.packb(7),
        msgpack.packb({"nsp": "/"}),
        msgpack.packb({"type": 2, "nsp": 5, "data": ["x"]}),
        msgpack.packb({"type": 2, "nsp": "/", "data": "join-game"}),
        msgpack.packb({"type": 6, "nsp": "/", "data": ["x"]}),
        b"\x91" * 3000 + b"\x00",  # nested arrays beyond msgpack's stack
        "2[]",
    ):
        pkt = MsgPackPacket(encoded_packet=bad)
        assert pkt.data[0] == BAD_PACKET, bad[:20]


def test_the_private_member_ccviz_overrides_is_still_there():
    """``MsgPackPacket._to_dict`` is python-socketio's private member (pinned in
    pyproject.toml): if it goes, this fails before a browser does."""
    assert callable(LibraryMsgPack._to_dict)
    out = msgpack.unpackb(MsgPackPacket(packet.DISCONNECT, namespace="/").encode())
    assert "data" not in out and out["type"] == packet.DISCONNECT


def test_a_handler_that_fails_still_answers_and_says_so_in_the_log(monkeypatch, caplog):
    """A bug a message meets inside a handler (an input nobody foresaw) is an error ack and
    one logged traceback, never a client left waiting for its ack; too many arguments too."""
    import asyncio

    import socketio

    from ccviz_kernel.hosts.standalone import start

    async def scenario():
        host = await start(port=0, runtime=False)
        sio = socketio.AsyncClient(serializer="msgpack", reconnection=False)
        try:
            auth = {"token": host.server.auth.ingest_token}
            await sio.connect(host.url, transports=["websocket"], auth=auth, wait_timeout=10)

            def broken(game_id, action):
                raise TypeError("unhashable type: 'dict'")

            monkeypatch.setattr(host.hub, "act", broken)
            action = {"gameId": "g", "type": "say", "agent": "main", "text": "hi"}
            ack = await sio.call("agent-action", action, timeout=10)
            extra = await sio.call("list-games", ({}, {}), timeout=10)
            assert (await sio.call("list-games", {}, timeout=10))["ok"] is True  # still serves
            return ack, extra
        finally:
            await sio.disconnect()
            await host.close()

    with caplog.at_level("ERROR", logger="ccviz.server"):
        ack, extra = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert ack == {
        "ok": False,
        "error": "agent-action failed inside the server (TypeError); it is logged",
    }
    assert extra == {"ok": False, "error": "list-games takes one argument (an object), not 2"}
    (record,) = caplog.records  # the bug, once; the client's extra argument is not one
    assert "agent-action failed" in record.getMessage() and record.exc_info[0] is TypeError
