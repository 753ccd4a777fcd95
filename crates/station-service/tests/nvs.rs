//! The ESP-IDF NVS driver through the flasher, over real pseudo-terminals against the ESP32 ROM
//! loader simulator (`station-espsim`, itself cross-checked with esptool): provisioning, a
//! re-flash, each error in the operator's words, faults, the pending generation, and the secret
//! scan.

use std::path::Path;

use station_core::driver::{DriverKind, DriverSpec, VerifyMethod};
use station_core::{FailReason, FlashState, NewDeviceType, Store};
use station_espflash::nvs_read::{self, FlashRead, ReadValue};
use station_espsim::{EspSimHandle, EspSimOptions, EspSimulator, Flash};
use station_service::{FlashRequest, Flasher, FlasherOptions, JobReport, NoSink};

mod common;

const TYPE: &str = "EspSensor";
const NVS_OFFSET: u32 = 0x9000;
const NVS_SIZE: u32 = 0x6000;
const HWID: &str = "240AC4123456";

struct Bench {
    dir: tempfile::TempDir,
    flasher: Flasher,
}

impl Bench {
    fn new() -> Bench {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("station.sqlite3");
        common::station_database(&db);
        Store::open(&db)
            .expect("store")
            .add_type(NewDeviceType {
                name: TYPE.into(),
                app_label: "myapp".into(),
                driver: Some(DriverSpec {
                    kind: DriverKind::Nvs,
                    settings: r#"{"namespace":"mqtt","key.mqtt_password":"pass"}"#.into(),
                }),
                ..Default::default()
            })
            .expect("nvs type");
        let flasher = Flasher::new(
            db,
            FlasherOptions {
                operator: Some("tester".into()),
                unit_type: Some(TYPE.into()),
                ..FlasherOptions::default()
            },
        );
        Bench { dir, flasher }
    }

    fn store(&self) -> Store {
        Store::open(self.flasher.db_path()).expect("store")
    }

    fn run(&self, unit: &EspSimHandle, request: &FlashRequest) -> JobReport {
        let mut reports = self
            .flasher
            .run_ports(&[unit.port_path().to_owned()], request, &NoSink)
            .expect("run");
        reports.pop().expect("one report")
    }
}

fn unit(opts: EspSimOptions, flash: Flash) -> EspSimHandle {
    EspSimulator::start(opts, flash).expect("espsim")
}

fn new_device() -> FlashRequest {
    FlashRequest::NewDevice {
        device_type: TYPE.into(),
        prefix: "esp-".into(),
        overwrite_foreign: false,
    }
}

struct SimRead<'a>(&'a Flash);

impl FlashRead for SimRead<'_> {
    type Error = ();
    fn read(&mut self, offset: u32, len: usize) -> Result<Vec<u8>, ()> {
        self.0
            .read(offset as usize, len)
            .map(<[u8]>::to_vec)
            .map_err(|_| ())
    }
}

/// What the unit's NVS holds under `keys` of namespace `mqtt`, read from the simulator's flash.
fn nvs(flash: &Flash, keys: &[&str]) -> Vec<(String, ReadValue)> {
    nvs_read::read_keys(&mut SimRead(flash), NVS_OFFSET, NVS_SIZE, "mqtt", keys).expect("read")
}

fn string(flash: &Flash, key: &str) -> Option<String> {
    nvs(flash, &[key]).into_iter().find_map(|(_, v)| match v {
        ReadValue::Str(s) => Some(s),
        ReadValue::Uint(_) => None,
    })
}

fn generation(flash: &Flash) -> Option<u64> {
    nvs(flash, &["dh_generation"])
        .into_iter()
        .find_map(|(_, v)| match v {
            ReadValue::Uint(n) => Some(n),
            ReadValue::Str(_) => None,
        })
}

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            hits.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

#[test]
fn provisions_a_new_device_into_the_nvs_partition_verified_by_flash_md5() {
    let bench = Bench::new();
    let sim = unit(EspSimOptions::default(), Flash::default());
    let report = bench.run(&sim, &new_device());
    let passed = report.result.expect("flash passes");
    let outcome = &passed.outcome;
    assert_eq!(outcome.driver, DriverKind::Nvs);
    assert_eq!(outcome.hardware_id, HWID);
    let verification = outcome.verification.as_ref().expect("verified");
    assert_eq!(verification.method, VerifyMethod::FlashMd5);
    assert!(verification.unverified.is_empty());
    let device = bench
        .store()
        .find_device(&outcome.device.device_id)
        .expect("device");
    assert_eq!(device.flash_state, FlashState::Flashed);
    assert_eq!(device.generation, 1);
    assert_eq!(device.hardware_id.as_deref(), Some(HWID));

    let flash = sim.flash();
    assert_eq!(
        string(&flash, "device_id").as_deref(),
        Some(device.device_id.as_str())
    );
    assert_eq!(generation(&flash), Some(1));
    // The type's key mapping: the password under "pass", not under its config name.
    let password = string(&flash, "pass").expect("the unit holds a password");
    assert!(string(&flash, "mqtt_password").is_none());
    assert!(password.len() >= 16);
    assert!(
        string(&flash, "api_key").is_some(),
        "the unit holds an api key"
    );

    // Secret scan: the password in no file of the data folder (database, WAL, logs), and the
    // image never written to one. (The api key waits in the outbox until the server's seal key
    // seals it, as for every driver: crates/station-core/tests/at_rest.rs.)
    drop(bench.store());
    assert_eq!(
        files_containing(bench.dir.path(), password.as_bytes()),
        Vec::<String>::new()
    );
    sim.shutdown().expect("sim");
}

#[test]
fn a_reflash_rotates_the_credentials_into_the_same_unit() {
    let bench = Bench::new();
    let sim = unit(EspSimOptions::default(), Flash::default());
    let first = bench.run(&sim, &new_device()).result.expect("provision");
    let device_id = first.outcome.device.device_id.clone();
    let old_password = string(&sim.flash(), "pass").expect("password");
    sim.reset_into_loader();
    let second = bench
        .run(
            &sim,
            &FlashRequest::Reflash {
                device_id: Some(device_id.clone()),
                confirm_unbound: false,
            },
        )
        .result
        .expect("re-flash");
    assert!(second.outcome.rotated);
    assert_eq!(
        bench.store().find_device(&device_id).expect("d").generation,
        2
    );
    let flash = sim.flash();
    assert_eq!(generation(&flash), Some(2));
    assert_ne!(string(&flash, "pass"), Some(old_password));
    sim.shutdown().expect("sim");
}

#[test]
fn a_wrong_chip_is_refused_in_words_and_nothing_is_recorded() {
    let bench = Bench::new();
    let sim = unit(
        EspSimOptions {
            chip_magic: 0x0000_07C6,
            ..EspSimOptions::default()
        },
        Flash::default(),
    );
    let failure = bench.run(&sim, &new_device()).result.expect_err("refused");
    assert_eq!(failure.error.reason(), Some(FailReason::WrongChip));
    assert!(
        failure.error.to_string().contains("not an ESP32"),
        "{}",
        failure.error
    );
    assert!(bench
        .store()
        .list_devices(&Default::default())
        .expect("list")
        .is_empty());
    assert_eq!(generation(&sim.flash()), None);
    sim.shutdown().expect("sim");
}

#[test]
fn a_unit_without_an_nvs_partition_is_refused_in_words() {
    let bench = Bench::new();
    let mut flash = Flash::default();
    // Erase the partition table: no partition can be found.
    flash.erase(0x8000, 0x1000).expect("erase");
    let sim = unit(EspSimOptions::default(), flash);
    let failure = bench.run(&sim, &new_device()).result.expect_err("refused");
    assert_eq!(failure.error.reason(), Some(FailReason::NoNvsPartition));
    sim.shutdown().expect("sim");
}

#[test]
fn no_loader_answer_is_said_in_operator_words() {
    let bench = Bench::new();
    let sim = unit(EspSimOptions::default(), Flash::default());
    // The unit runs its application: it ignores the loader's packets.
    let first = bench.run(&sim, &new_device());
    assert!(first.result.is_ok());
    let failure = bench
        .run(&sim, &new_device())
        .result
        .expect_err("no loader");
    assert_eq!(failure.error.reason(), Some(FailReason::NoLoaderAnswer));
    assert!(
        failure.error.to_string().contains("BOOT"),
        "{}",
        failure.error
    );
    sim.shutdown().expect("sim");
}

#[test]
fn an_unplug_mid_write_leaves_the_previous_generation_in_force() {
    let bench = Bench::new();
    let sim = unit(EspSimOptions::default(), Flash::default());
    let first = bench.run(&sim, &new_device()).result.expect("provision");
    let device_id = first.outcome.device.device_id.clone();
    let flash = sim.flash();
    sim.shutdown().expect("sim");
    let sim = unit(
        EspSimOptions {
            unplug_at_block: Some(3),
            ..EspSimOptions::default()
        },
        flash,
    );
    let failure = bench
        .run(
            &sim,
            &FlashRequest::Reflash {
                device_id: Some(device_id.clone()),
                confirm_unbound: false,
            },
        )
        .result
        .expect_err("unplugged");
    assert_eq!(failure.device_id.as_deref(), Some(device_id.as_str()));
    let device = bench.store().find_device(&device_id).expect("device");
    assert_eq!(
        device.generation, 1,
        "the previous generation stays in force"
    );
    let _ = sim.wait();
}

#[test]
fn power_loss_after_the_last_block_stays_pending_until_the_unit_is_read_again() {
    let bench = Bench::new();
    let blocks = NVS_SIZE / 0x400;
    let sim = unit(
        EspSimOptions {
            power_loss_after_block: Some(blocks),
            ..EspSimOptions::default()
        },
        Flash::default(),
    );
    let failure = bench
        .run(&sim, &new_device())
        .result
        .expect_err("power lost");
    assert_eq!(
        failure.error.reason(),
        Some(FailReason::CommitOutcomeUnknown)
    );
    let device_id = failure.device_id.clone().expect("a device was involved");
    let device = bench.store().find_device(&device_id).expect("device");
    assert_eq!(device.generation, 0, "nothing confirmed yet");
    let flash = sim.flash();
    let _ = sim.wait();
    // Power back: the unit holds the whole image; reading it settles the pending generation.
    let sim = unit(EspSimOptions::default(), flash);
    let recovered = bench
        .run(&sim, &FlashRequest::Recover)
        .result
        .expect("recover");
    assert_eq!(recovered.outcome.device.device_id, device_id);
    let device = bench.store().find_device(&device_id).expect("device");
    assert_eq!(device.generation, 1);
    assert_eq!(device.flash_state, FlashState::Flashed);
    sim.shutdown().expect("sim");
}
