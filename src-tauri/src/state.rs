//! What the commands share: the station database (the same file the `station` CLI uses), the
//! flasher, and when the process started.
//!
//! Database work never runs on the thread that serves the window: [`AppState::db`] moves it
//! to a blocking worker, so a busy database (another station process writing) cannot freeze
//! the UI.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use station_core::{CoreError, Store};
use station_service::training::Mode;

use crate::dto::{Look, StartupProblem};
use crate::error::{AppError, AppResult};
use crate::flashing::Flasher;

/// Whether the station started: always managed, so the window can ask before anything else.
/// When the database cannot be opened the window shows why and what to do, with "Try again",
/// instead of an app that silently never opens.
pub struct Startup {
    pub started: Instant,
    /// `Some` until the station runs. Held while a start is attempted, so two "Try again"
    /// presses cannot start two stations.
    pub problem: Mutex<Option<StartupProblem>>,
}

pub struct AppState {
    /// The database the app works on: the station's own, or in training the training one.
    pub db_path: PathBuf,
    /// The station's own database, where the app's mode is kept.
    pub production_db: PathBuf,
    /// Training: simulated units, the training database, nothing synced, a banner throughout.
    pub mode: Mode,
    store: Arc<Mutex<Store>>,
    pub flasher: Flasher,
    /// The background sync worker; it idles while no server is configured.
    pub sync: station_sync::Worker,
    pub started: Instant,
    pub ipc_audit: bool,
}

impl AppState {
    pub fn new(
        store: Store,
        production_db: PathBuf,
        mode: Mode,
        flasher: Flasher,
        started: Instant,
        ipc_audit: bool,
    ) -> Self {
        let db_path = store.path().to_path_buf();
        AppState {
            production_db,
            mode,
            sync: station_sync::Worker::spawn(db_path.clone()),
            db_path,
            store: Arc::new(Mutex::new(store)),
            flasher,
            started,
            ipc_audit,
        }
    }

    /// The screens' language and colours as saved (read at once: the window waits for it).
    pub fn look(&self) -> AppResult<Look> {
        let store = self
            .store
            .lock()
            .map_err(|_| AppError::internal("the database handle is poisoned"))?;
        let app = store.app_settings()?;
        Ok(Look {
            language: app.language,
            theme: app.theme,
        })
    }

    /// Run `f` on the database, off the window's thread.
    pub async fn db<T, F>(&self, f: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, CoreError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tauri::async_runtime::spawn_blocking(move || {
            let mut store = store
                .lock()
                .map_err(|_| AppError::internal("the database handle is poisoned"))?;
            f(&mut store).map_err(AppError::from)
        })
        .await
        .map_err(|e| AppError::internal(format!("a database task failed: {e}")))?
    }
}
