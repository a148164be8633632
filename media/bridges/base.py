"""One interface for every conference bridge: `Bridge.join(...)` gives a `Call`.

A call keeps its identity across recoveries: when media or signalling fail, the
adapter rebuilds the PeerConnection and rejoins with backoff (aiortc has no ICE
restart), publishing each step as a `CallEvent` with its time.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from media.stats import LinkSample

if TYPE_CHECKING:
    from aiortc.mediastreams import MediaStreamTrack

_log = logging.getLogger(__name__)


class MediaError(Exception):
    """Root of every error the media layer raises on purpose."""

    code = "media_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BridgeUnreachableError(MediaError):
    """The bridge's signalling endpoint could not be reached."""

    code = "bridge_unreachable"


class BridgeRefusedError(MediaError):
    """The bridge answered with an error (wrong room, wrong PIN, full, forbidden)."""

    code = "bridge_refused"

    def __init__(self, message: str, *, bridge_code: str | int | None = None) -> None:
        super().__init__(message)
        self.bridge_code = bridge_code


class MediaTimeoutError(MediaError, TimeoutError):
    """Signalling or media did not happen in time."""

    code = "media_timeout"


class MediaNegotiationError(MediaError):
    """Offer/answer, ICE or DTLS failed."""

    code = "media_negotiation_failed"


class InsecureMediaError(MediaError):
    """A secret session was asked to use media that is not encrypted."""

    code = "insecure_media"


@dataclass(frozen=True)
class BridgeSpec:
    """How to reach one bridge: built by the controller from the site config."""

    id: str
    kind: str  # janus-videoroom | whip | sip
    url: str
    room: int | None = None
    name: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    ice_servers: Sequence[Mapping[str, Any]] = ()  # closed network: none unless configured


@dataclass(frozen=True)
class JoinOptions:
    """What this site sends and wants to receive in a call."""

    display: str  # the site's name as other sites see it
    video_source: str = "test-pattern"  # see media.sources
    audio_source: str = "tone"
    subscribe: str = "all"  # "all", "none", or one feed/participant id (the chair, the speaker)
    secret: bool = False  # a secret (mật) session: encrypted media only, never recorded
    # The site's picture size and rate; None leaves the bridge's own default.
    width: int | None = None
    height: int | None = None
    fps: float | None = None

    def video_format(self, default: tuple[int, int, float]) -> tuple[int, int, float]:
        """Width, height and fps: the site's where given, else ``default``."""
        return (self.width or default[0], self.height or default[1], self.fps or default[2])


class CallState(StrEnum):
    """Where a call is."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DEGRADED = "degraded"
    RECOVERING = "recovering"
    DROPPED = "dropped"
    ENDED = "ended"


@dataclass(frozen=True)
class CallEvent:
    """Something that happened to a call: state changes, recovery steps, room events."""

    call_id: str
    name: str  # connected, degraded, dropped, recovered, recovery_step, room, ended
    at: float
    data: Mapping[str, Any] = field(default_factory=dict)


CallListener = Callable[[CallEvent], None]


class Call(ABC):
    """A site's presence in one conference on one bridge."""

    def __init__(self, call_id: str, bridge_id: str) -> None:
        self.id = call_id
        self.bridge_id = bridge_id
        self.state = CallState.CONNECTING
        self._listeners: list[CallListener] = []

    def subscribe(self, listener: CallListener) -> Callable[[], None]:
        """Receive this call's events; returns the unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def publish(self, name: str, at: float, **data: Any) -> None:
        """Send an event to every listener (a failing listener never breaks the call)."""
        event = CallEvent(self.id, name, at, data)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                _log.exception("call listener failed on %s", name)

    @abstractmethod
    async def leave(self) -> None:
        """Hang up on every path; safe to call twice."""

    @abstractmethod
    async def stats(self) -> Sequence[LinkSample]:
        """One sample per direction and media kind, for the last interval."""

    async def moderate(self, display: str, *, mute: bool) -> int:
        """Mute or unmute, at the bridge, the audio of the participants shown as ``display``;
        how many streams changed. Bridges without moderation change none."""
        return 0

    def remote_tracks(self) -> Sequence[MediaStreamTrack]:
        """The received audio and video now, chosen feed first; empty when none.

        Each call gives new relays of the received tracks (``MediaRelay().subscribe``), so
        a reader never takes frames from the call's own counting; the caller owns them and
        stops them when done (a PeerConnection sending one stops it as it closes). They end
        when the call rebuilds its connections.
        """
        return ()

    def describe(self) -> dict[str, Any]:
        """JSON-able state for the API."""
        return {"id": self.id, "bridge": self.bridge_id, "state": self.state.value}


class Bridge(ABC):
    """A conference bridge this site can join."""

    kind = ""

    def __init__(self, spec: BridgeSpec) -> None:
        self.spec = spec

    @property
    def id(self) -> str:
        """The bridge id from the config."""
        return self.spec.id

    @abstractmethod
    async def join(self, options: JoinOptions) -> Call:
        """Join the conference; the returned call recovers by itself until `Call.leave`."""

    async def probe(self) -> None:
        """Check the bridge answers (readiness check); raises a MediaError if not."""
        raise MediaError(f"{self.kind} bridges cannot be probed")

    @abstractmethod
    async def close(self) -> None:
        """Release what the bridge holds (sessions, HTTP clients)."""
