-- Camera preset names, and device online/offline history (for incidents and reports).
CREATE TABLE camera_presets (
    device_id  TEXT NOT NULL,
    preset     INTEGER NOT NULL,
    name       TEXT NOT NULL,
    updated_at REAL NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (device_id, preset)
);

CREATE TABLE device_events (
    id        INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    ts        REAL NOT NULL,
    event     TEXT NOT NULL,
    details   TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX device_events_device_ts ON device_events(device_id, ts);
