"""VISCA codec: recorded captures replayed whole, byte by byte and in pieces; fuzzing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from endpoints.errors import LocalProtocolError, RemoteProtocolError
from endpoints.visca import codec, ip
from endpoints.visca.codec import (
    NEED_DATA,
    Ack,
    AddressSet,
    Completion,
    Error,
    FrameDropped,
    IfClear,
    InquiryReply,
    NetworkChange,
    ReplyEvent,
    ReplyParser,
    Request,
    RequestEvent,
    RequestParser,
    Returned,
)

DATA = Path(__file__).parent.parent / "data" / "visca"
SERIAL_CAPTURES = ["sony-evi-d70.hex", "sony-evi-d70-chain.hex"]
EVENTS: dict[str, type[Any]] = {c.__name__: c for c in (
    Ack, AddressSet, Completion, Error, FrameDropped, IfClear, InquiryReply, NetworkChange,
    Returned)}
BYTE_FIELDS = {"payload", "body"}


@dataclass(frozen=True)
class Line:
    direction: str  # ">", "<" or "!"
    data: bytes
    note: str


def read_capture(name: str) -> list[Line]:
    lines = []
    for raw in (DATA / name).read_text().splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        direction, rest = raw[0], raw[1:]
        hex_part, _, note = rest.partition(";")
        lines.append(Line(direction, bytes.fromhex(hex_part), note.strip()))
    return lines


def expected_event(note: str) -> ReplyEvent:
    """``Name field=value ...`` → the event."""
    name, *fields = note.split()
    kwargs: dict[str, Any] = {}
    for item in fields:
        key, _, value = item.partition("=")
        if key in BYTE_FIELDS:
            kwargs[key] = bytes.fromhex(value)
        elif key == "reason":
            kwargs[key] = value
        else:
            kwargs[key] = int(value, 0)
    event: ReplyEvent = EVENTS[name](**kwargs)
    return event


def encoded(note: str, address: int) -> bytes | None:
    """``name(args)`` → the encoder's bytes; None for "raw" lines."""
    match = re.fullmatch(r"(\w+)\((.*)\)", note)
    if match is None:
        assert note == "raw", note
        return None
    name, arg_text = match.groups()
    if name == "address_set":
        return codec.ADDRESS_SET
    if name == "if_clear_broadcast":
        return codec.IF_CLEAR_BROADCAST
    args: list[int | bool] = []
    for token in filter(None, (t.strip() for t in arg_text.split(","))):
        args.append({"true": True, "false": False}[token] if token in ("true", "false")
                    else int(token, 0))
    return codec.encode(address, getattr(codec, name)(*args))


def drain_replies(parser: ReplyParser) -> list[ReplyEvent]:
    events = []
    while (event := parser.next_event()) is not NEED_DATA:
        events.append(event)
    return events


def drain_requests(parser: RequestParser) -> list[RequestEvent]:
    events = []
    while (event := parser.next_event()) is not NEED_DATA:
        events.append(event)
    return events


def compare(event: ReplyEvent, wanted: ReplyEvent) -> bool:
    # A dropped frame is compared by reason: the bytes it carries are for logs.
    if isinstance(event, FrameDropped) and isinstance(wanted, FrameDropped):
        return event.reason == wanted.reason
    return event == wanted


def chunked(data: bytes, sizes: list[int]) -> list[bytes]:
    pieces, at = [], 0
    for size in sizes:
        pieces.append(data[at:at + size])
        at += size
    pieces.append(data[at:])
    return pieces


# -- captures --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SERIAL_CAPTURES)
@pytest.mark.parametrize("feeding", ["whole", "byte-by-byte", "pieces"])
def test_camera_replies_in_capture_parse_to_the_recorded_events(name: str, feeding: str) -> None:
    lines = [ln for ln in read_capture(name) if ln.direction in "<!"]
    stream = b"".join(ln.data for ln in lines)
    wanted = [expected_event(ln.note) for ln in lines]
    parser = ReplyParser()
    events: list[ReplyEvent] = []
    if feeding == "whole":
        pieces = [stream]
    elif feeding == "byte-by-byte":
        pieces = [stream[i:i + 1] for i in range(len(stream))]
    else:
        pieces = chunked(stream, [3, 7, 1, 16, 5, 2, 11] * 20)
    for piece in pieces:
        parser.feed(piece)
        events += drain_replies(parser)
    assert len(events) == len(wanted)
    mismatches = [(e, w) for e, w in zip(events, wanted, strict=True) if not compare(e, w)]
    assert mismatches == []


@pytest.mark.parametrize("name", SERIAL_CAPTURES)
def test_controller_packets_in_capture_are_what_the_encoder_makes(name: str) -> None:
    lines = [ln for ln in read_capture(name) if ln.direction == ">"]
    parser = RequestParser()
    checked = 0
    for line in lines:
        parser.feed(line.data)
        (request,) = drain_requests(parser)
        assert isinstance(request, Request)
        made = encoded(line.note, request.address)
        if made is not None:
            assert made.hex(" ") == line.data.hex(" "), line.note
            checked += 1
    assert checked >= len(lines) - 2


def test_ip_capture_headers_and_payloads_decode_as_recorded() -> None:
    for line in read_capture("sony-srg-300h.hex"):
        packet = ip.decode_packet(line.data)
        fields = line.note.split()
        assert fields[0] == f"type={packet.type.name}"
        assert fields[1] == f"seq={packet.sequence}"
        assert ip.encode_packet(packet) == line.data
        if line.direction == "<" and packet.type is ip.PayloadType.VISCA_REPLY:
            assert codec.decode_reply(packet.payload) == expected_event(" ".join(fields[2:]))


# -- framing ---------------------------------------------------------------------------------

def test_overlong_run_is_dropped_once_and_the_next_packet_is_read() -> None:
    parser = ReplyParser()
    parser.feed(b"\x90" + b"\x01" * 40 + b"\xff" + b"\x90\x41\xff")
    events = drain_replies(parser)
    assert [type(e) for e in events] == [FrameDropped, Ack]
    assert isinstance(events[0], FrameDropped)
    assert events[0].reason == "overlong"


def test_overlong_run_split_across_reads_stays_dropped_until_its_terminator() -> None:
    parser = ReplyParser()
    parser.feed(b"\x90" + b"\x01" * 20)
    first = drain_replies(parser)
    parser.feed(b"\x01" * 30)
    assert drain_replies(parser) == []
    parser.feed(b"\x02\xff\x90\x51\xff")
    assert [type(e) for e in first + drain_replies(parser)] == [FrameDropped, Completion]


def test_sixteen_byte_packet_is_the_largest_accepted() -> None:
    packet = b"\x90\x50" + bytes(range(13)) + b"\xff"
    assert len(packet) == codec.MAX_FRAME
    parser = ReplyParser()
    parser.feed(packet)
    assert drain_replies(parser) == [InquiryReply(1, bytes(range(13)))]


def test_reply_for_another_controller_is_dropped_as_misaddressed() -> None:
    assert codec.decode_reply(b"\x91\x41\xff") == FrameDropped("misaddressed", b"\x91\x41\xff")


@pytest.mark.parametrize(("value", "wire"), [
    (0, "00 00 00 00"), (0x08DB, "00 08 0d 0b"), (-1, "0f 0f 0f 0f"), (-0x08DB, "0f 07 02 05"),
    (0x7FFF, "07 0f 0f 0f"), (-0x8000, "08 00 00 00")])
def test_positions_are_signed_16_bit_nibbles(value: int, wire: str) -> None:
    assert codec.nibbles(value).hex(" ") == wire
    assert codec.from_nibbles(bytes.fromhex(wire)) == value


@pytest.mark.parametrize("call", [
    lambda: codec.pan_tilt_drive(1, 0, 0, 1), lambda: codec.pan_tilt_drive(1, 0, 0x19, 1),
    lambda: codec.pan_tilt_drive(2, 0, 1, 1), lambda: codec.zoom_tele(8),
    lambda: codec.memory_recall(0x80), lambda: codec.pan_tilt_absolute(1, 1, 0x8000, 0),
    lambda: codec.encode(0, codec.cam_power(True)), lambda: codec.encode(8, codec.zoom_stop())])
def test_encoder_refuses_what_visca_cannot_carry(call: Any) -> None:
    with pytest.raises(LocalProtocolError):
        call()


def test_malformed_inquiry_payloads_raise_typed_errors() -> None:
    with pytest.raises(RemoteProtocolError):
        codec.decode_pan_tilt(b"\x00\x10\x00\x00\x00\x00\x00\x00")
    with pytest.raises(RemoteProtocolError):
        codec.decode_power(b"\x07")


def test_camera_errors_become_endpoint_errors_with_the_device_code() -> None:
    busy = codec.refusal(Error(1, 0, 0x03), "camera 1")
    refused = codec.refusal(Error(1, 1, 0x41), "camera 1")
    assert busy.code == "device_busy"
    assert busy.device_code == "0x03"
    assert refused.code == "device_refused"
    assert refused.device_code == "0x41"
    assert "standby" in refused.message


# -- fuzzing ---------------------------------------------------------------------------------

VALID_REPLIES = [b"\x90\x41\xff", b"\xa0\x52\xff", b"\x90\x50\x02\xff", b"\x90\x61\x41\xff",
                 b"\x88\x30\x02\xff"]


@settings(max_examples=300, deadline=None)
@given(noise=st.binary(max_size=120), pieces=st.lists(st.integers(1, 9), max_size=30),
       valid=st.sampled_from(VALID_REPLIES))
def test_arbitrary_bytes_give_only_events_and_the_parser_recovers(
        noise: bytes, pieces: list[int], valid: bytes) -> None:
    parser = ReplyParser()
    events: list[ReplyEvent] = []
    for piece in chunked(noise + b"\xff" + valid, pieces):
        parser.feed(piece)
        events += drain_replies(parser)
    assert all(isinstance(e, ReplyEvent) for e in events)
    assert events[-1] == codec.decode_reply(valid)
    assert not isinstance(events[-1], FrameDropped)


@settings(max_examples=300, deadline=None)
@given(noise=st.binary(max_size=120))
def test_arbitrary_bytes_to_a_camera_give_only_requests_or_drops(noise: bytes) -> None:
    parser = RequestParser()
    parser.feed(noise + b"\xff\x81\x09\x04\x00\xff")
    events = drain_requests(parser)
    assert all(isinstance(e, Request | FrameDropped) for e in events)
    assert events[-1] == Request(1, b"\x09\x04\x00")


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=40))
def test_arbitrary_datagrams_decode_or_raise_a_typed_error(data: bytes) -> None:
    try:
        packet = ip.decode_packet(data)
    except RemoteProtocolError:
        return
    assert ip.encode_packet(packet) == data


@settings(max_examples=200, deadline=None)
@given(value=st.integers(-0x8000, 0x7FFF))
def test_nibble_encoding_round_trips(value: int) -> None:
    assert codec.from_nibbles(codec.nibbles(value)) == value
