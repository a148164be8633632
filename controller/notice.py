"""The notice rule for sessions: how far ahead a session must be announced.

Regular sessions are announced at least three working days ahead; extraordinary ones at least
one day (24 hours) ahead. Working days are Monday to Friday, minus the configured public
holidays, counted in Vietnam's time (UTC+7) strictly between the day of the announcement and the
day of the session: announced on a Monday, a session on Friday has three (Tue, Wed, Thu).
A broken rule does not block the session; it is a warning the chair sees and the record keeps.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

VIETNAM: Final = dt.timezone(dt.timedelta(hours=7))
REGULAR_WORKING_DAYS: Final = 3
EXTRAORDINARY_HOURS: Final = 24


@dataclass(frozen=True)
class NoticeCheck:
    """Whether a session was announced early enough, and what to tell the chair."""

    ok: bool
    required: str  # "3 working days" or "24 hours", for records
    given: str
    message: str  # Vietnamese, empty when ok

    def to_dict(self) -> dict[str, object]:
        """The check as stored in the session record."""
        return {"ok": self.ok, "required": self.required, "given": self.given,
                "message": self.message}


def local_day(ts: float) -> dt.date:
    """The calendar day in Vietnam at timestamp ``ts``."""
    return dt.datetime.fromtimestamp(ts, VIETNAM).date()


def working_days_between(first: dt.date, last: dt.date, holidays: Collection[dt.date]) -> int:
    """Working days strictly after ``first`` and strictly before ``last``."""
    count = 0
    day = first + dt.timedelta(days=1)
    while day < last:
        if day.weekday() < 5 and day not in holidays:
            count += 1
        day += dt.timedelta(days=1)
    return count


def check_notice(kind: str, announced_at: float, starts_at: float,
                 holidays: Collection[dt.date] = ()) -> NoticeCheck:
    """Apply the notice rule for a session of ``kind`` announced at ``announced_at``."""
    if kind == "extraordinary":
        hours = (starts_at - announced_at) / 3600.0
        # Rounded down: 23.99 hours must not read "24.0" in a warning that it is too short.
        shown = math.floor(max(hours, 0.0) * 10) / 10
        given = f"{shown:.1f} hours"
        if hours >= EXTRAORDINARY_HOURS:
            return NoticeCheck(True, f"{EXTRAORDINARY_HOURS} hours", given, "")
        return NoticeCheck(False, f"{EXTRAORDINARY_HOURS} hours", given,
                           "Phiên họp bất thường phải được thông báo trước ít nhất 1 ngày "
                           f"(mới thông báo trước {shown:.1f} giờ).")
    days = working_days_between(local_day(announced_at), local_day(starts_at), holidays)
    required = f"{REGULAR_WORKING_DAYS} working days"
    if days >= REGULAR_WORKING_DAYS:
        return NoticeCheck(True, required, f"{days} working days", "")
    return NoticeCheck(False, required, f"{days} working days",
                       "Phiên họp thường kỳ phải được thông báo trước ít nhất 3 ngày làm việc "
                       f"(mới thông báo trước {days} ngày làm việc).")
