"""aiortc helpers every WebRTC adapter (Janus, WHIP/WHEP, SIP over WebRTC) shares.

- `peer_connection(ice_servers=())` — an `RTCPeerConnection` that contacts no STUN/TURN
  server unless told to (aiortc's default is a public STUN server; our networks are closed).
- `prefer_codec(transceiver, "video/H264")` — put one codec first (needed for H.264
  passthrough sources, which hand aiortc pre-encoded packets).
- `wait_connected(pc, seconds)` / `close_quietly(pc)` — connection state with our errors.
- `FrameMeter` + `consume(track, meter)` — drain a remote track (aiortc queues unread frames
  without bound) while counting frames for fps and freezes.
- `collect_samples(pc, call_id, bridge_id, previous, now, meters=...)` — turn
  ``await pc.getStats()`` into one `LinkSample` per direction and kind; pass back the
  returned `StatsSnapshot` as ``previous`` next time. The arithmetic lives in the pure
  `samples_from_stats`, testable with hand-made stats.
- `Backoff` — the pure recovery schedule (time is an argument): after a failure, when to
  rebuild the PeerConnection and signal again.

aiortc stops a sender's track when its PeerConnection closes, so an adapter that rebuilds
connections sends ``MediaRelay().subscribe(source.track, buffered=False)`` (aiortc.contrib.media)
on each one and keeps the source itself open until the call ends.

What aiortc 1.16 reports, and so what the samples hold:

- recv: ``inbound-rtp`` has packetsReceived, packetsLost and jitter in RTP clock ticks
  (converted to ms with the negotiated clock rate: 48 kHz Opus, 8 kHz G.711, 90 kHz video).
  It has no byte counter, so the bitrate is Δpackets × the sender's mean payload size from
  its last RTCP sender report (``remote-outbound-rtp``). RTT comes from this connection's
  own sender reports when it sends too, else it is unknown (None; MOS then counts it as 0).
- send: ``outbound-rtp`` bytes and packets; loss, jitter and RTT from the peer's receiver
  reports (``remote-inbound-rtp``), which arrive every 0.5–1.5 s and so lag by that much.
- fps and freeze only for received video, from a `FrameMeter` (aiortc has no frame counters).
  Freeze follows the W3C definition: an inter-frame gap over max(3 × mean gap, mean + 150 ms).
- Several streams of one kind and direction (e.g. several Janus feeds) are summed; jitter
  and RTT take the worst.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.bridges.base import MediaNegotiationError, MediaTimeoutError
from media.stats import LinkSample, estimate_mos

_log = logging.getLogger(__name__)

DEFAULT_CLOCK_RATES: Final = {"audio": 48_000, "video": 90_000}

IceServer = Mapping[str, Any] | RTCIceServer


def peer_connection(ice_servers: Sequence[IceServer] = ()) -> RTCPeerConnection:
    """A PeerConnection using only the given ICE servers (none by default: no STUN)."""
    servers = [s if isinstance(s, RTCIceServer) else RTCIceServer(
        urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
        for s in ice_servers]
    return RTCPeerConnection(RTCConfiguration(iceServers=servers))


def prefer_codec(transceiver: RTCRtpTransceiver, mime_type: str) -> None:
    """Offer ``mime_type`` (e.g. "video/H264") first, keeping the others and RTX after it."""
    kind = mime_type.split("/")[0]
    codecs = RTCRtpSender.getCapabilities(kind).codecs
    first = [c for c in codecs if c.mimeType.lower() == mime_type.lower()]
    if not first:
        raise MediaNegotiationError(f"aiortc cannot send {mime_type}")
    transceiver.setCodecPreferences(first + [c for c in codecs if c not in first])


async def wait_connected(pc: RTCPeerConnection, seconds: float) -> None:
    """Wait until ICE and DTLS are up; raise MediaTimeoutError / MediaNegotiationError."""
    done = asyncio.Event()

    def check() -> None:
        if pc.connectionState in ("connected", "failed", "closed"):
            done.set()

    pc.add_listener("connectionstatechange", check)
    try:
        check()
        async with asyncio.timeout(seconds):
            await done.wait()
    except TimeoutError as exc:
        raise MediaTimeoutError(f"media not connected after {seconds:g} s "
                                f"(state {pc.connectionState})") from exc
    finally:
        pc.remove_listener("connectionstatechange", check)
    if pc.connectionState != "connected":
        raise MediaNegotiationError(f"ICE/DTLS failed (state {pc.connectionState})")


async def close_quietly(pc: RTCPeerConnection | None) -> None:
    """Close a PeerConnection, logging instead of raising (hang-up paths must not fail)."""
    if pc is None:
        return
    connections = _ice_connections(pc)
    try:
        await pc.close()
    except Exception:
        _log.debug("closing a peer connection failed", exc_info=True)
    # aioice race: if ICE completed just as we closed, connect() resumes afterwards and
    # starts a consent-freshness task on the closed connection that runs on forever.
    for _ in range(CONSENT_RACE_CHECKS):
        await asyncio.sleep(0.02)
        for connection in connections:
            task = getattr(connection, "_query_consent_task", None)
            if isinstance(task, asyncio.Task) and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


CONSENT_RACE_CHECKS = 10


def _ice_connections(pc: RTCPeerConnection) -> list[object]:
    """The aioice connections under a PeerConnection's transports (private aiortc API)."""
    found: list[object] = []
    transports = [t.sender.transport for t in pc.getTransceivers()]
    sctp = pc.sctp
    if sctp is not None:
        transports.append(sctp.transport)
    for dtls in transports:
        ice = getattr(dtls, "transport", None)
        connection = getattr(ice, "_connection", None)
        if connection is not None and connection not in found:
            found.append(connection)
    return found


class FrameMeter:
    """Counts received frames: fps and freeze time per interval (time is an argument)."""

    def __init__(self) -> None:
        self.frames = 0
        self._last: float | None = None
        self._mean_gap: float | None = None
        self._freeze = 0.0
        self._taken_frames = 0
        self._taken_at: float | None = None

    @property
    def last_frame_at(self) -> float | None:
        """When the latest frame arrived (None before the first)."""
        return self._last

    def frame(self, now: float) -> None:
        """One frame arrived at ``now``."""
        self.frames += 1
        if self._last is not None:
            gap = now - self._last
            mean = self._mean_gap
            if mean is not None and gap > max(3 * mean, mean + 0.150):
                self._freeze += gap
            self._mean_gap = gap if mean is None else mean + (gap - mean) / 16
        self._last = now

    def take(self, now: float) -> tuple[float | None, float]:
        """(fps, freeze ms) since the previous take; fps None on the first call."""
        fps = None
        if self._taken_at is not None and now > self._taken_at:
            fps = (self.frames - self._taken_frames) / (now - self._taken_at)
        # a stream that stopped entirely is frozen since its last frame
        if self._last is not None and self._mean_gap is not None:
            silent = now - self._last
            if silent > max(3 * self._mean_gap, self._mean_gap + 0.150):
                start = max(self._last, self._taken_at or self._last)
                self._freeze += now - start
        freeze, self._freeze = self._freeze, 0.0
        self._taken_frames, self._taken_at = self.frames, now
        return (None if fps is None else round(fps, 1)), round(freeze * 1000, 1)


async def consume(track: MediaStreamTrack, meter: FrameMeter | None = None,
                  clock: Callable[[], float] = time.monotonic) -> None:
    """Read a remote track until it ends, counting frames (aiortc buffers unread frames)."""
    while True:
        try:
            await track.recv()
        except MediaStreamError:
            return
        if meter is not None:
            meter.frame(clock())


@dataclass(frozen=True)
class _Totals:
    packets: int = 0
    lost: int = 0
    bytes: float = 0.0


@dataclass(frozen=True)
class StatsSnapshot:
    """Counters at one moment, to diff against the next."""

    at: float
    totals: Mapping[tuple[str, str], _Totals] = field(default_factory=dict)


def _attr(stat: object, name: str) -> Any:
    return getattr(stat, name, None)


def samples_from_stats(stats: Iterable[object], *, call_id: str, bridge_id: str,
                       previous: StatsSnapshot | None, now: float,
                       clock_rates: Mapping[int, int] | None = None,
                       meters: Mapping[str, FrameMeter] | None = None,
                       ) -> tuple[list[LinkSample], StatsSnapshot]:
    """Pure: aiortc stats objects (and the previous snapshot) to samples and a new snapshot.

    ``clock_rates`` maps an SSRC to its codec clock rate; unknown SSRCs use 48 kHz for
    audio and 90 kHz for video. ``meters`` maps a kind to the meter of received frames.
    """
    rates = clock_rates or {}
    by_type: dict[str, list[Any]] = {}
    for stat in stats:
        by_type.setdefault(str(_attr(stat, "type")), []).append(stat)
    mean_payload = {s.ssrc: s.bytesSent / s.packetsSent
                    for s in by_type.get("remote-outbound-rtp", []) if s.packetsSent}

    def jitter_ms(stat: Any) -> float:
        rate = rates.get(stat.ssrc) or DEFAULT_CLOCK_RATES.get(stat.kind, 90_000)
        return float(stat.jitter or 0) * 1000.0 / rate

    rtts: dict[str, float] = {}
    for stat in by_type.get("remote-inbound-rtp", []):
        if stat.roundTripTime is not None:
            rtts[stat.kind] = max(rtts.get(stat.kind, 0.0), stat.roundTripTime * 1000.0)
    any_rtt = max(rtts.values()) if rtts else None

    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for stat in by_type.get("inbound-rtp", []):
        group = groups.setdefault(("recv", stat.kind), {"packets": 0, "lost": 0, "bytes": 0.0,
                                                        "jitter": 0.0, "rtt": None})
        group["packets"] += stat.packetsReceived
        group["lost"] += max(0, stat.packetsLost)
        received = _attr(stat, "bytesReceived")  # not in aiortc 1.16; other stacks have it
        group["bytes"] += (float(received) if received is not None
                           else stat.packetsReceived * mean_payload.get(stat.ssrc, 0.0))
        group["jitter"] = max(group["jitter"], jitter_ms(stat))
        group["rtt"] = rtts.get(stat.kind, any_rtt)
    remote_in = {s.ssrc: s for s in by_type.get("remote-inbound-rtp", [])}
    # aiortc 1.16 labels remote-inbound-rtp with the reporter's SSRC, not the stream's;
    # its ids share the sender's suffix ("outbound-rtp_N" / "remote-inbound-rtp_N").
    remote_by_owner = {str(s.id).rpartition("_")[2]: s
                       for s in by_type.get("remote-inbound-rtp", []) if _attr(s, "id")}
    for stat in by_type.get("outbound-rtp", []):
        group = groups.setdefault(("send", stat.kind), {"packets": 0, "lost": 0, "bytes": 0.0,
                                                        "jitter": None, "rtt": None})
        group["packets"] += stat.packetsSent
        group["bytes"] += float(stat.bytesSent)
        report = remote_in.get(stat.ssrc) or remote_by_owner.get(
            str(_attr(stat, "id") or "").rpartition("_")[2])
        if report is not None:
            group["lost"] += max(0, report.packetsLost)
            group["jitter"] = max(group["jitter"] or 0.0, jitter_ms(report))
            if report.roundTripTime is not None:
                group["rtt"] = max(group["rtt"] or 0.0, report.roundTripTime * 1000.0)

    # every meter is read every time, so its interval matches the snapshot's
    frames = {kind: meter.take(now) for kind, meter in (meters or {}).items()}
    samples: list[LinkSample] = []
    totals: dict[tuple[str, str], _Totals] = {}
    for (direction, kind), g in sorted(groups.items()):
        total = _Totals(g["packets"], g["lost"], g["bytes"])
        totals[(direction, kind)] = total
        # a stream first seen since the previous snapshot started its counters from zero
        before = previous.totals.get((direction, kind), _Totals()) if previous else None
        elapsed = now - previous.at if previous else 0.0
        loss = bitrate = None
        if before is not None and elapsed > 0:
            d_packets = max(0, total.packets - before.packets)
            d_lost = max(0, total.lost - before.lost)
            # recv: lost out of expected; send: the peer's lost out of what we sent
            expected = d_packets + d_lost if direction == "recv" else d_packets
            loss = round(100.0 * d_lost / expected, 2) if expected else 0.0
            bitrate = round(max(0.0, total.bytes - before.bytes) * 8 / 1000 / elapsed, 1)
        fps = freeze = None
        if direction == "recv" and kind == "video" and kind in frames:
            fps, freeze = frames[kind]
        jitter = None if g["jitter"] is None else round(g["jitter"], 2)
        rtt = None if g["rtt"] is None else round(g["rtt"], 1)
        mos = (estimate_mos(loss, jitter or 0.0, rtt or 0.0)
               if loss is not None else None)
        samples.append(LinkSample(call_id=call_id, bridge_id=bridge_id, direction=direction,
                                  kind=kind, at=now, loss_percent=loss, jitter_ms=jitter,
                                  rtt_ms=rtt, bitrate_kbps=bitrate, fps=fps,
                                  freeze_ms=freeze, mos=mos))
    return samples, StatsSnapshot(now, totals)


def clock_rates(pc: RTCPeerConnection) -> dict[int, int]:
    """SSRC → negotiated codec clock rate for this connection's streams."""
    rates: dict[int, int] = {}
    for transceiver in pc.getTransceivers():
        codecs = getattr(transceiver, "_codecs", None) or []
        if not codecs:
            continue
        rate = int(codecs[0].clockRate)
        ssrcs = [transceiver.sender._ssrc]
        ssrcs += [s.source for s in transceiver.receiver.getSynchronizationSources()]
        for ssrc in ssrcs:
            rates[ssrc] = rate
    return rates


async def collect_samples(pc: RTCPeerConnection, call_id: str, bridge_id: str,
                          previous: StatsSnapshot | None, now: float, *,
                          meters: Mapping[str, FrameMeter] | None = None,
                          ) -> tuple[list[LinkSample], StatsSnapshot]:
    """`LinkSample`s for ``pc`` since ``previous`` (None: first call, counters only)."""
    # Only the directions negotiated: a recvonly transceiver still has an idle sender.
    reports = []
    for transceiver in pc.getTransceivers():
        direction = transceiver.currentDirection or ""
        if "send" in direction:
            reports.append(transceiver.sender.getStats())
        if "recv" in direction:
            reports.append(transceiver.receiver.getStats())
    stats: dict[str, object] = {}
    for report in await asyncio.gather(*reports):
        stats.update(report)
    return samples_from_stats(stats.values(), call_id=call_id, bridge_id=bridge_id,
                              previous=previous, now=now, clock_rates=clock_rates(pc),
                              meters=meters)


class Backoff:
    """When to try again after a failure: exponential, jittered, reset by success.

    Pure: every method takes ``now``; the caller sleeps. ``rand`` returns 0..1 (jitter
    spreads thousands of sites that lost the same bridge at the same moment).
    """

    def __init__(self, *, initial: float = 0.5, factor: float = 2.0, maximum: float = 30.0,
                 jitter: float = 0.2, rand: Callable[[], float] = random.random) -> None:
        self.initial, self.factor, self.maximum, self.jitter = initial, factor, maximum, jitter
        self._rand = rand
        self.attempts = 0
        self.failed_since: float | None = None

    def failed(self, now: float) -> float:
        """Record a failure at ``now``; returns when the next attempt is due."""
        if self.failed_since is None:
            self.failed_since = now
        delay = min(self.maximum, self.initial * self.factor ** self.attempts)
        self.attempts += 1
        return now + delay * (1 - self.jitter + 2 * self.jitter * self._rand())

    def succeeded(self, now: float) -> float | None:
        """Record a success; returns how long the outage lasted (None if there was none)."""
        outage = None if self.failed_since is None else now - self.failed_since
        self.attempts = 0
        self.failed_since = None
        return outage


async def cancel_quietly(task: asyncio.Task[Any] | None) -> None:
    """Cancel a task and wait for it, swallowing its result (for shutdown paths)."""
    if task is None or task.done():
        if task is not None and not task.cancelled():
            with contextlib.suppress(Exception):
                task.exception()
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
