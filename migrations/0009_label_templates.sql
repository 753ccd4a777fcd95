-- DeviceHub Station schema: a label template per device type (issue 14).
-- Append-only: never edit a released migration, add the next numbered file instead.
--
-- One row per device type that has its own template; a type without a row prints the default
-- template (station_core::labels::LabelTemplate::default). `fields` is a comma-separated list of
-- station_core::labels::LabelField names, in print order: only non-secret fields exist there, so
-- no template can name a password, a hash or an api key. Sizes in millimetres, the printer's
-- resolution in dots per inch.
CREATE TABLE label_templates (
    type_id INTEGER PRIMARY KEY REFERENCES device_types(id),
    width_mm INTEGER NOT NULL CHECK (width_mm BETWEEN 20 AND 110),
    height_mm INTEGER NOT NULL CHECK (height_mm BETWEEN 10 AND 300),
    dpi INTEGER NOT NULL CHECK (dpi IN (203, 300, 600)),
    fields TEXT NOT NULL,
    qr INTEGER NOT NULL CHECK (qr IN (0, 1)),
    updated_at TEXT NOT NULL
);
