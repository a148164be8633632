-- Usage records for the periodic reports: this site's own and its subtree's, as they arrive.
CREATE TABLE usage (
    key        TEXT PRIMARY KEY,
    origin     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    at         REAL NOT NULL,
    session_id TEXT,
    body       TEXT NOT NULL
);
CREATE INDEX usage_kind_at ON usage(kind, at);
CREATE INDEX usage_origin ON usage(origin, kind, at);

-- Reports marked as filed with the upper level: what the retention purge may then forget.
CREATE TABLE filed_reports (
    period     TEXT PRIMARY KEY,
    first_day  TEXT NOT NULL,
    last_day   TEXT NOT NULL,
    filed_at   REAL NOT NULL,
    filed_by   TEXT NOT NULL
);
