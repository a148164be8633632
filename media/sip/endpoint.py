"""The transaction layer of one SIP connection: bytes in, events and bytes out (sans-IO).

One endpoint talks to one next hop (the registrar, outbound proxy or the
conference bridge itself, RFC 3261 §8.1.2), so it sends every message back over
the same connection instead of routing responses by Via (§18.2.2).
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass

from media.sip.message import (
    MAX_MESSAGE_SIZE,
    NEED_DATA,
    MalformedMessage,
    MessageReceived,
    ParseError,
    SipMessage,
    SipRequest,
    SipResponse,
    StreamParser,
    parse_datagram,
)
from media.sip.transaction import (
    AckTimedOut,
    ClientTransaction,
    ResponseReceived,
    ServerTransaction,
    TimerValues,
    TransactionTimedOut,
    TxState,
)

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestReceived:
    """A new request for the transaction user (ACK of a 2xx included)."""

    request: SipRequest


@dataclass(frozen=True)
class StrayResponse:
    """A response that matches no transaction (e.g. a late 2xx retransmit)."""

    response: SipResponse


@dataclass(frozen=True)
class MessageDropped:
    """Input dropped as malformed (§4 of our conventions: counted, never raised)."""

    reason: str
    fatal: bool = False


EndpointEvent = (ResponseReceived | TransactionTimedOut | AckTimedOut | RequestReceived
                 | StrayResponse | MessageDropped)


class SipEndpoint:
    """Client and server transactions over one connection."""

    def __init__(self, *, reliable: bool, timers: TimerValues | None = None,
                 max_size: int = MAX_MESSAGE_SIZE) -> None:
        self.reliable = reliable
        self.timers = timers or TimerValues()
        self.dropped: Counter[str] = Counter()
        self._max_size = max_size
        self._stream = StreamParser(max_size) if reliable else None
        self._client: dict[tuple[str, str], ClientTransaction] = {}
        self._server: dict[tuple[str, str, str], ServerTransaction] = {}
        self._outgoing: list[bytes] = []
        self._events: deque[EndpointEvent] = deque()

    # -- input -----------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the transport: a whole datagram (UDP) or a stream chunk (TCP/TLS)."""
        if self._stream is None:
            self._handle_parsed(parse_datagram(data, max_size=self._max_size), now)
            return
        self._stream.feed(data)
        while True:
            event = self._stream.next_event()
            if event is NEED_DATA:
                break
            assert isinstance(event, MessageReceived | ParseError)
            self._handle_parsed(event, now)

    def _handle_parsed(self, event: MessageReceived | ParseError, now: float) -> None:
        if isinstance(event, ParseError):
            self._drop(event.reason, fatal=event.fatal)
            return
        try:
            self._dispatch(event.message, now)
        except MalformedMessage as exc:
            self._drop(str(exc))

    def _drop(self, reason: str, *, fatal: bool = False) -> None:
        _log.debug("dropped SIP input: %s", reason)
        self.dropped[reason] += 1
        self._events.append(MessageDropped(reason, fatal))

    def _dispatch(self, message: SipMessage, now: float) -> None:
        if isinstance(message, SipResponse):
            key = (message.top_via.branch, message.cseq[1])
            client = self._client.get(key)
            if client is None:
                self._events.append(StrayResponse(message))
                return
            client.receive_response(message, now)
            self._collect(client)
            return
        via = message.top_via
        method = "INVITE" if message.method == "ACK" else message.method
        skey = (via.branch, f"{via.host}:{via.port}", method)
        server = self._server.get(skey)
        if server is not None:
            server.receive_request(message, now)
            self._collect(server)
            if message.method == "ACK" and server.state is not TxState.CONFIRMED:
                self._events.append(RequestReceived(message))
            return
        if message.method == "ACK":
            # §17.1.1.3: the ACK of a 2xx is its own transaction; find the INVITE it ends.
            for tx in self._server.values():
                if (tx.invite and tx.state is TxState.ACCEPTED
                        and tx.request.call_id == message.call_id
                        and tx.request.cseq[0] == message.cseq[0]):
                    tx.ack_received()
            self._events.append(RequestReceived(message))
            return
        server = ServerTransaction(message, now, reliable=self.reliable, timers=self.timers)
        self._server[skey] = server
        self._events.append(RequestReceived(message))

    # -- output ----------------------------------------------------------------

    def send_request(self, request: SipRequest, now: float) -> tuple[str, str]:
        """Start a client transaction (ACK is sent bare); returns its key."""
        if request.method == "ACK":
            self._outgoing.append(request.encode())
            return (request.top_via.branch, "ACK")
        tx = ClientTransaction(request, now, reliable=self.reliable, timers=self.timers)
        self._client[tx.key] = tx
        self._collect(tx)
        return tx.key

    def send_response(self, response: SipResponse, now: float) -> None:
        """Answer a request received earlier."""
        via = response.top_via
        method = response.cseq[1]
        server = self._server.get((via.branch, f"{via.host}:{via.port}", method))
        if server is None:
            self._outgoing.append(response.encode())  # stateless (§8.2.6 for stray requests)
            return
        server.send_response(response, now)
        self._collect(server)

    def data_to_send(self) -> list[bytes]:
        """Wire messages to send now, in order."""
        out, self._outgoing = self._outgoing, []
        return out

    def next_event(self) -> EndpointEvent | None:
        """The next event for the transaction user, or None."""
        return self._events.popleft() if self._events else None

    # -- time ------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When `handle_timer` must next run, or None."""
        deadlines = [t for tx in self._all() if (t := tx.get_timer()) is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        """Fire due transaction timers and forget terminated transactions."""
        for tx in self._all():
            tx.handle_timer(now)
            self._collect(tx)
        self._client = {k: t for k, t in self._client.items() if not t.terminated}
        self._server = {k: t for k, t in self._server.items() if not t.terminated}

    def _all(self) -> list[ClientTransaction | ServerTransaction]:
        return [*self._client.values(), *self._server.values()]

    def _collect(self, tx: ClientTransaction | ServerTransaction) -> None:
        self._outgoing.extend(tx.outgoing)
        tx.outgoing.clear()
        self._events.extend(tx.events)
        tx.events.clear()
