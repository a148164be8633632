#!/usr/bin/env python3
"""Media benchmarks: join → first remote frame, ours against Chromium's; publisher CPU.

In a network namespace of its own (198.18.0.1/32 on a veth pair, no route out) with
Debian's Janus configured as the tests' fixtures do (`tests.peers.janus`):

- ``join_ms``: an aiortc publisher (`JanusCall`, test pattern at 320x180) is in the open
  room; N times a second site calls `JanusVideoRoomBridge.join` and we time from that call to
  the first video frame decoded from the publisher, then it leaves. Our join publishes its
  own feed first (as a site does) and then subscribes.
- ``chromium_join_ms``: headless Chromium (Playwright, Debian's ``/usr/bin/chromium``),
  a fresh page per run, served from the namespace, that speaks the Janus HTTP API itself:
  create session, attach, join as subscriber to the same feed, answer (non-trickle), start,
  and time to the first frame (``requestVideoFrameCallback``, or ``framesDecoded > 0`` in
  ``getStats``, whichever comes first). It only subscribes.
- ``publish_cpu``: ``bench_publish(quick)`` from ``scripts/_bench_publish.py``.

    .venv/bin/python scripts/bench_media.py [--quick]

needs root; prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from _bench_publish import bench_publish  # noqa: E402

from media.bridges.base import BridgeSpec, JoinOptions  # noqa: E402
from media.bridges.janus import JanusCall, JanusVideoRoomBridge  # noqa: E402
from tests.peers.janus import OPEN_ROOM, JanusLab  # noqa: E402
from tests.peers.netns import LabNetns, create_lab_netns, delete_lab_netns, switch_netns  # noqa: E402

_log = logging.getLogger("bench_media")

CHROMIUM: Final = "/usr/bin/chromium"
CHROMIUM_FLAGS: Final = ["--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream",
                         "--use-fake-ui-for-media-stream",
                         "--disable-features=WebRtcHideLocalIpsWithMdns",
                         "--disable-background-networking"]
PAGE_PORT: Final = 8099
PUBLISHER: Final = "BENCH-PUBLISHER"

PAGE: Final = """<!doctype html>
<html><head><meta charset="utf-8"><title>bench join</title></head>
<body><video id="v" autoplay muted playsinline></video>
<script>
async function benchJoin(janusUrl, room, feed) {
  const tx = () => Math.random().toString(36).slice(2);
  const post = async (url, body) => {
    const text = JSON.stringify({...body, transaction: tx()});
    const resp = await fetch(url, {method: "POST", body: text});
    const answer = await resp.json();
    if (answer.janus === "error") throw new Error(JSON.stringify(answer.error));
    return answer;
  };
  const t0 = performance.now();
  const session = (await post(janusUrl, {janus: "create"})).data.id;
  const sessionUrl = janusUrl + "/" + session;
  let pc = null;
  try {
    const attached = await post(sessionUrl, {janus: "attach", plugin: "janus.plugin.videoroom"});
    const handle = attached.data.id;
    const handleUrl = sessionUrl + "/" + handle;
    await post(handleUrl, {janus: "message",
                           body: {request: "join", ptype: "subscriber", room, streams: [{feed}]}});
    let offer = null;
    while (offer === null) {
      const events = await (await fetch(sessionUrl + "?maxev=10&rid=" + Date.now())).json();
      for (const ev of (Array.isArray(events) ? events : [events])) {
        if (ev.jsep && ev.jsep.type === "offer") offer = ev.jsep;
        if (ev.janus === "event" && ev.plugindata && ev.plugindata.data.error)
          throw new Error(ev.plugindata.data.error);
      }
    }
    pc = new RTCPeerConnection({iceServers: []});
    const video = document.getElementById("v");
    const firstFrame = new Promise((resolve) => {
      pc.ontrack = (e) => {
        if (e.track.kind !== "video") return;
        video.srcObject = new MediaStream([e.track]);
        video.play().catch(() => {});
        video.requestVideoFrameCallback(() => resolve(performance.now()));
      };
      const poll = setInterval(async () => {
        if (pc === null || pc.signalingState === "closed") { clearInterval(poll); return; }
        const stats = await pc.getStats();
        stats.forEach((s) => {
          if (s.type === "inbound-rtp" && s.kind === "video" && s.framesDecoded > 0) {
            clearInterval(poll); resolve(performance.now());
          }
        });
      }, 5);
    });
    await pc.setRemoteDescription(offer);
    await pc.setLocalDescription(await pc.createAnswer());
    if (pc.iceGatheringState !== "complete") {
      await new Promise((resolve) => {
        pc.onicegatheringstatechange = () => {
          if (pc.iceGatheringState === "complete") resolve();
        };
      });
    }
    await post(handleUrl, {janus: "message", body: {request: "start", room},
                           jsep: {type: "answer", sdp: pc.localDescription.sdp, trickle: false}});
    const timeout = new Promise(
      (_, reject) => setTimeout(() => reject(new Error("no frame in 10 s")), 10000));
    const t1 = await Promise.race([firstFrame, timeout]);
    return t1 - t0;
  } finally {
    if (pc !== null) pc.close();
    await post(sessionUrl, {janus: "destroy"}).catch(() => {});
  }
}
</script></body></html>
"""


def summary(samples: list[float]) -> dict[str, Any]:
    """p50/p90/min/max in milliseconds (samples in milliseconds)."""
    if not samples:
        return {"runs": 0}
    cuts = (statistics.quantiles(samples, n=10, method="inclusive") if len(samples) > 1
            else [samples[0]] * 9)
    return {"runs": len(samples), "p50": round(statistics.median(samples), 1),
            "p90": round(cuts[8], 1), "min": round(min(samples), 1),
            "max": round(max(samples), 1)}


async def first_frame(call: JanusCall, within: float = 10.0) -> float:
    """loop.time() of the first video frame decoded from any subscribed feed."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(within):
        while True:
            for sub in list(call.subscriptions.values()):
                counter = sub.counters.get("video")
                if counter is None:
                    continue
                if counter.frames == 0:
                    await counter.changed.wait()
                assert counter.last_at is not None
                # with frames > 1 this is the latest frame: an upper bound
                return counter.last_at if counter.frames == 1 else loop.time()
            await asyncio.sleep(0.002)


def _bridge(url: str) -> JanusVideoRoomBridge:
    return JanusVideoRoomBridge(BridgeSpec(
        id="bench", kind="janus-videoroom", url=url, room=OPEN_ROOM,
        options={"video_width": 320, "video_height": 180, "video_fps": 30}))


async def bench_ours(url: str, feed_display: str, runs: int) -> list[float]:
    """Join → first remote video frame, ``runs`` times (plus one warm-up not counted)."""
    bridge = _bridge(url)
    loop = asyncio.get_running_loop()
    samples: list[float] = []
    try:
        for index in range(runs + 1):
            start = loop.time()
            call = await bridge.join(JoinOptions(display=f"BENCH-SITE-{index}",
                                                 subscribe=feed_display))
            try:
                end = await first_frame(call)
            finally:
                await call.leave()
            if index > 0:
                samples.append((end - start) * 1000)
            await asyncio.sleep(0.2)
    finally:
        await bridge.close()
    return samples


async def bench_chromium(lab: LabNetns, janus_url: str, feed: int,
                         runs: int) -> list[float]:
    """The page's join → first frame, a fresh page per run (plus one warm-up)."""
    from aiohttp import web
    from playwright.async_api import async_playwright

    async def index(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", index)
    runner = web.AppRunner(app)
    await runner.setup()
    samples: list[float] = []
    try:
        await web.TCPSite(runner, lab.address, PAGE_PORT).start()
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
            try:
                for run in range(runs + 1):
                    page = await browser.new_page()
                    try:
                        await page.goto(f"http://{lab.address}:{PAGE_PORT}/")
                        elapsed = await page.evaluate(
                            "([u, r, f]) => benchJoin(u, r, f)", [janus_url, OPEN_ROOM, feed])
                    finally:
                        await page.close()
                    if run > 0:
                        samples.append(float(elapsed))
                    await asyncio.sleep(0.2)
            finally:
                await browser.close()
    finally:
        await runner.cleanup()
    return samples


async def bench_joins(lab: LabNetns, janus_url: str, runs: int) -> dict[str, Any]:
    """Publisher in the room, then our joins, then Chromium's."""
    # SIGTERM cancels this task (as asyncio.run does for SIGINT) so every finally runs.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    publisher_bridge = _bridge(janus_url)
    results: dict[str, Any] = {}
    try:
        publisher = await publisher_bridge.join(JoinOptions(display=PUBLISHER, subscribe="none"))
        feed = publisher.feed_id
        assert feed is not None
        await asyncio.sleep(1.0)  # let it send before anyone subscribes
        results["join_ms"] = summary(await bench_ours(janus_url, PUBLISHER, runs))
        try:
            results["chromium_join_ms"] = summary(
                await bench_chromium(lab, janus_url, feed, runs))
        except Exception as exc:  # reported beside our figures, not fatal to them
            _log.exception("Chromium join benchmark failed")
            results["chromium_join_ms"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    finally:
        await publisher_bridge.close()
    return results


def bench_media(quick: bool) -> dict[str, Any]:
    """Namespace + Janus, join benchmarks inside it, everything removed after."""
    runs = 5 if quick else 20
    lab = create_lab_netns()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            janus = JanusLab(lab, Path(tmp))
            try:
                janus.start()
                with switch_netns(lab.name):
                    results = asyncio.run(bench_joins(lab, janus.url, runs))
            finally:
                janus.stop()
    finally:
        delete_lab_netns(lab.name)
    ours, chromium = results["join_ms"], results["chromium_join_ms"]
    results["faster_than_chromium"] = (
        ours["p50"] < chromium["p50"] if "p50" in ours and "p50" in chromium else None)
    results["join_note"] = ("ours: bridge.join (publishes 320x180 + subscribes) to first decoded "
                            "frame; chromium: page's Janus HTTP subscribe to first frame")
    return results


def _terminate(signum: int, _: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    """Run the benchmarks and print the JSON object last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="5 joins each instead of 20")
    parser.add_argument("--skip-publish", action="store_true",
                        help="join figures only (no publish_cpu)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if os.geteuid() != 0:
        print(json.dumps({"error": "needs root to create a network namespace"}))
        return 1
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    results: dict[str, Any] = {"quick": args.quick}
    try:
        results.update(bench_media(args.quick))
    except asyncio.CancelledError:  # SIGTERM during the joins; everything was cleaned up
        return 128 + signal.SIGTERM
    except Exception as exc:
        _log.exception("join benchmarks failed")
        results["error"] = f"{type(exc).__name__}: {exc}"[:500]
    if not args.skip_publish:
        try:
            results["publish_cpu"] = bench_publish(args.quick)
        except Exception as exc:  # reported, not fatal to the join figures
            _log.exception("publish benchmark failed")
            results["publish_cpu"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    results["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(results, sort_keys=True))
    return 0 if "error" not in results else 1


if __name__ == "__main__":
    sys.exit(main())
