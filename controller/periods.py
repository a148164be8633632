"""Reporting periods on the administrative calendar used for periodic reports.

Periodic reports close on a cut-off day (default the 15th) of the period's closing month: the
first half of 2026 runs from 15 December 2025 to 14 June 2026, the second half from 15 June to
14 December 2026, the year 2026 from 15 December 2025 to 14 December 2026 (both ends
included, Vietnam time). Any other range is given as ``YYYY-MM-DD..YYYY-MM-DD``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Final

VIETNAM: Final = dt.timezone(dt.timedelta(hours=7))
_HALF: Final = re.compile(r"^(\d{4})-H([12])$")
_YEAR: Final = re.compile(r"^(\d{4})$")
_RANGE: Final = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


class PeriodError(ValueError):
    """A period that cannot be read."""


@dataclass(frozen=True)
class Period:
    """A reporting period: first and last day included."""

    label: str
    first: dt.date
    last: dt.date
    kind: str  # H1 | H2 | year | range

    @property
    def start(self) -> float:
        """The first instant, as a timestamp (00:00 Vietnam time of the first day)."""
        return dt.datetime.combine(self.first, dt.time(), VIETNAM).timestamp()

    @property
    def end(self) -> float:
        """Just after the last instant (00:00 Vietnam time of the day after the last)."""
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(),
                                   VIETNAM).timestamp()

    def contains(self, ts: float) -> bool:
        """Whether ``ts`` falls in the period."""
        return self.start <= ts < self.end

    def to_dict(self, cutoff_day: int) -> dict[str, object]:
        """The period as the report shows it."""
        return {"label": self.label, "kind": self.kind, "start": self.first.isoformat(),
                "end": self.last.isoformat(), "cutoff_day": cutoff_day}


def parse_period(text: str, cutoff_day: int = 15) -> Period:
    """``2026-H1``, ``2026-H2``, ``2026`` or ``2026-01-01..2026-03-31``."""
    if not 1 <= cutoff_day <= 28:
        raise PeriodError("the cut-off day must be between 1 and 28")
    text = text.strip()
    if match := _HALF.match(text):
        year, half = int(match.group(1)), int(match.group(2))
        if half == 1:
            first, last = dt.date(year - 1, 12, cutoff_day), dt.date(year, 6, cutoff_day)
        else:
            first, last = dt.date(year, 6, cutoff_day), dt.date(year, 12, cutoff_day)
        return Period(text, first, _day_before(last), f"H{half}")
    if match := _YEAR.match(text):
        year = int(match.group(1))
        return Period(text, dt.date(year - 1, 12, cutoff_day),
                      _day_before(dt.date(year, 12, cutoff_day)), "year")
    if match := _RANGE.match(text):
        try:
            first = dt.date.fromisoformat(match.group(1))
            last = dt.date.fromisoformat(match.group(2))
        except ValueError as exc:
            raise PeriodError(f"not a date: {exc}") from exc
        if last < first:
            raise PeriodError("the range ends before it begins")
        if (last - first).days > 3 * 366:
            raise PeriodError("a range may cover at most three years")
        return Period(text, first, last, "range")
    raise PeriodError("a period is 2026-H1, 2026-H2, 2026 or 2026-01-01..2026-03-31")


def _day_before(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=1)
