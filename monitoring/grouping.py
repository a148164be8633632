"""Grouping incidents that arrive from below under one cause, sans I/O.

A parent learns of its descendants' incidents late (they travel through the outbox, maybe
hours after a link came back), so grouping them goes by *time*, not by what is open now:

- **a site was unreachable**: an incident of a site reached through child C that began while
  this site had C's ``child:C`` (or a mass ``outage``) incident going belongs to it — e.g. a
  province failed, and each of its communes reported its uplink down;
- **the conference failed**: a descendant's conference incident (call dropped, no media, bad
  link) that began while this site had a conference incident of its own belongs to it — the
  bridge or the chair's link failed for everyone;
- **many at once**: several descendants' conference incidents within a minute, with nothing of
  this site's own to explain them, are one conference outage: the caller opens one incident
  and points them all to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from monitoring.incidents import Incident

CONFERENCE_KINDS: Final = frozenset({"call_dropped", "no_media", "loss_high", "mos_low",
                                     "bridge_unreachable", "conference_outage"})
SLACK_SECONDS: Final = 30.0  # detection delays differ between sites
OUTAGE_SITES: Final = 3
OUTAGE_WINDOW: Final = 60.0


def _covers(incident: Incident, at: float) -> bool:
    end = incident.resolved_at if incident.resolved_at is not None else float("inf")
    return incident.opened_at - SLACK_SECONDS <= at <= end + SLACK_SECONDS


def cause_for_received(incident: Incident, via: str | None,
                       local: Iterable[Incident]) -> str | None:
    """The id of this site's incident that a descendant's ``incident`` belongs to, if any.

    ``via`` is the child through which the incident's site is reached; ``local`` are this
    site's own incidents (resolved ones too: what counts is whether they overlapped).
    """
    unreachable = {f"child:{via}", "outage"} if via is not None else {"outage"}
    candidates = sorted(local, key=lambda i: i.opened_at)
    for mine in candidates:
        if mine.subject in unreachable and _covers(mine, incident.opened_at):
            return mine.cause or mine.id
    if incident.kind in CONFERENCE_KINDS:
        for mine in candidates:
            if mine.kind in CONFERENCE_KINDS and _covers(mine, incident.opened_at):
                return mine.cause or mine.id
    return None


def conference_outage(recent: Iterable[tuple[str, float]], now: float) -> bool:
    """Whether conference incidents from enough distinct sites began within the window.

    ``recent`` holds (origin site, opened_at) of descendants' ungrouped conference incidents.
    """
    sites = {site for site, at in recent if now - at <= OUTAGE_WINDOW}
    return len(sites) >= OUTAGE_SITES
