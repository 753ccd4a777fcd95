-- DeviceHub Station schema: shifts with saved reports, and the unit's own serial/MAC label on a
-- device (issue 14). Append-only: never edit a released migration, add the next numbered file.
--
-- A shift runs from `started_at` to `ended_at` (unix seconds; NULL while it runs): at most one
-- runs at a time. Each flash that writes credentials is one row of `shift_results`, inserted in
-- its own transaction, so parallel ports never lose a count; the report is computed from them.
-- `shift_operators` holds everyone who signed in or flashed during the shift.
CREATE TABLE shifts (
    id            INTEGER PRIMARY KEY,
    started_at    INTEGER NOT NULL,
    ended_at      INTEGER,
    started_by    TEXT NOT NULL,
    station_id    TEXT NOT NULL,
    -- Counts carried over from the counters a station kept before this migration (no per-flash
    -- rows exist for them: they count into passed and failed, not into the yield or reasons).
    carried_passed INTEGER NOT NULL DEFAULT 0,
    carried_failed INTEGER NOT NULL DEFAULT 0,
    CHECK (ended_at IS NULL OR ended_at >= started_at)
) STRICT;
CREATE UNIQUE INDEX shifts_one_running ON shifts((ended_at IS NULL)) WHERE ended_at IS NULL;

CREATE TABLE shift_results (
    id         INTEGER PRIMARY KEY,
    shift_id   INTEGER NOT NULL REFERENCES shifts(id),
    at         INTEGER NOT NULL,
    port       TEXT NOT NULL,
    -- NULL when the unit failed before a device was chosen for it.
    device_id  TEXT,
    passed     INTEGER NOT NULL CHECK (passed IN (0, 1)),
    -- The typed reason of a failure (a FailReason or an error code name); NULL for a pass.
    reason     TEXT,
    operator   TEXT NOT NULL
) STRICT;
CREATE INDEX shift_results_shift ON shift_results(shift_id, at);

CREATE TABLE shift_operators (
    shift_id   INTEGER NOT NULL REFERENCES shifts(id),
    operator   TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (shift_id, operator)
) STRICT;

-- The counters kept in the settings table before: they become the running shift.
INSERT INTO shifts(started_at, started_by, station_id, carried_passed, carried_failed)
    SELECT json_extract(value, '$.started_at'), 'operator',
           COALESCE((SELECT value FROM settings WHERE key = 'station_id'), 'station'),
           json_extract(value, '$.passed'), json_extract(value, '$.failed')
    FROM settings WHERE key = 'app.shift' AND json_valid(value)
        AND json_type(value, '$.started_at') = 'integer';
DELETE FROM settings WHERE key = 'app.shift';

-- The unit's own serial number or MAC address, from its label (scan to link); unique among
-- active devices.
ALTER TABLE devices ADD COLUMN unit_serial TEXT;
CREATE UNIQUE INDEX devices_unit_serial_active ON devices(unit_serial)
    WHERE is_active = 1 AND unit_serial IS NOT NULL;
