//! The service's flasher over real pseudo-terminals and simulated units: gang presses, port
//! claims, the after-flash hooks (command and webhook) and shift counting, the same for every
//! face.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use station_core::flash::FlashStep;
use station_core::settings::key;
use station_core::shift::ShiftCounters;
use station_core::{BatchRequest, FlashState, Store};
use station_devsim::{SimHandle, SimOptions, Simulator};
use station_protocol::Key;
use station_service::{FlashRequest, Flasher, FlasherOptions, JobReport, NoSink, Sink};

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
        b.batch.id
    }

    fn unit(&self, name: &str) -> SimHandle {
        Simulator::start(SimOptions {
            flash: Some(self.dir.path().join(format!("{name}.flash"))),
            ..SimOptions::default()
        })
        .expect("simulator")
    }

    fn set(&self, key: &str, value: &str) {
        self.store().set_setting(key, value).expect("setting");
    }

    fn run(&self, unit: &SimHandle, request: &FlashRequest) -> JobReport {
        let mut reports = self
            .flasher
            .run_ports(&[unit.port_path().to_owned()], request, &NoSink)
            .expect("run");
        reports.pop().expect("one report")
    }
}

fn next_in(batch_id: i64) -> FlashRequest {
    FlashRequest::NextInBatch {
        batch_id,
        overwrite_foreign: false,
    }
}

#[derive(Default)]
struct Recorder {
    steps: std::sync::Mutex<Vec<(String, FlashStep)>>,
    shifts: std::sync::Mutex<Vec<ShiftCounters>>,
    finished: std::sync::Mutex<Vec<u32>>,
}

impl Sink for Recorder {
    fn progress(&self, _job: u32, port: &str, step: FlashStep) {
        self.steps.lock().expect("lock").push((port.into(), step));
    }
    fn finished(&self, report: &JobReport) {
        self.finished.lock().expect("lock").push(report.job_id);
    }
    fn shift(&self, shift: &ShiftCounters) {
        self.shifts.lock().expect("lock").push(shift.clone());
    }
}

#[test]
fn a_gang_press_flashes_each_unit_with_its_own_device_and_frees_the_ports() {
    let b = Bench::new();
    let batch = b.batch(4);
    let units: Vec<SimHandle> = (0..3).map(|i| b.unit(&format!("u{i}"))).collect();
    let ports: Vec<String> = units.iter().map(|u| u.port_path().to_owned()).collect();
    let sink = Recorder::default();
    let reports = b
        .flasher
        .run_ports(&ports, &next_in(batch), &sink)
        .expect("gang");
    assert_eq!(reports.len(), 3);
    let mut ids = Vec::new();
    for (r, (port, unit)) in reports.iter().zip(ports.iter().zip(&units)) {
        assert_eq!(&r.port, port, "reports come back in the order of the ports");
        let passed = r.result.as_ref().expect("pass");
        let held = unit.flash_contents().expect("the unit holds a config");
        assert_eq!(held.get_str(Key::DeviceId), passed.outcome.device.device_id);
        ids.push(passed.outcome.device.device_id.clone());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "two units got the same device");
    for port in &ports {
        let steps = sink.steps.lock().expect("lock");
        assert!(
            steps.iter().filter(|(p, _)| p == port).count() > 3,
            "each port reports its own progress"
        );
    }
    assert_eq!(sink.finished.lock().expect("lock").len(), 3);
    assert_eq!(
        sink.shifts.lock().expect("lock").last().map(|s| s.passed),
        Some(3)
    );
    assert!(
        b.flasher.busy_ports().is_empty(),
        "every port is free again"
    );
    let progress = b.store().find_batch(batch).expect("batch");
    assert_eq!((progress.flashed, progress.remaining), (3, 1));
}

#[test]
fn a_port_already_flashing_refuses_a_second_job() {
    let b = Bench::new();
    let batch = b.batch(1);
    let unit = b.unit("u1");
    let claim = b.flasher.claim(unit.port_path()).expect("claim");
    let flasher = Arc::new(Flasher::new(b.flasher.db_path(), FlasherOptions::default()));
    let err = b
        .flasher
        .run_ports(&[unit.port_path().to_owned()], &next_in(batch), &NoSink)
        .expect_err("busy");
    assert_eq!(err.code(), station_core::ErrorCode::Conflict, "{err}");
    assert!(unit.flash_contents().is_none(), "the unit was not touched");
    drop(claim);
    assert!(b.flasher.busy_ports().is_empty());
    // A job started on its own thread claims the port until it ends.
    let sink = Arc::new(Recorder::default());
    let started = flasher
        .start(unit.port_path(), next_in(batch), sink.clone())
        .expect("start");
    let second = flasher.start(unit.port_path(), next_in(batch), sink.clone());
    assert!(second.is_err(), "a second press on a busy port is refused");
    let deadline = Instant::now() + Duration::from_secs(30);
    while sink.finished.lock().expect("lock").is_empty() {
        assert!(Instant::now() < deadline, "the job did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        sink.finished.lock().expect("lock").as_slice(),
        [started.job_id]
    );
    while !flasher.busy_ports().is_empty() {
        assert!(Instant::now() < deadline, "the port was never freed");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn after_flash_hook_gets_the_record_without_secrets_and_its_failure_does_not_undo() {
    let b = Bench::new();
    let batch = b.batch(2);
    let out_file: PathBuf = b.dir.path().join("hook.json");
    b.set(
        key::HOOK_COMMAND,
        &format!("cat > '{}'", out_file.display()),
    );
    let unit = b.unit("u1");
    let passed = b.run(&unit, &next_in(batch)).result.expect("flash");
    assert!(passed.hook_error.is_none(), "{:?}", passed.hook_error);
    let payload: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_file).expect("hook ran")).expect("json");
    assert_eq!(payload["event"], "device_provisioned");
    assert_eq!(payload["device"]["device_id"], "farm-weatherstation-001");
    assert_eq!(payload["operator"], "tester");
    let text = payload.to_string();
    let held = unit.flash_contents().expect("held");
    assert!(
        !text.contains(held.get_str(Key::MqttPassword)),
        "the password reached the hook"
    );
    assert!(
        !text.contains(held.get_str(Key::ApiKey)),
        "the api key reached the hook"
    );

    b.set(key::HOOK_COMMAND, "echo label printer offline >&2; exit 3");
    let unit2 = b.unit("u2");
    let passed = b
        .run(&unit2, &next_in(batch))
        .result
        .expect("the flash stands");
    let e = passed.hook_error.expect("hook failure reported");
    assert!(e.contains("label printer offline"), "{e}");
    let d = b
        .store()
        .find_device("farm-weatherstation-002")
        .expect("device");
    assert_eq!(d.flash_state, FlashState::Flashed);
}

/// A one-request HTTP server on loopback: returns the request body it received.
fn one_shot_http(status: &'static str) -> (String, std::thread::JoinHandle<Vec<u8>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!(
        "http://{}/hooks/provisioned",
        listener.local_addr().expect("addr")
    );
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("header");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().expect("length");
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("body");
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
        .expect("respond");
        body
    });
    (url, handle)
}

#[test]
fn webhook_receives_the_record_and_its_refusal_is_reported_not_undone() {
    let b = Bench::new();
    let batch = b.batch(2);
    let (url, server) = one_shot_http("204 No Content");
    b.set(key::HOOK_WEBHOOK_URL, &url);
    let unit = b.unit("u1");
    let passed = b.run(&unit, &next_in(batch)).result.expect("flash");
    assert!(passed.hook_error.is_none(), "{:?}", passed.hook_error);
    let body = server.join().expect("server");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json body");
    assert_eq!(v["event"], "device_provisioned");
    assert_eq!(v["device"]["device_id"], "farm-weatherstation-001");
    assert_eq!(v["station_id"], "line-1");
    let held = unit.flash_contents().expect("held");
    let text = String::from_utf8_lossy(&body);
    assert!(
        !text.contains(held.get_str(Key::MqttPassword))
            && !text.contains(held.get_str(Key::ApiKey))
    );

    let (url, server) = one_shot_http("503 Service Unavailable");
    b.set(key::HOOK_WEBHOOK_URL, &url);
    let unit2 = b.unit("u2");
    let passed = b
        .run(&unit2, &next_in(batch))
        .result
        .expect("the flash stands");
    server.join().expect("server");
    let e = passed.hook_error.expect("reported");
    assert!(e.contains("503"), "{e}");
    let d = b
        .store()
        .find_device("farm-weatherstation-002")
        .expect("device");
    assert_eq!(d.flash_state, FlashState::Flashed);
}

#[test]
fn flashes_count_into_the_shift_and_recover_and_identify_do_not() {
    let b = Bench::new();
    // A device is left after the first flash: the second is refused by the unit (a counted
    // FAIL), not by a complete batch (not started, never counted: see not_started.rs).
    let batch = b.batch(2);
    let unit = b.unit("u1");
    b.run(&unit, &next_in(batch)).result.expect("flash");
    let refused = b.run(&unit, &next_in(batch));
    assert!(refused.result.is_err(), "the unit is already provisioned");
    b.run(&unit, &FlashRequest::Recover)
        .result
        .expect("recover");
    b.flasher.identify(unit.port_path()).expect("identify");
    let shift = b.store().shift().expect("shift");
    assert_eq!((shift.passed, shift.failed), (1, 1));
}

/// Issue 14: with the lead's sign-in rule on and nobody signed in, a flash is not started
/// (typed `sign_in_required`): no unit touched, nothing counted; signed in, the record carries
/// the operator and the shift lists them.
#[test]
fn sign_in_required_blocks_flash_without_fail() {
    let mut b = Bench::new();
    // As the app runs: no operator named for the run, only the one signed in.
    b.flasher = Flasher::new(b.flasher.db_path().to_owned(), FlasherOptions::default());
    let batch = b.batch(2);
    let unit = b.unit("u1");
    b.set(key::OPERATOR, "");
    b.set(key::OPERATOR_REQUIRED, "on");
    let e = b
        .flasher
        .run_ports(&[unit.port_path().to_owned()], &next_in(batch), &NoSink)
        .expect_err("nobody signed in");
    assert_eq!(e.code(), station_core::ErrorCode::SignInRequired);
    assert!(unit.flash_contents().is_none(), "the unit was touched");
    assert!(b.flasher.busy_ports().is_empty(), "the port stays free");
    let shift = b.store().shift().expect("shift");
    assert_eq!(
        (shift.passed, shift.failed),
        (0, 0),
        "a not-started flash is not counted"
    );

    station_service::operator::sign_in(&mut b.store(), "badge-4711").expect("sign in");
    let passed = b.run(&unit, &next_in(batch)).result.expect("flash");
    assert_eq!(passed.outcome.device.operator, "badge-4711");
    let report = station_service::shifts::running(&b.store())
        .expect("report")
        .expect("a shift runs");
    assert_eq!(report.operators, ["badge-4711"]);
}

/// Issue 14: a label scanned before the flash is linked when it passes; one scanned after a
/// pass is linked to that device at once; a serial already linked elsewhere is refused.
#[test]
fn scan_to_link_before_and_after() {
    use station_service::links::{LinkOnPass, ScanLink};
    let b = Bench::new();
    let batch = b.batch(2);
    let unit = b.unit("u1");
    let port = unit.port_path().to_owned();

    let before = b
        .flasher
        .scan_unit_label(&port, "aa-bb-cc-00-11-22")
        .expect("scan");
    assert!(matches!(before, ScanLink::Waiting { .. }), "{before:?}");
    let report = b.run(&unit, &next_in(batch));
    let first = report.result.expect("flash").outcome.device.device_id;
    assert_eq!(
        report.unit_link,
        Some(LinkOnPass::Linked {
            serial: "AA:BB:CC:00:11:22".into(),
            device_id: first.clone()
        })
    );
    assert_eq!(
        b.store()
            .find_device(&first)
            .expect("device")
            .unit_serial
            .as_deref(),
        Some("AA:BB:CC:00:11:22")
    );

    let unit2 = b.unit("u2");
    let port2 = unit2.port_path().to_owned();
    let second = b
        .run(&unit2, &next_in(batch))
        .result
        .expect("flash")
        .outcome
        .device
        .device_id;
    let e = b
        .flasher
        .scan_unit_label(&port2, "AABBCC001122")
        .expect_err("the same MAC on another unit");
    assert!(e.to_string().contains(&first), "{e}");
    let after = b
        .flasher
        .scan_unit_label(&port2, "SN-0002")
        .expect("scan after");
    assert_eq!(
        after,
        ScanLink::Linked {
            serial: "SN-0002".into(),
            device_id: second.clone()
        }
    );
    let found = b
        .store()
        .list_devices(&station_core::DeviceFilter {
            search: Some("sn-0002".into()),
            ..Default::default()
        })
        .expect("search");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].device_id, second);
}
