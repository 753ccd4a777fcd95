//! Benchmark (not a test) of one ESP-IDF NVS provisioning through the station's service layer
//! against the simulated ESP32 ROM loader (`station-espsim`, which paces its UART like the real
//! line), at 115200 and 921600 baud, each against:
//!
//! - the **wire time** of the bytes that crossed (what the loader's SLIP packets cost at that
//!   rate, from the driver's own counters), and
//! - **`esptool write-flash`** (the PyPI tool, `--no-stub`, no compression: the ROM loader the
//!   station speaks) of an image of the same size to the same offset on the same simulator,
//!   in the same run. The esptool image holds placeholder values, never a credential: the
//!   station's image exists only in memory.
//!
//!     bash benches/nvs.sh            # sets up tools/vendor's venv, then runs this
//!
//! `ESPTOOL` names the esptool executable. Each line printed is one JSON object.

use std::process::Command;
use std::time::Instant;

use station_core::driver::{DriverKind, DriverSpec};
use station_core::{NewDeviceType, Store};
use station_espsim::{EspSimOptions, EspSimulator, Flash};
use station_service::{FlashRequest, Flasher, FlasherOptions, NoSink};

const TYPE: &str = "EspSensor";
const ROM_BAUD: u32 = 115_200;
const RATES: [u32; 2] = [115_200, 921_600];
const NVS_OFFSET: &str = "0x9000";
const NVS_SIZE: usize = 0x6000;
const HASH: &str = "pbkdf2_sha256:iterations=1";

fn sim() -> station_espsim::EspSimHandle {
    EspSimulator::start(
        EspSimOptions {
            baud: Some(ROM_BAUD),
            ..EspSimOptions::default()
        },
        Flash::default(),
    )
    .expect("espsim")
}

/// One provisioning at `baud`: (seconds from request to result, wire seconds, bytes).
fn station(dir: &std::path::Path, baud: u32) -> (f64, f64, u64) {
    let db = dir.join(format!("station-{baud}.sqlite3"));
    let mut store = Store::open(&db).expect("store");
    store.set_setting("hash_algorithm", HASH).expect("hash");
    store
        .add_type(NewDeviceType {
            name: TYPE.into(),
            app_label: "myapp".into(),
            driver: Some(DriverSpec {
                kind: DriverKind::Nvs,
                settings: format!(r#"{{"namespace":"mqtt","baud":"{baud}"}}"#),
            }),
            ..Default::default()
        })
        .expect("type");
    drop(store);
    let flasher = Flasher::new(
        db,
        FlasherOptions {
            operator: Some("bench".into()),
            unit_type: Some(TYPE.into()),
            ..FlasherOptions::default()
        },
    );
    let unit = sim();
    let t = Instant::now();
    let report = flasher
        .run_ports(
            &[unit.port_path().to_owned()],
            &FlashRequest::NewDevice {
                device_type: TYPE.into(),
                prefix: "bench-".into(),
                overwrite_foreign: false,
            },
            &NoSink,
        )
        .expect("run")
        .pop()
        .expect("one report");
    let secs = t.elapsed().as_secs_f64();
    let outcome = report.result.expect("the flash passes").outcome;
    assert_eq!(outcome.link_baud, baud, "the write ran at the type's rate");
    let _ = unit.shutdown();
    (
        secs,
        outcome.stats.wire_micros as f64 / 1e6,
        outcome.stats.bytes_sent + outcome.stats.bytes_received,
    )
}

/// `esptool write-flash` of a placeholder image of the partition's size at `baud`: seconds.
fn esptool(dir: &std::path::Path, baud: u32) -> f64 {
    let exe = std::env::var("ESPTOOL").expect("ESPTOOL: run benches/nvs.sh");
    // Placeholder bytes (an erased-flash-like image with some content), never a credential.
    let mut image = vec![0xFF_u8; NVS_SIZE];
    image[..4096]
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = i as u8);
    let path = dir.join("placeholder.bin");
    std::fs::write(&path, &image).expect("image");
    let unit = sim();
    let t = Instant::now();
    let out = Command::new(exe)
        .args(["--port", unit.port_path()])
        .args(["--baud", &baud.to_string()])
        .args(["--before", "no-reset", "--after", "no-reset", "--no-stub"])
        .args(["--chip", "esp32", "write-flash", "--no-compress"])
        .arg(NVS_OFFSET)
        .arg(&path)
        .output()
        .expect("run esptool");
    let secs = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "esptool failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = unit.shutdown();
    secs
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    for baud in RATES {
        let (secs, wire, bytes) = station(dir.path(), baud);
        let esp = esptool(dir.path(), baud);
        println!(
            "{{\"bench\":\"one NVS provisioning\",\"baud\":{baud},\"station_s\":{secs:.3},\
             \"wire_s\":{wire:.3},\"bytes\":{bytes},\"esptool_write_flash_s\":{esp:.3}}}"
        );
    }
}
