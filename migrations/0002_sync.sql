-- DeviceHub Station schema, version 2: sync with the central server.
-- Append-only: never edit a released migration, add the next numbered file instead.

-- How this station reaches the central server (server URL, station token, TLS), set with
-- `station sync config`. Kept apart from `settings` so `station settings list` never prints the
-- token. No row 'server_url': sync is off and ids are numbered locally.
CREATE TABLE sync_config (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

-- What the sync worker last did (last attempt, last success, last error, the station's name
-- and number as the server knows them): survives restarts, shown by `station sync status`.
CREATE TABLE sync_runtime (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

-- Blocks of id numbers the server leased to this station for `{prefix}{type}-NNN` ids:
-- numbers next_number .. end_number - 1 are still free to use.
CREATE TABLE id_leases (
    id          INTEGER PRIMARY KEY,
    type_id     INTEGER NOT NULL REFERENCES device_types(id),
    prefix      TEXT NOT NULL,
    next_number INTEGER NOT NULL,
    end_number  INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    CHECK (next_number < end_number)
) STRICT;
CREATE INDEX id_leases_type_prefix ON id_leases(type_id, prefix, next_number);

-- What the server last said about a device (for the device screen): status and last_seen.
CREATE TABLE device_server_status (
    device_pk  INTEGER PRIMARY KEY NOT NULL REFERENCES devices(id),
    status     TEXT NOT NULL,
    last_seen  TEXT,
    is_active  INTEGER NOT NULL CHECK (is_active IN (0, 1)),
    generation INTEGER NOT NULL,
    fetched_at TEXT NOT NULL
) STRICT;
