//! DeviceHub Station core: the station's domain and its local database.
//!
//! Device types, devices, Django-compatible MQTT credentials, batches, credential rotation, the
//! flash pipeline over any [`station_protocol::Transport`] ([`flash`]), typed outcomes
//! ([`outcome`]), the settings registry, the shift's counters and export, over one SQLite file.
//! Nothing here depends on Tauri, opens a serial port or speaks HTTP: the service layer
//! (`station-service`) runs the station on top of this crate, and the `station` CLI and the
//! desktop app are its two faces.

pub mod app;
pub mod appearance;
pub mod batches;
pub mod credentials;
pub mod devices;
pub mod driver;
pub mod error;
pub mod export;
pub mod flash;
pub mod labels;
pub mod naming;
pub mod outcome;
pub mod private_fs;
pub mod proofs;
pub mod rotation;
pub mod seal;
pub mod settings;
pub mod shift;
pub mod shift_export;
pub mod station_choice;
pub mod store;
pub mod types;
pub mod unit_serial;

pub use batches::{
    Batch, BatchFilter, BatchProgress, BatchRequest, BatchState, CreatedBatch, EndedBatch,
    MAX_BATCH_COUNT,
};
pub use credentials::{HashAlgorithm, IssuedCredentials, Secret};
pub use devices::{Actor, Device, DeviceEvent, DeviceFilter, DeviceStatus, FlashState, SyncState};
pub use error::{CoreError, ErrorCode, Result};
pub use outcome::{Action, Control, FailReason, JobOutcome};
pub use rotation::{FlashTarget, Resolution};
pub use store::Store;
pub use types::{DeviceType, NewDeviceType, Topics, TypeEdit};
