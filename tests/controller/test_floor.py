"""The floor of a session, sans I/O: raised hands, grants and the speaking limit."""

from __future__ import annotations

from typing import Any

import pytest

from controller.floor import Floor, FloorChange
from tests.conftest import FakeClock

LIMIT = 180.0


def test_hands_are_queued_first_come_first_served(clock: FakeClock) -> None:
    floor = Floor(LIMIT)
    for site in ("xa-mot", "xa-hai", "xa-ba"):
        assert floor.raise_hand(site, clock())
        clock.advance(1)
    assert floor.queue == ["xa-mot", "xa-hai", "xa-ba"]
    assert floor.grant_next(clock()) == FloorChange(granted="xa-mot")
    assert floor.grant_next(clock()) == FloorChange(granted="xa-hai", revoked="xa-mot")
    assert floor.grant_next(clock()) == FloorChange(granted="xa-ba", revoked="xa-hai")
    assert floor.queue == []


def test_a_site_waits_in_the_queue_once(clock: FakeClock) -> None:
    floor = Floor(LIMIT)
    assert floor.raise_hand("xa-mot", clock())
    assert floor.raise_hand("xa-hai", clock())
    assert not floor.raise_hand("xa-mot", clock())  # pressing twice keeps its place
    assert floor.queue == ["xa-mot", "xa-hai"]
    floor.grant("xa-hai", clock())
    assert not floor.raise_hand("xa-hai", clock())  # the speaker cannot queue behind itself
    assert floor.queue == ["xa-mot"]


def test_lowering_a_hand(clock: FakeClock) -> None:
    floor = Floor(LIMIT)
    floor.raise_hand("xa-mot", clock())
    floor.raise_hand("xa-hai", clock())
    assert floor.lower_hand("xa-mot")
    assert not floor.lower_hand("xa-mot")
    assert not floor.lower_hand("xa-khong-co")
    assert floor.queue == ["xa-hai"]
    assert floor.grant_next(clock()).granted == "xa-hai"


def test_grant_takes_the_site_out_of_the_queue_and_says_who_lost_the_floor(
        clock: FakeClock) -> None:
    floor = Floor(LIMIT)
    for site in ("xa-mot", "xa-hai", "xa-ba"):
        floor.raise_hand(site, clock())
    assert floor.grant("xa-hai", clock()) == FloorChange(granted="xa-hai", revoked=None)
    assert floor.speaker == "xa-hai"
    assert floor.queue == ["xa-mot", "xa-ba"]
    # The chair may give the floor to a site that never asked.
    assert floor.grant("tinh-a", clock()) == FloorChange(granted="tinh-a", revoked="xa-hai")
    assert floor.queue == ["xa-mot", "xa-ba"]
    # Granting the current speaker again changes nothing.
    assert floor.grant("tinh-a", clock()) == FloorChange()
    assert floor.speaker == "tinh-a"


def test_grant_next_on_an_empty_queue_changes_nothing(clock: FakeClock) -> None:
    floor = Floor(LIMIT)
    assert floor.grant_next(clock()) == FloorChange()
    assert floor.speaker is None
    floor.grant("xa-mot", clock())
    assert floor.grant_next(clock()) == FloorChange()
    assert floor.speaker == "xa-mot"  # the speaker keeps the floor


def test_revoke_and_forget(clock: FakeClock) -> None:
    floor = Floor(LIMIT)
    assert floor.revoke() == FloorChange()
    floor.raise_hand("xa-mot", clock())
    floor.raise_hand("xa-hai", clock())
    floor.grant("xa-ba", clock())
    # A waiting site that leaves drops out of the queue; the speaker keeps talking.
    assert floor.forget("xa-mot") == FloorChange()
    assert floor.queue == ["xa-hai"]
    assert floor.speaker == "xa-ba"
    # The speaker leaving frees the floor.
    assert floor.forget("xa-ba") == FloorChange(revoked="xa-ba")
    assert floor.speaker is None
    assert floor.remaining(clock()) is None
    assert floor.next_deadline() is None
    floor.grant("xa-hai", clock())
    assert floor.revoke() == FloorChange(revoked="xa-hai")
    assert floor.speaker is None
    assert floor.queue == []


def test_overtime_fires_once_at_the_limit_and_not_before(clock: FakeClock) -> None:
    floor = Floor(LIMIT)
    assert floor.next_deadline() is None
    assert floor.handle_timer(clock()) == []
    start = clock()
    floor.grant("xa-mot", start)
    assert floor.next_deadline() == start + LIMIT
    assert floor.remaining(start) == LIMIT
    clock.advance(LIMIT - 0.5)
    assert floor.handle_timer(clock()) == []
    assert floor.remaining(clock()) == pytest.approx(0.5)
    clock.advance(0.5)
    assert floor.handle_timer(clock()) == ["overtime"]
    assert floor.overtime
    assert floor.next_deadline() is None  # nothing more to wait for
    clock.advance(60)
    assert floor.handle_timer(clock()) == []
    assert floor.remaining(clock()) == pytest.approx(-60)
    assert floor.speaker == "xa-mot"  # the chair decides; the floor is not cut


def test_a_late_timer_still_fires_once(clock: FakeClock) -> None:
    floor = Floor(LIMIT)
    floor.grant("xa-mot", clock())
    clock.advance(LIMIT * 3)
    assert floor.handle_timer(clock()) == ["overtime"]
    assert floor.handle_timer(clock()) == []


def test_a_new_grant_restarts_the_limit(clock: FakeClock) -> None:
    floor = Floor(LIMIT)
    floor.grant("xa-mot", clock())
    clock.advance(LIMIT)
    assert floor.handle_timer(clock()) == ["overtime"]
    # Regranting the speaker changes nothing, so no second event.
    floor.grant("xa-mot", clock())
    assert floor.handle_timer(clock()) == []
    floor.grant("xa-hai", clock())
    assert not floor.overtime
    assert floor.next_deadline() == clock() + LIMIT
    clock.advance(LIMIT - 1)
    assert floor.handle_timer(clock()) == []
    clock.advance(1)
    assert floor.handle_timer(clock()) == ["overtime"]
    # After a revoke there is nobody to time.
    floor.revoke()
    clock.advance(LIMIT * 2)
    assert floor.handle_timer(clock()) == []


def test_snapshot_and_restore_keep_the_floor(clock: FakeClock) -> None:
    floor = Floor(LIMIT)
    floor.raise_hand("xa-mot", clock())
    floor.raise_hand("xa-hai", clock())
    floor.grant("xa-ba", clock())
    clock.advance(LIMIT)
    floor.handle_timer(clock())
    again = Floor.restore(floor.snapshot(), 999)
    assert again.snapshot() == floor.snapshot()
    assert again.limit == LIMIT  # the record's limit wins over the default
    assert again.handle_timer(clock()) == []  # overtime already told
    assert again.grant_next(clock()) == FloorChange(granted="xa-mot", revoked="xa-ba")


@pytest.mark.parametrize(("data", "expected"), [
    ({}, {"queue": [], "speaker": None, "since": None, "limit": 60.0, "overtime": False}),
    ({"queue": "xa-mot", "speaker": 5, "since": 1.0, "limit": "120"},
     {"queue": [], "speaker": None, "since": None, "limit": 60.0, "overtime": False}),
    ({"queue": ["xa-mot", 3, None, "xa-hai", "xa-mot", ["x"], {"a": 1}, "xa-hai"]},
     {"queue": ["xa-mot", "xa-hai"], "speaker": None, "since": None, "limit": 60.0,
      "overtime": False}),
    ({"speaker": "xa-mot", "since": True, "overtime": True},
     {"queue": [], "speaker": None, "since": None, "limit": 60.0, "overtime": False}),
    ({"speaker": "xa-mot", "since": 10, "overtime": "yes", "limit": True},
     {"queue": [], "speaker": "xa-mot", "since": 10.0, "limit": 60.0, "overtime": False}),
    ({"speaker": "xa-mot", "since": float("nan")},
     {"queue": [], "speaker": None, "since": None, "limit": 60.0, "overtime": False}),
    ({"limit": -5}, {"queue": [], "speaker": None, "since": None, "limit": 60.0,
                     "overtime": False}),
    ({"limit": 10**9}, {"queue": [], "speaker": None, "since": None, "limit": 60.0,
                        "overtime": False}),
    ({"queue": ["xa-mot", "xa-hai"], "speaker": "xa-mot", "since": 5.0},
     {"queue": ["xa-hai"], "speaker": "xa-mot", "since": 5.0, "limit": 60.0,
      "overtime": False}),
], ids=["empty", "wrong-types", "queue-garbage-and-duplicates", "bool-since", "nan-since",
        "bad-overtime-and-limit", "negative-limit", "huge-limit", "speaker-also-queued"])
def test_restore_drops_what_it_cannot_use(data: dict[str, Any],
                                          expected: dict[str, Any]) -> None:
    assert Floor.restore(data, 60).snapshot() == expected


def test_a_restored_floor_with_the_speaker_queued_still_moves_on(clock: FakeClock) -> None:
    floor = Floor.restore({"queue": ["xa-mot", "xa-hai"], "speaker": "xa-mot",
                           "since": clock()}, 60)
    assert floor.grant_next(clock()) == FloorChange(granted="xa-hai", revoked="xa-mot")
