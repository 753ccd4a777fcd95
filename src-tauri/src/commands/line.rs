//! The Station screen's line state (issue 14): gang presses checked before any unit is touched,
//! the per-port recent results, the remembered choice of target and ports, typed port paths.
//! Each command adapts the service (`station_service`); nothing is decided here.

use std::collections::BTreeMap;
use std::sync::Arc;

use station_core::station_choice::StationChoice;
use station_service::recent::RecentResult;
use station_service::station_choice::{self, Remembered};
use tauri::{AppHandle, State};

use crate::dto::{FlashRequest, FlashStarted};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::TauriSink;

/// A gang press: `request` on every port at once, checked first (each port once, the target
/// valid, a device left in the batch for every port). A refusal starts nothing; its error's
/// `not_started` names the control to fix.
#[tauri::command]
#[specta::specta]
pub async fn start_gang(
    app: AppHandle,
    state: State<'_, AppState>,
    ports: Vec<String>,
    request: FlashRequest,
) -> AppResult<Vec<FlashStarted>> {
    state
        .flasher
        .start_gang(&ports, request, Arc::new(TauriSink::new(app)))
}

/// The last results of each port (newest first): PASS, FAIL and flashes that did not start.
/// Kept while the app runs; a restart starts empty.
#[tauri::command]
#[specta::specta]
pub async fn recent_results(
    state: State<'_, AppState>,
) -> AppResult<BTreeMap<String, Vec<RecentResult>>> {
    Ok(state.flasher.service().recent().all())
}

/// The Station screen's remembered choice, its target checked now: one that no longer exists
/// comes back as nothing chosen, with why.
#[tauri::command]
#[specta::specta]
pub async fn station_choice(state: State<'_, AppState>) -> AppResult<Remembered> {
    state.db(|s| station_choice::remembered(s)).await
}

/// Keep the Station screen's choice for the next start.
#[tauri::command]
#[specta::specta]
pub async fn remember_station_choice(
    state: State<'_, AppState>,
    choice: StationChoice,
) -> AppResult<()> {
    state
        .db(move |s| station_choice::remember(s, &choice))
        .await
}

/// A port path the operator typed, checked before it is offered: the path, trimmed, or why
/// not and what to do.
#[tauri::command]
#[specta::specta]
pub async fn check_typed_port(path: String) -> AppResult<String> {
    station_service::flasher::typed_port_path(&path).map_err(|e| AppError::not_started(&e))
}
