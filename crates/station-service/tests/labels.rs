//! Labels over real parts: a unit flashed over a real pseudo-terminal, its label sent to a fake
//! ZPL printer that is a real TCP listener on loopback (capturing the bytes as a network
//! printer's raw port would), the ZPL parsed back, and the preview's QR code decoded by
//! `zbarimg` (Debian's zbar-tools) from the PNG the station renders. The system queue (`lp`)
//! is tested in `labels_lp.rs`.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use station_core::labels::{LabelField, LabelTemplate};
use station_core::settings::key;
use station_core::{BatchRequest, Device, FlashState, Store};
use station_devsim::{SimHandle, SimOptions, Simulator};
use station_protocol::Key;
use station_service::labels::{self, AfterPass, Label};
use station_service::{FlashRequest, Flasher, JobReport, NoSink, Sink};

mod common;

/// A network label printer: accepts connections on a loopback port and hands over each job's
/// bytes (read to the end of the stream, as a printer's raw port does).
struct FakePrinter {
    address: String,
    jobs: mpsc::Receiver<Vec<u8>>,
}

impl FakePrinter {
    fn start() -> FakePrinter {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("addr").to_string();
        let (tx, jobs) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut job = Vec::new();
                let _ = stream.read_to_end(&mut job);
                if tx.send(job).is_err() {
                    return;
                }
            }
        });
        FakePrinter { address, jobs }
    }

    fn job(&self) -> String {
        let bytes = self
            .jobs
            .recv_timeout(Duration::from_secs(10))
            .expect("the printer received a job");
        String::from_utf8(bytes).expect("ZPL is UTF-8 text")
    }
}

/// What a label's ZPL says, parsed back: each text field's data (hex escapes undone) and the
/// QR code's data.
struct ParsedZpl {
    texts: Vec<String>,
    qr: Option<String>,
}

fn parse_zpl(zpl: &str) -> ParsedZpl {
    assert!(zpl.starts_with("^XA"), "a label starts with ^XA: {zpl}");
    assert!(zpl.trim_end().ends_with("^XZ"), "and ends with ^XZ: {zpl}");
    let mut texts = Vec::new();
    let mut qr = None;
    for field in zpl.split("^FS") {
        let Some((head, data)) = field.split_once("^FD") else {
            continue;
        };
        assert!(
            head.contains("^FH"),
            "every field's data is hex-escaped: {field}"
        );
        let data = unescape_fh(data);
        if head.contains("^BQN,2,") {
            qr = Some(
                data.strip_prefix("QA,")
                    .expect("QR data starts with its error-correction level and mode")
                    .to_owned(),
            );
        } else {
            texts.push(data);
        }
    }
    ParsedZpl { texts, qr }
}

fn unescape_fh(data: &str) -> String {
    let mut bytes = Vec::new();
    let mut it = data.bytes();
    while let Some(b) = it.next() {
        if b == b'_' {
            let hex: Vec<u8> = it.by_ref().take(2).collect();
            let hex = std::str::from_utf8(&hex).expect("hex");
            bytes.push(u8::from_str_radix(hex, 16).expect("a _XX escape"));
        } else {
            assert!(
                b != b'^' && b != b'~',
                "an unescaped command character in {data}"
            );
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).expect("utf-8")
}

/// The QR code in a PNG, as `zbarimg` reads it.
fn decode_qr(png: &[u8], dir: &Path) -> String {
    let path = dir.join("label.png");
    std::fs::write(&path, png).expect("write preview");
    let out = Command::new("zbarimg")
        .args(["--quiet", "--raw", "-Sdisable", "-Sqrcode.enable"])
        .arg(&path)
        .output()
        .expect("zbarimg runs (Debian: apt-get install zbar-tools)");
    assert!(out.status.success(), "zbarimg found no QR code: {out:?}");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim_end()
        .to_owned()
}

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

    fn set(&self, key: &str, value: &str) {
        self.store().set_setting(key, value).expect("setting");
    }

    fn unit(&self, name: &str) -> SimHandle {
        Simulator::start(SimOptions {
            flash: Some(self.dir.path().join(format!("{name}.flash"))),
            ..SimOptions::default()
        })
        .expect("simulator")
    }

    fn flash_new(&self, unit: &SimHandle) -> JobReport {
        self.flash_new_to(unit, &NoSink)
    }

    fn flash_new_to(&self, unit: &SimHandle, sink: &dyn Sink) -> JobReport {
        let mut store = self.store();
        let (b, _) = station_service::records::create_batch(
            &mut store,
            &BatchRequest {
                lot: None,
                work_order: None,
                device_type: "WeatherStation".into(),
                prefix: "farm-".into(),
                count: 1,
                with_credentials: false,
            },
            None,
        )
        .expect("batch");
        let request = FlashRequest::NextInBatch {
            batch_id: b.batch.id,
            overwrite_foreign: false,
        };
        self.flasher
            .run_ports(&[unit.port_path().to_owned()], &request, sink)
            .expect("run")
            .pop()
            .expect("one report")
    }
}

#[test]
fn label_printed_on_pass_to_a_zpl_printer_shows_no_secret() {
    let b = Bench::new();
    let printer = FakePrinter::start();
    b.set(key::LABEL_PRINTER, &printer.address);
    b.set(key::LABEL_ON_PASS, "on");
    let unit = b.unit("u1");
    let report = b.flash_new(&unit);
    let passed = report.result.expect("pass");
    assert_eq!(passed.label, AfterPass::Printed);
    let device = &passed.outcome.device;

    let zpl = printer.job();
    let parsed = parse_zpl(&zpl);
    let hw = device.hardware_id.clone().expect("the unit's hardware id");
    assert_eq!(
        parsed.qr.as_deref(),
        Some(format!("DH1;id={};t=WeatherStation;hw={hw}", device.device_id).as_str()),
        "the QR code holds the template's fields"
    );
    assert_eq!(
        parsed.texts,
        [
            device.device_id.clone(),
            "Type: WeatherStation".into(),
            format!("HW: {hw}")
        ]
    );
    let held = unit.flash_contents().expect("the unit holds its config");
    for secret in [held.get_str(Key::MqttPassword), held.get_str(Key::ApiKey)] {
        assert!(secret.len() >= 16, "a real secret to look for");
        assert!(!zpl.contains(secret), "a secret on the label: {zpl}");
    }
    let hash = b
        .store()
        .password_hash(&device.device_id)
        .expect("hash")
        .expect("stored");
    assert!(!zpl.contains(&hash));

    // The preview Settings shows is the same label: its QR decodes to the printed payload.
    let label = Label::of(&b.store(), device).expect("label");
    assert_eq!(label.zpl(), zpl, "the preview and the print are one layout");
    let png = label.preview_png().expect("preview");
    assert_eq!(Some(decode_qr(&png, b.dir.path())), parsed.qr);
}

#[test]
fn print_error_does_not_fail_the_flash() {
    let b = Bench::new();
    // A port nothing listens on: the printer is off.
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = closed.local_addr().expect("addr").to_string();
    drop(closed);
    b.set(key::LABEL_PRINTER, &address);
    b.set(key::LABEL_ON_PASS, "on");
    let unit = b.unit("u1");
    let passed = b.flash_new(&unit).result.expect("the flash passes");
    let AfterPass::NotPrinted(e) = passed.label else {
        panic!("the print failure is reported: {:?}", passed.label);
    };
    assert!(e.starts_with("label not printed: "), "{e}");
    assert!(e.contains(&address) && e.contains("reprint"), "{e}");
    let device = b
        .store()
        .find_device(&passed.outcome.device.device_id)
        .expect("recorded");
    assert_eq!(device.flash_state, FlashState::Flashed);

    // Reprint once the printer is back.
    let printer = FakePrinter::start();
    b.set(key::LABEL_PRINTER, &printer.address);
    labels::print_device(&b.store(), &device.device_id).expect("reprint");
    assert!(printer.job().contains(&device.device_id));
}

#[test]
fn no_label_is_printed_unless_print_on_pass_is_on() {
    let b = Bench::new();
    let printer = FakePrinter::start();
    b.set(key::LABEL_PRINTER, &printer.address);
    let unit = b.unit("u1");
    let passed = b.flash_new(&unit).result.expect("pass");
    assert_eq!(passed.label, AfterPass::Off);
    assert!(printer
        .jobs
        .recv_timeout(Duration::from_millis(300))
        .is_err());
}

#[test]
fn a_reprint_with_no_printer_set_says_where_to_set_one() {
    let b = Bench::new();
    let unit = b.unit("u1");
    let device = b.flash_new(&unit).result.expect("pass").outcome.device;
    let e = labels::print_device(&b.store(), &device.device_id).expect_err("no printer");
    assert!(e.help().contains("Settings"), "{}", e.help());
    let e = labels::print_device(&b.store(), "no-such-device").expect_err("unknown");
    assert_eq!(e.code(), station_core::ErrorCode::NotFound);
}

fn sample(b: &Bench) -> Device {
    labels::sample_device(&b.store(), "WeatherStation").expect("sample")
}

#[test]
fn field_data_cannot_end_a_field_or_start_a_command() {
    let b = Bench::new();
    let mut device = sample(&b);
    device.name = "evil^XZ~JA_name".into();
    let template = LabelTemplate {
        fields: vec![LabelField::Name, LabelField::DeviceId],
        ..LabelTemplate::default()
    };
    let label = Label::with_template(&device, template).expect("label");
    let zpl = label.zpl();
    assert!(!zpl.contains("evil^XZ") && !zpl.contains("~JA"), "{zpl}");
    assert_eq!(zpl.matches("^XZ").count(), 1);
    let parsed = parse_zpl(&zpl);
    assert_eq!(parsed.texts[0], "evil^XZ~JA_name");
    assert_eq!(
        parsed.qr.as_deref(),
        Some(format!("DH1;n=evil^XZ~JA_name;id={}", device.device_id).as_str())
    );
}

#[test]
fn a_template_per_type_is_kept_and_a_secret_cannot_be_named() {
    let b = Bench::new();
    let mut store = b.store();
    assert_eq!(
        store.label_template("WeatherStation").expect("default"),
        LabelTemplate::default()
    );
    let mine = LabelTemplate {
        width_mm: 60,
        height_mm: 30,
        dpi: 300,
        fields: vec![LabelField::DeviceId, LabelField::MqttUsername],
        qr: true,
    };
    store
        .set_label_template("WeatherStation", &mine)
        .expect("set");
    let bad = LabelTemplate {
        dpi: 1,
        ..mine.clone()
    };
    store
        .set_label_template("WeatherStation", &bad)
        .expect_err("refused");
    drop(store);
    assert_eq!(
        b.store().label_template("weatherstation").expect("kept"),
        mine
    );
    LabelTemplate::parse_fields("device_id,api_key").expect_err("a secret is refused");

    // The preview of the saved template, for the sample record, decodes as printed.
    let label = Label::of(&b.store(), &sample(&b)).expect("label");
    assert_eq!(label.layout.width, 60 * 12, "300 dpi is 12 dots/mm");
    let png = label.preview_png().expect("png");
    let decoded = decode_qr(&png, b.dir.path());
    assert!(
        decoded.starts_with("DH1;id=line-weatherstation-001;u=myapp-"),
        "{decoded}"
    );
}

#[test]
fn a_label_too_small_for_its_qr_code_is_refused_with_the_fix() {
    let b = Bench::new();
    let template = LabelTemplate {
        width_mm: 20,
        height_mm: 10,
        fields: LabelField::ALL.to_vec(),
        ..LabelTemplate::default()
    };
    let e = Label::with_template(&sample(&b), template).expect_err("does not fit");
    assert!(e.help().contains("larger"), "{}", e.help());
}

/// What a face hears, in order.
#[derive(Default)]
struct Heard(std::sync::Mutex<Vec<String>>);

impl Sink for Heard {
    fn progress(&self, _: u32, _: &str, _: station_core::flash::FlashStep) {}
    fn finished(&self, r: &JobReport) {
        let what = match &r.result {
            Ok(p) => format!("pass, label {:?}", p.label),
            Err(_) => "fail".into(),
        };
        self.0.lock().expect("lock").push(what);
    }
    fn shift(&self, _: &station_core::shift::ShiftCounters) {}
    fn label(&self, _: u32, _: &str, device_id: &str, label: &AfterPass) {
        let what = match label {
            AfterPass::NotPrinted(why) => format!("label of {device_id}: {why}"),
            other => format!("label of {device_id}: {other:?}"),
        };
        self.0.lock().expect("lock").push(what);
    }
}

#[test]
fn the_pass_is_reported_before_the_label_prints() {
    let b = Bench::new();
    let printer = FakePrinter::start();
    b.set(key::LABEL_PRINTER, &printer.address);
    b.set(key::LABEL_ON_PASS, "on");
    let unit = b.unit("u1");
    let heard = Heard::default();
    let report = b.flash_new_to(&unit, &heard);
    let id = report.result.expect("pass").outcome.device.device_id;
    assert_eq!(
        *heard.0.lock().expect("lock"),
        [
            "pass, label Off".to_owned(),
            format!("label of {id}: Printed")
        ],
        "the face shows the PASS first, then what the printer did"
    );
    printer.job();
}

#[test]
fn a_gang_press_prints_one_label_per_unit_each_with_its_own_device() {
    let b = Bench::new();
    let printer = FakePrinter::start();
    b.set(key::LABEL_PRINTER, &printer.address);
    b.set(key::LABEL_ON_PASS, "on");
    let units: Vec<SimHandle> = (0..3).map(|i| b.unit(&format!("u{i}"))).collect();
    let ports: Vec<String> = units.iter().map(|u| u.port_path().to_owned()).collect();
    let request = FlashRequest::NewDevice {
        device_type: "WeatherStation".into(),
        prefix: "gang-".into(),
        overwrite_foreign: false,
    };
    let reports = b
        .flasher
        .run_ports(&ports, &request, &NoSink)
        .expect("gang");
    let mut flashed: Vec<(String, String)> = reports
        .into_iter()
        .map(|r| {
            let p = r.result.expect("pass");
            assert_eq!(p.label, AfterPass::Printed);
            let d = p.outcome.device;
            (d.device_id, d.hardware_id.expect("hw"))
        })
        .collect();
    let mut printed: Vec<(String, String)> = (0..3)
        .map(|_| {
            let qr = parse_zpl(&printer.job()).qr.expect("qr");
            let fields: Vec<&str> = qr.split(';').collect();
            (
                fields[1].trim_start_matches("id=").to_owned(),
                fields[3].trim_start_matches("hw=").to_owned(),
            )
        })
        .collect();
    flashed.sort();
    printed.sort();
    assert_eq!(
        printed, flashed,
        "each unit's label names its own device and unit"
    );
    assert!(
        printer
            .jobs
            .recv_timeout(Duration::from_millis(300))
            .is_err(),
        "no label twice"
    );
}

/// A gang's labels in the order the units sit in the fixture, whichever unit finished first.
fn gang_labels_in_order(
    units: &[SimHandle],
    b: &Bench,
    printer: &FakePrinter,
) -> (Vec<JobReport>, Vec<String>) {
    let ports: Vec<String> = units.iter().map(|u| u.port_path().to_owned()).collect();
    let request = FlashRequest::NewDevice {
        device_type: "WeatherStation".into(),
        prefix: "gang-".into(),
        overwrite_foreign: false,
    };
    let reports = b
        .flasher
        .run_ports(&ports, &request, &NoSink)
        .expect("gang");
    let passed = reports.iter().filter(|r| r.result.is_ok()).count();
    let printed = (0..passed)
        .map(|_| {
            let qr = parse_zpl(&printer.job()).qr.expect("qr");
            qr.split(';')
                .nth(1)
                .expect("id")
                .trim_start_matches("id=")
                .to_owned()
        })
        .collect();
    (reports, printed)
}

#[test]
fn a_gang_prints_its_labels_in_port_order_when_a_later_port_finishes_first() {
    let b = Bench::new();
    let printer = FakePrinter::start();
    b.set(key::LABEL_PRINTER, &printer.address);
    b.set(key::LABEL_ON_PASS, "on");
    // Port 1's unit answers slowly: ports 2 and 3 pass well before it.
    let slow = Simulator::start(SimOptions {
        flash: Some(b.dir.path().join("slow.flash")),
        reply_delay: Duration::from_millis(40),
        ..SimOptions::default()
    })
    .expect("simulator");
    let units = vec![slow, b.unit("u2"), b.unit("u3")];
    let (reports, printed) = gang_labels_in_order(&units, &b, &printer);
    let by_port: Vec<String> = reports
        .into_iter()
        .map(|r| r.result.expect("pass").outcome.device.device_id)
        .collect();
    assert_eq!(printed, by_port, "labels come out in port order");
}

#[test]
fn a_failed_port_does_not_hold_back_the_labels_after_it() {
    let b = Bench::new();
    let printer = FakePrinter::start();
    b.set(key::LABEL_PRINTER, &printer.address);
    b.set(key::LABEL_ON_PASS, "on");
    let refuses = Simulator::start(SimOptions {
        flash: Some(b.dir.path().join("bad.flash")),
        naks: vec!["COMMIT:STORAGE_FULL".parse().expect("rule")],
        ..SimOptions::default()
    })
    .expect("simulator");
    let units = vec![refuses, b.unit("u2"), b.unit("u3")];
    let (reports, printed) = gang_labels_in_order(&units, &b, &printer);
    assert!(reports[0].result.is_err(), "port 1's unit refused to save");
    let passed: Vec<String> = reports[1..]
        .iter()
        .map(|r| {
            r.result
                .as_ref()
                .expect("pass")
                .outcome
                .device
                .device_id
                .clone()
        })
        .collect();
    assert_eq!(printed, passed, "the other two print, in port order");
    assert!(
        printer
            .jobs
            .recv_timeout(Duration::from_millis(300))
            .is_err(),
        "no label for the failed unit"
    );
}

/// What the flasher's busy ports were when each label had been printed.
struct BusyAtLabel<'a> {
    flasher: &'a Flasher,
    seen: std::sync::Mutex<Vec<Vec<String>>>,
}

impl Sink for BusyAtLabel<'_> {
    fn progress(&self, _: u32, _: &str, _: station_core::flash::FlashStep) {}
    fn finished(&self, _: &JobReport) {}
    fn shift(&self, _: &station_core::shift::ShiftCounters) {}
    fn label(&self, _: u32, _: &str, _: &str, _: &AfterPass) {
        self.seen
            .lock()
            .expect("lock")
            .push(self.flasher.busy_ports());
    }
}

#[test]
fn the_port_is_free_while_its_label_prints_on_the_cli_path_too() {
    let b = Bench::new();
    let printer = FakePrinter::start();
    b.set(key::LABEL_PRINTER, &printer.address);
    b.set(key::LABEL_ON_PASS, "on");
    let unit = b.unit("u1");
    let sink = BusyAtLabel {
        flasher: &b.flasher,
        seen: std::sync::Mutex::new(Vec::new()),
    };
    let report = b.flash_new_to(&unit, &sink);
    assert_eq!(report.result.expect("pass").label, AfterPass::Printed);
    printer.job();
    assert_eq!(
        *sink.seen.lock().expect("lock"),
        [Vec::<String>::new()],
        "a printer never holds the port (run_ports, the CLI's path, as start_gang)"
    );
}
