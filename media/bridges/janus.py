"""Janus VideoRoom bridge: publish from aiortc, subscribe to the room's feeds, recover alone.

One Janus session per call: a publisher handle (room events, our feed, a data channel)
and one subscriber handle and PeerConnection per remote feed. Recovery is full: hang up,
then a new session and new PeerConnections (aiortc has no ICE restart), paced by
`media.janus.recovery.Recovery`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack

from media.bridges.base import (
    Bridge,
    BridgeSpec,
    BridgeUnreachableError,
    Call,
    CallEvent,
    CallState,
    InsecureMediaError,
    JoinOptions,
    MediaError,
    MediaNegotiationError,
)
from media.janus.client import JanusHandle, JanusMessage, JanusSession
from media.janus.recovery import BackoffPolicy, Recovery, RecoveryNotice
from media.stats import LinkSample, estimate_mos
from media.webrtc import close_quietly

_log = logging.getLogger(__name__)

PLUGIN = "janus.plugin.videoroom"
CLOCK_RATES = {"audio": 48000, "video": 90000}
DATA_LABEL = "diemcau"


@dataclass
class OpenedTracks:
    """The tracks a call publishes and how to release their devices."""

    audio: MediaStreamTrack
    video: MediaStreamTrack
    close: Callable[[], None] = lambda: None


def open_tracks(options: JoinOptions, video: tuple[int, int, float]) -> OpenedTracks:
    """Tracks to publish from `media.sources` when present, else aiortc's test tracks."""
    try:
        sources: Any = importlib.import_module("media.sources")
    except ImportError:
        _log.debug("media.sources unavailable; using aiortc test tracks")
        return OpenedTracks(AudioStreamTrack(), VideoStreamTrack())
    width, height, fps = video
    audio_source = sources.open_audio(options.audio_source)
    video_source = sources.open_video(options.video_source, label=options.display,
                                      width=width, height=height, fps=fps)

    def close() -> None:
        audio_source.close()
        video_source.close()

    return OpenedTracks(audio_source.track, video_source.track, close)


def require_encrypted(sdp: str) -> None:
    """Refuse an SDP whose media is not DTLS-SRTP (secret sessions)."""
    sections = sdp.split("\nm=")[1:]
    if not sections:
        raise InsecureMediaError("no media in the description")
    session_fp = "a=fingerprint:" in sdp.split("\nm=")[0]
    for section in sections:
        proto = section.split("\n", 1)[0].split()
        encrypted = len(proto) > 2 and ("TLS/" in proto[2] or "DTLS/" in proto[2])
        if not encrypted or not (session_fp or "a=fingerprint:" in section):
            raise InsecureMediaError(f"unencrypted media offered: m={section.split(chr(10))[0]}")


def _passive(description: RTCSessionDescription) -> RTCSessionDescription:
    # ARCHITECTURE: answering Janus with setup:passive avoids a 1 s DTLS retransmit.
    return RTCSessionDescription(sdp=description.sdp.replace("a=setup:active", "a=setup:passive"),
                                 type=description.type)


@dataclass(frozen=True)
class JanusSettings:
    """Tunables from the bridge spec's options."""

    keepalive_interval: float = 25.0
    request_timeout: float = 10.0
    media_timeout: float = 6.0
    video: tuple[int, int, float] = (1280, 720, 30.0)
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> JanusSettings:
        """Read ``keepalive``, ``request_timeout``, ``media_timeout``, ``recovery_*``."""
        return cls(
            keepalive_interval=float(options.get("keepalive", 25.0)),
            request_timeout=float(options.get("request_timeout", 10.0)),
            media_timeout=float(options.get("media_timeout", 6.0)),
            video=(int(options.get("video_width", 1280)), int(options.get("video_height", 720)),
                   float(options.get("video_fps", 30.0))),
            backoff=BackoffPolicy(base=float(options.get("recovery_base", 0.5)),
                                  cap=float(options.get("recovery_cap", 30.0)),
                                  jitter=float(options.get("recovery_jitter", 0.2))))


class _Counted:
    """Frame counter and latest frame of one track, kept by its consumer task."""

    def __init__(self) -> None:
        self.frames = 0
        self.last_at: float | None = None
        self.latest: Any = None
        self.changed = asyncio.Event()

    def add(self, frame: Any, now: float) -> None:
        self.frames += 1
        self.last_at = now
        self.latest = frame
        self.changed.set()


class _CountingTrack(MediaStreamTrack):
    """Passes a source track through, counting frames sent."""

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source
        self.frames = 0

    async def recv(self) -> Any:
        frame = await self.source.recv()
        self.frames += 1
        return frame

    def stop(self) -> None:
        super().stop()
        self.source.stop()


@dataclass
class _Subscription:
    feed: int
    display: str
    handle: JanusHandle
    pc: RTCPeerConnection
    started_at: float
    counters: dict[str, _Counted] = field(default_factory=dict)
    tracks: dict[str, MediaStreamTrack] = field(default_factory=dict)  # received, by kind
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    channels: list[RTCDataChannel] = field(default_factory=list)

    def last_media_at(self) -> float | None:
        times = [c.last_at for c in self.counters.values() if c.last_at is not None]
        return max(times) if times else None


class JanusCall(Call):
    """A site's presence in one VideoRoom; rebuilds itself after failures until `leave`."""

    def __init__(self, bridge: JanusVideoRoomBridge, options: JoinOptions, call_id: str,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(call_id, bridge.id)
        self.bridge = bridge
        self.options = options
        self.clock = clock
        self.settings = bridge.settings
        self.recovery = Recovery(self.settings.backoff)
        self.feed_id: int | None = None
        self.private_id: int | None = None
        self.published_mids: dict[str, str] = {}
        self.session: JanusSession | None = None
        self.publisher: JanusHandle | None = None
        self.pc: RTCPeerConnection | None = None
        self.channel: RTCDataChannel | None = None
        self.subscriptions: dict[int, _Subscription] = {}
        self.room_publishers: dict[int, JanusMessage] = {}  # everyone publishing in the room
        # Received tracks are read through this relay: the counters and any playout each
        # get every frame (two readers of one track would split its frames between them).
        self._relay = MediaRelay()
        self._sent: dict[str, _CountingTrack] = {}
        self._close_sources: Callable[[], None] = _nothing
        self._wake = asyncio.Event()
        self._faults: list[str] = []
        self._supervisor: asyncio.Task[None] | None = None
        self._sub_tasks: set[asyncio.Task[None]] = set()
        self._last_stats: dict[tuple[str, str], tuple[float, float, int, int, int]] = {}
        self._left = False

    # -- public API -----------------------------------------------------------------------

    async def start(self) -> None:
        """First join (raises if it fails), then supervise."""
        try:
            await self._connect()
        except BaseException:
            await self._teardown()
            raise
        self._notify(self.recovery.connected(self.clock()))
        self._supervisor = asyncio.create_task(self._supervise(), name=f"janus-call-{self.id}")

    async def leave(self) -> None:
        """Leave the room, detach, destroy the session; safe to call twice."""
        if self._left:
            return
        self._left = True
        self.recovery.ended()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        await self._teardown()
        self.state = CallState.ENDED
        self.publish("ended", self.clock())

    def send_data(self, text: str) -> None:
        """Send a text message on our data channel (relayed to our subscribers)."""
        if self.channel is None or self.channel.readyState != "open":
            raise MediaError("data channel is not open")
        self.channel.send(text)

    def remote_feeds(self) -> dict[int, str]:
        """Feeds we receive: id → display name."""
        return {feed: sub.display for feed, sub in self.subscriptions.items()}

    def remote_tracks(self) -> Sequence[MediaStreamTrack]:
        """New relays of the received tracks, feed by feed in subscription order."""
        return [self._relay.subscribe(track, buffered=False)
                for sub in list(self.subscriptions.values()) for track in sub.tracks.values()
                if track.readyState == "live"]

    def frames_received(self, kind: str = "video") -> int:
        """Frames decoded from every subscribed feed since the current (re)join."""
        return sum(c.frames for s in self.subscriptions.values()
                   for k, c in s.counters.items() if k == kind)

    async def wait_remote_frame(self, kind: str = "video", within: float = 10.0,
                                after: int = 0) -> Any:
        """The latest decoded remote frame once more than ``after`` frames arrived."""
        async with asyncio.timeout(within):
            while True:
                for sub in list(self.subscriptions.values()):
                    counter = sub.counters.get(kind)
                    if (counter is not None and counter.latest is not None
                            and self.frames_received(kind) > after):
                        return counter.latest
                await asyncio.sleep(0.02)

    def describe(self) -> dict[str, Any]:
        """JSON-able state for the API."""
        return {**super().describe(), "room": self.bridge.spec.room, "feed": self.feed_id,
                "remote_feeds": {str(k): v for k, v in self.remote_feeds().items()}}

    async def stats(self) -> Sequence[LinkSample]:
        """One sample per direction and kind, summed over subscriptions for ``recv``."""
        now = self.clock()
        samples: list[LinkSample] = []
        if self.pc is not None:
            samples += await self._samples(self.pc, "send", now)
        recv: dict[str, list[LinkSample]] = {}
        for sub in list(self.subscriptions.values()):
            for sample in await self._samples(sub.pc, "recv", now, sub):
                recv.setdefault(sample.kind, []).append(sample)
        for group in recv.values():
            samples.append(group[0] if len(group) == 1 else _worst(group))
        return samples

    # -- connection -----------------------------------------------------------------------

    async def _connect(self) -> None:
        spec = self.bridge.spec
        self.session = JanusSession(
            self.bridge.http(), spec.url, on_lost=lambda r: self._fault("session_lost: " + r),
            keepalive_interval=self.settings.keepalive_interval,
            token=spec.secrets.get("api_token"), api_secret=spec.secrets.get("api_secret"))
        await self.session.create()
        self.publisher = await self.session.attach(PLUGIN)
        self.publisher.listener = self._on_publisher_event
        data, _ = await self.publisher.message(
            {"request": "join", "ptype": "publisher", **self._room_auth(),
             "display": self.options.display}, within=self.settings.request_timeout)
        self.feed_id = int(data["id"])
        self.private_id = data.get("private_id")
        await self._publish()
        self.room_publishers = {}
        for publisher in data.get("publishers", []):
            self._remember(publisher)
            self._maybe_subscribe(publisher)

    def _room_auth(self) -> dict[str, Any]:
        auth: dict[str, Any] = {"room": self.bridge.spec.room}
        for key in ("pin", "token"):
            if self.bridge.spec.secrets.get(key):
                auth[key] = self.bridge.spec.secrets[key]
        return auth

    def _new_pc(self) -> RTCPeerConnection:
        servers = [RTCIceServer(**dict(s)) for s in self.bridge.spec.ice_servers]
        pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))

        @pc.on("connectionstatechange")
        def _state() -> None:
            if pc.connectionState == "failed":
                self._fault("ice_dtls_failed")

        return pc

    async def _publish(self) -> None:
        assert self.publisher is not None
        self.pc = pc = self._new_pc()
        # Opening a device can block for seconds (sources.open_video says so).
        opened = await asyncio.to_thread(open_tracks, self.options,
                                         self.options.video_format(self.settings.video))
        self._close_sources = opened.close
        self._sent = {"audio": _CountingTrack(opened.audio),
                      "video": _CountingTrack(opened.video)}
        pc.addTrack(self._sent["audio"])
        pc.addTrack(self._sent["video"])
        self.channel = pc.createDataChannel(DATA_LABEL)
        await pc.setLocalDescription(await pc.createOffer())
        offer = pc.localDescription
        _, jsep = await self.publisher.message(
            {"request": "publish", "audio": True, "video": True, "data": True,
             "display": self.options.display},
            {"type": offer.type, "sdp": offer.sdp, "trickle": False},
            within=self.settings.request_timeout)
        if jsep is None:
            raise MediaNegotiationError("janus sent no answer to our offer")
        if self.options.secret:
            require_encrypted(jsep["sdp"])
        await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type=jsep["type"]))
        self.published_mids = {t.kind: str(t.mid) for t in pc.getTransceivers()
                               if t.mid is not None}

    def _maybe_subscribe(self, publisher: JanusMessage) -> None:
        feed = int(publisher.get("id", 0))
        wanted = self.options.subscribe
        if (feed == self.feed_id or feed in self.subscriptions or wanted == "none"
                or (wanted != "all" and wanted not in (str(feed), publisher.get("display")))):
            return
        # ARCHITECTURE: never subscribe to a feed that has published nothing.
        if not publisher.get("streams") and not publisher.get("audio_codec"):
            return
        task = asyncio.create_task(self._subscribe(feed, str(publisher.get("display", ""))),
                                   name=f"janus-subscribe-{feed}")
        self._sub_tasks.add(task)
        task.add_done_callback(self._sub_tasks.discard)

    async def _subscribe(self, feed: int, display: str) -> None:
        session = self.session
        if session is None or feed in self.subscriptions:
            return
        pc = self._new_pc()
        handle: JanusHandle | None = None
        try:
            handle = await session.attach(PLUGIN)
            sub = _Subscription(feed, display, handle, pc, asyncio.get_running_loop().time())
            self.subscriptions[feed] = sub
            handle.listener = lambda event: self._on_subscriber_event(sub, event)
            pc.on("track", lambda track: self._consume(sub, track))
            pc.on("datachannel", lambda channel: self._on_channel(sub, channel))
            body: dict[str, Any] = {"request": "join", "ptype": "subscriber",
                                    **self._room_auth(), "streams": [{"feed": feed}]}
            if self.private_id is not None:
                body["private_id"] = self.private_id
            _, jsep = await handle.message(body, within=self.settings.request_timeout)
            if jsep is None:
                raise MediaNegotiationError("janus sent no offer for the subscription")
            if self.options.secret:
                require_encrypted(jsep["sdp"])
            await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type="offer"))
            if any(line.startswith("m=application") for line in jsep["sdp"].splitlines()):
                # Janus relays a publisher's data to a subscriber only once a channel has
                # opened on the subscriber's PeerConnection (VideoRoom's data_ready, logged
                # "Data channel available"); it never opens the first one itself, so without
                # this channel it drops everything (janus.js opens one for the same reason).
                # Janus 1.x then opens its own channel labelled with the publisher's feed id
                # and relays on it ("datachannel" event); we also listen on ours.
                self._on_channel(sub, pc.createDataChannel(DATA_LABEL))
            await pc.setLocalDescription(_passive(await pc.createAnswer()))
            answer = pc.localDescription
            await handle.message({"request": "start", "room": self.bridge.spec.room},
                                 {"type": "answer", "sdp": answer.sdp, "trickle": False},
                                 within=self.settings.request_timeout)
            self.publish("room", self.clock(), event="subscribed", feed=feed, display=display)
        except MediaError as exc:
            _log.warning("subscription to feed %s failed: %s", feed, exc)
            await self._drop_subscription(feed)
            if isinstance(exc, InsecureMediaError):
                self._fault("insecure_media")

    def _consume(self, sub: _Subscription, track: MediaStreamTrack) -> None:
        counter = sub.counters.setdefault(track.kind, _Counted())
        sub.tracks[track.kind] = track
        loop = asyncio.get_running_loop()
        relayed = self._relay.subscribe(track, buffered=False)

        async def pump() -> None:
            while True:
                try:
                    frame = await relayed.recv()
                except MediaStreamError:
                    return
                counter.add(frame, loop.time())

        sub.tasks.append(asyncio.create_task(pump(), name=f"janus-recv-{sub.feed}-{track.kind}"))

    def _on_channel(self, sub: _Subscription, channel: RTCDataChannel) -> None:
        sub.channels.append(channel)
        channel.on("message", lambda message: self.publish(
            "data", self.clock(), feed=sub.feed, display=sub.display, label=channel.label,
            message=message if isinstance(message, str) else message.hex()))

    async def _drop_subscription(self, feed: int) -> None:
        sub = self.subscriptions.pop(feed, None)
        if sub is None:
            return
        for task in sub.tasks:
            task.cancel()
        for task in sub.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(MediaError):
            await asyncio.wait_for(sub.handle.message({"request": "leave"}, within=2), 3)
        await sub.handle.detach()
        await close_quietly(sub.pc)

    async def _teardown(self) -> None:
        for task in list(self._sub_tasks):
            task.cancel()
        for task in list(self._sub_tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        session = self.session
        alive = session is not None and not session.lost
        for feed in list(self.subscriptions):
            if alive:
                await self._drop_subscription(feed)
            else:
                await self._close_subscription_locally(feed)
        if self.publisher is not None and alive:
            with contextlib.suppress(MediaError):
                await self.publisher.message({"request": "leave"}, within=2)
            await self.publisher.detach()
        if self.pc is not None:
            await close_quietly(self.pc)
        for track in self._sent.values():
            track.stop()
        self._close_sources()
        self._close_sources = _nothing
        if session is not None:
            await session.destroy()
        self.session = self.publisher = self.pc = self.channel = None
        self._sent = {}
        self.feed_id = self.private_id = None

    async def _close_subscription_locally(self, feed: int) -> None:
        sub = self.subscriptions.pop(feed)
        for task in sub.tasks:
            task.cancel()
        for task in sub.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await close_quietly(sub.pc)

    # -- events ---------------------------------------------------------------------------

    def _on_publisher_event(self, event: JanusMessage) -> None:
        kind = event.get("janus")
        if kind in ("hangup", "detached"):
            self._fault(f"janus {kind}: {event.get('reason', '')}".strip())
            return
        data: JanusMessage = event.get("plugindata", {}).get("data", {})
        now = self.clock()
        room_event = data.get("videoroom")
        if room_event in ("talking", "stopped-talking"):
            self.publish("room", now, event=room_event.replace("-", "_"), feed=data.get("id"),
                         level=data.get("audio-level-dBov-avg"))
            return
        if "joining" in data:
            joining = data["joining"]
            self.publish("room", now, event="joined", feed=joining.get("id"),
                         display=joining.get("display"))
        for publisher in data.get("publishers", []):
            self.publish("room", now, event="published", feed=publisher.get("id"),
                         display=publisher.get("display"))
            self._remember(publisher)
            self._maybe_subscribe(publisher)
        for key, name in (("leaving", "left"), ("unpublished", "unpublished")):
            if key in data and data[key] != "ok":
                feed = data[key]
                self.publish("room", now, event=name, feed=feed)
                self.room_publishers.pop(feed, None)
                if isinstance(feed, int) and feed in self.subscriptions:
                    task = asyncio.create_task(self._drop_subscription(feed))
                    self._sub_tasks.add(task)
                    task.add_done_callback(self._sub_tasks.discard)
        if "moderation" in data:
            feed = data.get("id", self.feed_id)
            self.publish("room", now, event=str(data["moderation"]), feed=feed,
                         mid=data.get("mid"), ours=feed == self.feed_id)

    def _remember(self, publisher: JanusMessage) -> None:
        feed = publisher.get("id")
        if isinstance(feed, int) and feed != self.feed_id:
            self.room_publishers[feed] = publisher

    async def moderate(self, display: str, *, mute: bool) -> int:
        """Mute or unmute the audio of the room's publishers shown as ``display`` through the
        VideoRoom ``moderate`` request (with the room's ``room_secret`` when it has one)."""
        if self.publisher is None:
            return 0
        targets: list[tuple[int, str]] = []
        for feed, publisher in self.room_publishers.items():
            if publisher.get("display") != display:
                continue
            for stream in publisher.get("streams", []):
                if stream.get("type") == "audio" and stream.get("mid") is not None:
                    targets.append((feed, str(stream["mid"])))
        if display == self.options.display and self.feed_id and "audio" in self.published_mids:
            targets.append((self.feed_id, self.published_mids["audio"]))
        secret = self.bridge.spec.secrets.get("room_secret")
        for feed, mid in targets:
            body: dict[str, Any] = {"request": "moderate", "room": self.bridge.spec.room,
                                    "id": feed, "mid": mid, "mute": mute}
            if secret:
                body["secret"] = secret
            await self.publisher.message(body, within=self.settings.request_timeout)
        return len(targets)

    def _on_subscriber_event(self, sub: _Subscription, event: JanusMessage) -> None:
        if event.get("janus") == "hangup":
            _log.info("janus hung up the subscription to feed %s", sub.feed)

    # -- recovery -------------------------------------------------------------------------

    def _fault(self, reason: str) -> None:
        if self._left:
            return
        self._faults.append(reason)
        self._wake.set()

    def _notify(self, notices: list[RecoveryNotice]) -> None:
        for notice in notices:
            self.state = self.recovery.state
            _log.info("call %s: %s %s", self.id, notice.name, notice.data)
            self.publish(notice.name, notice.at, **notice.data)
        self.state = self.recovery.state

    def _check_media(self, now: float) -> None:
        """Silent subscriptions: degrade at half the timeout, drop at the timeout."""
        limit = self.settings.media_timeout
        silent_for = 0.0
        for sub in list(self.subscriptions.values()):
            last = sub.last_media_at()
            if last is None:
                if now - sub.started_at > limit:
                    # A feed that never sent anything is a ghost, not our failure.
                    _log.info("feed %s sent nothing; unsubscribing", sub.feed)
                    task = asyncio.create_task(self._drop_subscription(sub.feed))
                    self._sub_tasks.add(task)
                    task.add_done_callback(self._sub_tasks.discard)
                continue
            silent_for = max(silent_for, now - last)
        wall = self.clock()
        if silent_for >= limit:
            self._fault("media_timeout")
        elif silent_for >= limit / 2:
            self._notify(self.recovery.degraded(wall, "no inbound media"))
        else:
            self._notify(self.recovery.healthy(wall))

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            deadline = self.recovery.next_deadline()
            wait = 1.0 if deadline is None else max(0.0, min(1.0, deadline - self.clock()))
            # asyncio.timeout: 3.11's wait_for can swallow our own cancellation here.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            self._wake.clear()
            if self._faults and self.recovery.state in (CallState.CONNECTED, CallState.DEGRADED):
                reason = self._faults[0]
                self._faults.clear()
                self._notify(self.recovery.dropped(self.clock(), reason))
                await self._teardown()
            self._faults.clear()
            now = self.clock()
            if self.recovery.due(now):
                self.recovery.attempt_started(now)
                self._notify([])
                try:
                    await self._connect()
                except (MediaError, OSError) as exc:
                    await self._teardown()
                    self._faults.clear()
                    self._notify(self.recovery.attempt_failed(self.clock(), str(exc)))
                else:
                    self._faults.clear()
                    self._notify(self.recovery.attempt_succeeded(self.clock()))
            elif self.recovery.state in (CallState.CONNECTED, CallState.DEGRADED):
                self._check_media(loop.time())

    # -- stats ----------------------------------------------------------------------------

    async def _samples(self, pc: RTCPeerConnection, direction: str, now: float,
                       sub: _Subscription | None = None) -> list[LinkSample]:
        report = await pc.getStats()
        by_kind: dict[str, dict[str, Any]] = {}
        for stat in report.values():
            entry = by_kind.setdefault(getattr(stat, "kind", ""), {})
            entry[stat.type] = stat
        samples = []
        for kind, entry in by_kind.items():
            if kind not in CLOCK_RATES:
                continue
            if direction == "send":
                rtp, remote = entry.get("outbound-rtp"), entry.get("remote-inbound-rtp")
                if rtp is None:
                    continue
                octets, packets = rtp.bytesSent, rtp.packetsSent
                lost = remote.packetsLost if remote is not None else 0
                jitter = remote.jitter if remote is not None else None
                rtt = (remote.roundTripTime * 1000 if remote is not None
                       and remote.roundTripTime is not None else None)
                frames = self._sent[kind].frames if kind in self._sent else None
            else:
                rtp = entry.get("inbound-rtp")
                if rtp is None:
                    continue
                octets = getattr(rtp, "bytesReceived", None)
                if octets is None:  # aiortc's inbound stats lack it: the sender's mean size
                    sender = entry.get("remote-outbound-rtp")
                    sent = getattr(sender, "packetsSent", 0) if sender is not None else 0
                    mean = sender.bytesSent / sent if sender is not None and sent else 0.0
                    octets = rtp.packetsReceived * mean
                packets, lost, jitter, rtt = rtp.packetsReceived, rtp.packetsLost, rtp.jitter, None
                counter = sub.counters.get(kind) if sub is not None else None
                frames = counter.frames if counter is not None else None
            key = (f"{direction}:{id(pc)}", kind)
            previous = self._last_stats.get(key)
            self._last_stats[key] = (now, float(octets), frames or 0, packets, max(0, lost))
            bitrate = fps = None
            d_packets, d_lost = packets, max(0, lost)
            if previous is not None and now > previous[0]:
                bitrate = (octets - previous[1]) * 8 / 1000 / (now - previous[0])
                if frames is not None:
                    fps = (frames - previous[2]) / (now - previous[0])
                # Loss over this interval, not since the call began: a link that was bad an
                # hour ago and is clean now reads clean.
                d_packets = max(0, packets - previous[3])
                d_lost = max(0, max(0, lost) - previous[4])
            expected = d_packets + d_lost if direction == "recv" else d_packets
            loss = 100.0 * d_lost / expected if expected > 0 else 0.0
            jitter_ms = jitter * 1000 / CLOCK_RATES[kind] if jitter is not None else None
            mos = estimate_mos(loss, jitter_ms or 0.0, rtt or 0.0)
            samples.append(LinkSample(
                call_id=self.id, bridge_id=self.bridge_id, direction=direction, kind=kind,
                at=now, loss_percent=round(loss, 2),
                jitter_ms=round(jitter_ms, 2) if jitter_ms is not None else None,
                rtt_ms=round(rtt, 1) if rtt is not None else None,
                bitrate_kbps=round(bitrate, 1) if bitrate is not None else None,
                fps=round(fps, 1) if fps is not None else None, mos=mos))
        return samples


def _nothing() -> None:
    return None


def _worst(group: list[LinkSample]) -> LinkSample:
    """The sample with the lowest MOS stands for several subscriptions of one kind."""
    return min(group, key=lambda s: s.mos if s.mos is not None else 5.0)


class JanusVideoRoomBridge(Bridge):
    """A Janus VideoRoom reached over the Janus HTTP API."""

    kind = "janus-videoroom"

    def __init__(self, spec: BridgeSpec, clock: Callable[[], float] = time.time) -> None:
        super().__init__(spec)
        if spec.room is None:
            raise MediaError(f"bridge {spec.id}: a janus-videoroom bridge needs a room")
        self.settings = JanusSettings.from_options(dict(spec.options))
        self.clock = clock
        self._http: aiohttp.ClientSession | None = None
        self.calls: dict[str, JanusCall] = {}

    def http(self) -> aiohttp.ClientSession:
        """The bridge's HTTP client (created on first use, inside the running loop)."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    async def join(self, options: JoinOptions) -> JanusCall:
        """Join the room; the call recovers by itself until `JanusCall.leave`."""
        call = JanusCall(self, options, uuid.uuid4().hex, self.clock)
        await call.start()
        self.calls[call.id] = call
        call.subscribe(self._forget_ended)
        return call

    def _forget_ended(self, event: CallEvent) -> None:
        if event.name == "ended":
            self.calls.pop(event.call_id, None)

    async def probe(self) -> None:
        """Ask Janus for its info (raises BridgeUnreachableError if it does not answer)."""
        session = JanusSession(self.http(), self.spec.url)
        try:
            async with self.http().get(f"{session.url}/info",
                                       timeout=aiohttp.ClientTimeout(total=5)) as resp:
                info = await resp.json(content_type=None)
        except (aiohttp.ClientError, ValueError, TimeoutError) as exc:
            raise _unreachable(exc) from exc
        if PLUGIN not in info.get("plugins", {}):
            raise MediaError(f"bridge {self.spec.id} has no VideoRoom plugin")

    async def close(self) -> None:
        """Leave every call, then close the HTTP client."""
        for call in list(self.calls.values()):
            await call.leave()
        if self._http is not None:
            await self._http.close()
            self._http = None


def _unreachable(exc: BaseException) -> MediaError:
    return BridgeUnreachableError(f"janus did not answer: {exc}")


def bridge_from_spec(spec: BridgeSpec) -> Bridge:
    """The registry's factory for ``kind = "janus-videoroom"``."""
    return JanusVideoRoomBridge(spec)
