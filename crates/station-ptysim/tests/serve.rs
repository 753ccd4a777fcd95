//! The serve loop on a real pseudo-terminal: the station opening, writing, closing and opening
//! the port again, and a unit ending by itself.

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serialport::TTYPort;
use station_ptysim::{serve, wire_time, write_paced, Pty, SplitMix64, Unit, UnitThread};

/// Echoes input in upper case, says hello on each open, ends on `!`.
struct Echo {
    master: TTYPort,
    opens: Arc<AtomicU32>,
    closes: Arc<AtomicU32>,
}

impl Unit for Echo {
    type Exit = &'static str;
    fn master(&mut self) -> &mut TTYPort {
        &mut self.master
    }
    fn on_open(&mut self) {
        self.opens.fetch_add(1, Ordering::SeqCst);
        write_paced(&mut self.master, b"hello\n", None);
    }
    fn on_close(&mut self) {
        self.closes.fetch_add(1, Ordering::SeqCst);
    }
    fn on_input(&mut self, bytes: &[u8]) -> Option<&'static str> {
        if bytes.contains(&b'!') {
            return Some("unplugged");
        }
        write_paced(&mut self.master, &bytes.to_ascii_uppercase(), None);
        None
    }
}

fn open(path: &str) -> Box<dyn serialport::SerialPort> {
    serialport::new(path, 115_200)
        .timeout(Duration::from_secs(2))
        .open()
        .expect("open the pty slave")
}

fn read_until(port: &mut dyn serialport::SerialPort, needle: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !got.windows(needle.len()).any(|w| w == needle) {
        assert!(
            Instant::now() < deadline,
            "never read {needle:?}, got {got:?}"
        );
        if let Ok(n) = port.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
    }
    got
}

fn wait_until(what: &str, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_unit_sees_each_open_and_close_and_answers_until_it_ends() {
    let pty = Pty::open().expect("pty");
    let opens = Arc::new(AtomicU32::new(0));
    let closes = Arc::new(AtomicU32::new(0));
    let mut unit = Echo {
        master: pty.master,
        opens: Arc::clone(&opens),
        closes: Arc::clone(&closes),
    };
    let mut thread = UnitThread::spawn("echo", move |stop| serve(&mut unit, stop)).expect("spawn");

    let mut port = open(&pty.port_path);
    read_until(port.as_mut(), b"hello\n");
    port.write_all(b"abc").expect("write");
    read_until(port.as_mut(), b"ABC");
    drop(port);
    wait_until("the close", || closes.load(Ordering::SeqCst) == 1);

    let mut port = open(&pty.port_path);
    read_until(port.as_mut(), b"hello\n");
    assert_eq!(opens.load(Ordering::SeqCst), 2, "one boot per open");
    assert!(!thread.is_finished());
    port.write_all(b"!").expect("write");
    wait_until("the unit to end", || thread.is_finished());
    let exit = thread.join().expect("not joined yet").expect("no panic");
    assert_eq!(exit, Some("unplugged"));
}

#[test]
fn dropping_the_thread_stops_a_unit_nobody_opened() {
    let pty = Pty::open().expect("pty");
    let mut unit = Echo {
        master: pty.master,
        opens: Arc::new(AtomicU32::new(0)),
        closes: Arc::new(AtomicU32::new(0)),
    };
    let mut thread = UnitThread::spawn("echo", move |stop| serve(&mut unit, stop)).expect("spawn");
    thread.request_stop();
    assert_eq!(thread.join().expect("joined once").expect("no panic"), None);
    assert!(
        thread.join().is_none(),
        "a second join has nothing to wait for"
    );
}

#[test]
fn wire_time_is_ten_bits_per_byte() {
    assert_eq!(wire_time(11_520, 115_200), Duration::from_secs(1));
    assert_eq!(wire_time(0, 0), Duration::ZERO);
}

#[test]
fn the_prng_is_reproducible_and_chance_zero_never_fires() {
    let mut a = SplitMix64(7);
    let mut b = SplitMix64(7);
    assert_eq!(a.next_u64(), b.next_u64());
    assert!((0..1000).all(|_| !a.chance(0.0)));
    assert!((0..1000).all(|_| b.chance(1.0)));
}
