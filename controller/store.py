"""The site's SQLite database: WAL mode, numbered migrations, online backup.

Calls are synchronous and short (local SQLite, indexed queries); one lock keeps
the single connection safe when a worker thread also uses it. Anything slow
(password hashing, report building) runs outside the lock.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from controller.errors import MigrationError, StorageError

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One numbered schema change."""

    version: int
    name: str
    sql: str


def bundled_migrations() -> list[Migration]:
    """The migrations shipped in ``controller/migrations``, in order."""
    out: list[Migration] = []
    for entry in resources.files("controller.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            out.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    out.sort(key=lambda m: m.version)
    versions = [m.version for m in out]
    if versions != list(range(1, len(out) + 1)):
        raise MigrationError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return out


class Store:
    """One open site database."""

    def __init__(self, path: Path, migrations: Sequence[Migration] | None = None) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=10.0
            )
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot open database {path}: {exc}") from exc
        self._lock = threading.RLock()
        self._conn.row_factory = sqlite3.Row
        try:
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise StorageError(f"database {path} cannot use WAL mode (got {mode})")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=10000")
        except sqlite3.Error as exc:
            self._conn.close()
            raise StorageError(f"cannot use database {path}: {exc}") from exc
        try:
            self.applied = self.migrate(
                bundled_migrations() if migrations is None else migrations)
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        with self._lock:
            try:
                self._conn.execute("PRAGMA optimize")
            except sqlite3.Error:
                log.debug("PRAGMA optimize failed at close", exc_info=True)
            self._conn.close()

    def schema_version(self) -> int:
        """The highest migration applied."""
        row = self.query_one("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
        return int(row["v"]) if row else 0

    def migrate(self, migrations: Sequence[Migration]) -> list[int]:
        """Apply the migrations not yet applied, each in its own transaction."""
        with self._lock:
            try:
                self._conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
                )
                done = {r[0] for r in self._conn.execute("SELECT version FROM schema_migrations")}
            except sqlite3.Error as exc:
                raise MigrationError(f"cannot read schema version of {self.path}: {exc}") from exc
            known = {m.version for m in migrations}
            unknown = sorted(done - known)
            if unknown:
                raise MigrationError(
                    f"database {self.path} has schema version {max(unknown)}, newer than this "
                    "program knows; upgrade diemcau or restore a matching backup"
                )
            applied: list[int] = []
            for migration in sorted(migrations, key=lambda m: m.version):
                if migration.version in done:
                    continue
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    for statement in _split_sql(migration.sql):
                        self._conn.execute(statement)
                    self._conn.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                        (migration.version, migration.name, time.time()),
                    )
                    self._conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._conn.execute("ROLLBACK")
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} failed: {exc}"
                    ) from exc
                log.info("applied migration %04d_%s", migration.version, migration.name)
                applied.append(migration.version)
            return applied

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the last row id (inserts) or rows changed."""
        with self._lock:
            try:
                cur = self._conn.execute(sql, params)
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                raise StorageError(f"database error: {exc}") from exc
            if sql.lstrip().upper().startswith("INSERT"):
                return int(cur.lastrowid or 0)
            return cur.rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a query and fetch all rows."""
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"database error: {exc}") from exc

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """Run a query and fetch the first row, if any."""
        with self._lock:
            try:
                row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
            except sqlite3.Error as exc:
                raise StorageError(f"database error: {exc}") from exc
            return row

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate write transaction; commits on success, rolls back on error."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StorageError(f"database busy: {exc}") from exc
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                try:
                    self._conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._conn.execute("ROLLBACK")
                    raise StorageError(f"commit failed: {exc}") from exc

    def get_setting(self, key: str) -> str | None:
        """A value from the settings table."""
        row = self.query_one("SELECT value FROM settings WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    def set_setting(self, key: str, value: str | None) -> None:
        """Set (or with None, remove) a settings value."""
        if value is None:
            self.execute("DELETE FROM settings WHERE key = ?", (key,))
        else:
            self.execute(
                "INSERT INTO settings(key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("--")):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            statements.append(buf.strip())
            buf = ""
    if buf.strip():
        raise MigrationError(f"incomplete SQL statement in migration: {buf.strip()[:60]}")
    return statements


def backup_database(
    source: Path, dest: Path, *, pages_per_step: int = -1,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Path, int]:
    """Copy a live database with SQLite's online backup; returns the file and its pages.

    Safe while the controller writes: the copy is a consistent snapshot. The
    destination is written beside itself and renamed into place at the end.
    By default all pages go in one step: in WAL mode that read does not block
    writers, while a copy in several steps starts over after every commit by
    another connection, and on a busy site may never finish.
    """
    if not source.exists():
        raise StorageError(f"no database at {source}")
    dest = dest.resolve()
    if dest == source.resolve():
        raise StorageError("the backup destination is the live database itself")
    if dest.is_dir():
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder, dest = dest, dest / f"diemcau-{stamp}.sqlite3"
        serial = 1
        while dest.exists():  # two backups in one second keep both
            serial += 1
            dest = folder / f"diemcau-{stamp}-{serial}.sqlite3"
    tmp = dest.with_name(dest.name + ".partial")
    tmp.unlink(missing_ok=True)
    try:
        # as_uri() escapes '#', '?' and '%', which would otherwise redirect the open.
        src = sqlite3.connect(source.resolve().as_uri() + "?mode=ro", uri=True, timeout=10.0)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open {source}: {exc}") from exc
    try:
        dst = sqlite3.connect(str(tmp))
        try:
            def _progress(status: int, remaining: int, total: int) -> None:
                if progress is not None:
                    progress(total - remaining, total)

            src.backup(dst, pages=pages_per_step, progress=_progress)
            row = dst.execute("PRAGMA integrity_check").fetchone()
            if row is None or row[0] != "ok":
                raise StorageError(f"backup copy failed its integrity check: {row}")
            pages = int(dst.execute("PRAGMA page_count").fetchone()[0])
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    except (sqlite3.Error, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"backup to {dest} failed: {exc}") from exc
    except StorageError:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    tmp.replace(dest)
    return dest, pages
