//! The byte pipe under the client, and finding USB serial ports.
//!
//! This module owns the [`Transport`] trait (what the client needs from a port: send bytes,
//! receive with a timeout), its implementation over a real serial port, the port list, and
//! [`PortWatcher`], which turns periodic port lists into arrival/departure events. The client
//! never sees a concrete port type, so tests run it over pseudo-terminals or in-memory pipes.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::time::Duration;

use serialport::{DataBits, FlowControl, Parity, SerialPort, SerialPortType, StopBits};

use crate::error::ProtocolError;
use crate::spec::BAUD_RATE;

/// What the client needs from a link to a device.
pub trait Transport: Send {
    /// Sends all of `bytes`.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Receives up to `buf.len()` bytes, waiting at most `timeout`. Returns 0 on timeout. A
    /// closed link is an error of kind `BrokenPipe`.
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize>;
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        (**self).send(bytes)
    }
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        (**self).recv(buf, timeout)
    }
}

/// A serial port at 115200 8N1, no flow control (spec §1).
pub struct SerialTransport {
    port: Box<dyn SerialPort>,
}

impl std::fmt::Debug for SerialTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialTransport")
            .field("port", &self.port.name())
            .finish()
    }
}

/// Shortest wait passed to the port: a zero timeout would turn a poll into a busy loop.
const MIN_RECV_TIMEOUT: Duration = Duration::from_millis(1);
/// How long one write may block (a full output buffer on a stuck bridge).
const WRITE_TIMEOUT: Duration = Duration::from_millis(500);

impl SerialTransport {
    /// Opens `path` at 115200 8N1. The port is opened exclusively, and pending input is
    /// discarded by the open.
    pub fn open(path: &str) -> Result<Self, ProtocolError> {
        let port = serialport::new(path, BAUD_RATE)
            .data_bits(DataBits::Eight)
            .parity(Parity::None)
            .stop_bits(StopBits::One)
            .flow_control(FlowControl::None)
            .timeout(WRITE_TIMEOUT)
            .open()
            .map_err(|source| ProtocolError::Open {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self { port })
    }

    /// Wraps an already open port (e.g. one end of `TTYPort::pair()` in tests).
    pub fn from_port(port: Box<dyn SerialPort>) -> Self {
        Self { port }
    }

    /// The port's name, if it has one.
    pub fn name(&self) -> Option<String> {
        self.port.name()
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

impl Transport for SerialTransport {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.port
            .set_timeout(WRITE_TIMEOUT)
            .map_err(io::Error::from)?;
        self.port.write_all(bytes).map_err(classify)
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        self.port
            .set_timeout(timeout.max(MIN_RECV_TIMEOUT))
            .map_err(io::Error::from)?;
        match self.port.read(buf) {
            // Readable but nothing to read: the other end is gone.
            Ok(0) if !buf.is_empty() => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "serial port closed",
            )),
            Ok(n) => Ok(n),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                Ok(0)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(classify(e)),
        }
    }
}

/// serialport reports a hung-up port as a plain "Input/output error" without an errno; on a
/// serial port every error other than a timeout means the link is unusable, so it becomes
/// `BrokenPipe` (keeping the original text).
fn classify(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::TimedOut || is_disconnect(&e) {
        e
    } else {
        io::Error::new(io::ErrorKind::BrokenPipe, e.to_string())
    }
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

/// Lists the serial ports of this machine. Pseudo-terminals are never listed (the OS does not
/// report them), so a simulator's port has to be named by path.
pub fn list_ports() -> Result<Vec<PortInfo>, ProtocolError> {
    let ports = serialport::available_ports().map_err(ProtocolError::ListPorts)?;
    let mut out: Vec<PortInfo> = ports
        .into_iter()
        .map(|p| match p.port_type {
            SerialPortType::UsbPort(usb) => PortInfo {
                path: p.port_name,
                vid: Some(usb.vid),
                pid: Some(usb.pid),
                serial_number: usb.serial_number,
                product: usb.product,
                manufacturer: usb.manufacturer,
            },
            _ => PortInfo::path_only(p.port_name),
        })
        .collect();
    out.sort();
    Ok(out)
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
/// arrived.
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
    /// Watches the machine's ports with [`list_ports`], meant to be polled every `interval`.
    pub fn new(interval: Duration) -> Self {
        Self::with_lister(interval, list_ports)
    }

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
