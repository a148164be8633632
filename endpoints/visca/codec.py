"""VISCA messages and replies as bytes in, events out; no I/O and no asyncio here.

A VISCA packet is a header byte, a body and the terminator 0xFF, 3 to 16 bytes in all.
The controller (address 0) sends ``8x`` headers to camera x (1..7) or ``88`` to every
camera; camera x answers with ``(x+8)0``: ``y0 4z`` ACK on socket z, ``y0 5z``
completion, ``y0 50 ...`` inquiry reply, ``y0 6z ee`` error ee. A camera that powers
up announces itself with ``y0 38`` (network change).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Final

from endpoints.errors import (
    DeviceBusyError,
    DeviceRefusedError,
    LocalProtocolError,
    RemoteProtocolError,
)

_log = logging.getLogger(__name__)

TERMINATOR: Final = 0xFF
MAX_FRAME: Final = 16  # VISCA: a packet is 3 to 16 bytes, header and terminator included
BROADCAST: Final = 8
MAX_CAMERAS: Final = 7
ADDRESS_SET: Final = bytes([0x88, 0x30, 0x01, 0xFF])
IF_CLEAR_BROADCAST: Final = bytes([0x88, 0x01, 0x00, 0x01, 0xFF])

PAN_SPEED_MAX: Final = 0x18
# Sony's widest tilt speed range (EVI-D70: 01..17h); most models stop at 14h.
TILT_SPEED_MAX: Final = 0x17
ZOOM_SPEED_MAX: Final = 7
ZOOM_OPTICAL_MAX: Final = 0x4000
MEMORY_MAX: Final = 0x7F

_COMMAND: Final = 0x01
_INQUIRY: Final = 0x09


class _NeedData(enum.Enum):
    NEED_DATA = "NEED_DATA"


NEED_DATA: Final = _NeedData.NEED_DATA
"""Returned by ``next_event()`` when the buffered bytes hold no complete packet."""


# -- messages we send ------------------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    """A VISCA command: the body between the address byte and the terminator."""

    body: bytes
    slow: bool = False  # completion comes when the camera stops moving or has warmed up
    repeatable: bool = True  # sending it twice has the effect of sending it once


@dataclass(frozen=True)
class Inquiry:
    """A VISCA inquiry: answered by a reply, never acknowledged."""

    body: bytes


Message = Command | Inquiry


def encode(address: int, message: Message) -> bytes:
    """The packet for one camera (address 1..7)."""
    if not 1 <= address <= MAX_CAMERAS:
        raise LocalProtocolError(f"VISCA camera address must be 1 to 7, not {address}")
    packet = bytes([0x80 | address]) + message.body + bytes([TERMINATOR])
    if TERMINATOR in message.body or len(packet) > MAX_FRAME or not message.body:
        raise LocalProtocolError(f"not a valid VISCA message body: {message.body.hex(' ')}")
    return packet


def _check(name: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise LocalProtocolError(f"VISCA {name} must be {low:#x} to {high:#x}, not {value!r}")
    return value


def nibbles(value: int, count: int = 4) -> bytes:
    """A signed 16-bit value as four ``0p`` bytes, high nibble first (count=4)."""
    if count == 4:
        _check("position", value, -0x8000, 0x7FFF)
        value &= 0xFFFF
    else:
        _check("value", value, 0, (1 << (4 * count)) - 1)
    return bytes((value >> (4 * i)) & 0x0F for i in reversed(range(count)))


def from_nibbles(data: bytes, signed: bool = True) -> int:
    """Inverse of `nibbles`; `RemoteProtocolError` if a byte is not ``0p``."""
    if not data or any(b > 0x0F for b in data):
        raise RemoteProtocolError(f"VISCA value bytes must be 00..0F: {data.hex(' ')}")
    value = 0
    for b in data:
        value = (value << 4) | b
    bits = 4 * len(data)
    if signed and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def cam_power(on: bool) -> Command:
    """CAM_Power On (02) / Off, i.e. standby (03)."""
    return Command(bytes([_COMMAND, 0x04, 0x00, 0x02 if on else 0x03]), slow=on)


def cam_power_inquiry() -> Inquiry:
    """CAM_PowerInq: reply 02 on, 03 standby, 04 power circuit error."""
    return Inquiry(bytes([_INQUIRY, 0x04, 0x00]))


def pan_tilt_drive(pan: int, tilt: int, pan_speed: int, tilt_speed: int) -> Command:
    """Pan-tiltDrive: pan -1 left / +1 right, tilt +1 up / -1 down, 0 stops that axis."""
    _check("pan speed", pan_speed, 1, PAN_SPEED_MAX)
    _check("tilt speed", tilt_speed, 1, TILT_SPEED_MAX)
    # VISCA: pan 01 left, 02 right, 03 stop; tilt 01 up, 02 down, 03 stop.
    pan_byte = {-1: 0x01, 1: 0x02, 0: 0x03}.get(pan)
    tilt_byte = {1: 0x01, -1: 0x02, 0: 0x03}.get(tilt)
    if pan_byte is None or tilt_byte is None:
        raise LocalProtocolError("pan and tilt directions must be -1, 0 or 1")
    return Command(bytes([_COMMAND, 0x06, 0x01, pan_speed, tilt_speed, pan_byte, tilt_byte]))


def pan_tilt_stop(pan_speed: int = 1, tilt_speed: int = 1) -> Command:
    """Pan-tiltDrive Stop (the speeds are required on the wire but ignored)."""
    return pan_tilt_drive(0, 0, pan_speed, tilt_speed)


def _position(kind: int, pan_speed: int, tilt_speed: int, pan: int, tilt: int) -> bytes:
    _check("pan speed", pan_speed, 1, PAN_SPEED_MAX)
    _check("tilt speed", tilt_speed, 1, TILT_SPEED_MAX)
    return bytes([_COMMAND, 0x06, kind, pan_speed, tilt_speed]) + nibbles(pan) + nibbles(tilt)


def pan_tilt_absolute(pan_speed: int, tilt_speed: int, pan: int, tilt: int) -> Command:
    """AbsolutePosition: signed 16-bit pan and tilt in the camera's units."""
    return Command(_position(0x02, pan_speed, tilt_speed, pan, tilt), slow=True)


def pan_tilt_relative(pan_speed: int, tilt_speed: int, pan: int, tilt: int) -> Command:
    """RelativePosition: signed 16-bit steps from where the camera is."""
    return Command(_position(0x03, pan_speed, tilt_speed, pan, tilt), slow=True, repeatable=False)


def pan_tilt_home() -> Command:
    """Pan-tiltDrive Home."""
    return Command(bytes([_COMMAND, 0x06, 0x04]), slow=True)


def pan_tilt_position_inquiry() -> Inquiry:
    """Pan-tiltPosInq: reply 0w 0w 0w 0w 0z 0z 0z 0z (pan, tilt)."""
    return Inquiry(bytes([_INQUIRY, 0x06, 0x12]))


def zoom_stop() -> Command:
    """CAM_Zoom Stop."""
    return Command(bytes([_COMMAND, 0x04, 0x07, 0x00]))


def zoom_tele(speed: int) -> Command:
    """CAM_Zoom Tele (variable), speed 0 (low) .. 7 (high)."""
    return Command(bytes([_COMMAND, 0x04, 0x07, 0x20 | _check("zoom speed", speed, 0, 7)]))


def zoom_wide(speed: int) -> Command:
    """CAM_Zoom Wide (variable), speed 0 (low) .. 7 (high)."""
    return Command(bytes([_COMMAND, 0x04, 0x07, 0x30 | _check("zoom speed", speed, 0, 7)]))


def zoom_direct(position: int) -> Command:
    """CAM_Zoom Direct: 0 wide end .. 4000h optical tele end (more is digital zoom)."""
    _check("zoom position", position, 0, 0x7FFF)
    return Command(bytes([_COMMAND, 0x04, 0x47]) + nibbles(position, 4), slow=True)


def zoom_position_inquiry() -> Inquiry:
    """CAM_ZoomPosInq: reply 0p 0q 0r 0s."""
    return Inquiry(bytes([_INQUIRY, 0x04, 0x47]))


def focus_auto() -> Command:
    """CAM_Focus Auto Focus."""
    return Command(bytes([_COMMAND, 0x04, 0x38, 0x02]))


def focus_manual() -> Command:
    """CAM_Focus Manual Focus."""
    return Command(bytes([_COMMAND, 0x04, 0x38, 0x03]))


def focus_far() -> Command:
    """CAM_Focus Far (standard speed); refused while auto focus is on."""
    return Command(bytes([_COMMAND, 0x04, 0x08, 0x02]))


def focus_near() -> Command:
    """CAM_Focus Near (standard speed); refused while auto focus is on."""
    return Command(bytes([_COMMAND, 0x04, 0x08, 0x03]))


def focus_stop() -> Command:
    """CAM_Focus Stop."""
    return Command(bytes([_COMMAND, 0x04, 0x08, 0x00]))


def focus_mode_inquiry() -> Inquiry:
    """CAM_FocusModeInq: reply 02 auto, 03 manual."""
    return Inquiry(bytes([_INQUIRY, 0x04, 0x38]))


def _memory(action: int, preset: int) -> Command:
    _check("memory number", preset, 0, MEMORY_MAX)
    return Command(bytes([_COMMAND, 0x04, 0x3F, action, preset]), slow=action == 0x02)


def memory_reset(preset: int) -> Command:
    """CAM_Memory Reset: forget a preset."""
    return _memory(0x00, preset)


def memory_set(preset: int) -> Command:
    """CAM_Memory Set: store the current position as a preset."""
    return _memory(0x01, preset)


def memory_recall(preset: int) -> Command:
    """CAM_Memory Recall: go to a preset."""
    return _memory(0x02, preset)


def if_clear() -> Command:
    """IF_Clear for one camera: empties its command buffers (reply ``y0 50``)."""
    return Command(bytes([_COMMAND, 0x00, 0x01]))


def command_cancel(socket: int) -> bytes:
    """The body of a Cancel for a socket (1 or 2): ``8x 2p``."""
    return bytes([0x20 | _check("socket", socket, 1, 0x0F)])


def decode_power(payload: bytes) -> int:
    """CAM_PowerInq reply: 2 on, 3 standby, 4 power circuit error."""
    if len(payload) != 1 or payload[0] not in (0x02, 0x03, 0x04):
        raise RemoteProtocolError(f"unexpected power reply: {payload.hex(' ')}")
    return payload[0]


def decode_pan_tilt(payload: bytes) -> tuple[int, int]:
    """Pan-tiltPosInq reply as signed (pan, tilt)."""
    if len(payload) != 8:
        raise RemoteProtocolError(f"unexpected pan-tilt position reply: {payload.hex(' ')}")
    return from_nibbles(payload[:4]), from_nibbles(payload[4:])


def decode_zoom(payload: bytes) -> int:
    """CAM_ZoomPosInq reply as 0..7FFFh."""
    if len(payload) != 4:
        raise RemoteProtocolError(f"unexpected zoom position reply: {payload.hex(' ')}")
    return from_nibbles(payload, signed=False)


# -- what a camera sends back ----------------------------------------------------------------

class ErrorKind(enum.IntEnum):
    """VISCA error codes (``y0 6z ee``)."""

    MESSAGE_LENGTH = 0x01
    SYNTAX = 0x02
    BUFFER_FULL = 0x03
    CANCELLED = 0x04
    NO_SOCKET = 0x05
    NOT_EXECUTABLE = 0x41


@dataclass(frozen=True)
class Ack:
    """The camera took a command into a socket."""

    address: int
    socket: int


@dataclass(frozen=True)
class Completion:
    """The command on that socket is done (socket 0: an IF_Clear finished)."""

    address: int
    socket: int
    payload: bytes = b""


@dataclass(frozen=True)
class Error:
    """The camera refused or dropped a command or inquiry."""

    address: int
    socket: int
    code: int

    @property
    def kind(self) -> ErrorKind | None:
        """The known error, or None for a code outside the spec."""
        try:
            return ErrorKind(self.code)
        except ValueError:
            return None


@dataclass(frozen=True)
class InquiryReply:
    """The answer to an inquiry (``y0 50 ...``)."""

    address: int
    payload: bytes


@dataclass(frozen=True)
class AddressSet:
    """The address-set broadcast came back round the chain."""

    next_address: int

    @property
    def cameras(self) -> int:
        """How many cameras took an address."""
        return self.next_address - 1


@dataclass(frozen=True)
class IfClear:
    """The IF_Clear broadcast came back round the chain."""


@dataclass(frozen=True)
class NetworkChange:
    """A camera joined the chain (power on, cable plugged): addresses need setting again."""

    address: int


@dataclass(frozen=True)
class Returned:
    """A message of ours came back round the chain: no camera has that address."""

    address: int
    body: bytes


@dataclass(frozen=True)
class FrameDropped:
    """Bytes that were not a valid packet; ``reason`` is a short fixed word."""

    reason: str
    data: bytes = b""  # the first bytes, for a debug log


@dataclass(frozen=True)
class Request:
    """A packet from a controller, as a camera (or the simulator) reads it."""

    address: int  # 1..7, or BROADCAST
    body: bytes

    @property
    def is_command(self) -> bool:
        """``8x 01 ...``."""
        return self.body[0] == _COMMAND

    @property
    def is_inquiry(self) -> bool:
        """``8x 09 ...``."""
        return self.body[0] == _INQUIRY

    @property
    def cancel_socket(self) -> int | None:
        """The socket a ``8x 2p`` Cancel names, else None."""
        if len(self.body) == 1 and self.body[0] & 0xF0 == 0x20:
            return self.body[0] & 0x0F
        return None


ReplyEvent = (Ack | Completion | Error | InquiryReply | AddressSet | IfClear | NetworkChange
              | Returned | FrameDropped)
RequestEvent = Request | FrameDropped


def decode_reply(frame: bytes) -> ReplyEvent:
    """One whole packet (header .. FF) read by a controller."""
    if len(frame) < 3 or frame[-1] != TERMINATOR or frame[0] < 0x80 or len(frame) > MAX_FRAME:
        return FrameDropped("malformed", frame[:MAX_FRAME])
    header, body = frame[0], frame[1:-1]
    if TERMINATOR in body:
        return FrameDropped("malformed", frame)
    if header == 0x80 | BROADCAST:
        if len(body) == 2 and body[0] == 0x30 and 1 <= body[1] <= BROADCAST:
            return AddressSet(body[1])
        if body == IF_CLEAR_BROADCAST[1:-1]:
            return IfClear()
        return FrameDropped("unknown", frame)
    if header & 0xF0 == 0x80:
        # Sender 0 (a controller): one of ours went round the ring untaken.
        if 1 <= header & 0x0F <= MAX_CAMERAS:
            return Returned(header & 0x0F, body)
        return FrameDropped("malformed", frame)
    if header & 0x0F != 0:
        return FrameDropped("misaddressed", frame)  # meant for another controller
    address = (header >> 4) - 8
    kind, socket = body[0] & 0xF0, body[0] & 0x0F
    if kind == 0x40 and len(body) == 1:
        return Ack(address, socket)
    if kind == 0x50:
        if socket == 0 and len(body) > 1:
            return InquiryReply(address, body[1:])
        return Completion(address, socket, body[1:])
    if kind == 0x60 and len(body) == 2:
        return Error(address, socket, body[1])
    if body == b"\x38":
        return NetworkChange(address)
    return FrameDropped("unknown", frame)


def decode_request(frame: bytes) -> RequestEvent:
    """One whole packet (header .. FF) read by a camera."""
    if len(frame) < 3 or frame[-1] != TERMINATOR or len(frame) > MAX_FRAME:
        return FrameDropped("malformed", frame[:MAX_FRAME])
    header, body = frame[0], frame[1:-1]
    if header & 0xF0 != 0x80 or header & 0x0F == 0 or header & 0x0F > BROADCAST:
        return FrameDropped("malformed", frame)
    if TERMINATOR in body:
        return FrameDropped("malformed", frame)
    return Request(header & 0x0F, body)


class Framer:
    """Splits a byte stream into packets at 0xFF; longer runs are dropped and skipped."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> None:
        """Add received bytes."""
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes held that are not yet a packet."""
        return len(self._buf)

    def next_frame(self) -> bytes | FrameDropped | _NeedData:
        """The next packet, a `FrameDropped`, or `NEED_DATA`."""
        while True:
            if self._skipping:
                # §4: resynchronise at the next terminator.
                end = self._buf.find(TERMINATOR)
                if end < 0:
                    self._buf.clear()
                    return NEED_DATA
                del self._buf[:end + 1]
                self._skipping = False
                continue
            end = self._buf.find(TERMINATOR, 0, self.max_frame)
            if end < 0:
                if len(self._buf) >= self.max_frame:
                    head = bytes(self._buf[:self.max_frame])
                    self._skipping = True
                    return FrameDropped("overlong", head)
                return NEED_DATA
            frame = bytes(self._buf[:end + 1])
            del self._buf[:end + 1]
            if frame[0] < 0x80 or len(frame) < 3:
                return FrameDropped("garbage", frame)
            return frame


class ReplyParser:
    """What a controller reads: feed bytes, then take events until `NEED_DATA`."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._framer = Framer(max_frame)

    def feed(self, data: bytes) -> None:
        """Add received bytes."""
        self._framer.feed(data)

    def next_event(self) -> ReplyEvent | _NeedData:
        """The next event, or `NEED_DATA`."""
        item = self._framer.next_frame()
        if isinstance(item, bytes):
            return decode_reply(item)
        return item


class RequestParser:
    """What a camera reads: feed bytes, then take requests until `NEED_DATA`."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._framer = Framer(max_frame)

    def feed(self, data: bytes) -> None:
        """Add received bytes."""
        self._framer.feed(data)

    def next_event(self) -> RequestEvent | _NeedData:
        """The next request, or `NEED_DATA`."""
        item = self._framer.next_frame()
        if isinstance(item, bytes):
            return decode_request(item)
        return item


def encode_reply(address: int, kind: int, socket: int = 0, payload: bytes = b"") -> bytes:
    """A camera's packet: ``kind`` 0x40 ACK, 0x50 completion or reply, 0x60 error."""
    _check("camera address", address, 1, MAX_CAMERAS)
    return bytes([(address + 8) << 4, kind | socket]) + payload + bytes([TERMINATOR])


# -- errors a camera reports, as endpoint errors (the retry policy reads their classes) ------

_REFUSALS: Final[dict[ErrorKind, tuple[type[DeviceRefusedError], str]]] = {
    ErrorKind.MESSAGE_LENGTH: (DeviceRefusedError, "the camera rejected the message length"),
    ErrorKind.SYNTAX: (DeviceRefusedError,
                       "the camera does not understand this command (this model may not "
                       "support it)"),
    ErrorKind.BUFFER_FULL: (DeviceBusyError, "the camera is busy with other commands"),
    ErrorKind.CANCELLED: (DeviceRefusedError, "the command was cancelled"),
    ErrorKind.NO_SOCKET: (DeviceBusyError, "the camera has no such command in progress"),
    ErrorKind.NOT_EXECUTABLE: (DeviceRefusedError,
                               "the camera cannot do that now (it may be in standby or in "
                               "another mode)"),
}


def refusal(error: Error, who: str) -> DeviceRefusedError:
    """The endpoint error for a camera's error reply; ``who`` names the camera."""
    kind = error.kind
    code = f"0x{error.code:02X}"
    if kind is None:
        return DeviceRefusedError(f"{who}: the camera reported error {code}", device_code=code)
    cls, text = _REFUSALS[kind]
    return cls(f"{who}: {text}", device_code=code)
