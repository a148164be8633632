"""The floor of a session, sans I/O: who asked to speak, who speaks, for how long.

Sites raise their hand into a queue (first come, first served); the chair grants the floor to
one site at a time, which takes it out of the queue; a speaker has a time limit, and running
over it raises one ``overtime`` event for the chair (the floor is not cut by itself: the chair
decides). Time is an argument; `next_deadline` says when `handle_timer` is next due.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FloorChange:
    """What a floor action changed: who lost the floor, who got it."""

    granted: str | None = None
    revoked: str | None = None


class Floor:
    """The queue of raised hands and the current speaker."""

    def __init__(self, limit_seconds: float) -> None:
        self.limit = float(limit_seconds)
        self.queue: list[str] = []
        self.speaker: str | None = None
        self.since: float | None = None
        self.overtime = False

    def raise_hand(self, site: str, now: float) -> bool:
        """Queue ``site``; False when it already waits or speaks."""
        if site in self.queue or site == self.speaker:
            return False
        self.queue.append(site)
        return True

    def lower_hand(self, site: str) -> bool:
        """Take ``site`` out of the queue; False when it was not there."""
        if site not in self.queue:
            return False
        self.queue.remove(site)
        return True

    def grant(self, site: str, now: float) -> FloorChange:
        """Give ``site`` the floor, taking it from the current speaker."""
        if site == self.speaker:
            return FloorChange()
        previous = self.speaker
        self.lower_hand(site)
        self.speaker, self.since, self.overtime = site, now, False
        return FloorChange(granted=site, revoked=previous)

    def grant_next(self, now: float) -> FloorChange:
        """Give the floor to the first site in the queue (nothing when it is empty)."""
        if not self.queue:
            return FloorChange()
        return self.grant(self.queue[0], now)

    def revoke(self) -> FloorChange:
        """Take the floor back from the speaker."""
        previous = self.speaker
        self.speaker, self.since, self.overtime = None, None, False
        return FloorChange(revoked=previous)

    def forget(self, site: str) -> FloorChange:
        """A site left the session: out of the queue, and off the floor if it spoke."""
        self.lower_hand(site)
        return self.revoke() if site == self.speaker else FloorChange()

    def remaining(self, now: float) -> float | None:
        """Seconds the speaker has left (negative when over), None without a speaker."""
        if self.since is None:
            return None
        return self.since + self.limit - now

    def next_deadline(self) -> float | None:
        """When `handle_timer` is next due: the speaker's time running out."""
        if self.since is None or self.overtime:
            return None
        return self.since + self.limit

    def handle_timer(self, now: float) -> list[str]:
        """Events due at ``now``: ``overtime`` once per speaker."""
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return []
        self.overtime = True
        return ["overtime"]

    def snapshot(self) -> dict[str, Any]:
        """The floor as kept in the session record."""
        return {"queue": list(self.queue), "speaker": self.speaker, "since": self.since,
                "limit": self.limit, "overtime": self.overtime}

    @classmethod
    def restore(cls, data: dict[str, Any], limit_seconds: float) -> Floor:
        """A floor from `snapshot` output; unusable parts are dropped, not trusted."""
        floor = cls(limit_seconds)
        limit = data.get("limit")
        if isinstance(limit, int | float) and not isinstance(limit, bool) and 0 < limit < 86400:
            floor.limit = float(limit)
        queue = data.get("queue")
        if isinstance(queue, list):
            # Strings only before de-duplicating: a list or dict in there is unhashable.
            floor.queue = list(dict.fromkeys(s for s in queue if isinstance(s, str)))
        speaker, since = data.get("speaker"), data.get("since")
        if isinstance(speaker, str) and isinstance(since, int | float) \
                and not isinstance(since, bool) and math.isfinite(since):
            floor.speaker, floor.since = speaker, float(since)
            floor.overtime = data.get("overtime") is True
            # A speaker also queued would block grant_next (granting the speaker is a no-op).
            floor.lower_hand(speaker)
        return floor
