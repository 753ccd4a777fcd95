//! Provision-and-flash and rotate-and-re-flash over real pseudo-terminals, against the device
//! simulator speaking docs/protocol.md, recording into real SQLite files.
//!
//! After every scenario, [`assert_consistent`] checks the property the station exists for:
//! a record that says "flashed, generation g" matches what the unit holds, byte for byte
//! (device id, generation, topics, and a password the record's hash accepts), and a record
//! that says anything else does not claim a flash.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use station_core::credentials::{verify_password, Secret};
use station_core::flash::{self, FlashJob, FlashStep};
use station_core::{
    Action, BatchRequest, Device, ErrorCode, FailReason, FlashState, FlashTarget, Resolution, Store,
};
use station_devsim::{DropReplyRule, NakRule, PowerLoss, SimHandle, SimOptions, Simulator};
use station_protocol::{Key, SerialTransport, StoredConfig, Transport};

struct Bench {
    t: common::TestStore,
    flash_dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Self {
        Bench {
            t: common::store(),
            flash_dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn flash_file(&self, unit: &str) -> PathBuf {
        self.flash_dir.path().join(format!("{unit}.flash"))
    }

    fn sim(&self, unit: &str, opts: SimOptions) -> SimHandle {
        Simulator::start(SimOptions {
            flash: Some(self.flash_file(unit)),
            ..opts
        })
        .expect("start simulator")
    }

    fn batch(&mut self, count: u32) -> i64 {
        self.t
            .store
            .create_batch(
                &BatchRequest {
                    device_type: "WeatherStation".into(),
                    prefix: "farm-".into(),
                    count,
                    with_credentials: false,
                    lot: None,
                    work_order: None,
                },
                &self.t.actor,
            )
            .expect("batch")
            .batch
            .id
    }

    fn run(
        &mut self,
        sim: &SimHandle,
        job: &FlashJob,
    ) -> Result<flash::FlashOutcome, flash::FlashFailure> {
        let mut steps = Vec::new();
        let r = flash_port(
            &mut self.t.store,
            sim.port_path(),
            job,
            &self.t.actor,
            &mut |s| steps.push(s),
        );
        assert_eq!(steps.first(), Some(&FlashStep::Connect));
        r
    }

    /// Which device the unit on `sim` holds, read by this bench's station.
    fn identify(&mut self, sim: &SimHandle) -> flash::UnitReport {
        identify_port(&mut self.t.store, sim.port_path(), &self.t.actor).expect("identify")
    }

    fn device(&self, id: &str) -> Device {
        self.t.store.find_device(id).expect("device")
    }
}

fn provision(batch: i64) -> FlashJob {
    FlashJob::Provision {
        target: FlashTarget::NextInBatch(batch),
        overwrite_foreign: false,
    }
}

fn reflash() -> FlashJob {
    FlashJob::Reflash {
        expected_device_id: None,
        confirm_unbound: false,
    }
}

/// Open the unit's port and run `job` on it (the service layer does this for the faces).
fn flash_port(
    store: &mut Store,
    port: &str,
    job: &FlashJob,
    actor: &station_core::Actor,
    progress: &mut dyn FnMut(FlashStep),
) -> Result<flash::FlashOutcome, flash::FlashFailure> {
    progress(FlashStep::Connect);
    flash::run(store, open(port)?, job, actor, progress)
}

/// Open the unit's port and read which device it holds.
fn identify_port(
    store: &mut Store,
    port: &str,
    actor: &station_core::Actor,
) -> Result<flash::UnitReport, flash::FlashFailure> {
    flash::identify(store, open(port)?, actor)
}

fn open(port: &str) -> Result<SerialTransport, flash::FlashFailure> {
    SerialTransport::open(port).map_err(|e| flash::FlashFailure {
        device_id: None,
        error: flash::device_error(&e),
    })
}

/// The record and the unit agree: a record that claims generation g holds exactly what the
/// unit holds; the unit never holds credentials the record cannot verify.
fn assert_consistent(store: &Store, unit: Option<&StoredConfig>, device_id: &str) {
    let d = store.find_device(device_id).expect("device");
    let held_here = unit.filter(|c| c.get_str(Key::DeviceId) == device_id);
    match (d.flash_state, held_here) {
        (FlashState::Flashed, Some(c)) => {
            assert_eq!(
                c.generation(),
                d.generation,
                "{device_id}: unit and record disagree on the generation"
            );
            assert_eq!(c.get_str(Key::MqttUsername), d.mqtt_username);
            assert_eq!(c.get_str(Key::TopicData), d.topics.data);
            assert_eq!(c.get_str(Key::TopicStatus), d.topics.status);
            assert_eq!(c.get_str(Key::TopicCmd), d.topics.cmd);
            let hash = store
                .password_hash(device_id)
                .expect("hash")
                .expect("a flashed record has a hash");
            let pw = Secret::new(c.get_str(Key::MqttPassword).to_owned());
            assert!(
                verify_password(&pw, &hash).expect("verify"),
                "{device_id}: the unit's password fails the record's hash"
            );
            assert_eq!(d.pending_generation, None);
        }
        (FlashState::Flashed, None) => {
            panic!("{device_id}: the record claims a flash the unit does not hold")
        }
        (_, Some(c)) if d.pending_generation == Some(c.generation()) => {
            // Unknown outcome: the pending slot still holds the hash, to be settled on contact.
        }
        (state, Some(c)) => panic!(
            "{device_id}: the unit holds generation {} but the record is {state:?}",
            c.generation()
        ),
        (_, None) => {}
    }
}

#[test]
fn clean_flash_of_a_new_device_passes_and_records_everything() {
    let mut b = Bench::new();
    let batch = b.batch(3);
    let sim = b.sim("u1", SimOptions::default());
    let out = b.run(&sim, &provision(batch)).expect("flash passes");
    assert_eq!(out.device.device_id, "farm-weatherstation-001");
    assert_eq!(out.device.flash_state, FlashState::Flashed);
    assert_eq!(out.device.generation, 1);
    assert_eq!(out.device.hardware_id.as_deref(), Some(sim.hardware_id()));
    assert_eq!(
        out.device.sync_state,
        station_core::SyncState::Pending,
        "queued for the server"
    );
    assert!(!out.rotated);
    let held = sim.flash_contents().expect("unit holds a config");
    assert_eq!(held.get_str(Key::BrokerHost), "localhost");
    assert_eq!(held.get_str(Key::BrokerPort), "1883");
    assert_consistent(&b.t.store, Some(&held), "farm-weatherstation-001");
    let p = b.t.store.find_batch(batch).expect("batch");
    assert_eq!((p.flashed, p.remaining), (1, 2));
}

#[test]
fn a_new_device_of_a_type_gets_the_next_number() {
    let mut b = Bench::new();
    b.batch(2);
    let sim = b.sim("u1", SimOptions::default());
    let out = b
        .run(
            &sim,
            &FlashJob::Provision {
                target: FlashTarget::New {
                    device_type: "weatherstation".into(),
                    prefix: "farm-".into(),
                },
                overwrite_foreign: false,
            },
        )
        .expect("flash");
    assert_eq!(out.device.device_id, "farm-weatherstation-003");
    assert_eq!(out.device.batch_id, None);
    assert_consistent(
        &b.t.store,
        sim.flash_contents().as_ref(),
        "farm-weatherstation-003",
    );
}

#[test]
fn noise_drops_corruption_and_slow_replies_still_end_in_a_correct_flash() {
    let cases = [
        SimOptions {
            boot_noise: true,
            debug_prints: true,
            ..Default::default()
        },
        SimOptions {
            corrupt_rate: 0.002,
            seed: 7,
            ..Default::default()
        },
        SimOptions {
            drop_rate: 0.002,
            seed: 11,
            ..Default::default()
        },
        SimOptions {
            reply_delay: Duration::from_millis(150),
            ..Default::default()
        },
        SimOptions {
            naks: vec!["STAGE:BUSY:3".parse::<NakRule>().expect("rule")],
            ..Default::default()
        },
        SimOptions {
            drop_replies: vec!["COMMIT".parse::<DropReplyRule>().expect("rule")],
            ..Default::default()
        },
    ];
    for (i, opts) in cases.into_iter().enumerate() {
        let mut b = Bench::new();
        let batch = b.batch(1);
        let sim = b.sim("u", opts.clone());
        let out = b.run(&sim, &provision(batch));
        let device = b.device("farm-weatherstation-001");
        match out {
            Ok(o) => assert_eq!(o.device.flash_state, FlashState::Flashed, "case {i}"),
            Err(f) => assert_ne!(
                device.flash_state,
                FlashState::Flashed,
                "case {i}: failure reported on a flashed record: {}",
                f.error
            ),
        }
        // Light noise must not defeat the retries: these all end in a pass.
        assert_eq!(
            device.flash_state,
            FlashState::Flashed,
            "case {i} ({opts:?}) did not pass"
        );
        assert_consistent(
            &b.t.store,
            sim.flash_contents().as_ref(),
            "farm-weatherstation-001",
        );
    }
}

#[test]
fn device_refusals_fail_clearly_and_leave_unit_and_record_clean() {
    for (rule, reason) in [
        ("BEGIN:STORAGE_FAILED", "storage_failed"),
        ("STAGE:STORAGE_FULL", "storage_full"),
        ("COMMIT:STORAGE_FULL", "storage_full"),
        ("COMMIT:STORAGE_FAILED", "storage_failed"),
    ] {
        let mut b = Bench::new();
        let batch = b.batch(1);
        let sim = b.sim(
            "u",
            SimOptions {
                naks: vec![rule.parse::<NakRule>().expect("rule")],
                ..Default::default()
            },
        );
        let fail = b.run(&sim, &provision(batch)).expect_err("refused");
        assert_eq!(fail.device_id.as_deref(), Some("farm-weatherstation-001"));
        assert_eq!(fail.error.code(), ErrorCode::Device);
        match &fail.error {
            station_core::CoreError::Device {
                reason: r, message, ..
            } => {
                assert_eq!(r.as_str(), reason, "{rule}: {message}");
                assert!(!message.is_empty());
            }
            other => panic!("{rule}: {other}"),
        }
        let d = b.device("farm-weatherstation-001");
        assert_eq!(
            (d.flash_state, d.generation, d.pending_generation),
            (FlashState::Failed, 0, None),
            "{rule}"
        );
        assert!(d.flash_error.is_some());
        assert!(
            sim.flash_contents().is_none(),
            "{rule}: the unit kept something"
        );
        assert_consistent(
            &b.t.store,
            sim.flash_contents().as_ref(),
            "farm-weatherstation-001",
        );
    }
}

#[test]
fn unplug_mid_write_fails_then_a_retry_flashes_fresh_credentials() {
    let mut b = Bench::new();
    let batch = b.batch(1);
    let sim = b.sim(
        "u",
        SimOptions {
            unplug_after_stages: Some(4),
            ..Default::default()
        },
    );
    let fail = b.run(&sim, &provision(batch)).expect_err("unplugged");
    assert!(
        fail.error.to_string().contains("unplugged"),
        "{}",
        fail.error
    );
    drop(sim);
    let d = b.device("farm-weatherstation-001");
    assert_eq!(
        (d.flash_state, d.pending_generation),
        (FlashState::Failed, None)
    );
    // Plugged back in: the retry takes the same device with a fresh generation.
    let sim = b.sim("u", SimOptions::default());
    let out = b.run(&sim, &provision(batch)).expect("retry passes");
    assert_eq!(out.device.device_id, "farm-weatherstation-001");
    assert_eq!(out.device.generation, 2, "a retry issues fresh credentials");
    assert_consistent(
        &b.t.store,
        sim.flash_contents().as_ref(),
        "farm-weatherstation-001",
    );
}

#[test]
fn power_loss_before_commit_is_settled_as_not_flashed_on_next_contact() {
    let mut b = Bench::new();
    let batch = b.batch(1);
    let sim = b.sim(
        "u",
        SimOptions {
            power_loss: Some(PowerLoss::BeforeCommit),
            ..Default::default()
        },
    );
    let fail = b.run(&sim, &provision(batch)).expect_err("power lost");
    match &fail.error {
        station_core::CoreError::Device { reason, .. } => {
            assert_eq!(reason.as_str(), "commit_outcome_unknown")
        }
        other => panic!("{other}"),
    }
    drop(sim);
    let d = b.device("farm-weatherstation-001");
    assert_eq!(
        d.pending_generation,
        Some(1),
        "unknown outcome keeps the pending hash"
    );
    assert_eq!(d.flash_state, FlashState::Flashing);
    let sim = b.sim("u", SimOptions::default());
    let out = b.run(&sim, &FlashJob::Recover).expect("settled");
    assert_eq!(
        out.recovered,
        vec![("farm-weatherstation-001".to_owned(), Resolution::Discarded)]
    );
    let d = b.device("farm-weatherstation-001");
    assert_eq!(
        (d.flash_state, d.pending_generation, d.generation),
        (FlashState::Failed, None, 0)
    );
    assert_consistent(
        &b.t.store,
        sim.flash_contents().as_ref(),
        "farm-weatherstation-001",
    );
}

#[test]
fn power_loss_after_commit_is_settled_as_flashed_on_next_contact() {
    let mut b = Bench::new();
    let batch = b.batch(2);
    let sim = b.sim(
        "u",
        SimOptions {
            power_loss: Some(PowerLoss::AfterCommit),
            ..Default::default()
        },
    );
    b.run(&sim, &provision(batch)).expect_err("power lost");
    drop(sim);
    let sim = b.sim("u", SimOptions::default());
    // The next contact is a provisioning attempt: it first settles the earlier flash, then
    // refuses to turn an identified unit into a second device.
    let fail = b
        .run(&sim, &provision(batch))
        .expect_err("unit already holds a device");
    assert!(
        fail.error
            .to_string()
            .contains("already device farm-weatherstation-001"),
        "{}",
        fail.error
    );
    let d = b.device("farm-weatherstation-001");
    assert_eq!(
        (d.flash_state, d.generation, d.pending_generation),
        (FlashState::Flashed, 1, None)
    );
    assert_eq!(
        b.device("farm-weatherstation-002").flash_state,
        FlashState::None,
        "nothing else was touched"
    );
    assert_consistent(
        &b.t.store,
        sim.flash_contents().as_ref(),
        "farm-weatherstation-001",
    );
}

#[test]
fn rotation_interrupted_at_every_step_keeps_the_old_generation_on_both_sides() {
    let mut b = Bench::new();
    let batch = b.batch(1);
    let id = "farm-weatherstation-001";
    {
        let sim = b.sim("u", SimOptions::default());
        b.run(&sim, &provision(batch)).expect("first flash");
    }
    // Unplugged after 0..=10 staged keys: the unit and the record keep generation 1 (or the
    // last generation that did land).
    for stages in 0..=10u32 {
        let sim = b.sim(
            "u",
            SimOptions {
                unplug_after_stages: Some(stages),
                ..Default::default()
            },
        );
        let before = b.device(id).generation;
        b.run(&sim, &reflash()).expect_err("unplugged");
        drop(sim);
        let d = b.device(id);
        assert_eq!(
            (d.generation, d.pending_generation),
            (before, None),
            "after {stages} stages"
        );
        assert_eq!(d.flash_state, FlashState::Flashed);
        let sim = b.sim("u", SimOptions::default());
        assert_consistent(&b.t.store, sim.flash_contents().as_ref(), id);
    }
    // Refused at commit: the same.
    let sim = b.sim(
        "u",
        SimOptions {
            naks: vec!["COMMIT:DIGEST_MISMATCH".parse::<NakRule>().expect("rule")],
            ..Default::default()
        },
    );
    b.run(&sim, &reflash()).expect_err("refused");
    assert_consistent(&b.t.store, sim.flash_contents().as_ref(), id);
    drop(sim);
    // Power lost after the commit: settled as rotated on the next contact.
    let sim = b.sim(
        "u",
        SimOptions {
            power_loss: Some(PowerLoss::AfterCommit),
            ..Default::default()
        },
    );
    b.run(&sim, &reflash()).expect_err("power lost");
    let pending = b.device(id).pending_generation.expect("pending kept");
    drop(sim);
    let sim = b.sim("u", SimOptions::default());
    let out = b.run(&sim, &FlashJob::Recover).expect("recover");
    assert_eq!(out.recovered, vec![(id.to_string(), Resolution::Promoted)]);
    assert_eq!(b.device(id).generation, pending);
    assert_consistent(&b.t.store, sim.flash_contents().as_ref(), id);
    // And a clean rotation after all that.
    let out = b.run(&sim, &reflash()).expect("rotate");
    assert!(out.rotated);
    assert_eq!(out.device.generation, pending + 1);
    assert_consistent(&b.t.store, sim.flash_contents().as_ref(), id);
}

#[test]
fn an_already_provisioned_unit_is_not_silently_provisioned_again() {
    let mut b = Bench::new();
    let batch = b.batch(2);
    let sim = b.sim("u", SimOptions::default());
    b.run(&sim, &provision(batch)).expect("first");
    let before = sim.flash_contents().expect("held").digest();
    let fail = b.run(&sim, &provision(batch)).expect_err("refused");
    match &fail.error {
        station_core::CoreError::Device { reason, .. } => {
            assert_eq!(reason.as_str(), "already_provisioned")
        }
        other => panic!("{other}"),
    }
    assert!(
        fail.error.help().contains("re-flash"),
        "{}",
        fail.error.help()
    );
    assert_eq!(
        sim.flash_contents().expect("held").digest(),
        before,
        "unit changed"
    );
    assert_eq!(
        b.device("farm-weatherstation-002").flash_state,
        FlashState::None
    );
    // Once its device is deactivated, the unit may be reused for a new device.
    b.t.store
        .deactivate("farm-weatherstation-001", &b.t.actor, "unit reused")
        .expect("deactivate");
    let out = b.run(&sim, &provision(batch)).expect("reuse");
    assert_eq!(out.device.device_id, "farm-weatherstation-002");
    assert_consistent(
        &b.t.store,
        sim.flash_contents().as_ref(),
        "farm-weatherstation-002",
    );
}

#[test]
fn a_unit_with_a_foreign_identity_needs_an_explicit_overwrite() {
    let mut b = Bench::new();
    let batch = b.batch(1);
    let sim = b.sim("u", SimOptions::default());
    // Another station's database provisioned this unit.
    let mut other = common::store();
    let other_batch = other
        .store
        .create_batch(
            &BatchRequest {
                device_type: "WeatherStation".into(),
                prefix: "elsewhere-".into(),
                count: 1,
                with_credentials: false,
                lot: None,
                work_order: None,
            },
            &other.actor,
        )
        .expect("batch")
        .batch
        .id;
    flash_port(
        &mut other.store,
        sim.port_path(),
        &provision(other_batch),
        &other.actor,
        &mut |_| {},
    )
    .expect("other station flashes");
    let fail = b.run(&sim, &provision(batch)).expect_err("foreign");
    assert!(
        fail.error.to_string().contains("does not know"),
        "{}",
        fail.error
    );
    let out = b
        .run(
            &sim,
            &FlashJob::Provision {
                target: FlashTarget::NextInBatch(batch),
                overwrite_foreign: true,
            },
        )
        .expect("overwrite");
    assert_consistent(
        &b.t.store,
        sim.flash_contents().as_ref(),
        &out.device.device_id,
    );
}

#[test]
fn a_copied_unit_is_refused_for_reflash() {
    let mut b = Bench::new();
    let batch = b.batch(1);
    {
        let sim = b.sim("a", SimOptions::default());
        b.run(&sim, &provision(batch)).expect("flash a");
    }
    // Unit b carries a copy of a's flash but its own chip id.
    std::fs::copy(b.flash_file("a"), b.flash_file("b")).expect("copy flash");
    let sim_b = b.sim(
        "b",
        SimOptions {
            hardware_id: Some("B0B0B0B0B0B0".into()),
            ..Default::default()
        },
    );
    let fail = b.run(&sim_b, &reflash()).expect_err("copied unit");
    match &fail.error {
        station_core::CoreError::Device { reason, .. } => {
            assert_eq!(reason.as_str(), "hardware_mismatch")
        }
        other => panic!("{other}"),
    }
    assert_eq!(b.device("farm-weatherstation-001").generation, 1);
    assert_eq!(b.device("farm-weatherstation-001").pending_generation, None);
}

/// A transport that answers the handshake from unit A and then, as if the operator swapped
/// the cable, carries everything else to unit B.
struct SwappedAfterHello {
    a: SerialTransport,
    b: SerialTransport,
    swapped: bool,
}

impl Transport for SwappedAfterHello {
    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if !self.swapped && bytes.windows(5).any(|w| w == b"BEGIN") {
            self.swapped = true;
        }
        if self.swapped {
            self.b.send(bytes)
        } else {
            self.a.send(bytes)
        }
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> std::io::Result<usize> {
        if self.swapped {
            self.b.recv(buf, timeout)
        } else {
            self.a.recv(buf, timeout)
        }
    }
}

#[test]
fn a_unit_swapped_between_identify_and_commit_aborts_the_flash() {
    let mut b = Bench::new();
    let batch = b.batch(1);
    let sim_a = b.sim("a", SimOptions::default());
    let sim_b = b.sim(
        "b",
        SimOptions {
            hardware_id: Some("B1B2B3B4".into()),
            ..Default::default()
        },
    );
    let transport = SwappedAfterHello {
        a: SerialTransport::open(sim_a.port_path()).expect("open a"),
        b: SerialTransport::open(sim_b.port_path()).expect("open b"),
        swapped: false,
    };
    let fail = flash::run(
        &mut b.t.store,
        transport,
        &provision(batch),
        &b.t.actor,
        &mut |_| {},
    )
    .expect_err("swapped unit");
    match &fail.error {
        station_core::CoreError::Device { reason, .. } => {
            assert_eq!(reason.as_str(), "hwid_mismatch")
        }
        other => panic!("{other}"),
    }
    assert!(sim_a.flash_contents().is_none() && sim_b.flash_contents().is_none());
    let d = b.device("farm-weatherstation-001");
    assert_eq!(
        (d.flash_state, d.generation, d.pending_generation),
        (FlashState::Failed, 0, None)
    );
}

#[test]
fn no_plaintext_password_in_station_files_after_flashing() {
    let mut b = Bench::new();
    let batch = b.batch(3);
    let mut passwords = Vec::new();
    for i in 0..3 {
        let sim = b.sim(&format!("u{i}"), SimOptions::default());
        b.run(&sim, &provision(batch)).expect("flash");
        b.run(&sim, &reflash()).expect("rotate");
        passwords.push(
            sim.flash_contents()
                .expect("held")
                .get_str(Key::MqttPassword)
                .to_owned(),
        );
    }
    station_core::export::export_to_file(
        &b.t.store,
        &Default::default(),
        station_core::export::ExportFormat::Csv,
        &b.t.dir.path().join("all.csv"),
    )
    .expect("export");
    for entry in std::fs::read_dir(b.t.dir.path()).expect("dir").flatten() {
        let bytes = std::fs::read(entry.path()).expect("read");
        for pw in &passwords {
            assert!(
                !bytes.windows(pw.len()).any(|w| w == pw.as_bytes()),
                "password in {}",
                entry.path().display()
            );
        }
    }
}

#[test]
fn a_unit_marked_rotation_due_is_rotated_when_plugged_in_for_provisioning() {
    let mut b = Bench::new();
    let batch = b.batch(2);
    let sim = b.sim("u1", SimOptions::default());
    b.run(&sim, &provision(batch)).expect("first flash");
    b.t.store
        .mark_rotation_due(
            &station_core::DeviceFilter {
                batch_id: Some(batch),
                ..Default::default()
            },
            &b.t.actor,
        )
        .expect("mark");
    let out = b.run(&sim, &provision(batch)).expect("rotated on plug-in");
    assert!(out.rotated);
    assert_eq!(out.device.device_id, "farm-weatherstation-001");
    assert_eq!(out.device.generation, 2);
    assert!(
        !out.device.rotation_due,
        "the mark is cleared by the rotation"
    );
    assert_eq!(
        b.device("farm-weatherstation-002").flash_state,
        FlashState::None,
        "no new device taken"
    );
    assert_consistent(
        &b.t.store,
        sim.flash_contents().as_ref(),
        "farm-weatherstation-001",
    );
}

#[test]
fn identify_reads_which_device_a_unit_holds_and_writes_nothing() {
    let mut b = Bench::new();
    let batch = b.batch(1);
    let sim = b.sim("u", SimOptions::default());

    // A blank unit is an answer, not a failure.
    let blank = b.identify(&sim);
    assert_eq!(blank.hardware_id, sim.hardware_id());
    assert_eq!((blank.device_id.as_deref(), blank.generation), (None, None));
    assert!(blank.device.is_none() && blank.recovered.is_empty());
    assert!(sim.flash_contents().is_none(), "identify wrote nothing");

    let flashed = b.run(&sim, &provision(batch)).expect("flash");
    let before = sim.flash_contents();
    let report = b.identify(&sim);
    assert_eq!(report.device_id.as_deref(), Some("farm-weatherstation-001"));
    assert_eq!(report.generation, Some(1));
    let device = report.device.expect("this station knows it");
    assert_eq!(device.device_id, flashed.device.device_id);
    assert_eq!(device.hardware_id.as_deref(), Some(sim.hardware_id()));
    assert_eq!(sim.flash_contents(), before, "identify wrote nothing");
}

#[test]
fn identify_settles_an_unconfirmed_flash_and_names_a_foreign_device() {
    let mut b = Bench::new();
    let batch = b.batch(1);
    let sim = b.sim(
        "u",
        SimOptions {
            power_loss: Some(PowerLoss::AfterCommit),
            ..Default::default()
        },
    );
    b.run(&sim, &provision(batch)).expect_err("power lost");
    drop(sim);
    assert_eq!(
        b.device("farm-weatherstation-001").flash_state,
        FlashState::Flashing
    );
    let sim = b.sim("u", SimOptions::default());
    let report = b.identify(&sim);
    assert_eq!(
        report.recovered,
        vec![("farm-weatherstation-001".to_owned(), Resolution::Promoted)]
    );
    let device = report.device.expect("known");
    assert_eq!(
        (device.flash_state, device.generation),
        (FlashState::Flashed, 1)
    );
    // The promotion and its "recovered" line are written together.
    let kinds: Vec<(String, Option<u32>)> =
        b.t.store
            .device_history("farm-weatherstation-001")
            .expect("history")
            .into_iter()
            .map(|e| (e.kind, e.generation))
            .collect();
    assert!(
        kinds.ends_with(&[
            ("flashed".to_owned(), Some(1)),
            ("recovered".to_owned(), Some(1))
        ]),
        "{kinds:?}"
    );
    assert_consistent(
        &b.t.store,
        sim.flash_contents().as_ref(),
        "farm-weatherstation-001",
    );

    // The same unit read by another station, which never made that device.
    let mut other = common::store();
    let report = identify_port(&mut other.store, sim.port_path(), &other.actor).expect("identify");
    assert_eq!(report.device_id.as_deref(), Some("farm-weatherstation-001"));
    assert!(report.device.is_none(), "not this station's device");
}

// ---- Outcomes that contradicted the state (issue 9): each pinned by the test named after it.

#[test]
fn a_database_failure_after_the_unit_confirmed_says_the_unit_holds_the_new_generation() {
    let mut b = Bench::new();
    let batch = b.batch(1);
    let id = "farm-weatherstation-001";
    let sim = b.sim("u", SimOptions::default());
    let path = b.t.store.path().to_path_buf();
    // Another process takes the write lock just as the station starts recording.
    let mut locker: Option<rusqlite::Connection> = None;
    let result = flash_port(
        &mut b.t.store,
        sim.port_path(),
        &provision(batch),
        &b.t.actor,
        &mut |s| {
            if s == FlashStep::Record && locker.is_none() {
                let c = rusqlite::Connection::open(&path).expect("second connection");
                c.execute_batch("BEGIN IMMEDIATE")
                    .expect("hold the write lock");
                locker = Some(c);
            }
        },
    );
    drop(locker);
    let fail = result.expect_err("recording failed");
    assert_eq!(fail.device_id.as_deref(), Some(id));
    assert_eq!(fail.error.code(), ErrorCode::DatabaseBusy, "{}", fail.error);
    assert_eq!(fail.error.reason(), Some(FailReason::NotRecorded));
    assert_eq!(fail.error.action(), Action::RunRecover);
    let said = format!("{} / {}", fail.error, fail.error.help());
    assert!(!said.contains("nothing was changed"), "{said}");
    assert!(said.contains("holds credential generation 1"), "{said}");
    // What it said is true: the unit holds generation 1, the record keeps it pending.
    let held = sim.flash_contents().expect("the unit committed");
    assert_eq!((held.get_str(Key::DeviceId), held.generation()), (id, 1));
    assert_eq!(b.device(id).pending_generation, Some(1));
    // And the next contact records it.
    let out = b.run(&sim, &FlashJob::Recover).expect("recover");
    assert_eq!(out.recovered, vec![(id.to_owned(), Resolution::Promoted)]);
    assert_consistent(&b.t.store, Some(&held), id);
}

#[test]
fn recover_on_a_blank_unit_reports_the_flash_it_settled_and_records_it() {
    let mut b = Bench::new();
    let batch = b.batch(1);
    let id = "farm-weatherstation-001";
    let sim = b.sim(
        "u",
        SimOptions {
            power_loss: Some(PowerLoss::BeforeCommit),
            ..Default::default()
        },
    );
    b.run(&sim, &provision(batch)).expect_err("power lost");
    drop(sim);
    let sim = b.sim("u", SimOptions::default());
    let out = b
        .run(&sim, &FlashJob::Recover)
        .expect("settling a flash is not \"nothing to recover\"");
    assert_eq!(out.recovered, vec![(id.to_owned(), Resolution::Discarded)]);
    assert_eq!(out.device.device_id, id);
    assert_eq!(out.device.flash_state, FlashState::Failed);
    let kinds: Vec<String> =
        b.t.store
            .device_history(id)
            .expect("history")
            .into_iter()
            .map(|e| e.kind)
            .collect();
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("recovered"),
        "{kinds:?}"
    );
    // A blank unit with nothing to settle is still "nothing to recover".
    let fail = b.run(&sim, &FlashJob::Recover).expect_err("nothing");
    assert_eq!(fail.error.reason(), Some(FailReason::NoIdentity));
    assert_consistent(&b.t.store, sim.flash_contents().as_ref(), id);
}

#[test]
fn commit_outcome_unknown_message_and_help_agree_the_station_settles_it() {
    let mut b = Bench::new();
    let batch = b.batch(1);
    let sim = b.sim(
        "u",
        SimOptions {
            power_loss: Some(PowerLoss::AfterCommit),
            ..Default::default()
        },
    );
    let fail = b.run(&sim, &provision(batch)).expect_err("power lost");
    assert_eq!(fail.error.reason(), Some(FailReason::CommitOutcomeUnknown));
    assert_eq!(fail.error.action(), Action::RunRecover);
    let help = fail.error.help();
    assert!(!help.contains("fresh credentials"), "{help}");
    assert!(!help.contains("try again"), "{help}");
    assert!(
        help.contains("let the station read it")
            && fail
                .error
                .to_string()
                .contains("let the station check it again"),
        "{} / {help}",
        fail.error
    );
}

#[test]
fn a_port_held_by_another_program_is_port_busy_not_set_aside() {
    let mut b = Bench::new();
    let batch = b.batch(1);
    let sim = b.sim("u", SimOptions::default());
    let holder = SerialTransport::open(sim.port_path()).expect("another program opens the port");
    let fail = b.run(&sim, &provision(batch)).expect_err("port busy");
    assert_eq!(
        fail.error.reason(),
        Some(FailReason::PortBusy),
        "{}",
        fail.error
    );
    assert_eq!(fail.error.action(), Action::FreePort);
    assert!(
        !fail.error.help().contains("aside"),
        "{}",
        fail.error.help()
    );
    assert_eq!(
        b.device("farm-weatherstation-001").flash_state,
        FlashState::None
    );
    drop(holder);
    b.run(&sim, &provision(batch)).expect("free port flashes");
}

#[test]
fn a_flashed_device_never_carries_an_old_flash_error() {
    let mut b = Bench::new();
    let batch = b.batch(1);
    let id = "farm-weatherstation-001";
    let refusing = SimOptions {
        naks: vec!["COMMIT:STORAGE_FAILED".parse::<NakRule>().expect("rule")],
        ..Default::default()
    };
    {
        let sim = b.sim("u", refusing.clone());
        b.run(&sim, &provision(batch)).expect_err("refused");
    }
    assert!(
        b.device(id).flash_error.is_some(),
        "a failed flash says why"
    );
    {
        let sim = b.sim("u", SimOptions::default());
        b.run(&sim, &provision(batch)).expect("flash");
    }
    assert_eq!(b.device(id).flash_error, None);
    // A failed rotation leaves the device flashed with its old generation: no error on it.
    let before = b.device(id).generation;
    let sim = b.sim("u", refusing);
    b.run(&sim, &reflash()).expect_err("refused");
    let d = b.device(id);
    assert_eq!((d.flash_state, d.generation), (FlashState::Flashed, before));
    assert_eq!(
        d.flash_error, None,
        "a flashed device carries a flash_error"
    );
}

// ---- Version 1.1's faster wire (spec §10.1): the write's rate, and a failed switch that is
// ---- never a failed flash.

/// Provisions a new device into a simulator started with `opts`; the record and the unit agree.
fn provision_with(opts: SimOptions) -> (Bench, SimHandle, flash::FlashOutcome) {
    let mut b = Bench::new();
    let batch = b.batch(1);
    let sim = b.sim("u1", opts);
    let out = b.run(&sim, &provision(batch)).expect("flash passes");
    assert_eq!(out.device.flash_state, FlashState::Flashed);
    let held = sim.flash_contents().expect("unit holds a config");
    assert_consistent(&b.t.store, Some(&held), &out.device.device_id);
    (b, sim, out)
}

#[test]
fn a_unit_offering_baud_is_written_at_921600_and_holds_what_the_record_says() {
    let (_b, _sim, out) = provision_with(SimOptions {
        baud: Some(station_protocol::spec::BAUD_RATE),
        ..SimOptions::default()
    });
    assert_eq!(out.link_baud, 921_600);
    assert!(!out.protocol_1_0_unit);
    assert_eq!(out.stats.link_baud, 921_600);
    assert_eq!(out.stats.retries, 0);
}

#[test]
fn a_protocol_1_0_unit_still_provisions_at_115200_and_the_result_says_so() {
    let (_b, _sim, out) = provision_with(SimOptions {
        baud_rates: Vec::new(),
        prove: false,
        ..SimOptions::default()
    });
    assert_eq!(out.link_baud, 115_200);
    assert!(out.protocol_1_0_unit);
    // A unit with one of version 1.1's capabilities is not a 1.0 unit, even without BAUD.
    let (_b, _sim, out) = provision_with(SimOptions {
        baud_rates: Vec::new(),
        ..SimOptions::default()
    });
    assert_eq!(out.link_baud, 115_200);
    assert!(!out.protocol_1_0_unit);
}

// ---- Version 1.1's write gate and small receive buffers (spec §10.2, §10.3).

fn gated(write_allowed: bool) -> SimOptions {
    SimOptions {
        gate: true,
        write_allowed,
        ..SimOptions::default()
    }
}

/// The reason and action of a device refusal.
fn device_reason(fail: &flash::FlashFailure) -> (FailReason, Action) {
    match &fail.error {
        station_core::CoreError::Device { reason, .. } => (*reason, fail.error.action()),
        other => panic!("not a device refusal: {other}"),
    }
}

#[test]
fn a_locked_unit_refuses_a_reflash_with_the_reason_and_nothing_changes_until_it_is_allowed() {
    let mut b = Bench::new();
    let batch = b.batch(1);
    let id = "farm-weatherstation-001";
    {
        // A gated unit that holds no config takes its first write without an allowance.
        let sim = b.sim("u", gated(false));
        b.run(&sim, &provision(batch)).expect("first write");
    }
    let before = b.device(id);
    let held = {
        let sim = b.sim("u", gated(false));
        let fail = b.run(&sim, &reflash()).expect_err("locked");
        assert_eq!(
            device_reason(&fail),
            (FailReason::Locked, Action::UnlockUnit)
        );
        assert!(
            fail.error.help().contains("factory mode"),
            "{}",
            fail.error.help()
        );
        let d = b.device(id);
        assert_eq!(
            (d.flash_state, d.generation, d.pending_generation),
            (FlashState::Flashed, before.generation, None),
            "the record moved"
        );
        let held = sim.flash_contents().expect("the unit keeps its config");
        assert_eq!(held.generation(), before.generation);
        assert_consistent(&b.t.store, Some(&held), id);
        held
    };
    // The jumper set: the same re-flash passes, one generation up.
    let sim = b.sim("u", gated(true));
    let out = b.run(&sim, &reflash()).expect("allowed");
    assert!(out.device.generation > held.generation());
    assert_consistent(&b.t.store, sim.flash_contents().as_ref(), id);
}

#[test]
fn a_stale_generation_refusal_names_its_reason_and_leaves_unit_and_record() {
    let mut b = Bench::new();
    let batch = b.batch(1);
    let id = "farm-weatherstation-001";
    {
        let sim = b.sim("u", gated(true));
        b.run(&sim, &provision(batch)).expect("first write");
    }
    let before = b.device(id);
    let sim = b.sim(
        "u",
        SimOptions {
            naks: vec!["COMMIT:STALE_GENERATION".parse::<NakRule>().expect("rule")],
            ..gated(true)
        },
    );
    let fail = b.run(&sim, &reflash()).expect_err("stale");
    assert_eq!(
        device_reason(&fail),
        (FailReason::StaleGeneration, Action::ReportBug)
    );
    let d = b.device(id);
    assert_eq!(
        (d.generation, d.pending_generation),
        (before.generation, None)
    );
    assert_consistent(&b.t.store, sim.flash_contents().as_ref(), id);
}

/// Regression: a gated unit refuses a generation that is not above the one it holds, so a unit
/// overwritten from another station (which had written it three times) must get a generation
/// above 3, not the new device's first.
#[test]
fn a_gated_unit_from_another_station_is_written_above_the_generation_it_holds() {
    let mut b = Bench::new();
    let batch = b.batch(1);
    let sim = b.sim("u", gated(true));
    let mut other = common::store();
    let other_batch = other
        .store
        .create_batch(
            &BatchRequest {
                device_type: "WeatherStation".into(),
                prefix: "elsewhere-".into(),
                count: 1,
                with_credentials: false,
                lot: None,
                work_order: None,
            },
            &other.actor,
        )
        .expect("batch")
        .batch
        .id;
    for job in [provision(other_batch), reflash(), reflash()] {
        flash_port(
            &mut other.store,
            sim.port_path(),
            &job,
            &other.actor,
            &mut |_| {},
        )
        .expect("the other station writes");
    }
    let held = sim.flash_contents().expect("held").generation();
    assert_eq!(held, 3);
    let out = b
        .run(
            &sim,
            &FlashJob::Provision {
                target: FlashTarget::NextInBatch(batch),
                overwrite_foreign: true,
            },
        )
        .expect("overwrite above the held generation");
    assert_eq!(out.device.generation, held + 1);
    assert_consistent(
        &b.t.store,
        sim.flash_contents().as_ref(),
        &out.device.device_id,
    );
}

#[test]
fn a_frame64_unit_is_provisioned_in_stage_frames_that_fit_64_bytes() {
    let (_b, _sim, small) = provision_with(SimOptions {
        frame_limit: Some(station_protocol::spec::MIN_FRAME_LIMIT),
        ..SimOptions::default()
    });
    // The unit answers BAD_FRAME to any longer STAGE: passing is the proof; it took more frames.
    let (_b, _sim, big) = provision_with(SimOptions::default());
    assert!(
        small.stats.frames_sent > big.stats.frames_sent,
        "{} vs {}",
        small.stats.frames_sent,
        big.stats.frames_sent
    );
    assert!(!small.protocol_1_0_unit);
}

#[test]
fn an_unreachable_rate_still_passes_at_115200_about_a_second_later() {
    let (_b, _sim, out) = provision_with(SimOptions {
        baud_unreachable: true,
        ..SimOptions::default()
    });
    assert_eq!(out.link_baud, 115_200);
    assert!(
        !out.protocol_1_0_unit,
        "the unit offered BAUD; the line could not run it"
    );
    let revert = station_protocol::spec::BAUD_IDLE_REVERT.as_millis() as u64;
    assert!(
        (revert..revert + 1500).contains(&out.stats.baud_switch_ms),
        "the fallback cost {} ms",
        out.stats.baud_switch_ms
    );
}

#[test]
fn a_rate_the_unit_lacks_falls_to_the_next_and_the_flash_runs_there() {
    let (_b, _sim, out) = provision_with(SimOptions {
        baud_rates: vec![460_800],
        ..SimOptions::default()
    });
    assert_eq!(out.link_baud, 460_800);
}

/// A re-flash switches too, and the unit (reset to 115200 when the port is opened again)
/// is identified at 115200 first.
#[test]
fn a_reflash_after_a_fast_flash_identifies_at_115200_and_switches_again() {
    let (mut b, sim, first) = provision_with(SimOptions::default());
    assert_eq!(first.link_baud, 921_600);
    let out = b.run(&sim, &reflash()).expect("re-flash passes");
    assert!(out.rotated);
    assert_eq!(out.link_baud, 921_600);
    let held = sim.flash_contents().expect("unit holds a config");
    assert_consistent(&b.t.store, Some(&held), &out.device.device_id);
}
