//! The station `Client` against the pure `DeviceModel`, over a real pseudo-terminal pair
//! (`TTYPort::pair()`), as serialport-rs tests its own code. The device side runs on a thread
//! and can garble its output the way a real UART with debug prints would.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serialport::{SerialPort, TTYPort};
use station_protocol::config::test_vector_config;
use station_protocol::device::{DeviceModel, MemoryStorage, Storage, StorageError};
use station_protocol::{
    config_digest, Client, Command, DeviceErrorCode, ProtocolError, SerialTransport,
};

const HWID: &str = "A1B2C3D4E5F60718";

/// Storage that counts commits, so a test can tell "applied once" from "applied twice".
#[derive(Clone, Default)]
struct CountingStorage {
    inner: MemoryStorage,
    stores: Arc<AtomicUsize>,
}

impl Storage for CountingStorage {
    fn load(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.load()
    }
    fn store(&mut self, blob: &[u8]) -> Result<(), StorageError> {
        self.stores.fetch_add(1, Ordering::SeqCst);
        self.inner.store(blob)
    }
}

/// How the simulated device's output reaches the wire.
#[derive(Clone, Copy)]
enum Line {
    Clean,
    /// Log lines before and after every reply, and replies written one byte at a time.
    NoisyAndSplit,
    /// The first COMMIT reply is lost.
    LoseFirstCommitReply,
}

struct Device {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<DeviceModel<CountingStorage>>>,
}

impl Device {
    fn finish(mut self) -> DeviceModel<CountingStorage> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .expect("thread")
            .join()
            .expect("device thread")
    }
}

fn spawn_device(mut master: TTYPort, storage: CountingStorage, line: Line) -> Device {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let thread = std::thread::spawn(move || {
        let mut model = DeviceModel::new(storage, HWID, "test-1.0").expect("model");
        master
            .set_timeout(Duration::from_millis(20))
            .expect("timeout");
        let mut buf = [0u8; 256];
        let mut commit_replies = 0;
        while !flag.load(Ordering::SeqCst) {
            let n = match master.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                Err(_) => break,
            };
            for frame in model.decode(&buf[..n]) {
                let handled = model.handle_frame(&frame);
                match line {
                    Line::Clean => {
                        let _ = master.write_all(&handled.reply);
                    }
                    Line::NoisyAndSplit => {
                        let _ = master.write_all(b"I (1234) wifi: scanning\r\n[dbg] @ heap=812");
                        for b in &handled.reply {
                            let _ = master.write_all(std::slice::from_ref(b));
                        }
                        let _ = master.write_all(b"\xff\x00I (1240) prov: done\r\n");
                    }
                    Line::LoseFirstCommitReply => {
                        if handled.command == Some(Command::Commit) {
                            commit_replies += 1;
                            if commit_replies == 1 {
                                continue;
                            }
                        }
                        let _ = master.write_all(&handled.reply);
                    }
                }
            }
        }
        model
    });
    Device {
        stop,
        thread: Some(thread),
    }
}

fn setup(line: Line) -> (Client<SerialTransport>, Device, CountingStorage) {
    let (master, slave) = TTYPort::pair().expect("pty pair");
    let storage = CountingStorage::default();
    let device = spawn_device(master, storage.clone(), line);
    let client = Client::new(SerialTransport::from_port(Box::new(slave)));
    (client, device, storage)
}

#[test]
fn clean_write_over_pty_commits_the_digest_the_station_computed() {
    let (mut client, device, storage) = setup(Line::Clean);
    let id = client.hello().expect("hello");
    assert_eq!(id.hardware_id, HWID);
    assert_eq!(id.firmware_version, "test-1.0");
    assert!(id.has_capability("READ"));
    let cfg = test_vector_config();
    client.write_config(&cfg, HWID, &mut |_| {}).expect("write");
    let id = client.hello().expect("hello");
    assert_eq!(id.device_id.as_deref(), Some(cfg.device_id.as_str()));
    assert_eq!(id.generation, Some(cfg.generation));
    let model = device.finish();
    let stored = model.committed().expect("committed");
    assert_eq!(stored.digest(), config_digest(&cfg));
    assert_eq!(stored.to_device_config().expect("valid"), cfg);
    assert_eq!(storage.stores.load(Ordering::SeqCst), 1);
}

#[test]
fn noise_and_byte_by_byte_replies_do_not_disturb_the_client() {
    let (mut client, device, _) = setup(Line::NoisyAndSplit);
    let id = client.hello().expect("hello");
    client
        .write_config(&test_vector_config(), &id.hardware_id, &mut |_| {})
        .expect("write");
    let stats = client.stats();
    assert_eq!(stats.retries, 0, "{stats:?}");
    assert!(stats.noise_bytes > 0);
    assert!(device.finish().committed().is_some());
}

#[test]
fn retransmitted_commit_gets_the_cached_ok_and_is_applied_once() {
    let (mut client, device, storage) = setup(Line::LoseFirstCommitReply);
    let id = client.hello().expect("hello");
    client
        .write_config(&test_vector_config(), &id.hardware_id, &mut |_| {})
        .expect("write");
    assert_eq!(client.stats().retries, 1);
    assert_eq!(storage.stores.load(Ordering::SeqCst), 1);
    drop(device.finish());
}

#[test]
fn device_going_away_is_reported_as_disconnected() {
    let (mut client, device, _) = setup(Line::Clean);
    client.hello().expect("hello");
    drop(device.finish());
    let err = client.begin().expect_err("no device");
    assert!(
        matches!(
            err,
            ProtocolError::Disconnected {
                command: Command::Begin
            }
        ),
        "{err:?}"
    );
}

#[test]
fn wrong_hardware_id_is_refused_over_pty() {
    let (mut client, device, storage) = setup(Line::Clean);
    client.hello().expect("hello");
    let err = client
        .write_config(&test_vector_config(), "0000000000000000", &mut |_| {})
        .expect_err("hwid");
    assert_eq!(err.device_code(), Some(DeviceErrorCode::HwidMismatch));
    assert_eq!(storage.stores.load(Ordering::SeqCst), 0);
    drop(device.finish());
}
