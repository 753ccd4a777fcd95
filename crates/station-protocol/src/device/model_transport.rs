//! [`ModelTransport`]: a [`Transport`] straight into a [`DeviceModel`], so code built on the
//! station's [`crate::Client`] is tested against the real device state machine without a port.

use std::collections::VecDeque;
use std::time::Duration;

use super::{DeviceModel, Storage};
use crate::transport::Transport;

/// A [`Transport`] straight into a [`DeviceModel`], without a port: the scripted fake for
/// tests of code built on [`crate::Client`] (as probe-rs ships a fake probe). Replies are
/// available as soon as the request is sent.
pub struct ModelTransport<S: Storage> {
    /// The device behind the link.
    pub model: DeviceModel<S>,
    pending: VecDeque<u8>,
}

impl<S: Storage> ModelTransport<S> {
    /// A link to `model`.
    pub fn new(model: DeviceModel<S>) -> Self {
        Self {
            model,
            pending: VecDeque::new(),
        }
    }
}

impl<S: Storage + Send> Transport for ModelTransport<S> {
    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let reply = self.model.feed(bytes);
        self.pending.extend(reply);
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
}
