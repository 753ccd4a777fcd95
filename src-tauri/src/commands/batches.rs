//! The Batches screen: create, progress, export through a native save dialog.

use station_core::export::{self, ExportFormat as CoreFormat};
use station_core::{BatchRequest, DeviceFilter};
use tauri::{AppHandle, State};
use tauri_plugin_dialog::DialogExt;

use crate::dto::{Batch, ExportDone, ExportFormat, NewBatch};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

#[tauri::command]
#[specta::specta]
pub async fn list_batches(state: State<'_, AppState>) -> AppResult<Vec<Batch>> {
    state
        .db(|s| {
            s.list_batches()?
                .into_iter()
                .rev()
                .map(|b| {
                    let next = s.next_in_batch(b.batch.id)?;
                    Ok(Batch::new(b, next))
                })
                .collect()
        })
        .await
}

/// Create a batch of exactly `count` devices (credentials are issued at flash time).
#[tauri::command]
#[specta::specta]
pub async fn create_batch(state: State<'_, AppState>, batch: NewBatch) -> AppResult<Batch> {
    state
        .db(move |s| {
            let request = BatchRequest {
                device_type: batch.device_type,
                prefix: batch.prefix,
                count: batch.count,
                with_credentials: false,
                lot: None,
                work_order: None,
            };
            // Ids are leased from the server first, as the CLI's `batch create` does; an
            // offline range is logged (the batch is still right).
            let (progress, ids) = station_service::records::create_batch(s, &request, None)?;
            if let Some(note) = station_service::ids::note(&ids) {
                tracing::warn!("{note}");
            }
            let next = s.next_in_batch(progress.batch.id)?;
            Ok(Batch::new(progress, next))
        })
        .await
}

/// Ask where to save the batch's devices, then write them there. `None` when the person
/// cancels the dialog.
#[tauri::command]
#[specta::specta]
pub async fn export_batch(
    app: AppHandle,
    state: State<'_, AppState>,
    batch_id: i64,
    format: ExportFormat,
) -> AppResult<Option<ExportDone>> {
    let batch = state.db(move |s| s.find_batch(batch_id)).await?;
    let (ext, name) = match format {
        ExportFormat::Csv => ("csv", "CSV"),
        ExportFormat::Json => ("json", "JSON"),
    };
    let file_name = format!(
        "batch-{}-{}.{ext}",
        batch.batch.id,
        batch.batch.device_type.to_lowercase()
    );
    // The dialog blocks until the person answers: never on the window's thread.
    let path = tauri::async_runtime::spawn_blocking(move || {
        app.dialog()
            .file()
            .set_title(format!("Export batch {batch_id} as {name}"))
            .set_file_name(file_name)
            .add_filter(name, &[ext])
            .blocking_save_file()
    })
    .await
    .map_err(|e| AppError::internal(format!("the save dialog failed: {e}")))?;
    let Some(path) = path else {
        return Ok(None);
    };
    let path = path
        .into_path()
        .map_err(|e| AppError::internal(format!("the save dialog returned no file path: {e}")))?;
    let core_format = match format {
        ExportFormat::Csv => CoreFormat::Csv,
        ExportFormat::Json => CoreFormat::Json,
    };
    let shown = path.display().to_string();
    let rows = state
        .db(move |s| {
            let filter = DeviceFilter {
                batch_id: Some(batch_id),
                ..DeviceFilter::default()
            };
            export::export_to_file(s, &filter, core_format, &path)
        })
        .await?;
    Ok(Some(ExportDone {
        path: shown,
        rows: rows.min(u32::MAX as u64) as u32,
    }))
}
