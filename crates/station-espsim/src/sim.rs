//! The simulated ESP32: a ROM [`Loader`] behind the master side of a pseudo-terminal.
//!
//! This module owns the simulator thread: opening the pty, noticing the host opening and
//! closing the port, SLIP framing, the line-speed emulation, the boot state (loader or app) and
//! every injected fault. The commands themselves are entirely the loader's.
//!
//! Reset: esptool resets a board into the loader by toggling DTR/RTS, which a pty cannot
//! carry. The simulator therefore starts in the loader (as a board held in download mode), and
//! FLASH_END sends it to the "app", where it ignores loader commands until
//! [`EspSimHandle::reset_into_loader`] emulates the reset. esptool must be run with
//! `--before no-reset --after no-reset`.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serialport::TTYPort;
pub use station_ptysim::wire_time;
use station_ptysim::{write_paced, Pty, SplitMix64, Unit, UnitThread};

use crate::flash::Flash;
use crate::loader::{Effect, Loader};
use crate::options::EspSimOptions;
use crate::protocol::{self, Op, Request};
use crate::slip;

/// Why the simulator could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum EspSimError {
    /// The pseudo-terminal could not be created.
    #[error(
        "cannot create a pseudo-terminal: {0}\nhelp: check that /dev/ptmx exists and is writable"
    )]
    Pty(#[from] serialport::Error),
    /// I/O on the pty failed.
    #[error("simulator I/O error: {0}\nhelp: the pty went away; start the simulator again")]
    Io(#[from] io::Error),
    /// The simulator thread panicked.
    #[error("simulator thread panicked\nhelp: this is a bug in station-espsim; run with RUST_LOG=debug and report it")]
    Panicked,
}

/// How the simulated chip ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EspSimExit {
    /// Stopped by its owner.
    Stopped,
    /// Pulled out mid-FLASH_DATA (`unplug_at_block`).
    Unplugged,
    /// Lost power right after writing a block (`power_loss_after_block`).
    PowerLoss,
}

impl EspSimExit {
    /// Process exit code of the binary: distinct per way of ending.
    pub fn exit_code(self) -> i32 {
        match self {
            EspSimExit::Stopped => 0,
            EspSimExit::Unplugged => 10,
            EspSimExit::PowerLoss => 12,
        }
    }
}

/// The flash shared between the simulator thread and its owner.
pub type SharedFlash = Arc<Mutex<Flash>>;

fn lock(flash: &SharedFlash) -> MutexGuard<'_, Flash> {
    // A panic elsewhere cannot leave the bytes half-updated in a way worse than a real chip.
    flash.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running simulated ESP32.
#[derive(Debug)]
pub struct EspSimHandle {
    port_path: String,
    flash: SharedFlash,
    reset: Arc<AtomicBool>,
    thread: UnitThread<Option<EspSimExit>>,
}

impl EspSimHandle {
    /// Path of the port to open (the pty slave).
    pub fn port_path(&self) -> &str {
        &self.port_path
    }

    /// A copy of the whole flash as it is now.
    pub fn flash(&self) -> Flash {
        lock(&self.flash).clone()
    }

    /// Changes the flash in place (a test's way to corrupt it, or to preload it).
    pub fn with_flash<R>(&self, f: impl FnOnce(&mut Flash) -> R) -> R {
        f(&mut lock(&self.flash))
    }

    /// Emulates esptool's DTR/RTS reset into the loader (a fresh loader state, the boot
    /// banner if `noise_before_sync`).
    pub fn reset_into_loader(&self) {
        self.reset.store(true, Ordering::SeqCst);
    }

    /// Whether the chip has gone away by itself (unplug, power loss).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the chip to end by itself.
    pub fn wait(mut self) -> Result<EspSimExit, EspSimError> {
        self.join()
    }

    /// Stops the chip and tells how it had ended (`Stopped` unless a fault ended it first).
    pub fn shutdown(mut self) -> Result<EspSimExit, EspSimError> {
        self.thread.request_stop();
        self.join()
    }

    fn join(&mut self) -> Result<EspSimExit, EspSimError> {
        self.thread
            .join_exit(EspSimExit::Stopped)
            .map_err(|station_ptysim::Panicked| EspSimError::Panicked)
    }
}
/// Speed the ROM starts at when no line speed is emulated (esptool's default).
const DEFAULT_BAUD: u32 = 115_200;

/// What the ESP32 ROM prints when reset with GPIO0 low (download mode), then line garbage.
const DOWNLOAD_BANNER: &[u8] = b"\x00\xff\xfeets Jul 29 2019 12:21:46\r\n\r\n\
rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\n\
waiting for download\r\n\xdb\xc0\x07\xc0\x55";
/// What the "app" prints when FLASH_END leaves the loader.
const APP_BANNER: &[u8] = b"I (29) boot: ESP-IDF simulated app running; loader left\r\n";

/// Starts simulated ESP32s.
#[derive(Debug)]
pub struct EspSimulator;

impl EspSimulator {
    /// Creates the pty and runs a chip holding `flash` on a thread, in its ROM loader.
    pub fn start(opts: EspSimOptions, flash: Flash) -> Result<EspSimHandle, EspSimError> {
        let Pty { master, port_path } = Pty::open()?;
        let flash = Arc::new(Mutex::new(flash));
        let reset = Arc::new(AtomicBool::new(false));
        let mut chip = Chip {
            loader: Loader::new(opts.chip_magic, opts.baud.unwrap_or(DEFAULT_BAUD))
                .with_mac(opts.mac),
            decoder: slip::Decoder::new(),
            master,
            flash: Arc::clone(&flash),
            rng: SplitMix64(opts.seed),
            in_app: false,
            blocks: 0,
            errors_left: opts.errors.iter().map(|r| r.count).collect(),
            opts,
            reset: Arc::clone(&reset),
        };
        let thread =
            UnitThread::spawn("espsim", move |stop| station_ptysim::serve(&mut chip, stop))?;
        Ok(EspSimHandle {
            port_path,
            flash,
            reset,
            thread,
        })
    }
}

struct Chip {
    loader: Loader,
    decoder: slip::Decoder,
    master: TTYPort,
    flash: SharedFlash,
    rng: SplitMix64,
    /// FLASH_END left the loader; loader commands are ignored until a reset.
    in_app: bool,
    /// FLASH_DATA packets received, for the unplug and power-loss faults.
    blocks: u32,
    /// Remaining count per error rule (`None` = unlimited).
    errors_left: Vec<Option<u32>>,
    opts: EspSimOptions,
    reset: Arc<AtomicBool>,
}

impl Unit for Chip {
    type Exit = EspSimExit;

    fn master(&mut self) -> &mut TTYPort {
        &mut self.master
    }

    fn tick(&mut self) {
        if self.reset.swap(false, Ordering::SeqCst) {
            self.reset_into_loader();
        }
    }

    fn on_open(&mut self) {
        if self.opts.noise_before_sync && !self.in_app {
            self.emit(DOWNLOAD_BANNER);
        }
    }

    fn on_input(&mut self, bytes: &[u8]) -> Option<EspSimExit> {
        self.input(bytes)
    }
}

impl Chip {
    fn reset_into_loader(&mut self) {
        self.loader = Loader::new(self.opts.chip_magic, self.opts.baud.unwrap_or(DEFAULT_BAUD))
            .with_mac(self.opts.mac);
        self.decoder = slip::Decoder::new();
        self.in_app = false;
        if self.opts.noise_before_sync {
            self.emit(DOWNLOAD_BANNER);
        }
    }

    fn input(&mut self, bytes: &[u8]) -> Option<EspSimExit> {
        if self.opts.baud.is_some() {
            // The pty delivered in an instant what a UART receives one byte-time at a time.
            std::thread::sleep(wire_time(bytes.len(), self.loader.baud()));
        }
        let received: Vec<u8> = bytes
            .iter()
            .copied()
            .filter(|_| !self.rng.chance(self.opts.drop_rate))
            .collect();
        for packet in self.decoder.feed(&received) {
            if self.in_app {
                continue;
            }
            // Malformed packets get no answer, as from the ROM.
            if let Some(req) = Request::parse(&packet) {
                if let Some(exit) = self.on_request(&req) {
                    return Some(exit);
                }
            }
        }
        None
    }

    fn on_request(&mut self, req: &Request) -> Option<EspSimExit> {
        if req.op == Op::FlashData as u8 {
            self.blocks += 1;
            if self.opts.unplug_at_block == Some(self.blocks) {
                tracing::debug!(block = self.blocks, "unplugged mid-FLASH_DATA");
                return Some(EspSimExit::Unplugged);
            }
        }
        if let Some(code) = self.take_error(req.op) {
            let reply = protocol::response(req.op, 0, &[], Some(code));
            self.emit(&slip::encode(&reply));
            return None;
        }
        let handled = {
            let mut flash = lock(&self.flash);
            self.loader.handle(req, &mut flash)
        };
        if handled.effect == Effect::BlockWritten
            && self.opts.power_loss_after_block == Some(self.blocks)
        {
            tracing::debug!(block = self.blocks, "power lost after the write");
            return Some(EspSimExit::PowerLoss);
        }
        let framed: Vec<u8> = handled
            .replies
            .iter()
            .flat_map(|r| slip::encode(r))
            .collect();
        self.emit(&framed);
        if handled.effect == Effect::LeftLoader {
            self.in_app = true;
            self.emit(APP_BANNER);
        }
        None
    }

    fn take_error(&mut self, op: u8) -> Option<protocol::ErrorCode> {
        for (rule, left) in self.opts.errors.iter().zip(self.errors_left.iter_mut()) {
            if rule.op as u8 != op {
                continue;
            }
            match left {
                None => return Some(rule.code),
                Some(0) => {}
                Some(n) => {
                    *n -= 1;
                    return Some(rule.code);
                }
            }
        }
        None
    }

    /// Sends bytes to the host as the UART would, paced to the line speed. Output while no one
    /// has the port open is lost, as on a real bridge.
    fn emit(&mut self, bytes: &[u8]) {
        let baud = self.opts.baud.map(|_| self.loader.baud());
        write_paced(&mut self.master, bytes, baud);
    }
}
