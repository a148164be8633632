"""The usage report at a province from its communes' records: rows, totals, period edges."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from controller.app import create_app
from controller.config import load_config
from controller.context import CONTEXT, SiteContext
from controller.periods import VIETNAM, parse_period
from controller.reports import build_report
from media.bridges.base import CallEvent
from monitoring.incidents import Incident
from tests.conftest import SECRET_TEXT, FakeClock, write_site_config

COMMUNES = ("xa-1", "xa-2", "xa-3")


@pytest.fixture
async def province(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SiteContext]:
    extra = ""
    for child in COMMUNES:
        (tmp_path / f"{child}.secret").write_text(SECRET_TEXT)
        (tmp_path / f"{child}.secret").chmod(0o600)
        extra += (f'[[children]]\nid = "{child}"\nname = "UBND {child}"\n'
                  f'credential_file = "{child}.secret"\n\n')
    config = load_config(write_site_config(tmp_path, site_id="tinh-a", level="province",
                                           extra=extra, with_uplink=False))
    app: web.Application = create_app(config, clock=clock, announce=lambda _text: None)
    yield app[CONTEXT]
    await app[CONTEXT].sessions.close()
    app[CONTEXT].store.close()


def vn(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=VIETNAM).timestamp()


SEQ = {"n": 0}


def attendance(site: str, session: str, start: float, *, attended: bool = True,
               late: bool = False, ready: bool | None = True, hours: float = 2.0,
               host_level: str = "province", state: str = "ended",
               joins: list[list[float]] | None = None) -> dict[str, Any]:
    SEQ["n"] += 1
    body = {"id": f"attendance:{session}:{site}", "session": session, "site": site,
            "site_name": f"UBND {site}", "site_level": "commune", "host_level": host_level,
            "state": state, "planned_start": start, "planned_end": start + 7200,
            "attended": attended, "late": late, "ready": ready, "hours_connected": hours,
            "joins": joins or [], "invited": True}
    return {"key": f"{site}:{SEQ['n']}", "origin": site, "seq": SEQ["n"],
            "kind": "usage.attendance", "at": start, "body": body}


async def test_rows_and_totals_over_the_subtree(province: SiteContext) -> None:
    june, july = vn("2026-06-14T23:00:00"), vn("2026-07-02T08:00:00")
    records = [
        attendance("xa-1", "s1", july, hours=1.5),
        attendance("xa-1", "s2", july + 86400, late=True, hours=2.0, host_level="central"),
        # xa-1 reconnected during s3: two joins, the hours add up.
        attendance("xa-1", "s3", july + 2 * 86400, hours=0.75,
                   joins=[[july, july + 1800], [july + 2000, july + 2900]]),
        attendance("xa-2", "s1", july, attended=False, ready=False, hours=0.0),
        attendance("xa-2", "s4", july + 3 * 86400, state="cancelled"),
        # Planned on the last evening of H1: not in H2.
        attendance("xa-3", "s0", june),
    ]
    for rec in records:
        province.outbox.receive([rec], via=str(rec["origin"]))
    # The same record again (a resend after a lost ack) counts once.
    province.outbox.receive([records[0]], via="xa-1")
    province.store.execute(
        "INSERT INTO incidents(id, origin, version, state, kind, severity, subject, opened_at,"
        " resolved_at, cause, body, updated_at) VALUES (?, ?, 1, 'resolved', 'uplink_down',"
        " 'major', 'uplink', ?, ?, NULL, '{}', 0)", ("i1", "xa-2", july, july + 3600))
    h2 = parse_period("2026-H2")
    report = build_report(province.config, province.store, h2, subtree=True)
    rows = {r["site"]: r for r in report["rows"]}
    assert list(rows) == ["tinh-a", "xa-1", "xa-2", "xa-3"]
    assert rows["xa-1"]["sessions_invited"] == 3
    assert rows["xa-1"]["sessions_attended"] == 3
    assert rows["xa-1"]["on_time_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert rows["xa-1"]["hours_connected"] == 4.2
    assert rows["xa-1"]["by_host_level"]["central"] == {"invited": 1, "attended": 1}
    assert rows["xa-2"]["sessions_invited"] == 1  # the cancelled one does not count
    assert rows["xa-2"]["attendance_rate"] == 0.0
    assert rows["xa-2"]["readiness_pass_rate"] == 0.0
    assert rows["xa-2"]["incidents"] == 1
    assert rows["xa-2"]["mttr_minutes"] == 60.0
    assert rows["xa-2"]["availability_percent"] < 100.0
    assert rows["xa-3"]["sessions_invited"] == 0  # its session was in H1
    totals = report["totals"]
    assert totals["sessions_invited"] == 4
    assert totals["sessions_attended"] == 3
    assert totals["attendance_rate"] == 0.75
    assert report["period"] == {"label": "2026-H2", "kind": "H2", "start": "2026-06-15",
                                "end": "2026-12-14", "cutoff_day": 15}
    h1 = build_report(province.config, province.store, parse_period("2026-H1"), subtree=True)
    assert {r["site"]: r["sessions_invited"] for r in h1["rows"]}["xa-3"] == 1
    own = build_report(province.config, province.store, h2, subtree=False)
    assert [r["site"] for r in own["rows"]] == ["tinh-a"]


async def test_a_session_ending_here_leaves_usage_records(province: SiteContext,
                                                          clock: FakeClock) -> None:
    sessions = province.sessions
    record = sessions.create({"title": "Giao ban", "participants": ["xa-1"],
                              "starts_at": clock() + 3 * 86400,
                              "ends_at": clock() + 3 * 86400 + 3600}, actor="chutri")
    sessions.approve(record.id, actor="chutri")
    await sessions.chair(record.id, "start", None, {}, actor="chutri")
    clock.advance(3600)
    await sessions.chair(record.id, "end", None, {}, actor="chutri")
    kinds = [r["kind"] for r in province.store.query("SELECT kind FROM usage ORDER BY kind")]
    assert kinds == ["usage.attendance", "usage.session"]
    incidents: list[Incident] = province.incidents.find()
    assert incidents == []


async def test_the_purge_keeps_what_an_unfiled_report_needs(province: SiteContext) -> None:
    from controller.usage import mark_filed, purge_usage

    old = vn("2020-07-02T08:00:00")  # H2 2020, long past the five-year retention
    older = vn("2020-03-02T08:00:00")  # H1 2020, never filed
    for rec in (attendance("xa-1", "p1", old), attendance("xa-1", "p0", older)):
        province.outbox.receive([rec], via="xa-1")
    now = vn("2026-11-22T08:00:00")
    assert purge_usage(province.store, province.config, now) == 0  # nothing filed yet
    h2 = parse_period("2020-H2")
    mark_filed(province.store, h2.label, h2.first.isoformat(), h2.last.isoformat(),
               by="kiemtoan", now=now)
    assert purge_usage(province.store, province.config, now) == 1
    left = [r["session_id"] for r in province.store.query("SELECT session_id FROM usage")]
    assert left == ["p0"]  # H1 2020 was never filed: kept


def test_the_cli_writes_the_report_in_each_format(tmp_path: Path) -> None:
    import subprocess

    from openpyxl import load_workbook

    from tests.conftest import run_cli

    config = write_site_config(tmp_path / "xa", site_id="xa-hoang-hop")
    out = {fmt: tmp_path / f"bao-cao.{fmt}" for fmt in ("json", "csv", "xlsx", "pdf")}
    for fmt, path in out.items():
        result = run_cli("report", "--config", str(config), "--period", "2026-H2",
                         "--format", fmt, "--out", str(path), "--number", "7/BC-UBND")
        assert result.returncode == 0, result.stderr
        assert "2026-H2" in result.stdout
    import json
    report = json.loads(out["json"].read_text(encoding="utf-8"))
    assert report["rows"][0]["site"] == "xa-hoang-hop"
    assert out["csv"].read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads the diacritics
    sheet = load_workbook(out["xlsx"]).worksheets[0]
    assert any("UBND xã Hoàng Hợp" in str(c.value) for row in sheet.iter_rows() for c in row)
    text = subprocess.run(["pdftotext", "-layout", str(out["pdf"]), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
    assert "BÁO CÁO" in text
    assert "7/BC-UBND" in text
    bad = run_cli("report", "--config", str(config), "--period", "2026-H3", "--out",
                  str(tmp_path / "x.pdf"))
    assert bad.returncode == 2
    assert "--period" in bad.stderr


async def test_the_api_serves_the_report_and_files_it(app_client: Any) -> None:
    from tests.conftest import app_of
    from tests.controller.test_auth import ADMIN_PASSWORD, login

    ctx = app_of(app_client)[CONTEXT]
    ctx.accounts.add("kiemtoan", ADMIN_PASSWORD, "auditor", actor="test")
    csrf = {"X-CSRF-Token": (await login(app_client, "kiemtoan"))["csrf_token"]}
    resp = await app_client.get("/api/v1/reports?period=2026-H2&format=pdf&scope=site")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/pdf"
    assert 'filename="bao-cao-xa-hoang-hop-2026-H2.pdf"' in resp.headers["Content-Disposition"]
    assert (await resp.read()).startswith(b"%PDF")
    body = await (await app_client.get("/api/v1/reports?period=2026")).json()
    assert body["period"]["kind"] == "year"
    bad = await app_client.get("/api/v1/reports?period=2026-H9")
    assert bad.status == 400
    assert (await bad.json())["error"]["code"] == "bad_period"
    filed = await app_client.post("/api/v1/reports/filed", json={"period": "2026-H2"},
                                  headers=csrf)
    assert filed.status == 200
    actions = [e.action for e in ctx.audit.entries(limit=10)]
    assert "report.filed" in actions
    assert "report.generate" in actions


async def test_device_snapshots_show_upkeep_due_per_site(province: SiteContext) -> None:
    july = vn("2026-07-02T08:00:00")
    for day, hours in ((0, 1990), (30, 2050)):
        SEQ["n"] += 1
        body = {"id": f"device:xa-1:{day}", "site": "xa-1", "at": july + day * 86400,
                "devices": [{"id": "proj", "kind": "projector", "lamp_hours": [hours]},
                            {"id": "ups", "kind": "power", "battery_status": "low"}]}
        province.outbox.receive([{"key": f"xa-1:{SEQ['n']}", "origin": "xa-1",
                                  "seq": SEQ["n"], "kind": "usage.device",
                                  "at": july + day * 86400, "body": body}], via="xa-1")
    report = build_report(province.config, province.store, parse_period("2026-H2"),
                          subtree=True)
    row = {r["site"]: r for r in report["rows"]}["xa-1"]
    assert row["lamp_hours"] == 2050  # the latest snapshot
    assert row["ups_battery"] == "low"
    assert len(row["maintenance_due"]) == 2


async def test_a_call_that_drops_and_recovers_is_two_stretches_connected(
        tmp_path: Path, clock: FakeClock) -> None:
    (tmp_path / "xa-1.secret").write_text(SECRET_TEXT)
    (tmp_path / "xa-1.secret").chmod(0o600)
    extra = ('[[children]]\nid = "xa-1"\ncredential_file = "xa-1.secret"\n\n'
             '[[bridges]]\nid = "tinh"\nkind = "janus-videoroom"\n'
             'url = "http://127.0.0.1:9/janus"\nroom = 1\n')
    config = load_config(write_site_config(tmp_path, site_id="tinh-a", level="province",
                                           extra=extra, with_uplink=False))
    ctx = create_app(config, clock=clock, announce=lambda _text: None)[CONTEXT]
    try:
        sessions = ctx.sessions
        record = sessions.create({"title": "Giao ban", "participants": ["xa-1"],
                                  "starts_at": clock() + 5 * 86400,
                                  "ends_at": clock() + 5 * 86400 + 7200}, actor="chutri")
        sessions.approve(record.id, actor="chutri")
        await sessions.chair(record.id, "start", None, {}, actor="chutri")
        # As join() leaves it: in the call, one join on record.
        sessions._update_own(record.id, in_call=True)
        sessions._event(record.id, "tinh-a", "joined", bridge="tinh")
        clock.advance(1200)
        for call in ctx.calls.event_listeners:
            call("tinh", CallEvent("c1", "dropped", clock()))
        clock.advance(60)
        for call in ctx.calls.event_listeners:
            call("tinh", CallEvent("c1", "recovered", clock()))
        clock.advance(1800)
        await sessions.chair(record.id, "end", None, {}, actor="chutri")
        row = ctx.store.query_one("SELECT body FROM usage WHERE kind = 'usage.attendance'")
        assert row is not None
        body = json.loads(row["body"])
        assert len(body["joins"]) == 2
        assert body["hours_connected"] == pytest.approx(3000 / 3600, abs=1e-3)
    finally:
        await ctx.sessions.close()  # the chair's own readiness check may still run
        ctx.store.close()


async def test_a_commune_added_mid_period_gets_its_own_row(province: SiteContext) -> None:
    # xa-9 joined the province in October: not configured here yet, its records name it.
    october = vn("2026-10-20T08:00:00")
    for i in range(4):
        province.outbox.receive([attendance("xa-9", f"m{i}", october + i * 86400,
                                            attended=i != 3)], via="xa-9")
    report = build_report(province.config, province.store, parse_period("2026-H2"),
                          subtree=True)
    row = {r["site"]: r for r in report["rows"]}["xa-9"]
    assert row["name"] == "UBND xa-9"
    assert (row["sessions_invited"], row["sessions_attended"]) == (4, 3)
    assert row["attendance_rate"] == 0.75  # over its own invitations, not the whole period
    assert report["totals"]["sites"] == 5
