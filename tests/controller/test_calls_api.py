"""Joining the conference from the console API: a real Janus in the tests' own namespace."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiortc import RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from av import VideoFrame

from controller.app import create_app
from controller.config import load_config
from controller.context import CONTEXT
from media.bridges.base import BridgeSpec, JoinOptions
from media.bridges.janus import JanusCall, JanusVideoRoomBridge
from media.webrtc import close_quietly, peer_connection, wait_connected
from tests.conftest import Client, FakeClock, app_of, write_site_config
from tests.controller.test_auth import ADMIN_PASSWORD, login
from tests.peers.janus import OPEN_ROOM, JanusLab, janus_lab, lab_netns
from tests.peers.netns import LabNetns, in_lab_netns

__all__ = ["in_lab_netns", "janus_lab", "lab_netns"]


@pytest.fixture
async def site(tmp_path: Path, janus_lab: JanusLab,
               in_lab_netns: LabNetns) -> AsyncIterator[Client]:
    extra = (f'[media]\nwidth = 320\nheight = 180\nfps = 10\n\n'
             f'[[bridges]]\nid = "tinh"\nname = "Cầu tỉnh"\nkind = "janus-videoroom"\n'
             f'url = "{janus_lab.url}"\nroom = {OPEN_ROOM}\n')
    config = load_config(write_site_config(tmp_path, extra=extra))
    app = create_app(config, clock=FakeClock(), announce=lambda _text: None)
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    app[CONTEXT].accounts.add("vanhanh", ADMIN_PASSWORD, "operator", actor="test")
    try:
        yield client
    finally:
        await client.close()


async def bridge_state(client: Client) -> dict[str, Any]:
    body: dict[str, Any] = await (await client.get("/api/v1/bridges/tinh")).json()
    return body


async def test_join_see_link_health_and_leave(site: Client) -> None:
    csrf = {"X-CSRF-Token": (await login(site, "vanhanh"))["csrf_token"]}
    listing = await (await site.get("/api/v1/bridges")).json()
    assert [b["id"] for b in listing["bridges"]] == ["tinh"]
    assert listing["bridges"][0]["call"] is None
    resp = await site.post("/api/v1/bridges/tinh/join", headers=csrf)
    assert resp.status == 200, await resp.text()
    again = await site.post("/api/v1/bridges/tinh/join", headers=csrf)
    assert again.status == 409
    assert (await again.json())["error"]["code"] == "already_joined"
    for _ in range(100):
        state = await bridge_state(site)
        sends = [s for s in state["call"]["samples"] if s["direction"] == "send"]
        if state["call"]["state"] == "connected" and any(s["bitrate_kbps"] for s in sends):
            break
        await asyncio.sleep(0.1)
    assert state["call"]["state"] == "connected", state
    assert state["call"]["health"] in {"green", "amber", "red", "grey"}
    metrics = await (await site.get("/metrics")).text()
    assert 'diemcau_call_state{bridge="tinh",state="connected"} 1.0' in metrics
    resp = await site.post("/api/v1/bridges/tinh/leave", headers=csrf)
    assert resp.status == 200
    assert (await bridge_state(site))["call"] is None
    audit = [e.action for e in app_of(site)[CONTEXT].audit.entries(limit=20)]
    assert "call.join" in audit
    assert "call.leave" in audit
    rows = app_of(site)[CONTEXT].store.query("SELECT ended_at, end_reason FROM calls")
    assert rows[0]["end_reason"] == "left"


async def test_watch_the_conference_over_webrtc(site: Client, janus_lab: JanusLab) -> None:
    """Any role may watch: the answer carries the other site's picture; bad offers are 400."""
    app_of(site)[CONTEXT].accounts.add("xem", ADMIN_PASSWORD, "viewer", actor="test")
    other_bridge = JanusVideoRoomBridge(BridgeSpec(
        id="khac", kind="janus-videoroom", url=janus_lab.url, room=OPEN_ROOM,
        options={"video_width": 320, "video_height": 180, "video_fps": 10}))
    other = await other_bridge.join(JoinOptions(display="Tỉnh", subscribe="none"))
    viewer = peer_connection()
    try:
        operator = {"X-CSRF-Token": (await login(site, "vanhanh"))["csrf_token"]}
        viewer.addTransceiver("video", direction="recvonly")
        viewer.addTransceiver("audio", direction="recvonly")
        await viewer.setLocalDescription(await viewer.createOffer())
        offer = {"sdp": viewer.localDescription.sdp, "type": "offer"}
        early = await site.post("/api/v1/bridges/tinh/playout", json=offer, headers=operator)
        assert early.status == 409, await early.text()
        assert (await early.json())["error"]["code"] == "not_joined"
        assert (await site.post("/api/v1/bridges/tinh/join", headers=operator)).status == 200
        call = app_of(site)[CONTEXT].calls._managed("tinh").call
        assert isinstance(call, JanusCall)
        await call.wait_remote_frame("video", within=15)

        watcher = {"X-CSRF-Token": (await login(site, "xem"))["csrf_token"]}
        for bad in ({"sdp": "hello", "type": "offer"}, {"sdp": "v=0\r\nnonsense", "type": "offer"},
                    {"sdp": offer["sdp"], "type": "answer"}, {"type": "offer"}):
            resp = await site.post("/api/v1/bridges/tinh/playout", json=bad, headers=watcher)
            assert resp.status == 400, (bad, resp.status, await resp.text())
        resp = await site.post("/api/v1/bridges/tinh/playout", json=offer, headers=watcher)
        assert resp.status == 200, await resp.text()
        answer = await resp.json()
        assert answer["type"] == "answer"
        got: list[MediaStreamTrack] = []
        viewer.on("track", got.append)
        await viewer.setRemoteDescription(RTCSessionDescription(**answer))
        await wait_connected(viewer, 10)
        video = next(t for t in got if t.kind == "video")
        frame = await asyncio.wait_for(video.recv(), 10)
        assert isinstance(frame, VideoFrame)
        assert (frame.width, frame.height) == (320, 180)
        audit = [e.action for e in app_of(site)[CONTEXT].audit.entries(limit=20)]
        assert not any("playout" in action for action in audit), audit

        operator = {"X-CSRF-Token": (await login(site, "vanhanh"))["csrf_token"]}
        assert (await site.post("/api/v1/bridges/tinh/leave", headers=operator)).status == 200
        for _ in range(50):  # the playout hangs up with the call
            if viewer.connectionState in ("closed", "failed"):
                break
            await asyncio.sleep(0.1)
        assert viewer.connectionState in ("closed", "failed"), viewer.connectionState
        assert app_of(site)[CONTEXT].calls._managed("tinh").playout is None
    finally:
        await close_quietly(viewer)
        await other.leave()
        await other_bridge.close()
