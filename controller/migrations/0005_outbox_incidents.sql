-- The durable outbox of records for the upper levels, what this site received from below,
-- and incidents (this site's own and, at a parent, its subtree's).
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    key          TEXT NOT NULL UNIQUE,
    origin       TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    at           REAL NOT NULL,
    body         TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    delivered_at REAL
);
CREATE INDEX outbox_pending ON outbox(delivered_at, id);

-- The last sequence number this site gave its own records.
CREATE TABLE outbox_seq (
    origin TEXT PRIMARY KEY,
    last   INTEGER NOT NULL
);

CREATE TABLE received (
    key         TEXT PRIMARY KEY,
    origin      TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    at          REAL NOT NULL,
    body        TEXT NOT NULL,
    via         TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE INDEX received_origin_seq ON received(origin, seq);
CREATE INDEX received_kind_at ON received(kind, at);

CREATE TABLE incidents (
    id          TEXT PRIMARY KEY,
    origin      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    state       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    severity    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    opened_at   REAL NOT NULL,
    resolved_at REAL,
    cause       TEXT,
    body        TEXT NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE INDEX incidents_state ON incidents(state, opened_at);
CREATE INDEX incidents_origin ON incidents(origin, opened_at);
