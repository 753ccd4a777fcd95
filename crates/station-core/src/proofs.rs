//! One-time verifiers of possession proofs (protocol §10.3), the station's half of PROVE.
//!
//! Whenever a password is generated (a flash's pending generation, `rotate`, `provision`), and
//! only then, the plaintext is in memory: [`store_verifiers`] draws [`spec::PROOF_VERIFIERS`]
//! random nonces, computes the mac the unit holding that password answers to each, and keeps
//! `(nonce, SHA-256(mac))` with the device and generation, in the transaction that records the
//! password's hash. Never the mac, never the password: a reader of the database cannot answer a
//! nonce. [`Store::take_proof_verifier`] hands one verifier out and deletes it in the same
//! transaction, so each proves one contact and an overheard answer cannot be replayed.
//! Verifiers of a generation the device no longer holds are deleted when another generation is
//! committed ([`keep_only`]) or a pending one is dropped ([`drop_generation`]). Nothing here is
//! synced or exported.

use rusqlite::{params, OptionalExtension, Transaction};
use station_protocol::proof::{mac_hash, mac_matches, proof_mac, ProofMac, ProofNonce};
use station_protocol::spec;

use crate::credentials::Secret;
use crate::error::{CoreError, Result};
use crate::store::{now, Store};

/// One verifier handed out: the nonce to send and the hash the answer must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofVerifier {
    pub generation: u32,
    pub nonce: ProofNonce,
    mac_hash: Vec<u8>,
}

impl ProofVerifier {
    /// Whether `mac` is the answer of a unit holding the password this verifier was made for.
    pub fn accepts(&self, mac: &ProofMac) -> bool {
        mac_matches(mac, &self.mac_hash)
    }
}

/// Inside the transaction that records `password` as `generation` of device `device_pk`: keep
/// its verifiers.
pub(crate) fn store_verifiers(
    tx: &Transaction<'_>,
    device_pk: i64,
    device_id: &str,
    generation: u32,
    password: &Secret,
) -> Result<()> {
    let ts = now();
    let mut insert = tx.prepare_cached(
        "INSERT INTO proof_verifiers(device_pk, generation, nonce, mac_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for _ in 0..spec::PROOF_VERIFIERS {
        let mut nonce = ProofNonce::default();
        getrandom::fill(&mut nonce).map_err(|e| {
            CoreError::Internal(format!(
                "the operating system's random number source failed: {e}"
            ))
        })?;
        let mac =
            zeroize::Zeroizing::new(proof_mac(password.expose().as_bytes(), device_id, &nonce));
        insert.execute(params![
            device_pk,
            generation,
            hex::encode(nonce),
            hex::encode(mac_hash(&mac)),
            ts
        ])?;
    }
    Ok(())
}

/// Generation `generation` of the device was committed: verifiers of every other go.
pub(crate) fn keep_only(tx: &Transaction<'_>, device_pk: i64, generation: u32) -> Result<()> {
    tx.execute(
        "DELETE FROM proof_verifiers WHERE device_pk = ?1 AND generation != ?2",
        params![device_pk, generation],
    )?;
    Ok(())
}

/// Generation `generation` was dropped (the unit never committed it): its verifiers go.
pub(crate) fn drop_generation(tx: &Transaction<'_>, device_pk: i64, generation: u32) -> Result<()> {
    tx.execute(
        "DELETE FROM proof_verifiers WHERE device_pk = ?1 AND generation = ?2",
        params![device_pk, generation],
    )?;
    Ok(())
}

impl Store {
    /// Take one unused verifier of `generation` of `device_id` and delete it, in one
    /// transaction: it proves one contact only. `None` when none is left (a device made before
    /// protocol 1.1, or all used by failed attempts).
    pub fn take_proof_verifier(
        &mut self,
        device_id: &str,
        generation: u32,
    ) -> Result<Option<ProofVerifier>> {
        let device = self.find_device(device_id)?;
        self.write(|tx| {
            let row: Option<(i64, String, String)> = tx
                .query_row(
                    "SELECT id, nonce, mac_hash FROM proof_verifiers
                     WHERE device_pk = ?1 AND generation = ?2 ORDER BY id LIMIT 1",
                    params![device.pk, generation],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((id, nonce_hex, hash_hex)) = row else {
                return Ok(None);
            };
            tx.execute("DELETE FROM proof_verifiers WHERE id = ?1", [id])?;
            let mut nonce = ProofNonce::default();
            let decoded = hex::decode_to_slice(&nonce_hex, &mut nonce).is_ok();
            match (decoded, hex::decode(&hash_hex)) {
                (true, Ok(mac_hash)) => Ok(Some(ProofVerifier {
                    generation,
                    nonce,
                    mac_hash,
                })),
                _ => Err(CoreError::Internal(format!(
                    "a proof verifier of device {device_id} is damaged"
                ))),
            }
        })
    }

    /// The unused verifiers of `device_id`: `(generation, nonce in hex)`, oldest first. For
    /// diagnostics and tests; a nonce alone proves nothing.
    pub fn proof_verifiers(&self, device_id: &str) -> Result<Vec<(u32, String)>> {
        let device = self.find_device(device_id)?;
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT generation, nonce FROM proof_verifiers WHERE device_pk = ?1 ORDER BY id",
            )
            .map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map([device.pk], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.sql_err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sql_err(e))
    }
}
