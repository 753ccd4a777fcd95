//! Which schema version a database file is at, and the refusal to open one that is newer than
//! this binary.
//!
//! The migrations record how many of them ran in `PRAGMA user_version`. A file whose version is
//! higher than the number of migrations embedded here was written by a newer DeviceHub Station:
//! its tables may mean things this binary does not know, so the store refuses it with
//! [`CoreError::DatabaseTooNew`] before anything writes to it (before even the switch to WAL,
//! which rewrites the file header), leaving the file byte for byte as it was.

use std::path::Path;

use rusqlite::Connection;

use crate::error::{CoreError, Result};
use crate::store::MIGRATION_SQL;

/// The schema version this binary creates and understands: one per embedded migration.
pub fn supported_version() -> u32 {
    u32::try_from(MIGRATION_SQL.len()).unwrap_or(u32::MAX)
}

/// The schema version recorded in the file (0 for a new, empty one).
pub(crate) fn version(conn: &Connection, path: &Path) -> Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| CoreError::from_sqlite(path, e))
}

/// Refuse a database written by a newer station; reads only.
pub(crate) fn refuse_newer(conn: &Connection, path: &Path) -> Result<()> {
    let found = version(conn, path)?;
    let supported = supported_version();
    if found > i64::from(supported) {
        return Err(CoreError::DatabaseTooNew {
            path: path.to_path_buf(),
            found: u32::try_from(found).unwrap_or(u32::MAX),
            supported,
        });
    }
    Ok(())
}
