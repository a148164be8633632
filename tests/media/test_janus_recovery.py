"""The call recovery policy, stepped with a fake clock."""

from __future__ import annotations

from media.bridges.base import CallState
from media.janus.recovery import BackoffPolicy, Recovery


def machine() -> Recovery:
    recovery = Recovery(BackoffPolicy(base=1.0, factor=2.0, cap=8.0, jitter=0.2),
                        uniform=lambda: 0.5)
    recovery.connected(100.0)
    return recovery


def test_backoff_grows_to_the_cap_and_jitters_both_ways() -> None:
    policy = BackoffPolicy(base=1.0, factor=2.0, cap=8.0, jitter=0.25)
    assert [policy.delay(n, 0.5) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]
    assert policy.delay(3, 0.0) == 3.0
    assert policy.delay(3, 1.0) == 5.0


def test_drop_schedules_attempts_with_growing_delays() -> None:
    r = machine()
    notices = r.dropped(110.0, "session_lost")
    assert [n.name for n in notices] == ["dropped", "recovery_step"]
    assert notices[1].data == {"attempt": 1, "delay": 1.0, "reason": "session_lost"}
    assert r.next_deadline() == 111.0
    assert not r.due(110.9)
    r.attempt_started(110.9)
    assert r.state == CallState.DROPPED
    r.attempt_started(111.0)
    assert r.state.value == "recovering"
    step = r.attempt_failed(111.5, "bridge_unreachable")
    assert step[0].data == {"attempt": 2, "delay": 2.0, "reason": "bridge_unreachable"}
    assert r.next_deadline() == 113.5
    r.attempt_started(113.5)
    done = r.attempt_succeeded(114.0)
    assert done[0].name == "recovered"
    assert done[0].data == {"attempts": 2, "downtime_s": 4.0}
    assert r.state.value == "connected"


def test_second_fault_while_recovering_is_not_a_new_drop() -> None:
    r = machine()
    r.dropped(110.0, "media_timeout")
    assert r.dropped(110.2, "ice_dtls_failed") == []
    r.attempt_started(111.0)
    assert r.dropped(111.1, "session_lost") == []


def test_degraded_then_healthy_reports_each_change_once() -> None:
    r = machine()
    assert [n.name for n in r.degraded(101.0, "no inbound media")] == ["degraded"]
    assert r.degraded(102.0, "no inbound media") == []
    assert [n.name for n in r.healthy(103.0)] == ["connected"]
    assert r.healthy(104.0) == []


def test_nothing_is_scheduled_after_the_call_ends() -> None:
    r = machine()
    r.dropped(110.0, "session_lost")
    r.ended()
    assert r.next_deadline() is None
    assert not r.due(1e9)
    assert r.dropped(2e9, "x") == []
