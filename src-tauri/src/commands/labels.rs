//! Labels: the printer and a template per device type (Settings, with a preview), and a reprint
//! from the device screen. The service lays out, draws and sends (`station_service::labels`).

use base64::Engine;
use station_core::labels::{LabelPrinter, LabelTemplate};
use station_core::settings::{self as registry, key};
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
    state
        .db(move |s| {
            let values = [
                (key::LABEL_OUTPUT, printer.output.as_str().to_owned()),
                (key::LABEL_PRINTER, printer.address.trim().to_owned()),
                (key::LABEL_QUEUE, printer.queue.trim().to_owned()),
                (
                    key::LABEL_ON_PASS,
                    registry::on_off(printer.on_pass).to_owned(),
                ),
            ];
            for (k, v) in &values {
                registry::find(k)?.check(v)?;
            }
            for (k, v) in &values {
                s.set_setting(k, v)?;
            }
            s.label_printer()
        })
        .await
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
        .db(move |s| {
            let preview = preview(s, &device_type, template.clone())?;
            s.set_label_template(&device_type, &template)?;
            Ok(preview)
        })
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
    let label = Label::with_template(&labels::sample_device(s, device_type)?, template)?;
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
