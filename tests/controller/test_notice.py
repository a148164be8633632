"""The notice rule: three working days for a regular session, 24 hours for an extraordinary one."""

from __future__ import annotations

import datetime as dt

import pytest

from controller.notice import check_notice

VN = dt.timezone(dt.timedelta(hours=7))
NATIONAL_DAY = dt.date(2026, 9, 2)  # a Wednesday


def vn(day: str, hour: int = 8, minute: int = 0) -> float:
    """A timestamp at ``hour:minute`` on ``day`` (YYYY-MM-DD) in Vietnam."""
    d = dt.date.fromisoformat(day)
    return dt.datetime(d.year, d.month, d.day, hour, minute, tzinfo=VN).timestamp()


def utc(day: str, hour: int, minute: int = 0) -> float:
    """A timestamp at ``hour:minute`` UTC on ``day``."""
    d = dt.date.fromisoformat(day)
    return dt.datetime(d.year, d.month, d.day, hour, minute, tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize(("announced", "starts", "days", "ok"), [
    ("2026-11-23", "2026-11-27", 3, True),   # Mon → Fri: Tue, Wed, Thu
    ("2026-11-23", "2026-11-26", 2, False),  # Mon → Thu: Tue, Wed
    ("2026-11-23", "2026-11-23", 0, False),  # same day
    ("2026-11-26", "2026-11-30", 1, False),  # Thu → next Mon: only Fri counts
    ("2026-11-26", "2026-12-02", 3, True),   # Thu → next Wed: Fri, Mon, Tue
    ("2026-11-20", "2026-11-26", 3, True),   # Fri → next Thu: Mon, Tue, Wed
    ("2026-11-20", "2026-11-25", 2, False),  # Fri → next Wed: the weekend is not counted
    ("2026-11-23", "2026-12-07", 9, True),
], ids=["mon-fri", "mon-thu", "same-day", "thu-mon", "thu-wed", "fri-thu", "fri-wed",
        "two-weeks"])
def test_regular_sessions_need_three_working_days(announced: str, starts: str, days: int,
                                                  ok: bool) -> None:
    check = check_notice("regular", vn(announced, 10), vn(starts, 8))
    assert check.ok is ok
    assert check.required == "3 working days"
    assert check.given == f"{days} working days"
    if ok:
        assert check.message == ""
    else:
        assert "thường kỳ" in check.message
        assert "ít nhất 3 ngày làm việc" in check.message
        assert f"mới thông báo trước {days} ngày làm việc" in check.message


def test_a_configured_holiday_is_not_a_working_day() -> None:
    announced, starts = vn("2026-08-31", 9), vn("2026-09-04", 8)  # Mon → Fri
    assert check_notice("regular", announced, starts).ok
    check = check_notice("regular", announced, starts, holidays={NATIONAL_DAY})
    assert not check.ok
    assert check.given == "2 working days"
    assert "2 ngày làm việc" in check.message
    # The holiday pushes the earliest allowed day one working day later.
    assert check_notice("regular", announced, vn("2026-09-07", 8), holidays={NATIONAL_DAY}).ok
    # A holiday that falls on a weekend changes nothing.
    assert check_notice("regular", vn("2026-11-23"), vn("2026-11-27"),
                        holidays={dt.date(2026, 11, 28)}).ok


def test_days_are_counted_in_vietnam_time() -> None:
    # 23:30 UTC on Monday is 06:30 on Tuesday in Vietnam: Friday then has only Wed, Thu.
    late_monday_utc = utc("2026-11-23", 23, 30)
    check = check_notice("regular", late_monday_utc, vn("2026-11-27", 8))
    assert not check.ok
    assert check.given == "2 working days"
    # 16:30 UTC on Monday is still Monday (23:30) in Vietnam: three days.
    assert check_notice("regular", utc("2026-11-23", 16, 30), vn("2026-11-27", 8)).ok
    # A session at 06:00 on Friday in Vietnam is 23:00 UTC on Thursday; it is still Friday.
    assert check_notice("regular", vn("2026-11-23", 9), vn("2026-11-27", 6)).ok
    assert check_notice("regular", vn("2026-11-23", 9), vn("2026-11-27", 6)).given == \
        "3 working days"


@pytest.mark.parametrize(("hours", "ok", "shown"), [
    (23.0, False, "23.0"), (23.99, False, "23.9"), (24.0, True, "24.0"), (25.0, True, "25.0"),
    (0.5, False, "0.5"),
])
def test_extraordinary_sessions_need_24_hours(hours: float, ok: bool, shown: str) -> None:
    # Friday evening to Saturday evening: weekends do not matter for an extraordinary session.
    announced = vn("2026-11-27", 18)
    check = check_notice("extraordinary", announced, announced + hours * 3600)
    assert check.ok is ok
    assert check.required == "24 hours"
    assert check.given == f"{shown} hours"
    if ok:
        assert check.message == ""
    else:
        assert "bất thường" in check.message
        assert "ít nhất 1 ngày" in check.message
        assert f"{shown} giờ" in check.message


def test_an_announcement_after_the_start_gives_no_notice() -> None:
    start = vn("2026-11-27", 8)
    late = check_notice("extraordinary", start + 600, start)
    assert not late.ok
    assert late.given == "0.0 hours"
    assert "0.0 giờ" in late.message
    regular = check_notice("regular", vn("2026-11-30"), vn("2026-11-23"))
    assert not regular.ok
    assert regular.given == "0 working days"


def test_the_check_is_kept_in_the_record() -> None:
    check = check_notice("regular", vn("2026-11-23"), vn("2026-11-24"))
    assert check.to_dict() == {"ok": False, "required": "3 working days",
                               "given": "0 working days", "message": check.message}
