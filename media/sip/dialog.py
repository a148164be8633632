"""Dialogs (RFC 3261 §12) and the request/response builders of a user agent core."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

from media.sip.message import NameAddr, SipRequest, SipResponse, parse_name_addr

_log = logging.getLogger(__name__)

BRANCH_MAGIC = "z9hG4bK"  # §8.1.1.7
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS"


def new_branch() -> str:
    """A fresh RFC 3261 branch parameter."""
    return BRANCH_MAGIC + secrets.token_hex(8)


def new_tag() -> str:
    """A fresh From/To tag."""
    return secrets.token_hex(6)


def new_call_id(host: str) -> str:
    """A fresh Call-ID."""
    return f"{secrets.token_hex(12)}@{host}"


@dataclass(frozen=True)
class Local:
    """How this user agent appears on the wire: Via sent-by, transport and Contact."""

    host: str
    port: int
    transport: str  # UDP | TCP | TLS
    user: str = "diemcau"

    def via(self, branch: str) -> str:
        """A Via value for a new request."""
        return f"SIP/2.0/{self.transport} {self.host}:{self.port};branch={branch};rport"

    @property
    def contact(self) -> str:
        """Our Contact header value."""
        scheme = "sips" if self.transport == "TLS" else "sip"
        param = "" if self.transport == "UDP" else f";transport={self.transport.lower()}"
        return f"<{scheme}:{self.user}@{self.host}:{self.port}{param}>"


def build_request(method: str, uri: str, *, local: Local, from_addr: NameAddr,
                  to_addr: NameAddr, call_id: str, cseq: int,
                  routes: tuple[str, ...] = (), headers: tuple[tuple[str, str], ...] = (),
                  body: bytes = b"", branch: str | None = None) -> SipRequest:
    """A request outside or inside a dialog (§8.1.1)."""
    base: list[tuple[str, str]] = [
        ("Via", local.via(branch or new_branch())), ("Max-Forwards", "70"),
        ("From", str(from_addr)), ("To", str(to_addr)), ("Call-ID", call_id),
        ("CSeq", f"{cseq} {method}")]
    base += [("Route", route) for route in routes]
    if method not in ("ACK", "CANCEL", "BYE"):
        base.append(("Contact", local.contact))
    base.append(("User-Agent", "diemcau"))
    return SipRequest(headers=(*base, *headers), body=body, method=method, uri=uri)


def build_cancel(invite: SipRequest) -> SipRequest:
    """CANCEL for a pending INVITE (§9.1): same Via branch, URI, Call-ID, CSeq number."""
    headers = [("Via", invite.header_all("Via")[0]), ("Max-Forwards", "70"),
               ("From", invite.header("From") or ""), ("To", invite.header("To") or ""),
               ("Call-ID", invite.call_id), ("CSeq", f"{invite.cseq[0]} CANCEL")]
    headers += [("Route", route) for route in invite.header_all("Route")]
    return SipRequest(headers=tuple(headers), method="CANCEL", uri=invite.uri)


def make_response(request: SipRequest, status: int, reason: str, *, to_tag: str | None = None,
                  headers: tuple[tuple[str, str], ...] = (), body: bytes = b"") -> SipResponse:
    """A response copying Via, From, To, Call-ID and CSeq from the request (§8.2.6.2)."""
    to = request.header("To") or ""
    if to_tag and status > 100 and parse_name_addr(to).tag is None:
        to = f"{to};tag={to_tag}"
    base: list[tuple[str, str]] = [("Via", via) for via in request.header_all("Via")]
    base += [("From", request.header("From") or ""), ("To", to),
             ("Call-ID", request.call_id), ("CSeq", request.header("CSeq") or "")]
    return SipResponse(headers=(*base, *headers), body=body, status=status, reason=reason)


@dataclass
class Dialog:
    """One dialog's state (§12): identifiers, sequence numbers, target and route set."""

    call_id: str
    local: NameAddr
    remote: NameAddr
    remote_target: str
    local_cseq: int
    route_set: tuple[str, ...] = ()
    remote_cseq: int | None = None
    secure: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def local_tag(self) -> str:
        """Our tag."""
        return self.local.tag or ""

    @property
    def remote_tag(self) -> str:
        """The peer's tag."""
        return self.remote.tag or ""

    @classmethod
    def from_uac(cls, invite: SipRequest, response: SipResponse) -> Dialog:
        """The dialog a 2xx (or 1xx with a tag) to our INVITE creates (§12.1.2)."""
        contact = response.header("Contact")
        target = parse_name_addr(contact).uri if contact else invite.uri
        # §12.1.2: the route set is the Record-Route list in reverse order.
        routes = tuple(reversed(response.header_all("Record-Route")))
        return cls(call_id=invite.call_id, local=parse_name_addr(invite.header("From") or ""),
                   remote=parse_name_addr(response.header("To") or ""), remote_target=target,
                   local_cseq=invite.cseq[0], route_set=routes,
                   secure=invite.uri.startswith("sips:"))

    def matches(self, request: SipRequest) -> bool:
        """True when an incoming request belongs to this dialog (§12.2.2)."""
        try:
            from_tag = parse_name_addr(request.header("From") or "").tag
            to_tag = parse_name_addr(request.header("To") or "").tag
        except ValueError:
            return False
        return (request.call_id == self.call_id and from_tag == self.remote_tag
                and to_tag == self.local_tag)

    def accept_remote_cseq(self, request: SipRequest) -> bool:
        """Record the peer's CSeq; False when it went backwards (answer 500, §12.2.2)."""
        number = request.cseq[0]
        if request.method != "ACK" and self.remote_cseq is not None and number < self.remote_cseq:
            return False
        if request.method not in ("ACK", "CANCEL"):
            self.remote_cseq = number
        return True

    def request(self, method: str, local: Local, *, headers: tuple[tuple[str, str], ...] = (),
                body: bytes = b"", cseq: int | None = None) -> SipRequest:
        """A request inside the dialog (§12.2.1.1: loose routing, next local CSeq)."""
        if cseq is None:
            self.local_cseq += 1
            cseq = self.local_cseq
        return build_request(method, self.remote_target, local=local, from_addr=self.local,
                             to_addr=self.remote, call_id=self.call_id, cseq=cseq,
                             routes=self.route_set, headers=headers, body=body)

    def ack(self, cseq: int, local: Local, *, body: bytes = b"") -> SipRequest:
        """ACK of a 2xx: same CSeq number as the INVITE, new branch (§13.2.2.4)."""
        return self.request("ACK", local, cseq=cseq, body=body)
