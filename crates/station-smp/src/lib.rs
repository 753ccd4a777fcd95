//! Zephyr MCUmgr (SMP) over the serial console: the client the station's MCUmgr driver uses,
//! and a simulated SMP device on a pseudo-terminal to test it against.
//!
//! This crate owns the SMP pieces issue 12's MCUmgr driver needs: the 8-byte header
//! ([`header`]), CBOR payloads ([`cbor`]), the console framing with its CRC16 and 127-byte
//! frames ([`framing`]), result codes ([`codes`]), the settings group and the OS group's
//! reset as a [`Client`] over any [`Transport`], typed errors with a help line ([`SmpError`]),
//! and [`sim`], a settings store behind the same protocol with faults like
//! `station-devsim`'s. Every constant is in [`spec`], cited to the Zephyr sources.
//!
//! ```no_run
//! use station_smp::{Client, SerialTransport, DEFAULT_BAUD};
//! let mut client = Client::new(SerialTransport::open("/dev/ttyACM0", DEFAULT_BAUD)?);
//! client.settings_write("dh/host", b"mqtt.example")?;
//! client.settings_save()?;
//! client.reset()?;
//! # Ok::<(), station_smp::SmpError>(())
//! ```

pub mod cbor;
pub mod client;
pub mod codes;
pub mod command;
pub mod error;
pub mod framing;
pub mod header;
pub mod provision;
pub mod sim;
pub mod spec;
pub mod transport;

pub use client::Client;
pub use codes::{MgmtErr, SettingsErr};
pub use command::Command;
pub use error::SmpError;
pub use framing::{crc16_xmodem, encode_packet, FrameDecoder, FrameError};
pub use header::{Header, Op};
pub use provision::{
    DriverError, ErrorKind, IdentityKeys, Phase, ProvisionStep, Provisioner, Setting, UnitState,
    Verification,
};
pub use transport::{SerialTransport, Transport, DEFAULT_BAUD};
