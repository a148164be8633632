"""SNMPv2c messages (RFC 1901, PDUs of RFC 3416) in BER (X.690), encoded and decoded by hand.

Pure: bytes in, a `Response` out; a request's bytes out. The polling path uses this for
v2c because pysnmp decodes through pyasn1 at ~0.08 ms of CPU per varbind, slower than
net-snmp's ``snmpbulkwalk`` process for a whole interface table (see
``scripts/_bench_snmp.py``); this decodes a varbind in a few microseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Final

from endpoints.errors import RemoteProtocolError
from endpoints.snmp.values import (
    INTEGER,
    IP_ADDRESS,
    MAX_OID_LENGTH,
    MAX_SUBID,
    OBJECT_IDENTIFIER,
    OCTET_STRING,
    Oid,
    SnmpValue,
    TypedValue,
)

VERSION_2C: Final = 1  # RFC 1901: the version field of a community-based SNMPv2 message
GET: Final = 0xA0
GET_NEXT: Final = 0xA1
RESPONSE: Final = 0xA2
SET: Final = 0xA3
GET_BULK: Final = 0xA5
MAX_VARBINDS: Final = 10_000

# X.690 universal tags and RFC 2578 §7.1 application tags (the rest are in `values`).
SEQUENCE: Final = 0x30
NULL: Final = 0x05
COUNTER32: Final = 0x41
GAUGE32: Final = 0x42
TIME_TICKS: Final = 0x43
OPAQUE: Final = 0x44
COUNTER64: Final = 0x46
_UNSIGNED: Final = frozenset({COUNTER32, GAUGE32, TIME_TICKS, COUNTER64})


class VarbindException(Enum):
    """RFC 3416 §3 exception values in place of a varbind's value."""

    NO_SUCH_OBJECT = 0x80
    NO_SUCH_INSTANCE = 0x81
    END_OF_MIB_VIEW = 0x82


Value = SnmpValue | VarbindException


class MalformedMessage(RemoteProtocolError):
    """A datagram that is no SNMPv2c response; ``reason`` is a short fixed word."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Response:
    """A decoded Response-PDU."""

    request_id: int
    error_status: int
    error_index: int
    varbinds: tuple[tuple[Oid, Value], ...]


# -- encoding ---------------------------------------------------------------------------------

def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _length(len(content)) + content


def _integer(value: int) -> bytes:
    # X.690 §8.3: two's complement in the fewest octets (a leading 0 keeps unsigned positive).
    return value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)


def encode_oid(oid: Oid) -> bytes:
    """The contents octets of an OBJECT IDENTIFIER (X.690 §8.19)."""
    out = bytearray()
    for sub in (oid[0] * 40 + oid[1], *oid[2:]):
        chunk = [sub & 0x7F]
        sub >>= 7
        while sub:
            chunk.append(0x80 | (sub & 0x7F))
            sub >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def _value(typed: TypedValue | None) -> bytes:
    if typed is None:
        return b"\x05\x00"
    tag, payload = typed
    if isinstance(payload, int):
        return _tlv(tag, _integer(payload))
    if isinstance(payload, tuple):
        return _tlv(tag, encode_oid(payload))
    return _tlv(tag, payload)


def encode_request(community: bytes, request_id: int, pdu_type: int,
                   varbinds: Sequence[tuple[Oid, TypedValue | None]], *,
                   non_repeaters: int = 0, max_repetitions: int = 0) -> bytes:
    """One request message; GETBULK's two counts take the error fields' places."""
    body = b"".join(_tlv(SEQUENCE, _tlv(OBJECT_IDENTIFIER, encode_oid(oid)) + _value(value))
                    for oid, value in varbinds)
    second, third = (non_repeaters, max_repetitions) if pdu_type == GET_BULK else (0, 0)
    pdu = _tlv(pdu_type, _tlv(INTEGER, _integer(request_id)) + _tlv(INTEGER, _integer(second))
               + _tlv(INTEGER, _integer(third)) + _tlv(SEQUENCE, body))
    return _tlv(SEQUENCE, _tlv(INTEGER, _integer(VERSION_2C)) + _tlv(OCTET_STRING, community)
                + pdu)


# -- decoding ---------------------------------------------------------------------------------

class _Reader:
    """Walks BER elements of one buffer, bounds-checked."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def header(self, end: int) -> tuple[int, int]:
        """Tag and content end of the element at the cursor; the cursor moves to content."""
        data, pos = self.data, self.pos
        if pos + 2 > end:
            raise MalformedMessage("truncated", "the message ends inside a BER header")
        tag, first = data[pos], data[pos + 1]
        pos += 2
        if first >= 0x80:
            count = first & 0x7F
            if count == 0 or count > 4:
                raise MalformedMessage("bad_length", "an indefinite or oversized BER length")
            if pos + count > end:
                raise MalformedMessage("truncated", "the message ends inside a BER length")
            first = int.from_bytes(data[pos:pos + count], "big")
            pos += count
        if pos + first > end:
            raise MalformedMessage("truncated", "a BER element runs past its container")
        self.pos = pos
        return tag, pos + first

    def expect(self, tag: int, end: int, what: str) -> int:
        """The content end of the element at the cursor, which must have ``tag``."""
        found, content_end = self.header(end)
        if found != tag:
            raise MalformedMessage("bad_tag", f"{what}: tag 0x{found:02x}, not 0x{tag:02x}")
        return content_end

    def integer(self, end: int, what: str, *, unsigned: bool = False) -> int:
        """The INTEGER (or unsigned application type) whose content ends at ``end``."""
        raw = self.data[self.pos:end]
        if not 1 <= len(raw) <= 9:
            raise MalformedMessage("bad_integer", f"{what} has {len(raw)} content octets")
        self.pos = end
        return int.from_bytes(raw, "big", signed=not unsigned)


def decode_oid(raw: bytes) -> Oid:
    """An OBJECT IDENTIFIER from its contents octets (X.690 §8.19)."""
    if not raw or raw[-1] & 0x80:
        raise MalformedMessage("bad_oid", "an OID that is empty or ends mid sub-identifier")
    subs: list[int] = []
    sub = 0
    for octet in raw:
        if sub == 0 and octet == 0x80:
            raise MalformedMessage("bad_oid", "an OID sub-identifier with a leading 0x80")
        sub = (sub << 7) | (octet & 0x7F)
        if not octet & 0x80:
            subs.append(sub)
            sub = 0
    first = subs[0]
    arcs = (first // 40, first % 40) if first < 80 else (2, first - 80)
    oid = (*arcs, *subs[1:])
    if len(oid) > MAX_OID_LENGTH or max(oid) > MAX_SUBID:
        raise MalformedMessage("bad_oid", "an OID beyond RFC 2578's limits")
    return oid


def _decode_value(reader: _Reader, end: int) -> Value:
    tag, content_end = reader.header(end)
    if tag == INTEGER or tag in _UNSIGNED:
        return reader.integer(content_end, "a value", unsigned=tag in _UNSIGNED)
    raw = reader.data[reader.pos:content_end]
    reader.pos = content_end
    if tag in (OCTET_STRING, OPAQUE):
        return bytes(raw)
    if tag == OBJECT_IDENTIFIER:
        return ".".join(map(str, decode_oid(raw)))
    if tag == IP_ADDRESS:
        if len(raw) != 4:
            raise MalformedMessage("bad_value", "an IpAddress that is not 4 octets")
        return ".".join(map(str, raw))
    if tag == NULL:
        return None
    try:
        return VarbindException(tag)
    except ValueError:
        raise MalformedMessage("bad_value", f"unknown value tag 0x{tag:02x}") from None


def decode_response(data: bytes, community: bytes | None = None) -> Response:
    """A Response-PDU from one datagram (checked against our community when given)."""
    reader = _Reader(data)
    if not data or data[0] != SEQUENCE:
        raise MalformedMessage("not_snmp", "the datagram is not a BER SEQUENCE")
    end = reader.expect(SEQUENCE, len(data), "message")
    if end != len(data):
        raise MalformedMessage("trailing_data", "octets after the SNMP message")
    version = reader.integer(reader.expect(INTEGER, end, "version"), "version")
    if version != VERSION_2C:
        raise MalformedMessage("bad_version", f"message version {version}, not v2c")
    community_end = reader.expect(OCTET_STRING, end, "community")
    if community is not None and data[reader.pos:community_end] != community:
        raise MalformedMessage("bad_community", "a response with another community")
    reader.pos = community_end
    pdu_end = reader.expect(RESPONSE, end, "PDU")
    request_id = reader.integer(reader.expect(INTEGER, pdu_end, "request-id"), "request-id")
    status = reader.integer(reader.expect(INTEGER, pdu_end, "error-status"), "error-status")
    index = reader.integer(reader.expect(INTEGER, pdu_end, "error-index"), "error-index")
    list_end = reader.expect(SEQUENCE, pdu_end, "varbind list")
    varbinds: list[tuple[Oid, Value]] = []
    while reader.pos < list_end:
        if len(varbinds) >= MAX_VARBINDS:
            raise MalformedMessage("too_many_varbinds", "more varbinds than any request asks")
        bind_end = reader.expect(SEQUENCE, list_end, "varbind")
        name_end = reader.expect(OBJECT_IDENTIFIER, bind_end, "varbind name")
        name = decode_oid(data[reader.pos:name_end])
        reader.pos = name_end
        varbinds.append((name, _decode_value(reader, bind_end)))
        if reader.pos != bind_end:
            raise MalformedMessage("bad_varbind", "octets after a varbind's value")
    if list_end != pdu_end or pdu_end != end:
        raise MalformedMessage("trailing_data", "octets after the varbind list")
    return Response(request_id, status, index, tuple(varbinds))
