-- Accounts, console sessions, the hash-chained audit log, and site settings.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id                  INTEGER PRIMARY KEY,
    username            TEXT NOT NULL UNIQUE,
    role                TEXT NOT NULL
        CHECK (role IN ('admin', 'operator', 'chair', 'viewer', 'auditor')),
    password_hash       TEXT NOT NULL,
    failed_logins       INTEGER NOT NULL DEFAULT 0,
    locked_until        REAL,
    disabled            INTEGER NOT NULL DEFAULT 0,
    created_at          REAL NOT NULL,
    password_changed_at REAL NOT NULL
);

CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen  REAL NOT NULL,
    remote     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX web_sessions_user ON web_sessions(user_id);

-- AUTOINCREMENT: an id is never reused, so a deleted tail row leaves a visible gap.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ts          REAL NOT NULL,
    actor       TEXT NOT NULL,
    origin_site TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    result      TEXT NOT NULL,
    details     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_log_ts ON audit_log(ts);
CREATE INDEX audit_log_action ON audit_log(action);

-- Where the chain starts after old rows were purged by retention.
CREATE TABLE audit_anchor (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    first_id  INTEGER NOT NULL,
    prev_hash TEXT NOT NULL
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

-- Rows may only leave through the retention purge, which sets the cut-off first.
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN old.ts >= COALESCE(
    (SELECT CAST(value AS REAL) FROM settings WHERE key = 'audit_purge_before'), 0)
BEGIN
    SELECT RAISE(ABORT, 'audit rows inside the retention period cannot be deleted');
END;
