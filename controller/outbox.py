"""The durable outbox: records for the upper levels, delivered exactly once, in order.

Every record (an incident change, a usage record) gets ``origin:seq`` as its idempotency key,
``seq`` counting up per origin site. Records wait in SQLite until the parent acknowledges
them, so a crash, a restart or hours without a link lose nothing. One batch is in flight at a
time and is resent until acknowledged, so the parent sees each origin's records in order; the
parent stores each key once (a resend is acknowledged again, not stored again) and, when it
has a parent of its own, queues the record further up in the same transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from controller.store import Store
from controller.uplink_protocol import Records, RecordsAck, UplinkBackoff

log = logging.getLogger(__name__)

BATCH_RECORDS: Final = 200
BATCH_BYTES: Final = 256 * 1024
ACK_SECONDS: Final = 10.0
IDLE_SECONDS: Final = 5.0
MAX_BODY_BYTES: Final = 48 * 1024
_KEY: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}:[0-9]{1,18}$")
_KIND: Final = re.compile(r"^[a-z][a-z0-9_.]{0,31}$")

Listener = Callable[[str, str, dict[str, Any]], None]  # kind, origin, body


@dataclass(frozen=True)
class Record:
    """One record as it travels."""

    key: str
    origin: str
    seq: int
    kind: str
    at: float
    body: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        """The record inside a ``records`` frame."""
        return {"key": self.key, "origin": self.origin, "seq": self.seq, "kind": self.kind,
                "at": self.at, "body": self.body}


def record_from_wire(raw: Any) -> Record | None:
    """A checked record from a child, or None when anything about it is wrong."""
    if not isinstance(raw, dict):
        return None
    key, origin, seq, kind = raw.get("key"), raw.get("origin"), raw.get("seq"), raw.get("kind")
    at: Any = raw.get("at")
    body = raw.get("body")
    if not (isinstance(key, str) and _KEY.match(key) and isinstance(origin, str)
            and type(seq) is int and key == f"{origin}:{seq}" and isinstance(kind, str)
            and _KIND.match(kind) and isinstance(body, dict)
            and ((type(at) is float and math.isfinite(at))
                 or (type(at) is int and 0 <= at < 2**40))):
        return None
    # Measured as `Outbox.add` measures it: whatever a child may queue, its parent stores.
    if len(json.dumps(body, ensure_ascii=False, default=str)) > MAX_BODY_BYTES:
        return None
    return Record(key, origin, seq, kind, float(at), body)


class Outbox:
    """This site's queue upward, and the store of what came from below."""

    def __init__(self, store: Store, site_id: str, clock: Callable[[], float], *,
                 forwards: bool, backoff: UplinkBackoff | None = None) -> None:
        self.store = store
        self.site_id = site_id
        self.clock = clock
        self.forwards = forwards  # this site has a parent: what comes from below goes on up
        self.backoff = backoff or UplinkBackoff(initial=1.0, maximum=30.0)
        self.listeners: list[Listener] = []
        self.send_up: Callable[[Records], bool] = lambda _msg: False
        self.connected_up: Callable[[], bool] = lambda: False
        self._wake = asyncio.Event()
        self._acked = asyncio.Event()
        self._in_flight: set[str] = set()
        self._relinked = False

    # -- adding -------------------------------------------------------------------------------

    def add(self, kind: str, body: Mapping[str, Any],
            conn: sqlite3.Connection | None = None) -> str:
        """Queue a record of this site's own; its key. Pass ``conn`` to share a transaction."""
        if conn is None:
            with self.store.transaction() as own:
                return self.add(kind, body, own)
        row = conn.execute("SELECT last FROM outbox_seq WHERE origin = ?",
                           (self.site_id,)).fetchone()
        seq = (int(row[0]) if row else 0) + 1
        conn.execute("INSERT INTO outbox_seq(origin, last) VALUES (?, ?) ON CONFLICT(origin)"
                     " DO UPDATE SET last = excluded.last", (self.site_id, seq))
        key = f"{self.site_id}:{seq}"
        at = self.clock()
        text = json.dumps(dict(body), ensure_ascii=False, default=str)
        if len(text) > MAX_BODY_BYTES:
            raise ValueError(f"a {kind} record of {len(text)} bytes is over {MAX_BODY_BYTES}")
        if self.forwards:
            conn.execute("INSERT INTO outbox(key, origin, seq, kind, at, body)"
                         " VALUES (?, ?, ?, ?, ?, ?)", (key, self.site_id, seq, kind, at, text))
        else:  # the top of the tree keeps its own records where it keeps its subtree's
            conn.execute("INSERT INTO received(key, origin, seq, kind, at, body, via,"
                         " received_at) VALUES (?, ?, ?, ?, ?, ?, '', ?)",
                         (key, self.site_id, seq, kind, at, text, at))
        self._wake.set()
        return key

    # -- from a child -------------------------------------------------------------------------

    def receive(self, items: Iterable[Any], via: str) -> list[str]:
        """Store a child's records once each (and queue them up); the keys to acknowledge."""
        acked: list[str] = []
        fresh: list[Record] = []
        now = self.clock()
        with self.store.transaction() as conn:
            for raw in items:
                record = record_from_wire(raw)
                if record is None:
                    log.warning("dropped a malformed record from %s", via)
                    key = raw.get("key") if isinstance(raw, dict) else None
                    if isinstance(key, str) and len(key) <= 100:
                        acked.append(key)  # acknowledged, or the child would resend it forever
                    continue
                text = json.dumps(record.body, ensure_ascii=False, default=str)
                cur = conn.execute(
                    "INSERT OR IGNORE INTO received(key, origin, seq, kind, at, body, via,"
                    " received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (record.key, record.origin, record.seq, record.kind, record.at, text, via,
                     now))
                if cur.rowcount and self.forwards:
                    conn.execute("INSERT OR IGNORE INTO outbox(key, origin, seq, kind, at, body)"
                                 " VALUES (?, ?, ?, ?, ?, ?)",
                                 (record.key, record.origin, record.seq, record.kind,
                                  record.at, text))
                if cur.rowcount:
                    fresh.append(record)
                acked.append(record.key)
        if fresh and self.forwards:
            self._wake.set()
        for record in fresh:
            for listener in self.listeners:
                try:
                    listener(record.kind, record.origin, record.body)
                except Exception:
                    log.exception("a listener failed on record %s", record.key)
        return acked

    # -- delivery -------------------------------------------------------------------------------

    def on_ack(self, msg: RecordsAck) -> None:
        """The parent stored these records."""
        keys = [k for k in msg.keys if isinstance(k, str) and k in self._in_flight]
        if not keys:
            return
        now = self.clock()
        with self.store.transaction() as conn:
            conn.executemany("UPDATE outbox SET delivered_at = ? WHERE key = ?",
                             [(now, k) for k in keys])
        self._in_flight.difference_update(keys)
        if not self._in_flight:
            self._acked.set()

    def pending(self) -> tuple[int, float | None]:
        """Records waiting, and when the oldest was made."""
        row = self.store.query_one(
            "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM outbox WHERE delivered_at IS NULL")
        if row is None:
            return 0, None
        return int(row["n"]), (float(row["oldest"]) if row["oldest"] is not None else None)

    def _batch(self) -> list[Record]:
        rows = self.store.query(
            "SELECT key, origin, seq, kind, at, body FROM outbox WHERE delivered_at IS NULL"
            " ORDER BY id LIMIT ?", (BATCH_RECORDS,))
        batch: list[Record] = []
        size = 0
        for r in rows:
            size += len(r["body"]) + 100
            if batch and size > BATCH_BYTES:
                break
            batch.append(Record(r["key"], r["origin"], r["seq"], r["kind"], r["at"],
                                json.loads(r["body"])))
        return batch

    async def run(self) -> None:
        """Deliver waiting records whenever the uplink is up; until cancelled."""
        if not self.forwards:
            return
        loop = asyncio.get_running_loop()
        while True:
            batch = self._batch() if self.connected_up() else []
            if not batch:
                self._wake.clear()
                try:
                    async with asyncio.timeout(IDLE_SECONDS):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                continue
            self._in_flight = {r.key for r in batch}
            self._acked.clear()
            with self.store.transaction() as conn:
                conn.executemany("UPDATE outbox SET attempts = attempts + 1 WHERE key = ?",
                                 [(r.key,) for r in batch])
            sent = self.send_up(Records([r.to_wire() for r in batch]))
            if sent:
                try:
                    async with asyncio.timeout(ACK_SECONDS):
                        await self._acked.wait()
                except TimeoutError:
                    log.info("no acknowledgement for %d records; will resend", len(batch))
            if not self._in_flight:
                self.backoff.succeeded()
                continue
            if self._relinked:  # a fresh link: what was in flight is resent at once
                self._relinked = False
                self.backoff.succeeded()
                continue
            self.backoff.failed(loop.time())
            self._wake.clear()
            try:
                async with asyncio.timeout(self.backoff.delay(loop.time())):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def wake(self) -> None:
        """The uplink came up: look for waiting records now, and stop waiting for the acks
        of a batch sent on the old link."""
        self._wake.set()
        if self._in_flight:
            self._relinked = True
            self._acked.set()

    def purge_delivered(self, before: float) -> int:
        """Forget delivered records older than ``before``; how many."""
        return self.store.execute(
            "DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?", (before,))

    def received(self, kind: str | None = None, origin: str | None = None,
                 limit: int = 1000) -> list[Record]:
        """Records stored here (from below, and this site's own at the top), in order."""
        sql = "SELECT key, origin, seq, kind, at, body FROM received WHERE 1 = 1"
        params: list[Any] = []
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        if origin is not None:
            sql += " AND origin = ?"
            params.append(origin)
        sql += " ORDER BY origin, seq LIMIT ?"
        params.append(limit)
        return [Record(r["key"], r["origin"], r["seq"], r["kind"], r["at"], json.loads(r["body"]))
                for r in self.store.query(sql, params)]
