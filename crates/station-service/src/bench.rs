//! The "Simulated device" ports (`sim:1` ... `sim:8`): a bench of simulated units, so the
//! station can be tried, taught and tested with no hardware.
//!
//! Each flash on a simulated port plugs a unit in for that one job, as an operator would: a
//! blank unit for a new device, or, for "Rotate and re-flash", the unit that holds the device
//! (found by its hardware id); to identify a unit, the one last flashed on that port (it is
//! still plugged in). A unit's flash lives in this process's memory and nowhere else: what a
//! unit holds is a device's plaintext password and api key, which no disk of the station may
//! hold, so the bench forgets its units when the station stops (a re-flash of a device made
//! before then is refused: its unit is gone). The unit speaks the real protocol on a
//! pseudo-terminal at 115200 baud, so progress and timing look like hardware.
//!
//! Simulated units are training: the flasher has a bench only in training mode
//! ([`crate::training`]), on the training database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use station_core::settings::SimFault;
use station_core::{CoreError, Result, Store};
#[cfg(unix)]
use station_devsim::{Flash, NakRule, SimOptions, Simulator};
#[cfg(unix)]
use station_protocol::{Command, DeviceErrorCode};

use crate::request::FlashRequest;

/// The prefix of a simulated port's id: `sim:1` ... `sim:8`.
pub const SIM_PORT_PREFIX: &str = "sim:";
/// How long a simulated unit takes to think before each reply, like a real microcontroller.
const REPLY_DELAY: Duration = Duration::from_millis(15);

/// Whether this system can run simulated units: they speak over pseudo-terminals, which
/// Windows lacks (there, only real units are offered).
pub const SIM_AVAILABLE: bool = cfg!(unix);

/// A simulated unit plugged in; unplugged when dropped.
#[cfg(unix)]
pub type SimUnit = station_devsim::SimHandle;

/// No simulated unit can exist on this system.
#[cfg(not(unix))]
pub enum SimUnit {}

#[cfg(not(unix))]
impl SimUnit {
    pub fn port_path(&self) -> &str {
        match *self {}
    }
}

/// Whether `port` names a simulated port.
pub fn is_sim_port(port: &str) -> bool {
    port.strip_prefix(SIM_PORT_PREFIX)
        .is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n >= 1))
}

/// What a simulated unit does to show `fault`.
#[cfg(unix)]
fn apply(fault: SimFault, opts: &mut SimOptions) {
    match fault {
        SimFault::None => {}
        SimFault::UnpluggedDuringWrite => opts.unplug_after_stages = Some(3),
        SimFault::RefusesToSave => opts.naks.push(NakRule {
            command: Command::Commit,
            code: DeviceErrorCode::StorageFull,
            count: None,
        }),
        SimFault::NoAnswer => opts.drop_rate = 1.0,
        SimFault::NoisyLine => opts.corrupt_rate = 0.002,
    }
}

/// A simulated unit's flash: memory only.
#[cfg(unix)]
type UnitFlash = Flash;
#[cfg(not(unix))]
type UnitFlash = ();

/// The simulated units of this run, in memory.
#[derive(Debug, Clone, Default)]
pub struct SimBench {
    /// Every unit plugged in so far, by hardware id: its flash.
    units: Arc<Mutex<HashMap<String, UnitFlash>>>,
    /// The hardware id of the unit last plugged into each simulated port.
    last_unit: Arc<Mutex<HashMap<String, String>>>,
}

impl SimBench {
    pub fn new() -> Self {
        SimBench::default()
    }

    fn has_unit(&self, hardware_id: &str) -> Result<bool> {
        Ok(self
            .units
            .lock()
            .map_err(|_| poisoned())?
            .contains_key(hardware_id))
    }

    /// The flash of unit `hardware_id`, a blank one if it is new.
    fn unit_flash(&self, hardware_id: &str) -> Result<UnitFlash> {
        let mut units = self.units.lock().map_err(|_| poisoned())?;
        Ok(units
            .entry(hardware_id.to_owned())
            .or_insert_with(blank_flash)
            .clone())
    }

    /// What unit `hardware_id` holds now (for tests that check what a unit was given).
    #[cfg(unix)]
    pub fn unit_contents(&self, hardware_id: &str) -> Option<station_devsim::StoredConfig> {
        self.units.lock().ok()?.get(hardware_id)?.contents()
    }

    /// Plug into `port` the unit a flash of `request` needs; with no request (identifying a
    /// unit), the unit last plugged in there, or a blank one.
    pub fn plug_in(
        &self,
        port: &str,
        request: Option<&FlashRequest>,
        store: &Store,
        fault: SimFault,
    ) -> Result<SimUnit> {
        let last = self
            .last_unit
            .lock()
            .map_err(|_| poisoned())?
            .get(port)
            .cloned();
        let hardware_id = match request {
            None => match last {
                Some(hw) => hw,
                None => new_hardware_id()?,
            },
            Some(FlashRequest::Reflash {
                device_id: Some(device_id),
                ..
            }) => {
                let device = store.find_device(device_id)?;
                let hw = device.hardware_id.ok_or_else(|| CoreError::Refused {
                    problem: format!("Device {device_id} was never flashed, so no unit holds it."),
                    fix: "provision it first".into(),
                })?;
                if !self.has_unit(&hw)? {
                    return Err(CoreError::Refused {
                        problem: format!(
                            "The unit of device {device_id} ({hw}) is not on this station's simulated bench (simulated units are forgotten when the station stops)."
                        ),
                        fix: "flash a new simulated device instead".into(),
                    });
                }
                hw
            }
            Some(_) => new_hardware_id()?,
        };
        self.last_unit
            .lock()
            .map_err(|_| poisoned())?
            .insert(port.to_owned(), hardware_id.clone());
        let flash = self.unit_flash(&hardware_id)?;
        start_unit(hardware_id, flash, fault)
    }
}

#[cfg(unix)]
fn blank_flash() -> UnitFlash {
    Flash::memory(None)
}

#[cfg(not(unix))]
fn blank_flash() -> UnitFlash {}

#[cfg(unix)]
fn start_unit(hardware_id: String, flash: UnitFlash, fault: SimFault) -> Result<SimUnit> {
    let mut opts = SimOptions {
        hardware_id: Some(hardware_id),
        firmware_version: "devsim-1.0".into(),
        baud: Some(station_protocol::spec::BAUD_RATE),
        reply_delay: REPLY_DELAY,
        ..SimOptions::default()
    };
    apply(fault, &mut opts);
    Simulator::start_with(opts, flash).map_err(|e| CoreError::Device {
        message: format!("The simulated device could not start: {e}. Restart the station."),
        reason: station_core::FailReason::Simulator,
    })
}

#[cfg(not(unix))]
fn start_unit(_hardware_id: String, _flash: UnitFlash, _fault: SimFault) -> Result<SimUnit> {
    Err(CoreError::Refused {
        problem: "The simulated device needs pseudo-terminals, which this system lacks.".into(),
        fix: "plug a real unit in and pick its port".into(),
    })
}

fn poisoned() -> CoreError {
    CoreError::Internal("the simulated bench is poisoned".into())
}

/// A fresh unit's chip id: 8 random bytes as hex, like a real MCU's unique id.
fn new_hardware_id() -> Result<String> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)
        .map_err(|e| CoreError::Internal(format!("no randomness for a hardware id: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02X}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_ports_are_recognised() {
        assert!(is_sim_port("sim:1"));
        assert!(is_sim_port("sim:8"));
        assert!(!is_sim_port("sim:0"));
        assert!(!is_sim_port("sim:x"));
        assert!(!is_sim_port("/dev/ttyUSB0"));
        assert!(!is_sim_port("COM3"));
    }

    #[test]
    fn hardware_ids_are_sixteen_hex_digits() {
        let a = new_hardware_id().expect("id");
        let b = new_hardware_id().expect("id");
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
