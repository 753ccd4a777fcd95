//! FAIL means a unit failed (issue 14, findings 1, 2 and 4): a typing mistake, a batch with no
//! device left or a port that cannot be opened is a job that did not start, never counted in
//! the shift; a gang press checks the batch before touching any unit; a gang takes its devices
//! in port order. Real SQLite files, real pseudo-terminals, simulated units speaking the real
//! protocol.

use std::time::Duration;

use station_core::{BatchRequest, Control, ErrorCode, JobOutcome, Store};
use station_devsim::{NakRule, SimHandle, SimOptions, Simulator};
use station_protocol::{Command, DeviceErrorCode, Key};
use station_service::{FlashRequest, Flasher, JobReport, NoSink};

mod common;

struct Bench {
    dir: tempfile::TempDir,
    flasher: Flasher,
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
        let mut store = self.store();
        let (b, _) = station_service::records::create_batch(
            &mut store,
            &BatchRequest {
                lot: None,
                work_order: None,
                device_type: "WeatherStation".into(),
                prefix: "farm-".into(),
                count,
                with_credentials: false,
            },
            None,
        )
        .expect("batch");
        b.batch.id
    }

    fn unit_with(&self, name: &str, options: SimOptions) -> SimHandle {
        Simulator::start(SimOptions {
            flash: Some(self.dir.path().join(format!("{name}.flash"))),
            ..options
        })
        .expect("simulator")
    }

    fn unit(&self, name: &str) -> SimHandle {
        self.unit_with(name, SimOptions::default())
    }

    fn run(&self, ports: &[String], request: &FlashRequest) -> Vec<JobReport> {
        self.flasher
            .run_ports(ports, request, &NoSink)
            .expect("the jobs start")
    }

    fn counted(&self) -> (u32, u32) {
        let shift = self.store().shift().expect("shift");
        (shift.passed, shift.failed)
    }

    fn device_count(&self) -> usize {
        self.store()
            .list_devices(&Default::default())
            .expect("devices")
            .len()
    }
}

fn next_in(batch_id: i64) -> FlashRequest {
    FlashRequest::NextInBatch {
        batch_id,
        overwrite_foreign: false,
    }
}

fn new_weather(prefix: &str) -> FlashRequest {
    FlashRequest::NewDevice {
        device_type: "WeatherStation".into(),
        prefix: prefix.into(),
        overwrite_foreign: false,
    }
}

fn port(unit: &SimHandle) -> String {
    unit.port_path().to_owned()
}

#[test]
fn finding_1_typing_mistake_in_the_prefix_is_not_started_and_not_counted() {
    let b = Bench::new();
    let unit = b.unit("u1");
    let err = b
        .flasher
        .run_ports(&[port(&unit)], &new_weather("a/b"), &NoSink)
        .expect_err("a prefix with '/' is refused");
    assert_eq!(err.code(), ErrorCode::InvalidInput, "{err}");
    assert_eq!(err.not_started(), Some(Control::Prefix), "{err}");
    assert!(unit.flash_contents().is_none(), "the unit was not touched");
    assert_eq!(b.counted(), (0, 0), "a typing mistake is not a failed unit");
    assert_eq!(b.device_count(), 0, "no device was created");
    assert!(b.flasher.busy_ports().is_empty(), "no port stays claimed");
}

#[test]
fn finding_1_unknown_type_is_not_started_and_points_at_the_target() {
    let b = Bench::new();
    let unit = b.unit("u1");
    let request = FlashRequest::NewDevice {
        device_type: "NoSuchType".into(),
        prefix: String::new(),
        overwrite_foreign: false,
    };
    let err = b
        .flasher
        .run_ports(&[port(&unit)], &request, &NoSink)
        .expect_err("unknown type");
    assert_eq!(err.not_started(), Some(Control::Target), "{err}");
    assert_eq!(b.counted(), (0, 0));
}

#[test]
fn finding_1_port_that_cannot_be_opened_is_not_started_and_not_counted() {
    let b = Bench::new();
    let missing = b.dir.path().join("ttyNOPE").display().to_string();
    let reports = b.run(&[missing], &new_weather(""));
    let r = &reports[0];
    let f = r.result.as_ref().expect_err("the port does not exist");
    assert_eq!(
        r.outcome,
        JobOutcome::NotStarted {
            control: Control::Port
        },
        "{}",
        f.error
    );
    assert_eq!(
        b.counted(),
        (0, 0),
        "a port that cannot be opened is no failed unit"
    );
    assert_eq!(
        b.device_count(),
        0,
        "no device was created for a port never opened"
    );
    // A path that exists but is no serial port (a typing slip onto another file).
    let file = b.dir.path().join("not-a-port");
    std::fs::write(&file, b"").expect("file");
    let reports = b.run(&[file.display().to_string()], &new_weather(""));
    let r = &reports[0];
    assert_eq!(
        r.outcome,
        JobOutcome::NotStarted {
            control: Control::Port
        },
        "{:?}",
        r.result.as_ref().err().map(|f| f.error.to_string())
    );
    assert_eq!(b.counted(), (0, 0));
}

#[test]
fn finding_1_batch_with_no_device_left_is_not_started_and_not_counted() {
    let b = Bench::new();
    let batch = b.batch(1);
    let first = b.unit("u1");
    let passed = b.run(&[port(&first)], &next_in(batch));
    assert_eq!(passed[0].outcome, JobOutcome::Passed);
    let second = b.unit("u2");
    let err = b
        .flasher
        .run_ports(&[port(&second)], &next_in(batch), &NoSink)
        .expect_err("the batch is complete");
    assert_eq!(err.not_started(), Some(Control::Target), "{err}");
    assert!(err.to_string().contains("no device left"), "{err}");
    assert!(
        second.flash_contents().is_none(),
        "the unit was not touched"
    );
    assert_eq!(b.counted(), (1, 0), "only the pass is counted");
}

#[test]
fn a_unit_that_fails_is_still_a_counted_fail() {
    let b = Bench::new();
    let unit = b.unit_with(
        "bad",
        SimOptions {
            naks: vec![NakRule {
                command: Command::Commit,
                code: DeviceErrorCode::StorageFailed,
                count: None,
            }],
            ..SimOptions::default()
        },
    );
    let reports = b.run(&[port(&unit)], &new_weather(""));
    assert_eq!(reports[0].outcome, JobOutcome::Failed);
    assert_eq!(b.counted(), (0, 1), "a unit that failed counts as FAIL");
}

#[test]
fn finding_2_gang_press_with_too_few_devices_left_touches_no_unit() {
    let b = Bench::new();
    let batch = b.batch(2);
    let units: Vec<SimHandle> = (0..3).map(|i| b.unit(&format!("u{i}"))).collect();
    let ports: Vec<String> = units.iter().map(port).collect();
    let err = b
        .flasher
        .run_ports(&ports, &next_in(batch), &NoSink)
        .expect_err("2 devices for 3 ports");
    assert_eq!(err.code(), ErrorCode::Conflict, "{err}");
    assert_eq!(err.not_started(), Some(Control::Target));
    assert_eq!(
        err.to_string(),
        format!("Batch {batch} has 2 devices left for 3 ports.")
    );
    assert!(err.help().contains("unselect a port"), "{}", err.help());
    for u in &units {
        assert!(u.flash_contents().is_none(), "a unit was touched");
    }
    assert_eq!(b.counted(), (0, 0));
    assert!(b.flasher.busy_ports().is_empty());
    // The same press with a port fewer flashes both.
    let reports = b.run(&ports[..2], &next_in(batch));
    assert!(reports.iter().all(|r| r.outcome == JobOutcome::Passed));
    assert_eq!(b.store().devices_left_in_batch(batch).expect("left"), 0);
}

/// Port 1's unit answers slowest: without the gang's order it would take its device last.
fn gang_with_a_slow_first_unit(b: &Bench, tag: &str) -> (Vec<SimHandle>, Vec<String>) {
    let units: Vec<SimHandle> = (0..3)
        .map(|i| {
            b.unit_with(
                &format!("{tag}{i}"),
                SimOptions {
                    reply_delay: if i == 0 {
                        Duration::from_millis(40)
                    } else {
                        Duration::ZERO
                    },
                    ..SimOptions::default()
                },
            )
        })
        .collect();
    let ports = units.iter().map(port).collect();
    (units, ports)
}

fn held_ids(units: &[SimHandle]) -> Vec<String> {
    units
        .iter()
        .map(|u| {
            u.flash_contents()
                .expect("flashed")
                .get_str(Key::DeviceId)
                .to_owned()
        })
        .collect()
}

#[test]
fn finding_4_gang_numbering_follows_port_order() {
    let b = Bench::new();
    let batch = b.batch(3);
    let (units, ports) = gang_with_a_slow_first_unit(&b, "batch");
    let reports = b.run(&ports, &next_in(batch));
    assert!(reports.iter().all(|r| r.outcome == JobOutcome::Passed));
    assert_eq!(
        held_ids(&units),
        [
            "farm-weatherstation-001",
            "farm-weatherstation-002",
            "farm-weatherstation-003"
        ],
        "port 1 gets the lowest id of the gang"
    );
    // New devices of a type too.
    let (units, ports) = gang_with_a_slow_first_unit(&b, "new");
    b.run(&ports, &new_weather("line3-"));
    assert_eq!(
        held_ids(&units),
        [
            "line3-weatherstation-001",
            "line3-weatherstation-002",
            "line3-weatherstation-003"
        ],
    );
}

#[test]
fn gang_order_lets_later_ports_go_on_when_an_earlier_one_fails() {
    let b = Bench::new();
    let batch = b.batch(3);
    let missing = b.dir.path().join("ttyNOPE").display().to_string();
    let units: Vec<SimHandle> = (0..2).map(|i| b.unit(&format!("u{i}"))).collect();
    let ports = vec![missing, port(&units[0]), port(&units[1])];
    let reports = b.run(&ports, &next_in(batch));
    assert!(matches!(reports[0].outcome, JobOutcome::NotStarted { .. }));
    assert_eq!(reports[1].outcome, JobOutcome::Passed);
    assert_eq!(reports[2].outcome, JobOutcome::Passed);
    assert_eq!(
        held_ids(&units),
        ["farm-weatherstation-001", "farm-weatherstation-002"]
    );
}

#[test]
fn a_remembered_batch_that_was_closed_is_dropped_visibly_and_the_ports_stay() {
    use station_core::station_choice::{ChoiceTarget, StationChoice};
    use station_core::BatchState;
    use station_service::station_choice::{self, Dropped};
    let b = Bench::new();
    let batch = b.batch(2);
    let choice = StationChoice {
        target: Some(ChoiceTarget::Batch { batch_id: batch }),
        prefix: String::new(),
        ports: vec!["/dev/ttyUSB0".into()],
        typed_ports: vec![],
    };
    station_choice::remember(&mut b.store(), &choice).expect("remember");
    station_service::records::close_batch(&mut b.store(), batch, Some("lead")).expect("close");
    // A restart: the choice still loads (it used to fail on the closed batch's refusal).
    let back = station_choice::remembered(&b.store()).expect("remembered");
    assert_eq!(back.choice.target, None, "never silently another target");
    assert_eq!(back.choice.ports, choice.ports);
    assert_eq!(
        back.dropped,
        Some(Dropped::BatchEnded {
            batch_id: batch,
            state: BatchState::Closed
        })
    );
}

#[test]
fn finding_3_a_remembered_target_that_is_gone_is_dropped_visibly() {
    use station_core::station_choice::{ChoiceTarget, StationChoice};
    use station_service::station_choice::{self, Dropped};
    let b = Bench::new();
    let batch = b.batch(1);
    let choice = StationChoice {
        target: Some(ChoiceTarget::Batch { batch_id: batch }),
        prefix: String::new(),
        ports: vec!["/dev/ttyUSB1".into(), "/dev/ttyUSB0".into()],
        typed_ports: vec![],
    };
    station_choice::remember(&mut b.store(), &choice).expect("remember");
    // A restart: a new store on the same file gives the same choice back.
    let back = station_choice::remembered(&b.store()).expect("remembered");
    assert_eq!(back.choice, choice);
    assert_eq!(back.dropped, None);
    // The batch completes: the target is dropped, and said why; the ports stay.
    let unit = b.unit("u1");
    b.run(&[port(&unit)], &next_in(batch));
    let back = station_choice::remembered(&b.store()).expect("remembered");
    assert_eq!(back.choice.target, None, "never silently another target");
    assert_eq!(back.choice.ports, choice.ports);
    assert_eq!(
        back.dropped,
        Some(Dropped::BatchComplete { batch_id: batch })
    );
    // A type that no longer exists.
    let gone = StationChoice {
        target: Some(ChoiceTarget::Type {
            name: "Deleted".into(),
        }),
        ..choice
    };
    station_choice::remember(&mut b.store(), &gone).expect("remember");
    let back = station_choice::remembered(&b.store()).expect("remembered");
    assert_eq!(
        back.dropped,
        Some(Dropped::TypeGone {
            name: "Deleted".into()
        })
    );
}

#[test]
fn recent_results_per_port_keep_passes_fails_and_jobs_that_never_got_a_device() {
    let b = Bench::new();
    let unit = b.unit("u1");
    let missing = b.dir.path().join("ttyNOPE").display().to_string();
    b.run(&[port(&unit)], &new_weather(""));
    b.run(std::slice::from_ref(&missing), &new_weather(""));
    let recent = b.flasher.recent().all();
    let on_unit = &recent[&port(&unit)];
    assert_eq!(on_unit.len(), 1);
    assert_eq!(on_unit[0].outcome, JobOutcome::Passed);
    assert_eq!(on_unit[0].device_id.as_deref(), Some("weatherstation-001"));
    let on_missing = &recent[&missing];
    assert!(matches!(
        on_missing[0].outcome,
        JobOutcome::NotStarted { .. }
    ));
    assert_eq!(on_missing[0].device_id, None, "it never got a device");
    assert!(on_missing[0].message.is_some());
    // Only the last few are kept, newest first.
    for _ in 0..station_service::recent::RECENT_PER_PORT + 2 {
        b.run(std::slice::from_ref(&missing), &new_weather(""));
    }
    let recent = b.flasher.recent().all();
    assert_eq!(
        recent[&missing].len(),
        station_service::recent::RECENT_PER_PORT
    );
    assert!(recent[&missing][0].job_id > recent[&missing][1].job_id);
}

#[test]
fn finding_10_typed_port_paths_are_checked_when_typed() {
    use station_service::flasher::typed_port_path;
    let b = Bench::new();
    let unit = b.unit("u1");
    assert_eq!(
        typed_port_path(&format!("  {}  ", port(&unit))).expect("a real pty"),
        port(&unit)
    );
    for bad in [
        "",
        "ttyUSB0",
        "/dev/tty USB0",
        "/dev/ttyNOPE-does-not-exist",
        "sim:1",
    ] {
        let err = typed_port_path(bad).expect_err(bad);
        assert_eq!(err.code(), ErrorCode::InvalidInput, "{bad}: {err}");
        assert_eq!(err.not_started(), Some(Control::Port), "{bad}");
        assert!(!err.help().is_empty(), "{bad}: the fix is named");
    }
}
