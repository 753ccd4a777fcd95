//! `station operator` and `station shift`: who is at the station, and what the shift did.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use station_core::shift::{rfc3339, ShiftReport};
use station_core::shift_export;
use station_core::{CoreError, Store};
use station_service::{operator, shifts};

use crate::outcomes::exit;
use crate::stdout_err;

type Out<'a> = std::io::StdoutLock<'a>;

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Sign in with a name or badge: recorded on every flash until sign-out.
    SignIn {
        /// The name or badge (a badge scanner types it).
        name: String,
    },
    /// Sign the operator out.
    SignOut,
    /// Who is signed in, and whether the lead requires a sign-in.
    Show {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ShiftCommand {
    /// Start a shift now (refused while one runs).
    Start,
    /// End the running shift and print its saved report; asks "End shift? N passed, M failed"
    /// unless --yes.
    End {
        /// End without asking.
        #[arg(long)]
        yes: bool,
    },
    /// The running shift's report so far and the saved reports of past shifts.
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Only this shift (see the ID column).
    #[arg(long)]
    pub id: Option<i64>,
    /// Print CSV (times as YYYY-MM-DD hh:mm:ss, with a utc_offset column).
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
    #[arg(long)]
    pub json: bool,
    /// Save to this file instead: the printable page for a .html name (one shift, --id),
    /// else CSV.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["csv", "json"])]
    pub output: Option<PathBuf>,
    /// At most this many past shifts.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
}

pub fn operator(
    store: &mut Store,
    cmd: OperatorCommand,
    out: &mut Out<'_>,
) -> Result<u8, CoreError> {
    let state = match cmd {
        OperatorCommand::SignIn { name } => operator::sign_in(store, &name)?,
        OperatorCommand::SignOut => operator::sign_out(store)?,
        OperatorCommand::Show { json: true } => {
            let state = operator::signed_in(store)?;
            serde_json::to_writer_pretty(&mut *out, &state).map_err(|e| stdout_err(e.into()))?;
            writeln!(out).map_err(stdout_err)?;
            return Ok(exit::OK);
        }
        OperatorCommand::Show { json: false } => operator::signed_in(store)?,
    };
    match &state.operator {
        Some(name) => writeln!(out, "signed in: {name}"),
        None => writeln!(out, "nobody is signed in"),
    }
    .map_err(stdout_err)?;
    if state.required {
        writeln!(out, "the lead requires a sign-in before flashing").map_err(stdout_err)?;
    }
    Ok(exit::OK)
}

pub fn shift(
    store: &mut Store,
    cmd: ShiftCommand,
    operator: Option<&str>,
    out: &mut Out<'_>,
) -> Result<u8, CoreError> {
    match cmd {
        ShiftCommand::Start => {
            let r = shifts::start(store, operator)?;
            writeln!(
                out,
                "shift {} started at {} by {}",
                r.id,
                rfc3339(r.started_at),
                r.operators.join(", ")
            )
            .map_err(stdout_err)?;
        }
        ShiftCommand::End { yes } => {
            let running = shifts::running(store)?.ok_or_else(|| CoreError::Conflict {
                problem: "No shift is running.".into(),
                fix: "start one with `station shift start`".into(),
            })?;
            if !yes && !confirm(&running, out)? {
                writeln!(out, "the shift goes on").map_err(stdout_err)?;
                return Ok(exit::OK);
            }
            let r = shifts::end(store)?;
            print_reports(store, out, &[r])?;
        }
        ShiftCommand::Report(a) => {
            let reports = match a.id {
                Some(id) => vec![store.shift_report(id)?],
                None => shifts::running(store)?
                    .into_iter()
                    .chain(store.shift_reports(a.limit)?)
                    .collect(),
            };
            if let Some(path) = &a.output {
                let n = shifts::save(store, &reports, path)?;
                writeln!(out, "saved {n} shift report(s) to {}", path.display())
                    .map_err(stdout_err)?;
            } else if a.csv {
                shift_export::write_csv(store, &reports, out)?;
            } else if a.json {
                serde_json::to_writer_pretty(&mut *out, &reports)
                    .map_err(|e| stdout_err(e.into()))?;
                writeln!(out).map_err(stdout_err)?;
            } else {
                print_reports(store, out, &reports)?;
            }
        }
    }
    Ok(exit::OK)
}

/// Ask "End shift? N passed, M failed" on standard input; anything but y/yes keeps it running.
fn confirm(running: &ShiftReport, out: &mut Out<'_>) -> Result<bool, CoreError> {
    write!(
        out,
        "End shift? {} passed, {} failed [y/N] ",
        running.passed, running.failed
    )
    .map_err(stdout_err)?;
    out.flush().map_err(stdout_err)?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|source| CoreError::Io {
            action: "read the answer from",
            path: "standard input".into(),
            source,
        })?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

fn print_reports(
    store: &Store,
    out: &mut Out<'_>,
    reports: &[ShiftReport],
) -> Result<(), CoreError> {
    if reports.is_empty() {
        writeln!(out, "no shifts yet").map_err(stdout_err)?;
    }
    for r in reports {
        let times = shift_export::report_times(store, r)?;
        let ended = times
            .ended
            .map(|t| t.text)
            .unwrap_or_else(|| "running".into());
        let fpy = r
            .first_pass_yield_percent
            .map(|v| format!("{v:.1} %"))
            .unwrap_or_else(|| "-".into());
        let uph = r
            .units_per_hour
            .map(|v| format!("{v:.1}"))
            .unwrap_or_else(|| "-".into());
        let reasons = r.failed_by_reason_text();
        writeln!(
            out,
            "shift {}  {} .. {} (UTC{})\n  operators: {}\n  passed {}  failed {}{}\n  \
             first-pass yield {} ({} of {} units)  units/hour {}\n",
            r.id,
            times.started.text,
            ended,
            times.started.utc_offset,
            if r.operators.is_empty() {
                "-".into()
            } else {
                r.operators.join(", ")
            },
            r.passed,
            r.failed,
            if reasons.is_empty() {
                String::new()
            } else {
                format!(" ({reasons})")
            },
            fpy,
            r.first_pass_passed,
            r.units_attempted,
            uph,
        )
        .map_err(stdout_err)?;
    }
    Ok(())
}
