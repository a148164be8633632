"""Exactly once, in order, across crashes: 10,000 records go up from a real commune process to a
real province process while the commune is killed with SIGKILL, the province is frozen
(SIGSTOP, long enough for the commune to count the link dead) and then killed (so what the
commune sent meanwhile is lost unread) or thawed and restarted.

The records are written by a separate process (scripts/_bench_outbox_writer.py) through the
same ``Outbox.add`` on the commune's database while the commune runs: each gets the commune's
next ``origin:seq`` in the same transaction as its row, exactly as the commune's own incidents
do, and a SIGKILL of the commune cannot stop the flow at the source. The commune's own
records (the incidents the cuts open) share the sequence, so the check is on all of them: the
province's ``received`` holds the commune's seq 1..N without a gap or a repeat, and the
writer's records among them are n = 1..10,000 in seq order.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.peers.tree import TreeSite, running_tree

pytestmark = pytest.mark.subprocess

WRITER = Path(__file__).resolve().parents[2] / "scripts" / "_bench_outbox_writer.py"
SHAPE = {"tinh-a": ("province", None), "xa-mot": ("commune", "tinh-a")}
RECORDS = 10_000
KIND = "test.usage"


def _database(site: TreeSite) -> Path:
    return site.directory / "data" / "diemcau.sqlite3"


def _received(site: TreeSite, origin: str) -> list[tuple[int, str, str]]:
    """(seq, kind, body) of what ``site`` stored from ``origin``, by seq; read beside it."""
    conn = sqlite3.connect(_database(site).as_uri() + "?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT seq, kind, body FROM received WHERE origin = ?"
                            " ORDER BY seq", (origin,)).fetchall()
    finally:
        conn.close()
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def _count(site: TreeSite) -> int:
    return sum(kind == KIND for _, kind, _ in _received(site, "xa-mot"))


def _sending(commune: TreeSite, seconds: float = 8.0) -> bool:
    """Wait until the commune's outbox starts sending a batch; False if none came."""
    def attempts() -> int:
        conn = sqlite3.connect(_database(commune).as_uri() + "?mode=ro", uri=True, timeout=10)
        try:
            return int(conn.execute("SELECT COALESCE(SUM(attempts), 0) FROM outbox")
                       .fetchone()[0])
        finally:
            conn.close()

    before = attempts()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if attempts() > before:
            return True
        time.sleep(0.01)
    return False


def _kill(site: TreeSite) -> None:
    assert site.process is not None
    site.process.kill()
    site.process.wait(10)


def test_ten_thousand_records_arrive_once_in_order_through_kills_and_cuts(
        tmp_path: Path) -> None:
    with running_tree(tmp_path, SHAPE) as sites:
        province, commune = sites["tinh-a"], sites["xa-mot"]
        writer = subprocess.Popen(
            [sys.executable, str(WRITER), "--db", str(_database(commune)), "--site", "xa-mot",
             "--count", str(RECORDS), "--rate", "450", "--kind", KIND],
            stderr=subprocess.PIPE, text=True)
        started = time.monotonic()
        # (disruption, records at the province then, whether the commune was sending)
        during: list[tuple[str, int, bool]] = []
        try:
            cycle = 0
            while writer.poll() is None:
                # Strike while a burst of batches is on its way, not while the outbox idles.
                during.append(("commune SIGKILL", _count(province), _sending(commune)))
                _kill(commune)
                commune.start()
                sending = _sending(commune)
                assert province.process is not None
                during.append(("province SIGSTOP", _count(province), sending))
                os.kill(province.process.pid, signal.SIGSTOP)
                try:
                    # Longer than 3 heartbeats: the commune counts the link dead, and what it
                    # sent meanwhile sits unread in the province's socket ...
                    time.sleep(4.0)
                    if cycle % 2 == 0:  # ... and dies with it
                        during.append(("province SIGKILL", _count(province), sending))
                        _kill(province)
                finally:
                    if province.process.poll() is None:
                        os.kill(province.process.pid, signal.SIGCONT)
                if cycle % 2:
                    during.append(("province restart", _count(province), _sending(commune)))
                    assert province.stop() == 0
                province.start()
                cycle += 1
            assert writer.wait(30) == 0, writer.stderr.read() if writer.stderr else ""
            deadline = time.monotonic() + 60
            while _count(province) < RECORDS:
                assert time.monotonic() < deadline, (
                    f"{_count(province)} of {RECORDS} after 60 s; commune log:\n"
                    + commune.log_text())
                time.sleep(0.5)
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait(10)
        took = time.monotonic() - started

        rows = _received(province, "xa-mot")
        seqs = [seq for seq, _, _ in rows]
        assert seqs == list(range(1, len(seqs) + 1)), "a gap or a repeat in the commune's seq"
        numbers = [json.loads(body)["n"] for _, kind, body in rows if kind == KIND]
        assert numbers == list(range(1, RECORDS + 1))
        # The disruptions came while records were flowing, not before or after.
        midway = {what for what, n, sending in during if 0 < n < RECORDS and sending}
        assert midway == {"commune SIGKILL", "province SIGSTOP", "province SIGKILL",
                          "province restart"}, during
        print(f"{RECORDS} records through {len(during)} disruptions in {took:.1f} s; "
              f"{len(rows) - RECORDS} of the commune's own records with them")
