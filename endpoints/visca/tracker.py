"""What is in flight to each camera on one VISCA line; no I/O, time is an argument.

Per camera: requests wait in order; one message at a time waits for its first answer
(ACK, inquiry reply or error), because those carry no token to match them by; an
acknowledged command then holds its socket until its completion or error, so up to
``sockets`` commands run at once. An inquiry waits its turn like everything else.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Final

from endpoints.visca.codec import (
    Ack,
    Command,
    Completion,
    Error,
    Inquiry,
    InquiryReply,
    Message,
    ReplyEvent,
    Returned,
    encode,
)

_log = logging.getLogger(__name__)

SOCKETS: Final = 2  # Sony cameras have two command sockets


@dataclass(frozen=True)
class Done:
    """The command completed, or the inquiry was answered (``payload``)."""

    token: int
    payload: bytes


@dataclass(frozen=True)
class Refused:
    """The camera answered with an error."""

    token: int
    error: Error


@dataclass(frozen=True)
class TimedOut:
    """No answer in time; ``phase`` is "reply" (no ACK or reply) or "completion"."""

    token: int
    phase: str
    after: float


@dataclass(frozen=True)
class Undeliverable:
    """The message came back round the chain: no camera has that address."""

    token: int


Outcome = Done | Refused | TimedOut | Undeliverable


@dataclass(eq=False)
class _Entry:
    token: int
    address: int
    message: Message
    frame: bytes
    reply_timeout: float
    completion_timeout: float
    deadline: float = math.inf
    socket: int = 0


@dataclass
class _Camera:
    queue: deque[_Entry] = field(default_factory=deque)
    awaiting: _Entry | None = None  # sent, first answer not yet in
    sockets: dict[int, _Entry] = field(default_factory=dict)


class InFlight:
    """The queue, the message awaiting its first answer and the busy sockets, per camera."""

    def __init__(self, sockets: int = SOCKETS) -> None:
        self.sockets = sockets
        self._cameras: dict[int, _Camera] = {}
        self._outcomes: deque[Outcome] = deque()
        self._next_token = 1

    def submit(self, address: int, message: Message, *, reply_timeout: float,
               completion_timeout: float) -> int:
        """Queue a message; returns the token its outcome will carry."""
        frame = encode(address, message)
        token = self._next_token
        self._next_token += 1
        camera = self._cameras.setdefault(address, _Camera())
        camera.queue.append(_Entry(token, address, message, frame, reply_timeout,
                                   completion_timeout))
        return token

    def withdraw(self, token: int) -> None:
        """The caller gave up: drop the message if it was not sent yet.

        A message already sent stays tracked so that its late answers are not taken
        for another message's.
        """
        for camera in self._cameras.values():
            for entry in camera.queue:
                if entry.token == token:
                    camera.queue.remove(entry)
                    return

    def frames_to_send(self, now: float) -> list[bytes]:
        """Packets to write now, in order; each starts its reply deadline."""
        frames = []
        for camera in self._cameras.values():
            if camera.awaiting is not None or not camera.queue:
                continue
            head = camera.queue[0]
            if isinstance(head.message, Command) and len(camera.sockets) >= self.sockets:
                continue
            camera.queue.popleft()
            head.deadline = now + head.reply_timeout
            camera.awaiting = head
            frames.append(head.frame)
        return frames

    def receive(self, event: ReplyEvent, now: float) -> bool:
        """Apply a camera's answer; False when nothing was waiting for it."""
        if isinstance(event, Ack | Completion | Error | InquiryReply | Returned):
            camera = self._cameras.get(event.address)
        else:
            return False
        if camera is None:
            return False
        awaiting = camera.awaiting
        if isinstance(event, Ack):
            if awaiting is None or not isinstance(awaiting.message, Command):
                return False
            old = camera.sockets.pop(event.socket, None)
            if old is not None:
                # The camera reused a socket we thought busy: its completion was lost.
                _log.debug("camera %d reused socket %d", event.address, event.socket)
                self._outcomes.append(TimedOut(old.token, "completion", old.completion_timeout))
            awaiting.socket = event.socket
            awaiting.deadline = now + awaiting.completion_timeout
            camera.sockets[event.socket] = awaiting
            camera.awaiting = None
            return True
        if isinstance(event, Completion):
            entry = camera.sockets.pop(event.socket, None) if event.socket else None
            if entry is None and awaiting is not None and isinstance(awaiting.message, Command):
                entry, camera.awaiting = awaiting, None  # completion without an ACK first
            if entry is None:
                return False
            self._outcomes.append(Done(entry.token, event.payload))
            return True
        if isinstance(event, InquiryReply):
            if awaiting is None or not isinstance(awaiting.message, Inquiry):
                return False
            camera.awaiting = None
            self._outcomes.append(Done(awaiting.token, event.payload))
            return True
        if isinstance(event, Error):
            # VISCA: an error names the socket of an acknowledged command; otherwise it
            # answers the message awaiting its first reply.
            entry = camera.sockets.pop(event.socket, None) if event.socket else None
            if entry is None and awaiting is not None:
                entry, camera.awaiting = awaiting, None
            if entry is None:
                return False
            self._outcomes.append(Refused(entry.token, event))
            return True
        # Returned: our own packet came back untaken.
        if awaiting is None or awaiting.frame[1:-1] != event.body:
            return False
        camera.awaiting = None
        self._outcomes.append(Undeliverable(awaiting.token))
        return True

    def next_outcome(self) -> Outcome | None:
        """The next finished message, or None."""
        return self._outcomes.popleft() if self._outcomes else None

    def get_timer(self) -> float | None:
        """When `handle_timer` must next run, or None."""
        deadlines = [e.deadline for c in self._cameras.values()
                     for e in ([c.awaiting] if c.awaiting else []) + list(c.sockets.values())]
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> None:
        """Time out every message whose deadline has passed."""
        for camera in self._cameras.values():
            awaiting = camera.awaiting
            if awaiting is not None and awaiting.deadline <= now:
                camera.awaiting = None
                self._outcomes.append(TimedOut(awaiting.token, "reply", awaiting.reply_timeout))
            for socket, entry in list(camera.sockets.items()):
                if entry.deadline <= now:
                    # Free the socket: if the camera still holds it, the next command
                    # gets "buffer full", which is retried.
                    del camera.sockets[socket]
                    self._outcomes.append(TimedOut(entry.token, "completion",
                                                   entry.completion_timeout))

    def abandon_all(self) -> list[int]:
        """Forget everything (the port is gone); returns every token that was pending."""
        tokens = [e.token for c in self._cameras.values()
                  for e in [*c.queue, *([c.awaiting] if c.awaiting else []),
                            *c.sockets.values()]]
        self._cameras.clear()
        return tokens

    def pending(self, address: int) -> int:
        """Messages queued or in flight to one camera."""
        camera = self._cameras.get(address)
        if camera is None:
            return 0
        return len(camera.queue) + (camera.awaiting is not None) + len(camera.sockets)
