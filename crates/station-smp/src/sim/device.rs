//! The simulated board around the SMP server: the pty, the console and every injected fault.
//!
//! This module owns the simulator thread's loop: noticing the station opening and closing
//! the port, the boot banner and log lines on the console, lost and changed bytes, injected
//! `rc` refusals, pulling the cable when a write arrives, power loss after a write or a save,
//! and the restart after a reset. The answers themselves are `server`'s.

use std::sync::{Arc, Mutex};

use serialport::TTYPort;
use station_ptysim::{write_paced, SplitMix64, Unit};

use crate::framing::{encode_packet, FrameDecoder};
use crate::header::{Header, Op};
use crate::sim::options::{PowerLoss, SimOptions};
use crate::sim::server::{self, Action, Server, ServerConfig};
use crate::sim::store::Settings;
use crate::sim::SimExit;
use crate::spec::group;

const BOOT_BANNER: &[u8] = b"*** Booting Zephyr OS build v4.1.0 ***\r\n\
[00:00:00.003,000] <inf> smp_sample: build time: Jan  1 2025 00:00:00\r\n";
const LOG_LINE: &[u8] = b"[00:00:01.250,000] <inf> app: mcumgr request handled\r\n";

pub(crate) struct Device {
    master: TTYPort,
    server: Server,
    settings: Arc<Mutex<Settings>>,
    decoder: FrameDecoder,
    rng: SplitMix64,
    /// Settings writes that arrived, for `unplug_at_write` and `PowerLoss::AfterWrite`.
    writes: u32,
    /// Remaining count per error rule (`None` = unlimited).
    errors_left: Vec<Option<u32>>,
    opts: SimOptions,
}

impl Device {
    pub(crate) fn new(master: TTYPort, settings: Arc<Mutex<Settings>>, opts: SimOptions) -> Self {
        let config = ServerConfig {
            settings_enabled: opts.settings_enabled,
            secret_prefixes: opts.secret_prefixes.clone(),
            read_only: opts.read_only.clone(),
            value_len: opts.value_len,
            save_lost: opts.save_lost,
        };
        Self {
            master,
            server: Server::new(Arc::clone(&settings), config),
            settings,
            decoder: FrameDecoder::new(),
            rng: SplitMix64(opts.seed),
            writes: 0,
            errors_left: opts.errors.iter().map(|r| r.count).collect(),
            opts,
        }
    }
}

impl Unit for Device {
    type Exit = SimExit;

    fn master(&mut self) -> &mut TTYPort {
        &mut self.master
    }

    fn on_open(&mut self) {
        if self.opts.boot_noise {
            self.emit(BOOT_BANNER);
        }
    }

    fn on_input(&mut self, bytes: &[u8]) -> Option<SimExit> {
        let received = self.mangle(bytes);
        for packet in self.decoder.push(&received) {
            // A damaged packet is dropped without an answer, as Zephyr drops it.
            let Ok(packet) = packet else { continue };
            if let Some(exit) = self.on_packet(&packet) {
                return Some(exit);
            }
        }
        None
    }
}

impl Device {
    fn on_packet(&mut self, packet: &[u8]) -> Option<SimExit> {
        let header = Header::decode(packet)?;
        if is_settings_write(&header) {
            self.writes += 1;
            if self.opts.unplug_at_write == Some(self.writes) {
                return Some(SimExit::Unplugged);
            }
        }
        if let Some(rc) = self.take_error(&header) {
            if let Some(reply) = Server::error_reply(packet, rc) {
                self.answer(&reply);
            }
            return None;
        }
        let (reply, action) = self.server.handle(packet)?;
        match (action, self.opts.power_loss) {
            (Action::Wrote, Some(PowerLoss::AfterWrite(n))) if n == self.writes => {
                server::lock(&self.settings).reboot();
                return Some(SimExit::PowerLossAfterWrite);
            }
            (Action::Saved, Some(PowerLoss::AfterSave)) => {
                server::lock(&self.settings).reboot();
                return Some(SimExit::PowerLossAfterSave);
            }
            _ => {}
        }
        if action == Action::Reset {
            // Zephyr answers, then resets after CONFIG_MCUMGR_GRP_OS_RESET_MS. The state
            // changes before the answer leaves, so whoever got the answer sees the restarted
            // device (a request inside Zephyr's window is a race on real boards anyway).
            server::lock(&self.settings).reboot();
            self.decoder = FrameDecoder::new();
        }
        self.answer(&reply);
        if action == Action::Reset && self.opts.boot_noise {
            self.emit(BOOT_BANNER);
        }
        None
    }

    fn take_error(&mut self, header: &Header) -> Option<crate::codes::MgmtErr> {
        let is_write = header.op == Op::Write;
        for (rule, left) in self.opts.errors.iter().zip(self.errors_left.iter_mut()) {
            if rule.request.address() != (header.group, header.id, is_write) {
                continue;
            }
            match left {
                None => return Some(rule.rc),
                Some(0) => {}
                Some(n) => {
                    *n -= 1;
                    return Some(rule.rc);
                }
            }
        }
        None
    }

    fn answer(&mut self, packet: &[u8]) {
        for line in encode_packet(packet) {
            self.emit(&line);
        }
        if self.opts.log_noise {
            self.emit(LOG_LINE);
        }
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
                out.push(b ^ ((self.rng.next_u64() % 255 + 1) as u8));
            } else {
                out.push(b);
            }
        }
        out
    }

    /// Sends bytes to the station with line faults applied; output while the port is closed
    /// is lost, as on a real USB bridge.
    fn emit(&mut self, bytes: &[u8]) {
        let bytes = self.mangle(bytes);
        write_paced(&mut self.master, &bytes, None);
    }
}

fn is_settings_write(h: &Header) -> bool {
    h.group == group::SETTINGS && h.id == crate::spec::settings::READ_WRITE && h.op == Op::Write
}
