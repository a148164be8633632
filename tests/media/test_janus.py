"""The Janus VideoRoom bridge against Debian's Janus in the lab namespace."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from media.bridges.base import (
    BridgeRefusedError,
    BridgeSpec,
    CallEvent,
    InsecureMediaError,
    JoinOptions,
)
from media.bridges.janus import PLUGIN, JanusCall, JanusVideoRoomBridge, require_encrypted
from media.janus.client import JanusSession
from tests.peers.janus import ROOM, ROOM_PIN, ROOM_SECRET, JanusLab, janus_lab, lab_netns
from tests.peers.netns import LabNetns, in_lab_netns

__all__ = ["in_lab_netns", "janus_lab", "lab_netns"]


class Recorder:
    """Collects a call's events and lets the test wait for one."""

    def __init__(self, call: JanusCall) -> None:
        self.events: list[CallEvent] = []
        call.subscribe(self.events.append)

    async def wait(self, name: str, within: float = 10, **match: Any) -> CallEvent:
        async with asyncio.timeout(within):
            while True:
                for event in self.events:
                    if event.name == name and all(event.data.get(k) == v
                                                  for k, v in match.items()):
                        return event
                await asyncio.sleep(0.02)


def spec(lab: JanusLab, **options: Any) -> BridgeSpec:
    return BridgeSpec(id="lab", kind="janus-videoroom", url=lab.url, room=ROOM,
                      options={"media_timeout": 4, "recovery_base": 0.3, "recovery_cap": 2,
                               "video_width": 640, "video_height": 360, "video_fps": 15,
                               **options},
                      secrets={"pin": ROOM_PIN})


@pytest.fixture
async def bridge(janus_lab: JanusLab,
                 in_lab_netns: LabNetns) -> AsyncIterator[JanusVideoRoomBridge]:
    b = JanusVideoRoomBridge(spec(janus_lab))
    try:
        yield b
    finally:
        await b.close()


async def test_two_sites_see_and_hear_each_other(bridge: JanusVideoRoomBridge) -> None:
    a = await bridge.join(JoinOptions(display="xa-a"))
    b = await bridge.join(JoinOptions(display="xa-b"))
    frame_a = await a.wait_remote_frame("video", within=10)
    frame_b = await b.wait_remote_frame("video", within=10)
    assert (frame_a.width, frame_a.height) == (640, 360)
    assert (frame_b.width, frame_b.height) == (640, 360)
    assert (await b.wait_remote_frame("audio", within=5)).sample_rate == 48000
    assert set(a.remote_feeds().values()) == {"xa-b"}

    await asyncio.sleep(1.1)
    samples = await a.stats()
    kinds = {(s.direction, s.kind) for s in samples}
    assert kinds >= {("send", "audio"), ("send", "video"), ("recv", "audio"), ("recv", "video")}
    assert all(s.mos is not None and 1.0 <= s.mos <= 4.5 for s in samples)
    got_a = Recorder(a)
    await b.leave()
    await got_a.wait("room", event="left")
    await a.leave()
    await a.leave()


async def test_data_channel_round_trip(bridge: JanusVideoRoomBridge) -> None:
    a = await bridge.join(JoinOptions(display="xa-a"))
    b = await bridge.join(JoinOptions(display="xa-b"))
    got_a, got_b = Recorder(a), Recorder(b)
    try:
        await a.wait_remote_frame(within=10)
        await b.wait_remote_frame(within=10)
        a.send_data("ping")
        await got_b.wait("data", within=3, message="ping")
        b.send_data("pong")
        assert (await got_a.wait("data", within=3, message="pong")).data["display"] == "xa-b"
    finally:
        await b.leave()
        await a.leave()


async def moderate(lab: JanusLab, call: JanusCall, *, mute: bool) -> None:
    async with aiohttp.ClientSession() as http:
        session = JanusSession(http, lab.url)
        await session.create()
        try:
            handle = await session.attach(PLUGIN)
            await handle.message({"request": "moderate", "secret": ROOM_SECRET, "room": ROOM,
                                  "id": call.feed_id, "mid": call.published_mids["audio"],
                                  "mute": mute})
            await handle.detach()
        finally:
            await session.destroy()


async def test_moderator_mutes_our_audio(bridge: JanusVideoRoomBridge,
                                         janus_lab: JanusLab) -> None:
    a = await bridge.join(JoinOptions(display="xa-a"))
    events = Recorder(a)
    try:
        await moderate(janus_lab, a, mute=True)
        muted = await events.wait("room", within=5, ours=True)
        assert muted.data["event"] == "muted"
        await moderate(janus_lab, a, mute=False)
        await events.wait("room", within=5, ours=True, event="unmuted")
    finally:
        await a.leave()


async def test_a_chair_mutes_another_site_through_the_bridge(janus_lab: JanusLab,
                                                            in_lab_netns: LabNetns) -> None:
    chair_bridge = JanusVideoRoomBridge(BridgeSpec(
        id="lab", kind="janus-videoroom", url=janus_lab.url, room=ROOM,
        options={"video_width": 320, "video_height": 180, "video_fps": 15},
        secrets={"pin": ROOM_PIN, "room_secret": ROOM_SECRET}))
    site_bridge = JanusVideoRoomBridge(spec(janus_lab))
    chair = await chair_bridge.join(JoinOptions(display="tinh-chu-tri", subscribe="none"))
    seen = Recorder(chair)
    site = await site_bridge.join(JoinOptions(display="xa-a", subscribe="none"))
    events = Recorder(site)
    try:
        await seen.wait("room", event="published", display="xa-a")
        assert await chair.moderate("xa-a", mute=True) == 1
        assert (await events.wait("room", within=5, ours=True)).data["event"] == "muted"
        assert await chair.moderate("xa-a", mute=False) == 1
        await events.wait("room", within=5, ours=True, event="unmuted")
        assert await chair.moderate("khong-co-ai", mute=True) == 0
    finally:
        await site.leave()
        await chair.leave()
        await site_bridge.close()
        await chair_bridge.close()


async def test_wrong_pin_is_refused(janus_lab: JanusLab, in_lab_netns: LabNetns) -> None:
    bad = JanusVideoRoomBridge(BridgeSpec(id="lab", kind="janus-videoroom", url=janus_lab.url,
                                          room=ROOM, secrets={"pin": "wrong"}))
    try:
        with pytest.raises(BridgeRefusedError):
            await bad.join(JoinOptions(display="xa-a"))
    finally:
        await bad.close()


async def test_secret_session_joins_over_dtls_srtp(bridge: JanusVideoRoomBridge) -> None:
    a = await bridge.join(JoinOptions(display="xa-mat", secret=True))
    await a.leave()


def test_secret_sessions_refuse_plain_rtp() -> None:
    plain = "v=0\r\ns=-\r\nm=audio 9 RTP/AVP 0\r\nc=IN IP4 198.18.0.1\r\n"
    with pytest.raises(InsecureMediaError):
        require_encrypted(plain)
    no_fingerprint = "v=0\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    with pytest.raises(InsecureMediaError):
        require_encrypted(no_fingerprint)
    require_encrypted("v=0\r\ns=-\r\na=fingerprint:sha-256 AB\r\n"
                      "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n")


async def test_calls_recover_after_janus_restart(bridge: JanusVideoRoomBridge,
                                                 janus_lab: JanusLab) -> None:
    a = await bridge.join(JoinOptions(display="xa-a"))
    b = await bridge.join(JoinOptions(display="xa-b"))
    events_a, events_b = Recorder(a), Recorder(b)
    call_id = a.id
    try:
        await a.wait_remote_frame(within=10)
        await asyncio.to_thread(janus_lab.kill)
        await events_a.wait("dropped", within=10)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(janus_lab.start)
        started = time.monotonic()
        await events_a.wait("recovered", within=20)
        await events_b.wait("recovered", within=20)
        frame = await a.wait_remote_frame(within=15)
        assert (frame.width, frame.height) == (640, 360)
        assert time.monotonic() - started < 30
        assert a.id == call_id
        steps = [e for e in events_a.events if e.name == "recovery_step"]
        assert steps
        assert steps[0].data["attempt"] == 1
        assert "delay" in steps[0].data
        names = [e.name for e in events_a.events]
        assert names.index("dropped") < names.index("recovered")
    finally:
        await b.leave()
        await a.leave()
        if janus_lab.process is None:
            janus_lab.start()
