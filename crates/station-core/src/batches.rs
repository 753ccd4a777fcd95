//! Production batches ("50 weather stations, prefix farm-") and their ids.
//!
//! Ids are `{prefix}{type_name}-{NNN}`. Asked for N, a batch creates exactly N devices,
//! numbered after the highest existing number for that prefix and type: a number is never
//! reused and an existing device is never touched (django-devicehub's `iot_provision` counts
//! instead, and skips, so it can create fewer than asked).

use rayon::prelude::*;
use rusqlite::{params, Transaction};
use serde::Serialize;

use crate::credentials::{self, IssuedCredentials};
use crate::devices::{enqueue_sync, event, record_event, Actor};
use crate::error::{CoreError, Result};
use crate::naming;
use crate::store::sealing::api_key_at_rest;
use crate::store::{now, Store};
use crate::types::DeviceType;

/// The most devices one batch may hold: more is a typing mistake, not a production run.
pub const MAX_BATCH_COUNT: u32 = 10_000;

#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    pub id: i64,
    pub device_type: String,
    pub prefix: String,
    pub count: u32,
    pub created_by: String,
    pub station_id: String,
    pub created_at: String,
}

/// A batch with how far it has come.
#[derive(Debug, Clone, Serialize)]
pub struct BatchProgress {
    #[serde(flatten)]
    pub batch: Batch,
    pub flashed: u32,
    pub failed: u32,
    pub remaining: u32,
    pub first_device_id: Option<String>,
    pub last_device_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct BatchRequest {
    pub device_type: String,
    pub prefix: String,
    pub count: u32,
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
                "INSERT INTO batches(type_id, prefix, count, created_by, station_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    device_type.id,
                    req.prefix,
                    req.count,
                    actor.operator,
                    actor.station_id,
                    ts
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
            };
            Ok((batch, devices))
        })?;
        Ok(CreatedBatch {
            batch,
            device_type,
            devices,
        })
    }

    pub fn list_batches(&self) -> Result<Vec<BatchProgress>> {
        self.query_batches("1 = 1", [])
    }

    pub fn find_batch(&self, id: i64) -> Result<BatchProgress> {
        self.query_batches("b.id = ?1", [id])?
            .pop()
            .ok_or_else(|| CoreError::NotFound {
                what: "batch",
                key: id.to_string(),
            })
    }

    fn query_batches<P: rusqlite::Params>(
        &self,
        clause: &str,
        args: P,
    ) -> Result<Vec<BatchProgress>> {
        let sql = format!(
            "SELECT b.id, t.name, b.prefix, b.count, b.created_by, b.station_id, b.created_at,
                 (SELECT count(*) FROM devices d WHERE d.batch_id = b.id AND d.flash_state = 'flashed'),
                 (SELECT count(*) FROM devices d WHERE d.batch_id = b.id AND d.flash_state = 'failed'),
                 (SELECT min(device_id) FROM devices d WHERE d.batch_id = b.id),
                 (SELECT max(device_id) FROM devices d WHERE d.batch_id = b.id)
             FROM batches b JOIN device_types t ON t.id = b.type_id WHERE {clause} ORDER BY b.id"
        );
        let mut stmt = self.conn().prepare(&sql).map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map(args, |r| {
                let count: u32 = r.get(3)?;
                let flashed: u32 = r.get(7)?;
                Ok(BatchProgress {
                    batch: Batch {
                        id: r.get(0)?,
                        device_type: r.get(1)?,
                        prefix: r.get(2)?,
                        count,
                        created_by: r.get(4)?,
                        station_id: r.get(5)?,
                        created_at: r.get(6)?,
                    },
                    flashed,
                    failed: r.get(8)?,
                    remaining: count.saturating_sub(flashed),
                    first_device_id: r.get(9)?,
                    last_device_id: r.get(10)?,
                })
            })
            .map_err(|e| self.sql_err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sql_err(e))
    }
}
