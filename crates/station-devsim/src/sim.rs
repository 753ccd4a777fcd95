//! The simulated device: a [`DeviceModel`] behind the master side of a pseudo-terminal.
//!
//! This module owns the simulator thread: opening the pty, noticing the station opening and
//! closing the port, the boot log, the line-speed emulation and every injected fault (noise,
//! lost and corrupted bytes, slow replies, refusals, lost replies, unplug, power loss). It also
//! runs version 1.1's BAUD around the model (spec §10.1): the UART switches after the reply has
//! left, returns to 115200 after `BAUD_IDLE_REVERT` idle (the model's timer, on this thread's
//! clock), and paces at the current rate. A pty carries bytes whatever its termios speed, so a
//! rate mismatch is emulated: the master's termios shows the speed the station set on its side
//! (Linux reports the slave's settings there), and while the two sides differ every byte, either
//! way, is lost. `baud_unreachable` loses every byte while the device is away from 115200. The
//! protocol itself is entirely the model's; this module only does what a real board and cable
//! would do around it.

use std::io;
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serialport::{SerialPort, TTYPort};
use sha2::{Digest, Sha256};
use station_protocol::codec::{Frame, FrameDecoder};
use station_protocol::device::{DeviceInitError, DeviceModel, Handled};
use station_protocol::message::{ErrorReply, Reply, Response};
use station_protocol::{spec, Command, Key, StoredConfig};
use station_ptysim::wire_time;
use station_ptysim::{write_paced, Pty, SplitMix64, Unit, UnitThread};

use crate::flash::{Flash, FlashKey, FlashKeyError};
use crate::options::{PowerLoss, SimOptions};

/// Why the simulator could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The pseudo-terminal could not be created.
    #[error("cannot create a pseudo-terminal: {0}")]
    Pty(#[from] serialport::Error),
    /// I/O on the pty, the link or the flash file failed.
    #[error("simulator I/O error: {0}")]
    Io(#[from] io::Error),
    /// Hardware id, firmware version or flash contents are unusable.
    #[error("cannot start the simulated device: {0}")]
    Device(#[from] DeviceInitError),
    /// The flash file's key is unusable.
    #[error("{0}")]
    FlashKey(#[from] FlashKeyError),
    /// The simulator thread panicked.
    #[error("simulator thread panicked")]
    Panicked,
}

/// How the simulated device ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimExit {
    /// Stopped by its owner.
    Stopped,
    /// Pulled out mid-write (`unplug_after_stages`).
    Unplugged,
    /// Lost power when COMMIT arrived, before acting.
    PowerLossBeforeCommit,
    /// Lost power after storing the commit, before replying.
    PowerLossAfterCommit,
    /// Stopped after replying to a successful COMMIT (`exit_after_commit`).
    Committed,
}

impl SimExit {
    /// Process exit code of the binary: distinct per way of ending.
    pub fn exit_code(self) -> i32 {
        match self {
            SimExit::Stopped => 0,
            SimExit::Committed => 0,
            SimExit::Unplugged => 10,
            SimExit::PowerLossBeforeCommit => 11,
            SimExit::PowerLossAfterCommit => 12,
        }
    }
}

/// Starts simulated devices.
#[derive(Debug)]
pub struct Simulator;

/// A running simulated device.
#[derive(Debug)]
pub struct SimHandle {
    port_path: String,
    hardware_id: String,
    flash: Flash,
    thread: UnitThread<Option<SimExit>>,
}

impl SimHandle {
    /// Path of the port to open (the pty slave).
    pub fn port_path(&self) -> &str {
        &self.port_path
    }

    /// The device's hardware id.
    pub fn hardware_id(&self) -> &str {
        &self.hardware_id
    }

    /// What the device's flash holds now.
    pub fn flash_contents(&self) -> Option<StoredConfig> {
        self.flash.contents()
    }

    /// Whether the device has gone away by itself (unplug, power loss, exit after commit).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the device to end by itself.
    pub fn wait(mut self) -> Result<SimExit, SimError> {
        self.join()
    }

    /// Stops the device and closes its port (like pulling the plug of an idle device).
    pub fn stop(self) {
        if let Err(e) = self.shutdown() {
            tracing::warn!(error = %e, "simulator ended with an error");
        }
    }

    /// Stops the device and tells how it had ended (`Stopped` unless a fault ended it first).
    pub fn shutdown(mut self) -> Result<SimExit, SimError> {
        self.thread.request_stop();
        self.join()
    }

    fn join(&mut self) -> Result<SimExit, SimError> {
        self.thread
            .join_exit(SimExit::Stopped)
            .map_err(|station_ptysim::Panicked| SimError::Panicked)
    }
}

impl Simulator {
    /// Creates the pty, loads the flash (`opts.flash`, else memory), and runs the device on a
    /// thread.
    pub fn start(opts: SimOptions) -> Result<SimHandle, SimError> {
        let flash = match &opts.flash {
            Some(path) => {
                let key = match &opts.flash_key {
                    Some(k) => k.clone(),
                    None => FlashKey::process()?,
                };
                Flash::file(path, key, opts.flash_capacity)
            }
            None => Flash::memory(opts.flash_capacity),
        };
        Self::start_with(opts, flash)
    }

    /// [`Simulator::start`] on `flash`, which the caller keeps (a clone shares the storage):
    /// a unit that is unplugged and plugged in again with the same `flash` holds what it held.
    /// `opts.flash` is ignored.
    pub fn start_with(opts: SimOptions, flash: Flash) -> Result<SimHandle, SimError> {
        let hardware_id = match &opts.hardware_id {
            Some(h) => h.to_ascii_uppercase(),
            None => default_hardware_id(opts.flash.as_deref()),
        };
        let mut model = DeviceModel::new(flash.clone(), &hardware_id, &opts.firmware_version)?;
        if let Some(c) = opts.staging_capacity {
            model = model.with_staging_capacity(c);
        }
        model = model
            .with_baud_rates(&opts.baud_rates)
            .with_prove(opts.prove)
            .with_write_gate(opts.gate)
            .with_write_allowed(opts.write_allowed);
        if let Some(n) = opts.frame_limit {
            model = model.with_frame_limit(n);
        }
        let Pty { master, port_path } = Pty::open()?;
        if let Some(link) = &opts.link {
            make_link(&port_path, link)?;
        }
        let mut device = Device {
            model,
            master,
            rng: SplitMix64(opts.seed),
            booted_at: Instant::now(),
            stages: 0,
            uart: spec::BAUD_RATE,
            naks: opts.naks.iter().map(|r| r.count).collect(),
            drops: opts.drop_replies.iter().map(|r| r.count).collect(),
            opts,
        };
        let thread = UnitThread::spawn("devsim", move |stop| {
            let exit = station_ptysim::serve(&mut device, stop);
            if let Some(link) = &device.opts.link {
                // The device is gone: its port name goes too, as udev's would.
                let _ = std::fs::remove_file(link);
            }
            exit
        })?;
        Ok(SimHandle {
            port_path,
            hardware_id,
            flash,
            thread,
        })
    }
}

/// The rogue's answer to PROVE: the model's reply with every bit of the mac flipped.
fn wrong_mac(seq: u8, reply: &[u8]) -> Vec<u8> {
    let frames = FrameDecoder::new().push_slice(reply);
    match frames.first().map(|f| Response::parse(f, Command::Prove)) {
        Some(Ok(Response::Ok(Reply::Prove { mut mac }))) => {
            mac.iter_mut().for_each(|b| *b = !*b);
            Response::encode_ok(seq, &Reply::Prove { mac })
        }
        _ => reply.to_vec(),
    }
}

/// A chip id that stays the same for the same flash file, so a restarted simulator is the same
/// "unit"; without a flash file every run is a different unit.
fn default_hardware_id(flash: Option<&Path>) -> String {
    let seed = match flash {
        Some(p) => {
            let abs = std::fs::canonicalize(p)
                .ok()
                .or_else(|| std::path::absolute(p).ok())
                .unwrap_or_else(|| p.to_path_buf());
            abs.to_string_lossy().into_owned()
        }
        None => {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!("{nanos}-{}", std::process::id())
        }
    };
    let digest = Sha256::digest(seed.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02X}")).collect()
}

fn make_link(target: &str, link: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(link) {
        Ok(m) if m.file_type().is_symlink() => std::fs::remove_file(link)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a symlink", link.display()),
            ))
        }
        Err(_) => {}
    }
    std::os::unix::fs::symlink(target, link)
}

struct Device {
    model: DeviceModel<Flash>,
    master: TTYPort,
    rng: SplitMix64,
    booted_at: Instant,
    /// STAGE frames answered OK (not replays), for `unplug_after_stages`.
    stages: u32,
    /// The rate the device's UART runs at (BAUD, spec §10.1).
    uart: u32,
    /// Remaining count per NAK rule (`None` = unlimited).
    naks: Vec<Option<u32>>,
    /// Remaining count per drop-reply rule.
    drops: Vec<u32>,
    opts: SimOptions,
}

const BOOT_LOG: &[&[u8]] = &[
    b"\r\n\x00\xff\xfe",
    b"ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n",
    b"load 0x4010f000, len 3664, room 16\r\n",
    b"DeviceHub firmware booting... chip ok, flash ok\r\n",
    b"[boot] mail: ops@devicehub.example *not configured*\r\n",
    b"[boot] @DH1 is the provisioning marker; this line is not a frame *0000\r\n",
    b"[boot] ready\r\n",
];

impl Unit for Device {
    type Exit = SimExit;

    fn master(&mut self) -> &mut TTYPort {
        &mut self.master
    }

    fn tick(&mut self) {
        if let Some(rate) = self.model.idle_revert(Instant::now()) {
            tracing::debug!(rate, "idle: UART back at 115200");
            self.uart = rate;
        }
    }

    /// The station (re)opened the port: behave like a board that resets on open.
    fn on_open(&mut self) {
        self.booted_at = Instant::now();
        // A board that resets on open starts at 115200.
        self.model.reset_link();
        self.uart = spec::BAUD_RATE;
        if self.opts.boot_noise {
            for line in BOOT_LOG {
                self.emit(line);
            }
        }
    }

    fn on_input(&mut self, bytes: &[u8]) -> Option<SimExit> {
        self.input(bytes)
    }
}

impl Device {
    fn input(&mut self, bytes: &[u8]) -> Option<SimExit> {
        if let Some(baud) = self.pace_rate() {
            // The pty delivered in an instant what a UART receives one byte-time at a time.
            std::thread::sleep(wire_time(bytes.len(), baud));
        }
        if self.booted_at.elapsed() < self.opts.boot_time {
            return None;
        }
        if !self.rates_match() {
            tracing::debug!(
                len = bytes.len(),
                uart = self.uart,
                "input at another rate: lost"
            );
            return None;
        }
        let received = self.mangle(bytes);
        for frame in self.model.decode(&received) {
            if let Some(exit) = self.on_frame(&frame) {
                return Some(exit);
            }
        }
        None
    }

    fn on_frame(&mut self, frame: &Frame) -> Option<SimExit> {
        let command = frame.words.first().and_then(|w| Command::from_name(w));
        if command == Some(Command::Commit) && self.opts.power_loss == Some(PowerLoss::BeforeCommit)
        {
            return Some(SimExit::PowerLossBeforeCommit);
        }
        if let Some(cmd) = command {
            if let Some(code) = self.take_nak(cmd) {
                let reply = Response::encode_err(
                    frame.seq,
                    &ErrorReply {
                        command_word: cmd.name().to_owned(),
                        code,
                        detail: None,
                    },
                );
                self.reply(&reply);
                return None;
            }
        }
        let mut handled = self.model.handle_frame(frame);
        if handled.command == Some(Command::Prove) && handled.ok && self.opts.prove_wrong_mac {
            handled.reply = wrong_mac(frame.seq, &handled.reply);
        }
        if handled.command == Some(Command::Commit)
            && handled.ok
            && self.opts.power_loss == Some(PowerLoss::AfterCommit)
        {
            return Some(SimExit::PowerLossAfterCommit);
        }
        let handled = self.rogue(frame, handled);
        if handled.command.is_some_and(|c| self.take_drop(c)) {
            tracing::debug!(command = ?handled.command, "dropping reply");
        } else {
            self.reply(&handled.reply);
        }
        if let Some(rate) = handled.switch_to {
            // The reply has left at the old rate (emit paces and blocks): switch now.
            tracing::debug!(rate, "UART switched");
            self.uart = rate;
        }
        if self.opts.debug_prints {
            let line = format!(
                "D ({}) prov: handled {} ok={} replay={}\r\n",
                self.booted_at.elapsed().as_millis(),
                handled.command.map_or("?", Command::name),
                handled.ok,
                handled.replayed
            );
            self.emit(line.as_bytes());
        }
        if handled.command == Some(Command::Stage) && handled.ok && !handled.replayed {
            self.stages += 1;
            if self
                .opts
                .unplug_after_stages
                .is_some_and(|n| self.stages >= n)
            {
                return Some(SimExit::Unplugged);
            }
        }
        if handled.command == Some(Command::Commit) && handled.ok && self.opts.exit_after_commit {
            return Some(SimExit::Committed);
        }
        None
    }

    /// What a rogue unit says instead of `handled` (`SimOptions::rogue_device_id`).
    fn rogue(&self, frame: &Frame, mut handled: Handled) -> Handled {
        let Some(id) = &self.opts.rogue_device_id else {
            return handled;
        };
        let reads_device_id = handled.command == Some(Command::Read)
            && handled.ok
            && frame.words.get(1).map(String::as_str) == Some(Key::DeviceId.name());
        if reads_device_id {
            handled.reply = Response::encode_ok(
                frame.seq,
                &Reply::Read {
                    key: Key::DeviceId,
                    offset: 0,
                    total: id.len(),
                    chunk: id.clone(),
                },
            );
        }
        handled
    }

    fn take_nak(&mut self, cmd: Command) -> Option<station_protocol::DeviceErrorCode> {
        for (rule, left) in self.opts.naks.iter().zip(self.naks.iter_mut()) {
            if rule.command != cmd {
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

    fn take_drop(&mut self, cmd: Command) -> bool {
        for (rule, left) in self.opts.drop_replies.iter().zip(self.drops.iter_mut()) {
            if rule.command == cmd && *left > 0 {
                *left -= 1;
                return true;
            }
        }
        false
    }

    fn reply(&mut self, bytes: &[u8]) {
        if !self.opts.reply_delay.is_zero() {
            std::thread::sleep(self.opts.reply_delay);
        }
        self.emit(bytes);
    }

    /// Applies line faults (lost and changed bytes) to one direction of traffic.
    fn mangle(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        for &b in bytes {
            if self.rng.chance(self.opts.drop_rate) {
                continue;
            }
            if self.rng.chance(self.opts.corrupt_rate) {
                // A non-zero mask always changes the byte.
                let mask = (self.rng.next_u64() % 255 + 1) as u8;
                out.push(b ^ mask);
            } else {
                out.push(b);
            }
        }
        out
    }

    /// The rate to pace bytes at: the emulated line speed, or the rate BAUD switched to.
    fn pace_rate(&self) -> Option<u32> {
        let base = self.opts.baud?;
        Some(if self.uart == spec::BAUD_RATE {
            base
        } else {
            self.uart
        })
    }

    /// Whether bytes get through between the station's side and the device's UART. Only the
    /// rates BAUD is about count as a mismatch: a program that opens the pty without setting a
    /// speed (38400 by default) still talks to a device at 115200.
    fn rates_match(&self) -> bool {
        if self.opts.baud_unreachable {
            return self.uart == spec::BAUD_RATE;
        }
        let station = match self.master.baud_rate() {
            Ok(rate) => rate,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the pty's speed; assuming it matches");
                return true;
            }
        };
        if self.uart == spec::BAUD_RATE {
            !self.model.baud_rates().contains(&station)
        } else {
            station == self.uart
        }
    }

    /// Sends bytes to the station as the UART would: faults applied, paced to the line speed,
    /// lost when the two sides run at different rates. Output while no one has the port open is
    /// lost, as on a real bridge.
    fn emit(&mut self, bytes: &[u8]) {
        if !self.rates_match() {
            tracing::debug!(
                len = bytes.len(),
                uart = self.uart,
                "output at another rate: lost"
            );
            return;
        }
        let bytes = self.mangle(bytes);
        let pace = self.pace_rate();
        write_paced(&mut self.master, &bytes, pace);
    }
}
