"""Byte exchanges of the line protocols (tests/data/pjlink, tests/data/mixer) and feeding codecs.

A capture file has one direction per line: ``rx BYTES`` from the device, ``tx BYTES`` to it,
``meta KEY=VALUE`` and ``#`` comments; BYTES use Python escapes (tests/data/pjlink/README.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from endpoints.framing import FrameDropped, LineCodec, NeedData

E = TypeVar("E")


@dataclass
class Capture:
    """A byte exchange from tests/data: metadata and (direction, bytes) steps."""

    meta: dict[str, str] = field(default_factory=dict)
    steps: list[tuple[str, bytes]] = field(default_factory=list)


def load_capture(path: Path) -> Capture:
    capture = Capture()
    for line in path.read_text("ascii").splitlines():
        if not line or line.startswith("#"):
            continue
        kind, _, rest = line.partition(" ")
        if kind == "meta":
            key, _, value = rest.partition("=")
            capture.meta[key] = value
        else:
            assert kind in ("rx", "tx"), line
            capture.steps.append((kind, rest.encode("ascii").decode("unicode_escape")
                                  .encode("latin-1")))
    return capture


def drain(codec: LineCodec[E]) -> Iterator[E | FrameDropped]:
    while not isinstance(event := codec.next_event(), NeedData):
        yield event


def feed_whole(codec: LineCodec[E], data: bytes) -> list[E | FrameDropped]:
    codec.feed(data)
    return list(drain(codec))


def feed_bytewise(codec: LineCodec[E], data: bytes) -> list[E | FrameDropped]:
    out: list[E | FrameDropped] = []
    for i in range(len(data)):
        codec.feed(data[i:i + 1])
        out.extend(drain(codec))
    return out
