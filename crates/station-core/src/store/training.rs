//! Training databases: a database marked as one never syncs. The mark is a row of its own
//! `settings` table (not a registered setting, so no `settings set` can clear it), written once
//! when the station's training database is made (`station_service::training`). On a marked
//! database the store refuses every sync configuration ([`Store::set_sync_config`]) and reads
//! none ([`Store::sync_config`]), so whatever else runs on it (the sync worker, id leasing,
//! `station sync now`) sees sync as off and nothing it holds can reach a server.

use rusqlite::{Connection, OptionalExtension};

use crate::error::{CoreError, Result};
use crate::store::{KeyValueTable, Store};

/// The `settings` key that marks a training database; its value is [`TRAINING_MARK_VALUE`].
pub const TRAINING_MARK: &str = "station.training_database";
/// The value of [`TRAINING_MARK`].
pub const TRAINING_MARK_VALUE: &str = "1";

/// Whether the database `conn` works on (inside a caller's transaction, too) is a training one.
pub(crate) fn is_training_in(conn: &Connection) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT value FROM settings WHERE key = ?1",
            [TRAINING_MARK],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .as_deref()
        == Some(TRAINING_MARK_VALUE))
}

impl Store {
    /// Whether this is a training database (its records never reach a server).
    pub fn is_training(&self) -> Result<bool> {
        is_training_in(self.conn())
    }

    /// Mark this database as a training database, for good. Refused on a database that has
    /// sync configured: a database that has talked to a server is a production one.
    pub fn mark_training(&mut self) -> Result<()> {
        if self.is_training()? {
            return Ok(());
        }
        if !self.key_values(KeyValueTable::SyncConfig)?.is_empty() {
            return Err(CoreError::Refused {
                problem: format!(
                    "{} syncs with a server, so it cannot become a training database",
                    self.path().display()
                ),
                fix: "training uses its own database file; pick a path of its own".into(),
            });
        }
        self.set_key_values(
            KeyValueTable::Settings,
            &[(TRAINING_MARK, Some(TRAINING_MARK_VALUE))],
        )
    }

    /// Refuse a sync change that would turn sync on for a training database.
    pub(crate) fn refuse_sync_if_training(&self) -> Result<()> {
        if self.is_training()? {
            return Err(training_never_syncs());
        }
        Ok(())
    }
}

/// Why sync is refused on a training database.
pub fn training_never_syncs() -> CoreError {
    CoreError::Refused {
        problem: "this is the training database: what is flashed in training never reaches a \
                  server, so sync cannot be configured here"
            .into(),
        fix: "leave training mode, then configure sync for the station's own database".into(),
    }
}
