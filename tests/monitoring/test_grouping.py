"""Grouping a descendant's incidents under this site's cause, by time."""

from __future__ import annotations

from monitoring.grouping import cause_for_received, conference_outage
from monitoring.incidents import Incident


def incident(id_: str, kind: str, subject: str, opened: float, resolved: float | None = None,
             origin: str = "tinh-a", cause: str | None = None) -> Incident:
    return Incident(id=id_, origin=origin, kind=kind, subject=subject, severity="major",
                    title=kind, opened_at=opened, resolved_at=resolved,
                    state="resolved" if resolved is not None else "open", cause=cause)


PROVINCE_DOWN = incident("c1", "child_offline", "child:tinh-b", 1000.0, 4600.0)


def test_a_commune_uplink_down_during_its_province_outage_belongs_to_it() -> None:
    # Reported an hour later, when the province came back: grouped by when it began.
    late = incident("x1", "uplink_down", "uplink", 1040.0, 4610.0, origin="xa-ba")
    assert cause_for_received(late, "tinh-b", [PROVINCE_DOWN]) == "c1"


def test_outside_the_outage_or_through_another_child_it_stands_alone() -> None:
    before = incident("x2", "uplink_down", "uplink", 100.0, origin="xa-ba")
    after = incident("x3", "device_offline", "device:cam1", 9000.0, origin="xa-ba")
    other = incident("x4", "uplink_down", "uplink", 1040.0, origin="xa-ca")
    assert cause_for_received(before, "tinh-b", [PROVINCE_DOWN]) is None
    assert cause_for_received(after, "tinh-b", [PROVINCE_DOWN]) is None
    assert cause_for_received(other, "tinh-c", [PROVINCE_DOWN]) is None


def test_a_conference_incident_below_follows_this_sites_own() -> None:
    mine = incident("m1", "call_dropped", "call:tinh", 2000.0)
    theirs = incident("x5", "no_media", "link:tw:receive:media", 2010.0, origin="xa-ba")
    device = incident("x6", "device_offline", "device:cam1", 2010.0, origin="xa-ba")
    assert cause_for_received(theirs, "xa-ba", [mine]) == "m1"
    assert cause_for_received(device, "xa-ba", [mine]) is None


def test_a_cause_with_its_own_cause_passes_the_root_on() -> None:
    outage = incident("o1", "mass_outage", "outage", 900.0)
    child = incident("c2", "child_offline", "child:tinh-b", 1000.0, cause="o1")
    late = incident("x7", "uplink_down", "uplink", 1100.0, origin="xa-ba")
    assert cause_for_received(late, "tinh-b", [child, outage]) == "o1"


def test_three_sites_in_a_minute_are_one_conference_outage() -> None:
    assert conference_outage([("xa-1", 0.0), ("xa-2", 20.0), ("xa-3", 50.0)], 55.0)
    assert not conference_outage([("xa-1", 0.0), ("xa-1", 20.0), ("xa-2", 50.0)], 55.0)
    assert not conference_outage([("xa-1", 0.0), ("xa-2", 100.0), ("xa-3", 200.0)], 210.0)
