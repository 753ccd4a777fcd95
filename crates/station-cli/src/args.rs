//! The `station` command line, as clap types. Parsing only: `main.rs` turns these into calls
//! on the core.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "station",
    version,
    about = "DeviceHub Station: provision devices for a django-devicehub server",
    long_about = "DeviceHub Station: provision devices for a django-devicehub server.\n\n\
        Exit codes: 0 ok; 1 verify: password does not match; 2 usage error; 3 not found or unknown \
        type; 4 invalid input, conflict or refused (sync: the server refused records); 5 database \
        problem (busy, read-only, damaged, disk full); 6 file could not be written; 7 device or \
        flash failure; 70 internal error; 75 sync: server unreachable or temporarily failing \
        (records wait in the outbox)."
)]
pub struct Cli {
    /// The station database file (default: the OS data directory).
    #[arg(long, global = true, env = "STATION_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Who is operating the station; recorded on every change.
    #[arg(long, global = true, env = "STATION_OPERATOR", value_name = "NAME")]
    pub operator: Option<String>,
    /// Training mode: work on the training database beside the station's (it never syncs) and
    /// offer the simulated bench as ports `sim:1`..`sim:8`; say TRAINING on every run.
    #[arg(long, global = true)]
    pub training: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Device types this station may provision.
    #[command(subcommand, name = "type")]
    Type(TypeCommand),
    /// Create N devices with credentials and print them as JSON (like `manage.py iot_provision`).
    ///
    /// The plaintext passwords go to standard output only, for a script to pipe to whatever
    /// delivers them; the station stores only their hashes and refuses to write them to a file.
    Provision(ProvisionArgs),
    /// Look at devices; link a unit's own serial or MAC label to one.
    #[command(subcommand, visible_alias = "device")]
    Devices(DevicesCommand),
    /// Rotate credentials now and print the new ones once (like `generate_credentials()`), or mark
    /// devices so their next re-flash rotates them (--due).
    Rotate(RotateArgs),
    /// Deactivate a device: the server stops accepting it. Nothing is deleted.
    Deactivate(DeactivateArgs),
    /// Production batches.
    #[command(subcommand)]
    Batch(BatchCommand),
    /// Check a password (read from standard input) against a device's stored hash.
    Verify(VerifyArgs),
    /// Station settings (station id, hash algorithm, after-flash hooks).
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// List the serial ports with their USB vendor:product, serial number and product name.
    Ports(crate::flash_cmd::PortsArgs),
    /// Provision a new device and flash it into the unit on --port (several --port: at once).
    Flash(crate::flash_cmd::FlashArgs),
    /// Rotate the credentials of the device the unit on --port holds, and flash them.
    Reflash(crate::flash_cmd::ReflashArgs),
    /// Which device the unit on --port holds (writes nothing; settles unconfirmed flashes).
    Identify(crate::flash_cmd::UnitArgs),
    /// Settle unconfirmed flashes (after a crash or power loss) from what the unit reports.
    Recover(crate::flash_cmd::UnitArgs),
    /// Flash every unit plugged in, one after another.
    Watch(crate::flash_cmd::WatchArgs),
    /// Sync with the central django-devicehub server: status, run, retry, config.
    #[command(subcommand)]
    Sync(crate::sync_cmd::SyncCommand),
    /// Device labels: print or preview one, or set a device type's template.
    #[command(subcommand)]
    Label(crate::label_cmd::LabelCommand),
    /// Who is operating the station: sign in (a name or badge), sign out, show.
    #[command(subcommand)]
    Operator(crate::shift_cmd::OperatorCommand),
    /// Shifts: start, end (after confirming the counts) and reports (table, JSON, CSV, page).
    #[command(subcommand)]
    Shift(crate::shift_cmd::ShiftCommand),
}

#[derive(Debug, Subcommand)]
pub enum TypeCommand {
    /// Add a device type.
    Add(TypeAddArgs),
    /// List the device types.
    List(JsonFlag),
    /// Change a device type's settings.
    Edit(TypeEditArgs),
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TypeAddArgs {
    /// The DeviceType class name on the server, e.g. WeatherStation.
    pub name: String,
    /// The Django app label that defines it, e.g. myapp.
    #[arg(long)]
    pub app_label: String,
    #[command(flatten)]
    pub settings: TypeSettings,
}

#[derive(Debug, Args)]
pub struct TypeEditArgs {
    /// The type to change (case and '_' do not matter).
    pub name: String,
    /// A new Django app label.
    #[arg(long)]
    pub app_label: Option<String>,
    #[command(flatten)]
    pub settings: TypeSettings,
    /// Turn TLS to the broker off.
    #[arg(long, conflicts_with = "broker_tls")]
    pub no_broker_tls: bool,
}

#[derive(Debug, Args)]
pub struct TypeSettings {
    /// MQTT topic prefix (default: things).
    #[arg(long)]
    pub topic_prefix: Option<String>,
    /// Topic template (default: {prefix}/{type_name}/{device_id}/{message_type}).
    #[arg(long)]
    pub topic_template: Option<String>,
    /// MQTT broker host written into the firmware (default: localhost).
    #[arg(long)]
    pub broker_host: Option<String>,
    /// MQTT broker port (default: 1883).
    #[arg(long)]
    pub broker_port: Option<u16>,
    /// The firmware connects to the broker over TLS.
    #[arg(long)]
    pub broker_tls: bool,
    /// The driver that writes this type's units: protocol (default), nvs (ESP-IDF NVS over the
    /// ESP ROM loader) or mcumgr (Zephyr MCUmgr settings).
    #[arg(long, value_name = "DRIVER")]
    pub driver: Option<String>,
    /// One of the driver's settings, NAME=VALUE (repeat it), e.g. namespace=dh,
    /// partition=nvs, key.mqtt_password=mqtt_pass. On edit, NAME= removes one.
    #[arg(long = "driver-setting", value_name = "NAME=VALUE")]
    pub driver_settings: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// The device type (case-insensitive).
    pub device_type: String,
    /// How many devices to create.
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// Prefix for device ids: ids are {prefix}{type}-{NNN}.
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// Refused: plaintext credentials are never written to a file by the station.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// List devices, optionally filtered.
    List(ListArgs),
    /// Show one device and its history.
    Show(ShowArgs),
    /// Export devices matching a filter as CSV or JSON (no secrets).
    Export(DevicesExportArgs),
    /// Record the unit's own serial number or MAC address (from its label) on a device.
    Link(LinkArgs),
}

#[derive(Debug, Args)]
pub struct LinkArgs {
    pub device_id: String,
    /// The serial or MAC address on the unit's label (a MAC is recorded as AA:BB:CC:DD:EE:FF).
    pub serial: String,
}

#[derive(Debug, Args, Default)]
pub struct FilterArgs {
    /// Only this batch.
    #[arg(long)]
    pub batch: Option<i64>,
    /// Only this device type.
    #[arg(long = "type")]
    pub device_type: Option<String>,
    /// Only this status (online, offline, error, maintenance, low_battery, provisioning).
    #[arg(long)]
    pub status: Option<String>,
    /// Only this flash state (none, flashing, flashed, failed).
    #[arg(long)]
    pub flash_state: Option<String>,
    /// Only active devices.
    #[arg(long, conflicts_with = "inactive")]
    pub active: bool,
    /// Only deactivated devices.
    #[arg(long)]
    pub inactive: bool,
    /// Text found in the device id, name, hardware id or unit serial.
    #[arg(long)]
    pub search: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// At most this many rows.
    #[arg(long)]
    pub limit: Option<u32>,
    /// Skip this many rows first (the next page after --limit rows).
    #[arg(long)]
    pub offset: Option<u32>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    pub device_id: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportTarget {
    /// Write CSV to this file.
    #[arg(long, value_name = "FILE", required_unless_present = "json")]
    pub csv: Option<PathBuf>,
    /// Write JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DevicesExportArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub target: ExportTarget,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The device to rotate now.
    #[arg(required_unless_present_any = ["due", "batch", "device_type"])]
    pub device_id: Option<String>,
    /// Do not issue credentials now: mark the device(s) so the next re-flash rotates them.
    #[arg(long)]
    pub due: bool,
    /// With --due: every device of this batch.
    #[arg(long, requires = "due")]
    pub batch: Option<i64>,
    /// With --due: every device of this type.
    #[arg(long = "type", requires = "due")]
    pub device_type: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeactivateArgs {
    pub device_id: String,
    /// Why (kept in the device's history).
    #[arg(long, default_value = "")]
    pub reason: String,
}

#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Create a batch of devices to be flashed (credentials are issued at flash time).
    Create(BatchCreateArgs),
    /// List batches with their progress (state, lot, work order).
    List(BatchListArgs),
    /// Export a batch as CSV or JSON (no secrets).
    Export(BatchExportArgs),
    /// Close a batch: it issues no more devices; its unflashed devices stay as they are and are
    /// listed.
    Close(BatchCloseArgs),
    /// Cancel a batch (asks for --yes): its unflashed devices are deactivated, never deleted;
    /// its flashed devices stay in force.
    Cancel(BatchCancelArgs),
}

#[derive(Debug, Args)]
pub struct BatchListArgs {
    /// Only batches whose lot, work order, prefix or type contains this, or with this number.
    #[arg(long)]
    pub search: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BatchCloseArgs {
    /// The batch number (see `station batch list`).
    pub batch: i64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BatchCancelArgs {
    /// The batch number (see `station batch list`).
    pub batch: i64,
    /// Why (kept in the history of every device it deactivates).
    #[arg(long, default_value = "")]
    pub reason: String,
    /// Confirm: the batch's unflashed devices are deactivated for good.
    #[arg(long)]
    pub yes: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BatchCreateArgs {
    pub device_type: String,
    #[arg(long)]
    pub count: u32,
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// The lot the batch belongs to (shown, exported, searchable).
    #[arg(long)]
    pub lot: Option<String>,
    /// The work order (MES order number) the batch fulfils.
    #[arg(long)]
    pub work_order: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BatchExportArgs {
    /// The batch number (see `station batch list`).
    pub batch: i64,
    #[command(flatten)]
    pub target: ExportTarget,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    pub device_id: String,
}

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// List every setting and its value.
    List,
    /// Print one setting.
    Get { key: String },
    /// Change one setting.
    Set { key: String, value: String },
}
