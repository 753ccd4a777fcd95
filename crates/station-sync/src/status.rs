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

/// The one model of sync health, for `station sync status` and the app's Sync screen alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Sync is not configured.
    Off,
    /// Nothing waiting, nothing refused, and the last attempt did not fail.
    Synced,
    /// Records wait; the last attempt did not fail (or none was made yet).
    Pending,
    /// The last attempt could not reach the server (network, timeout, the server down or
    /// overloaded): the station keeps working and retries by itself.
    Offline,
    /// The server answered but will not take this station's requests (token, address,
    /// configuration): retrying alone will not help; a person must fix the setting.
    Failing,
    /// The server refused records: a person must act on each, then retry them.
    NeedsAttention,
}

impl Health {
    /// From what the station knows: whether sync is configured, the queue, and the code of the
    /// last failure (`None` when the last attempt worked).
    pub fn of(configured: bool, outbox: &OutboxCounts, last_error_code: Option<&str>) -> Health {
        if !configured {
            return Health::Off;
        }
        if outbox.rejected > 0 || last_error_code == Some(crate::error::SEAL_KEY_CHANGED) {
            return Health::NeedsAttention;
        }
        match last_error_code {
            Some(code) if OFFLINE_CODES.contains(&code) => Health::Offline,
            Some(_) => Health::Failing,
            None if outbox.pending > 0 => Health::Pending,
            None => Health::Synced,
        }
    }

    /// One sentence for a person (no command names: each face adds its own).
    pub fn summary(self, server_url: Option<&str>) -> String {
        let url = server_url.unwrap_or("the server");
        match self {
            Health::Off => "Sync is off: no server configured".into(),
            Health::Synced => format!("Everything is sent to {url}"),
            Health::Pending => format!("Changes wait to be sent to {url}"),
            Health::Offline => {
                format!("{url} cannot be reached; the station keeps working and retries by itself")
            }
            Health::Failing => format!("{url} does not accept this station; check its settings"),
            Health::NeedsAttention => format!("{url} refused some changes; each needs a look"),
        }
    }
}

/// Failure codes that mean "not reached", not "refused" ([`crate::SyncError::code`]).
const OFFLINE_CODES: &[&str] = &["unreachable", "server_unavailable", "database_busy"];

#[derive(Debug, Clone, Serialize)]
pub struct SyncStatus {
    pub health: Health,
    /// [`Health::summary`], for a person.
    pub summary: String,
    pub server_url: Option<String>,
    /// Where the station token is kept, e.g. "stored in the Secret Service (the desktop
    /// keyring)": never any part of the token itself. `None` when sync is off or none is kept.
    pub token_store: Option<String>,
    /// What a person is warned about at every sync (plain http to another machine).
    pub warnings: Vec<String>,
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
    /// The typed kind of the last failure ([`crate::SyncError::code`]), for words a person
    /// reads instead of the transport's text; `None` when the last attempt succeeded.
    pub last_error_code: Option<String>,
    /// Type differences with the server found at the last catalog pull.
    pub catalog_notes: Option<String>,
    pub id_leases: Vec<IdLease>,
    /// Api keys the station still holds in readable form (not yet acknowledged, or pending a
    /// flash): only before sync has a seal key. With sync off, [`SyncStatus::summary`] says so.
    pub plaintext_api_keys: u64,
    /// Api keys held sealed to the server's key, waiting to be sent.
    pub sealed_api_keys: u64,
    /// The server key api keys are sealed to (`sha256:<hex>`), once sync config fetched it.
    pub seal_key_fingerprint: Option<String>,
}

/// The summary with what a copied disk would give away: with sync off, api keys wait readable.
fn summary_with_readable_keys(health: Health, server_url: Option<&str>, readable: u64) -> String {
    let summary = health.summary(server_url);
    match (health, readable) {
        (_, 0) => summary,
        (Health::Off, 1) => format!("{summary}; 1 api key waits on this station in readable form"),
        (Health::Off, n) => {
            format!("{summary}; {n} api keys wait on this station in readable form")
        }
        _ => summary,
    }
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
        Err(e) => (true, Some(e)),
    };
    // A configuration the station cannot use fails every attempt: that is `Failing` too.
    let last_code = match (config_error, &last_error) {
        (Some(e), _) => Some(e.code().to_owned()),
        (None, Some(_)) => Some(
            runtime
                .get(runtime_key::LAST_ERROR_CODE)
                .cloned()
                .unwrap_or_else(|| "unknown".into()),
        ),
        (None, None) => None,
    };
    let health = Health::of(configured, &outbox, last_code.as_deref());
    let last_code = last_code.filter(|_| health != Health::Off);
    // A setting the station cannot use says what to do about it too.
    let config_error = config_error.map(|e| format!("{e}; {}", e.help()));
    let server_url = raw.get(config_key::SERVER_URL).cloned();
    let config = config.as_ref().ok().and_then(Option::as_ref);
    let plaintext_api_keys = store.plaintext_api_keys_held()?;
    Ok(SyncStatus {
        health,
        summary: summary_with_readable_keys(health, server_url.as_deref(), plaintext_api_keys),
        server_url,
        token_store: config.map(|c| c.token_source.to_string()),
        warnings: config.map(SyncConfig::warnings).unwrap_or_default(),
        station_number: config.map(|c| c.token.station_number()).or_else(|| {
            raw.get(config_key::STATION_NUMBER)
                .and_then(|n| n.parse().ok())
        }),
        server_station: runtime.get(runtime_key::SERVER_STATION).cloned(),
        tls_verify: config.is_none_or(|c| c.tls_verify),
        ca_file: raw.get(config_key::CA_FILE).cloned(),
        batch_size: config.map(|c| c.batch_size),
        outbox,
        rejected,
        last_attempt_at: runtime.get(runtime_key::LAST_ATTEMPT_AT).cloned(),
        last_success_at: runtime.get(runtime_key::LAST_SUCCESS_AT).cloned(),
        last_error: config_error.or(last_error),
        last_error_code: last_code,
        catalog_notes: runtime.get(runtime_key::CATALOG_NOTES).cloned(),
        id_leases: store.id_leases()?,
        plaintext_api_keys,
        sealed_api_keys: store.sealed_api_keys_held()?,
        seal_key_fingerprint: store.seal_key()?.map(|k| k.fingerprint().to_owned()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pending: u64, rejected: u64) -> OutboxCounts {
        OutboxCounts {
            pending,
            rejected,
            ..OutboxCounts::default()
        }
    }

    /// The app's Sync screen had an `Offline` state that nothing ever produced: a server that
    /// cannot be reached is `Offline`, one that refuses the station is `Failing`.
    #[test]
    fn an_unreachable_server_is_offline_and_a_refusing_one_is_failing() {
        assert_eq!(Health::of(false, &counts(3, 0), None), Health::Off);
        assert_eq!(Health::of(true, &counts(0, 0), None), Health::Synced);
        assert_eq!(Health::of(true, &counts(3, 0), None), Health::Pending);
        assert_eq!(
            Health::of(true, &counts(3, 0), Some("unreachable")),
            Health::Offline
        );
        assert_eq!(
            Health::of(true, &counts(3, 0), Some("server_unavailable")),
            Health::Offline
        );
        assert_eq!(
            Health::of(true, &counts(3, 0), Some("unauthorized")),
            Health::Failing
        );
        assert_eq!(
            Health::of(true, &counts(0, 2), Some("unreachable")),
            Health::NeedsAttention
        );
    }
}
