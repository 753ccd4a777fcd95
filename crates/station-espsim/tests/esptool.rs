//! The cross-check that gives the simulator its credibility: the real esptool (the version
//! pinned in tools/vendor/requirements.txt, installed by tools/vendor/setup-venv.sh) writes,
//! reads back and verifies images on the simulator's pty exactly as on an ESP32 in download
//! mode, and fails where a chip would make it fail (corrupted flash, wrong chip, loader errors,
//! unplug, power loss).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use station_espsim::protocol::{esp32, ErrorCode, Op};
use station_espsim::sim::wire_time;
use station_espsim::{ErrorRule, EspSimExit, EspSimOptions, EspSimulator, Flash};

const NVS: usize = 0x9000;
const IMAGE_LEN: usize = 24 * 1024;

/// The vendor venv's bin directory (built on first use, reused after).
fn vendor_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let out = Command::new("bash")
            .arg(repo.join("tools/vendor/setup-venv.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run tools/vendor/setup-venv.sh");
        assert!(out.status.success(), "tools/vendor/setup-venv.sh failed");
        let stdout = String::from_utf8(out.stdout).expect("utf8");
        PathBuf::from(stdout.lines().last().expect("bin dir").trim())
    })
}

/// Runs `esptool --port PORT --before no-reset --after no-reset --no-stub --chip esp32 ARGS`.
fn esptool(port: &str, args: &[&str]) -> (bool, String) {
    let out: Output = Command::new(vendor_bin().join("esptool"))
        .args([
            "--port", port, "--before", "no-reset", "--after", "no-reset",
        ])
        .args(["--no-stub", "--chip", "esp32"])
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run esptool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A deterministic image with every byte value, including SLIP's 0xC0 and 0xDB.
fn image() -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..IMAGE_LEN)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn write_image(dir: &Path) -> (Vec<u8>, String) {
    let img = image();
    let path = dir.join("image.bin");
    std::fs::write(&path, &img).expect("write image file");
    (img, path.display().to_string())
}

fn start(opts: EspSimOptions) -> station_espsim::EspSimHandle {
    EspSimulator::start(opts, Flash::default()).expect("start simulator")
}

#[test]
fn esptool_writes_reads_back_and_verifies_like_a_chip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (img, img_path) = write_image(dir.path());
    let sim = start(EspSimOptions::default());
    let port = sim.port_path().to_owned();

    let (ok, out) = esptool(&port, &["write-flash", "0x9000", &img_path]);
    assert!(ok, "write-flash failed:\n{out}");
    assert!(out.contains("Hash of data verified"), "{out}");
    assert_eq!(sim.flash().read(NVS, IMAGE_LEN).expect("range"), &img[..]);
    let untouched = Flash::default();
    assert_eq!(
        sim.flash().read(0x8000, 0x1000).expect("range"),
        untouched.read(0x8000, 0x1000).expect("range"),
        "the partition table next to the write is untouched"
    );

    let back = dir.path().join("back.bin");
    let back_s = back.display().to_string();
    let (ok, out) = esptool(&port, &["read-flash", "0x9000", "0x6000", &back_s]);
    assert!(ok, "read-flash failed:\n{out}");
    assert_eq!(std::fs::read(&back).expect("read back"), img);

    let (ok, out) = esptool(&port, &["verify-flash", "0x9000", &img_path]);
    assert!(ok, "verify-flash failed:\n{out}");
    assert!(out.contains("Verification successful"), "{out}");
    sim.shutdown().expect("simulator ran cleanly");
}

#[test]
fn verify_flash_fails_on_a_corrupted_flash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (img, img_path) = write_image(dir.path());
    let sim = start(EspSimOptions::default());
    let port = sim.port_path().to_owned();
    let (ok, out) = esptool(&port, &["write-flash", "0x9000", &img_path]);
    assert!(ok, "write-flash failed:\n{out}");
    sim.with_flash(|f| f.poke(NVS + 4000, &[!img[4000]]))
        .expect("range");

    let (ok, out) = esptool(&port, &["verify-flash", "0x9000", &img_path]);
    assert!(!ok, "verify-flash passed on a corrupted flash:\n{out}");
    assert!(out.to_lowercase().contains("mismatch"), "{out}");
}

#[test]
fn timed_write_flash_of_24_kib_at_115200() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (img, img_path) = write_image(dir.path());
    let sim = start(EspSimOptions {
        baud: Some(115_200),
        ..EspSimOptions::default()
    });
    let started = Instant::now();
    let (ok, out) = esptool(sim.port_path(), &["write-flash", "0x9000", &img_path]);
    let took = started.elapsed();
    assert!(ok, "write-flash failed:\n{out}");
    assert_eq!(sim.flash().read(NVS, IMAGE_LEN).expect("range"), &img[..]);
    println!(
        "esptool write-flash of {IMAGE_LEN} bytes at 115200 (ROM, no stub): {:.2} s \
         (the image's own wire time: {:.2} s)",
        took.as_secs_f64(),
        wire_time(IMAGE_LEN, 115_200).as_secs_f64()
    );
}

#[test]
fn esptool_refuses_a_wrong_chip() {
    let sim = start(EspSimOptions {
        chip_magic: esp32::ESP32S2_MAGIC,
        ..EspSimOptions::default()
    });
    let (ok, out) = esptool(sim.port_path(), &["read-mac"]);
    assert!(!ok, "esptool accepted an ESP32-S2 as an ESP32:\n{out}");
    assert!(out.contains("This chip is ESP32-S2, not ESP32"), "{out}");
}

#[test]
fn esptool_connects_through_noise_before_sync() {
    let sim = start(EspSimOptions {
        noise_before_sync: true,
        ..EspSimOptions::default()
    });
    let (ok, out) = esptool(sim.port_path(), &["read-mac"]);
    assert!(ok, "read-mac failed through the boot banner:\n{out}");
    assert!(out.contains("24:0a:c4:12:34:56"), "{out}");
}

#[test]
fn one_flash_data_error_is_retried_and_a_persistent_one_fails_the_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (img, img_path) = write_image(dir.path());
    let rule = |count| ErrorRule {
        op: Op::FlashData,
        code: ErrorCode::InvalidCrc,
        count,
    };
    let sim = start(EspSimOptions {
        errors: vec![rule(Some(1))],
        ..EspSimOptions::default()
    });
    let (ok, out) = esptool(sim.port_path(), &["write-flash", "0x9000", &img_path]);
    assert!(ok, "one refused block should be resent:\n{out}");
    assert_eq!(sim.flash().read(NVS, IMAGE_LEN).expect("range"), &img[..]);

    let sim = start(EspSimOptions {
        errors: vec![rule(None)],
        ..EspSimOptions::default()
    });
    let (ok, out) = esptool(sim.port_path(), &["write-flash", "0x9000", &img_path]);
    assert!(
        !ok,
        "write-flash passed although every block was refused:\n{out}"
    );
    assert!(out.contains("Failed to write to target flash"), "{out}");
    assert!(out.contains("0107: Checksum error"), "{out}");
}

#[test]
fn unplug_mid_flash_data_leaves_the_rest_erased() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (img, img_path) = write_image(dir.path());
    let sim = start(EspSimOptions {
        unplug_at_block: Some(3),
        ..EspSimOptions::default()
    });
    let (ok, out) = esptool(sim.port_path(), &["write-flash", "0x9000", &img_path]);
    assert!(
        !ok,
        "write-flash passed although the chip was unplugged:\n{out}"
    );
    let flash = sim.flash();
    assert_eq!(sim.wait().expect("simulator ended"), EspSimExit::Unplugged);
    assert_eq!(flash.read(NVS, 2048).expect("range"), &img[..2048]);
    assert!(flash
        .read(NVS + 2048, IMAGE_LEN - 2048)
        .expect("range")
        .iter()
        .all(|b| *b == 0xFF));
}

#[test]
fn power_loss_after_the_last_block_keeps_the_data_but_esptool_reports_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (img, img_path) = write_image(dir.path());
    let sim = start(EspSimOptions {
        power_loss_after_block: Some((IMAGE_LEN / 0x400) as u32),
        ..EspSimOptions::default()
    });
    let (ok, out) = esptool(sim.port_path(), &["write-flash", "0x9000", &img_path]);
    assert!(!ok, "write-flash passed without the last reply:\n{out}");
    let flash = sim.flash();
    assert_eq!(sim.wait().expect("simulator ended"), EspSimExit::PowerLoss);
    assert_eq!(flash.read(NVS, IMAGE_LEN).expect("range"), &img[..]);
}
