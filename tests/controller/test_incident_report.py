"""The one-page incident report: one data dict, as JSON, HTML (escaped) and a one-page PDF."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from controller import incident_report
from controller.errors import DependencyFailedError
from controller.incident_report import render_html, render_pdf, report_csp, report_data
from monitoring.incidents import Incident, Onset
from tests.conftest import Client, FakeClock
from tests.controller.test_auth import add_user, ctx_of, login

HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
START = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC, 21:13 in Vietnam


def _incident() -> Incident:
    """A serious link incident with samples, recovery steps, notes and a resolution."""
    samples = [[START - 9 + i, v] for i, v in enumerate((3.9, 3.5, 3.0, 2.6, 2.4))]
    incident = Incident(id="xa-hoang-hop-1790000000-abc123", origin="xa-hoang-hop",
                        kind="mos_low", subject="link:tinh:receive:video", severity="critical",
                        title="Chất lượng hội nghị kém (MOS thấp)", opened_at=START,
                        session="ses-1")
    incident = incident.note(START, "onset", "Chất lượng hội nghị kém (MOS thấp) (2.4)",
                             samples=samples)
    incident = incident.note(START + 20, "recovery", "recovery_step",
                             data={"attempt": 1, "delay": 0.5})
    incident = incident.note(START + 25, "recovery", "recovered", data={"downtime_s": 5})
    incident = incident.acknowledge(START + 60, "vanhanh")
    incident = incident.note(START + 90, "note", HOSTILE, by="vanhanh")
    return incident.resolve(START + 725, "vanhanh", "Khởi động lại bộ định tuyến")


def _data(**overrides: Any) -> dict[str, Any]:
    devices = [
        {"id": "proj1", "name": "Máy chiếu <b>phòng họp</b>", "kind": "projector",
         "state": "online", "readings": {"power": "on", "lamp_hours": [1234],
                                         "errors": {"lamp": "warning", "fan": "ok"}}},
        {"id": "ups1", "name": "UPS", "kind": "power", "state": "offline",
         "last_error": "timeout\x1b[31m", "readings": {"on_battery": True, "charge_percent": 64}},
    ]
    args: dict[str, Any] = {
        "site": {"id": "xa-hoang-hop", "name": "UBND xã Hoàng Hợp", "level": "commune"},
        "here": {"id": "xa-hoang-hop", "name": "UBND xã Hoàng Hợp"},
        "session": {"title": "Hội nghị giao ban tháng 9", "starts_at": START - 600,
                    "ends_at": START + 3600},
        "devices": devices, "now": START + 30 * 3600, "author": "vanhanh"}
    args.update(overrides)
    return report_data(_incident(), **args)


def test_the_data_says_what_happened_in_vietnamese_and_vietnam_time() -> None:
    data = _data()
    assert data["site"] == {"id": "xa-hoang-hop", "name": "UBND xã Hoàng Hợp",
                            "level": "commune", "level_text": "Xã, phường, đặc khu"}
    assert data["session"]["title"] == "Hội nghị giao ban tháng 9"
    assert data["session"]["starts"]["local"] == "21/09/2026 21:03"
    assert data["times"]["opened"] == {"at": "2026-09-21T14:13:20Z", "local": "21/09/2026 21:13"}
    assert data["times"]["acknowledged"]["local"] == "21/09/2026 21:14"
    assert data["times"]["resolved_by"] == "vanhanh"
    assert data["incident"]["state_text"] == "Đã xử lý"
    assert data["incident"]["severity_text"] == "Nghiêm trọng"
    assert data["symptoms"]["where"] == \
        "Đường truyền hình ảnh chiều nhận qua cầu hội nghị tinh"
    assert data["metrics"]["label"].startswith("Điểm chất lượng MOS")
    assert [s["value"] for s in data["metrics"]["samples"]] == [3.9, 3.5, 3.0, 2.6, 2.4]
    assert data["metrics"]["samples"][-1]["local"] == "21/09/2026 21:13:15"
    assert data["time_to_restore"] == {"seconds": 725.0, "text": "12 phút 5 giây"}
    assert [a["type"] for a in data["actions"]] == [
        "onset", "recovery", "recovery", "acknowledged", "resolved"]
    assert data["actions"][1]["text"] == "Tự kết nối lại, lần thứ 1"
    assert data["actions"][2]["text"] == "Đã kết nối lại sau 5 giây gián đoạn"
    assert data["notes"] == [{"at": "2026-09-21T14:14:50Z", "local": "21/09/2026 21:14",
                              "type": "note", "type_text": "Ghi chú", "by": "vanhanh",
                              "text": HOSTILE}]
    projector, ups = data["devices"]
    assert projector["state_text"] == "Hoạt động"
    assert {"label": "Số giờ dùng đèn", "value": "1234 giờ"} in projector["readings"]
    assert {"label": "Báo lỗi của máy", "value": "lamp (cảnh báo)"} in projector["readings"]
    assert ups["state_text"] == "Mất kết nối"
    assert {"label": "Pin còn", "value": "64%"} in ups["readings"]
    assert "\x1b" not in ups["last_error"]  # device strings are sanitised
    # 30 hours on: the 24-hour notice is late, the 72-hour report is not yet.
    clocks = data["clocks"]
    assert clocks["applies"] is True
    assert clocks["overdue"] == ["notice"]
    assert clocks["notice"]["overdue"] is True
    assert clocks["notice"]["due"]["local"] == "22/09/2026 21:13"
    assert clocks["report"]["overdue"] is False


def test_the_html_is_self_contained_and_escapes_what_it_did_not_write() -> None:
    page = render_html(_data())
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "<img" not in page
    assert "Máy chiếu &lt;b&gt;phòng họp&lt;/b&gt;" in page
    assert "BÁO CÁO SỰ CỐ ĐIỂM CẦU TRỰC TUYẾN" in page
    assert "Độc lập - Tự do - Hạnh phúc" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # no external assets
    assert 'class="late"' in page  # the overdue notice shows in red


async def _served_incident(app_client: Client, clock: FakeClock) -> tuple[str, dict[str, str]]:
    """An incident of the in-process site, handled through the service; an operator logs in."""
    ctx = ctx_of(app_client)
    samples = ((clock.now - 2, 4.0), (clock.now - 1, 2.9), (clock.now, 2.5))
    incident = ctx.incidents.open(Onset("mos_low", "link:tinh:receive:audio", clock.now,
                                        "critical", "Chất lượng hội nghị kém (MOS thấp)", 2.5,
                                        samples))
    clock.advance(40)
    ctx.incidents.acknowledge(incident.id, actor="vanhanh")
    ctx.incidents.add_note(incident.id, HOSTILE, actor="vanhanh")
    clock.advance(300)
    ctx.incidents.resolve(incident.id, "Đã thay cáp mạng", actor="vanhanh")
    add_user(app_client, "quantri", "admin")
    add_user(app_client, "xem", "viewer")
    csrf = (await login(app_client, "xem"))["csrf_token"]
    return incident.id, {"X-CSRF-Token": csrf}


async def test_the_route_serves_json_and_html_with_its_own_policy(
        app_client: Client, clock: FakeClock) -> None:
    incident_id, _ = await _served_incident(app_client, clock)
    url = f"/api/v1/incidents/{incident_id}/report"
    resp = await app_client.get(url, params={"format": "json"})
    assert resp.status == 200
    assert resp.content_type == "application/json"
    data = await resp.json()
    assert data["site"]["name"] == "UBND xã Hoàng Hợp"
    assert data["time_to_restore"]["text"] == "5 phút 40 giây"
    assert data["generated"]["by"] == "xem"
    assert data["devices"] == []
    assert data["devices_note"]
    assert [n["text"] for n in data["notes"]] == [HOSTILE]

    resp = await app_client.get(url)  # HTML is the default
    assert resp.status == 200
    assert resp.content_type == "text/html"
    page = await resp.text()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    # The console's policy would block the inline style; the report allows exactly it.
    assert resp.headers["Content-Security-Policy"] == report_csp()
    assert "default-src 'none'" in report_csp()
    assert "'sha256-" in report_csp()

    resp = await app_client.get(url, params={"format": "docx"})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "bad_query"
    resp = await app_client.get("/api/v1/incidents/khong-co/report")
    assert resp.status == 404


async def test_the_pdf_is_one_page_with_vietnamese_text(
        app_client: Client, clock: FakeClock, tmp_path: Path) -> None:
    incident_id, _ = await _served_incident(app_client, clock)
    resp = await app_client.get(f"/api/v1/incidents/{incident_id}/report",
                                params={"format": "pdf"})
    assert resp.status == 200
    assert resp.content_type == "application/pdf"
    assert resp.headers["Content-Disposition"] == \
        f'attachment; filename="bao-cao-su-co-{incident_id}.pdf"'
    check_pdf(await resp.read(), tmp_path, "5 phút 40 giây", "Đã thay cáp mạng")


def test_a_full_report_with_devices_and_samples_still_fits_one_page(tmp_path: Path) -> None:
    check_pdf(render_pdf(_data()), tmp_path, "Hội nghị giao ban tháng 9", "Số giờ dùng đèn",
              "Pin còn: 64%", "QUÁ HẠN", "12 phút 5 giây")


def test_a_missing_font_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    monkeypatch.setattr(incident_report, "FONT_DIR", tmp_path)
    incident_report.register_fonts.cache_clear()
    try:
        with pytest.raises(DependencyFailedError) as caught:
            render_pdf(_data())
    finally:
        incident_report.register_fonts.cache_clear()
    assert caught.value.code == "report_font_missing"
    assert "fonts-dejavu-core" in caught.value.message


def check_pdf(data: bytes, tmp_path: Path, *expected_text: str) -> None:
    """One page drawn (pdftoppm), the headings and diacritics extractable (pdftotext)."""
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(data)
    assert pdf.read_bytes().startswith(b"%PDF-")

    subprocess.run(["pdftoppm", "-png", "-r", "50", str(pdf), str(tmp_path / "page")],
                   check=True, timeout=30)
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) == 1, pages
    assert pages[0].stat().st_size > 5000  # something was drawn

    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, timeout=30,
                          capture_output=True, text=True).stdout
    for expected in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
                     "BÁO CÁO SỰ CỐ ĐIỂM CẦU TRỰC TUYẾN", "UBND xã Hoàng Hợp",
                     "Thời gian khắc phục", "Ghi chú của cán bộ vận hành",
                     '<script>alert("x")</script>', *expected_text):
        assert expected in text, expected
