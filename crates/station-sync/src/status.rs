//! The sync state a person sees (`station sync status`, the desktop app's sync panel): is sync
//! on, what waits, what the server refused and why, when it last worked, the leased id blocks.
//! Read from the station database only, so it answers instantly and offline. Also the refresh
//! of device status and last_seen from the server, for the device screen.

use serde::Serialize;
use station_core::store::leases::IdLease;
use station_core::store::outbox::{OutboxCounts, RejectedRecord};
use station_core::store::sync_config::{config_key, runtime_key};
use station_core::Store;

use crate::client::Client;
use crate::config::SyncConfig;
use crate::error::Result;

/// How many refused records the status lists.
pub const REJECTED_SHOWN: u32 = 50;
/// Devices asked about per status request (the server's limit is 1000).
pub const STATUS_PAGE: u32 = 500;

/// One word for the state, for a badge in the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Sync is not configured.
    Off,
    /// Nothing waiting, nothing refused.
    Synced,
    /// Records wait; the last attempt did not fail.
    Pending,
    /// Records wait and the last attempt failed (offline, server error, token): retrying.
    Retrying,
    /// The server refused records: a person must act (`station sync retry` after fixing).
    NeedsAttention,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncStatus {
    pub health: Health,
    pub server_url: Option<String>,
    /// Only the token's first characters.
    pub token_hint: Option<String>,
    pub station_number: Option<u64>,
    /// As the server named this station at the last successful contact.
    pub server_station: Option<String>,
    pub tls_verify: bool,
    pub ca_file: Option<String>,
    pub batch_size: Option<usize>,
    pub outbox: OutboxCounts,
    pub rejected: Vec<RejectedRecord>,
    pub last_attempt_at: Option<String>,
    pub last_success_at: Option<String>,
    pub last_error: Option<String>,
    /// Type differences with the server found at the last catalog pull.
    pub catalog_notes: Option<String>,
    pub id_leases: Vec<IdLease>,
    /// Api keys the station still holds in plaintext (not yet acknowledged, or pending a flash).
    pub plaintext_api_keys: u64,
}

pub fn status(store: &Store) -> Result<SyncStatus> {
    let config = SyncConfig::load(store);
    let raw = store.sync_config()?;
    let runtime = store.sync_runtime()?;
    let outbox = store.outbox_counts()?;
    let rejected = store.outbox_rejected(REJECTED_SHOWN)?;
    let last_error = runtime.get(runtime_key::LAST_ERROR).cloned();
    let (configured, config_error) = match &config {
        Ok(Some(_)) => (true, None),
        Ok(None) => (false, None),
        Err(e) => (true, Some(e.to_string())),
    };
    let health = if !configured {
        Health::Off
    } else if outbox.rejected > 0 {
        Health::NeedsAttention
    } else if outbox.pending > 0 && (last_error.is_some() || config_error.is_some()) {
        Health::Retrying
    } else if outbox.pending > 0 {
        Health::Pending
    } else {
        Health::Synced
    };
    let config = config.ok().flatten();
    Ok(SyncStatus {
        health,
        server_url: raw.get(config_key::SERVER_URL).cloned(),
        token_hint: config.as_ref().map(|c| c.token.hint()),
        station_number: config.as_ref().map(|c| c.token.station_number()),
        server_station: runtime.get(runtime_key::SERVER_STATION).cloned(),
        tls_verify: config.as_ref().is_none_or(|c| c.tls_verify),
        ca_file: raw.get(config_key::CA_FILE).cloned(),
        batch_size: config.as_ref().map(|c| c.batch_size),
        outbox,
        rejected,
        last_attempt_at: runtime.get(runtime_key::LAST_ATTEMPT_AT).cloned(),
        last_success_at: runtime.get(runtime_key::LAST_SUCCESS_AT).cloned(),
        last_error: config_error.or(last_error),
        catalog_notes: runtime.get(runtime_key::CATALOG_NOTES).cloned(),
        id_leases: store.id_leases()?,
        plaintext_api_keys: store.plaintext_api_keys_held()?,
    })
}

/// Ask the server for the status and last_seen of every device it acknowledged; returns how
/// many it reported.
pub fn refresh_device_status(store: &mut Store, client: &Client) -> Result<u32> {
    let mut after: Option<String> = None;
    let mut updated = 0;
    loop {
        let page = store.synced_devices(after.as_deref(), STATUS_PAGE)?;
        let Some((_, last)) = page.last() else {
            break;
        };
        after = Some(last.clone());
        let answer = client.device_status(&page)?;
        updated += store.record_server_status(&answer.devices)?;
        if page.len() < STATUS_PAGE as usize {
            break;
        }
    }
    Ok(updated)
}
