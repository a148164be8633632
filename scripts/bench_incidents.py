#!/usr/bin/env python3
"""Incident benchmarks; prints its figures as one JSON object on its last line.

``outbox``: catch-up after a one-hour partition between a province and the centre, at the
volume of 3,321 communes under one province. Assumption (stated, not measured): each commune
sends about 20 records an hour up the tree — 2 incident changes (an incident opened and
resolved, each a full incident body with its timeline) and 18 usage records (device hours,
attendance, link-quality summaries) — so an hour cut off leaves 3,321 × 20 = 66,420 records
waiting at the province. The province's database is pre-loaded through ``Outbox.receive``
(as its communes' records would have arrived and been queued up during the hour), then a
real central process and the real province process are started (``python -m controller
run``); we time until the central's ``received`` table holds the whole backlog (read beside
it, read-only) and report records/s and the central's and province's CPU over that window
(user+sys from /proc, as cores). The anchor: the same backlog between two in-process
``Outbox`` objects wired in memory through the uplink codec, no network, no processes.
``--quick`` uses a tenth of the backlog (332 communes' worth) and says so.

``detection``: from ``scripts/_bench_detection.py`` (``detection_latency(quick)``) when it
exists; otherwise null.

    .venv/bin/python scripts/bench_incidents.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import random
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from controller.outbox import BATCH_RECORDS, Outbox  # noqa: E402
from controller.store import Store  # noqa: E402
from controller.uplink_protocol import Records, RecordsAck, decode, encode  # noqa: E402
from monitoring.incidents import Incident  # noqa: E402

_log = logging.getLogger("bench_incidents")

COMMUNES: Final = 3321
RECORDS_PER_HOUR: Final = 20  # per commune: 2 incident changes + 18 usage records
INCIDENT_CHANGES: Final = 2
PROVINCE: Final = "tinh-bench"
CENTRAL: Final = "trung-uong"
CLK_TCK: Final = os.sysconf("SC_CLK_TCK")
T0: Final = 1_790_000_000.0


def progress(message: str, *args: object) -> None:
    """A progress line on stderr."""
    print(f"[bench_incidents {time.strftime('%H:%M:%S')}] " + message % args,
          file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- the backlog -------------------------------------------------------------------------------

def commune_hour(index: int) -> list[dict[str, Any]]:
    """One commune's records of one hour, as they arrive at its province."""
    origin = f"xa-{index:04d}"
    rng = random.Random(index)
    items: list[dict[str, Any]] = []
    incident = Incident(
        id=f"{origin}-{int(T0)}-{index:06x}", origin=origin, kind="device_offline",
        subject="device:proj1", severity="major", title="Thiết bị mất kết nối",
        opened_at=T0 + rng.uniform(0, 1800)).note(T0, "onset", "Thiết bị mất kết nối")
    bodies: list[tuple[str, dict[str, Any]]] = [("incident", incident.to_dict())]
    for minute in range(RECORDS_PER_HOUR - INCIDENT_CHANGES):
        bodies.append(("usage", {
            "type": "device_hours", "device": f"dev{minute % 4}", "from": T0 + minute * 200,
            "to": T0 + minute * 200 + 200, "online_seconds": rng.randint(0, 200),
            "link": {"mos": round(rng.uniform(3.0, 4.4), 2),
                     "loss_percent": round(rng.uniform(0, 3), 2)}}))
    resolved = incident.note(T0 + 2400, "note", "Đã khởi động lại máy chiếu") \
        .resolve(T0 + 2700, "system")
    bodies.append(("incident", resolved.to_dict()))
    for seq, (kind, body) in enumerate(bodies, start=1):
        items.append({"key": f"{origin}:{seq}", "origin": origin, "seq": seq, "kind": kind,
                      "at": T0 + seq * 150.0, "body": body})
    return items


def preload(store: Store, communes: int) -> tuple[int, int]:
    """Queue ``communes``' hour at a province (as receive would have); records, bytes."""
    outbox = Outbox(store, PROVINCE, time.time, forwards=True)
    count = 0
    for index in range(1, communes + 1):
        items = commune_hour(index)
        count += len(outbox.receive(items, via=f"xa-{index:04d}"))
    row = store.query_one("SELECT COUNT(*) AS n, SUM(LENGTH(body)) AS b FROM outbox")
    assert row is not None
    assert int(row["n"]) == count
    return count, int(row["b"])


# -- the anchor: two outboxes in one process -----------------------------------------------------

async def in_process(communes: int, base: Path) -> dict[str, Any]:
    """The backlog between two in-memory-wired outboxes (codec included, no sockets)."""
    province_store = Store(base / "anchor-province.sqlite3")
    central_store = Store(base / "anchor-central.sqlite3")
    try:
        count, size = preload(province_store, communes)
        province = Outbox(province_store, PROVINCE, time.time, forwards=True)
        central = Outbox(central_store, CENTRAL, time.time, forwards=False)
        loop = asyncio.get_running_loop()

        def send(msg: Records) -> bool:
            frame = decode(encode(msg))
            assert isinstance(frame, Records)
            ack = decode(encode(RecordsAck(central.receive(frame.items, via=PROVINCE))))
            assert isinstance(ack, RecordsAck)
            loop.call_soon(province.on_ack, ack)
            return True

        province.send_up = send
        province.connected_up = lambda: True
        started = time.monotonic()
        cpu = time.process_time()
        task = asyncio.create_task(province.run())
        try:
            deadline = started + 600
            while province.pending()[0]:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{province.pending()[0]} records left after 600 s")
                await asyncio.sleep(0.01)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        seconds = time.monotonic() - started
        cpu = time.process_time() - cpu
        row = central_store.query_one("SELECT COUNT(*) AS n FROM received")
        assert row is not None
        assert int(row["n"]) == count
        return {"records": count, "body_bytes": size, "seconds": round(seconds, 3),
                "records_per_second": round(count / seconds), "cpu_cores": round(cpu / seconds, 2)}
    finally:
        province_store.close()
        central_store.close()


# -- the real thing: a province process catching up with a central process ----------------------

class Site:
    """One ``diemcau run`` process."""

    def __init__(self, base: Path, site_id: str, level: str, extra: str) -> None:
        self.site_id = site_id
        self.directory = base / site_id
        self.directory.mkdir(parents=True)
        self.port = free_port()
        self.config = self.directory / "site.toml"
        self.config.write_text(
            f'[site]\nid = "{site_id}"\nname = "UBND {site_id}"\nlevel = "{level}"\n\n'
            f'[console]\nlisten = "127.0.0.1:{self.port}"\n\n'
            f'[storage]\ndata_dir = "{self.directory / "data"}"\n\n{extra}', encoding="utf-8")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def database(self) -> Path:
        return self.directory / "data" / "diemcau.sqlite3"

    def start(self) -> None:
        log = (self.directory / "site.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "controller", "run", "--config", str(self.config)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.site_id} exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz",
                                            timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.site_id} not healthy: {self.log_tail()}")
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def log_tail(self) -> str:
        path = self.directory / "site.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def received_count(database: Path) -> int:
    conn = sqlite3.connect(database.as_uri() + "?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM received WHERE via = ?",
                                (PROVINCE,)).fetchone()[0])
    finally:
        conn.close()


def over_uplink(communes: int, base: Path) -> dict[str, Any]:
    """The backlog from a real province process to a real central process."""
    credential = secrets.token_urlsafe(24)
    central = Site(base, CENTRAL, "central", "")
    secret = central.directory / f"{PROVINCE}.secret"
    secret.write_text(credential + "\n")
    secret.chmod(0o600)
    central.config.write_text(central.config.read_text() + (
        f'[[children]]\nid = "{PROVINCE}"\nname = "UBND {PROVINCE}"\n'
        f'credential_file = "{secret}"\n'), encoding="utf-8")
    province = Site(base, PROVINCE, "province", "")
    own = province.directory / "uplink.secret"
    own.write_text(credential + "\n")
    own.chmod(0o600)
    province.config.write_text(province.config.read_text() + (
        f'[uplink]\nurl = "ws://127.0.0.1:{central.port}/uplink"\n'
        f'credential_file = "{own}"\n'), encoding="utf-8")

    province.database.parent.mkdir(parents=True, mode=0o700)
    store = Store(province.database)
    try:
        started = time.monotonic()
        count, size = preload(store, communes)
        progress("province outbox pre-loaded: %d records, %.1f MB of bodies in %.1f s", count,
                 size / 1e6, time.monotonic() - started)
    finally:
        store.close()
    try:
        central.start()
        central_cpu = central.cpu_seconds()
        progress("central up; starting the province with %d records waiting", count)
        started = time.monotonic()
        province.start()
        healthy = time.monotonic() - started
        province_cpu = province.cpu_seconds()
        deadline = started + 600
        first_at: float | None = None
        while True:
            have = received_count(central.database)
            if have and first_at is None:
                first_at = time.monotonic()
            if have >= count:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {have} of {count} after 600 s: "
                                   f"{province.log_tail()}")
            time.sleep(0.05)
        done = time.monotonic()
        central_cpu = central.cpu_seconds() - central_cpu
        province_cpu = province.cpu_seconds() - province_cpu
        window = done - started
        flowing = done - (first_at or started)
        progress("central holds all %d records %.1f s after the province started", count,
                 window)
        return {"records": count, "body_bytes": size,
                "province_healthy_seconds": round(healthy, 2),
                "catch_up_seconds": round(window, 2),
                "flowing_seconds": round(flowing, 2),
                "records_per_second": round(count / flowing),
                "central_cpu_cores": round(central_cpu / flowing, 2),
                "province_cpu_cores": round(province_cpu / window, 2)}
    finally:
        province.stop()
        central.stop()


def detection_if_present(quick: bool) -> tuple[dict[str, Any] | None, str | None]:
    """The detection-latency half, when scripts/_bench_detection.py exists."""
    scripts = str(Path(__file__).resolve().parent)
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    try:
        module = importlib.import_module("_bench_detection")
    except ImportError:
        return None, "scripts/_bench_detection.py is absent"
    try:
        result: dict[str, Any] = module.detection_latency(quick)
    except Exception as exc:  # reported beside the outbox figures, not fatal to them
        _log.exception("detection benchmark failed")
        return {"error": f"{type(exc).__name__}: {exc}"}, None
    return result, None


def main() -> int:
    """Run the benchmarks and print the JSON object last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a tenth of the backlog (332 communes' hour), under a minute")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    communes = COMMUNES // 10 if args.quick else COMMUNES
    results: dict[str, Any] = {"quick": args.quick}
    outbox: dict[str, Any] = {
        "assumption": f"{RECORDS_PER_HOUR} records per commune per hour "
                      f"({INCIDENT_CHANGES} incident changes, "
                      f"{RECORDS_PER_HOUR - INCIDENT_CHANGES} usage records); "
                      f"one hour's partition of {communes} communes"
                      + (" (quick: a tenth of 3,321)" if args.quick else ""),
        "communes": communes, "batch_records": BATCH_RECORDS}
    with tempfile.TemporaryDirectory(prefix="bench-incidents-") as tmp:
        base = Path(tmp)
        progress("anchor: %d communes' hour between two in-process outboxes", communes)
        outbox["in_process"] = asyncio.run(in_process(communes, base))
        progress("anchor: %s", outbox["in_process"])
        progress("uplink: province process → central process")
        outbox["uplink"] = over_uplink(communes, base)
    results["outbox"] = outbox
    detection, note = detection_if_present(args.quick)
    results["detection"] = detection
    if note is not None:
        results["detection_note"] = note
    print(json.dumps(results, sort_keys=True, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
