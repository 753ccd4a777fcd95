//! The outbox: the queue of changes the central server must hear of.
//!
//! Every such change is queued in `outbox` in the same transaction as the change
//! (`devices::enqueue_sync`). The record sent is built from the device row when it is sent, so
//! no secret sits in the outbox: several queued changes of one device go as one record whose
//! `revision` is the newest outbox id. Until the server acknowledges a generation, the record
//! carries its api key (django-devicehub stores and compares api keys in plaintext): sealed to
//! the server's key once sync has one (`api_key_sealed` + `seal_key_fingerprint`, never
//! `api_key`), in plaintext before that; once acknowledged, the station keeps only the
//! fingerprint. The plaintext MQTT password is never
//! stored, so it can never be in a record. A temporary failure schedules a retry; a refusal waits
//! for a person. The HTTP side lives in the `station-sync` crate; the sync configuration, id
//! leases and server reports are the store's `sync_config`, `leases` and `server_status`.

use std::fmt;

use rusqlite::params;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::Result;
use crate::store::{now, Store};

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
    /// Present until the server has acknowledged this generation, when the station holds it
    /// in plaintext (no seal key yet). Never together with `api_key_sealed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<WireSecret>,
    /// The api key sealed to the server (`crate::seal`), until acknowledged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_sealed: Option<String>,
    /// The fingerprint of the server key `api_key_sealed` was sealed to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seal_key_fingerprint: Option<String>,
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

pub(crate) fn to_u32(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

const RECORD_SELECT: &str = "SELECT d.id, t.name, d.device_id, d.name, d.status, d.is_active,
        d.mqtt_username, d.mqtt_password_hash, d.api_key, d.api_key_fingerprint, d.generation,
        d.firmware_version, d.id_prefix, d.id_number, d.metadata, d.batch_id, d.station_id,
        d.hardware_id, d.operator, d.flashed_at, d.api_key_sealed, d.seal_key_fingerprint,
        d.unit_serial
    FROM devices d JOIN device_types t ON t.id = d.type_id WHERE d.id = ?1";

/// A device with pending changes: what its record is sent as (revision, attempts so far).
struct QueueHead {
    device_pk: i64,
    revision: i64,
    attempts: u32,
}

/// The record for one [`RECORD_SELECT`] row; `None` when the device has no credentials in force.
fn record_from_row(
    r: &rusqlite::Row<'_>,
    head: &QueueHead,
) -> rusqlite::Result<Option<OutboxRecord>> {
    let Some(hash) = r.get::<_, Option<String>>(7)? else {
        return Ok(None);
    };
    let api_key: Option<String> = r.get(8)?;
    let generation = to_u32(r.get(10)?);
    Ok(Some(OutboxRecord {
        device_pk: head.device_pk,
        attempts: head.attempts,
        revision: head.revision,
        device_type: r.get(1)?,
        device_id: r.get(2)?,
        name: r.get(3)?,
        status: r.get(4)?,
        is_active: r.get(5)?,
        mqtt_username: r.get(6)?,
        mqtt_password_hash: hash,
        api_key: api_key.map(|k| WireSecret(Zeroizing::new(k))),
        api_key_sealed: r.get(20)?,
        seal_key_fingerprint: r.get(21)?,
        api_key_fingerprint: r.get::<_, Option<String>>(9)?.unwrap_or_default(),
        generation,
        firmware_version: r.get(11)?,
        id_prefix: r.get(12)?,
        id_number: r.get::<_, Option<i64>>(13)?.map(|n| n as u64),
        metadata: record_metadata(r, generation)?,
    }))
}

/// The device's metadata object (an empty one if it is not an object) with where, when and by
/// whom the device was made, and the unit's label (`unit_serial`, once scanned or linked).
fn record_metadata(r: &rusqlite::Row<'_>, generation: u32) -> rusqlite::Result<serde_json::Value> {
    let metadata: String = r.get(14)?;
    let mut metadata: serde_json::Value =
        serde_json::from_str(&metadata).unwrap_or_else(|_| serde_json::json!({}));
    if !metadata.is_object() {
        metadata = serde_json::json!({});
    }
    let extra = serde_json::json!({
        "batch": r.get::<_, Option<i64>>(15)?,
        "station": r.get::<_, String>(16)?,
        "hardware_id": r.get::<_, Option<String>>(17)?,
        "operator": r.get::<_, String>(18)?,
        "flashed_at": r.get::<_, Option<String>>(19)?,
        "generation": generation,
        "unit_serial": r.get::<_, Option<String>>(22)?,
    });
    if let (Some(m), Some(e)) = (metadata.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            m.insert(k.clone(), v.clone());
        }
    }
    Ok(metadata)
}

impl Store {
    /// The next records to send: one per device with pending changes, oldest first, at most
    /// `limit`. With `due_only`, changes whose retry time has not come are left out.
    pub fn outbox_next_batch(&self, limit: usize, due_only: bool) -> Result<Vec<OutboxRecord>> {
        let heads = self.outbox_heads(limit, due_only)?;
        let mut out = Vec::with_capacity(heads.len());
        let mut stmt = self
            .conn()
            .prepare_cached(RECORD_SELECT)
            .map_err(|e| self.sql_err(e))?;
        for head in heads {
            let record = stmt
                .query_row([head.device_pk], |r| record_from_row(r, &head))
                .map_err(|e| self.sql_err(e))?;
            match record {
                Some(record) => out.push(record),
                // Queued without credentials in force: nothing the server could use.
                None => {
                    tracing::warn!(
                        device_pk = head.device_pk,
                        "outbox entry for a device without credentials"
                    );
                }
            }
        }
        Ok(out)
    }

    /// One [`QueueHead`] per device with pending changes, oldest first, at most `limit`.
    fn outbox_heads(&self, limit: usize, due_only: bool) -> Result<Vec<QueueHead>> {
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
                Ok(QueueHead {
                    device_pk: r.get(0)?,
                    revision: r.get(1)?,
                    attempts: to_u32(r.get(2)?),
                })
            })
            .map_err(|e| self.sql_err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sql_err(e))?;
        Ok(heads)
    }

    /// Settle what the server answered, in one transaction: acknowledged records are done (and
    /// their api key dropped, keeping the fingerprint, when the acknowledged generation is still
    /// the one in force; a pending generation's key is untouched); refused ones wait for a person.
    /// Cleared keys are then checkpointed out of the WAL (once per call, never per flash).
    pub fn outbox_settle(&mut self, acks: &[Ack], rejects: &[Reject]) -> Result<()> {
        let ts = now();
        let cleared = self.write(|tx| {
            let mut cleared = 0;
            for a in acks {
                tx.prepare_cached(
                    "UPDATE outbox SET state = 'done', done_at = ?3, last_error = NULL
                     WHERE device_pk = ?1 AND id <= ?2 AND state IN ('pending', 'rejected')",
                )?
                .execute(params![a.device_pk, a.revision, ts])?;
                cleared += tx
                    .prepare_cached(
                        "UPDATE devices SET api_key = NULL, api_key_sealed = NULL,
                             seal_key_fingerprint = NULL
                         WHERE id = ?1 AND generation = ?2
                           AND (api_key IS NOT NULL OR api_key_sealed IS NOT NULL)
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
            Ok(cleared)
        })?;
        if cleared > 0 {
            self.checkpoint_truncate();
        }
        Ok(())
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

    /// Api keys still held in readable form (in force or pending; none once sync has a seal
    /// key): for the status screens, which say so with sync off, and for tests.
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{batch, store};

    #[test]
    fn a_linked_unit_serial_reaches_the_server_in_a_newer_record() {
        let (_dir, mut store, actor) = store();
        let ids = batch(&mut store, &actor, 2, true);
        let records = store.outbox_next_batch(10, true).expect("batch");
        assert_eq!(records[0].metadata["unit_serial"], serde_json::Value::Null);
        let acks: Vec<Ack> = records
            .iter()
            .map(|r| Ack {
                device_pk: r.device_pk,
                revision: r.revision,
                generation: r.generation,
            })
            .collect();
        store.outbox_settle(&acks, &[]).expect("settle");
        assert!(store.outbox_next_batch(10, true).expect("batch").is_empty());

        store
            .link_unit_serial(&ids[0], "aabbccddee01", &actor)
            .expect("link");
        let again = store.outbox_next_batch(10, true).expect("batch");
        assert_eq!(again.len(), 1, "only the linked device is sent again");
        assert_eq!(again[0].device_id, ids[0]);
        assert_eq!(again[0].metadata["unit_serial"], "AA:BB:CC:DD:EE:01");
        assert_eq!(
            again[0].generation, records[0].generation,
            "same credentials"
        );
        assert!(again[0].revision > records[0].revision);
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
