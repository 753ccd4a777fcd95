//! DeviceHub Station provisioning wire protocol, version 1 (`docs/protocol.md`).
//!
//! The crate holds both sides of the protocol so they cannot drift apart:
//! - [`spec`]: every constant of the spec (marker, limits, timeouts, retries);
//! - [`codec`]: frame syntax, CRC, value escaping, the resynchronising decoder;
//! - [`command`], [`error_code`], [`message`]: commands, keys, error codes, typed messages;
//! - [`config`]: [`DeviceConfig`], its canonical encoding and [`config_digest`];
//! - [`transport`], [`client`]: the station side over any byte pipe ([`Transport`]);
//! - [`device`]: the device side as a pure state machine ([`device::DeviceModel`]).

pub mod client;
pub mod codec;
pub mod command;
pub mod config;
pub mod device;
pub mod error;
pub mod error_code;
pub mod message;
pub mod spec;
pub mod transport;

pub use client::{wire_time, Client, ClientStats, Identity, WriteStep};
pub use command::{Command, Key};
pub use config::{canonical_encoding, config_digest, ConfigError, DeviceConfig};
pub use device::{DeviceModel, MemoryStorage, ModelTransport, Storage, StorageError, StoredConfig};
pub use error::ProtocolError;
pub use error_code::DeviceErrorCode;
pub use transport::{list_ports, PortEvent, PortInfo, PortWatcher, SerialTransport, Transport};
