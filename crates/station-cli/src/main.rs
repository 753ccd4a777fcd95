//! `station`: the DeviceHub Station command line, a face of the station's service layer
//! (`station-service`). Each command parses its arguments, calls the service (or the core's
//! store for a plain read), and prints the result; errors print what went wrong and what to
//! do, and exit with a code scripts can rely on (see `station --help`).

mod args;
mod docs_cmd;
mod flash_cmd;
mod label_cmd;
mod outcomes;
mod output;
mod records_cmd;
mod shift_cmd;
mod sync_cmd;

use std::process::ExitCode;

use clap::FromArgMatches;
use station_core::{CoreError, Store};

use args::*;
use outcomes::exit_code;
use station_service::training::{self, Mode};
use station_service::{Flasher, FlasherOptions};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STATION_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let matches = docs_cmd::parser().get_matches();
    let result = match matches.subcommand() {
        Some((docs_cmd::GENERATE_DOCS, m)) => {
            let args = docs_cmd::GenerateDocsArgs::from_arg_matches(m).unwrap_or_else(|e| e.exit());
            docs_cmd::generate(&args).map(|()| 0)
        }
        _ => run(Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("  help: {}", outcomes::help_line(&e));
            ExitCode::from(exit_code(e.code()))
        }
    }
}

fn open(db: Option<std::path::PathBuf>, mode: Mode) -> Result<Store, CoreError> {
    let path = match db {
        Some(p) => p,
        None => station_core::store::default_db_path()?,
    };
    let mut store = training::open(&path, mode)?;
    // A station token older versions kept in the database moves to the credential store now.
    station_sync::credential_store::retire_database_token(&mut store)?;
    Ok(store)
}

fn run(cli: Cli) -> Result<u8, CoreError> {
    // Refuse before touching the database, so a refused call changes nothing.
    match &cli.command {
        Command::Provision(p) => {
            if let Some(path) = &p.output {
                return Err(plaintext_file_refused(path));
            }
            refuse_plaintext_to_stdout_file()?;
        }
        Command::Rotate(r) if !r.due => refuse_plaintext_to_stdout_file()?,
        _ => {}
    }
    let mode = if cli.training {
        Mode::Training
    } else {
        Mode::Production
    };
    let mut store = open(cli.db, mode)?;
    if mode.is_training() {
        eprintln!(
            "TRAINING: working on {}; nothing here ever reaches the server",
            store.path().display()
        );
    }
    let operator = cli.operator.as_deref();
    let mut out = std::io::stdout().lock();
    let s = &mut store;
    match cli.command {
        Command::Type(c) => records_cmd::types(s, c, &mut out),
        Command::Provision(p) => records_cmd::provision(s, p, operator, &mut out),
        Command::Devices(c) => records_cmd::devices(s, c, operator, &mut out),
        Command::Rotate(r) => records_cmd::rotate(s, r, operator, &mut out),
        Command::Deactivate(d) => records_cmd::deactivate(s, d, operator, &mut out),
        Command::Batch(c) => records_cmd::batch(s, c, operator, &mut out),
        Command::Verify(v) => records_cmd::verify(s, v, &mut out),
        Command::Settings(c) => records_cmd::settings(s, c, &mut out),
        Command::Ports(a) => flash_cmd::ports(&a, &mut out),
        Command::Flash(a) => {
            flash_cmd::flash(&flasher(s, operator, false, mode, None), &a, &mut out)
        }
        Command::Reflash(a) => {
            let f = flasher(s, operator, false, mode, a.unit_type.clone());
            flash_cmd::reflash(&f, &a, &mut out)
        }
        Command::Identify(a) => {
            let f = flasher(s, operator, false, mode, a.unit_type.clone());
            flash_cmd::identify(&f, &a, &mut out)
        }
        Command::Recover(a) => {
            let f = flasher(s, operator, false, mode, a.unit_type.clone());
            flash_cmd::recover(&f, &a, &mut out)
        }
        Command::Watch(a) => {
            flash_cmd::watch(&flasher(s, operator, true, mode, None), &a, &mut out)
        }
        Command::Sync(c) => sync_cmd::run(s, c, &mut out),
        Command::Label(c) => label_cmd::run(s, c, &mut out),
        Command::Operator(c) => shift_cmd::operator(s, c, &mut out),
        Command::Shift(c) => shift_cmd::shift(s, c, operator, &mut out),
    }
}

/// The CLI's flasher: the service's, with the operator named for this run; `sim:` ports only
/// in training mode (otherwise a simulator is named by its pty path, like any port). `watch`
/// keeps a credential pool warm between units; a one-shot command would only wait for the pool
/// it fills. `unit_type` names the driver for a unit the job names no device of (`--type`).
fn flasher(
    store: &Store,
    operator: Option<&str>,
    pool: bool,
    mode: Mode,
    unit_type: Option<String>,
) -> Flasher {
    Flasher::new(
        store.path(),
        FlasherOptions {
            operator: operator.map(str::to_owned),
            pool,
            mode,
            unit_type,
            ..FlasherOptions::default()
        },
    )
}

pub(crate) fn stdout_err(source: std::io::Error) -> CoreError {
    CoreError::Io {
        action: "write to",
        path: "standard output".into(),
        source,
    }
}

/// What a script that wants plaintext credentials should do instead of writing a file.
const PLAINTEXT_FIX: &str = "pipe standard output straight into the program that delivers the \
    credentials (e.g. `station provision T --count N | your-flasher`); the station keeps only the \
    hashes, and `station batch export` writes everything else to a file";

fn plaintext_file_refused(path: &std::path::Path) -> CoreError {
    CoreError::Refused {
        problem: format!(
            "refusing to write plaintext MQTT passwords to the file {}: a file outlives the \
             provisioning run and leaks every device's password",
            path.display()
        ),
        fix: PLAINTEXT_FIX.into(),
    }
}

/// Plaintext credentials (`provision`, `rotate`) go to standard output for a script to pipe
/// on, never into a file: the one check for every command that prints them.
fn refuse_plaintext_to_stdout_file() -> Result<(), CoreError> {
    if stdout_is_regular_file() {
        return Err(CoreError::Refused {
            problem:
                "refusing to print plaintext MQTT passwords: standard output is redirected to a \
                      file, which would keep every device's password on disk"
                    .into(),
            fix: PLAINTEXT_FIX.into(),
        });
    }
    Ok(())
}

#[cfg(unix)]
fn stdout_is_regular_file() -> bool {
    use std::os::fd::AsFd;
    std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata().ok())
        .is_some_and(|m| m.is_file())
}

#[cfg(windows)]
fn stdout_is_regular_file() -> bool {
    use std::os::windows::io::AsHandle;
    std::io::stdout()
        .as_handle()
        .try_clone_to_owned()
        .ok()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata().ok())
        .is_some_and(|m| m.is_file())
}
