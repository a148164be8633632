-- Calls to conference bridges and what happened to them (joins, recoveries, drops).
CREATE TABLE calls (
    id         TEXT PRIMARY KEY,
    bridge_id  TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at   REAL,
    started_by TEXT NOT NULL,
    end_reason TEXT
);

CREATE TABLE call_events (
    id      INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL REFERENCES calls(id),
    ts      REAL NOT NULL,
    event   TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX call_events_call ON call_events(call_id, ts);
