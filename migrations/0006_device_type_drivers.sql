-- DeviceHub Station schema: the driver a device type names (issue 12), and its settings.
-- Append-only: never edit a released migration, add the next numbered file instead.
--
-- `driver` is the stable name of station_core::driver::DriverKind: 'protocol' (docs/protocol.md,
-- every type before this migration), 'nvs' (an ESP-IDF NVS image over the ESP ROM loader) or
-- 'mcumgr' (Zephyr MCUmgr settings). `driver_settings` is a JSON object the driver checks
-- itself (for nvs: namespace, key names, partition); it names keys, never holds a value.
ALTER TABLE device_types ADD COLUMN driver TEXT NOT NULL DEFAULT 'protocol'
    CHECK (driver IN ('protocol', 'nvs', 'mcumgr'));
ALTER TABLE device_types ADD COLUMN driver_settings TEXT NOT NULL DEFAULT '{}';
