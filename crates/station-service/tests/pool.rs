//! The credential pool under real flashes: a real SQLite file, simulated units on real
//! pseudo-terminals, and flashers that keep pools warm. What a worker relies on: a flash takes
//! a set made ahead and the record verifies against what the unit got; no set is issued twice,
//! even by two station processes on one database; a settings change is never outlived by a
//! set made at the old setting; and pooled secrets never reach a disk.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use station_core::credentials::{verify_password, HashAlgorithm};
use station_core::settings::key;
use station_core::{BatchRequest, DeviceFilter, Secret, Store};
use station_devsim::{SimHandle, SimOptions, Simulator};
use station_protocol::Key;
use station_service::{FlashRequest, Flasher, FlasherOptions, JobReport, NoSink};

mod common;
use common::FAST_HASH as FAST;
const FAST_CHANGED: &str = "pbkdf2_sha256:iterations=2000";

struct Station {
    dir: tempfile::TempDir,
    db: PathBuf,
}

impl Station {
    fn new() -> Station {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("data").join("station.sqlite3");
        common::station_database(&db);
        Station { dir, db }
    }

    fn store(&self) -> Store {
        Store::open(&self.db).expect("store")
    }

    /// A flasher with a warm pool, as `station watch` and the app run one.
    fn pooled_flasher(&self) -> Flasher {
        Flasher::new(
            &self.db,
            FlasherOptions {
                operator: Some("tester".into()),
                pool: true,
                ..FlasherOptions::default()
            },
        )
    }

    fn batch(&self, count: u32) -> FlashRequest {
        let (b, _) = station_service::records::create_batch(
            &mut self.store(),
            &BatchRequest {
                device_type: "WeatherStation".into(),
                prefix: "farm-".into(),
                count,
                with_credentials: false,
                lot: None,
                work_order: None,
            },
            None,
        )
        .expect("batch");
        FlashRequest::NextInBatch {
            batch_id: b.batch.id,
            overwrite_foreign: false,
        }
    }

    fn units(&self, name: &str, n: usize) -> Vec<SimHandle> {
        (0..n)
            .map(|i| {
                Simulator::start(SimOptions {
                    flash: Some(self.dir.path().join(format!("{name}{i}.flash"))),
                    ..SimOptions::default()
                })
                .expect("simulator")
            })
            .collect()
    }
}

fn ports(units: &[SimHandle]) -> Vec<String> {
    units.iter().map(|u| u.port_path().to_owned()).collect()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Warm `flasher`'s pool for `ports` and wait until it is full.
fn warm(flasher: &Flasher, ports: &[String]) {
    flasher.expect_ports(ports);
    wait_until("the pool is full", || {
        flasher
            .pool_status()
            .is_some_and(|s| s.ready == s.target && !s.filling && s.ready > 0)
    });
}

/// The api key fingerprints of the sets `flasher`'s pool holds now.
fn pooled_fingerprints(flasher: &Flasher) -> Vec<String> {
    let pool = flasher.pool().expect("a pool");
    pool.with_ready_sets(|sets| {
        sets.iter()
            .map(|s| s.api_key_fingerprint().to_owned())
            .collect()
    })
}

fn passed_device(report: &JobReport) -> String {
    let passed = report.result.as_ref().expect("the flash passes");
    passed.outcome.device.device_id.clone()
}

/// The password the unit received verifies against the hash its record holds.
fn assert_record_verifies(store: &Store, unit: &SimHandle, device_id: &str) {
    let held = unit.flash_contents().expect("the unit holds a config");
    assert_eq!(held.get_str(Key::DeviceId), device_id);
    let password = Secret::new(held.get_str(Key::MqttPassword).to_owned());
    let hash = store
        .password_hash(device_id)
        .expect("read")
        .expect("a hash in force");
    assert!(
        verify_password(&password, &hash).expect("verify"),
        "the record of {device_id} does not verify against what its unit received"
    );
}

#[test]
fn a_flash_with_a_warm_pool_passes_and_its_record_verifies_against_the_unit() {
    let station = Station::new();
    let request = station.batch(1);
    let units = station.units("u", 1);
    let flasher = station.pooled_flasher();
    warm(&flasher, &ports(&units));
    let pooled = pooled_fingerprints(&flasher);
    let report = flasher
        .run_ports(&ports(&units), &request, &NoSink)
        .expect("run")
        .remove(0);
    let device_id = passed_device(&report);
    let store = station.store();
    assert_record_verifies(&store, &units[0], &device_id);
    let device = store.find_device(&device_id).expect("device");
    let used = device.api_key_fingerprint.expect("a fingerprint in force");
    assert!(
        pooled.contains(&used),
        "the flash did not take a pooled set"
    );
    assert!(
        !pooled_fingerprints(&flasher).contains(&used),
        "the issued set is still in the pool"
    );
}

#[test]
fn the_pool_never_holds_a_set_after_a_settings_change() {
    let station = Station::new();
    let request = station.batch(2);
    let units = station.units("u", 2);
    let flasher = station.pooled_flasher();
    warm(&flasher, &ports(&units));
    let old: HashAlgorithm = FAST.parse().expect("old");
    let new: HashAlgorithm = FAST_CHANGED.parse().expect("new");
    assert_eq!(
        flasher.pool_status().expect("pool").algorithm,
        Some(old.to_string())
    );

    station
        .store()
        .set_setting(key::HASH_ALGORITHM, FAST_CHANGED)
        .expect("change the setting");
    // The very next flash, before the pool has looked at the store again, issues a set made
    // at the new setting.
    let report = flasher
        .run_ports(&ports(&units[..1]), &request, &NoSink)
        .expect("run")
        .remove(0);
    let device_id = passed_device(&report);
    let store = station.store();
    let hash = store
        .password_hash(&device_id)
        .expect("read")
        .expect("hash");
    assert!(hash.starts_with("pbkdf2_sha256$2000$"), "{hash}");
    assert_record_verifies(&store, &units[0], &device_id);

    // The pool holds no old set from then on, and refills at the new setting.
    flasher.expect_ports(&ports(&units));
    let only_new = || {
        flasher
            .pool()
            .expect("pool")
            .with_ready_sets(|sets| sets.iter().all(|s| s.algorithm() == &new))
    };
    assert!(
        only_new(),
        "a set made at the old setting outlived the change"
    );
    wait_until("the pool refills", || {
        flasher
            .pool_status()
            .is_some_and(|s| s.ready == s.target && s.ready > 0)
    });
    assert!(only_new());
    assert_eq!(
        flasher.pool_status().expect("pool").algorithm,
        Some(new.to_string())
    );
    let report = flasher
        .run_ports(&ports(&units[1..]), &request, &NoSink)
        .expect("run")
        .remove(0);
    let device_id = passed_device(&report);
    assert_record_verifies(&station.store(), &units[1], &device_id);
}

/// Every file under `root`, however deep.
fn files_under(root: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// How many of `needles` occur in some file under `roots`.
fn found_on_disk(roots: &[&Path], needles: &[String]) -> usize {
    let mut files = Vec::new();
    for root in roots {
        files_under(root, &mut files);
    }
    let contents: Vec<Vec<u8>> = files.iter().filter_map(|f| std::fs::read(f).ok()).collect();
    needles
        .iter()
        .filter(|needle| {
            contents
                .iter()
                .any(|c| c.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .count()
}

#[test]
fn the_pool_writes_nothing_to_disk() {
    let station = Station::new();
    // SQLite and anything else that spills to a temporary file does it here, to be scanned.
    let tmp = station.dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    std::env::set_var("TMPDIR", &tmp);
    let request = station.batch(1);
    let units = station.units("u", 1);
    let flasher = station.pooled_flasher();
    warm(&flasher, &ports(&units));
    // An issued set does reach the database (its api key is the server's): the scan finds it.
    let report = flasher
        .run_ports(&ports(&units), &request, &NoSink)
        .expect("run")
        .remove(0);
    let device_id = passed_device(&report);
    let held = units[0].flash_contents().expect("config");
    let issued_key = held.get_str(Key::ApiKey).to_owned();
    assert_eq!(
        found_on_disk(&[station.dir.path(), &tmp], &[issued_key]),
        1,
        "the scan does not see what {device_id}'s flash stored"
    );
    warm(&flasher, &ports(&units));
    let pooled: Vec<String> = flasher.pool().expect("pool").with_ready_sets(|sets| {
        sets.iter()
            .flat_map(|s| {
                let (password, api_key) = s.plaintexts_for_tests();
                [
                    password.to_owned(),
                    api_key.to_owned(),
                    s.password_hash().to_owned(),
                ]
            })
            .collect()
    });
    assert!(pooled.len() >= 3);
    let hits = found_on_disk(&[station.dir.path(), &tmp, &std::env::temp_dir()], &pooled);
    assert_eq!(hits, 0, "a pooled secret or hash was found on disk");
}

#[test]
fn an_issued_set_is_never_issued_twice_even_across_two_processes() {
    let station = Station::new();
    let request = station.batch(8);
    // Two station processes on one database, each with its own warm pool and two ports.
    let a_units = station.units("a", 4);
    let b_units = station.units("b", 4);
    let (a, b) = (station.pooled_flasher(), station.pooled_flasher());
    warm(&a, &ports(&a_units));
    warm(&b, &ports(&b_units));
    let pooled: Vec<String> = [pooled_fingerprints(&a), pooled_fingerprints(&b)].concat();
    let distinct: HashSet<&String> = pooled.iter().collect();
    assert_eq!(distinct.len(), pooled.len(), "two pools hold the same set");

    // (report, the unit it flashed)
    let mut flashed: Vec<(JobReport, &SimHandle)> = Vec::new();
    for round in [0..2, 2..4] {
        let (a_round, b_round) = (&a_units[round.clone()], &b_units[round]);
        let (ra, rb) = std::thread::scope(|s| {
            let ja = s.spawn(|| a.run_ports(&ports(a_round), &request, &NoSink));
            let jb = s.spawn(|| b.run_ports(&ports(b_round), &request, &NoSink));
            (ja.join().expect("a"), jb.join().expect("b"))
        });
        flashed.extend(ra.expect("a runs").into_iter().zip(a_round));
        flashed.extend(rb.expect("b runs").into_iter().zip(b_round));
    }
    let store = station.store();
    let (mut hashes, mut fingerprints) = (HashSet::new(), HashSet::new());
    for (report, unit) in &flashed {
        let device_id = passed_device(report);
        assert_record_verifies(&store, unit, &device_id);
        hashes.insert(
            store
                .password_hash(&device_id)
                .expect("read")
                .expect("hash"),
        );
    }
    for d in store.list_devices(&DeviceFilter::default()).expect("list") {
        fingerprints.insert(d.api_key_fingerprint.expect("flashed"));
    }
    assert_eq!(hashes.len(), 8, "two devices share a password hash");
    assert_eq!(fingerprints.len(), 8, "two devices share an api key");
    let from_pools = pooled.iter().filter(|f| fingerprints.contains(*f)).count();
    assert!(
        from_pools >= 4,
        "only {from_pools} flashes took a pooled set"
    );
    // A set handed out and still in a pool could be issued again: none is.
    for flasher in [&a, &b] {
        for f in pooled_fingerprints(flasher) {
            assert!(!fingerprints.contains(&f), "an issued set is still pooled");
        }
    }
}
