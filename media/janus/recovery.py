"""When to rebuild a call: a pure state machine, time given by the caller.

connected --degraded--> degraded --healthy--> connected
any live state --dropped--> dropped --(deadline)--> recovering --ok--> connected
                                     ^------------- failed -----------'
The delay before attempt n (1-based) is ``min(cap, base * factor**(n-1))`` scaled by a
random factor in ``[1 - jitter, 1 + jitter]`` so that many sites dropped by one bridge
restart do not come back in lockstep.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from media.bridges.base import CallState


@dataclass(frozen=True)
class RecoveryNotice:
    """An event the I/O layer should publish on the call."""

    name: str  # degraded, connected, dropped, recovery_step, recovered
    at: float
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class BackoffPolicy:
    """Exponential backoff with jitter."""

    base: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 0.2

    def delay(self, attempt: int, uniform: float) -> float:
        """Delay before ``attempt`` (1-based); ``uniform`` is a sample of U[0, 1)."""
        raw = min(self.cap, self.base * self.factor ** max(0, attempt - 1))
        return max(0.0, raw * (1 + self.jitter * (2 * uniform - 1)))


class Recovery:
    """Decides when a dropped call is rebuilt; never sleeps, never does I/O."""

    def __init__(self, policy: BackoffPolicy | None = None,
                 uniform: Callable[[], float] = random.random) -> None:
        self.policy = policy or BackoffPolicy()
        self._uniform = uniform
        self.state = CallState.CONNECTING
        self.attempt = 0
        self.reason = ""
        self.dropped_at: float | None = None
        self.next_attempt_at: float | None = None

    def connected(self, now: float) -> list[RecoveryNotice]:
        """The first join succeeded."""
        if self.state is not CallState.CONNECTING:
            return []
        self.state = CallState.CONNECTED
        return [RecoveryNotice("connected", now)]

    def degraded(self, now: float, reason: str) -> list[RecoveryNotice]:
        """Something looks wrong but the call may still come back by itself."""
        if self.state is not CallState.CONNECTED:
            return []
        self.state = CallState.DEGRADED
        return [RecoveryNotice("degraded", now, {"reason": reason})]

    def healthy(self, now: float) -> list[RecoveryNotice]:
        """The degradation went away without a rebuild."""
        if self.state is not CallState.DEGRADED:
            return []
        self.state = CallState.CONNECTED
        return [RecoveryNotice("connected", now, {"after": "degraded"})]

    def dropped(self, now: float, reason: str) -> list[RecoveryNotice]:
        """The call is lost (ICE/DTLS failed, media timeout, session gone): schedule attempt 1."""
        if self.state not in (CallState.CONNECTED, CallState.DEGRADED, CallState.CONNECTING):
            return []
        self.state = CallState.DROPPED
        self.reason = reason
        self.dropped_at = now
        self.attempt = 0
        return [RecoveryNotice("dropped", now, {"reason": reason}), *self._schedule(now)]

    def due(self, now: float) -> bool:
        """Whether the next attempt should start now."""
        return (self.state is CallState.DROPPED and self.next_attempt_at is not None
                and now >= self.next_attempt_at)

    def next_deadline(self) -> float | None:
        """When the machine next needs attention (None: not waiting)."""
        return self.next_attempt_at if self.state is CallState.DROPPED else None

    def attempt_started(self, now: float) -> None:
        """The I/O layer started rebuilding."""
        if self.due(now):
            self.state = CallState.RECOVERING
            self.next_attempt_at = None

    def attempt_failed(self, now: float, reason: str) -> list[RecoveryNotice]:
        """The rebuild failed: schedule the next one, a little later."""
        if self.state is not CallState.RECOVERING:
            return []
        self.state = CallState.DROPPED
        self.reason = reason
        return self._schedule(now)

    def attempt_succeeded(self, now: float) -> list[RecoveryNotice]:
        """The call is back."""
        if self.state is not CallState.RECOVERING:
            return []
        downtime = now - (self.dropped_at if self.dropped_at is not None else now)
        notice = RecoveryNotice("recovered", now, {"attempts": self.attempt,
                                                   "downtime_s": round(downtime, 3)})
        self.state = CallState.CONNECTED
        self.attempt = 0
        self.dropped_at = None
        return [notice]

    def ended(self) -> None:
        """The call was left: nothing more to schedule."""
        self.state = CallState.ENDED
        self.next_attempt_at = None

    def _schedule(self, now: float) -> list[RecoveryNotice]:
        self.attempt += 1
        delay = self.policy.delay(self.attempt, self._uniform())
        self.next_attempt_at = now + delay
        return [RecoveryNotice("recovery_step", now, {
            "attempt": self.attempt, "delay": round(delay, 3), "reason": self.reason})]
