"""Driving room devices through the API, against simulators in their own processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from controller.app import create_app
from controller.config import load_config
from controller.context import CONTEXT, SiteContext
from tests.conftest import Client, FakeClock, app_of, free_port, write_site_config
from tests.controller.test_auth import ADMIN_PASSWORD, login
from tests.peers.simulators import Simulator, room_devices_config, room_simulators


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, Simulator]]:
    with room_simulators() as running:
        yield running


@pytest.fixture
async def room(tmp_path: Path, sims: dict[str, Simulator]) -> AsyncIterator[Client]:
    dead_port = free_port()
    extra = room_devices_config(sims, poll_interval=1) + (
        f'\n[[devices]]\nid = "cam-dead"\nkind = "camera"\nprotocol = "visca-ip"\n'
        f'host = "127.0.0.1"\nport = {dead_port}\ntimeout = 0.3\n'
        '\n[[devices]]\nid = "ups-x"\nkind = "power"\nprotocol = "snmp"\nhost = "127.0.0.1"\n'
        'version = "2c"\nprofile = "no-such-profile"\n')
    config = load_config(write_site_config(tmp_path, extra=extra))
    app = create_app(config, clock=FakeClock(), announce=lambda _text: None)
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    ctx = app[CONTEXT]
    ctx.accounts.add("vanhanh", ADMIN_PASSWORD, "operator", actor="test")
    ctx.accounts.add("xem", ADMIN_PASSWORD, "viewer", actor="test")
    try:
        yield client
    finally:
        await client.close()


def ctx(client: Client) -> SiteContext:
    return app_of(client)[CONTEXT]


async def operator(client: Client) -> dict[str, str]:
    body = await login(client, "vanhanh")
    return {"X-CSRF-Token": body["csrf_token"]}


async def command(client: Client, headers: dict[str, str], device: str, command_name: str,
                  **args: Any) -> tuple[int, dict[str, Any]]:
    resp = await client.post(f"/api/v1/devices/{device}/commands", headers=headers,
                             json={"command": command_name, "args": args})
    body: dict[str, Any] = await resp.json()
    return resp.status, body


async def wait_state(client: Client, device: str, state: str) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        body: dict[str, Any] = await (await client.get(f"/api/v1/devices/{device}")).json()
        if body["state"] == state:
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{device} stayed {body['state']}: {body}")
        await asyncio.sleep(0.1)


async def test_devices_come_online_and_a_dead_one_goes_offline(room: Client) -> None:
    await login(room, "xem")
    for device in ("cam1", "proj1", "mix1"):
        body = await wait_state(room, device, "online")
        assert body["readings"], body
    dead = await wait_state(room, "cam-dead", "offline")
    assert dead["last_error"]
    unusable = await (await room.get("/api/v1/devices/ups-x")).json()
    assert unusable["state"] == "unusable"
    listing = await (await room.get("/api/v1/devices")).json()
    assert [d["id"] for d in listing["devices"]] == ["cam1", "proj1", "mix1", "cam-dead", "ups-x"]
    metrics = await (await room.get("/metrics")).text()
    assert 'diemcau_device_up{device="cam1",kind="camera"} 1.0' in metrics
    assert 'diemcau_device_up{device="cam-dead",kind="camera"} 0.0' in metrics
    events = ctx(room).store.query("SELECT device_id, event FROM device_events")
    assert ("cam-dead", "offline") in {(r["device_id"], r["event"]) for r in events}


async def test_presets_store_with_a_name_and_recall_moves_the_camera(room: Client) -> None:
    headers = await operator(room)
    await wait_state(room, "cam1", "online")
    assert (await command(room, headers, "cam1", "power", on=True))[0] == 200
    status, _ = await command(room, headers, "cam1", "ptz.absolute", pan=0.5, tilt=-0.25)
    assert status == 200
    status, body = await command(room, headers, "cam1", "preset.store", preset=2,
                                 name="Chủ toạ")
    assert status == 200, body
    await command(room, headers, "cam1", "home")
    home = (await command(room, headers, "cam1", "position"))[1]["result"]
    assert abs(home["pan"]) < 0.01
    assert (await command(room, headers, "cam1", "preset.recall", preset=2))[0] == 200
    where = (await command(room, headers, "cam1", "position"))[1]["result"]
    assert where["pan"] == pytest.approx(0.5, abs=0.01)
    assert where["tilt"] == pytest.approx(-0.25, abs=0.01)
    device = await (await room.get("/api/v1/devices/cam1")).json()
    assert {"preset": 2, "name": "Chủ toạ"} in device["presets"]
    audit = [e for e in ctx(room).audit.entries(limit=100) if e.action == "device.command"]
    commands = [e.details["command"] for e in audit]
    assert "preset.store" in commands
    assert "position" not in commands  # reads are not audited, changes are
    assert all(e.actor == "vanhanh" for e in audit)


async def test_camera_in_standby_refuses_ptz_in_plain_words(room: Client) -> None:
    headers = await operator(room)
    await wait_state(room, "cam1", "online")
    assert (await command(room, headers, "cam1", "power", on=False))[0] == 200
    status, body = await command(room, headers, "cam1", "ptz.move", pan=1, tilt=0, speed=0.5)
    assert status == 409
    assert body["error"]["message"].startswith("Camera phòng họp")
    assert "detail" in body["error"]
    refused = ctx(room).audit.entries(limit=1)[0]
    assert refused.action == "device.command"
    assert refused.result == "error"
    assert (await command(room, headers, "cam1", "power", on=True))[0] == 200


async def test_projector_and_mixer(room: Client) -> None:
    headers = await operator(room)
    await wait_state(room, "proj1", "online")
    await wait_state(room, "mix1", "online")
    assert (await command(room, headers, "proj1", "power", on=True))[0] == 200
    status, body = await command(room, headers, "mix1", "mute", channel=1, on=True)
    assert status == 200, body
    status, body = await command(room, headers, "mix1", "gain", channel=2, db=-6.5)
    assert status == 200, body
    mixer = ctx(room).devices
    poller = mixer._managed("mix1").poller
    assert poller is not None
    await poller.poll_once()
    channels = {c["channel"]: c for c in poller.state.readings["channels"]}
    assert channels[1]["muted"] is True
    assert channels[2]["gain_db"] == pytest.approx(-6.5)
    status, body = await command(room, headers, "mix1", "mute", channel=99, on=True)
    assert status == 400
    assert body["error"]["code"] == "bad_command_args"


@pytest.mark.parametrize(("device", "payload", "status", "code"), [
    ("nope", {"command": "home"}, 404, "device_not_found"),
    ("cam1", {"command": "launch"}, 400, "unsupported_command"),
    ("cam1", {"command": "ptz.move", "args": {"pan": 3}}, 400, "bad_command_args"),
    ("cam1", {"command": "preset.recall", "args": {"preset": "two"}}, 400, "bad_command_args"),
    ("cam1", {"command": "home", "args": []}, 400, "bad_field"),
    ("cam1", {"args": {}}, 400, "missing_field"),
    ("proj1", {"command": "mute", "args": {"channel": 1, "on": True}}, 400,
     "unsupported_command"),
    ("cam-dead", {"command": "home"}, 424, "device_unreachable"),
    ("ups-x", {"command": "status"}, 409, "device_unusable"),
])
async def test_bad_commands_get_clear_errors(room: Client, device: str, payload: dict[str, Any],
                                             status: int, code: str) -> None:
    headers = await operator(room)
    resp = await room.post(f"/api/v1/devices/{device}/commands", headers=headers, json=payload)
    body = await resp.json()
    assert resp.status == status, body
    assert body["error"]["code"] == code
    assert body["error"]["message"]


async def test_viewer_cannot_command(room: Client) -> None:
    body = await login(room, "xem")
    resp = await room.post("/api/v1/devices/cam1/commands", json={"command": "home"},
                           headers={"X-CSRF-Token": body["csrf_token"]})
    assert resp.status == 403
