-- Multi-site sessions: the record as the chair last published it, each site's part in it
-- (readiness, roll call, raised hand, call), and the session's history.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    chair      TEXT NOT NULL,
    state      TEXT NOT NULL,
    starts_at  REAL NOT NULL,
    version    INTEGER NOT NULL,
    record     TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX sessions_state_start ON sessions(state, starts_at);

CREATE TABLE session_sites (
    session_id TEXT NOT NULL,
    site_id    TEXT NOT NULL,
    status     TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (session_id, site_id)
);

CREATE TABLE session_events (
    id         INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    ts         REAL NOT NULL,
    site_id    TEXT NOT NULL,
    event      TEXT NOT NULL,
    details    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX session_events_session ON session_events(session_id, ts);
