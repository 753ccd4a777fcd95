//! `station-espsim`: run one simulated ESP32 ROM loader on a pseudo-terminal.
//!
//! Prints the port path as the first line of stdout, then serves until stopped (SIGINT/SIGTERM,
//! or stdin closing) or until an injected unplug or power loss ends it; the exit code tells
//! which (see `EspSimExit::exit_code`). With `--image FILE` the flash is loaded from FILE at
//! start (if it exists) and saved back at the end; without it the flash lives in memory only.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use station_espsim::protocol::esp32;
use station_espsim::{ErrorRule, EspSimOptions, EspSimulator, Flash};

/// A simulated ESP32 in its ROM serial bootloader (download mode) on a pty. Use esptool with
/// `--chip esp32 --no-stub --before no-reset --after no-reset`.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Raw flash image to load at start and save at exit (manual use; default: in memory,
    /// with a partition table at 0x8000 and an `nvs` partition at 0x9000).
    #[arg(long, value_name = "FILE")]
    image: Option<PathBuf>,
    /// Answer the chip-detect register as an ESP32-S2 (esptool then refuses `--chip esp32`).
    #[arg(long)]
    wrong_chip: bool,
    /// Print the ROM's download-mode banner and some garbage each time the port is opened.
    #[arg(long)]
    noise: bool,
    /// Probability (0..1) that a byte from the host is lost.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    drop_rate: f64,
    /// Seed for the fault generator.
    #[arg(long, default_value_t = 0x5EED)]
    seed: u64,
    /// Emulate this line speed at start (e.g. 115200); default: as fast as the pty.
    #[arg(long, value_name = "BAUD")]
    baud: Option<u32>,
    /// Answer a command with an error status: CMD:CODE[:COUNT], e.g. FLASH_DATA:invalid-crc:1
    /// or FLASH_END:failed-to-act. Repeatable.
    #[arg(long, value_name = "RULE")]
    error: Vec<ErrorRule>,
    /// Unplug (exit 10) while the Nth FLASH_DATA arrives; that block is not written.
    #[arg(long, value_name = "N")]
    unplug_at_block: Option<u32>,
    /// Lose power (exit 12) right after writing the Nth FLASH_DATA block, before replying.
    #[arg(long, value_name = "N")]
    power_loss_after_block: Option<u32>,
    /// The unit's MAC (its hardware id), e.g. 24:0A:C4:65:43:21 to play another unit.
    #[arg(long, value_parser = station_espsim::options::parse_mac)]
    mac: Option<[u8; 6]>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let flash = match &args.image {
        Some(path) if path.exists() => match Flash::load(path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("station-espsim: {e}");
                return ExitCode::from(2);
            }
        },
        _ => Flash::default(),
    };
    let opts = EspSimOptions {
        chip_magic: if args.wrong_chip {
            esp32::ESP32S2_MAGIC
        } else {
            esp32::CHIP_MAGIC
        },
        noise_before_sync: args.noise,
        drop_rate: args.drop_rate,
        seed: args.seed,
        baud: args.baud,
        errors: args.error,
        unplug_at_block: args.unplug_at_block,
        power_loss_after_block: args.power_loss_after_block,
        mac: args.mac.unwrap_or(station_espsim::protocol::esp32::MAC),
    };
    let sim = match EspSimulator::start(opts, flash) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("station-espsim: {e}");
            return ExitCode::from(2);
        }
    };
    println!("{}", sim.port_path());
    let _ = std::io::stdout().flush();
    // Stop when stdin closes (the parent went away) or a fault ends the chip.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for _ in std::io::stdin().lock().lines() {}
        let _ = tx.send(());
    });
    while !sim.is_finished() && rx.recv_timeout(Duration::from_millis(50)).is_err() {}
    let flash = sim.flash();
    let exit = match sim.shutdown() {
        Ok(exit) => exit.exit_code(),
        Err(e) => {
            eprintln!("station-espsim: {e}");
            2
        }
    };
    if let Some(path) = &args.image {
        if let Err(e) = flash.save(path) {
            eprintln!("station-espsim: {e}");
            return ExitCode::from(2);
        }
    }
    ExitCode::from(exit as u8)
}
