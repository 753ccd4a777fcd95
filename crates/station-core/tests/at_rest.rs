//! Nothing usable at rest (issue 10, finding 2): the station's files are private whatever the
//! umask, a cleared api key leaves no trace in the database, its WAL or its shared-memory file,
//! and exports go through no predictable temporary file. Real SQLite files in a temporary
//! folder; every check reads the files' bytes as someone who copied the folder would.

mod common;

use std::path::{Path, PathBuf};

use station_core::devices::DeviceFilter;
use station_core::export::{self, ExportFormat};
use station_core::private_fs::mode_of;
use station_core::seal::SealKey;
use station_core::store::outbox::Ack;
use station_core::{BatchRequest, Store};

/// The database file and the companions SQLite keeps beside it.
fn db_files(db: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| PathBuf::from(format!("{}{suffix}", db.display())))
        .collect()
}

/// Every place in the database's files where `needle` occurs, as `file@offset`.
fn hits(db: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for file in db_files(db) {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        let n = needle.as_bytes();
        for (at, window) in bytes.windows(n.len()).enumerate() {
            if window == n {
                found.push(format!("{}@{at}", file.display()));
            }
        }
    }
    found
}

fn acknowledge_everything(store: &mut Store) {
    let records = store.outbox_next_batch(1000, false).expect("batch");
    let acks: Vec<Ack> = records
        .iter()
        .map(|r| Ack {
            device_pk: r.device_pk,
            revision: r.revision,
            generation: r.generation,
        })
        .collect();
    store.outbox_settle(&acks, &[]).expect("settle");
}

fn provision(t: &mut common::TestStore, count: u32) -> Vec<String> {
    t.store
        .create_batch(
            &BatchRequest {
                device_type: "WeatherStation".into(),
                prefix: "farm-".into(),
                count,
                with_credentials: true,
                lot: None,
                work_order: None,
            },
            &t.actor,
        )
        .expect("batch")
        .devices
        .into_iter()
        .map(|d| {
            d.credentials
                .expect("credentials")
                .api_key
                .expose()
                .to_owned()
        })
        .collect()
}

#[cfg(unix)]
#[test]
fn the_data_folder_database_wal_and_shm_are_private() {
    let root = tempfile::tempdir().expect("tempdir");
    let folder = root.path().join("data").join("station");
    let db = folder.join("station.sqlite3");
    let mut store = Store::open(&db).expect("open");
    store.set_setting("station_id", "line-1").expect("write");
    for dir in [root.path().join("data"), folder.clone()] {
        assert_eq!(
            mode_of(&dir).expect("mode"),
            Some(0o700),
            "{}",
            dir.display()
        );
    }
    for file in db_files(&db) {
        assert!(file.exists(), "{} exists in WAL mode", file.display());
        assert_eq!(
            mode_of(&file).expect("mode"),
            Some(0o600),
            "{}",
            file.display()
        );
    }
}

/// A database an older station left 0644 (and its companions) is made private on open.
#[cfg(unix)]
#[test]
fn files_an_older_station_left_readable_are_made_private_on_open() {
    use std::os::unix::fs::PermissionsExt;
    let t = common::store();
    let db = t.store.path().to_path_buf();
    let folder = t.dir.path().join("old");
    std::fs::create_dir(&folder).expect("folder");
    let old = folder.join("station.sqlite3");
    drop(t.store);
    for file in db_files(&db) {
        if file.exists() {
            let to = PathBuf::from(
                file.display()
                    .to_string()
                    .replace(&db.display().to_string(), &old.display().to_string()),
            );
            std::fs::copy(&file, &to).expect("copy");
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        }
    }
    let _store = Store::open(&old).expect("open");
    for file in db_files(&old) {
        if file.exists() {
            assert_eq!(
                mode_of(&file).expect("mode"),
                Some(0o600),
                "{}",
                file.display()
            );
        }
    }
}

/// 431 crash trials left api keys of discarded generations in free database pages: with
/// `secure_delete` off, clearing a key only unlinks it. After the server acknowledges a
/// record and the key is cleared, no byte of the database, its WAL or its SHM holds it.
#[test]
fn a_cleared_api_key_is_in_no_byte_of_the_db_wal_or_shm() {
    let mut t = common::store();
    let keys = provision(&mut t, 3);
    let db = t.store.path().to_path_buf();
    assert!(
        keys.iter().all(|k| !hits(&db, k).is_empty()),
        "the scan finds keys that are held"
    );
    acknowledge_everything(&mut t.store);
    assert_eq!(t.store.plaintext_api_keys_held().expect("count"), 0);
    for key in &keys {
        assert_eq!(hits(&db, key), Vec::<String>::new(), "a cleared api key");
    }
    // And after the store is closed (what a copied folder holds).
    drop(t.store);
    for key in &keys {
        assert_eq!(hits(&db, key), Vec::<String>::new(), "a cleared api key");
    }
}

#[test]
fn every_connection_has_secure_delete_on() {
    let t = common::store();
    assert!(t.store.secure_delete_on().expect("pragma"));
}

/// Exports were written through `.<name>.<pid>.tmp` with `File::create`: a link planted at that
/// name sent the export (and its device list) wherever it pointed.
#[cfg(unix)]
#[test]
fn an_export_never_follows_a_planted_temp_file_and_is_private() {
    let mut t = common::store();
    provision(&mut t, 2);
    let out = t.dir.path().join("out.csv");
    let victim = t.dir.path().join("victim.txt");
    std::fs::write(&victim, "untouched").expect("victim");
    let predictable = t
        .dir
        .path()
        .join(format!(".out.csv.{}.tmp", std::process::id()));
    std::os::unix::fs::symlink(&victim, &predictable).expect("plant a link");
    let rows = export::export_to_file(&t.store, &DeviceFilter::default(), ExportFormat::Csv, &out)
        .expect("export");
    assert_eq!(rows, 2);
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "untouched"
    );
    let meta = std::fs::symlink_metadata(&out).expect("export");
    assert!(meta.is_file(), "the export is a file, not a planted link");
    assert_eq!(mode_of(&out).expect("mode"), Some(0o600));
    assert!(std::fs::read_to_string(&out)
        .expect("read")
        .starts_with("device_id,"));
    // Replacing an export keeps it private and leaves no temporary file behind.
    export::export_to_file(&t.store, &DeviceFilter::default(), ExportFormat::Json, &out)
        .expect("export again");
    assert_eq!(mode_of(&out).expect("mode"), Some(0o600));
    let left: Vec<_> = std::fs::read_dir(t.dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") && n.as_str() != predictable_name(&predictable))
        .collect();
    assert_eq!(left, Vec::<String>::new());
}

fn predictable_name(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

/// A server key pair as `manage.py station_sync_sealkey` makes one (the secret half stays in
/// the test, standing in for the server).
fn server_key_pair() -> (crypto_box::SecretKey, SealKey) {
    use base64::Engine as _;
    let secret = crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng);
    let public = base64::engine::general_purpose::STANDARD.encode(secret.public_key().as_bytes());
    (
        secret,
        SealKey::from_base64(&public, None).expect("seal key"),
    )
}

/// What the server would open: the sealed key of every waiting record.
fn open_sealed_records(
    store: &Store,
    secret: &crypto_box::SecretKey,
    seal: &SealKey,
) -> Vec<String> {
    use base64::Engine as _;
    store
        .outbox_next_batch(1000, false)
        .expect("batch")
        .into_iter()
        .map(|r| {
            let json = serde_json::to_value(&r).expect("json");
            assert!(
                json.get("api_key").is_none(),
                "a sealed record never carries api_key"
            );
            assert_eq!(r.seal_key_fingerprint.as_deref(), Some(seal.fingerprint()));
            let boxed = base64::engine::general_purpose::STANDARD
                .decode(r.api_key_sealed.as_deref().expect("sealed"))
                .expect("b64");
            let key = String::from_utf8(secret.unseal(&boxed).expect("the server opens it"))
                .expect("ascii");
            assert_eq!(
                station_core::credentials::api_key_fingerprint(&station_core::Secret::new(
                    key.clone()
                )),
                r.api_key_fingerprint,
                "the opened key matches its fingerprint"
            );
            key
        })
        .collect()
}

/// From the moment sync has a seal key, no api key is readable from the station's files: keys
/// that waited in plaintext are sealed (and leave no trace), and every key issued afterwards
/// (a batch, `rotate_now`, a flash's pending generation, its promotion) is sealed before it
/// touches the database. The server opens every one.
#[test]
fn api_keys_are_sealed_at_rest_once_sync_has_the_servers_key() {
    let mut t = common::store();
    let waiting = provision(&mut t, 2);
    let db = t.store.path().to_path_buf();
    assert_eq!(t.store.plaintext_api_keys_held().expect("count"), 2);

    let (secret, seal) = server_key_pair();
    assert_eq!(t.store.adopt_seal_key(&seal).expect("adopt"), 2);
    assert_eq!(t.store.seal_key().expect("key"), Some(seal.clone()));
    assert_eq!(t.store.plaintext_api_keys_held().expect("count"), 0);
    assert_eq!(t.store.sealed_api_keys_held().expect("count"), 2);
    for key in &waiting {
        assert_eq!(
            hits(&db, key),
            Vec::<String>::new(),
            "a key sealed on adoption"
        );
    }

    let mut issued = waiting.clone();
    let later = provision(&mut t, 1);
    let rotated = t
        .store
        .rotate_now("farm-weatherstation-001", &t.actor)
        .expect("rotate")
        .api_key
        .expose()
        .to_owned();
    let flash = t
        .store
        .begin_flash(
            &station_core::FlashTarget::Device("farm-weatherstation-002".into()),
            "E661A4D1",
            &t.actor,
        )
        .expect("begin flash");
    let pending = flash.api_key.expose().to_owned();
    for key in later.iter().chain([&rotated, &pending]) {
        assert_eq!(
            hits(&db, key),
            Vec::<String>::new(),
            "a key issued after adoption"
        );
    }
    t.store
        .confirm_flash(
            &flash.device_id,
            flash.generation,
            "E661A4D1",
            "1.0",
            &t.actor,
        )
        .expect("confirm");
    assert_eq!(hits(&db, &pending), Vec::<String>::new(), "a promoted key");
    assert_eq!(t.store.plaintext_api_keys_held().expect("count"), 0);

    let mut opened = open_sealed_records(&t.store, &secret, &seal);
    opened.sort();
    issued.retain(|k| k != &waiting[0] && k != &waiting[1]);
    issued.extend(later);
    issued.extend([rotated, pending]);
    issued.sort();
    assert_eq!(opened, issued, "what waits is each device's key in force");

    acknowledge_everything(&mut t.store);
    assert_eq!(t.store.sealed_api_keys_held().expect("count"), 0);
    drop(t.store);
    for key in &issued {
        assert_eq!(hits(&db, key), Vec::<String>::new());
    }
}

/// A flash that fails drops its pending key, sealed or not; the device keeps what it had.
#[test]
fn a_failed_flash_drops_its_sealed_pending_key() {
    let mut t = common::store();
    provision(&mut t, 1);
    let (_secret, seal) = server_key_pair();
    t.store.adopt_seal_key(&seal).expect("adopt");
    let flash = t
        .store
        .begin_flash(
            &station_core::FlashTarget::Device("farm-weatherstation-001".into()),
            "E661A4D1",
            &t.actor,
        )
        .expect("begin flash");
    assert_eq!(t.store.sealed_api_keys_held().expect("count"), 2);
    t.store
        .fail_flash(&flash.device_id, flash.generation, "unplugged", &t.actor)
        .expect("fail");
    assert_eq!(t.store.sealed_api_keys_held().expect("count"), 1);
    assert_eq!(t.store.plaintext_api_keys_held().expect("count"), 0);
}
