//! The outbox and everything else the station keeps for syncing with the central server.
//!
//! Every change the server must hear of is queued in `outbox` in the same transaction as the
//! change (`devices::enqueue_sync`). The record sent is built from the device row when it is
//! sent, so no secret sits in the outbox: several queued changes of one device go as one record
//! whose `revision` is the newest outbox id. Until the server acknowledges a generation, the
//! record carries its api key (django-devicehub stores and compares api keys in plaintext);
//! once acknowledged, the station keeps only the fingerprint. The plaintext MQTT password is
//! never stored, so it can never be in a record.
//!
//! This module also owns the sync configuration (`sync_config`), the worker's persistent state
//! (`sync_runtime`), the id blocks leased from the server (`id_leases`) with the station-scoped
//! offline fallback used by [`crate::batches`], and the device status the server reports.
//! The HTTP side lives in the `station-sync` crate.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::{CoreError, Result};
use crate::naming;
use crate::store::{now, KeyValueTable, Store};
use crate::types::DeviceType;

/// Id numbers at or above this are station-scoped offline ranges: station `S` mints
/// `S * OFFLINE_SPAN + 1 ..` when it holds no leased block. The server never leases them.
pub const OFFLINE_SPAN: u64 = 1_000_000_000;
/// The highest station number (the server's MAX_STATION_NUMBER).
pub const MAX_STATION_NUMBER: u64 = 999_999;

/// Keys of `sync_config`.
pub mod config_key {
    /// The receiver's root, e.g. `https://devicehub.factory.local/station-sync/`. Present = sync on.
    pub const SERVER_URL: &str = "server_url";
    /// The station token (`dhs_<number>_<secret>`).
    pub const TOKEN: &str = "token";
    /// The station number, from the token: selects this station's offline id range.
    pub const STATION_NUMBER: &str = "station_number";
    /// A PEM file of extra CA certificates (a factory network's own CA).
    pub const CA_FILE: &str = "ca_file";
    /// "false" turns TLS certificate verification off.
    pub const TLS_VERIFY: &str = "tls_verify";
    /// Records per request.
    pub const BATCH_SIZE: &str = "batch_size";
}

/// Keys of `sync_runtime`.
pub mod runtime_key {
    pub const LAST_ATTEMPT_AT: &str = "last_attempt_at";
    pub const LAST_SUCCESS_AT: &str = "last_success_at";
    pub const LAST_ERROR: &str = "last_error";
    /// The stable code of the last failure (`station_sync::SyncError::code`).
    pub const LAST_ERROR_CODE: &str = "last_error_code";
    pub const SERVER_STATION: &str = "server_station";
    pub const CATALOG_NOTES: &str = "catalog_notes";
}

/// A timestamp in one fixed format (second precision, `Z`), so text comparison is time order.
pub fn timestamp(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// An api key on its way to the server: serialized into the request, redacted in `Debug`,
/// zeroized on drop.
pub struct WireSecret(Zeroizing<String>);

impl WireSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WireSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WireSecret(<redacted>)")
    }
}

impl Serialize for WireSecret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// One record for the server (wire format v1, docs/sync-api.md), built from the device row.
#[derive(Debug, Serialize)]
pub struct OutboxRecord {
    #[serde(skip)]
    pub device_pk: i64,
    /// How many times sending it failed for a temporary reason.
    #[serde(skip)]
    pub attempts: u32,
    /// The newest outbox id of this device: orders the station's changes.
    pub revision: i64,
    pub device_type: String,
    pub device_id: String,
    pub name: String,
    pub status: String,
    pub is_active: bool,
    pub mqtt_username: String,
    pub mqtt_password_hash: String,
    /// Present until the server has acknowledged this generation.
    pub api_key: Option<WireSecret>,
    pub api_key_fingerprint: String,
    pub generation: u32,
    pub firmware_version: String,
    pub id_prefix: Option<String>,
    pub id_number: Option<u64>,
    pub metadata: serde_json::Value,
}

/// The server took the record (created, updated, unchanged or superseded).
#[derive(Debug, Clone, Copy)]
pub struct Ack {
    pub device_pk: i64,
    pub revision: i64,
    pub generation: u32,
}

/// The server refused the record for good; a person must act.
#[derive(Debug, Clone)]
pub struct Reject {
    pub device_pk: i64,
    pub revision: i64,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Queued changes not yet acknowledged.
    pub pending: u64,
    /// Devices those changes belong to (one record each).
    pub pending_devices: u64,
    /// Pending changes whose retry time has come.
    pub due: u64,
    /// Changes the server refused, waiting for a person.
    pub rejected: u64,
    pub done: u64,
    pub oldest_pending_at: Option<String>,
    /// When the next retry is scheduled (None: now, or nothing pending).
    pub next_attempt_at: Option<String>,
}

/// A refused record, with the server's reason.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedRecord {
    pub device_id: String,
    pub generation: u32,
    pub reason: String,
    pub queued_at: String,
}

/// A block of id numbers leased from the server.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IdLease {
    pub device_type: String,
    pub prefix: String,
    pub next_number: u64,
    pub end_number: u64,
}

impl IdLease {
    pub fn remaining(&self) -> u64 {
        self.end_number - self.next_number
    }
}

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

fn to_u32(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Sorted numbers of `{prefix}{type}-NNN` ids this station already has.
fn numbers_in_use(
    tx: &Transaction<'_>,
    device_type: &DeviceType,
    prefix: &str,
) -> Result<Vec<u64>> {
    let stem = format!("{prefix}{}-", naming::type_name_lower(&device_type.name));
    let mut stmt = tx.prepare_cached(
        "SELECT device_id FROM devices WHERE substr(device_id, 1, length(?1)) = ?1",
    )?;
    let mut rows = stmt.query([&stem])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        if let Some(n) = naming::parse_batch_number(&id, prefix, &device_type.name) {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The first number at or after `from` such that `from..` up to `count` numbers below `end`
/// are all unused (`used` sorted); numbers are only ever taken after the highest used one.
fn free_run(used: &[u64], from: u64, end: u64, count: u64) -> Option<u64> {
    let start = used
        .iter()
        .filter(|n| **n >= from && **n < end)
        .max()
        .map_or(from, |n| n + 1);
    (end.saturating_sub(start) >= count).then_some(start)
}

/// Id numbers for a batch or a flash when sync is configured: from a leased block if one has
/// room for all `count`, else from this station's offline range. `None` when sync is off (the
/// caller numbers locally). Runs inside the caller's transaction.
pub(crate) fn allocate_synced(
    tx: &Transaction<'_>,
    device_type: &DeviceType,
    prefix: &str,
    count: u32,
) -> Result<Option<Range<u64>>> {
    let config = |key: &str| -> Result<Option<String>> {
        Ok(tx
            .query_row("SELECT value FROM sync_config WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    };
    if config(config_key::SERVER_URL)?.is_none() {
        return Ok(None);
    }
    let station_number: u64 = config(config_key::STATION_NUMBER)?
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=MAX_STATION_NUMBER).contains(n))
        .ok_or_else(|| CoreError::Refused {
            problem: "sync is configured but the station number is unknown, so no device id can \
                      be minted safely"
                .into(),
            fix: "set the station token again with `station sync config --token-stdin`".into(),
        })?;
    let count = u64::from(count);
    let used = numbers_in_use(tx, device_type, prefix)?;
    let leases: Vec<(i64, u64, u64)> = {
        let mut stmt = tx.prepare_cached(
            "SELECT id, next_number, end_number FROM id_leases
             WHERE type_id = ?1 AND prefix = ?2 ORDER BY next_number",
        )?;
        let rows = stmt.query_map(params![device_type.id, prefix], |r| {
            Ok((
                r.get(0)?,
                r.get::<_, i64>(1)? as u64,
                r.get::<_, i64>(2)? as u64,
            ))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (id, next, end) in leases {
        if let Some(start) = free_run(&used, next, end, count) {
            let taken_to = start + count;
            if taken_to >= end {
                tx.execute("DELETE FROM id_leases WHERE id = ?1", [id])?;
            } else {
                tx.execute(
                    "UPDATE id_leases SET next_number = ?2 WHERE id = ?1",
                    params![id, taken_to as i64],
                )?;
            }
            return Ok(Some(start..taken_to));
        }
    }
    let base = station_number * OFFLINE_SPAN;
    let start = free_run(&used, base + 1, base + OFFLINE_SPAN, count).ok_or_else(|| {
        CoreError::Refused {
            problem: format!(
                "this station's offline id range for {prefix}{} is used up",
                device_type.name
            ),
            fix: "connect to the server so it can lease id numbers (`station sync run`)".into(),
        }
    })?;
    tracing::warn!(
        prefix,
        device_type = %device_type.name,
        start,
        count,
        "no leased id block with room: using this station's offline id range"
    );
    Ok(Some(start..start + count))
}

const RECORD_SELECT: &str = "SELECT d.id, t.name, d.device_id, d.name, d.status, d.is_active,
        d.mqtt_username, d.mqtt_password_hash, d.api_key, d.api_key_fingerprint, d.generation,
        d.firmware_version, d.id_prefix, d.id_number, d.metadata, d.batch_id, d.station_id,
        d.hardware_id, d.operator, d.flashed_at
    FROM devices d JOIN device_types t ON t.id = d.type_id WHERE d.id = ?1";

impl Store {
    // ---- configuration and runtime state ----

    /// Every `sync_config` entry (the token included: callers must not print it).
    pub fn sync_config(&self) -> Result<BTreeMap<String, String>> {
        self.key_values(KeyValueTable::SyncConfig)
    }

    /// Set (`Some`) or remove (`None`) sync configuration entries, all in one transaction.
    /// The values are checked by the caller (`station-sync`'s config).
    pub fn set_sync_config(&mut self, entries: &[(&str, Option<&str>)]) -> Result<()> {
        self.set_key_values(KeyValueTable::SyncConfig, entries)
    }

    pub fn sync_runtime(&self) -> Result<BTreeMap<String, String>> {
        self.key_values(KeyValueTable::SyncRuntime)
    }

    pub fn set_sync_runtime(&mut self, entries: &[(&str, Option<&str>)]) -> Result<()> {
        self.set_key_values(KeyValueTable::SyncRuntime, entries)
    }

    // ---- the outbox ----

    /// The next records to send: one per device with pending changes, oldest first, at most
    /// `limit`. With `due_only`, changes whose retry time has not come are left out.
    pub fn outbox_next_batch(&self, limit: usize, due_only: bool) -> Result<Vec<OutboxRecord>> {
        let now = timestamp(time::OffsetDateTime::now_utc());
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT device_pk, max(id), max(attempts) FROM outbox
                 WHERE state = 'pending' AND (?1 = 0 OR next_attempt_at IS NULL OR next_attempt_at <= ?2)
                 GROUP BY device_pk ORDER BY min(id) LIMIT ?3",
            )
            .map_err(|e| self.sql_err(e))?;
        let heads = stmt
            .query_map(params![due_only, now, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(|e| self.sql_err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sql_err(e))?;
        let mut out = Vec::with_capacity(heads.len());
        let mut stmt = self
            .conn()
            .prepare_cached(RECORD_SELECT)
            .map_err(|e| self.sql_err(e))?;
        for (device_pk, revision, attempts) in heads {
            let record = stmt
                .query_row([device_pk], |r| {
                    let hash: Option<String> = r.get(7)?;
                    let api_key: Option<String> = r.get(8)?;
                    let metadata: String = r.get(14)?;
                    let mut metadata: serde_json::Value =
                        serde_json::from_str(&metadata).unwrap_or_else(|_| serde_json::json!({}));
                    if !metadata.is_object() {
                        metadata = serde_json::json!({});
                    }
                    let generation = to_u32(r.get(10)?);
                    let extra = serde_json::json!({
                        "batch": r.get::<_, Option<i64>>(15)?,
                        "station": r.get::<_, String>(16)?,
                        "hardware_id": r.get::<_, Option<String>>(17)?,
                        "operator": r.get::<_, String>(18)?,
                        "flashed_at": r.get::<_, Option<String>>(19)?,
                        "generation": generation,
                    });
                    if let (Some(m), Some(e)) = (metadata.as_object_mut(), extra.as_object()) {
                        for (k, v) in e {
                            m.insert(k.clone(), v.clone());
                        }
                    }
                    let Some(hash) = hash else {
                        return Ok(None);
                    };
                    Ok(Some(OutboxRecord {
                        device_pk,
                        attempts: to_u32(attempts),
                        revision,
                        device_type: r.get(1)?,
                        device_id: r.get(2)?,
                        name: r.get(3)?,
                        status: r.get(4)?,
                        is_active: r.get(5)?,
                        mqtt_username: r.get(6)?,
                        mqtt_password_hash: hash,
                        api_key: api_key.map(|k| WireSecret(Zeroizing::new(k))),
                        api_key_fingerprint: r.get::<_, Option<String>>(9)?.unwrap_or_default(),
                        generation,
                        firmware_version: r.get(11)?,
                        id_prefix: r.get(12)?,
                        id_number: r.get::<_, Option<i64>>(13)?.map(|n| n as u64),
                        metadata,
                    }))
                })
                .map_err(|e| self.sql_err(e))?;
            match record {
                Some(record) => out.push(record),
                // Queued without credentials in force: nothing the server could use.
                None => {
                    tracing::warn!(device_pk, "outbox entry for a device without credentials");
                }
            }
        }
        Ok(out)
    }

    /// Settle what the server answered, in one transaction: acknowledged records are done (and
    /// their api key dropped, keeping the fingerprint, when the acknowledged generation is still
    /// the one in force; a pending generation's key is untouched); refused ones wait for a person.
    pub fn outbox_settle(&mut self, acks: &[Ack], rejects: &[Reject]) -> Result<()> {
        let ts = now();
        self.write(|tx| {
            for a in acks {
                tx.prepare_cached(
                    "UPDATE outbox SET state = 'done', done_at = ?3, last_error = NULL
                     WHERE device_pk = ?1 AND id <= ?2 AND state IN ('pending', 'rejected')",
                )?
                .execute(params![a.device_pk, a.revision, ts])?;
                tx.prepare_cached(
                    "UPDATE devices SET api_key = NULL
                     WHERE id = ?1 AND generation = ?2 AND api_key IS NOT NULL
                       AND api_key_fingerprint IS NOT NULL",
                )?
                .execute(params![a.device_pk, a.generation])?;
            }
            for r in rejects {
                tx.prepare_cached(
                    "UPDATE outbox SET state = 'rejected', last_error = ?3
                     WHERE device_pk = ?1 AND id <= ?2 AND state = 'pending'",
                )?
                .execute(params![r.device_pk, r.revision, r.reason])?;
            }
            Ok(())
        })
    }

    /// A temporary failure: count an attempt and try these records again at `next_attempt_at`.
    pub fn outbox_defer(
        &mut self,
        records: &[(i64, i64)],
        next_attempt_at: time::OffsetDateTime,
        error: &str,
    ) -> Result<()> {
        let at = timestamp(next_attempt_at);
        self.write(|tx| {
            for (device_pk, revision) in records {
                tx.prepare_cached(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?3, last_error = ?4
                     WHERE device_pk = ?1 AND id <= ?2 AND state = 'pending'",
                )?
                .execute(params![device_pk, revision, at, error])?;
            }
            Ok(())
        })
    }

    /// Hold every pending change until `until` (the server is down for all of them, not just the
    /// batch that found out); attempt counts are left as they are.
    pub fn outbox_hold_until(&mut self, until: time::OffsetDateTime) -> Result<()> {
        let at = timestamp(until);
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET next_attempt_at = ?1
                 WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at < ?1)",
                [at],
            )?;
            Ok(())
        })
    }

    /// Send refused records again (all, or one device's), and pending ones now rather than at
    /// their scheduled retry. Returns how many refused changes went back to pending.
    pub fn outbox_retry(&mut self, device_id: Option<&str>) -> Result<u64> {
        if let Some(id) = device_id {
            self.find_device(id)?;
        }
        self.write(|tx| {
            let filter =
                "(?1 IS NULL OR device_pk = (SELECT id FROM devices WHERE device_id = ?1))";
            let n = tx.execute(
                &format!(
                    "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = NULL
                     WHERE state = 'rejected' AND {filter}"
                ),
                [device_id],
            )?;
            tx.execute(
                &format!(
                    "UPDATE outbox SET next_attempt_at = NULL WHERE state = 'pending' AND {filter}"
                ),
                [device_id],
            )?;
            Ok(n as u64)
        })
    }

    pub fn outbox_counts(&self) -> Result<OutboxCounts> {
        let now = timestamp(time::OffsetDateTime::now_utc());
        self.conn()
            .query_row(
                "SELECT
                    count(*) FILTER (WHERE state = 'pending'),
                    count(DISTINCT device_pk) FILTER (WHERE state = 'pending'),
                    count(*) FILTER (WHERE state = 'pending'
                        AND (next_attempt_at IS NULL OR next_attempt_at <= ?1)),
                    count(*) FILTER (WHERE state = 'rejected'),
                    count(*) FILTER (WHERE state = 'done'),
                    min(created_at) FILTER (WHERE state = 'pending'),
                    min(next_attempt_at) FILTER (WHERE state = 'pending' AND next_attempt_at > ?1)
                 FROM outbox",
                [now],
                |r| {
                    Ok(OutboxCounts {
                        pending: r.get::<_, i64>(0)? as u64,
                        pending_devices: r.get::<_, i64>(1)? as u64,
                        due: r.get::<_, i64>(2)? as u64,
                        rejected: r.get::<_, i64>(3)? as u64,
                        done: r.get::<_, i64>(4)? as u64,
                        oldest_pending_at: r.get(5)?,
                        next_attempt_at: r.get(6)?,
                    })
                },
            )
            .map_err(|e| self.sql_err(e))
    }

    /// Refused records with the server's reason, newest first.
    pub fn outbox_rejected(&self, limit: u32) -> Result<Vec<RejectedRecord>> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT d.device_id, o.generation, COALESCE(o.last_error, ''), o.created_at
                 FROM outbox o JOIN devices d ON d.id = o.device_pk
                 WHERE o.state = 'rejected' ORDER BY o.id DESC LIMIT ?1",
            )
            .map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map([limit], |r| {
                Ok(RejectedRecord {
                    device_id: r.get(0)?,
                    generation: to_u32(r.get(1)?),
                    reason: r.get(2)?,
                    queued_at: r.get(3)?,
                })
            })
            .map_err(|e| self.sql_err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sql_err(e))
    }

    /// Api keys still held in plaintext (in force or pending): for tests and the status screen.
    pub fn plaintext_api_keys_held(&self) -> Result<u64> {
        self.conn()
            .query_row(
                "SELECT count(*) FILTER (WHERE api_key IS NOT NULL)
                      + count(*) FILTER (WHERE pending_api_key IS NOT NULL) FROM devices",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.sql_err(e))
    }

    // ---- id leases ----

    /// Keep a block of numbers `start..end` the server leased for `{prefix}{type}-NNN`.
    pub fn add_id_lease(
        &mut self,
        device_type: &str,
        prefix: &str,
        start: u64,
        end: u64,
    ) -> Result<()> {
        let ty = self.find_type(device_type)?;
        if start == 0 || end <= start || end > OFFLINE_SPAN {
            return Err(CoreError::invalid(
                "id lease",
                format!("the server leased an unusable block {start}..{end}"),
                "report this to the server's administrator",
            ));
        }
        self.write(|tx| {
            tx.execute(
                "INSERT INTO id_leases(type_id, prefix, next_number, end_number, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![ty.id, prefix, start as i64, end as i64, now()],
            )?;
            Ok(())
        })
    }

    pub fn id_leases(&self) -> Result<Vec<IdLease>> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT t.name, l.prefix, l.next_number, l.end_number FROM id_leases l
                 JOIN device_types t ON t.id = l.type_id ORDER BY t.name, l.prefix, l.next_number",
            )
            .map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(IdLease {
                    device_type: r.get(0)?,
                    prefix: r.get(1)?,
                    next_number: r.get::<_, i64>(2)? as u64,
                    end_number: r.get::<_, i64>(3)? as u64,
                })
            })
            .map_err(|e| self.sql_err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sql_err(e))
    }

    /// The longest run of numbers one leased block can still give for this type and prefix.
    pub fn id_lease_room(&self, device_type: &str, prefix: &str) -> Result<u64> {
        let ty = self.find_type(device_type)?;
        Ok(self
            .id_leases()?
            .into_iter()
            .filter(|l| l.device_type == ty.name && l.prefix == prefix)
            .map(|l| l.remaining())
            .max()
            .unwrap_or(0))
    }

    /// Every (type, prefix) this station mints ids for: from its devices and its leases.
    pub fn id_prefixes_in_use(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT t.name, d.id_prefix FROM devices d JOIN device_types t ON t.id = d.type_id
                 WHERE d.id_prefix IS NOT NULL
                 UNION
                 SELECT t.name, l.prefix FROM id_leases l JOIN device_types t ON t.id = l.type_id
                 ORDER BY 1, 2",
            )
            .map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.sql_err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sql_err(e))
    }

    /// The highest number below [`OFFLINE_SPAN`] this station used for `{prefix}{type}-NNN`
    /// (0 if none): sent with a lease request so the server starts after it.
    pub fn local_highest_number(&self, device_type: &str, prefix: &str) -> Result<u64> {
        let ty = self.find_type(device_type)?;
        let stem = format!("{prefix}{}-", naming::type_name_lower(&ty.name));
        let mut stmt = self
            .conn()
            .prepare("SELECT device_id FROM devices WHERE substr(device_id, 1, length(?1)) = ?1")
            .map_err(|e| self.sql_err(e))?;
        let ids = stmt
            .query_map([&stem], |r| r.get::<_, String>(0))
            .map_err(|e| self.sql_err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sql_err(e))?;
        Ok(ids
            .iter()
            .filter_map(|id| naming::parse_batch_number(id, prefix, &ty.name))
            .filter(|n| *n < OFFLINE_SPAN)
            .max()
            .unwrap_or(0))
    }

    // ---- what the server reports ----

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_run_starts_after_the_highest_used_number_in_range() {
        assert_eq!(free_run(&[], 10, 20, 10), Some(10));
        assert_eq!(free_run(&[], 10, 20, 11), None);
        assert_eq!(free_run(&[3, 12, 25], 10, 20, 5), Some(13));
        assert_eq!(free_run(&[3, 12, 25], 10, 20, 8), None);
        assert_eq!(free_run(&[19], 10, 20, 1), None);
    }

    use crate::{Actor, BatchRequest, NewDeviceType};

    fn store() -> (tempfile::TempDir, Store, Actor) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path().join("s.db")).expect("open");
        store
            .set_setting("hash_algorithm", "pbkdf2_sha256:iterations=1000")
            .expect("fast hashes");
        store
            .add_type(NewDeviceType {
                name: "WeatherStation".into(),
                app_label: "myapp".into(),
                ..NewDeviceType::default()
            })
            .expect("type");
        (dir, store, Actor::new("tester", "line-1").expect("actor"))
    }

    fn batch(store: &mut Store, actor: &Actor, count: u32, with_credentials: bool) -> Vec<String> {
        store
            .create_batch(
                &BatchRequest {
                    device_type: "WeatherStation".into(),
                    prefix: "farm-".into(),
                    count,
                    with_credentials,
                },
                actor,
            )
            .expect("batch")
            .devices
            .into_iter()
            .map(|d| d.device_id)
            .collect()
    }

    #[test]
    fn with_sync_ids_come_from_leases_then_from_the_offline_range() {
        let (_dir, mut store, actor) = store();
        store
            .set_sync_config(&[
                (
                    config_key::SERVER_URL,
                    Some("http://127.0.0.1:9/station-sync/"),
                ),
                (config_key::STATION_NUMBER, Some("3")),
            ])
            .expect("config");
        assert_eq!(
            batch(&mut store, &actor, 2, false),
            [
                "farm-weatherstation-3000000001",
                "farm-weatherstation-3000000002"
            ]
        );
        store
            .add_id_lease("WeatherStation", "farm-", 10, 20)
            .expect("lease");
        assert_eq!(
            store
                .id_lease_room("weatherstation", "farm-")
                .expect("room"),
            10
        );
        assert_eq!(
            batch(&mut store, &actor, 6, false)[0],
            "farm-weatherstation-010"
        );
        assert_eq!(
            store
                .id_lease_room("WeatherStation", "farm-")
                .expect("room"),
            4
        );
        // 5 do not fit in what is left of the block: offline range, after the highest there.
        assert_eq!(
            batch(&mut store, &actor, 5, false)[0],
            "farm-weatherstation-3000000003"
        );
        assert_eq!(
            batch(&mut store, &actor, 4, false)[3],
            "farm-weatherstation-019"
        );
        assert!(
            store.id_leases().expect("leases").is_empty(),
            "a used-up block is dropped"
        );
        assert_eq!(
            store
                .local_highest_number("WeatherStation", "farm-")
                .expect("n"),
            19
        );
        assert_eq!(
            store.id_prefixes_in_use().expect("prefixes"),
            [("WeatherStation".to_string(), "farm-".to_string())]
        );
        // Without a station number, nothing is minted at all.
        store
            .set_sync_config(&[(config_key::STATION_NUMBER, None)])
            .expect("config");
        let err = store
            .create_batch(
                &BatchRequest {
                    device_type: "WeatherStation".into(),
                    prefix: "farm-".into(),
                    count: 1,
                    with_credentials: false,
                },
                &actor,
            )
            .expect_err("refused");
        assert!(err.to_string().contains("station number"), "{err}");
    }

    #[test]
    fn acknowledged_records_drop_the_api_key_and_keep_the_fingerprint() {
        let (_dir, mut store, actor) = store();
        let ids = batch(&mut store, &actor, 2, true);
        let records = store.outbox_next_batch(10, true).expect("batch");
        assert_eq!(records.len(), 2);
        let r = &records[0];
        assert_eq!(r.device_id, ids[0]);
        assert_eq!(r.generation, 1);
        assert!(r.mqtt_password_hash.starts_with("pbkdf2_sha256$1000$"));
        let key = r.api_key.as_ref().expect("api key until acknowledged");
        assert_eq!(key.expose().len(), 64);
        assert!(
            !format!("{r:?}").contains(key.expose()),
            "Debug redacts the api key"
        );
        let json = serde_json::to_value(r).expect("json");
        assert_eq!(json["api_key"], key.expose());
        assert_eq!(json["metadata"]["station"], "line-1");
        assert_eq!(json["id_prefix"], "farm-");
        assert_eq!(json["id_number"], 1);
        assert!(json.get("device_pk").is_none());
        assert_eq!(store.plaintext_api_keys_held().expect("keys"), 2);

        let acks: Vec<Ack> = records
            .iter()
            .map(|r| Ack {
                device_pk: r.device_pk,
                revision: r.revision,
                generation: r.generation,
            })
            .collect();
        store.outbox_settle(&acks[..1], &[]).expect("settle");
        store
            .outbox_settle(
                &[],
                &[Reject {
                    device_pk: records[1].device_pk,
                    revision: records[1].revision,
                    reason: "conflict: belongs to another station".into(),
                }],
            )
            .expect("settle");
        assert_eq!(store.plaintext_api_keys_held().expect("keys"), 1);
        let first = store.find_device(&ids[0]).expect("device");
        assert!(first.api_key_fingerprint.is_some());
        assert_eq!(first.sync_state, crate::SyncState::Synced);
        let counts = store.outbox_counts().expect("counts");
        assert_eq!((counts.pending, counts.rejected, counts.done), (0, 1, 1));
        assert_eq!(
            store.outbox_rejected(10).expect("rejected")[0].reason,
            "conflict: belongs to another station"
        );
        assert!(store
            .outbox_next_batch(10, false)
            .expect("batch")
            .is_empty());

        // A later change goes without the acknowledged key, with a newer revision.
        store
            .deactivate(&ids[0], &actor, "returned")
            .expect("deactivate");
        let again = store.outbox_next_batch(10, true).expect("batch");
        assert_eq!(again.len(), 1);
        assert!(again[0].api_key.is_none() && !again[0].is_active);
        assert!(again[0].revision > records[0].revision);

        // Deferred records wait for their time unless asked for now; retry brings refused back.
        store
            .outbox_defer(
                &[(again[0].device_pk, again[0].revision)],
                time::OffsetDateTime::now_utc() + time::Duration::hours(1),
                "server down",
            )
            .expect("defer");
        assert!(store.outbox_next_batch(10, true).expect("batch").is_empty());
        assert_eq!(
            store.outbox_next_batch(10, false).expect("batch")[0].attempts,
            1
        );
        assert!(store
            .outbox_counts()
            .expect("counts")
            .next_attempt_at
            .is_some());
        assert_eq!(store.outbox_retry(None).expect("retry"), 1);
        assert_eq!(store.outbox_next_batch(10, true).expect("batch").len(), 2);
    }

    #[test]
    fn timestamps_sort_as_text() {
        let a = time::macros::datetime!(2030-01-02 03:04:05 UTC);
        let b = a + time::Duration::milliseconds(1500);
        assert_eq!(timestamp(a), "2030-01-02T03:04:05Z");
        assert!(timestamp(a) < timestamp(b));
    }
}
