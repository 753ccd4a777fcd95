//! `station-espflash`: the ESP32 ROM serial loader, from the station's side, and the ESP-IDF
//! NVS driver built on it (issue 12).
//!
//! [`rom`] holds the loader protocol as data (commands, timeouts, registers), cited to
//! Espressif's "Serial Protocol" document and esptool 5.6; [`loader`] is a small client over
//! any [`station_protocol::Transport`] (SLIP, SYNC, registers, SPI attach, FLASH_BEGIN/DATA/END,
//! SPI_FLASH_MD5, READ_FLASH_SLOW, CHANGE_BAUDRATE, the DTR/RTS resets); [`nvs_read`] reads
//! named non-secret keys from an NVS partition entry by entry, never the entries of other
//! keys; [`driver`] is [`NvsDriver`], a `station_core::driver::UnitDriver`.
//!
//! Why not `espflash` as a library: its `Connection` is built on a concrete
//! `serialport::TTYPort` plus the USB port info, not on a byte-pipe trait, so it cannot run over
//! the station's `Transport` (and so its byte counters and pty tests), and its write path sends
//! compressed blocks or uploads its stub, which the ROM-only simulator (and a secure download
//! mode chip) does not take. The client here is the few commands the driver needs.

pub mod driver;
pub mod loader;
pub mod nvs_read;
pub mod rom;

pub use driver::{NvsDriver, NvsSettings};
pub use loader::{Loader, LoaderError, ResetLines};
