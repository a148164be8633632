"""The semiannual/annual usage report rendered as CSV, XLSX and PDF from its JSON dict.

Pure functions: the report dict in, bytes or text out; no I/O, CPU-bound (run off the loop).

CSV (``to_csv``): UTF-8 with a BOM so Excel shows Vietnamese, comma-separated, ``\\r\\n``
line ends, ONE header line in Vietnamese. Its columns, in order, with the machine name each
Vietnamese label stands for (``CSV_COLUMNS`` holds the same pairs):

    site, name, level, parent, sessions_invited, sessions_attended, attendance_rate_percent,
    on_time_rate_percent, readiness_pass_rate_percent, sessions_hosted, hours_connected,
    incidents, mttr_minutes, availability_percent, lamp_hours, ups_battery, maintenance_due,
    then ``{level}_invited`` and ``{level}_attended`` for central, province, district, commune.

One row per site, the last row is the totals: its ``site`` cell is empty and its ``name`` is
"Tổng cộng (N điểm cầu)". Numbers use a dot decimal; rates are percents (0..100) rounded to two
decimals, hours and MTTR to one; a null is an empty cell (not "—": the CSV is for machines
and spreadsheets, an empty cell is what both read as "no value"); ``level`` and
``ups_battery`` stay codes; ``maintenance_due`` items are joined with "; ".
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Mapping
from typing import Any, Final
from xml.sax.saxutils import escape as xml_escape

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from controller.incident_report import LEVELS, VN_TZ, register_fonts
from endpoints.framing import sanitize

FORMATS: Final = ("json", "csv", "xlsx", "pdf")
CONTENT_TYPES: Final = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
HOST_LEVELS: Final = ("central", "province", "district", "commune")
DASH: Final = "—"
MAX_TEXT: Final = 200  # a site name or maintenance item longer than this is cut
MAX_CHART_SITES: Final = 30  # above this the chart shows host levels, not sites

CSV_COLUMNS: Final = (
    ("site", "Mã điểm cầu"),
    ("name", "Tên điểm cầu"),
    ("level", "Cấp"),
    ("parent", "Cấp trên"),
    ("sessions_invited", "Số phiên được mời"),
    ("sessions_attended", "Số phiên tham dự"),
    ("attendance_rate_percent", "Tỷ lệ tham dự (%)"),
    ("on_time_rate_percent", "Tỷ lệ đúng giờ (%)"),
    ("readiness_pass_rate_percent", "Tỷ lệ kiểm tra sẵn sàng đạt (%)"),
    ("sessions_hosted", "Số phiên chủ trì"),
    ("hours_connected", "Số giờ kết nối"),
    ("incidents", "Số sự cố"),
    ("mttr_minutes", "Thời gian khắc phục TB (phút)"),
    ("availability_percent", "Độ sẵn sàng hệ thống (%)"),
    ("lamp_hours", "Giờ dùng bóng đèn máy chiếu"),
    ("ups_battery", "Tình trạng ắc quy UPS"),
    ("maintenance_due", "Nội dung cần bảo trì"),
    *((f"{level}_{what}", f"Chủ trì {LEVELS[level]}: {label}")
      for level in HOST_LEVELS
      for what, label in (("invited", "được mời"), ("attended", "tham dự"))),
)

# Labels of the PDF and XLSX by language; the CSV header is Vietnamese only.
TEXT: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "motto1": "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "motto2": "Độc lập - Tự do - Hạnh phúc",
        "number": "Số",
        "date": "{place}, ngày {d} tháng {m} năm {y}",
        "title": "BÁO CÁO",
        "subject": "Tình hình sử dụng hệ thống hội nghị truyền hình trực tuyến",
        "H1": "6 tháng đầu năm {y}", "H2": "6 tháng cuối năm {y}", "year": "năm {y}",
        "range": "từ {start} đến {end}",
        "scope_subtree": "{name} và các điểm cầu cấp dưới", "scope_site": "{name}",
        "body_intro": "Kỳ báo cáo: {period}. Phạm vi: {scope} ({sites} điểm cầu).",
        "body_sessions": "Các điểm cầu được mời tham dự {invited} lượt phiên họp trực tuyến, "
                         "đã tham dự {attended} lượt{rate}; chủ trì {hosted} phiên; "
                         "tổng thời gian kết nối {hours} giờ.",
        "rate_clause": " (đạt {rate})", "on_time": "Tỷ lệ vào họp đúng giờ: {v}.",
        "readiness": "Tỷ lệ kiểm tra sẵn sàng trước phiên họp đạt: {v}.",
        "incidents": "Trong kỳ xảy ra {n} sự cố",
        "mttr": ", thời gian khắc phục trung bình {v} phút",
        "availability": "Độ sẵn sàng của hệ thống: {v}.",
        "table_heading": "Số liệu chi tiết theo điểm cầu",
        "col_no": "STT", "col_site": "Điểm cầu", "col_invited": "Được mời",
        "col_attended": "Tham dự", "col_att_rate": "Tỷ lệ tham dự",
        "col_on_time": "Đúng giờ", "col_ready": "Sẵn sàng", "col_hours": "Số giờ",
        "col_incidents": "Sự cố", "col_mttr": "MTTR (phút)", "col_avail": "Khả dụng",
        "col_maint": "Bảo trì", "col_hosted": "Chủ trì", "col_level": "Cấp",
        "col_code": "Mã điểm cầu", "col_parent": "Cấp trên", "col_lamp": "Giờ bóng đèn",
        "col_ups": "Ắc quy UPS", "col_rate": "Tỷ lệ",
        "total": "Tổng cộng", "total_sites": "Tổng cộng ({n} điểm cầu)",
        "maint_heading": "Thiết bị cần bảo trì",
        "maint_none": "Không có thiết bị đến hạn bảo trì.",
        "chart_sites": "Tỷ lệ tham dự theo điểm cầu (%)",
        "chart_levels": "Tỷ lệ tham dự theo cấp chủ trì (%)",
        "recipients": "Nơi nhận:",
        "recipient_lines": "- Cơ quan cấp trên (để báo cáo);\n- Lưu: VT.",
        "signer": "THỦ TRƯỞNG ĐƠN VỊ", "sign_hint": "(Ký, ghi rõ họ tên)",
        "heading_site": "Đơn vị", "heading_period": "Kỳ báo cáo",
        "heading_generated": "Lập lúc", "heading_scope": "Phạm vi",
        "sheet": "Báo cáo", "sheet_levels": "Theo cấp chủ trì",
    },
    "en": {
        "motto1": "SOCIALIST REPUBLIC OF VIETNAM",
        "motto2": "Independence - Freedom - Happiness",
        "number": "No.",
        "date": "{place}, {month_name} {d}, {y}",
        "title": "REPORT",
        "subject": "Use of the online video-conference system",
        "H1": "first half of {y}", "H2": "second half of {y}", "year": "year {y}",
        "range": "from {start} to {end}",
        "scope_subtree": "{name} and its subordinate sites", "scope_site": "{name}",
        "body_intro": "Period: {period}. Scope: {scope} ({sites} sites).",
        "body_sessions": "The sites were invited to {invited} session attendances and "
                         "attended {attended}{rate}; they hosted {hosted} sessions; "
                         "{hours} hours connected in total.",
        "rate_clause": " ({rate})", "on_time": "Joined on time: {v}.",
        "readiness": "Pre-session readiness checks passed: {v}.",
        "incidents": "{n} incidents occurred",
        "mttr": ", mean time to repair {v} minutes",
        "availability": "System availability: {v}.",
        "table_heading": "Details per site",
        "col_no": "No.", "col_site": "Site", "col_invited": "Invited",
        "col_attended": "Attended", "col_att_rate": "Attendance",
        "col_on_time": "On time", "col_ready": "Ready", "col_hours": "Hours",
        "col_incidents": "Incidents", "col_mttr": "MTTR (min)", "col_avail": "Availability",
        "col_maint": "Maint.", "col_hosted": "Hosted", "col_level": "Level",
        "col_code": "Site code", "col_parent": "Parent", "col_lamp": "Lamp hours",
        "col_ups": "UPS battery", "col_rate": "Rate",
        "total": "Total", "total_sites": "Total ({n} sites)",
        "maint_heading": "Equipment due for maintenance",
        "maint_none": "No equipment is due for maintenance.",
        "chart_sites": "Attendance rate per site (%)",
        "chart_levels": "Attendance rate per host level (%)",
        "recipients": "Recipients:",
        "recipient_lines": "- Superior agency (for reporting);\n- Archived: Records office.",
        "signer": "HEAD OF AGENCY", "sign_hint": "(Signature and full name)",
        "heading_site": "Agency", "heading_period": "Period",
        "heading_generated": "Generated", "heading_scope": "Scope",
        "sheet": "Báo cáo", "sheet_levels": "Theo cấp chủ trì",
    },
}
LEVEL_TEXT: Final = {
    "vi": dict(LEVELS),
    "en": {"central": "Central", "province": "Province", "district": "District",
           "commune": "Commune"},
}
MONTHS_EN: Final = ("January", "February", "March", "April", "May", "June", "July", "August",
                    "September", "October", "November", "December")


# -- values and words ------------------------------------------------------------------------

def _num(value: Any) -> float | None:
    """A finite number, or None for null and anything that is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _text(value: Any) -> str:
    return sanitize("" if value is None else str(value), MAX_TEXT)


def _fmt(value: Any, decimals: int, language: str, suffix: str = "") -> str:
    """A number as the reader writes it: "2.100", "61,5" in Vietnamese; "—" for null."""
    number = _num(value)
    if number is None:
        return DASH
    text = f"{number:,.{decimals}f}"
    if language == "vi":
        text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
    return text + suffix


def _pct(rate: Any, language: str) -> str:
    number = _num(rate)
    return DASH if number is None else _fmt(number * 100, 1, language, "%")


def _date(iso: str) -> dt.date:
    return dt.date.fromisoformat(iso)


def _short_date(day: dt.date, language: str) -> str:
    if language == "vi":
        return f"{day.day}/{day.month}/{day.year}"
    return f"{day.day} {MONTHS_EN[day.month - 1][:3]} {day.year}"


def period_text(period: Mapping[str, Any], language: str = "vi") -> str:
    """"6 tháng cuối năm 2026 (từ 15/6/2026 đến 14/12/2026)", or just the range."""
    words = TEXT[language]
    start, end = _date(period["start"]), _date(period["end"])
    span = words["range"].format(start=_short_date(start, language),
                                 end=_short_date(end, language))
    label = str(period.get("label") or "")
    year, _, half = label.partition("-")
    if year.isdigit() and half in ("H1", "H2"):
        return f"{words[half].format(y=year)} ({span})"
    if year.isdigit() and not half:
        return f"{words['year'].format(y=year)} ({span})"
    return span


def _generated(report: Mapping[str, Any]) -> dt.datetime:
    moment = dt.datetime.fromisoformat(report["generated_at"])
    if moment.tzinfo is None:  # the aggregator writes an offset; a naive time is Vietnam's
        return moment.replace(tzinfo=VN_TZ)
    return moment.astimezone(VN_TZ)


def date_line(moment: dt.datetime, place: str, language: str = "vi") -> str:
    """"Hà Nội, ngày 05 tháng 02 năm 2026": NĐ 30/2020 pads days below 10 and months 1-2."""
    if language == "vi":
        day = f"{moment.day:02d}" if moment.day < 10 else str(moment.day)
        month = f"{moment.month:02d}" if moment.month < 3 else str(moment.month)
    else:
        day, month = str(moment.day), str(moment.month)
    return TEXT[language]["date"].format(place=place or "……", d=day, m=month, y=moment.year,
                                         month_name=MONTHS_EN[moment.month - 1])


def _host(entry: Mapping[str, Any], level: str, key: str) -> Any:
    return (entry.get("by_host_level") or {}).get(level, {}).get(key)


def _level_rate(entry: Mapping[str, Any], level: str) -> float | None:
    invited, attended = _num(_host(entry, level, "invited")), _num(_host(entry, level, "attended"))
    if not invited or attended is None:
        return None
    return attended / invited


# -- CSV -------------------------------------------------------------------------------------

def _csv_number(value: Any, decimals: int | None = None, scale: float = 1) -> str:
    number = _num(value)
    if number is None:
        return ""
    if decimals is None:
        return str(int(number)) if number.is_integer() else repr(number)
    return f"{number * scale:.{decimals}f}"


def _csv_row(entry: Mapping[str, Any]) -> list[str]:
    return [
        _text(entry.get("site")), _text(entry.get("name")), _text(entry.get("level")),
        _text(entry.get("parent")),
        _csv_number(entry.get("sessions_invited")), _csv_number(entry.get("sessions_attended")),
        _csv_number(entry.get("attendance_rate"), 2, 100),
        _csv_number(entry.get("on_time_rate"), 2, 100),
        _csv_number(entry.get("readiness_pass_rate"), 2, 100),
        _csv_number(entry.get("sessions_hosted")), _csv_number(entry.get("hours_connected"), 1),
        _csv_number(entry.get("incidents")), _csv_number(entry.get("mttr_minutes"), 1),
        _csv_number(entry.get("availability_percent"), 2), _csv_number(entry.get("lamp_hours")),
        _text(entry.get("ups_battery")),
        "; ".join(_text(item) for item in entry.get("maintenance_due") or ()),
        *(_csv_number(_host(entry, level, key))
          for level in HOST_LEVELS for key in ("invited", "attended")),
    ]


def to_csv(report: Mapping[str, Any]) -> str:
    """The report as CSV text starting with a BOM; encode it as UTF-8 (see the module doc)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([label for _, label in CSV_COLUMNS])
    for row in report["rows"]:
        writer.writerow(_csv_row(row))
    totals = dict(report["totals"])
    totals.update(site="", name=TEXT["vi"]["total_sites"].format(n=totals.get("sites", "")),
                  level="", parent="", lamp_hours=None, ups_battery="", maintenance_due=[])
    writer.writerow(_csv_row(totals))
    return "\ufeff" + out.getvalue()


# -- XLSX ------------------------------------------------------------------------------------

# (label key, row key, kind, width): kinds "text", "int", "hours", "rate", "percent", "min"
_SHEET_COLUMNS: Final = (
    ("col_code", "site", "text", 14), ("col_site", "name", "text", 34),
    ("col_level", "level", "level", 16), ("col_parent", "parent", "text", 12),
    ("col_invited", "sessions_invited", "int", 10),
    ("col_attended", "sessions_attended", "int", 10),
    ("col_att_rate", "attendance_rate", "rate", 12), ("col_on_time", "on_time_rate", "rate", 11),
    ("col_ready", "readiness_pass_rate", "rate", 11), ("col_hosted", "sessions_hosted", "int", 9),
    ("col_hours", "hours_connected", "hours", 10), ("col_incidents", "incidents", "int", 9),
    ("col_mttr", "mttr_minutes", "min", 11), ("col_avail", "availability_percent", "percent", 11),
    ("col_lamp", "lamp_hours", "int", 12), ("col_ups", "ups_battery", "text", 12),
    ("col_maint", "maintenance_due", "list", 50),
)
_NUMBER_FORMATS: Final = {"int": "#,##0", "hours": "#,##0.0", "rate": "0.0%",
                          "percent": "0.00%", "min": "0.0"}


def _cell_value(value: Any, kind: str) -> Any:
    if kind == "text":
        return _text(value)
    if kind == "level":
        return LEVEL_TEXT["vi"].get(str(value), _text(value))
    if kind == "list":
        return "\n".join(_text(item) for item in value or ())
    number = _num(value)
    if number is None:
        return DASH
    if kind == "percent":  # stored as a fraction so the cell's % format shows it right
        return number / 100
    return int(number) if kind == "int" and number.is_integer() else number


def to_xlsx(report: Mapping[str, Any]) -> bytes:
    """The report as an Excel workbook: the table on "Báo cáo", host levels on a second sheet."""
    words = TEXT["vi"]
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="DDDDDD")
    thin = Side(style="thin", color="999999")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    wrap = Alignment(wrap_text=True, vertical="top")
    centre = Alignment(horizontal="center", vertical="center", wrap_text=True)

    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook always has one sheet
    sheet.title = words["sheet"]
    site = report["site"]
    scope = words[f"scope_{report['scope']}"].format(name=_text(site["name"]))
    heading = [
        ("BÁO CÁO " + words["subject"].upper(), ""),
        (words["heading_site"], f"{_text(site['name'])} ({_text(site['id'])})"),
        (words["number"], _text(report.get("number")) or DASH),
        (words["heading_period"], period_text(report["period"])),
        (words["heading_scope"], scope),
        (words["heading_generated"], _generated(report).strftime("%d/%m/%Y %H:%M (UTC+7)")),
    ]
    for index, (label, value) in enumerate(heading, start=1):
        sheet.cell(index, 1, label).font = Font(bold=True, size=13 if index == 1 else 11)
        sheet.cell(index, 2, value)
    header_row = len(heading) + 2
    for col, (label, _, _kind, width) in enumerate(_SHEET_COLUMNS, start=1):
        cell = sheet.cell(header_row, col, words[label])
        cell.font, cell.fill, cell.border, cell.alignment = bold, head_fill, box, centre
        sheet.column_dimensions[get_column_letter(col)].width = width

    def write(row: int, entry: Mapping[str, Any], font: Font | None = None) -> None:
        for col, (_, key, kind, _) in enumerate(_SHEET_COLUMNS, start=1):
            cell = sheet.cell(row, col, _cell_value(entry.get(key), kind))
            cell.border, cell.alignment = box, wrap
            if kind in _NUMBER_FORMATS:
                cell.number_format = _NUMBER_FORMATS[kind]
                cell.alignment = Alignment(horizontal="right", vertical="top")
            if font:
                cell.font = font

    rows = report["rows"]
    for offset, entry in enumerate(rows, start=1):
        write(header_row + offset, entry)
    # Totals are the JSON's values, not SUM formulas: the aggregator's totals are the record,
    # and a formula openpyxl writes has no cached result, so phone previewers would show blanks.
    totals = dict(report["totals"])
    totals.update(site="", name=words["total_sites"].format(n=totals.get("sites", "")),
                  level="", parent="", ups_battery="", maintenance_due=[])
    write(header_row + len(rows) + 1, totals, bold)
    sheet.freeze_panes = f"C{header_row + 1}"
    sheet.row_dimensions[header_row].height = 30

    levels = book.create_sheet(words["sheet_levels"])
    levels.cell(1, 1, words["heading_period"]).font = bold
    levels.cell(1, 2, period_text(report["period"]))
    top, sub = 3, 4
    for col, label in ((1, "col_code"), (2, "col_site")):
        levels.merge_cells(start_row=top, start_column=col, end_row=sub, end_column=col)
        levels.cell(top, col, words[label])
    for index, level in enumerate(HOST_LEVELS):
        first = 3 + index * 3
        levels.merge_cells(start_row=top, start_column=first, end_row=top, end_column=first + 2)
        levels.cell(top, first, LEVEL_TEXT["vi"][level])
        for shift, label in enumerate(("col_invited", "col_attended", "col_rate")):
            levels.cell(sub, first + shift, words[label])
    last_col = 2 + 3 * len(HOST_LEVELS)
    for row in (top, sub):
        for col in range(1, last_col + 1):
            cell = levels.cell(row, col)
            cell.font, cell.fill, cell.border, cell.alignment = bold, head_fill, box, centre
    levels.column_dimensions["A"].width, levels.column_dimensions["B"].width = 14, 34
    for col in range(3, last_col + 1):
        levels.column_dimensions[get_column_letter(col)].width = 10
    level_rows = [*rows, {"site": "", "name": words["total"],
                          "by_host_level": report["totals"].get("by_host_level")}]
    for offset, entry in enumerate(level_rows, start=sub + 1):
        values: list[tuple[Any, str | None]] = [(_text(entry.get("site")), None),
                                                (_text(entry.get("name")), None)]
        for level in HOST_LEVELS:
            rate = _level_rate(entry, level)
            values += [(_cell_value(_host(entry, level, "invited"), "int"), "#,##0"),
                       (_cell_value(_host(entry, level, "attended"), "int"), "#,##0"),
                       (DASH if rate is None else rate, "0.0%")]
        for col, (value, number_format) in enumerate(values, start=1):
            cell = levels.cell(offset, col, value)
            cell.border = box
            if number_format:
                cell.number_format = number_format
            if entry is level_rows[-1]:
                cell.font = bold
    levels.freeze_panes = f"C{sub + 1}"

    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# -- PDF -------------------------------------------------------------------------------------

def _body(report: Mapping[str, Any], language: str) -> list[str]:
    """The report's paragraphs; a clause whose number is null is left out, not shown as "—"."""
    words, totals, site = TEXT[language], report["totals"], report["site"]
    scope = words[f"scope_{report['scope']}"].format(name=_text(site["name"]))
    intro = words["body_intro"].format(period=period_text(report["period"], language),
                                       scope=scope, sites=_fmt(totals.get("sites"), 0, language))
    rate = _num(totals.get("attendance_rate"))
    sessions = [words["body_sessions"].format(
        invited=_fmt(totals.get("sessions_invited"), 0, language),
        attended=_fmt(totals.get("sessions_attended"), 0, language),
        rate="" if rate is None else words["rate_clause"].format(rate=_pct(rate, language)),
        hosted=_fmt(totals.get("sessions_hosted"), 0, language),
        hours=_fmt(totals.get("hours_connected"), 1, language))]
    for key, name in (("on_time_rate", "on_time"), ("readiness_pass_rate", "readiness")):
        if _num(totals.get(key)) is not None:
            sessions.append(words[name].format(v=_pct(totals[key], language)))
    health: list[str] = []
    if _num(totals.get("incidents")) is not None:
        incidents = words["incidents"].format(n=_fmt(totals["incidents"], 0, language))
        if _num(totals.get("mttr_minutes")) is not None:
            incidents += words["mttr"].format(v=_fmt(totals["mttr_minutes"], 1, language))
        health.append(incidents + ".")
    if _num(totals.get("availability_percent")) is not None:
        health.append(words["availability"].format(
            v=_fmt(totals["availability_percent"], 2, language, "%")))
    return [" ".join(part) for part in ([intro], sessions, health) if part]


def _chart(report: Mapping[str, Any], language: str, width: float, font: str) -> Any:
    """Attendance rate per site, or per host level when the sites would not fit."""
    from reportlab.graphics.charts.barcharts import (  # type: ignore[import-untyped]
        HorizontalBarChart,
    )
    from reportlab.graphics.shapes import Drawing, String  # type: ignore[import-untyped]
    from reportlab.lib import colors  # type: ignore[import-untyped]

    words, rows = TEXT[language], report["rows"]
    if len(rows) <= MAX_CHART_SITES:
        title = words["chart_sites"]
        bars = [(_text(r.get("name"))[:34], _num(r.get("attendance_rate"))) for r in rows]
    else:
        title = words["chart_levels"]
        bars = [(LEVEL_TEXT[language][level], _level_rate(report["totals"], level))
                for level in HOST_LEVELS]
    # A null rate (nothing invited) is no bar: a bar at 0 would read as "invited, never came".
    plotted = [(name, rate) for name, rate in bars if rate is not None]
    if not plotted:
        return None
    bar_height = 11
    label_width = 150
    height = len(plotted) * bar_height + 40
    drawing = Drawing(width, height)
    drawing.add(String(0, height - 10, title, fontName=font, fontSize=9))
    chart = HorizontalBarChart()
    chart.x, chart.y = label_width, 18
    chart.width, chart.height = width - label_width - 20, len(plotted) * bar_height
    # Top to bottom in table order: the chart's category axis runs upwards.
    chart.data = [[100 * rate for _, rate in reversed(plotted)]]
    chart.categoryAxis.categoryNames = [name for name, _ in reversed(plotted)]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.labels.boxAnchor = "e"
    chart.valueAxis.valueMin, chart.valueAxis.valueMax, chart.valueAxis.valueStep = 0, 100, 20
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.bars[0].fillColor = colors.HexColor("#3b6ea5")
    chart.barLabelFormat = lambda v: _fmt(v, 1, language)
    chart.barLabels.fontName = font
    chart.barLabels.fontSize = 6
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 2
    drawing.add(chart)
    return drawing


def to_pdf(report: Mapping[str, Any], language: str = "vi", *, place: str = "") -> bytes:
    """The report as an A4 administrative document (NĐ 30/2020/NĐ-CP layout).

    ``place`` is the town of the date line; without it the line keeps "……" to fill by hand.
    """
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY  # type: ignore[import-untyped]
    from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
    from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
    from reportlab.lib.units import mm  # type: ignore[import-untyped]
    from reportlab.platypus import (  # type: ignore[import-untyped]
        HRFlowable,
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    if language not in TEXT:
        raise ValueError(f"unknown report language {language!r}")
    words = TEXT[language]
    regular, bold = register_fonts()
    base = ParagraphStyle("base", fontName=regular, fontSize=10.5, leading=14)
    body = ParagraphStyle("body", parent=base, alignment=TA_JUSTIFY, firstLineIndent=10 * mm,
                          spaceAfter=3)
    centre = ParagraphStyle("centre", parent=base, alignment=TA_CENTER, fontName=bold)
    plain_centre = ParagraphStyle("plain_centre", parent=base, alignment=TA_CENTER)
    heading = ParagraphStyle("heading", parent=base, fontName=bold, spaceBefore=6, spaceAfter=3)
    cell = ParagraphStyle("cell", parent=base, fontSize=7, leading=8.5)
    cell_right = ParagraphStyle("cell_right", parent=cell, alignment=2)
    cell_head = ParagraphStyle("cell_head", parent=cell, fontName=bold, alignment=TA_CENTER)

    def p(text: str, style: ParagraphStyle = base) -> Paragraph:
        return Paragraph(xml_escape(text), style)

    # NĐ 30/2020 margins: left 30-35 mm, right 15-20 mm, top and bottom 20-25 mm.
    width = A4[0] - 30 * mm - 15 * mm
    site = report["site"]
    moment = _generated(report)
    number = _text(report.get("number"))
    number_line = f"{words['number']}: {number}" if number else f"{words['number']}: ……/BC"
    story: list[Any] = [
        Table([[p(_text(site["name"]).upper(), centre), p(words["motto1"], centre)],
               [HRFlowable(width="35%", thickness=0.6, color=colors.black, spaceBefore=1,
                           hAlign="CENTER"),
                Paragraph(f"<u>{xml_escape(words['motto2'])}</u>", centre)],
               [p(number_line, plain_centre),
                p(date_line(moment, place, language), plain_centre)]],
              colWidths=[0.4 * width, 0.6 * width],
              style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                                ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                                ("RIGHTPADDING", (0, 0), (-1, -1), 0)])),
        Spacer(1, 8 * mm),
        p(words["title"], ParagraphStyle("title", parent=centre, fontSize=13, leading=17)),
        p(words["subject"], centre),
        p(period_text(report["period"], language), centre),
        Spacer(1, 5 * mm),
    ]
    story += [p(sentence, body) for sentence in _body(report, language)]

    story.append(p(f"{words['table_heading']}:", heading))
    head = ["col_no", "col_site", "col_invited", "col_attended", "col_att_rate", "col_on_time",
            "col_ready", "col_hours", "col_incidents", "col_mttr", "col_avail", "col_maint"]
    fractions = (0.05, 0.2, 0.075, 0.075, 0.08, 0.075, 0.08, 0.075, 0.065, 0.075, 0.085, 0.06)

    def numbers(entry: Mapping[str, Any]) -> list[Paragraph]:
        cells = [
            _fmt(entry.get("sessions_invited"), 0, language),
            _fmt(entry.get("sessions_attended"), 0, language),
            _pct(entry.get("attendance_rate"), language),
            _pct(entry.get("on_time_rate"), language),
            _pct(entry.get("readiness_pass_rate"), language),
            _fmt(entry.get("hours_connected"), 1, language),
            _fmt(entry.get("incidents"), 0, language),
            _fmt(entry.get("mttr_minutes"), 1, language),
            _fmt(entry.get("availability_percent"), 2, language, "%"),
        ]
        return [p(text, cell_right) for text in cells]

    maintenance: list[tuple[str, list[str]]] = []
    table_rows: list[list[Any]] = [[p(words[key], cell_head) for key in head]]
    for index, entry in enumerate(report["rows"], start=1):
        due = [_text(item) for item in entry.get("maintenance_due") or ()]
        if due:
            maintenance.append((_text(entry.get("name")), due))
        table_rows.append([p(str(index), cell_right), p(_text(entry.get("name")), cell),
                           *numbers(entry), p(str(len(due)) if due else DASH, cell_right)])
    totals = report["totals"]
    table_rows.append([p("", cell), p(words["total_sites"].format(n=totals.get("sites", "")),
                                      ParagraphStyle("cell_bold", parent=cell, fontName=bold)),
                       *numbers(totals), p(str(sum(len(d) for _, d in maintenance)) or DASH,
                                           cell_right)])
    story.append(Table(table_rows, colWidths=[f * width for f in fractions], repeatRows=1,
                       style=TableStyle([
                           ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#888888")),
                           ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                           ("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#f4f4f4")),
                           ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                           ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                           ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
                           ("LEFTPADDING", (0, 0), (-1, -1), 2),
                           ("RIGHTPADDING", (0, 0), (-1, -1), 2)])))

    story.append(p(f"{words['maint_heading']}:", heading))
    if maintenance:
        story += [p(f"- {name}: {'; '.join(items)}.", base) for name, items in maintenance]
    else:
        story.append(p(words["maint_none"], base))

    chart = _chart(report, language, width, regular)
    if chart is not None:
        story += [Spacer(1, 4 * mm), KeepTogether([chart])]

    recipients = [p(words["recipients"], ParagraphStyle("r", parent=base, fontName=bold,
                                                        fontSize=9))]
    recipients += [p(line, ParagraphStyle("rl", parent=base, fontSize=8, leading=10))
                   for line in words["recipient_lines"].splitlines()]
    signer = [p(words["signer"], centre),
              p(words["sign_hint"], plain_centre)]
    story += [Spacer(1, 6 * mm),
              KeepTogether(Table([[recipients, signer]], colWidths=[0.5 * width, 0.5 * width],
                                 style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                                                   ("LEFTPADDING", (0, 0), (-1, -1), 0)])))]

    def page_number(canvas: Any, doc: Any) -> None:
        # NĐ 30/2020: pages numbered from the second, centred in the top margin.
        canvas.saveState()
        canvas.setFont(regular, 9)
        canvas.drawCentredString(A4[0] / 2, A4[1] - 12 * mm, str(doc.page))
        canvas.restoreState()

    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=30 * mm, rightMargin=15 * mm,
                            topMargin=20 * mm, bottomMargin=20 * mm,
                            title=f"{words['title']} {words['subject']}",
                            subject=period_text(report["period"], language),
                            author=_text(site["name"]), creator="diemcau")
    doc.build(story, onLaterPages=page_number)
    return out.getvalue()
