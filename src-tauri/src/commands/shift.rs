//! Operator sign-in, shifts and their saved reports, and scan to link: the service's
//! (`station_service::{operator, shifts, links}`), the same as the CLI's.

use station_core::settings::{self as registry, key};
use station_core::shift_export::ReportFormat as CoreReportFormat;
use station_service::{operator, shifts as service};
use tauri::{AppHandle, State};

use crate::dto::{ExportDone, ReportFormat, ScanLink, ShiftReport, Shifts, SignInState};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// How many past shifts the Shift screen lists.
const PAST_SHIFTS: u32 = 50;

#[tauri::command]
#[specta::specta]
pub async fn operator_state(state: State<'_, AppState>) -> AppResult<SignInState> {
    state.db(|s| Ok(operator::signed_in(s)?.into())).await
}

/// Sign in with a name or a badge (a scanner types it and Enter).
#[tauri::command]
#[specta::specta]
pub async fn sign_in(state: State<'_, AppState>, name: String) -> AppResult<SignInState> {
    state
        .db(move |s| Ok(operator::sign_in(s, &name)?.into()))
        .await
}

#[tauri::command]
#[specta::specta]
pub async fn sign_out(state: State<'_, AppState>) -> AppResult<SignInState> {
    state.db(|s| Ok(operator::sign_out(s)?.into())).await
}

/// The lead's rule: no flash starts without a signed-in operator.
#[tauri::command]
#[specta::specta]
pub async fn set_sign_in_required(state: State<'_, AppState>, on: bool) -> AppResult<SignInState> {
    state
        .db(move |s| {
            s.set_setting(key::OPERATOR_REQUIRED, registry::on_off(on))?;
            Ok(operator::signed_in(s)?.into())
        })
        .await
}

fn shifts_now(s: &station_core::Store) -> Result<Shifts, station_core::CoreError> {
    Ok(Shifts {
        running: service::running(s)?
            .map(|r| ShiftReport::new(s, r))
            .transpose()?,
        past: s
            .shift_reports(PAST_SHIFTS)?
            .into_iter()
            .map(|r| ShiftReport::new(s, r))
            .collect::<Result<_, _>>()?,
    })
}

#[tauri::command]
#[specta::specta]
pub async fn shifts(state: State<'_, AppState>) -> AppResult<Shifts> {
    state.db(|s| shifts_now(s)).await
}

#[tauri::command]
#[specta::specta]
pub async fn start_shift(state: State<'_, AppState>) -> AppResult<Shifts> {
    state
        .db(|s| {
            service::start(s, None)?;
            shifts_now(s)
        })
        .await
}

/// End the running shift (the screen asked "End shift? N passed, M failed" first); its report
/// is saved.
#[tauri::command]
#[specta::specta]
pub async fn end_shift(state: State<'_, AppState>) -> AppResult<Shifts> {
    state
        .db(|s| {
            service::end(s)?;
            shifts_now(s)
        })
        .await
}

/// Ask where to save shift `id`'s report (CSV, or the printable page), then write it there.
/// `None` when the person cancels the dialog.
#[tauri::command]
#[specta::specta]
pub async fn save_shift_report(
    app: AppHandle,
    state: State<'_, AppState>,
    id: i64,
    format: ReportFormat,
) -> AppResult<Option<ExportDone>> {
    let report = state.db(move |s| s.shift_report(id)).await?;
    let (ext, name, core) = match format {
        ReportFormat::Csv => ("csv", "CSV", CoreReportFormat::Csv),
        ReportFormat::Page => ("html", "printable page", CoreReportFormat::Html),
    };
    let file_name = format!("shift-{}-{}.{ext}", report.id, report.station_id);
    let Some(path) = super::ask_save_path(
        app,
        format!("Save the report of shift {id} as {name}"),
        file_name,
        name,
        ext,
    )
    .await?
    else {
        return Ok(None);
    };
    let shown = path.clone();
    let rows = state
        .db(move |s| station_core::shift_export::save(s, &[report], core, &path))
        .await?;
    Ok(Some(ExportDone::new(&shown, rows)))
}

/// The unit's own serial or MAC label, scanned on the Station screen for `port`: linked to
/// the device just flashed there, or to the port's next pass.
#[tauri::command]
#[specta::specta]
pub async fn scan_unit_label(
    state: State<'_, AppState>,
    port: String,
    serial: String,
) -> AppResult<ScanLink> {
    let flasher = state.flasher.service_arc();
    tauri::async_runtime::spawn_blocking(move || {
        Ok(flasher.scan_unit_label(&port, &serial)?.into())
    })
    .await
    .map_err(|e| AppError::internal(format!("the scan task failed: {e}")))?
}
