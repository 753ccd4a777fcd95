//! A simulated Zephyr device with MCUmgr over its serial console, on a pseudo-terminal.
//!
//! This module owns starting and stopping the simulator ([`Simulator::start`], [`SimHandle`])
//! and how it ends ([`SimExit`]). The SMP answers are `server`'s, the settings state is
//! `store`'s, the faults a board and cable add (noise, lost and changed bytes, refusals,
//! unplug, power loss) are `device`'s, and `options` says which of them to inject.
//!
//! ```no_run
//! use station_smp::sim::{SimOptions, Simulator};
//! let sim = Simulator::start(SimOptions::default())?;
//! println!("SMP device on {}", sim.port_path());
//! sim.stop();
//! # Ok::<(), station_smp::sim::SimError>(())
//! ```

mod device;
pub mod options;
pub mod server;
pub mod store;

use std::sync::{Arc, Mutex};

use station_ptysim::{Pty, UnitThread};

pub use options::{ErrorRule, PowerLoss, SimOptions, SimRequest};
pub use server::{ServerConfig, NAME_LEN};
pub use store::Settings;

/// Why the simulator could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The pseudo-terminal could not be created.
    #[error("cannot create a pseudo-terminal: {0}")]
    Pty(#[from] serialport::Error),
    /// I/O on the pty failed.
    #[error("SMP simulator I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The simulator thread panicked.
    #[error("SMP simulator thread panicked")]
    Panicked,
}

/// How the simulated device ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimExit {
    /// Stopped by its owner.
    Stopped,
    /// Pulled out when a write arrived (`unplug_at_write`).
    Unplugged,
    /// Lost power after applying a write, before answering.
    PowerLossAfterWrite,
    /// Lost power after saving, before answering.
    PowerLossAfterSave,
}

impl SimExit {
    /// Process exit code of `station-smpsim`: distinct per way of ending.
    pub fn exit_code(self) -> u8 {
        match self {
            SimExit::Stopped => 0,
            SimExit::Unplugged => 10,
            SimExit::PowerLossAfterWrite => 11,
            SimExit::PowerLossAfterSave => 12,
        }
    }
}

/// Starts simulated SMP devices.
#[derive(Debug)]
pub struct Simulator;

/// A running simulated SMP device.
#[derive(Debug)]
pub struct SimHandle {
    port_path: String,
    settings: Arc<Mutex<Settings>>,
    thread: UnitThread<Option<SimExit>>,
}

impl Simulator {
    /// Creates the pty and runs the device on a thread.
    pub fn start(opts: SimOptions) -> Result<SimHandle, SimError> {
        let settings = Arc::new(Mutex::new(Settings::booted(opts.saved.clone())));
        let Pty { master, port_path } = Pty::open()?;
        let mut dev = device::Device::new(master, Arc::clone(&settings), opts);
        let thread =
            UnitThread::spawn("smpsim", move |stop| station_ptysim::serve(&mut dev, stop))?;
        Ok(SimHandle {
            port_path,
            settings,
            thread,
        })
    }
}

impl SimHandle {
    /// Path of the port to open (the pty slave).
    pub fn port_path(&self) -> &str {
        &self.port_path
    }

    /// A copy of the device's settings now (RAM, storage, resets).
    pub fn settings(&self) -> Settings {
        server::lock(&self.settings).clone()
    }

    /// Whether the device has gone away by itself (unplug, power loss).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the device to end by itself.
    pub fn wait(mut self) -> Result<SimExit, SimError> {
        self.join()
    }

    /// Stops the device and closes its port.
    pub fn stop(self) {
        if let Err(e) = self.shutdown() {
            tracing::warn!(error = %e, "SMP simulator ended with an error");
        }
    }

    /// Stops the device and tells how it had ended (`Stopped` unless a fault ended it first).
    pub fn shutdown(mut self) -> Result<SimExit, SimError> {
        self.thread.request_stop();
        self.join()
    }

    fn join(&mut self) -> Result<SimExit, SimError> {
        self.thread
            .join_exit(SimExit::Stopped)
            .map_err(|station_ptysim::Panicked| SimError::Panicked)
    }
}
