-- DeviceHub Station schema, version 1.
-- Append-only: never edit a released migration, add the next numbered file instead.
-- Connection pragmas (WAL, foreign_keys, busy_timeout, synchronous) live in the store's open
-- function, not here.

-- Settings of this station (station id, hash algorithm, ...), one row a key.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

-- The device types this station may provision, mirroring django-devicehub's DeviceType registry.
CREATE TABLE device_types (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,          -- class-style name: WeatherStation
    name_key       TEXT NOT NULL UNIQUE,   -- lower case, '_' removed: how names are looked up
    app_label      TEXT NOT NULL,
    topic_prefix   TEXT NOT NULL,
    topic_template TEXT NOT NULL,
    broker_host    TEXT NOT NULL,
    broker_port    INTEGER NOT NULL CHECK (broker_port BETWEEN 1 AND 65535),
    broker_tls     INTEGER NOT NULL CHECK (broker_tls IN (0, 1)),
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
) STRICT;

-- A production batch: "50 weather stations, prefix farm-".
CREATE TABLE batches (
    id         INTEGER PRIMARY KEY,
    type_id    INTEGER NOT NULL REFERENCES device_types(id),
    prefix     TEXT NOT NULL,
    count      INTEGER NOT NULL CHECK (count >= 1),
    created_by TEXT NOT NULL,
    station_id TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE devices (
    id                          INTEGER PRIMARY KEY,
    device_id                   TEXT NOT NULL UNIQUE,
    name                        TEXT NOT NULL,
    type_id                     INTEGER NOT NULL REFERENCES device_types(id),
    batch_id                    INTEGER REFERENCES batches(id),
    -- The prefix and number an id was minted from ({prefix}{type}-{NNN}); NULL for ids given by hand.
    id_prefix                   TEXT,
    id_number                   INTEGER,
    status                      TEXT NOT NULL DEFAULT 'provisioning'
        CHECK (status IN ('online', 'offline', 'error', 'maintenance', 'low_battery', 'provisioning')),
    is_active                   INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    firmware_version            TEXT NOT NULL DEFAULT '',
    mqtt_username               TEXT NOT NULL,
    -- The credentials in force (generation > 0), hash only: the plaintext is never stored.
    generation                  INTEGER NOT NULL DEFAULT 0,
    mqtt_password_hash          TEXT,
    -- Kept until the server has acknowledged it (django-devicehub compares api keys in plaintext);
    -- after that only the fingerprint remains.
    api_key                     TEXT,
    api_key_fingerprint         TEXT,
    -- Credentials issued to a flash that has not been confirmed by the device yet.
    pending_generation          INTEGER,
    pending_password_hash       TEXT,
    pending_api_key             TEXT,
    pending_api_key_fingerprint TEXT,
    pending_since               TEXT,
    -- The unit the pending credentials are being written to.
    pending_hardware_id         TEXT,
    -- The highest generation ever issued for this device: generations are never reused.
    last_generation             INTEGER NOT NULL DEFAULT 0,
    flash_state                 TEXT NOT NULL DEFAULT 'none'
        CHECK (flash_state IN ('none', 'flashing', 'flashed', 'failed')),
    flash_error                 TEXT,
    hardware_id                 TEXT,
    flashed_at                  TEXT,
    rotation_due                INTEGER NOT NULL DEFAULT 0 CHECK (rotation_due IN (0, 1)),
    station_id                  TEXT NOT NULL,
    operator                    TEXT NOT NULL,
    metadata                    TEXT NOT NULL DEFAULT '{}',
    created_at                  TEXT NOT NULL,
    updated_at                  TEXT NOT NULL,
    CHECK (pending_generation IS NULL OR pending_generation > generation)
) STRICT;
CREATE INDEX devices_batch ON devices(batch_id);
CREATE INDEX devices_type_prefix ON devices(type_id, id_prefix, id_number);
CREATE INDEX devices_hardware_id ON devices(hardware_id);
CREATE INDEX devices_pending_hardware_id ON devices(pending_hardware_id) WHERE pending_generation IS NOT NULL;

-- What happened to a device, for its history: who, when, which station.
CREATE TABLE device_events (
    id         INTEGER PRIMARY KEY,
    device_pk  INTEGER NOT NULL REFERENCES devices(id),
    kind       TEXT NOT NULL,
    generation INTEGER,
    detail     TEXT NOT NULL DEFAULT '',
    operator   TEXT NOT NULL,
    station_id TEXT NOT NULL,
    at         TEXT NOT NULL
) STRICT;
CREATE INDEX device_events_device ON device_events(device_pk, id);

-- Changes to report to the central server, written in the same transaction as the change.
-- The payload is built from the device row when sent, so no secret sits in this table.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    device_pk       INTEGER NOT NULL REFERENCES devices(id),
    generation      INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'rejected')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error      TEXT,
    done_at         TEXT
) STRICT;
CREATE INDEX outbox_pending ON outbox(state, id);
CREATE INDEX outbox_device ON outbox(device_pk, state);
