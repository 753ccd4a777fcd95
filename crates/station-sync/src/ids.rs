//! Id numbers for several stations: the server leases each station blocks of numbers for
//! `{prefix}{type}-NNN` ids; with no block at hand (offline), the core mints from the
//! station's own offline range instead (`station_core::store::leases::OFFLINE_SPAN`). Either way two
//! stations never mint the same id. The minting itself is `station_core`'s (one place); this
//! module only fetches blocks ahead of time.

use std::time::Duration;

use serde::Serialize;
use station_core::Store;

use crate::api::LeaseRequest;
use crate::client::Client;
use crate::config::SyncConfig;
use crate::error::Result;

/// Numbers asked for at a time (more when a batch needs more).
pub const LEASE_BLOCK: u64 = 100;
/// A (type, prefix) with fewer numbers left than this is topped up after a sync.
pub const LEASE_LOW_WATER: u64 = 20;
/// An operator is waiting while a lease is asked for before a batch: fail over to the
/// offline range quickly.
pub const LEASE_TIMEOUT: Duration = Duration::from_secs(5);
/// The server's limit per lease.
pub const MAX_LEASE: u64 = 10_000;

/// Where the ids of the next batch or flash will come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "source")]
pub enum IdSource {
    /// Sync is off: numbered after the highest in this station's database.
    Local,
    /// From a block the server leased to this station.
    Leased,
    /// From this station's offline range, because no block could be had.
    Offline { reason: String },
}

fn lease_block(
    store: &mut Store,
    client: &Client,
    device_type: &str,
    prefix: &str,
    count: u64,
) -> Result<()> {
    let local_highest = store.local_highest_number(device_type, prefix)?;
    let lease = client.lease(&LeaseRequest {
        device_type,
        prefix,
        count: count.clamp(1, MAX_LEASE),
        local_highest,
    })?;
    store.add_id_lease(device_type, prefix, lease.start, lease.end)?;
    tracing::info!(
        device_type,
        prefix,
        start = lease.start,
        end = lease.end,
        "id block leased"
    );
    Ok(())
}

/// Make sure `count` ids of `{prefix}{type}-NNN` can come from a leased block: call before
/// `Store::create_batch`, `station provision` or a flash of a new device. Never fails for
/// network reasons: it then says the ids will come from the offline range.
pub fn prepare_ids(
    store: &mut Store,
    device_type: &str,
    prefix: &str,
    count: u32,
) -> Result<IdSource> {
    let Some(mut config) = SyncConfig::load(store)? else {
        return Ok(IdSource::Local);
    };
    let count = u64::from(count);
    if store.id_lease_room(device_type, prefix)? >= count {
        return Ok(IdSource::Leased);
    }
    config.timeout = config.timeout.min(LEASE_TIMEOUT);
    let attempt = Client::new(&config).and_then(|client| {
        lease_block(store, &client, device_type, prefix, count.max(LEASE_BLOCK))
    });
    match attempt {
        Ok(()) => Ok(IdSource::Leased),
        Err(crate::SyncError::Store(e)) => Err(e.into()),
        Err(e) => {
            tracing::warn!(error = %e, "no id block from the server: using the offline range");
            Ok(IdSource::Offline {
                reason: e.to_string(),
            })
        }
    }
}

/// Lease a fresh block for every (type, prefix) this station uses that is running low.
/// Returns how many blocks were leased.
pub fn top_up(store: &mut Store, client: &Client) -> Result<u32> {
    let mut added = 0;
    for (device_type, prefix) in store.id_prefixes_in_use()? {
        if store.id_lease_room(&device_type, &prefix)? < LEASE_LOW_WATER {
            lease_block(store, client, &device_type, &prefix, LEASE_BLOCK)?;
            added += 1;
        }
    }
    Ok(added)
}
