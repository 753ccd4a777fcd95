//! DeviceHub Station core: the station's domain and its local database.
//!
//! Device types, devices, Django-compatible MQTT credentials, batches, credential rotation,
//! export and the settings registry, over one SQLite file. Nothing here depends on Tauri: the
//! `station` CLI, the desktop app and the serial flasher all call this crate.

pub mod app;
pub mod batches;
pub mod credentials;
pub mod devices;
pub mod error;
pub mod export;
pub mod flash;
pub mod naming;
pub mod outcome;
pub mod rotation;
pub mod settings;
pub mod shift;
pub mod store;
pub mod types;

pub use batches::{Batch, BatchProgress, BatchRequest, CreatedBatch, MAX_BATCH_COUNT};
pub use credentials::{HashAlgorithm, IssuedCredentials, Secret};
pub use devices::{Actor, Device, DeviceEvent, DeviceFilter, DeviceStatus, FlashState, SyncState};
pub use error::{CoreError, ErrorCode, Result};
pub use outcome::{Action, FailReason};
pub use rotation::{FlashTarget, Resolution};
pub use store::Store;
pub use types::{DeviceType, NewDeviceType, Topics, TypeEdit};
