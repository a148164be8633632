"""The periodic usage report of a site, for itself or aggregated over its subtree.

Reads the usage records (sessions, attendance) and incidents kept at this site — its own and
those its subtree sent up — and makes one row per site: sessions invited and attended by host
level, hours connected, attendance rate, on-time rate, readiness pass rate, incidents and mean
time to restore, availability, device upkeep. A session belongs to the period in which it was
planned to start. The report is a plain dict; `controller.report_render` writes it as CSV,
XLSX or PDF.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from controller.config import LEVELS, SiteConfig
from controller.periods import VIETNAM, Period
from controller.store import Store

DOWN_KINDS: Final = frozenset({"uplink_down", "call_dropped"})  # the site cut off
LAMP_HOURS_DUE: Final = 2000  # common projector lamp life before replacement

Progress = Callable[[int, int], None]

# One row per site and host level; cancelled sessions do not count.
_ATTENDANCE_SQL: Final = """
SELECT origin, host_level, COUNT(*) AS invited, SUM(attended) AS attended, SUM(on_time) AS on_time,
       COUNT(ready) AS checked, SUM(ready) AS ready, SUM(hours) AS hours
FROM usage
WHERE kind = 'usage.attendance' AND at >= ? AND at < ? AND cancelled = 0
GROUP BY origin, host_level
"""


@dataclass
class _Row:
    site: str
    name: str
    level: str
    parent: str | None
    invited: int = 0
    attended: int = 0
    on_time: int = 0
    ready: int = 0
    checked: int = 0
    hosted: int = 0
    hours: float = 0.0
    incidents: int = 0
    restore_minutes: list[float] = field(default_factory=list)
    down_seconds: float = 0.0
    by_level: dict[str, list[int]] = field(
        default_factory=lambda: {level: [0, 0] for level in LEVELS})
    lamp_hours: int | None = None
    ups_battery: str | None = None


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def build_report(config: SiteConfig, store: Store, period: Period, *, subtree: bool,
                 sites: Mapping[str, tuple[str, str, str | None]] | None = None,
                 devices: Mapping[str, Any] | None = None, number: str = "",
                 now: float | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """The report for ``period``: this site only, or with every site below it.

    ``sites`` maps known descendants to (name, level, parent) — the live tree when the site
    runs; records name the rest. ``devices`` are this site's current readings by device id.
    """
    own = config.site
    rows: dict[str, _Row] = {own.id: _Row(own.id, own.name, own.level, None)}
    if subtree:
        for child in config.children:
            rows.setdefault(child.id, _Row(child.id, child.name or child.id, "", own.id))
        for site_id, (name, level, parent) in (sites or {}).items():
            rows[site_id] = _Row(site_id, name, level, parent)
    start, end = period.start, period.end

    # Aggregated inside SQLite (json_extract): hundreds of thousands of records a half-year.
    found = store.query(_ATTENDANCE_SQL, (start, end))
    total = len(found)
    for i, row in enumerate(found):
        site_id = str(row["origin"])
        if not subtree and site_id != own.id:
            continue
        entry = rows.get(site_id)
        if entry is None:
            name, level = _named(store, site_id)
            entry = rows[site_id] = _Row(site_id, name, level, None)
        level = str(row["host_level"] or "")
        entry.invited += int(row["invited"])
        entry.attended += int(row["attended"] or 0)
        entry.on_time += int(row["on_time"] or 0)
        entry.checked += int(row["checked"] or 0)
        entry.ready += int(row["ready"] or 0)
        entry.hours += float(row["hours"] or 0.0)
        if level in entry.by_level:
            entry.by_level[level][0] += int(row["invited"])
            entry.by_level[level][1] += int(row["attended"] or 0)
        if progress is not None and i % 1000 == 0:
            progress(i, total)
    for row in store.query("SELECT origin FROM usage WHERE kind = 'usage.session'"
                           " AND at >= ? AND at < ?", (start, end)):
        if str(row["origin"]) in rows:
            rows[str(row["origin"])].hosted += 1
    _count_incidents(rows, store, start, end)
    _device_snapshots(rows, store, start, end)
    if devices:
        _upkeep(rows[own.id], devices)
    report_rows = [_row_json(r, period) for r in rows.values()]
    if progress is not None:
        progress(total, total)
    return {
        "site": {"id": own.id, "name": own.name, "level": own.level},
        "scope": "subtree" if subtree else "site",
        "period": period.to_dict(config.reports.cutoff_day),
        "generated_at": dt.datetime.fromtimestamp(now if now is not None else
                                                  dt.datetime.now().timestamp(),
                                                  VIETNAM).isoformat(timespec="seconds"),
        "number": number,
        "rows": report_rows,
        "totals": _totals(rows.values(), period),
    }


def _named(store: Store, site_id: str) -> tuple[str, str]:
    """A site's name and level as its latest attendance record gives them."""
    row = store.query_one("SELECT body FROM usage WHERE origin = ? AND kind = 'usage.attendance'"
                          " ORDER BY at DESC LIMIT 1", (site_id,))
    body = json.loads(row["body"]) if row else {}
    return str(body.get("site_name") or site_id), str(body.get("site_level") or "")


def _count_incidents(rows: dict[str, _Row], store: Store, start: float, end: float) -> None:
    found = store.query(
        "SELECT origin, kind, subject, opened_at, resolved_at FROM incidents"
        " WHERE opened_at < ? AND (resolved_at IS NULL OR resolved_at >= ?)", (end, start))
    for row in found:
        origin, opened = str(row["origin"]), float(row["opened_at"])
        resolved = row["resolved_at"]
        entry = rows.get(origin)
        if entry is not None and start <= opened < end:
            entry.incidents += 1
            if resolved is not None:
                entry.restore_minutes.append((float(resolved) - opened) / 60.0)
        # Time cut off counts against availability: the site's own link incidents, and a
        # parent's record of the child being unreachable.
        subject = str(row["subject"])
        target = subject[6:] if subject.startswith("child:") else (
            origin if row["kind"] in DOWN_KINDS else None)
        if target in rows:
            until = float(resolved) if resolved is not None else end
            rows[target].down_seconds += max(0.0, min(until, end) - max(opened, start))


def _device_snapshots(rows: dict[str, _Row], store: Store, start: float, end: float) -> None:
    """Each site's latest daily device snapshot in the period: lamp hours, UPS battery."""
    found = store.query(
        "SELECT origin, body FROM usage u WHERE kind = 'usage.device' AND at >= ? AND at < ?"
        " AND at = (SELECT MAX(at) FROM usage v WHERE v.kind = 'usage.device'"
        " AND v.origin = u.origin AND v.at >= ? AND v.at < ?)", (start, end, start, end))
    for row in found:
        entry = rows.get(str(row["origin"]))
        if entry is None:
            continue
        for device in json.loads(row["body"]).get("devices", []):
            if isinstance(device, dict):
                _upkeep(entry, {"d": {"readings": device}})


def _upkeep(entry: _Row, devices: Mapping[str, Any]) -> None:
    for described in devices.values():
        readings = described.get("readings") or {}
        lamps = readings.get("lamp_hours")
        if isinstance(lamps, list) and lamps:
            hours = [h for h in lamps if isinstance(h, int)]
            if hours:
                entry.lamp_hours = max([*hours, entry.lamp_hours or 0])
        if isinstance(readings.get("battery_status"), str):
            entry.ups_battery = readings["battery_status"]


def _row_json(r: _Row, period: Period) -> dict[str, Any]:
    due = []
    if r.lamp_hours is not None and r.lamp_hours >= LAMP_HOURS_DUE:
        due.append(f"Bóng đèn máy chiếu đã dùng {r.lamp_hours:,} giờ".replace(",", ".")
                   + f" (nên thay ở {LAMP_HOURS_DUE:,} giờ)".replace(",", "."))
    if r.ups_battery in ("low", "depleted"):
        due.append("Ắc quy UPS cần kiểm tra, thay thế")
    length = period.end - period.start
    return {
        "site": r.site, "name": r.name, "level": r.level, "parent": r.parent,
        "sessions_invited": r.invited, "sessions_attended": r.attended,
        "by_host_level": {k: {"invited": v[0], "attended": v[1]} for k, v in r.by_level.items()},
        "sessions_hosted": r.hosted, "hours_connected": round(r.hours, 1),
        "attendance_rate": _rate(r.attended, r.invited),
        "on_time_rate": _rate(r.on_time, r.attended),
        "readiness_pass_rate": _rate(r.ready, r.checked),
        "incidents": r.incidents,
        "mttr_minutes": (round(sum(r.restore_minutes) / len(r.restore_minutes), 1)
                         if r.restore_minutes else None),
        "availability_percent": round(100.0 * max(0.0, 1 - r.down_seconds / length), 2),
        "lamp_hours": r.lamp_hours, "ups_battery": r.ups_battery, "maintenance_due": due,
    }


def _totals(rows: Iterable[_Row], period: Period) -> dict[str, Any]:
    rows = list(rows)
    invited = sum(r.invited for r in rows)
    attended = sum(r.attended for r in rows)
    restore = [m for r in rows for m in r.restore_minutes]
    length = period.end - period.start
    return {
        "sites": len(rows), "sessions_invited": invited, "sessions_attended": attended,
        "sessions_hosted": sum(r.hosted for r in rows),
        "hours_connected": round(sum(r.hours for r in rows), 1),
        "attendance_rate": _rate(attended, invited),
        "on_time_rate": _rate(sum(r.on_time for r in rows), attended),
        "readiness_pass_rate": _rate(sum(r.ready for r in rows), sum(r.checked for r in rows)),
        "incidents": sum(r.incidents for r in rows),
        "mttr_minutes": round(sum(restore) / len(restore), 1) if restore else None,
        "availability_percent": (round(100.0 * max(0.0, 1 - sum(r.down_seconds for r in rows)
                                                   / (length * len(rows))), 2)
                                 if rows else None),
        "by_host_level": {level: {"invited": sum(r.by_level[level][0] for r in rows),
                                  "attended": sum(r.by_level[level][1] for r in rows)}
                          for level in LEVELS},
    }


FORMATS: Final = ("json", "csv", "xlsx", "pdf")
CONTENT_TYPES: Final = {
    "json": "application/json; charset=utf-8", "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def render(report: Mapping[str, Any], fmt: str, language: str = "vi") -> bytes:
    """The report in one of `FORMATS`."""
    if fmt == "json":
        return json.dumps(report, ensure_ascii=False, indent=1).encode("utf-8")
    # reportlab and openpyxl are loaded only when a document is asked for
    from controller.report_render import to_csv, to_pdf, to_xlsx

    if fmt == "csv":
        return to_csv(report).encode("utf-8")
    if fmt == "xlsx":
        return to_xlsx(report)
    if fmt == "pdf":
        return to_pdf(report, language=language)
    raise ValueError(f"unknown format {fmt!r}")


def file_name(report: Mapping[str, Any], fmt: str) -> str:
    """A safe download name: bao-cao-SITE-PERIOD.EXT."""
    raw = f"bao-cao-{report['site']['id']}-{report['period']['label']}"
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in raw)
    return f"{safe}.{fmt}"
