//! Labels through the real app (tauri-driver, WebKitWebDriver, Xvfb): a network label printer
//! set in Settings, a label printed on PASS to a fake ZPL printer (a real TCP listener on a
//! loopback port, capturing the bytes), the ZPL parsed back, the QR code decoded with
//! `zbarimg` from the preview PNG the Settings screen shows, a reprint from the device screen,
//! and a printer that is off never turning a PASS into a FAIL.

mod support;

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;

use base64::Engine;
use station_core::settings::key;
use support::*;

/// A network label printer: every connection is one job, read to the end of the stream.
struct FakePrinter {
    address: String,
    jobs: mpsc::Receiver<String>,
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
                if tx.send(String::from_utf8_lossy(&job).into_owned()).is_err() {
                    return;
                }
            }
        });
        FakePrinter { address, jobs }
    }

    fn job(&self) -> String {
        self.jobs
            .recv_timeout(FLASH_WAIT)
            .expect("the printer received a label")
    }
}

/// Each `^FD` field's data (`^FH` hex escapes undone), and the QR code's data apart.
fn parse_zpl(zpl: &str) -> (Vec<String>, Option<String>) {
    assert!(
        zpl.starts_with("^XA") && zpl.trim_end().ends_with("^XZ"),
        "{zpl}"
    );
    let mut texts = Vec::new();
    let mut qr = None;
    for field in zpl.split("^FS") {
        let Some((head, data)) = field.split_once("^FD") else {
            continue;
        };
        assert!(head.contains("^FH"), "field data is hex-escaped: {field}");
        let mut bytes = Vec::new();
        let mut it = data.bytes();
        while let Some(b) = it.next() {
            if b == b'_' {
                let hex: Vec<u8> = it.by_ref().take(2).collect();
                let hex = std::str::from_utf8(&hex).expect("hex");
                bytes.push(u8::from_str_radix(hex, 16).expect("_XX"));
            } else {
                bytes.push(b);
            }
        }
        let data = String::from_utf8(bytes).expect("utf-8");
        if head.contains("^BQN,2,") {
            qr = Some(data.strip_prefix("QA,").expect("QA,").to_owned());
        } else {
            texts.push(data);
        }
    }
    (texts, qr)
}

fn zbarimg(png: &[u8], dir: &Path) -> String {
    let path = dir.join("preview.png");
    std::fs::write(&path, png).expect("write");
    let out = Command::new("zbarimg")
        .args(["--quiet", "--raw", "-Sdisable", "-Sqrcode.enable"])
        .arg(&path)
        .output()
        .expect("zbarimg (Debian zbar-tools)");
    assert!(out.status.success(), "no QR code in the preview: {out:?}");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim_end()
        .to_owned()
}

/// A training station (simulated units flash only there) with one device type and `settings`.
fn station(home: &Path, settings: &[(&str, &str)]) {
    let mut store = training_station(home, true);
    for (k, v) in settings {
        store.set_setting(k, v).expect("setting");
    }
}

/// Flash one new device on the simulated port; its id.
async fn flash(s: &Session) -> String {
    s.nav("station").await;
    s.wait_attr(
        "[data-testid=station-screen]",
        "data-ready",
        &["true"],
        WAIT,
    )
    .await;
    s.wait_attr(
        "[data-testid=port][data-port='sim:1']",
        "aria-pressed",
        &["true"],
        WAIT,
    )
    .await;
    let state = s.flash_one("sim:1").await;
    assert_eq!(state, "passed", "{}", s.text("[data-testid=tile]").await);
    s.text("[data-testid=result-device]").await
}

/// The flashed device's password hash, which must never reach a label.
fn password_hash(s: &Session, device_id: &str) -> String {
    station_core::Store::open(s.db())
        .expect("db")
        .password_hash(device_id)
        .expect("hash")
        .expect("stored")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver, zbarimg and a display: scripts/test-all.sh runs it under Xvfb"]
async fn label_printed_on_pass_to_a_zpl_printer() {
    let home = tempfile::tempdir().expect("tempdir");
    station(home.path(), &[]);
    let printer = FakePrinter::start();
    let (_driver, mut s, _) = start(home.path()).await;

    // Settings: the printer's address, print on PASS, and the template's preview.
    s.nav("settings").await;
    s.wait_for("[data-testid=label-preview-image]").await;
    s.type_into("[data-testid=label-address]", &printer.address)
        .await;
    s.click("[data-testid=label-on-pass]").await;
    s.click("[data-testid=label-printer-save]").await;
    s.wait_text("[data-testid=label-saved]", "Label printer saved.")
        .await;
    // PASS: the printer receives the device's label.
    let device_id = flash(&s).await;
    s.wait_for("[data-testid=label-printed]").await;
    s.screenshot("station-pass-label").await;
    let zpl = printer.job();
    let (texts, qr) = parse_zpl(&zpl);
    let device = station_core::Store::open(s.db())
        .expect("db")
        .find_device(&device_id)
        .expect("device");
    let hw = device.hardware_id.clone().expect("hardware id");
    assert_eq!(
        qr.as_deref(),
        Some(format!("DH1;id={device_id};t=WeatherStation;hw={hw}").as_str())
    );
    // Only the template's fields are on the label: nothing else, so no secret.
    assert_eq!(
        texts,
        [
            device_id.clone(),
            "Type: WeatherStation".into(),
            format!("HW: {hw}")
        ]
    );
    assert!(!zpl.contains(&password_hash(&s, &device_id)));

    // Back in Settings (the window under Xvfb paints reliably once it has drawn a flash).
    s.nav("settings").await;
    s.wait_for("[data-testid=label-preview-image]").await;
    s.screenshot_at("settings-label", "[data-testid=label-template]")
        .await;

    // The preview on screen is a real label: zbarimg reads its QR code as the screen says.
    let src = s
        .js("return document.querySelector('[data-testid=label-preview-image]').src;")
        .await;
    let b64 = src
        .as_str()
        .and_then(|u| u.strip_prefix("data:image/png;base64,"))
        .expect("a PNG data URL");
    let png = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    let decoded = zbarimg(&png, home.path());
    assert_eq!(decoded, s.text("[data-testid=label-preview-qr]").await);
    assert_eq!(
        decoded,
        "DH1;id=line-weatherstation-001;t=WeatherStation;hw=A4CF12B3C4D5"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display: scripts/test-all.sh runs it under Xvfb"]
async fn reprint_from_device_screen() {
    let home = tempfile::tempdir().expect("tempdir");
    let printer = FakePrinter::start();
    station(
        home.path(),
        &[
            (key::LABEL_PRINTER, printer.address.as_str()),
            (key::LABEL_ON_PASS, "on"),
        ],
    );
    let (_driver, mut s, _) = start(home.path()).await;
    let device_id = flash(&s).await;
    let first = printer.job();

    s.nav("devices").await;
    let row = format!("[data-testid=device-row][data-device='{device_id}']");
    s.click(&row).await;
    s.wait_for(&format!(
        "[data-testid=device-detail][data-device='{device_id}']"
    ))
    .await;
    s.click("[data-testid=device-detail] [data-testid=reprint-label]")
        .await;
    s.wait_text("[data-testid=reprint-done]", "Label sent to the printer.")
        .await;
    s.screenshot_at("devices-reprint-label", "[data-testid=device-detail]")
        .await;
    assert_eq!(printer.job(), first, "the reprint is the same label");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display: scripts/test-all.sh runs it under Xvfb"]
async fn print_error_does_not_fail_the_flash() {
    let home = tempfile::tempdir().expect("tempdir");
    // A printer that is off: nothing listens on its port.
    let off = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = off.local_addr().expect("addr").to_string();
    drop(off);
    station(
        home.path(),
        &[
            (key::LABEL_PRINTER, address.as_str()),
            (key::LABEL_ON_PASS, "on"),
        ],
    );
    let (_driver, mut s, _) = start(home.path()).await;
    let device_id = flash(&s).await;
    s.wait_text("[data-testid=label-error]", "label not printed:")
        .await;
    let said = s.text("[data-testid=label-error]").await;
    assert!(said.contains(&address), "{said}");
    assert!(said.contains("The flash itself is fine."), "{said}");
    assert_eq!(s.text("[data-testid=count-passed]").await, "1");
    assert_eq!(s.text("[data-testid=count-failed]").await, "0");
    s.screenshot_at("station-pass-label-not-printed", "[data-testid=tile]")
        .await;

    // Reprint while the printer is still off: said, with what to do; the device stays flashed.
    s.click("[data-testid=label-error] [data-testid=reprint-label]")
        .await;
    s.wait_text(
        "[data-testid=label-error] [data-testid=error-box]",
        "cannot be reached",
    )
    .await;
    let device = station_core::Store::open(s.db())
        .expect("db")
        .find_device(&device_id)
        .expect("device");
    assert_eq!(device.flash_state, station_core::FlashState::Flashed);
}
