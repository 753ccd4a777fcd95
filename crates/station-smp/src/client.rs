//! The station's SMP client: settings group requests and the OS group's reset over a link.
//!
//! This module owns [`Client`]: numbering requests, framing them for the console, waiting for
//! the answer with the same sequence number within the command's named timeout (skipping
//! console text, stale answers and damaged frames), resending a bounded number of times, and
//! turning `rc`/`err` answers into typed [`SmpError`]s. Every request it sends is idempotent,
//! which is what makes resending after a lost answer safe.

use std::time::Instant;

use ciborium::Value;

use crate::cbor::{self, Answer, Map};
use crate::codes::MgmtErr;
use crate::command::Command;
use crate::error::SmpError;
use crate::framing::{encode_packet, FrameDecoder};
use crate::header::Header;
use crate::spec::{ATTEMPTS, HEADER_LEN, MAX_PACKET, SMP_VERSION_2};
use crate::transport::{is_disconnect, Transport};

/// An SMP client over one link.
#[derive(Debug)]
pub struct Client<T: Transport> {
    transport: T,
    decoder: FrameDecoder,
    seq: u8,
    version: u8,
}

impl<T: Transport> Client<T> {
    /// A client speaking SMP version 2 over `transport`.
    pub fn new(transport: T) -> Self {
        Self {
            transport,
            decoder: FrameDecoder::new(),
            seq: 0,
            version: SMP_VERSION_2,
        }
    }

    /// Speak SMP version `version` instead (0 = the original protocol: errors as bare `rc`).
    pub fn with_version(mut self, version: u8) -> Self {
        self.version = version;
        self
    }

    /// Gives the link back.
    pub fn into_inner(self) -> T {
        self.transport
    }

    /// Reads setting `name`. A secret key answers [`MgmtErr::AccessDenied`].
    pub fn settings_read(&mut self, name: &str) -> Result<Vec<u8>, SmpError> {
        let command = Command::SettingsRead;
        let map = self.request(command, vec![("name", Value::from(name))])?;
        match cbor::get(&map, "val") {
            Some(Value::Bytes(v)) => Ok(v.clone()),
            _ => Err(SmpError::Malformed {
                command,
                what: "no byte string \"val\"",
            }),
        }
    }

    /// Reads setting `name`, asking for up to `max_size` bytes. Zephyr serves at most
    /// `CONFIG_MCUMGR_GRP_SETTINGS_VALUE_LEN` bytes and then says so with `"max_size"` in the
    /// answer: the second value is that limit when the device cut the value short.
    pub fn settings_read_max(
        &mut self,
        name: &str,
        max_size: u32,
    ) -> Result<(Vec<u8>, Option<u32>), SmpError> {
        let command = Command::SettingsRead;
        let fields = vec![
            ("name", Value::from(name)),
            ("max_size", Value::from(max_size)),
        ];
        let map = self.request(command, fields)?;
        match cbor::get(&map, "val") {
            Some(Value::Bytes(v)) => Ok((v.clone(), cbor::get_u32(&map, "max_size"))),
            _ => Err(SmpError::Malformed {
                command,
                what: "no byte string \"val\"",
            }),
        }
    }

    /// Writes setting `name` (in the device's RAM until [`Client::settings_save`]).
    pub fn settings_write(&mut self, name: &str, value: &[u8]) -> Result<(), SmpError> {
        let payload = vec![
            ("name", Value::from(name)),
            ("val", Value::Bytes(value.to_vec())),
        ];
        self.request(Command::SettingsWrite, payload).map(drop)
    }

    /// Deletes setting `name` from the device's storage.
    pub fn settings_delete(&mut self, name: &str) -> Result<(), SmpError> {
        let payload = vec![("name", Value::from(name))];
        self.request(Command::SettingsDelete, payload).map(drop)
    }

    /// Applies the written settings to the firmware's handlers.
    pub fn settings_commit(&mut self) -> Result<(), SmpError> {
        self.request(Command::SettingsCommit, Vec::new()).map(drop)
    }

    /// Reloads the settings from the device's storage.
    pub fn settings_load(&mut self) -> Result<(), SmpError> {
        self.request(Command::SettingsLoad, Vec::new()).map(drop)
    }

    /// Saves the settings to the device's storage, so they survive a reset.
    pub fn settings_save(&mut self) -> Result<(), SmpError> {
        self.request(Command::SettingsSave, Vec::new()).map(drop)
    }

    /// Resets the device (it answers first, then restarts).
    pub fn reset(&mut self) -> Result<(), SmpError> {
        self.request(Command::Reset, Vec::new()).map(drop)
    }

    /// The server's `(buf_size, buf_count)`.
    pub fn mcumgr_params(&mut self) -> Result<(u32, u32), SmpError> {
        let command = Command::McumgrParams;
        let map = self.request(command, Vec::new())?;
        match (
            cbor::get_u32(&map, "buf_size"),
            cbor::get_u32(&map, "buf_count"),
        ) {
            (Some(size), Some(count)) => Ok((size, count)),
            _ => Err(SmpError::Malformed {
                command,
                what: "no buf_size/buf_count",
            }),
        }
    }

    /// Sends one request and waits for its answer, resending up to [`ATTEMPTS`] times.
    fn request(&mut self, command: Command, fields: Vec<(&str, Value)>) -> Result<Map, SmpError> {
        let payload = cbor::encode_map(fields);
        let (op, group, id) = command.address();
        self.seq = self.seq.wrapping_add(1);
        let header = Header {
            op,
            version: self.version,
            flags: 0,
            len: u16::try_from(payload.len()).unwrap_or(u16::MAX),
            group,
            seq: self.seq,
            id,
        };
        let mut packet = header.encode().to_vec();
        packet.extend_from_slice(&payload);
        if packet.len() > MAX_PACKET {
            let (len, max) = (packet.len(), MAX_PACKET);
            return Err(SmpError::TooLarge { command, len, max });
        }
        let lines = encode_packet(&packet);
        for _ in 0..ATTEMPTS {
            for line in &lines {
                self.transport
                    .send(line)
                    .map_err(|e| io_error(command, e))?;
            }
            if let Some(answer) = self.await_answer(command, &header)? {
                return answer_result(command, answer);
            }
            tracing::debug!(%command, "no SMP answer in time; resending");
        }
        Err(SmpError::Timeout {
            command,
            attempts: ATTEMPTS,
        })
    }

    /// The answer to `sent`, or `None` when the command's timeout passes first.
    fn await_answer(
        &mut self,
        command: Command,
        sent: &Header,
    ) -> Result<Option<Answer>, SmpError> {
        let deadline = Instant::now() + command.timeout();
        let mut buf = [0u8; 256];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let n = self
                .transport
                .recv(&mut buf, left)
                .map_err(|e| io_error(command, e))?;
            for packet in self.decoder.push(&buf[..n]) {
                let Ok(packet) = packet else {
                    tracing::debug!("damaged SMP frame skipped");
                    continue;
                };
                if let Some(answer) = match_answer(command, sent, &packet)? {
                    return Ok(Some(answer));
                }
            }
        }
    }
}

/// The answer in `packet` if it answers `sent`; `None` for anything else (stale answers).
fn match_answer(
    command: Command,
    sent: &Header,
    packet: &[u8],
) -> Result<Option<Answer>, SmpError> {
    let Some(h) = Header::decode(packet) else {
        return Ok(None);
    };
    if h.seq != sent.seq || h.group != sent.group || h.id != sent.id {
        return Ok(None);
    }
    if Some(h.op) != sent.op.response() {
        return Ok(None);
    }
    let body = &packet[HEADER_LEN..];
    if body.len() != usize::from(h.len) {
        return Err(SmpError::Malformed {
            command,
            what: "header length differs from the payload",
        });
    }
    Answer::parse(body).map(Some).ok_or(SmpError::Malformed {
        command,
        what: "payload is not a CBOR map",
    })
}

fn answer_result(command: Command, answer: Answer) -> Result<Map, SmpError> {
    match answer {
        Answer::Ok(map) => Ok(map),
        Answer::Rc(rc) => Err(SmpError::Rejected {
            command,
            rc: MgmtErr::from_code(rc).unwrap_or(MgmtErr::Unknown),
        }),
        Answer::Group { group, rc } => Err(SmpError::Group { command, group, rc }),
    }
}

fn io_error(command: Command, e: std::io::Error) -> SmpError {
    if is_disconnect(&e) {
        SmpError::Disconnected { command }
    } else {
        SmpError::Io { command, source: e }
    }
}
