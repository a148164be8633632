#!/usr/bin/env python3
"""Endpoint benchmarks; prints its figures as one JSON object on its last line.

VISCA: command → completion round trips over a socat pseudo-terminal pair against the
simulator (in a child process), through `ViscaCamera` and through bare
`serial_asyncio_fast` doing the same exchange in the same run, beside the wire time the
exchange would take at 9600 baud. SNMP figures come from ``scripts/_bench_snmp.py``
(``bench_snmp(quick) -> dict``) when that file exists.

    .venv/bin/python scripts/bench_endpoints.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import serial_asyncio_fast

from endpoints.interfaces import DeviceSpec
from endpoints.visca import codec
from endpoints.visca.camera import camera_from_spec
from endpoints.visca.transport import ViscaBus

_log = logging.getLogger("bench_endpoints")

BAUD = 9600
BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit
STOP = codec.encode(1, codec.pan_tilt_stop())  # completes at once: ACK, then completion
ROUNDS = 5  # camera and raw runs alternate in this many blocks


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": round(cuts[49] * 1e3, 4), "p99": round(cuts[98] * 1e3, 4)}


async def start_socat(directory: Path) -> tuple[asyncio.subprocess.Process, str, str]:
    """A pty pair; returns the process and the two link paths."""
    a, b = str(directory / "ttyCAM"), str(directory / "ttySIM")
    process = await asyncio.create_subprocess_exec(
        "socat", "-d", "-d", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    assert process.stderr is not None
    async with asyncio.timeout(10):
        while b"starting data transfer loop" not in await process.stderr.readline():
            pass
    return process, a, b


async def start_simulator(path: str) -> asyncio.subprocess.Process:
    """``python -m endpoints.sim.visca --serial PATH``, once it has opened the tty."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "endpoints.sim.visca", "--serial", path,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    assert process.stdout is not None
    async with asyncio.timeout(20):
        await process.stdout.readline()  # the simulator prints its path when serving
    return process


async def stop(process: asyncio.subprocess.Process) -> None:
    """Terminate one child we started and reap it."""
    if process.returncode is None:
        process.terminate()
    async with asyncio.timeout(10):
        await process.communicate()


class _Raw(asyncio.Protocol):
    """Reads until the completion packet of the one command in flight."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.buffer = bytearray()
        self.done: asyncio.Future[None] | None = None
        self.lost: asyncio.Future[None] = loop.create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        # 90 5z FF: completion on socket z
        if (len(self.buffer) >= 3 and self.buffer[-3] == 0x90
                and self.buffer[-2] & 0xF0 == 0x50 and self.buffer[-1] == 0xFF
                and self.done is not None and not self.done.done()):
            self.done.set_result(None)


async def raw_round_trips(port: str, count: int) -> list[float]:
    """The exchange with bare serial_asyncio_fast: write, read until the completion."""
    loop = asyncio.get_running_loop()
    protocol = _Raw(loop)
    transport, _ = await serial_asyncio_fast.create_serial_connection(
        loop, lambda: protocol, port, baudrate=BAUD)
    samples = []
    try:
        for _ in range(count):
            protocol.buffer.clear()
            protocol.done = loop.create_future()
            started = time.perf_counter()
            transport.write(STOP)
            await asyncio.wait_for(protocol.done, 2.0)
            samples.append(time.perf_counter() - started)
    finally:
        transport.close()
        await asyncio.wait_for(protocol.lost, 5.0)
    return samples


async def camera_round_trips(port: str, count: int) -> list[float]:
    """The exchange through ViscaCamera.stop()."""
    bus = ViscaBus()
    camera = camera_from_spec(DeviceSpec("bench", "camera", "visca-serial", serial_port=port,
                                         baud=BAUD, address=1, timeout=2.0), bus)
    samples = []
    try:
        await camera.open()
        for _ in range(count):
            started = time.perf_counter()
            await camera.stop()
            samples.append(time.perf_counter() - started)
    finally:
        await camera.close()
        await bus.close()
    return samples


async def bench_visca(quick: bool) -> dict[str, Any]:
    """Round trips through the camera and bare, in alternating blocks."""
    count = 200 if quick else 1000
    block = count // ROUNDS
    with tempfile.TemporaryDirectory(prefix="bench-visca-") as tmp:
        socat, cam_path, sim_path = await start_socat(Path(tmp))
        simulator = await start_simulator(sim_path)
        try:
            await camera_round_trips(cam_path, 20)  # warm-up (imports, first open)
            await raw_round_trips(cam_path, 20)
            camera: list[float] = []
            raw: list[float] = []
            for _ in range(ROUNDS):
                camera += await camera_round_trips(cam_path, block)
                raw += await raw_round_trips(cam_path, block)
        finally:
            await stop(simulator)
            await stop(socat)
    camera_ms, raw_ms = percentiles(camera), percentiles(raw)
    wire_bytes = len(STOP) + 3 + 3  # command, ACK, completion
    return {
        "commands": len(camera),
        "exchange": f"{STOP.hex(' ')} -> 90 4z ff, 90 5z ff",
        "link": "socat pty pair (no baud-rate pacing), simulator in a child process",
        "camera_round_trip_ms": camera_ms,
        "raw_serial_asyncio_fast_round_trip_ms": raw_ms,
        "software_overhead_ms": {k: round(camera_ms[k] - raw_ms[k], 4) for k in camera_ms},
        "wire_time_9600_baud_ms": round(wire_bytes * BITS_PER_BYTE / BAUD * 1e3, 3),
    }


def bench_snmp_if_present(quick: bool) -> dict[str, Any] | None:
    """The SNMP engineer's figures, when scripts/_bench_snmp.py exists."""
    if not Path(__file__).with_name("_bench_snmp.py").exists():
        return None
    try:
        module = importlib.import_module("_bench_snmp")  # this script's directory is on the path
        figures: dict[str, Any] = module.bench_snmp(quick)
    except Exception as exc:  # reported beside the VISCA figures, not fatal to them
        _log.exception("SNMP benchmark failed")
        return {"error": f"{type(exc).__name__}: {exc}"}
    return figures


def main() -> int:
    """Run the benchmarks and print the JSON object last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 commands instead of 1,000")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    results: dict[str, Any] = {"quick": args.quick,
                               "visca": asyncio.run(bench_visca(args.quick))}
    snmp = bench_snmp_if_present(args.quick)
    if snmp is not None:
        results["snmp"] = snmp
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
