"""Incident rules, grouping, regulatory clocks and lifecycle, with a fake clock (plain numbers)."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring.incidents import (
    MASS_OUTAGE_WINDOW,
    NOTICE_SECONDS,
    REPORT_SECONDS,
    Change,
    Cleared,
    Detector,
    Incident,
    Onset,
    find_cause,
    incident_from_dict,
    mass_outage,
    rules_for,
    scope_parents,
)

LINK = "link:tinh:receive:video"
T0 = 1_790_000_000.0

# rules_for() defaults: loss_percent bad above 5 for 5 s, good again at or below 2 for 10 s;
# mos bad below 3.1 for 5 s, good again at or above 3.4 for 10 s; media gap bad above 3 at once.


def _run(detector: Detector, values: list[float], start: float = T0, step: float = 1.0,
         metric: str = "loss_percent", subject: str = LINK) -> list[tuple[float, Change]]:
    """Feed one sample a ``step`` apart; every change with the time it came."""
    out: list[tuple[float, Change]] = []
    for i, value in enumerate(values):
        now = start + i * step
        out += [(now, c) for c in detector.feed(subject, metric, value, now)]
    return out


def _opened(detector: Detector, subject: str = LINK) -> float:
    """Open a loss incident on ``subject`` (5 s of 8 %); the time the next sample may come."""
    changes = _run(detector, [8.0] * 6, subject=subject)
    assert [type(c) for _, c in changes] == [Onset]
    return T0 + 6


# -- rules -------------------------------------------------------------------------------------

def test_onset_comes_only_after_the_breach_lasts_for_seconds() -> None:
    detector = Detector(rules_for())
    changes = _run(detector, [8.0] * 10)
    assert len(changes) == 1
    at, onset = changes[0]
    assert isinstance(onset, Onset)
    assert at == T0 + 5  # first bad sample at T0, five seconds of breach
    assert (onset.kind, onset.subject, onset.severity, onset.value) == \
        ("loss_high", LINK, "major", 8.0)
    assert [v for _, v in onset.samples] == [8.0] * 6  # what led up to it, for the timeline


def test_a_short_spike_opens_nothing_and_restarts_the_count() -> None:
    detector = Detector(rules_for())
    assert _run(detector, [30.0, 30.0, 30.0, 30.0, 1.0] * 20) == []
    # After the spike, a real breach needs its full five seconds again.
    changes = _run(detector, [1.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0], start=T0 + 200)
    assert [(at - T0, type(c)) for at, c in changes] == [(206.0, Onset)]


def test_a_value_between_threshold_and_clear_line_neither_opens_nor_clears() -> None:
    detector = Detector(rules_for())
    assert _run(detector, [3.5] * 120) == []  # loss 3.5 %: not bad (≤ 5)
    detector = Detector(rules_for())
    now = _opened(detector)
    assert _run(detector, [3.5] * 300, start=now) == []  # not good either (> 2): still open


def test_a_value_between_the_lines_restarts_the_good_count() -> None:
    detector = Detector(rules_for())
    now = _opened(detector)
    values = [1.0] * 9 + [3.5] + [1.0] * 12
    changes = _run(detector, values, start=now)
    assert [(at - now, type(c)) for at, c in changes] == [(20.0, Cleared)]  # 10 s after 3.5


def test_clearing_comes_only_after_clear_seconds_of_good() -> None:
    detector = Detector(rules_for())
    now = _opened(detector)
    changes = _run(detector, [0.5] * 15, start=now)
    assert [(at - now, type(c)) for at, c in changes] == [(10.0, Cleared)]
    cleared = changes[0][1]
    assert isinstance(cleared, Cleared)
    assert (cleared.kind, cleared.subject, cleared.value) == ("loss_high", LINK, 0.5)


def test_a_flapping_link_gives_one_incident_not_dozens() -> None:
    detector = Detector(rules_for())
    # Bad long enough to open, then bouncing across the threshold every second for ten
    # minutes, then steady and good.
    values = [8.0] * 6 + [8.0, 1.0] * 300 + [1.0] * 12
    changes = _run(detector, values)
    assert [type(c) for _, c in changes] == [Onset, Cleared]
    # Ten seconds of good after the last bad bounce (at 6 + 598 s).
    assert changes[1][0] - T0 == 6 + 599 + 10


def test_the_mos_rule_is_bad_below_and_clears_above_its_line() -> None:
    detector = Detector(rules_for())
    changes = _run(detector, [2.5] * 6 + [3.2] * 60 + [3.5] * 11, metric="mos")
    assert [(at - T0, type(c).__name__, c.kind) for at, c in changes] == \
        [(5.0, "Onset", "mos_low"), (76.0, "Cleared", "mos_low")]


def test_no_media_opens_at_once_as_critical() -> None:
    detector = Detector(rules_for())
    changes = _run(detector, [0.0, 0.0, 4.0], metric="media_gap_seconds")
    assert [(at - T0, c.kind) for at, c in changes] == [(2.0, "no_media")]
    assert isinstance(changes[0][1], Onset)
    assert changes[0][1].severity == "critical"


def test_subjects_are_watched_apart() -> None:
    detector = Detector(rules_for())
    out: list[Change] = []
    for i in range(6):
        out += detector.feed("link:a:receive:video", "loss_percent", 8.0, T0 + i)
        out += detector.feed("link:b:receive:video", "loss_percent", 8.0 if i % 2 else 0.0,
                             T0 + i)
    assert [c.subject for c in out] == ["link:a:receive:video"]


def test_nan_and_infinite_samples_are_ignored() -> None:
    detector = Detector(rules_for())
    nan, inf = math.nan, math.inf
    # A NaN in a breach neither opens nor breaks the count; +inf is not "very bad".
    changes = _run(detector, [8.0, 8.0, nan, inf, 8.0, 8.0])
    assert [(at - T0, type(c)) for at, c in changes] == [(5.0, Onset)]
    now = T0 + 6
    assert _run(detector, [nan, -inf] * 20, start=now) == []  # nor do they clear it


def test_events_open_and_clear_once() -> None:
    detector = Detector()
    on = detector.event("device_offline", "device:proj1", True, T0)
    assert len(on) == 1
    assert isinstance(on[0], Onset)
    assert (on[0].severity, on[0].at) == ("major", T0)
    assert on[0].title == "Thiết bị mất kết nối"
    assert detector.event("device_offline", "device:proj1", True, T0 + 1) == []
    assert detector.event("device_offline", "device:cam1", False, T0 + 1) == []
    off = detector.event("device_offline", "device:proj1", False, T0 + 2)
    assert off == [Cleared("device_offline", "device:proj1", T0 + 2)]
    assert detector.event("device_offline", "device:proj1", False, T0 + 3) == []
    again = detector.event("device_offline", "device:proj1", True, T0 + 4)
    assert len(again) == 1


def test_event_severity_and_title() -> None:
    detector = Detector()
    dropped = detector.event("call_dropped", "call:tinh", True, T0)[0]
    assert isinstance(dropped, Onset)
    assert dropped.severity == "critical"
    unknown = detector.event("fan_noise", "device:cam1", True, T0, title="Quạt kêu to")[0]
    assert isinstance(unknown, Onset)
    assert (unknown.severity, unknown.title) == ("major", "Quạt kêu to")


def test_forget_clears_what_was_active_under_a_subject_and_starts_afresh() -> None:
    detector = Detector(rules_for())
    _opened(detector, "link:tinh:receive:video")
    _run(detector, [9.0, 9.0, 9.0], subject="link:tinh:send:audio")  # breaching, not open
    _opened(detector, "link:other:receive:video")
    cleared = detector.forget("link:tinh:", T0 + 10)
    assert cleared == [Cleared("loss_high", "link:tinh:receive:video", T0 + 10)]
    assert detector.forget("link:tinh:", T0 + 11) == []
    # The breach that was counting is gone too: a new call needs its full five seconds.
    changes = _run(detector, [9.0] * 6, start=T0 + 20, subject="link:tinh:send:audio")
    assert [(at - T0, type(c)) for at, c in changes] == [(25.0, Onset)]
    # The other bridge's incident is untouched: it still clears by itself.
    later = _run(detector, [0.0] * 11, start=T0 + 30, subject="link:other:receive:video")
    assert [type(c) for _, c in later] == [Cleared]


# -- grouping ----------------------------------------------------------------------------------

def _incident(id_: str, subject: str, *, state: str = "open", cause: str | None = None,
              severity: str = "major", opened_at: float = T0) -> Incident:
    return Incident(id=id_, origin="tinh-a", kind="manual", subject=subject,
                    severity=severity, title="t", opened_at=opened_at, state=state, cause=cause)


def test_a_link_incident_under_an_open_call_or_bridge_gets_that_cause() -> None:
    call = _incident("I-call", "call:tinh")
    bridge = _incident("I-bridge", "bridge:tinh")
    assert find_cause("link:tinh:receive:video", [call]) == "I-call"
    assert find_cause("link:tinh:receive:video", [bridge]) == "I-bridge"
    # The call incident itself points to the bridge: the link goes to the root cause.
    call_under_bridge = _incident("I-call", "call:tinh", cause="I-bridge")
    assert find_cause("link:tinh:receive:video", [call_under_bridge, bridge]) == "I-bridge"
    assert find_cause("call:tinh", [bridge]) == "I-bridge"


def test_no_cause_from_another_bridge_or_a_resolved_incident() -> None:
    assert find_cause("link:tinh:receive:video", [_incident("I1", "call:tw")]) is None
    assert find_cause("link:tinh:receive:video",
                      [_incident("I1", "call:tinh", state="resolved")]) is None
    assert find_cause("link:tinh:receive:video",
                      [_incident("I1", "call:tinh", state="acknowledged")]) == "I1"
    assert find_cause("device:proj1", [_incident("I1", "outage")]) is None


def test_a_childs_incident_goes_under_the_child_lost_or_the_outage() -> None:
    subject = "site:xa-mot/device:proj1"
    assert scope_parents(subject) == ["child:xa-mot", "outage"]
    child = _incident("I-child", "child:xa-mot")
    outage = _incident("I-outage", "outage")
    assert find_cause(subject, [child]) == "I-child"
    assert find_cause(subject, [outage]) == "I-outage"
    assert find_cause(subject, [child, outage]) == "I-child"
    assert find_cause(subject, [_incident("I-other", "child:xa-hai")]) is None
    assert find_cause("child:xa-mot", [outage]) == "I-outage"
    # The child lost under the outage: its own incidents lead to the outage.
    assert find_cause(subject, [_incident("I-child", "child:xa-mot", cause="I-outage")]) \
        == "I-outage"


def test_mass_outage_needs_three_children_within_the_window() -> None:
    assert mass_outage([T0, T0 + 20, T0 + 50], T0 + 50)
    assert mass_outage([T0, T0 + 1, T0 + 2, T0 + 3], T0 + 3)
    assert not mass_outage([T0, T0 + 20], T0 + 20)
    assert not mass_outage([T0, T0 + 150, T0 + 300], T0 + 300)  # spread over five minutes
    # Three at once is an outage only while they are recent.
    assert not mass_outage([T0, T0 + 1, T0 + 2], T0 + 2 + MASS_OUTAGE_WINDOW + 1)


# -- regulatory clocks -------------------------------------------------------------------------

def test_a_critical_incident_is_overdue_for_notice_after_24_h_and_report_after_72_h() -> None:
    incident = _incident("I1", "call:tinh", severity="critical")
    assert incident.serious
    assert incident.notice_due == T0 + NOTICE_SECONDS == T0 + 24 * 3600
    assert incident.report_due == T0 + REPORT_SECONDS == T0 + 72 * 3600
    assert incident.overdue(T0 + 23 * 3600) == []
    assert incident.overdue(T0 + 24 * 3600 + 1) == ["notice"]
    assert incident.overdue(T0 + 72 * 3600 + 1) == ["notice", "report"]
    # Resolving it does not stop the clocks: the documents are still owed.
    resolved = incident.resolve(T0 + 60, "system")
    assert resolved.overdue(T0 + 72 * 3600 + 1) == ["notice", "report"]


def test_sent_documents_stop_their_clocks() -> None:
    incident = _incident("I1", "call:tinh", severity="critical")
    noticed = Incident(**{**incident.__dict__, "notice_sent_at": T0 + 3600})
    assert noticed.overdue(T0 + 72 * 3600 + 1) == ["report"]
    both = Incident(**{**noticed.__dict__, "report_sent_at": T0 + 48 * 3600})
    assert both.overdue(T0 + 365 * 86400) == []


def test_minor_and_major_incidents_carry_no_clocks() -> None:
    for severity in ("minor", "major"):
        incident = _incident("I1", "device:proj1", severity=severity)
        assert not incident.serious
        assert incident.notice_due is None
        assert incident.report_due is None
        assert incident.overdue(T0 + 365 * 86400) == []


# -- lifecycle ---------------------------------------------------------------------------------

def test_acknowledge_resolve_reopen_and_time_to_restore() -> None:
    opened = _incident("I1", "device:proj1")
    assert opened.time_to_restore() is None
    acked = opened.acknowledge(T0 + 30, "vanhanh")
    assert (acked.state, acked.acknowledged_at, acked.acknowledged_by) == \
        ("acknowledged", T0 + 30, "vanhanh")
    assert acked.acknowledge(T0 + 40, "quantri") is acked  # the first taker stays
    resolved = acked.resolve(T0 + 600, "vanhanh", "Thay bóng đèn máy chiếu")
    assert (resolved.state, resolved.resolved_by, resolved.resolution) == \
        ("resolved", "vanhanh", "Thay bóng đèn máy chiếu")
    assert resolved.time_to_restore() == 600.0
    assert resolved.resolve(T0 + 700, "quantri") is resolved
    assert resolved.acknowledge(T0 + 700, "quantri") is resolved
    assert [t["type"] for t in resolved.timeline] == ["acknowledged", "resolved"]
    assert resolved.version == opened.version + 2

    reopened = resolved.reopen(T0 + 900)
    assert (reopened.state, reopened.resolved_at, reopened.resolution) == ("open", None, "")
    assert reopened.time_to_restore() is None
    assert reopened.reopen(T0 + 901) is reopened  # already open: nothing to record
    again = reopened.resolve(T0 + 1200, "system")
    assert again.time_to_restore() == 1200.0
    assert again.resolution == "Tự phục hồi"
    assert [t["type"] for t in again.timeline] == \
        ["acknowledged", "resolved", "reopened", "resolved"]


def test_the_timeline_keeps_the_last_200_entries_and_bounds_text() -> None:
    incident = _incident("I1", "device:proj1")
    for i in range(250):
        incident = incident.note(T0 + i, "note", "x" * 5000)
    assert len(incident.timeline) == 200
    assert incident.timeline[0]["at"] == T0 + 50
    assert all(len(t["text"]) == 1000 for t in incident.timeline)


def test_an_incident_survives_its_own_dict() -> None:
    incident = _incident("I1", "call:tinh", severity="critical", cause="I0") \
        .acknowledge(T0 + 5, "vanhanh").note(T0 + 6, "note", "Đã gọi nhà mạng") \
        .resolve(T0 + 100, "system")
    data = incident.to_dict()
    assert data["serious"] is True
    assert data["time_to_restore"] == 100.0
    assert incident_from_dict(data) == incident


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20)
_FIELDS = ("id", "origin", "kind", "subject", "severity", "title", "opened_at", "state",
           "acknowledged_at", "resolved_at", "cause", "timeline", "notice_sent_at", "version")


@settings(max_examples=250, deadline=None)
@given(st.dictionaries(st.sampled_from(_FIELDS) | st.text(max_size=8), _json, max_size=16))
def test_incident_from_dict_never_raises_on_garbage(data: dict[str, Any]) -> None:
    incident = incident_from_dict(data)
    if incident is not None:
        assert math.isfinite(incident.opened_at)
        assert incident.severity in ("minor", "major", "critical")
        assert incident.state in ("open", "acknowledged", "resolved")
        incident.to_dict()
        incident.overdue(T0)


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({
    "id": _json, "origin": _json, "kind": _json, "subject": _json,
    "opened_at": st.floats() | st.integers() | st.text(max_size=10),
    "version": st.floats() | st.integers() | st.text(max_size=10) | st.none(),
    "timeline": _json, "acknowledged_at": _json}))
def test_incident_from_dict_never_raises_with_every_required_key(data: dict[str, Any]) -> None:
    incident = incident_from_dict(data)
    if incident is not None:
        assert math.isfinite(incident.opened_at)
