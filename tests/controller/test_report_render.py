"""The usage report as CSV, XLSX and PDF: what an officer opening each file would see."""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from controller import report_render
from controller.report_render import CSV_COLUMNS, FORMATS, to_csv, to_pdf, to_xlsx

LEVELS = ("central", "province", "district", "commune")
COUNTS = ("sessions_invited", "sessions_attended", "sessions_hosted", "incidents")


def site_row(index: int, *, site: str, name: str, level: str, parent: str | None) -> dict[str, Any]:
    invited = 40 + index % 7
    attended = invited - index % 3
    split = {"central": 4, "province": 20, "district": 0, "commune": invited - 24}
    return {
        "site": site, "name": name, "level": level, "parent": parent,
        "sessions_invited": invited, "sessions_attended": attended,
        "by_host_level": {lv: {"invited": n, "attended": n - (index % 3 if lv == "commune" else 0)}
                          for lv, n in split.items()},
        "sessions_hosted": 16 if level == "commune" else 4,
        "hours_connected": 61.5 + index,
        "attendance_rate": attended / invited, "on_time_rate": 0.9,
        "readiness_pass_rate": 0.97, "incidents": index % 4, "mttr_minutes": 12.4,
        "availability_percent": 99.2, "lamp_hours": 2100 if index == 1 else 800,
        "ups_battery": "normal",
        "maintenance_due": (["Bóng đèn máy chiếu đã dùng 2.100 giờ (nên thay ở 2.000 giờ)"]
                            if index == 1 else []),
    }


def make_report(communes: int) -> dict[str, Any]:
    rows = [site_row(0, site="tinh-a", name="UBND tỉnh A", level="province", parent=None)]
    names = ["UBND xã Một"] + [f"UBND xã Hòa Bình {i}" for i in range(2, communes + 1)]
    rows += [site_row(i, site=f"xa-{i}", name=names[i - 1], level="commune", parent="tinh-a")
             for i in range(1, communes + 1)]
    # The last one has nothing to report: its rates are null, shown as "—" / empty.
    rows[-1].update(sessions_invited=0, sessions_attended=0, attendance_rate=None,
                    on_time_rate=None, mttr_minutes=None, hours_connected=0.0)
    invited = sum(r["sessions_invited"] for r in rows)
    attended = sum(r["sessions_attended"] for r in rows)
    totals: dict[str, Any] = {key: sum(r[key] for r in rows) for key in COUNTS}
    totals.update(
        sites=len(rows), hours_connected=round(sum(r["hours_connected"] for r in rows), 1),
        attendance_rate=attended / invited, on_time_rate=0.9, readiness_pass_rate=0.96,
        mttr_minutes=11.0, availability_percent=99.0,
        by_host_level={lv: {k: sum(r["by_host_level"][lv][k] for r in rows)
                            for k in ("invited", "attended")} for lv in LEVELS})
    return {
        "site": {"id": "tinh-a", "name": "UBND tỉnh A", "level": "province"},
        "scope": "subtree",
        "period": {"label": "2026-H2", "start": "2026-06-15", "end": "2026-12-14",
                   "cutoff_day": 15},
        "generated_at": "2026-12-20T08:00:00+07:00",
        "number": "12/BC-tinh-a",
        "rows": rows,
        "totals": totals,
    }


def pdf_text(data: bytes, tmp_path: Path) -> tuple[str, int]:
    """The text pdftotext extracts and the number of pages pdftoppm draws."""
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(data)
    assert data.startswith(b"%PDF-")
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(tmp_path / "page")],
                   check=True, timeout=60)
    pages = sorted(tmp_path.glob("page*.png"))
    assert all(page.stat().st_size > 3000 for page in pages)  # something was drawn
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, timeout=60,
                          capture_output=True, text=True).stdout
    return text, len(pages)


def test_the_formats_offered() -> None:
    assert FORMATS == ("json", "csv", "xlsx", "pdf")
    assert set(report_render.CONTENT_TYPES) == set(FORMATS)


def test_the_period_and_date_lines_read_as_an_official_document() -> None:
    period = {"label": "2026-H2", "start": "2026-06-15", "end": "2026-12-14"}
    assert report_render.period_text(period) == (
        "6 tháng cuối năm 2026 (từ 15/6/2026 đến 14/12/2026)")
    assert report_render.period_text({**period, "label": "2026"}).startswith("năm 2026 (từ")
    assert report_render.period_text({**period, "label": "custom"}) == (
        "từ 15/6/2026 đến 14/12/2026")
    assert report_render.period_text(period, "en") == (
        "second half of 2026 (from 15 Jun 2026 to 14 Dec 2026)")
    # NĐ 30/2020: days below 10 and months 1-2 take a leading zero.
    assert report_render.date_line(dt.datetime(2026, 2, 5), "Hà Nội") == (
        "Hà Nội, ngày 05 tháng 02 năm 2026")
    assert report_render.date_line(dt.datetime(2026, 12, 20), "") == (
        "……, ngày 20 tháng 12 năm 2026")


def test_the_pdf_is_an_administrative_document_in_vietnamese(tmp_path: Path) -> None:
    text, pages = pdf_text(to_pdf(make_report(2)), tmp_path)
    assert pages == 1
    for expected in ("UBND TỈNH A", "Số: 12/BC-tinh-a", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
                     "Độc lập - Tự do - Hạnh phúc", "ngày 20 tháng 12 năm 2026", "BÁO CÁO",
                     "Tình hình sử dụng hệ thống hội nghị truyền hình trực tuyến",
                     "6 tháng cuối năm 2026 (từ 15/6/2026 đến 14/12/2026)",
                     "UBND xã Một", "Bóng đèn máy chiếu đã dùng 2.100 giờ",
                     "Tỷ lệ tham dự theo điểm cầu", "Nơi nhận:", "THỦ TRƯỞNG ĐƠN VỊ",
                     "(Ký, ghi rõ họ tên)", "61,5", "99,20%"):
        assert expected in text, expected
    assert "—" in text  # the empty commune's null rates


def test_the_pdf_paginates_many_sites_and_repeats_the_table_header(tmp_path: Path) -> None:
    text, pages = pdf_text(to_pdf(make_report(119)), tmp_path)
    assert pages > 1
    assert text.count("STT") >= pages - 1  # the header on every page the table spans
    assert "UBND xã Hòa Bình 119" in text
    assert "Tỷ lệ tham dự theo cấp chủ trì" in text  # 120 bars would not fit
    assert "THỦ TRƯỞNG ĐƠN VỊ" in text


def test_the_pdf_in_english(tmp_path: Path) -> None:
    text, _ = pdf_text(to_pdf(make_report(2), "en", place="Hà Nội"), tmp_path)
    for expected in ("SOCIALIST REPUBLIC OF VIETNAM", "REPORT", "Hà Nội, December 20, 2026",
                     "second half of 2026", "UBND xã Một", "HEAD OF AGENCY", "61.5"):
        assert expected in text, expected
    with pytest.raises(ValueError, match="language"):
        to_pdf(make_report(2), "fr")


def test_the_xlsx_rows_and_totals_match_the_json() -> None:
    report = make_report(2)
    book = load_workbook(io.BytesIO(to_xlsx(report)))
    assert book.sheetnames == ["Báo cáo", "Theo cấp chủ trì"]
    sheet = book["Báo cáo"]
    grid: list[list[Any]] = [list(row) for row in sheet.iter_rows(values_only=True)]
    header_at = next(i for i, row in enumerate(grid) if row[0] == "Mã điểm cầu")
    header = grid[header_at]
    assert sheet.freeze_panes == f"C{header_at + 2}"
    assert "6 tháng cuối năm 2026" in str(grid[3][1])
    body = grid[header_at + 1:]
    assert [row[0] for row in body[:-1]] == [r["site"] for r in report["rows"]]
    assert body[1][1] == "UBND xã Một"
    columns = {label: i for i, label in enumerate(header)}
    totals_row = body[-1]
    assert "Tổng cộng" in str(totals_row[1])
    totals = report["totals"]
    for label, key in (("Được mời", "sessions_invited"), ("Tham dự", "sessions_attended"),
                       ("Chủ trì", "sessions_hosted"), ("Sự cố", "incidents"),
                       ("Số giờ", "hours_connected")):
        assert totals_row[columns[label]] == pytest.approx(totals[key]), label
        assert sum(row[columns[label]] for row in body[:-1]) == pytest.approx(totals[key])
    for label, key in (("Tỷ lệ tham dự", "attendance_rate"), ("Đúng giờ", "on_time_rate"),
                       ("Sẵn sàng", "readiness_pass_rate")):
        assert totals_row[columns[label]] == pytest.approx(totals[key]), label
    assert totals_row[columns["Khả dụng"]] * 100 == pytest.approx(99.0)
    assert body[-2][columns["Tỷ lệ tham dự"]] == "—"  # null stays visible, not 0
    rate_cell = sheet.cell(header_at + 2, columns["Tỷ lệ tham dự"] + 1)
    assert rate_cell.number_format == "0.0%"

    levels: list[list[Any]] = [
        list(row) for row in book["Theo cấp chủ trì"].iter_rows(values_only=True)]
    assert levels[2][2] == "Trung ương"
    total_levels = levels[-1]
    assert total_levels[1] == "Tổng cộng"
    for index, level in enumerate(LEVELS):
        expected = totals["by_host_level"][level]
        assert total_levels[2 + 3 * index: 4 + 3 * index] == [expected["invited"],
                                                              expected["attended"]]


def test_the_csv_reads_back_to_the_same_numbers() -> None:
    report = make_report(2)
    data = to_csv(report)
    assert data.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(data.encode("utf-8").decode("utf-8-sig"))))
    header, body, total = rows[0], rows[1:-1], rows[-1]
    assert header == [label for _, label in CSV_COLUMNS]
    column = {key: i for i, (key, _) in enumerate(CSV_COLUMNS)}
    for row, entry in zip(body, report["rows"], strict=True):
        assert row[column["name"]] == entry["name"]
        for key in (*COUNTS, "hours_connected", "lamp_hours"):
            assert float(row[column[key]]) == pytest.approx(entry[key]), key
        for key in ("attendance_rate", "on_time_rate", "readiness_pass_rate"):
            cell = row[column[f"{key}_percent"]]
            assert (None if cell == "" else float(cell) / 100) == pytest.approx(
                entry[key], abs=5e-5), key
        assert int(row[column["commune_invited"]]) == entry["by_host_level"]["commune"][
            "invited"]
    assert body[1][column["maintenance_due"]].startswith("Bóng đèn máy chiếu")
    assert total[column["site"]] == ""
    assert total[column["name"]] == "Tổng cộng (3 điểm cầu)"
    for key in (*COUNTS, "hours_connected"):
        assert float(total[column[key]]) == pytest.approx(report["totals"][key]), key
    assert float(total[column["attendance_rate_percent"]]) == pytest.approx(
        100 * report["totals"]["attendance_rate"], abs=0.005)
