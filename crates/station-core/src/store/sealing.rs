//! How an api key is kept until the server holds it: sealed to the server's key once sync has
//! given one ([`crate::seal`]), in plaintext only before that; and the clean-up that takes
//! cleared keys out of the database's files.
//!
//! Every statement that writes an api key (a batch with credentials, `rotate_now`, the pending
//! generation of a flash) asks [`api_key_at_rest`] inside its own transaction, which reads the
//! seal key in that transaction: a key written after `station sync config` stored the seal key
//! is sealed, whichever process writes it. [`Store::adopt_seal_key`] stores a new seal key and
//! seals the keys that waited in plaintext, in one transaction, then checkpoints. The pending
//! key is never read back for the device (the device gets its key from memory during the
//! flash): it is kept only so a promoted generation, even one promoted by recovery after a
//! crash, can still be sent to the server. So it is sealed like the key in force.
//!
//! Clearing a key (acknowledged by the server) relies on `secure_delete` to overwrite the old
//! row, and on [`Store::checkpoint_truncate`], once per acknowledged batch, to move the
//! overwritten pages into the database file and empty the WAL, which still holds the old ones.

use rusqlite::{params, Connection, OptionalExtension};

use crate::credentials::Secret;
use crate::error::Result;
use crate::seal::SealKey;
use crate::store::sync_config::config_key;
use crate::store::Store;

/// An api key as a row holds it: plaintext (no seal key yet) or a box and its key's fingerprint.
pub(crate) struct ApiKeyAtRest<'a> {
    pub plaintext: Option<&'a str>,
    pub sealed: Option<String>,
    pub seal_key_fingerprint: Option<String>,
}

/// The seal key stored in `sync_config`, read through `conn` (inside the caller's transaction).
pub(crate) fn seal_key_in(conn: &Connection) -> Result<Option<SealKey>> {
    let value = |key: &str| -> Result<Option<String>> {
        Ok(conn
            .query_row("SELECT value FROM sync_config WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    };
    match value(config_key::SEAL_PUBLIC_KEY)? {
        Some(public) => {
            let fingerprint = value(config_key::SEAL_KEY_FINGERPRINT)?;
            Ok(Some(SealKey::from_base64(&public, fingerprint.as_deref())?))
        }
        None => Ok(None),
    }
}

/// How `key` is to be written by a statement running in `conn`'s transaction. A training
/// database keeps no api key at all (only its fingerprint, beside): its records never reach a
/// server, so nothing would ever need it, and a copied disk then holds none of them.
pub(crate) fn api_key_at_rest<'a>(conn: &Connection, key: &'a Secret) -> Result<ApiKeyAtRest<'a>> {
    if crate::store::training::is_training_in(conn)? {
        return Ok(ApiKeyAtRest {
            plaintext: None,
            sealed: None,
            seal_key_fingerprint: None,
        });
    }
    Ok(match seal_key_in(conn)? {
        Some(seal) => {
            let sealed = seal.seal(key)?;
            ApiKeyAtRest {
                plaintext: None,
                sealed: Some(sealed.sealed),
                seal_key_fingerprint: Some(sealed.seal_key_fingerprint),
            }
        }
        None => ApiKeyAtRest {
            plaintext: Some(key.expose()),
            sealed: None,
            seal_key_fingerprint: None,
        },
    })
}

/// Where a row keeps an api key in readable form (sync off: no seal key yet).
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReadableKey {
    /// The key in force (`api_key`).
    InForce,
    /// The key of a pending flash (`pending_api_key`).
    Pending,
}

/// Whether device `pk` holds its `which` api key in readable form. A statement that is about to
/// replace or clear it discards a readable key: with `secure_delete` the database file forgets
/// it, but the WAL keeps the page that held it until a checkpoint
/// ([`Store::checkpoint_truncate`]), so a disk copied from a running (or crashed) station would
/// still show a key that no status counts.
pub(crate) fn holds_readable_key(conn: &Connection, pk: i64, which: ReadableKey) -> Result<bool> {
    let sql = match which {
        ReadableKey::InForce => "SELECT api_key IS NOT NULL FROM devices WHERE id = ?1",
        ReadableKey::Pending => "SELECT pending_api_key IS NOT NULL FROM devices WHERE id = ?1",
    };
    Ok(conn
        .query_row(sql, [pk], |r| r.get::<_, bool>(0))
        .optional()?
        .unwrap_or(false))
}

/// Seal every api key waiting in plaintext (in force and pending) to `seal`; returns how many.
fn seal_waiting(conn: &Connection, seal: &SealKey) -> Result<u64> {
    let mut sealed = 0u64;
    for (plain, boxed, fingerprint) in [
        ("api_key", "api_key_sealed", "seal_key_fingerprint"),
        (
            "pending_api_key",
            "pending_api_key_sealed",
            "pending_seal_key_fingerprint",
        ),
    ] {
        let waiting: Vec<(i64, zeroize::Zeroizing<String>)> = conn
            .prepare(&format!(
                "SELECT id, {plain} FROM devices WHERE {plain} IS NOT NULL"
            ))?
            .query_map([], |r| Ok((r.get(0)?, zeroize::Zeroizing::new(r.get(1)?))))?
            .collect::<rusqlite::Result<_>>()?;
        for (pk, key) in waiting {
            let boxed_key = seal.seal_str(&key)?;
            conn.execute(
                &format!(
                    "UPDATE devices SET {plain} = NULL, {boxed} = ?2, {fingerprint} = ?3
                     WHERE id = ?1"
                ),
                params![pk, boxed_key.sealed, boxed_key.seal_key_fingerprint],
            )?;
            sealed += 1;
        }
    }
    Ok(sealed)
}

impl Store {
    /// The server's seal key, once `station sync config` has stored it.
    pub fn seal_key(&self) -> Result<Option<SealKey>> {
        seal_key_in(self.conn()).map_err(|e| e.with_db_path(self.path()))
    }

    /// Store `seal` as the server's seal key and seal, in the same transaction, every api key
    /// that waited in plaintext; then clear the plaintext out of the files. Keys already
    /// sealed to an earlier key stay as they are (only the server that holds that key can open
    /// them). Returns how many keys were sealed now.
    pub fn adopt_seal_key(&mut self, seal: &SealKey) -> Result<u64> {
        let public = seal.to_base64();
        let sealed = self.write(|tx| {
            for (key, value) in [
                (config_key::SEAL_PUBLIC_KEY, public.as_str()),
                (config_key::SEAL_KEY_FINGERPRINT, seal.fingerprint()),
            ] {
                tx.execute(
                    "INSERT INTO sync_config(key, value) VALUES (?1, ?2)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    [key, value],
                )?;
            }
            seal_waiting(tx, seal)
        })?;
        if sealed > 0 {
            self.checkpoint_truncate();
        }
        Ok(sealed)
    }

    /// [`Store::checkpoint_truncate`] after a write that discarded an api key kept in readable
    /// form ([`holds_readable_key`]), so the WAL does not keep it.
    pub(crate) fn forget_discarded_key(&self, discarded: bool) {
        if discarded {
            self.checkpoint_truncate();
        }
    }

    /// Copy the WAL into the database file and empty it, so pages that held a cleared secret
    /// are gone from both (with `secure_delete` the new pages hold zeros where it was). Best
    /// effort: another connection reading keeps its pages in the WAL until it is done, so a
    /// busy checkpoint is logged and the next acknowledged batch tries again.
    pub fn checkpoint_truncate(&self) {
        let result = self
            .conn()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            });
        match result {
            Ok(0) => {}
            Ok(_) => tracing::info!("WAL checkpoint deferred: another connection is reading"),
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }

    /// Api keys the station holds sealed to the server (in force or pending).
    pub fn sealed_api_keys_held(&self) -> Result<u64> {
        self.conn()
            .query_row(
                "SELECT count(*) FILTER (WHERE api_key_sealed IS NOT NULL)
                      + count(*) FILTER (WHERE pending_api_key_sealed IS NOT NULL) FROM devices",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.sql_err(e))
    }
}
