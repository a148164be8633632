"""The audit log: a hash chain that shows tampering, append-only, kept six months."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from controller.audit import GENESIS, AuditLog, ChainProblem, _row_hash
from controller.config import MIN_AUDIT_RETENTION_DAYS, load_config
from controller.store import Store
from tests.conftest import FakeClock, run_cli, write_site_config

DAY = 86400.0
SITE = "xa-hoang-hop"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with closing(Store(tmp_path / "diemcau.sqlite3")) as opened:
        yield opened


@pytest.fixture
def audit(store: Store, clock: FakeClock) -> AuditLog:
    return AuditLog(store, SITE, clock)


def fill(audit: AuditLog, clock: FakeClock, count: int, action: str = "device.command") -> None:
    for n in range(count):
        audit.record("vanhanh", action, target=f"cam{n}", details={"n": n})
        clock.advance(60)


def attacker(store: Store) -> sqlite3.Connection:
    """Someone with the database file and the sqlite3 shell, not the program."""
    return sqlite3.connect(store.path, isolation_level=None)


def ids(problems: list[ChainProblem]) -> set[int]:
    return {p.entry_id for p in problems}


# -- the chain ----------------------------------------------------------------------------------

def test_record_builds_a_verifiable_chain(audit: AuditLog, clock: FakeClock) -> None:
    first = audit.record("quantri", "login", result="ok")
    clock.advance(1.5)
    second = audit.record("chair@tinh", "camera.preset", target="cam1", result="denied",
                          details={"preset": 2}, origin_site="tinh-ha-tinh")
    clock.advance(1.5)
    third = audit.record("quantri", "logout")
    assert [first, second, third] == [1, 2, 3]
    chain = list(reversed(audit.entries()))
    assert [e.id for e in chain] == [1, 2, 3]
    assert chain[0].prev_hash == GENESIS
    assert [e.prev_hash for e in chain[1:]] == [e.hash for e in chain[:-1]]
    assert len({e.hash for e in chain}) == 3
    assert all(len(e.hash) == 64 and int(e.hash, 16) >= 0 for e in chain)
    assert (chain[0].actor, chain[0].origin_site, chain[0].action) == ("quantri", SITE, "login")
    assert (chain[1].origin_site, chain[1].target, chain[1].result, dict(chain[1].details)) == (
        "tinh-ha-tinh", "cam1", "denied", {"preset": 2})
    assert chain[1].ts == chain[0].ts + 1.5
    assert audit.verify() == []


def test_a_clock_in_whole_seconds_still_verifies(store: Store) -> None:
    # An int is a valid float for the type checker; its stored form must hash the same.
    audit = AuditLog(store, SITE, lambda: 1_790_000_000)
    audit.record("quantri", "login")
    audit.record("quantri", "logout")
    assert audit.verify() == []


@pytest.mark.parametrize(("column", "value"), [
    ("ts", 1_790_000_100.0),
    ("actor", "nguoi-khac"),
    ("origin_site", "tinh-khac"),
    ("action", "login"),
    ("target", "cam9"),
    ("result", "denied"),
    ("details", '{"n": 99}'),
])
def test_changed_row_is_found(audit: AuditLog, clock: FakeClock, store: Store,
                              column: str, value: object) -> None:
    fill(audit, clock, 5)
    with closing(attacker(store)) as conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute(f"UPDATE audit_log SET {column} = ? WHERE id = 3", (value,))  # noqa: S608
    assert audit.verify() == [ChainProblem(3, "content was changed after it was written")]


def test_changed_row_with_recomputed_hash_breaks_the_next_link(
        audit: AuditLog, clock: FakeClock, store: Store) -> None:
    fill(audit, clock, 5)
    row = store.query_one("SELECT * FROM audit_log WHERE id = 3")
    assert row is not None
    rehashed = _row_hash(row["prev_hash"], row["ts"], "nguoi-khac", row["origin_site"],
                         row["action"], row["target"], row["result"], row["details"])
    with closing(attacker(store)) as conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET actor = 'nguoi-khac', hash = ? WHERE id = 3",
                     (rehashed,))
    assert audit.verify() == [ChainProblem(4, "does not follow the entry before it")]


def test_deleted_middle_row_is_found(audit: AuditLog, clock: FakeClock, store: Store) -> None:
    fill(audit, clock, 5)
    with closing(attacker(store)) as conn:
        conn.execute("DROP TRIGGER audit_log_no_delete")
        conn.execute("DELETE FROM audit_log WHERE id = 3")
    problems = audit.verify()
    assert ids(problems) == {4}
    assert any("entries 3..3 are missing" in p.message for p in problems)


def test_deleted_first_row_is_found(audit: AuditLog, clock: FakeClock, store: Store) -> None:
    fill(audit, clock, 3)
    with closing(attacker(store)) as conn:
        conn.execute("DROP TRIGGER audit_log_no_delete")
        conn.execute("DELETE FROM audit_log WHERE id = 1")
    assert ids(audit.verify()) == {2}


def test_deleted_newest_rows_are_found(audit: AuditLog, clock: FakeClock, store: Store) -> None:
    fill(audit, clock, 5)
    with closing(attacker(store)) as conn:
        conn.execute("DROP TRIGGER audit_log_no_delete")
        conn.execute("DELETE FROM audit_log WHERE id >= 4")
    problems = audit.verify()
    assert ids(problems) == {5}
    assert "newest entries were removed (log ends at 3, last written was 5)" in problems[0].message


@pytest.mark.parametrize("head", ["5:" + "0" * 64, "4:{hash4}", "garbage", None])
def test_changed_head_setting_is_found(audit: AuditLog, clock: FakeClock, store: Store,
                                       head: str | None) -> None:
    fill(audit, clock, 5)
    hash4 = audit.entries(before_id=5, limit=1)[0].hash
    with closing(attacker(store)) as conn:
        if head is None:
            conn.execute("DELETE FROM settings WHERE key = 'audit_head'")
        else:
            conn.execute("UPDATE settings SET value = ? WHERE key = 'audit_head'",
                         (head.format(hash4=hash4),))
    problems = audit.verify()
    assert problems
    if head != "garbage":  # the entry the head names, or the log's end when it is gone
        assert {"5:" + "0" * 64: 5, "4:{hash4}": 4, None: 5}[head] in ids(problems)


def test_audit_verify_command(tmp_path: Path) -> None:
    config_path = write_site_config(tmp_path / "site")
    database = load_config(config_path).storage.database
    with closing(Store(database)) as store:
        audit = AuditLog(store, SITE, FakeClock())
        for action in ("login", "camera.preset", "logout"):
            audit.record("quantri", action)
    intact = run_cli("audit", "verify", "--config", str(config_path))
    assert intact.returncode == 0, intact.stderr
    assert "audit log intact: 3 entries, chain verified" in intact.stdout
    with closing(sqlite3.connect(database, isolation_level=None)) as conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET actor = 'ai-do' WHERE id = 2")
    tampered = run_cli("audit", "verify", "--config", str(config_path))
    assert tampered.returncode == 1
    assert "entry 2: content was changed after it was written" in tampered.stderr
    assert "audit log TAMPERED: 1 problem(s) in 3 entries" in tampered.stderr


# -- append-only --------------------------------------------------------------------------------

def test_program_cannot_edit_or_delete_entries(audit: AuditLog, clock: FakeClock,
                                               store: Store) -> None:
    fill(audit, clock, 3)
    before = audit.entries()
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.execute("UPDATE audit_log SET result = 'ok' WHERE id = 2")
    with pytest.raises(sqlite3.IntegrityError, match="cannot be deleted"):
        store.execute("DELETE FROM audit_log WHERE id = 2")
    # Old age alone does not let a row go: only the retention purge removes rows.
    clock.advance(400 * DAY)
    with pytest.raises(sqlite3.IntegrityError, match="cannot be deleted"):
        store.execute("DELETE FROM audit_log WHERE id = 1")
    assert audit.entries() == before
    assert audit.verify() == []


# -- retention ----------------------------------------------------------------------------------

def test_purge_removes_only_entries_past_retention(audit: AuditLog, clock: FakeClock) -> None:
    fill(audit, clock, 3, action="old")
    clock.advance(100 * DAY)
    fill(audit, clock, 2, action="recent")
    clock.advance(90 * DAY)  # the first three are now 190 days old, the others 90
    assert audit.retention_days == MIN_AUDIT_RETENTION_DAYS
    assert audit.purge() == 3
    assert [e.id for e in audit.entries()] == [5, 4]
    assert audit.verify() == []
    assert audit.purge() == 0
    audit.record("quantri", "after.purge")
    assert [e.id for e in audit.entries()] == [6, 5, 4]
    assert audit.verify() == []


def test_purge_of_every_entry_still_verifies(audit: AuditLog, clock: FakeClock) -> None:
    # A quiet site: nothing recorded for more than six months.
    fill(audit, clock, 3)
    clock.advance(200 * DAY)
    assert audit.purge() == 3
    assert audit.entries() == []
    assert audit.verify() == []
    audit.record("quantri", "login")
    assert [e.id for e in audit.entries()] == [4]
    assert audit.verify() == []


def test_purge_after_the_clock_was_set_back(audit: AuditLog, clock: FakeClock) -> None:
    # The box booted with its clock 30 days fast, wrote an entry, then NTP fixed the time.
    clock.advance(30 * DAY)
    audit.record("he-thong", "boot")
    clock.advance(-30 * DAY)
    fill(audit, clock, 2)
    clock.advance(190 * DAY)  # entries 2-3 are past retention; entry 1's stamp is not
    assert audit.purge() == 0  # no entry inside the retention period is removed
    assert [e.id for e in audit.entries()] == [3, 2, 1]
    clock.advance(30 * DAY)
    assert audit.purge() == 3
    assert audit.verify() == []


def test_retention_cannot_go_below_six_months(store: Store, clock: FakeClock) -> None:
    audit = AuditLog(store, SITE, clock, retention_days=30)
    assert audit.retention_days == MIN_AUDIT_RETENTION_DAYS == 183
    audit.record("quantri", "login")
    clock.advance(182 * DAY)
    assert audit.purge() == 0
    assert len(audit.entries()) == 1
    clock.advance(2 * DAY)
    assert audit.purge() == 1
    longer = AuditLog(store, SITE, clock, retention_days=400)
    assert longer.retention_days == 400


# -- reading ------------------------------------------------------------------------------------

def test_entries_newest_first_and_paged(audit: AuditLog, clock: FakeClock) -> None:
    fill(audit, clock, 7)
    page1 = audit.entries(limit=3)
    page2 = audit.entries(limit=3, before_id=page1[-1].id)
    page3 = audit.entries(limit=3, before_id=page2[-1].id)
    assert [[e.id for e in page] for page in (page1, page2, page3)] == [
        [7, 6, 5], [4, 3, 2], [1]]
    assert audit.entries(limit=3, before_id=1) == []
    since = audit.entries(since=page2[0].ts)
    assert [e.id for e in since] == [7, 6, 5, 4]


def test_action_prefix_is_literal(audit: AuditLog) -> None:
    for action in ("user.add", "user_add", "userXadd", "user%x", "user\\x", "login"):
        audit.record("quantri", action)

    def actions(prefix: str) -> list[str]:
        return [e.action for e in audit.entries(action_prefix=prefix)]

    assert actions("user_") == ["user_add"]
    assert actions("user%") == ["user%x"]
    assert actions("user\\") == ["user\\x"]
    assert actions("user.") == ["user.add"]
    assert actions("user") == ["user\\x", "user%x", "userXadd", "user_add", "user.add"]
    assert actions("") == [
        "login", "user\\x", "user%x", "userXadd", "user_add", "user.add"]


def test_vietnamese_details_round_trip(audit: AuditLog, store: Store) -> None:
    details = {
        "phiên_họp": "Hội nghị trực tuyến toàn tỉnh Hà Tĩnh",
        "điểm_cầu": ["UBND xã Hoàng Hợp", "Điểm cầu chủ trì"],
        "ghi chú": "Đã điểm danh — đủ thành phần tham dự",
    }
    audit.record("cán bộ vận hành", "session.roll_call", target="Phòng họp số 1",
                 details=details)
    [entry] = audit.entries()
    assert dict(entry.details) == details
    assert (entry.actor, entry.target) == ("cán bộ vận hành", "Phòng họp số 1")
    stored = store.query_one("SELECT details FROM audit_log")
    assert stored is not None
    assert "Hội nghị trực tuyến" in stored["details"]  # readable in the file, not \\u escapes
    assert audit.verify() == []
