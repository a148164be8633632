"""Line framing shared by the text protocols (PJLink, mixer strings); no I/O and no asyncio here.

`LineFramer` splits a byte stream at a one-byte terminator and bounds what it holds;
`LineCodec` turns each line into one event, drops overlong lines and counts every drop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Generic, TypeVar


class _Overlong:
    """Marks a line that was longer than the framer's limit and was thrown away."""

    def __repr__(self) -> str:
        return "OVERLONG"


OVERLONG: Final = _Overlong()


class LineFramer:
    """Splits a byte stream at a one-byte terminator; lines over ``max_line`` are dropped."""

    def __init__(self, max_line: int, terminator: bytes) -> None:
        if len(terminator) != 1:
            raise ValueError("the terminator must be one byte")
        self.max_line = max_line  # including the terminator
        self.terminator = terminator
        self._buf = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> None:
        """Add received bytes."""
        self._buf += data

    def next_line(self) -> bytes | _Overlong | None:
        """The next whole line without its terminator, `OVERLONG`, or None for more data."""
        while True:
            end = self._buf.find(self.terminator)
            if self._discarding:
                if end < 0:
                    self._buf.clear()
                    return None
                del self._buf[:end + 1]
                self._discarding = False
                return OVERLONG
            if end < 0:
                if len(self._buf) >= self.max_line:
                    # Resynchronise at the next terminator, whatever comes before it.
                    self._buf.clear()
                    self._discarding = True
                    continue
                return None
            line = bytes(self._buf[:end])
            del self._buf[:end + 1]
            if end + 1 > self.max_line:
                return OVERLONG
            return line

    def lines(self) -> Iterator[bytes]:
        """The whole lines held, in order, passing over overlong ones (as devices do)."""
        while (line := self.next_line()) is not None:
            if isinstance(line, bytes):
                yield line

    @property
    def pending(self) -> int:
        """Bytes held waiting for a terminator."""
        return len(self._buf)


@dataclass(frozen=True)
class FrameDropped:
    """A line that was thrown away; ``reason`` is a short fixed word ("garbage", "overlong")."""

    reason: str


class NeedData:
    """The type of `NEED_DATA`: the codec wants more bytes."""

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData()

EventT = TypeVar("EventT", covariant=True)  # codecs only produce events


class LineCodec(ABC, Generic[EventT]):
    """Bytes in, one event per line out: feed bytes, then take events until `NEED_DATA`."""

    def __init__(self, max_line: int, terminator: bytes) -> None:
        self._framer = LineFramer(max_line, terminator)
        self.drops: Counter[str] = Counter()

    def feed(self, data: bytes) -> None:
        """Add bytes received from the device."""
        self._framer.feed(data)

    def next_event(self) -> EventT | FrameDropped | NeedData:
        """The next event, or `NEED_DATA`; never raises on bad input."""
        while True:
            line = self._framer.next_line()
            if line is None:
                return NEED_DATA
            if line is OVERLONG:
                return self._drop("overlong")
            assert isinstance(line, bytes)
            event = self._parse_line(line)
            if event is not None:
                return event

    @abstractmethod
    def _parse_line(self, line: bytes) -> EventT | FrameDropped | None:
        """The event one line (terminator removed) makes; None to pass over it (padding)."""

    def _drop(self, reason: str) -> FrameDropped:
        self.drops[reason] += 1
        return FrameDropped(reason)


def sanitize(text: str, limit: int = 64) -> str:
    """A device string made safe for logs and the console: no control characters, bounded."""
    clean = "".join(c if c.isprintable() else "\ufffd" for c in text)
    return clean[:limit].strip()
