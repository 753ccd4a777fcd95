//! Real serial ports: opening one at the spec's line settings, and listing the machine's.
//!
//! This module owns every use of the `serialport` crate, so it exists only with the `serial`
//! feature: [`SerialTransport`] (a [`Transport`] over a port opened at 115200 8N1, whose rate
//! BAUD may raise, spec §10.1), [`list_ports`], and
//! [`PortWatcher::new`], which watches the machine's ports with it. Errors from the library
//! become [`ProtocolError::Open`] and [`ProtocolError::ListPorts`] carrying an `io::Error`, so
//! those variants exist, and callers can match them, without the feature.

use std::io::{self, Read, Write};
use std::time::Duration;

use serialport::{DataBits, FlowControl, Parity, SerialPort, SerialPortType, StopBits};

use crate::command::Command;
use crate::error::ProtocolError;
use crate::spec::BAUD_RATE;
use crate::transport::{is_disconnect, PortInfo, PortWatcher, Transport};

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
                source: open_error(source),
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

    /// Drive a modem control line (the ESP loader resets a board with DTR and RTS). A
    /// pseudo-terminal has no such lines and refuses.
    pub fn set_control_line(&mut self, line: ControlLine, level: bool) -> io::Result<()> {
        match line {
            ControlLine::Dtr => self.port.write_data_terminal_ready(level),
            ControlLine::Rts => self.port.write_request_to_send(level),
        }
        .map_err(io::Error::from)
    }
}

/// A modem control line of a serial port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlLine {
    Dtr,
    Rts,
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

    /// Sets the port's line speed with the termios of the platform (on Linux any rate through
    /// `BOTHER`); the USB bridge's driver refuses a rate it cannot run.
    fn set_baud_rate(&mut self, rate: u32) -> Result<(), ProtocolError> {
        self.port
            .set_baud_rate(rate)
            .map_err(|e| ProtocolError::Io {
                command: Command::Baud,
                source: io::Error::from(e),
            })
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

/// Lists the serial ports of this machine. Pseudo-terminals are never listed (the OS does not
/// report them), so a simulator's port has to be named by path.
pub fn list_ports() -> Result<Vec<PortInfo>, ProtocolError> {
    let ports =
        serialport::available_ports().map_err(|e| ProtocolError::ListPorts(io::Error::from(e)))?;
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

impl PortWatcher {
    /// Watches the machine's ports with [`list_ports`], meant to be polled every `interval`.
    pub fn new(interval: Duration) -> Self {
        Self::with_lister(interval, list_ports)
    }
}

/// serialport reports a port another program holds (TIOCEXCL or flock answered EBUSY) as
/// `NoDevice`, which its `io::Error` conversion turns into `NotFound`, the same kind as a port
/// that is not there: keep "busy" apart as `ResourceBusy`.
fn open_error(source: serialport::Error) -> io::Error {
    match source.kind {
        serialport::ErrorKind::NoDevice => {
            io::Error::new(io::ErrorKind::ResourceBusy, source.description)
        }
        _ => io::Error::from(source),
    }
}
