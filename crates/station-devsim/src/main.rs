//! `station-devsim`: run one simulated device on a pseudo-terminal.
//!
//! Prints the port path as the first line of stdout, then serves until stopped (SIGINT/SIGTERM)
//! or until an injected unplug or power loss ends it; the exit code tells which (see
//! `SimExit::exit_code`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use station_devsim::{
    DropReplyRule, FlashKey, NakRule, PowerLoss, SimOptions, Simulator, FLASH_KEY_ENV,
};
use station_protocol::spec;

/// A simulated DeviceHub device speaking provisioning protocol version 1 on a pty.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// File holding the device's committed config, sealed under the key in
    /// STATION_DEVSIM_FLASH_KEY (64 hex digits, required with --flash; never written to disk);
    /// loaded at start, replaced atomically on commit. Without it the config lives in memory only.
    #[arg(long, value_name = "FILE")]
    flash: Option<PathBuf>,
    /// Chip id as hex (2..=32 digits). Default: derived from the --flash path (stable across
    /// restarts), or random without --flash.
    #[arg(long, value_name = "HEX")]
    hardware_id: Option<String>,
    /// Firmware version reported in HELLO.
    #[arg(long, value_name = "VERSION")]
    firmware_version: Option<String>,
    /// Also make a symlink at PATH pointing to the port (removed when the device goes away).
    #[arg(long, value_name = "PATH")]
    link: Option<PathBuf>,
    /// Print a boot log each time the port is opened.
    #[arg(long)]
    boot_noise: bool,
    /// Ignore input for this many ms after the port is opened (booting).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    boot_ms: u64,
    /// Print a debug line after every frame.
    #[arg(long)]
    debug_prints: bool,
    /// Probability (0..1) that a byte is lost, either direction.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    drop_rate: f64,
    /// Probability (0..1) that a byte is corrupted, either direction.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    corrupt_rate: f64,
    /// Seed for the fault generator.
    #[arg(long, default_value_t = 0x5EED)]
    seed: u64,
    /// Delay before every reply.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    reply_delay_ms: u64,
    /// Emulate this line speed (e.g. 115200); default: as fast as the pty.
    #[arg(long, value_name = "BAUD")]
    baud: Option<u32>,
    /// Refuse a command: CMD[:CODE[:COUNT]], e.g. STAGE:BUSY:3 or COMMIT:STORAGE_FULL.
    /// CODE defaults to BUSY, COUNT to always. Repeatable.
    #[arg(long, value_name = "RULE")]
    nak: Vec<NakRule>,
    /// Lose the reply to a command (the device still acts): CMD[:COUNT], COUNT defaults to 1.
    /// Repeatable.
    #[arg(long, value_name = "RULE")]
    drop_reply: Vec<DropReplyRule>,
    /// Close the port and exit (code 10) after answering N STAGE frames.
    #[arg(long, value_name = "N")]
    unplug_after_stages: Option<u32>,
    /// Lose power at COMMIT: before-commit (exit 11, old config kept) or after-commit (store,
    /// then exit 12 without replying).
    #[arg(long, value_name = "WHEN")]
    power_loss: Option<PowerLoss>,
    /// Exit (code 0) after replying to the first successful COMMIT.
    #[arg(long)]
    exit_after_commit: bool,
    /// Total bytes the device can stage (STAGE answers STORAGE_FULL beyond it).
    #[arg(long, value_name = "BYTES")]
    staging_capacity: Option<usize>,
    /// Largest config blob the flash holds (COMMIT answers STORAGE_FULL beyond it).
    #[arg(long, value_name = "BYTES")]
    flash_capacity: Option<usize>,
    /// A protocol 1.0 unit: no BAUD capability, the link stays at 115200.
    #[arg(long, conflicts_with = "baud_rates")]
    no_baud: bool,
    /// Rates besides 115200 that BAUD accepts, comma-separated (default 921600,460800,230400).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    baud_rates: Option<Vec<u32>>,
    /// Accept BAUD, then hear nothing at the new rate (a cable or adapter that cannot run it);
    /// the device returns to 115200 by itself after 1 s.
    #[arg(long)]
    baud_unreachable: bool,
    /// A protocol 1.0 unit as to possession proofs: no PROVE capability (spec §10.3).
    #[arg(long, conflicts_with = "prove_wrong_mac")]
    no_prove: bool,
    /// A rogue unit: answer PROVE with a wrong mac.
    #[arg(long)]
    prove_wrong_mac: bool,
    /// The write gate (spec §10.3): once a config is committed, refuse a new write (LOCKED)
    /// unless --write-allowed, and refuse a generation not above the committed one.
    #[arg(long)]
    gate: bool,
    /// With --gate: the application allows a write (factory-mode jumper on, button held).
    #[arg(long, requires = "gate")]
    write_allowed: bool,
    /// A small receive buffer (spec §10.2): accept STAGE frames of at most N bytes (64..199)
    /// and list FRAME<N> in HELLO.
    #[arg(long, value_name = "N")]
    frame: Option<usize>,
}

impl Args {
    fn into_options(self) -> Result<SimOptions, String> {
        for (name, p) in [
            ("--drop-rate", self.drop_rate),
            ("--corrupt-rate", self.corrupt_rate),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        if self.baud_rates.as_ref().is_some_and(|r| r.contains(&0)) {
            return Err("--baud-rates must be positive".to_owned());
        }
        if self.baud == Some(0) {
            return Err("--baud must be positive".to_owned());
        }
        if let Some(n) = self.frame {
            if !(spec::MIN_FRAME_LIMIT..spec::MAX_FRAME_LEN).contains(&n) {
                return Err(format!(
                    "--frame must be {}..{} bytes (a unit that takes {} needs no --frame)",
                    spec::MIN_FRAME_LIMIT,
                    spec::MAX_FRAME_LEN - 1,
                    spec::MAX_FRAME_LEN
                ));
            }
        }
        let defaults = SimOptions::default();
        // A key of this process's own would die with it: the file could never be read again.
        let flash_key = match &self.flash {
            None => None,
            Some(_) => {
                let hex = std::env::var(FLASH_KEY_ENV).map_err(|_| {
                    format!(
                        "--flash needs the key the file is sealed with in {FLASH_KEY_ENV} \
                         (64 hex digits, e.g. `openssl rand -hex 32`; keep it in memory, never \
                         on disk): the flash file holds the unit's secrets"
                    )
                })?;
                Some(FlashKey::from_hex(&hex).map_err(|e| e.to_string())?)
            }
        };
        Ok(SimOptions {
            flash: self.flash,
            flash_key,
            hardware_id: self.hardware_id,
            firmware_version: self.firmware_version.unwrap_or(defaults.firmware_version),
            link: self.link,
            boot_noise: self.boot_noise,
            boot_time: Duration::from_millis(self.boot_ms),
            debug_prints: self.debug_prints,
            drop_rate: self.drop_rate,
            corrupt_rate: self.corrupt_rate,
            seed: self.seed,
            reply_delay: Duration::from_millis(self.reply_delay_ms),
            baud: self.baud,
            naks: self.nak,
            drop_replies: self.drop_reply,
            unplug_after_stages: self.unplug_after_stages,
            power_loss: self.power_loss,
            exit_after_commit: self.exit_after_commit,
            staging_capacity: self.staging_capacity,
            flash_capacity: self.flash_capacity,
            baud_rates: match (self.no_baud, self.baud_rates) {
                (true, _) => Vec::new(),
                (false, Some(rates)) => rates,
                (false, None) => defaults.baud_rates,
            },
            baud_unreachable: self.baud_unreachable,
            // A rogue unit is for in-process tests only.
            rogue_device_id: None,
            prove: !self.no_prove,
            prove_wrong_mac: self.prove_wrong_mac,
            gate: self.gate,
            write_allowed: self.write_allowed,
            frame_limit: self.frame,
        })
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let opts = match args.into_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("station-devsim: {e}");
            return ExitCode::from(2);
        }
    };
    let flash = opts.flash.clone();
    let sim = match Simulator::start(opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("station-devsim: {e}");
            return ExitCode::from(1);
        }
    };
    // First line of stdout is the port path, and nothing else: scripts read it.
    let mut out = std::io::stdout();
    if writeln!(out, "{}", sim.port_path())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::from(1);
    }
    eprintln!(
        "station-devsim: hardware id {}, flash {}",
        sim.hardware_id(),
        flash.map_or_else(|| "in memory".to_owned(), |p| p.display().to_string())
    );
    match sim.wait() {
        Ok(exit) => {
            eprintln!("station-devsim: {exit:?}");
            ExitCode::from(u8::try_from(exit.exit_code()).unwrap_or(1))
        }
        Err(e) => {
            eprintln!("station-devsim: {e}");
            ExitCode::from(1)
        }
    }
}
