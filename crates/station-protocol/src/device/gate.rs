//! Version 1.1's write gate and small receive buffers on the device side (spec §10.2, §10.3).
//!
//! The gate: once a config is committed, BEGIN and COMMIT are refused with `LOCKED` unless the
//! application allows a write (the model's stand-in for a factory-mode pin, a held button or a
//! jumper: [`DeviceModel::set_write_allowed`]); and a COMMIT whose staged generation is not above
//! the committed one is refused with `STALE_GENERATION`, allowed or not. The frame limit: a unit
//! that lists `FRAME<n>` answers a STAGE frame longer than `n` bytes with `BAD_FRAME`, a parse
//! error (spec §7.3 step 2), as the C module built with a small `DH_RX_FRAME_LEN` does.

use super::{DeviceModel, Storage};
use crate::spec;

impl<S: Storage> DeviceModel<S> {
    /// Whether the unit has the write gate and lists `GATE` in HELLO (default no: a unit
    /// without it behaves as in version 1.0).
    pub fn with_write_gate(mut self, gated: bool) -> Self {
        self.gate = gated;
        self
    }

    /// The application's physical-presence signal (factory mode, a held button, a jumper):
    /// while it is `true`, a gated unit accepts a new write. It may change at any time.
    pub fn set_write_allowed(&mut self, allowed: bool) {
        self.write_allowed = allowed;
    }

    /// Builder form of [`DeviceModel::set_write_allowed`].
    pub fn with_write_allowed(mut self, allowed: bool) -> Self {
        self.write_allowed = allowed;
        self
    }

    /// The largest STAGE frame the unit accepts, listed as `FRAME<n>` in HELLO when below
    /// [`spec::MAX_FRAME_LEN`] (spec §10.2). Clamped to
    /// [`spec::MIN_FRAME_LIMIT`]..=[`spec::MAX_FRAME_LEN`].
    pub fn with_frame_limit(mut self, bytes: usize) -> Self {
        self.frame_limit = bytes.clamp(spec::MIN_FRAME_LIMIT, spec::MAX_FRAME_LEN);
        self
    }

    /// The largest STAGE frame the unit accepts.
    pub fn frame_limit(&self) -> usize {
        self.frame_limit
    }

    /// Whether a write must be refused now: the gate is on, a config is committed and the
    /// application does not allow a write (spec §10.3).
    pub(super) fn gate_closed(&self) -> bool {
        self.gate && self.committed.is_some() && !self.write_allowed
    }

    /// Whether a COMMIT of `generation` would take the unit's generation back or keep it: a
    /// gated unit refuses it (spec §10.3).
    pub(super) fn is_stale(&self, generation: u32) -> bool {
        self.gate
            && self
                .committed
                .as_ref()
                .is_some_and(|c| generation <= c.generation())
    }

    /// The version 1.1 tokens this module adds to HELLO's capabilities.
    pub(super) fn gate_capabilities(&self) -> Vec<String> {
        let mut caps = Vec::new();
        if self.gate {
            caps.push(spec::CAP_GATE.to_owned());
        }
        if self.frame_limit < spec::MAX_FRAME_LEN {
            caps.push(format!("{}{}", spec::CAP_FRAME_PREFIX, self.frame_limit));
        }
        caps
    }
}
