//! DeviceHub Station's service layer: the running station, once, under both faces.
//!
//! The `station` CLI and the desktop app (`src-tauri`) only parse input, call this crate and
//! render its results; every rule about *how the station runs* lives here, so the faces cannot
//! drift apart (gitbutler's `but-api` over its core crates is the model):
//! - [`flasher`]: jobs per port, port claims, a progress [`flasher::Sink`], gang presses,
//!   shift counting and the after-flash [`hooks`], for every flash whichever face started it;
//! - [`drivers`]: the device type's driver on a port (protocol, ESP NVS, MCUmgr);
//! - [`operator`]: who is operating, by one precedence; sign-in and the lead's sign-in rule;
//! - [`links`]: scan to link (the unit's own serial/MAC label on its device), per port;
//! - [`ids`]: device ids leased from the server before any is minted;
//! - [`records`]: batches, `provision`, rotation and deactivation with the above applied;
//! - [`labels`]: a label per device (ZPL to a network printer or the system queue, a PNG
//!   preview), printed after a PASS and reprinted on demand;
//! - [`pool`]: credential sets made ahead of the flashes that issue them;
//! - [`bench`]: the simulated units behind `sim:` ports;
//! - [`training`]: training mode, whose records live in a database that never syncs;
//! - [`request`]: what a face may ask the flasher to do;
//! - [`recent`]: the last results of each port;
//! - [`shifts`]: shift start, end and saved reports;
//! - [`station_choice`]: what the Station screen flashes on which ports, kept across restarts.
//!
//! Below it, `station-core` owns the domain and the database (and the safety argument of a
//! flash, `station_core::flash`), `station-sync` the server, `station-protocol` the wire.

pub mod bench;
pub mod drivers;
pub mod flasher;
pub mod hooks;
pub mod ids;
pub mod labels;
pub mod links;
pub mod mcumgr;
pub mod operator;
pub mod pool;
pub mod recent;
pub mod records;
pub mod request;
pub mod shifts;
pub mod station_choice;
pub mod training;

pub use flasher::{Flasher, FlasherOptions, JobReport, NoSink, Passed, Sink, Started};
pub use pool::{CredentialPool, PoolStatus};
pub use request::FlashRequest;
