//! The Sync screen's state: the service's one sync-health model (`station_sync::status`, the
//! same `station sync status` prints), from the station database (the background worker,
//! `station_sync::Worker`, and `station sync` write it). "Retry now" queues refused records
//! again and wakes the worker.

use station_core::CoreError;
use tauri::State;

use crate::dto::SyncStatus;
use crate::error::AppResult;
use crate::state::AppState;

fn status(store: &station_core::Store) -> Result<SyncStatus, CoreError> {
    Ok(station_sync::status(store).map_err(CoreError::from)?.into())
}

#[tauri::command]
#[specta::specta]
pub async fn sync_status(state: State<'_, AppState>) -> AppResult<SyncStatus> {
    state.db(|s| status(s)).await
}

/// Queue refused records again and send now; returns the state as it is at once (the worker
/// reports its result through the next `sync_status`).
#[tauri::command]
#[specta::specta]
pub async fn sync_retry(state: State<'_, AppState>) -> AppResult<SyncStatus> {
    let status = state
        .db(|s| {
            s.outbox_retry(None)?;
            status(s)
        })
        .await?;
    state.sync.wake();
    Ok(status)
}
