//! The byte pipe under the client, and following which ports are present.
//!
//! This module owns the [`Transport`] trait (what the client needs from a port: send bytes,
//! receive with a timeout, change the line speed), what a listed port looks like ([`PortInfo`]), and [`PortWatcher`],
//! which turns periodic port lists into arrival/departure events. The client never sees a
//! concrete port type, so tests run it over pseudo-terminals or in-memory pipes. Real serial
//! ports (opening, listing) live in `serial`, behind the `serial` feature.

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use crate::command::Command;
use crate::error::ProtocolError;

/// What the client needs from a link to a device.
pub trait Transport: Send {
    /// Sends all of `bytes`.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Receives up to `buf.len()` bytes, waiting at most `timeout`. Returns 0 on timeout. A
    /// closed link is an error of kind `BrokenPipe`.
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize>;
    /// Runs this side of the link at `rate` baud from now on (spec §10.1). A link that has no
    /// line speed, or an adapter that cannot run `rate`, refuses; the client then stays at the
    /// rate it had.
    fn set_baud_rate(&mut self, rate: u32) -> Result<(), ProtocolError> {
        Err(ProtocolError::Io {
            command: Command::Baud,
            source: io::Error::new(
                io::ErrorKind::Unsupported,
                format!("this link cannot change its line speed to {rate} baud"),
            ),
        })
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        (**self).send(bytes)
    }
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        (**self).recv(buf, timeout)
    }
    fn set_baud_rate(&mut self, rate: u32) -> Result<(), ProtocolError> {
        (**self).set_baud_rate(rate)
    }
}

/// Errors after which the link is gone for good.
pub(crate) fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
    ) || matches!(e.raw_os_error(), Some(5 | 6 | 19)) // EIO, ENXIO, ENODEV: USB unplug
}

/// A serial port as the station lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortInfo {
    /// Path to open, e.g. `/dev/ttyUSB0`.
    pub path: String,
    /// USB vendor id (USB ports only).
    pub vid: Option<u16>,
    /// USB product id (USB ports only).
    pub pid: Option<u16>,
    /// USB serial number string of the bridge.
    pub serial_number: Option<String>,
    /// USB product string.
    pub product: Option<String>,
    /// USB manufacturer string.
    pub manufacturer: Option<String>,
}

impl PortInfo {
    /// A port known only by path (a pseudo-terminal, a PCI UART).
    pub fn path_only(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            vid: None,
            pid: None,
            serial_number: None,
            product: None,
            manufacturer: None,
        }
    }
}

/// A port appearing or disappearing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortEvent {
    /// A port appeared (or changed identity at the same path).
    Arrived(PortInfo),
    /// The port at this path went away.
    Left(String),
}

/// A function listing ports; injected in tests.
pub type PortLister = Box<dyn FnMut() -> Result<Vec<PortInfo>, ProtocolError> + Send>;

/// Turns periodic port lists into events. The first poll reports every present port as
/// arrived. `PortWatcher::new` (feature `serial`) watches the machine's own ports.
pub struct PortWatcher {
    lister: PortLister,
    interval: Duration,
    known: BTreeMap<String, PortInfo>,
    last_error: Option<String>,
}

impl std::fmt::Debug for PortWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortWatcher")
            .field("interval", &self.interval)
            .field("known", &self.known.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl PortWatcher {
    /// Watches with a custom lister (tests, or a list that adds simulator ports).
    pub fn with_lister(
        interval: Duration,
        lister: impl FnMut() -> Result<Vec<PortInfo>, ProtocolError> + Send + 'static,
    ) -> Self {
        Self {
            lister: Box::new(lister),
            interval,
            known: BTreeMap::new(),
            last_error: None,
        }
    }

    /// The polling interval this watcher was made for.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Ports present at the last successful poll.
    pub fn current(&self) -> Vec<PortInfo> {
        self.known.values().cloned().collect()
    }

    /// The error of the last poll, if it failed (the port set is then kept as it was, so a
    /// passing failure does not look like every device leaving).
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Lists the ports now and reports what changed since the last poll.
    pub fn poll(&mut self) -> Vec<PortEvent> {
        let ports = match (self.lister)() {
            Ok(p) => {
                self.last_error = None;
                p
            }
            Err(e) => {
                tracing::warn!(error = %e, "listing serial ports failed");
                self.last_error = Some(e.to_string());
                return Vec::new();
            }
        };
        let mut now: BTreeMap<String, PortInfo> = BTreeMap::new();
        for p in ports {
            now.insert(p.path.clone(), p);
        }
        let mut events = Vec::new();
        for (path, old) in &self.known {
            match now.get(path) {
                None => events.push(PortEvent::Left(path.clone())),
                Some(new) if new != old => events.push(PortEvent::Left(path.clone())),
                Some(_) => {}
            }
        }
        for (path, new) in &now {
            if self.known.get(path) != Some(new) {
                events.push(PortEvent::Arrived(new.clone()));
            }
        }
        self.known = now;
        events
    }

    /// Sleeps one interval, then polls.
    pub fn wait_and_poll(&mut self) -> Vec<PortEvent> {
        std::thread::sleep(self.interval);
        self.poll()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn watcher_reports_arrivals_departures_and_swaps() {
        type Script = Arc<Mutex<Vec<Result<Vec<PortInfo>, ProtocolError>>>>;
        let script: Script = Arc::new(Mutex::new(Vec::new()));
        let usb = |path: &str, serial: &str| PortInfo {
            serial_number: Some(serial.to_owned()),
            vid: Some(0x1a86),
            pid: Some(0x7523),
            ..PortInfo::path_only(path)
        };
        {
            let mut s = script.lock().expect("lock");
            // Popped from the end.
            s.push(Ok(vec![usb("/dev/ttyUSB0", "B")]));
            s.push(Err(ProtocolError::InvalidHardwareId));
            s.push(Ok(vec![usb("/dev/ttyUSB0", "A"), usb("/dev/ttyUSB1", "C")]));
            s.push(Ok(vec![usb("/dev/ttyUSB0", "A")]));
        }
        let feed = Arc::clone(&script);
        let mut w = PortWatcher::with_lister(Duration::from_millis(10), move || {
            feed.lock()
                .expect("lock")
                .pop()
                .unwrap_or_else(|| Ok(Vec::new()))
        });
        assert_eq!(w.poll(), vec![PortEvent::Arrived(usb("/dev/ttyUSB0", "A"))]);
        assert_eq!(w.poll(), vec![PortEvent::Arrived(usb("/dev/ttyUSB1", "C"))]);
        // A failed listing changes nothing.
        assert_eq!(w.poll(), vec![]);
        assert!(w.last_error().is_some());
        assert_eq!(w.current().len(), 2);
        assert_eq!(
            w.poll(),
            vec![
                PortEvent::Left("/dev/ttyUSB0".into()),
                PortEvent::Left("/dev/ttyUSB1".into()),
                PortEvent::Arrived(usb("/dev/ttyUSB0", "B")),
            ]
        );
    }
}
