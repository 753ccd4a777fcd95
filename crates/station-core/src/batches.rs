//! Production batches ("50 weather stations, prefix farm-") and their ids.
//!
//! Ids are `{prefix}{type_name}-{NNN}`. Asked for N, a batch creates exactly N devices,
//! numbered after the highest existing number for that prefix and type: a number is never
//! reused and an existing device is never touched (django-devicehub's `iot_provision` counts
//! instead, and skips, so it can create fewer than asked).

use rayon::prelude::*;
use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use crate::credentials::{self, IssuedCredentials};
use crate::devices::{enqueue_sync, event, record_event, Actor};
use crate::error::{CoreError, Result};
use crate::naming;
use crate::store::sealing::api_key_at_rest;
use crate::store::{now, Store};
use crate::types::DeviceType;

/// The most devices one batch may hold: more is a typing mistake, not a production run.
pub const MAX_BATCH_COUNT: u32 = 10_000;
/// Longest lot or work-order number (an MES order number or a lot code, never a sentence).
pub const RUN_LABEL_MAX_LEN: usize = 64;

/// Where a batch is in its life. Only an open batch issues devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    /// Devices are issued to flashes.
    Open,
    /// No more devices are issued; the unflashed ones stay as they are.
    Closed,
    /// No more devices are issued; the unflashed ones were deactivated (never deleted).
    Cancelled,
}

impl BatchState {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchState::Open => "open",
            BatchState::Closed => "closed",
            BatchState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> rusqlite::Result<Self> {
        Ok(match s {
            "open" => BatchState::Open,
            "closed" => BatchState::Closed,
            "cancelled" => BatchState::Cancelled,
            other => {
                return Err(rusqlite::Error::FromSqlConversionFailure(
                    0,
                    rusqlite::types::Type::Text,
                    format!("unknown batch state {other}").into(),
                ))
            }
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    pub id: i64,
    pub device_type: String,
    pub prefix: String,
    pub count: u32,
    pub created_by: String,
    pub station_id: String,
    pub created_at: String,
    /// The lot this batch belongs to, if given.
    pub lot: Option<String>,
    /// The work order (MES order number) this batch fulfils, if given.
    pub work_order: Option<String>,
    pub state: BatchState,
    /// When and by whom the batch was closed or cancelled.
    pub ended_at: Option<String>,
    pub ended_by: Option<String>,
}

/// A batch with how far it has come.
#[derive(Debug, Clone, Serialize)]
pub struct BatchProgress {
    #[serde(flatten)]
    pub batch: Batch,
    pub flashed: u32,
    pub failed: u32,
    pub remaining: u32,
    /// Devices of the batch that were deactivated (a cancelled batch's unflashed ones).
    pub deactivated: u32,
    /// The lowest and highest id of the batch, in number order (not text order).
    pub first_device_id: Option<String>,
    pub last_device_id: Option<String>,
}

/// Which batches a list shows: a page, newest first, optionally only those matching a search.
#[derive(Debug, Clone, Default)]
pub struct BatchFilter {
    /// Part of the lot, work order, prefix or device type (case-insensitive), or the batch number.
    pub search: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// A closed or cancelled batch and the devices it left unflashed (listed, not deleted).
#[derive(Debug, Clone, Serialize)]
pub struct EndedBatch {
    pub batch: BatchProgress,
    /// The devices that were never flashed, in number order: still there (close) or
    /// deactivated (cancel).
    pub unflashed: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct BatchRequest {
    pub device_type: String,
    pub prefix: String,
    pub count: u32,
    /// The lot and work order the batch belongs to ([`normalise_run_label`] trims; empty is none).
    pub lot: Option<String>,
    pub work_order: Option<String>,
    /// Issue credentials now (the `iot_provision` way, for scripts that deliver them) instead of
    /// at flash time.
    pub with_credentials: bool,
}

/// A device a batch created, with its credentials when they were issued at creation.
#[derive(Debug)]
pub struct CreatedDevice {
    pub device_id: String,
    pub name: String,
    pub mqtt_username: String,
    pub credentials: Option<IssuedCredentials>,
}

#[derive(Debug)]
pub struct CreatedBatch {
    pub batch: Batch,
    pub device_type: DeviceType,
    pub devices: Vec<CreatedDevice>,
}

fn validate_count(count: u32) -> Result<()> {
    if count == 0 || count > MAX_BATCH_COUNT {
        return Err(CoreError::invalid(
            "count",
            format!("{count} devices is not a batch size this station accepts"),
            format!(
                "give a count from 1 to {MAX_BATCH_COUNT}; split larger runs into several batches"
            ),
        ));
    }
    Ok(())
}

/// A lot or work-order number as stored: trimmed, `None` when empty; refused when it holds
/// control characters or is longer than [`RUN_LABEL_MAX_LEN`].
pub fn normalise_run_label(field: &'static str, value: Option<&str>) -> Result<Option<String>> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > RUN_LABEL_MAX_LEN {
        return Err(CoreError::invalid(
            field,
            format!(
                "the {field} is {} characters long, the limit is {RUN_LABEL_MAX_LEN}",
                v.chars().count()
            ),
            format!("give the {field} as the order system shows it, e.g. WO-2026-0042"),
        ));
    }
    naming::validate_text(field, v, RUN_LABEL_MAX_LEN)?;
    Ok(Some(v.to_owned()))
}

/// The name django-devicehub's `iot_provision` gives: `WeatherStation 001`.
pub fn default_device_name(device_type: &DeviceType, number: u64) -> String {
    format!(
        "{} {number:0width$}",
        device_type.name,
        width = naming::ID_NUMBER_MIN_DIGITS
    )
}

/// The highest number used for `{prefix}{type}-NNN` ids, by any device (batch or not).
fn highest_number(tx: &Transaction<'_>, device_type: &DeviceType, prefix: &str) -> Result<u64> {
    let stem = format!("{prefix}{}-", naming::type_name_lower(&device_type.name));
    // substr() compares bytes exactly; LIKE would treat '_' and '%' in the prefix as wildcards.
    let mut stmt =
        tx.prepare("SELECT device_id FROM devices WHERE substr(device_id, 1, length(?1)) = ?1")?;
    let mut rows = stmt.query([&stem])?;
    let mut highest = 0;
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        if let Some(n) = naming::parse_batch_number(&id, prefix, &device_type.name) {
            highest = highest.max(n);
        }
    }
    Ok(highest)
}

/// The next `count` numbers for `{prefix}{type}-NNN`, checked to make ids Django accepts.
///
/// The one place device ids are minted. Without sync they follow the highest number in this
/// station's database. With sync configured, several stations mint ids for one server: the
/// numbers come from a block the server leased to this station, or, with no leased block
/// holding `count` numbers (offline), from this station's own offline range
/// (`station_number * OFFLINE_SPAN + 1 ..`, see [`crate::store::leases`]), so two stations never
/// mint the same id.
pub(crate) fn allocate_numbers(
    tx: &Transaction<'_>,
    device_type: &DeviceType,
    prefix: &str,
    count: u32,
) -> Result<std::ops::Range<u64>> {
    naming::validate_prefix(prefix)?;
    let (start, end) = match crate::store::leases::allocate_synced(tx, device_type, prefix, count)?
    {
        Some(range) => (range.start, range.end),
        None => {
            let start = highest_number(tx, device_type, prefix)? + 1;
            (start, start + u64::from(count))
        }
    };
    let last_id = naming::batch_device_id(prefix, &device_type.name, end - 1);
    naming::validate_device_id(&last_id).map_err(|_| {
        CoreError::invalid(
            "prefix",
            format!(
                "ids such as {last_id} would be longer than {} characters or not allowed in a topic",
                naming::DEVICE_ID_MAX_LEN
            ),
            "use a shorter prefix",
        )
    })?;
    Ok(start..end)
}

/// One new device row numbered `number`, with credentials in force when given (generation 1).
/// Returns the new row's primary key.
pub(crate) fn insert_device(
    tx: &Transaction<'_>,
    device_type: &DeviceType,
    batch_id: Option<i64>,
    prefix: &str,
    number: u64,
    credentials: Option<&IssuedCredentials>,
    actor: &Actor,
) -> Result<i64> {
    let device_id = naming::batch_device_id(prefix, &device_type.name, number);
    let name = default_device_name(device_type, number);
    let username = device_type.mqtt_username(&device_id);
    let (generation, hash, api_key, fingerprint) = match credentials {
        Some(c) => (
            1u32,
            Some(c.password_hash.as_str()),
            Some(api_key_at_rest(tx, &c.api_key)?),
            Some(c.api_key_fingerprint.as_str()),
        ),
        None => (0, None, None, None),
    };
    let (api_key, api_key_sealed, seal_key_fingerprint) = match api_key {
        Some(k) => (k.plaintext, k.sealed, k.seal_key_fingerprint),
        None => (None, None, None),
    };
    let metadata = match batch_id {
        Some(b) => serde_json::json!({ "batch": b }),
        None => serde_json::json!({}),
    };
    let ts = now();
    let inserted = tx
        .prepare_cached(
            "INSERT INTO devices(device_id, name, type_id, batch_id, id_prefix, id_number,
                 mqtt_username, generation, mqtt_password_hash, api_key, api_key_fingerprint,
                 last_generation, station_id, operator, metadata, created_at, updated_at,
                 api_key_sealed, seal_key_fingerprint)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?8, ?12, ?13, ?14, ?15, ?15,
                 ?16, ?17)",
        )?
        .execute(params![
            device_id,
            name,
            device_type.id,
            batch_id,
            prefix,
            number as i64,
            username,
            generation,
            hash,
            api_key,
            fingerprint,
            actor.station_id,
            actor.operator,
            metadata.to_string(),
            ts,
            api_key_sealed,
            seal_key_fingerprint
        ]);
    if let Err(e) = inserted {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) {
            return Err(CoreError::Conflict {
                problem: format!("device id {device_id} is already taken"),
                fix: "nothing was created; try again (another station process may have created \
                      devices at the same moment)"
                    .into(),
            });
        }
        return Err(e.into());
    }
    let pk = tx.last_insert_rowid();
    let detail = batch_id.map(|b| format!("batch {b}")).unwrap_or_default();
    record_event(tx, pk, event::CREATED, None, &detail, actor)?;
    if let Some(c) = credentials {
        crate::proofs::store_verifiers(tx, pk, &device_id, generation, &c.mqtt_password)?;
        record_event(
            tx,
            pk,
            event::CREDENTIALS_ISSUED,
            Some(1),
            "printed to a script",
            actor,
        )?;
        enqueue_sync(tx, pk, 1)?;
    }
    Ok(pk)
}

impl Store {
    /// Create a batch of exactly `count` new devices in one transaction.
    pub fn create_batch(&mut self, req: &BatchRequest, actor: &Actor) -> Result<CreatedBatch> {
        validate_count(req.count)?;
        naming::validate_prefix(&req.prefix)?;
        let lot = normalise_run_label("lot", req.lot.as_deref())?;
        let work_order = normalise_run_label("work order", req.work_order.as_deref())?;
        let device_type = self.find_type(&req.device_type)?;
        let algorithm = self.hash_algorithm()?;

        // Hashing is the slow part: do it on every core before taking the write lock. The
        // hash does not depend on the id, so ids are assigned inside the transaction.
        let mut issued: Vec<IssuedCredentials> = if req.with_credentials {
            (0..req.count)
                .into_par_iter()
                .map_init(
                    || credentials::Hasher::new(algorithm),
                    |hasher, _| credentials::issue("", "", 1, hasher),
                )
                .collect::<Result<_>>()?
        } else {
            Vec::new()
        };

        let (batch, devices) = self.write(|tx| {
            let numbers = allocate_numbers(tx, &device_type, &req.prefix, req.count)?;
            let ts = now();
            tx.execute(
                "INSERT INTO batches(type_id, prefix, count, created_by, station_id, created_at,
                     lot, work_order)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    device_type.id,
                    req.prefix,
                    req.count,
                    actor.operator,
                    actor.station_id,
                    ts,
                    lot,
                    work_order
                ],
            )?;
            let batch_id = tx.last_insert_rowid();
            let mut devices = Vec::with_capacity(req.count as usize);
            for number in numbers {
                let mut credentials = issued.pop();
                insert_device(
                    tx,
                    &device_type,
                    Some(batch_id),
                    &req.prefix,
                    number,
                    credentials.as_ref(),
                    actor,
                )?;
                let device_id = naming::batch_device_id(&req.prefix, &device_type.name, number);
                let mqtt_username = device_type.mqtt_username(&device_id);
                if let Some(c) = credentials.as_mut() {
                    c.device_id = device_id.clone();
                    c.mqtt_username = mqtt_username.clone();
                }
                devices.push(CreatedDevice {
                    name: default_device_name(&device_type, number),
                    device_id,
                    mqtt_username,
                    credentials,
                });
            }
            let batch = Batch {
                id: batch_id,
                device_type: device_type.name.clone(),
                prefix: req.prefix.clone(),
                count: req.count,
                created_by: actor.operator.clone(),
                station_id: actor.station_id.clone(),
                created_at: ts,
                lot,
                work_order,
                state: BatchState::Open,
                ended_at: None,
                ended_by: None,
            };
            Ok((batch, devices))
        })?;
        Ok(CreatedBatch {
            batch,
            device_type,
            devices,
        })
    }

    /// Every batch, oldest first.
    pub fn list_batches(&self) -> Result<Vec<BatchProgress>> {
        self.query_batches("1 = 1", Vec::new(), "ORDER BY b.id", None)
    }

    /// A page of the batches matching `filter`, newest first, and how many match in all.
    pub fn search_batches(&self, filter: &BatchFilter) -> Result<(Vec<BatchProgress>, u64)> {
        use rusqlite::types::Value;
        let mut clause = "1 = 1".to_string();
        let mut args: Vec<Value> = Vec::new();
        if let Some(q) = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
        {
            args.push(Value::Text(crate::devices::like_pattern(q)));
            args.push(Value::Text(q.trim_start_matches('#').to_owned()));
            clause = "(lower(COALESCE(b.lot, '')) LIKE ?1 ESCAPE '\\' \
                 OR lower(COALESCE(b.work_order, '')) LIKE ?1 ESCAPE '\\' \
                 OR lower(b.prefix) LIKE ?1 ESCAPE '\\' OR lower(t.name) LIKE ?1 ESCAPE '\\' \
                 OR CAST(b.id AS TEXT) = ?2)"
                .to_string();
        }
        let total: u64 = self
            .conn()
            .query_row(
                &format!(
                    "SELECT count(*) FROM batches b JOIN device_types t ON t.id = b.type_id \
                     WHERE {clause}"
                ),
                rusqlite::params_from_iter(args.iter()),
                |r| r.get(0),
            )
            .map_err(|e| self.sql_err(e))?;
        let page = page_sql(filter.limit, filter.offset);
        let rows = self.query_batches(&clause, args, "ORDER BY b.id DESC", Some(&page))?;
        Ok((rows, total))
    }

    pub fn find_batch(&self, id: i64) -> Result<BatchProgress> {
        self.query_batches(
            "b.id = ?1",
            vec![rusqlite::types::Value::Integer(id)],
            "",
            None,
        )?
        .pop()
        .ok_or_else(|| CoreError::NotFound {
            what: "batch",
            key: id.to_string(),
        })
    }

    /// Close an open batch: no more devices are issued from it; its unflashed devices stay as
    /// they are (they can still be flashed one by one from the Devices screen) and are listed.
    pub fn close_batch(&mut self, id: i64, actor: &Actor) -> Result<EndedBatch> {
        self.end_batch(id, BatchState::Closed, actor, "")
    }

    /// Cancel an open or closed batch: no more devices are issued from it; its unflashed
    /// devices (never bound to a unit) are deactivated, never deleted; its flashed devices stay
    /// in force, a failed re-flash of one included (its unit still holds the credentials in
    /// force). An unflashed device the server never held (no credentials yet) sends nothing; one
    /// whose credentials were issued to a script (`provision`) is deactivated on the server
    /// through the outbox, as [`Store::deactivate`] does. Refused while one of its devices is
    /// being flashed.
    pub fn cancel_batch(&mut self, id: i64, actor: &Actor, reason: &str) -> Result<EndedBatch> {
        naming::validate_text("reason", reason, 500)?;
        self.end_batch(id, BatchState::Cancelled, actor, reason)
    }

    fn end_batch(
        &mut self,
        id: i64,
        to: BatchState,
        actor: &Actor,
        reason: &str,
    ) -> Result<EndedBatch> {
        let current = self.find_batch(id)?;
        let from = current.batch.state;
        let refused = match (from, to) {
            (BatchState::Open, _) | (BatchState::Closed, BatchState::Cancelled) => None,
            (BatchState::Cancelled, _) => Some("nothing to do; a cancelled batch stays cancelled"),
            (BatchState::Closed, _) => {
                Some("nothing to do; cancel it instead to deactivate its unflashed devices")
            }
        };
        if let Some(fix) = refused {
            return Err(CoreError::Conflict {
                problem: format!("batch {id} is already {}", from.as_str()),
                fix: fix.into(),
            });
        }
        let unflashed = self.write(|tx| {
            let ts = now();
            if to == BatchState::Cancelled {
                let busy: Option<String> = tx
                    .query_row(
                        "SELECT device_id FROM devices WHERE batch_id = ?1
                             AND pending_generation IS NOT NULL LIMIT 1",
                        [id],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(device_id) = busy {
                    return Err(CoreError::Conflict {
                        problem: format!(
                            "device {device_id} of batch {id} is being flashed right now"
                        ),
                        fix: "wait until its flash has finished, then cancel the batch".into(),
                    });
                }
            }
            let unflashed: Vec<(i64, String, u32)> = {
                // What a flash could still take, less a device a unit ever answered for.
                let mut stmt = tx.prepare(&format!(
                    "SELECT id, device_id, generation FROM devices
                     WHERE {} AND hardware_id IS NULL ORDER BY id_number, id",
                    crate::rotation::LEFT_IN_BATCH
                ))?;
                let rows = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            // Only from the state checked above: a close and a cancel at once cannot both end
            // the batch (this transaction rolls back, nothing deactivated).
            let changed = tx.execute(
                "UPDATE batches SET state = ?2, ended_at = ?3, ended_by = ?4
                 WHERE id = ?1 AND state = ?5",
                params![id, to.as_str(), ts, actor.operator, from.as_str()],
            )?;
            if changed != 1 {
                return Err(CoreError::Conflict {
                    problem: format!("batch {id} was changed by someone else just now"),
                    fix: "look at the batch again, then close or cancel it".into(),
                });
            }
            if to == BatchState::Cancelled {
                let detail = if reason.is_empty() {
                    format!("batch {id} cancelled")
                } else {
                    format!("batch {id} cancelled: {reason}")
                };
                for (pk, _, generation) in &unflashed {
                    crate::devices::deactivate_in(tx, *pk, *generation, &detail, actor)?;
                }
            }
            Ok(unflashed.into_iter().map(|(_, d, _)| d).collect())
        })?;
        Ok(EndedBatch {
            batch: self.find_batch(id)?,
            unflashed,
        })
    }

    /// Refuse to issue a device from a batch that is not open; called where a flash picks the
    /// next device of a batch.
    pub(crate) fn check_batch_open(tx: &rusqlite::Connection, id: i64) -> Result<()> {
        let state: String = tx.query_row("SELECT state FROM batches WHERE id = ?1", [id], |r| {
            r.get(0)
        })?;
        match BatchState::parse(&state)? {
            BatchState::Open => Ok(()),
            other => Err(CoreError::Conflict {
                problem: format!(
                    "batch {id} is {}, so it issues no more devices",
                    other.as_str()
                ),
                fix: "pick an open batch or a device type; a closed batch's unflashed devices \
                      can still be flashed one by one from the Devices screen"
                    .into(),
            }),
        }
    }

    fn query_batches(
        &self,
        clause: &str,
        args: Vec<rusqlite::types::Value>,
        order: &str,
        page: Option<&str>,
    ) -> Result<Vec<BatchProgress>> {
        let sql = format!(
            "SELECT b.id, t.name, b.prefix, b.count, b.created_by, b.station_id, b.created_at,
                 (SELECT count(*) FROM devices d WHERE d.batch_id = b.id AND d.flash_state = 'flashed'),
                 (SELECT count(*) FROM devices d WHERE d.batch_id = b.id AND d.flash_state = 'failed'),
                 (SELECT device_id FROM devices d WHERE d.batch_id = b.id
                     ORDER BY d.id_number, d.id LIMIT 1),
                 (SELECT device_id FROM devices d WHERE d.batch_id = b.id
                     ORDER BY d.id_number DESC, d.id DESC LIMIT 1),
                 b.lot, b.work_order, b.state, b.ended_at, b.ended_by,
                 (SELECT count(*) FROM devices d WHERE d.batch_id = b.id AND d.is_active = 0)
             FROM batches b JOIN device_types t ON t.id = b.type_id WHERE {clause} {order} {}",
            page.unwrap_or("")
        );
        let mut stmt = self.conn().prepare(&sql).map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                let count: u32 = r.get(3)?;
                let flashed: u32 = r.get(7)?;
                let state: String = r.get(13)?;
                let state = BatchState::parse(&state)?;
                let deactivated: u32 = r.get(16)?;
                // A cancelled batch has nothing left: its unflashed devices were deactivated.
                let remaining = match state {
                    BatchState::Cancelled => 0,
                    _ => count.saturating_sub(flashed),
                };
                Ok(BatchProgress {
                    batch: Batch {
                        id: r.get(0)?,
                        device_type: r.get(1)?,
                        prefix: r.get(2)?,
                        count,
                        created_by: r.get(4)?,
                        station_id: r.get(5)?,
                        created_at: r.get(6)?,
                        lot: r.get(11)?,
                        work_order: r.get(12)?,
                        state,
                        ended_at: r.get(14)?,
                        ended_by: r.get(15)?,
                    },
                    flashed,
                    failed: r.get(8)?,
                    remaining,
                    deactivated,
                    first_device_id: r.get(9)?,
                    last_device_id: r.get(10)?,
                })
            })
            .map_err(|e| self.sql_err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sql_err(e))
    }
}

/// ` LIMIT n OFFSET m` for a page (no limit: everything from `offset`).
pub(crate) fn page_sql(limit: Option<u32>, offset: Option<u32>) -> String {
    match (limit, offset.unwrap_or(0)) {
        (None, 0) => String::new(),
        (None, o) => format!("LIMIT -1 OFFSET {o}"),
        (Some(l), o) => format!("LIMIT {l} OFFSET {o}"),
    }
}
