"""The site database: migrations, WAL, online backup while the controller writes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from controller.config import load_config
from controller.errors import MigrationError, StorageError
from controller.store import Migration, Store, backup_database, bundled_migrations
from tests.conftest import run_cli, write_site_config

ROOMS = Migration(2, "rooms", """
-- A made-up second migration: a new table, a new column, existing rows rewritten.
CREATE TABLE rooms (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
UPDATE users SET display_name = upper(username);
INSERT INTO rooms(name) SELECT DISTINCT role FROM users ORDER BY role;
""")


def first_migration() -> Migration:
    return bundled_migrations()[0]


def add_user(store: Store, username: str, role: str) -> None:
    store.execute(
        "INSERT INTO users(username, role, password_hash, created_at, password_changed_at)"
        " VALUES (?, ?, 'x', 0, 0)", (username, role))


def raw(path: Path) -> sqlite3.Connection:
    """A connection of our own, as another process or an attacker would open."""
    return sqlite3.connect(path, isolation_level=None)


def table_names(path: Path) -> set[str]:
    with closing(raw(path)) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


# -- migrations ---------------------------------------------------------------------------------

def test_empty_database_gets_every_bundled_migration_once(tmp_path: Path) -> None:
    path = tmp_path / "new" / "diemcau.sqlite3"
    bundled = bundled_migrations()
    with closing(Store(path)) as store:
        assert path.is_file()
        assert store.applied == [m.version for m in bundled]
        assert store.schema_version() == len(bundled)
        rows = store.query("SELECT version, name FROM schema_migrations ORDER BY version")
        assert [(r["version"], r["name"]) for r in rows] == [(m.version, m.name) for m in bundled]
        assert {"users", "audit_log", "settings"} <= table_names(path)
    with closing(raw(path)) as conn:  # WAL is a property of the file, not of one connection
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with closing(Store(path)) as again:
        assert again.applied == []
        assert again.schema_version() == len(bundled)


def test_existing_database_gets_only_the_new_migration_and_keeps_its_data(
        tmp_path: Path) -> None:
    path = tmp_path / "diemcau.sqlite3"
    with closing(Store(path, [first_migration()])) as old:
        assert old.applied == [1]
        add_user(old, "quantri", "admin")
        add_user(old, "xem", "viewer")
        add_user(old, "xem2", "viewer")
    with closing(Store(path, [first_migration(), ROOMS])) as new:
        assert new.applied == [2]
        assert new.schema_version() == 2
        users = new.query("SELECT username, role, display_name FROM users ORDER BY id")
        assert [tuple(r) for r in users] == [
            ("quantri", "admin", "QUANTRI"), ("xem", "viewer", "XEM"), ("xem2", "viewer", "XEM2")]
        assert [r["name"] for r in new.query("SELECT name FROM rooms ORDER BY id")] == [
            "admin", "viewer"]
        add_user(new, "moi", "chair")  # the new column's default serves new rows
        assert [tuple(r) for r in new.query(
            "SELECT display_name FROM users WHERE username = 'moi'")] == [("",)]


def test_failing_migration_rolls_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "diemcau.sqlite3"
    broken = Migration(2, "broken", """
CREATE TABLE half_done (x INTEGER);
ALTER TABLE users ADD COLUMN nickname TEXT;
INSERT INTO no_such_table VALUES (1);
""")
    with closing(Store(path, [first_migration()])) as store:
        add_user(store, "quantri", "admin")
    with pytest.raises(MigrationError, match=r"0002_broken failed: no such table: no_such_table"):
        Store(path, [first_migration(), broken])
    assert "half_done" not in table_names(path)
    with closing(raw(path)) as conn:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(users)")}
        assert "nickname" not in columns
        assert conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == 1
    # Once the migration is fixed, the same database upgrades normally.
    with closing(Store(path, [first_migration(), ROOMS])) as fixed:
        assert fixed.applied == [2]
        assert [r["display_name"] for r in fixed.query("SELECT display_name FROM users")] == [
            "QUANTRI"]


def test_database_newer_than_the_program_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "diemcau.sqlite3"
    with closing(Store(path, [first_migration(), ROOMS])) as newer:
        add_user(newer, "quantri", "admin")
    with pytest.raises(MigrationError, match="schema version 2, newer than this program knows"):
        Store(path, [first_migration()])
    with closing(raw(path)) as conn:  # untouched
        assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations")] == [1, 2]
        assert conn.execute("SELECT username FROM users").fetchone()[0] == "quantri"


@pytest.mark.parametrize("kind", ["data_dir is a file", "path is a folder", "not a database"])
def test_unusable_path_raises_storage_error(tmp_path: Path, kind: str) -> None:
    if kind == "data_dir is a file":
        (tmp_path / "data").write_text("not a folder")
        path = tmp_path / "data" / "diemcau.sqlite3"
    elif kind == "path is a folder":
        path = tmp_path / "diemcau.sqlite3"
        path.mkdir()
    else:
        path = tmp_path / "diemcau.sqlite3"
        path.write_bytes(b"this is not an SQLite file " * 100)
    with pytest.raises(StorageError, match=str(path)):
        Store(path)


# -- backup -------------------------------------------------------------------------------------

SEED_EVENTS = 3000


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Store]:
    """A live database with an ``events`` table of about 6 MB (many 256-page steps)."""
    with closing(Store(tmp_path / "data" / "diemcau.sqlite3")) as store:
        store.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        with store.transaction() as conn:
            conn.executemany("INSERT INTO events(body) VALUES (?)",
                             [(f"{i:06d}" + "x" * 2000,) for i in range(SEED_EVENTS)])
        yield store


def count_events(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def integrity(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def test_backup_while_another_connection_keeps_writing(live: Store, tmp_path: Path) -> None:
    started = threading.Event()
    stop = threading.Event()
    errors: list[BaseException] = []

    def controller_writes() -> None:
        # Two rows per transaction: a consistent snapshot always holds an even number.
        try:
            with closing(sqlite3.connect(live.path, isolation_level=None, timeout=10)) as conn:
                for n in range(200_000):
                    if stop.is_set():
                        return
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("INSERT INTO events(body) VALUES ('a')")
                    conn.execute("INSERT INTO events(body) VALUES ('b')")
                    conn.execute("COMMIT")
                    if n == 20:
                        started.set()
        except BaseException as exc:
            errors.append(exc)
            started.set()

    writer = threading.Thread(target=controller_writes)
    writer.start()
    progress: list[tuple[int, int]] = []
    try:
        assert started.wait(30)
        before = count_events(live.path)
        dest, pages = backup_database(live.path, tmp_path / "backup.sqlite3",
                                      progress=lambda done, total: progress.append((done, total)))
        after = count_events(live.path)
    finally:
        stop.set()
        writer.join()
    assert errors == []
    assert before < after, "the writer was not busy during the backup"
    assert dest == (tmp_path / "backup.sqlite3").resolve()
    assert integrity(dest) == "ok"
    copied = count_events(dest)
    assert before <= copied <= after
    assert copied % 2 == 0
    with closing(sqlite3.connect(dest)) as conn:
        assert conn.execute("PRAGMA page_count").fetchone()[0] == pages
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # a plain file
    # Writes on a busy site must not send the copy back to its first page over and over.
    done = [d for d, _ in progress]
    assert done == sorted(done), f"backup restarted: {done[:20]}"
    assert progress[-1][0] == progress[-1][1] == pages
    assert not list(tmp_path.glob("*.partial"))


def test_backup_into_a_folder_gets_a_dated_name(live: Store, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    dest, _ = backup_database(live.path, folder)
    assert dest.parent == folder.resolve()
    assert dest.name.startswith("diemcau-")
    assert dest.suffix == ".sqlite3"
    stamp = datetime.strptime(dest.name, "diemcau-%Y%m%d-%H%M%S.sqlite3")
    assert abs((datetime.now() - stamp).total_seconds()) < 120
    assert [p.name for p in folder.iterdir()] == [dest.name]
    assert count_events(dest) == SEED_EVENTS


def test_backup_onto_the_live_database_is_refused(live: Store, tmp_path: Path) -> None:
    same_file_other_spelling = tmp_path / "data" / ".." / "data" / "diemcau.sqlite3"
    for dest in (live.path, same_file_other_spelling):
        with pytest.raises(StorageError, match="live database"):
            backup_database(live.path, dest)
    assert integrity(live.path) == "ok"
    assert count_events(live.path) == SEED_EVENTS
    with pytest.raises(StorageError, match="no database at"):
        backup_database(tmp_path / "missing.sqlite3", tmp_path / "out.sqlite3")


@pytest.mark.parametrize("folder", ["phòng họp #1", "ban?", "50%41"])
def test_backup_of_a_database_in_a_folder_with_uri_characters(
        tmp_path: Path, folder: str) -> None:
    # A path is not a URI: '#', '?' and '%' must not make the backup read some other file.
    path = tmp_path / folder / "diemcau.sqlite3"
    with closing(Store(path)) as store:
        store.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        store.execute("INSERT INTO events(body) VALUES ('giữ lại')")
    before = set(tmp_path.iterdir())
    dest, _ = backup_database(path, tmp_path / "backup.sqlite3")
    assert count_events(dest) == 1
    assert set(tmp_path.iterdir()) == before | {dest}


def test_backup_of_a_damaged_database_fails_and_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "diemcau.sqlite3"
    with closing(Store(path)) as store:
        store.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        store.execute("CREATE INDEX events_body ON events(body)")
        with store.transaction() as conn:
            conn.executemany("INSERT INTO events(body) VALUES (?)",
                             [(f"event-{i:05d}",) for i in range(2000)])
    data = bytearray(path.read_bytes())
    at = data.find(b"event-01000")  # the table row or its index entry: either disagrees now
    data[at:at + 11] = b"event-X1000"
    path.write_bytes(bytes(data))
    assert integrity(path) != "ok"
    with pytest.raises(StorageError, match="integrity check"):
        backup_database(path, tmp_path / "backup.sqlite3")
    assert not list(tmp_path.glob("backup*"))


def test_backup_command(tmp_path: Path) -> None:
    config_path = write_site_config(tmp_path / "site")
    config = load_config(config_path)
    with closing(Store(config.storage.database)) as store:  # the controller is running
        store.set_setting("site_note", "Điểm cầu xã Hoàng Hợp")
        unwritable = tmp_path / "no-such-folder" / "backup.sqlite3"
        result = run_cli("backup", "--config", str(config_path), str(unwritable))
        assert result.returncode == 1
        assert result.stderr.startswith(f"diemcau: backup to {unwritable} failed")
        (tmp_path / "out").mkdir()
        result = run_cli("backup", "--config", str(config_path), str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    [written] = (tmp_path / "out").iterdir()
    assert result.stdout.startswith(f"backup written to {written} (")
    assert integrity(written) == "ok"
    with closing(sqlite3.connect(written)) as conn:
        assert conn.execute("SELECT value FROM settings WHERE key = 'site_note'").fetchone()[0] == (
            "Điểm cầu xã Hoàng Hợp")
