//! `station type | provision | devices | rotate | deactivate | batch | verify | settings`: the
//! record side of the CLI. Each parses what clap gave it, calls the service layer
//! (`station_service::records`, which names the operator and leases ids) or the store for a plain
//! read, and prints the result.

use std::io::{Read, Write};

use station_core::devices::DeviceFilter;
use station_core::driver::{DriverKind, DriverSpec};
use station_core::export::{self, ExportFormat};
use station_core::{BatchFilter, BatchRequest, CoreError, NewDeviceType, Secret, Store, TypeEdit};
use station_service::ids::IdSource;
use station_service::{operator, records};

use crate::args::*;
use crate::outcomes::exit;
use crate::{output, stdout_err};

type Out<'a> = std::io::StdoutLock<'a>;

pub fn types(store: &mut Store, cmd: TypeCommand, out: &mut Out<'_>) -> Result<u8, CoreError> {
    let t = match cmd {
        TypeCommand::List(f) => {
            output::print_types(out, &store.list_types()?, f.json)?;
            return Ok(exit::OK);
        }
        TypeCommand::Add(a) => {
            let driver = driver_spec(None, &a.settings)?;
            store.add_type(NewDeviceType {
                name: a.name,
                app_label: a.app_label,
                topic_prefix: a.settings.topic_prefix,
                topic_template: a.settings.topic_template,
                broker_host: a.settings.broker_host,
                broker_port: a.settings.broker_port,
                broker_tls: a.settings.broker_tls.then_some(true),
                driver,
            })?
        }
        TypeCommand::Edit(a) => {
            let tls = match (a.settings.broker_tls, a.no_broker_tls) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            let current = store.find_type(&a.name)?.driver;
            let driver = driver_spec(Some(current), &a.settings)?;
            store.edit_type(
                &a.name,
                TypeEdit {
                    app_label: a.app_label,
                    topic_prefix: a.settings.topic_prefix,
                    topic_template: a.settings.topic_template,
                    broker_host: a.settings.broker_host,
                    broker_port: a.settings.broker_port,
                    broker_tls: tls,
                    driver,
                },
            )?
        }
    };
    output::print_types(out, &[t], false)?;
    Ok(exit::OK)
}

/// The driver asked for on the command line: `--driver` and `--driver-setting NAME=VALUE`
/// over the type's current driver (on edit). `None` when neither was given.
fn driver_spec(
    current: Option<DriverSpec>,
    s: &TypeSettings,
) -> Result<Option<DriverSpec>, CoreError> {
    if s.driver.is_none() && s.driver_settings.is_empty() {
        return Ok(None);
    }
    let current = current.unwrap_or_else(DriverSpec::protocol);
    let kind = match &s.driver {
        Some(name) => DriverKind::parse(name)?,
        None => current.kind,
    };
    // A new driver starts from no settings: the old driver's names mean nothing to it.
    let mut settings = if kind == current.kind {
        current.settings_json()?
    } else {
        Default::default()
    };
    for pair in &s.driver_settings {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(CoreError::invalid(
                "driver setting",
                format!("{pair:?} is not NAME=VALUE"),
                "write each driver setting as NAME=VALUE, e.g. namespace=dh",
            ));
        };
        if value.is_empty() {
            settings.remove(name.trim());
        } else {
            settings.insert(name.trim().to_owned(), value.into());
        }
    }
    Ok(Some(DriverSpec {
        kind,
        settings: serde_json::Value::Object(settings).to_string(),
    }))
}

pub fn provision(
    store: &mut Store,
    p: ProvisionArgs,
    operator: Option<&str>,
    out: &mut Out<'_>,
) -> Result<u8, CoreError> {
    let request = BatchRequest {
        device_type: p.device_type,
        prefix: p.prefix,
        count: p.count,
        with_credentials: true,
        lot: None,
        work_order: None,
    };
    let (created, ids) = records::provision(store, &request, operator)?;
    note_ids(&ids);
    output::print_provisioned(out, &created)?;
    Ok(exit::OK)
}

pub fn devices(
    store: &mut Store,
    cmd: DevicesCommand,
    operator: Option<&str>,
    out: &mut Out<'_>,
) -> Result<u8, CoreError> {
    match cmd {
        DevicesCommand::List(l) => {
            let mut filter = filter_from(&l.filter)?;
            filter.limit = l.limit;
            filter.offset = l.offset;
            output::print_devices(out, &store.list_devices(&filter)?, l.json)?;
        }
        DevicesCommand::Show(s) => {
            let device = store.find_device(&s.device_id)?;
            let history = store.device_history(&s.device_id)?;
            let server = store.server_status(&s.device_id)?;
            output::print_device(out, &device, &history, server.as_ref(), s.json)?;
        }
        DevicesCommand::Export(e) => export_to(store, &filter_from(&e.filter)?, &e.target)?,
        DevicesCommand::Link(l) => {
            let actor = operator::actor(store, operator)?;
            let device = store.link_unit_serial(&l.device_id, &l.serial, &actor)?;
            writeln!(
                out,
                "linked unit serial {} to {}",
                device.unit_serial.as_deref().unwrap_or(""),
                device.device_id
            )
            .map_err(stdout_err)?;
        }
    }
    Ok(exit::OK)
}

pub fn rotate(
    store: &mut Store,
    r: RotateArgs,
    operator: Option<&str>,
    out: &mut Out<'_>,
) -> Result<u8, CoreError> {
    if !r.due {
        let id = r.device_id.unwrap_or_default();
        // Written out and flushed before the generation is committed: a failed write (full
        // disk, closed pipe) leaves the old generation in force and loses nothing.
        records::rotate_now(store, &id, operator, |creds| {
            output::print_rotated(out, creds)?;
            out.flush().map_err(stdout_err)
        })?;
        return Ok(exit::OK);
    }
    let filter = DeviceFilter {
        batch_id: r.batch,
        device_type: r.device_type,
        device_id: r.device_id,
        ..DeviceFilter::default()
    };
    if let Some(id) = &filter.device_id {
        store.find_device(id)?;
    }
    let actor = operator::actor(store, operator)?;
    let n = store.mark_rotation_due(&filter, &actor)?;
    writeln!(
        out,
        "{n} device(s) marked: their next re-flash rotates their credentials"
    )
    .map_err(stdout_err)?;
    Ok(exit::OK)
}

pub fn deactivate(
    store: &mut Store,
    d: DeactivateArgs,
    operator: Option<&str>,
    out: &mut Out<'_>,
) -> Result<u8, CoreError> {
    let device = records::deactivate(store, &d.device_id, &d.reason, operator)?;
    writeln!(
        out,
        "{} deactivated; the server will refuse it once synced",
        device.device_id
    )
    .map_err(stdout_err)?;
    Ok(exit::OK)
}

pub fn batch(
    store: &mut Store,
    cmd: BatchCommand,
    operator: Option<&str>,
    out: &mut Out<'_>,
) -> Result<u8, CoreError> {
    match cmd {
        BatchCommand::Create(b) => {
            let request = BatchRequest {
                device_type: b.device_type,
                prefix: b.prefix,
                count: b.count,
                with_credentials: false,
                lot: b.lot,
                work_order: b.work_order,
            };
            let (progress, ids) = records::create_batch(store, &request, operator)?;
            note_ids(&ids);
            output::print_batches(out, &[progress], b.json)?;
        }
        BatchCommand::List(l) => {
            let batches = match l.search {
                Some(search) => {
                    let filter = BatchFilter {
                        search: Some(search),
                        ..BatchFilter::default()
                    };
                    let mut found = store.search_batches(&filter)?.0;
                    found.reverse(); // oldest first, as the whole list
                    found
                }
                None => store.list_batches()?,
            };
            output::print_batches(out, &batches, l.json)?
        }
        BatchCommand::Export(e) => {
            store.find_batch(e.batch)?;
            let filter = DeviceFilter {
                batch_id: Some(e.batch),
                ..DeviceFilter::default()
            };
            export_to(store, &filter, &e.target)?;
        }
        BatchCommand::Close(c) => {
            let ended = records::close_batch(store, c.batch, operator)?;
            output::print_ended_batch(out, &ended, c.json)?;
        }
        BatchCommand::Cancel(c) => {
            if !c.yes {
                let batch = store.find_batch(c.batch)?;
                return Err(CoreError::Refused {
                    problem: format!(
                        "cancelling batch {} deactivates its {} unflashed device(s) for good, so \
                         it needs a confirmation",
                        c.batch, batch.remaining
                    ),
                    fix: format!("run `station batch cancel {} --yes` to confirm", c.batch),
                });
            }
            let ended = records::cancel_batch(store, c.batch, &c.reason, operator)?;
            output::print_ended_batch(out, &ended, c.json)?;
        }
    }
    Ok(exit::OK)
}

pub fn verify(store: &mut Store, v: VerifyArgs, out: &mut Out<'_>) -> Result<u8, CoreError> {
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
        Ok(exit::OK)
    } else {
        writeln!(out, "mismatch: the password does not match").map_err(stdout_err)?;
        Ok(exit::MISMATCH)
    }
}

pub fn settings(
    store: &mut Store,
    cmd: SettingsCommand,
    out: &mut Out<'_>,
) -> Result<u8, CoreError> {
    match cmd {
        SettingsCommand::List => {
            for setting in station_core::settings::SETTINGS.iter().filter(|s| s.shown) {
                let value = store.setting_value(setting.key)?;
                let (key, about) = (setting.key, setting.about);
                writeln!(out, "{key} = {value}\n    {about}").map_err(stdout_err)?;
            }
        }
        SettingsCommand::Get { key } => {
            let value = store.setting_value(&key)?;
            writeln!(out, "{value}").map_err(stdout_err)?;
        }
        SettingsCommand::Set { key, value } => {
            store.set_setting(&key, &value)?;
            writeln!(out, "{key} = {value}").map_err(stdout_err)?;
        }
    }
    Ok(exit::OK)
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

/// Say so on standard error when ids came from the station's offline range.
fn note_ids(source: &IdSource) {
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
