//! The Station screen: ports, starting flashes, the shift's counters.

use std::sync::Arc;

use station_service::training::{self, Mode};
use tauri::{AppHandle, Manager, State};

use crate::dto::{AppInfo, FlashRequest, FlashStarted, PoolStatus, Port, Shift, StartupProblem};
use crate::error::{AppError, AppResult};
use crate::ports;
use crate::state::{AppState, Startup};
use crate::TauriSink;

fn uptime_ms(state: &AppState) -> u32 {
    state.started.elapsed().as_millis().min(u32::MAX as u128) as u32
}

/// Why the station could not start, or `None` once it runs: the window asks this first.
#[tauri::command]
#[specta::specta]
pub fn startup_problem(startup: State<'_, Startup>) -> AppResult<Option<StartupProblem>> {
    let problem = startup
        .problem
        .lock()
        .map_err(|_| AppError::internal("the startup state is poisoned"))?;
    Ok(problem.clone())
}

/// Try to start again once the person has done what the problem said (closed the other
/// program, freed disk space, restored the file). `None`: the station runs now.
#[tauri::command]
#[specta::specta]
pub async fn retry_startup(app: AppHandle) -> AppResult<Option<StartupProblem>> {
    tauri::async_runtime::spawn_blocking(move || {
        let startup = app.state::<Startup>();
        let mut problem = startup
            .problem
            .lock()
            .map_err(|_| AppError::internal("the startup state is poisoned"))?;
        if problem.is_some() {
            *problem = crate::start_station(&app, startup.started).err();
        }
        Ok(problem.clone())
    })
    .await
    .map_err(|e| AppError::internal(format!("the start task failed: {e}")))?
}

/// Who and where this station is, once at start.
#[tauri::command]
#[specta::specta]
pub async fn app_info(state: State<'_, AppState>) -> AppResult<AppInfo> {
    let station_name = state.db(|s| s.station_id()).await?;
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        station_name,
        database_path: state.db_path.display().to_string(),
        uptime_ms: uptime_ms(&state),
        ipc_audit: state.ipc_audit,
        training: state.mode.is_training(),
    })
}

/// The UI calls this once the Station screen can be used; returns the milliseconds since the
/// process started (launch-to-interactive time), which is also logged.
#[tauri::command]
#[specta::specta]
pub async fn ui_ready(state: State<'_, AppState>) -> AppResult<u32> {
    let ms = uptime_ms(&state);
    tracing::info!(ms, "station screen interactive");
    Ok(ms)
}

/// The ports to offer: USB-serial ports found now, then the simulated bench as the service
/// decides (in training; outside it only while no real port exists).
#[tauri::command]
#[specta::specta]
pub async fn list_ports(state: State<'_, AppState>) -> AppResult<Vec<Port>> {
    let sim_ports = state.db(|s| Ok(s.app_settings()?.sim_ports)).await?;
    let mut ports = tauri::async_runtime::spawn_blocking(ports::machine_ports)
        .await
        .unwrap_or_default();
    let offered = training::simulated_ports_offered(state.mode, ports.len(), sim_ports);
    ports.extend(ports::simulated(offered));
    Ok(ports)
}

/// Turn training mode on or off: kept in the station's own database, then the app restarts
/// into it (every screen, the database and the flasher change together). Refused while a
/// flash runs.
#[tauri::command]
#[specta::specta]
pub async fn set_training_mode(
    app: AppHandle,
    state: State<'_, AppState>,
    on: bool,
) -> AppResult<()> {
    if !state.flasher.busy_ports().is_empty() {
        return Err(station_core::CoreError::Conflict {
            problem: "A flash is running.".into(),
            fix: "wait for it to finish, then switch training mode".into(),
        }
        .into());
    }
    let mode = if on { Mode::Training } else { Mode::Production };
    let production = state.production_db.clone();
    tauri::async_runtime::spawn_blocking(move || training::set_app_mode(&production, mode))
        .await
        .map_err(|e| AppError::internal(format!("a database task failed: {e}")))??;
    app.restart()
}

/// Start flashing the unit on `port`; progress and the result arrive as events. Refused
/// when that port is already flashing.
#[tauri::command]
#[specta::specta]
pub async fn start_flash(
    app: AppHandle,
    state: State<'_, AppState>,
    port: String,
    request: FlashRequest,
) -> AppResult<FlashStarted> {
    state
        .flasher
        .start(&port, request, Arc::new(TauriSink::new(app)))
}

/// The ports with a flash running now.
#[tauri::command]
#[specta::specta]
pub async fn busy_ports(state: State<'_, AppState>) -> AppResult<Vec<String>> {
    Ok(state.flasher.busy_ports())
}

/// The credential pool: sets made ahead so a flash need not wait for a hash; `None` when
/// this station keeps none.
#[tauri::command]
#[specta::specta]
pub async fn pool_status(state: State<'_, AppState>) -> AppResult<Option<PoolStatus>> {
    Ok(state.flasher.pool_status())
}

/// The ports the operator is about to use (the Station screen's selection): the credential pool
/// keeps sets ready for each, so a gang press waits for no password hash. Returns the pool.
#[tauri::command]
#[specta::specta]
pub async fn expect_ports(
    state: State<'_, AppState>,
    ports: Vec<String>,
) -> AppResult<Option<PoolStatus>> {
    state.flasher.expect_ports(&ports);
    Ok(state.flasher.pool_status())
}

#[tauri::command]
#[specta::specta]
pub async fn shift(state: State<'_, AppState>) -> AppResult<Shift> {
    state.db(|s| Ok(s.shift()?.into())).await
}

/// Start counting a new shift from zero: the running shift ends (its report is saved) and a
/// new one starts.
#[tauri::command]
#[specta::specta]
pub async fn new_shift(state: State<'_, AppState>) -> AppResult<Shift> {
    state
        .db(|s| {
            if s.running_shift_id()?.is_some() {
                station_service::shifts::end(s)?;
            }
            station_service::shifts::start(s, None)?;
            s.shift()
        })
        .await
        .map(Into::into)
}
