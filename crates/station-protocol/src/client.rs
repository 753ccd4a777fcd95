//! The station side of the protocol: one request at a time, with timeouts, retransmission and
//! BUSY back-off (spec §6).
//!
//! This module owns [`Client`]: sequence numbers, the retry policy, matching replies to
//! requests through boot logs and noise, and the composite operations (`hello`,
//! `write_config`; `fast_wire`, version 1.1's switch to a faster line, is in `fast_wire`). It
//! logs command names, keys and lengths, never a value or a raw frame.

use std::time::{Duration, Instant};

use tracing::{debug, warn};
use zeroize::Zeroizing;

use crate::codec::FrameDecoder;
use crate::command::{Command, Key};
use crate::config::{config_digest, ConfigError, DeviceConfig};
use crate::error::ProtocolError;
use crate::error_code::DeviceErrorCode;
use crate::message::{is_hardware_id, parse_decimal, stage_chunks, Reply, Request, Response};
use crate::proof::{ProofMac, ProofNonce};
use crate::spec;
use crate::transport::{is_disconnect, Transport};

/// What a device says about itself (HELLO, plus READ of its device id when it holds a config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Protocol version the device speaks.
    pub protocol_version: u16,
    /// Capability tokens (spec §4.1).
    pub capabilities: Vec<String>,
    /// Chip unique id, upper-case hex. Pass it to COMMIT.
    pub hardware_id: String,
    /// Firmware version string.
    pub firmware_version: String,
    /// Device id of the committed config, if any.
    pub device_id: Option<String>,
    /// Generation of the committed config, if any.
    pub generation: Option<u32>,
}

impl Identity {
    /// Whether the device advertised a capability.
    pub fn has_capability(&self, cap: &str) -> bool {
        self.capabilities.iter().any(|c| c == cap)
    }

    /// The largest STAGE frame the device takes (spec §10.2): its `FRAME<n>`, or
    /// [`spec::MAX_FRAME_LEN`] without one. A token whose `n` is not canonical decimal is
    /// unknown, hence absent (§9); an `n` below [`spec::MIN_FRAME_LIMIT`] counts as that, one
    /// above [`spec::MAX_FRAME_LEN`] as that.
    pub fn frame_limit(&self) -> usize {
        self.capabilities
            .iter()
            .filter_map(|c| c.strip_prefix(spec::CAP_FRAME_PREFIX))
            .filter_map(parse_decimal)
            .map(|n| {
                usize::try_from(n)
                    .unwrap_or(usize::MAX)
                    .clamp(spec::MIN_FRAME_LIMIT, spec::MAX_FRAME_LEN)
            })
            .min()
            .unwrap_or(spec::MAX_FRAME_LEN)
    }

    /// Whether the unit speaks none of version 1.1's additions (spec §10): a 1.0 unit.
    pub fn is_protocol_1_0(&self) -> bool {
        !self.capabilities.iter().any(|c| {
            c == spec::CAP_BAUD
                || c == spec::CAP_PROVE
                || c == spec::CAP_GATE
                || c.starts_with(spec::CAP_FRAME_PREFIX)
        })
    }
}

/// Progress of [`Client::write_config`]; each step is reported before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteStep {
    /// Opening the session.
    Begin,
    /// Staging one key (`index` counts from 0 up to `total - 1`).
    Stage {
        /// Key being staged.
        key: Key,
        /// Position of the key.
        index: usize,
        /// Number of keys.
        total: usize,
    },
    /// Committing.
    Commit,
    /// The device confirmed the commit.
    Done,
}

/// Counters for benchmarks and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Frames written (including retransmissions).
    pub frames_sent: u64,
    /// Retransmissions after a timeout or a BUSY reply.
    pub retries: u64,
    /// Requests answered (OK or ERR).
    pub round_trips: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// BUSY replies received.
    pub busy_replies: u64,
    /// Bytes written.
    pub bytes_sent: u64,
    /// Bytes read (frames and noise).
    pub bytes_received: u64,
    /// Bytes outside any frame (boot log, debug prints).
    pub noise_bytes: u64,
    /// Lines starting with `@` that were not valid frames (bad CRC, truncated).
    pub rejected_lines: u64,
    /// The line speed the link runs at (115200 unless a BAUD switch held, spec §10.1).
    pub link_baud: u32,
    /// Milliseconds the last [`Client::fast_wire`] took, switch or fallback.
    pub baud_switch_ms: u64,
    /// Microseconds the bytes counted above take on the wire, each at the rate the link ran at
    /// when it crossed: the "pure wire time" baseline of the benchmarks.
    pub wire_micros: u64,
}

/// Talks to one device over a [`Transport`]. One request is in flight at a time.
pub struct Client<T: Transport> {
    pub(crate) transport: T,
    decoder: FrameDecoder,
    next_seq: u8,
    pub(crate) stats: ClientStats,
    rx: Vec<u8>,
    /// The rate this side of the link runs at.
    pub(crate) baud: u32,
    /// When the device's last reply arrived (BAUD's fallback waits from it, spec §10.1).
    pub(crate) last_reply: Option<Instant>,
    /// The largest STAGE frame the device takes: its `FRAME<n>` from the last HELLO, else
    /// [`spec::MAX_FRAME_LEN`] (spec §10.2).
    frame_limit: usize,
}

impl<T: Transport> std::fmt::Debug for Client<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("next_seq", &self.next_seq)
            .field("stats", &self.stats)
            .field("baud", &self.baud)
            .finish()
    }
}

/// Read buffer size: a few frames' worth, so boot logs drain quickly.
const RX_CHUNK: usize = 512;

impl<T: Transport> Client<T> {
    /// A client over `transport`, starting at sequence number 1.
    pub fn new(transport: T) -> Self {
        Self {
            transport,
            decoder: FrameDecoder::new(),
            next_seq: 1,
            stats: ClientStats::default(),
            rx: vec![0; RX_CHUNK],
            baud: spec::BAUD_RATE,
            last_reply: None,
            frame_limit: spec::MAX_FRAME_LEN,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> ClientStats {
        let d = self.decoder.stats();
        ClientStats {
            noise_bytes: d.noise_bytes,
            rejected_lines: d.rejected_lines,
            link_baud: self.baud,
            ..self.stats
        }
    }

    /// The transport, e.g. to close it.
    pub fn into_inner(self) -> T {
        self.transport
    }

    /// Handshake: protocol version, capabilities, hardware id, firmware, and the device id and
    /// generation the device holds. Retries for several seconds so a device that is booting
    /// (printing its boot log) is waited for.
    pub fn hello(&mut self) -> Result<Identity, ProtocolError> {
        let reply = match self.transact(&Request::Hello {
            version: spec::PROTOCOL_VERSION,
        }) {
            Err(ProtocolError::Device {
                code: DeviceErrorCode::UnsupportedVersion,
                detail,
                ..
            }) => {
                let device = detail
                    .as_deref()
                    .and_then(parse_decimal)
                    .and_then(|v| u16::try_from(v).ok())
                    .unwrap_or(0);
                return Err(ProtocolError::UnsupportedVersion {
                    device,
                    station: spec::PROTOCOL_VERSION,
                });
            }
            other => other?,
        };
        let Reply::Hello(info) = reply else {
            return Err(malformed(Command::Hello, "reply of another command"));
        };
        if info.version != spec::PROTOCOL_VERSION {
            return Err(ProtocolError::UnsupportedVersion {
                device: info.version,
                station: spec::PROTOCOL_VERSION,
            });
        }
        let mut identity = Identity {
            protocol_version: info.version,
            capabilities: info.capabilities,
            hardware_id: info.hardware_id,
            firmware_version: info.firmware_version,
            device_id: None,
            generation: info.generation,
        };
        self.frame_limit = identity.frame_limit();
        // A device without READ (not version-1 conformant, but cheap to tolerate) just leaves
        // the device id unknown.
        if identity.generation.is_some() && identity.has_capability("READ") {
            let raw = self.read_key(Key::DeviceId)?;
            // What a unit reports is shown and stored: only the spec's characters, so a rogue
            // unit cannot put terminal escape sequences on a screen or in a record. The
            // refusal never repeats the value.
            Key::DeviceId.validate(&raw).map_err(|_| {
                malformed(
                    Command::Read,
                    "the device id breaks the spec's rules (1..128 of [A-Za-z0-9._:-], §5.1)",
                )
            })?;
            let id = String::from_utf8(raw.to_vec())
                .map_err(|_| malformed(Command::Read, "device id is not UTF-8"))?;
            identity.device_id = Some(id);
        }
        debug!(
            hardware_id = %identity.hardware_id,
            firmware = %identity.firmware_version,
            device_id = ?identity.device_id,
            generation = ?identity.generation,
            "device identified"
        );
        Ok(identity)
    }

    /// Reads a non-secret key of the committed config, chunk by chunk.
    pub fn read_key(&mut self, key: Key) -> Result<Zeroizing<Vec<u8>>, ProtocolError> {
        let mut value = Zeroizing::new(Vec::new());
        loop {
            let reply = self.transact(&Request::Read {
                key,
                offset: value.len(),
            })?;
            let Reply::Read {
                key: got,
                offset,
                total,
                chunk,
            } = reply
            else {
                return Err(malformed(Command::Read, "reply of another command"));
            };
            if got != key || offset != value.len() || total > key.max_len() {
                return Err(malformed(Command::Read, "wrong key, offset or length"));
            }
            value.extend_from_slice(&chunk);
            if value.len() > total || (chunk.is_empty() && value.len() < total) {
                return Err(malformed(Command::Read, "chunks do not add up"));
            }
            if value.len() == total {
                return Ok(value);
            }
        }
    }

    /// Opens a write session; anything staged before is discarded by the device.
    pub fn begin(&mut self) -> Result<(), ProtocolError> {
        self.transact(&Request::Begin).map(drop)
    }

    /// Stages `value` for `key`, in as many chunks as needed. The value is checked against the
    /// key's rules first, so nothing invalid is sent.
    pub fn stage(&mut self, key: Key, value: &str) -> Result<(), ProtocolError> {
        self.stage_bytes(key, value.as_bytes())
    }

    fn stage_bytes(&mut self, key: Key, value: &[u8]) -> Result<(), ProtocolError> {
        key.validate(value)
            .map_err(|reason| ProtocolError::InvalidConfig(ConfigError { key, reason }))?;
        // Only the key and the length: the value may be a secret.
        debug!(key = %key, len = value.len(), "staging");
        let mut offset = 0;
        for chunk in stage_chunks(key, value, self.frame_limit) {
            let reply = self.transact(&Request::Stage {
                key,
                offset,
                chunk: Zeroizing::new(chunk.to_vec()),
            })?;
            match reply {
                Reply::Stage {
                    key: got,
                    staged_len,
                } if got == key && staged_len == offset + chunk.len() => {}
                _ => return Err(malformed(Command::Stage, "wrong key or staged length")),
            }
            offset += chunk.len();
        }
        Ok(())
    }

    /// Asks the device to apply everything staged, if the SHA-256 of its canonical encoding is
    /// `digest` and the device's hardware id is `expected_hardware_id`. On an error, check
    /// [`ProtocolError::commit_outcome_unknown`].
    pub fn commit(
        &mut self,
        digest: &[u8; 32],
        expected_hardware_id: &str,
    ) -> Result<(), ProtocolError> {
        if !is_hardware_id(expected_hardware_id) {
            return Err(ProtocolError::InvalidHardwareId);
        }
        let reply = self.transact(&Request::Commit {
            digest: *digest,
            hardware_id: expected_hardware_id.to_ascii_uppercase(),
        })?;
        match reply {
            Reply::Commit { generation } => {
                debug!(generation, "committed");
                Ok(())
            }
            _ => Err(malformed(Command::Commit, "reply of another command")),
        }
    }

    /// Asks the unit to prove it holds its committed password: the mac it answers to `nonce`
    /// (spec §10.3). Only for a unit that lists `PROVE`; the caller compares the mac.
    pub fn prove(&mut self, nonce: &ProofNonce) -> Result<ProofMac, ProtocolError> {
        match self.transact(&Request::Prove { nonce: *nonce })? {
            Reply::Prove { mac } => Ok(mac),
            _ => Err(malformed(Command::Prove, "reply of another command")),
        }
    }

    /// Discards the session and everything staged.
    pub fn abort(&mut self) -> Result<(), ProtocolError> {
        self.transact(&Request::Abort).map(drop)
    }

    /// The whole write: BEGIN, STAGE of every key, COMMIT with the config's digest. On a
    /// failure before COMMIT the session is aborted (when the device is still there).
    pub fn write_config(
        &mut self,
        cfg: &DeviceConfig,
        expected_hardware_id: &str,
        progress: &mut dyn FnMut(WriteStep),
    ) -> Result<(), ProtocolError> {
        cfg.validate()?;
        if !is_hardware_id(expected_hardware_id) {
            return Err(ProtocolError::InvalidHardwareId);
        }
        progress(WriteStep::Begin);
        self.begin()?;
        let total = Key::ALL.len();
        for (index, key) in Key::ALL.into_iter().enumerate() {
            progress(WriteStep::Stage { key, index, total });
            if let Err(e) = self.stage_bytes(key, &cfg.value(key)) {
                self.abort_after(&e);
                return Err(e);
            }
        }
        progress(WriteStep::Commit);
        // A refused COMMIT ends the session on the device, and an unanswered one must not be
        // followed by anything but HELLO: no abort here.
        self.commit(&config_digest(cfg), expected_hardware_id)?;
        progress(WriteStep::Done);
        Ok(())
    }

    fn abort_after(&mut self, cause: &ProtocolError) {
        if matches!(cause, ProtocolError::Disconnected { .. }) {
            return;
        }
        if let Err(e) = self.abort() {
            debug!(error = %e, "abort after a failed write also failed");
        }
    }

    fn take_seq(&mut self) -> u8 {
        let seq = self.next_seq;
        // 0 is reserved for unsolicited device frames (spec §2.4).
        self.next_seq = if seq == u8::MAX { 1 } else { seq + 1 };
        seq
    }

    /// One request: send, wait, retransmit the same frame (same seq) on timeout or BUSY.
    fn transact(&mut self, request: &Request) -> Result<Reply, ProtocolError> {
        self.transact_with(request, request.command().max_attempts())
    }

    /// [`Client::transact`] giving up after `max_attempts` unanswered sends.
    pub(crate) fn transact_with(
        &mut self,
        request: &Request,
        max_attempts: u32,
    ) -> Result<Reply, ProtocolError> {
        let command = request.command();
        let seq = self.take_seq();
        let frame = Zeroizing::new(request.encode(seq));
        let mut sends: u32 = 0;
        let mut timeouts: u32 = 0;
        let mut busy: u32 = 0;
        let mut backoff = spec::BUSY_BACKOFF_START;
        loop {
            if sends > 0 {
                self.stats.retries += 1;
            }
            sends += 1;
            debug!(command = %command, seq, attempt = sends, "send");
            self.send(&frame, command)?;
            let sent_at = Instant::now();
            let deadline = sent_at + command.timeout();
            match self.wait_reply(seq, command, deadline)? {
                None => {
                    self.stats.timeouts += 1;
                    timeouts += 1;
                    warn!(command = %command, seq, attempt = sends, "no reply");
                    self.follow_idle_revert(sent_at)?;
                    if timeouts >= max_attempts {
                        return Err(ProtocolError::Timeout {
                            command,
                            attempts: sends,
                        });
                    }
                }
                Some(Response::Ok(reply)) => {
                    self.stats.round_trips += 1;
                    return Ok(reply);
                }
                Some(Response::Err(err)) => {
                    self.stats.round_trips += 1;
                    if err.code.is_retryable() && busy < spec::MAX_BUSY_REPLIES {
                        busy += 1;
                        self.stats.busy_replies += 1;
                        debug!(command = %command, seq, busy, "device busy, backing off");
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(spec::BUSY_BACKOFF_MAX);
                        continue;
                    }
                    return Err(ProtocolError::Device {
                        command,
                        code: err.code,
                        detail: err.detail.filter(|d| is_safe_detail(d)),
                        attempts: sends,
                    });
                }
            }
        }
    }

    fn send(&mut self, frame: &[u8], command: Command) -> Result<(), ProtocolError> {
        self.transport
            .send(frame)
            .map_err(|e| io_error(e, command))?;
        self.stats.frames_sent += 1;
        self.stats.bytes_sent += frame.len() as u64;
        self.stats.wire_micros += wire_time(frame.len(), self.baud).as_micros() as u64;
        Ok(())
    }

    /// Reads until a reply to (`seq`, `command`) arrives or `deadline` passes. Everything else
    /// (boot log, debug prints, stale replies to earlier requests, our own echo) is skipped.
    fn wait_reply(
        &mut self,
        seq: u8,
        command: Command,
        deadline: Instant,
    ) -> Result<Option<Response>, ProtocolError> {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let n = self
                .transport
                .recv(&mut self.rx, deadline - now)
                .map_err(|e| io_error(e, command))?;
            self.stats.bytes_received += n as u64;
            self.stats.wire_micros += wire_time(n, self.baud).as_micros() as u64;
            for frame in self.decoder.push_slice(&self.rx[..n]) {
                if frame.seq != seq || !Response::is_reply_to(&frame, command) {
                    debug!(
                        seq = frame.seq,
                        "skipping frame that does not answer this request"
                    );
                    continue;
                }
                self.last_reply = Some(Instant::now());
                return Response::parse(&frame, command)
                    .map(Some)
                    .map_err(ProtocolError::from);
            }
        }
    }
}

/// Details shown from a device are limited to key names and small numbers: a misbehaving
/// device could otherwise put anything (even a staged secret) into our error messages.
fn is_safe_detail(d: &str) -> bool {
    Key::from_name(d).is_some() || (d.len() <= 5 && d.bytes().all(|b| b.is_ascii_digit()))
}

fn io_error(e: std::io::Error, command: Command) -> ProtocolError {
    if is_disconnect(&e) {
        ProtocolError::Disconnected { command }
    } else {
        ProtocolError::Io { command, source: e }
    }
}

fn malformed(command: Command, reason: &str) -> ProtocolError {
    ProtocolError::MalformedReply(crate::message::MalformedReply {
        command,
        reason: reason.to_owned(),
    })
}

/// Wire time of `bytes` at `baud` on an 8N1 line: what a pty does not emulate.
pub fn wire_time(bytes: usize, baud: u32) -> Duration {
    let bits = bytes as u64 * u64::from(spec::BITS_PER_BYTE);
    Duration::from_micros(bits * 1_000_000 / u64::from(baud.max(1)))
}
