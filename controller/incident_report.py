"""The one-page incident report (*báo cáo sự cố*): one data dict, rendered as JSON, HTML, PDF.

`report_data` is pure: an incident and what the site knows around it (site, session, devices)
in, a JSON-able dict out, every text already in plain Vietnamese and every time in Vietnam
time (UTC+7, which has no daylight saving). `build_report` gathers that context from a
running site. `render_html` and `render_pdf` only lay the dict out, so the three formats never
disagree. Strings from devices, notes and remote sites are escaped by each renderer.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import html
import io
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final
from xml.sax.saxutils import escape as xml_escape

from controller.context import SiteContext
from controller.errors import DependencyFailedError, NotFoundError
from controller.web import iso
from endpoints.framing import sanitize
from monitoring.incidents import Incident

REPORT_FORMAT: Final = "diemcau.incident-report/1"
VN_TZ: Final = dt.timezone(dt.timedelta(hours=7), "UTC+7")
FONT_DIR: Final = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES: Final = {"DejaVuSans": "DejaVuSans.ttf", "DejaVuSans-Bold": "DejaVuSans-Bold.ttf"}
FONT_PACKAGE: Final = "fonts-dejavu-core"
MAX_ACTIONS: Final = 40  # a page holds about this many; the JSON keeps them all
MAX_DEVICE_TEXT: Final = 80

LEVELS: Final = {"central": "Trung ương", "province": "Tỉnh, thành phố",
                 "district": "Huyện", "commune": "Xã, phường, đặc khu"}
SEVERITY_TEXT: Final = {"minor": "Nhẹ", "major": "Nặng", "critical": "Nghiêm trọng"}
STATE_TEXT: Final = {"open": "Đang mở", "acknowledged": "Đã tiếp nhận",
                     "resolved": "Đã xử lý"}
KIND_TEXT: Final = {
    "mos_low": "Chất lượng hình ảnh, âm thanh hội nghị kém (điểm MOS dưới ngưỡng)",
    "loss_high": "Mất nhiều gói tin trên đường truyền hội nghị",
    "no_media": "Không nhận được hình ảnh, âm thanh của hội nghị",
    "call_dropped": "Mất kết nối với hội nghị trực tuyến",
    "device_offline": "Thiết bị trong phòng họp không phản hồi",
    "ups_on_battery": "Mất điện lưới, bộ lưu điện (UPS) đang chạy bằng pin",
    "uplink_down": "Mất kết nối với điểm cầu cấp trên",
    "child_offline": "Điểm cầu cấp dưới mất kết nối",
    "mass_outage": "Nhiều điểm cầu cấp dưới mất kết nối cùng lúc",
    "bridge_unreachable": "Không kết nối được cầu hội nghị",
    "manual": "Sự cố do cán bộ vận hành báo",
}
# The metric each rule watches, as the officer reads it: label and unit.
METRICS: Final = {
    "mos_low": ("Điểm chất lượng MOS (1–5)", ""),
    "loss_high": ("Tỷ lệ mất gói tin", "%"),
    "no_media": ("Thời gian không có hình, tiếng", "giây"),
}
TIMELINE_TEXT: Final = {
    "onset": "Phát hiện sự cố", "recovery": "Tự khắc phục", "note": "Ghi chú",
    "acknowledged": "Tiếp nhận", "resolved": "Kết thúc sự cố",
    "notice_sent": "Gửi thông báo ban đầu", "report_sent": "Gửi báo cáo đầy đủ",
    "reopened": "Sự cố tái diễn",
}
RECOVERY_TEXT: Final = {
    "connected": "Đã kết nối vào hội nghị", "degraded": "Chất lượng đường truyền giảm",
    "dropped": "Mất kết nối với hội nghị", "recovery_step": "Tự kết nối lại",
    "recovered": "Đã kết nối lại", "ended": "Đã rời hội nghị", "ringing": "Đang đổ chuông",
    "renegotiated": "Đã điều chỉnh lại âm thanh, hình ảnh",
}
DEVICE_KINDS: Final = {"camera": "Camera", "projector": "Máy chiếu", "mixer": "Bàn trộn âm thanh",
                       "power": "Bộ lưu điện (UPS)", "network": "Thiết bị mạng"}
DEVICE_STATES: Final = {"online": "Hoạt động", "offline": "Mất kết nối", "unknown": "Chưa rõ",
                        "unusable": "Không dùng được (lỗi cấu hình)"}
DIRECTIONS: Final = {"recv": "chiều nhận", "receive": "chiều nhận", "send": "chiều gửi"}
MEDIA: Final = {"audio": "âm thanh", "video": "hình ảnh", "media": "hình ảnh và âm thanh"}


# -- times and words -------------------------------------------------------------------------

def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def vn_time(ts: float | None, *, seconds: bool = False) -> str | None:
    """Seconds since the epoch as Vietnam time, dd/mm/yyyy HH:MM (or HH:MM:SS)."""
    if ts is None:
        return None
    moment = dt.datetime.fromtimestamp(ts, VN_TZ)
    return moment.strftime("%d/%m/%Y %H:%M:%S" if seconds else "%d/%m/%Y %H:%M")


def _moment(ts: float | None) -> dict[str, Any] | None:
    return None if ts is None else {"at": iso(ts), "local": vn_time(ts)}


def duration_text(seconds: float) -> str:
    """A duration in plain Vietnamese: "1 giờ 5 phút", "42 giây"."""
    total = max(0, round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days} ngày"] if days else []
    if hours:
        parts.append(f"{hours} giờ")
    if minutes:
        parts.append(f"{minutes} phút")
    if secs and not days:
        parts.append(f"{secs} giây")
    return " ".join(parts) or "0 giây"


def _clean(value: Any, limit: int = MAX_DEVICE_TEXT) -> str:
    """A string from a device or a remote site, safe for a report: printable and bounded."""
    return sanitize(str(value), limit)


def subject_text(subject: str, device_names: Mapping[str, str],
                 site_names: Mapping[str, str]) -> str:
    """What an incident's subject means, in plain Vietnamese."""
    head, _, rest = subject.partition(":")
    if head == "device" and rest:
        name = device_names.get(rest)
        return f"Thiết bị {name} ({rest})" if name and name != rest else f"Thiết bị {rest}"
    if head == "link" and rest:
        parts = rest.split(":")
        bridge = parts[0]
        direction = DIRECTIONS.get(parts[1], parts[1]) if len(parts) > 1 else ""
        media = MEDIA.get(parts[2], parts[2]) if len(parts) > 2 else "hình ảnh và âm thanh"
        return f"Đường truyền {media} {direction} qua cầu hội nghị {bridge}".replace("  ", " ")
    if head == "call" and rest:
        return f"Kết nối hội nghị qua cầu {rest}"
    if head == "bridge" and rest:
        return f"Cầu hội nghị {rest}"
    if head == "child" and rest:
        name = site_names.get(rest)
        return f"Điểm cầu cấp dưới {name} ({rest})" if name else f"Điểm cầu cấp dưới {rest}"
    if subject == "uplink":
        return "Kết nối lên điểm cầu cấp trên"
    if subject == "outage":
        return "Các điểm cầu cấp dưới"
    if head == "manual":
        return "Do cán bộ vận hành báo"
    return subject


def _recovery_text(entry: Mapping[str, Any]) -> str:
    name = str(entry.get("text", ""))
    raw = entry.get("data")
    data: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    text = RECOVERY_TEXT.get(name, name)
    if name == "recovery_step" and _finite(data.get("attempt")) is not None:
        text += f", lần thứ {int(data['attempt'])}"
    if name == "recovered":
        down = _finite(data.get("downtime_s"))
        if down is None:
            down = _finite(data.get("outage_s"))
        if down is not None:
            text += f" sau {duration_text(down)} gián đoạn"
    return text


# -- the data --------------------------------------------------------------------------------

def _readings(kind: str, readings: Mapping[str, Any]) -> list[dict[str, str]]:
    """The few readings that tell an officer how a device is: lamp hours, UPS charge…"""
    out: list[dict[str, str]] = []

    def add(label: str, value: str) -> None:
        out.append({"label": label, "value": _clean(value)})

    power = readings.get("power")
    if isinstance(power, str) and power:
        add("Nguồn", {"on": "Đang bật", "off": "Đang tắt", "warming": "Đang khởi động",
                      "cooling": "Đang làm mát"}.get(power, power))
    if isinstance(readings.get("input"), str) and readings["input"]:
        add("Nguồn tín hiệu", readings["input"])
    lamps = [h for h in (readings.get("lamp_hours") or []) if _finite(h) is not None] \
        if isinstance(readings.get("lamp_hours"), list) else []
    if lamps:
        add("Số giờ dùng đèn", ", ".join(f"{int(h)} giờ" for h in lamps))
    errors = readings.get("errors")
    if isinstance(errors, dict):
        bad = [f"{_clean(k, 20)} ({'lỗi' if v == 'error' else 'cảnh báo'})"
               for k, v in errors.items() if v in ("warning", "error")]
        add("Báo lỗi của máy", ", ".join(bad) if bad else "Không có")
    on_battery = readings.get("on_battery")
    if isinstance(on_battery, bool):
        add("Nguồn điện", "Đang chạy pin" if on_battery else "Điện lưới")
    for key, label, unit in (("charge_percent", "Pin còn", "%"),
                             ("runtime_minutes", "Thời gian chạy pin còn lại", " phút"),
                             ("load_percent", "Tải", "%"),
                             ("input_voltage", "Điện áp vào", " V")):
        value = _finite(readings.get(key))
        if value is not None:
            add(label, f"{value:.0f}{unit}")
    if isinstance(readings.get("battery_status"), str):
        add("Tình trạng ắc quy", readings["battery_status"])
    channels = readings.get("channels")
    if kind == "mixer" and isinstance(channels, list):
        muted = sum(1 for c in channels if isinstance(c, dict) and c.get("muted") is True)
        add("Kênh âm thanh", f"{len(channels)} kênh, {muted} kênh đang tắt tiếng")
    interfaces = readings.get("interfaces")
    if isinstance(interfaces, list):
        up = sum(1 for i in interfaces if isinstance(i, dict) and i.get("up") is True)
        add("Cổng mạng", f"{up}/{len(interfaces)} cổng hoạt động")
    return out


def device_entry(described: Mapping[str, Any]) -> dict[str, Any]:
    """One device as the report shows it, from `DeviceService.describe`."""
    kind = str(described.get("kind", ""))
    state = str(described.get("state", "unknown"))
    readings = described.get("readings")
    error = described.get("last_error")
    return {
        "id": _clean(described.get("id", ""), 64),
        "name": _clean(described.get("name") or described.get("id", "")),
        "kind": kind, "kind_text": DEVICE_KINDS.get(kind, kind),
        "state": state, "state_text": DEVICE_STATES.get(state, state),
        "readings": _readings(kind, readings if isinstance(readings, dict) else {}),
        "last_error": _clean(error, 160) if error and state != "online" else None,
    }


def _samples(incident: Incident) -> dict[str, Any] | None:
    onset = next((t for t in incident.timeline if t.get("type") == "onset"), None)
    raw = onset.get("samples") if onset else None
    if not isinstance(raw, list) or not raw:
        return None
    label, unit = METRICS.get(incident.kind, ("Giá trị đo", ""))
    samples = []
    for pair in raw:
        if isinstance(pair, list | tuple) and len(pair) == 2:
            at, value = _finite(pair[0]), _finite(pair[1])
            if at is not None and value is not None:
                samples.append({"at": iso(at), "local": vn_time(at, seconds=True),
                                "value": round(value, 2)})
    return {"metric": incident.kind, "label": label, "unit": unit,
            "samples": samples} if samples else None


def _clock(due: float | None, sent: float | None, now: float) -> dict[str, Any]:
    overdue = due is not None and sent is None and now > due
    if due is None:
        status = "Không áp dụng"
    elif sent is not None:
        status = f"Đã gửi lúc {vn_time(sent)}" + (" (trễ hạn)" if sent > due else "")
    elif overdue:
        status = f"QUÁ HẠN từ {vn_time(due)}"
    else:
        status = f"Chưa gửi, hạn {vn_time(due)}"
    return {"due": _moment(due), "sent": _moment(sent), "overdue": overdue, "status": status}


def report_data(incident: Incident, *, site: Mapping[str, Any], here: Mapping[str, Any],
                session: Mapping[str, Any] | None, devices: Sequence[Mapping[str, Any]],
                now: float, author: str | None = None,
                site_names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The report as one JSON-able dict: the single source of the three renderings.

    ``site`` is where the incident happened (id, name, level), ``here`` the site making the
    report; ``devices`` are `DeviceService.describe` answers (this site's, when it is the
    origin); ``session`` has id, title, starts_at, ends_at (epoch seconds) when known.
    """
    device_list = [device_entry(d) for d in devices]
    names = {d["id"]: d["name"] for d in device_list}
    sites = dict(site_names or {})
    actions: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for entry in incident.timeline:
        at = _finite(entry.get("at"))
        kind = str(entry.get("type", ""))
        by = _clean(entry["by"], 64) if isinstance(entry.get("by"), str) else None
        row = {"at": iso(at), "local": vn_time(at), "type": kind,
               "type_text": TIMELINE_TEXT.get(kind, kind), "by": by,
               "text": _recovery_text(entry) if kind == "recovery"
               else _clean(entry.get("text", ""), 1000)}
        (notes if kind == "note" else actions).append(row)
    restore = incident.time_to_restore()
    if restore is None:
        restore_text = f"Chưa khắc phục (đã {duration_text(now - incident.opened_at)})"
    else:
        restore_text = duration_text(restore)
    onset = next((t for t in incident.timeline if t.get("type") == "onset"), None)
    session_out: dict[str, Any] | None = None
    if incident.session is not None:
        known = session or {}
        session_out = {"id": incident.session,
                       "title": _clean(known["title"], 200) if "title" in known else None,
                       "starts": _moment(_finite(known.get("starts_at"))),
                       "ends": _moment(_finite(known.get("ends_at")))}
    level = str(site.get("level", ""))
    return {
        "format": REPORT_FORMAT,
        "generated": {"at": iso(now), "local": vn_time(now), "by": author,
                      "site": {"id": str(here.get("id", "")),
                               "name": _clean(here.get("name", ""), 200)}},
        "site": {"id": str(site.get("id", "")), "name": _clean(site.get("name", ""), 200),
                 "level": level, "level_text": LEVELS.get(level, level)},
        "incident": {
            "id": incident.id, "kind": incident.kind,
            "kind_text": KIND_TEXT.get(incident.kind, incident.kind),
            "title": _clean(incident.title, 200), "subject": incident.subject,
            "subject_text": _clean(subject_text(incident.subject, names, sites), 200),
            "severity": incident.severity,
            "severity_text": SEVERITY_TEXT.get(incident.severity, incident.severity),
            "state": incident.state, "state_text": STATE_TEXT.get(incident.state, incident.state),
            "serious": incident.serious, "cause": incident.cause,
            "resolution": _clean(incident.resolution, 1000),
        },
        "session": session_out,
        "times": {
            "opened": _moment(incident.opened_at),
            "acknowledged": _moment(incident.acknowledged_at),
            "acknowledged_by": incident.acknowledged_by,
            "resolved": _moment(incident.resolved_at),
            "resolved_by": incident.resolved_by,
        },
        "symptoms": {
            "summary": _clean(incident.title, 200),
            "kind_text": KIND_TEXT.get(incident.kind, incident.kind),
            "where": _clean(subject_text(incident.subject, names, sites), 200),
            "detected": _clean(onset.get("text", ""), 300) if onset else None,
        },
        "metrics": _samples(incident),
        "devices": device_list,
        "devices_note": None if devices else (
            "Điểm cầu này không có thiết bị được theo dõi." if site.get("id") == here.get("id")
            else "Thiết bị của điểm cầu xảy ra sự cố do chính điểm cầu đó theo dõi."),
        "actions": actions,
        "notes": notes,
        "time_to_restore": {"seconds": restore, "text": restore_text},
        "clocks": {
            "applies": incident.serious,
            "notice": _clock(incident.notice_due, incident.notice_sent_at, now),
            "report": _clock(incident.report_due, incident.report_sent_at, now),
            "overdue": incident.overdue(now),
        },
    }


def build_report(ctx: SiteContext, incident_id: str, *, author: str | None = None
                 ) -> dict[str, Any]:
    """Gather the context of one incident at a running site and make its report data."""
    incident = ctx.incidents.require(incident_id)
    here = ctx.config.site
    site_names = {e.id: e.name for e in ctx.tree.entries.values()}
    if incident.origin == here.id:
        site: dict[str, Any] = {"id": here.id, "name": here.name, "level": here.level}
        devices = []
        for device_id in ctx.devices.ids():
            try:
                devices.append(ctx.devices.describe(device_id))
            except NotFoundError:
                continue  # removed while we looked
    else:
        entry = ctx.tree.entries.get(incident.origin)
        site = {"id": incident.origin, "name": entry.name if entry else incident.origin,
                "level": entry.level if entry else ""}
        devices = []
    session = None
    if incident.session is not None:
        record = ctx.sessions.get(incident.session)
        if record is not None:
            session = {"title": record.title, "starts_at": record.starts_at,
                       "ends_at": record.ends_at}
    return report_data(incident, site=site, here={"id": here.id, "name": here.name},
                       session=session, devices=devices, now=ctx.clock(), author=author,
                       site_names=site_names)


def report_filename(report: Mapping[str, Any], extension: str) -> str:
    """A safe ASCII file name for a report download."""
    incident_id = str(report["incident"]["id"])
    return f"bao-cao-su-co-{re.sub(r'[^A-Za-z0-9._-]+', '-', incident_id)[:100]}.{extension}"


# -- HTML ------------------------------------------------------------------------------------

REPORT_CSS: Final = """
body{font-family:"DejaVu Sans",Arial,sans-serif;font-size:13px;color:#111;margin:0;
background:#eee}
.page{max-width:800px;margin:16px auto;background:#fff;padding:28px 36px;
box-shadow:0 1px 4px rgba(0,0,0,.2)}
.head{display:flex;justify-content:space-between;text-align:center;gap:16px}
.head p{margin:0}
.motto{font-weight:bold;text-decoration:underline}
.date{text-align:right;font-style:italic;margin:8px 0}
h1{text-align:center;font-size:17px;margin:14px 0 2px}
.sub{text-align:center;margin:0 0 12px;color:#333}
h2{font-size:13.5px;margin:14px 0 4px}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #999;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f0f0f0;font-weight:bold}
.facts th{width:32%}
.late{color:#b00020;font-weight:bold}
.muted{color:#555}
.sign{display:flex;justify-content:flex-end;margin-top:18px;text-align:center}
.sign p{margin:0 40px 0 0}
@media print{body{background:#fff}.page{box-shadow:none;margin:0;max-width:none}}
""".strip()


@functools.cache
def report_csp() -> str:
    """The report page's own policy: its one inline stylesheet (by hash), nothing else."""
    digest = base64.b64encode(hashlib.sha256(REPORT_CSS.encode()).digest()).decode()
    return (f"default-src 'none'; style-src 'sha256-{digest}'; img-src data:; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


_LATE: Final = ' class="late"'


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _local(moment: Mapping[str, Any] | None) -> str:
    return str(moment["local"]) if moment else "—"


def _who(text: str, by: Any) -> str:
    return f"{text} ({by})" if by else text


def general_rows(report: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    """Section 1 as (label, value, flagged) rows, shared by HTML and PDF."""
    site, inc, times = report["site"], report["incident"], report["times"]
    session = report["session"]
    rows = [("Điểm cầu", f"{site['name']} ({site['id']})", False),
            ("Cấp", site["level_text"] or "—", False)]
    if session is not None:
        text = session["title"] or f"Phiên họp {session['id']}"
        if session.get("starts"):
            text += f", {_local(session['starts'])} – {_local(session.get('ends'))}"
        rows.append(("Phiên họp", text, False))
    rows += [
        ("Mức độ", inc["severity_text"], inc["severity"] == "critical"),
        ("Trạng thái", inc["state_text"], False),
        ("Thời điểm phát hiện", _local(times["opened"]), False),
        ("Thời điểm tiếp nhận", _who(_local(times["acknowledged"]), times["acknowledged_by"]),
         False),
        ("Thời điểm khắc phục xong", _who(_local(times["resolved"]), times["resolved_by"]),
         False),
        ("Thời gian khắc phục", report["time_to_restore"]["text"], False),
    ]
    if inc["cause"]:
        rows.append(("Nguyên nhân chung", f"Do sự cố {inc['cause']}", False))
    return rows


def symptom_rows(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Section 2 as (label, value) rows."""
    s = report["symptoms"]
    rows = [("Hiện tượng", s["summary"]), ("Loại sự cố", s["kind_text"]),
            ("Vị trí", s["where"])]
    if s["detected"] and s["detected"] != s["summary"]:
        rows.append(("Khi phát hiện", s["detected"]))
    if report["incident"]["resolution"]:
        rows.append(("Kết quả xử lý", report["incident"]["resolution"]))
    return rows


def clock_rows(report: Mapping[str, Any]) -> list[tuple[str, str, str, bool]]:
    """Section 6 as (document, due, status, overdue) rows; empty when the clocks do not apply."""
    clocks = report["clocks"]
    if not clocks["applies"]:
        return []
    return [(name, _local(clocks[key]["due"]), clocks[key]["status"], clocks[key]["overdue"])
            for key, name in (("notice", "Thông báo ban đầu (trong 24 giờ)"),
                              ("report", "Báo cáo đầy đủ (trong 72 giờ)"))]


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    out = [f'<table class="{cls}">' if cls else "<table>", "<tr>"]
    out += [f"<th>{_e(h)}</th>" for h in head]
    out.append("</tr>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    out.append("</table>")
    return "".join(out)


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page (no external assets, every string escaped)."""
    site, inc, gen = report["site"], report["incident"], report["generated"]
    parts = [
        "<!DOCTYPE html>", '<html lang="vi"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Báo cáo sự cố {_e(inc['id'])}</title>", f"<style>{REPORT_CSS}</style>",
        '</head><body><main class="page">',
        '<div class="head"><div>'
        f"<p><strong>{_e(site['name'])}</strong></p></div><div>"
        "<p><strong>CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM</strong></p>"
        '<p class="motto">Độc lập - Tự do - Hạnh phúc</p></div></div>',
        f'<p class="date">{_e(_vn_date_line(gen["local"]))}</p>',
        "<h1>BÁO CÁO SỰ CỐ ĐIỂM CẦU TRỰC TUYẾN</h1>",
        f'<p class="sub">Mã sự cố: {_e(inc["id"])} — {_e(inc["title"])}</p>',
        "<h2>1. Thông tin chung</h2>",
        '<table class="facts">' + "".join(
            f"<tr><th>{_e(k)}</th><td{_LATE if flag else ''}>{_e(v)}</td></tr>"
            for k, v, flag in general_rows(report)) + "</table>",
        "<h2>2. Hiện tượng sự cố</h2>",
        '<table class="facts">' + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>"
                                          for k, v in symptom_rows(report)) + "</table>",
    ]
    metrics = report["metrics"]
    if metrics:
        unit = f" ({metrics['unit']})" if metrics["unit"] else ""
        parts += ["<h2>3. Số liệu đo khi phát hiện</h2>", _table(
            ["Thời điểm", metrics["label"] + unit],
            [[_e(s["local"]), _e(f"{s['value']:g}")] for s in metrics["samples"]])]
    else:
        parts += ["<h2>3. Số liệu đo khi phát hiện</h2>",
                  '<p class="muted">Không có số liệu đo kèm theo sự cố này.</p>']
    parts.append("<h2>4. Trạng thái thiết bị khi lập báo cáo</h2>")
    if report["devices"]:
        parts.append(_table(["Thiết bị", "Trạng thái", "Thông số chính"], [[
            _e(f"{d['name']} ({d['kind_text']})"),
            f'<span class="late">{_e(d["state_text"])}</span>' if d["state"] == "offline"
            else _e(d["state_text"]),
            _e("; ".join(f"{r['label']}: {r['value']}" for r in d["readings"])
               + (f"; Lỗi: {d['last_error']}" if d["last_error"] else "") or "—")]
            for d in report["devices"]]))
    else:
        parts.append(f'<p class="muted">{_e(report["devices_note"])}</p>')
    parts.append("<h2>5. Diễn biến và biện pháp xử lý</h2>")
    parts.append(_table(["Thời điểm", "Việc", "Nội dung"], [
        [_e(a["local"] or "—"), _e(a["type_text"]), _e(_who(a["text"], a["by"]))]
        for a in report["actions"][-MAX_ACTIONS:]]))
    parts.append("<h2>6. Thời hạn báo cáo theo quy định</h2>")
    clocks = clock_rows(report)
    if clocks:
        parts.append(_table(["Văn bản", "Hạn", "Tình trạng"], [
            [_e(name), _e(due), f'<span class="late">{_e(status)}</span>' if late
             else _e(status)] for name, due, status, late in clocks]))
    else:
        parts.append('<p class="muted">Không áp dụng: chỉ sự cố mức nghiêm trọng phải thông '
                     "báo trong 24 giờ và báo cáo trong 72 giờ.</p>")
    parts.append("<h2>7. Ghi chú của cán bộ vận hành</h2>")
    if report["notes"]:
        parts.append(_table(["Thời điểm", "Người ghi", "Nội dung"], [
            [_e(n["local"] or "—"), _e(n["by"] or "—"), _e(n["text"])]
            for n in report["notes"]]))
    else:
        parts.append('<p class="muted">Không có ghi chú.</p>')
    parts += [
        '<div class="sign"><p><strong>NGƯỜI LẬP BÁO CÁO</strong><br>'
        f"<em>(Ký, ghi rõ họ tên)</em><br><br><br>{_e(gen['by'] or '')}</p></div>",
        f'<p class="muted">Lập lúc {_e(gen["local"])} (giờ Việt Nam, UTC+7) tại '
        f"{_e(gen['site']['name'])}.</p>",
        "</main></body></html>",
    ]
    return "\n".join(parts)


def _vn_date_line(local: str | None) -> str:
    """"Ngày dd tháng mm năm yyyy", the date line of an official document."""
    if not local:
        return ""
    day, month, year = local.split(" ")[0].split("/")
    return f"Ngày {day} tháng {month} năm {year}"


# -- PDF -------------------------------------------------------------------------------------

@functools.cache
def register_fonts() -> tuple[str, str]:
    """Register DejaVu Sans with reportlab once (its registry is global); Vietnamese needs it."""
    from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
    from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]

    for name, file in FONT_FILES.items():
        path = FONT_DIR / file
        if not path.is_file():
            error = DependencyFailedError(
                f"Không lập được báo cáo PDF: thiếu phông chữ {path}. "
                f"Hãy cài gói {FONT_PACKAGE} (apt-get install {FONT_PACKAGE}).",
                code="report_font_missing", status=424, detail=str(path))
            raise error
        pdfmetrics.registerFont(TTFont(name, str(path)))
    return "DejaVuSans", "DejaVuSans-Bold"


def render_pdf(report: Mapping[str, Any]) -> bytes:
    """The report as an A4 PDF, one page for a normal incident; CPU-bound, run it off the loop."""
    from reportlab.lib import colors  # type: ignore[import-untyped]
    from reportlab.lib.enums import TA_CENTER, TA_RIGHT  # type: ignore[import-untyped]
    from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
    from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
    from reportlab.lib.units import mm  # type: ignore[import-untyped]
    from reportlab.platypus import (  # type: ignore[import-untyped]
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    regular, bold = register_fonts()
    red = colors.HexColor("#b00020")
    base = ParagraphStyle("base", fontName=regular, fontSize=8.5, leading=10.5)
    strong = ParagraphStyle("strong", parent=base, fontName=bold)
    centre = ParagraphStyle("centre", parent=strong, alignment=TA_CENTER)
    motto = ParagraphStyle("motto", parent=centre, fontSize=9)
    title = ParagraphStyle("title", parent=centre, fontSize=13, leading=16, spaceBefore=4)
    sub = ParagraphStyle("sub", parent=base, alignment=TA_CENTER, spaceAfter=2)
    date = ParagraphStyle("date", parent=base, alignment=TA_RIGHT, fontName=regular)
    heading = ParagraphStyle("heading", parent=strong, fontSize=9.5, leading=12,
                             spaceBefore=5, spaceAfter=2)
    late = ParagraphStyle("late", parent=strong, textColor=red)
    muted = ParagraphStyle("muted", parent=base, textColor=colors.HexColor("#555555"))

    def p(text: Any, style: ParagraphStyle = base) -> Paragraph:
        return Paragraph(xml_escape("" if text is None else str(text)), style)

    width = A4[0] - 30 * mm
    grid = TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ])
    head_grid = TableStyle([*grid.getCommands(),
                            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee"))])

    def facts(rows: Sequence[tuple[str, str, bool]]) -> Table:
        return Table([[p(k, strong), p(v, late if flag else base)] for k, v, flag in rows],
                     colWidths=[0.3 * width, 0.7 * width], style=grid)

    def table(head: Sequence[str], rows: Sequence[Sequence[Paragraph]],
              fractions: Sequence[float]) -> Table:
        return Table([[p(h, strong) for h in head], *rows],
                     colWidths=[f * width for f in fractions], style=head_grid, repeatRows=1)

    site, inc, gen = report["site"], report["incident"], report["generated"]
    story: list[Any] = [
        Table([[p(site["name"], centre), p("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", motto)],
               ["", Paragraph("<u>Độc lập - Tự do - Hạnh phúc</u>", motto)]],
              colWidths=[0.42 * width, 0.58 * width],
              style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                                ("SPAN", (0, 0), (0, 1))])),
        p(_vn_date_line(gen["local"]), date),
        p("BÁO CÁO SỰ CỐ ĐIỂM CẦU TRỰC TUYẾN", title),
        p(f"Mã sự cố: {inc['id']} — {inc['title']}", sub),
        p("1. Thông tin chung", heading), facts(general_rows(report)),
        p("2. Hiện tượng sự cố", heading),
        facts([(k, v, False) for k, v in symptom_rows(report)]),
        p("3. Số liệu đo khi phát hiện", heading),
    ]
    metrics = report["metrics"]
    if metrics:
        samples = metrics["samples"]
        unit = f" ({metrics['unit']})" if metrics["unit"] else ""
        # Sideways (time over value) so ten samples take two lines, not ten.
        cells = len(samples) + 1
        story.append(Table(
            [[p("Thời điểm", strong)] + [p(s["local"].split(" ")[1]) for s in samples],
             [p(metrics["label"] + unit, strong)] + [p(f"{s['value']:g}") for s in samples]],
            colWidths=[0.22 * width] + [0.78 * width / (cells - 1)] * (cells - 1),
            style=grid))
    else:
        story.append(p("Không có số liệu đo kèm theo sự cố này.", muted))
    story.append(p("4. Trạng thái thiết bị khi lập báo cáo", heading))
    if report["devices"]:
        story.append(table(["Thiết bị", "Trạng thái", "Thông số chính"], [[
            p(f"{d['name']} ({d['kind_text']})"),
            p(d["state_text"], late if d["state"] == "offline" else base),
            p("; ".join(f"{r['label']}: {r['value']}" for r in d["readings"])
              + (f"; Lỗi: {d['last_error']}" if d["last_error"] else "") or "—")]
            for d in report["devices"]], (0.3, 0.17, 0.53)))
    else:
        story.append(p(report["devices_note"], muted))
    story.append(p("5. Diễn biến và biện pháp xử lý", heading))
    story.append(table(["Thời điểm", "Việc", "Nội dung"], [
        [p(a["local"] or "—"), p(a["type_text"]), p(_who(a["text"], a["by"]))]
        for a in report["actions"][-MAX_ACTIONS:]], (0.2, 0.2, 0.6)))
    story.append(p("6. Thời hạn báo cáo theo quy định", heading))
    clocks = clock_rows(report)
    if clocks:
        story.append(table(["Văn bản", "Hạn", "Tình trạng"], [
            [p(name), p(due), p(status, late if overdue else base)]
            for name, due, status, overdue in clocks], (0.38, 0.2, 0.42)))
    else:
        story.append(p("Không áp dụng: chỉ sự cố mức nghiêm trọng phải thông báo trong 24 giờ "
                       "và báo cáo trong 72 giờ.", muted))
    story.append(p("7. Ghi chú của cán bộ vận hành", heading))
    if report["notes"]:
        story.append(table(["Thời điểm", "Người ghi", "Nội dung"], [
            [p(n["local"] or "—"), p(n["by"] or "—"), p(n["text"])]
            for n in report["notes"]], (0.2, 0.15, 0.65)))
    else:
        story.append(p("Không có ghi chú.", muted))
    story += [
        Spacer(1, 6),
        Table([["", p("NGƯỜI LẬP BÁO CÁO", centre)],
               ["", p("(Ký, ghi rõ họ tên)", ParagraphStyle("i", parent=base,
                                                               alignment=TA_CENTER))],
               ["", Spacer(1, 22)], ["", p(gen["by"] or "", centre)]],
              colWidths=[0.55 * width, 0.45 * width],
              style=TableStyle([("TOPPADDING", (0, 0), (-1, -1), 0),
                                ("BOTTOMPADDING", (0, 0), (-1, -1), 0)])),
        p(f"Lập lúc {gen['local']} (giờ Việt Nam, UTC+7) tại {gen['site']['name']}.", muted),
    ]
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm,
                            topMargin=12 * mm, bottomMargin=12 * mm,
                            title=f"Báo cáo sự cố {inc['id']}", author=gen["by"] or "diemcau",
                            subject="BÁO CÁO SỰ CỐ ĐIỂM CẦU TRỰC TUYẾN", creator="diemcau")
    doc.build(story)
    return out.getvalue()
