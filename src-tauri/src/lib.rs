//! DeviceHub Station's desktop app: a thin Tauri face of the service layer (`station-service`),
//! the same layer the `station` CLI adapts.
//!
//! Commands ([`commands`]) parse input, call the service (or the core's store for a plain read)
//! and return typed results; errors cross as [`error::AppError`] (a stable code, the typed reason
//! and action, a message). Flashing runs on the service's worker threads, which [`flashing`]
//! turns into [`events`]. The TypeScript bindings in
//! `ui/src/lib/bindings.ts` are generated from [`specta_builder`] and checked by a test.

pub mod commands;
pub mod dto;
pub mod error;
pub mod events;
pub mod flashing;
pub mod ports;
pub mod state;

use std::time::Instant;

use station_service::training;
use tauri::{AppHandle, Manager};
use tauri_specta::{collect_commands, collect_events, Event};

use crate::dto::{Look, Shift, StartupProblem};
use crate::events::{FlashFinished, FlashProgress, LabelPrinted, PortsChanged, ShiftChanged};
use crate::flashing::{Flasher, Sink};
use crate::state::{AppState, Startup};

/// Environment variable: `1` makes the UI keep a copy of every IPC payload it receives, for
/// the end-to-end suite's scan for secrets.
pub const IPC_AUDIT_ENV: &str = "STATION_IPC_AUDIT";

/// Where the generated bindings live, relative to this crate.
pub const BINDINGS_PATH: &str = "../ui/src/lib/bindings.ts";

/// Every command and event the UI may use; the one list both the app and the bindings use.
pub fn specta_builder() -> tauri_specta::Builder<tauri::Wry> {
    use commands::*;
    tauri_specta::Builder::<tauri::Wry>::new()
        .commands(collect_commands![
            station::startup_problem,
            station::retry_startup,
            station::app_info,
            station::ui_ready,
            station::list_ports,
            station::start_flash,
            station::busy_ports,
            station::pool_status,
            station::expect_ports,
            station::shift,
            station::new_shift,
            shift::operator_state,
            shift::sign_in,
            shift::sign_out,
            shift::set_sign_in_required,
            shift::shifts,
            shift::start_shift,
            shift::end_shift,
            shift::save_shift_report,
            shift::scan_unit_label,
            station::set_training_mode,
            line::start_gang,
            line::recent_results,
            line::station_choice,
            line::remember_station_choice,
            line::check_typed_port,
            batches::list_batches,
            batches::search_batches,
            batches::create_batch,
            batches::close_batch,
            batches::cancel_batch,
            batches::export_batch,
            devices::search_devices,
            devices::device_detail,
            devices::identify_unit,
            devices::deactivate_device,
            sync::sync_status,
            sync::sync_retry,
            settings::get_settings,
            settings::change_setting,
            settings::list_types,
            settings::add_type,
            settings::edit_type,
            labels::label_printer,
            labels::set_label_printer,
            labels::label_template,
            labels::set_label_template,
            labels::label_preview,
            labels::reprint_label,
        ])
        .events(collect_events![
            FlashProgress,
            FlashFinished,
            PortsChanged,
            ShiftChanged,
            LabelPrinted
        ])
        // Ids and counts stay far below 2^53: plain numbers are right for them in the UI.
        .dangerously_cast_bigints_to_number()
        // One TypeScript type per Rust type (they serialise and deserialise alike).
        .disable_serde_phases()
}

/// The TypeScript exporter the bindings are made with.
pub fn typescript() -> specta_typescript::Typescript {
    specta_typescript::Typescript::default()
        .header("// Generated from src-tauri by `UPDATE_BINDINGS=1 cargo test -p station-app --test bindings`. Do not edit.\n// @ts-nocheck")
}

/// Emits a flash's progress and result to the window.
pub struct TauriSink {
    app: AppHandle,
}

impl TauriSink {
    pub fn new(app: AppHandle) -> Self {
        TauriSink { app }
    }
}

impl Sink for TauriSink {
    fn progress(&self, p: FlashProgress) {
        if let Err(e) = p.emit(&self.app) {
            tracing::warn!(error = %e, "cannot send flash progress to the window");
        }
    }

    fn finished(&self, f: FlashFinished) {
        // A verified flash queued a record for the server: send it now rather than at the
        // worker's next idle check.
        if let Some(state) = self.app.try_state::<AppState>() {
            state.sync.wake();
        }
        if let Err(e) = f.emit(&self.app) {
            tracing::warn!(error = %e, "cannot send a flash result to the window");
        }
    }

    fn shift(&self, s: Shift) {
        if let Err(e) = ShiftChanged(s).emit(&self.app) {
            tracing::warn!(error = %e, "cannot send the shift counters to the window");
        }
    }

    fn label(&self, l: LabelPrinted) {
        if let Err(e) = l.emit(&self.app) {
            tracing::warn!(error = %e, "cannot send the label's outcome to the window");
        }
    }
}

/// Opens the station's database and starts what runs beside the window (the flasher, the sync
/// worker, the port watcher). Fails only before anything was started, so it can be tried again.
pub fn start_station(app: &AppHandle, started: Instant) -> Result<(), StartupProblem> {
    let db_path = station_core::store::default_db_path().map_err(|e| StartupProblem {
        error: e.into(),
        database_path: None,
    })?;
    let problem = |e: station_core::CoreError| StartupProblem {
        error: e.into(),
        database_path: Some(db_path.display().to_string()),
    };
    let mut production = station_core::Store::open(&db_path).map_err(problem)?;
    // A station token older versions kept in the database moves to the credential store now.
    if let Err(e) = station_sync::credential_store::retire_database_token(&mut production) {
        tracing::warn!(error = %e, "the station token left in the station database");
    }
    let mode = training::app_mode(&production).map_err(problem)?;
    drop(production);
    let store = training::open(&db_path, mode).map_err(problem)?;
    let flasher = Flasher::new(store.path().to_path_buf(), mode);
    let audit = std::env::var(IPC_AUDIT_ENV).is_ok_and(|v| v == "1");
    tracing::info!(db = %store.path().display(), training = mode.is_training(), "station app starting");
    app.manage(AppState::new(
        store,
        db_path.clone(),
        mode,
        flasher,
        started,
        audit,
    ));
    let handle = app.clone();
    let watcher = ports::spawn_watcher(move |arrived, left| {
        if let Err(e) = (PortsChanged { arrived, left }).emit(&handle) {
            tracing::warn!(error = %e, "cannot send a port change to the window");
        }
    });
    if let Err(e) = watcher {
        // The port list still works when asked for; only plug events are missed.
        tracing::warn!(error = %e, "cannot watch for ports arriving and leaving");
    }
    Ok(())
}

fn setup(app: &mut tauri::App, started: Instant) -> tauri::Result<()> {
    let problem = start_station(app.handle(), started).err();
    if let Some(p) = &problem {
        // The window shows this, with what to do and "Try again".
        tracing::error!(code = ?p.error.code, error = %p.error.message, "the station cannot start");
    }
    app.manage(Startup {
        started,
        problem: std::sync::Mutex::new(problem),
    });
    let look = app.try_state::<AppState>().and_then(|s| match s.look() {
        Ok(look) => Some(look),
        Err(e) => {
            tracing::warn!(error = %e.message, "cannot read the screens' language and colours");
            None
        }
    });
    open_window(app, look)
}

/// The page global that carries the saved [`Look`] (read by `ui/src/lib/appearance.svelte.ts`).
const LOOK_GLOBAL: &str = "__STATION_LOOK__";

/// The script that hands the window the saved look before any of the page's own code runs.
fn look_script(look: &Look) -> String {
    let json = serde_json::to_string(look).unwrap_or_else(|_| "null".into());
    format!("window.{LOOK_GLOBAL} = Object.freeze({json});")
}

/// Opens the window of `tauri.conf.json` (created here, not by Tauri, so that it can carry the
/// saved look from its first paint). Without a station (a startup problem) the page follows
/// the computer's language and colours, as it does until the settings are read.
fn open_window(app: &tauri::App, look: Option<Look>) -> tauri::Result<()> {
    let config = app
        .config()
        .app
        .windows
        .first()
        .cloned()
        .ok_or_else(|| tauri::Error::WindowNotFound)?;
    let mut window = tauri::WebviewWindowBuilder::from_config(app.handle(), &config)?;
    if let Some(look) = &look {
        window = window.initialization_script(look_script(look));
    }
    window.build()?;
    Ok(())
}

/// The context tauri-build generated (config, embedded UI, icons, permissions).
#[allow(clippy::unwrap_used)] // generated code
fn context() -> tauri::Context<tauri::Wry> {
    tauri::tauri_build_context!()
}

/// Keeps WebKitGTK's accelerated compositing on when set to `on` (it is off otherwise).
pub const WEBKIT_COMPOSITING_ENV: &str = "STATION_WEBKIT_COMPOSITING";

/// The station's screens are flat 2D with no animation worth a GPU layer, and factory PCs and
/// VMs often render GL in software (Mesa's llvmpipe). There WebKitGTK's compositing redraws the
/// whole window through GL for every change, and its two llvmpipe threads take the cores the
/// flashing threads wait for: on the 2-core VM under Xvfb they used about 0.35 s of CPU per
/// 8-port press of 0.5 s (README, "Click to PASS"). WebKit reads the variable when its first web
/// view starts, so this runs before anything else; an operator's own
/// `WEBKIT_DISABLE_COMPOSITING_MODE` is left alone.
fn draw_without_compositing() {
    #[cfg(target_os = "linux")]
    {
        let station = std::env::var(WEBKIT_COMPOSITING_ENV).ok();
        let webkit_set = std::env::var_os(WEBKIT_DISABLE_COMPOSITING_ENV).is_some();
        if turn_compositing_off(station.as_deref(), webkit_set) {
            // Still one thread: nothing else reads the environment yet.
            std::env::set_var(WEBKIT_DISABLE_COMPOSITING_ENV, "1");
        }
    }
}

/// WebKitGTK's own switch, read by its web process.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub const WEBKIT_DISABLE_COMPOSITING_ENV: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";

/// Whether the app sets WebKit's switch: unless the station's variable says `on`, or the
/// operator already set WebKit's variable either way.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn turn_compositing_off(station: Option<&str>, webkit_set: bool) -> bool {
    station != Some("on") && !webkit_set
}

/// Start the app; returns when its window is closed.
pub fn run() {
    let started = Instant::now();
    draw_without_compositing();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STATION_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let builder = specta_builder();
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .invoke_handler(builder.invoke_handler())
        .setup(move |app| {
            builder.mount_events(app);
            setup(app, started)?;
            Ok(())
        })
        .run(context());
    if let Err(e) = result {
        eprintln!("error: the station app stopped: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::{look_script, turn_compositing_off, Look};
    use crate::dto::{Language, Theme};

    #[test]
    fn the_window_gets_the_saved_look_in_the_settings_own_words() {
        let script = look_script(&Look {
            language: Language::SimplifiedChinese,
            theme: Theme::Dark,
        });
        assert_eq!(
            script,
            r#"window.__STATION_LOOK__ = Object.freeze({"language":"zh-CN","theme":"dark"});"#
        );
    }

    #[test]
    fn compositing_is_off_unless_kept_on_or_already_chosen() {
        assert!(turn_compositing_off(None, false));
        assert!(turn_compositing_off(Some("off"), false));
        assert!(!turn_compositing_off(Some("on"), false));
        // The operator's own WEBKIT_DISABLE_COMPOSITING_MODE (even 0) is left as it is.
        assert!(!turn_compositing_off(None, true));
    }
}
