"""Capture sources as aiortc tracks, chosen by name from the site config.

Video names: ``test-pattern``; ``file:PATH`` (decoded, looping); ``v4l2:/dev/videoN``;
``rtsp://…`` / ``rtsps://…`` (H.264 passed through as Annex-B ``av.Packet``s, never
re-encoded). Audio names: ``tone`` (1 kHz sine), ``silence``; ``alsa:hw:…``; ``pulse:…``.

A device that is missing or fails (at open or later) never leaves a call without media:
video falls back to the test pattern with the overlay "KHÔNG CÓ CAMERA — ĐANG DÙNG HÌNH
MẪU", audio to silence (a tone would be heard by every site). The fallback is logged once
and reported through the source's `SourceStatus` so the console can show it.

Frames are drawn without numpy: planes are built from ``bytes`` rows (C-speed slicing);
text uses a built-in 5×7 bitmap font with Vietnamese diacritics composed from NFD marks.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import math
import os
import struct
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import av
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

_log = logging.getLogger(__name__)

FALLBACK_TEXT: Final = "KHÔNG CÓ CAMERA — ĐANG DÙNG HÌNH MẪU"
VIDEO_CLOCK: Final = 90_000
AUDIO_RATE: Final = 48_000
AUDIO_PTIME: Final = 0.020
VIDEO_TIME_BASE: Final = fractions.Fraction(1, VIDEO_CLOCK)
AUDIO_TIME_BASE: Final = fractions.Fraction(1, AUDIO_RATE)
OPEN_TIMEOUT_S: Final = 5.0


@dataclass
class SourceStatus:
    """What a source is really sending; the console shows `fallback` and `reason`."""

    name: str
    kind: str  # "video" or "audio"
    fallback: bool = False
    reason: str | None = None
    passthrough: bool = False  # video: pre-encoded H.264 packets, no encoder

    def fall_back(self, reason: str) -> None:
        """Record (and log once) that the configured device is not being used."""
        if not self.fallback:
            _log.warning("%s source %r unavailable, using fallback: %s", self.kind, self.name,
                         reason)
        self.fallback = True
        self.reason = reason

    def describe(self) -> dict[str, Any]:
        """JSON-able status for the API."""
        return {"name": self.name, "kind": self.kind, "fallback": self.fallback,
                "reason": self.reason, "passthrough": self.passthrough}


class _Pacer:
    """Releases item n at start + n × interval (wall time from a monotonic clock)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.count = 0
        self._start: float | None = None

    async def wait(self) -> int:
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self.count * self.interval
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > 1.0:  # far behind (suspended loop): skip ahead, don't burst
            self._start = now - self.count * self.interval
        index = self.count
        self.count += 1
        return index


# --- bitmap font -------------------------------------------------------------------------

_GLYPHS: Final[dict[str, tuple[str, ...]]] = {
    "A": ("01110", "10001", "10001", "11111", "10001", "10001", "10001"),
    "B": ("11110", "10001", "10001", "11110", "10001", "10001", "11110"),
    "C": ("01110", "10001", "10000", "10000", "10000", "10001", "01110"),
    "D": ("11110", "10001", "10001", "10001", "10001", "10001", "11110"),
    "E": ("11111", "10000", "10000", "11110", "10000", "10000", "11111"),
    "F": ("11111", "10000", "10000", "11110", "10000", "10000", "10000"),
    "G": ("01110", "10001", "10000", "10111", "10001", "10001", "01111"),
    "H": ("10001", "10001", "10001", "11111", "10001", "10001", "10001"),
    "I": ("01110", "00100", "00100", "00100", "00100", "00100", "01110"),
    "J": ("00111", "00010", "00010", "00010", "00010", "10010", "01100"),
    "K": ("10001", "10010", "10100", "11000", "10100", "10010", "10001"),
    "L": ("10000", "10000", "10000", "10000", "10000", "10000", "11111"),
    "M": ("10001", "11011", "10101", "10101", "10001", "10001", "10001"),
    "N": ("10001", "10001", "11001", "10101", "10011", "10001", "10001"),
    "O": ("01110", "10001", "10001", "10001", "10001", "10001", "01110"),
    "P": ("11110", "10001", "10001", "11110", "10000", "10000", "10000"),
    "Q": ("01110", "10001", "10001", "10001", "10101", "10010", "01101"),
    "R": ("11110", "10001", "10001", "11110", "10100", "10010", "10001"),
    "S": ("01111", "10000", "10000", "01110", "00001", "00001", "11110"),
    "T": ("11111", "00100", "00100", "00100", "00100", "00100", "00100"),
    "U": ("10001", "10001", "10001", "10001", "10001", "10001", "01110"),
    "V": ("10001", "10001", "10001", "10001", "10001", "01010", "00100"),
    "W": ("10001", "10001", "10001", "10101", "10101", "10101", "01010"),
    "X": ("10001", "10001", "01010", "00100", "01010", "10001", "10001"),
    "Y": ("10001", "10001", "01010", "00100", "00100", "00100", "00100"),
    "Z": ("11111", "00001", "00010", "00100", "01000", "10000", "11111"),
    "0": ("01110", "10001", "10011", "10101", "11001", "10001", "01110"),
    "1": ("00100", "01100", "00100", "00100", "00100", "00100", "01110"),
    "2": ("01110", "10001", "00001", "00010", "00100", "01000", "11111"),
    "3": ("11111", "00010", "00100", "00010", "00001", "10001", "01110"),
    "4": ("00010", "00110", "01010", "10010", "11111", "00010", "00010"),
    "5": ("11111", "10000", "11110", "00001", "00001", "10001", "01110"),
    "6": ("00110", "01000", "10000", "11110", "10001", "10001", "01110"),
    "7": ("11111", "00001", "00010", "00100", "01000", "01000", "01000"),
    "8": ("01110", "10001", "10001", "01110", "10001", "10001", "01110"),
    "9": ("01110", "10001", "10001", "01111", "00001", "00010", "01100"),
    ":": ("00000", "01100", "01100", "00000", "01100", "01100", "00000"),
    ".": ("00000", "00000", "00000", "00000", "00000", "01100", "01100"),
    ",": ("00000", "00000", "00000", "00000", "01100", "00100", "01000"),
    "-": ("00000", "00000", "00000", "11111", "00000", "00000", "00000"),
    "—": ("00000", "00000", "00000", "11111", "00000", "00000", "00000"),
    "/": ("00001", "00001", "00010", "00100", "01000", "10000", "10000"),
    "(": ("00010", "00100", "01000", "01000", "01000", "00100", "00010"),
    ")": ("01000", "00100", "00010", "00010", "00010", "00100", "01000"),
    " ": ("00000",) * 7,
    "?": ("01110", "10001", "00001", "00010", "00100", "00000", "00100"),
}
# Combining marks (NFD) drawn above the letter as two 5-pixel rows, dot below as one.
_SHAPE_MARKS: Final = {"\u0302": ("00100", "01010"), "\u0306": ("10001", "01110")}
_TONE_MARKS: Final = {"\u0301": ("00010", "00100"), "\u0300": ("01000", "00100"),
                      "\u0303": ("01101", "10110"), "\u0309": ("01100", "00100")}
_CELL_W: Final = 6
_CELL_H: Final = 13  # 4 rows of marks, 7 of letter, 2 below (gap + dot)
_TOP: Final = 4


def _glyph_cells(text: str) -> Iterator[list[list[int]]]:
    for ch in unicodedata.normalize("NFC", text.upper()):
        cell = [[0] * _CELL_W for _ in range(_CELL_H)]
        stroke = ch == "Đ"
        decomposed = unicodedata.normalize("NFD", "D" if stroke else ch)
        base, marks = decomposed[0], decomposed[1:]
        rows = _GLYPHS.get(base, _GLYPHS["?"])
        for y, row in enumerate(rows):
            for x, bit in enumerate(row):
                cell[_TOP + y][x] = int(bit == "1")
        if stroke:
            cell[_TOP + 3][0] = 1
            cell[_TOP + 3][1] = 1
        shape = next((m for m in marks if m in _SHAPE_MARKS), None)
        tone = next((m for m in marks if m in _TONE_MARKS), None)
        if shape:
            for y, row in enumerate(_SHAPE_MARKS[shape]):
                for x, bit in enumerate(row):
                    cell[2 + y][x] |= int(bit == "1")
        if tone:
            top = 0 if shape else 2
            for y, row in enumerate(_TONE_MARKS[tone]):
                for x, bit in enumerate(row):
                    # beside a circumflex the tone mark sits to its right, as printed
                    cell[top + y][min(x + (1 if shape else 0), _CELL_W - 1)] |= int(bit == "1")
        if "\u031b" in marks:  # horn: a hook at the top right
            cell[_TOP][5] = cell[_TOP - 1][5] = 1
        if "\u0323" in marks:  # dot below
            cell[_CELL_H - 1][2] = 1
        yield cell


@lru_cache(maxsize=64)
def _text_rows(text: str, scale: int, fg: int, bg: int) -> tuple[bytes, ...]:
    """Luma rows of ``text`` on a solid box, each pixel a scale × scale block."""
    cells = list(_glyph_cells(text))
    pad = scale
    rows: list[bytes] = []
    width = (len(cells) * _CELL_W + 2) * scale
    blank = bytes([bg]) * width
    rows.extend([blank] * pad)
    on, off = bytes([fg]) * scale, bytes([bg]) * scale
    for y in range(_CELL_H):
        line = off + b"".join(on if c[y][x] else off for c in cells for x in range(_CELL_W)) + off
        rows.extend([line] * scale)
    rows.extend([blank] * pad)
    return tuple(rows)


# --- test pattern ------------------------------------------------------------------------

# 75 % colour bars, BT.601 limited range (Y, Cb, Cr): white, yellow, cyan, green, magenta,
# red, blue.
_BARS: Final = ((180, 128, 128), (162, 44, 142), (131, 156, 44), (112, 72, 58),
                (84, 184, 198), (65, 100, 212), (35, 212, 114))


class _PatternPainter:
    """Draws colour bars, a moving square, the clock, the site name and warnings."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width - width % 2, height - height % 2
        probe = av.VideoFrame(self.width, self.height, "yuv420p")
        self.strides = [p.line_size for p in probe.planes]
        w, h = self.width, self.height
        self._y = self._plane(w, h, 0, self.strides[0])
        self._u = self._plane(w // 2, h // 2, 1, self.strides[1])
        self._v = self._plane(w // 2, h // 2, 2, self.strides[2])
        self.scale = max(1, h // 180)

    @staticmethod
    def _plane(width: int, height: int, component: int, stride: int) -> bytes:
        row = bytearray()
        for i, bar in enumerate(_BARS):
            end = width * (i + 1) // len(_BARS)
            row += bytes([bar[component]]) * (end - len(row))
        row += b"\x00" * (stride - width)
        # the lowest sixth is a black (Y 16) band the clock and warnings are drawn on
        band = height - height // 6
        black = (bytes([16 if component == 0 else 128]) * width) + b"\x00" * (stride - width)
        return bytes(row) * band + black * (height - band)

    def paint(self, index: int, fps: float, lines: list[str]) -> av.VideoFrame:
        w, h = self.width, self.height
        ys, cs = self.strides[0], self.strides[1]
        y, u, v = bytearray(self._y), bytearray(self._u), bytearray(self._v)
        # moving square: one sweep across the picture every 4 s
        size = max(2, (h // 8) & ~1)
        span = w - size
        phase = (index / max(fps, 1.0)) / 4.0 % 2.0
        x0 = int(span * (phase if phase <= 1 else 2 - phase)) & ~1
        y0 = (h * 2 // 3 - size) & ~1
        white = b"\xeb" * size
        for row in range(y0, y0 + size):
            y[row * ys + x0: row * ys + x0 + size] = white
        grey = b"\x80" * (size // 2)
        for row in range(y0 // 2, (y0 + size) // 2):
            u[row * cs + x0 // 2: row * cs + (x0 + size) // 2] = grey
            v[row * cs + x0 // 2: row * cs + (x0 + size) // 2] = grey
        # text lines, bottom up in the black band
        top = h
        for text in reversed(lines):
            rows = _text_rows(text, self.scale, 235, 16)
            top -= len(rows)
            if top < 0:
                break
            for i, line in enumerate(rows):
                n = min(len(line), w)
                y[(top + i) * ys: (top + i) * ys + n] = line[:n]
            neutral = b"\x80" * (min(len(rows[0]), w) // 2)
            for row in range(top // 2, (top + len(rows)) // 2):
                u[row * cs: row * cs + len(neutral)] = neutral
                v[row * cs: row * cs + len(neutral)] = neutral
        frame = av.VideoFrame(w, h, "yuv420p")
        for plane, data in zip(frame.planes, (y, u, v), strict=True):
            plane.update(bytes(data))
        return frame


class TestPatternTrack(MediaStreamTrack):
    """Colour bars, a moving square and a clock overlay with the time and the site name."""

    kind = "video"
    __test__ = False  # not a pytest class

    def __init__(self, *, label: str = "", width: int = 1280, height: int = 720,
                 fps: float = 30.0, warning: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.label = label
        self.fps = fps
        self.warning = warning
        self._clock = clock
        self._painter = _PatternPainter(width, height)
        self._pacer = _Pacer(1.0 / fps)

    def clock_text(self) -> str:
        """The overlay's clock line for the current time (local time, to the second)."""
        return time.strftime("%d/%m/%Y %H:%M:%S", time.localtime(self._clock()))

    async def recv(self) -> av.VideoFrame:
        """The next frame, paced at the configured rate."""
        if self.readyState != "live":
            raise MediaStreamError
        index = await self._pacer.wait()
        lines = [self.warning] if self.warning else []
        lines += [self.label, self.clock_text()] if self.label else [self.clock_text()]
        frame = self._painter.paint(index, self.fps, lines)
        frame.pts = round(index * VIDEO_CLOCK / self.fps)
        frame.time_base = VIDEO_TIME_BASE
        return frame


# --- audio -------------------------------------------------------------------------------

class ToneTrack(MediaStreamTrack):
    """A 1 kHz sine at -20 dBFS, 48 kHz mono, in 20 ms frames (or silence)."""

    kind = "audio"

    def __init__(self, *, frequency: float = 1000.0, amplitude: float = 0.1) -> None:
        super().__init__()
        self.samples = int(AUDIO_RATE * AUDIO_PTIME)
        peak = 32767 * amplitude
        values = (round(peak * math.sin(2 * math.pi * frequency * n / AUDIO_RATE))
                  for n in range(self.samples))
        # 1 kHz fits 20 whole periods in 20 ms, so every frame carries the same samples;
        # for other frequencies the phase is carried from frame to frame.
        self._frequency = frequency
        self._peak = peak
        self._whole = (frequency * AUDIO_PTIME).is_integer()
        self._payload = struct.pack(f"<{self.samples}h", *values)
        self._pacer = _Pacer(AUDIO_PTIME)

    def _samples_at(self, index: int) -> bytes:
        if self._whole:
            return self._payload
        start = index * self.samples
        return struct.pack(f"<{self.samples}h", *(
            round(self._peak * math.sin(2 * math.pi * self._frequency * (start + n) / AUDIO_RATE))
            for n in range(self.samples)))

    async def recv(self) -> av.AudioFrame:
        """The next 20 ms of audio, paced in real time."""
        if self.readyState != "live":
            raise MediaStreamError
        index = await self._pacer.wait()
        frame = av.AudioFrame(format="s16", layout="mono", samples=self.samples)
        frame.planes[0].update(self._samples_at(index))
        frame.sample_rate = AUDIO_RATE
        frame.pts = index * self.samples
        frame.time_base = AUDIO_TIME_BASE
        return frame


class SilenceTrack(ToneTrack):
    """Digital silence in the tone track's format."""

    def __init__(self) -> None:
        super().__init__(amplitude=0.0)


# --- H.264 passthrough -------------------------------------------------------------------

def _nal_types(annexb: bytes) -> set[int]:
    types: set[int] = set()
    i = annexb.find(b"\x00\x00\x01")
    while i >= 0 and i + 3 < len(annexb):
        types.add(annexb[i + 3] & 0x1F)
        i = annexb.find(b"\x00\x00\x01", i + 3)
    return types


def avcc_to_annexb(data: bytes, length_size: int = 4) -> bytes:
    """Length-prefixed (MP4/avcC) NAL units to Annex-B start codes."""
    out = bytearray()
    i = 0
    while i + length_size <= len(data):
        size = int.from_bytes(data[i:i + length_size], "big")
        i += length_size
        out += b"\x00\x00\x00\x01" + data[i:i + size]
        i += size
    return bytes(out)


def parameter_sets(extradata: bytes | None) -> tuple[bytes, int | None]:
    """SPS/PPS as Annex-B from a stream's extradata, and the NAL length size if avcC."""
    if not extradata:
        return b"", None
    if extradata[0] != 1:  # already Annex-B (RTSP's sprop-parameter-sets, raw .h264)
        return extradata, None
    length_size = (extradata[4] & 0x03) + 1
    out = bytearray()
    i, count = 6, extradata[5] & 0x1F
    for sets in (count, -1):
        if sets < 0:  # PPS count follows the SPS list
            if i >= len(extradata):
                break
            sets = extradata[i]
            i += 1
        for _ in range(sets):
            size = int.from_bytes(extradata[i:i + 2], "big")
            out += b"\x00\x00\x00\x01" + extradata[i + 2:i + 2 + size]
            i += 2 + size
    return bytes(out), length_size


class H264PassthroughTrack(MediaStreamTrack):
    """H.264 from a demuxer handed to aiortc as Annex-B ``av.Packet``s (no decode, no encode).

    A reader thread demuxes; keyframes get SPS/PPS prepended when the stream carries them
    out of band; files are paced by their timestamps and loop; when the consumer lags the
    queue is dropped up to the next keyframe.
    """

    kind = "video"
    MAX_QUEUE: Final = 90

    def __init__(self, url: str, *, options: dict[str, str] | None = None,
                 realtime: bool | None = None, loop: bool = True) -> None:
        super().__init__()
        self.url = url
        self._options = options or {}
        self.container: Any = av.open(url, mode="r", options=self._options,
                                      timeout=OPEN_TIMEOUT_S)
        streams = [s for s in self.container.streams.video if s.codec_context.name == "h264"]
        if not streams:
            self.container.close()
            raise ValueError(f"no H.264 video stream in {url}")
        self.stream = streams[0]
        self._sets, self._length_size = parameter_sets(self.stream.codec_context.extradata)
        live = url.startswith(("rtsp:", "rtsps:", "rtp:", "udp:", "srt:"))
        self.realtime = not live if realtime is None else realtime
        self.loop = loop and not live
        self.packets_sent = 0
        self._queue: asyncio.Queue[av.Packet[Any] | BaseException | None] = asyncio.Queue()
        self._resync = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _start(self) -> None:
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(target=self._read, name=f"h264-{self.url}",
                                            daemon=True)
            self._thread.start()

    def _push(self, item: av.Packet[Any] | BaseException | None) -> None:
        if isinstance(item, av.Packet):
            if self._queue.qsize() >= self.MAX_QUEUE:
                while not self._queue.empty():
                    self._queue.get_nowait()
                self._resync = True
            if self._resync:
                if not item.is_keyframe:
                    return
                self._resync = False
        self._queue.put_nowait(item)

    def _read(self) -> None:
        assert self._loop is not None
        tb = self.stream.time_base or VIDEO_TIME_BASE
        offset = 0  # in 90 kHz ticks, grows with every loop of a file
        first: int | None = None
        last = 0
        started = time.monotonic()
        try:
            while not self._stop.is_set():
                for packet in self.container.demux(self.stream):
                    if self._stop.is_set():
                        return
                    if packet.size == 0:
                        continue
                    stamp = packet.pts if packet.pts is not None else packet.dts
                    if stamp is None:
                        ticks = last + VIDEO_CLOCK // 30 - offset
                    else:
                        if first is None:
                            first = stamp
                        ticks = round((stamp - first) * tb * VIDEO_CLOCK)
                    ticks += offset
                    last = ticks
                    if self.realtime:
                        delay = started + ticks / VIDEO_CLOCK - time.monotonic()
                        if delay > 0 and self._stop.wait(delay):
                            return
                    out = av.Packet(self._annexb(bytes(packet), packet.is_keyframe))
                    out.pts = out.dts = ticks
                    out.time_base = VIDEO_TIME_BASE
                    out.is_keyframe = packet.is_keyframe
                    self._loop.call_soon_threadsafe(self._push, out)
                if not self.loop:
                    break
                try:
                    self.container.seek(0)
                except (av.FFmpegError, OSError):  # raw .h264 cannot seek: open it again
                    self.container.close()
                    self.container = av.open(self.url, mode="r", options=self._options,
                                             timeout=OPEN_TIMEOUT_S)
                    self.stream = self.container.streams.video[0]
                offset = last + VIDEO_CLOCK // 30
                first = None
            self._loop.call_soon_threadsafe(self._push, None)
        except Exception as exc:  # the device or stream failed: the track ends
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._push, exc)
        finally:
            if self._stop.is_set():
                with contextlib.suppress(Exception):
                    self.container.close()

    def _annexb(self, data: bytes, keyframe: bool) -> bytes:
        if self._length_size is not None:
            data = avcc_to_annexb(data, self._length_size)
        if keyframe and self._sets and 7 not in _nal_types(data):
            data = self._sets + data
        return data

    async def recv(self) -> av.Packet[Any]:
        """The next Annex-B packet; raises MediaStreamError when the stream ends or fails."""
        if self.readyState != "live":
            raise MediaStreamError
        self._start()
        item = await self._queue.get()
        if item is None or isinstance(item, BaseException):
            if isinstance(item, BaseException):
                _log.warning("H.264 stream %s failed: %s", self.url, item)
            self.stop()
            raise MediaStreamError
        self.packets_sent += 1
        return item

    def stop(self) -> None:
        """Stop the reader thread and close the stream."""
        super().stop()
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            # a read blocked on a silent camera ends at its socket timeout; the reader
            # closes the container itself then, without holding up the event loop
            thread.join(timeout=0.5)
            if thread.is_alive():
                return
        with contextlib.suppress(Exception):
            self.container.close()


# --- fallback wrapper and sources ---------------------------------------------------------

class FallbackTrack(MediaStreamTrack):
    """Forwards a device's track; if it ends or fails, switches to a fallback for good."""

    # Pattern frames after passthrough packets restart their timestamps; the receiver's
    # jitter buffer copes with the jump, and H.264 stays negotiated so both can be sent.

    def __init__(self, kind: str, inner: MediaStreamTrack,
                 fallback: Callable[[], MediaStreamTrack], status: SourceStatus) -> None:
        super().__init__()
        self.kind = kind
        self.inner = inner
        self._fallback = fallback
        self.status = status
        self._using_fallback = False

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        try:
            return await self.inner.recv()
        except MediaStreamError:
            if self._using_fallback:
                raise
        except Exception as exc:
            if self._using_fallback:
                raise MediaStreamError from exc
            _log.debug("source %s failed", self.status.name, exc_info=True)
        self.status.fall_back("the device stopped delivering media")
        self.status.passthrough = False
        self.inner.stop()
        self.inner = self._fallback()
        self._using_fallback = True
        return await self.inner.recv()

    def stop(self) -> None:
        super().stop()
        self.inner.stop()


class _Source:
    def __init__(self, track: MediaStreamTrack, status: SourceStatus,
                 player: MediaPlayer | None = None) -> None:
        self.track = track
        self.status = status
        self._player = player

    @property
    def fallback(self) -> bool:
        """True when the configured device is not what is being sent."""
        return self.status.fallback

    @property
    def reason(self) -> str | None:
        """Why the source fell back (None when it did not)."""
        return self.status.reason

    def close(self) -> None:
        """Stop the track and release the device."""
        self.track.stop()
        if self._player is not None:
            for track in (self._player.audio, self._player.video):
                if track is not None:
                    track.stop()


class VideoSource(_Source):
    """A video track plus its status (`.track`, `.fallback`, `.reason`, `close()`)."""


class AudioSource(_Source):
    """An audio track plus its status (`.track`, `.fallback`, `.reason`, `close()`)."""


def _player(file: str, fmt: str | None, *, loop: bool = False,
            options: dict[str, str] | None = None) -> MediaPlayer:
    return MediaPlayer(file, format=fmt, options=options, timeout=int(OPEN_TIMEOUT_S),
                       loop=loop)


def open_video(name: str, *, label: str = "", width: int = 1280, height: int = 720,
               fps: float = 30.0) -> VideoSource:
    """Open a video source by config name; never raises for a missing or broken device.

    Opening a device or an RTSP camera blocks up to a few seconds: call it from a thread
    (``asyncio.to_thread``) in the event loop's service.
    """
    status = SourceStatus(name, "video")

    def pattern(warning: str | None = FALLBACK_TEXT) -> TestPatternTrack:
        return TestPatternTrack(label=label, width=width, height=height, fps=fps,
                                warning=warning)

    if name == "test-pattern":
        return VideoSource(pattern(None), status)
    try:
        if name.startswith(("rtsp://", "rtsps://")):
            inner: MediaStreamTrack = H264PassthroughTrack(
                name, options={"rtsp_transport": "tcp",
                               "timeout": str(int(OPEN_TIMEOUT_S * 1_000_000))})
            status.passthrough = True
            return VideoSource(FallbackTrack("video", inner, pattern, status), status)
        if name.startswith("file:"):
            path = name.removeprefix("file:")
            if not os.path.exists(path):
                raise FileNotFoundError(path)
            player = _player(path, None, loop=True)
        elif name.startswith("v4l2:"):
            device = name.removeprefix("v4l2:")
            if not os.path.exists(device):
                raise FileNotFoundError(f"no such device {device}")
            player = _player(device, "v4l2", options={
                "video_size": f"{width}x{height}", "framerate": f"{fps:g}"})
        else:
            raise ValueError(f"unknown video source {name!r}")
        if player.video is None:
            raise ValueError(f"{name} has no video stream")
        return VideoSource(FallbackTrack("video", player.video, pattern, status), status,
                           player)
    except Exception as exc:
        status.passthrough = False
        status.fall_back(f"{type(exc).__name__}: {exc}")
        return VideoSource(pattern(), status)


def open_audio(name: str) -> AudioSource:
    """Open an audio source by config name; a missing device falls back to silence."""
    status = SourceStatus(name, "audio")
    if name == "tone":
        return AudioSource(ToneTrack(), status)
    if name == "silence":
        return AudioSource(SilenceTrack(), status)
    try:
        if name.startswith("alsa:"):
            player = _player(name.removeprefix("alsa:"), "alsa")
        elif name.startswith("pulse:"):
            player = _player(name.removeprefix("pulse:") or "default", "pulse")
        else:
            raise ValueError(f"unknown audio source {name!r}")
        if player.audio is None:
            raise ValueError(f"{name} has no audio stream")
        return AudioSource(FallbackTrack("audio", player.audio, SilenceTrack, status), status,
                           player)
    except Exception as exc:
        status.fall_back(f"{type(exc).__name__}: {exc}")
        return AudioSource(SilenceTrack(), status)
