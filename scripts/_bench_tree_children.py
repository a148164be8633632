#!/usr/bin/env python3
"""Simulated child sites for ``scripts/bench_tree.py``: many uplinks in one asyncio process.

Each child speaks the real uplink protocol (`controller.uplink_protocol`): hello → challenge
→ auth with the HMAC proof → welcome, one topology part naming itself, then a heartbeat
every second with a small summary; it times each heartbeat until its ack. Connects are
staggered at ``--rate`` per second and heartbeats are spread over the second.

Driven over stdin, one word a line: ``measure`` starts recording ack round trips (dropping
those before) and disables this process's garbage collector so that its pauses do not count
as the parent's lag, ``report`` prints them, ``stop`` closes every link and exits. Stdout carries
one JSON object a line: ``{"event": "online", ...}`` once every child has been welcomed,
``{"event": "report", ...}`` when asked. The first ``--sample`` children put
``bench_seq`` and ``bench_sent`` (``time.monotonic()``, shared by every process on Linux)
in their summary so that the bench can see when a heartbeat becomes visible at the parent.

    python scripts/_bench_tree_children.py --url ws://127.0.0.1:PORT/uplink \\
        --prefix xa-sim- --count 300 --credential-file F
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from controller.uplink_protocol import (
    MAX_FRAME_BYTES,
    Ack,
    Auth,
    Challenge,
    Heartbeat,
    Hello,
    Topology,
    Welcome,
    decode,
    encode,
    proof,
)

_log = logging.getLogger("bench_tree_children")

STATIC_SUMMARY = {"devices": 3, "devices_online": 3, "incidents": 0, "in_call": False}


@dataclass
class Stats:
    """What all children saw, shared by their tasks."""

    count: int
    welcomed: set[str] = field(default_factory=set)
    all_welcomed: asyncio.Event = field(default_factory=asyncio.Event)
    measuring: bool = False
    rtts: list[float] = field(default_factory=list)
    sent: int = 0
    acked: int = 0
    reconnects: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    late_beats: int = 0  # heartbeats sent more than 100 ms after they were due

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


def _emit(body: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(body) + "\n")
    sys.stdout.flush()


async def child(session: aiohttp.ClientSession, url: str, site_id: str, credential: str,
                phase: float, sample: bool, stats: Stats) -> None:
    """One child site: connect, authenticate, heartbeat; reconnect after a second on failure."""
    while True:
        try:
            await _connected_once(session, url, site_id, credential, phase, sample, stats)
            stats.error("closed_by_parent")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            stats.error(type(exc).__name__)
        except RuntimeError as exc:  # refused: the parent's error code
            stats.error(str(exc)[:80])
        stats.welcomed.discard(site_id)
        stats.reconnects += 1
        await asyncio.sleep(1.0)


async def _connected_once(session: aiohttp.ClientSession, url: str, site_id: str,
                          credential: str, phase: float, sample: bool, stats: Stats) -> None:
    async with session.ws_connect(url, max_msg_size=MAX_FRAME_BYTES, autoping=True,
                                  heartbeat=None) as ws:
        await ws.send_str(encode(Hello(site_id, "commune", f"UBND {site_id}", "bench")))
        challenge = decode((await ws.receive(timeout=30)).data)
        if not isinstance(challenge, Challenge):
            raise RuntimeError(f"expected challenge, got {challenge!r}"[:200])
        await ws.send_str(encode(Auth(site_id, proof(credential, challenge.nonce, site_id))))
        welcome = decode((await ws.receive(timeout=30)).data)
        if not isinstance(welcome, Welcome):
            raise RuntimeError(f"expected welcome, got {welcome!r}"[:200])
        stats.welcomed.add(site_id)
        if len(stats.welcomed) == stats.count:
            stats.all_welcomed.set()
        await ws.send_str(encode(Topology(0, True, [
            {"id": site_id, "name": f"UBND {site_id}", "level": "commune", "parent": None,
             "online": True, "summary": STATIC_SUMMARY}])))
        sent_at: dict[int, float] = {}
        receiver = asyncio.create_task(_acks(ws, sent_at, stats))
        try:
            loop = asyncio.get_running_loop()
            next_beat = loop.time() + phase
            seq = 0
            while not receiver.done():
                await asyncio.sleep(max(0.0, next_beat - loop.time()))
                if receiver.done():
                    break
                if loop.time() - next_beat > 0.1:
                    stats.late_beats += 1
                seq += 1
                now = time.monotonic()
                summary: dict[str, Any] = dict(STATIC_SUMMARY)
                if sample:
                    summary.update(bench_seq=seq, bench_sent=now)
                sent_at[seq] = now
                if len(sent_at) > 64:  # never acked: forget, do not grow
                    del sent_at[min(sent_at)]
                await ws.send_str(encode(Heartbeat(seq, time.time(), summary)))
                stats.sent += 1
                next_beat += 1.0
            receiver.result()
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # link is going anyway
                await receiver


async def _acks(ws: aiohttp.ClientWebSocketResponse, sent_at: dict[int, float],
                stats: Stats) -> None:
    async for msg in ws:
        if msg.type != aiohttp.WSMsgType.TEXT:
            continue
        event = decode(msg.data)
        if isinstance(event, Ack):
            started = sent_at.pop(event.seq, None)
            if started is not None:
                stats.acked += 1
                if stats.measuring:
                    stats.rtts.append(time.monotonic() - started)


def _report(stats: Stats, count: int) -> dict[str, Any]:
    out: dict[str, Any] = {"event": "report", "online": len(stats.welcomed), "count": count,
                           "heartbeats_sent": stats.sent, "acks": stats.acked,
                           "reconnects": stats.reconnects, "errors": stats.errors,
                           "late_beats": stats.late_beats, "rtt_samples": len(stats.rtts)}
    if len(stats.rtts) >= 2:
        cuts = statistics.quantiles(stats.rtts, n=100, method="inclusive")
        out["ack_rtt_ms"] = {"p50": round(cuts[49] * 1e3, 3), "p99": round(cuts[98] * 1e3, 3),
                             "max": round(max(stats.rtts) * 1e3, 3)}
    return out


async def run(args: argparse.Namespace, credential: str) -> None:
    """Start the children, then obey stdin until ``stop``."""
    ids = [f"{args.prefix}{i:04d}" for i in range(args.count)]
    stats = Stats(len(ids))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    tasks: list[asyncio.Task[None]] = []
    started = time.monotonic()
    async with aiohttp.ClientSession(connector=connector) as session:
        try:
            for index, site_id in enumerate(ids):
                phase = (index % 1000) / 1000.0  # heartbeats spread over the second
                tasks.append(asyncio.create_task(child(
                    session, args.url, site_id, credential, phase, index < args.sample, stats)))
                # On a schedule, so the loop's own overhead does not slow the rate.
                await asyncio.sleep(max(0.0, started + (index + 1) / args.rate
                                        - time.monotonic()))
            while True:
                try:
                    async with asyncio.timeout(5):
                        await stats.all_welcomed.wait()
                    break
                except TimeoutError:
                    print(f"children: {len(stats.welcomed)}/{len(ids)} welcomed, errors "
                          f"{stats.errors}", file=sys.stderr, flush=True)
            _emit({"event": "online", "count": len(ids),
                   "seconds": round(time.monotonic() - started, 3)})
            while line := (await reader.readline()).decode().strip():
                if line == "measure":
                    # A load generator: its own GC pauses would show up as ack lag.
                    gc.disable()
                    stats.rtts.clear()
                    stats.late_beats = 0
                    stats.measuring = True
                elif line == "report":
                    _emit(_report(stats, len(ids)))
                elif line == "stop":
                    break
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def main() -> int:
    """Parse the arguments and run until told to stop (or stdin closes)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--url", required=True, help="the parent's ws://…/uplink")
    parser.add_argument("--prefix", required=True, help="child ids are PREFIX0000, PREFIX0001…")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--credential-file", required=True)
    parser.add_argument("--rate", type=float, default=500.0, help="connects per second")
    parser.add_argument("--sample", type=int, default=0,
                        help="children that put a send stamp in their summary")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    credential = Path(args.credential_file).read_text(encoding="utf-8").strip()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args, credential))
    return 0


if __name__ == "__main__":
    sys.exit(main())
