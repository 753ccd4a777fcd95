//! The committed config as the device stores it (spec §7.4): [`StoredConfig`], its blob form
//! (the canonical encoding followed by its SHA-256) and the checks that read a blob back, so a
//! torn or corrupted write is told apart from a config ([`BlobError`]). `Debug` redacts secrets.

use std::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::command::Key;
use crate::config::{canonical_encoding_of, digest_of, ConfigError, DeviceConfig};
use crate::spec;

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
    /// A config from every key's bytes, in canonical key order (COMMIT builds one from the
    /// staging area).
    pub(super) fn from_values(values: Vec<Zeroizing<Vec<u8>>>) -> StoredConfig {
        StoredConfig { values }
    }

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
