-- The attendance figures a report sums, as columns: reading them out of each record's JSON
-- made a province's half-year report (660,000 records) take five seconds.
ALTER TABLE usage ADD COLUMN host_level TEXT;
ALTER TABLE usage ADD COLUMN attended INTEGER;
ALTER TABLE usage ADD COLUMN on_time INTEGER;
ALTER TABLE usage ADD COLUMN ready INTEGER;
ALTER TABLE usage ADD COLUMN hours REAL;
ALTER TABLE usage ADD COLUMN cancelled INTEGER NOT NULL DEFAULT 0;

UPDATE usage SET
    host_level = json_extract(body, '$.host_level'),
    attended = json_extract(body, '$.attended') = 1,
    on_time = json_extract(body, '$.attended') = 1
              AND COALESCE(json_extract(body, '$.late'), 0) = 0,
    ready = CASE json_type(body, '$.ready') WHEN 'true' THEN 1 WHEN 'false' THEN 0 END,
    hours = CASE WHEN json_type(body, '$.hours_connected') IN ('integer', 'real')
                 THEN json_extract(body, '$.hours_connected') ELSE 0 END,
    cancelled = COALESCE(json_extract(body, '$.state'), '') = 'cancelled'
WHERE kind = 'usage.attendance';

-- Covers the report's query: the sums come from the index alone, never the records' text.
CREATE INDEX usage_attendance_sums ON usage(kind, at, cancelled, origin, host_level, attended,
                                            on_time, ready, hours);
