//! What a simulated device is and which faults it injects.
//!
//! This module owns [`SimOptions`] and the small rule types the CLI parses (`--nak`,
//! `--drop-reply`), so the binary and in-process tests configure the simulator the same way.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use station_protocol::{spec, Command, DeviceErrorCode};

use crate::flash::FlashKey;

/// Refuse a command with an error code, `count` times (or always).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NakRule {
    /// Command to refuse.
    pub command: Command,
    /// Code to answer with.
    pub code: DeviceErrorCode,
    /// How many times; `None` = every time.
    pub count: Option<u32>,
}

impl FromStr for NakRule {
    type Err = String;

    /// `CMD[:CODE[:COUNT]]`, e.g. `STAGE:BUSY:3`, `COMMIT:STORAGE_FULL`. CODE defaults to BUSY.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split(':');
        let command = parse_command(parts.next().unwrap_or(""))?;
        let code = match parts.next() {
            None => DeviceErrorCode::Busy,
            Some(name) => {
                let code = DeviceErrorCode::from_name(&name.to_ascii_uppercase());
                if code == DeviceErrorCode::Unrecognized {
                    return Err(format!("unknown error code {name:?}"));
                }
                code
            }
        };
        let count = parts.next().map(parse_count).transpose()?;
        if parts.next().is_some() {
            return Err("expected CMD[:CODE[:COUNT]]".to_owned());
        }
        Ok(NakRule {
            command,
            code,
            count,
        })
    }
}

/// Lose the reply to a command (the device acts, the station hears nothing), `count` times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropReplyRule {
    /// Command whose reply is lost.
    pub command: Command,
    /// How many replies are lost.
    pub count: u32,
}

impl FromStr for DropReplyRule {
    type Err = String;

    /// `CMD[:COUNT]`, COUNT defaults to 1.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split(':');
        let command = parse_command(parts.next().unwrap_or(""))?;
        let count = parts.next().map(parse_count).transpose()?.unwrap_or(1);
        if parts.next().is_some() {
            return Err("expected CMD[:COUNT]".to_owned());
        }
        Ok(DropReplyRule { command, count })
    }
}

fn parse_command(s: &str) -> Result<Command, String> {
    Command::from_name(&s.to_ascii_uppercase()).ok_or_else(|| {
        let names: Vec<&str> = Command::ALL.iter().map(|c| c.name()).collect();
        format!("unknown command {s:?}; one of {}", names.join(", "))
    })
}

fn parse_count(s: &str) -> Result<u32, String> {
    s.parse().map_err(|_| format!("bad count {s:?}"))
}

/// When the simulated power fails around a COMMIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerLoss {
    /// COMMIT arrives; the device dies before acting (old config stays).
    BeforeCommit,
    /// The device stores the new config, then dies before replying.
    AfterCommit,
}

impl FromStr for PowerLoss {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "before-commit" => Ok(PowerLoss::BeforeCommit),
            "after-commit" => Ok(PowerLoss::AfterCommit),
            _ => Err("expected before-commit or after-commit".to_owned()),
        }
    }
}

/// Everything about one simulated device.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// File holding the committed config ("flash"); `None` keeps it in memory only.
    pub flash: Option<PathBuf>,
    /// What the flash file is sealed with (see [`crate::flash`]); `None`: this process's own
    /// key ([`FlashKey::process`]), so the file opens only within this process.
    pub flash_key: Option<FlashKey>,
    /// Chip id (hex); default derived from the flash path, or random without one.
    pub hardware_id: Option<String>,
    /// Firmware version reported in HELLO.
    pub firmware_version: String,
    /// Symlink to create to the port (removed when the device goes away).
    pub link: Option<PathBuf>,
    /// Print a boot log each time the port is opened (as boards that reset on DTR do).
    pub boot_noise: bool,
    /// Input is ignored for this long after the port is opened (the device is booting).
    pub boot_time: Duration,
    /// Print a debug line after every frame.
    pub debug_prints: bool,
    /// Probability that any byte, either direction, is lost.
    pub drop_rate: f64,
    /// Probability that any byte, either direction, is changed.
    pub corrupt_rate: f64,
    /// Seed of the fault generator: same seed, same faults.
    pub seed: u64,
    /// Wait before every reply.
    pub reply_delay: Duration,
    /// Emulated line speed (input and output); `None` = as fast as the pty.
    pub baud: Option<u32>,
    /// Refusals to inject.
    pub naks: Vec<NakRule>,
    /// Replies to lose.
    pub drop_replies: Vec<DropReplyRule>,
    /// Close the port and stop after this many STAGE frames were answered.
    pub unplug_after_stages: Option<u32>,
    /// Power loss around COMMIT.
    pub power_loss: Option<PowerLoss>,
    /// Stop after the first successful COMMIT (after replying).
    pub exit_after_commit: bool,
    /// Limit on the total staged bytes (STAGE answers STORAGE_FULL beyond it).
    pub staging_capacity: Option<usize>,
    /// Limit on the stored blob (COMMIT answers STORAGE_FULL beyond it).
    pub flash_capacity: Option<usize>,
    /// Rates besides 115200 that BAUD accepts (spec §10.1); empty = a protocol 1.0 unit that
    /// offers no `BAUD`.
    pub baud_rates: Vec<u32>,
    /// BAUD is accepted, but nothing gets through at any rate but 115200 (a cable or adapter
    /// that cannot run it): the device must return to 115200 by itself.
    pub baud_unreachable: bool,
    /// A rogue unit: `READ device_id` answers these bytes (as one chunk, at most 60) instead of
    /// what the flash holds, whatever they are (terminal escape sequences included).
    pub rogue_device_id: Option<Vec<u8>>,
    /// Answer PROVE and list `PROVE` in HELLO (spec §10.3); `false` plays a protocol 1.0 unit.
    pub prove: bool,
    /// A rogue unit: answer PROVE with a mac that is not the one its committed password gives
    /// (a unit that claims a device without holding its password).
    pub prove_wrong_mac: bool,
    /// The write gate (spec §10.3): list `GATE`; once a config is committed, refuse a new write
    /// with `LOCKED` unless [`SimOptions::write_allowed`], and refuse a generation that is not
    /// above the committed one with `STALE_GENERATION`.
    pub gate: bool,
    /// The application allows a write: the factory-mode jumper is on, the button is held.
    pub write_allowed: bool,
    /// A small receive buffer (spec §10.2): list `FRAME<n>` and answer a longer STAGE frame
    /// with `BAD_FRAME`; `None` accepts 200-byte frames. Clamped to 64..=200.
    pub frame_limit: Option<usize>,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            flash: None,
            flash_key: None,
            hardware_id: None,
            firmware_version: concat!("devsim-", env!("CARGO_PKG_VERSION")).to_owned(),
            link: None,
            boot_noise: false,
            boot_time: Duration::ZERO,
            debug_prints: false,
            drop_rate: 0.0,
            corrupt_rate: 0.0,
            seed: 0x5EED,
            reply_delay: Duration::ZERO,
            baud: None,
            naks: Vec::new(),
            drop_replies: Vec::new(),
            unplug_after_stages: None,
            power_loss: None,
            exit_after_commit: false,
            staging_capacity: None,
            flash_capacity: None,
            baud_rates: spec::FAST_BAUD_RATES.to_vec(),
            baud_unreachable: false,
            rogue_device_id: None,
            prove: true,
            prove_wrong_mac: false,
            gate: false,
            write_allowed: false,
            frame_limit: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nak_rules_parse() {
        assert_eq!(
            "STAGE:BUSY:3".parse::<NakRule>(),
            Ok(NakRule {
                command: Command::Stage,
                code: DeviceErrorCode::Busy,
                count: Some(3)
            })
        );
        assert_eq!(
            "commit:storage_full".parse::<NakRule>(),
            Ok(NakRule {
                command: Command::Commit,
                code: DeviceErrorCode::StorageFull,
                count: None
            })
        );
        assert!("FLY".parse::<NakRule>().is_err());
        assert!("STAGE:NOPE".parse::<NakRule>().is_err());
        assert_eq!(
            "COMMIT".parse::<DropReplyRule>(),
            Ok(DropReplyRule {
                command: Command::Commit,
                count: 1
            })
        );
    }
}
