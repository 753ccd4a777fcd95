//! How this station reaches the central server, and what the sync worker remembers between runs.
//!
//! Two key-value tables of the store: `sync_config` (server URL, station number, TLS; never the
//! station token: that lives in the OS credential store, `station-sync`'s `credential_store`) and
//! `sync_runtime` (last attempt, last success, last error, what the server calls this station).
//! Values are checked by their writer (`station-sync`'s config); this module only names the keys
//! and stores them, each change in one transaction. No row `server_url` means sync is off.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::store::{KeyValueTable, Store};

/// Keys of `sync_config`.
pub mod config_key {
    /// The receiver's root, e.g. `https://devicehub.factory.local/station-sync/`. Present = sync on.
    pub const SERVER_URL: &str = "server_url";
    /// Where versions before issue 10 kept the station token in plaintext. Never written now:
    /// `station-sync` moves a row found here to the OS credential store, or deletes it.
    pub const LEGACY_TOKEN: &str = "token";
    /// The station number, from the token: selects this station's offline id range.
    pub const STATION_NUMBER: &str = "station_number";
    /// A PEM file of extra CA certificates (a factory network's own CA).
    pub const CA_FILE: &str = "ca_file";
    /// "false" turns TLS certificate verification off.
    pub const TLS_VERIFY: &str = "tls_verify";
    /// Records per request.
    pub const BATCH_SIZE: &str = "batch_size";
    /// The server's public seal key (standard base64 of 32 bytes): api keys are sealed to it
    /// (`crate::seal`). Not secret; kept when sync is turned off, so keys stay sealed.
    pub const SEAL_PUBLIC_KEY: &str = "seal_public_key";
    /// Its fingerprint, `sha256:<hex>`, as `manage.py station_sync_sealkey --show` prints it.
    pub const SEAL_KEY_FINGERPRINT: &str = "seal_key_fingerprint";
    /// "true": plain http to a host that is not this machine was allowed explicitly (a test
    /// bench), and is warned about at every sync.
    pub const INSECURE_HTTP: &str = "insecure_http";
}

/// Keys of `sync_runtime`.
pub mod runtime_key {
    pub const LAST_ATTEMPT_AT: &str = "last_attempt_at";
    pub const LAST_SUCCESS_AT: &str = "last_success_at";
    pub const LAST_ERROR: &str = "last_error";
    /// The stable code of the last failure (`station_sync::SyncError::code`).
    pub const LAST_ERROR_CODE: &str = "last_error_code";
    pub const SERVER_STATION: &str = "server_station";
    pub const CATALOG_NOTES: &str = "catalog_notes";
}

impl Store {
    /// Every `sync_config` entry.
    /// A training database has none, whatever its table holds ([`crate::store::training`]).
    pub fn sync_config(&self) -> Result<BTreeMap<String, String>> {
        if self.is_training()? {
            return Ok(BTreeMap::new());
        }
        self.key_values(KeyValueTable::SyncConfig)
    }

    /// Set (`Some`) or remove (`None`) sync configuration entries, all in one transaction.
    /// The values are checked by the caller (`station-sync`'s config).
    /// Refused on a training database, unless every entry is a removal.
    pub fn set_sync_config(&mut self, entries: &[(&str, Option<&str>)]) -> Result<()> {
        if entries.iter().any(|(_, v)| v.is_some()) {
            self.refuse_sync_if_training()?;
        }
        self.set_key_values(KeyValueTable::SyncConfig, entries)
    }

    /// Delete `keys` of `sync_config` so that their values are readable in no file afterwards:
    /// the deletion overwrites the freed bytes (`secure_delete`), then a checkpoint moves it into
    /// the database file and empties the WAL. For a secret an older version kept here (the
    /// station token before issue 10).
    pub fn erase_sync_config(&mut self, keys: &[&str]) -> Result<()> {
        let was: i64 = self
            .conn
            .pragma_query_value(None, "secure_delete", |r| r.get(0))
            .map_err(|e| self.sql_err(e))?;
        self.conn
            .pragma_update(None, "secure_delete", true)
            .map_err(|e| self.sql_err(e))?;
        let entries: Vec<(&str, Option<&str>)> = keys.iter().map(|k| (*k, None)).collect();
        let deleted = self.set_key_values(KeyValueTable::SyncConfig, &entries);
        let restored = self.conn.pragma_update(None, "secure_delete", was);
        deleted?;
        restored.map_err(|e| self.sql_err(e))?;
        // Another connection reading keeps the WAL from being emptied: the next checkpoint
        // after it ends does it (SQLite's own), so a busy answer here is not a failure.
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| self.sql_err(e))?;
        Ok(())
    }

    pub fn sync_runtime(&self) -> Result<BTreeMap<String, String>> {
        self.key_values(KeyValueTable::SyncRuntime)
    }

    pub fn set_sync_runtime(&mut self, entries: &[(&str, Option<&str>)]) -> Result<()> {
        self.set_key_values(KeyValueTable::SyncRuntime, entries)
    }
}
