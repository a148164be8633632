"""Thin asyncio transport for PJLink: one TCP connection opened on demand, and the UDP
listener for class 2 status notifications.

Projectors close a connection after about 30 s without a command (PJLink spec), so the
client reconnects, and authenticates again, on the next command. PJLink set commands are
absolute (power on, input 31), so repeating one after such a drop is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Any

from endpoints.errors import (
    AuthenticationFailedError,
    EndpointError,
    EndpointTimeoutError,
    EndpointTransportError,
    RemoteProtocolError,
)
from endpoints.framing import FrameDropped, NeedData, sanitize
from endpoints.interfaces import DropCounter
from endpoints.pjlink.codec import (
    PJLINK_PORT,
    AuthRejected,
    Command,
    Event,
    Greeting,
    Notification,
    PjlinkClientCodec,
    Reply,
    parse_datagram,
    reply_error,
)

_log = logging.getLogger(__name__)

NotificationHandler = Callable[[Notification], None]
DropHandler = Callable[[str], None]


class _ConnectionLost(Exception):
    """The projector closed or reset the connection under us."""


class PjlinkClient:
    """Sends PJLink commands one at a time over a TCP connection opened on demand."""

    def __init__(self, host: str, port: int = PJLINK_PORT, *, password: str | None = None,
                 timeout: float = 2.0, on_notification: NotificationHandler | None = None,
                 on_drop: DropHandler | None = None) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._password = password or None
        self._on_notification = on_notification
        self._on_drop = on_drop
        self._lock = asyncio.Lock()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._codec: PjlinkClientCodec | None = None
        self.connections = 0  # connections opened so far
        self._closed = False  # set by close(), cleared by connect()

    @property
    def connected(self) -> bool:
        """Whether a connection is open and not known to be closed by the projector."""
        return (self._writer is not None and self._reader is not None
                and not self._writer.is_closing() and not self._reader.at_eof())

    async def connect(self) -> Greeting:
        """Open a connection (if none is open, also after `close`) and read the greeting."""
        async with self._lock:
            self._closed = False
            await self._ensure_connection()
            assert self._codec is not None
            assert self._codec.greeting is not None
            return self._codec.greeting

    async def request(self, command: Command) -> str:
        """Send one command and return the reply's value ("OK" or data), or raise its error."""
        command.validate()
        async with self._lock:
            for attempt in (1, 2):
                fresh = await self._ensure_connection()
                try:
                    async with asyncio.timeout(self.timeout):
                        return await self._exchange(command)
                except _ConnectionLost as exc:
                    self._abort()
                    if fresh or attempt == 2:
                        raise EndpointTransportError(
                            f"projector {self.host}:{self.port} closed the connection") from exc
                    _log.debug("projector %s:%s had closed the idle connection; reconnecting",
                               self.host, self.port)
                except EndpointError:
                    raise
                except TimeoutError as exc:
                    self._abort()  # a late reply must not be taken for the next command's
                    raise EndpointTimeoutError(
                        f"projector {self.host}:{self.port} did not answer {command.body}"
                        f" within {self.timeout:g} s") from exc
                except BaseException:
                    self._abort()
                    raise
            raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        """Close the connection; safe to call twice."""
        self._closed = True
        writer = self._writer
        self._abort()
        if writer is not None:
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()

    # -- internals ---------------------------------------------------------------------------

    def _abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = self._codec = None

    async def _ensure_connection(self) -> bool:
        """Connect and read the greeting unless connected; True if a new connection."""
        if self.connected:
            return False
        self._abort()
        if self._closed:
            raise EndpointTransportError(
                f"projector {self.host}:{self.port}: connection closed")
        try:
            async with asyncio.timeout(self.timeout):
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
                self._codec = PjlinkClientCodec(self._password)
                self.connections += 1
                while True:
                    event = await self._next_event(fatal="bad_greeting")
                    if isinstance(event, Greeting):
                        break
                    if isinstance(event, AuthRejected):
                        raise AuthenticationFailedError(
                            "the projector refused the connection (PJLINK ERRA)")
                    self._drop("unexpected")
        except EndpointError:
            self._abort()
            raise
        except _ConnectionLost as exc:
            self._abort()
            raise EndpointTransportError(
                f"projector {self.host}:{self.port} closed the connection before greeting"
            ) from exc
        except TimeoutError as exc:  # before OSError, of which it is a subclass
            self._abort()
            raise EndpointTimeoutError(
                f"projector {self.host}:{self.port} did not greet within {self.timeout:g} s"
            ) from exc
        except OSError as exc:
            self._abort()
            raise EndpointTransportError(
                f"cannot connect to projector {self.host}:{self.port}: {exc}") from exc
        except BaseException:
            self._abort()
            raise
        if event.auth_required and self._password is None:
            self._abort()
            raise AuthenticationFailedError(
                "the projector asks for a PJLink password and none is configured")
        _log.debug("connected to projector %s:%s (auth %s)", self.host, self.port,
                   "on" if event.auth_required else "off")
        return True

    async def _next_event(self, fatal: str | None = None) -> Event:
        """The next meaningful event; notifications and dropped lines are handed off."""
        assert self._reader is not None
        assert self._codec is not None
        while True:
            event = self._codec.next_event()
            if isinstance(event, NeedData):
                try:
                    data = await self._reader.read(4096)
                except OSError as exc:
                    raise _ConnectionLost() from exc
                if not data:
                    raise _ConnectionLost()
                self._codec.feed(data)
                continue
            if isinstance(event, FrameDropped):
                self._drop(event.reason)
                if event.reason == fatal:
                    raise RemoteProtocolError(
                        f"projector {self.host}:{self.port} sent a greeting this client does"
                        " not support (only PJLINK 0 and PJLINK 1)")
            elif isinstance(event, Notification):
                if self._on_notification is not None:
                    self._on_notification(event)
            else:
                return event

    async def _exchange(self, command: Command) -> str:
        assert self._writer is not None
        assert self._codec is not None
        self._writer.write(self._codec.encode(command))
        try:
            await self._writer.drain()
        except OSError as exc:
            raise _ConnectionLost() from exc
        while True:
            event = await self._next_event()
            if isinstance(event, AuthRejected):
                self._abort()
                raise AuthenticationFailedError("the projector refused the PJLink password")
            if isinstance(event, Reply) and event.body == command.body:
                error = reply_error(event)
                if error is not None:
                    if isinstance(error, AuthenticationFailedError):
                        self._abort()
                    raise error
                return event.value
            self._drop("unexpected")

    def _drop(self, reason: str) -> None:
        if self._on_drop is not None:
            self._on_drop(reason)


# -- class 2 notifications over UDP ----------------------------------------------------------

class _DatagramProtocol(asyncio.DatagramProtocol):
    def __init__(self, listener: NotificationListener) -> None:
        self._listener = listener

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._listener.datagram_received(data, addr)

    def error_received(self, exc: Exception) -> None:
        _log.debug("PJLink notification socket error: %s", exc)


class NotificationListener:
    """The UDP socket (PJLink port 4352) that receives class 2 status notifications.

    One host has one such port, so one listener serves every projector: each subscribes
    with its address and gets the notifications sent from there.
    """

    def __init__(self, host: str = "0.0.0.0", port: int = PJLINK_PORT,  # noqa: S104
                 *, drop_counter: DropCounter | None = None) -> None:
        self.host = host
        self._port = port
        self._drop_counter = drop_counter
        self._transport: asyncio.DatagramTransport | None = None
        self._handlers: dict[str, list[NotificationHandler]] = {}

    @property
    def port(self) -> int:
        """The bound port (the configured one until started)."""
        if self._transport is not None:
            port: int = self._transport.get_extra_info("sockname")[1]
            return port
        return self._port

    @property
    def running(self) -> bool:
        """Whether the socket is bound."""
        return self._transport is not None

    async def start(self) -> None:
        """Bind the UDP socket; raises `EndpointTransportError` if the port is taken."""
        if self._transport is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _DatagramProtocol(self), local_addr=(self.host, self._port),
                family=socket.AF_INET)
        except OSError as exc:
            raise EndpointTransportError(
                f"cannot listen for PJLink notifications on UDP {self.host}:{self._port}: {exc}"
            ) from exc
        self._transport = transport
        _log.info("listening for PJLink notifications on UDP %s:%s", self.host, self.port)

    async def close(self) -> None:
        """Unbind; safe to call twice."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def subscribe(self, host: str, handler: NotificationHandler) -> Callable[[], None]:
        """Deliver notifications sent from ``host`` to ``handler``; returns the unsubscribe."""
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, None, family=socket.AF_INET,
                                           type=socket.SOCK_DGRAM)
        except OSError as exc:
            raise EndpointTransportError(f"cannot resolve projector {host}: {exc}") from exc
        addresses = sorted({str(info[4][0]) for info in infos})
        for address in addresses:
            self._handlers.setdefault(address, []).append(handler)

        def unsubscribe() -> None:
            for address in addresses:
                handlers = self._handlers.get(address, [])
                if handler in handlers:
                    handlers.remove(handler)
                if not handlers:
                    self._handlers.pop(address, None)
        return unsubscribe

    def datagram_received(self, data: bytes, addr: Any) -> None:
        """Parse one datagram and hand its notifications to the sender's subscribers."""
        source = str(addr[0])
        handlers = self._handlers.get(source)
        if not handlers:
            _log.debug("PJLink notification from unknown host %s dropped", sanitize(source))
            self._count("unknown_source")
            return
        for item in parse_datagram(data):
            if isinstance(item, FrameDropped):
                self._count(item.reason)
                continue
            for handler in list(handlers):
                try:
                    handler(item)
                except (EndpointError, ValueError) as exc:
                    # A bad value from one projector must not stop the listener.
                    _log.debug("PJLink notification %s from %s not used: %s", item.body,
                               source, exc)
                    self._count("bad_value")

    def _count(self, reason: str) -> None:
        if self._drop_counter is not None:
            self._drop_counter("pjlink", reason)

