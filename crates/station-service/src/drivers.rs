//! Which driver reaches the unit on a port: the device type's (`station_core::driver`), opened
//! on the port's path. The one place a face's job meets a concrete driver; the flash flow above
//! it is the same for all of them.

use station_core::driver::{DriverKind, DriverSpec, ProtocolDriver, UnitDriver};
use station_core::flash::{device_error, FlashFailure};
use station_protocol::SerialTransport;

/// Open `spec`'s driver on the serial port at `path`.
pub fn open(spec: &DriverSpec, path: &str) -> Result<Box<dyn UnitDriver>, FlashFailure> {
    match spec.kind {
        DriverKind::Protocol => Ok(Box::new(ProtocolDriver::new(open_serial(path)?))),
        DriverKind::Nvs => {
            let settings = station_espflash::NvsSettings::parse(&spec.settings)?;
            Ok(Box::new(station_espflash::NvsDriver::new(
                open_serial(path)?,
                settings,
            )))
        }
        DriverKind::Mcumgr => crate::mcumgr::McumgrDriver::open(spec, path)
            .map(|d| Box::new(d) as Box<dyn UnitDriver>)
            .map_err(FlashFailure::from),
    }
}

/// The station's protocol over a serial port (also what simulated `sim:` units speak).
pub fn open_serial(path: &str) -> Result<SerialTransport, FlashFailure> {
    SerialTransport::open(path).map_err(|e| FlashFailure {
        device_id: None,
        error: device_error(&e),
    })
}
