"""RFC 3261 §17 transactions as sans-IO state machines (with the RFC 6026 Accepted state).

Each transaction takes `now` in every call, queues wire bytes in `outgoing`
and results in `events`, and says when it next needs attention through
`get_timer()`; the I/O layer calls `handle_timer(now)` then.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from media.sip.message import SipRequest, SipResponse

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimerValues:
    """T1, T2 and T4 of RFC 3261 §17.1.1.1 (seconds)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


class TxState(StrEnum):
    """Transaction states of RFC 3261 §17 and RFC 6026."""

    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


@dataclass(frozen=True)
class ResponseReceived:
    """A response the transaction user must see (provisional, final, or 2xx retransmit)."""

    key: tuple[str, str]
    response: SipResponse


@dataclass(frozen=True)
class TransactionTimedOut:
    """Timer B, F or H fired: the peer never answered (treated as 408, §8.1.3.1)."""

    key: tuple[str, str]
    method: str


@dataclass(frozen=True)
class AckTimedOut:
    """A 2xx to an INVITE was never acknowledged (§13.3.1.4): the dialog must end."""

    key: tuple[str, str]


TxEvent = ResponseReceived | TransactionTimedOut | AckTimedOut


class _Transaction:
    def __init__(self, key: tuple[str, str], *, reliable: bool, timers: TimerValues) -> None:
        self.key = key
        self.reliable = reliable
        self.values = timers
        self.state = TxState.TRYING
        self.outgoing: list[bytes] = []
        self.events: list[TxEvent] = []
        self._timers: dict[str, float] = {}
        self._intervals: dict[str, float] = {}

    def get_timer(self) -> float | None:
        """When this transaction next needs `handle_timer`, or None."""
        return min(self._timers.values()) if self._timers else None

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at `now`."""
        for name in sorted(self._timers, key=self._timers.__getitem__):
            due = self._timers.get(name)
            if due is not None and due <= now:
                del self._timers[name]
                self._fire(name, now)

    @property
    def terminated(self) -> bool:
        """True once the transaction can be forgotten."""
        return self.state is TxState.TERMINATED

    def _start(self, name: str, now: float, delay: float) -> None:
        self._timers[name] = now + delay
        self._intervals[name] = delay

    def _stop(self, *names: str) -> None:
        for name in names:
            self._timers.pop(name, None)

    def _terminate(self) -> None:
        self.state = TxState.TERMINATED
        self._timers.clear()

    def _fire(self, name: str, now: float) -> None:
        raise NotImplementedError


class ClientTransaction(_Transaction):
    """A client transaction (§17.1): INVITE or non-INVITE, chosen by the request."""

    def __init__(self, request: SipRequest, now: float, *, reliable: bool,
                 timers: TimerValues | None = None) -> None:
        super().__init__((request.top_via.branch, request.method), reliable=reliable,
                         timers=timers or TimerValues())
        self.request = request
        self.invite = request.method == "INVITE"
        self._wire = request.encode()
        self._ack: bytes | None = None
        self.state = TxState.CALLING if self.invite else TxState.TRYING
        self.outgoing.append(self._wire)
        t1 = self.values.t1
        if not reliable:
            self._start("A" if self.invite else "E", now, t1)
        self._start("B" if self.invite else "F", now, 64 * t1)

    def receive_response(self, response: SipResponse, now: float) -> None:
        """A response matched to this transaction (§17.1.3)."""
        if self.invite:
            self._invite_response(response, now)
        else:
            self._non_invite_response(response, now)

    def _invite_response(self, response: SipResponse, now: float) -> None:
        status = response.status
        if self.state in (TxState.CALLING, TxState.PROCEEDING):
            self._stop("A")
            if status < 200:
                self.state = TxState.PROCEEDING
            elif status < 300:
                # RFC 6026 §7.2: Accepted absorbs 2xx retransmits for 64*T1.
                self.state = TxState.ACCEPTED
                self._stop("B")
                self._start("M", now, 64 * self.values.t1)
            else:
                self.state = TxState.COMPLETED
                self._stop("B")
                self._ack = self._build_ack(response).encode()
                self.outgoing.append(self._ack)
                self._start("D", now, 0.0 if self.reliable else 32.0)
            self.events.append(ResponseReceived(self.key, response))
        elif self.state is TxState.ACCEPTED and 200 <= status < 300:
            self.events.append(ResponseReceived(self.key, response))
        elif self.state is TxState.COMPLETED and status >= 300 and self._ack is not None:
            self.outgoing.append(self._ack)  # §17.1.1.2: re-ACK a retransmitted final

    def _non_invite_response(self, response: SipResponse, now: float) -> None:
        if self.state not in (TxState.TRYING, TxState.PROCEEDING):
            return
        if response.status < 200:
            self.state = TxState.PROCEEDING
        else:
            self.state = TxState.COMPLETED
            self._stop("E", "F")
            self._start("K", now, 0.0 if self.reliable else self.values.t4)
        self.events.append(ResponseReceived(self.key, response))

    def _build_ack(self, response: SipResponse) -> SipRequest:
        # §17.1.1.3: ACK for a non-2xx final response, built by the transaction.
        req = self.request
        headers = [("Via", req.header_all("Via")[0]), ("Max-Forwards", "70"),
                   ("From", req.header("From") or ""), ("To", response.header("To") or ""),
                   ("Call-ID", req.call_id), ("CSeq", f"{req.cseq[0]} ACK")]
        headers += [("Route", route) for route in req.header_all("Route")]
        return SipRequest(headers=tuple(headers), method="ACK", uri=req.uri)

    def _fire(self, name: str, now: float) -> None:
        t2 = self.values.t2
        if name == "A" and self.state is TxState.CALLING:
            self.outgoing.append(self._wire)
            self._start("A", now, self._intervals["A"] * 2)
        elif name == "E" and self.state in (TxState.TRYING, TxState.PROCEEDING):
            self.outgoing.append(self._wire)
            # §17.1.2.2: doubling up to T2 while trying, T2 once proceeding.
            interval = t2 if self.state is TxState.PROCEEDING else min(
                self._intervals["E"] * 2, t2)
            self._start("E", now, interval)
        elif name in ("B", "F"):
            self.events.append(TransactionTimedOut(self.key, self.request.method))
            self._terminate()
        elif name in ("D", "K", "M"):
            self._terminate()


class ServerTransaction(_Transaction):
    """A server transaction (§17.2): INVITE or non-INVITE, chosen by the request."""

    def __init__(self, request: SipRequest, now: float, *, reliable: bool,
                 timers: TimerValues | None = None) -> None:
        via = request.top_via
        super().__init__((via.branch, "INVITE" if request.method == "ACK" else request.method),
                         reliable=reliable, timers=timers or TimerValues())
        self.request = request
        self.invite = request.method == "INVITE"
        self._last: bytes | None = None
        self.state = TxState.PROCEEDING if self.invite else TxState.TRYING
        del now

    def receive_request(self, request: SipRequest, now: float) -> None:
        """A retransmission of the request, or the ACK of an INVITE transaction."""
        if request.method == "ACK":
            if self.state is TxState.COMPLETED:
                self.state = TxState.CONFIRMED
                self._stop("G", "H")
                self._start("I", now, 0.0 if self.reliable else self.values.t4)
            elif self.state is TxState.ACCEPTED:
                self.ack_received()
            return
        if self._last is not None and self.state is not TxState.TRYING:
            self.outgoing.append(self._last)

    def ack_received(self) -> None:
        """The TU saw the ACK of our 2xx: stop retransmitting it (§13.3.1.4)."""
        if self.state is TxState.ACCEPTED:
            self._stop("G", "H")

    def send_response(self, response: SipResponse, now: float) -> None:
        """Send a response from the transaction user."""
        if self.state in (TxState.COMPLETED, TxState.CONFIRMED, TxState.TERMINATED):
            return
        self._last = response.encode()
        self.outgoing.append(self._last)
        status = response.status
        t1 = self.values.t1
        if status < 200:
            self.state = TxState.PROCEEDING
        elif self.invite and status < 300:
            self.state = TxState.ACCEPTED
            # §13.3.1.4: the UAS core retransmits 2xx until the ACK, over any transport.
            self._start("G", now, t1)
            self._start("H", now, 64 * t1)
            self._start("L", now, 64 * t1)
        elif self.invite:
            self.state = TxState.COMPLETED
            if not self.reliable:
                self._start("G", now, t1)
            self._start("H", now, 64 * t1)
        else:
            self.state = TxState.COMPLETED
            self._start("J", now, 0.0 if self.reliable else 64 * t1)

    def _fire(self, name: str, now: float) -> None:
        if name == "G" and self._last is not None and self.state in (
                TxState.COMPLETED, TxState.ACCEPTED):
            self.outgoing.append(self._last)
            self._start("G", now, min(self._intervals["G"] * 2, self.values.t2))
        elif name == "H":
            if self.state is TxState.ACCEPTED:
                self._stop("G")
                self.events.append(AckTimedOut(self.key))
            else:
                self.events.append(TransactionTimedOut(self.key, self.request.method))
                self._terminate()
        elif name in ("I", "J", "L"):
            self._terminate()
