"""The polling coordinator: offline once, back once, backing off while a device is dead."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from monitoring.polling import DevicePoller, DeviceTransition, PollState


def test_first_success_is_one_online_transition() -> None:
    state = PollState("cam1", interval=10)
    assert state.next_due() < 0  # poll at once
    assert [t.online for t in state.on_success(100, {"power": "on"})] == [True]
    assert state.on_success(110, {"power": "on"}) == []
    assert state.next_due() == 120
    assert state.health().readings == {"power": "on"}


def test_a_single_failure_is_not_yet_offline_but_two_are() -> None:
    state = PollState("cam1", interval=10, offline_after=2)
    state.on_success(0, {})
    assert state.on_failure(10, "no answer") == []
    assert state.health().online is True
    assert state.next_due() == 12  # retried soon, not a full interval later
    [down] = state.on_failure(12, "no answer")
    assert down == DeviceTransition("cam1", False, 12, "no answer")
    for t in (14, 30, 60, 120):
        assert state.on_failure(t, "no answer") == []  # logged once, not per poll
    [up] = state.on_success(200, {})
    assert up.online
    assert up.reason == "answering again"


def test_unknown_device_that_fails_at_start_is_offline_at_once() -> None:
    state = PollState("ups", interval=10)
    [down] = state.on_failure(0, "connection refused")
    assert not down.online
    assert state.health().online is False


def test_backoff_while_offline_is_capped() -> None:
    state = PollState("ups", interval=5, offline_after=1, max_backoff=60)
    state.on_failure(0, "x")
    delays = []
    now = 0.0
    for _ in range(8):
        state.on_failure(now, "x")
        delays.append(state.next_due() - now)
        now = state.next_due()
    assert delays[:4] == [10, 20, 40, 60]
    assert max(delays) == 60


def test_poke_makes_the_next_poll_due_now() -> None:
    state = PollState("proj", interval=30)
    state.on_success(0, {})
    state.poke(5)
    assert state.next_due() == 5


async def test_poller_loop_publishes_transitions_and_wakes_on_poke() -> None:
    answers: list[Exception | Mapping[str, Any]] = [{"power": "on"}, OSError("gone"),
                                                    OSError("gone"), {"power": "off"}]
    polled = asyncio.Event()

    async def poll() -> Mapping[str, Any]:
        polled.set()
        answer = answers.pop(0) if answers else {"power": "off"}
        if isinstance(answer, Exception):
            raise answer
        return answer

    seen: list[DeviceTransition] = []
    clock = asyncio.get_running_loop().time
    poller = DevicePoller(PollState("cam1", interval=3600, offline_after=2), poll, seen.append,
                          timeout=1, clock=clock)
    task = asyncio.create_task(poller.run())
    try:
        for _ in range(4):
            await asyncio.wait_for(polled.wait(), 5)
            polled.clear()
            await asyncio.sleep(0)
            poller.poke()  # without the poke the next poll would be an hour away
        await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [t.online for t in seen] == [True, False, True]
    assert seen[1].reason == "gone"


async def test_a_hanging_device_counts_as_no_answer() -> None:
    async def poll() -> Mapping[str, Any]:
        await asyncio.sleep(10)
        return {}

    seen: list[DeviceTransition] = []
    poller = DevicePoller(PollState("cam1", interval=10), poll, seen.append, timeout=0.05,
                          clock=asyncio.get_running_loop().time)
    await poller.poll_once()
    assert [(t.online, t.reason) for t in seen] == [(False, "no answer in time")]
