//! The Batches screen: create, progress, export through a native save dialog.

use station_core::export::{self, ExportFormat as CoreFormat};
use station_core::{BatchFilter, BatchProgress, BatchRequest, DeviceFilter, Store};
use tauri::{AppHandle, State};

use crate::dto::{Batch, BatchPage, BatchQuery, EndedBatch, ExportDone, ExportFormat, NewBatch};
use crate::error::AppResult;
use crate::state::AppState;

/// A batch as the screens show it, with the device its next flash takes (from the batch
/// already read, not a second read of it).
fn with_next(s: &Store, b: BatchProgress) -> Result<Batch, station_core::CoreError> {
    let next = s.next_in_batch_of(&b)?;
    Ok(Batch::new(b, next))
}

#[tauri::command]
#[specta::specta]
pub async fn list_batches(state: State<'_, AppState>) -> AppResult<Vec<Batch>> {
    state
        .db(|s| {
            s.list_batches()?
                .into_iter()
                .rev()
                .map(|b| with_next(s, b))
                .collect()
        })
        .await
}

/// How many batches one page of the Batches screen holds at most.
const BATCH_PAGE_LIMIT: u32 = 100;

/// A page of batches, newest first, with how many match in all.
#[tauri::command]
#[specta::specta]
pub async fn search_batches(state: State<'_, AppState>, query: BatchQuery) -> AppResult<BatchPage> {
    let filter = BatchFilter {
        // The store trims the search and drops an empty one.
        search: query.search,
        limit: Some(
            query
                .limit
                .unwrap_or(BATCH_PAGE_LIMIT)
                .min(BATCH_PAGE_LIMIT),
        ),
        offset: query.offset,
    };
    state
        .db(move |s| {
            let (page, total) = s.search_batches(&filter)?;
            let batches = page
                .into_iter()
                .map(|b| with_next(s, b))
                .collect::<Result<Vec<_>, station_core::CoreError>>()?;
            Ok(BatchPage {
                batches,
                total: u32::try_from(total).unwrap_or(u32::MAX),
            })
        })
        .await
}

/// Close a batch: no more devices are issued; its unflashed devices stay as they are.
#[tauri::command]
#[specta::specta]
pub async fn close_batch(state: State<'_, AppState>, batch_id: i64) -> AppResult<EndedBatch> {
    state
        .db(move |s| Ok(station_service::records::close_batch(s, batch_id, None)?.into()))
        .await
}

/// Cancel a batch, after the screen's confirmation: its unflashed devices are deactivated
/// (never deleted), its flashed devices stay.
#[tauri::command]
#[specta::specta]
pub async fn cancel_batch(
    state: State<'_, AppState>,
    batch_id: i64,
    reason: String,
) -> AppResult<EndedBatch> {
    let ended = state
        .db(move |s| Ok(station_service::records::cancel_batch(s, batch_id, &reason, None)?.into()))
        .await?;
    // A device the server holds that the cancel deactivated is sent at once.
    state.sync.wake();
    Ok(ended)
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
                lot: batch.lot,
                work_order: batch.work_order,
            };
            // Ids are leased from the server first, as the CLI's `batch create` does; an
            // offline range is logged (the batch is still right).
            let (progress, ids) = station_service::records::create_batch(s, &request, None)?;
            if let Some(note) = station_service::ids::note(&ids) {
                tracing::warn!("{note}");
            }
            with_next(s, progress)
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
    let Some(path) = super::ask_save_path(
        app,
        format!("Export batch {batch_id} as {name}"),
        file_name,
        name,
        ext,
    )
    .await?
    else {
        return Ok(None);
    };
    let core_format = match format {
        ExportFormat::Csv => CoreFormat::Csv,
        ExportFormat::Json => CoreFormat::Json,
    };
    let shown = path.clone();
    let rows = state
        .db(move |s| {
            let filter = DeviceFilter {
                batch_id: Some(batch_id),
                ..DeviceFilter::default()
            };
            export::export_to_file(s, &filter, core_format, &path)
        })
        .await?;
    Ok(Some(ExportDone::new(&shown, rows)))
}
