//! What each request does to a [`DeviceModel`] once it has parsed and is not a retransmission
//! (spec §7.3): HELLO reports identity, BEGIN and ABORT open and drop the staging area, STAGE
//! writes a chunk of one key into it, COMMIT checks the staged config in the spec's order and
//! stores it atomically, READ returns a chunk of a public committed value. Every refusal is a
//! code and an optional detail token; the caller frames it.

use zeroize::Zeroizing;

use super::{DeviceModel, Storage, StorageError, StoredConfig};
use crate::command::Key;
use crate::config::digest_of;
use crate::error_code::DeviceErrorCode;
use crate::message::{chunk_value, HelloInfo, Reply, Request};
use crate::spec;

/// A refusal: the code and its optional detail token (a key name, a version).
pub(super) type Refusal = (DeviceErrorCode, Option<String>);

impl<S: Storage> DeviceModel<S> {
    pub(super) fn execute(&mut self, request: Request) -> Result<Reply, Refusal> {
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
                    capabilities: self.capabilities(),
                    hardware_id: self.hardware_id.clone(),
                    firmware_version: self.firmware_version.clone(),
                    generation: self.committed.as_ref().map(StoredConfig::generation),
                }))
            }
            Request::Begin => {
                if self.gate_closed() {
                    // Nothing done: a session already open stays as it was (spec §10.3).
                    return Err((DeviceErrorCode::Locked, None));
                }
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
            // Never reach the session: `handle_frame_at` answers them (spec §10.1, §10.3).
            Request::Baud { .. } | Request::Prove { .. } => {
                Err((DeviceErrorCode::UnknownCommand, None))
            }
        }
    }

    fn stage(&mut self, key: Key, offset: usize, chunk: &[u8]) -> Result<Reply, Refusal> {
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

    fn commit(&mut self, digest: &[u8; 32], hardware_id: &str) -> Result<Reply, Refusal> {
        let Some(staging) = self.staging.as_ref() else {
            return Err((DeviceErrorCode::NoSession, None));
        };
        if self.gate_closed() {
            // The allowance was withdrawn after BEGIN (spec §4.5 step 2, §10.3).
            return Err((DeviceErrorCode::Locked, None));
        }
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
        let config = StoredConfig::from_values(
            Key::ALL
                .iter()
                .map(|k| Zeroizing::new(get(*k).to_vec()))
                .collect(),
        );
        if self.is_stale(config.generation()) {
            // Generations never go back, nor repeat (spec §4.5 step 6, §10.3).
            return Err((DeviceErrorCode::StaleGeneration, None));
        }
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

    fn read(&self, key: Key, offset: usize) -> Result<Reply, Refusal> {
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
