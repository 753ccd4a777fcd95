//! The rogue-unit suite (issue 10, finding 3): simulated units over real pseudo-terminals that
//! claim a device they do not hold. A device's id and generation are not secret (they are in
//! exports and hook payloads), and neither is a unit's hardware id, so a unit can claim any of
//! them. Every case asserts what the station promises: the claimed device's record (generation,
//! hashes, bound unit, pending flash) is unchanged, the real unit's stored config is unchanged
//! (it still connects), and the operator sees why it was refused. The auto path (`watch`, the
//! app's auto-flash: a new-device request on every unit plugged in) is run with each rogue.
//!
//! The happy path is here too: the real unit re-flashes with a passing possession proof
//! (protocol §10.3), and each proof uses up its own verifier.

use station_core::flash::FlashFailure;
use station_core::{Actor, BatchRequest, CoreError, FailReason, FlashTarget, Store};
use station_devsim::{NakRule, SimHandle, SimOptions, Simulator, StoredConfig};
use station_protocol::config::test_vector_config;
use station_protocol::{Command, DeviceErrorCode};
use station_service::{FlashRequest, Flasher, JobReport, NoSink};
use zeroize::Zeroizing;

mod common;

const D: &str = "farm-weatherstation-001";
const ROGUE_HWID: &str = "BADBADBADBAD0001";

struct Bench {
    dir: tempfile::TempDir,
    flasher: Flasher,
}

/// Everything the station keeps about a device that a rogue must not change.
#[derive(Debug, PartialEq)]
struct Record {
    device: serde_json::Value,
    password_hash: Option<String>,
    pending_unit: Option<String>,
}

impl Bench {
    fn new() -> Bench {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("station.sqlite3");
        common::station_database(&db);
        let flasher = common::flasher(db, None);
        Bench { dir, flasher }
    }

    fn store(&self) -> Store {
        Store::open(self.flasher.db_path()).expect("store")
    }

    fn batch(&self, count: u32) -> i64 {
        let (b, _) =
            station_service::records::create_batch(&mut self.store(), &request(count), None)
                .expect("batch");
        b.batch.id
    }

    /// The unit `name` with its flash file in the bench's folder (same name, same unit).
    fn unit(&self, name: &str, opts: SimOptions) -> SimHandle {
        Simulator::start(SimOptions {
            flash: Some(self.dir.path().join(format!("{name}.flash"))),
            ..opts
        })
        .expect("simulator")
    }

    /// A unit whose flash holds `config` (what a rogue copies or makes up), then started.
    fn unit_holding(&self, name: &str, config: &StoredConfig, opts: SimOptions) -> SimHandle {
        let path = self.dir.path().join(format!("{name}.flash"));
        // Sealed under this process's key, as the in-process simulator reads its flash file.
        let key = station_devsim::FlashKey::process().expect("flash key");
        let mut flash = station_devsim::Flash::file(&path, key, None);
        station_protocol::device::Storage::store(&mut flash, &config.to_blob())
            .expect("write flash");
        self.unit(name, opts)
    }

    fn run(&self, unit: &SimHandle, request: &FlashRequest) -> JobReport {
        let mut reports = self
            .flasher
            .run_ports(&[unit.port_path().to_owned()], request, &NoSink)
            .expect("run");
        reports.pop().expect("one report")
    }

    fn record(&self, device_id: &str) -> Record {
        let store = self.store();
        Record {
            device: serde_json::to_value(store.find_device(device_id).expect("device"))
                .expect("json"),
            password_hash: store.password_hash(device_id).expect("hash"),
            pending_unit: store.pending_unit(device_id).expect("pending unit"),
        }
    }

    fn verifiers(&self, device_id: &str) -> Vec<(u32, String)> {
        self.store().proof_verifiers(device_id).expect("verifiers")
    }

    /// The real unit R, flashed with D (generation 1) from a new batch.
    fn real_unit_with_d(&self) -> SimHandle {
        let batch = self.batch(2);
        let real = self.unit("real", SimOptions::default());
        self.run(&real, &auto(batch)).result.expect("first flash");
        real
    }

    /// An unconfirmed flash of D's generation 2 into the real unit: the station wrote it, the
    /// answer never came (the plaintext is gone with the crash).
    fn pending_flash_into(&self, real: &SimHandle) {
        let actor = Actor::new("tester", "line-1").expect("actor");
        let creds = self
            .store()
            .begin_flash(&FlashTarget::Device(D.into()), real.hardware_id(), &actor)
            .expect("begin");
        assert_eq!(creds.generation, 2);
    }
}

fn request(count: u32) -> BatchRequest {
    BatchRequest {
        device_type: "WeatherStation".into(),
        prefix: "farm-".into(),
        count,
        with_credentials: false,
        lot: None,
        work_order: None,
    }
}

/// What `watch` and the app's auto-flash ask of every unit plugged in.
fn auto(batch_id: i64) -> FlashRequest {
    FlashRequest::NextInBatch {
        batch_id,
        overwrite_foreign: false,
    }
}

fn reflash(device_id: Option<&str>, confirm_unbound: bool) -> FlashRequest {
    FlashRequest::Reflash {
        device_id: device_id.map(str::to_owned),
        confirm_unbound,
    }
}

/// A config claiming `device_id` at `generation`, with a password the claimant made up (the
/// real one is write-only: no command ever returns it).
fn claim(device_id: &str, generation: u32, password: &str) -> StoredConfig {
    let mut cfg = test_vector_config();
    cfg.device_id = device_id.to_owned();
    cfg.generation = generation;
    cfg.mqtt_password = Zeroizing::new(password.to_owned());
    StoredConfig::from_config(&cfg)
}

fn reason(f: &FlashFailure) -> FailReason {
    match &f.error {
        CoreError::Device { reason, .. } => *reason,
        other => panic!("not a unit's refusal: {other}"),
    }
}

/// The job failed with `expected`, and the operator is told why, in words naming the unit.
fn assert_refused(report: &JobReport, expected: FailReason, case: &str) -> String {
    let f = report
        .result
        .as_ref()
        .err()
        .unwrap_or_else(|| panic!("{case}: the rogue passed"));
    assert_eq!(reason(f), expected, "{case}: {}", f.error);
    let said = f.error.to_string();
    assert!(
        said.contains("not changed") || said.contains("Nothing was changed"),
        "{case}: {said}"
    );
    said
}

/// A unit claiming D with another hardware id, D pending or not, the same generation or not:
/// recovery settles nothing, a re-flash (even confirmed) writes nothing, and auto-flash refuses;
/// D's record and the real unit stay as they were.
#[test]
fn a_unit_claiming_d_with_another_hardware_id_changes_nothing() {
    for pending in [false, true] {
        // Pending: the claim of the pending generation would promote it, of the current one
        // would discard it. Not pending: the current generation, or one never issued.
        let claimed = if pending { [2, 1] } else { [1, 5] };
        for generation in claimed {
            let b = Bench::new();
            let real = b.real_unit_with_d();
            if pending {
                b.pending_flash_into(&real);
            }
            let before = b.record(D);
            let real_before = real.flash_contents().expect("real holds D").digest();
            let rogue = b.unit_holding(
                "rogue",
                &claim(D, generation, "made-up"),
                SimOptions {
                    hardware_id: Some(ROGUE_HWID.into()),
                    ..SimOptions::default()
                },
            );
            let batch = b.store().list_batches().expect("batches")[0].batch.id;
            for (name, request) in [
                ("recover", FlashRequest::Recover),
                ("reflash", reflash(None, false)),
                ("confirmed reflash of D", reflash(Some(D), true)),
                ("auto-flash", auto(batch)),
            ] {
                let case = format!("pending {pending}, claims generation {generation}: {name}");
                let said = assert_refused(
                    &b.run(&rogue, &request),
                    FailReason::HardwareMismatch,
                    &case,
                );
                assert!(said.contains(ROGUE_HWID), "{case}: {said}");
                assert_eq!(b.record(D), before, "{case}: D's record changed");
            }
            drop(rogue);
            assert_eq!(
                real.flash_contents().expect("real").digest(),
                real_before,
                "the real unit was changed"
            );
            // The real unit still settles its own flash, and re-flashes.
            let out = b
                .run(&real, &reflash(Some(D), false))
                .result
                .expect("real unit");
            assert_eq!(
                out.outcome.device.hardware_id.as_deref(),
                Some(real.hardware_id())
            );
        }
    }
}

/// A copy of the real unit (its hardware id, D's id and generation) without D's password, which
/// no command reads back: the possession proof fails, nothing is written, and the real unit
/// still re-flashes.
#[test]
fn a_copied_unit_fails_the_possession_proof_and_changes_nothing() {
    let b = Bench::new();
    let real = b.real_unit_with_d();
    let real_before = real.flash_contents().expect("real holds D");
    drop(real);
    let before = b.record(D);
    let verifiers_before = b.verifiers(D).len();
    let copy = b.unit_holding(
        "copy",
        &claim(D, 1, "not-the-password"),
        SimOptions {
            hardware_id: Some(
                b.record(D).device["hardware_id"]
                    .as_str()
                    .expect("bound")
                    .into(),
            ),
            ..SimOptions::default()
        },
    );
    let batch = b.store().list_batches().expect("batches")[0].batch.id;
    let said = assert_refused(
        &b.run(&copy, &reflash(Some(D), false)),
        FailReason::ProofFailed,
        "copy",
    );
    assert!(said.contains("could not prove"), "{said}");
    assert_eq!(b.record(D), before);
    assert_eq!(
        b.verifiers(D).len(),
        verifiers_before - 1,
        "the failed proof used up its verifier"
    );
    // The auto path never rotates a device that is not due: it refuses the copy as a device.
    assert_refused(
        &b.run(&copy, &auto(batch)),
        FailReason::AlreadyProvisioned,
        "copy, auto",
    );
    assert_eq!(b.record(D), before);
    // A unit with the real one's hardware id and whole config that answers PROVE with a
    // wrong mac fares no better, confirmation or not.
    drop(copy);
    let liar = b.unit_holding(
        "liar",
        &real_before,
        SimOptions {
            hardware_id: Some(
                b.record(D).device["hardware_id"]
                    .as_str()
                    .expect("bound")
                    .into(),
            ),
            prove_wrong_mac: true,
            ..SimOptions::default()
        },
    );
    assert_refused(
        &b.run(&liar, &reflash(Some(D), true)),
        FailReason::ProofFailed,
        "liar",
    );
    assert_eq!(b.record(D), before);
    drop(liar);
    let real = b.unit("real", SimOptions::default());
    assert_eq!(
        real.flash_contents().expect("real").digest(),
        real_before.digest()
    );
    b.run(&real, &reflash(Some(D), false))
        .result
        .expect("the real unit re-flashes");
}

/// Regression (issue 10 follow-up): recovery settled a pending flash by hardware id alone, so a
/// copy of the real unit's hardware id claiming the pending generation (or the one in force)
/// made the station promote (or drop) what the real unit holds. Now the claim is proven first:
/// the copy is refused, the flash stays pending, and the real unit settles it.
#[test]
fn a_copied_hardware_id_cannot_settle_the_real_units_pending_flash() {
    for claimed in [2, 1] {
        let b = Bench::new();
        let real = b.real_unit_with_d();
        b.pending_flash_into(&real);
        let hwid = real.hardware_id().to_owned();
        let before = b.record(D);
        assert_eq!(before.pending_unit.as_deref(), Some(hwid.as_str()));
        let copy = b.unit_holding(
            "copy",
            &claim(D, claimed, "not-the-password"),
            SimOptions {
                hardware_id: Some(hwid.clone()),
                ..SimOptions::default()
            },
        );
        let case = format!("copy claims generation {claimed}");
        let said = assert_refused(
            &b.run(&copy, &FlashRequest::Recover),
            FailReason::ProofFailed,
            &case,
        );
        assert!(
            said.contains(&format!("generation {claimed}")),
            "{case}: {said}"
        );
        let after = b.record(D);
        assert_eq!(after.device, before.device, "{case}: D's record changed");
        assert_eq!(
            after.pending_unit, before.pending_unit,
            "{case}: still pending"
        );
        drop(copy);
        // The real unit holds generation 1 (the pending flash never reached it): it proves that
        // and the pending generation is dropped.
        let report = b.run(&real, &FlashRequest::Recover);
        let out = report.result.expect("the real unit recovers");
        assert_eq!(out.outcome.device.generation, 1, "{case}");
        assert_eq!(b.record(D).pending_unit, None, "{case}: settled");
    }
}

/// Regression (issue 12's blank-unit rule): a blank unit with the hardware id a protocol device
/// is bound to got that device's new credentials without a proof or a question. A protocol unit
/// never loses its config to a failed write (atomic COMMIT), so such a unit is wiped or copied:
/// auto-flash and a plain re-flash refuse it, and only an operator's confirmation lets it have
/// the device back. The real unit keeps working either way until then.
#[test]
fn a_blank_copy_of_a_bound_hardware_id_gets_nothing_without_confirmation() {
    let b = Bench::new();
    let real = b.real_unit_with_d();
    let hwid = real.hardware_id().to_owned();
    let real_before = real.flash_contents().expect("real holds D").digest();
    drop(real);
    let before = b.record(D);
    let blank = b.unit(
        "blank-copy",
        SimOptions {
            hardware_id: Some(hwid.clone()),
            ..SimOptions::default()
        },
    );
    let batch = b.store().list_batches().expect("batches")[0].batch.id;
    for (name, request) in [
        ("auto-flash", auto(batch)),
        ("reflash", reflash(None, false)),
        ("reflash of D", reflash(Some(D), false)),
    ] {
        let said = assert_refused(&b.run(&blank, &request), FailReason::UnboundDevice, name);
        assert!(said.contains("operator confirms"), "{name}: {said}");
        assert_eq!(b.record(D), before, "{name}: D's record changed");
    }
    assert!(blank.flash_contents().is_none(), "nothing was written");
    drop(blank);
    let real = b.unit("real", SimOptions::default());
    assert_eq!(real.flash_contents().expect("real").digest(), real_before);
    // A technician who knows the unit was wiped confirms, and it gets D back.
    drop(real);
    let wiped = b.unit(
        "wiped",
        SimOptions {
            hardware_id: Some(hwid),
            ..SimOptions::default()
        },
    );
    let out = b
        .run(&wiped, &reflash(Some(D), true))
        .result
        .expect("confirmed");
    assert_eq!(out.outcome.device.device_id, D);
    assert_eq!(out.outcome.device.generation, 2);
}

/// A device made by `station provision` (credentials printed to a script, no unit on record):
/// a unit that merely claims it fails the proof, or, when it cannot answer PROVE (a protocol
/// 1.0 unit), is re-flashed only with the operator's confirmation; auto-flash never confirms.
/// The unit that got the real credentials proves it and re-flashes without a question.
#[test]
fn a_unit_claiming_a_provisioned_device_must_prove_it_or_be_confirmed() {
    let b = Bench::new();
    let (created, _) =
        station_service::records::provision(&mut b.store(), &request(1), None).expect("provision");
    let made = &created.devices[0];
    let p = made.device_id.as_str();
    let batch = b.batch(1);
    let before = b.record(p);
    assert_eq!(before.device["hardware_id"], serde_json::Value::Null);
    assert_eq!(
        b.verifiers(p).len(),
        station_protocol::spec::PROOF_VERIFIERS
    );

    let rogue = b.unit_holding("rogue", &claim(p, 1, "made-up"), SimOptions::default());
    assert_refused(
        &b.run(&rogue, &reflash(None, false)),
        FailReason::ProofFailed,
        "rogue",
    );
    assert_refused(
        &b.run(&rogue, &auto(batch)),
        FailReason::AlreadyProvisioned,
        "rogue, auto",
    );
    assert_eq!(b.record(p), before);
    drop(rogue);

    let old = SimOptions {
        prove: false,
        ..SimOptions::default()
    };
    let v10 = b.unit_holding("v10", &claim(p, 1, "made-up"), old.clone());
    let said = assert_refused(
        &b.run(&v10, &reflash(None, false)),
        FailReason::UnboundDevice,
        "1.0",
    );
    assert!(said.contains("no unit on record"), "{said}");
    assert_refused(
        &b.run(&v10, &auto(batch)),
        FailReason::AlreadyProvisioned,
        "1.0, auto",
    );
    assert_eq!(b.record(p), before);
    assert_eq!(
        FailReason::UnboundDevice.action(),
        station_core::Action::ConfirmUnbound
    );
    drop(v10);

    // The unit the script delivered the credentials to.
    let password = made
        .credentials
        .as_ref()
        .expect("provision prints credentials")
        .mqtt_password
        .expose()
        .to_owned();
    let owner = b.unit_holding("owner", &claim(p, 1, &password), SimOptions::default());
    let out = b.run(&owner, &reflash(None, false)).result.expect("proven");
    assert_eq!(out.outcome.device.generation, 2);
    assert_eq!(
        out.outcome.device.hardware_id.as_deref(),
        Some(owner.hardware_id())
    );
    // A confirmed re-flash of a protocol 1.0 unit is the operator's call, and it works.
    drop(owner);
    let (created, _) =
        station_service::records::provision(&mut b.store(), &request(1), None).expect("provision");
    let q = &created.devices[0];
    let q_password = q
        .credentials
        .as_ref()
        .expect("creds")
        .mqtt_password
        .expose()
        .to_owned();
    let v10_owner = b.unit_holding("v10-owner", &claim(&q.device_id, 1, &q_password), old);
    b.run(&v10_owner, &reflash(None, true))
        .result
        .expect("confirmed");
}

/// The real unit proves possession and re-flashes; a proof uses up its verifier (a second
/// attempt sends another nonce), and once a new generation is committed only its verifiers
/// remain.
#[test]
fn the_real_unit_proves_possession_and_each_proof_uses_its_own_nonce() {
    let b = Bench::new();
    drop(b.real_unit_with_d());
    let first: Vec<String> = b.verifiers(D).into_iter().map(|(_, n)| n).collect();
    assert_eq!(first.len(), station_protocol::spec::PROOF_VERIFIERS);
    // The proof passes, then the unit refuses BEGIN: nothing is written, the verifier is gone.
    let refusing = b.unit(
        "real",
        SimOptions {
            naks: vec![NakRule {
                command: Command::Begin,
                code: DeviceErrorCode::StorageFailed,
                count: Some(1),
            }],
            ..SimOptions::default()
        },
    );
    let f = b.run(&refusing, &reflash(Some(D), false));
    assert_eq!(
        reason(f.result.as_ref().expect_err("refused BEGIN")),
        FailReason::StorageFailed
    );
    drop(refusing);
    let left: Vec<String> = b.verifiers(D).into_iter().map(|(_, n)| n).collect();
    assert_eq!(
        left,
        first[1..],
        "the first nonce was used once and deleted"
    );
    let real = b.unit("real", SimOptions::default());
    let out = b
        .run(&real, &reflash(Some(D), false))
        .result
        .expect("proven re-flash");
    // Generation 2 went to the refused attempt: numbers are never reused.
    let committed = out.outcome.device.generation;
    assert_eq!(committed, 3);
    let now = b.verifiers(D);
    assert_eq!(now.len(), station_protocol::spec::PROOF_VERIFIERS);
    assert!(now
        .iter()
        .all(|(g, n)| *g == committed && !first.contains(n)));
    // And the next re-flash proves the generation just committed.
    b.run(&real, &reflash(Some(D), false))
        .result
        .expect("again");
}
