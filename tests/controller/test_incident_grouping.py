"""A province groups its communes' incidents under one cause as their records arrive."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from controller.app import create_app
from controller.config import load_config
from controller.context import CONTEXT, SiteContext
from monitoring.incidents import Incident, Onset
from tests.conftest import SECRET_TEXT, FakeClock, write_site_config

COMMUNES = ("xa-1", "xa-2", "xa-3", "xa-4")


@pytest.fixture
async def province(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SiteContext]:
    extra = ""
    for child in COMMUNES:
        (tmp_path / f"{child}.secret").write_text(SECRET_TEXT)
        (tmp_path / f"{child}.secret").chmod(0o600)
        extra += f'[[children]]\nid = "{child}"\ncredential_file = "{child}.secret"\n\n'
    config = load_config(write_site_config(tmp_path, site_id="tinh-a", level="province",
                                           extra=extra, with_uplink=False))
    app: web.Application = create_app(config, clock=clock, announce=lambda _text: None)
    yield app[CONTEXT]
    await app[CONTEXT].sessions.close()
    app[CONTEXT].store.close()


def record(origin: str, seq: int, incident: Incident) -> dict[str, Any]:
    return {"key": f"{origin}:{seq}", "origin": origin, "seq": seq, "kind": "incident",
            "at": incident.opened_at, "body": incident.to_dict()}


def commune_incident(origin: str, kind: str, at: float, *, resolved: float | None = None,
                     version: int = 1) -> Incident:
    inc = Incident(id=f"{origin}-{kind}", origin=origin, kind=kind, subject=f"call:{origin}",
                   severity="critical", title=kind, opened_at=at, version=version)
    return inc.resolve(resolved, "system") if resolved is not None else inc


async def test_communes_losing_the_conference_together_are_one_outage(
        province: SiteContext, clock: FakeClock) -> None:
    now = clock()
    for seq, origin in enumerate(COMMUNES[:3], start=1):
        province.outbox.receive([record(origin, seq, commune_incident(
            origin, "call_dropped", now))], via=origin)
        clock.advance(5)
    found = {i.id: i for i in province.incidents.find(limit=50)}
    outages = [i for i in found.values() if i.kind == "conference_outage"]
    assert len(outages) == 1
    outage = outages[0]
    assert outage.origin == "tinh-a"
    assert {found[f"{c}-call_dropped"].cause for c in COMMUNES[:3]} == {outage.id}
    # Its changes go up like any of the province's own incidents.
    assert province.outbox.received(kind="incident", origin="tinh-a")

    # A fourth commune's drop in that minute joins the same cause.
    province.outbox.receive([record("xa-4", 9, commune_incident("xa-4", "no_media", now + 20))],
                            via="xa-4")
    assert province.incidents.require("xa-4-no_media").cause == outage.id

    # Everyone recovers: the outage resolves by itself.
    clock.advance(60)
    for seq, origin in enumerate(COMMUNES[:3], start=10):
        province.outbox.receive([record(origin, seq, commune_incident(
            origin, "call_dropped", now, resolved=clock(), version=2))], via=origin)
    province.outbox.receive([record("xa-4", 20, commune_incident(
        "xa-4", "no_media", now + 20, resolved=clock(), version=2))], via="xa-4")
    assert province.incidents.require(outage.id).state == "resolved"


async def test_a_commune_offline_at_the_province_is_the_cause_of_what_it_reports_later(
        province: SiteContext, clock: FakeClock) -> None:
    start = clock()
    lost = province.incidents.open(Onset("child_offline", "child:xa-2", start, "major",
                                         "Điểm cầu cấp dưới mất kết nối"))
    clock.advance(600)
    province.incidents.resolve(lost.id, "", actor="system")
    uplink_down = Incident(id="xa-2-uplink", origin="xa-2", kind="uplink_down",
                           subject="uplink", severity="major", title="x", opened_at=start + 40)
    province.outbox.receive([record("xa-2", 1, uplink_down)], via="xa-2")
    assert province.incidents.require("xa-2-uplink").cause == lost.id
    alone = Incident(id="xa-3-device", origin="xa-3", kind="device_offline",
                     subject="device:cam1", severity="major", title="x", opened_at=start + 40)
    province.outbox.receive([record("xa-3", 1, alone)], via="xa-3")
    assert province.incidents.require("xa-3-device").cause is None


async def test_children_dropping_together_are_one_outage_but_a_restart_is_not(
        province: SiteContext, clock: FakeClock) -> None:
    incidents = province.incidents
    for _ in range(20):  # just started: nobody connected yet, and all within the grace
        incidents.evaluate(clock())
        clock.advance(1)
    assert incidents.find() == []
    for child in COMMUNES:
        province.tree.child_online(child, True, {})
    incidents.evaluate(clock())
    for child in COMMUNES[:3]:
        province.tree.child_online(child, False, {})
    incidents.evaluate(clock())
    outage = next(i for i in incidents.find() if i.kind == "mass_outage")
    assert outage.state == "open"
    assert not [i for i in incidents.find() if i.kind == "child_offline"]  # a short blip
    clock.advance(31)
    incidents.evaluate(clock())
    lost = [i for i in incidents.find() if i.kind == "child_offline"]
    assert sorted(i.subject for i in lost) == [f"child:{c}" for c in COMMUNES[:3]]
    assert {i.cause for i in lost} == {outage.id}
    for child in COMMUNES[:3]:
        province.tree.child_online(child, True, {})
    clock.advance(1)
    incidents.evaluate(clock())
    assert {i.state for i in incidents.find()} == {"resolved"}


async def test_a_long_timeline_still_fits_a_record(province: SiteContext) -> None:
    incident = province.incidents.report_problem("Mất tiếng", "", "minor", actor="vanhanh")
    for i in range(120):
        province.incidents.add_note(incident.id, f"Ghi chú {i}: " + "kiểm tra đường dây " * 50,
                                    actor="vanhanh")
    kept = province.incidents.require(incident.id)
    assert len([t for t in kept.timeline if t["type"] == "note"]) == 120  # all kept here
    latest = province.outbox.received(kind="incident", origin="tinh-a")[-1].body
    assert latest["timeline_truncated"] is True
    assert latest["timeline"][0]["type"] == "onset"
    assert latest["timeline"][-1]["text"].startswith("Ghi chú 119")
