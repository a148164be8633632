"""The uplink protocol between a site and its parent, sans I/O: text frames in, messages out.

Every frame is one JSON object ``{"v": 1, "type": ..., ...}``. The child sends ``hello``; the
parent answers ``challenge`` with a random nonce; the child proves its credential with
``auth``; the parent says ``welcome`` (or ``error`` and closes). Then the child sends
``heartbeat`` frames and the parent acknowledges each with ``ack``.

After the handshake both sides keep each other in step by state, not by events, so a link that
drops loses nothing that a reconnect does not resend: the child sends its whole subtree in
``topology`` parts and its own (and its descendants') part in each session as ``status``; the
parent sends every session that concerns the child's subtree as ``session``. Chair commands go
down as ``command`` and come back as ``result`` with the same id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import random
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Final

VERSION: Final = 1
MAX_FRAME_BYTES: Final = 1024 * 1024  # a session naming every commune of a province fits
NONCE_BYTES: Final = 32
_MAX_TEXT: Final = 256  # longest id, name, version, nonce or proof we accept


@dataclass(frozen=True)
class Hello:
    """Child → parent: who is calling."""

    site_id: str
    level: str
    name: str
    version: str


@dataclass(frozen=True)
class Challenge:
    """Parent → child: prove you know the credential."""

    nonce: str


@dataclass(frozen=True)
class Auth:
    """Child → parent: HMAC-SHA256(credential, nonce + site_id), hex."""

    site_id: str
    proof: str


@dataclass(frozen=True)
class Welcome:
    """Parent → child: accepted."""

    parent_id: str


@dataclass(frozen=True)
class Heartbeat:
    """Child → parent: still here, with a small summary of the site."""

    seq: int
    at: float
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ack:
    """Parent → child: heartbeat ``seq`` received."""

    seq: int


@dataclass(frozen=True)
class Error:
    """Either way: something was wrong; ``code`` is machine-readable."""

    code: str
    message: str


@dataclass(frozen=True)
class Topology:
    """Child → parent: one part of the child's subtree (itself first), ``last`` on the final."""

    part: int
    last: bool
    sites: list[dict[str, Any]]


@dataclass(frozen=True)
class SessionUpdate:
    """Parent → child: a session's current record, as the chair last changed it."""

    session: dict[str, Any]


@dataclass(frozen=True)
class SessionStatus:
    """Child → parent: one site's part in a session (readiness, roll call, hand, call)."""

    session_id: str
    site_id: str
    status: dict[str, Any]


@dataclass(frozen=True)
class Command:
    """Parent → child: a chair command for ``target``, on behalf of ``origin_site``."""

    id: str
    session_id: str
    origin_site: str
    origin_user: str
    target: str
    action: str
    args: dict[str, Any]
    ttl: float  # seconds the origin waits; a later arrival is not executed


@dataclass(frozen=True)
class Result:
    """Child → parent: what became of command ``id``."""

    id: str
    ok: bool
    code: str
    message: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Records:
    """Child → parent: durable records from the outbox (incidents, usage), oldest first.

    Each item is ``{"key", "origin", "seq", "kind", "at", "body"}``; ``key`` is
    ``origin:seq`` and makes storing idempotent at every level."""

    items: list[dict[str, Any]]


@dataclass(frozen=True)
class RecordsAck:
    """Parent → child: these records are stored (and queued further up)."""

    keys: list[str]


Message = (Hello | Challenge | Auth | Welcome | Heartbeat | Ack | Error | Topology
           | SessionUpdate | SessionStatus | Command | Result | Records | RecordsAck)

_TYPES: Final[dict[str, type[Message]]] = {
    "hello": Hello, "challenge": Challenge, "auth": Auth, "welcome": Welcome,
    "heartbeat": Heartbeat, "ack": Ack, "error": Error, "topology": Topology,
    "session": SessionUpdate, "status": SessionStatus, "command": Command, "result": Result,
    "records": Records, "records_ack": RecordsAck,
}
_NAMES: Final[dict[type[Message], str]] = {cls: name for name, cls in _TYPES.items()}


@dataclass(frozen=True)
class ProtocolViolation:
    """A frame that could not be understood; ``reason`` is machine-readable."""

    reason: str  # too_large | malformed | wrong_version | unknown_type | bad_field
    detail: str = ""


def encode(msg: Message) -> str:
    """The frame's text for ``msg``."""
    body: dict[str, Any] = {"v": VERSION, "type": _NAMES[type(msg)]}
    body.update(asdict(msg))
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def decode(text: str | bytes) -> Message | ProtocolViolation:
    """Parse one frame; anything wrong is a `ProtocolViolation`, never an exception."""
    if len(text) > MAX_FRAME_BYTES or (
            isinstance(text, str) and len(text.encode("utf-8", "replace")) > MAX_FRAME_BYTES):
        return ProtocolViolation("too_large", f"frame over {MAX_FRAME_BYTES} bytes")
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return ProtocolViolation("malformed", "not JSON")
    if not isinstance(body, dict):
        return ProtocolViolation("malformed", "not a JSON object")
    version = body.get("v")
    if type(version) is not int or version != VERSION:
        return ProtocolViolation("wrong_version", f"version {version!r} is not {VERSION}")
    name = body.get("type")
    cls = _TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        return ProtocolViolation("unknown_type", f"type {str(body.get('type'))[:40]!r}")
    values: dict[str, Any] = {}
    for f in fields(cls):
        value: Any = body.get(f.name)
        kind = str(f.type).split("[", 1)[0]
        if not _FIELD_CHECKS[kind](value):
            return ProtocolViolation("bad_field", f"field {f.name!r} missing or invalid")
        values[f.name] = float(value) if kind == "float" else value
    return cls(**values)


_FIELD_CHECKS: Final[dict[str, Callable[[Any], bool]]] = {
    "int": lambda v: type(v) is int and 0 <= v < 2**63,
    "float": lambda v: (type(v) is float and math.isfinite(v)) or (
        type(v) is int and abs(v) < 2**63),
    "bool": lambda v: type(v) is bool,
    "str": lambda v: isinstance(v, str) and len(v) <= _MAX_TEXT,
    "dict": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list),
}


def new_nonce() -> str:
    """A fresh random challenge."""
    return secrets.token_hex(NONCE_BYTES)


def proof(credential: str, nonce: str, site_id: str) -> str:
    """HMAC-SHA256(credential, nonce + site_id) as hex."""
    return hmac.new(credential.encode("utf-8"), (nonce + site_id).encode("utf-8"),
                    hashlib.sha256).hexdigest()


def verify_proof(credential: str, nonce: str, site_id: str, claimed: str) -> bool:
    """Whether ``claimed`` is the right proof, compared in constant time."""
    return hmac.compare_digest(proof(credential, nonce, site_id).encode("ascii"),
                               claimed.encode("utf-8", "replace"))


class UplinkBackoff:
    """Reconnect delays: exponential with full jitter, reset after a good connection."""

    def __init__(self, initial: float = 1.0, maximum: float = 60.0, factor: float = 2.0,
                 rng: random.Random | None = None) -> None:
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self._rng = rng or random.Random()
        self._failures = 0
        self._next_at: float | None = None

    @property
    def failures(self) -> int:
        """Failed attempts since the last success."""
        return self._failures

    def failed(self, now: float) -> float:
        """Record a failed attempt at ``now``; returns when the next attempt is due."""
        ceiling = min(self.maximum, self.initial * self.factor ** self._failures)
        self._failures += 1
        # Half fixed, half random: never a hammering zero delay, still spread out.
        delay = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        self._next_at = now + delay
        return self._next_at

    def succeeded(self) -> None:
        """A connection was established: start again from the initial delay."""
        self._failures = 0
        self._next_at = None

    def delay(self, now: float) -> float:
        """Seconds to wait at ``now`` before the next attempt."""
        return 0.0 if self._next_at is None else max(0.0, self._next_at - now)
