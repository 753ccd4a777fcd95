-- DeviceHub Station schema: one-time verifiers of possession proofs (docs/protocol.md §10.3).
-- Append-only: never edit a released migration, add the next numbered file instead.
--
-- When the station generates a password (flash, rotate, provision) it draws PROOF_VERIFIERS
-- random nonces and keeps, for each, SHA-256 of the mac the unit holding that password answers
-- to `PROVE <nonce>`. Never the mac and never the password: a reader of this table has nonces
-- and hashes of macs, and answering a nonce needs a preimage of SHA-256 or the password.
-- Each verifier is used once (taken and deleted in one transaction, so a proof overheard on the
-- wire cannot be replayed); those of a generation the device no longer holds are deleted when
-- another generation is committed or a pending one is dropped. Nothing here is synced or
-- exported.
CREATE TABLE proof_verifiers (
    id          INTEGER PRIMARY KEY,
    device_pk   INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    generation  INTEGER NOT NULL,
    nonce       TEXT NOT NULL,
    mac_hash    TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX proof_verifiers_device ON proof_verifiers(device_pk, generation);
