//! The station's local SQLite database: the one place that opens connections, sets their
//! pragmas, runs the embedded migrations and turns SQLite failures into [`CoreError`]s.
//!
//! The CLI and the desktop app may share one database file at the same time, so every
//! connection gets WAL, a busy timeout and `synchronous=FULL` (a flash the station reported as
//! recorded must survive a power cut), and every multi-row change is one IMMEDIATE transaction.
//!
//! Nothing usable at rest: the file, its `-wal` and `-shm` are 0600 in a 0700 data folder
//! ([`crate::private_fs`]); every connection has `secure_delete` on (a cleared api key is
//! overwritten, not left in a free page) and keeps its temporary tables in memory (nothing in
//! TMPDIR); after acknowledgements clear api keys, a `wal_checkpoint(TRUNCATE)` takes the old
//! pages out of the WAL too ([`sealing`]). Api keys are sealed to the sync server once it has
//! given its key ([`crate::seal`]).
//!
//! The sync side's tables each have their module: [`outbox`] (the queue for the server),
//! [`sync_config`], [`leases`] (id numbers leased from the server) and [`server_status`];
//! [`schema`] refuses a database written by a newer station before anything touches it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use rusqlite_migration::{Migrations, M};

use crate::error::{CoreError, Result};
use crate::private_fs;

pub mod leases;
pub mod outbox;
pub mod schema;
pub mod sealing;
pub mod server_status;
pub mod sync_config;
#[cfg(test)]
pub(crate) mod test_support;
pub mod training;

/// How long a connection waits for another process's write lock before reporting busy.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the busy handler sleeps between two tries at a lock another connection holds.
const BUSY_RETRY: Duration = Duration::from_millis(1);

/// SQLite's busy handler: `true` retries. `attempts` counts the retries of this wait so far.
fn retry_busy(attempts: i32) -> bool {
    let waited = BUSY_RETRY * u32::try_from(attempts).unwrap_or(u32::MAX);
    if waited >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(BUSY_RETRY);
    true
}
/// Environment variable that overrides the default database path.
pub const DB_ENV: &str = "STATION_DB";
/// File name of the database in the OS data directory.
pub const DB_FILE_NAME: &str = "station.sqlite3";

/// The migrations, embedded at compile time; append-only.
pub const MIGRATION_SQL: &[&str] = &[
    include_str!("../../../../migrations/0001_init.sql"),
    include_str!("../../../../migrations/0002_sync.sql"),
    include_str!("../../../../migrations/0003_clear_stale_flash_errors.sql"),
    include_str!("../../../../migrations/0004_sealed_api_keys.sql"),
    include_str!("../../../../migrations/0005_proof_verifiers.sql"),
    include_str!("../../../../migrations/0006_device_type_drivers.sql"),
    include_str!("../../../../migrations/0007_batch_lifecycle.sql"),
    include_str!("../../../../migrations/0008_shifts_operators_unit_serial.sql"),
    include_str!("../../../../migrations/0009_label_templates.sql"),
];

pub fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATION_SQL.iter().map(|sql| M::up(sql)).collect())
}

/// The default database path: `$STATION_DB`, else the OS data directory.
pub fn default_db_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(DB_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let dirs = directories::ProjectDirs::from("io", "DeviceHub", "Station").ok_or_else(|| {
        CoreError::invalid(
            "database path",
            "no home directory to keep the station database in",
            format!("set {DB_ENV} to the path of the station database"),
        )
    })?;
    Ok(dirs.data_dir().join(DB_FILE_NAME))
}

/// The station's own data folder (where the database lives unless `STATION_DB` says otherwise).
fn data_folder() -> Option<PathBuf> {
    directories::ProjectDirs::from("io", "DeviceHub", "Station").map(|d| d.data_dir().to_owned())
}

/// Before SQLite opens `path`: its folder exists (new folders 0700; the station's own data
/// folder made 0700 if an older station left it open), the database file exists 0600, and
/// companions an older station left readable are made 0600. SQLite gives the `-wal` and `-shm`
/// it creates the database file's mode.
fn make_private(path: &Path) -> Result<()> {
    let io = |action: &'static str, at: &Path| {
        let at = at.to_path_buf();
        move |source| CoreError::Io {
            action,
            path: at,
            source,
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_fs::create_private_dir_all(dir).map_err(io("create the database folder", dir))?;
        if data_folder().is_some_and(|own| own == dir) {
            private_fs::restrict_dir(dir).map_err(io("make private the data folder", dir))?;
        }
    }
    if is_special_path(path) {
        return Ok(());
    }
    match private_fs::ensure_private_file(path) {
        Ok(()) => {}
        // Someone else's file this user may still use: SQLite says what it can do with it.
        Err(e) if path.exists() => {
            tracing::warn!(path = %path.display(), error = %e, "cannot make the database private");
        }
        Err(e) => return Err(io("create the database file", path)(e)),
    }
    for suffix in ["-wal", "-shm", "-journal"] {
        let companion = PathBuf::from(format!("{}{suffix}", path.display()));
        if let Err(e) = private_fs::restrict_file_if_present(&companion) {
            tracing::warn!(path = %companion.display(), error = %e, "cannot make private");
        }
    }
    Ok(())
}

/// `:memory:` and `file:` URIs are SQLite's to interpret.
fn is_special_path(path: &Path) -> bool {
    let text = path.to_string_lossy();
    text == ":memory:" || text.starts_with("file:")
}

/// The collation that orders ids as people count: runs of digits by their value, so
/// `unit-136` < `unit-1359` < `unit-1360` and `farm-ws-999` < `farm-ws-1000`.
pub const NATURAL_COLLATION: &str = "natural_order";

/// Natural order of two strings: digit runs compare by value (then by length, so `007` and `7`
/// differ stably), everything else byte by byte.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let run = |s: &[u8], mut k: usize| {
                let start = k;
                while k < s.len() && s[k].is_ascii_digit() {
                    k += 1;
                }
                (start, k)
            };
            let ((sa, ea), (sb, eb)) = (run(a, i), run(b, j));
            let strip = |s: &'_ [u8]| {
                let z = s.iter().take_while(|c| **c == b'0').count();
                s[z..].to_vec()
            };
            let (na, nb) = (strip(&a[sa..ea]), strip(&b[sb..eb]));
            let by_value = na.len().cmp(&nb.len()).then_with(|| na.cmp(&nb));
            let by_width = (ea - sa).cmp(&(eb - sb));
            match by_value.then(by_width) {
                Ordering::Equal => {}
                other => return other,
            }
            (i, j) = (ea, eb);
        } else {
            match a[i].cmp(&b[j]) {
                Ordering::Equal => {}
                other => return other,
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// The store's key-value tables (`key TEXT PRIMARY KEY, value TEXT`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyValueTable {
    /// The station's and the app's settings.
    Settings,
    /// How to reach the sync server (the token included: never printed).
    SyncConfig,
    /// What the sync worker remembers between runs.
    SyncRuntime,
}

impl KeyValueTable {
    fn name(self) -> &'static str {
        match self {
            KeyValueTable::Settings => "settings",
            KeyValueTable::SyncConfig => "sync_config",
            KeyValueTable::SyncRuntime => "sync_runtime",
        }
    }
}

/// One open station database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Credential sets made ahead of time (see `rotation`); none: every flash hashes its own.
    pub(crate) credential_source: Option<std::sync::Arc<dyn crate::credentials::CredentialSource>>,
    /// The order parallel flashes take their device in (a gang); none: as they come.
    pub(crate) issue_order: Option<std::sync::Arc<dyn crate::rotation::IssueOrder>>,
}

impl Store {
    /// Open (creating if needed) the database at `path` and bring its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        make_private(&path)?;
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(|e| CoreError::from_sqlite(&path, e))?;
        let mut store = Store {
            conn,
            path,
            credential_source: None,
            issue_order: None,
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    fn configure(&mut self) -> Result<()> {
        let path = self.path.clone();
        let sql = |e| CoreError::from_sqlite(&path, e);
        // SQLite's own busy handler backs off in steps of up to 100 ms, so a gang of eight ports
        // queueing for the write lock waits far longer than the lock is held (a few ms): retry
        // every millisecond instead, up to the same BUSY_TIMEOUT.
        self.conn.busy_handler(Some(retry_busy)).map_err(sql)?;
        self.conn
            .create_collation(NATURAL_COLLATION, natural_cmp)
            .map_err(sql)?;
        // Reading the header first tells a damaged file apart before any pragma writes.
        self.conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
            .map_err(sql)?;
        // Before any pragma writes: a newer station's file is refused untouched.
        schema::refuse_newer(&self.conn, &self.path)?;
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(sql)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(mode, "database is not in WAL mode");
        }
        self.conn
            .execute_batch(
                "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;
                 PRAGMA secure_delete = ON; PRAGMA temp_store = MEMORY;",
            )
            .map_err(sql)?;
        Ok(())
    }

    fn migrate(&mut self) -> Result<()> {
        let path = self.path.clone();
        migrations().to_latest(&mut self.conn).map_err(|e| match e {
            rusqlite_migration::Error::RusqliteError { err, .. } => {
                CoreError::from_sqlite(&path, err)
            }
            other => CoreError::Internal(format!("database migration failed: {other}")),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this connection overwrites deleted content (`PRAGMA secure_delete`).
    pub fn secure_delete_on(&self) -> Result<bool> {
        self.conn
            .query_row("PRAGMA secure_delete", [], |r| r.get::<_, i64>(0))
            .map(|v| v == 1)
            .map_err(|e| self.sql_err(e))
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn sql_err(&self, e: rusqlite::Error) -> CoreError {
        CoreError::from_sqlite(&self.path, e)
    }

    /// Run `f` in one IMMEDIATE transaction: all of it lands, or none of it.
    pub(crate) fn write<T>(&mut self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| CoreError::from_sqlite(&path, e))?;
        let out = f(&tx).map_err(|e| e.with_db_path(&path))?;
        tx.commit().map_err(|e| CoreError::from_sqlite(&path, e))?;
        Ok(out)
    }

    /// Set (`Some`) or remove (`None`) entries of a key-value table, all in one transaction.
    pub(crate) fn set_key_values(
        &mut self,
        table: KeyValueTable,
        entries: &[(&str, Option<&str>)],
    ) -> Result<()> {
        let table = table.name();
        self.write(|tx| {
            for (key, value) in entries {
                match value {
                    Some(v) => tx.execute(
                        &format!(
                            "INSERT INTO {table}(key, value) VALUES (?1, ?2)
                             ON CONFLICT(key) DO UPDATE SET value = excluded.value"
                        ),
                        [key, v],
                    )?,
                    None => tx.execute(&format!("DELETE FROM {table} WHERE key = ?1"), [key])?,
                };
            }
            Ok(())
        })
    }

    /// Every entry of a key-value table.
    pub(crate) fn key_values(&self, table: KeyValueTable) -> Result<BTreeMap<String, String>> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT key, value FROM {}", table.name()))
            .map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.sql_err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sql_err(e))
    }
}

impl From<rusqlite::Error> for CoreError {
    /// Inside a transaction closure the path is not at hand: [`Store::write`] puts it back.
    fn from(e: rusqlite::Error) -> Self {
        CoreError::from_sqlite(Path::new("(station database)"), e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        migrations().validate().expect("migrations validate");
    }

    #[test]
    fn natural_order_counts_digit_runs_by_value() {
        let mut ids = vec![
            "unit-1360",
            "unit-136",
            "unit-1359",
            "unit-10000",
            "unit-9999",
            "unit-001",
            "unit-2",
            "unit-",
            "unit-a",
        ];
        ids.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            ids,
            [
                "unit-",
                "unit-001",
                "unit-2",
                "unit-136",
                "unit-1359",
                "unit-1360",
                "unit-9999",
                "unit-10000",
                "unit-a"
            ]
        );
        assert_eq!(
            natural_cmp("a-007", "a-7"),
            std::cmp::Ordering::Greater,
            "stable, not equal"
        );
    }

    #[test]
    fn open_sets_pragmas() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("s.db")).expect("open");
        let c = store.conn();
        let mode: String = c
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("q");
        assert_eq!(mode, "wal");
        let fk: i64 = c
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .expect("q");
        assert_eq!(fk, 1);
        let sync: i64 = c
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .expect("q");
        assert_eq!(sync, 2, "synchronous=FULL");
        assert!(retry_busy(0), "a busy database is waited for");
        let last = i32::try_from((BUSY_TIMEOUT.as_millis() / BUSY_RETRY.as_millis()) as u64)
            .expect("attempts");
        assert!(!retry_busy(last), "for at most BUSY_TIMEOUT");
    }
}
