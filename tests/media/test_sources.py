"""Capture sources: the test pattern, fallbacks, looping files, the tone, H.264 passthrough."""

from __future__ import annotations

import asyncio
import logging
import math
import struct
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest
from aiortc.mediastreams import MediaStreamError

from media.sources import (
    FALLBACK_TEXT,
    FallbackTrack,
    H264PassthroughTrack,
    SourceStatus,
    TestPatternTrack,
    open_audio,
    open_video,
)
from tests.peers.netns import LabNetns, in_lab_netns, lab_netns

__all__ = ["in_lab_netns", "lab_netns"]


class WallClock:
    """A wall clock the test sets by hand (the overlay shows it)."""

    def __init__(self) -> None:
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


def _video(frame: object) -> av.VideoFrame:
    assert isinstance(frame, av.VideoFrame)
    return frame


def _audio(frame: object) -> av.AudioFrame:
    assert isinstance(frame, av.AudioFrame)
    return frame


def _band(frame: av.VideoFrame) -> bytes:
    """The lowest sixth of the luma plane, where the clock and the site name are drawn."""
    plane = frame.planes[0]
    data = bytes(plane)
    return data[plane.line_size * (frame.height - frame.height // 6):]


async def test_pattern_has_the_requested_size_and_rate_and_a_running_clock() -> None:
    clock = WallClock()
    track = TestPatternTrack(label="UBND xã Hoàng Hợp", width=640, height=360, fps=30,
                             clock=clock)
    try:
        start = time.monotonic()
        frames = [await track.recv() for _ in range(16)]
        elapsed = time.monotonic() - start
        assert all((f.width, f.height) == (640, 360) for f in frames)
        assert [f.pts for f in frames] == [i * 3000 for i in range(16)]  # 90 kHz at 30 fps
        assert 0.4 < elapsed < 0.8  # 15 intervals of 1/30 s
        same_second = await track.recv()
        clock.now += 1
        next_second = await track.recv()
        assert _band(same_second) == _band(frames[-1])
        assert _band(next_second) != _band(same_second)
        assert track.clock_text().endswith(time.strftime("%H:%M:%S", time.localtime(clock.now)))
    finally:
        track.stop()


async def test_missing_camera_falls_back_to_the_pattern_with_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="media.sources"):
        source = open_video("v4l2:/dev/video97", label="Xã A", width=320, height=180, fps=15)
    try:
        assert source.fallback
        assert source.reason is not None
        assert "/dev/video97" in source.reason
        assert source.status.describe()["fallback"] is True
        warnings = [r for r in caplog.records if "/dev/video97" in r.getMessage()]
        assert len(warnings) == 1
        assert isinstance(source.track, TestPatternTrack)
        assert source.track.warning == FALLBACK_TEXT
        plain = TestPatternTrack(label="Xã A", width=320, height=180, fps=15,
                                 clock=lambda: 0.0)
        warned = TestPatternTrack(label="Xã A", width=320, height=180, fps=15,
                                  warning=FALLBACK_TEXT, clock=lambda: 0.0)
        # the warning line is drawn above the site name and the clock
        assert bytes((await warned.recv()).planes[0]) != bytes((await plain.recv()).planes[0])
        frame = _video(await source.track.recv())
        assert (frame.width, frame.height) == (320, 180)
    finally:
        source.close()


def _make_clip(path: Path, *, codec: str, frames: int, fmt: str | None = None,
               gop: int = 10) -> None:
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=30)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.codec_context.gop_size = gop
        if codec == "libx264":
            stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency"}
        pattern = TestPatternTrack(width=160, height=120, fps=30, clock=lambda: 0.0)
        painter = pattern._painter
        for i in range(frames):
            frame = painter.paint(i, 30, [str(i)])
            frame.pts = i
            frame.time_base = Fraction(1, 30)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


async def test_file_source_loops(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    _make_clip(clip, codec="mpeg4", frames=6)
    source = open_video(f"file:{clip}", width=160, height=120, fps=30)
    try:
        assert not source.fallback, source.reason
        async with asyncio.timeout(10):
            frames = [_video(await source.track.recv()) for _ in range(15)]  # 2.5 times the clip
        assert all(f.width == 160 and f.height == 120 for f in frames)
    finally:
        source.close()


def _goertzel_power(samples: list[int], frequency: float, rate: int) -> float:
    coefficient = 2 * math.cos(2 * math.pi * frequency / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coefficient * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coefficient * s1 * s2


async def test_tone_is_1_khz_at_48_khz() -> None:
    source = open_audio("tone")
    try:
        assert not source.fallback
        samples: list[int] = []
        for _ in range(5):
            frame = _audio(await source.track.recv())
            assert frame.sample_rate == 48_000
            assert frame.samples == 960
            samples += struct.unpack(f"<{frame.samples}h", bytes(frame.planes[0])[:1920])
        powers = {f: _goertzel_power(samples, f, 48_000) for f in (250, 500, 1000, 2000, 3000)}
        assert max(powers, key=lambda f: powers[f]) == 1000
        assert powers[1000] > 1000 * max(p for f, p in powers.items() if f != 1000)
    finally:
        source.close()


async def test_missing_microphone_falls_back_to_silence() -> None:
    source = open_audio("alsa:hw:97")
    try:
        assert source.fallback
        assert source.reason
        frame = _audio(await source.track.recv())
        assert set(bytes(frame.planes[0])[:1920]) == {0}
    finally:
        source.close()


async def _drain(track: H264PassthroughTrack) -> list[av.Packet[Any]]:
    packets: list[av.Packet[Any]] = []
    async with asyncio.timeout(10):
        while True:
            try:
                packets.append(await track.recv())
            except MediaStreamError:
                return packets


async def test_annexb_h264_passes_through_byte_for_byte(tmp_path: Path) -> None:
    """No RTSP server is at hand (Debian's ffmpeg only listens for pushed streams): a raw
    Annex-B file through the same demux path stands in for the camera."""
    raw = tmp_path / "camera.h264"
    _make_clip(raw, codec="libx264", frames=30, fmt="h264")
    track = H264PassthroughTrack(str(raw), realtime=False, loop=False)
    try:
        packets = await _drain(track)
    finally:
        track.stop()
    assert len(packets) == 30
    assert all(isinstance(p, av.Packet) and p.time_base == Fraction(1, 90_000) for p in packets)
    assert b"".join(bytes(p) for p in packets) == raw.read_bytes()  # nothing re-encoded


async def test_mp4_h264_becomes_decodable_annexb(tmp_path: Path) -> None:
    clip = tmp_path / "camera.mp4"
    _make_clip(clip, codec="libx264", frames=30)
    track = H264PassthroughTrack(str(clip), realtime=False, loop=False)
    try:
        packets = await _drain(track)
    finally:
        track.stop()
    assert len(packets) == 30
    assert all(bytes(p).startswith(b"\x00\x00\x00\x01") for p in packets)
    # a decoder with no extradata (as the far end has) decodes every frame
    decoder = av.CodecContext.create("h264", "r")
    decoded = [f for p in packets for f in decoder.decode(av.Packet(bytes(p)))]
    decoded += decoder.decode(None)
    assert len(decoded) == 30


async def test_h264_file_paced_in_real_time_and_looping(tmp_path: Path) -> None:
    raw = tmp_path / "camera.h264"
    _make_clip(raw, codec="libx264", frames=10, fmt="h264")
    track = H264PassthroughTrack(str(raw), realtime=True, loop=True)
    try:
        start = time.monotonic()
        async with asyncio.timeout(10):
            packets = [await track.recv() for _ in range(25)]
        elapsed = time.monotonic() - start
    finally:
        track.stop()
    pts = [p.pts or 0 for p in packets]
    assert pts == sorted(pts)
    assert len(set(pts)) == 25
    assert 0.6 < elapsed < 1.5  # 24 frame intervals at 30 fps


async def test_camera_that_dies_mid_call_is_replaced_by_the_pattern(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    raw = tmp_path / "camera.h264"
    _make_clip(raw, codec="libx264", frames=5, fmt="h264")
    status = SourceStatus("rtsp://camera/stream", "video", passthrough=True)
    track = FallbackTrack(
        "video", H264PassthroughTrack(str(raw), realtime=False, loop=False),
        lambda: TestPatternTrack(width=160, height=120, fps=30, warning=FALLBACK_TEXT),
        status)
    try:
        with caplog.at_level(logging.WARNING, logger="media.sources"):
            async with asyncio.timeout(10):
                items = [await track.recv() for _ in range(8)]
        assert [type(i).__name__ for i in items] == ["Packet"] * 5 + ["VideoFrame"] * 3
        assert status.fallback
        assert not status.passthrough
        assert len([r for r in caplog.records if "rtsp://camera" in r.getMessage()]) == 1
    finally:
        track.stop()


def test_unreachable_rtsp_camera_falls_back(in_lab_netns: LabNetns) -> None:
    # port 9 on the lab address: refused at once, inside the namespace
    source = open_video(f"rtsp://{in_lab_netns.address}:9/stream", width=160, height=120)
    try:
        assert source.fallback
        assert not source.status.passthrough
        assert isinstance(source.track, TestPatternTrack)
        assert source.track.warning == FALLBACK_TEXT
    finally:
        source.close()
