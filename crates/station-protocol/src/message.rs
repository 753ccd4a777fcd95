//! Typed requests and replies: the field layout of every command (spec §3 and §4).
//!
//! This module owns the mapping between [`Frame`] words and typed messages, in both directions,
//! for both sides: the station encodes [`Request`]s and parses [`Response`]s, the device model
//! parses requests and encodes responses.

use std::fmt;

use zeroize::Zeroizing;

use crate::codec::{escape_value, is_token_byte, unescape_value, Frame};
use crate::command::{Command, Key};
use crate::error_code::DeviceErrorCode;
use crate::proof::{ProofMac, ProofNonce};
use crate::spec;

/// The part of a request word echoed in an ERR reply (spec §3.2).
fn echoed(word: &str) -> &[u8] {
    let bytes = word.as_bytes();
    &bytes[..bytes.len().min(spec::MAX_ECHO_BYTES)]
}

/// A request from the station (spec §4).
#[derive(Clone, PartialEq, Eq)]
pub enum Request {
    /// `HELLO <version>`: the highest protocol version the station speaks.
    Hello {
        /// Station's protocol version.
        version: u16,
    },
    /// `BEGIN`.
    Begin,
    /// `STAGE <key> <offset> <chunk>`.
    Stage {
        /// Key being written.
        key: Key,
        /// Byte offset of this chunk in the value.
        offset: usize,
        /// Raw bytes of the chunk (escaped on the wire); wiped on drop as it may be a secret.
        chunk: Zeroizing<Vec<u8>>,
    },
    /// `COMMIT <digest> <hardware_id>`.
    Commit {
        /// SHA-256 of the canonical encoding of what the station staged.
        digest: [u8; 32],
        /// Hardware id the station read in HELLO.
        hardware_id: String,
    },
    /// `ABORT`.
    Abort,
    /// `READ <key> <offset>`.
    Read {
        /// Key to read (non-secret only).
        key: Key,
        /// Byte offset to read from.
        offset: usize,
    },
    /// `BAUD <rate>` (version 1.1, spec §10.1): run the line at `rate` after the reply.
    Baud {
        /// Line speed in baud, canonical decimal on the wire.
        rate: u32,
    },
    /// `PROVE <nonce>` (version 1.1, spec §10.3): answer with the mac of the committed password.
    Prove {
        /// 16 random bytes from the station, lower-case hex on the wire.
        nonce: ProofNonce,
    },
}

impl fmt::Debug for Request {
    // A STAGE chunk of a secret key must not reach a log through Debug.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Stage { key, offset, chunk } => {
                let mut d = f.debug_struct("Stage");
                d.field("key", key).field("offset", offset);
                if key.is_secret() {
                    d.field("chunk_len", &chunk.len());
                } else {
                    d.field("chunk", &String::from_utf8_lossy(chunk));
                }
                d.finish()
            }
            Request::Hello { version } => {
                f.debug_struct("Hello").field("version", version).finish()
            }
            Request::Begin => f.write_str("Begin"),
            Request::Commit {
                digest,
                hardware_id,
            } => f
                .debug_struct("Commit")
                .field("digest", &hex::encode(digest))
                .field("hardware_id", hardware_id)
                .finish(),
            Request::Abort => f.write_str("Abort"),
            Request::Read { key, offset } => f
                .debug_struct("Read")
                .field("key", key)
                .field("offset", offset)
                .finish(),
            Request::Baud { rate } => f.debug_struct("Baud").field("rate", rate).finish(),
            Request::Prove { nonce } => f
                .debug_struct("Prove")
                .field("nonce", &hex::encode(nonce))
                .finish(),
        }
    }
}

/// A request the device could not parse, with the reply it must give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// The command word to echo in the ERR reply (escaped if unknown).
    pub command_word: String,
    /// Why.
    pub code: DeviceErrorCode,
    /// Optional detail token (a key name, a version).
    pub detail: Option<String>,
}

impl Request {
    /// The command this request is.
    pub fn command(&self) -> Command {
        match self {
            Request::Hello { .. } => Command::Hello,
            Request::Begin => Command::Begin,
            Request::Stage { .. } => Command::Stage,
            Request::Commit { .. } => Command::Commit,
            Request::Abort => Command::Abort,
            Request::Read { .. } => Command::Read,
            Request::Baud { .. } => Command::Baud,
            Request::Prove { .. } => Command::Prove,
        }
    }

    /// Encodes the request as a complete frame with `seq`. The bytes may hold a secret (STAGE):
    /// callers wipe them after sending.
    pub fn encode(&self, seq: u8) -> Vec<u8> {
        let name = self.command().name();
        match self {
            Request::Hello { version } => Frame::encode(seq, &[name, &version.to_string()]),
            Request::Begin | Request::Abort => Frame::encode(seq, &[name]),
            Request::Stage { key, offset, chunk } => {
                let mut token = escape_value(chunk);
                let frame = Frame::encode(seq, &[name, key.name(), &offset.to_string(), &token]);
                wipe_string(&mut token);
                frame
            }
            Request::Commit {
                digest,
                hardware_id,
            } => Frame::encode(seq, &[name, &hex::encode(digest), hardware_id]),
            Request::Read { key, offset } => {
                Frame::encode(seq, &[name, key.name(), &offset.to_string()])
            }
            Request::Baud { rate } => Frame::encode(seq, &[name, &rate.to_string()]),
            Request::Prove { nonce } => Frame::encode(seq, &[name, &hex::encode(nonce)]),
        }
    }

    /// Parses a frame received by the device.
    pub fn parse(frame: &Frame) -> Result<Request, RequestError> {
        let word = frame.words.first().map(String::as_str).unwrap_or("");
        let Some(command) = Command::from_name(word) else {
            return Err(RequestError {
                command_word: escape_value(echoed(word)),
                code: DeviceErrorCode::UnknownCommand,
                detail: None,
            });
        };
        let args = RequestArgs {
            command,
            words: &frame.words[1..],
        };
        match command {
            Command::Hello => args.hello(),
            Command::Begin => args.expect(0).map(|()| Request::Begin),
            Command::Abort => args.expect(0).map(|()| Request::Abort),
            Command::Stage => args.stage(),
            Command::Commit => args.commit(),
            Command::Read => args.read(),
            Command::Baud => args.baud(),
            Command::Prove => args.prove(),
        }
    }
}

/// The words after a known command word, parsed into that command's fields. Each field is
/// checked in the order the spec gives (§7.3), so a frame with two faults gets the first code.
struct RequestArgs<'a> {
    command: Command,
    words: &'a [String],
}

impl RequestArgs<'_> {
    fn bad(&self, code: DeviceErrorCode, detail: Option<String>) -> RequestError {
        RequestError {
            command_word: self.command.name().to_owned(),
            code,
            detail,
        }
    }

    fn bad_frame(&self) -> RequestError {
        self.bad(DeviceErrorCode::BadFrame, None)
    }

    fn expect(&self, n: usize) -> Result<(), RequestError> {
        if self.words.len() == n {
            Ok(())
        } else {
            Err(self.bad_frame())
        }
    }

    /// Word `i` as a key; an unknown one is echoed (cut and escaped) in the detail.
    fn key(&self, i: usize) -> Result<Key, RequestError> {
        let word = &self.words[i];
        Key::from_name(word).ok_or_else(|| {
            self.bad(
                DeviceErrorCode::UnknownKey,
                Some(escape_value(echoed(word))),
            )
        })
    }

    fn offset(&self, i: usize) -> Result<usize, RequestError> {
        parse_offset(&self.words[i]).ok_or_else(|| self.bad_frame())
    }

    fn hello(&self) -> Result<Request, RequestError> {
        self.expect(1)?;
        let version = parse_decimal(&self.words[0]).ok_or_else(|| self.bad_frame())?;
        let version = u16::try_from(version).map_err(|_| self.bad_frame())?;
        Ok(Request::Hello { version })
    }

    fn stage(&self) -> Result<Request, RequestError> {
        self.expect(3)?;
        let key = self.key(0)?;
        let offset = self.offset(1)?;
        // The limit is on the word as received, before unescaping (spec §4.4).
        if self.words[2].len() > spec::MAX_CHUNK_ENCODED {
            return Err(self.bad_frame());
        }
        let chunk = unescape_value(&self.words[2]).map_err(|_| self.bad_frame())?;
        Ok(Request::Stage {
            key,
            offset,
            chunk: Zeroizing::new(chunk),
        })
    }

    fn commit(&self) -> Result<Request, RequestError> {
        self.expect(2)?;
        let mut digest = [0u8; 32];
        hex::decode_to_slice(&self.words[0], &mut digest).map_err(|_| self.bad_frame())?;
        if !is_hardware_id(&self.words[1]) {
            return Err(self.bad_frame());
        }
        Ok(Request::Commit {
            digest,
            hardware_id: self.words[1].clone(),
        })
    }

    fn read(&self) -> Result<Request, RequestError> {
        self.expect(2)?;
        let key = self.key(0)?;
        let offset = self.offset(1)?;
        Ok(Request::Read { key, offset })
    }

    fn baud(&self) -> Result<Request, RequestError> {
        self.expect(1)?;
        let rate = parse_decimal(&self.words[0]).ok_or_else(|| self.bad_frame())?;
        let rate = u32::try_from(rate).map_err(|_| self.bad_frame())?;
        Ok(Request::Baud { rate })
    }

    /// `PROVE <nonce>`: exactly 32 hex digits, either case (spec §10.3).
    fn prove(&self) -> Result<Request, RequestError> {
        self.expect(1)?;
        let mut nonce = ProofNonce::default();
        if self.words[0].len() != spec::PROVE_NONCE_HEX {
            return Err(self.bad_frame());
        }
        hex::decode_to_slice(&self.words[0], &mut nonce).map_err(|_| self.bad_frame())?;
        Ok(Request::Prove { nonce })
    }
}

fn wipe_string(s: &mut String) {
    zeroize::Zeroize::zeroize(s);
}

/// Canonical decimal: digits only, no leading zero unless the number is 0.
pub fn parse_decimal(token: &str) -> Option<u64> {
    let b = token.as_bytes();
    if b.is_empty() || b.len() > 10 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if b.len() > 1 && b[0] == b'0' {
        return None;
    }
    token.parse().ok()
}

fn parse_offset(token: &str) -> Option<usize> {
    parse_decimal(token)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n <= spec::MAX_OFFSET)
}

/// Hardware id syntax (spec §4.1): 2..=32 hex digits, even count.
pub fn is_hardware_id(s: &str) -> bool {
    (2..=spec::MAX_HARDWARE_ID_HEX).contains(&s.len())
        && s.len() & 1 == 0
        && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Firmware version syntax (spec §4.1): 1..=32 of `[A-Za-z0-9._+-]`.
pub fn is_firmware_version(s: &str) -> bool {
    (1..=spec::MAX_FIRMWARE_VERSION_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'))
}

/// Capabilities field syntax (spec §4.1): `-`, or comma-separated tokens of
/// `[A-Za-z0-9_.-]`, at most 48 bytes in all.
pub fn is_capabilities(s: &str) -> bool {
    s.len() <= spec::MAX_CAPABILITIES_LEN
        && (s == spec::NONE_TOKEN
            || s.split(',').all(|t| {
                !t.is_empty()
                    && t.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            }))
}

/// Fields of a HELLO reply (spec §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloInfo {
    /// Protocol version the device will speak in this session.
    pub version: u16,
    /// Capability tokens.
    pub capabilities: Vec<String>,
    /// Chip unique id, upper-case hex.
    pub hardware_id: String,
    /// Firmware version string.
    pub firmware_version: String,
    /// Generation of the committed config, if the device holds one.
    pub generation: Option<u32>,
}

/// A successful reply (spec §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `OK HELLO <version> <caps> <hwid> <fw> <generation|->`.
    Hello(HelloInfo),
    /// `OK BEGIN`.
    Begin,
    /// `OK STAGE <key> <staged_len>`.
    Stage {
        /// Key written.
        key: Key,
        /// Length of the key's staged value after this chunk.
        staged_len: usize,
    },
    /// `OK COMMIT <generation>`.
    Commit {
        /// Generation now committed.
        generation: u32,
    },
    /// `OK ABORT`.
    Abort,
    /// `OK READ <key> <offset> <total> <chunk>`.
    Read {
        /// Key read.
        key: Key,
        /// Offset of this chunk.
        offset: usize,
        /// Full length of the value.
        total: usize,
        /// Bytes of this chunk.
        chunk: Vec<u8>,
    },
    /// `OK BAUD <rate>`: sent at the old rate; the device then runs at `rate`.
    Baud {
        /// The rate the device switches to.
        rate: u32,
    },
    /// `OK PROVE <mac>` (spec §10.3).
    Prove {
        /// HMAC-SHA256 of the proof message under the committed password.
        mac: ProofMac,
    },
}

impl Reply {
    /// The command this reply answers.
    pub fn command(&self) -> Command {
        match self {
            Reply::Hello(_) => Command::Hello,
            Reply::Begin => Command::Begin,
            Reply::Stage { .. } => Command::Stage,
            Reply::Commit { .. } => Command::Commit,
            Reply::Abort => Command::Abort,
            Reply::Read { .. } => Command::Read,
            Reply::Baud { .. } => Command::Baud,
            Reply::Prove { .. } => Command::Prove,
        }
    }
}

/// A refusal: `ERR <command> <CODE> [<detail>]` (spec §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    /// The command word being refused.
    pub command_word: String,
    /// Why.
    pub code: DeviceErrorCode,
    /// Optional token: a key name, a version.
    pub detail: Option<String>,
}

/// What the device answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `OK ...`.
    Ok(Reply),
    /// `ERR ...`.
    Err(ErrorReply),
}

/// A frame that matched the request's seq and command but whose fields are wrong: a firmware
/// bug, not line noise (the CRC was good).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {command} reply: {reason}")]
pub struct MalformedReply {
    /// Command answered.
    pub command: Command,
    /// What was wrong.
    pub reason: String,
}

impl Response {
    /// Encodes an OK reply.
    pub fn encode_ok(seq: u8, reply: &Reply) -> Vec<u8> {
        let cmd = reply.command().name();
        match reply {
            Reply::Hello(info) => {
                let caps = if info.capabilities.is_empty() {
                    spec::NONE_TOKEN.to_owned()
                } else {
                    info.capabilities.join(",")
                };
                let generation = info
                    .generation
                    .map_or_else(|| spec::NONE_TOKEN.to_owned(), |g| g.to_string());
                Frame::encode(
                    seq,
                    &[
                        spec::STATUS_OK,
                        cmd,
                        &info.version.to_string(),
                        &caps,
                        &info.hardware_id,
                        &info.firmware_version,
                        &generation,
                    ],
                )
            }
            Reply::Begin | Reply::Abort => Frame::encode(seq, &[spec::STATUS_OK, cmd]),
            Reply::Stage { key, staged_len } => Frame::encode(
                seq,
                &[spec::STATUS_OK, cmd, key.name(), &staged_len.to_string()],
            ),
            Reply::Commit { generation } => {
                Frame::encode(seq, &[spec::STATUS_OK, cmd, &generation.to_string()])
            }
            Reply::Read {
                key,
                offset,
                total,
                chunk,
            } => Frame::encode(
                seq,
                &[
                    spec::STATUS_OK,
                    cmd,
                    key.name(),
                    &offset.to_string(),
                    &total.to_string(),
                    &escape_value(chunk),
                ],
            ),
            Reply::Baud { rate } => Frame::encode(seq, &[spec::STATUS_OK, cmd, &rate.to_string()]),
            Reply::Prove { mac } => Frame::encode(seq, &[spec::STATUS_OK, cmd, &hex::encode(mac)]),
        }
    }

    /// Encodes an ERR reply.
    pub fn encode_err(seq: u8, err: &ErrorReply) -> Vec<u8> {
        let mut words = vec![spec::STATUS_ERR, err.command_word.as_str(), err.code.name()];
        if let Some(d) = &err.detail {
            words.push(d);
        }
        Frame::encode(seq, &words)
    }

    /// Whether `frame` is a reply (OK/ERR) to `command`; requests echoed back and replies to
    /// other commands are not.
    pub fn is_reply_to(frame: &Frame, command: Command) -> bool {
        matches!(
            frame.words.first().map(String::as_str),
            Some(spec::STATUS_OK | spec::STATUS_ERR)
        ) && frame.words.get(1).map(String::as_str) == Some(command.name())
    }

    /// Parses a frame already known (by [`Response::is_reply_to`]) to answer `command`.
    pub fn parse(frame: &Frame, command: Command) -> Result<Response, MalformedReply> {
        let status = frame.words.first().map(String::as_str).unwrap_or("");
        let args = ReplyArgs {
            command,
            words: frame.words.get(2..).unwrap_or(&[]),
        };
        if status == spec::STATUS_ERR {
            return args.error_reply().map(Response::Err);
        }
        let reply = match command {
            Command::Hello => args.hello()?,
            Command::Begin => args.expect(0).map(|()| Reply::Begin)?,
            Command::Abort => args.expect(0).map(|()| Reply::Abort)?,
            Command::Stage => args.stage()?,
            Command::Commit => args.commit()?,
            Command::Read => args.read()?,
            Command::Baud => args.baud()?,
            Command::Prove => args.prove()?,
        };
        Ok(Response::Ok(reply))
    }
}

/// The words after `OK|ERR <command>` of a reply, parsed into the reply's fields; anything
/// out of shape is a [`MalformedReply`] naming what was wrong.
struct ReplyArgs<'a> {
    command: Command,
    words: &'a [String],
}

impl ReplyArgs<'_> {
    fn bad(&self, reason: &str) -> MalformedReply {
        MalformedReply {
            command: self.command,
            reason: reason.to_owned(),
        }
    }

    fn expect(&self, n: usize) -> Result<(), MalformedReply> {
        if self.words.len() == n {
            Ok(())
        } else {
            let got = self.words.len();
            Err(self.bad(&format!("expected {n} fields, got {got}")))
        }
    }

    fn key(&self, i: usize) -> Result<Key, MalformedReply> {
        Key::from_name(&self.words[i]).ok_or_else(|| self.bad("unknown key"))
    }

    fn num(&self, i: usize) -> Result<u64, MalformedReply> {
        parse_decimal(&self.words[i]).ok_or_else(|| self.bad("bad number"))
    }

    /// Word `i` as a number that fits `T`; `reason` says which field did not.
    fn num_as<T: TryFrom<u64>>(&self, i: usize, reason: &str) -> Result<T, MalformedReply> {
        T::try_from(self.num(i)?).map_err(|_| self.bad(reason))
    }

    /// `ERR <command> <CODE> [<detail>]`.
    fn error_reply(&self) -> Result<ErrorReply, MalformedReply> {
        let Some(code) = self.words.first() else {
            return Err(self.bad("ERR without a code"));
        };
        if self.words.len() > 2 {
            return Err(self.bad("too many fields"));
        }
        Ok(ErrorReply {
            command_word: self.command.name().to_owned(),
            code: DeviceErrorCode::from_name(code),
            detail: self.words.get(1).cloned(),
        })
    }

    fn hello(&self) -> Result<Reply, MalformedReply> {
        self.expect(5)?;
        let version = self.num_as(0, "bad version")?;
        if !is_capabilities(&self.words[1]) {
            return Err(self.bad("bad capabilities"));
        }
        let capabilities = if self.words[1] == spec::NONE_TOKEN {
            Vec::new()
        } else {
            self.words[1].split(',').map(str::to_owned).collect()
        };
        if !is_hardware_id(&self.words[2]) {
            return Err(self.bad("bad hardware id"));
        }
        if !is_firmware_version(&self.words[3]) {
            return Err(self.bad("bad firmware version"));
        }
        let generation = if self.words[4] == spec::NONE_TOKEN {
            None
        } else {
            Some(self.num_as(4, "bad generation")?)
        };
        Ok(Reply::Hello(HelloInfo {
            version,
            capabilities,
            hardware_id: self.words[2].to_ascii_uppercase(),
            firmware_version: self.words[3].clone(),
            generation,
        }))
    }

    fn stage(&self) -> Result<Reply, MalformedReply> {
        self.expect(2)?;
        Ok(Reply::Stage {
            key: self.key(0)?,
            staged_len: self.num_as(1, "bad length")?,
        })
    }

    fn commit(&self) -> Result<Reply, MalformedReply> {
        self.expect(1)?;
        Ok(Reply::Commit {
            generation: self.num_as(0, "bad generation")?,
        })
    }

    fn read(&self) -> Result<Reply, MalformedReply> {
        self.expect(4)?;
        Ok(Reply::Read {
            key: self.key(0)?,
            offset: self.num_as(1, "bad offset")?,
            total: self.num_as(2, "bad total")?,
            chunk: unescape_value(&self.words[3]).map_err(|_| self.bad("bad chunk escape"))?,
        })
    }

    fn baud(&self) -> Result<Reply, MalformedReply> {
        self.expect(1)?;
        Ok(Reply::Baud {
            rate: self.num_as(0, "bad rate")?,
        })
    }

    fn prove(&self) -> Result<Reply, MalformedReply> {
        self.expect(1)?;
        let mut mac = ProofMac::default();
        if self.words[0].len() != spec::PROVE_MAC_HEX {
            return Err(self.bad("bad mac"));
        }
        hex::decode_to_slice(&self.words[0], &mut mac).map_err(|_| self.bad("bad mac"))?;
        Ok(Reply::Prove { mac })
    }
}

/// Splits a value into chunks whose escaped form fits one frame (spec §4.4). Always returns at
/// least one chunk, so an empty value is staged with one empty chunk.
pub fn chunk_value(value: &[u8]) -> Vec<&[u8]> {
    chunks_within(value, |_| spec::MAX_CHUNK_ENCODED)
}

/// The bytes of a STAGE frame of `key` at `offset` besides its chunk: marker, seq, the words
/// and their spaces, ` *`, the CRC and `\r\n` (spec §2.1).
pub fn stage_frame_overhead(key: Key, offset: usize) -> usize {
    spec::MARKER.len()
        + 2
        + 1
        + Command::Stage.name().len()
        + 1
        + key.name().len()
        + 1
        + offset.to_string().len()
        + 1
        + spec::CRC_SEPARATOR.len()
        + spec::CRC_HEX_LEN
        + b"\r\n".len()
}

/// Splits a value of `key` into STAGE chunks whose frames fit `frame_limit` bytes, a unit's
/// `FRAME<n>` (spec §10.2), as well as [`spec::MAX_CHUNK_ENCODED`]; an escape is never split.
/// At [`spec::MAX_FRAME_LEN`] this is [`chunk_value`]. `frame_limit` below
/// [`spec::MIN_FRAME_LIMIT`] counts as that.
pub fn stage_chunks(key: Key, value: &[u8], frame_limit: usize) -> Vec<&[u8]> {
    let limit = frame_limit.max(spec::MIN_FRAME_LIMIT);
    chunks_within(value, |offset| {
        limit
            .saturating_sub(stage_frame_overhead(key, offset))
            .min(spec::MAX_CHUNK_ENCODED)
    })
}

/// Greedy split: each chunk takes bytes while its escaped form fits `budget(offset of the
/// chunk)`. A chunk that is exactly `-` is sent as `%2D` (3 bytes, spec §2.5); every budget
/// here is at least 3, so it fits wherever it falls.
fn chunks_within(value: &[u8], budget: impl Fn(usize) -> usize) -> Vec<&[u8]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut encoded = 0;
    let mut room = budget(0);
    for (i, &b) in value.iter().enumerate() {
        let len = crate::codec::escaped_len(b);
        if encoded + len > room && i > start {
            chunks.push(&value[start..i]);
            start = i;
            encoded = 0;
            room = budget(start);
        }
        encoded += len;
    }
    chunks.push(&value[start..]);
    chunks
}

/// Whether every byte of `s` may stand in a frame token.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::FrameDecoder;

    fn round_trip_request(req: Request) {
        let bytes = req.encode(0x10);
        assert!(bytes.len() <= spec::MAX_FRAME_LEN, "{} bytes", bytes.len());
        let frames = FrameDecoder::new().push_slice(&bytes);
        assert_eq!(frames.len(), 1);
        assert_eq!(Request::parse(&frames[0]), Ok(req));
    }

    #[test]
    fn requests_round_trip() {
        round_trip_request(Request::Hello { version: 1 });
        round_trip_request(Request::Begin);
        round_trip_request(Request::Abort);
        round_trip_request(Request::Stage {
            key: Key::TopicStatus,
            offset: 999,
            chunk: Zeroizing::new(vec![b'%'; spec::MAX_CHUNK_ENCODED / 3]),
        });
        round_trip_request(Request::Stage {
            key: Key::ApiKey,
            offset: 0,
            chunk: Zeroizing::new(Vec::new()),
        });
        round_trip_request(Request::Commit {
            digest: [0xAB; 32],
            hardware_id: "0011223344556677AABBCCDDEEFF0011".to_owned(),
        });
        round_trip_request(Request::Read {
            key: Key::DeviceId,
            offset: 128,
        });
        round_trip_request(Request::Baud { rate: 921_600 });
        round_trip_request(Request::Prove {
            nonce: std::array::from_fn(|i| i as u8),
        });
    }

    /// PROVE's nonce is exactly 32 hex digits (either case), its mac exactly 64 (spec §10.3).
    #[test]
    fn prove_request_and_reply_take_exact_hex_lengths_only() {
        let nonce = "000102030405060708090a0b0c0d0e0f";
        for words in [
            vec!["PROVE"],
            vec!["PROVE", &nonce[..30]],
            vec!["PROVE", "000102030405060708090a0b0c0d0e0f00"],
            vec!["PROVE", "zz0102030405060708090a0b0c0d0e0f"],
            vec!["PROVE", nonce, nonce],
        ] {
            let err = Request::parse(&frame_of(&words)).expect_err("refused");
            assert_eq!(err.code, DeviceErrorCode::BadFrame, "{words:?}");
        }
        let upper = Request::parse(&frame_of(&["PROVE", &nonce.to_ascii_uppercase()]));
        assert_eq!(
            upper,
            Ok(Request::Prove {
                nonce: std::array::from_fn(|i| i as u8)
            })
        );
        let mac = "ab".repeat(32);
        let ok = Response::parse(&frame_of(&["OK", "PROVE", &mac]), Command::Prove);
        assert_eq!(ok, Ok(Response::Ok(Reply::Prove { mac: [0xAB; 32] })));
        let short = Response::parse(&frame_of(&["OK", "PROVE", &mac[..62]]), Command::Prove);
        assert_eq!(short.map_err(|e| e.reason), Err("bad mac".to_owned()));
    }

    #[test]
    fn baud_request_and_reply_parse_canonical_rates_only() {
        for words in [
            vec!["BAUD"],
            vec!["BAUD", "0921600"],
            vec!["BAUD", "4294967296"],
            vec!["BAUD", "1", "2"],
        ] {
            let err = Request::parse(&frame_of(&words)).expect_err("refused");
            assert_eq!(err.code, DeviceErrorCode::BadFrame, "{words:?}");
        }
        let ok = Response::parse(&frame_of(&["OK", "BAUD", "460800"]), Command::Baud);
        assert_eq!(ok, Ok(Response::Ok(Reply::Baud { rate: 460_800 })));
        let bad = Response::parse(&frame_of(&["OK", "BAUD", "fast"]), Command::Baud);
        assert_eq!(bad.map_err(|e| e.reason), Err("bad number".to_owned()));
    }

    #[test]
    fn longest_read_reply_fits_one_frame() {
        let reply = Reply::Read {
            key: Key::TopicStatus,
            offset: 999,
            total: 999,
            chunk: vec![b'%'; spec::MAX_CHUNK_ENCODED / 3],
        };
        let bytes = Response::encode_ok(0xFF, &reply);
        assert!(bytes.len() <= spec::MAX_FRAME_LEN);
        let frames = FrameDecoder::new().push_slice(&bytes);
        assert_eq!(
            Response::parse(&frames[0], Command::Read),
            Ok(Response::Ok(reply))
        );
    }

    #[test]
    fn unknown_command_and_key_get_their_codes() {
        let frames = FrameDecoder::new().push_slice(&Frame::encode(1, &["FLY"]));
        assert_eq!(
            Request::parse(&frames[0]).map_err(|e| e.code),
            Err(DeviceErrorCode::UnknownCommand)
        );
        let frames =
            FrameDecoder::new().push_slice(&Frame::encode(1, &["STAGE", "colour", "0", "x"]));
        assert_eq!(
            Request::parse(&frames[0]).map_err(|e| e.code),
            Err(DeviceErrorCode::UnknownKey)
        );
    }

    fn frame_of(words: &[&str]) -> Frame {
        let frames = FrameDecoder::new().push_slice(&Frame::encode(7, words));
        assert_eq!(frames.len(), 1, "{words:?}");
        frames[0].clone()
    }

    /// A request with more than one fault gets the code of the first field checked: the count
    /// of words, then the key, then the numbers and values in order (spec §7.3). Firmware and
    /// the station's tests both rely on these exact codes.
    #[test]
    fn request_faults_get_the_code_of_the_first_field_checked() {
        use DeviceErrorCode::{BadFrame, UnknownKey};
        let digest = "ab".repeat(32);
        for (words, code, detail) in [
            (vec!["BEGIN", "now"], BadFrame, None),
            (vec!["ABORT", "x"], BadFrame, None),
            (vec!["HELLO"], BadFrame, None),
            (vec!["HELLO", "01"], BadFrame, None),
            (vec!["HELLO", "65536"], BadFrame, None),
            (
                vec!["STAGE", "colour", "01", "x"],
                UnknownKey,
                Some("colour"),
            ),
            (vec!["STAGE", "colour", "0"], BadFrame, None),
            (vec!["STAGE", "device_id", "01", "%zz"], BadFrame, None),
            (vec!["STAGE", "device_id", "0", "%zz"], BadFrame, None),
            (vec!["COMMIT", "abcd", "0102"], BadFrame, None),
            (vec!["COMMIT", &digest, "012"], BadFrame, None),
            (vec!["READ", "colour", "x"], UnknownKey, Some("colour")),
            (vec!["READ", "device_id", "-1"], BadFrame, None),
            (vec!["READ", "device_id", "0", "0"], BadFrame, None),
        ] {
            let err = Request::parse(&frame_of(&words)).expect_err("refused");
            assert_eq!(
                (err.code, err.detail.as_deref(), err.command_word.as_str()),
                (code, detail, words[0]),
                "{words:?}"
            );
        }
        let commit = Request::parse(&frame_of(&["COMMIT", &digest, "0a0b"]));
        assert_eq!(
            commit,
            Ok(Request::Commit {
                digest: [0xAB; 32],
                hardware_id: "0a0b".into()
            })
        );
    }

    /// What the station reports when a device's reply has the right seq and command but the
    /// wrong fields: the reason names the field, for the engineer reading the log.
    #[test]
    fn malformed_replies_name_what_was_wrong() {
        for (command, words, reason) in [
            (Command::Begin, vec!["ERR", "BEGIN"], "ERR without a code"),
            (
                Command::Begin,
                vec!["ERR", "BEGIN", "BUSY", "a", "b"],
                "too many fields",
            ),
            (
                Command::Begin,
                vec!["OK", "BEGIN", "x"],
                "expected 0 fields, got 1",
            ),
            (
                Command::Hello,
                vec!["OK", "HELLO", "1", "-", "0A0B", "t-1"],
                "expected 5 fields, got 4",
            ),
            (
                Command::Hello,
                vec!["OK", "HELLO", "01", "-", "0A0B", "t-1", "-"],
                "bad number",
            ),
            (
                Command::Hello,
                vec!["OK", "HELLO", "65536", "-", "0A0B", "t-1", "-"],
                "bad version",
            ),
            (
                Command::Hello,
                vec!["OK", "HELLO", "1", "-", "0A0", "t-1", "-"],
                "bad hardware id",
            ),
            (
                Command::Hello,
                vec!["OK", "HELLO", "1", "-", "0A0B", "t/1", "-"],
                "bad firmware version",
            ),
            (
                Command::Hello,
                vec!["OK", "HELLO", "1", "-", "0A0B", "t-1", "4294967296"],
                "bad generation",
            ),
            (
                Command::Stage,
                vec!["OK", "STAGE", "colour", "3"],
                "unknown key",
            ),
            (
                Command::Commit,
                vec!["OK", "COMMIT", "4294967296"],
                "bad generation",
            ),
            (
                Command::Read,
                vec!["OK", "READ", "device_id", "0", "3", "%zz"],
                "bad chunk escape",
            ),
        ] {
            let err = Response::parse(&frame_of(&words), command).expect_err("malformed");
            assert_eq!(
                (err.command, err.reason.as_str()),
                (command, reason),
                "{words:?}"
            );
        }
        let hello = Response::parse(
            &frame_of(&["OK", "HELLO", "1", "CHUNK,READ", "0a0b", "t-1", "-"]),
            Command::Hello,
        );
        assert_eq!(
            hello,
            Ok(Response::Ok(Reply::Hello(HelloInfo {
                version: 1,
                capabilities: vec!["CHUNK".into(), "READ".into()],
                hardware_id: "0A0B".into(),
                firmware_version: "t-1".into(),
                generation: None,
            })))
        );
        let refused = Response::parse(
            &frame_of(&["ERR", "READ", "WRITE_ONLY", "api_key"]),
            Command::Read,
        );
        assert_eq!(
            refused,
            Ok(Response::Err(ErrorReply {
                command_word: "READ".into(),
                code: DeviceErrorCode::WriteOnly,
                detail: Some("api_key".into()),
            }))
        );
    }

    #[test]
    fn chunks_fit_and_rejoin() {
        let value: Vec<u8> = (0..=255u8).cycle().take(250).collect();
        let chunks = chunk_value(&value);
        assert!(chunks.len() > 1);
        for c in &chunks {
            assert!(escape_value(c).len() <= spec::MAX_CHUNK_ENCODED);
        }
        assert_eq!(chunks.concat(), value);
        assert_eq!(chunk_value(b""), vec![&b""[..]]);
    }

    #[test]
    fn stage_debug_hides_secret_chunks() {
        let req = Request::Stage {
            key: Key::MqttPassword,
            offset: 0,
            chunk: Zeroizing::new(b"hunter2".to_vec()),
        };
        assert!(!format!("{req:?}").contains("hunter2"));
    }
}
