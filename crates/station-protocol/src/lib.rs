//! DeviceHub Station provisioning wire protocol, version 1 (`docs/protocol.md`).
//!
//! The crate holds both sides of the protocol so they cannot drift apart:
//! - [`spec`]: every constant of the spec (marker, limits, timeouts, retries);
//! - [`codec`]: frame syntax, CRC, value escaping, the resynchronising decoder;
//! - [`command`], [`error_code`], [`message`]: commands, keys, error codes, typed messages;
//! - [`config`]: [`DeviceConfig`], its canonical encoding and [`config_digest`];
//! - [`transport`], [`client`]: the station side over any byte pipe ([`Transport`]);
//! - [`fast_wire`]: version 1.1's switch to a faster line for the write (spec §10.1);
//! - [`proof`]: version 1.1's possession proofs, the MAC PROVE answers (spec §10.3);
//! - `serial` (feature `serial`, off by default): real serial ports, the only part that links
//!   the `serialport` crate, so database-only users of this crate do not;
//! - [`device`]: the device side as a pure state machine ([`device::DeviceModel`]);
//! - [`slot_image`]: the A/B slot image the reference AVR firmware stores its config in.

pub mod client;
pub mod codec;
pub mod command;
pub mod config;
pub mod device;
pub mod error;
pub mod error_code;
pub mod fast_wire;
pub mod message;
pub mod proof;
#[cfg(feature = "serial")]
pub mod serial;
pub mod slot_image;
pub mod spec;
pub mod transport;

pub use client::{wire_time, Client, ClientStats, Identity, WriteStep};
pub use command::{Command, Key};
pub use config::{canonical_encoding, config_digest, ConfigError, DeviceConfig};
pub use device::{DeviceModel, MemoryStorage, ModelTransport, Storage, StorageError, StoredConfig};
pub use error::ProtocolError;
pub use error_code::DeviceErrorCode;
pub use fast_wire::{BaudSwitch, LinkRate};
#[cfg(feature = "serial")]
pub use serial::{list_ports, SerialTransport};
pub use transport::{PortEvent, PortInfo, PortWatcher, Transport};
