//! Where new device id numbers come from when the station syncs with a central server.
//!
//! The server leases blocks of numbers for `{prefix}{type}-NNN` ids (`id_leases`); a batch or a
//! flash takes its numbers from a block with room for all of them, in the caller's transaction
//! (`allocate_synced`). With no such block the station mints from its own offline range
//! (`station_number * OFFLINE_SPAN + 1 ..`), which the server never leases, so two stations
//! never mint the same id. Numbers are only ever taken after the highest one this station holds
//! in a range, and a used-up block is dropped. With sync off the caller numbers locally.

use std::ops::Range;

use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;

use crate::error::{CoreError, Result};
use crate::naming;
use crate::store::sync_config::config_key;
use crate::store::{now, Store};
use crate::types::DeviceType;

/// Id numbers at or above this are station-scoped offline ranges: station `S` mints
/// `S * OFFLINE_SPAN + 1 ..` when it holds no leased block. The server never leases them.
pub const OFFLINE_SPAN: u64 = 1_000_000_000;
/// The highest station number (the server's MAX_STATION_NUMBER).
pub const MAX_STATION_NUMBER: u64 = 999_999;

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
            fix: "enter the station token again in the sync settings".into(),
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
            fix: "connect the station to its server so it can lease id numbers, then try again"
                .into(),
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

impl Store {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{batch, store};
    use crate::BatchRequest;

    #[test]
    fn free_run_starts_after_the_highest_used_number_in_range() {
        assert_eq!(free_run(&[], 10, 20, 10), Some(10));
        assert_eq!(free_run(&[], 10, 20, 11), None);
        assert_eq!(free_run(&[3, 12, 25], 10, 20, 5), Some(13));
        assert_eq!(free_run(&[3, 12, 25], 10, 20, 8), None);
        assert_eq!(free_run(&[19], 10, 20, 1), None);
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
                    lot: None,
                    work_order: None,
                },
                &actor,
            )
            .expect_err("refused");
        assert!(err.to_string().contains("station number"), "{err}");
    }
}
