"""The shared aiortc helpers: samples from a real connection, and their arithmetic."""

from __future__ import annotations

import asyncio
import datetime
import time
from types import SimpleNamespace

import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from media.sources import TestPatternTrack, ToneTrack
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
    samples_from_stats,
    wait_connected,
)
from tests.peers.netns import LabNetns, in_lab_netns, lab_netns

__all__ = ["in_lab_netns", "lab_netns"]


def test_peer_connection_uses_no_stun_server_by_default() -> None:
    pc = peer_connection()
    # aiortc keeps the configuration private; an empty list means no STUN/TURN at all
    assert vars(pc)["_RTCPeerConnection__configuration"].iceServers == []
    custom = peer_connection([{"urls": "turn:turn.invalid:3478", "username": "u",
                               "credential": "p"}])
    assert vars(custom)["_RTCPeerConnection__configuration"].iceServers[0].username == "u"


async def _connect(sender: RTCPeerConnection, receiver: RTCPeerConnection) -> None:
    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)
    await asyncio.gather(wait_connected(sender, 10), wait_connected(receiver, 10))


def _by(samples: list[LinkSample]) -> dict[tuple[str, str], LinkSample]:
    return {(s.direction, s.kind): s for s in samples}


async def test_samples_from_a_real_connection(in_lab_netns: LabNetns) -> None:
    sender, receiver = peer_connection(), peer_connection()
    tracks: list[MediaStreamTrack] = [ToneTrack(), TestPatternTrack(
        label="UBND xã Hoàng Hợp", width=320, height=180, fps=15)]
    meters = {"video": FrameMeter(), "audio": FrameMeter()}
    sinks: list[asyncio.Task[None]] = []

    @receiver.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        sinks.append(asyncio.create_task(consume(track, meters[track.kind])))

    try:
        for track in tracks:
            transceiver = sender.addTransceiver(track, direction="sendonly")
            if track.kind == "video":
                prefer_codec(transceiver, "video/VP8")
        await _connect(sender, receiver)
        send_prev = recv_prev = None
        for _ in range(4):
            now = time.monotonic()
            send, send_prev = await collect_samples(sender, "c1", "b1", send_prev, now)
            recv, recv_prev = await collect_samples(receiver, "c1", "b1", recv_prev, now,
                                                    meters=meters)
            await asyncio.sleep(1.0)
        got = _by(send) | _by(recv)
        assert set(got) == {("send", "audio"), ("send", "video"), ("recv", "audio"),
                            ("recv", "video")}
        for sample in got.values():
            assert sample.call_id == "c1"
            assert sample.bridge_id == "b1"
            assert (sample.bitrate_kbps or 0.0) > 0, sample
            assert sample.loss_percent == 0.0, sample
            assert (sample.mos or 0.0) > 4.0, sample
            assert sample.jitter_ms is not None, sample
            assert sample.jitter_ms < 50, sample
        # aiortc's Opus runs near 130 kbit/s: a wrong unit or interval would be far off
        assert 10 < (got[("recv", "audio")].bitrate_kbps or 0.0) < 200
        assert got[("send", "video")].rtt_ms is not None
        assert got[("recv", "video")].fps is not None
        assert 10 <= (got[("recv", "video")].fps or 0.0) <= 20
        assert got[("recv", "video")].freeze_ms == 0.0
    finally:
        for track in tracks:
            track.stop()
        await close_quietly(sender)
        await close_quietly(receiver)
        for sink in sinks:
            await cancel_quietly(sink)


def _stat(kind: str, type_: str, ssrc: int, **values: object) -> SimpleNamespace:
    return SimpleNamespace(type=type_, kind=kind, ssrc=ssrc,
                           timestamp=datetime.datetime.now(datetime.UTC), **values)


def test_jitter_uses_the_codec_clock_and_loss_the_deltas() -> None:
    def inbound(received: int, lost: int) -> list[SimpleNamespace]:
        return [_stat("audio", "inbound-rtp", 7, packetsReceived=received,
                      packetsLost=lost, jitter=80),
                _stat("audio", "remote-outbound-rtp", 7, packetsSent=received,
                      bytesSent=received * 160)]

    first, snap = samples_from_stats(inbound(1000, 0), call_id="c", bridge_id="b",
                                     previous=None, now=10.0, clock_rates={7: 8000})
    assert first[0].loss_percent is None
    assert first[0].bitrate_kbps is None
    assert first[0].jitter_ms == 10.0  # 80 ticks at 8 kHz (G.711)
    later, _ = samples_from_stats(inbound(1045, 5), call_id="c", bridge_id="b",
                                  previous=snap, now=11.0, clock_rates={7: 8000})
    sample = later[0]
    assert sample.loss_percent == 10.0  # 5 lost of 50 expected
    assert sample.bitrate_kbps == 57.6  # 45 packets × 160 bytes in 1 s
    assert sample.mos is not None
    assert sample.mos < 3.5
    # without a known clock rate, audio is taken as 48 kHz
    default, _ = samples_from_stats(inbound(1, 0), call_id="c", bridge_id="b", previous=None,
                                    now=1.0)
    assert default[0].jitter_ms == round(80 / 48, 2)


def test_send_samples_take_loss_and_rtt_from_receiver_reports() -> None:
    def outbound(sent: int, lost: int) -> list[SimpleNamespace]:
        return [_stat("video", "outbound-rtp", 9, packetsSent=sent, bytesSent=sent * 1000),
                _stat("video", "remote-inbound-rtp", 9, packetsReceived=sent - lost,
                      packetsLost=lost, jitter=900, roundTripTime=0.040, fractionLost=0)]

    _, snap = samples_from_stats(outbound(100, 0), call_id="c", bridge_id="b", previous=None,
                                 now=0.0)
    (sample,), snap2 = samples_from_stats(outbound(300, 4), call_id="c", bridge_id="b",
                                          previous=snap, now=2.0)
    assert sample.direction == "send"
    assert sample.kind == "video"
    assert sample.loss_percent == 2.0
    assert sample.rtt_ms == 40.0
    assert sample.jitter_ms == 10.0
    assert sample.bitrate_kbps == 800.0
    assert snap2 == StatsSnapshot(2.0, snap2.totals)


def test_frame_meter_counts_fps_and_freezes() -> None:
    meter = FrameMeter()
    now = 0.0
    for _ in range(31):
        meter.frame(now)
        now += 1 / 30
    meter.take(now)
    for _ in range(15):
        meter.frame(now)
        now += 1 / 30
    now += 0.5  # half a second with no frame, then frames again
    for _ in range(15):
        meter.frame(now)
        now += 1 / 30
    fps, freeze = meter.take(now)
    assert fps is not None
    assert 19 < fps < 21
    assert 500 <= freeze <= 550
    # a stream that stops is frozen from its last frame on
    _fps, stalled = meter.take(now + 2.0)
    assert stalled >= 1900


def test_backoff_grows_caps_and_resets() -> None:
    policy = Backoff(initial=1.0, factor=2.0, maximum=5.0, jitter=0.0)
    assert [policy.failed(100.0) - 100.0 for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.succeeded(130.0) == 30.0
    assert policy.failed(200.0) == 201.0
    spread = Backoff(initial=10.0, jitter=0.2, rand=lambda: 1.0)
    assert spread.failed(0.0) == pytest.approx(12.0)
