//! Migrations tested as upgrades, the way mozilla application-services' `MigratedDatabaseFile`
//! does: a station database made by every earlier schema, with rows in every table, is opened by
//! today's [`Store::open`] and must end with the schema of a freshly created database, its rows
//! intact but for the data fixes later migrations are meant to make ([`intended_changes`]), and
//! the store working on it. A database from a newer station is refused untouched.
//!
//! The fixtures (`tests/fixtures/schema-vN.sqlite3`) are committed, so an upgrade is tested from
//! the file an old station really wrote, not from what today's code thinks it wrote. They are
//! made by [`build_fixture`] from the old migrations and `schema-vN.rows.sql`
//! (`tests/fixtures/regenerate.sh`), and a test checks the committed files still match that
//! generator. The match is on content (schema version, schema, every row), not on bytes: the
//! file header records the SQLite library that wrote it, so an upgraded SQLite would change the
//! bytes of an identical database.

use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::Connection;
use station_core::devices::DeviceFilter;
use station_core::store::leases::IdLease;
use station_core::store::schema::supported_version;
use station_core::store::MIGRATION_SQL;
use station_core::{Actor, BatchRequest, CoreError, ErrorCode, FlashState, Store, SyncState};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture_path(version: u32) -> PathBuf {
    fixtures_dir().join(format!("schema-v{version}.sqlite3"))
}

/// Every schema version before today's: each must have a committed fixture.
fn earlier_versions() -> std::ops::Range<u32> {
    1..supported_version()
}

/// Make the fixture for schema `version` at `path`: that version's migrations as they were
/// released, then its rows. Small pages keep the committed file a few KiB.
fn build_fixture(version: u32, path: &Path) {
    let rows_path = fixtures_dir().join(format!("schema-v{version}.rows.sql"));
    let rows = std::fs::read_to_string(&rows_path)
        .unwrap_or_else(|e| panic!("{}: {e}", rows_path.display()));
    let _ = std::fs::remove_file(path);
    let conn = Connection::open(path).expect("create fixture");
    conn.execute_batch("PRAGMA page_size = 512;")
        .expect("page size");
    for sql in &MIGRATION_SQL[..version as usize] {
        conn.execute_batch(sql).expect("old migration");
    }
    conn.execute_batch(&rows).expect("fixture rows");
    conn.pragma_update(None, "user_version", version)
        .expect("user_version");
    conn.execute_batch("VACUUM;").expect("vacuum");
}

/// A copy of the committed fixture in a temporary folder: the test never writes the original.
fn copy_of_fixture(version: u32, dir: &Path) -> PathBuf {
    let copy = dir.join(format!("upgraded-v{version}.sqlite3"));
    std::fs::copy(fixture_path(version), &copy).unwrap_or_else(|e| {
        panic!(
            "no fixture for schema version {version} ({}): {e}; write schema-v{version}.rows.sql \
             and run tests/fixtures/regenerate.sh",
            fixture_path(version).display()
        )
    });
    copy
}

fn open_plain(path: &Path) -> Connection {
    Connection::open(path).expect("open with rusqlite")
}

fn user_version(conn: &Connection) -> i64 {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version")
}

/// The schema as (type, name, table, SQL with whitespace runs made one space), without root
/// pages, which depend on the order pages were allocated.
fn schema(conn: &Connection) -> Vec<(String, String, String, Option<String>)> {
    let mut stmt = conn
        .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
        .expect("schema");
    let rows = stmt
        .query_map([], |r| {
            let sql: Option<String> = r.get(3)?;
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                sql.map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")),
            ))
        })
        .expect("schema rows");
    rows.collect::<rusqlite::Result<_>>().expect("schema")
}

fn tables(conn: &Connection) -> Vec<String> {
    schema(conn)
        .into_iter()
        .filter(|(kind, name, ..)| kind == "table" && !name.starts_with("sqlite_"))
        .map(|(_, name, ..)| name)
        .collect()
}

/// The column names of `table`, in order.
fn columns(conn: &Connection, table: &str) -> Vec<String> {
    let stmt = conn
        .prepare(&format!("SELECT * FROM \"{table}\""))
        .expect("select");
    stmt.column_names().into_iter().map(String::from).collect()
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

/// Every table's rows, by table name.
fn all_rows(conn: &Connection) -> Vec<(String, Vec<Vec<Value>>)> {
    tables(conn)
        .into_iter()
        .map(|t| {
            let r = rows(conn, &t);
            (t, r)
        })
        .collect()
}

fn fresh_schema(dir: &Path) -> Vec<(String, String, String, Option<String>)> {
    let path = dir.join("fresh.sqlite3");
    drop(Store::open(&path).expect("fresh store"));
    schema(&open_plain(&path))
}

/// What each fixture holds that a person relies on after the upgrade, by schema version.
struct FixtureFacts {
    device_ids: &'static [&'static str],
    /// The event kinds of farm-weatherstation-001, oldest first.
    history: &'static [&'static str],
    /// The ids the next batch of two gets.
    next_ids: [&'static str; 2],
    /// The id leases left after that batch.
    leases_after: Vec<IdLease>,
    /// Whether the station syncs with a server.
    synced: bool,
}

fn fixture_facts(version: u32) -> FixtureFacts {
    match version {
        1 => FixtureFacts {
            device_ids: &["farm-weatherstation-001", "farm-weatherstation-002"],
            history: &["created", "credentials_issued", "flashed"],
            next_ids: ["farm-weatherstation-003", "farm-weatherstation-004"],
            leases_after: Vec::new(),
            synced: false,
        },
        2 => FixtureFacts {
            device_ids: &[
                "farm-weatherstation-001",
                "farm-weatherstation-002",
                "farm-weatherstation-003",
            ],
            history: &[
                "created",
                "credentials_issued",
                "flashed",
                "credentials_issued",
                "flash_failed",
            ],
            // Taken from the leased block 4..10, which the batch moves on.
            next_ids: ["farm-weatherstation-004", "farm-weatherstation-005"],
            leases_after: vec![IdLease {
                device_type: "WeatherStation".into(),
                prefix: "farm-".into(),
                next_number: 6,
                end_number: 11,
            }],
            synced: true,
        },
        // The v2 station's rows as a v3 station holds them.
        3 => FixtureFacts { ..fixture_facts(2) },
        // The v3 station with a seal key and one sealed api key.
        4 => fixture_facts(3),
        // The v4 rows under the v5 schema, and one proof verifier (0005).
        5 => fixture_facts(4),
        // The v5 rows under the v6 schema, and a second type with the nvs driver (0006).
        6 => fixture_facts(5),
        // The v6 rows under the v7 schema, batch 1 with a lot and a work order (0007).
        7 => fixture_facts(6),
        // The v7 rows under the v8 schema, an ended shift and a unit serial (0008).
        8 => fixture_facts(7),
        _ => panic!("no facts for the schema-v{version} fixture: add them to fixture_facts"),
    }
}

/// What a person relies on after an upgrade: the old devices, their history and their queued
/// sync are there, and the station goes on making devices after them (from its leased block
/// when it syncs).
fn check_store_works(store: &mut Store, version: u32) {
    let facts = fixture_facts(version);
    let ids: Vec<String> = store
        .list_devices(&DeviceFilter::default())
        .expect("list devices")
        .into_iter()
        .map(|d| d.device_id)
        .collect();
    assert_eq!(ids, facts.device_ids, "v{version}: devices");
    let flashed = store.find_device("farm-weatherstation-001").expect("find");
    assert_eq!(flashed.generation, 1);
    assert_eq!(flashed.flash_state, FlashState::Flashed);
    assert_eq!(flashed.sync_state, SyncState::Pending);
    assert_eq!(flashed.metadata["site"], "north");
    let history = store
        .device_history("farm-weatherstation-001")
        .expect("history");
    let kinds: Vec<&str> = history.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, facts.history, "v{version}: history");

    let queued = store.outbox_next_batch(10, false).expect("outbox");
    assert_eq!(queued.len(), 1, "the pending change is still queued");
    assert_eq!(queued[0].device_id, "farm-weatherstation-001");
    assert_eq!(queued[0].attempts, 2);
    // Readable up to v3; from v4 the fixture's key is sealed to the server.
    assert!(
        queued[0].api_key.is_some() != queued[0].api_key_sealed.is_some(),
        "an unacknowledged key is sent, in one form"
    );
    assert_eq!(queued[0].api_key_sealed.is_some(), version >= 4);
    assert_eq!(store.station_id().expect("station id"), "line-7");
    check_sync_survives(store, version, facts.synced);

    let actor = Actor::new("bob", "line-7").expect("actor");
    let created = store
        .create_batch(
            &BatchRequest {
                device_type: "weather_station".into(),
                prefix: "farm-".into(),
                count: 2,
                with_credentials: true,
                lot: None,
                work_order: None,
            },
            &actor,
        )
        .expect("a batch on the upgraded database");
    let new_ids: Vec<&str> = created
        .devices
        .iter()
        .map(|d| d.device_id.as_str())
        .collect();
    assert_eq!(new_ids, facts.next_ids, "v{version}: the next batch's ids");
    assert_eq!(store.id_leases().expect("leases"), facts.leases_after);
}

/// A syncing station still knows its server (keys only: the token is never printed), what
/// the sync worker last did and what the server said about its devices.
fn check_sync_survives(store: &Store, version: u32, synced: bool) {
    let config = store.sync_config().expect("sync config");
    let runtime = store.sync_runtime().expect("sync runtime");
    let report = store
        .server_status("farm-weatherstation-001")
        .expect("server status");
    if !synced {
        assert!(config.is_empty(), "v{version}: sync is off");
        assert!(runtime.is_empty() && report.is_none());
        return;
    }
    let keys: Vec<&str> = config.keys().map(String::as_str).collect();
    // From v4 the station also holds the server's public seal key.
    let expected: &[&str] = if version >= 4 {
        &[
            "batch_size",
            "seal_key_fingerprint",
            "seal_public_key",
            "server_url",
            "station_number",
            "token",
        ]
    } else {
        &["batch_size", "server_url", "station_number", "token"]
    };
    assert_eq!(keys, expected, "v{version}: sync config");
    assert_eq!(
        runtime.get("server_station").map(String::as_str),
        Some("Line 7 #42")
    );
    let report = report.expect("the server's report on farm-weatherstation-001");
    assert_eq!(
        (report.status.as_str(), report.generation),
        ("provisioning", 0)
    );
}

/// The one change to the old rows each migration after `version` is meant to make, applied
/// to `rows` of `table` (named `columns`). Anything else a migration changes fails the upgrade
/// test: a data fix is added here with the migration that makes it.
fn intended_changes(
    version: u32,
    table: &str,
    columns: &[String],
    mut rows: Vec<Vec<Value>>,
) -> Vec<Vec<Value>> {
    let column = |name: &str| {
        columns
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("{table} has no column {name}"))
    };
    // 0003: a flashed device never carries a flash_error; a failed one keeps its error.
    if version < 3 && table == "devices" {
        let (state, error) = (column("flash_state"), column("flash_error"));
        for row in &mut rows {
            if row[state] == Value::Text("flashed".into()) {
                row[error] = Value::Null;
            }
        }
    }
    // 0004: four new device columns for sealed api keys, NULL for every existing row (no key
    // is sealed by the migration: the store seals waiting keys when sync gives it a seal key).
    if version < 4 && table == "devices" {
        for row in &mut rows {
            row.extend([Value::Null, Value::Null, Value::Null, Value::Null]);
        }
    }
    // 0006: every existing type keeps speaking the station's protocol, with no settings.
    if version < 6 && table == "device_types" {
        for row in &mut rows {
            row.extend([Value::Text("protocol".into()), Value::Text("{}".into())]);
        }
    }
    // 0007: every existing batch is open, with no lot or work order.
    if version < 7 && table == "batches" {
        for row in &mut rows {
            row.extend([
                Value::Null,
                Value::Null,
                Value::Text("open".into()),
                Value::Null,
                Value::Null,
            ]);
        }
    }
    // 0008: a unit serial column, NULL for every existing device; the old settings-kept shift
    // counters (none in the fixtures) become a shift.
    if version < 8 && table == "devices" {
        for row in &mut rows {
            row.push(Value::Null);
        }
    }
    rows
}

#[test]
fn every_earlier_schema_upgrades_to_the_fresh_schema_with_its_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fresh = fresh_schema(dir.path());
    assert!(
        !earlier_versions().is_empty(),
        "today's schema is not the first"
    );
    for version in earlier_versions() {
        let path = copy_of_fixture(version, dir.path());
        let expected: Vec<(String, Vec<Vec<Value>>)> = {
            let conn = open_plain(&path);
            assert_eq!(user_version(&conn), i64::from(version));
            let before = all_rows(&conn);
            for (table, rows) in &before {
                assert!(!rows.is_empty(), "fixture v{version}: no rows in {table}");
            }
            before
                .into_iter()
                .map(|(table, rows)| {
                    let changed = intended_changes(version, &table, &columns(&conn, &table), rows);
                    (table, changed)
                })
                .collect()
        };

        let mut store = Store::open(&path).expect("open an old database");
        {
            let conn = open_plain(&path);
            assert_eq!(
                user_version(&conn),
                i64::from(supported_version()),
                "v{version} migrated to the latest"
            );
            assert_eq!(schema(&conn), fresh, "v{version} upgraded = fresh schema");
            for (table, rows_expected) in &expected {
                assert_eq!(
                    &rows(&conn, table),
                    rows_expected,
                    "v{version}: rows of {table}, changed only as intended_changes says"
                );
            }
        }
        check_store_works(&mut store, version);
    }
}

/// Stations before schema 3 left a refused rotation's error on a device that stayed flashed
/// (crash trials found 25 such devices), so it showed as broken; the upgrade clears that error
/// and keeps a failed device's, and the refusal stays in the device's history.
#[test]
fn a_flashed_device_never_carries_an_old_flash_error_after_upgrade() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = copy_of_fixture(2, dir.path());
    let stale = |conn: &Connection| -> i64 {
        conn.query_row(
            "SELECT count(*) FROM devices WHERE flash_state = 'flashed' AND flash_error IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .expect("count")
    };
    assert_eq!(
        stale(&open_plain(&path)),
        1,
        "the v2 fixture holds a flashed device with an old flash_error"
    );

    let store = Store::open(&path).expect("open the v2 database");
    let flashed = store.find_device("farm-weatherstation-001").expect("find");
    assert_eq!(
        (flashed.flash_state, flashed.generation),
        (FlashState::Flashed, 1)
    );
    assert_eq!(
        flashed.flash_error, None,
        "a flashed device carries an old flash_error after the upgrade"
    );
    let failed = store.find_device("farm-weatherstation-003").expect("find");
    assert_eq!(failed.flash_state, FlashState::Failed);
    assert_eq!(
        failed.flash_error.as_deref(),
        Some("device disconnected during WRITE"),
        "a failed device keeps its flash_error"
    );
    assert_eq!(stale(&open_plain(&path)), 0);

    let history = store
        .device_history("farm-weatherstation-001")
        .expect("history");
    let last = history.last().expect("events");
    assert_eq!(
        (last.kind.as_str(), last.generation, last.detail.as_str()),
        (
            "flash_failed",
            Some(2),
            "device refused COMMIT: STORAGE_FAILED"
        )
    );
}

#[test]
fn committed_schema_fixtures_match_their_generator() {
    let dir = tempfile::tempdir().expect("tempdir");
    for version in earlier_versions() {
        let made = dir.path().join(format!("made-v{version}.sqlite3"));
        build_fixture(version, &made);
        let committed = copy_of_fixture(version, dir.path());
        let (made, committed) = (open_plain(&made), open_plain(&committed));
        assert_eq!(user_version(&made), user_version(&committed));
        assert_eq!(
            schema(&made),
            schema(&committed),
            "schema-v{version}.sqlite3 is stale: run tests/fixtures/regenerate.sh"
        );
        assert_eq!(
            all_rows(&made),
            all_rows(&committed),
            "schema-v{version}.sqlite3 is stale: run tests/fixtures/regenerate.sh"
        );
        let size = std::fs::metadata(fixture_path(version))
            .expect("size")
            .len();
        assert!(
            size <= 32 * 1024,
            "schema-v{version}.sqlite3 is {size} bytes"
        );
    }
}

/// Writes the committed fixtures; run by `tests/fixtures/regenerate.sh`, never by a test run.
#[test]
#[ignore = "writes the committed fixtures: run tests/fixtures/regenerate.sh"]
fn regenerate_schema_fixtures() {
    if std::env::var_os("STATION_REGENERATE_FIXTURES").is_none() {
        eprintln!("set STATION_REGENERATE_FIXTURES=1 (tests/fixtures/regenerate.sh) to write them");
        return;
    }
    for version in earlier_versions() {
        build_fixture(version, &fixture_path(version));
        eprintln!("wrote {}", fixture_path(version).display());
    }
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

/// Issue 14 (migration 0008): the shift counters an older station kept in its settings become
/// the running shift, with its start and counts; nothing counted is lost.
#[test]
fn the_old_settings_kept_shift_counters_become_the_running_shift() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = copy_of_fixture(6, dir.path());
    open_plain(&path)
        .execute(
            "INSERT INTO settings(key, value) VALUES ('app.shift', ?1)",
            [r#"{"started_at":1795939200,"passed":41,"failed":2,"recent_passes":[]}"#],
        )
        .expect("old counters");
    let store = Store::open(&path).expect("upgrade");
    let id = store
        .running_shift_id()
        .expect("query")
        .expect("a running shift");
    let report = store.shift_report(id).expect("report");
    assert_eq!(
        (report.started_at, report.passed, report.failed),
        (1_795_939_200, 41, 2)
    );
    assert_eq!(report.station_id, "line-7");
    assert_eq!(store.setting("app.shift").expect("setting"), None);
}
