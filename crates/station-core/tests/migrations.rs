//! A database written by a newer DeviceHub Station is refused with a typed error and left as it
//! was, byte for byte.

use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::Connection;
use station_core::store::schema::supported_version;
use station_core::{CoreError, ErrorCode, Store};

fn open_plain(path: &Path) -> Connection {
    Connection::open(path).expect("open with rusqlite")
}

fn user_version(conn: &Connection) -> i64 {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version")
}

/// Every row of `table`, in rowid order.
fn rows(conn: &Connection, table: &str) -> Vec<Vec<Value>> {
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY rowid"))
        .expect("select");
    let width = stmt.column_count();
    let rows = stmt
        .query_map([], |r| (0..width).map(|i| r.get::<_, Value>(i)).collect())
        .expect("rows");
    rows.collect::<rusqlite::Result<_>>().expect("rows")
}

/// A database stamped newer than this binary, in the journal mode given, with a row in it.
fn newer_database(path: &Path, journal_mode: &str) -> u32 {
    let found = supported_version() + 1;
    let conn = Connection::open(path).expect("create");
    let mode: String = conn
        .query_row(&format!("PRAGMA journal_mode = {journal_mode}"), [], |r| {
            r.get(0)
        })
        .expect("journal mode");
    assert_eq!(mode, journal_mode);
    conn.execute_batch(
        "CREATE TABLE from_the_future (id INTEGER PRIMARY KEY, what TEXT NOT NULL);
         INSERT INTO from_the_future(what) VALUES ('kept as it was');",
    )
    .expect("future schema");
    conn.pragma_update(None, "user_version", found)
        .expect("user_version");
    drop(conn);
    found
}

#[test]
fn database_newer_than_binary_is_a_typed_error_and_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    // "delete": the switch to WAL would rewrite the header; "wal": as a newer station leaves it.
    for journal_mode in ["delete", "wal"] {
        let path = dir.path().join(format!("newer-{journal_mode}.sqlite3"));
        let found = newer_database(&path, journal_mode);
        let bytes_before = std::fs::read(&path).expect("read");

        let err = match Store::open(&path) {
            Ok(_) => panic!("a database from a newer station was opened"),
            Err(e) => e,
        };
        assert_eq!(err.code(), ErrorCode::DatabaseTooNew);
        assert_eq!(err.code().as_str(), "database_too_new");
        match &err {
            CoreError::DatabaseTooNew {
                path: p,
                found: f,
                supported,
            } => {
                assert_eq!(p, &path);
                assert_eq!(*f, found);
                assert_eq!(*supported, supported_version());
            }
            other => panic!("expected DatabaseTooNew, got {other:?}"),
        }
        let message = err.to_string();
        assert!(message.contains("newer DeviceHub Station"), "{message}");
        assert!(!message.contains("internal"), "{message}");
        let help = err.help();
        assert!(help.contains("update this station"), "{help}");
        assert!(help.contains("nothing was changed"), "{help}");

        assert_eq!(
            std::fs::read(&path).expect("read"),
            bytes_before,
            "{journal_mode}: the refused open changed the file"
        );
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        assert!(!wal.exists(), "{journal_mode}: a WAL was left beside it");
        let conn = open_plain(&path);
        assert_eq!(user_version(&conn), i64::from(found));
        assert_eq!(
            rows(&conn, "from_the_future"),
            [vec![
                Value::Integer(1),
                Value::Text("kept as it was".into())
            ]]
        );
    }
}
