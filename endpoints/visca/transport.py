"""Thin asyncio transports for VISCA: serial lines shared by daisy-chained cameras, and UDP.

The protocol work is in `codec`, `tracker` and `ip`; this module moves bytes, keeps one
timer per line or socket at the earliest deadline those report, and turns their outcomes
into results or endpoint errors.
"""

from __future__ import annotations

import asyncio
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Final, Protocol

import serial_asyncio_fast

from endpoints.errors import (
    CommandArgumentError,
    EndpointError,
    EndpointTimeoutError,
    EndpointTransportError,
    LocalProtocolError,
    RemoteProtocolError,
)
from endpoints.visca import ip
from endpoints.visca.codec import (
    ADDRESS_SET,
    IF_CLEAR_BROADCAST,
    NEED_DATA,
    AddressSet,
    FrameDropped,
    IfClear,
    Message,
    NetworkChange,
    ReplyParser,
    refusal,
)
from endpoints.visca.tracker import SOCKETS, Done, InFlight, Outcome, Refused, TimedOut

_log = logging.getLogger(__name__)

PROTOCOL: Final = "visca"
CLOSE_WAIT: Final = 2.0  # seconds to wait for a port to finish closing


class Listener(Protocol):
    """What a transport tells its camera: dropped frames and unsolicited events."""

    def count_drop(self, protocol: str, reason: str) -> None:
        """Record one dropped frame."""

    def emit(self, name: str, **data: Any) -> None:
        """Publish an unsolicited event."""


class CameraLink(ABC):
    """How one camera's messages travel: a serial daisy chain or UDP."""

    @property
    @abstractmethod
    def describe(self) -> str:
        """The camera for messages, e.g. "camera 2 on /dev/ttyUSB0"."""

    @abstractmethod
    def attach(self, listener: Listener) -> None:
        """Start using the link (shared links count their users)."""

    @abstractmethod
    async def detach(self) -> None:
        """Stop using the link; the last user closes the port or socket."""

    @abstractmethod
    async def connect(self, budget: float) -> None:
        """Open the port or socket and check, within ``budget`` s, that the camera answers."""

    @abstractmethod
    async def request(self, message: Message, *, reply_timeout: float,
                      completion_timeout: float) -> bytes:
        """Send one message; the completion's or inquiry reply's payload."""


def _reason(exc: BaseException | None) -> str:
    if exc is None:
        return "closed"
    errno = getattr(exc, "errno", None)
    if isinstance(errno, int) and errno:
        return os.strerror(errno).lower()
    text = str(exc).strip()
    # pyserial's wording for a tty whose other end vanished
    if "returned no data" in text:
        return "the device disconnected"
    return text or type(exc).__name__


# -- serial ----------------------------------------------------------------------------------

class _LineProtocol(asyncio.Protocol):
    def __init__(self, line: SerialLine, loop: asyncio.AbstractEventLoop) -> None:
        self._line = line
        self.lost: asyncio.Future[None] = loop.create_future()

    def data_received(self, data: bytes) -> None:
        self._line._data_received(self, data)

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            self._line._connection_lost(self, exc)
        finally:
            if not self.lost.done():
                self.lost.set_result(None)


class SerialLine:
    """One serial port and the daisy chain of up to seven cameras on it.

    Opened by the first camera that needs it (address set, then IF_Clear), reopened
    after the port vanished on the next request, closed when the last camera detaches.
    """

    def __init__(self, port: str, baud: int, *, sockets: int = SOCKETS) -> None:
        self.port = port
        self.baud = baud
        self._sockets = sockets
        self._listeners: dict[int, Listener] = {}
        self._tracker = InFlight(sockets)
        self._parser = ReplyParser()
        self._transport: asyncio.Transport | None = None
        self._protocol: _LineProtocol | None = None
        self._ready = False
        self._closing = False
        self._reachable: bool | None = None
        self._lock: asyncio.Lock | None = None
        self._waiters: dict[int, asyncio.Future[bytes]] = {}
        self._sent_to: dict[int, tuple[int, float]] = {}  # token → address, reply timeout
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        self._address_set: asyncio.Future[int] | None = None
        self._if_clear: asyncio.Future[None] | None = None
        self.cameras_on_chain: int | None = None

    @property
    def is_open(self) -> bool:
        """Whether the port is open."""
        return self._transport is not None

    @property
    def attached(self) -> frozenset[int]:
        """Addresses of the cameras using this line."""
        return frozenset(self._listeners)

    def attach(self, address: int, listener: Listener) -> None:
        """A camera at ``address`` starts using this line."""
        if address in self._listeners:
            raise CommandArgumentError(
                f"two cameras use address {address} on serial port {self.port}")
        if not self._listeners:
            self._lock = asyncio.Lock()  # bound to the loop that uses the line from now on
        self._listeners[address] = listener

    async def detach(self, address: int) -> None:
        """A camera stops using this line; the last one closes the port."""
        if self._listeners.pop(address, None) is None or self._listeners:
            return
        await self.close()

    async def close(self) -> None:
        """Close the port now, failing whatever is in flight."""
        self._cancel_timer()
        transport, protocol = self._transport, self._protocol
        if transport is None or protocol is None:
            return
        self._closing = True
        try:
            transport.close()
            try:
                await asyncio.wait_for(asyncio.shield(protocol.lost), CLOSE_WAIT)
            except TimeoutError:
                transport.abort()
                _log.warning("serial port %s did not close in %g s", self.port, CLOSE_WAIT)
                self._connection_lost(protocol, None)
        finally:
            self._closing = False
            self._lock = None if not self._listeners else self._lock

    async def connect(self, budget: float) -> None:
        """Open the port and set the chain's addresses, within ``budget`` seconds."""
        loop = asyncio.get_running_loop()
        await self._ensure_ready(loop.time() + budget)

    async def request(self, address: int, message: Message, *, reply_timeout: float,
                      completion_timeout: float) -> bytes:
        """Send one message to one camera and wait for its outcome."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + reply_timeout
        await self._ensure_ready(deadline)
        if self._transport is None:
            raise EndpointTransportError(f"serial port {self.port} was lost")
        token = self._tracker.submit(address, message,
                                     reply_timeout=max(deadline - loop.time(), 0.0),
                                     completion_timeout=completion_timeout)
        waiter: asyncio.Future[bytes] = loop.create_future()
        self._waiters[token] = waiter
        self._sent_to[token] = (address, reply_timeout)
        self._pump()
        try:
            return await waiter
        finally:
            self._waiters.pop(token, None)
            self._sent_to.pop(token, None)
            self._tracker.withdraw(token)

    # -- internals -------------------------------------------------------------------------

    async def _ensure_ready(self, deadline: float) -> None:
        if self._lock is None:
            raise EndpointTransportError(f"no camera is open on serial port {self.port}")
        async with self._lock:
            if self._transport is None:
                await self._open()
            if not self._ready:
                await self._initialise(deadline)

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        protocol = _LineProtocol(self, loop)
        try:
            transport, _ = await serial_asyncio_fast.create_serial_connection(
                loop, lambda: protocol, self.port, baudrate=self.baud)
        except (OSError, ValueError) as exc:  # serial.SerialException is an OSError
            self._set_reachable(False, _reason(exc))
            raise EndpointTransportError(
                f"serial port {self.port} cannot be opened: {_reason(exc)}") from exc
        self._transport, self._protocol = transport, protocol
        self._parser = ReplyParser()
        _log.debug("opened serial port %s at %d baud", self.port, self.baud)

    async def _initialise(self, deadline: float) -> None:
        transport = self._transport
        assert transport is not None
        loop = asyncio.get_running_loop()
        self._address_set = loop.create_future()
        self._if_clear = loop.create_future()
        try:
            async with asyncio.timeout_at(deadline):
                transport.write(ADDRESS_SET)
                next_address = await self._address_set
                transport.write(IF_CLEAR_BROADCAST)
                await self._if_clear
        except TimeoutError:
            self._set_reachable(False, "no answer")
            raise EndpointTimeoutError(
                f"no camera answered on serial port {self.port}") from None
        finally:
            self._address_set = self._if_clear = None
        cameras = next_address - 1
        if cameras < 1:
            raise EndpointTransportError(f"no camera is connected to serial port {self.port}")
        if self.cameras_on_chain != cameras:
            _log.info("serial port %s: %d camera(s) on the chain", self.port, cameras)
        self.cameras_on_chain = cameras
        self._ready = True
        self._set_reachable(True, "")

    def _set_reachable(self, reachable: bool, reason: str) -> None:
        # §5: log going away and coming back once each.
        if reachable == self._reachable:
            return
        if reachable and self._reachable is not None:
            _log.info("serial port %s is back", self.port)
        elif not reachable:
            _log.warning("serial port %s is unreachable: %s", self.port, reason)
        self._reachable = reachable

    def _data_received(self, protocol: _LineProtocol, data: bytes) -> None:
        if protocol is not self._protocol:
            return
        self._parser.feed(data)
        now = asyncio.get_running_loop().time()
        while (event := self._parser.next_event()) is not NEED_DATA:
            if isinstance(event, FrameDropped):
                self._count_drop(event)
            elif isinstance(event, AddressSet):
                if self._address_set is not None and not self._address_set.done():
                    self._address_set.set_result(event.next_address)
            elif isinstance(event, IfClear):
                if self._if_clear is not None and not self._if_clear.done():
                    self._if_clear.set_result(None)
            elif isinstance(event, NetworkChange):
                # VISCA: a camera joined; addresses are set again before the next request.
                _log.info("serial port %s: camera %d announced a network change",
                          self.port, event.address)
                self._ready = False
                listener = self._listeners.get(event.address)
                if listener is not None:
                    listener.emit("network_change", address=event.address)
            elif not self._tracker.receive(event, now):
                self._count_drop(FrameDropped("unexpected"))
        self._pump()

    def _count_drop(self, event: FrameDropped) -> None:
        # A dropped frame on a shared line belongs to no camera: count it once.
        _log.debug("serial port %s: dropped %s bytes: %s", self.port, event.reason,
                   event.data.hex(" "))
        for listener in self._listeners.values():
            listener.count_drop(PROTOCOL, event.reason)
            break

    def _connection_lost(self, protocol: _LineProtocol, exc: Exception | None) -> None:
        if protocol is not self._protocol:
            return
        self._transport = self._protocol = None
        self._ready = False
        self._cancel_timer()
        reason = _reason(exc)
        if self._closing:
            text = f"serial port {self.port} was closed"
        else:
            self._set_reachable(False, reason)
            text = f"serial port {self.port} was lost: {reason}"
        for waiter in (self._address_set, self._if_clear):
            if waiter is not None and not waiter.done():
                waiter.set_exception(EndpointTransportError(text))
        self._settle_all()
        for token in self._tracker.abandon_all():
            waiter_ = self._waiters.pop(token, None)
            if waiter_ is not None and not waiter_.done():
                waiter_.set_exception(EndpointTransportError(text))

    def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        transport = self._transport
        if transport is not None and not transport.is_closing():
            for frame in self._tracker.frames_to_send(loop.time()):
                transport.write(frame)
        self._settle_all()
        self._cancel_timer()
        when = self._tracker.get_timer()
        if when is not None:
            self._timer_when = when
            self._timer = loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        # call_at may fire a clock tick early; never hand the tracker a time before its deadline
        self._tracker.handle_timer(max(loop.time(), self._timer_when))
        self._pump()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _settle_all(self) -> None:
        while (outcome := self._tracker.next_outcome()) is not None:
            self._settle(outcome)

    def _settle(self, outcome: Outcome) -> None:
        waiter = self._waiters.pop(outcome.token, None)
        address, reply_timeout = self._sent_to.pop(outcome.token, (0, 0.0))
        if waiter is None or waiter.done():
            return
        who = f"camera {address} on {self.port}"
        if isinstance(outcome, Done):
            waiter.set_result(outcome.payload)
        elif isinstance(outcome, Refused):
            waiter.set_exception(refusal(outcome.error, who))
        elif isinstance(outcome, TimedOut):
            if outcome.phase == "reply":  # the whole budget, setting up the line included
                text = f"{who} did not answer within {reply_timeout:g} s"
            else:
                text = f"{who} did not finish the command within {outcome.after:g} s"
            waiter.set_exception(EndpointTimeoutError(text))
        else:
            waiter.set_exception(EndpointTransportError(
                f"no camera answers at address {address} on serial port {self.port}"))


class ViscaBus:
    """The serial lines of one controller, one per port, shared by the cameras on each."""

    def __init__(self) -> None:
        self._lines: dict[str, SerialLine] = {}

    def line(self, port: str, baud: int) -> SerialLine:
        """The line for a port (made on first use); every camera on it must agree on baud."""
        line = self._lines.get(port)
        if line is None:
            line = self._lines[port] = SerialLine(port, baud)
        elif line.baud != baud:
            raise CommandArgumentError(
                f"cameras on serial port {port} ask for {line.baud} and {baud} baud; "
                "a daisy chain runs at one speed")
        return line

    async def close(self) -> None:
        """Close every open line (cameras normally close theirs when detaching)."""
        for line in self._lines.values():
            await line.close()


class SerialCameraLink(CameraLink):
    """One camera, by address, on a shared serial line."""

    def __init__(self, line: SerialLine, address: int) -> None:
        self.line = line
        self.address = address

    @property
    def describe(self) -> str:
        """E.g. "camera 2 on /dev/ttyUSB0"."""
        return f"camera {self.address} on {self.line.port}"

    def attach(self, listener: Listener) -> None:
        """Join the line."""
        self.line.attach(self.address, listener)

    async def detach(self) -> None:
        """Leave the line."""
        await self.line.detach(self.address)

    async def connect(self, budget: float) -> None:
        """Open the line and check this address is on the chain."""
        await self.line.connect(budget)
        cameras = self.line.cameras_on_chain
        if cameras is not None and self.address > cameras:
            raise EndpointTransportError(
                f"no camera at address {self.address} on serial port {self.line.port} "
                f"(the chain has {cameras})")

    async def request(self, message: Message, *, reply_timeout: float,
                      completion_timeout: float) -> bytes:
        """Send one message to this camera."""
        return await self.line.request(self.address, message, reply_timeout=reply_timeout,
                                       completion_timeout=completion_timeout)


# -- UDP -------------------------------------------------------------------------------------

class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, link: UdpLink, loop: asyncio.AbstractEventLoop) -> None:
        self._link = link
        self.lost: asyncio.Future[None] = loop.create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._link._datagram_received(self, data)

    def error_received(self, exc: Exception) -> None:
        self._link._error_received(self, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._link._lost(self)
        if not self.lost.done():
            self.lost.set_result(None)


class UdpLink(CameraLink):
    """One camera over VISCA/IP: a connected UDP socket and an `ip.IpSession`."""

    def __init__(self, host: str, port: int = ip.VISCA_IP_PORT, *, quirk: bool = False,
                 retransmit_interval: float = 0.25, max_retransmits: int = 3) -> None:
        self.host = host
        self.port = port
        self._session = ip.IpSession(quirk=quirk, retransmit_interval=retransmit_interval,
                                     max_retransmits=max_retransmits)
        self._listener: Listener | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol: _UdpProtocol | None = None
        self._lock: asyncio.Lock | None = None
        self._outcome: asyncio.Future[ip.IpEvent] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        self._reachable: bool | None = None

    @property
    def describe(self) -> str:
        """E.g. "camera at 10.0.0.5:52381"."""
        return f"camera at {self.host}:{self.port}"

    @property
    def quirk(self) -> bool:
        """Whether every message carries sequence number 0."""
        return self._session.quirk

    def attach(self, listener: Listener) -> None:
        """Start using the link."""
        self._listener = listener
        if self._lock is None:
            self._lock = asyncio.Lock()

    async def detach(self) -> None:
        """Close the socket."""
        self._listener = None
        self._cancel_timer()
        transport, protocol = self._transport, self._protocol
        self._lock = None
        self._transport = self._protocol = None
        if transport is not None and protocol is not None:
            transport.close()
            try:
                await asyncio.wait_for(asyncio.shield(protocol.lost), CLOSE_WAIT)
            except TimeoutError:
                _log.warning("the socket to %s did not close in %g s", self.describe,
                             CLOSE_WAIT)

    async def connect(self, budget: float) -> None:
        """Open the socket and RESET the camera's sequence number."""
        async with self._locked():
            await self._ensure_open()
            if not self._session.ready:
                event = await self._exchange(lambda now: self._session.start_reset(now, budget))
                self._raise_for(event)

    async def request(self, message: Message, *, reply_timeout: float,
                      completion_timeout: float) -> bytes:
        """Send one message (messages go one at a time) and wait for its outcome."""
        async with self._locked():
            await self._ensure_open()
            event = await self._exchange(lambda now: self._session.send(
                message, now, reply_timeout=reply_timeout, completion_timeout=completion_timeout))
        return self._raise_for(event)

    # -- internals -------------------------------------------------------------------------

    def _locked(self) -> asyncio.Lock:
        if self._lock is None:
            raise EndpointTransportError(f"{self.describe} is not open")
        return self._lock

    async def _ensure_open(self) -> None:
        if self._transport is not None:
            return
        loop = asyncio.get_running_loop()
        protocol = _UdpProtocol(self, loop)
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: protocol, remote_addr=(self.host, self.port))
        except OSError as exc:
            self._set_reachable(False, _reason(exc))
            raise EndpointTransportError(f"{self.describe} is unreachable: {_reason(exc)}") \
                from exc
        self._transport, self._protocol = transport, protocol

    async def _exchange(self, start: Callable[[float], None]) -> ip.IpEvent:
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[ip.IpEvent] = loop.create_future()
        self._outcome = outcome
        start(loop.time())
        self._pump()
        try:
            return await outcome
        finally:
            self._outcome = None
            if self._session.busy:
                self._session.abandon()
            self._cancel_timer()

    def _raise_for(self, event: ip.IpEvent) -> bytes:
        who = self.describe
        if isinstance(event, ip.Replied):
            self._set_reachable(True, "")
            return event.payload
        if isinstance(event, ip.ResetDone):
            self._set_reachable(True, "")
            return b""
        if isinstance(event, ip.Refused):
            self._set_reachable(True, "")
            raise refusal(event.error, who)
        if isinstance(event, ip.TimedOut):
            self._set_reachable(False, "no answer")
            verb = "did not finish" if event.phase == "completion" else "did not answer"
            raise EndpointTimeoutError(f"{who} {verb} within {event.after:g} s")
        if isinstance(event, ip.Rejected) and event.code == ip.CONTROL_SEQUENCE_ERROR:
            raise RemoteProtocolError(
                f"{who} rejects our sequence numbers (it may need sequence_quirk = true)")
        raise LocalProtocolError(f"{who} rejected the message as malformed")

    def _set_reachable(self, reachable: bool, reason: str) -> None:
        if reachable == self._reachable:
            return
        if reachable and self._reachable is not None:
            _log.info("%s is back", self.describe)
        elif not reachable:
            _log.warning("%s is unreachable: %s", self.describe, reason)
        self._reachable = reachable

    def _datagram_received(self, protocol: _UdpProtocol, data: bytes) -> None:
        if protocol is not self._protocol:
            return
        self._session.datagram_received(data, asyncio.get_running_loop().time())
        self._pump()

    def _error_received(self, protocol: _UdpProtocol, exc: Exception) -> None:
        # An ICMP error (port unreachable, no route) on the connected socket.
        if protocol is not self._protocol:
            return
        self._session.abandon()
        self._session.forget_reset()
        self._fail(EndpointTransportError(f"{self.describe} is unreachable: {_reason(exc)}"))

    def _lost(self, protocol: _UdpProtocol) -> None:
        if protocol is not self._protocol:
            return
        self._transport = self._protocol = None
        self._session.abandon()
        self._fail(EndpointTransportError(f"the socket to {self.describe} was closed"))

    def _fail(self, error: EndpointError) -> None:
        self._set_reachable(False, error.message)
        if self._outcome is not None and not self._outcome.done():
            self._outcome.set_exception(error)

    def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        transport = self._transport
        for datagram in self._session.datagrams_to_send():
            if transport is not None:
                transport.sendto(datagram)
        while (event := self._session.next_event()) is not None:
            if isinstance(event, FrameDropped):
                _log.debug("%s: dropped a datagram (%s)", self.describe, event.reason)
                if self._listener is not None:
                    self._listener.count_drop(PROTOCOL, event.reason)
            elif self._outcome is not None and not self._outcome.done():
                self._outcome.set_result(event)
        self._cancel_timer()
        when = self._session.get_timer()
        if when is not None:
            self._timer_when = when
            self._timer = loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._session.handle_timer(max(asyncio.get_running_loop().time(), self._timer_when))
        self._pump()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
