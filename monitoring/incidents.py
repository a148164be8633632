"""Incident rules and lifecycle, sans I/O: samples and events in, incident changes out.

A `Rule` watches one metric of one subject (a call's direction and media, a device, the
uplink): it **opens** when the metric stays on the bad side of ``threshold`` for
``for_seconds``, and **clears** only when it stays on the good side of ``clear`` (hysteresis)
for ``clear_seconds``, so a flapping link gives one incident, not dozens. Events (a call
dropped, a device offline, the UPS on battery) open and clear incidents directly.

An `Incident` goes open → acknowledged → resolved and keeps a timeline (samples around the
onset, recovery steps, notes, resolution) and its time to restore. Serious incidents carry the
regulatory clocks: first notice within 24 hours, full report within 72 hours.

Grouping: an incident whose subject lies under another open incident's subject points to it
as its ``cause`` (a call's link under its bridge, a child site's incidents under the child
being unreachable, many children offline at once under one outage), so a failure shows as one
cause, not hundreds of alarms. Time is always an argument.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

SEVERITIES: Final = ("minor", "major", "critical")
STATES: Final = ("open", "acknowledged", "resolved")
NOTICE_SECONDS: Final = 24 * 3600.0
REPORT_SECONDS: Final = 72 * 3600.0
SAMPLES_KEPT: Final = 10  # samples before the onset kept in the timeline
MASS_OUTAGE_CHILDREN: Final = 3  # children lost within the window → one outage incident
MASS_OUTAGE_WINDOW: Final = 60.0


@dataclass(frozen=True)
class Rule:
    """A threshold with a duration and hysteresis on one metric."""

    name: str
    metric: str
    above: bool  # True: bad when the value is above the threshold
    threshold: float
    clear: float  # hysteresis: good again only beyond this
    for_seconds: float
    clear_seconds: float
    severity: str
    title: str  # Vietnamese, what the officer reads

    def bad(self, value: float) -> bool:
        """Whether ``value`` is on the bad side of the threshold."""
        return value > self.threshold if self.above else value < self.threshold

    def good(self, value: float) -> bool:
        """Whether ``value`` is past the hysteresis line on the good side."""
        return value <= self.clear if self.above else value >= self.clear


DEFAULT_RULES: Final[tuple[Rule, ...]] = (
    Rule("mos_low", "mos", False, 3.1, 3.4, 5.0, 10.0, "major",
         "Chất lượng hội nghị kém (MOS thấp)"),
    Rule("loss_high", "loss_percent", True, 5.0, 2.0, 5.0, 10.0, "major",
         "Mất gói tin cao trên đường truyền"),
    Rule("no_media", "media_gap_seconds", True, 3.0, 0.5, 0.0, 3.0, "critical",
         "Không nhận được hình ảnh, âm thanh hội nghị"),
)

def rules_for(mos_below: float = 3.1, loss_above: float = 5.0, no_media: float = 3.0,
              onset: float = 5.0, clear: float = 10.0) -> tuple[Rule, ...]:
    """The default rules with a site's own thresholds and durations."""
    return (
        Rule("mos_low", "mos", False, mos_below, min(4.5, mos_below + 0.3), onset, clear,
             "major", "Chất lượng hội nghị kém (MOS thấp)"),
        Rule("loss_high", "loss_percent", True, loss_above, loss_above * 0.4, onset, clear,
             "major", "Mất gói tin cao trên đường truyền"),
        Rule("no_media", "media_gap_seconds", True, no_media, 0.5, 0.0, max(1.0, clear / 3),
             "critical", "Không nhận được hình ảnh, âm thanh hội nghị"),
    )


# Incidents opened by events: kind → (severity, title).
EVENT_KINDS: Final[dict[str, tuple[str, str]]] = {
    "call_dropped": ("critical", "Mất kết nối hội nghị"),
    "device_offline": ("major", "Thiết bị mất kết nối"),
    "ups_on_battery": ("major", "Mất điện lưới, UPS đang chạy pin"),
    "uplink_down": ("major", "Mất kết nối với điểm cầu cấp trên"),
    "child_offline": ("major", "Điểm cầu cấp dưới mất kết nối"),
    "mass_outage": ("critical", "Nhiều điểm cầu cấp dưới mất kết nối cùng lúc"),
    "bridge_unreachable": ("critical", "Không kết nối được cầu hội nghị"),
    "manual": ("major", "Sự cố do cán bộ báo"),
}
SERIOUS: Final = frozenset({"critical"})


@dataclass(frozen=True)
class Onset:
    """A rule or event says a problem began."""

    kind: str
    subject: str
    at: float
    severity: str
    title: str
    value: float | None = None
    samples: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Cleared:
    """A rule or event says the problem ended."""

    kind: str
    subject: str
    at: float
    value: float | None = None


Change = Onset | Cleared


@dataclass
class _Watch:
    breach_since: float | None = None
    good_since: float | None = None
    active: bool = False
    history: deque[tuple[float, float]] = field(
        default_factory=lambda: deque(maxlen=SAMPLES_KEPT))


class Detector:
    """Applies rules to samples, per subject; says when incidents begin and end."""

    def __init__(self, rules: Sequence[Rule] = DEFAULT_RULES) -> None:
        self.rules = tuple(rules)
        self._watch: dict[tuple[str, str], _Watch] = {}
        self._events: set[tuple[str, str]] = set()

    def feed(self, subject: str, metric: str, value: float, now: float) -> list[Change]:
        """One sample of ``metric`` for ``subject`` at ``now``."""
        if not math.isfinite(value):
            return []
        out: list[Change] = []
        for rule in self.rules:
            if rule.metric != metric:
                continue
            watch = self._watch.setdefault((rule.name, subject), _Watch())
            watch.history.append((now, value))
            if not watch.active:
                if rule.bad(value):
                    if watch.breach_since is None:
                        watch.breach_since = now
                    if now - watch.breach_since >= rule.for_seconds:
                        watch.active, watch.good_since = True, None
                        out.append(Onset(rule.name, subject, now, rule.severity, rule.title,
                                         value, tuple(watch.history)))
                else:
                    watch.breach_since = None
            elif rule.good(value):
                if watch.good_since is None:
                    watch.good_since = now
                if now - watch.good_since >= rule.clear_seconds:
                    watch.active, watch.breach_since, watch.good_since = False, None, None
                    out.append(Cleared(rule.name, subject, now, value))
            else:
                watch.good_since = None
        return out

    def event(self, kind: str, subject: str, active: bool, now: float,
              title: str | None = None) -> list[Change]:
        """A problem that is on or off by itself (a dropped call, a device offline)."""
        key = (kind, subject)
        if active and key not in self._events:
            self._events.add(key)
            severity, default_title = EVENT_KINDS.get(kind, ("major", kind))
            return [Onset(kind, subject, now, severity, title or default_title)]
        if not active and key in self._events:
            self._events.discard(key)
            return [Cleared(kind, subject, now)]
        return []

    def forget(self, subject_prefix: str, now: float) -> list[Change]:
        """A subject went away (a call ended on purpose): clear what was active under it."""
        out: list[Change] = []
        for (rule, subject), watch in list(self._watch.items()):
            if subject.startswith(subject_prefix):
                if watch.active:
                    out.append(Cleared(rule, subject, now))
                del self._watch[(rule, subject)]
        return out


@dataclass(frozen=True)
class Incident:
    """One incident with its lifecycle and timeline."""

    id: str
    origin: str  # the site where it happened
    kind: str
    subject: str
    severity: str
    title: str
    opened_at: float
    state: str = "open"
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None
    resolution: str = ""
    cause: str | None = None
    session: str | None = None
    timeline: tuple[Mapping[str, Any], ...] = ()
    notice_sent_at: float | None = None
    report_sent_at: float | None = None
    version: int = 1

    @property
    def serious(self) -> bool:
        """Whether the regulatory notice and report clocks apply."""
        return self.severity in SERIOUS

    @property
    def notice_due(self) -> float | None:
        """When the first notice is due (serious incidents only)."""
        return self.opened_at + NOTICE_SECONDS if self.serious else None

    @property
    def report_due(self) -> float | None:
        """When the full report is due (serious incidents only)."""
        return self.opened_at + REPORT_SECONDS if self.serious else None

    def overdue(self, now: float) -> list[str]:
        """Which regulatory deadlines have passed without the document sent."""
        late = []
        if self.notice_due is not None and self.notice_sent_at is None and now > self.notice_due:
            late.append("notice")
        if self.report_due is not None and self.report_sent_at is None and now > self.report_due:
            late.append("report")
        return late

    def time_to_restore(self) -> float | None:
        """Seconds from opening to resolution."""
        return None if self.resolved_at is None else self.resolved_at - self.opened_at

    def note(self, at: float, kind: str, text: str, **data: Any) -> Incident:
        """A copy with one more timeline entry."""
        entry = {"at": at, "type": kind, "text": text[:1000], **data}
        return replace(self, timeline=(*self.timeline, entry)[-200:], version=self.version + 1)

    def acknowledge(self, at: float, by: str) -> Incident:
        """Someone took it in hand."""
        if self.state != "open":
            return self
        return replace(self.note(at, "acknowledged", f"{by} đã tiếp nhận"),
                       state="acknowledged", acknowledged_at=at, acknowledged_by=by)

    def resolve(self, at: float, by: str, resolution: str = "") -> Incident:
        """It is over (by itself: ``by`` is ``system``)."""
        if self.state == "resolved":
            return self
        text = resolution or ("Tự phục hồi" if by == "system" else f"{by} đã xử lý xong")
        return replace(self.note(at, "resolved", text), state="resolved", resolved_at=at,
                       resolved_by=by, resolution=resolution or text)

    def reopen(self, at: float) -> Incident:
        """The problem came back before anyone closed the incident."""
        if self.state != "resolved":
            return self  # still open: coming back twice is not two reopenings
        return replace(self.note(at, "reopened", "Sự cố tái diễn"), state="open",
                       resolved_at=None, resolved_by=None, resolution="")

    def to_dict(self) -> dict[str, Any]:
        """The incident as records and the API carry it."""
        return {
            "id": self.id, "origin": self.origin, "kind": self.kind, "subject": self.subject,
            "severity": self.severity, "title": self.title, "opened_at": self.opened_at,
            "state": self.state, "acknowledged_at": self.acknowledged_at,
            "acknowledged_by": self.acknowledged_by, "resolved_at": self.resolved_at,
            "resolved_by": self.resolved_by, "resolution": self.resolution,
            "cause": self.cause, "session": self.session,
            "timeline": [dict(t) for t in self.timeline],
            "notice_sent_at": self.notice_sent_at, "report_sent_at": self.report_sent_at,
            "version": self.version, "serious": self.serious,
            "time_to_restore": self.time_to_restore(),
        }


def incident_from_dict(data: Mapping[str, Any]) -> Incident | None:
    """An incident from a record or the database; None when it is not usable."""
    try:
        timeline = tuple(dict(t) for t in data.get("timeline", []) if isinstance(t, dict))
        incident = Incident(
            id=str(data["id"])[:100], origin=str(data["origin"])[:64],
            kind=str(data["kind"])[:40], subject=str(data["subject"])[:200],
            severity=str(data["severity"]) if data.get("severity") in SEVERITIES else "major",
            title=str(data.get("title", ""))[:200], opened_at=float(data["opened_at"]),
            state=str(data["state"]) if data.get("state") in STATES else "open",
            acknowledged_at=_opt_float(data.get("acknowledged_at")),
            acknowledged_by=_opt_str(data.get("acknowledged_by")),
            resolved_at=_opt_float(data.get("resolved_at")),
            resolved_by=_opt_str(data.get("resolved_by")),
            resolution=str(data.get("resolution") or "")[:1000],
            cause=_opt_str(data.get("cause")), session=_opt_str(data.get("session")),
            timeline=timeline[-200:], notice_sent_at=_opt_float(data.get("notice_sent_at")),
            report_sent_at=_opt_float(data.get("report_sent_at")),
            version=int(data.get("version", 1)))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(incident.opened_at):
        return None
    return incident


def _opt_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _opt_str(value: Any) -> str | None:
    return str(value)[:200] if isinstance(value, str) else None


def scope_parents(subject: str) -> list[str]:
    """The subjects an incident on ``subject`` can be caused by, nearest first.

    ``link:B:…`` lies under ``call:B``, which lies under ``bridge:B``; anything reported by a
    site ``site:X/…`` lies under ``child:X`` (X unreachable) and under ``outage``.
    """
    parents: list[str] = []
    if subject.startswith("site:"):
        site = subject[5:].split("/", 1)[0]
        parents += [f"child:{site}", "outage"]
        subject = subject.split("/", 1)[1] if "/" in subject else ""
    if subject.startswith("link:"):
        bridge = subject.split(":")[1]
        parents[:0] = [f"call:{bridge}", f"bridge:{bridge}"]
    elif subject.startswith("call:"):
        parents[:0] = [f"bridge:{subject.split(':')[1]}"]
    elif subject.startswith("child:"):
        parents.append("outage")
    return parents


def find_cause(subject: str, open_incidents: Iterable[Incident]) -> str | None:
    """The open incident an incident on ``subject`` should point to, if any."""
    by_subject = {i.subject: i for i in open_incidents if i.state != "resolved"}
    for parent in scope_parents(subject):
        if parent in by_subject:
            return by_subject[parent].cause or by_subject[parent].id
    return None


def mass_outage(child_offline_times: Iterable[float], now: float) -> bool:
    """Whether enough children went offline recently to call it one outage."""
    recent = [t for t in child_offline_times if now - t <= MASS_OUTAGE_WINDOW]
    return len(recent) >= MASS_OUTAGE_CHILDREN
