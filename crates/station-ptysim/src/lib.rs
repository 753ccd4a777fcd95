//! What every simulated unit on a pseudo-terminal shares: the port the station opens by path,
//! the loop that notices the station opening and closing it and hands the device its bytes,
//! the thread the device runs on, UART pacing, and a seeded PRNG for reproducible faults.
//!
//! The protocol simulator (`station-devsim`), the ESP32 ROM loader (`station-espsim`) and the
//! MCUmgr/SMP device (`station-smp`'s `sim`) each implement [`Unit`]: what a board does when the
//! port opens, what it answers to input. Everything about the pty itself is here, once.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serialport::{SerialPort, TTYPort};

/// How long one read of the master waits; bounds how quickly a stop is noticed.
pub const POLL: Duration = Duration::from_millis(20);
/// Pause while no one holds the port open (reads fail at once then).
pub const IDLE: Duration = Duration::from_millis(10);
/// Bytes written per paced chunk when a line speed is emulated.
pub const PACE_CHUNK: usize = 16;

/// The master side of a pseudo-terminal, and the path of the slave the station opens.
#[derive(Debug)]
pub struct Pty {
    /// What the simulated unit reads and writes.
    pub master: TTYPort,
    /// The port the station opens, as it would a USB port (`/dev/pts/N`).
    pub port_path: String,
}

impl Pty {
    /// Creates the pair and keeps only the master, so the station closing its end is visible
    /// (reads fail until it opens the port again). Reads wait at most [`POLL`].
    pub fn open() -> Result<Self, serialport::Error> {
        let (mut master, slave) = TTYPort::pair()?;
        let port_path = slave
            .name()
            .ok_or_else(|| io::Error::other("pseudo-terminal has no name"))?;
        drop(slave);
        master.set_timeout(POLL)?;
        Ok(Self { master, port_path })
    }
}

/// A simulated board behind a pty: what it does when the station opens the port and what it
/// answers to the bytes that arrive.
pub trait Unit {
    /// How the board ended by itself (unplugged, lost power, ...).
    type Exit;
    /// The pty master the board reads.
    fn master(&mut self) -> &mut TTYPort;
    /// Called before each read (a pending reset, an idle line-speed revert).
    fn tick(&mut self) {}
    /// The station opened the port (a board that resets on open boots here).
    fn on_open(&mut self);
    /// The station closed the port.
    fn on_close(&mut self) {}
    /// Bytes from the station; `Some` ends the board.
    fn on_input(&mut self, bytes: &[u8]) -> Option<Self::Exit>;
}

/// Runs `unit` until `stop` is set (`None`) or the unit ends by itself (`Some(exit)`).
///
/// A read that returns data, nothing, or times out means the station holds the port open; a
/// read error (EIO, hang-up) means no slave is open: the station closed the port, and the unit
/// keeps serving, since it may open it again.
pub fn serve<U: Unit>(unit: &mut U, stop: &AtomicBool) -> Option<U::Exit> {
    let mut buf = [0u8; 512];
    let mut connected = false;
    loop {
        if stop.load(Ordering::SeqCst) {
            return None;
        }
        unit.tick();
        // A read that times out still means the station holds the port open.
        let read = match unit.master().read(&mut buf) {
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(0),
            other => other,
        };
        match read {
            Ok(n) => {
                if !connected {
                    connected = true;
                    tracing::debug!("port opened by the station");
                    unit.on_open();
                }
                if n > 0 {
                    if let Some(exit) = unit.on_input(&buf[..n]) {
                        return Some(exit);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                if connected {
                    connected = false;
                    tracing::debug!("port closed by the station");
                    unit.on_close();
                }
                std::thread::sleep(IDLE);
            }
        }
    }
}

/// The thread a simulated unit runs on, stopped and joined when dropped.
#[derive(Debug)]
pub struct UnitThread<T> {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> UnitThread<T> {
    /// Runs `body` on a thread named `name`; `body` gets the stop flag to pass to [`serve`].
    pub fn spawn(
        name: &str,
        body: impl FnOnce(&AtomicBool) -> T + Send + 'static,
    ) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || body(&flag))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl<T> UnitThread<T> {
    /// Whether the unit has ended by itself (or was stopped and joined).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Asks the unit to stop at its next poll.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Waits for the unit's end: `None` when already joined, `Some(Err)` when it panicked.
    pub fn join(&mut self) -> Option<std::thread::Result<T>> {
        self.thread.take().map(JoinHandle::join)
    }
}

/// A unit's thread panicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panicked;

impl<E> UnitThread<Option<E>> {
    /// Joins a unit whose thread returns how it ended: that, or `stopped` when it was stopped
    /// (or already joined).
    pub fn join_exit(&mut self, stopped: E) -> Result<E, Panicked> {
        match self.join() {
            Some(Ok(exit)) => Ok(exit.unwrap_or(stopped)),
            Some(Err(_)) => Err(Panicked),
            None => Ok(stopped),
        }
    }
}

impl<T> Drop for UnitThread<T> {
    fn drop(&mut self) {
        self.request_stop();
        let _ = self.join();
    }
}

/// How long `bytes` take on a UART at `baud` (8N1): the station's own estimate, one formula.
pub use station_protocol::wire_time;

/// Writes `bytes` to the station; at `Some(baud)` in [`PACE_CHUNK`]s one wire time apart, as a
/// UART would deliver them. Output while the port is closed is lost, as on a real USB bridge.
pub fn write_paced(master: &mut TTYPort, bytes: &[u8], baud: Option<u32>) {
    let chunk = if baud.is_some() {
        PACE_CHUNK
    } else {
        bytes.len().max(1)
    };
    for part in bytes.chunks(chunk) {
        if let Err(e) = master.write_all(part) {
            tracing::debug!(error = %e, "write to the port failed; output lost");
            return;
        }
        if let Some(baud) = baud {
            std::thread::sleep(wire_time(part.len(), baud));
        }
    }
}

/// A small deterministic PRNG (SplitMix64): reproducible faults from a seed, no extra crate.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `p` (never when `p` is 0).
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}
