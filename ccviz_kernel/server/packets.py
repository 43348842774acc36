"""The socket.io packets ccviz reads and writes: untrusted bytes in, never an exception.

python-socketio decodes a client's packet before any handler sees it, and a packet it
cannot decode (an integer of 101 digits, JSON nested a thousand deep, a msgpack map
without ``type``, an event that is not ``[name, ...]``) raises inside Engine.IO: a logged
traceback, and a call whose ack never comes. Here every such packet becomes the event
:data:`BAD_PACKET` with the reason, which the server answers with a clear error, so a
client always hears back and the log holds one line.

The JSON reader also keeps JSON's own numbers: ``NaN`` and ``Infinity`` (which Python's
``json`` takes by default) are refused, integers beyond 64 bits too, as on the HTTP routes.

This subclasses python-socketio's ``Packet`` and ``MsgPackPacket`` and overrides their
public ``decode``/``encode``; ``_to_dict`` of ``MsgPackPacket`` is private, hence the version
range of python-socketio in pyproject.toml and ``tests/server/test_packets.py``.
"""

from __future__ import annotations

import json
from typing import Any

from socketio import packet as _packet
from socketio.msgpack_packet import MsgPackPacket as _MsgPackBase

__all__ = ["BAD_PACKET", "JsonPacket", "MsgPackPacket"]

#: The event a packet that could not be read turns into: ``[BAD_PACKET, reason]``.
BAD_PACKET = "ccviz:bad-packet"
#: The longest integer literal read (20 digits hold every 64-bit integer).
_MAX_INT_DIGITS = 20
#: The packet types a client may send (no binary attachments: no view sends any).
_FROM_CLIENTS = frozenset({_packet.CONNECT, _packet.DISCONNECT, _packet.EVENT, _packet.ACK})


def _int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits (at most {_MAX_INT_DIGITS})")
    return int(text)


def _constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


class _StrictJson:
    """The ``json`` module python-socketio's packets call (``dumps``/``loads``)."""

    dumps = staticmethod(json.dumps)

    @staticmethod
    def loads(text: str | bytes, **options: Any) -> Any:
        return json.loads(text, parse_int=_int, parse_constant=_constant, **options)


def _refuse(pkt: _packet.Packet, reason: str) -> int:
    """Make ``pkt`` the :data:`BAD_PACKET` event (its ack id, if it had one, kept)."""
    pkt.packet_type = _packet.EVENT
    pkt.data = [BAD_PACKET, reason]
    if not isinstance(pkt.namespace, str):
        pkt.namespace = "/"
    if not (type(pkt.id) is int and 0 <= pkt.id < 1 << 53):
        pkt.id = None
    pkt.attachment_count = 0
    return 0


def _checked(pkt: _packet.Packet, attachments: int) -> int:
    if pkt.packet_type not in _FROM_CLIENTS:
        return _refuse(pkt, f"packet type {pkt.packet_type!r} is not taken from a client")
    if pkt.packet_type == _packet.EVENT:
        data = pkt.data
        if not (isinstance(data, list) and data and isinstance(data[0], str)):
            return _refuse(pkt, "an event is [name, ...data]")
    if pkt.namespace is not None and not isinstance(pkt.namespace, str):
        return _refuse(pkt, "the namespace must be a string")
    return attachments


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "the message is nested too deeply"
    return f"the message could not be read: {str(exc)[:200] or type(exc).__name__}"


class JsonPacket(_packet.Packet):
    """socket.io's text packets, read strictly and never raising on a client's bytes."""

    json = _StrictJson

    def decode(self, encoded_packet: Any) -> int:
        try:
            if not isinstance(encoded_packet, str):
                raise ValueError("a binary message where text was expected")
            attachments = super().decode(encoded_packet) or 0
        except (ValueError, TypeError, IndexError, RecursionError) as exc:
            return _refuse(self, _reason(exc))
        return _checked(self, attachments)


class MsgPackPacket(_MsgPackBase):
    """socket.io-msgpack-parser's packets, never raising on a client's bytes.

    python-socketio writes ``data: nil`` in packets that carry none (a server-side
    DISCONNECT); socket.io-msgpack-parser rejects that as an invalid payload and the browser
    reconnects. Leave the key out, as the JS server does.
    """

    def _to_dict(self) -> dict[str, Any]:
        packet = super()._to_dict()
        if packet.get("data") is None:
            packet.pop("data", None)
        return packet

    def decode(self, encoded_packet: Any) -> int:
        try:
            if not isinstance(encoded_packet, (bytes, bytearray)):
                raise ValueError("a text message where msgpack was expected")
            super().decode(encoded_packet)
        except Exception as exc:  # msgpack raises many kinds on hostile bytes
            return _refuse(self, _reason(exc))
        return _checked(self, 0)
