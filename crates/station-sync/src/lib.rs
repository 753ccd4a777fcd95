//! DeviceHub Station ↔ central django-devicehub server.
//!
//! Stations are offline as often as online. Every change a station makes is queued in its
//! outbox (in the same transaction as the change, by `station-core`); this crate drains it to
//! the server's `devicehub_station_sync` receiver (docs/sync-api.md): [`config`] (URL, TLS),
//! [`credential_store`] (where the token lives: never the database), [`client`] (reqwest
//! blocking over rustls), [`worker`] (batches, exponential backoff with jitter, the background
//! thread), [`ids`] (leased id blocks), [`catalog`] (the server's device types), [`seal`] (the
//! server's key api keys are sealed to) and [`status`] (what a person sees). The CLI's
//! `station sync` and the desktop
//! app call these functions; nothing here prints.

pub mod api;
pub mod catalog;
pub mod client;
pub mod config;
pub mod credential_store;
pub mod error;
pub mod ids;
pub mod seal;
pub mod status;
pub mod worker;

pub use client::Client;
pub use config::{ConfigUpdate, StationToken, SyncConfig};
pub use error::{Result, SyncError};
pub use ids::{prepare_ids, IdSource};
pub use seal::{configure, Configured};
pub use status::{status, Health, SyncStatus};
pub use worker::{push_outbox, run_once, PushOptions, PushReport, RunReport, Worker};
