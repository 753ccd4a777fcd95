//! The `station-devsim` binary as scripts use it: first stdout line is the port, `--flash`
//! survives restarts, faults end the process with distinct exit codes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use station_devsim::{FlashKey, FLASH_KEY_ENV};
use station_protocol::config::test_vector_config;
use station_protocol::{Client, DeviceConfig, ProtocolError, SerialTransport};

struct Sim {
    child: Child,
    port: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The key this test process's simulators seal their flash files with; held in memory only,
/// as a test that restarts a simulator must.
fn flash_key() -> String {
    FlashKey::process().expect("key").to_hex().to_string()
}

fn spawn(args: &[&str]) -> Sim {
    let mut child = Command::new(env!("CARGO_BIN_EXE_station-devsim"))
        .args(args)
        .env(FLASH_KEY_ENV, flash_key())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn station-devsim");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    let port = line.trim_end().to_owned();
    assert!(
        port.starts_with("/dev/pts/"),
        "first line is the port: {port:?}"
    );
    Sim { child, port }
}

fn wait_exit(sim: &mut Sim) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(status) = sim.child.try_wait().expect("try_wait") {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("simulator did not exit");
}

fn config(generation: u32) -> DeviceConfig {
    DeviceConfig {
        generation,
        ..test_vector_config()
    }
}

fn write(port: &str, cfg: &DeviceConfig) -> (String, Result<(), ProtocolError>) {
    let mut client = Client::new(SerialTransport::open(port).expect("open"));
    let id = client.hello().expect("hello");
    let result = client.write_config(cfg, &id.hardware_id, &mut |_| {});
    (id.hardware_id, result)
}

#[test]
fn binary_prints_port_keeps_flash_and_identity_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flash = dir.path().join("flash.bin");
    let link = dir.path().join("ttyDEVSIM");
    let flash_arg = flash.to_str().expect("utf8");
    let link_arg = link.to_str().expect("utf8");
    let sim = spawn(&["--flash", flash_arg, "--link", link_arg, "--boot-noise"]);
    let (hwid, result) = write(link_arg, &config(3));
    result.expect("write through the link");
    drop(sim);

    let sim = spawn(&["--flash", flash_arg]);
    let mut client = Client::new(SerialTransport::open(&sim.port).expect("open"));
    let id = client.hello().expect("hello");
    assert_eq!(id.hardware_id, hwid, "same flash file, same unit");
    assert_eq!(id.generation, Some(3));
    assert_eq!(id.device_id.as_deref(), Some("dh-000123"));
}

/// Finding 1 (issue 10): a simulator's storage file held the full config, plaintext password
/// and api key included.
#[test]
fn finding_1_the_flash_file_holds_no_plaintext_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flash = dir.path().join("flash.bin");
    let flash_arg = flash.to_str().expect("utf8");
    let sim = spawn(&["--flash", flash_arg]);
    let cfg = config(4);
    write(&sim.port.clone(), &cfg).1.expect("write");
    drop(sim);
    let on_disk = std::fs::read(&flash).expect("the flash file");
    let mut hits = 0;
    for secret in [cfg.mqtt_password.as_bytes(), cfg.api_key.as_bytes()] {
        assert!(secret.len() >= 8, "a real secret to look for");
        hits += on_disk
            .windows(secret.len())
            .filter(|w| *w == secret)
            .count();
    }
    for other in dir.path().read_dir().expect("dir") {
        let path = other.expect("entry").path();
        assert_eq!(
            path, flash,
            "no temp file or other copy is left beside the flash"
        );
    }
    assert_eq!(hits, 0, "the flash file holds a secret in the clear");
    // The restarted unit (same key, from memory) still holds the whole config.
    let sim = spawn(&["--flash", flash_arg]);
    let id = Client::new(SerialTransport::open(&sim.port).expect("open"))
        .hello()
        .expect("hello");
    assert_eq!(id.generation, Some(4));
}

#[test]
fn a_flash_file_needs_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flash = dir.path().join("flash.bin");
    let flash_arg = flash.to_str().expect("utf8");
    let out = Command::new(env!("CARGO_BIN_EXE_station-devsim"))
        .args(["--flash", flash_arg])
        .env_remove(FLASH_KEY_ENV)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "no key: a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains(FLASH_KEY_ENV));
    // A file sealed under one key does not start under another: the unit does not silently
    // come up blank.
    write(&spawn(&["--flash", flash_arg]).port.clone(), &config(2))
        .1
        .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_station-devsim"))
        .args(["--flash", flash_arg])
        .env(FLASH_KEY_ENV, "ab".repeat(32))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not open with this key"));
}

#[test]
fn unplug_exits_with_code_10() {
    let mut sim = spawn(&["--unplug-after-stages", "2"]);
    let (_, result) = write(&sim.port.clone(), &config(1));
    assert!(
        matches!(result, Err(ProtocolError::Disconnected { .. })),
        "{result:?}"
    );
    assert_eq!(wait_exit(&mut sim), Some(10));
}

#[test]
fn power_loss_after_commit_exits_with_code_12_and_keeps_the_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flash = dir.path().join("flash.bin");
    let flash_arg = flash.to_str().expect("utf8");
    let mut sim = spawn(&["--flash", flash_arg, "--power-loss", "after-commit"]);
    let (_, result) = write(&sim.port.clone(), &config(8));
    let err = result.expect_err("no reply to COMMIT");
    assert!(err.commit_outcome_unknown());
    assert_eq!(wait_exit(&mut sim), Some(12));

    let sim = spawn(&["--flash", flash_arg]);
    let id = Client::new(SerialTransport::open(&sim.port).expect("open"))
        .hello()
        .expect("hello");
    assert_eq!(id.generation, Some(8));
}

#[test]
fn power_loss_before_commit_exits_with_code_11() {
    let mut sim = spawn(&["--power-loss", "before-commit"]);
    let (_, result) = write(&sim.port.clone(), &config(8));
    assert!(result.expect_err("no reply").commit_outcome_unknown());
    assert_eq!(wait_exit(&mut sim), Some(11));
}

#[test]
fn bad_options_are_usage_errors() {
    let status = Command::new(env!("CARGO_BIN_EXE_station-devsim"))
        .args(["--nak", "FLY:BUSY"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run");
    assert_eq!(status.code(), Some(2));
    let status = Command::new(env!("CARGO_BIN_EXE_station-devsim"))
        .args(["--drop-rate", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run");
    assert_eq!(status.code(), Some(2));
}

/// What the line reached after `fast_wire` against a simulator started with `args`.
fn link_with(args: &[&str]) -> station_protocol::LinkRate {
    let sim = spawn(args);
    let mut client = Client::new(SerialTransport::open(&sim.port).expect("open"));
    let id = client.hello().expect("hello");
    let link = client.fast_wire(&id).expect("fast wire");
    client
        .write_config(&config(1), &id.hardware_id, &mut |_| {})
        .expect("the write passes at whatever rate the line ended at");
    link
}

#[test]
fn baud_flags_make_a_1_0_unit_a_narrower_unit_and_an_unreachable_rate() {
    use station_protocol::BaudSwitch;
    let l = link_with(&["--no-baud"]);
    assert_eq!((l.baud, l.switch), (115_200, BaudSwitch::NotOffered));
    let l = link_with(&["--baud-rates", "460800,230400"]);
    assert_eq!((l.baud, l.switch), (460_800, BaudSwitch::Switched));
    let l = link_with(&["--baud-unreachable"]);
    assert_eq!((l.baud, l.switch), (115_200, BaudSwitch::FellBack));
    let status = Command::new(env!("CARGO_BIN_EXE_station-devsim"))
        .args(["--baud-rates", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run");
    assert_eq!(status.code(), Some(2), "a zero rate is a usage error");
}
