"""A session's readiness check makes a short test join to a real Janus; join and leave."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from controller.app import create_app
from controller.config import load_config
from controller.context import CONTEXT
from tests.conftest import SECRET_TEXT, Client, app_of, write_site_config
from tests.controller.test_auth import ADMIN_PASSWORD, login
from tests.peers.janus import OPEN_ROOM, JanusLab, janus_lab, lab_netns
from tests.peers.netns import LabNetns, in_lab_netns

__all__ = ["in_lab_netns", "janus_lab", "lab_netns"]


@pytest.fixture
async def chair_site(tmp_path: Path, janus_lab: JanusLab,
                     in_lab_netns: LabNetns) -> AsyncIterator[Client]:
    (tmp_path / "xa-mot.secret").write_text(SECRET_TEXT)
    (tmp_path / "xa-mot.secret").chmod(0o600)
    extra = (f'[media]\nwidth = 320\nheight = 180\nfps = 10\n\n'
             '[sessions]\ntest_join_seconds = 1\n\n'
             '[[children]]\nid = "xa-mot"\ncredential_file = "xa-mot.secret"\n\n'
             f'[[bridges]]\nid = "tinh"\nname = "Cầu tỉnh"\nkind = "janus-videoroom"\n'
             f'url = "{janus_lab.url}"\nroom = {OPEN_ROOM}\n')
    config = load_config(write_site_config(tmp_path, site_id="tinh-a", level="province",
                                           extra=extra, with_uplink=False))
    app = create_app(config, announce=lambda _text: None)
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    app[CONTEXT].accounts.add("chutri", ADMIN_PASSWORD, "chair", actor="test")
    try:
        yield client
    finally:
        await client.close()


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


async def _post(client: Client, csrf: dict[str, str], path: str,
                body: dict[str, Any] | None = None) -> Any:
    resp = await client.post(path, json=body or {}, headers=csrf)
    assert resp.status in (200, 201), await resp.text()
    return await resp.json()


async def test_readiness_test_joins_the_bridge_and_the_chair_joins(chair_site: Client) -> None:
    csrf = {"X-CSRF-Token": (await login(chair_site, "chutri"))["csrf_token"]}
    now = time.time()
    created = await _post(chair_site, csrf, "/api/v1/sessions", {
        "title": "Giao ban", "participants": ["xa-mot"], "bridge": "tinh",
        "starts_at": _iso(now + 1800), "ends_at": _iso(now + 3600)})
    session_id = created["id"]
    await _post(chair_site, csrf, f"/api/v1/sessions/{session_id}/approve")
    # Thirty minutes ahead is inside the 60-minute lead: readiness begins on approval, and
    # the chair site, a site of the session too, runs its own check with a test join.
    result = await _post(chair_site, csrf, f"/api/v1/sessions/{session_id}/readiness")
    checks = {i["check"]: i for i in result["readiness"]["items"]}
    assert checks["bridge"]["ok"] is True, checks["bridge"]
    assert "thành công" in checks["bridge"]["detail"]
    calls = app_of(chair_site)[CONTEXT].store.query(
        "SELECT started_by, end_reason FROM calls")
    assert [(c["started_by"], c["end_reason"]) for c in calls] == [("readiness", "left")]

    # A command to the commune, which is not connected, fails at once and says why.
    resp = await chair_site.post(f"/api/v1/sessions/{session_id}/chair", headers=csrf,
                                 json={"action": "mute", "site": "xa-mot", "args": {"on": True}})
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "site_offline"

    await _post(chair_site, csrf, f"/api/v1/sessions/{session_id}/chair", {"action": "start"})
    joined = await _post(chair_site, csrf, f"/api/v1/sessions/{session_id}/join")
    assert joined["call"] is not None
    session = await (await chair_site.get(f"/api/v1/sessions/{session_id}")).json()
    assert session["my_status"]["in_call"] is True
    await _post(chair_site, csrf, f"/api/v1/sessions/{session_id}/leave")
    session = await (await chair_site.get(f"/api/v1/sessions/{session_id}")).json()
    assert session["my_status"]["in_call"] is False
