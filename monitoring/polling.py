"""One polling coordinator per device: online/offline decided once, not per poll.

`PollState` is pure (time is an argument): it decides when the next poll is due
and turns poll outcomes into transitions. `DevicePoller` is the thin loop that
calls the device and publishes transitions and readings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceTransition:
    """A device went offline or came back."""

    device_id: str
    online: bool
    at: float
    reason: str


@dataclass(frozen=True)
class DeviceHealth:
    """What is known of a device now."""

    device_id: str
    online: bool | None  # None until the first poll has finished
    since: float | None
    last_ok: float | None
    last_error: str | None
    failures: int
    readings: Mapping[str, Any] = field(default_factory=dict)


class PollState:
    """Schedule and online/offline state of one device's polling."""

    def __init__(self, device_id: str, interval: float, *, offline_after: int = 2,
                 max_backoff: float = 60.0) -> None:
        self.device_id = device_id
        self.interval = interval
        self.offline_after = max(1, offline_after)
        self.max_backoff = max(max_backoff, interval)
        self.online: bool | None = None
        self.since: float | None = None
        self.last_ok: float | None = None
        self.last_error: str | None = None
        self.failures = 0
        self.readings: Mapping[str, Any] = {}
        self._due = -math.inf

    def next_due(self) -> float:
        """When the next poll should start."""
        return self._due

    def poke(self, now: float) -> None:
        """Poll again as soon as possible (after a command, a trap, a notification)."""
        self._due = now

    def on_success(self, now: float, readings: Mapping[str, Any]) -> list[DeviceTransition]:
        """A poll answered."""
        self.readings = dict(readings)
        self.last_ok = now
        self.last_error = None
        self.failures = 0
        self._due = now + self.interval
        if self.online is True:
            return []
        was_known = self.online is not None
        self.online, self.since = True, now
        if not was_known:
            return [DeviceTransition(self.device_id, True, now, "first contact")]
        return [DeviceTransition(self.device_id, True, now, "answering again")]

    def on_failure(self, now: float, error: str) -> list[DeviceTransition]:
        """A poll failed; offline only after ``offline_after`` failures in a row."""
        self.failures += 1
        self.last_error = error
        if self.online is False:
            # Back off while offline, so a dead device does not eat the bus or the log.
            step = min(self.interval * 2 ** (self.failures - self.offline_after),
                       self.max_backoff)
            self._due = now + step
            return []
        self._due = now + min(self.interval, 2.0)
        if self.failures < self.offline_after and self.online is not None:
            return []
        self.online, self.since = False, now
        return [DeviceTransition(self.device_id, False, now, error)]

    def health(self) -> DeviceHealth:
        """A snapshot for the API and metrics."""
        return DeviceHealth(self.device_id, self.online, self.since, self.last_ok,
                            self.last_error, self.failures, self.readings)


Poll = Callable[[], Awaitable[Mapping[str, Any]]]
TransitionSink = Callable[[DeviceTransition], None]


class DevicePoller:
    """Polls one device on its schedule until cancelled."""

    def __init__(self, state: PollState, poll: Poll, on_transition: TransitionSink,
                 *, timeout: float, clock: Callable[[], float],
                 describe_error: Callable[[BaseException], str] = str) -> None:
        self.state = state
        self._poll = poll
        self._on_transition = on_transition
        self._timeout = timeout
        self._clock = clock
        self._describe = describe_error
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """Poll now rather than at the next interval."""
        self.state.poke(self._clock())
        self._wake.set()

    async def poll_once(self) -> None:
        """One poll, its outcome fed to the state."""
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # lands as the poll finishes, and the poller would then never stop.
        try:
            async with asyncio.timeout(self._timeout):
                readings = await self._poll()
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            transitions = self.state.on_failure(self._clock(), "no answer in time")
        except Exception as exc:  # a driver's failure of any kind means "not answering"
            transitions = self.state.on_failure(self._clock(), self._describe(exc))
        else:
            transitions = self.state.on_success(self._clock(), readings)
        for transition in transitions:
            self._on_transition(transition)

    async def run(self) -> None:
        """Poll forever; cancel to stop."""
        while True:
            delay = self.state.next_due() - self._clock()
            if delay > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                continue
            await self.poll_once()
