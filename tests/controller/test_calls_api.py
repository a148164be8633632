"""Joining the conference from the console API: a real Janus in the tests' own namespace."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from controller.app import create_app
from controller.config import load_config
from controller.context import CONTEXT
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
