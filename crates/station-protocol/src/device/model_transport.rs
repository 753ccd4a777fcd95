//! [`ModelTransport`]: a [`Transport`] straight into a [`DeviceModel`], so code built on the
//! station's [`crate::Client`] is tested against the real device state machine without a port.
//! It keeps a line speed for each side (spec §10.1): bytes sent while the two differ are lost,
//! as on a real line, and the model's idle revert runs on the system clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{DeviceModel, Storage};
use crate::error::ProtocolError;
use crate::spec;
use crate::transport::Transport;

/// A [`Transport`] straight into a [`DeviceModel`], without a port: the scripted fake for
/// tests of code built on [`crate::Client`] (as probe-rs ships a fake probe). Replies are
/// available as soon as the request is sent.
pub struct ModelTransport<S: Storage> {
    /// The device behind the link.
    pub model: DeviceModel<S>,
    pending: VecDeque<u8>,
    /// The station side's line speed.
    baud: u32,
}

impl<S: Storage> ModelTransport<S> {
    /// A link to `model`, both sides at 115200.
    pub fn new(model: DeviceModel<S>) -> Self {
        Self {
            model,
            pending: VecDeque::new(),
            baud: spec::BAUD_RATE,
        }
    }

    /// The station side's line speed.
    pub fn baud_rate(&self) -> u32 {
        self.baud
    }
}

impl<S: Storage + Send> Transport for ModelTransport<S> {
    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let now = Instant::now();
        self.model.idle_revert(now);
        if self.baud != self.model.baud_rate() {
            // Sent at one rate, sampled at another: the device hears no valid frame.
            return Ok(());
        }
        for frame in self.model.decode(bytes) {
            // The reply leaves at the device's rate before any switch, which is ours.
            let handled = self.model.handle_frame_at(&frame, now);
            self.pending.extend(handled.reply);
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            // Nothing will ever arrive without a new request: wait out the timeout, as a
            // silent device would make the client do.
            std::thread::sleep(timeout);
            return Ok(0);
        }
        let n = buf.len().min(self.pending.len());
        for (slot, byte) in buf.iter_mut().zip(self.pending.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }

    fn set_baud_rate(&mut self, rate: u32) -> Result<(), ProtocolError> {
        self.baud = rate;
        Ok(())
    }
}
