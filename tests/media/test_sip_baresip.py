"""SipBridge against a real baresip in the lab namespace: SIP, ICE, DTLS-SRTP, audio both ways."""

from __future__ import annotations

import asyncio
import math
import time
from array import array
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiortc import MediaStreamTrack
from av import AudioFrame

from media.bridges.base import (
    BridgeSpec,
    CallEvent,
    CallState,
    InsecureMediaError,
    JoinOptions,
    MediaNegotiationError,
)
from media.bridges.registry import build_bridge
from media.bridges.sip import SipBridge, SipCall, check_media_security
from media.sip.message import MessageReceived, parse_datagram
from media.sources import ToneTrack
from tests.peers.baresip import SINE_HZ, Baresip, baresip, lab_netns
from tests.peers.netns import LabNetns, in_lab_netns

__all__ = ["baresip", "in_lab_netns", "lab_netns"]

TONE_HZ = 1000.0
DATA = Path(__file__).parent.parent / "data" / "sip"


def goertzel(samples: list[float], rate: int, frequency: float) -> float:
    """Signal power at one frequency (Goertzel algorithm)."""
    coeff = 2 * math.cos(2 * math.pi * frequency / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


async def first_channel(track: MediaStreamTrack, seconds: float) -> tuple[list[float], int]:
    """Decoded PCM of the first channel of a received audio track."""
    samples: list[float] = []
    rate = 48000
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame = await asyncio.wait_for(track.recv(), 2)
        assert isinstance(frame, AudioFrame)
        rate = frame.sample_rate
        channels = len(frame.layout.channels)
        pcm = array("h", bytes(frame.planes[0]))
        samples.extend(float(v) for v in pcm[::channels][: frame.samples])
    return samples, rate


async def wait_for(predicate: Callable[[], Awaitable[bool]], within: float = 5) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


def sip_bridge(uri: str, **options: object) -> SipBridge:
    return SipBridge(BridgeSpec("baresip", "sip", uri, options={"answer_timeout": 10, **options}),
                     track_factory=lambda _o: [ToneTrack(frequency=TONE_HZ)])


@pytest.fixture
async def call(baresip: Baresip, in_lab_netns: LabNetns) -> AsyncIterator[SipCall]:
    call = await sip_bridge(baresip.conference_uri).join(JoinOptions(display="Xã Hoàng Hợp"))
    assert isinstance(call, SipCall)
    try:
        yield call
    finally:
        await call.leave()


async def test_audio_flows_both_ways_then_bye(call: SipCall, baresip: Baresip) -> None:
    assert call.state is CallState.CONNECTED
    assert call.received_tracks, "baresip's audio track never arrived"
    samples, rate = await first_channel(call.received_tracks[0], 1.5)
    tail = samples[len(samples) // 3:]  # past the decoder's start-up
    wanted = goertzel(tail, rate, SINE_HZ)
    others = [goertzel(tail, rate, f) for f in (250.0, 700.0, TONE_HZ, 1500.0)]
    assert wanted > 20 * max(others), (wanted, others)

    await call.stats()  # rates are per interval: the controller samples every second
    await asyncio.sleep(1.2)
    samples_by_dir = {(s.direction, s.kind): s for s in await call.stats()}
    sent, received = samples_by_dir[("send", "audio")], samples_by_dir[("recv", "audio")]
    assert sent.bitrate_kbps is not None
    assert sent.bitrate_kbps > 8
    assert received.jitter_ms is not None
    assert received.mos is not None
    assert received.mos > 4

    ended: list[CallEvent] = []
    call.subscribe(ended.append)
    await call.leave()
    assert call.describe()["state"] == "ended"
    assert [e.name for e in ended] == ["ended"]

    async def baresip_hung_up() -> bool:
        return "terminated" in baresip.log()
    await wait_for(baresip_hung_up)
    # baresip's own RTP counters for our 1 kHz tone (2.7 s of 20 ms packets or more).
    assert baresip.received_packets()
    assert baresip.received_packets()[-1] > 100


async def test_bye_from_the_bridge_ends_the_call(call: SipCall, baresip: Baresip) -> None:
    events: list[CallEvent] = []
    call.subscribe(events.append)
    reply = await baresip.command("hangup")
    assert reply["ok"]

    async def ended() -> bool:
        return call.state is CallState.ENDED
    await wait_for(ended)
    assert [e.name for e in events] == ["ended"]
    # a chair ending the conference is not fought: no drop, no rejoin
    await asyncio.sleep(1.5)
    assert [e.name for e in events] == ["ended"]
    assert call._recovery is None
    assert baresip.log().count("Call established") == 1


async def test_reinvite_from_the_bridge_keeps_the_call(call: SipCall, baresip: Baresip) -> None:
    events: list[CallEvent] = []
    call.subscribe(events.append)
    await baresip.command("reinvite")
    await asyncio.sleep(1.0)
    assert call.state is CallState.CONNECTED
    assert "488" not in baresip.log()
    assert "dropped" not in [e.name for e in events]
    frame = await asyncio.wait_for(call.received_tracks[0].recv(), 2)
    assert isinstance(frame, AudioFrame)
    assert frame.samples > 0


async def test_probe_gets_an_options_answer(baresip: Baresip, in_lab_netns: LabNetns) -> None:
    await sip_bridge(baresip.conference_uri).probe()


async def test_tcp_transport(baresip: Baresip, in_lab_netns: LabNetns) -> None:
    bridge = sip_bridge(baresip.conference_uri, transport="tcp")
    call = await bridge.join(JoinOptions(display="tcp"))
    try:
        assert call.state is CallState.CONNECTED
    finally:
        await call.leave()


async def test_plain_rtp_bridge_is_refused(baresip: Baresip, in_lab_netns: LabNetns) -> None:
    # baresip without mediaenc answers our DTLS-SRTP offer with 488, as classic MCUs do.
    bridge = sip_bridge(baresip.plain_uri)
    with pytest.raises(MediaNegotiationError, match="Janus SIP gateway"):
        await bridge.join(JoinOptions(display="plain", secret=True))
    assert not bridge._calls


def test_secret_session_refuses_a_plain_rtp_answer() -> None:
    body = parse_datagram((DATA / "rfc3665-invite-sdp.txt").read_bytes())
    assert isinstance(body, MessageReceived)
    sdp = body.message.body.decode()
    with pytest.raises(InsecureMediaError, match="RTP/AVP"):
        check_media_security(sdp, secret=True, bridge_id="mcu")
    with pytest.raises(MediaNegotiationError, match="Janus SIP gateway"):
        check_media_security(sdp, secret=False, bridge_id="mcu")
    answer = (DATA / "baresip-200-answer-sdp.txt").read_bytes().split(b"\r\n\r\n", 1)[1]
    check_media_security(answer.decode(), secret=True, bridge_id="baresip")


def test_registry_builds_the_sip_adapter() -> None:
    spec = BridgeSpec("tinh", "sip", "sip:1234@mcu.tinh.example.vn",
                      options={"registrar": "sip.tinh.example.vn:5061", "username": "xa-hh",
                               "transport": "tls"}, secrets={"password": "x"})
    bridge = build_bridge(spec)
    assert isinstance(bridge, SipBridge)
    assert bridge.settings.next_hop == ("sip.tinh.example.vn", 5061)
    assert bridge.settings.aor == "sip:xa-hh@sip.tinh.example.vn:5061"
