"""Incidents across real ``diemcau run`` processes: a commune's projector fails, the province
knows; the officer's actions and reports follow; nothing is lost while the province is down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.peers.simulators import start_simulator, stop_simulator
from tests.peers.tree import Console, eventually, running_tree

pytestmark = pytest.mark.subprocess

SHAPE = {"tinh-a": ("province", None), "xa-mot": ("commune", "tinh-a")}


async def _incidents(console: Console, **query: str) -> list[dict[str, Any]]:
    text = "&".join(f"{k}={v}" for k, v in query.items())
    body = await console.get(f"/api/v1/incidents?{text}")
    found: list[dict[str, Any]] = body["incidents"]
    return found


async def _one(console: Console, kind: str, state: str | None = None) -> dict[str, Any] | None:
    for incident in await _incidents(console):
        if incident["kind"] == kind and (state is None or incident["state"] == state):
            return incident
    return None


async def test_a_device_incident_travels_up_and_resolves_at_both_ends(tmp_path: Path) -> None:
    with running_tree(tmp_path, SHAPE, rooms={"xa-mot"}) as sites:
        province, commune = sites["tinh-a"], sites["xa-mot"]
        async with Console(province, "quantri") as upper, Console(commune, "vanhanh") as officer:
            await eventually(lambda: _child_online(upper), what="xa-mot online")
            projector = commune.sims["projector"]
            port = projector.port
            stop_simulator(projector)

            opened = await eventually(lambda: _one(officer, "device_offline"), seconds=20,
                                      what="the incident at the commune")
            assert opened["subject"] == "device:proj1"
            assert opened["origin"] == "xa-mot"
            assert opened["state"] == "open"
            at_province = await eventually(lambda: _one(upper, "device_offline"),
                                           what="the incident at the province")
            assert at_province["id"] == opened["id"]

            await officer.post(f"/api/v1/incidents/{opened['id']}/acknowledge")
            await officer.post(f"/api/v1/incidents/{opened['id']}/note",
                               {"text": "Đã gọi kỹ thuật viên kiểm tra máy chiếu."})
            await eventually(lambda: _one(upper, "device_offline", "acknowledged"),
                             what="acknowledged at the province")
            # The province sees it, but the commune handles its own incidents.
            async with Console(province, "vanhanh") as province_officer:
                refused = await province_officer.post(
                    f"/api/v1/incidents/{opened['id']}/resolve", {}, expect=409)
            assert refused["error"]["code"] == "not_origin"

            commune.sims["projector"] = start_simulator(
                "endpoints.sim.pjlink", "--host", "127.0.0.1", "--port", str(port))
            resolved = await eventually(lambda: _one(upper, "device_offline", "resolved"),
                                        seconds=20, what="resolved at the province")
            assert resolved["time_to_restore"] > 0
            detail = await upper.get(f"/api/v1/incidents/{opened['id']}")
            kinds = [t["type"] for t in detail["timeline"]]
            assert kinds[0] == "onset"
            assert "note" in kinds
            assert kinds[-1] == "resolved"

            # The province is down for a while: the officer's report waits, then arrives once.
            assert province.stop() == 0
            reported = await officer.post("/api/v1/incidents", {
                "title": "Mất tiếng micro đại biểu", "description": "Micro số 2 không có tiếng",
                "severity": "minor"}, expect=201)
            province.start()
            async with Console(province, "quantri") as again:
                arrived = await eventually(lambda: _one(again, "manual"), seconds=30,
                                           what="the report after the province came back")
                assert arrived["id"] == reported["id"]
                assert len([i for i in await _incidents(again) if i["kind"] == "manual"]) == 1


async def _child_online(console: Console) -> bool:
    site = await console.get("/api/v1/site")
    return any(c["id"] == "xa-mot" and c["state"] == "online" for c in site["children"])
