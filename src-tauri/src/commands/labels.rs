//! Labels: the printer and a template per device type (Settings, with a preview), and a reprint
//! from the device screen. The service lays out, draws and sends (`station_service::labels`).

use base64::Engine;
use station_core::labels::{LabelPrinter, LabelTemplate};
use station_service::labels::{self, Label};
use tauri::State;

use crate::dto::LabelPreview;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

#[tauri::command]
#[specta::specta]
pub async fn label_printer(state: State<'_, AppState>) -> AppResult<LabelPrinter> {
    state.db(|s| s.label_printer()).await
}

/// Store the label printer; every value is checked first, so a refused one changes nothing.
#[tauri::command]
#[specta::specta]
pub async fn set_label_printer(
    state: State<'_, AppState>,
    printer: LabelPrinter,
) -> AppResult<LabelPrinter> {
    state.db(move |s| s.set_label_printer(&printer)).await
}

#[tauri::command]
#[specta::specta]
pub async fn label_template(
    state: State<'_, AppState>,
    device_type: String,
) -> AppResult<LabelTemplate> {
    state.db(move |s| s.label_template(&device_type)).await
}

/// Give a device type its template; one that cannot be laid out is refused, changing nothing.
#[tauri::command]
#[specta::specta]
pub async fn set_label_template(
    state: State<'_, AppState>,
    device_type: String,
    template: LabelTemplate,
) -> AppResult<LabelPreview> {
    state
        .db(move |s| preview_of(&labels::set_template(s, &device_type, template)?))
        .await
}

/// The label `template` gives a made-up device of `device_type`, as Settings shows it.
#[tauri::command]
#[specta::specta]
pub async fn label_preview(
    state: State<'_, AppState>,
    device_type: String,
    template: LabelTemplate,
) -> AppResult<LabelPreview> {
    state.db(move |s| preview(s, &device_type, template)).await
}

fn preview(
    s: &station_core::Store,
    device_type: &str,
    template: LabelTemplate,
) -> Result<LabelPreview, station_core::CoreError> {
    preview_of(&Label::with_template(
        &labels::sample_device(s, device_type)?,
        template,
    )?)
}

fn preview_of(label: &Label) -> Result<LabelPreview, station_core::CoreError> {
    let png = label.preview_png()?;
    Ok(LabelPreview {
        png_data_url: format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(png)
        ),
        qr_payload: label.layout.qr.as_ref().map(|q| q.payload.clone()),
        width_dots: label.layout.width,
        height_dots: label.layout.height,
    })
}

/// Print a device's label again. The database is read, then let go while the printer answers.
#[tauri::command]
#[specta::specta]
pub async fn reprint_label(state: State<'_, AppState>, device_id: String) -> AppResult<()> {
    let (printer, label) = state.db(move |s| labels::print_job(s, &device_id)).await?;
    tauri::async_runtime::spawn_blocking(move || labels::send_label(&printer, &label))
        .await
        .map_err(|e| AppError::internal(format!("the print task failed: {e}")))?
        .map_err(AppError::from)
}
