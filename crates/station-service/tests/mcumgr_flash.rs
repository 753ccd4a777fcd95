//! Devices whose firmware speaks Zephyr MCUmgr, flashed through the same flasher, records and
//! pending-generation rules as every driver: a device type with driver `mcumgr` against the SMP
//! simulator (`station-smpsim`) on real pseudo-terminals and a real SQLite file.

use std::collections::BTreeMap;
use std::path::Path;

use station_core::driver::{DriverKind, DriverSpec, VerifyMethod};
use station_core::{FlashState, NewDeviceType, Store};
use station_service::{FlashRequest, Flasher, JobReport, NoSink};
use station_smp::sim::{ErrorRule, PowerLoss, SimHandle, SimOptions, SimRequest, Simulator};
use station_smp::MgmtErr;

mod common;

const TYPE: &str = "ZephyrSensor";
const HWID: &str = "NRF52-0042C0FFEE";
const SECRET_KEYS: [&str; 2] = ["dh/mqtt_password", "dh/api_key"];

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
                    kind: DriverKind::Mcumgr,
                    settings: r#"{"hardware_id_key": "dh/hwid"}"#.into(),
                }),
                ..Default::default()
            })
            .expect("type");
        let flasher = common::flasher(db, Some(TYPE));
        Bench { dir, flasher }
    }

    fn store(&self) -> Store {
        Store::open(self.flasher.db_path()).expect("store")
    }

    fn run(&self, unit: &SimHandle, request: &FlashRequest) -> JobReport {
        self.flasher
            .run_ports(&[unit.port_path().to_owned()], request, &NoSink)
            .expect("run")
            .pop()
            .expect("one report")
    }
}

fn unit(opts: SimOptions) -> SimHandle {
    let mut read_only = BTreeMap::new();
    read_only.insert("dh/hwid".to_owned(), HWID.as_bytes().to_vec());
    Simulator::start(SimOptions {
        read_only,
        secret_prefixes: SECRET_KEYS.iter().map(|k| (*k).to_owned()).collect(),
        ..opts
    })
    .expect("simulator")
}

fn new_device() -> FlashRequest {
    FlashRequest::NewDevice {
        device_type: TYPE.into(),
        prefix: "z-".into(),
        overwrite_foreign: false,
    }
}

fn reflash() -> FlashRequest {
    FlashRequest::Reflash {
        device_id: None,
        confirm_unbound: false,
    }
}

fn stored(sim: &SimHandle, key: &str) -> Option<String> {
    sim.settings()
        .saved
        .get(key)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Every file under `dir`, as bytes.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((p, bytes));
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_new_device_is_provisioned_over_mcumgr_then_reflashed_and_no_secret_reaches_the_disk() {
    let b = Bench::new();
    let sim = unit(SimOptions::default());
    let first = b.run(&sim, &new_device());
    let passed = first.result.as_ref().expect("provisioned");
    let device_id = passed.outcome.device.device_id.clone();
    assert_eq!(passed.outcome.hardware_id, HWID);
    assert_eq!(
        stored(&sim, "dh/device_id").as_deref(),
        Some(device_id.as_str())
    );
    assert_eq!(stored(&sim, "dh/generation").as_deref(), Some("1"));
    let v = passed.outcome.verification.as_ref().expect("verified");
    assert_eq!(v.method, VerifyMethod::ReadbackNonSecret);
    assert_eq!(
        v.unverified,
        vec!["api_key".to_owned(), "mqtt_password".to_owned()]
    );
    assert_eq!(v.verified.len(), 9, "{v:?}");
    let d = b.store().find_device(&device_id).expect("device");
    assert_eq!((d.generation, d.hardware_id.as_deref()), (1, Some(HWID)));

    let password_1 = stored(&sim, "dh/mqtt_password").expect("written");
    let api_key = stored(&sim, "dh/api_key").expect("written");
    let second = b.run(&sim, &reflash());
    second.result.as_ref().expect("re-flashed");
    assert_eq!(stored(&sim, "dh/generation").as_deref(), Some("2"));
    let password_2 = stored(&sim, "dh/mqtt_password").expect("written");
    assert_ne!(password_1, password_2, "rotated");
    assert_eq!(b.store().find_device(&device_id).expect("d").generation, 2);

    for (path, bytes) in files(b.dir.path()) {
        for secret in [&password_1, &password_2, &api_key] {
            assert!(
                !contains(&bytes, secret.as_bytes()),
                "a secret is in {}",
                path.display()
            );
        }
    }
    let report = format!("{first:?}{second:?}");
    assert!(!report.contains(&password_2) && !report.contains(&api_key));
}

/// Failures while writing or saving: the operator's words, and the previous generation stays
/// in force in the record as on the unit.
#[test]
fn a_failed_write_or_save_leaves_the_previous_generation_in_force() {
    for (opts, words) in [
        (
            SimOptions {
                errors: vec![ErrorRule {
                    request: SimRequest::Write,
                    rc: MgmtErr::AccessDenied,
                    count: None,
                }],
                ..SimOptions::default()
            },
            "denied access",
        ),
        (
            SimOptions {
                save_lost: true,
                ..SimOptions::default()
            },
            "did not reach storage",
        ),
        (
            SimOptions {
                errors: vec![ErrorRule {
                    request: SimRequest::Save,
                    rc: MgmtErr::NoMemory,
                    count: None,
                }],
                ..SimOptions::default()
            },
            "refused to save",
        ),
    ] {
        let b = Bench::new();
        let sim = unit(SimOptions::default());
        let device_id = b
            .run(&sim, &new_device())
            .result
            .expect("provisioned")
            .outcome
            .device
            .device_id;
        let storage = sim.settings().saved;
        sim.stop();
        let faulty = unit(SimOptions {
            saved: storage,
            ..opts
        });
        let report = b.run(&faulty, &reflash());
        let err = report.result.expect_err("fails").to_string();
        // The driver's own words, also for a failure after the save was sent (settled by
        // flash.rs's settle_unknown, which adds what the unit kept).
        assert!(err.contains(words), "{err}");
        assert_eq!(stored(&faulty, "dh/generation").as_deref(), Some("1"));
        let d = b.store().find_device(&device_id).expect("device");
        assert_eq!(
            d.generation, 1,
            "{words}: the previous generation is in force"
        );
        assert_eq!(
            d.pending_generation, None,
            "{words}: settled, not left pending"
        );
        assert_ne!(d.flash_state, FlashState::Flashing, "{words}");
    }
}

#[test]
fn power_loss_after_the_save_is_settled_from_the_unit_when_it_is_back() {
    let b = Bench::new();
    let sim = unit(SimOptions {
        power_loss: Some(PowerLoss::AfterSave),
        ..SimOptions::default()
    });
    let report = b.run(&sim, &new_device());
    assert!(report.result.is_err(), "the unit went away mid-save");
    let storage = sim.settings().saved;
    sim.stop();
    let back = unit(SimOptions {
        saved: storage,
        ..SimOptions::default()
    });
    b.run(&back, &FlashRequest::Recover);
    let device_id = stored(&back, "dh/device_id").expect("stored");
    let d = b.store().find_device(&device_id).expect("device");
    assert_eq!((d.generation, d.hardware_id.as_deref()), (1, Some(HWID)));
}

#[test]
fn unplug_mid_write_and_firmware_without_the_settings_group_change_nothing() {
    let b = Bench::new();
    let sim = unit(SimOptions {
        unplug_at_write: Some(4),
        ..SimOptions::default()
    });
    let err = b
        .run(&sim, &new_device())
        .result
        .expect_err("unplugged")
        .to_string();
    assert!(err.contains("disconnected"), "{err}");
    assert_eq!(stored(&sim, "dh/generation"), None);

    let sim = unit(SimOptions {
        settings_enabled: false,
        ..SimOptions::default()
    });
    let err = b
        .run(&sim, &new_device())
        .result
        .expect_err("no group")
        .to_string();
    assert!(
        err.contains("built without the MCUmgr settings group"),
        "{err}"
    );
}
