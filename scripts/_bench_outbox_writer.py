#!/usr/bin/env python3
"""Queue numbered records in a site's outbox from outside the site's process.

Opens the site's SQLite database (WAL: a second writer is allowed while the site runs) and
calls the same ``Outbox.add`` the site uses, so each record gets the site's next ``origin:seq``
in one transaction with its row. Body ``{"n": 1..count}`` lets a reader check order and
completeness at the far end. Used by tests/controller/test_outbox_crash.py and
scripts/bench_incidents.py; the running site finds the records by its idle poll.

    python scripts/_bench_outbox_writer.py --db DATA/diemcau.sqlite3 --site xa-mot
        --count 10000 [--rate 500] [--kind test.usage] [--forwards]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from controller.outbox import Outbox  # noqa: E402
from controller.store import Store  # noqa: E402


def write(db: Path, site: str, count: int, *, rate: float = 0.0, kind: str = "test.usage",
          forwards: bool = True, filler: int = 0) -> float:
    """Add ``count`` records at about ``rate`` per second (0: as fast as possible); seconds."""
    store = Store(db)
    try:
        outbox = Outbox(store, site, time.time, forwards=forwards)
        started = time.monotonic()
        pad = "x" * filler
        for n in range(1, count + 1):
            body: dict[str, object] = {"n": n}
            if pad:
                body["pad"] = pad
            outbox.add(kind, body)
            if rate > 0:
                ahead = started + n / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        return time.monotonic() - started
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--site", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float, default=0.0, help="records/s; 0: flat out")
    parser.add_argument("--kind", default="test.usage")
    parser.add_argument("--filler", type=int, default=0, help="characters of padding a body")
    parser.add_argument("--top", action="store_true", help="the site has no parent")
    args = parser.parse_args()
    seconds = write(args.db, args.site, args.count, rate=args.rate, kind=args.kind,
                    forwards=not args.top, filler=args.filler)
    print(f"{args.count} records in {seconds:.2f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
