//! The Sync screen's state: the server the station is configured for, what waits in the
//! outbox, the last attempt and the server's own errors, all from the station database (the
//! background worker, `station_sync::Worker`, and `station sync` write them). "Retry now"
//! queues refused records again and wakes the worker.

use station_core::app::SyncOverview;
use tauri::State;

use crate::dto::{SyncConnection, SyncStatus};
use crate::error::AppResult;
use crate::state::AppState;

fn status(o: SyncOverview) -> SyncStatus {
    let (connection, summary) = match (&o.server_url, &o.last_error) {
        (None, _) => (
            SyncConnection::Off,
            "Sync is off: no server configured".to_owned(),
        ),
        (Some(_), Some(e)) => (
            SyncConnection::Error,
            format!("The last attempt failed: {e}"),
        ),
        (Some(url), None) if o.last_success_at.is_some() => {
            (SyncConnection::Connected, format!("Sending to {url}"))
        }
        (Some(url), None) => (
            SyncConnection::NotRunning,
            format!("A server is configured ({url}); nothing has been sent yet"),
        ),
    };
    SyncStatus::new(connection, summary, o)
}

#[tauri::command]
#[specta::specta]
pub async fn sync_status(state: State<'_, AppState>) -> AppResult<SyncStatus> {
    Ok(status(state.db(|s| s.sync_overview()).await?))
}

/// Queue refused records again and send now; returns the state as it is at once (the worker
/// reports its result through the next `sync_status`).
#[tauri::command]
#[specta::specta]
pub async fn sync_retry(state: State<'_, AppState>) -> AppResult<SyncStatus> {
    let overview = state
        .db(|s| {
            s.outbox_retry(None)?;
            s.sync_overview()
        })
        .await?;
    state.sync.wake();
    Ok(status(overview))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overview(url: Option<&str>, error: Option<&str>, success: Option<&str>) -> SyncOverview {
        SyncOverview {
            server_url: url.map(Into::into),
            token_set: url.is_some(),
            pending: 3,
            rejected: 1,
            last_attempt_at: None,
            last_success_at: success.map(Into::into),
            last_error: error.map(Into::into),
            rejected_records: Vec::new(),
        }
    }

    #[test]
    fn sync_is_off_until_a_server_is_configured() {
        let s = status(overview(None, None, None));
        assert_eq!(s.connection, SyncConnection::Off);
        assert_eq!(s.summary, "Sync is off: no server configured");
        assert_eq!(s.queue_length, 3);
    }

    #[test]
    fn the_servers_own_error_is_shown() {
        let s = status(overview(
            Some("https://hub/"),
            Some("HTTP 403: token revoked"),
            None,
        ));
        assert_eq!(s.connection, SyncConnection::Error);
        assert!(s.summary.contains("HTTP 403: token revoked"));
        let s = status(overview(
            Some("https://hub/"),
            None,
            Some("2026-11-26T10:00:00Z"),
        ));
        assert_eq!(s.connection, SyncConnection::Connected);
    }
}
