#!/usr/bin/env python3
"""CPU per published video stream: an aiortc publisher to an aiortc receiver, in a netns.

Cases: 640x360@15 and 1280x720@30, VP8 and H.264, each *encoded* (raw frames encoded by
aiortc, as for a USB camera; the frames are drawn before the run: the test pattern with a
quarter of the picture in fresh noise, so the encoder has camera-like detail to work on)
and *passthrough* (pre-encoded packets handed to aiortc, as `media.sources` does for an RTSP
camera: H.264 through `H264PassthroughTrack` reading an Annex-B file, VP8 from packets
encoded before the run).
Each case runs in its own publisher process inside a network namespace the bench creates
(198.18.0.1/32 on a veth pair, no route out), with the receiver in a second process so
that its decoding is not counted. The figure is the publisher's CPU seconds per wall
second (1.0 = one core) over a steady window after a warm-up, with the send bitrate
(aiortc's VP8 encoder overshoots its target on noise; the pre-encoded clips are 0.5 Mbit/s
at 360p and 1.5 Mbit/s at 720p).

    .venv/bin/python scripts/_bench_publish.py [--quick]

needs root (for the namespace) and prints one JSON object on its last line.
`bench_publish(quick)` returns the same dict.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CASES: Final = [(640, 360, 15), (1280, 720, 30)]
CODECS: Final = ["VP8", "H264"]
ADDRESS: Final = "198.18.0.1"
# bitrates of the pre-encoded clips, near what aiortc's own encoders aim at
CLIP_KBPS: Final = {360: 500, 720: 1500}


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _frames(width: int, height: int, fps: int, seconds: float) -> list[Any]:
    """Test-pattern frames with a quarter of the picture in fresh noise, like camera detail.

    (The bare pattern compresses to almost nothing and would flatter the encoders.)
    """
    from media.sources import TestPatternTrack

    painter = TestPatternTrack(label="BENCH", width=width, height=height, fps=fps,
                               clock=lambda: 0.0)._painter
    frames = []
    for i in range(int(seconds * fps)):
        frame = painter.paint(i, fps, [f"BENCH {i // fps}"])
        luma = frame.planes[0]
        data = bytearray(bytes(luma))
        stride = luma.line_size
        for row in range(height // 2):
            start = row * stride + width // 2
            data[start:start + width // 2] = os.urandom(width // 2)
        luma.update(bytes(data))
        frames.append(frame)
    return frames


def _make_clip(path: Path, codec: str, frames: list[Any], fps: int) -> None:
    """Pre-encode the frames: Annex-B .h264, or VP8 in IVF."""
    import av

    fmt, encoder = ("h264", "libx264") if codec == "H264" else ("ivf", "libvpx")
    height = frames[0].height
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(encoder, rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = frames[0].width, height, "yuv420p"
        stream.bit_rate = CLIP_KBPS[360 if height <= 360 else 720] * 1000
        stream.codec_context.gop_size = fps * 2
        if encoder == "libx264":
            # baseline, no B-frames: what aiortc negotiates and cameras send
            stream.codec_context.options = {"preset": "veryfast", "tune": "zerolatency",
                                            "profile": "baseline"}
        for i, frame in enumerate(frames):
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


# --- the two peer processes (run inside the namespace) ---------------------------------

async def _receiver() -> None:
    from aiortc import RTCSessionDescription
    from aiortc.mediastreams import MediaStreamTrack

    from media.webrtc import consume, peer_connection

    pc = peer_connection()
    sinks: list[asyncio.Task[None]] = []

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        sinks.append(asyncio.create_task(consume(track)))

    loop = asyncio.get_running_loop()
    offer = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    print(json.dumps({"sdp": pc.localDescription.sdp}), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # any line (or EOF): stop
    await pc.close()
    for sink in sinks:
        sink.cancel()


class _PacketLoop:
    """Replays pre-encoded packets in real time, looping (for VP8 passthrough)."""

    def __init__(self, path: Path, fps: int) -> None:
        import av

        with av.open(str(path)) as container:
            self.packets = [bytes(p) for p in container.demux(video=0) if p.size]
        self.fps = fps

    def track(self) -> Any:
        import av
        from aiortc.mediastreams import MediaStreamTrack

        packets, fps = self.packets, self.fps

        class Track(MediaStreamTrack):
            kind = "video"

            def __init__(self) -> None:
                super().__init__()
                self.index = 0
                self.start: float | None = None

            async def recv(self) -> Any:
                now = time.monotonic()
                self.start = self.start or now
                due = self.start + self.index / fps
                if due > now:
                    await asyncio.sleep(due - now)
                packet = av.Packet(packets[self.index % len(packets)])
                packet.pts = self.index * 90_000 // fps
                packet.time_base = Fraction(1, 90_000)
                self.index += 1
                return packet

        return Track()


class _FrameLoop:
    """Replays prepared raw frames in real time for aiortc to encode (drawing not counted)."""

    def __new__(cls, frames: list[Any], fps: int) -> Any:
        from aiortc.mediastreams import MediaStreamTrack

        class Track(MediaStreamTrack):
            kind = "video"

            def __init__(self) -> None:
                super().__init__()
                self.index = 0
                self.start: float | None = None

            async def recv(self) -> Any:
                now = time.monotonic()
                self.start = self.start or now
                due = self.start + self.index / fps
                if due > now:
                    await asyncio.sleep(due - now)
                frame = frames[self.index % len(frames)]
                frame.pts = self.index * 90_000 // fps
                frame.time_base = Fraction(1, 90_000)
                self.index += 1
                return frame

        return Track()


async def _publisher(case: dict[str, Any]) -> dict[str, Any]:
    from aiortc import RTCSessionDescription

    from media.sources import H264PassthroughTrack
    from media.webrtc import (
        close_quietly,
        collect_samples,
        peer_connection,
        prefer_codec,
        wait_connected,
    )

    width, height, fps = case["width"], case["height"], case["fps"]
    if case["mode"] == "encoded":
        track: Any = _FrameLoop(_frames(width, height, fps, 2.0), fps)
    elif case["codec"] == "H264":
        track = H264PassthroughTrack(case["clip"], realtime=True, loop=True)
    else:
        track = _PacketLoop(Path(case["clip"]), fps).track()
    receiver = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--receiver", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert receiver.stdin is not None
    assert receiver.stdout is not None
    pc = peer_connection()
    try:
        transceiver = pc.addTransceiver(track, direction="sendonly")
        prefer_codec(transceiver, f"video/{case['codec']}")
        await pc.setLocalDescription(await pc.createOffer())
        receiver.stdin.write((json.dumps({"sdp": pc.localDescription.sdp}) + "\n").encode())
        await receiver.stdin.drain()
        answer = json.loads(await receiver.stdout.readline())
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        await wait_connected(pc, 15)
        await asyncio.sleep(case["warmup"])
        _, snapshot = await collect_samples(pc, "bench", "bench", None, time.monotonic())
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(case["seconds"])
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        samples, _ = await collect_samples(pc, "bench", "bench", snapshot, time.monotonic())
        kbps = next((s.bitrate_kbps for s in samples if s.kind == "video"), None)
        return {"cpu_per_s": round(cpu / wall, 3), "kbps": kbps}
    finally:
        track.stop()
        await close_quietly(pc)
        receiver.stdin.write(b"stop\n")
        receiver.stdin.close()
        try:
            async with asyncio.timeout(10):
                await receiver.wait()
        except TimeoutError:
            receiver.kill()
            await receiver.wait()


# --- the driver --------------------------------------------------------------------------

def bench_publish(quick: bool) -> dict[str, Any]:
    """Publisher CPU (cores) and bitrate per stream for each size, codec and mode."""
    if os.geteuid() != 0:
        return {"error": "needs root to create a network namespace"}
    name = f"diemcau-bench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    results: dict[str, Any] = {"unit": "publisher CPU seconds per wall second (1.0 = one core)",
                               "cpus": os.cpu_count()}
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "link", "add", "bench0", "type", "veth", "peer", "name", "bench1")
        _ip("-n", name, "addr", "add", f"{ADDRESS}/32", "dev", "bench0")
        _ip("-n", name, "link", "set", "bench0", "up")
        _ip("-n", name, "link", "set", "bench1", "up")
        with tempfile.TemporaryDirectory() as tmp:
            for width, height, fps in CASES:
                for codec in CODECS:
                    clip = Path(tmp) / f"{codec}-{height}.{'h264' if codec == 'H264' else 'ivf'}"
                    _make_clip(clip, codec, _frames(width, height, fps, 4.0), fps)
                    for mode in ("encoded", "passthrough"):
                        case = {"width": width, "height": height, "fps": fps, "codec": codec,
                                "mode": mode, "clip": str(clip),
                                "warmup": 0.5 if quick else 3.0,
                                "seconds": 1.5 if quick else 15.0}
                        key = f"{width}x{height}@{fps}_{codec.lower()}_{mode}"
                        run = subprocess.run(
                            ["ip", "netns", "exec", name, sys.executable, __file__,
                             "--publisher", json.dumps(case)],
                            capture_output=True, text=True, timeout=120, check=False)
                        lines = run.stdout.strip().splitlines()
                        results[key] = (json.loads(lines[-1]) if run.returncode == 0 and lines
                                        else {"error": run.stderr.strip()[-300:]})
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10,
                       check=False)
    return results


def main() -> None:
    """Run the bench (or one of its peer processes) and print one JSON object last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="short windows (about half a minute)")
    parser.add_argument("--publisher", help=argparse.SUPPRESS)
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        asyncio.run(_receiver())
    elif args.publisher:
        print(json.dumps(asyncio.run(_publisher(json.loads(args.publisher)))), flush=True)
    else:
        print(json.dumps(bench_publish(args.quick)), flush=True)


if __name__ == "__main__":
    main()
