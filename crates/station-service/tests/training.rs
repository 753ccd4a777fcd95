//! Finding 1 of issue 10: the app's simulated units kept plaintext passwords and api keys in
//! files in its data folder, and devices flashed to them were real records that synced to the
//! production server. Now simulated units flash only in training mode, into a training database
//! that can never sync, and keep their flash in memory.

use std::path::Path;

use station_core::settings::key;
use station_core::store::sync_config::config_key;
use station_core::{ErrorCode, Store};
use station_protocol::Key;
use station_service::training::{self, Mode};
use station_service::{FlashRequest, Flasher, FlasherOptions};
use station_sync::{ConfigUpdate, StationToken, SyncConfig};

mod common;

const TOKEN: &str = "dhs_7_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";

fn new_device() -> FlashRequest {
    FlashRequest::NewDevice {
        device_type: "WeatherStation".into(),
        prefix: "t-".into(),
        overwrite_foreign: false,
    }
}

/// The station's own database, with sync configured (as on a line).
fn production(dir: &Path) -> std::path::PathBuf {
    let db = dir.join("station.sqlite3");
    common::station_database(&db);
    let mut store = Store::open(&db).expect("open");
    // No Secret Service runs here: the token comes from the environment (`env` store).
    std::env::set_var(station_sync::credential_store::STORE_ENV, "env");
    std::env::set_var(station_sync::credential_store::TOKEN_ENV, TOKEN);
    SyncConfig::update(
        &mut store,
        ConfigUpdate {
            server_url: Some("https://devicehub.factory.example/station-sync/".into()),
            token: Some(StationToken::parse(TOKEN).expect("token")),
            ..ConfigUpdate::default()
        },
    )
    .expect("sync on for production");
    db
}

fn every_file(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir") {
        let path = e.expect("entry").path();
        if path.is_dir() {
            out.extend(every_file(&path));
        } else {
            let bytes = std::fs::read(&path).expect("read");
            out.push((path, bytes));
        }
    }
    out
}

fn hits(haystack: &[u8], needle: &str) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle.as_bytes())
        .count()
}

#[test]
fn finding_1_training_flashes_never_reach_the_production_database_nor_sync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prod_db = production(dir.path());

    let mut store = training::open(&prod_db, Mode::Training).expect("training database");
    assert_eq!(
        store.path(),
        training::training_db_path(&prod_db).expect("path")
    );
    assert!(store.is_training().expect("mark"));
    assert_eq!(
        store.list_types().expect("types").len(),
        1,
        "the line's types are there to train on"
    );
    store
        .set_setting(key::HASH_ALGORITHM, common::FAST_HASH)
        .expect("hash");
    let flasher = Flasher::new(
        store.path(),
        FlasherOptions {
            mode: Mode::Training,
            ..FlasherOptions::default()
        },
    );
    let reports = flasher
        .run_ports(
            &["sim:1".into(), "sim:2".into()],
            &new_device(),
            &station_service::NoSink,
        )
        .expect("gang");
    let mut secrets = Vec::new();
    for r in reports {
        let passed = r.result.expect("a training flash passes");
        let unit = flasher
            .bench()
            .expect("bench")
            .unit_contents(&passed.outcome.hardware_id)
            .expect("the unit holds its config");
        secrets.push(unit.get_str(Key::MqttPassword).to_owned());
        secrets.push(unit.get_str(Key::ApiKey).to_owned());
    }
    assert_eq!(
        store.list_devices(&Default::default()).expect("list").len(),
        2
    );

    // The production database never holds them, and has nothing new to send.
    let prod = Store::open(&prod_db).expect("production");
    assert!(prod
        .list_devices(&Default::default())
        .expect("list")
        .is_empty());
    assert_eq!(prod.outbox_counts().expect("outbox").pending, 0);

    // Sync can never be configured on the training database: not through station-sync ...
    let err = SyncConfig::update(
        &mut store,
        ConfigUpdate {
            server_url: Some("https://devicehub.factory.example/station-sync/".into()),
            token: Some(StationToken::parse(TOKEN).expect("token")),
            ..ConfigUpdate::default()
        },
    )
    .expect_err("sync on a training database");
    assert!(err.to_string().contains("training"), "{err}");
    let err = store
        .set_sync_config(&[(config_key::SERVER_URL, Some("https://x.example/"))])
        .expect_err("nor through the store");
    assert_eq!(err.code(), ErrorCode::Refused);
    // ... so everything that would send reads sync as off.
    assert!(SyncConfig::load(&store).expect("load").is_none());
    assert!(store.sync_config().expect("config").is_empty());

    // Nothing in the data folder holds a unit's password, nor any file an api key but the
    // training database (api keys wait in a database for the server: finding 2's business).
    drop(flasher);
    drop(store);
    drop(prod);
    let files = every_file(dir.path());
    for (path, bytes) in &files {
        for (i, secret) in secrets.iter().enumerate() {
            let is_api_key = i % 2 == 1;
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if is_api_key && name.starts_with(training::TRAINING_DB_FILE) {
                continue;
            }
            assert_eq!(hits(bytes, secret), 0, "{} holds a secret", path.display());
        }
    }
    assert!(
        files.iter().all(|(p, _)| p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.contains(".sqlite3"))),
        "only databases in the data folder: {files:?}",
        files = files.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
}

#[test]
fn finding_1_a_simulated_port_outside_training_is_refused_and_records_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prod_db = production(dir.path());
    let flasher = Flasher::new(&prod_db, FlasherOptions::default());
    let report = flasher
        .run_ports(&["sim:1".into()], &new_device(), &station_service::NoSink)
        .expect("run")
        .remove(0);
    let err = report.result.expect_err("refused").error;
    assert_eq!(err.code(), ErrorCode::Refused);
    assert!(err.to_string().contains("training mode"), "{err}");
    let prod = Store::open(&prod_db).expect("production");
    assert!(prod
        .list_devices(&Default::default())
        .expect("list")
        .is_empty());
    assert!(!training::training_db_path(&prod_db).expect("path").exists());
}

#[test]
fn a_training_database_is_never_opened_as_the_station_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prod_db = production(dir.path());
    training::open(&prod_db, Mode::Training).expect("training");
    let training_db = training::training_db_path(&prod_db).expect("path");
    let other = dir.path().join("other.sqlite3");
    std::fs::copy(&training_db, &other).expect("copy");
    let Err(err) = training::open(&other, Mode::Production) else {
        panic!("a copy of the training database opened as the station's");
    };
    assert_eq!(err.code(), ErrorCode::Refused);
    // And a database that syncs is never marked for training.
    let mut prod = Store::open(&prod_db).expect("production");
    assert!(prod.mark_training().is_err());
    assert!(!prod.is_training().expect("mark"));
}

#[test]
fn the_app_mode_is_kept_in_the_station_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prod_db = production(dir.path());
    let prod = Store::open(&prod_db).expect("open");
    assert_eq!(training::app_mode(&prod).expect("mode"), Mode::Production);
    training::set_app_mode(&prod_db, Mode::Training).expect("set");
    assert_eq!(training::app_mode(&prod).expect("mode"), Mode::Training);
}
