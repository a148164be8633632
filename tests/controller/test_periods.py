"""Reporting periods on the administrative calendar (cut-off day of the closing month)."""

from __future__ import annotations

import datetime as dt

import pytest

from controller.periods import VIETNAM, PeriodError, parse_period


def at(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=VIETNAM).timestamp()


def test_halves_and_the_year_close_on_the_fifteenth() -> None:
    h1, h2, year = parse_period("2026-H1"), parse_period("2026-H2"), parse_period("2026")
    assert (h1.first, h1.last) == (dt.date(2025, 12, 15), dt.date(2026, 6, 14))
    assert (h2.first, h2.last) == (dt.date(2026, 6, 15), dt.date(2026, 12, 14))
    assert (year.first, year.last) == (dt.date(2025, 12, 15), dt.date(2026, 12, 14))
    assert h1.end == h2.start  # no gap, no overlap


def test_the_edges_are_in_vietnam_time() -> None:
    h1, h2 = parse_period("2026-H1"), parse_period("2026-H2")
    assert h1.contains(at("2026-06-14T23:59:00"))
    assert h2.contains(at("2026-06-15T00:00:00"))
    assert not h1.contains(at("2026-06-15T00:00:00"))
    # 17:30 UTC on the 14th is already the 15th in Vietnam.
    assert h2.contains(dt.datetime(2026, 6, 14, 17, 30, tzinfo=dt.UTC).timestamp())


def test_another_cut_off_day_and_a_free_range() -> None:
    h2 = parse_period("2026-H2", cutoff_day=20)
    assert (h2.first, h2.last) == (dt.date(2026, 6, 20), dt.date(2026, 12, 19))
    first_of_month = parse_period("2026-H1", cutoff_day=1)
    assert (first_of_month.first, first_of_month.last) == (dt.date(2025, 12, 1),
                                                           dt.date(2026, 5, 31))
    q1 = parse_period("2026-01-01..2026-03-31")
    assert (q1.first, q1.last, q1.kind) == (dt.date(2026, 1, 1), dt.date(2026, 3, 31), "range")


@pytest.mark.parametrize("text", ["2026-H3", "26-H1", "2026-03-31..2026-01-01",
                                  "2026-02-30..2026-03-01", "2020-01-01..2026-01-01", "", "H1"])
def test_bad_periods_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(text)
