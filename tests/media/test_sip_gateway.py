"""SipBridge through the lab Janus SIP plugin to baresip's plain-RTP account.

diemcau ⇄ Janus: ICE + DTLS-SRTP; Janus ⇄ baresip: SIP + plain RTP (a classic MCU).
"""

from __future__ import annotations

import asyncio

import pytest

from media.bridges.base import (
    BridgeSpec,
    CallEvent,
    CallState,
    InsecureMediaError,
    JoinOptions,
)
from media.bridges.sip import SipBridge
from media.bridges.sip_gateway import JanusSipGatewayCall
from media.sources import ToneTrack
from tests.media.test_sip_baresip import TONE_HZ, first_channel, goertzel, wait_for
from tests.peers.baresip import SINE_HZ, Baresip, baresip
from tests.peers.janus import JanusLab, janus_lab, lab_netns
from tests.peers.netns import LabNetns, in_lab_netns

__all__ = ["baresip", "in_lab_netns", "janus_lab", "lab_netns"]


def gateway_bridge(uri: str, gateway: str) -> SipBridge:
    spec = BridgeSpec("mcu", "sip", uri, options={"gateway_url": gateway, "answer_timeout": 10})
    return SipBridge(spec, track_factory=lambda _o: [ToneTrack(frequency=TONE_HZ)])


async def test_plain_rtp_mcu_through_the_janus_sip_gateway(
        baresip: Baresip, janus_lab: JanusLab, in_lab_netns: LabNetns) -> None:
    bridge = gateway_bridge(baresip.plain_uri, janus_lab.url)
    call = await bridge.join(JoinOptions(display="Xã Hoàng Hợp"))
    try:
        assert isinstance(call, JanusSipGatewayCall)
        assert call.state is CallState.CONNECTED
        assert "Call established" in baresip.log()
        tracks = call.remote_tracks()
        assert tracks, "no audio from the gateway"
        samples, rate = await first_channel(tracks[0], 1.5)
        tail = samples[len(samples) // 3:]
        wanted = goertzel(tail, rate, SINE_HZ)
        others = [goertzel(tail, rate, f) for f in (250.0, 700.0, TONE_HZ, 1500.0)]
        assert wanted > 20 * max(others), (wanted, others)

        await call.stats()
        await asyncio.sleep(1.1)
        by_dir = {(s.direction, s.kind): s for s in await call.stats()}
        assert ("send", "audio") in by_dir
        assert ("recv", "audio") in by_dir

        events: list[CallEvent] = []
        call.subscribe(events.append)
    finally:
        await call.leave()
    assert [e.name for e in events] == ["ended"]
    assert call.describe()["state"] == "ended"
    assert not bridge._gateway_calls

    async def baresip_hung_up() -> bool:
        return "terminated" in baresip.log()
    await wait_for(baresip_hung_up)
    # baresip's RTP counters: our 1 kHz tone relayed by Janus as plain RTP
    assert baresip.received_packets()
    assert baresip.received_packets()[-1] > 50


async def test_secret_session_needs_sdes_on_the_gateway_leg() -> None:
    bridge = gateway_bridge("sip:1234@mcu.example.vn", "http://127.0.0.1:9/janus")
    with pytest.raises(InsecureMediaError, match="sdes_mandatory"):
        await bridge.join(JoinOptions(display="mật", secret=True))
    assert not bridge._gateway_calls
