"""Incidents at one site: detected from link health, devices and links, kept, sent up.

Every second the site's state (call link samples, call state, device health, UPS, uplink,
children) goes through `monitoring.incidents.Detector`; onsets open incidents, clears resolve
them (time to restore measured), recovery steps of the call are added to the timeline. Each
change of an incident is stored and queued in the outbox in one transaction, so the upper
levels get every change exactly once, however long the link is down. A parent stores what its
subtree reports and points children's incidents to a common cause where there is one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Final

from controller.audit import AuditLog
from controller.calls import CallService
from controller.config import SiteConfig
from controller.devices import DeviceService
from controller.errors import ConflictError, InputError, NotFoundError, StorageError
from controller.outbox import MAX_BODY_BYTES, Outbox
from controller.store import Store
from controller.tree import SiteTree
from monitoring.grouping import (
    CONFERENCE_KINDS,
    OUTAGE_WINDOW,
    cause_for_received,
    conference_outage,
)
from monitoring.incidents import (
    EVENT_KINDS,
    Change,
    Cleared,
    Detector,
    Incident,
    Onset,
    find_cause,
    incident_from_dict,
    mass_outage,
    rules_for,
)

log = logging.getLogger(__name__)

EVALUATE_SECONDS: Final = 1.0
STEP_SLACK_SECONDS: Final = 10.0  # recovery steps this close to a call incident belong to it
RECORD_KIND: Final = "incident"
_CALL_DOWN: Final = frozenset({"dropped", "recovering"})


class IncidentService:
    """Detects, keeps and reports this site's incidents; keeps its subtree's."""

    def __init__(self, config: SiteConfig, store: Store, audit: AuditLog,
                 devices: DeviceService, calls: CallService, tree: SiteTree, outbox: Outbox,
                 clock: Callable[[], float], uplink_state: Callable[[], tuple[str, float]]
                 | None = None, detector: Detector | None = None) -> None:
        self.site_id = config.site.id
        self.store = store
        self.audit = audit
        self.devices = devices
        self.calls = calls
        self.tree = tree
        self.outbox = outbox
        self.clock = clock
        self.uplink_state = uplink_state
        settings = config.incidents
        self.uplink_grace = settings.uplink_grace_seconds
        self.detector = detector or Detector(rules_for(
            settings.mos_below, settings.loss_above_percent, settings.no_media_seconds,
            settings.onset_seconds, settings.clear_seconds))
        self._open: dict[tuple[str, str], str] = {}  # (kind, subject) → incident id
        self._media_seen: dict[str, float] = {}
        self._call_events_seen: dict[str, float] = {}
        self._children_lost: dict[str, float] = {}  # child → offline since
        self._children_seen: set[str] = set()  # children connected at least once since start
        self._conference_recent: list[tuple[str, float, str]] = []
        self._call_incident: dict[str, str] = {}  # bridge → its latest call incident
        # Told of every stored change, this site's and its subtree's (webhook, e-mail).
        self.listeners: list[Callable[[Incident], None]] = []
        outbox.listeners.append(self._on_record)
        self._restore_open()

    # -- storage ---------------------------------------------------------------------------------

    def _restore_open(self) -> None:
        for incident in self.find(state="unresolved", scope="local", limit=10_000):
            self._open[(incident.kind, incident.subject)] = incident.id

    def get(self, incident_id: str) -> Incident | None:
        """One incident, of this site or its subtree."""
        row = self.store.query_one("SELECT body FROM incidents WHERE id = ?", (incident_id,))
        return incident_from_dict(json.loads(row["body"])) if row else None

    def require(self, incident_id: str) -> Incident:
        """One incident, or a 404 for the console."""
        incident = self.get(incident_id)
        if incident is None:
            raise NotFoundError("Không có sự cố này.", code="incident_not_found")
        return incident

    def find(self, *, state: str = "all", scope: str = "subtree",
             limit: int = 200) -> list[Incident]:
        """Incidents, newest first; ``state`` all|unresolved|open|acknowledged|resolved."""
        sql = "SELECT body FROM incidents WHERE 1 = 1"
        params: list[Any] = []
        if state == "unresolved":
            sql += " AND state != 'resolved'"
        elif state != "all":
            sql += " AND state = ?"
            params.append(state)
        if scope == "local":
            sql += " AND origin = ?"
            params.append(self.site_id)
        sql += " ORDER BY opened_at DESC LIMIT ?"
        params.append(limit)
        out = []
        for row in self.store.query(sql, params):
            incident = incident_from_dict(json.loads(row["body"]))
            if incident is not None:
                out.append(incident)
        return out

    def _save(self, incident: Incident, *, publish: bool) -> None:
        """Store a newer version; for this site's own incidents, queue it up atomically."""
        body = json.dumps(incident.to_dict(), ensure_ascii=False, default=str)
        with self.store.transaction() as conn:
            row = conn.execute("SELECT version FROM incidents WHERE id = ?",
                               (incident.id,)).fetchone()
            if row is not None and int(row[0]) >= incident.version:
                return
            conn.execute(
                "INSERT INTO incidents(id, origin, version, state, kind, severity, subject,"
                " opened_at, resolved_at, cause, body, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
                " version = excluded.version, state = excluded.state,"
                " severity = excluded.severity, resolved_at = excluded.resolved_at,"
                " cause = excluded.cause, body = excluded.body,"
                " updated_at = excluded.updated_at",
                (incident.id, incident.origin, incident.version, incident.state, incident.kind,
                 incident.severity, incident.subject, incident.opened_at, incident.resolved_at,
                 incident.cause, body, self.clock()))
            if publish:
                self.outbox.add(RECORD_KIND, bounded(incident.to_dict()), conn)
        for listener in self.listeners:
            try:
                listener(incident)
            except Exception:
                log.exception("an incident listener failed on %s", incident.id)

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self, onset: Onset, *, session: str | None = None) -> Incident:
        """A new incident of this site (or the same one again, if it is still open)."""
        key = (onset.kind, onset.subject)
        existing = self._open.get(key)
        if existing is not None:
            current = self.get(existing)
            if current is not None and current.state != "resolved":
                return current
        incident = Incident(
            id=f"{self.site_id}-{int(onset.at)}-{secrets.token_hex(3)}", origin=self.site_id,
            kind=onset.kind, subject=onset.subject, severity=onset.severity, title=onset.title,
            opened_at=onset.at, session=session,
            cause=find_cause(onset.subject, self.find(state="unresolved", scope="local")))
        text = onset.title if onset.value is None else f"{onset.title} ({onset.value:g})"
        incident = incident.note(onset.at, "onset", text,
                                 samples=[list(s) for s in onset.samples])
        self._open[key] = incident.id
        self._save(incident, publish=True)
        log.warning("incident %s opened: %s on %s", incident.id, incident.kind, incident.subject)
        if onset.kind in ("mass_outage", "bridge_unreachable", "call_dropped"):
            self._regroup(incident)
        return incident

    def _regroup(self, cause: Incident) -> None:
        """Incidents opened just before their common cause now point to it too."""
        for other in self.find(state="unresolved", scope="subtree", limit=5000):
            if other.id == cause.id or other.cause is not None:
                continue
            if other.origin == self.site_id:
                belongs = find_cause(other.subject, [cause]) == cause.id
            else:
                belongs = cause_for_received(other, self.tree.route(other.origin),
                                             [cause]) == cause.id
            if belongs:
                self._save(_with(other, cause=cause.id, version=other.version + 1),
                           publish=other.origin == self.site_id)

    def clear(self, cleared: Cleared) -> Incident | None:
        """The condition is over: resolve its incident, with the time to restore."""
        incident_id = self._open.pop((cleared.kind, cleared.subject), None)
        incident = self.get(incident_id) if incident_id else None
        if incident is None or incident.state == "resolved":
            return None
        incident = incident.resolve(cleared.at, "system")
        self._save(incident, publish=True)
        log.info("incident %s resolved after %.0f s", incident.id,
                 incident.time_to_restore() or 0)
        return incident

    def _own(self, incident_id: str) -> Incident:
        incident = self.require(incident_id)
        if incident.origin != self.site_id:
            raise ConflictError("Sự cố của điểm cầu khác chỉ xem được ở đây; điểm cầu đó xử lý.",
                                code="not_origin")
        return incident

    def acknowledge(self, incident_id: str, *, actor: str) -> Incident:
        """An officer took it in hand; audited."""
        incident = self._own(incident_id).acknowledge(self.clock(), actor)
        self._save(incident, publish=True)
        self.audit.record(actor, "incident.acknowledge", incident_id)
        return incident

    def add_note(self, incident_id: str, text: str, *, actor: str) -> Incident:
        """An operator note on the timeline; audited."""
        incident = self._own(incident_id).note(self.clock(), "note", text, by=actor)
        self._save(incident, publish=True)
        self.audit.record(actor, "incident.note", incident_id, details={"length": len(text)})
        return incident

    def resolve(self, incident_id: str, resolution: str, *, actor: str) -> Incident:
        """Close it by hand, with what was done; audited."""
        incident = self._own(incident_id)
        self._open = {k: v for k, v in self._open.items() if v != incident_id}
        incident = incident.resolve(self.clock(), actor, resolution)
        self._save(incident, publish=True)
        self.audit.record(actor, "incident.resolve", incident_id,
                          details={"resolution": resolution[:200]})
        return incident

    def report_problem(self, title: str, description: str, severity: str, *,
                       actor: str) -> Incident:
        """The officer's "report a problem" button: an incident opened by hand; audited."""
        if severity not in ("minor", "major", "critical"):
            raise InputError("Mức độ là minor, major hoặc critical.", code="bad_field")
        now = self.clock()
        incident = self.open(Onset("manual", f"manual:{secrets.token_hex(4)}", now, severity,
                                   title))
        if description:
            incident = incident.note(now, "note", description, by=actor)
            self._save(incident, publish=True)
        self.audit.record(actor, "incident.report_problem", incident.id,
                          details={"title": title[:200], "severity": severity})
        return incident

    def mark_sent(self, incident_id: str, document: str, *, actor: str) -> Incident:
        """The first notice or the full report went to the upper level; audited."""
        incident = self._own(incident_id)
        now = self.clock()
        if document == "notice":
            changed = incident.note(now, "notice_sent", "Đã gửi thông báo ban đầu", by=actor)
            changed = _with(changed, notice_sent_at=now)
        elif document == "report":
            changed = incident.note(now, "report_sent", "Đã gửi báo cáo đầy đủ", by=actor)
            changed = _with(changed, report_sent_at=now)
        else:
            raise InputError("Tài liệu là 'notice' hoặc 'report'.", code="bad_field")
        self._save(changed, publish=True)
        self.audit.record(actor, f"incident.{document}_sent", incident_id)
        return changed

    # -- from below ----------------------------------------------------------------------------

    def _on_record(self, kind: str, origin: str, body: dict[str, Any]) -> None:
        if kind != RECORD_KIND:
            return
        incident = incident_from_dict(body)
        if incident is None or incident.origin != origin or origin == self.site_id:
            return
        if incident.cause is None:
            cause = cause_for_received(incident, self.tree.route(origin),
                                       self.find(scope="local", limit=500))
            if cause is None and incident.kind in CONFERENCE_KINDS \
                    and incident.state != "resolved":
                cause = self._conference_outage(incident)
            if cause is not None:
                incident = _with(incident, cause=cause)
        self._save(incident, publish=False)
        if incident.state == "resolved" and incident.cause is not None:
            self._resolve_cause_if_done(incident.cause)

    def _conference_outage(self, incident: Incident) -> str | None:
        """Several descendants lost the conference within a minute: one incident for all."""
        now = self.clock()
        self._conference_recent = [
            r for r in self._conference_recent if now - r[1] <= OUTAGE_WINDOW]
        self._conference_recent.append((incident.origin, now, incident.id))
        if not conference_outage([(r[0], r[1]) for r in self._conference_recent], now):
            return None
        outage = self.open(Onset("conference_outage", "conference", now, "critical",
                                 "Nhiều điểm cầu cấp dưới mất hội nghị cùng lúc"))
        for _site, _at, other_id in self._conference_recent:
            other = self.get(other_id)
            if other is not None and other.cause is None:
                self._save(_with(other, cause=outage.id, version=other.version + 1),
                           publish=False)
        self._conference_recent = []
        return outage.id

    def _resolve_cause_if_done(self, cause_id: str) -> None:
        """A grouping incident of this site ends when nothing under it is unresolved."""
        cause = self.get(cause_id)
        if cause is None or cause.origin != self.site_id or cause.state == "resolved" \
                or cause.kind != "conference_outage":
            return
        still = [i for i in self.find(state="unresolved", limit=5000) if i.cause == cause_id]
        if not still:
            self._open.pop((cause.kind, cause.subject), None)
            self._save(cause.resolve(self.clock(), "system"), publish=True)

    # -- detection ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Evaluate the site's state every second; until cancelled."""
        while True:
            try:
                self.evaluate(self.clock())
            except StorageError:
                log.warning("incidents: database unavailable; will retry", exc_info=True)
            except Exception:
                log.exception("incident evaluation failed; will retry")
            await asyncio.sleep(EVALUATE_SECONDS)

    def evaluate(self, now: float) -> list[Change]:
        """One pass over the site's state at ``now``; the changes it caused."""
        changes: list[Change] = []
        changes += self._calls(now)
        changes += self._devices(now)
        changes += self._links(now)
        live = None
        for change in changes:
            if isinstance(change, Onset):
                if change.subject.startswith(("call:", "link:")) and live is None:
                    live = self._live_session() or ""
                opened = self.open(change, session=live or None)
                if change.kind == "call_dropped":
                    bridge = change.subject.split(":", 1)[1]
                    self._call_incident[bridge] = opened.id
                    self._call_events_seen.pop(bridge, None)
            else:
                self.clear(change)
        self._recovery_steps()
        return changes

    def _calls(self, now: float) -> list[Change]:
        out: list[Change] = []
        for bridge in self.calls.ids():
            call = self.calls.describe(bridge).get("call")
            subject = f"call:{bridge}"
            if call is None or call.get("state") == "ended":
                out += self.detector.event("call_dropped", subject, False, now)
                out += self.detector.forget(f"link:{bridge}:", now)
                self._media_seen.pop(bridge, None)
                continue
            state = str(call.get("state"))
            out += self.detector.event("call_dropped", subject, state in _CALL_DOWN, now)
            got_media = expecting = False
            for sample in call.get("samples", []):
                link = f"link:{bridge}:{sample.get('direction')}:{sample.get('kind')}"
                for metric in ("mos", "loss_percent"):
                    value = sample.get(metric)
                    if isinstance(value, int | float):
                        out += self.detector.feed(link, metric, float(value), now)
                if sample.get("direction") == "recv":
                    expecting = True  # someone in the conference sends to us
                    got_media = got_media or (sample.get("bitrate_kbps") or 0) > 0 \
                        or (sample.get("fps") or 0) > 0
            # Alone in the room (nobody to receive from) is not "no media".
            if got_media or not expecting or bridge not in self._media_seen:
                self._media_seen[bridge] = now
            if state == "connected":
                out += self.detector.feed(f"link:{bridge}:recv:media", "media_gap_seconds",
                                          now - self._media_seen[bridge], now)
        return out

    def _live_session(self) -> str | None:
        """The live session this site takes part in, for incidents of its call."""
        row = self.store.query_one(
            "SELECT id FROM sessions WHERE state = 'live' ORDER BY starts_at DESC LIMIT 1")
        return str(row["id"]) if row else None

    def _recovery_steps(self) -> None:
        """Put each call's recovery steps on the timeline of its call incident (the steps
        just before it opened and just after it resolved too)."""
        for bridge in self.calls.ids():
            call = self.calls.describe(bridge).get("call")
            incident_id = self._call_incident.get(bridge)
            incident = self.get(incident_id) if incident_id else None
            if call is None or incident is None:
                continue
            seen = self._call_events_seen.get(bridge, incident.opened_at - STEP_SLACK_SECONDS)
            end = (incident.resolved_at or float("inf")) + STEP_SLACK_SECONDS
            fresh = [e for e in call.get("events", []) if isinstance(e, dict)
                     and e.get("name") != "room" and seen < float(e.get("at", 0)) <= end]
            if not fresh:
                continue
            self._call_events_seen[bridge] = max(float(e["at"]) for e in fresh)
            for event in fresh:
                incident = incident.note(float(event["at"]), "recovery", str(event.get("name")),
                                         data=event.get("data", {}))
            self._save(incident, publish=True)

    def _devices(self, now: float) -> list[Change]:
        out: list[Change] = []
        for device_id in self.devices.ids():
            health = self.devices.health(device_id)
            if health is None or health.online is None:
                continue
            out += self.detector.event("device_offline", f"device:{device_id}",
                                       not health.online, now,
                                       title=f"{EVENT_KINDS['device_offline'][1]}: {device_id}")
            on_battery = health.readings.get("on_battery") if health.online else None
            if isinstance(on_battery, bool):
                out += self.detector.event("ups_on_battery", f"device:{device_id}", on_battery,
                                           now)
        return out

    def _links(self, now: float) -> list[Change]:
        out: list[Change] = []
        if self.uplink_state is not None:
            state, since = self.uplink_state()
            down = state != "connected" and now - since >= self.uplink_grace
            out += self.detector.event("uplink_down", "uplink", down, now)
        for child_id, entry in list(self.tree.entries.items()):
            if entry.via != child_id:
                continue  # direct children only: grandchildren are their parent's business
            if entry.online:
                self._children_seen.add(child_id)
                self._children_lost.pop(child_id, None)
            else:
                self._children_lost.setdefault(child_id, now)
            lost_since = self._children_lost.get(child_id)
            lost = lost_since is not None and now - lost_since >= self.uplink_grace
            out += self.detector.event("child_offline", f"child:{child_id}", lost, now,
                                       title=f"{EVENT_KINDS['child_offline'][1]}: {entry.name}")
        # Many children that were connected dropping together is one outage (a restart of
        # this site, when none had connected yet, is not).
        dropped = [at for child, at in self._children_lost.items() if child in self._children_seen]
        if mass_outage(dropped, now):
            out[:0] = self.detector.event("mass_outage", "outage", True, now)
        elif not dropped:
            out += self.detector.event("mass_outage", "outage", False, now)
        return out


def bounded(body: dict[str, Any], limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """An incident's record body within the outbox's size: a long timeline keeps its onset
    and as many of its latest entries as fit (the site itself keeps them all)."""
    def size(value: dict[str, Any]) -> int:
        return len(json.dumps(value, ensure_ascii=False, default=str))

    if size(body) <= limit:
        return body
    timeline = list(body.get("timeline", []))
    first, rest = timeline[:1], timeline[1:]
    out = dict(body, timeline_truncated=True)
    while rest:
        rest = rest[len(rest) // 4 + 1:]
        out["timeline"] = first + rest
        if size(out) <= limit:
            return out
    out["timeline"] = [{**t, "text": str(t.get("text", ""))[:200], "samples": []}
                       for t in first]
    return out


def _with(incident: Incident, **changes: Any) -> Incident:
    return replace(incident, **changes)
