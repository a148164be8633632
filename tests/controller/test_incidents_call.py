"""A call dropped by the bridge opens an incident with the recovery steps on its timeline; the
recovery resolves it with the time to restore (Janus killed and restarted in the lab)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from controller.app import create_app
from controller.config import load_config
from controller.context import CONTEXT, SiteContext
from monitoring.incidents import Incident
from tests.conftest import Client, app_of, write_site_config
from tests.peers.janus import OPEN_ROOM, JanusLab, janus_lab, lab_netns
from tests.peers.netns import LabNetns, in_lab_netns

__all__ = ["in_lab_netns", "janus_lab", "lab_netns"]


@pytest.fixture
async def site(tmp_path: Path, janus_lab: JanusLab,
               in_lab_netns: LabNetns) -> AsyncIterator[Client]:
    extra = (f'[media]\nwidth = 320\nheight = 180\nfps = 10\n\n'
             f'[[bridges]]\nid = "tinh"\nname = "Cầu tỉnh"\nkind = "janus-videoroom"\n'
             f'url = "{janus_lab.url}"\nroom = {OPEN_ROOM}\n'
             'recovery_base = 0.3\nrecovery_cap = 2\nmedia_timeout = 4\n')
    config = load_config(write_site_config(tmp_path, extra=extra))
    client: Client = TestClient(TestServer(create_app(config, announce=lambda _text: None)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        if janus_lab.process is None:
            janus_lab.start()


async def _wait(ctx: SiteContext, check: str, seconds: float = 25.0) -> Incident:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for incident in ctx.incidents.find(scope="local", limit=20):
            if incident.kind == "call_dropped" and (check == "any" or incident.state == check):
                return incident
        await asyncio.sleep(0.2)
    raise AssertionError(f"no call_dropped incident in state {check} within {seconds} s")


async def test_a_dropped_call_is_an_incident_until_it_recovers(site: Client,
                                                               janus_lab: JanusLab) -> None:
    ctx = app_of(site)[CONTEXT]
    await ctx.calls.join("tinh", actor="vanhanh")
    for _ in range(100):
        if ctx.calls.describe("tinh")["call"]["state"] == "connected":
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(4.5)  # a healthy call, alone in the room: no incident of any kind
    assert ctx.incidents.find() == []
    await asyncio.to_thread(janus_lab.kill)
    opened = await _wait(ctx, "open")
    assert opened.severity == "critical"
    assert opened.serious  # the 24 h / 72 h clocks apply
    assert opened.notice_due == opened.opened_at + 24 * 3600
    await asyncio.sleep(1.0)
    await asyncio.to_thread(janus_lab.start)
    resolved = await _wait(ctx, "resolved", seconds=40)
    assert resolved.id == opened.id
    restored = resolved.time_to_restore()
    assert restored is not None
    assert restored > 1.0
    steps = [t for t in resolved.timeline if t["type"] == "recovery"]
    assert steps, resolved.timeline
    # Every change went to the outbox for the parent, in order.
    queued = [r for r in ctx.store.query(
        "SELECT body FROM outbox WHERE kind = 'incident' ORDER BY seq")]
    assert len(queued) >= 2
    await ctx.calls.leave("tinh", actor="vanhanh")
