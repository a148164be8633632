"""The audit log: append-only, hash-chained, kept at least six months.

Each row's hash covers its content and the previous row's hash, so changing or
deleting a row breaks the chain at that point. The newest id and hash are also
kept in ``settings`` so a deleted tail shows too. Old rows leave only through
`AuditLog.purge`, which moves the chain's anchor forward.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.config import MIN_AUDIT_RETENTION_DAYS
from controller.store import Store

log = logging.getLogger(__name__)

GENESIS = "0" * 64
_DAY = 86400.0


@dataclass(frozen=True)
class AuditEntry:
    """One audited event."""

    id: int
    ts: float
    actor: str
    origin_site: str
    action: str
    target: str
    result: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainProblem:
    """Where and how the chain is broken."""

    entry_id: int
    message: str


def _row_hash(prev_hash: str, ts: float, actor: str, origin_site: str, action: str,
              target: str, result: str, details_json: str) -> str:
    payload = json.dumps(
        [prev_hash, repr(ts), actor, origin_site, action, target, result, details_json],
        ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _entry(row: sqlite3.Row) -> AuditEntry:
    try:
        details = json.loads(row["details"])
    except ValueError:
        details = {"unparsable": True}
    return AuditEntry(
        id=row["id"], ts=row["ts"], actor=row["actor"], origin_site=row["origin_site"],
        action=row["action"], target=row["target"], result=row["result"],
        details=details if isinstance(details, dict) else {"value": details},
        prev_hash=row["prev_hash"], hash=row["hash"],
    )


class AuditLog:
    """Appends to and checks the audit chain in one site's store."""

    def __init__(self, store: Store, site_id: str, clock: Callable[[], float],
                 retention_days: int = MIN_AUDIT_RETENTION_DAYS) -> None:
        self.store = store
        self.site_id = site_id
        self.clock = clock
        self.retention_days = max(retention_days, MIN_AUDIT_RETENTION_DAYS)

    def record(self, actor: str, action: str, target: str = "", result: str = "ok",
               details: Mapping[str, Any] | None = None, origin_site: str | None = None) -> int:
        """Append one entry and return its id."""
        details_json = json.dumps(dict(details or {}), ensure_ascii=False, sort_keys=True,
                                  default=str)
        origin = origin_site or self.site_id
        ts = float(self.clock())  # an int would be stored as REAL and hash differently
        with self.store.transaction() as conn:
            head = conn.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
            if head is not None:
                prev = str(head[0])
            else:
                anchor = conn.execute("SELECT prev_hash FROM audit_anchor").fetchone()
                prev = str(anchor[0]) if anchor else GENESIS
            digest = _row_hash(prev, ts, actor, origin, action, target, result, details_json)
            cur = conn.execute(
                "INSERT INTO audit_log(ts, actor, origin_site, action, target, result, details,"
                " prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ts, actor, origin, action, target, result, details_json, prev, digest),
            )
            entry_id = int(cur.lastrowid or 0)
            conn.execute(
                "INSERT INTO settings(key, value) VALUES ('audit_head', ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (f"{entry_id}:{digest}",),
            )
        log.debug("audit %s %s by %s: %s", action, target, actor, result)
        return entry_id

    def entries(self, *, limit: int = 50, before_id: int | None = None,
                action_prefix: str | None = None, since: float | None = None) -> list[AuditEntry]:
        """Newest first, paged by ``before_id``."""
        where: list[str] = []
        params: list[Any] = []
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        if action_prefix:
            where.append("action LIKE ? ESCAPE '\\'")
            escaped = action_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.append(escaped + "%")
        if since is not None:
            where.append("ts >= ?")
            params.append(since)
        sql = "SELECT * FROM audit_log"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        return [_entry(r) for r in self.store.query(sql, params)]

    def verify(self) -> list[ChainProblem]:
        """Walk the chain; an empty list means nothing was changed or removed."""
        problems: list[ChainProblem] = []
        anchor = self.store.query_one("SELECT first_id, prev_hash FROM audit_anchor")
        expected_prev = str(anchor["prev_hash"]) if anchor else GENESIS
        expected_id = int(anchor["first_id"]) if anchor else 1
        last_id, last_hash = expected_id - 1, expected_prev
        for row in self.store.query("SELECT * FROM audit_log ORDER BY id"):
            entry_id = int(row["id"])
            if entry_id != expected_id:
                problems.append(ChainProblem(
                    entry_id, f"entries {expected_id}..{entry_id - 1} are missing"))
            if row["prev_hash"] != expected_prev:
                problems.append(ChainProblem(entry_id, "does not follow the entry before it"))
            digest = _row_hash(row["prev_hash"], row["ts"], row["actor"], row["origin_site"],
                               row["action"], row["target"], row["result"], row["details"])
            if digest != row["hash"]:
                problems.append(ChainProblem(entry_id, "content was changed after it was written"))
            expected_prev = row["hash"]
            expected_id = entry_id + 1
            last_id, last_hash = entry_id, row["hash"]
        head = self.store.get_setting("audit_head")
        if head:
            head_id_text, _, head_hash = head.partition(":")
            head_id = int(head_id_text) if head_id_text.isdigit() else -1
            if head_id != last_id or head_hash != last_hash:
                problems.append(ChainProblem(
                    head_id, f"the newest entries were removed (log ends at {last_id}, "
                    f"last written was {head_id})"))
        elif anchor is not None or last_id > 0:
            # Every record() writes the head: a log without one had it removed.
            problems.append(ChainProblem(
                last_id, "the record of the newest entry is missing; later entries may "
                "have been removed"))
        return problems

    def purge(self, now: float | None = None) -> int:
        """Delete entries older than the retention period; returns how many went."""
        now = self.clock() if now is None else now
        cutoff = now - self.retention_days * _DAY
        with self.store.transaction() as conn:
            # Only the oldest run of entries, up to the first one still inside the retention
            # period, goes: the kept chain stays contiguous and, if the clock was ever set
            # back, no entry stamped inside the period leaves early.
            last_old = conn.execute(
                "SELECT id, hash FROM audit_log WHERE id < (SELECT COALESCE(MIN(id), 1 << 62)"
                " FROM audit_log WHERE ts >= ?) ORDER BY id DESC LIMIT 1", (cutoff,)
            ).fetchone()
            if last_old is None:
                return 0
            conn.execute(
                "INSERT INTO settings(key, value) VALUES ('audit_purge_before', ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value", (repr(cutoff),))
            removed = conn.execute("DELETE FROM audit_log WHERE id <= ?", (last_old[0],)).rowcount
            conn.execute("DELETE FROM settings WHERE key = 'audit_purge_before'")
            conn.execute(
                "INSERT INTO audit_anchor(id, first_id, prev_hash) VALUES (1, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET first_id = excluded.first_id,"
                " prev_hash = excluded.prev_hash",
                (int(last_old[0]) + 1, str(last_old[1])),
            )
        log.info("audit retention removed %d entries older than %d days",
                 removed, self.retention_days)
        return int(removed)
