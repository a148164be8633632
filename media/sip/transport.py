"""Thin asyncio transports (UDP, TCP, TLS) around a sans-IO `SipEndpoint`."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Any

from media.sip.dialog import Local
from media.sip.endpoint import (
    MessageDropped,
    RequestReceived,
    SipEndpoint,
    StrayResponse,
)
from media.sip.errors import SipTimeoutError, SipTransportError
from media.sip.message import SipRequest, SipResponse
from media.sip.transaction import AckTimedOut, ResponseReceived, TimerValues, TransactionTimedOut

_log = logging.getLogger(__name__)

ProvisionalHandler = Callable[[SipResponse], None]
DEFAULT_PORTS = {"UDP": 5060, "TCP": 5060, "TLS": 5061}


class _Protocol(asyncio.Protocol, asyncio.DatagramProtocol):
    def __init__(self, connection: SipConnection) -> None:
        self._connection = connection

    def data_received(self, data: bytes) -> None:
        self._connection._receive(data)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._connection._receive(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connection._lost(exc)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable on a connected UDP socket: the peer is gone.
        _log.debug("SIP UDP error: %s", exc)


class SipConnection:
    """One SIP connection to a next hop, with its transactions and timers."""

    def __init__(self, transport_name: str, *, timers: TimerValues | None = None) -> None:
        self.transport_name = transport_name.upper()
        self.endpoint = SipEndpoint(reliable=self.transport_name != "UDP", timers=timers)
        self.incoming: asyncio.Queue[SipRequest | None] = asyncio.Queue()
        self.on_stray_response: Callable[[SipResponse], None] | None = None
        self.on_ack_timeout: Callable[[], None] | None = None
        self.local = Local("0.0.0.0", 0, self.transport_name)  # noqa: S104 - replaced on open
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.BaseTransport | None = None
        self._pending: dict[tuple[str, str], tuple[asyncio.Future[SipResponse],
                                                   ProvisionalHandler | None]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    @classmethod
    async def open(cls, host: str, port: int | None, transport: str = "udp", *,
                   ssl_context: ssl.SSLContext | None = None, user: str = "diemcau",
                   timers: TimerValues | None = None) -> SipConnection:
        """Connect to a next hop over UDP, TCP or TLS."""
        self = cls(transport, timers=timers)
        name = self.transport_name
        port = port or DEFAULT_PORTS.get(name, 5060)
        try:
            if name == "UDP":
                udp, _ = await self._loop.create_datagram_endpoint(
                    lambda: _Protocol(self), remote_addr=(host, port))
                self._transport = udp
            elif name in ("TCP", "TLS"):
                if name == "TLS" and ssl_context is None:
                    ssl_context = ssl.create_default_context()
                stream, _ = await self._loop.create_connection(
                    lambda: _Protocol(self), host, port,
                    ssl=ssl_context if name == "TLS" else None)
                self._transport = stream
            else:
                raise SipTransportError(f"unknown SIP transport {transport!r}")
        except OSError as exc:
            raise SipTransportError(f"cannot reach {host}:{port} over {name}: {exc}") from exc
        sockname = self._transport.get_extra_info("sockname")
        self.local = Local(sockname[0], sockname[1], name, user)
        return self

    # -- sending ---------------------------------------------------------------

    async def request(self, request: SipRequest, *,
                      on_provisional: ProvisionalHandler | None = None) -> SipResponse:
        """Send a request in a new client transaction and wait for its final response."""
        if self._closed:
            raise SipTransportError("SIP connection closed")
        future: asyncio.Future[SipResponse] = self._loop.create_future()
        key = self.endpoint.send_request(request, self._loop.time())
        self._pending[key] = (future, on_provisional)
        self._pump()
        try:
            return await future
        finally:
            self._pending.pop(key, None)

    def send(self, message: SipRequest | SipResponse) -> None:
        """Send an ACK (no transaction) or a response to a received request."""
        if self._closed:
            return
        if isinstance(message, SipResponse):
            self.endpoint.send_response(message, self._loop.time())
        else:
            self.endpoint.send_request(message, self._loop.time())
        self._pump()

    async def close(self) -> None:
        """Close the connection; pending requests fail."""
        if self._transport is not None and not self._closed:
            self._transport.close()
            await asyncio.sleep(0)
        self._lost(None)

    # -- plumbing --------------------------------------------------------------

    def _receive(self, data: bytes) -> None:
        self.endpoint.receive_data(data, self._loop.time())
        self._pump()

    def _on_timer(self) -> None:
        self._timer = None
        self.endpoint.handle_timer(self._loop.time())
        self._pump()

    def _pump(self) -> None:
        transport = self._transport
        for data in self.endpoint.data_to_send():
            if transport is None or self._closed:
                break
            if isinstance(transport, asyncio.DatagramTransport) or self.transport_name == "UDP":
                transport.sendto(data)  # type: ignore[attr-defined]
            else:
                transport.write(data)  # type: ignore[attr-defined]
        while (event := self.endpoint.next_event()) is not None:
            self._handle(event)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.endpoint.get_timer()
        if deadline is not None and not self._closed:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _handle(self, event: object) -> None:
        if isinstance(event, ResponseReceived):
            pending = self._pending.get(event.key)
            if pending is None or pending[0].done():
                if self.on_stray_response is not None and event.response.status >= 200:
                    self.on_stray_response(event.response)
                return
            future, on_provisional = pending
            if event.response.status < 200:
                if on_provisional is not None:
                    on_provisional(event.response)
            else:
                future.set_result(event.response)
        elif isinstance(event, TransactionTimedOut):
            pending = self._pending.get(event.key)
            if pending is not None and not pending[0].done():
                pending[0].set_exception(SipTimeoutError(f"{event.method} timed out"))
        elif isinstance(event, RequestReceived):
            self.incoming.put_nowait(event.request)
        elif isinstance(event, StrayResponse):
            if self.on_stray_response is not None:
                self.on_stray_response(event.response)
        elif isinstance(event, AckTimedOut):
            if self.on_ack_timeout is not None:
                self.on_ack_timeout()
        elif isinstance(event, MessageDropped) and event.fatal:
            _log.warning("SIP stream lost its framing (%s); closing", event.reason)
            if self._transport is not None:
                self._transport.close()

    def _lost(self, exc: Exception | None) -> None:
        if self._closed:
            return
        self._closed = True
        if exc is not None:
            _log.info("SIP connection lost: %s", exc)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for future, _ in list(self._pending.values()):
            if not future.done():
                future.set_exception(SipTransportError("SIP connection closed"))
        self.incoming.put_nowait(None)
