//! The link under the SMP client: a byte pipe with per-call timeouts, and the serial port.
//!
//! This module owns the [`Transport`] trait (so the client runs over anything that moves
//! bytes) and [`SerialTransport`], the only user of the `serialport` crate on the client side.

use std::io::{self, Read, Write};
use std::time::Duration;

use serialport::{DataBits, FlowControl, Parity, SerialPort, StopBits};

use crate::error::SmpError;

/// A bidirectional byte link.
pub trait Transport: Send {
    /// Sends all of `bytes`.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Receives up to `buf.len()` bytes, waiting at most `timeout`; 0 means nothing arrived.
    /// A closed link is an error of kind `BrokenPipe`.
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize>;
}

/// Zephyr's console default (`CONFIG_UART_..._CURRENT_SPEED` on most boards).
pub const DEFAULT_BAUD: u32 = 115_200;
/// How long one write may block on a stuck bridge.
const WRITE_TIMEOUT: Duration = Duration::from_millis(500);
/// Shortest wait handed to the port: zero would turn a poll into a busy loop.
const MIN_RECV_TIMEOUT: Duration = Duration::from_millis(1);

/// A serial port at 8N1, no flow control.
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

impl SerialTransport {
    /// Opens `path` at `baud` 8N1.
    pub fn open(path: &str, baud: u32) -> Result<Self, SmpError> {
        let port = serialport::new(path, baud)
            .data_bits(DataBits::Eight)
            .parity(Parity::None)
            .stop_bits(StopBits::One)
            .flow_control(FlowControl::None)
            .timeout(WRITE_TIMEOUT)
            .open()
            .map_err(|e| SmpError::Open {
                path: path.to_owned(),
                source: io::Error::from(e),
            })?;
        Ok(Self { port })
    }
}

impl Transport for SerialTransport {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.port.set_timeout(WRITE_TIMEOUT)?;
        self.port.write_all(bytes).map_err(classify)?;
        // serialport reports a failed tcdrain as a bare "flush failed"; it fails only when the
        // line has hung up (the device or its bridge is gone).
        self.port
            .flush()
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        self.port.set_timeout(timeout.max(MIN_RECV_TIMEOUT))?;
        match self.port.read(buf) {
            // Readable but empty: the other end has gone.
            Ok(0) if !buf.is_empty() => Err(io::ErrorKind::BrokenPipe.into()),
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(0),
            Err(e) => Err(classify(e)),
        }
    }
}

/// EIO and ENXIO on a tty mean the other end is gone (a pty whose master closed, a USB
/// bridge pulled out): a disconnect, not a transient error.
fn classify(e: io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(5 | 6) => io::ErrorKind::BrokenPipe.into(),
        _ => e,
    }
}

/// Errors after which the link is gone for good.
pub(crate) fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::UnexpectedEof
    )
}
#[cfg(test)]
mod tests {
    use super::*;
    use serialport::TTYPort;

    /// A tty whose other end has gone is a disconnect, whichever call notices it.
    #[test]
    fn sending_to_a_hung_up_port_is_a_broken_pipe() {
        let (master, slave) = TTYPort::pair().expect("pty pair");
        let mut t = SerialTransport {
            port: Box::new(slave),
        };
        drop(master);
        let e = t.send(b"\x06\x09AAAA\n").expect_err("hung up");
        assert!(is_disconnect(&e), "{e:?}");
    }
}
