//! How the CLI prints things: plain tables for people, JSON for scripts.
//!
//! Plaintext credentials are printed in exactly two places, `print_provisioned` and
//! `print_rotated`, straight into standard output's buffer from borrowed strings: no copy of
//! a password is made on the way.

use std::io::Write;

use serde::Serialize;
use station_core::batches::CreatedBatch;
use station_core::store::server_status::ServerReport;
use station_core::{
    BatchProgress, BatchState, CoreError, Device, DeviceEvent, DeviceType, EndedBatch,
    IssuedCredentials,
};

use crate::stdout_err;

type Out<'a> = std::io::StdoutLock<'a>;

fn json<T: Serialize + ?Sized>(out: &mut Out<'_>, value: &T) -> Result<(), CoreError> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(|e| stdout_err(e.into()))?;
    writeln!(out).map_err(stdout_err)
}

/// Rows of cells as an aligned table.
fn table(out: &mut Out<'_>, header: &[&str], rows: &[Vec<String>]) -> Result<(), CoreError> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(header.to_vec())).map_err(stdout_err)?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect())).map_err(stdout_err)?;
    }
    Ok(())
}

pub fn print_types(
    out: &mut Out<'_>,
    types: &[DeviceType],
    as_json: bool,
) -> Result<(), CoreError> {
    if as_json {
        return json(out, types);
    }
    let rows: Vec<Vec<String>> = types
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.app_label.clone(),
                t.topics("{device_id}")
                    .data
                    .replace("/data", "/{data|status|cmd}"),
                format!(
                    "{}://{}:{}",
                    if t.broker_tls { "mqtts" } else { "mqtt" },
                    t.broker_host,
                    t.broker_port
                ),
            ]
        })
        .collect();
    table(out, &["TYPE", "APP LABEL", "TOPICS", "BROKER"], &rows)
}

pub fn print_devices(
    out: &mut Out<'_>,
    devices: &[Device],
    as_json: bool,
) -> Result<(), CoreError> {
    if as_json {
        return json(out, devices);
    }
    let rows: Vec<Vec<String>> = devices
        .iter()
        .map(|d| {
            vec![
                d.device_id.clone(),
                d.device_type.clone(),
                d.status.to_string(),
                if d.is_active { "yes" } else { "no" }.into(),
                d.flash_state.as_str().into(),
                d.generation.to_string(),
                d.hardware_id.clone().unwrap_or_else(|| "-".into()),
                d.sync_state.as_str().into(),
            ]
        })
        .collect();
    table(
        out,
        &[
            "DEVICE ID",
            "TYPE",
            "STATUS",
            "ACTIVE",
            "FLASH",
            "GEN",
            "HARDWARE ID",
            "SYNC",
        ],
        &rows,
    )
}

pub fn print_device(
    out: &mut Out<'_>,
    device: &Device,
    history: &[DeviceEvent],
    server: Option<&ServerReport>,
    as_json: bool,
) -> Result<(), CoreError> {
    if as_json {
        return device_json(out, device, history, server);
    }
    for (k, v) in device_fields(device, server) {
        writeln!(out, "{k:<14} {v}").map_err(stdout_err)?;
    }
    writeln!(out, "\nhistory:").map_err(stdout_err)?;
    table(
        out,
        &["WHEN", "WHAT", "GEN", "WHO", "STATION", "DETAIL"],
        &history_rows(history),
    )
}

/// `station devices show --json`: the device's fields, its history and the server's last report.
fn device_json(
    out: &mut Out<'_>,
    device: &Device,
    history: &[DeviceEvent],
    server: Option<&ServerReport>,
) -> Result<(), CoreError> {
    #[derive(Serialize)]
    struct Shown<'a> {
        #[serde(flatten)]
        device: &'a Device,
        history: &'a [DeviceEvent],
        /// What the server last reported (`null`: nothing yet).
        server: Option<&'a ServerReport>,
    }
    json(
        out,
        &Shown {
            device,
            history,
            server,
        },
    )
}

/// The labelled lines of `station devices show`, in the order they are printed.
fn device_fields(d: &Device, server: Option<&ServerReport>) -> Vec<(&'static str, String)> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    vec![
        ("device id", d.device_id.clone()),
        ("name", d.name.clone()),
        ("type", d.device_type.clone()),
        (
            "batch",
            d.batch_id
                .map(|b| b.to_string())
                .unwrap_or_else(|| "-".into()),
        ),
        ("status", d.status.to_string()),
        ("active", d.is_active.to_string()),
        ("mqtt username", d.mqtt_username.clone()),
        ("topic data", d.topics.data.clone()),
        ("topic status", d.topics.status.clone()),
        ("topic cmd", d.topics.cmd.clone()),
        ("generation", d.generation.to_string()),
        (
            "pending",
            d.pending_generation
                .map(|g| format!("generation {g} (flash not confirmed)"))
                .unwrap_or_else(|| "-".into()),
        ),
        ("rotation due", d.rotation_due.to_string()),
        ("flash state", d.flash_state.as_str().into()),
        ("flash error", opt(&d.flash_error)),
        ("hardware id", opt(&d.hardware_id)),
        ("unit serial", opt(&d.unit_serial)),
        ("firmware", d.firmware_version.clone()),
        ("flashed at", opt(&d.flashed_at)),
        ("station", d.station_id.clone()),
        ("operator", d.operator.clone()),
        ("sync", d.sync_state.as_str().into()),
        ("on server", server_line(server)),
        ("created at", d.created_at.clone()),
    ]
}

/// The "on server" line: what the server last reported about the device, and when.
fn server_line(server: Option<&ServerReport>) -> String {
    server.map_or_else(
        || "not reported yet".into(),
        |s| {
            format!(
                "{}{}, generation {}, last seen {}, as of {}",
                s.status,
                if s.is_active { "" } else { ", deactivated" },
                s.generation,
                s.last_seen.as_deref().unwrap_or("never"),
                s.fetched_at
            )
        },
    )
}

/// One table row per history event, oldest first as the store returns them.
fn history_rows(history: &[DeviceEvent]) -> Vec<Vec<String>> {
    history
        .iter()
        .map(|e| {
            vec![
                e.at.clone(),
                e.kind.clone(),
                e.generation
                    .map(|g| g.to_string())
                    .unwrap_or_else(|| "-".into()),
                e.operator.clone(),
                e.station_id.clone(),
                e.detail.clone(),
            ]
        })
        .collect()
}

pub fn print_batches(
    out: &mut Out<'_>,
    batches: &[BatchProgress],
    as_json: bool,
) -> Result<(), CoreError> {
    if as_json {
        return json(out, batches);
    }
    let rows: Vec<Vec<String>> = batches
        .iter()
        .map(|b| {
            vec![
                b.batch.id.to_string(),
                b.batch.device_type.clone(),
                b.batch.state.as_str().to_owned(),
                b.batch.lot.clone().unwrap_or_else(|| "-".into()),
                b.batch.work_order.clone().unwrap_or_else(|| "-".into()),
                format!(
                    "{}..{}",
                    b.first_device_id.clone().unwrap_or_default(),
                    b.last_device_id.clone().unwrap_or_default()
                ),
                b.batch.count.to_string(),
                b.flashed.to_string(),
                b.failed.to_string(),
                b.remaining.to_string(),
                b.batch.created_by.clone(),
                b.batch.created_at.clone(),
            ]
        })
        .collect();
    table(
        out,
        &[
            "BATCH",
            "TYPE",
            "STATE",
            "LOT",
            "WORK ORDER",
            "IDS",
            "COUNT",
            "FLASHED",
            "FAILED",
            "REMAINING",
            "BY",
            "CREATED",
        ],
        &rows,
    )
}

/// A closed or cancelled batch, then the devices it left unflashed (one a line).
pub fn print_ended_batch(
    out: &mut Out<'_>,
    ended: &EndedBatch,
    as_json: bool,
) -> Result<(), CoreError> {
    if as_json {
        return json(out, ended);
    }
    print_batches(out, std::slice::from_ref(&ended.batch), false)?;
    let what = match ended.batch.batch.state {
        BatchState::Cancelled => "deactivated",
        _ => "left unflashed",
    };
    writeln!(out, "{} device(s) {what}:", ended.unflashed.len()).map_err(stdout_err)?;
    for id in &ended.unflashed {
        writeln!(out, "  {id}").map_err(stdout_err)?;
    }
    Ok(())
}

/// One device's credentials in django-devicehub's `iot_provision` shape.
#[derive(Serialize)]
struct CredentialRow<'a> {
    device_id: &'a str,
    name: &'a str,
    device_type: &'a str,
    mqtt_username: &'a str,
    mqtt_password: &'a str,
    api_key: &'a str,
}

/// `{device_type, count, devices: [...]}`, exactly `manage.py iot_provision`'s output.
pub fn print_provisioned(out: &mut Out<'_>, created: &CreatedBatch) -> Result<(), CoreError> {
    #[derive(Serialize)]
    struct Provisioned<'a> {
        device_type: &'a str,
        count: usize,
        devices: Vec<CredentialRow<'a>>,
    }
    let mut devices = Vec::with_capacity(created.devices.len());
    for d in &created.devices {
        let Some(c) = &d.credentials else {
            return Err(CoreError::Internal(
                "provisioned device without credentials".into(),
            ));
        };
        devices.push(CredentialRow {
            device_id: &d.device_id,
            name: &d.name,
            device_type: &created.device_type.name,
            mqtt_username: &d.mqtt_username,
            mqtt_password: c.mqtt_password.expose(),
            api_key: c.api_key.expose(),
        });
    }
    json(
        out,
        &Provisioned {
            device_type: &created.device_type.name,
            count: devices.len(),
            devices,
        },
    )
}

/// The new credentials of a rotation, printed once.
pub fn print_rotated(out: &mut Out<'_>, c: &IssuedCredentials) -> Result<(), CoreError> {
    #[derive(Serialize)]
    struct Rotated<'a> {
        device_id: &'a str,
        generation: u32,
        mqtt_username: &'a str,
        mqtt_password: &'a str,
        api_key: &'a str,
    }
    json(
        out,
        &Rotated {
            device_id: &c.device_id,
            generation: c.generation,
            mqtt_username: &c.mqtt_username,
            mqtt_password: c.mqtt_password.expose(),
            api_key: c.api_key.expose(),
        },
    )
}
