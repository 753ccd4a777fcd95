//! The MCUmgr driver ([`Provisioner`]) against the simulator over real pseudo-terminals:
//! provisioning and re-flashing a unit, what the verification proves, every failure in the
//! operator's words, and which failures leave the unit's stored generation as it was.

use std::collections::BTreeMap;

use station_smp::sim::{ErrorRule, PowerLoss, SimHandle, SimOptions, SimRequest, Simulator};
use station_smp::{
    DriverError, ErrorKind, IdentityKeys, MgmtErr, Phase, Provisioner, SerialTransport, Setting,
    DEFAULT_BAUD,
};

const HWID_KEY: &str = "dh/hwid";
const HWID: &str = "E4B2C0FFEE0042";
const PASSWORD: &str = "pw-driver-never-shown-5d1e";
const API_KEY: &str = "ak_driver_never_shown_0b7c";
const PASS_KEY: &str = "dh/mqtt_password";
const API_KEY_KEY: &str = "dh/api_key";

fn keys() -> IdentityKeys {
    IdentityKeys {
        hardware_id: HWID_KEY.to_owned(),
        device_id: "dh/device_id".to_owned(),
        generation: "dh/generation".to_owned(),
    }
}

fn start(opts: SimOptions) -> SimHandle {
    let mut read_only = BTreeMap::new();
    read_only.insert(HWID_KEY.to_owned(), HWID.as_bytes().to_vec());
    Simulator::start(SimOptions {
        secret_prefixes: vec![PASS_KEY.to_owned(), API_KEY_KEY.to_owned()],
        read_only,
        ..opts
    })
    .expect("start simulator")
}

fn driver(sim: &SimHandle) -> Provisioner<SerialTransport> {
    Provisioner::open_serial(sim.port_path(), DEFAULT_BAUD).expect("open pty")
}

/// A device config as the station's MCUmgr device type maps it; `generation` as text.
struct Config {
    values: Vec<(&'static str, String, bool)>,
}

fn config(device_id: &str, generation: u32, topic: &str) -> Config {
    Config {
        values: vec![
            ("dh/generation", generation.to_string(), false),
            ("dh/device_id", device_id.to_owned(), false),
            ("dh/mqtt_user", format!("dev-{device_id}"), false),
            (PASS_KEY, format!("{PASSWORD}{generation}"), true),
            (API_KEY_KEY, API_KEY.to_owned(), true),
            ("dh/broker_host", "mqtt.devicehub.example".to_owned(), false),
            ("dh/broker_port", "8883".to_owned(), false),
            ("dh/topic_data", topic.to_owned(), false),
        ],
    }
}

impl Config {
    fn settings(&self) -> Vec<Setting<'_>> {
        self.values
            .iter()
            .map(|(name, value, secret)| Setting {
                name,
                value: value.as_bytes(),
                secret: *secret,
            })
            .collect()
    }
}

fn write(
    p: &mut Provisioner<SerialTransport>,
    cfg: &Config,
) -> Result<station_smp::Verification, DriverError> {
    p.write_config(&cfg.settings(), "dh/generation", &mut |_| {})
}

fn stored_generation(sim: &SimHandle) -> Option<String> {
    sim.settings()
        .saved
        .get("dh/generation")
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

fn assert_no_secret(text: &str) {
    assert!(!text.contains(PASSWORD), "password in {text:?}");
    assert!(!text.contains(API_KEY), "api key in {text:?}");
}

#[test]
fn a_blank_unit_is_provisioned_then_reflashed_and_reports_each_generation() {
    let sim = start(SimOptions::default());
    let mut p = driver(&sim);
    let blank = p.identify(&keys()).expect("identify blank");
    assert_eq!(blank.hardware_id, HWID);
    assert_eq!((blank.device_id, blank.generation), (None, None));

    let mut steps = Vec::new();
    let cfg = config("dh-000123", 1, "dh/dh-000123/data");
    let v = p
        .write_config(&cfg.settings(), "dh/generation", &mut |s| steps.push(s))
        .expect("provision");
    assert_eq!(
        v.written_only,
        vec![PASS_KEY.to_owned(), API_KEY_KEY.to_owned()]
    );
    assert_eq!(
        v.read_back.len(),
        6,
        "every non-secret key read back: {v:?}"
    );
    assert_eq!(
        v.read_back.last().map(String::as_str),
        Some("dh/generation"),
        "the generation is written (and read) last"
    );
    assert!(v.summary().contains("2 secret settings written only"));
    assert_eq!(steps.len(), 8 + 3, "8 writes, save, reset, verify");

    let s = sim.settings();
    assert_eq!(s.resets, 1, "one reset, before the read-back");
    assert_eq!(
        s.saved.get(PASS_KEY).map(Vec::as_slice),
        Some(format!("{PASSWORD}1").as_bytes())
    );
    let unit = p.identify(&keys()).expect("identify");
    assert_eq!(unit.device_id.as_deref(), Some("dh-000123"));
    assert_eq!(unit.generation, Some(1));

    let again = config("dh-000123", 2, "dh/dh-000123/data");
    write(&mut p, &again).expect("re-flash");
    assert_eq!(p.identify(&keys()).expect("identify").generation, Some(2));
    assert_eq!(
        sim.settings().saved.get(PASS_KEY).map(Vec::as_slice),
        Some(format!("{PASSWORD}2").as_bytes())
    );
}

#[test]
fn firmware_without_the_settings_group_is_told_in_operator_words() {
    let sim = start(SimOptions {
        settings_enabled: false,
        ..SimOptions::default()
    });
    let e = driver(&sim).identify(&keys()).expect_err("no group");
    assert!(
        matches!(e.kind, ErrorKind::GroupNotEnabled { group: "settings" }),
        "{e:?}"
    );
    let msg = e.operator_message();
    assert!(
        msg.contains("built without the MCUmgr settings group"),
        "{msg}"
    );
    assert!(msg.contains("CONFIG_MCUMGR_GRP_SETTINGS"), "{msg}");
}

#[test]
fn a_unit_without_a_hardware_id_key_is_refused_before_anything_is_written() {
    let sim = Simulator::start(SimOptions::default()).expect("start");
    let e = driver(&sim).identify(&keys()).expect_err("no hwid");
    assert!(matches!(e.kind, ErrorKind::NoHardwareId { .. }), "{e:?}");
    assert!(e.operator_message().contains(HWID_KEY));
}

/// Each refusal while writing: typed, in operator words, storage untouched, RAM reset.
#[test]
fn a_refused_write_leaves_the_stored_generation_in_force() {
    for (rc, expect) in [
        // The first setting written: the generation goes last.
        (
            MgmtErr::AccessDenied,
            "denied access to setting dh/device_id",
        ),
        (
            MgmtErr::MessageTooLarge,
            "setting dh/device_id is too large",
        ),
        (
            MgmtErr::NotSupported,
            "built without the MCUmgr settings group",
        ),
    ] {
        let mut saved = BTreeMap::new();
        saved.insert("dh/generation".to_owned(), b"4".to_vec());
        let sim = start(SimOptions {
            saved,
            errors: vec![ErrorRule {
                request: SimRequest::Write,
                rc,
                count: None,
            }],
            ..SimOptions::default()
        });
        let e = write(&mut driver(&sim), &config("dh-1", 5, "t")).expect_err("refused");
        assert_eq!(e.phase, Phase::Write);
        assert!(!e.storage_may_have_changed(), "{e}");
        assert!(e.to_string().contains(expect), "{rc}: {e}");
        assert!(e.operator_message().contains("keeps the settings it had"));
        assert_no_secret(&e.operator_message());
        assert_eq!(stored_generation(&sim).as_deref(), Some("4"));
        assert_eq!(sim.settings().resets, 1, "RAM forgotten after the refusal");
        assert_eq!(sim.settings().live, sim.settings().saved);
    }
}

#[test]
fn a_refused_save_is_settled_by_reading_the_generation_back() {
    let sim = start(SimOptions {
        errors: vec![ErrorRule {
            request: SimRequest::Save,
            rc: MgmtErr::NoMemory,
            count: None,
        }],
        ..SimOptions::default()
    });
    let mut p = driver(&sim);
    let e = write(&mut p, &config("dh-7", 1, "t")).expect_err("save refused");
    assert!(matches!(e.kind, ErrorKind::SaveRefused { .. }), "{e:?}");
    assert!(e.storage_may_have_changed());
    let unit = p.settle(&keys()).expect("settle");
    assert_eq!((unit.device_id, unit.generation), (None, None));
}

/// Zephyr's settings_mgmt_save ignores settings_save()'s result: only the read-back after the
/// reset catches a save that never reached storage.
#[test]
fn a_silently_lost_save_is_caught_by_the_read_back_after_the_reset() {
    let mut saved = BTreeMap::new();
    saved.insert("dh/generation".to_owned(), b"3".to_vec());
    saved.insert("dh/device_id".to_owned(), b"dh-9".to_vec());
    let sim = start(SimOptions {
        saved,
        save_lost: true,
        ..SimOptions::default()
    });
    let mut p = driver(&sim);
    let e = write(&mut p, &config("dh-9", 4, "t")).expect_err("lost");
    assert_eq!(e.phase, Phase::Verify);
    assert!(matches!(e.kind, ErrorKind::NotKept { .. }), "{e:?}");
    assert!(e.operator_message().contains("did not reach storage"));
    let unit = p.settle(&keys()).expect("settle");
    assert_eq!(
        unit.generation,
        Some(3),
        "the previous generation is in force"
    );
}

#[test]
fn unplug_mid_write_is_a_disconnect_and_storage_keeps_the_old_generation() {
    let mut saved = BTreeMap::new();
    saved.insert("dh/generation".to_owned(), b"1".to_vec());
    let sim = start(SimOptions {
        saved,
        unplug_at_write: Some(3),
        ..SimOptions::default()
    });
    let mut p = driver(&sim);
    let e = write(&mut p, &config("dh-2", 2, "t")).expect_err("unplugged");
    assert_eq!(e.phase, Phase::Write);
    assert!(matches!(e.kind, ErrorKind::Disconnected), "{e:?}");
    assert!(!e.storage_may_have_changed());
    assert_eq!(stored_generation(&sim).as_deref(), Some("1"));
}

#[test]
fn power_loss_after_a_write_loses_it_and_after_the_save_keeps_it() {
    let sim = start(SimOptions {
        power_loss: Some(PowerLoss::AfterWrite(2)),
        ..SimOptions::default()
    });
    let e = write(&mut driver(&sim), &config("dh-3", 1, "t")).expect_err("power lost");
    assert_eq!(e.phase, Phase::Write);
    assert!(!e.storage_may_have_changed());
    assert_eq!(stored_generation(&sim), None, "nothing reached storage");

    let sim = start(SimOptions {
        power_loss: Some(PowerLoss::AfterSave),
        ..SimOptions::default()
    });
    let e = write(&mut driver(&sim), &config("dh-3", 1, "t")).expect_err("power lost");
    assert_eq!(e.phase, Phase::Save);
    assert!(e.storage_may_have_changed(), "outcome unknown: {e}");
    // The unit powers up again with what it stored: settling reads the new generation.
    let storage = sim.settings().saved;
    sim.stop();
    let back = start(SimOptions {
        saved: storage,
        ..SimOptions::default()
    });
    let unit = driver(&back).settle(&keys()).expect("settle");
    assert_eq!(
        (unit.device_id.as_deref(), unit.generation),
        (Some("dh-3"), Some(1))
    );
}

#[test]
fn console_noise_and_a_lossy_line_end_in_a_verified_write_or_a_clear_error() {
    for seed in 1..=4u64 {
        let sim = start(SimOptions {
            boot_noise: true,
            log_noise: true,
            drop_rate: 0.0005,
            corrupt_rate: 0.0005,
            seed,
            ..SimOptions::default()
        });
        let mut p = driver(&sim);
        let cfg = config("dh-noisy", 1, "dh/dh-noisy/data");
        match write(&mut p, &cfg) {
            Ok(v) => {
                assert_eq!(v.read_back.len(), 6);
                assert_eq!(stored_generation(&sim).as_deref(), Some("1"));
            }
            Err(e) => {
                assert!(
                    matches!(e.kind, ErrorKind::NoAnswer | ErrorKind::Other(_)),
                    "seed {seed}: {e:?}"
                );
                assert_no_secret(&e.operator_message());
            }
        }
    }
}

/// Zephyr serves at most CONFIG_MCUMGR_GRP_SETTINGS_VALUE_LEN bytes of a read (32 by
/// default) and says so: the verification names the keys it compared only in part.
#[test]
fn values_longer_than_the_firmware_serves_are_verified_in_part_and_said_so() {
    let sim = start(SimOptions {
        value_len: Some(32),
        ..SimOptions::default()
    });
    let topic = "dh/dh-000123/telemetry/data/long/topic";
    let v = write(&mut driver(&sim), &config("dh-000123", 1, topic)).expect("write");
    assert_eq!(
        v.read_back_prefix,
        vec![("dh/topic_data".to_owned(), 32)],
        "{v:?}"
    );
    assert!(v.summary().contains("dh/topic_data (first 32 bytes)"));
    assert_eq!(
        sim.settings().saved.get("dh/topic_data").map(Vec::as_slice),
        Some(topic.as_bytes()),
        "stored whole"
    );
}
