"""VISCA over IP (Sony, UDP port 52381); no I/O and no asyncio here, time is an argument.

Each datagram is an 8-byte header (payload type, payload length, 32-bit sequence
number, all big-endian) and one VISCA packet or control payload. The controller
resets the camera's sequence number with the RESET control command, numbers every
message, and on a timeout sends the same message again with the same number: the
camera answers a number it has already seen with ERROR 0F 01, which says the first
copy arrived (Sony's "delivery confirmation" table).

Some cameras ignore or mishandle sequence numbers and want 0 in every message; with
``quirk=True`` the session sends no RESET, numbers every message 0, and matches a
reply to the one message in flight whatever number it carries.
"""

from __future__ import annotations

import enum
import logging
import math
import struct
from collections import deque
from dataclasses import dataclass
from typing import Final

from endpoints.errors import LocalProtocolError, RemoteProtocolError
from endpoints.visca.codec import (
    MAX_FRAME,
    Ack,
    Command,
    Completion,
    Error,
    FrameDropped,
    Inquiry,
    InquiryReply,
    Message,
    decode_reply,
    encode,
)

_log = logging.getLogger(__name__)

VISCA_IP_PORT: Final = 52381
HEADER_SIZE: Final = 8
MAX_DATAGRAM: Final = HEADER_SIZE + MAX_FRAME
SEQUENCE_MODULUS: Final = 1 << 32
IP_ADDRESS: Final = 1  # VISCA over IP: the peripheral is always camera 1

CONTROL_RESET: Final = b"\x01"
CONTROL_ACK: Final = b"\x01"
CONTROL_SEQUENCE_ERROR: Final = b"\x0f\x01"
CONTROL_MESSAGE_ERROR: Final = b"\x0f\x02"


class PayloadType(enum.IntEnum):
    """Header bytes 0-1."""

    VISCA_COMMAND = 0x0100
    VISCA_INQUIRY = 0x0110
    VISCA_REPLY = 0x0111
    VISCA_DEVICE_SETTING = 0x0120
    CONTROL_COMMAND = 0x0200
    CONTROL_REPLY = 0x0201


@dataclass(frozen=True)
class Packet:
    """One VISCA-over-IP datagram."""

    type: PayloadType
    sequence: int
    payload: bytes


_HEADER = struct.Struct(">HHI")


def encode_packet(packet: Packet) -> bytes:
    """The datagram bytes."""
    if not 1 <= len(packet.payload) <= MAX_FRAME:
        raise LocalProtocolError("a VISCA-over-IP payload is 1 to 16 bytes")
    if not 0 <= packet.sequence < SEQUENCE_MODULUS:
        raise LocalProtocolError("a VISCA-over-IP sequence number is 32 bits")
    return _HEADER.pack(packet.type, len(packet.payload), packet.sequence) + packet.payload


def decode_packet(data: bytes) -> Packet:
    """Parse one datagram; `RemoteProtocolError` if it is not VISCA over IP."""
    if len(data) < HEADER_SIZE + 1 or len(data) > MAX_DATAGRAM:
        raise RemoteProtocolError(f"VISCA-over-IP datagram of {len(data)} bytes")
    kind, length, sequence = _HEADER.unpack_from(data)
    try:
        ptype = PayloadType(kind)
    except ValueError:
        raise RemoteProtocolError(f"unknown VISCA-over-IP payload type {kind:#06x}") from None
    if length != len(data) - HEADER_SIZE:
        raise RemoteProtocolError(
            f"VISCA-over-IP length field {length} for {len(data) - HEADER_SIZE} bytes")
    return Packet(ptype, sequence, bytes(data[HEADER_SIZE:]))


# -- what the session tells its transport ----------------------------------------------------

@dataclass(frozen=True)
class ResetDone:
    """The camera acknowledged RESET; sequence numbers start again."""


@dataclass(frozen=True)
class Replied:
    """The message is done: completion or inquiry reply (``payload``)."""

    payload: bytes
    confirmed: bool = True  # False: performed per the camera's 0F 01, completion unseen


@dataclass(frozen=True)
class Refused:
    """The camera answered the message with a VISCA error."""

    error: Error


@dataclass(frozen=True)
class Rejected:
    """The camera rejected the datagram itself (control ERROR ``code``)."""

    code: bytes


@dataclass(frozen=True)
class TimedOut:
    """No answer in time; ``phase`` is "reset", "reply" or "completion"."""

    phase: str
    after: float


IpEvent = ResetDone | Replied | Refused | Rejected | TimedOut | FrameDropped


@dataclass(eq=False)
class _Pending:
    message: Message | None  # None: a RESET
    packet: bytes
    sequence: int
    deadline: float
    next_send: float
    sends: int = 1
    phase: str = "reply"  # reply | completion | probe
    resynced: bool = False


class IpSession:
    """One camera over VISCA/IP: RESET, sequence numbers, retransmission, one message at a time."""

    def __init__(self, *, quirk: bool = False, retransmit_interval: float = 0.25,
                 max_retransmits: int = 3) -> None:
        self.quirk = quirk
        self.retransmit_interval = retransmit_interval
        self.max_retransmits = max_retransmits
        self._reset_done = False
        self._next_sequence = 0
        self._pending: _Pending | None = None
        self._held: Message | None = None  # waits for RESET
        self._held_resynced = False
        self._started = 0.0
        self._reply_timeout = 0.0
        self._completion_timeout = 0.0
        self._out: deque[bytes] = deque()
        self._events: deque[IpEvent] = deque()

    @property
    def ready(self) -> bool:
        """Whether a message would go out without a RESET first."""
        return self.quirk or self._reset_done

    @property
    def busy(self) -> bool:
        """Whether a message (or RESET) is in flight."""
        return self._pending is not None

    def start_reset(self, now: float, timeout: float) -> None:
        """Send RESET; ends in `ResetDone` or `TimedOut("reset")`."""
        self._ensure_idle()
        self._started, self._reply_timeout = now, timeout
        self._send_reset(now)

    def send(self, message: Message, now: float, *, reply_timeout: float,
             completion_timeout: float) -> None:
        """Send a message (after a RESET if the session has none yet)."""
        self._ensure_idle()
        self._started = now
        self._reply_timeout, self._completion_timeout = reply_timeout, completion_timeout
        if self.ready:
            self._transmit(message, now)
        else:
            self._held, self._held_resynced = message, False
            self._send_reset(now)

    def abandon(self) -> None:
        """Forget the message in flight (its caller gave up or the socket closed)."""
        self._pending = None
        self._held = None
        self._held_resynced = False

    def forget_reset(self) -> None:
        """Send RESET again before the next message (the camera may have restarted)."""
        self._reset_done = False

    def datagrams_to_send(self) -> list[bytes]:
        """Datagrams to send now, in order."""
        out = list(self._out)
        self._out.clear()
        return out

    def next_event(self) -> IpEvent | None:
        """The next event, or None."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When `handle_timer` must next run, or None."""
        pending = self._pending
        if pending is None:
            return None
        return min(pending.deadline, pending.next_send)

    def handle_timer(self, now: float) -> None:
        """Retransmit or time out the message in flight."""
        pending = self._pending
        if pending is None:
            return
        if now >= pending.deadline:
            if pending.phase == "completion" and not self.quirk:
                # Sony: resending a number already seen answers 0F 01 if it was performed.
                pending.phase = "probe"
                pending.deadline = now + self.retransmit_interval
                pending.next_send = math.inf
                self._out.append(pending.packet)
                return
            phase = "reset" if pending.message is None and self._held is None else (
                "completion" if pending.phase in ("completion", "probe") else "reply")
            after = self._completion_timeout if phase == "completion" else self._reply_timeout
            self.abandon()
            self._events.append(TimedOut(phase, after))
            return
        if now >= pending.next_send:
            pending.sends += 1
            self._out.append(pending.packet)  # same bytes, same sequence number
            pending.next_send = (now + self.retransmit_interval
                                 if pending.sends <= self.max_retransmits else math.inf)

    def datagram_received(self, data: bytes, now: float) -> None:
        """Apply one datagram from the camera."""
        try:
            packet = decode_packet(data)
        except RemoteProtocolError:
            self._events.append(FrameDropped("malformed", bytes(data[:MAX_DATAGRAM])))
            return
        pending = self._pending
        if pending is None:
            self._drop("unexpected", data)
        elif not self.quirk and packet.sequence != pending.sequence:
            self._drop("stale", data)  # a late answer to an earlier message
        elif packet.type is PayloadType.CONTROL_REPLY:
            self._control_reply(pending, packet.payload, now, data)
        elif packet.type is PayloadType.VISCA_REPLY and pending.message is not None:
            self._visca_reply(pending, packet.payload, now, data)
        else:
            self._drop("unexpected", data)

    # -- internals -------------------------------------------------------------------------

    def _ensure_idle(self) -> None:
        if self._pending is not None:
            raise LocalProtocolError("a VISCA-over-IP message is already in flight")

    def _sequence(self) -> int:
        if self.quirk:
            return 0
        sequence = self._next_sequence
        self._next_sequence = (sequence + 1) % SEQUENCE_MODULUS
        return sequence

    def _send_reset(self, now: float) -> None:
        # RESET's own number is ignored by the camera; send 0.
        packet = encode_packet(Packet(PayloadType.CONTROL_COMMAND, 0, CONTROL_RESET))
        self._pending = _Pending(None, packet, 0, self._started + self._reply_timeout,
                                 now + self.retransmit_interval)
        self._out.append(packet)

    def _transmit(self, message: Message, now: float, *, resynced: bool = False) -> None:
        ptype = (PayloadType.VISCA_COMMAND if isinstance(message, Command)
                 else PayloadType.VISCA_INQUIRY)
        sequence = self._sequence()
        packet = encode_packet(Packet(ptype, sequence, encode(IP_ADDRESS, message)))
        # Without sequence checks (quirk) a camera would run a resent command twice.
        resend = not self.quirk or isinstance(message, Inquiry) or message.repeatable
        self._pending = _Pending(
            message, packet, sequence, self._started + self._reply_timeout,
            now + self.retransmit_interval if resend and self.max_retransmits else math.inf,
            resynced=resynced)
        self._out.append(packet)

    def _drop(self, reason: str, data: bytes) -> None:
        _log.debug("VISCA/IP: dropped a datagram (%s): %s", reason, data[:MAX_DATAGRAM].hex(" "))
        self._events.append(FrameDropped(reason, bytes(data[:MAX_DATAGRAM])))

    def _finish(self, event: IpEvent) -> None:
        self._pending = None
        self._events.append(event)

    def _control_reply(self, pending: _Pending, payload: bytes, now: float, data: bytes) -> None:
        if payload == CONTROL_ACK and pending.message is None:
            self._reset_done = True
            self._next_sequence = 1  # RESET set the camera's number to 0; 0 would be a repeat
            self._pending = None
            held, self._held = self._held, None
            if held is None:
                self._events.append(ResetDone())
            else:
                self._transmit(held, now, resynced=self._held_resynced)
        elif payload == CONTROL_SEQUENCE_ERROR and pending.message is not None:
            self._sequence_error(pending, now)
        elif payload == CONTROL_MESSAGE_ERROR:
            self.abandon()
            self._events.append(Rejected(payload))
        else:
            self._drop("unexpected", data)

    def _sequence_error(self, pending: _Pending, now: float) -> None:
        message = pending.message
        assert message is not None
        if pending.phase == "completion":
            return  # our resend crossed the ACK; the completion is still to come
        if pending.sends > 1 or pending.phase == "probe":
            # The first copy arrived and was performed; its answer was lost.
            if isinstance(message, Command):
                self._finish(Replied(b"", confirmed=False))
            else:
                self._transmit(message, now, resynced=pending.resynced)  # ask again, new number
            return
        if pending.resynced:
            self._finish(Rejected(CONTROL_SEQUENCE_ERROR))
            return
        # The camera's number is not ours (it restarted, or another controller reset it).
        self._reset_done = False
        self._held, self._held_resynced = message, True
        self._send_reset(now)

    def _visca_reply(self, pending: _Pending, payload: bytes, now: float, data: bytes) -> None:
        event = decode_reply(payload)
        message = pending.message
        if isinstance(event, FrameDropped):
            self._events.append(event)
        elif isinstance(event, Ack) and isinstance(message, Command):
            if pending.phase == "reply":
                pending.phase = "completion"
                pending.deadline = now + self._completion_timeout
                pending.next_send = math.inf
        elif (isinstance(event, Completion) and isinstance(message, Command)) or (
                isinstance(event, InquiryReply) and isinstance(message, Inquiry)):
            self._finish(Replied(event.payload))
        elif isinstance(event, Error):
            self._finish(Refused(event))
        else:
            self._drop("unexpected", data)
