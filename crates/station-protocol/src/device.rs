//! The device side of the protocol as a pure state machine: what firmware must do (spec §7).
//!
//! This module owns [`DeviceModel`] (frame decoding, the session and staging area, the reply
//! cache that makes retransmissions idempotent, COMMIT's checks, and the committed config), the
//! [`Storage`] trait for the committed blob, and [`StoredConfig`], the blob's parsed form. It does
//! no I/O: bytes in, reply bytes out. The simulator runs it; the C firmware mirrors it.

use std::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::codec::{Frame, FrameDecoder};
use crate::command::{Command, Key};
use crate::config::{canonical_encoding_of, digest_of, ConfigError, DeviceConfig};
use crate::error_code::DeviceErrorCode;
use crate::message::{
    chunk_value, is_firmware_version, is_hardware_id, ErrorReply, HelloInfo, Reply, Request,
    Response,
};
use crate::spec;
use crate::transport::Transport;

/// Why storage refused a write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The blob does not fit.
    #[error("storage full")]
    Full,
    /// The write failed; the previous blob is still intact.
    #[error("storage failed: {0}")]
    Failed(String),
}

/// Non-volatile storage for the committed config blob. `store` must be atomic: after a power
/// loss at any moment, `load` returns either the old blob or the new one, never a mix.
pub trait Storage {
    /// The stored blob, if any.
    fn load(&mut self) -> Result<Option<Vec<u8>>, StorageError>;
    /// Replaces the stored blob atomically.
    fn store(&mut self, blob: &[u8]) -> Result<(), StorageError>;
}

/// Storage in RAM, for tests.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    /// The blob.
    pub blob: Option<Vec<u8>>,
    /// If set, `store` fails with this error (and keeps the old blob).
    pub fail_with: Option<StorageError>,
}

impl Storage for MemoryStorage {
    fn load(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.blob.clone())
    }
    fn store(&mut self, blob: &[u8]) -> Result<(), StorageError> {
        if let Some(e) = &self.fail_with {
            return Err(e.clone());
        }
        self.blob = Some(blob.to_vec());
        Ok(())
    }
}

/// Why a stored blob could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    /// Too short, wrong magic, wrong key order or lengths.
    #[error("config blob is malformed")]
    Malformed,
    /// The trailing SHA-256 does not match (torn or corrupted write).
    #[error("config blob checksum mismatch")]
    Checksum,
}

/// A committed config as stored: every key's bytes (spec §7.4). `Debug` redacts secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredConfig {
    values: Vec<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for StoredConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for key in Key::ALL {
            let v = self.get(key);
            if key.is_secret() {
                m.entry(&key.name(), &format_args!("<redacted, {} bytes>", v.len()));
            } else {
                m.entry(&key.name(), &String::from_utf8_lossy(v));
            }
        }
        m.finish()
    }
}

impl StoredConfig {
    /// The bytes of `key`.
    pub fn get(&self, key: Key) -> &[u8] {
        self.values.get(key.index()).map_or(&[], |v| v.as_slice())
    }

    /// The value of `key` as text (all valid configs are UTF-8).
    pub fn get_str(&self, key: Key) -> &str {
        std::str::from_utf8(self.get(key)).unwrap_or("")
    }

    /// The generation (0 if the stored text is not a number, which commit never allows).
    pub fn generation(&self) -> u32 {
        // Canonical decimal only (spec §4, §5.1), as COMMIT accepts it: "+7" or "007" reads as 0,
        // as in the C module.
        crate::message::parse_decimal(self.get_str(Key::Generation))
            .and_then(|g| u32::try_from(g).ok())
            .unwrap_or(0)
    }

    /// SHA-256 of the canonical encoding: equals the COMMIT digest that stored it.
    pub fn digest(&self) -> [u8; 32] {
        digest_of(|k| self.get(k))
    }

    /// The stored form (spec §7.4): canonical encoding followed by its SHA-256.
    pub fn to_blob(&self) -> Zeroizing<Vec<u8>> {
        let mut blob = canonical_encoding_of(|k| self.get(k));
        let digest = Sha256::digest(blob.as_slice());
        blob.extend_from_slice(&digest);
        blob
    }

    /// Parses and checks a stored blob.
    pub fn from_blob(blob: &[u8]) -> Result<StoredConfig, BlobError> {
        let magic = spec::CANONICAL_MAGIC;
        if blob.len() < magic.len() + spec::DIGEST_LEN || !blob.starts_with(magic) {
            return Err(BlobError::Malformed);
        }
        let (body, trailer) = blob.split_at(blob.len() - spec::DIGEST_LEN);
        if Sha256::digest(body).as_slice() != trailer {
            return Err(BlobError::Checksum);
        }
        let mut rest = &body[magic.len()..];
        let mut values = Vec::with_capacity(Key::ALL.len());
        for key in Key::ALL {
            let header = spec::KEY_HEADER_LEN;
            if rest.len() < header || rest[0] != key.id() {
                return Err(BlobError::Malformed);
            }
            let len = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
            let value = rest.get(header..header + len).ok_or(BlobError::Malformed)?;
            values.push(Zeroizing::new(value.to_vec()));
            rest = &rest[header + len..];
        }
        if !rest.is_empty() {
            return Err(BlobError::Malformed);
        }
        Ok(StoredConfig { values })
    }

    /// Builds the stored form of a config (for tests and for seeding a simulator's flash).
    pub fn from_config(cfg: &DeviceConfig) -> StoredConfig {
        StoredConfig {
            values: Key::ALL.iter().map(|k| cfg.value(*k)).collect(),
        }
    }

    /// Converts back into a [`DeviceConfig`], checking every value.
    pub fn to_device_config(&self) -> Result<DeviceConfig, ConfigError> {
        for key in Key::ALL {
            key.validate(self.get(key))
                .map_err(|reason| ConfigError { key, reason })?;
        }
        let s = |k: Key| self.get_str(k).to_owned();
        let num = |k: Key| -> Result<u32, ConfigError> {
            self.get_str(k).parse().map_err(|_| ConfigError {
                key: k,
                reason: "is not a number".to_owned(),
            })
        };
        Ok(DeviceConfig {
            device_id: s(Key::DeviceId),
            mqtt_username: s(Key::MqttUsername),
            mqtt_password: Zeroizing::new(s(Key::MqttPassword)),
            api_key: Zeroizing::new(s(Key::ApiKey)),
            broker_host: s(Key::BrokerHost),
            broker_port: u16::try_from(num(Key::BrokerPort)?).map_err(|_| ConfigError {
                key: Key::BrokerPort,
                reason: "is out of range".to_owned(),
            })?,
            broker_tls: self.get(Key::BrokerTls) == b"1",
            topic_data: s(Key::TopicData),
            topic_status: s(Key::TopicStatus),
            topic_cmd: s(Key::TopicCmd),
            generation: num(Key::Generation)?,
        })
    }
}

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

/// The last mutating request and its reply (spec §6.3): a retransmission (same seq, same CRC)
/// gets these bytes back and changes nothing.
#[derive(Debug, Clone)]
struct CachedReply {
    seq: u8,
    crc: u16,
    reply: Vec<u8>,
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
    cache: Option<CachedReply>,
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
            cache: None,
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

    /// Acts on one frame and returns the reply.
    pub fn handle_frame(&mut self, frame: &Frame) -> Handled {
        let request = match Request::parse(frame) {
            Ok(r) => r,
            Err(e) => {
                let reply = Response::encode_err(
                    frame.seq,
                    &ErrorReply {
                        command_word: e.command_word,
                        code: e.code,
                        detail: e.detail,
                    },
                );
                return Handled {
                    reply,
                    command: Command::from_name(frame.words.first().map_or("", |w| w.as_str())),
                    ok: false,
                    replayed: false,
                };
            }
        };
        let command = request.command();
        if frame.seq == spec::SEQ_UNSOLICITED {
            return self.refuse(frame, command, DeviceErrorCode::BadFrame, None);
        }
        if command == Command::Hello {
            // HELLO starts a conversation: a new station process may reuse sequence numbers,
            // so the cache of the previous one must not answer it.
            self.cache = None;
        } else if let Some(c) = &self.cache {
            if c.seq == frame.seq && c.crc == frame.crc {
                return Handled {
                    reply: c.reply.clone(),
                    command: Some(command),
                    ok: true,
                    replayed: true,
                };
            }
        }
        let result = self.execute(request);
        let (reply, ok) = match result {
            Ok(reply) => (Response::encode_ok(frame.seq, &reply), true),
            Err((code, detail)) => {
                return self.refuse(frame, command, code, detail);
            }
        };
        if command != Command::Hello {
            self.cache = Some(CachedReply {
                seq: frame.seq,
                crc: frame.crc,
                reply: reply.clone(),
            });
        }
        Handled {
            reply,
            command: Some(command),
            ok,
            replayed: false,
        }
    }

    fn refuse(
        &mut self,
        frame: &Frame,
        command: Command,
        code: DeviceErrorCode,
        detail: Option<String>,
    ) -> Handled {
        let reply = Response::encode_err(
            frame.seq,
            &ErrorReply {
                command_word: command.name().to_owned(),
                code,
                detail,
            },
        );
        // BUSY means "nothing done, ask again": never cached, so the retransmission is acted on.
        if code != DeviceErrorCode::Busy && command != Command::Hello {
            self.cache = Some(CachedReply {
                seq: frame.seq,
                crc: frame.crc,
                reply: reply.clone(),
            });
        }
        Handled {
            reply,
            command: Some(command),
            ok: false,
            replayed: false,
        }
    }

    fn execute(&mut self, request: Request) -> Result<Reply, (DeviceErrorCode, Option<String>)> {
        match request {
            Request::Hello { version } => {
                if version < spec::PROTOCOL_VERSION {
                    return Err((
                        DeviceErrorCode::UnsupportedVersion,
                        Some(spec::PROTOCOL_VERSION.to_string()),
                    ));
                }
                Ok(Reply::Hello(HelloInfo {
                    version: spec::PROTOCOL_VERSION,
                    capabilities: spec::CAPABILITIES_V1
                        .iter()
                        .map(|c| (*c).to_owned())
                        .collect(),
                    hardware_id: self.hardware_id.clone(),
                    firmware_version: self.firmware_version.clone(),
                    generation: self.committed.as_ref().map(StoredConfig::generation),
                }))
            }
            Request::Begin => {
                self.staging = Some(vec![None; Key::ALL.len()]);
                Ok(Reply::Begin)
            }
            Request::Abort => {
                self.staging = None;
                Ok(Reply::Abort)
            }
            Request::Stage { key, offset, chunk } => self.stage(key, offset, &chunk),
            Request::Commit {
                digest,
                hardware_id,
            } => {
                let result = self.commit(&digest, &hardware_id);
                // Every answered COMMIT ends the session: applied, or refused and discarded.
                self.staging = None;
                result
            }
            Request::Read { key, offset } => self.read(key, offset),
        }
    }

    fn stage(
        &mut self,
        key: Key,
        offset: usize,
        chunk: &[u8],
    ) -> Result<Reply, (DeviceErrorCode, Option<String>)> {
        let capacity = self.staging_capacity;
        let Some(staging) = self.staging.as_mut() else {
            return Err((DeviceErrorCode::NoSession, None));
        };
        let detail = || Some(key.name().to_owned());
        let current_len = staging[key.index()].as_ref().map_or(0, |v| v.len());
        if offset > current_len {
            return Err((DeviceErrorCode::BadOffset, detail()));
        }
        let new_len = offset + chunk.len();
        if new_len > key.max_len() {
            return Err((DeviceErrorCode::BadValue, detail()));
        }
        let others: usize = staging
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != key.index())
            .map(|(_, v)| v.as_ref().map_or(0, |v| v.len()))
            .sum();
        if others + new_len > capacity {
            return Err((DeviceErrorCode::StorageFull, detail()));
        }
        // Writing at an offset truncates there: a chunk sent again lands in the same place.
        let slot = staging[key.index()].get_or_insert_with(|| Zeroizing::new(Vec::new()));
        slot.truncate(offset);
        slot.extend_from_slice(chunk);
        Ok(Reply::Stage {
            key,
            staged_len: new_len,
        })
    }

    fn commit(
        &mut self,
        digest: &[u8; 32],
        hardware_id: &str,
    ) -> Result<Reply, (DeviceErrorCode, Option<String>)> {
        let Some(staging) = self.staging.as_ref() else {
            return Err((DeviceErrorCode::NoSession, None));
        };
        if !hardware_id.eq_ignore_ascii_case(&self.hardware_id) {
            return Err((DeviceErrorCode::HwidMismatch, None));
        }
        if let Some(key) = Key::ALL.into_iter().find(|k| staging[k.index()].is_none()) {
            return Err((DeviceErrorCode::MissingKey, Some(key.name().to_owned())));
        }
        let get = |k: Key| {
            staging[k.index()]
                .as_deref()
                .map_or(&[][..], |v| v.as_slice())
        };
        if &digest_of(get) != digest {
            return Err((DeviceErrorCode::DigestMismatch, None));
        }
        for key in Key::ALL {
            if key.validate(get(key)).is_err() {
                return Err((DeviceErrorCode::BadValue, Some(key.name().to_owned())));
            }
        }
        let config = StoredConfig {
            values: Key::ALL
                .iter()
                .map(|k| Zeroizing::new(get(*k).to_vec()))
                .collect(),
        };
        match self.storage.store(&config.to_blob()) {
            Ok(()) => {}
            Err(StorageError::Full) => return Err((DeviceErrorCode::StorageFull, None)),
            Err(StorageError::Failed(e)) => {
                tracing::warn!(error = %e, "storing config failed");
                return Err((DeviceErrorCode::StorageFailed, None));
            }
        }
        let generation = config.generation();
        self.committed = Some(config);
        Ok(Reply::Commit { generation })
    }

    fn read(&self, key: Key, offset: usize) -> Result<Reply, (DeviceErrorCode, Option<String>)> {
        if key.is_secret() {
            return Err((DeviceErrorCode::WriteOnly, Some(key.name().to_owned())));
        }
        let Some(config) = &self.committed else {
            return Err((DeviceErrorCode::NoConfig, None));
        };
        let value = config.get(key);
        let rest = value
            .get(offset..)
            .ok_or((DeviceErrorCode::BadOffset, Some(key.name().to_owned())))?;
        let chunk = chunk_value(rest).first().map_or(Vec::new(), |c| c.to_vec());
        Ok(Reply::Read {
            key,
            offset,
            total: value.len(),
            chunk,
        })
    }
}

/// A [`Transport`] straight into a [`DeviceModel`], without a port: the scripted fake for
/// tests of code built on [`crate::Client`] (as probe-rs ships a fake probe). Replies are
/// available as soon as the request is sent.
pub struct ModelTransport<S: Storage> {
    /// The device behind the link.
    pub model: DeviceModel<S>,
    pending: std::collections::VecDeque<u8>,
}

impl<S: Storage> ModelTransport<S> {
    /// A link to `model`.
    pub fn new(model: DeviceModel<S>) -> Self {
        Self {
            model,
            pending: std::collections::VecDeque::new(),
        }
    }
}

impl<S: Storage + Send> Transport for ModelTransport<S> {
    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let reply = self.model.feed(bytes);
        self.pending.extend(reply);
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8], timeout: std::time::Duration) -> std::io::Result<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::FrameDecoder;
    use crate::config::{config_digest, test_vector_config};

    const HWID: &str = "0102030405060708";

    fn model() -> DeviceModel<MemoryStorage> {
        DeviceModel::new(MemoryStorage::default(), HWID, "t-1").expect("model")
    }

    /// Sends one request, returns the decoded reply words.
    fn ask(m: &mut DeviceModel<MemoryStorage>, seq: u8, req: &Request) -> Vec<String> {
        let out = m.feed(&req.encode(seq));
        let frames = FrameDecoder::new().push_slice(&out);
        assert_eq!(frames.len(), 1, "one reply per request");
        assert_eq!(frames[0].seq, seq);
        frames[0].words.clone()
    }

    /// Found by the C port's review: an unknown word of ~180 bytes, echoed escaped, made a
    /// 588-byte reply that no station accepts. Echoes are cut to MAX_ECHO_BYTES.
    #[test]
    fn regression_long_unknown_words_still_get_a_reply_that_fits_a_frame() {
        let mut m = model();
        for body in [
            format!("@DH1 01 {}", "%".repeat(180)),
            format!("@DH1 02 STAGE {} 0 x", "~".repeat(170)),
            format!("@DH1 03 READ {} 0", "Z".repeat(175)),
        ] {
            let line = format!("{body} *{:04X}\r\n", crate::codec::crc16(body.as_bytes()));
            assert!(
                line.len() <= spec::MAX_FRAME_LEN,
                "request {} bytes",
                line.len()
            );
            let out = m.feed(line.as_bytes());
            assert!(
                out.len() <= spec::MAX_FRAME_LEN,
                "reply of {} bytes",
                out.len()
            );
            let frames = FrameDecoder::new().push_slice(&out);
            assert_eq!(
                frames.len(),
                1,
                "the station can read the reply: {}",
                String::from_utf8_lossy(&out)
            );
            assert_eq!(frames[0].words[0], "ERR");
        }
    }

    fn stage(key: Key, offset: usize, chunk: &[u8]) -> Request {
        Request::Stage {
            key,
            offset,
            chunk: Zeroizing::new(chunk.to_vec()),
        }
    }

    fn stage_all(m: &mut DeviceModel<MemoryStorage>, cfg: &DeviceConfig, seq: &mut u8) {
        for key in Key::ALL {
            let value = cfg.value(key);
            let mut offset = 0;
            for chunk in chunk_value(&value) {
                *seq += 1;
                let words = ask(m, *seq, &stage(key, offset, chunk));
                assert_eq!(words[0], "OK", "{key}: {words:?}");
                offset += chunk.len();
            }
        }
    }

    fn commit(digest: [u8; 32], hwid: &str) -> Request {
        Request::Commit {
            digest,
            hardware_id: hwid.to_owned(),
        }
    }

    #[test]
    fn full_write_commits_and_survives_a_reload() {
        let mut m = model();
        let cfg = test_vector_config();
        let mut seq = 1;
        assert_eq!(ask(&mut m, seq, &Request::Begin), vec!["OK", "BEGIN"]);
        stage_all(&mut m, &cfg, &mut seq);
        seq += 1;
        let words = ask(&mut m, seq, &commit(config_digest(&cfg), HWID));
        assert_eq!(words, vec!["OK", "COMMIT", "1"]);
        assert!(!m.in_session());
        let storage = m.storage().clone();
        let reloaded = DeviceModel::new(storage, HWID, "t-1").expect("reload");
        assert_eq!(
            reloaded.committed().expect("config").to_device_config(),
            Ok(cfg)
        );
    }

    #[test]
    fn retransmission_is_answered_from_cache_and_not_applied_twice() {
        let mut m = model();
        let cfg = test_vector_config();
        ask(&mut m, 1, &Request::Begin);
        let first = m.feed(&stage(Key::DeviceId, 0, b"abc").encode(2));
        // Same seq, same bytes: cached reply. A new chunk at offset 3 would otherwise append.
        let again = m.feed(&stage(Key::DeviceId, 0, b"abc").encode(2));
        assert_eq!(first, again);
        let words = ask(&mut m, 3, &stage(Key::DeviceId, 3, b"def"));
        assert_eq!(words, vec!["OK", "STAGE", "device_id", "6"]);
        // A repeated chunk under a new seq lands at the same offset: still 6 bytes.
        let words = ask(&mut m, 4, &stage(Key::DeviceId, 3, b"def"));
        assert_eq!(words, vec!["OK", "STAGE", "device_id", "6"]);
        let mut seq = 4;
        stage_all(&mut m, &cfg, &mut seq);
        seq += 1;
        let ok = m.feed(&commit(config_digest(&cfg), HWID).encode(seq));
        let replay = m.feed(&commit(config_digest(&cfg), HWID).encode(seq));
        assert_eq!(ok, replay, "lost COMMIT reply is recovered");
        // A new COMMIT (new seq) finds no session: the first one closed it.
        let words = ask(&mut m, seq + 1, &commit(config_digest(&cfg), HWID));
        assert_eq!(words[2], "NO_SESSION");
    }

    #[test]
    fn hello_clears_the_cache() {
        // A COMMIT whose reply is cached, then HELLO, then the very same COMMIT frame again:
        // with the cache cleared it is a new request (no session: NO_SESSION); a cache that
        // survived HELLO would answer the cached OK. (The C port's review found the previous
        // version of this test passed either way.)
        let cfg = test_vector_config();
        let digest = config_digest(&cfg);
        let mut m = model();
        let mut seq = 1;
        ask(&mut m, seq, &Request::Begin);
        stage_all(&mut m, &cfg, &mut seq);
        seq += 1;
        let commit_seq = seq;
        assert_eq!(ask(&mut m, commit_seq, &commit(digest, HWID))[0], "OK");
        // Without HELLO, the retransmission gets the cached OK.
        assert_eq!(ask(&mut m, commit_seq, &commit(digest, HWID))[0], "OK");
        ask(
            &mut m,
            commit_seq.wrapping_add(1),
            &Request::Hello { version: 1 },
        );
        let words = ask(&mut m, commit_seq, &commit(digest, HWID));
        assert_eq!(
            words[2], "NO_SESSION",
            "HELLO did not clear the reply cache: {words:?}"
        );
    }

    #[test]
    fn commit_checks_in_spec_order() {
        let cfg = test_vector_config();
        let digest = config_digest(&cfg);
        let mut m = model();
        assert_eq!(ask(&mut m, 1, &commit(digest, HWID))[2], "NO_SESSION");
        ask(&mut m, 2, &Request::Begin);
        assert_eq!(ask(&mut m, 3, &commit(digest, "FFFF"))[2], "HWID_MISMATCH");
        assert!(!m.in_session(), "a refused COMMIT ends the session");
        ask(&mut m, 4, &Request::Begin);
        ask(&mut m, 5, &stage(Key::DeviceId, 0, b"x"));
        assert_eq!(
            ask(&mut m, 6, &commit(digest, HWID))[2..],
            ["MISSING_KEY", "mqtt_username"]
        );
        ask(&mut m, 7, &Request::Begin);
        let mut seq = 7;
        stage_all(&mut m, &cfg, &mut seq);
        assert_eq!(
            ask(&mut m, 30, &commit([0; 32], HWID))[2],
            "DIGEST_MISMATCH"
        );
        // A bad value that matches its digest is BAD_VALUE: the station sent it on purpose.
        ask(&mut m, 31, &Request::Begin);
        let mut bad = cfg.clone();
        bad.device_id = "dh-000123".into();
        let mut seq = 31;
        stage_all(&mut m, &bad, &mut seq);
        ask(&mut m, 50, &stage(Key::BrokerPort, 0, b"08883"));
        let values: Vec<Zeroizing<Vec<u8>>> = Key::ALL
            .iter()
            .map(|k| {
                if *k == Key::BrokerPort {
                    Zeroizing::new(b"08883".to_vec())
                } else {
                    bad.value(*k)
                }
            })
            .collect();
        let digest = digest_of(|k| values[k.index()].as_slice());
        assert_eq!(
            ask(&mut m, 51, &commit(digest, HWID))[2..],
            ["BAD_VALUE", "broker_port"]
        );
        assert!(m.committed().is_none());
    }

    #[test]
    fn storage_failure_keeps_the_old_config() {
        let mut m = model();
        let cfg = test_vector_config();
        let mut seq = 1;
        ask(&mut m, seq, &Request::Begin);
        stage_all(&mut m, &cfg, &mut seq);
        m.storage_mut().fail_with = Some(StorageError::Failed("flash timeout".into()));
        assert_eq!(
            ask(&mut m, 40, &commit(config_digest(&cfg), HWID))[2],
            "STORAGE_FAILED"
        );
        assert!(m.committed().is_none());
        assert!(m.storage().blob.is_none());
    }

    #[test]
    fn stage_offsets_and_limits() {
        let mut m = model().with_staging_capacity(300);
        assert_eq!(
            ask(&mut m, 1, &stage(Key::DeviceId, 0, b"a"))[2],
            "NO_SESSION"
        );
        ask(&mut m, 2, &Request::Begin);
        assert_eq!(
            ask(&mut m, 3, &stage(Key::DeviceId, 1, b"a"))[2..],
            ["BAD_OFFSET", "device_id"]
        );
        assert_eq!(
            ask(&mut m, 4, &stage(Key::BrokerTls, 0, b"10"))[2..],
            ["BAD_VALUE", "broker_tls"]
        );
        ask(&mut m, 5, &stage(Key::TopicData, 0, &[b'a'; 100]));
        ask(&mut m, 6, &stage(Key::TopicStatus, 0, &[b'a'; 100]));
        assert_eq!(
            ask(&mut m, 7, &stage(Key::TopicCmd, 0, &[b'a'; 101]))[2],
            "STORAGE_FULL"
        );
        // Restaging a key at offset 0 replaces it rather than adding to the total.
        assert_eq!(
            ask(&mut m, 8, &stage(Key::TopicData, 0, &[b'b'; 100]))[0],
            "OK"
        );
    }

    /// Firmware README, spec note 3: a chunk over 128 escaped bytes fits a 200-byte frame but
    /// breaks §4.4. It is refused as malformed (a parse error: no session needed, nothing
    /// staged, not cached), and the limit counts the word as received, not the value's bytes.
    #[test]
    fn stage_chunk_over_128_escaped_bytes_is_refused() {
        let max = spec::MAX_CHUNK_ENCODED;
        let mut m = model();
        // Without a session: BAD_FRAME, not NO_SESSION (§7.3 step 2 comes first).
        let words = ask(&mut m, 1, &stage(Key::TopicData, 0, &vec![b'a'; max + 1]));
        assert_eq!(words[2..], ["BAD_FRAME"]);
        ask(&mut m, 2, &Request::Begin);
        let at_limit = vec![b'a'; max];
        let first = m.feed(&stage(Key::TopicData, 0, &at_limit).encode(3));
        assert_eq!(
            FrameDecoder::new().push_slice(&first)[0].words,
            ["OK", "STAGE", "topic_data", max.to_string().as_str()],
            "exactly {max} escaped bytes is a valid chunk"
        );
        // 43 bytes of '%' escape to 129: refused although the value is far below max_len.
        let percent = vec![b'%'; max / 3 + 1];
        assert_eq!(
            ask(&mut m, 4, &stage(Key::TopicData, max, &percent))[2..],
            ["BAD_FRAME"]
        );
        // Lower-case escapes and escapes nobody needed count at their received length.
        for (seq, word) in [
            (5, "%61".repeat(43)),
            (6, format!("{}%2a", "a".repeat(126))),
        ] {
            let frame = Frame::encode(seq, &["STAGE", "topic_data", &max.to_string(), &word]);
            let out = m.feed(&frame);
            assert_eq!(
                FrameDecoder::new().push_slice(&out)[0].words[2..],
                ["BAD_FRAME"],
                "{word}"
            );
        }
        // An unknown key is still UNKNOWN_KEY: the key is parsed before the chunk.
        let frame = Frame::encode(7, &["STAGE", "colour", "0", &"a".repeat(max + 1)]);
        let out = m.feed(&frame);
        assert_eq!(
            FrameDecoder::new().push_slice(&out)[0].words[2..],
            ["UNKNOWN_KEY", "colour"]
        );
        // Nothing was staged, and the refusals did not replace the cached reply to seq 3.
        assert_eq!(
            m.feed(&stage(Key::TopicData, 0, &at_limit).encode(3)),
            first
        );
        assert_eq!(
            ask(&mut m, 8, &stage(Key::TopicData, max, b"b"))[2..],
            ["topic_data", (max + 1).to_string().as_str()]
        );
        // The spec's vector (§8.2): the same answer with the session open.
        let out = m.feed(&stage(Key::MqttPassword, 0, &percent).encode(0x10));
        assert_eq!(out, b"@DH1 10 ERR STAGE BAD_FRAME *FD87\r\n");
    }

    /// The station's own writes never hit that limit: the worst case for escaping (every byte
    /// escaped, every value at its longest) goes through the client into the model.
    #[test]
    fn station_chunks_never_exceed_128_escaped_bytes() {
        let mut cfg = test_vector_config();
        let percent = |n: usize| "%".repeat(n);
        cfg.mqtt_username = percent(spec::MAX_CREDENTIAL_LEN);
        cfg.mqtt_password = Zeroizing::new(percent(spec::MAX_CREDENTIAL_LEN));
        cfg.api_key = Zeroizing::new(percent(spec::MAX_CREDENTIAL_LEN));
        cfg.broker_host = percent(spec::MAX_BROKER_HOST_LEN);
        cfg.topic_data = percent(spec::MAX_TOPIC_LEN);
        cfg.topic_status = "\u{20ac}".repeat(spec::MAX_TOPIC_LEN / 3);
        cfg.topic_cmd = " ".repeat(spec::MAX_TOPIC_LEN);
        let mut client = crate::Client::new(ModelTransport::new(model()));
        let id = client.hello().expect("hello");
        client
            .write_config(&cfg, &id.hardware_id, &mut |_| {})
            .expect("every chunk accepted");
        let link = client.into_inner();
        assert_eq!(
            link.model
                .committed()
                .expect("committed")
                .to_device_config(),
            Ok(cfg)
        );
    }

    /// Firmware README, spec note 5: a stored generation that is not canonical decimal (spec
    /// §5.1) reads as 0, as the C module reads it; HELLO reports what was read.
    #[test]
    fn stored_generation_is_read_as_canonical_decimal_only() {
        let cfg = test_vector_config();
        for (text, want) in [
            ("7", 7),
            ("0", 0),
            ("4294967295", u32::MAX),
            ("+7", 0),
            ("007", 0),
            ("00", 0),
            ("4294967296", 0),
            ("99999999999", 0),
            ("-1", 0),
            ("", 0),
        ] {
            let values: Vec<Zeroizing<Vec<u8>>> = Key::ALL
                .iter()
                .map(|k| {
                    if *k == Key::Generation {
                        Zeroizing::new(text.as_bytes().to_vec())
                    } else {
                        cfg.value(*k)
                    }
                })
                .collect();
            let blob = StoredConfig { values }.to_blob().to_vec();
            let stored = StoredConfig::from_blob(&blob).expect("well-formed blob");
            assert_eq!(stored.generation(), want, "{text:?}");
            let storage = MemoryStorage {
                blob: Some(blob),
                fail_with: None,
            };
            let mut m = DeviceModel::new(storage, HWID, "t-1").expect("model");
            let words = ask(&mut m, 1, &Request::Hello { version: 1 });
            assert_eq!(words[6], want.to_string(), "{text:?}");
        }
    }

    #[test]
    fn read_returns_public_values_in_chunks_and_never_secrets() {
        let mut m = model();
        assert_eq!(
            ask(
                &mut m,
                1,
                &Request::Read {
                    key: Key::DeviceId,
                    offset: 0
                }
            )[2],
            "NO_CONFIG"
        );
        let mut cfg = test_vector_config();
        cfg.topic_data = "t/".repeat(100);
        let mut seq = 2;
        ask(&mut m, seq, &Request::Begin);
        stage_all(&mut m, &cfg, &mut seq);
        seq += 1;
        ask(&mut m, seq, &commit(config_digest(&cfg), HWID));
        let words = ask(
            &mut m,
            60,
            &Request::Read {
                key: Key::TopicData,
                offset: 0,
            },
        );
        assert_eq!(words[2..5], ["topic_data", "0", "200"]);
        assert_eq!(words[5].len(), spec::MAX_CHUNK_ENCODED);
        let words = ask(
            &mut m,
            61,
            &Request::Read {
                key: Key::TopicData,
                offset: spec::MAX_CHUNK_ENCODED,
            },
        );
        assert_eq!(words[5].len(), 200 - spec::MAX_CHUNK_ENCODED);
        for key in [Key::MqttPassword, Key::ApiKey] {
            let words = ask(&mut m, 62, &Request::Read { key, offset: 0 });
            assert_eq!(words[2], "WRITE_ONLY");
        }
    }

    #[test]
    fn hello_reports_identity_and_version_refusal() {
        let mut m = model();
        let words = ask(&mut m, 1, &Request::Hello { version: 3 });
        assert_eq!(
            words,
            vec!["OK", "HELLO", "1", "CHUNK,READ", HWID, "t-1", "-"]
        );
        let words = ask(&mut m, 2, &Request::Hello { version: 0 });
        assert_eq!(words[2..], ["UNSUPPORTED_VERSION", "1"]);
        let words = ask(&mut m, 0, &Request::Begin);
        assert_eq!(words[2], "BAD_FRAME");
    }

    #[test]
    fn torn_blob_means_unprovisioned() {
        let cfg = test_vector_config();
        let mut blob = StoredConfig::from_config(&cfg).to_blob().to_vec();
        let storage = MemoryStorage {
            blob: Some(blob.clone()),
            fail_with: None,
        };
        assert!(DeviceModel::new(storage, HWID, "t-1")
            .expect("ok")
            .committed()
            .is_some());
        let n = blob.len();
        blob[n / 2] ^= 0xFF;
        let storage = MemoryStorage {
            blob: Some(blob),
            fail_with: None,
        };
        assert!(DeviceModel::new(storage, HWID, "t-1")
            .expect("ok")
            .committed()
            .is_none());
        assert_eq!(
            StoredConfig::from_blob(b"DHCFG1"),
            Err(BlobError::Malformed)
        );
    }

    #[test]
    fn client_over_model_transport_writes_and_identifies() {
        let mut client = crate::Client::new(ModelTransport::new(model()));
        let id = client.hello().expect("hello");
        assert_eq!(id.generation, None);
        let cfg = test_vector_config();
        client
            .write_config(&cfg, &id.hardware_id, &mut |_| {})
            .expect("write");
        let id = client.hello().expect("hello");
        assert_eq!(id.device_id.as_deref(), Some("dh-000123"));
        let link = client.into_inner();
        assert_eq!(
            link.model
                .committed()
                .expect("committed")
                .to_device_config(),
            Ok(cfg)
        );
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let cfg = test_vector_config();
        let text = format!("{:?}", StoredConfig::from_config(&cfg));
        assert!(!text.contains("s3cr3t"));
        assert!(!text.contains("ak_live"));
    }

    /// The cache is touched only by requests the model acts on: a frame that does not parse, and
    /// a HELLO on the unsolicited seq (refused before HELLO would clear it), leave the cached reply
    /// to the last request in place, so its retransmission is still answered, not applied again.
    #[test]
    fn unparsed_frames_and_unsolicited_hello_leave_the_cache_alone() {
        let mut m = model();
        ask(&mut m, 1, &Request::Begin);
        ask(&mut m, 2, &stage(Key::DeviceId, 0, b"abc"));
        let bytes = stage(Key::DeviceId, 0, b"abc").encode(2);
        let retransmit = FrameDecoder::new().push_slice(&bytes).remove(0);
        let out = m.feed(&Frame::encode(3, &["FLY"]));
        assert_eq!(
            FrameDecoder::new().push_slice(&out)[0].words[2],
            "UNKNOWN_COMMAND"
        );
        let words = ask(
            &mut m,
            spec::SEQ_UNSOLICITED,
            &Request::Hello { version: 1 },
        );
        assert_eq!(words[2], "BAD_FRAME");
        let handled = m.handle_frame(&retransmit);
        assert!(handled.replayed && handled.ok, "{handled:?}");
        // A HELLO the model acts on does start a new conversation.
        ask(&mut m, 4, &Request::Hello { version: 1 });
        assert!(!m.handle_frame(&retransmit).replayed);
    }
}
