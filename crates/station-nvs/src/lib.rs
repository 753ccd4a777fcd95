//! ESP-IDF NVS partition images for one device, built in memory, and the ESP32 partition table
//! that says where to write them.
//!
//! This crate owns the groundwork of the ESP-IDF NVS driver (issue 12): [`NvsImage`] lays out
//! namespaces and typed keys exactly as Espressif's `esp-idf-nvs-partition-gen` 0.3.0 does for
//! the same CSV (format version 2, unencrypted), and [`PartitionTable`] reads the binary table at
//! 0x8000 and finds the NVS data partition. It does no I/O: the image is returned in a zeroizing
//! buffer and never touches disk, and values never appear in `Debug` output or errors. The
//! format facts live in [`format`], each with its source; the README lists them.

pub mod format;

mod error;
mod image;
mod partition;
mod writer;

pub use error::NvsError;
pub use image::{NvsImage, NvsImageBuilder, NvsValue};
pub use partition::{
    Partition, PartitionTable, DEFAULT_NVS_LABEL, DEFAULT_TABLE_OFFSET, ENTRY_LEN, SUBTYPE_NVS,
    TABLE_MAX_LEN, TYPE_DATA,
};
pub use zeroize::Zeroizing;
