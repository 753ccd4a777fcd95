//! Device records: what django-devicehub's BaseDevice carries plus what a factory needs
//! (batch, hardware id, credential generation, flash state, station, operator), their history,
//! search and deactivation. Nothing is ever hard-deleted.

use std::fmt;
use std::str::FromStr;

use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::naming;
use crate::store::{now, Store};
use crate::types::{DeviceType, Topics};

/// django-devicehub's six device statuses, exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    Online,
    Offline,
    Error,
    Maintenance,
    LowBattery,
    Provisioning,
}

impl DeviceStatus {
    pub const ALL: [DeviceStatus; 6] = [
        DeviceStatus::Online,
        DeviceStatus::Offline,
        DeviceStatus::Error,
        DeviceStatus::Maintenance,
        DeviceStatus::LowBattery,
        DeviceStatus::Provisioning,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Online => "online",
            DeviceStatus::Offline => "offline",
            DeviceStatus::Error => "error",
            DeviceStatus::Maintenance => "maintenance",
            DeviceStatus::LowBattery => "low_battery",
            DeviceStatus::Provisioning => "provisioning",
        }
    }
}

impl fmt::Display for DeviceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeviceStatus {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self> {
        DeviceStatus::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| {
                CoreError::invalid(
                    "status",
                    format!("'{s}' is not a device status"),
                    format!(
                        "use one of: {}",
                        DeviceStatus::ALL.map(|d| d.as_str()).join(", ")
                    ),
                )
            })
    }
}

/// Where a device is in being written to hardware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum FlashState {
    /// Never flashed by this station.
    None,
    /// Credentials were issued to a flash whose outcome is not known yet.
    Flashing,
    /// The device confirmed the credentials it holds.
    Flashed,
    /// The last flash failed; the device holds none of this station's credentials.
    Failed,
}

impl FlashState {
    pub fn as_str(self) -> &'static str {
        match self {
            FlashState::None => "none",
            FlashState::Flashing => "flashing",
            FlashState::Flashed => "flashed",
            FlashState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> rusqlite::Result<Self> {
        Ok(match s {
            "none" => FlashState::None,
            "flashing" => FlashState::Flashing,
            "flashed" => FlashState::Flashed,
            "failed" => FlashState::Failed,
            other => {
                return Err(rusqlite::Error::FromSqlConversionFailure(
                    0,
                    rusqlite::types::Type::Text,
                    format!("unknown flash state {other}").into(),
                ))
            }
        })
    }
}

impl FromStr for FlashState {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self> {
        FlashState::parse(s).map_err(|_| {
            CoreError::invalid(
                "flash state",
                format!("'{s}' is not a flash state"),
                "use one of: none, flashing, flashed, failed",
            )
        })
    }
}

/// Whether the central server has the device's latest record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// Nothing to send yet (e.g. created for a batch, not flashed).
    NotQueued,
    /// Waiting in the outbox.
    Pending,
    /// The server acknowledged the latest change.
    Synced,
    /// The server refused the latest change; a person must act.
    Rejected,
}

impl SyncState {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::NotQueued => "not_queued",
            SyncState::Pending => "pending",
            SyncState::Synced => "synced",
            SyncState::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "pending" => SyncState::Pending,
            "done" => SyncState::Synced,
            "rejected" => SyncState::Rejected,
            _ => SyncState::NotQueued,
        }
    }
}

/// Who is acting and on which station: recorded on every change.
#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    pub operator: String,
    pub station_id: String,
}

impl Actor {
    pub fn new(operator: impl Into<String>, station_id: impl Into<String>) -> Result<Self> {
        let operator = operator.into();
        let station_id = station_id.into();
        naming::validate_text("operator", &operator, 128)?;
        naming::validate_text("station id", &station_id, 128)?;
        Ok(Actor {
            operator,
            station_id,
        })
    }
}

/// One device as the station knows it. Carries no secret: the api key itself is not read.
#[derive(Debug, Clone, Serialize)]
pub struct Device {
    #[serde(skip)]
    pub pk: i64,
    pub device_id: String,
    pub name: String,
    pub device_type: String,
    pub batch_id: Option<i64>,
    pub status: DeviceStatus,
    pub is_active: bool,
    pub firmware_version: String,
    pub mqtt_username: String,
    pub topics: Topics,
    pub generation: u32,
    pub has_credentials: bool,
    pub api_key_fingerprint: Option<String>,
    pub pending_generation: Option<u32>,
    pub last_generation: u32,
    pub flash_state: FlashState,
    pub flash_error: Option<String>,
    pub hardware_id: Option<String>,
    pub flashed_at: Option<String>,
    pub rotation_due: bool,
    pub station_id: String,
    pub operator: String,
    pub metadata: serde_json::Value,
    pub sync_state: SyncState,
    pub created_at: String,
    pub updated_at: String,
    /// The unit's own serial number or MAC address, from its label (scan to link).
    pub unit_serial: Option<String>,
    /// Its batch's lot and work order, if it has a batch and the batch has them.
    pub lot: Option<String>,
    pub work_order: Option<String>,
}

/// One line of a device's history: what happened, who, when, at which station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DeviceEvent {
    pub kind: String,
    pub generation: Option<u32>,
    pub detail: String,
    pub operator: String,
    pub station_id: String,
    pub at: String,
}

/// Event kinds, one place.
pub mod event {
    pub const CREATED: &str = "created";
    pub const CREDENTIALS_ISSUED: &str = "credentials_issued";
    pub const FLASH_STARTED: &str = "flash_started";
    pub const FLASHED: &str = "flashed";
    pub const FLASH_FAILED: &str = "flash_failed";
    pub const ROTATION_DUE: &str = "rotation_due";
    pub const ROTATED: &str = "rotated";
    pub const DEACTIVATED: &str = "deactivated";
    pub const RECOVERED: &str = "recovered";
    /// The unit's own serial or MAC label was linked to the device.
    pub const UNIT_LINKED: &str = "unit_linked";
}

/// Which devices a list, an export or a bulk action covers. Empty matches all.
#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    /// Exactly this device.
    pub device_id: Option<String>,
    pub batch_id: Option<i64>,
    pub device_type: Option<String>,
    pub status: Option<DeviceStatus>,
    pub is_active: Option<bool>,
    pub flash_state: Option<FlashState>,
    pub rotation_due: Option<bool>,
    /// Substring of device id, name, hardware id, unit serial, or its batch's lot or work order
    /// (case-insensitive).
    pub search: Option<String>,
    pub limit: Option<u32>,
    /// Skip this many (a page after the first).
    pub offset: Option<u32>,
}

const DEVICE_SELECT: &str = "SELECT d.id, d.device_id, d.name, d.batch_id, d.status, d.is_active,
        d.firmware_version, d.mqtt_username, d.generation, d.mqtt_password_hash IS NOT NULL,
        d.api_key_fingerprint, d.pending_generation, d.last_generation, d.flash_state, d.flash_error,
        d.hardware_id, d.flashed_at, d.rotation_due, d.station_id, d.operator, d.metadata,
        COALESCE((SELECT o.state FROM outbox o WHERE o.device_pk = d.id ORDER BY o.id DESC LIMIT 1), ''),
        d.created_at, d.updated_at, d.unit_serial, b.lot, b.work_order, ";
const DEVICE_TYPE_AT: usize = 27;
/// The tables a device query reads: the device, its type, its batch (if any).
const DEVICE_FROM: &str = "FROM devices d JOIN device_types t ON t.id = d.type_id \
     LEFT JOIN batches b ON b.id = d.batch_id";

fn device_from_row(row: &Row<'_>) -> rusqlite::Result<Device> {
    let ty = DeviceType::from_row(row, DEVICE_TYPE_AT)?;
    let device_id: String = row.get(1)?;
    let status: String = row.get(4)?;
    let status = status.parse::<DeviceStatus>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            4,
            rusqlite::types::Type::Text,
            e.to_string().into(),
        )
    })?;
    let flash_state: String = row.get(13)?;
    let metadata: String = row.get(20)?;
    let sync: String = row.get(21)?;
    Ok(Device {
        pk: row.get(0)?,
        topics: ty.topics(&device_id),
        device_id,
        name: row.get(2)?,
        device_type: ty.name,
        batch_id: row.get(3)?,
        status,
        is_active: row.get(5)?,
        firmware_version: row.get(6)?,
        mqtt_username: row.get(7)?,
        generation: row.get(8)?,
        has_credentials: row.get(9)?,
        api_key_fingerprint: row.get(10)?,
        pending_generation: row.get(11)?,
        last_generation: row.get(12)?,
        flash_state: FlashState::parse(&flash_state)?,
        flash_error: row.get(14)?,
        hardware_id: row.get(15)?,
        flashed_at: row.get(16)?,
        rotation_due: row.get(17)?,
        station_id: row.get(18)?,
        operator: row.get(19)?,
        metadata: serde_json::from_str(&metadata).unwrap_or(serde_json::Value::Null),
        sync_state: SyncState::parse(&sync),
        created_at: row.get(22)?,
        updated_at: row.get(23)?,
        unit_serial: row.get(24)?,
        lot: row.get(25)?,
        work_order: row.get(26)?,
    })
}

/// SQL WHERE clause and parameters for a filter.
pub(crate) fn filter_sql(f: &DeviceFilter) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut clauses = vec!["1 = 1".to_string()];
    let mut args: Vec<Value> = Vec::new();
    let mut push = |clause: &str, v: Value| {
        args.push(v);
        clauses.push(clause.replace('?', &format!("?{}", args.len())));
    };
    if let Some(id) = &f.device_id {
        push("d.device_id = ?", Value::Text(id.clone()));
    }
    if let Some(b) = f.batch_id {
        push("d.batch_id = ?", Value::Integer(b));
    }
    if let Some(t) = &f.device_type {
        push("t.name_key = ?", Value::Text(naming::type_key(t)));
    }
    if let Some(s) = f.status {
        push("d.status = ?", Value::Text(s.as_str().into()));
    }
    if let Some(a) = f.is_active {
        push("d.is_active = ?", Value::Integer(a.into()));
    }
    if let Some(s) = f.flash_state {
        push("d.flash_state = ?", Value::Text(s.as_str().into()));
    }
    if let Some(r) = f.rotation_due {
        push("d.rotation_due = ?", Value::Integer(r.into()));
    }
    if let Some(q) = &f.search {
        args.push(Value::Text(like_pattern(q)));
        let n = args.len();
        clauses.push(format!(
            "(lower(d.device_id) LIKE ?{n} ESCAPE '\\' OR lower(d.name) LIKE ?{n} ESCAPE '\\' \
             OR lower(COALESCE(d.hardware_id, '')) LIKE ?{n} ESCAPE '\\' \
             OR lower(COALESCE(d.unit_serial, '')) LIKE ?{n} ESCAPE '\\' \
             OR lower(COALESCE(b.lot, '')) LIKE ?{n} ESCAPE '\\' \
             OR lower(COALESCE(b.work_order, '')) LIKE ?{n} ESCAPE '\\')"
        ));
    }
    (clauses.join(" AND "), args)
}

/// A case-insensitive `LIKE ... ESCAPE '\'` pattern matching `q` anywhere, `%` and `_` literal.
pub(crate) fn like_pattern(q: &str) -> String {
    format!(
        "%{}%",
        q.to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

/// Deactivate one device inside the caller's transaction: the flag, the event, and (when the
/// server holds credentials of it) the record queued for the server.
pub(crate) fn deactivate_in(
    tx: &Transaction<'_>,
    pk: i64,
    generation: u32,
    reason: &str,
    actor: &Actor,
) -> Result<()> {
    tx.execute(
        "UPDATE devices SET is_active = 0, rotation_due = 0, updated_at = ?2 WHERE id = ?1",
        params![pk, now()],
    )?;
    record_event(tx, pk, event::DEACTIVATED, Some(generation), reason, actor)?;
    if generation > 0 {
        enqueue_sync(tx, pk, generation)?;
    }
    Ok(())
}

/// Record one event; called inside the transaction of the change it describes.
pub(crate) fn record_event(
    tx: &Transaction<'_>,
    device_pk: i64,
    kind: &str,
    generation: Option<u32>,
    detail: &str,
    actor: &Actor,
) -> Result<()> {
    tx.execute(
        "INSERT INTO device_events(device_pk, kind, generation, detail, operator, station_id, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            device_pk,
            kind,
            generation,
            detail,
            actor.operator,
            actor.station_id,
            now()
        ],
    )?;
    Ok(())
}

/// Queue the device's current record for the central server, in the caller's transaction.
pub(crate) fn enqueue_sync(tx: &Transaction<'_>, device_pk: i64, generation: u32) -> Result<()> {
    tx.execute(
        "INSERT INTO outbox(device_pk, generation, created_at) VALUES (?1, ?2, ?3)",
        params![device_pk, generation, now()],
    )?;
    Ok(())
}

impl Store {
    /// Devices matching `filter`, in natural device id order (`unit-136` before `unit-1359`).
    pub fn list_devices(&self, filter: &DeviceFilter) -> Result<Vec<Device>> {
        let mut out = Vec::new();
        self.for_each_device(filter, |d| {
            out.push(d);
            Ok(())
        })?;
        Ok(out)
    }

    /// Stream devices matching `filter` to `f` without holding them all in memory.
    pub fn for_each_device(
        &self,
        filter: &DeviceFilter,
        mut f: impl FnMut(Device) -> Result<()>,
    ) -> Result<()> {
        let (clause, args) = filter_sql(filter);
        let sql = format!(
            "{DEVICE_SELECT}{} {DEVICE_FROM} WHERE {clause} \
             ORDER BY d.device_id COLLATE {} {}",
            DeviceType::COLUMNS,
            crate::store::NATURAL_COLLATION,
            crate::batches::page_sql(filter.limit, filter.offset)
        );
        let mut stmt = self.conn().prepare(&sql).map_err(|e| self.sql_err(e))?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args))
            .map_err(|e| self.sql_err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.sql_err(e))? {
            f(device_from_row(row).map_err(|e| self.sql_err(e))?)?;
        }
        Ok(())
    }

    /// How many devices match `filter` (its limit and offset aside): the total a page is of.
    pub fn count_devices(&self, filter: &DeviceFilter) -> Result<u64> {
        let (clause, args) = filter_sql(filter);
        self.conn()
            .query_row(
                &format!("SELECT count(*) {DEVICE_FROM} WHERE {clause}"),
                rusqlite::params_from_iter(args),
                |r| r.get(0),
            )
            .map_err(|e| self.sql_err(e))
    }

    pub fn find_device(&self, device_id: &str) -> Result<Device> {
        self.list_devices(&DeviceFilter {
            device_id: Some(device_id.to_owned()),
            ..DeviceFilter::default()
        })?
        .pop()
        .ok_or_else(|| CoreError::NotFound {
            what: "device",
            key: device_id.to_owned(),
        })
    }

    /// The hash of the credentials in force, for `verify`.
    pub fn password_hash(&self, device_id: &str) -> Result<Option<String>> {
        self.conn()
            .query_row(
                "SELECT mqtt_password_hash FROM devices WHERE device_id = ?1",
                [device_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql_err(e))?
            .ok_or_else(|| CoreError::NotFound {
                what: "device",
                key: device_id.to_owned(),
            })
    }

    pub fn device_type_of(&self, device: &Device) -> Result<DeviceType> {
        self.find_type(&device.device_type)
    }

    pub fn device_history(&self, device_id: &str) -> Result<Vec<DeviceEvent>> {
        let device = self.find_device(device_id)?;
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT kind, generation, detail, operator, station_id, at FROM device_events
                 WHERE device_pk = ?1 ORDER BY id",
            )
            .map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map([device.pk], |r| {
                Ok(DeviceEvent {
                    kind: r.get(0)?,
                    generation: r.get(1)?,
                    detail: r.get(2)?,
                    operator: r.get(3)?,
                    station_id: r.get(4)?,
                    at: r.get(5)?,
                })
            })
            .map_err(|e| self.sql_err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sql_err(e))
    }

    /// Block a device without deleting it (django-devicehub: is_active = False). The change is
    /// queued for the server so the broker stops accepting the device.
    pub fn deactivate(&mut self, device_id: &str, actor: &Actor, reason: &str) -> Result<Device> {
        naming::validate_text("reason", reason, 500)?;
        let device = self.find_device(device_id)?;
        if !device.is_active {
            return Err(CoreError::Conflict {
                problem: format!("device {device_id} is already deactivated"),
                fix: "nothing to do; the device's history lists when it was deactivated".into(),
            });
        }
        self.write(|tx| deactivate_in(tx, device.pk, device.generation, reason, actor))?;
        self.find_device(device_id)
    }
}
