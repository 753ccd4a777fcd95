//! The station killed with SIGKILL at random points while flashing and rotating, over and
//! over, against the device simulator (a separate process on a pseudo-terminal, paced at
//! 115200 baud so kills land mid-write). After each kill, `station recover` runs, and then
//! every unit's flash and the station's records must agree exactly: a record that says
//! "flashed, generation g" is what the unit holds (and its hash accepts the unit's password),
//! a unit never holds credentials no record accepts, and nothing is left pending.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use station_core::credentials::{verify_password, Secret};
use station_core::devices::DeviceFilter;
use station_core::{FlashState, Store};
use station_e2e::workspace_bin;
use station_protocol::{Key, StoredConfig};

/// Kills per run: enough to land in every step many times (a write takes ~110 ms at 115200).
const TRIALS: u32 = 40;

struct Unit {
    flash: PathBuf,
    port: String,
    sim: Child,
}

impl Unit {
    fn start(dir: &Path, name: &str) -> Unit {
        let flash = dir.join(format!("{name}.flash"));
        let mut sim = Command::new(workspace_bin("station-devsim", "station-devsim"))
            .arg("--flash")
            .arg(&flash)
            // The flash file is sealed under a key this test keeps in memory only.
            .env(
                station_devsim::FLASH_KEY_ENV,
                station_devsim::FlashKey::process()
                    .expect("key")
                    .to_hex()
                    .as_str(),
            )
            .args(["--baud", "115200"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start station-devsim");
        let mut line = String::new();
        BufReader::new(sim.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("port path");
        Unit {
            flash,
            port: line.trim().to_owned(),
            sim,
        }
    }

    fn held(&self) -> Option<StoredConfig> {
        let key = station_devsim::FlashKey::process().ok()?;
        station_devsim::Flash::file(&self.flash, key, None).contents()
    }
}

impl Drop for Unit {
    fn drop(&mut self) {
        let _ = self.sim.kill();
        let _ = self.sim.wait();
    }
}

/// A small deterministic generator, so a failing run can be replayed from its seed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn station(db: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(workspace_bin("station-cli", "station"));
    c.args(args)
        .env("STATION_DB", db)
        .env("STATION_OPERATOR", "crash-test")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn check_consistent(db: &Path, units: &[Unit], trial: u32, seed: u64) {
    let store = Store::open(db).expect("open store");
    let ctx = format!("trial {trial}, seed {seed}");
    for unit in units {
        let Some(held) = unit.held() else { continue };
        let id = held.get_str(Key::DeviceId);
        let d = store
            .find_device(id)
            .unwrap_or_else(|e| panic!("{ctx}: unit holds unknown device {id}: {e}"));
        assert_eq!(
            d.flash_state,
            FlashState::Flashed,
            "{ctx}: unit holds {id} but the record is {:?}",
            d.flash_state
        );
        assert_eq!(
            d.generation,
            held.generation(),
            "{ctx}: {id}: record and unit disagree on the generation"
        );
        assert_eq!(
            d.pending_generation, None,
            "{ctx}: {id}: still pending after recover"
        );
        let hash = store
            .password_hash(id)
            .expect("hash")
            .expect("flashed record has a hash");
        let pw = Secret::new(held.get_str(Key::MqttPassword).to_owned());
        assert!(
            verify_password(&pw, &hash).expect("verify"),
            "{ctx}: {id}: the unit's password is not accepted by the record"
        );
    }
    for d in store.list_devices(&DeviceFilter::default()).expect("list") {
        assert_eq!(
            d.pending_generation, None,
            "{ctx}: {} left pending",
            d.device_id
        );
        if d.flash_state == FlashState::Flashed {
            let holder = units
                .iter()
                .filter_map(Unit::held)
                .find(|c| c.get_str(Key::DeviceId) == d.device_id);
            let holder = holder
                .unwrap_or_else(|| panic!("{ctx}: {} claims a flash no unit holds", d.device_id));
            assert_eq!(holder.generation(), d.generation, "{ctx}: {}", d.device_id);
        }
    }
}

#[test]
fn kill_dash_nine_during_flash_and_rotation_always_recovers_consistently() {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(42)
        });
    eprintln!("crash test seed {seed} (replay with CRASH_SEED={seed})");
    let mut rng = Lcg(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("station.sqlite3");
    for args in [
        vec!["settings", "set", "hash_algorithm", "argon2:m=256,t=1,p=1"],
        vec!["type", "add", "WeatherStation", "--app-label", "myapp"],
        vec![
            "batch",
            "create",
            "WeatherStation",
            "--count",
            "100",
            "--prefix",
            "crash-",
        ],
    ] {
        assert!(
            station(&db, &args).status().expect("station").success(),
            "{args:?}"
        );
    }
    let mut units: Vec<Unit> = Vec::new();
    let (mut killed, mut finished) = (0, 0);
    for trial in 0..TRIALS {
        // Even trials bring a fresh unit and provision it; odd ones rotate the last unit.
        let args: Vec<String> = if trial % 2 == 0 {
            units.push(Unit::start(dir.path(), &format!("u{trial}")));
            let port = units.last().map(|u| u.port.clone()).unwrap_or_default();
            vec![
                "flash".into(),
                "--port".into(),
                port,
                "--batch".into(),
                "1".into(),
            ]
        } else {
            let port = units.last().map(|u| u.port.clone()).unwrap_or_default();
            vec!["reflash".into(), "--port".into(), port]
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = station(&db, &args).spawn().expect("start station");
        std::thread::sleep(Duration::from_millis(rng.next() % 160));
        match child.try_wait().expect("try_wait") {
            Some(_) => finished += 1,
            None => {
                child.kill().expect("SIGKILL");
                killed += 1;
            }
        }
        let _ = child.wait();
        // The next contact with the unit settles whatever the kill left.
        let port = units.last().map(|u| u.port.clone()).unwrap_or_default();
        let _ = station(&db, &["recover", "--port", &port])
            .status()
            .expect("recover");
        check_consistent(&db, &units, trial, seed);
    }
    eprintln!("{TRIALS} trials: {killed} killed mid-run, {finished} finished before the kill");
    assert!(
        killed >= TRIALS / 4,
        "too few kills landed ({killed}); the test would prove little"
    );
}
