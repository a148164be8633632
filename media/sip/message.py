"""SIP messages (RFC 3261 §7): parse and serialise, sans-IO.

Stream transports use `StreamParser` (`feed(data)`, then `next_event()` until
`NEED_DATA`), framed by Content-Length (§18.3) with a maximum message size.
Datagrams are parsed whole by `parse_datagram`. Malformed input becomes a
`ParseError` event; nothing here raises out of a read loop.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from typing import Final

_log = logging.getLogger(__name__)

MAX_MESSAGE_SIZE: Final = 65_535
SIP_VERSION: Final = "SIP/2.0"

# RFC 3261 §7.3.3 compact forms, plus the common event-package ones (RFC 6665).
COMPACT_FORMS: Final[dict[str, str]] = {
    "i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length",
    "c": "Content-Type", "f": "From", "s": "Subject", "k": "Supported", "t": "To",
    "v": "Via", "o": "Event", "r": "Refer-To", "u": "Allow-Events",
}
_CANONICAL: Final[dict[str, str]] = {name.lower(): name for name in (
    "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Content-Length",
    "Content-Type", "Content-Encoding", "Route", "Record-Route", "Authorization",
    "Proxy-Authorization", "WWW-Authenticate", "Proxy-Authenticate", "Expires", "Allow",
    "Supported", "Require", "User-Agent", "Server", "Subject", "Event", "Allow-Events",
    "Refer-To", "Accept", "Min-Expires", "Retry-After", "Session-Expires", "Reason",
    "Unsupported", "Warning", "Date", "Timestamp", "Organization", "Priority")}
# Headers whose comma-separated values are separate entries (§7.3.1).
_LIST_HEADERS: Final = frozenset({"via", "route", "record-route"})
_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")


def canonical_name(name: str) -> str:
    """The usual spelling of a header name (compact forms expanded)."""
    lower = name.strip().lower()
    if lower in COMPACT_FORMS:
        return COMPACT_FORMS[lower]
    return _CANONICAL.get(lower, name.strip())


def split_commas(value: str) -> list[str]:
    """Split a header value at commas that are outside quotes and angle brackets."""
    parts: list[str] = []
    depth = 0
    quoted = False
    start = 0
    i = 0
    while i < len(value):
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append(value[start:i].strip())
            start = i + 1
        i += 1
    parts.append(value[start:].strip())
    return [p for p in parts if p]


Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _Message:
    headers: Headers = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        """Every value of a header, comma lists split for Via/Route/Record-Route."""
        wanted = canonical_name(name).lower()
        values: list[str] = []
        for key, value in self.headers:
            if key.lower() == wanted:
                if wanted in _LIST_HEADERS:
                    values.extend(split_commas(value))
                else:
                    values.append(value)
        return values

    @property
    def call_id(self) -> str:
        """The Call-ID."""
        return self.header("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        """The CSeq number and method."""
        return parse_cseq(self.header("CSeq") or "")

    @property
    def top_via(self) -> Via:
        """The topmost Via."""
        return parse_via(self.header_all("Via")[0])

    def with_headers(self, *pairs: tuple[str, str], drop: tuple[str, ...] = ()) -> _Message:
        """A copy with headers removed (by name) and others appended."""
        lowered = {canonical_name(d).lower() for d in drop}
        kept = tuple((k, v) for k, v in self.headers if k.lower() not in lowered)
        return replace(self, headers=kept + tuple((canonical_name(k), v) for k, v in pairs))


@dataclass(frozen=True)
class SipRequest(_Message):
    """A SIP request."""

    method: str = ""
    uri: str = ""

    def encode(self) -> bytes:
        """Wire bytes (Content-Length set from the body)."""
        return _encode(f"{self.method} {self.uri} {SIP_VERSION}", self.headers, self.body)


@dataclass(frozen=True)
class SipResponse(_Message):
    """A SIP response."""

    status: int = 0
    reason: str = ""

    def encode(self) -> bytes:
        """Wire bytes (Content-Length set from the body)."""
        return _encode(f"{SIP_VERSION} {self.status} {self.reason}", self.headers, self.body)


SipMessage = SipRequest | SipResponse


def _encode(start: str, headers: Headers, body: bytes) -> bytes:
    lines = [start]
    lines.extend(f"{k}: {v}" for k, v in headers if k.lower() != "content-length")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


@dataclass(frozen=True)
class MessageReceived:
    """A complete, well-formed message."""

    message: SipMessage


@dataclass(frozen=True)
class ParseError:
    """Input that is not a SIP message; `fatal` means the stream lost its framing."""

    reason: str
    excerpt: bytes = b""
    fatal: bool = False


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()
ParserEvent = MessageReceived | ParseError


class MalformedMessage(ValueError):
    """Internal: why a header block is not SIP (turned into a ParseError event)."""


@dataclass(frozen=True)
class Via:
    """One Via entry (§20.42)."""

    transport: str
    host: str
    port: int | None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def branch(self) -> str:
        """The branch parameter, or an empty string."""
        return self.params.get("branch") or ""


def parse_via(value: str) -> Via:
    """Parse one Via value; raises MalformedMessage."""
    head, _, rest = value.strip().partition(";")
    proto, _, sent_by = head.strip().partition(" ")
    parts = proto.split("/")
    if len(parts) != 3 or parts[0].upper() != "SIP" or not sent_by.strip():
        raise MalformedMessage(f"bad Via {value[:60]!r}")
    host, port = _split_hostport(sent_by.strip())
    return Via(parts[2].strip().upper(), host, port, _parse_params(rest))


def _split_hostport(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        end = text.find("]")
        host, tail = text[: end + 1], text[end + 1:]
        port_text = tail[1:] if tail.startswith(":") else ""
    else:
        host, _, port_text = text.partition(":")
    port_text = port_text.strip()
    if port_text and not port_text.isdigit():
        raise MalformedMessage(f"bad port in {text[:60]!r}")
    return host.strip(), int(port_text) if port_text else None


def _parse_params(text: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for item in text.split(";"):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        params[key.strip().lower()] = value.strip().strip('"') if eq else None
    return params


def parse_cseq(value: str) -> tuple[int, str]:
    """Parse a CSeq value; raises MalformedMessage."""
    number, _, method = value.strip().partition(" ")
    if not number.isdigit() or not _TOKEN.match(method.strip() or "-x-") or not method.strip():
        raise MalformedMessage(f"bad CSeq {value[:40]!r}")
    return int(number), method.strip().upper()


@dataclass(frozen=True)
class NameAddr:
    """A From/To/Contact/Route value: display name, URI, header parameters."""

    display: str
    uri: str
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        """The tag parameter."""
        return self.params.get("tag")

    def __str__(self) -> str:
        display = f'"{self.display}" ' if self.display else ""
        params = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params.items())
        return f"{display}<{self.uri}>{params}"


def parse_name_addr(value: str) -> NameAddr:
    """Parse name-addr or addr-spec (§20.10); raises MalformedMessage."""
    value = value.strip()
    if "<" in value:
        lt = value.index("<")
        gt = value.find(">", lt)
        if gt < 0:
            raise MalformedMessage(f"unclosed '<' in {value[:60]!r}")
        display = value[:lt].strip().strip('"')
        return NameAddr(display, value[lt + 1: gt].strip(), _parse_params(value[gt + 1:]))
    # addr-spec: parameters after the URI belong to the header (§20.10).
    uri, _, rest = value.partition(";")
    if ":" not in uri:
        raise MalformedMessage(f"bad address {value[:60]!r}")
    return NameAddr("", uri.strip(), _parse_params(rest))


def uri_host_port(uri: str) -> tuple[str, int | None]:
    """Host and port of a sip:/sips: URI."""
    rest = uri.split(":", 1)[1] if ":" in uri else uri
    rest = rest.split(";", 1)[0].split("?", 1)[0]
    rest = rest.rsplit("@", 1)[-1]
    return _split_hostport(rest)


_REQUIRED = ("Via", "Call-ID", "CSeq", "From", "To")


def parse_head(head: bytes) -> tuple[SipMessage, int | None]:
    """Parse a start line and headers; returns the body-less message and Content-Length."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedMessage("not UTF-8") from exc
    raw_lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    start, raw_lines = raw_lines[0], raw_lines[1:]
    lines: list[str] = []
    for line in raw_lines:
        if not line:
            continue
        if line[0] in " \t":
            # §7.3.1: header folding (LWS continuation).
            if not lines:
                raise MalformedMessage("continuation line before any header")
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    headers: list[tuple[str, str]] = []
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.match(name.strip() or "-x-") or not name.strip():
            raise MalformedMessage(f"bad header line {line[:60]!r}")
        headers.append((canonical_name(name), value.strip()))
    message = _start_line(start, tuple(headers))
    names = {k.lower() for k, _ in headers}
    for required in _REQUIRED:
        if required.lower() not in names:
            raise MalformedMessage(f"missing {required}")
    parse_cseq(message.header("CSeq") or "")
    for via in message.header_all("Via"):
        parse_via(via)
    length_text = message.header("Content-Length")
    if length_text is None:
        return message, None
    if not length_text.isdigit():
        raise MalformedMessage(f"bad Content-Length {length_text[:20]!r}")
    return message, int(length_text)


def _start_line(start: str, headers: Headers) -> SipMessage:
    parts = start.split(" ", 2)
    if len(parts) != 3:
        raise MalformedMessage(f"bad start line {start[:60]!r}")
    if parts[0] == SIP_VERSION:
        if not (parts[1].isdigit() and len(parts[1]) == 3 and 100 <= int(parts[1]) <= 699):
            raise MalformedMessage(f"bad status {parts[1][:10]!r}")
        return SipResponse(headers=headers, status=int(parts[1]), reason=parts[2])
    method, uri, version = parts
    if version != SIP_VERSION or not _TOKEN.match(method) or ":" not in uri:
        raise MalformedMessage(f"bad request line {start[:60]!r}")
    return SipRequest(headers=headers, method=method.upper(), uri=uri)


def parse_datagram(data: bytes, *, max_size: int = MAX_MESSAGE_SIZE) -> ParserEvent:
    """Parse one UDP datagram (§18.3: Content-Length, if present, bounds the body)."""
    if len(data) > max_size:
        return ParseError("too_large", data[:60])
    data = data.lstrip(b"\r\n")
    end = data.find(b"\r\n\r\n")
    sep = 4
    if end < 0:
        end, sep = data.find(b"\n\n"), 2
    if end < 0:
        return ParseError("truncated", data[:60])
    try:
        message, length = parse_head(data[:end])
    except MalformedMessage as exc:
        return ParseError(str(exc), data[:60])
    body = data[end + sep:]
    if length is not None:
        if length > len(body):
            return ParseError("body shorter than Content-Length", data[:60])
        body = body[:length]
    return MessageReceived(replace(message, body=body))


class StreamParser:
    """Frames SIP messages out of a byte stream (TCP, TLS)."""

    def __init__(self, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self._buffer = bytearray()
        self._max_size = max_size
        self._pending: tuple[SipMessage, int] | None = None
        self._broken = False

    def feed(self, data: bytes) -> None:
        """Add received bytes."""
        if not self._broken:
            self._buffer += data

    def next_event(self) -> ParserEvent | _NeedData:
        """The next message or error, or NEED_DATA."""
        if self._broken:
            return NEED_DATA
        if self._pending is None:
            # RFC 5626 §4.4.1: CRLF keepalives between messages are skipped.
            while self._buffer[:2] == b"\r\n":
                del self._buffer[:2]
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > self._max_size:
                    return self._fail("header block too large")
                return NEED_DATA
            head = bytes(self._buffer[:end])
            del self._buffer[: end + 4]
            try:
                message, length = parse_head(head)
            except MalformedMessage as exc:
                # The block is dropped whole; framing resumes at the next message.
                return ParseError(str(exc), head[:60])
            length = length or 0
            if end + length > self._max_size:
                return self._fail("message too large")
            self._pending = (message, length)
        message, length = self._pending
        if len(self._buffer) < length:
            return NEED_DATA
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        self._pending = None
        return MessageReceived(replace(message, body=body))

    def _fail(self, reason: str) -> ParseError:
        excerpt = bytes(self._buffer[:60])
        self._buffer.clear()
        self._broken = True
        return ParseError(reason, excerpt, fatal=True)
