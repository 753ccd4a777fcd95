//! `station-espsim`: a simulated ESP32 in its ROM serial bootloader, on a pseudo-terminal.
//!
//! Written from Espressif's "Serial Protocol" documentation and cross-checked by running the
//! real esptool against it (`tests/esptool.rs`), so the station's ESP drivers can be tested
//! without hardware. [`protocol`] holds the wire format as data, [`slip`] the framing,
//! [`flash`] the in-memory 4 MB flash, [`loader`] the ROM's commands, [`sim`] the pty and the
//! faults, [`options`] their configuration.

pub mod flash;
pub mod loader;
pub mod options;
pub mod protocol;
pub mod sim;
pub mod slip;

pub use flash::Flash;
pub use options::{ErrorRule, EspSimOptions};
pub use sim::{EspSimError, EspSimExit, EspSimHandle, EspSimulator};
