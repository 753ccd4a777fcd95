//! `station-smpsim`: run one simulated Zephyr device with MCUmgr on a pseudo-terminal.
//!
//! Prints the port path as the first line of stdout, then serves until stopped (SIGINT/SIGTERM)
//! or until an injected unplug or power loss ends it; the exit code tells which
//! (`SimExit::exit_code`). When it ends by itself it prints the keys in storage and their
//! sizes to stderr, never their values (some are secrets).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use station_smp::sim::{ErrorRule, PowerLoss, SimError, SimHandle, SimOptions, Simulator};

/// A simulated Zephyr device answering MCUmgr (SMP) over its serial console on a pty.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// A setting in storage at power-on, as KEY=VALUE (UTF-8). Repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Keys under this prefix are write-only: reads answer ACCESS_DENIED. Repeatable.
    #[arg(long, value_name = "PREFIX")]
    secret_prefix: Vec<String>,
    /// A read-only setting the firmware serves (e.g. the hardware id), KEY=VALUE. Repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    read_only: Vec<String>,
    /// CONFIG_MCUMGR_GRP_SETTINGS_VALUE_LEN: reads serve at most N bytes (Zephyr's default 32).
    #[arg(long, value_name = "N")]
    value_len: Option<usize>,
    /// The settings backend fails silently: saves answer success, storage keeps what it had.
    #[arg(long)]
    save_lost: bool,
    /// Build "without" the settings group: group 3 answers NOT_SUPPORTED.
    #[arg(long)]
    no_settings_group: bool,
    /// Print a Zephyr boot banner on open and after each reset.
    #[arg(long)]
    boot_noise: bool,
    /// Print a log line after every answer.
    #[arg(long)]
    log_noise: bool,
    /// Probability (0..1) that a byte is lost, either direction.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    drop_rate: f64,
    /// Probability (0..1) that a byte is changed, either direction.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    corrupt_rate: f64,
    /// Seed for the fault generator.
    #[arg(long, default_value_t = 0x5EED)]
    seed: u64,
    /// Refuse a request: REQUEST:RC[:COUNT], e.g. write:busy:2 or save:no_memory. Repeatable.
    #[arg(long, value_name = "RULE")]
    error: Vec<ErrorRule>,
    /// Close the port and exit (code 10) when the Nth settings write arrives.
    #[arg(long, value_name = "N")]
    unplug_at_write: Option<u32>,
    /// Lose power: after-write[:N] (exit 11, unsaved values lost) or after-save (exit 12).
    #[arg(long, value_name = "WHEN")]
    power_loss: Option<PowerLoss>,
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
        let mut saved = BTreeMap::new();
        for kv in &self.set {
            // The value may be a secret: the message shows neither side.
            let (k, v) = kv.split_once('=').ok_or("--set expects KEY=VALUE")?;
            saved.insert(k.to_owned(), v.as_bytes().to_vec());
        }
        let mut read_only = BTreeMap::new();
        for kv in &self.read_only {
            let (k, v) = kv.split_once('=').ok_or("--read-only expects KEY=VALUE")?;
            read_only.insert(k.to_owned(), v.as_bytes().to_vec());
        }
        Ok(SimOptions {
            read_only,
            value_len: self.value_len,
            save_lost: self.save_lost,
            saved,
            secret_prefixes: self.secret_prefix,
            settings_enabled: !self.no_settings_group,
            boot_noise: self.boot_noise,
            log_noise: self.log_noise,
            drop_rate: self.drop_rate,
            corrupt_rate: self.corrupt_rate,
            seed: self.seed,
            errors: self.error,
            unplug_at_write: self.unplug_at_write,
            power_loss: self.power_loss,
        })
    }
}

fn main() -> ExitCode {
    let opts = match Args::parse().into_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("station-smpsim: {e}");
            return ExitCode::from(2);
        }
    };
    let sim = match Simulator::start(opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("station-smpsim: {e}");
            return ExitCode::from(1);
        }
    };
    // First line of stdout is the port path and nothing else: scripts read it.
    let mut out = std::io::stdout();
    if writeln!(out, "{}", sim.port_path())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::from(1);
    }
    match wait_and_report(sim) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("station-smpsim: {e}");
            ExitCode::from(1)
        }
    }
}

fn wait_and_report(sim: SimHandle) -> Result<u8, SimError> {
    // Poll rather than join, so the storage can be read after the device ends by itself.
    while !sim.is_finished() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let settings = sim.settings();
    let exit = sim.wait()?;
    eprintln!("station-smpsim: {exit:?}, {} resets", settings.resets);
    for (k, v) in &settings.saved {
        eprintln!("station-smpsim: stored {k} ({} bytes)", v.len());
    }
    Ok(exit.exit_code())
}
