//! The device side of the protocol as a pure state machine: what firmware must do (spec §7).
//!
//! This module owns [`DeviceModel`]: it decodes frames, refuses what may not be acted on
//! (unparsable frames, the unsolicited seq), answers retransmissions from the reply cache and
//! hands the rest to the session, then frames the reply. It does no I/O: bytes in, reply bytes
//! out. The simulator runs it; the C firmware mirrors it. One concern per file beside it:
//! - `session`: what each request does to the staging area and the committed config;
//! - `reply_cache`: the cache that makes retransmissions idempotent (spec §6.3);
//! - `baud`: version 1.1's BAUD and the return to 115200 when idle (spec §10.1); the model
//!   has no clock, so its host passes the time in;
//! - `gate`: version 1.1's write gate, monotonic generations and frame limit (spec §10.2,
//!   §10.3);
//! - `prove`: version 1.1's PROVE, the possession proof over the committed password (spec
//!   §10.3);
//! - `storage`: the [`Storage`] trait for the committed blob, and [`MemoryStorage`];
//! - `stored_config`: [`StoredConfig`], the blob's parsed form, and its checks;
//! - `model_transport`: [`ModelTransport`], a [`crate::Transport`] straight into a model.

use std::fmt;
use std::time::Instant;

use zeroize::Zeroizing;

use crate::codec::{Frame, FrameDecoder};
use crate::command::Command;
use crate::error_code::DeviceErrorCode;
use crate::message::{
    is_firmware_version, is_hardware_id, ErrorReply, Request, RequestError, Response,
};
use crate::spec;

mod baud;
mod gate;
mod model_transport;
mod prove;
mod reply_cache;
mod session;
mod storage;
mod stored_config;
#[cfg(test)]
mod tests;

pub use model_transport::ModelTransport;
pub use storage::{MemoryStorage, Storage, StorageError};
pub use stored_config::{BlobError, StoredConfig};

use reply_cache::ReplyCache;
use session::Refusal;

/// Why a [`DeviceModel`] could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceInitError {
    /// Hardware id is not 2..=32 hex digits (even count).
    #[error("hardware id must be 2..=32 hex digits, an even count")]
    HardwareId,
    /// Firmware version is not 1..=32 of `[A-Za-z0-9._+-]`.
    #[error("firmware version must be 1..=32 of [A-Za-z0-9._+-]")]
    FirmwareVersion,
    /// Storage could not be read.
    #[error("cannot load storage: {0}")]
    Storage(StorageError),
}

/// What one frame did; for simulators that inject faults around the model.
#[derive(Debug, Clone)]
pub struct Handled {
    /// Bytes to send back (already a complete frame).
    pub reply: Vec<u8>,
    /// Command of the request, if it parsed.
    pub command: Option<Command>,
    /// Whether the reply is OK.
    pub ok: bool,
    /// Whether the reply came from the cache (retransmission).
    pub replayed: bool,
    /// After sending `reply` at the current rate, run the line at this rate (BAUD, spec
    /// §10.1): the host applies it once the reply has left its UART.
    pub switch_to: Option<u32>,
}

/// A device speaking protocol version 1.
pub struct DeviceModel<S: Storage> {
    storage: S,
    hardware_id: String,
    firmware_version: String,
    committed: Option<StoredConfig>,
    /// `Some` while a session is open; one slot per key in canonical order.
    staging: Option<Vec<Option<Zeroizing<Vec<u8>>>>>,
    staging_capacity: usize,
    decoder: FrameDecoder,
    cache: ReplyCache,
    /// Rates besides 115200 that BAUD accepts; empty = a protocol 1.0 unit (no `BAUD`).
    baud_rates: Vec<u32>,
    /// The rate the device's UART runs at now.
    baud: u32,
    /// Whether the device answers PROVE (spec §10.3); `false` plays a protocol 1.0 unit.
    prove: bool,
    /// Whether the device has the write gate (spec §10.3).
    gate: bool,
    /// The application allows a write now (factory mode, a held button, a jumper).
    write_allowed: bool,
    /// The largest STAGE frame accepted (spec §10.2); [`spec::MAX_FRAME_LEN`] lists no token.
    frame_limit: usize,
    /// When a valid frame last arrived or a reply was last produced (the idle-revert timer).
    last_activity: Option<Instant>,
}

impl<S: Storage> fmt::Debug for DeviceModel<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceModel")
            .field("hardware_id", &self.hardware_id)
            .field("firmware_version", &self.firmware_version)
            .field("committed", &self.committed)
            .field("in_session", &self.staging.is_some())
            .finish()
    }
}

impl<S: Storage> DeviceModel<S> {
    /// A device with the given identity, loading its committed config from `storage`. A blob
    /// that fails its checksum is treated as no config (what firmware does after a torn write).
    pub fn new(
        mut storage: S,
        hardware_id: &str,
        firmware_version: &str,
    ) -> Result<Self, DeviceInitError> {
        if !is_hardware_id(hardware_id) {
            return Err(DeviceInitError::HardwareId);
        }
        if !is_firmware_version(firmware_version) {
            return Err(DeviceInitError::FirmwareVersion);
        }
        let committed = match storage.load().map_err(DeviceInitError::Storage)? {
            Some(blob) => match StoredConfig::from_blob(&blob) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "stored config unreadable; starting unprovisioned");
                    None
                }
            },
            None => None,
        };
        Ok(Self {
            storage,
            hardware_id: hardware_id.to_ascii_uppercase(),
            firmware_version: firmware_version.to_owned(),
            committed,
            staging: None,
            staging_capacity: usize::MAX,
            decoder: FrameDecoder::new(),
            cache: ReplyCache::default(),
            baud_rates: spec::FAST_BAUD_RATES.to_vec(),
            baud: spec::BAUD_RATE,
            prove: true,
            gate: false,
            write_allowed: false,
            frame_limit: spec::MAX_FRAME_LEN,
            last_activity: None,
        })
    }

    /// Limits the total staged bytes (STAGE answers STORAGE_FULL beyond it), as a small device
    /// would.
    pub fn with_staging_capacity(mut self, bytes: usize) -> Self {
        self.staging_capacity = bytes;
        self
    }

    /// Hardware id (upper-case hex).
    pub fn hardware_id(&self) -> &str {
        &self.hardware_id
    }

    /// The committed config, if any.
    pub fn committed(&self) -> Option<&StoredConfig> {
        self.committed.as_ref()
    }

    /// Whether a write session is open.
    pub fn in_session(&self) -> bool {
        self.staging.is_some()
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// The storage, mutably (tests use it to inject failures).
    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.storage
    }

    /// Feeds received bytes; returns the bytes to send back.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for frame in self.decode(bytes) {
            out.extend(self.handle_frame(&frame).reply);
        }
        out
    }

    /// Decodes received bytes into frames without acting on them.
    pub fn decode(&mut self, bytes: &[u8]) -> Vec<Frame> {
        self.decoder.push_slice(bytes)
    }

    /// Acts on one frame and returns the reply, taking the time from the system clock.
    pub fn handle_frame(&mut self, frame: &Frame) -> Handled {
        self.handle_frame_at(frame, Instant::now())
    }

    /// Acts on one frame received at `now` (the host's clock) and returns the reply. Every
    /// valid frame restarts the idle-revert timer (spec §10.1).
    pub fn handle_frame_at(&mut self, frame: &Frame, now: Instant) -> Handled {
        self.last_activity = Some(now);
        let request = match Request::parse(frame) {
            Ok(r) => r,
            Err(e) => return unparsed(frame, e),
        };
        let command = request.command();
        if matches!(request, Request::Stage { .. }) && frame.wire_len() > self.frame_limit {
            // Longer than the unit's FRAME<n>: malformed, like a chunk over 128 (spec §10.2).
            return uncached_refusal(frame, command, DeviceErrorCode::BadFrame);
        }
        if frame.seq == spec::SEQ_UNSOLICITED {
            // Refused, and neither kept in the cache nor clearing it (spec §10.4): a stray
            // seq-00 frame must not cost a retransmitted COMMIT its cached answer.
            return uncached_refusal(frame, command, DeviceErrorCode::BadFrame);
        }
        if let Request::Baud { rate } = request {
            // Executed every time; never answered from, kept in or clearing the cache.
            return self.baud_request(frame, rate);
        }
        if let Request::Prove { nonce } = request {
            // Like BAUD: executed every time, never cached, leaves the cache alone.
            return self.prove_request(frame, &nonce);
        }
        if let Some(reply) = self.cache.replay(frame, command) {
            return Handled {
                reply,
                command: Some(command),
                ok: true,
                replayed: true,
                switch_to: None,
            };
        }
        match self.execute(request) {
            Ok(reply) => {
                let reply = Response::encode_ok(frame.seq, &reply);
                self.cache.keep(frame, command, None, &reply);
                Handled {
                    reply,
                    command: Some(command),
                    ok: true,
                    replayed: false,
                    switch_to: None,
                }
            }
            Err(refusal) => self.refuse(frame, command, refusal),
        }
    }

    fn refuse(&mut self, frame: &Frame, command: Command, refusal: Refusal) -> Handled {
        let (code, detail) = refusal;
        let reply = Response::encode_err(
            frame.seq,
            &ErrorReply {
                command_word: command.name().to_owned(),
                code,
                detail,
            },
        );
        self.cache.keep(frame, command, Some(code), &reply);
        Handled {
            reply,
            command: Some(command),
            ok: false,
            replayed: false,
            switch_to: None,
        }
    }
}

/// A refusal that is neither kept in the cache nor clears it (spec §7.3 steps 2 and 3).
fn uncached_refusal(frame: &Frame, command: Command, code: DeviceErrorCode) -> Handled {
    let reply = Response::encode_err(
        frame.seq,
        &ErrorReply {
            command_word: command.name().to_owned(),
            code,
            detail: None,
        },
    );
    Handled {
        reply,
        command: Some(command),
        ok: false,
        replayed: false,
        switch_to: None,
    }
}

/// The reply to a frame that did not parse: neither kept in the cache nor clearing it.
fn unparsed(frame: &Frame, e: RequestError) -> Handled {
    let reply = Response::encode_err(
        frame.seq,
        &ErrorReply {
            command_word: e.command_word,
            code: e.code,
            detail: e.detail,
        },
    );
    Handled {
        reply,
        command: Command::from_name(frame.words.first().map_or("", |w| w.as_str())),
        ok: false,
        replayed: false,
        switch_to: None,
    }
}
