//! The `station-smpsim` binary as scripts use it: the first stdout line is the port, storage
//! given with `--set` is served, and an injected unplug ends the process with its own code,
//! reporting stored keys without their values.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use station_smp::{Client, SerialTransport, SmpError, DEFAULT_BAUD};

const PASSWORD: &str = "pw-cli-never-logged-55d0";

#[test]
fn binary_serves_its_storage_and_exits_10_on_unplug_without_logging_values() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_station-smpsim"))
        .args(["--set", "dh/host=mqtt.example", "--set"])
        .arg(format!("dh/secret/pass={PASSWORD}"))
        .args(["--secret-prefix", "dh/secret/", "--unplug-at-write", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn station-smpsim");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    let port = line.trim_end();
    assert!(
        port.starts_with("/dev/pts/"),
        "first line is the port: {port:?}"
    );

    let mut c = Client::new(SerialTransport::open(port, DEFAULT_BAUD).expect("open"));
    assert_eq!(c.settings_read("dh/host").expect("read"), b"mqtt.example");
    let err = c.settings_write("dh/host", b"new").expect_err("unplugged");
    assert!(matches!(err, SmpError::Disconnected { .. }), "{err:?}");

    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "simulator did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(10));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert!(
        stderr.contains("stored dh/secret/pass (24 bytes)"),
        "{stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "values never reach the log");
}
