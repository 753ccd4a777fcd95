-- DeviceHub Station schema, version 4: api keys sealed to the sync server.
-- Append-only: never edit a released migration, add the next numbered file instead.
--
-- Once `station sync config` has fetched the server's public seal key, an api key is sealed to
-- it (libsodium's crypto_box_seal, standard base64) before it touches this file, and the
-- plaintext column stays NULL: someone who copies the station's disk holds boxes only the server
-- can open. Each box keeps the fingerprint of the key it was sealed to (sha256:<hex> of the raw
-- public key), so the server can tell a box sealed to a replaced key pair from a damaged one.
-- The pending generation's key is sealed the same way; promoting it moves box and fingerprint.
-- A key is held in one form only: plaintext (sync never configured with a seal key) or sealed.
-- Keys waiting in plaintext when the key arrives are sealed by the store, not here (SQL cannot
-- seal); this migration only adds the columns, NULL for every existing row.
ALTER TABLE devices ADD COLUMN api_key_sealed TEXT
    CHECK (api_key_sealed IS NULL OR api_key IS NULL);
ALTER TABLE devices ADD COLUMN seal_key_fingerprint TEXT
    CHECK ((seal_key_fingerprint IS NULL) = (api_key_sealed IS NULL));
ALTER TABLE devices ADD COLUMN pending_api_key_sealed TEXT
    CHECK (pending_api_key_sealed IS NULL OR pending_api_key IS NULL);
ALTER TABLE devices ADD COLUMN pending_seal_key_fingerprint TEXT
    CHECK ((pending_seal_key_fingerprint IS NULL) = (pending_api_key_sealed IS NULL));
