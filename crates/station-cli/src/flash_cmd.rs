//! `station ports | flash | reflash | identify | recover | watch`: the serial side of the CLI.
//!
//! Progress goes to standard error as one line per step (readable on a terminal and in a log);
//! the result goes to standard output: `PASS <device>` or `FAIL <reason>`, or JSON with --json.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use station_core::flash::{FlashFailure, FlashJob, FlashOutcome, FlashStep, UnitReport};
use station_core::gang;
use station_core::hooks::Hooks;
use station_core::{Actor, CoreError, FlashTarget, Store};
use station_protocol::{list_ports, PortEvent, PortInfo, PortWatcher};

use crate::outcomes::{exit_code, flash_exit, help_line};
use crate::{exit, stdout_err};

/// How often `watch` looks for ports arriving and leaving.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Debug, Args)]
pub struct PortsArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Flash a new device of this type ({prefix}{type}-{NNN}, after the highest number).
    #[arg(
        long = "type",
        conflicts_with = "batch",
        required_unless_present = "batch"
    )]
    pub device_type: Option<String>,
    /// With --type: the id prefix.
    #[arg(long, default_value = "", requires = "device_type")]
    pub prefix: String,
    /// Flash the next device of this batch.
    #[arg(long)]
    pub batch: Option<i64>,
    /// Also overwrite a unit that holds an identity this station does not know.
    #[arg(long)]
    pub overwrite_foreign: bool,
}

impl TargetArgs {
    fn job(&self) -> FlashJob {
        let target = match (self.batch, &self.device_type) {
            (Some(b), _) => FlashTarget::NextInBatch(b),
            (None, t) => FlashTarget::New {
                device_type: t.clone().unwrap_or_default(),
                prefix: self.prefix.clone(),
            },
        };
        FlashJob::Provision {
            target,
            overwrite_foreign: self.overwrite_foreign,
        }
    }
}

#[derive(Debug, Args)]
pub struct FlashArgs {
    /// The serial port of the unit (e.g. /dev/ttyUSB0, COM3); repeat it to flash several
    /// units at once.
    #[arg(long, required = true)]
    pub port: Vec<String>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReflashArgs {
    /// The serial port of the unit.
    #[arg(long)]
    pub port: String,
    /// The device you mean; the unit must hold exactly this one.
    #[arg(long)]
    pub device: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UnitArgs {
    /// The serial port of the unit.
    #[arg(long)]
    pub port: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Also watch this path (a port that is not a USB device, e.g. a simulator's link); may be
    /// repeated. Without it, every USB serial port that arrives is flashed.
    #[arg(long)]
    pub port: Vec<String>,
    /// Only watch the paths given with --port, not USB ports.
    #[arg(long)]
    pub only_listed: bool,
    /// Stop after this many units (default: run until interrupted).
    #[arg(long)]
    pub count: Option<u32>,
}

fn step_words(step: FlashStep) -> String {
    match step {
        FlashStep::Connect => "connect".into(),
        FlashStep::Identify => "identify".into(),
        FlashStep::Write { done, total } => format!("write {done}/{total}"),
        FlashStep::Verify => "verify".into(),
        FlashStep::Record => "record".into(),
    }
}

#[derive(Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
enum JsonResult<'a> {
    Pass {
        port: &'a str,
        #[serde(flatten)]
        outcome: &'a FlashOutcome,
    },
    /// `station identify`: what the unit holds.
    Identified {
        port: &'a str,
        #[serde(flatten)]
        unit: &'a UnitReport,
    },
    Fail {
        port: &'a str,
        device_id: Option<&'a str>,
        code: &'static str,
        reason: Option<&'static str>,
        action: &'static str,
        message: String,
        help: String,
    },
}

/// Print one port's result; returns whether it passed.
fn report(
    out: &mut impl Write,
    port: &str,
    result: &Result<FlashOutcome, FlashFailure>,
    as_json: bool,
) -> Result<bool, CoreError> {
    if as_json {
        let j = match result {
            Ok(outcome) => JsonResult::Pass { port, outcome },
            Err(f) => JsonResult::Fail {
                port,
                device_id: f.device_id.as_deref(),
                code: f.error.code().as_str(),
                reason: f.error.reason().map(|r| r.as_str()),
                action: f.error.action().as_str(),
                message: f.error.to_string(),
                help: help_line(&f.error),
            },
        };
        serde_json::to_writer(&mut *out, &j).map_err(|e| stdout_err(e.into()))?;
        writeln!(out).map_err(stdout_err)?;
        return Ok(result.is_ok());
    }
    match result {
        Ok(o) => {
            for (id, r) in &o.recovered {
                writeln!(
                    out,
                    "note: settled an earlier unconfirmed flash of {id}: {r:?}"
                )
                .map_err(stdout_err)?;
            }
            writeln!(
                out,
                "PASS {}  {} generation {} into unit {} (firmware {}) in {:.1} s",
                o.device.device_id,
                if o.rotated { "rotated to" } else { "flashed" },
                o.device.generation,
                o.hardware_id,
                o.firmware_version,
                o.elapsed_ms as f64 / 1000.0
            )
            .map_err(stdout_err)?;
            if let Some(h) = &o.hook_error {
                writeln!(
                    out,
                    "warning: the after-flash hook failed ({h}); the flash stands"
                )
                .map_err(stdout_err)?;
            }
            Ok(true)
        }
        Err(f) => {
            let who = f
                .device_id
                .as_deref()
                .map(|d| format!(" {d}"))
                .unwrap_or_default();
            writeln!(
                out,
                "FAIL{who} on {port}: {}\n  help: {}",
                f.error,
                help_line(&f.error)
            )
            .map_err(stdout_err)?;
            Ok(false)
        }
    }
}

fn progress_line(port: &str, step: FlashStep) {
    eprintln!("[{port}] {}", step_words(step));
}

pub fn ports(args: &PortsArgs, out: &mut impl Write) -> Result<u8, CoreError> {
    let ports = list_ports().map_err(|e| station_core::flash::device_error(&e))?;
    if args.json {
        let rows: Vec<serde_json::Value> = ports.iter().map(port_json).collect();
        serde_json::to_writer_pretty(&mut *out, &rows).map_err(|e| stdout_err(e.into()))?;
        writeln!(out).map_err(stdout_err)?;
    } else if ports.is_empty() {
        writeln!(
            out,
            "no serial ports found (pseudo-terminals and simulators are not listed: name them with --port)"
        )
        .map_err(stdout_err)?;
    } else {
        for p in &ports {
            writeln!(out, "{}", port_line(p)).map_err(stdout_err)?;
        }
    }
    Ok(exit::OK)
}

fn port_json(p: &PortInfo) -> serde_json::Value {
    serde_json::json!({
        "path": p.path,
        "vid": p.vid.map(|v| format!("{v:04x}")),
        "pid": p.pid.map(|v| format!("{v:04x}")),
        "serial_number": p.serial_number,
        "product": p.product,
        "manufacturer": p.manufacturer,
    })
}

fn port_line(p: &PortInfo) -> String {
    let mut s = p.path.clone();
    if let (Some(v), Some(pid)) = (p.vid, p.pid) {
        s.push_str(&format!("  {v:04x}:{pid:04x}"));
    }
    for t in [&p.manufacturer, &p.product].into_iter().flatten() {
        s.push_str(&format!("  {t}"));
    }
    if let Some(sn) = &p.serial_number {
        s.push_str(&format!("  serial {sn}"));
    }
    s
}

pub fn flash(
    store: &mut Store,
    args: &FlashArgs,
    actor: &Actor,
    out: &mut impl Write,
) -> Result<u8, CoreError> {
    let hooks = Hooks::from_store(store)?;
    let job = args.target.job();
    if let Some(t) = &args.target.device_type {
        crate::prepare_ids(store, t, &args.target.prefix, args.port.len() as u32)?;
    }
    let results = if args.port.len() == 1 {
        let port = &args.port[0];
        vec![gang::flash_port(
            store,
            port,
            &job,
            actor,
            &hooks,
            &mut |s| progress_line(port, s),
        )]
    } else {
        let jobs: Vec<(String, FlashJob)> =
            args.port.iter().map(|p| (p.clone(), job.clone())).collect();
        gang::flash_ports(store.path(), &jobs, actor, &hooks, &|i, s| {
            progress_line(&args.port[i], s)
        })
    };
    let mut all_passed = true;
    for (port, result) in args.port.iter().zip(&results) {
        all_passed &= report(out, port, result, args.json)?;
    }
    debug_assert_eq!(all_passed, flash_exit(&results) == exit::OK);
    Ok(flash_exit(&results))
}

pub fn reflash(
    store: &mut Store,
    args: &ReflashArgs,
    actor: &Actor,
    out: &mut impl Write,
) -> Result<u8, CoreError> {
    let hooks = Hooks::from_store(store)?;
    let job = FlashJob::Reflash {
        expected_device_id: args.device.clone(),
    };
    let result = gang::flash_port(store, &args.port, &job, actor, &hooks, &mut |s| {
        progress_line(&args.port, s)
    });
    report(out, &args.port, &result, args.json)?;
    Ok(flash_exit(std::slice::from_ref(&result)))
}

pub fn identify(
    store: &mut Store,
    args: &UnitArgs,
    actor: &Actor,
    out: &mut impl Write,
) -> Result<u8, CoreError> {
    let unit_report = match gang::identify_port(store, &args.port, actor) {
        Ok(r) => r,
        Err(f) => {
            let code = exit_code(f.error.code());
            report(out, &args.port, &Err(f), args.json)?;
            return Ok(code);
        }
    };
    if args.json {
        let j = JsonResult::Identified {
            port: &args.port,
            unit: &unit_report,
        };
        serde_json::to_writer(&mut *out, &j).map_err(|e| stdout_err(e.into()))?;
        writeln!(out).map_err(stdout_err)?;
        return Ok(exit::OK);
    }
    let report = unit_report;
    let unit = format!(
        "unit {} (firmware {}) on {}",
        report.hardware_id, report.firmware_version, args.port
    );
    let line = match (&report.device_id, &report.device) {
        (None, _) => format!("{unit} holds no device identity: provision it with `station flash`"),
        (Some(id), Some(d)) => format!(
            "{unit} holds {id}, generation {}; this station's record: {}, generation {}, {}",
            report.generation.unwrap_or(0),
            d.flash_state.as_str(),
            d.generation,
            if d.is_active { "active" } else { "deactivated" }
        ),
        (Some(id), None) => format!(
            "{unit} holds {id}, generation {}, which this station has no record of",
            report.generation.unwrap_or(0)
        ),
    };
    writeln!(out, "{line}").map_err(stdout_err)?;
    for (id, r) in &report.recovered {
        writeln!(out, "settled an unconfirmed flash of {id}: {r:?}").map_err(stdout_err)?;
    }
    Ok(exit::OK)
}

pub fn recover(
    store: &mut Store,
    args: &UnitArgs,
    actor: &Actor,
    out: &mut impl Write,
) -> Result<u8, CoreError> {
    let result = gang::flash_port(
        store,
        &args.port,
        &FlashJob::Recover,
        actor,
        &Hooks::none(),
        &mut |s| progress_line(&args.port, s),
    );
    if args.json {
        report(out, &args.port, &result, true)?;
        return Ok(flash_exit(std::slice::from_ref(&result)));
    }
    match result {
        Ok(o) => {
            if o.recovered.is_empty() {
                writeln!(
                    out,
                    "{}: nothing to settle; the unit holds generation {}",
                    o.device.device_id, o.device.generation
                )
                .map_err(stdout_err)?;
            }
            for (id, r) in &o.recovered {
                writeln!(out, "{id}: {r:?}").map_err(stdout_err)?;
            }
            Ok(exit::OK)
        }
        Err(f) => {
            writeln!(
                out,
                "FAIL on {}: {}\n  help: {}",
                args.port,
                f.error,
                help_line(&f.error)
            )
            .map_err(stdout_err)?;
            Ok(exit_code(f.error.code()))
        }
    }
}

/// Flash every unit that is plugged in, one after another per port, until interrupted or
/// `--count` units are done. A port is flashed once per arrival: unplug and plug in the next.
pub fn watch(
    store: &mut Store,
    args: &WatchArgs,
    actor: &Actor,
    out: &mut impl Write,
) -> Result<u8, CoreError> {
    let hooks = Hooks::from_store(store)?;
    let job = args.target.job();
    let listed: Vec<String> = args.port.clone();
    let usb = !args.only_listed;
    let mut watcher = PortWatcher::with_lister(WATCH_INTERVAL, move || {
        let mut ports = if usb { list_ports()? } else { Vec::new() };
        ports.extend(
            listed
                .iter()
                .filter(|p| Path::new(p).exists())
                .map(|p| PortInfo::path_only(p.clone())),
        );
        Ok(ports)
    });
    eprintln!("watching for units; plug one in (Ctrl-C to stop)");
    let mut done = 0u32;
    let mut failed = 0u32;
    let mut seen: BTreeSet<String> = BTreeSet::new();
    loop {
        for event in watcher.wait_and_poll() {
            match event {
                PortEvent::Left(path) => {
                    seen.remove(&path);
                }
                PortEvent::Arrived(info) => {
                    if !seen.insert(info.path.clone()) {
                        continue;
                    }
                    let port = info.path.clone();
                    eprintln!("[{port}] unit arrived: {}", port_line(&info));
                    if let Some(t) = &args.target.device_type {
                        crate::prepare_ids(store, t, &args.target.prefix, 1)?;
                    }
                    let result = gang::flash_port(store, &port, &job, actor, &hooks, &mut |s| {
                        progress_line(&port, s)
                    });
                    if !report(out, &port, &result, false)? {
                        failed += 1;
                    }
                    out.flush().map_err(stdout_err)?;
                    done += 1;
                    if args.count.is_some_and(|c| done >= c) {
                        return Ok(if failed == 0 { exit::OK } else { exit::DEVICE });
                    }
                }
            }
        }
    }
}
