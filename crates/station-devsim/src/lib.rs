//! A simulated DeviceHub device on a pseudo-terminal, speaking `docs/protocol.md`.
//!
//! The device logic is `station_protocol::device::DeviceModel`, the same state machine the
//! firmware mirrors; this crate adds what a real board and cable do around it: a port that the
//! station opens and closes, a boot log, line speed (and version 1.1's switch of it, emulated
//! over the pty by comparing the station's termios speed with the device's), noise, lost and corrupted bytes, slow or
//! refused replies, unplugging and power loss, and a flash file that survives restarts (sealed: no plaintext
//! secret on disk, see [`flash`]).
//!
//! ```no_run
//! use station_devsim::{SimOptions, Simulator};
//! let sim = Simulator::start(SimOptions::default())?;
//! println!("device on {}", sim.port_path());
//! sim.stop();
//! # Ok::<(), station_devsim::SimError>(())
//! ```

pub mod flash;
pub mod options;
pub mod sim;

pub use flash::{Flash, FlashKey, FlashKeyError, FLASH_KEY_ENV};
pub use options::{DropReplyRule, NakRule, PowerLoss, SimOptions};
pub use sim::{SimError, SimExit, SimHandle, Simulator};
pub use station_protocol::StoredConfig;
