//! `station`: the DeviceHub Station command line. Each command parses its arguments, calls one
//! function of `station-core`, and prints the result; errors print what went wrong and what to
//! do, and exit with a code scripts can rely on (see `station --help`).

mod args;
mod flash_cmd;
mod outcomes;
mod output;
mod sync_cmd;

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::Parser;
use station_core::devices::DeviceFilter;
use station_core::export::{self, ExportFormat};
use station_core::{BatchRequest, CoreError, NewDeviceType, Secret, Store, TypeEdit};

use args::*;
use outcomes::{exit, exit_code};
use station_service::{records, Flasher, FlasherOptions};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STATION_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("  help: {}", outcomes::help_line(&e));
            ExitCode::from(exit_code(e.code()))
        }
    }
}

fn open(db: Option<std::path::PathBuf>) -> Result<Store, CoreError> {
    let path = match db {
        Some(p) => p,
        None => station_core::store::default_db_path()?,
    };
    Store::open(path)
}

fn filter_from(args: &FilterArgs) -> Result<DeviceFilter, CoreError> {
    Ok(DeviceFilter {
        batch_id: args.batch,
        device_type: args.device_type.clone(),
        status: args.status.as_deref().map(str::parse).transpose()?,
        flash_state: args.flash_state.as_deref().map(str::parse).transpose()?,
        is_active: match (args.active, args.inactive) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        search: args.search.clone(),
        ..DeviceFilter::default()
    })
}

fn run(cli: Cli) -> Result<u8, CoreError> {
    // Refuse before touching the database, so a refused call changes nothing.
    if let Command::Provision(p) = &cli.command {
        refuse_plaintext_to_file(p)?;
    }
    let mut store = open(cli.db)?;
    let operator = cli.operator.as_deref();
    let actor = station_service::operator::actor(&store, operator)?;
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Type(TypeCommand::Add(a)) => {
            let t = store.add_type(NewDeviceType {
                name: a.name,
                app_label: a.app_label,
                topic_prefix: a.settings.topic_prefix,
                topic_template: a.settings.topic_template,
                broker_host: a.settings.broker_host,
                broker_port: a.settings.broker_port,
                broker_tls: a.settings.broker_tls.then_some(true),
            })?;
            output::print_types(&mut out, &[t], false)?;
        }
        Command::Type(TypeCommand::List(f)) => {
            output::print_types(&mut out, &store.list_types()?, f.json)?
        }
        Command::Type(TypeCommand::Edit(a)) => {
            let tls = match (a.settings.broker_tls, a.no_broker_tls) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            let t = store.edit_type(
                &a.name,
                TypeEdit {
                    app_label: a.app_label,
                    topic_prefix: a.settings.topic_prefix,
                    topic_template: a.settings.topic_template,
                    broker_host: a.settings.broker_host,
                    broker_port: a.settings.broker_port,
                    broker_tls: tls,
                },
            )?;
            output::print_types(&mut out, &[t], false)?;
        }
        Command::Provision(p) => {
            let (created, ids) = records::provision(
                &mut store,
                &BatchRequest {
                    device_type: p.device_type,
                    prefix: p.prefix,
                    count: p.count,
                    with_credentials: true,
                },
                operator,
            )?;
            note_ids(&ids);
            output::print_provisioned(&mut out, &created)?;
        }
        Command::Devices(DevicesCommand::List(l)) => {
            let mut filter = filter_from(&l.filter)?;
            filter.limit = l.limit;
            output::print_devices(&mut out, &store.list_devices(&filter)?, l.json)?;
        }
        Command::Devices(DevicesCommand::Show(s)) => {
            let device = store.find_device(&s.device_id)?;
            let history = store.device_history(&s.device_id)?;
            let server = store.server_status(&s.device_id)?;
            output::print_device(&mut out, &device, &history, server.as_ref(), s.json)?;
        }
        Command::Devices(DevicesCommand::Export(e)) => {
            let filter = filter_from(&e.filter)?;
            export_to(&store, &filter, &e.target)?;
        }
        Command::Rotate(r) => {
            if r.due {
                let filter = DeviceFilter {
                    batch_id: r.batch,
                    device_type: r.device_type,
                    ..DeviceFilter::default()
                };
                let filter = DeviceFilter {
                    device_id: r.device_id,
                    ..filter
                };
                if let Some(id) = &filter.device_id {
                    store.find_device(id)?;
                }
                let n = store.mark_rotation_due(&filter, &actor)?;
                writeln!(
                    out,
                    "{n} device(s) marked: their next re-flash rotates their credentials"
                )
                .map_err(stdout_err)?;
            } else {
                let id = r.device_id.unwrap_or_default();
                let creds = store.rotate_now(&id, &actor)?;
                output::print_rotated(&mut out, &creds)?;
            }
        }
        Command::Deactivate(d) => {
            let device = store.deactivate(&d.device_id, &actor, &d.reason)?;
            writeln!(
                out,
                "{} deactivated; the server will refuse it once synced",
                device.device_id
            )
            .map_err(stdout_err)?;
        }
        Command::Batch(BatchCommand::Create(b)) => {
            let (progress, ids) = records::create_batch(
                &mut store,
                &BatchRequest {
                    device_type: b.device_type,
                    prefix: b.prefix,
                    count: b.count,
                    with_credentials: false,
                },
                operator,
            )?;
            note_ids(&ids);
            output::print_batches(&mut out, &[progress], b.json)?;
        }
        Command::Batch(BatchCommand::List(f)) => {
            output::print_batches(&mut out, &store.list_batches()?, f.json)?
        }
        Command::Batch(BatchCommand::Export(e)) => {
            store.find_batch(e.batch)?;
            let filter = DeviceFilter {
                batch_id: Some(e.batch),
                ..DeviceFilter::default()
            };
            export_to(&store, &filter, &e.target)?;
        }
        Command::Verify(v) => {
            let device = store.find_device(&v.device_id)?;
            let mut input = zeroize::Zeroizing::new(String::new());
            std::io::stdin()
                .read_to_string(&mut input)
                .map_err(|source| CoreError::Io {
                    action: "read the password from",
                    path: "standard input".into(),
                    source,
                })?;
            let password = Secret::new(input.trim_end_matches(['\r', '\n']).to_owned());
            let Some(hash) = store.password_hash(&device.device_id)? else {
                return Err(CoreError::Conflict {
                    problem: format!("device {} has no credentials yet", device.device_id),
                    fix: "flash it, or issue credentials with `station rotate`".into(),
                });
            };
            if station_core::credentials::verify_password(&password, &hash)? {
                writeln!(
                    out,
                    "ok: the password matches generation {}",
                    device.generation
                )
                .map_err(stdout_err)?;
            } else {
                writeln!(out, "mismatch: the password does not match").map_err(stdout_err)?;
                return Ok(exit::MISMATCH);
            }
        }
        Command::Settings(SettingsCommand::List) => {
            for setting in station_core::settings::SETTINGS.iter().filter(|s| s.shown) {
                let value = store.setting_value(setting.key)?;
                let (key, about) = (setting.key, setting.about);
                writeln!(out, "{key} = {value}\n    {about}").map_err(stdout_err)?;
            }
        }
        Command::Settings(SettingsCommand::Get { key }) => {
            let value = store.setting_value(&key)?;
            writeln!(out, "{value}").map_err(stdout_err)?;
        }
        Command::Settings(SettingsCommand::Set { key, value }) => {
            store.set_setting(&key, &value)?;
            writeln!(out, "{key} = {value}").map_err(stdout_err)?;
        }
        Command::Ports(a) => return flash_cmd::ports(&a, &mut out),
        Command::Flash(a) => return flash_cmd::flash(&flasher(&store, operator), &a, &mut out),
        Command::Reflash(a) => return flash_cmd::reflash(&flasher(&store, operator), &a, &mut out),
        Command::Identify(a) => {
            return flash_cmd::identify(&flasher(&store, operator), &a, &mut out)
        }
        Command::Recover(a) => return flash_cmd::recover(&flasher(&store, operator), &a, &mut out),
        Command::Watch(a) => return flash_cmd::watch(&flasher(&store, operator), &a, &mut out),
        Command::Sync(c) => return sync_cmd::run(&mut store, c, &mut out),
    }
    Ok(exit::OK)
}

/// The CLI's flasher: the service's, with the operator named for this run and no simulated
/// ports (the CLI names a simulator's pty path instead).
fn flasher(store: &Store, operator: Option<&str>) -> Flasher {
    Flasher::new(
        store.path(),
        FlasherOptions {
            operator: operator.map(str::to_owned),
            ..FlasherOptions::default()
        },
    )
}

/// Say so on standard error when ids came from the station's offline range.
fn note_ids(source: &station_service::ids::IdSource) {
    if let Some(note) = station_service::ids::note(source) {
        eprintln!("note: {note}");
    }
}

fn export_to(store: &Store, filter: &DeviceFilter, target: &ExportTarget) -> Result<(), CoreError> {
    let mut err = std::io::stderr();
    if let Some(path) = &target.csv {
        let n = export::export_to_file(store, filter, ExportFormat::Csv, path)?;
        let _ = writeln!(err, "wrote {n} device(s) to {}", path.display());
    }
    if let Some(path) = &target.json {
        let n = export::export_to_file(store, filter, ExportFormat::Json, path)?;
        let _ = writeln!(err, "wrote {n} device(s) to {}", path.display());
    }
    Ok(())
}

pub(crate) fn stdout_err(source: std::io::Error) -> CoreError {
    CoreError::Io {
        action: "write to",
        path: "standard output".into(),
        source,
    }
}

/// Plaintext credentials go to standard output for a script to pipe on, never into a file.
fn refuse_plaintext_to_file(p: &ProvisionArgs) -> Result<(), CoreError> {
    let fix = "pipe standard output straight into the program that delivers the credentials \
               (e.g. `station provision T --count N | your-flasher`); the station keeps only the \
               hashes, and `station batch export` writes everything else to a file";
    if let Some(path) = &p.output {
        return Err(CoreError::Refused {
            problem: format!(
                "refusing to write plaintext MQTT passwords to the file {}: a file outlives the \
                 provisioning run and leaks every device's password",
                path.display()
            ),
            fix: fix.into(),
        });
    }
    if stdout_is_regular_file() {
        return Err(CoreError::Refused {
            problem:
                "refusing to print plaintext MQTT passwords: standard output is redirected to a \
                      file, which would keep every device's password on disk"
                    .into(),
            fix: fix.into(),
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
