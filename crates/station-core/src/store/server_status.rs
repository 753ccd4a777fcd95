//! What the central server says about this station's devices: the device screen's "On the
//! server" line.
//!
//! The sync worker asks the server about devices it has acknowledged at least once
//! ([`Store::synced_devices`]) and keeps the answers in `device_server_status`, one row a device
//! ([`Store::record_server_status`]). The device's own status follows the server's (the broker
//! marks devices online there); that is not a change of the record, so nothing is queued in the
//! outbox.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::error::Result;
use crate::store::outbox::to_u32;
use crate::store::{now, Store};

/// What the server says about a device.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ServerDeviceStatus {
    pub device_type: String,
    pub device_id: String,
    pub status: String,
    pub last_seen: Option<String>,
    pub is_active: bool,
    pub generation: u32,
}

/// What the server last reported about a device, and when the station asked: the device
/// screen's "On the server" line.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ServerReport {
    /// One of django-devicehub's six statuses (the broker marks a device `online`).
    pub status: String,
    /// When the device last logged in at the broker (ISO 8601), if ever.
    pub last_seen: Option<String>,
    pub is_active: bool,
    /// The credential generation the server holds.
    pub generation: u32,
    /// When the station fetched this (RFC 3339).
    pub fetched_at: String,
}

impl Store {
    /// Devices the server has acknowledged at least once, as (type, device id), for asking
    /// their status; `after` pages by device id.
    pub fn synced_devices(&self, after: Option<&str>, limit: u32) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT t.name, d.device_id FROM devices d JOIN device_types t ON t.id = d.type_id
                 WHERE EXISTS (SELECT 1 FROM outbox o WHERE o.device_pk = d.id AND o.state = 'done')
                   AND d.device_id > COALESCE(?1, '')
                 ORDER BY d.device_id LIMIT ?2",
            )
            .map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map(params![after, limit], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.sql_err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sql_err(e))
    }

    /// Keep what the server reported; the device's status follows the server's (the broker
    /// marks devices online there). Not a change of the record: nothing is queued.
    pub fn record_server_status(&mut self, statuses: &[ServerDeviceStatus]) -> Result<u32> {
        let ts = now();
        self.write(|tx| {
            let mut n = 0;
            for s in statuses {
                let Some(pk) = tx
                    .query_row(
                        "SELECT id FROM devices WHERE device_id = ?1",
                        [&s.device_id],
                        |r| r.get::<_, i64>(0),
                    )
                    .optional()?
                else {
                    continue;
                };
                tx.execute(
                    "INSERT INTO device_server_status(device_pk, status, last_seen, is_active, generation, fetched_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT(device_pk) DO UPDATE SET status = excluded.status,
                         last_seen = excluded.last_seen, is_active = excluded.is_active,
                         generation = excluded.generation, fetched_at = excluded.fetched_at",
                    params![pk, s.status, s.last_seen, s.is_active, s.generation, ts],
                )?;
                if s.status.parse::<crate::devices::DeviceStatus>().is_ok() {
                    tx.execute(
                        "UPDATE devices SET status = ?2 WHERE id = ?1 AND status <> ?2",
                        params![pk, s.status],
                    )?;
                }
                n += 1;
            }
            Ok(n)
        })
    }

    /// What the server last reported about a device, if anything.
    pub fn server_status(&self, device_id: &str) -> Result<Option<ServerReport>> {
        self.conn()
            .query_row(
                "SELECT s.status, s.last_seen, s.is_active, s.generation, s.fetched_at
                 FROM device_server_status s JOIN devices d ON d.id = s.device_pk
                 WHERE d.device_id = ?1",
                [device_id],
                |r| {
                    Ok(ServerReport {
                        status: r.get(0)?,
                        last_seen: r.get(1)?,
                        is_active: r.get(2)?,
                        generation: to_u32(r.get(3)?),
                        fetched_at: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.sql_err(e))
    }
}
