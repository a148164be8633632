#!/usr/bin/env python3
"""SNMP benchmarks against one real net-snmp snmpd that the bench starts on loopback.

Our `SnmpClient` beside net-snmp's own tools in the same run: GETs per second, sequential
and concurrent, with the client's CPU per request, for v2c through our codec (keys without
prefix: the polling path), v2c through pysnmp (``pysnmp_``) and v3 authPriv through pysnmp
(``v3_``);
``snmpget`` per invocation with one and with eight OIDs (the cost of shelling out to
net-snmp per poll); and the IF-MIB interface table walked by our client (whole ifTable,
and the driver's column-parallel ifTable + ifXTable read) beside ``snmpbulkwalk`` and
``snmpwalk``. Latencies are medians in milliseconds. `bench_snmp` is imported by
``scripts/bench_endpoints.py``; alone:

    .venv/bin/python scripts/_bench_snmp.py [--quick]

prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from endpoints.interfaces import DeviceSpec
from endpoints.sim.snmpd_lab import SnmpdLab, tool_env
from endpoints.snmp.client import SnmpClient
from endpoints.snmp.devices import SnmpNetworkDevice
from endpoints.snmp.profiles import IF_COLUMNS

_log = logging.getLogger("bench_snmp")

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
# Eight scalars of SNMPv2-MIB's system group and IF-MIB: a typical poll's worth.
EIGHT_OIDS = ("1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.3.0",
              "1.3.6.1.2.1.1.4.0", "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.6.0",
              "1.3.6.1.2.1.1.7.0", "1.3.6.1.2.1.2.1.0")
IF_TABLE = "1.3.6.1.2.1.2.2"
CONCURRENCY = 16


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _spec(lab: SnmpdLab, version: str = "2c") -> DeviceSpec:
    options: dict[str, Any] = {"version": version}
    secrets = {"community": lab.ro_community}
    if version == "3":
        options.update(user=lab.user, auth_protocol="SHA", priv_protocol="AES")
        secrets = {"auth_key": lab.auth_key, "priv_key": lab.priv_key}
    return DeviceSpec(id="bench", kind="network", protocol="snmp", host=lab.host,
                      port=lab.port, options=options, secrets=secrets)


async def _timed(call: Callable[[], Awaitable[object]], count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return times


async def _sequential(client: SnmpClient, count: int) -> dict[str, float]:
    await _timed(lambda: client.get([SYS_UPTIME]), 20)  # warm up: engine, discovery
    cpu, wall = time.process_time(), time.perf_counter()
    times = await _timed(lambda: client.get([SYS_UPTIME]), count)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"per_s": round(count / wall), "p50_ms": _ms(statistics.median(times)),
            "p99_ms": _ms(statistics.quantiles(times, n=100)[98]),
            "client_cpu_ms": _ms(cpu / count)}


async def _concurrent(client: SnmpClient, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count // CONCURRENCY):
        await asyncio.gather(*(client.get([SYS_UPTIME]) for _ in range(CONCURRENCY)))
    return round((count // CONCURRENCY) * CONCURRENCY / (time.perf_counter() - started))


async def _client_figures(client: SnmpClient, gets: int, walks: int) -> dict[str, Any]:
    """One client's GET rate, latency and CPU, and its walks of the interface table."""
    out: dict[str, Any] = {}
    started = time.perf_counter()
    await client.open()
    out["open_ms"] = _ms(time.perf_counter() - started)
    seq = await _sequential(client, gets)
    out["get_seq_per_s"], out["get_seq_p50_ms"] = seq["per_s"], seq["p50_ms"]
    out["get_seq_p99_ms"], out["get_client_cpu_ms"] = seq["p99_ms"], seq["client_cpu_ms"]
    out["get_concurrent_per_s"] = await _concurrent(client, gets)
    out["get_8_oids_ms"] = _ms(statistics.median(
        await _timed(lambda: client.get(EIGHT_OIDS), walks)))
    out["walk_iftable_varbinds"] = len(await client.bulk_walk(IF_TABLE))
    cpu = time.process_time()
    out["walk_iftable_ms"] = _ms(statistics.median(
        await _timed(lambda: client.bulk_walk(IF_TABLE), walks)))
    out["walk_iftable_cpu_ms"] = _ms((time.process_time() - cpu) / walks)
    switch = SnmpNetworkDevice(DeviceSpec(id="bench", kind="network", protocol="snmp"), client)
    out["interfaces"] = len(await switch.interfaces())
    out["interfaces_varbinds"] = sum(
        len(column) for column in (await client.walk_columns(IF_COLUMNS)).values())
    out["interfaces_ms"] = _ms(statistics.median(await _timed(switch.interfaces, walks)))
    return out


async def _ours(lab: SnmpdLab, quick: bool) -> dict[str, Any]:
    gets, walks = (300, 30) if quick else (2000, 200)
    out: dict[str, Any] = {}
    clients = {
        "": SnmpClient.from_spec(_spec(lab)),  # v2c: our codec (the polling path)
        "pysnmp_": SnmpClient(lab.host, SnmpClient.from_spec(_spec(lab)).credentials,
                              port=lab.port, use_pysnmp=True),
        "v3_": SnmpClient.from_spec(_spec(lab, "3")),  # authPriv SHA/AES: pysnmp
    }
    try:
        for prefix, client in clients.items():
            figures = await _client_figures(client, gets if prefix != "v3_" else gets // 2,
                                            walks)
            out.update({prefix + key: value for key, value in figures.items()})
    finally:
        for client in clients.values():
            await client.close()
    out["get_concurrency"] = CONCURRENCY
    return out


def _tool_ms(lab: SnmpdLab, argv: Sequence[str], count: int) -> tuple[float, int]:
    """Median wall time of a net-snmp tool per invocation, and its output's line count."""
    env = tool_env(lab.directory)
    times, lines = [], 0
    for _ in range(count):
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, env=env, check=True, timeout=30)
        times.append(time.perf_counter() - started)
        lines = len(done.stdout.splitlines())
    return _ms(statistics.median(times)), lines


def _net_snmp(lab: SnmpdLab, quick: bool) -> dict[str, Any]:
    runs = 30 if quick else 200
    v2c = ["-v2c", "-c", lab.ro_community, "-On", lab.address]
    out: dict[str, Any] = {}
    out["snmpget_ms"], _ = _tool_ms(lab, ["snmpget", *v2c, SYS_UPTIME], runs)
    out["snmpget_8_oids_ms"], _ = _tool_ms(lab, ["snmpget", *v2c, *EIGHT_OIDS], runs)
    out["snmpbulkwalk_iftable_ms"], out["snmpbulkwalk_iftable_varbinds"] = _tool_ms(
        lab, ["snmpbulkwalk", *v2c, IF_TABLE], runs)
    out["snmpbulkwalk_r50_iftable_ms"], _ = _tool_ms(
        lab, ["snmpbulkwalk", "-Cr50", *v2c, IF_TABLE], runs)
    out["snmpwalk_iftable_ms"], _ = _tool_ms(lab, ["snmpwalk", *v2c, IF_TABLE], runs)
    v3 = ["-v3", "-l", "authPriv", "-u", lab.user, "-a", "SHA", "-A", lab.auth_key, "-x", "AES",
          "-X", lab.priv_key, "-On", lab.address]
    out["snmpget_v3_ms"], _ = _tool_ms(lab, ["snmpget", *v3, SYS_UPTIME], runs)
    out["snmpbulkwalk_v3_iftable_ms"], _ = _tool_ms(lab, ["snmpbulkwalk", *v3, IF_TABLE], runs)
    return out


def bench_snmp(quick: bool = False) -> dict[str, object]:
    """Figures of our SNMP client beside net-snmp's tools, against one loopback snmpd."""
    # pysnmp 7.1 imports deprecated pysmi names when pysmi is installed (snmpsim needs it).
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="pysnmp")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-snmp-") as tmp:
        lab = SnmpdLab(Path(tmp))
        with lab:
            figures: dict[str, object] = {"agent": "net-snmp snmpd on 127.0.0.1, own config"}
            figures.update(asyncio.run(_ours(lab, quick)))
            figures.update(_net_snmp(lab, quick))
    figures["get_vs_snmpget"] = round(
        float(str(figures["snmpget_ms"])) / float(str(figures["get_seq_p50_ms"])), 1)
    figures["walk_vs_snmpbulkwalk"] = round(
        float(str(figures["snmpbulkwalk_iftable_ms"])) / float(str(figures["walk_iftable_ms"])),
        1)
    figures["walk_vs_pysnmp"] = round(
        float(str(figures["pysnmp_walk_iftable_ms"])) / float(str(figures["walk_iftable_ms"])),
        1)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    return figures


def main() -> int:
    """Run the bench and print its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (under a minute)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    print(json.dumps(bench_snmp(args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
