//! The config a station writes, and its canonical encoding and digest (spec §5).
//!
//! This module owns [`DeviceConfig`] (with secrets redacted from Debug and wiped on drop), the
//! text form of each key's value, the canonical byte encoding both sides hash, and the client-side
//! validation that catches a bad record before anything is sent to a device.

use std::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::command::Key;
use crate::spec::CANONICAL_MAGIC;

/// Everything a device needs to reach DeviceHub. `Debug` redacts the secrets; there is
/// deliberately no `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    /// Identity of the device in DeviceHub: 1..=128 of `[A-Za-z0-9._:-]`.
    pub device_id: String,
    /// MQTT user name.
    pub mqtt_username: String,
    /// MQTT password (secret).
    pub mqtt_password: Zeroizing<String>,
    /// DeviceHub API key (secret).
    pub api_key: Zeroizing<String>,
    /// MQTT broker host.
    pub broker_host: String,
    /// MQTT broker port, 1..=65535.
    pub broker_port: u16,
    /// Use TLS to the broker.
    pub broker_tls: bool,
    /// Data topic.
    pub topic_data: String,
    /// Status topic.
    pub topic_status: String,
    /// Command topic.
    pub topic_cmd: String,
    /// Credential generation; raise it on every write so HELLO tells which write is on the device.
    pub generation: u32,
}

impl fmt::Debug for DeviceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceConfig")
            .field("device_id", &self.device_id)
            .field("mqtt_username", &self.mqtt_username)
            .field("mqtt_password", &Redacted(self.mqtt_password.len()))
            .field("api_key", &Redacted(self.api_key.len()))
            .field("broker_host", &self.broker_host)
            .field("broker_port", &self.broker_port)
            .field("broker_tls", &self.broker_tls)
            .field("topic_data", &self.topic_data)
            .field("topic_status", &self.topic_status)
            .field("topic_cmd", &self.topic_cmd)
            .field("generation", &self.generation)
            .finish()
    }
}

struct Redacted(usize);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted, {} bytes>", self.0)
    }
}

/// A config value that breaks its key's rules. The reason never contains the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} {reason}")]
pub struct ConfigError {
    /// Offending key.
    pub key: Key,
    /// What is wrong with it.
    pub reason: String,
}

impl DeviceConfig {
    /// The value of `key` exactly as staged on the wire and hashed (spec §5.1): numbers in
    /// canonical decimal, `broker_tls` as `0`/`1`. Wiped on drop because it may be a secret.
    pub fn value(&self, key: Key) -> Zeroizing<Vec<u8>> {
        let bytes = match key {
            Key::DeviceId => self.device_id.as_bytes().to_vec(),
            Key::MqttUsername => self.mqtt_username.as_bytes().to_vec(),
            Key::MqttPassword => self.mqtt_password.as_bytes().to_vec(),
            Key::ApiKey => self.api_key.as_bytes().to_vec(),
            Key::BrokerHost => self.broker_host.as_bytes().to_vec(),
            Key::BrokerPort => self.broker_port.to_string().into_bytes(),
            Key::BrokerTls => if self.broker_tls { b"1" } else { b"0" }.to_vec(),
            Key::TopicData => self.topic_data.as_bytes().to_vec(),
            Key::TopicStatus => self.topic_status.as_bytes().to_vec(),
            Key::TopicCmd => self.topic_cmd.as_bytes().to_vec(),
            Key::Generation => self.generation.to_string().into_bytes(),
        };
        Zeroizing::new(bytes)
    }

    /// Checks every key against the limits a device enforces, so a bad record fails at the
    /// station with a clear message instead of at the device.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for key in Key::ALL {
            key.validate(&self.value(key))
                .map_err(|reason| ConfigError { key, reason })?;
        }
        Ok(())
    }
}

/// The canonical encoding of a set of values (spec §5.2):
/// `"DHCFG1"` then, for every key in canonical order, `id (u8) | len (u16 big-endian) | bytes`.
pub fn canonical_encoding_of<'a>(value_of: impl Fn(Key) -> &'a [u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(1024));
    out.extend_from_slice(CANONICAL_MAGIC);
    for key in Key::ALL {
        let value = value_of(key);
        // Values are at most 253 bytes (Key::max_len), so the u16 never saturates for a valid
        // config; saturating keeps an invalid one from wrapping into a colliding encoding.
        let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
        out.push(key.id());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(value);
    }
    out
}

/// The canonical encoding of `cfg`.
pub fn canonical_encoding(cfg: &DeviceConfig) -> Zeroizing<Vec<u8>> {
    let values: Vec<Zeroizing<Vec<u8>>> = Key::ALL.iter().map(|k| cfg.value(*k)).collect();
    canonical_encoding_of(|k| values[k.index()].as_slice())
}

/// SHA-256 of [`canonical_encoding`]: what COMMIT carries (spec §5.3).
pub fn config_digest(cfg: &DeviceConfig) -> [u8; 32] {
    Sha256::digest(canonical_encoding(cfg).as_slice()).into()
}

/// SHA-256 of the canonical encoding of arbitrary values.
pub fn digest_of<'a>(value_of: impl Fn(Key) -> &'a [u8]) -> [u8; 32] {
    Sha256::digest(canonical_encoding_of(value_of).as_slice()).into()
}

/// The config of the test vector in spec §8.2; tests and docs share it.
pub fn test_vector_config() -> DeviceConfig {
    DeviceConfig {
        device_id: "dh-000123".to_owned(),
        mqtt_username: "dev-000123".to_owned(),
        mqtt_password: Zeroizing::new("s3cr3t pass%@*".to_owned()),
        api_key: Zeroizing::new("ak_live_7f3a9c".to_owned()),
        broker_host: "mqtt.devicehub.example".to_owned(),
        broker_port: 8883,
        broker_tls: true,
        topic_data: "dh/dh-000123/data".to_owned(),
        topic_status: "dh/dh-000123/status".to_owned(),
        topic_cmd: "dh/dh-000123/cmd".to_owned(),
        generation: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secrets() {
        let cfg = test_vector_config();
        let text = format!("{cfg:?}");
        assert!(!text.contains("s3cr3t"));
        assert!(!text.contains("ak_live"));
        assert!(text.contains("dh-000123"));
    }

    #[test]
    fn encoding_layout() {
        let cfg = test_vector_config();
        let enc = canonical_encoding(&cfg);
        assert!(enc.starts_with(b"DHCFG1"));
        assert_eq!(&enc[6..9], &[1, 0, 9]);
        assert_eq!(&enc[9..18], b"dh-000123");
        let expected_len: usize = 6 + Key::ALL
            .iter()
            .map(|k| 3 + cfg.value(*k).len())
            .sum::<usize>();
        assert_eq!(enc.len(), expected_len);
    }

    #[test]
    fn every_key_changes_the_digest() {
        let base = config_digest(&test_vector_config());
        let mut c = test_vector_config();
        c.broker_tls = false;
        assert_ne!(config_digest(&c), base);
        let mut c = test_vector_config();
        c.api_key = Zeroizing::new(String::new());
        assert_ne!(config_digest(&c), base);
        // Moving a byte from one value to the next must change the digest: lengths are hashed.
        let mut a = test_vector_config();
        a.topic_data = "ab".into();
        a.topic_status = "c".into();
        let mut b = test_vector_config();
        b.topic_data = "a".into();
        b.topic_status = "bc".into();
        assert_ne!(config_digest(&a), config_digest(&b));
    }

    #[test]
    fn validate_names_the_key_but_not_the_value() {
        let mut c = test_vector_config();
        c.device_id = "has space".into();
        let err = c.validate().expect_err("space is refused");
        assert_eq!(err.key, Key::DeviceId);
        let mut c = test_vector_config();
        c.mqtt_password = Zeroizing::new("x".repeat(129));
        let err = c.validate().expect_err("too long");
        assert_eq!(err.key, Key::MqttPassword);
        assert!(!err.to_string().contains("xxx"));
        assert!(test_vector_config().validate().is_ok());
    }
}
