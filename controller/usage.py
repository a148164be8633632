"""Usage records for the periodic reports, written as things happen and sent up.

When a session ends (or is cancelled) the chair site records the session, and every site that
was invited records its attendance: ready at the check or not, each join and leave (several if
it reconnected), late or on time, the roll-call count. Records go to the outbox in the same
transaction as the local copy, so the upper levels get each once; a site keeps its own and its
subtree's records in ``usage`` to build reports at any level. A record's ``id`` names what it
is about, so recording the same thing twice keeps one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from controller.config import SiteConfig
from controller.devices import DeviceService
from controller.errors import StorageError
from controller.outbox import Outbox
from controller.periods import VIETNAM
from controller.session_rules import SessionRecord
from controller.sessions import SessionService
from controller.store import Store

log = logging.getLogger(__name__)

LATE_SECONDS: Final = 300.0  # joining more than five minutes after the start is late
KINDS: Final = ("usage.session", "usage.attendance", "usage.device")
DEVICE_SNAPSHOT_SECONDS: Final = 3600.0  # how often to look; one snapshot a day is kept


INSERT_USAGE: Final = (
    "INSERT OR IGNORE INTO usage(key, origin, kind, at, session_id, body, host_level,"
    " attended, on_time, ready, hours, cancelled) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def usage_row(key: str, origin: str, kind: str, at: float,
              body: Mapping[str, Any]) -> tuple[Any, ...]:
    """The parameters of `INSERT_USAGE` for one record: the figures a report sums as
    columns beside the whole record."""
    ready = body.get("ready")
    hours = body.get("hours_connected")
    attended = body.get("attended") is True
    return (key, origin, kind, at, str(body.get("session") or "")[:100] or None,
            json.dumps(dict(body), ensure_ascii=False, default=str),
            str(body["host_level"]) if isinstance(body.get("host_level"), str) else None,
            int(attended), int(attended and not body.get("late")),
            int(ready) if isinstance(ready, bool) else None,
            float(hours) if isinstance(hours, int | float) and not isinstance(hours, bool)
            else 0.0, int(body.get("state") == "cancelled"))


class UsageService:
    """Writes this site's usage records and keeps those of its subtree."""

    def __init__(self, config: SiteConfig, store: Store, outbox: Outbox,
                 sessions: SessionService, clock: Callable[[], float],
                 devices: DeviceService | None = None) -> None:
        self.site = config.site
        self.devices = devices
        self.store = store
        self.outbox = outbox
        self.sessions = sessions
        self.clock = clock
        outbox.listeners.append(self._on_record)
        sessions.closed_listeners.append(self.on_session_closed)

    def record(self, kind: str, body: Mapping[str, Any]) -> bool:
        """Keep and send one usage record of this site; False when it was already kept."""
        planned = body.get("planned_start", body.get("at"))  # sessions count when planned
        at = float(planned) if isinstance(planned, int | float) else self.clock()
        with self.store.transaction() as conn:
            cur = conn.execute(INSERT_USAGE,
                               usage_row(str(body["id"]), self.site.id, kind, at, body))
            if not cur.rowcount:
                return False
            self.outbox.add(kind, body, conn)
        return True

    def _on_record(self, kind: str, origin: str, body: dict[str, Any]) -> None:
        if kind not in KINDS or not isinstance(body.get("id"), str):
            return
        at = body.get("planned_start", body.get("at"))
        self.store.execute(INSERT_USAGE, usage_row(
            str(body["id"])[:200], origin, kind,
            float(at) if isinstance(at, int | float) else self.clock(), body))

    # -- device upkeep ---------------------------------------------------------------------------

    def snapshot_devices(self) -> bool:
        """Today's device states (lamp hours, UPS), once a day; False when already taken."""
        if self.devices is None or not self.devices.ids():
            return False
        now = self.clock()
        day = dt.datetime.fromtimestamp(now, VIETNAM).date().isoformat()
        devices = []
        for device_id in self.devices.ids():
            described = self.devices.describe(device_id)
            readings = described.get("readings") or {}
            devices.append({
                "id": device_id, "kind": described.get("kind"), "state": described.get("state"),
                **{k: readings[k] for k in ("lamp_hours", "battery_status", "on_battery",
                                            "charge_percent", "runtime_minutes")
                   if k in readings}})
        return self.record("usage.device", {
            "id": f"device:{self.site.id}:{day}", "site": self.site.id,
            "site_name": self.site.name, "site_level": self.site.level, "date": day,
            "at": now, "devices": devices})

    async def run(self) -> None:
        """Take the daily device snapshot; until cancelled."""
        await asyncio.sleep(60.0)  # let the first polls come in
        while True:
            try:
                self.snapshot_devices()
            except StorageError:
                log.warning("usage: database unavailable; will retry", exc_info=True)
            await asyncio.sleep(DEVICE_SNAPSHOT_SECONDS)

    # -- what a session leaves behind -----------------------------------------------------------

    def on_session_closed(self, record: SessionRecord) -> None:
        """The session ended or was cancelled: the chair records it, each site its part."""
        if record.chair == self.site.id:
            self.record("usage.session", self._session_body(record))
        if record.includes(self.site.id):
            self.record("usage.attendance", self.attendance_body(record))

    def _session_body(self, record: SessionRecord) -> dict[str, Any]:
        return {
            "id": f"session:{record.id}", "session": record.id, "title": record.title,
            "kind": record.kind, "host_level": self.site.level, "chair": record.chair,
            "chair_name": self.site.name, "planned_start": record.starts_at,
            "planned_end": record.ends_at, "actual_start": record.started_at,
            "actual_end": record.ended_at, "secret": record.secret, "state": record.state,
            "participants": len(record.participants),
            "notice_ok": record.notice.get("ok"),
        }

    def attendance_body(self, record: SessionRecord) -> dict[str, Any]:
        """This site's part in a closed session."""
        status = self.sessions.status_of(record.id, self.site.id)
        joins = self._joins(record)
        started = record.started_at or record.starts_at
        first = joins[0][0] if joins else None
        readiness = status.get("readiness") if isinstance(status.get("readiness"), dict) \
            else None
        rollcall = status.get("rollcall") if isinstance(status.get("rollcall"), dict) else None
        seconds = 0.0
        for joined, left in joins:
            end = left if left is not None else record.ended_at  # still in at the end
            if end is not None:
                seconds += max(0.0, end - joined)
        hours = seconds / 3600.0
        return {
            "id": f"attendance:{record.id}:{self.site.id}", "session": record.id,
            "site": self.site.id, "site_name": self.site.name, "site_level": self.site.level,
            "title": record.title, "kind": record.kind,
            "host_level": record.chair_level or ("" if record.chair != self.site.id
                                                 else self.site.level),
            "chair": record.chair, "state": record.state,
            "planned_start": record.starts_at, "planned_end": record.ends_at,
            "actual_start": record.started_at, "actual_end": record.ended_at,
            "invited": True,
            "ready": readiness.get("ready") if readiness else None,
            "readiness_failed": [i.get("check") for i in (readiness or {}).get("items", [])
                                 if isinstance(i, dict) and i.get("ok") is False],
            "joins": [[j, left] for j, left in joins],
            "attended": bool(joins) or rollcall is not None,
            "late": (first is not None and record.state == "ended"
                     and first > started + LATE_SECONDS),
            "hours_connected": round(hours, 3),
            "attendees": rollcall.get("attendees") if rollcall else None,
        }

    def _joins(self, record: SessionRecord) -> list[tuple[float, float | None]]:
        """(joined, left) pairs of this site in the session, from its session events."""
        rows = self.store.query(
            "SELECT ts, event FROM session_events WHERE session_id = ? AND site_id = ?"
            " AND event IN ('joined', 'left') ORDER BY ts", (record.id, self.site.id))
        joins: list[tuple[float, float | None]] = []
        for row in rows:
            if row["event"] == "joined":
                joins.append((float(row["ts"]), None))
            elif joins and joins[-1][1] is None:
                joins[-1] = (joins[-1][0], float(row["ts"]))
        return joins


def mark_filed(store: Store, label: str, first: str, last: str, *, by: str,
               now: float) -> None:
    """Record that the report for a period was filed with the upper level."""
    store.execute(
        "INSERT INTO filed_reports(period, first_day, last_day, filed_at, filed_by)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT(period) DO UPDATE SET filed_at = excluded.filed_at,"
        " filed_by = excluded.filed_by", (label, first, last, now, by))


def purge_usage(store: Store, config: SiteConfig, now: float) -> int:
    """Forget usage records past retention, but only those inside a filed period; and
    closed sessions past their own retention. How many usage records went."""
    from controller.periods import parse_period

    cutoff = now - config.reports.usage_retention_days * 86400.0
    removed = 0
    for row in store.query("SELECT period FROM filed_reports"):
        try:
            period = parse_period(str(row["period"]), config.reports.cutoff_day)
        except ValueError:
            continue
        until = min(cutoff, period.end)
        if until > period.start:
            removed += store.execute("DELETE FROM usage WHERE at >= ? AND at < ?",
                                     (period.start, until))
    sessions_before = now - config.reports.session_retention_days * 86400.0
    store.execute("DELETE FROM session_events WHERE ts < ? AND session_id IN (SELECT id FROM"
                  " sessions WHERE state IN ('ended', 'cancelled') AND starts_at < ?)",
                  (sessions_before, sessions_before))
    store.execute("DELETE FROM session_sites WHERE session_id IN (SELECT id FROM sessions"
                  " WHERE state IN ('ended', 'cancelled') AND starts_at < ?)",
                  (sessions_before,))
    store.execute("DELETE FROM sessions WHERE state IN ('ended', 'cancelled')"
                  " AND starts_at < ?", (sessions_before,))
    return removed
