"""WHIP publishing and WHEP viewing against a real Janus behind the lab's WHIP endpoint."""

from __future__ import annotations

import asyncio
import time

import pytest

from media.bridges.base import (
    BridgeRefusedError,
    BridgeSpec,
    BridgeUnreachableError,
    CallEvent,
    CallState,
    InsecureMediaError,
    JoinOptions,
)
from media.bridges.registry import build_bridge
from media.bridges.whip import WhipBridge, media_stalled
from tests.peers.janus import JanusLab
from tests.peers.netns import LabNetns
from tests.peers.whip import WhipLab, in_lab_netns, janus_lab, lab_netns, whip_lab

__all__ = ["in_lab_netns", "janus_lab", "lab_netns", "whip_lab"]

SMALL = {"width": 320, "height": 180, "fps": 15}


def _spec(lab: WhipLab, *, token: str | None = None, whep: bool = True) -> BridgeSpec:
    options: dict[str, object] = dict(SMALL)
    if whep:
        options |= {"whep_url": lab.whep_url, "whep_mode": "server-offer"}
    return BridgeSpec(id="lab-whip", kind="whip", url=lab.whip_url, options=options,
                      secrets={"token": token if token is not None else lab.token})


def test_registry_builds_the_whip_adapter() -> None:
    bridge = build_bridge(BridgeSpec(id="b", kind="whip", url="https://whip.invalid/w"))
    assert isinstance(bridge, WhipBridge)


async def test_publish_view_stats_and_hang_up(whip_lab: WhipLab) -> None:
    bridge = WhipBridge(_spec(whip_lab))
    events: list[CallEvent] = []
    try:
        await bridge.probe()
        started = time.monotonic()
        call = await bridge.join(JoinOptions(display="UBND xã Hoàng Hợp"))
        joined_in = time.monotonic() - started
        call.subscribe(events.append)
        assert call.state is CallState.CONNECTED
        assert joined_in < 10
        assert [s["fallback"] for s in call.describe()["sources"]] == [False, False]
        await call.stats()
        await asyncio.sleep(3)
        samples = {(s.direction, s.kind): s for s in await call.stats()}
        assert set(samples) == {("send", "audio"), ("send", "video"), ("recv", "audio"),
                                ("recv", "video")}
        for sample in samples.values():
            assert (sample.bitrate_kbps or 0.0) > 0, sample
            assert sample.loss_percent == 0.0, sample
            assert (sample.mos or 0.0) > 4.0, sample
        assert samples[("send", "video")].rtt_ms is not None  # Janus's receiver reports
        recv_video = samples[("recv", "video")]
        assert recv_video.fps is not None
        assert recv_video.fps > 5
        assert len(whip_lab.resources) == 2
    finally:
        await bridge.close()
    assert whip_lab.resources == {}
    assert ("DELETE", "/whip/resource/") in [(m, p[:15]) for m, p in whip_lab.requests]
    assert events[-1].name == "ended"
    await call.leave()  # twice is harmless


async def test_wrong_token_is_refused(whip_lab: WhipLab) -> None:
    bridge = WhipBridge(_spec(whip_lab, token="wrong"))
    try:
        with pytest.raises(BridgeRefusedError) as caught:
            await bridge.join(JoinOptions(display="Xã B"))
        assert caught.value.bridge_code == 401
    finally:
        await bridge.close()
    assert whip_lab.resources == {}


async def test_unreachable_endpoint(in_lab_netns: LabNetns) -> None:
    bridge = WhipBridge(BridgeSpec(id="x", kind="whip",
                                   url=f"http://{in_lab_netns.address}:9/whip/endpoint",
                                   options=SMALL))
    try:
        with pytest.raises(BridgeUnreachableError):
            await bridge.join(JoinOptions(display="Xã C"))
        with pytest.raises(BridgeUnreachableError):
            await bridge.probe()
    finally:
        await bridge.close()


async def test_secret_session_refuses_plain_http() -> None:
    bridge = WhipBridge(BridgeSpec(id="x", kind="whip", url="http://bridge.invalid/whip"))
    with pytest.raises(InsecureMediaError):
        await bridge.join(JoinOptions(display="Xã D", secret=True))
    await bridge.close()


def test_media_stall_is_judged_from_the_last_sign_of_media() -> None:
    assert not media_stalled(100.0, connected_at=None, last_media_at=None)
    assert not media_stalled(105.0, connected_at=100.0, last_media_at=None)
    assert media_stalled(107.0, connected_at=100.0, last_media_at=None)
    assert not media_stalled(107.0, connected_at=100.0, last_media_at=103.0)
    assert media_stalled(110.0, connected_at=100.0, last_media_at=103.0)


async def test_recovers_after_janus_restarts(whip_lab: WhipLab, janus_lab: JanusLab) -> None:
    bridge = WhipBridge(_spec(whip_lab, whep=False))
    events: list[CallEvent] = []
    try:
        call = await bridge.join(JoinOptions(display="Xã E"))
        recovered = asyncio.Event()
        call.subscribe(events.append)
        call.subscribe(lambda e: recovered.set() if e.name == "recovered" else None)
        await asyncio.sleep(2)
        await asyncio.to_thread(janus_lab.restart)
        async with asyncio.timeout(40):
            await recovered.wait()
        names = [e.name for e in events]
        assert names[0] == "dropped"
        assert "recovery_step" in names
        assert call.state is CallState.CONNECTED
        await asyncio.sleep(2.5)
        samples = {(s.direction, s.kind): s for s in await call.stats()}
        assert samples[("send", "video")].bitrate_kbps
    finally:
        await bridge.close()
