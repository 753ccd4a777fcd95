//! The commands the UI calls. Each parses its input, calls the core (through
//! [`crate::state::AppState::db`] or the flasher) and maps the result; nothing else lives here.

pub mod batches;
pub mod devices;
pub mod labels;
pub mod line;
pub mod settings;
pub mod shift;
pub mod station;
pub mod sync;

/// Asks where to save a file through the native save dialog (`title`, a suggested `file_name`,
/// one filter `kind` for `ext`); `None` when the person cancels. The dialog blocks until they
/// answer, so it never runs on the window's thread.
pub(crate) async fn ask_save_path(
    app: tauri::AppHandle,
    title: String,
    file_name: String,
    kind: &'static str,
    ext: &'static str,
) -> crate::error::AppResult<Option<std::path::PathBuf>> {
    use tauri_plugin_dialog::DialogExt;
    let path = tauri::async_runtime::spawn_blocking(move || {
        app.dialog()
            .file()
            .set_title(title)
            .set_file_name(file_name)
            .add_filter(kind, &[ext])
            .blocking_save_file()
    })
    .await
    .map_err(|e| crate::error::AppError::internal(format!("the save dialog failed: {e}")))?;
    path.map(|p| {
        p.into_path().map_err(|e| {
            crate::error::AppError::internal(format!("the save dialog returned no file path: {e}"))
        })
    })
    .transpose()
}
