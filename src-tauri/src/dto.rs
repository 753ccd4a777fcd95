//! What the UI receives and sends: the IPC contract, exported to TypeScript.
//!
//! Records are the public faces of the core's types, built field by field, so what crosses to
//! the webview is chosen here and nowhere else; plain enums and value types (which hold no
//! secret) are the core's own, exported as they are. No type in this module can hold a
//! password, an api key or the server token: the core's [`station_core::IssuedCredentials`]
//! is never converted.

use serde::{Deserialize, Serialize};
use specta::Type;
use station_core::app::AppSettings;
pub use station_core::appearance::{Language, Theme};
use station_core::driver::{DriverKind, DriverSpec};
pub use station_core::settings::SimFault;
use station_core::shift::ShiftCounters;
use station_core::{devices, BatchProgress, DeviceType};

/// The core's batch lifecycle, exported as it is.
pub use station_core::BatchState;
pub use station_sync::Health;

/// The core's own types, exported as they are: they hold nothing the UI may not see.
pub use station_core::devices::{DeviceEvent, DeviceStatus, FlashState, SyncState};
pub use station_core::labels::{LabelField, LabelOutput, LabelPrinter, LabelTemplate};
pub use station_core::store::server_status::ServerReport;
pub use station_core::Topics;

/// A label as Settings previews it: the picture (1:1 in printer dots) and what its QR code says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct LabelPreview {
    pub png_data_url: String,
    pub qr_payload: Option<String>,
    pub width_dots: u32,
    pub height_dots: u32,
}

/// One device as the screens show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Device {
    pub device_id: String,
    pub name: String,
    pub device_type: String,
    pub batch_id: Option<i64>,
    pub status: DeviceStatus,
    pub is_active: bool,
    pub firmware_version: String,
    pub mqtt_username: String,
    pub topics: Topics,
    pub generation: u32,
    pub has_credentials: bool,
    pub pending_generation: Option<u32>,
    pub flash_state: FlashState,
    pub flash_error: Option<String>,
    pub hardware_id: Option<String>,
    pub flashed_at: Option<String>,
    pub rotation_due: bool,
    pub station_id: String,
    pub operator: String,
    pub sync_state: SyncState,
    pub created_at: String,
    pub updated_at: String,
    /// The unit's own serial or MAC label (scan to link).
    pub unit_serial: Option<String>,
    /// Its batch's lot and work order, when given.
    pub lot: Option<String>,
    pub work_order: Option<String>,
}

impl From<devices::Device> for Device {
    fn from(d: devices::Device) -> Self {
        Device {
            device_id: d.device_id,
            name: d.name,
            device_type: d.device_type,
            batch_id: d.batch_id,
            status: d.status,
            is_active: d.is_active,
            firmware_version: d.firmware_version,
            mqtt_username: d.mqtt_username,
            topics: d.topics,
            generation: d.generation,
            has_credentials: d.has_credentials,
            pending_generation: d.pending_generation,
            flash_state: d.flash_state,
            flash_error: d.flash_error,
            hardware_id: d.hardware_id,
            flashed_at: d.flashed_at,
            rotation_due: d.rotation_due,
            station_id: d.station_id,
            operator: d.operator,
            sync_state: d.sync_state,
            created_at: d.created_at,
            updated_at: d.updated_at,
            unit_serial: d.unit_serial,
            lot: d.lot,
            work_order: d.work_order,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct DeviceDetail {
    pub device: Device,
    pub history: Vec<DeviceEvent>,
    /// What the central server last reported (status, last seen); `None` until a sync asked.
    pub server: Option<ServerReport>,
}

/// What the Devices screen searches for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct DeviceQuery {
    /// Part of the device id, name, hardware id or unit serial.
    pub search: Option<String>,
    pub status: Option<DeviceStatus>,
    pub flash_state: Option<FlashState>,
    pub batch_id: Option<i64>,
    pub active: Option<bool>,
    pub limit: Option<u32>,
    /// Skip this many matches first (the next page).
    pub offset: Option<u32>,
}

/// One page of a device search and how many match in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct DevicePage {
    pub devices: Vec<Device>,
    pub total: u32,
}

/// What the Batches screen lists: a page, newest first, optionally matching a search (lot, work
/// order, prefix, type or batch number).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct BatchQuery {
    pub search: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// One page of batches and how many match in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct BatchPage {
    pub batches: Vec<Batch>,
    pub total: u32,
}

/// A closed or cancelled batch and the devices it left unflashed (still there after a close,
/// deactivated after a cancel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct EndedBatch {
    pub batch: Batch,
    pub unflashed: Vec<String>,
}

impl From<station_core::EndedBatch> for EndedBatch {
    /// An ended batch issues no device next.
    fn from(e: station_core::EndedBatch) -> Self {
        EndedBatch {
            batch: Batch::new(e.batch, None),
            unflashed: e.unflashed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Batch {
    pub id: i64,
    pub device_type: String,
    pub prefix: String,
    pub count: u32,
    pub created_by: String,
    pub station_id: String,
    pub created_at: String,
    pub flashed: u32,
    pub failed: u32,
    pub remaining: u32,
    pub first_device_id: Option<String>,
    pub last_device_id: Option<String>,
    /// The device the next flash of this batch takes.
    pub next_device_id: Option<String>,
    pub lot: Option<String>,
    pub work_order: Option<String>,
    pub state: BatchState,
    /// When and by whom it was closed or cancelled.
    pub ended_at: Option<String>,
    pub ended_by: Option<String>,
    /// Its devices that were deactivated (a cancelled batch's unflashed ones).
    pub deactivated: u32,
}

impl Batch {
    pub fn new(p: BatchProgress, next_device_id: Option<String>) -> Self {
        Batch {
            id: p.batch.id,
            device_type: p.batch.device_type,
            prefix: p.batch.prefix,
            count: p.batch.count,
            created_by: p.batch.created_by,
            station_id: p.batch.station_id,
            created_at: p.batch.created_at,
            flashed: p.flashed,
            failed: p.failed,
            remaining: p.remaining,
            first_device_id: p.first_device_id,
            last_device_id: p.last_device_id,
            next_device_id,
            lot: p.batch.lot,
            work_order: p.batch.work_order,
            state: p.batch.state,
            ended_at: p.batch.ended_at,
            ended_by: p.batch.ended_by,
            deactivated: p.deactivated,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct NewBatch {
    pub device_type: String,
    pub prefix: String,
    pub count: u32,
    /// The lot and work order the batch belongs to (blank or `None`: not given).
    pub lot: Option<String>,
    pub work_order: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Csv,
    Json,
}

/// A finished export; `None` from the command when the person cancelled the dialog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct ExportDone {
    pub path: String,
    pub rows: u32,
}

impl ExportDone {
    /// `rows` written to `path`.
    pub fn new(path: &std::path::Path, rows: u64) -> Self {
        Self {
            path: path.display().to_string(),
            rows: rows.min(u64::from(u32::MAX)) as u32,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct DeviceTypeInfo {
    pub name: String,
    pub app_label: String,
    pub topic_prefix: String,
    pub topic_template: String,
    pub broker_host: String,
    pub broker_port: u16,
    pub broker_tls: bool,
    /// The driver that writes this type's units: "protocol", "nvs" or "mcumgr".
    pub driver: String,
    /// The driver's settings, a JSON object.
    pub driver_settings: String,
}

impl From<DeviceType> for DeviceTypeInfo {
    fn from(t: DeviceType) -> Self {
        DeviceTypeInfo {
            name: t.name,
            app_label: t.app_label,
            topic_prefix: t.topic_prefix,
            topic_template: t.topic_template,
            broker_host: t.broker_host,
            broker_port: t.broker_port,
            broker_tls: t.broker_tls,
            driver: t.driver.kind.as_str().to_owned(),
            driver_settings: t.driver.settings,
        }
    }
}

/// A device type to add, or the new values of one to edit (`name` picks it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct DeviceTypeInput {
    pub name: String,
    pub app_label: String,
    pub topic_prefix: Option<String>,
    pub topic_template: Option<String>,
    pub broker_host: Option<String>,
    pub broker_port: Option<u16>,
    pub broker_tls: Option<bool>,
    /// The driver by name; `None` keeps it (edit) or takes the protocol (add).
    pub driver: Option<String>,
    /// The driver's settings as a JSON object; `None` keeps them.
    pub driver_settings: Option<String>,
}

impl DeviceTypeInput {
    /// The driver asked for, over `current` (the type's, on edit); `None` when unchanged.
    pub fn driver_spec(
        &self,
        current: Option<DriverSpec>,
    ) -> station_core::Result<Option<DriverSpec>> {
        if self.driver.is_none() && self.driver_settings.is_none() {
            return Ok(None);
        }
        let current = current.unwrap_or_else(DriverSpec::protocol);
        let kind = match &self.driver {
            Some(name) => DriverKind::parse(name)?,
            None => current.kind,
        };
        let settings = match &self.driver_settings {
            Some(text) => text.clone(),
            None if kind == current.kind => current.settings,
            None => "{}".into(),
        };
        Ok(Some(DriverSpec { kind, settings }))
    }
}

/// Every setting the Settings screen shows. Of the server token only where it is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Settings {
    pub station_name: String,
    pub operator: String,
    pub hash_algorithm: String,
    /// What the station uses while no hash algorithm is set (the registry's default).
    pub hash_algorithm_default: String,
    pub server_url: String,
    /// Where the station token is kept, e.g. "stored in the Secret Service (the desktop
    /// keyring)"; `None`: no token for this station. Never any part of the token.
    pub server_token_store: Option<String>,
    /// What sync to this server is warned about (plain http to another machine).
    pub server_warnings: Vec<String>,
    pub sounds: bool,
    pub auto_flash: bool,
    pub sim_ports: u32,
    pub sim_fault: SimFault,
    /// The faults the simulated device can show.
    pub sim_faults: Vec<SimFault>,
    pub database_path: String,
    /// The screens' language; `auto` follows the computer.
    pub language: Language,
    /// The screens' colours; `auto` follows the computer.
    pub theme: Theme,
}

/// The screens' language and colours as saved: handed to the window before its first paint
/// (`window.__STATION_LOOK__`, read by `ui/src/lib/appearance.svelte.ts`), so a station set to
/// Chinese or dark never shows English or light while its settings are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Look {
    pub language: Language,
    pub theme: Theme,
}

/// The sync server as the Settings screen shows it: never the token, only where it is kept.
pub struct SyncServer {
    pub url: Option<String>,
    pub token_store: Option<String>,
    pub warnings: Vec<String>,
}

impl Settings {
    pub fn new(
        station_name: String,
        hash_algorithm: String,
        hash_algorithm_default: String,
        app: AppSettings,
        server: SyncServer,
        database_path: String,
    ) -> Self {
        Settings {
            station_name,
            operator: app.operator,
            hash_algorithm,
            hash_algorithm_default,
            server_url: server.url.unwrap_or_default(),
            server_token_store: server.token_store,
            server_warnings: server.warnings,
            sounds: app.sounds,
            auto_flash: app.auto_flash,
            sim_ports: app.sim_ports,
            sim_fault: app.sim_fault,
            sim_faults: SimFault::ALL.to_vec(),
            database_path,
            language: app.language,
            theme: app.theme,
        }
    }
}

/// One setting to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(tag = "key", content = "value", rename_all = "snake_case")]
pub enum SettingChange {
    StationName(String),
    Operator(String),
    HashAlgorithm(String),
    /// The sync server; an empty URL turns sync off (and deletes the token). The token is
    /// write-only (never read back); `None` keeps the one set before (refused when the server's
    /// host changes). `insecure_http` allows plain http to another machine (a test bench).
    SyncServer {
        url: String,
        token: Option<String>,
        insecure_http: bool,
    },
    Sounds(bool),
    AutoFlash(bool),
    SimPorts(u32),
    SimFault(SimFault),
    Language(Language),
    Theme(Theme),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum PortKind {
    /// A USB-serial bridge, with its USB identity.
    Usb,
    /// A serial port the OS lists without USB details (PCI UART, Bluetooth...).
    Serial,
    /// A simulated device running inside the app.
    Simulated,
    /// A path the person typed.
    Typed,
}

/// A port the station can flash through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Port {
    /// What to pass back to flash on it: a path (`/dev/ttyUSB0`, `COM3`) or `sim:N`.
    pub id: String,
    pub kind: PortKind,
    /// For a person: `/dev/ttyUSB0 · CP2102 USB to UART · 10c4:ea60 · serial 0001`.
    pub label: String,
    pub vid: Option<u16>,
    pub pid: Option<u16>,
    pub serial_number: Option<String>,
    pub product: Option<String>,
    pub manufacturer: Option<String>,
}

/// What a flash writes: a new device of a type, the next device of a batch, or new
/// credentials for the device a unit already holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FlashRequest {
    NewDevice {
        device_type: String,
        prefix: String,
    },
    NextInBatch {
        batch_id: i64,
    },
    /// Rotate and re-flash: the unit must hold exactly this device. `confirm_unbound`: the
    /// operator confirmed, in a dialog, re-flashing a device that has no unit on record should
    /// its unit be unable to prove possession. Auto-flash never sends this request.
    Reflash {
        device_id: String,
        #[serde(default)]
        confirm_unbound: bool,
    },
}

/// The credential pool, as the service reports it.
pub use station_service::PoolStatus;

/// A flash that was started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct FlashStarted {
    pub job_id: u32,
    pub port: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Shift {
    /// RFC 3339.
    pub started_at: String,
    pub passed: u32,
    pub failed: u32,
    /// Passed units per hour; `None` in the shift's first minute.
    pub per_hour: Option<u32>,
}

impl From<ShiftCounters> for Shift {
    fn from(c: ShiftCounters) -> Self {
        Shift {
            started_at: c.started_at_rfc3339(),
            passed: c.passed,
            failed: c.failed,
            per_hour: c.per_hour_now(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
/// A change the server refused, with its own reason.
pub struct SyncError {
    pub device_id: String,
    /// The server's own message.
    pub message: String,
    pub at: String,
}

/// The Sync screen's state: the service's one sync-health model (`station_sync::SyncStatus`,
/// what `station sync status` prints), with what the screen shows of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct SyncStatus {
    pub connection: Health,
    /// One sentence for the screen, e.g. "Sync is off: no server configured".
    pub summary: String,
    pub server_url: Option<String>,
    /// Where the station token is kept (never any part of it).
    pub token_store: Option<String>,
    /// Shown at every look: plain http to another machine.
    pub warnings: Vec<String>,
    pub queue_length: u32,
    pub rejected: u32,
    pub last_attempt_at: Option<String>,
    pub last_success_at: Option<String>,
    /// The last failure, with the server's own message.
    pub last_error: Option<String>,
    /// Its typed kind (`unreachable`, `unauthorized`, `server_unavailable`, ...): the screen says
    /// it in words with what to do, the text above as the details.
    pub last_error_code: Option<String>,
    /// Refused changes, newest first.
    pub errors: Vec<SyncError>,
}

/// How many refused changes the screen lists.
const SYNC_ERRORS_SHOWN: usize = 10;

impl From<station_sync::SyncStatus> for SyncStatus {
    fn from(s: station_sync::SyncStatus) -> Self {
        SyncStatus {
            connection: s.health,
            summary: s.summary,
            server_url: s.server_url,
            token_store: s.token_store,
            warnings: s.warnings,
            queue_length: s.outbox.pending.min(u32::MAX as u64) as u32,
            rejected: s.outbox.rejected.min(u32::MAX as u64) as u32,
            last_attempt_at: s.last_attempt_at,
            last_success_at: s.last_success_at,
            last_error: s.last_error,
            last_error_code: s.last_error_code,
            errors: s
                .rejected
                .into_iter()
                .take(SYNC_ERRORS_SHOWN)
                .map(|e| SyncError {
                    device_id: e.device_id,
                    message: e.reason,
                    at: e.queued_at,
                })
                .collect(),
        }
    }
}

/// What the app tells the UI once at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct AppInfo {
    pub version: String,
    pub station_name: String,
    pub database_path: String,
    /// Milliseconds from the process start to this call.
    pub uptime_ms: u32,
    /// Set when `STATION_IPC_AUDIT=1`: the UI keeps a copy of every IPC payload for the E2E
    /// suite's secret scan.
    pub ipc_audit: bool,
    /// Training mode: simulated units, a database of its own that never syncs. The window
    /// shows a TRAINING banner throughout.
    pub training: bool,
}

/// Why the station could not start (its database cannot be opened or made), for the window to
/// show instead of its screens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct StartupProblem {
    pub error: crate::error::AppError,
    /// The database file it tried, when one was chosen.
    pub database_path: Option<String>,
}

/// What a unit holds, read on the Devices screen ("which device is this?").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct UnitInfo {
    pub port: String,
    pub hardware_id: String,
    pub firmware_version: String,
    /// The device id the unit holds, as the unit says; `None`: a blank unit.
    pub device_id: Option<String>,
    pub generation: Option<u32>,
    /// Whether this station has a record of that device (then the screen opens it).
    pub known: bool,
    /// Unconfirmed flashes this contact settled.
    pub recovered: Vec<String>,
}

impl UnitInfo {
    pub fn new(port: String, r: station_core::flash::UnitReport) -> Self {
        UnitInfo {
            port,
            hardware_id: r.hardware_id,
            firmware_version: r.firmware_version,
            device_id: r.device_id,
            generation: r.generation,
            known: r.device.is_some(),
            recovered: r.recovered.into_iter().map(|(id, _)| id).collect(),
        }
    }
}

/// Who is signed in at the station, and whether the lead requires a sign-in to flash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct SignInState {
    /// `None`: nobody is signed in.
    pub operator: Option<String>,
    pub required: bool,
}

impl From<station_service::operator::SignIn> for SignInState {
    fn from(s: station_service::operator::SignIn) -> Self {
        SignInState {
            operator: s.operator,
            required: s.required,
        }
    }
}

pub use station_core::shift::ReasonCount;

/// A shift's report as the Shift screen shows it; times in the station's local time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
pub struct ShiftReport {
    pub id: i64,
    pub station_id: String,
    /// `YYYY-MM-DD hh:mm:ss`, local.
    pub started_at: String,
    /// `None` while the shift runs.
    pub ended_at: Option<String>,
    /// The offset of those times from UTC, `+hh:mm`.
    pub utc_offset: String,
    pub operators: Vec<String>,
    pub passed: u32,
    pub failed: u32,
    pub failed_by_reason: Vec<ReasonCount>,
    pub units_attempted: u32,
    pub first_pass_passed: u32,
    pub first_pass_yield_percent: Option<f64>,
    pub units_per_hour: Option<f64>,
}

impl ShiftReport {
    pub fn new(
        store: &station_core::Store,
        r: station_core::shift::ShiftReport,
    ) -> Result<Self, station_core::CoreError> {
        let times = station_core::shift_export::report_times(store, &r)?;
        Ok(ShiftReport {
            id: r.id,
            station_id: r.station_id,
            started_at: times.started.text,
            ended_at: times.ended.map(|t| t.text),
            utc_offset: times.started.utc_offset,
            operators: r.operators,
            passed: r.passed,
            failed: r.failed,
            failed_by_reason: r.failed_by_reason,
            units_attempted: r.units_attempted,
            first_pass_passed: r.first_pass_passed,
            first_pass_yield_percent: r.first_pass_yield_percent,
            units_per_hour: r.units_per_hour,
        })
    }
}

/// The Shift screen: the running shift (if any) and the saved reports, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
pub struct Shifts {
    pub running: Option<ShiftReport>,
    pub past: Vec<ShiftReport>,
}

/// How a saved shift report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    Csv,
    /// A printable HTML page (print CSS).
    Page,
}

/// What a scan on the Station screen did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScanLink {
    /// Linked to the device just flashed on the port.
    Linked { serial: String, device_id: String },
    /// Waiting for the port's next pass.
    Waiting { serial: String, port: String },
}

impl From<station_service::links::ScanLink> for ScanLink {
    fn from(s: station_service::links::ScanLink) -> Self {
        use station_service::links::ScanLink as S;
        match s {
            S::Linked { serial, device_id } => ScanLink::Linked { serial, device_id },
            S::Waiting { serial, port } => ScanLink::Waiting { serial, port },
        }
    }
}

/// How a scan waiting for the port's next pass ended when it passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LinkOnPass {
    Linked {
        serial: String,
        device_id: String,
    },
    /// Not linked (another device took the serial meanwhile); the flash stands.
    Refused {
        serial: String,
        problem: String,
    },
}

impl From<station_service::links::LinkOnPass> for LinkOnPass {
    fn from(l: station_service::links::LinkOnPass) -> Self {
        use station_service::links::LinkOnPass as L;
        match l {
            L::Linked { serial, device_id } => LinkOnPass::Linked { serial, device_id },
            L::Refused { serial, problem } => LinkOnPass::Refused { serial, problem },
        }
    }
}
