"""WHIP (RFC 9725) publishing and WHEP receiving as a conference bridge.

Publishing: POST an SDP offer (``application/sdp``, ``Authorization: Bearer`` from
``secrets["token"]``) to the WHIP endpoint (``spec.url``) → ``201 Created`` with a
``Location`` (the session resource) and the SDP answer; DELETE the resource to hang up.
Receiving: the same against ``options["whep_url"]``. WHEP's final form has the client offer;
servers built on Janus 1.1 (its VideoRoom lets only publishers offer) answer an empty POST
with their offer instead and take our answer by PATCH — ``options["whep_mode"] =
"server-offer"`` selects that. ``options`` may also set the video ``width``, ``height`` and
``fps`` (1280, 720, 30). Trickle ICE and ICE restarts are not used: aiortc gathers
before it offers, and recovery is a new PeerConnection and a new POST, paced by `Backoff`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from media.bridges.base import (
    Bridge,
    BridgeRefusedError,
    BridgeSpec,
    BridgeUnreachableError,
    Call,
    CallState,
    InsecureMediaError,
    JoinOptions,
    MediaError,
    MediaTimeoutError,
)
from media.sources import AudioSource, VideoSource, open_audio, open_video
from media.stats import LinkSample
from media.webrtc import (
    Backoff,
    FrameMeter,
    StatsSnapshot,
    cancel_quietly,
    close_quietly,
    collect_samples,
    consume,
    peer_connection,
    prefer_codec,
    wait_connected,
)

_log = logging.getLogger(__name__)

SDP: Final = "application/sdp"
HTTP_TIMEOUT_S: Final = 10.0
CONNECT_TIMEOUT_S: Final = 15.0
# No RTCP receiver report (publishing) or no frame (receiving) for this long: media is dead.
MEDIA_TIMEOUT_S: Final = 6.0
_LOOPBACK: Final = ("localhost", "127.0.0.1", "::1")
_call_ids = itertools.count(1)


def _refused(status: int, text: str, what: str) -> BridgeRefusedError:
    return BridgeRefusedError(f"{what}: HTTP {status} {text[:200]!r}", bridge_code=status)


class _Leg:
    """One WHIP or WHEP session: its PeerConnection and its resource URL."""

    def __init__(self, name: str, pc: RTCPeerConnection, now: float) -> None:
        self.name = name
        self.pc = pc
        self.resource: str | None = None
        # counters start at zero with the connection: the first stats() already has rates
        self.snapshot = StatsSnapshot(now)
        self.meters = {"audio": FrameMeter(), "video": FrameMeter()}
        self.sinks: list[asyncio.Task[None]] = []
        self.report_stamps: dict[int, object] = {}  # sender ssrc -> last receiver report
        self.report_at: float | None = None


def media_stalled(now: float, *, connected_at: float | None, last_media_at: float | None,
                  timeout: float = MEDIA_TIMEOUT_S) -> bool:
    """Pure: has a connected leg gone ``timeout`` without any sign of media?"""
    if connected_at is None:
        return False
    return now - max(connected_at, last_media_at or connected_at) > timeout


class WhipCall(Call):
    """A WHIP publication (and WHEP view) that rebuilds itself until `leave`."""

    def __init__(self, bridge: WhipBridge, options: JoinOptions, call_id: str) -> None:
        super().__init__(call_id, bridge.id)
        self.bridge = bridge
        self.options = options
        self.backoff = Backoff()
        self.video: VideoSource | None = None
        self.audio: AudioSource | None = None
        self._publish: _Leg | None = None
        self._view: _Leg | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._left = False
        self._connected_at: float | None = None
        self._lock = asyncio.Lock()
        self._relay = MediaRelay()

    # -- setup ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the sources and connect both legs; raises a MediaError if the first try fails."""
        spec = self.bridge.spec.options
        width, height, fps = self.options.video_format(
            (int(spec.get("width", 1280)), int(spec.get("height", 720)),
             float(spec.get("fps", 30))))
        self.video = await self._open(
            open_video, self.options.video_source, label=self.options.display,
            width=width, height=height, fps=fps)
        self.audio = await self._open(open_audio, self.options.audio_source)
        try:
            await self._connect()
        except BaseException:
            await self.leave()
            raise
        self._supervisor = asyncio.create_task(self._supervise(), name=f"whip-{self.id}")

    @staticmethod
    async def _open(opener: Callable[..., Any], name: str, **kwargs: Any) -> Any:
        # Devices and RTSP cameras block while opening; the pattern and the tone do not.
        if name in ("test-pattern", "tone", "silence"):
            return opener(name, **kwargs)
        return await asyncio.to_thread(opener, name, **kwargs)

    async def _connect(self) -> None:
        bridge = self.bridge
        clock = bridge.clock
        self.state = CallState.CONNECTING
        publish = _Leg("whip", peer_connection(bridge.spec.ice_servers), clock())
        self._publish = publish
        assert self.video is not None
        assert self.audio is not None
        tracks: Sequence[MediaStreamTrack] = (self.audio.track, self.video.track)
        for track in tracks:
            # aiortc stops a sender's track when its PeerConnection closes: each connection
            # gets a relay of the source, so the source outlives recoveries.
            transceiver = publish.pc.addTransceiver(
                self._relay.subscribe(track, buffered=False), direction="sendonly")
            if track.kind == "video" and self.video.status.passthrough:
                prefer_codec(transceiver, "video/H264")
        await self._offer(publish, bridge.spec.url)
        # Publish first: a WHEP view taken before our media flows can miss our own feed.
        await wait_connected(publish.pc, CONNECT_TIMEOUT_S)
        if bridge.whep_url and self.options.subscribe != "none":
            view = _Leg("whep", peer_connection(bridge.spec.ice_servers), clock())
            self._view = view

            @view.pc.on("track")
            def on_track(track: MediaStreamTrack) -> None:
                view.sinks.append(asyncio.create_task(
                    consume(track, view.meters[track.kind], clock), name=f"whep-{track.kind}"))

            if bridge.whep_mode == "server-offer":
                await self._accept_offer(view, bridge.whep_url)
            else:
                view.pc.addTransceiver("audio", direction="recvonly")
                view.pc.addTransceiver("video", direction="recvonly")
                await self._offer(view, bridge.whep_url)
            await wait_connected(view.pc, CONNECT_TIMEOUT_S)
        self._connected_at = clock()
        self.state = CallState.CONNECTED

    async def _offer(self, leg: _Leg, url: str) -> None:
        await leg.pc.setLocalDescription(await leg.pc.createOffer())
        status, headers, body = await self.bridge.request(
            "POST", url, body=leg.pc.localDescription.sdp, what=f"{leg.name} offer")
        if status != 201:
            raise _refused(status, body, f"{leg.name} offer")
        leg.resource = self.bridge.resource_url(url, headers)
        await leg.pc.setRemoteDescription(RTCSessionDescription(body, "answer"))

    async def _accept_offer(self, leg: _Leg, url: str) -> None:
        status, headers, body = await self.bridge.request("POST", url, body="",
                                                          what="whep request")
        if status != 201:
            raise _refused(status, body, "whep request")
        leg.resource = self.bridge.resource_url(url, headers)
        await leg.pc.setRemoteDescription(RTCSessionDescription(body, "offer"))
        await leg.pc.setLocalDescription(await leg.pc.createAnswer())
        status, _, body = await self.bridge.request(
            "PATCH", leg.resource, body=leg.pc.localDescription.sdp, what="whep answer")
        if status not in (200, 204):
            raise _refused(status, body, "whep answer")

    # -- recovery ------------------------------------------------------------------------

    def _last_media_at(self) -> float | None:
        """When media last showed life: a frame received, or a receiver report on our send."""
        times = []
        if self._view is not None:
            times += [m.last_frame_at for m in self._view.meters.values()
                      if m.last_frame_at is not None]
        if self._publish is not None and self._publish.report_at is not None:
            times.append(self._publish.report_at)
        return max(times) if times else None

    async def _note_reports(self) -> None:
        # aiortc keeps receiver reports as remote-inbound stats with a wall-clock timestamp;
        # a new one since the last look means the far end still hears us.
        leg = self._publish
        if leg is None:
            return
        now = self.bridge.clock()
        for transceiver in leg.pc.getTransceivers():
            sender = transceiver.sender
            report = await sender.getStats()
            stamps = [s.timestamp for s in report.values() if s.type == "remote-inbound-rtp"]
            if stamps and stamps[-1] != leg.report_stamps.get(sender._ssrc):
                leg.report_stamps[sender._ssrc] = stamps[-1]
                leg.report_at = now

    def _broken(self) -> str | None:
        for leg in (self._publish, self._view):
            if leg is not None and leg.pc.connectionState in ("failed", "closed"):
                return f"{leg.name} connection {leg.pc.connectionState}"
        if media_stalled(self.bridge.clock(), connected_at=self._connected_at,
                         last_media_at=self._last_media_at()):
            return "no media"
        return None

    async def _supervise(self) -> None:
        clock = self.bridge.clock
        while not self._left:
            await asyncio.sleep(1.0)
            await self._note_reports()
            reason = self._broken()
            if reason is None:
                continue
            _log.warning("call %s on %s lost media (%s); recovering", self.id, self.bridge_id,
                         reason)
            self.state = CallState.RECOVERING
            self.publish("dropped", clock(), reason=reason)
            while not self._left:
                due = self.backoff.failed(clock())
                self.publish("recovery_step", clock(), attempt=self.backoff.attempts,
                             retry_at=due)
                await self._teardown()
                await asyncio.sleep(max(0.0, due - clock()))
                try:
                    async with self._lock:
                        if self._left:
                            return
                        await self._connect()
                except MediaError as exc:
                    _log.info("call %s: rejoin failed: %s", self.id, exc.message)
                    continue
                outage = self.backoff.succeeded(clock())
                _log.warning("call %s on %s recovered after %.1f s", self.id, self.bridge_id,
                             outage or 0.0)
                self.publish("recovered", clock(), outage_s=outage)
                break

    # -- hang-up and stats ---------------------------------------------------------------

    async def _teardown(self) -> None:
        legs = [leg for leg in (self._view, self._publish) if leg is not None]
        self._publish = self._view = None
        self._connected_at = None
        for leg in legs:
            if leg.resource is not None:
                with contextlib.suppress(MediaError):
                    await self.bridge.request("DELETE", leg.resource, what=f"{leg.name} hangup")
            await close_quietly(leg.pc)
            for sink in leg.sinks:
                await cancel_quietly(sink)

    async def leave(self) -> None:
        """DELETE the resources, close the connections and the sources; safe to call twice."""
        if self._left:
            return
        self._left = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None and supervisor is not asyncio.current_task():
            await cancel_quietly(supervisor)
        async with self._lock:
            await self._teardown()
        for source in (self.video, self.audio):
            if source is not None:
                source.close()
        self.state = CallState.ENDED
        self.bridge.forget(self)
        self.publish("ended", self.bridge.clock())

    async def stats(self) -> Sequence[LinkSample]:
        """Send samples from the WHIP leg and receive samples from the WHEP leg."""
        now = self.bridge.clock()
        samples: list[LinkSample] = []
        for leg in (self._publish, self._view):
            if leg is None:
                continue
            got, leg.snapshot = await collect_samples(leg.pc, self.id, self.bridge_id,
                                                      leg.snapshot, now, meters=leg.meters)
            samples += got
        return samples

    def describe(self) -> dict[str, Any]:
        """JSON-able state, with what the sources really send."""
        info = super().describe()
        info["sources"] = [s.status.describe() for s in (self.video, self.audio)
                           if s is not None]
        info["receiving"] = self._view is not None
        return info


class WhipBridge(Bridge):
    """A WHIP endpoint to publish to, and optionally a WHEP endpoint to watch."""

    kind = "whip"

    def __init__(self, spec: BridgeSpec, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(spec)
        self.clock = clock
        self.whep_url: str | None = spec.options.get("whep_url")
        self.whep_mode: str = spec.options.get("whep_mode", "client-offer")
        if self.whep_mode not in ("client-offer", "server-offer"):
            raise MediaError(f"whep_mode must be client-offer or server-offer, "
                             f"not {self.whep_mode!r}")
        self._http: aiohttp.ClientSession | None = None
        self._calls: set[WhipCall] = set()

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S))
        return self._http

    def resource_url(self, endpoint: str, headers: Any) -> str:
        """The session resource from a 201's Location (relative to the endpoint)."""
        location = headers.get("Location")
        if not location:
            raise BridgeRefusedError("201 without a Location header")
        return urljoin(endpoint, str(location))

    async def request(self, method: str, url: str, *, body: str | None = None,
                      what: str) -> tuple[int, Any, str]:
        """One HTTP exchange with the bridge, its failures as our errors."""
        headers = {}
        token = self.spec.secrets.get("token")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            headers["Content-Type"] = SDP
        try:
            async with self._session().request(method, url, data=body,
                                               headers=headers) as resp:
                text = await resp.text()
                return resp.status, resp.headers, text
        except TimeoutError as exc:
            raise MediaTimeoutError(f"{what}: no answer from {url}") from exc
        except aiohttp.ClientError as exc:
            raise BridgeUnreachableError(f"{what}: {url}: {exc}") from exc

    async def join(self, options: JoinOptions) -> WhipCall:
        """Publish to the WHIP endpoint (and watch the WHEP one); recovers until left."""
        if options.secret and any(
                urlsplit(u).scheme != "https" and urlsplit(u).hostname not in _LOOPBACK
                for u in (self.spec.url, self.whep_url) if u):
            # the SDP carries the DTLS fingerprints: over plain HTTP media could be hijacked
            raise InsecureMediaError("a secret session needs WHIP/WHEP over HTTPS")
        call = WhipCall(self, options, f"{self.id}-{next(_call_ids)}")
        self._calls.add(call)
        try:
            await call.start()
        except BaseException:
            self._calls.discard(call)
            raise
        call.publish("connected", self.clock())
        return call

    def forget(self, call: WhipCall) -> None:
        """Drop a call that has ended."""
        self._calls.discard(call)

    async def probe(self) -> None:
        """OPTIONS on the WHIP endpoint (RFC 9725 §4.1); any non-5xx answer is alive."""
        status, _, text = await self.request("OPTIONS", self.spec.url, what="probe")
        if status >= 500:
            raise _refused(status, text, "probe")

    async def close(self) -> None:
        """Leave every call and close the HTTP client."""
        for call in list(self._calls):
            await call.leave()
        if self._http is not None:
            await self._http.close()
            self._http = None


def bridge_from_spec(spec: BridgeSpec) -> Bridge:
    """The registry's factory for ``kind = "whip"``."""
    return WhipBridge(spec)
