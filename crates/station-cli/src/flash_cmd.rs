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
use station_core::flash::{FlashFailure, FlashOutcome, FlashStep, UnitReport};
use station_core::shift::ShiftCounters;
use station_core::{CoreError, JobOutcome};
use station_protocol::{list_ports, PortEvent, PortInfo, PortWatcher};
use station_service::labels::AfterPass;
use station_service::{FlashRequest, Flasher, JobReport, Passed, Sink};

use crate::outcomes::{exit, exit_code, flash_exit, help_line};
use crate::stdout_err;

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
    fn request(&self) -> FlashRequest {
        match (self.batch, &self.device_type) {
            (Some(batch_id), _) => FlashRequest::NextInBatch {
                batch_id,
                overwrite_foreign: self.overwrite_foreign,
            },
            (None, t) => FlashRequest::NewDevice {
                device_type: t.clone().unwrap_or_default(),
                prefix: self.prefix.clone(),
                overwrite_foreign: self.overwrite_foreign,
            },
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
    /// Re-flash even though the device has no unit on record (made by `station provision`)
    /// and the unit cannot prove it holds the device's credentials: check the unit first.
    #[arg(long)]
    pub confirm_unbound: bool,
    /// The device type whose driver reaches the unit, when no --device names it (a unit that
    /// does not speak the station's protocol: an ESP-IDF NVS or a Zephyr MCUmgr unit).
    #[arg(long = "type", value_name = "TYPE")]
    pub unit_type: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UnitArgs {
    /// The serial port of the unit.
    #[arg(long)]
    pub port: String,
    /// The device type whose driver reaches the unit (a unit that does not speak the station's
    /// protocol: an ESP-IDF NVS or a Zephyr MCUmgr unit). Default: the station's protocol.
    #[arg(long = "type", value_name = "TYPE")]
    pub unit_type: Option<String>,
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
        hook_error: Option<&'a str>,
        label_printed: bool,
        label_error: Option<&'a str>,
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
    /// Nothing was written to the unit: what was asked, the port or the station stopped the
    /// job first (`control`: what to fix). Not a failed unit; never counted in the shift.
    NotStarted {
        port: &'a str,
        control: &'static str,
        code: &'static str,
        reason: Option<&'static str>,
        action: &'static str,
        message: String,
        help: String,
    },
}

/// A job's failure as JSON: a failed unit, or a job that did not start.
fn json_job_fail<'a>(r: &'a JobReport, f: &'a FlashFailure) -> JsonResult<'a> {
    match r.outcome {
        JobOutcome::NotStarted { control } => JsonResult::NotStarted {
            port: &r.port,
            control: control.as_str(),
            code: f.error.code().as_str(),
            reason: f.error.reason().map(|r| r.as_str()),
            action: f.error.action().as_str(),
            message: f.error.to_string(),
            help: help_line(&f.error),
        },
        _ => json_fail(&r.port, f),
    }
}

fn json_fail<'a>(port: &'a str, f: &'a FlashFailure) -> JsonResult<'a> {
    JsonResult::Fail {
        port,
        device_id: f.device_id.as_deref(),
        code: f.error.code().as_str(),
        reason: f.error.reason().map(|r| r.as_str()),
        action: f.error.action().as_str(),
        message: f.error.to_string(),
        help: help_line(&f.error),
    }
}

fn write_json(out: &mut impl Write, j: &JsonResult<'_>) -> Result<(), CoreError> {
    serde_json::to_writer(&mut *out, j).map_err(|e| stdout_err(e.into()))?;
    writeln!(out).map_err(stdout_err)
}

/// Print one port's result.
fn report(out: &mut impl Write, r: &JobReport, as_json: bool) -> Result<(), CoreError> {
    if let Some(note) = &r.id_note {
        eprintln!("note: {note}");
    }
    if as_json {
        return write_json(
            out,
            &match &r.result {
                Ok(p) => JsonResult::Pass {
                    port: &r.port,
                    outcome: &p.outcome,
                    hook_error: p.hook_error.as_deref(),
                    label_printed: p.label.printed(),
                    label_error: p.label.error(),
                },
                Err(f) => json_job_fail(r, f),
            },
        );
    }
    match &r.result {
        Ok(p) => print_pass(out, p),
        Err(f) => print_job_fail(out, r, f),
    }
}

/// A job's failure: `FAIL` for a unit that failed, `NOT STARTED` for a job stopped before
/// anything was written to its unit (the service's [`JobOutcome`]).
fn print_job_fail(out: &mut impl Write, r: &JobReport, f: &FlashFailure) -> Result<(), CoreError> {
    match r.outcome {
        JobOutcome::NotStarted { .. } => print_not_started(out, &r.port, &f.error),
        _ => print_fail(out, &r.port, f),
    }
}

/// `NOT STARTED on PORT: why` and what to do: nothing was written to the unit.
fn print_not_started(out: &mut impl Write, port: &str, e: &CoreError) -> Result<(), CoreError> {
    writeln!(out, "NOT STARTED on {port}: {e}\n  help: {}", help_line(e)).map_err(stdout_err)
}

fn print_pass(out: &mut impl Write, p: &Passed) -> Result<(), CoreError> {
    let o = &p.outcome;
    for (id, r) in &o.recovered {
        writeln!(
            out,
            "note: settled an earlier unconfirmed flash of {id}: {r:?}"
        )
        .map_err(stdout_err)?;
    }
    if o.restored {
        writeln!(
            out,
            "note: unit {} had come back blank; it is the unit {} was flashed into, so it got \
             that device back with new credentials",
            o.hardware_id, o.device.device_id
        )
        .map_err(stdout_err)?;
    }
    // The write's line speed (spec §10.1); a unit without BAUD is named as such.
    let link = if o.protocol_1_0_unit {
        format!("; protocol 1.0 unit: {} baud)", o.link_baud)
    } else {
        format!(") at {} baud", o.link_baud)
    };
    writeln!(
        out,
        "PASS {}  {} generation {} into unit {} (firmware {}{link} in {:.1} s",
        o.device.device_id,
        if o.rotated { "rotated to" } else { "flashed" },
        o.device.generation,
        o.hardware_id,
        o.firmware_version,
        o.elapsed_ms as f64 / 1000.0
    )
    .map_err(stdout_err)?;
    if let Some(h) = &p.hook_error {
        writeln!(
            out,
            "warning: the after-flash hook failed ({h}); the flash stands"
        )
        .map_err(stdout_err)?;
    }
    match &p.label {
        AfterPass::Off => {}
        AfterPass::Printed => {
            writeln!(out, "label printed for {}", o.device.device_id).map_err(stdout_err)?;
        }
        AfterPass::NotPrinted(l) => writeln!(
            out,
            "warning: {l} (the flash stands; reprint with `station label print {}`)",
            o.device.device_id
        )
        .map_err(stdout_err)?,
    }
    Ok(())
}

fn print_fail(out: &mut impl Write, port: &str, f: &FlashFailure) -> Result<(), CoreError> {
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
    .map_err(stdout_err)
}

/// The exit code for a set of jobs: OK when all passed, else the code of the first failure's
/// kind (a unit's failure is DEVICE; a busy database or a full disk is DATABASE, as for every
/// other command).
fn exit_for(reports: &[JobReport]) -> u8 {
    flash_exit(reports.iter().filter_map(|r| r.result.as_ref().err()))
}

/// Progress goes to standard error, one line per step.
struct StderrProgress;

impl Sink for StderrProgress {
    fn progress(&self, _job: u32, port: &str, step: FlashStep) {
        eprintln!("[{port}] {}", step_words(step));
    }
    fn finished(&self, _: &JobReport) {}
    fn shift(&self, _: &ShiftCounters) {}
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

pub fn flash(flasher: &Flasher, args: &FlashArgs, out: &mut impl Write) -> Result<u8, CoreError> {
    let reports = flasher.run_ports(&args.port, &args.target.request(), &StderrProgress)?;
    for r in &reports {
        report(out, r, args.json)?;
    }
    Ok(exit_for(&reports))
}

pub fn reflash(
    flasher: &Flasher,
    args: &ReflashArgs,
    out: &mut impl Write,
) -> Result<u8, CoreError> {
    let request = FlashRequest::Reflash {
        device_id: args.device.clone(),
        confirm_unbound: args.confirm_unbound,
    };
    let reports = flasher.run_ports(std::slice::from_ref(&args.port), &request, &StderrProgress)?;
    for r in &reports {
        report(out, r, args.json)?;
    }
    Ok(exit_for(&reports))
}

pub fn identify(flasher: &Flasher, args: &UnitArgs, out: &mut impl Write) -> Result<u8, CoreError> {
    let unit = match flasher.identify(&args.port) {
        Ok(r) => r,
        Err(f) => {
            if args.json {
                write_json(out, &json_fail(&args.port, &f))?;
            } else {
                print_fail(out, &args.port, &f)?;
            }
            return Ok(exit_code(f.error.code()));
        }
    };
    if args.json {
        write_json(
            out,
            &JsonResult::Identified {
                port: &args.port,
                unit: &unit,
            },
        )?;
        return Ok(exit::OK);
    }
    writeln!(out, "{}", identify_line(&unit, &args.port)).map_err(stdout_err)?;
    for (id, r) in &unit.recovered {
        writeln!(out, "settled an unconfirmed flash of {id}: {r:?}").map_err(stdout_err)?;
    }
    Ok(exit::OK)
}

fn identify_line(report: &UnitReport, port: &str) -> String {
    let unit = format!(
        "unit {} (firmware {}) on {port}",
        report.hardware_id, report.firmware_version
    );
    match (&report.device_id, &report.device) {
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
    }
}

pub fn recover(flasher: &Flasher, args: &UnitArgs, out: &mut impl Write) -> Result<u8, CoreError> {
    let reports = flasher.run_ports(
        std::slice::from_ref(&args.port),
        &FlashRequest::Recover,
        &StderrProgress,
    )?;
    if args.json {
        for r in &reports {
            report(out, r, true)?;
        }
        return Ok(exit_for(&reports));
    }
    for r in &reports {
        match &r.result {
            Ok(p) => {
                let o = &p.outcome;
                if o.recovered.is_empty() {
                    writeln!(
                        out,
                        "{}: nothing to settle; the unit holds generation {}",
                        o.device.device_id, o.device.generation
                    )
                    .map_err(stdout_err)?;
                }
                for (id, res) in &o.recovered {
                    writeln!(out, "{id}: {res:?}").map_err(stdout_err)?;
                }
            }
            Err(f) => print_job_fail(out, r, f)?,
        }
    }
    Ok(exit_for(&reports))
}

/// `; credentials ready: N of M (algorithm)` while the flasher keeps a pool.
fn pool_line(flasher: &Flasher) -> String {
    flasher.pool_status().map_or_else(String::new, |p| {
        let at = p.algorithm.map(|a| format!(" at {a}")).unwrap_or_default();
        format!("; credentials ready: {} of {}{at}", p.ready, p.target)
    })
}

/// Flash every unit that is plugged in, one after another per port, until interrupted or
/// `--count` units are done. A port is flashed once per arrival: unplug and plug in the next.
pub fn watch(flasher: &Flasher, args: &WatchArgs, out: &mut impl Write) -> Result<u8, CoreError> {
    let request = args.target.request();
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
    flasher.expect_ports(&args.port);
    eprintln!(
        "watching for units{}; plug one in (Ctrl-C to stop)",
        pool_line(flasher)
    );
    let mut done = 0u32;
    let mut first_failure: Option<u8> = None;
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
                    eprintln!(
                        "[{}] unit arrived: {}{}",
                        info.path,
                        port_line(&info),
                        pool_line(flasher)
                    );
                    let reports = match flasher.run_ports(
                        std::slice::from_ref(&info.path),
                        &request,
                        &StderrProgress,
                    ) {
                        Ok(reports) => reports,
                        // Refused before the unit was touched (a batch that is complete): say
                        // so on the unit's line and keep watching; nothing is counted.
                        Err(e) if e.not_started().is_some() => {
                            print_not_started(out, &info.path, &e)?;
                            out.flush().map_err(stdout_err)?;
                            first_failure.get_or_insert(exit_code(e.code()));
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    for r in &reports {
                        report(out, r, false)?;
                    }
                    out.flush().map_err(stdout_err)?;
                    if exit_for(&reports) != exit::OK {
                        first_failure.get_or_insert(exit_for(&reports));
                    }
                    done += 1;
                    if args.count.is_some_and(|c| done >= c) {
                        return Ok(first_failure.unwrap_or(exit::OK));
                    }
                }
            }
        }
    }
}
