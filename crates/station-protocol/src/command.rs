//! The commands and config keys of protocol version 1 (and 1.1's BAUD and PROVE), as data.
//!
//! This module owns the command set (name on the wire, numeric id, timeout) and the key set
//! (name, id in the canonical encoding, length limits, secrecy). Spec §4 and §5.

use std::fmt;
use std::time::Duration;

use crate::spec;

/// A request the station sends (spec §4). The numeric value is stable and used in logs and by
/// firmware as a switch value; the wire carries the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Command {
    /// Handshake and status: version, capabilities, hardware id, firmware, generation.
    Hello = 0x01,
    /// Open a write session, discarding anything staged before.
    Begin = 0x02,
    /// Stage one chunk of one key's value.
    Stage = 0x03,
    /// Apply all staged keys atomically, after checking digest and hardware id.
    Commit = 0x04,
    /// Discard the session and everything staged.
    Abort = 0x05,
    /// Read one chunk of a non-secret committed key.
    Read = 0x06,
    /// Switch the line to another rate (version 1.1, spec §10.1).
    Baud = 0x07,
    /// Show possession of the committed password without revealing it (version 1.1, spec
    /// §10.3).
    Prove = 0x08,
}

impl Command {
    /// All commands, in id order.
    pub const ALL: [Command; 8] = [
        Command::Hello,
        Command::Begin,
        Command::Stage,
        Command::Commit,
        Command::Abort,
        Command::Read,
        Command::Baud,
        Command::Prove,
    ];

    fn spec(self) -> &'static spec::CommandSpec {
        &spec::COMMANDS[usize::from(self as u8 - 1)]
    }

    /// The word on the wire.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Parses a wire word (exact, upper case).
    pub fn from_name(name: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.name() == name)
    }

    /// How long the station waits for the reply to one attempt (spec §6.1).
    pub fn timeout(self) -> Duration {
        self.spec().timeout
    }

    /// How many times the station sends one request (same seq) before giving up (spec §6.2).
    pub fn max_attempts(self) -> u32 {
        self.spec().attempts
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What bytes a key's value may hold (spec §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// `[A-Za-z0-9._:-]`: travels without escapes and fits in logs and labels.
    Identifier,
    /// Printable ASCII without space (0x21..=0x7E): host names.
    Host,
    /// Any UTF-8 without NUL.
    Text,
    /// Decimal without sign or leading zeros, within the given inclusive range.
    Decimal {
        /// Smallest allowed value.
        min: u32,
        /// Largest allowed value.
        max: u32,
    },
    /// `0` or `1`.
    Flag,
}

/// A config key (spec §5.1). The numeric value is the key's id in the canonical encoding and
/// the declaration order is the canonical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Key {
    /// Identity of the device in DeviceHub.
    DeviceId = 1,
    /// MQTT user name.
    MqttUsername = 2,
    /// MQTT password (secret: write-only).
    MqttPassword = 3,
    /// DeviceHub API key (secret: write-only).
    ApiKey = 4,
    /// MQTT broker host name or address.
    BrokerHost = 5,
    /// MQTT broker TCP port.
    BrokerPort = 6,
    /// Whether to use TLS to the broker.
    BrokerTls = 7,
    /// Topic the device publishes data on.
    TopicData = 8,
    /// Topic the device publishes status on.
    TopicStatus = 9,
    /// Topic the device subscribes to for commands.
    TopicCmd = 10,
    /// Credential generation; the station raises it on every write.
    Generation = 11,
}

impl Key {
    /// All keys in canonical order.
    pub const ALL: [Key; 11] = [
        Key::DeviceId,
        Key::MqttUsername,
        Key::MqttPassword,
        Key::ApiKey,
        Key::BrokerHost,
        Key::BrokerPort,
        Key::BrokerTls,
        Key::TopicData,
        Key::TopicStatus,
        Key::TopicCmd,
        Key::Generation,
    ];

    fn spec(self) -> &'static spec::KeySpec {
        &spec::KEYS[self.index()]
    }

    /// The key's name on the wire.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Parses a wire name (exact, lower case).
    pub fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The key's id in the canonical encoding.
    pub fn id(self) -> u8 {
        self.spec().id
    }

    /// Position of the key in [`Key::ALL`].
    pub fn index(self) -> usize {
        usize::from(self as u8 - 1)
    }

    /// Secret keys are write-only: no command reads them back and logs show only their length.
    pub fn is_secret(self) -> bool {
        self.spec().secret
    }

    /// Shortest allowed value in bytes.
    pub fn min_len(self) -> usize {
        self.spec().min_len
    }

    /// Longest allowed value in bytes.
    pub fn max_len(self) -> usize {
        self.spec().max_len
    }

    /// What the value may contain.
    pub fn kind(self) -> ValueKind {
        match self {
            Key::DeviceId => ValueKind::Identifier,
            Key::BrokerHost => ValueKind::Host,
            Key::BrokerPort => ValueKind::Decimal { min: 1, max: 65535 },
            Key::BrokerTls => ValueKind::Flag,
            Key::Generation => ValueKind::Decimal {
                min: 0,
                max: u32::MAX,
            },
            Key::MqttUsername
            | Key::MqttPassword
            | Key::ApiKey
            | Key::TopicData
            | Key::TopicStatus
            | Key::TopicCmd => ValueKind::Text,
        }
    }

    /// Checks a complete value against the key's rules (spec §5.1). The reason never contains
    /// the value, so it is safe to show for secret keys.
    pub fn validate(self, value: &[u8]) -> Result<(), String> {
        if value.len() < self.min_len() || value.len() > self.max_len() {
            return Err(format!(
                "length {} is outside {}..={}",
                value.len(),
                self.min_len(),
                self.max_len()
            ));
        }
        match self.kind() {
            ValueKind::Identifier => {
                if let Some(b) = value.iter().find(|b| !is_identifier_byte(**b)) {
                    return Err(format!(
                        "contains byte 0x{b:02X}; allowed are letters, digits and . _ : -"
                    ));
                }
            }
            ValueKind::Host => {
                if value.iter().any(|b| !(0x21..=0x7E).contains(b)) {
                    return Err("contains a space or a non-printable byte".to_owned());
                }
            }
            ValueKind::Text => {
                if std::str::from_utf8(value).is_err() {
                    return Err("is not valid UTF-8".to_owned());
                }
                if value.contains(&0) {
                    return Err("contains a NUL byte".to_owned());
                }
            }
            ValueKind::Decimal { min, max } => {
                let canonical = !value.is_empty()
                    && value.iter().all(u8::is_ascii_digit)
                    && (value.len() == 1 || value[0] != b'0');
                let parsed = std::str::from_utf8(value)
                    .ok()
                    .filter(|_| canonical)
                    .and_then(|s| s.parse::<u64>().ok());
                match parsed {
                    Some(n) if n >= u64::from(min) && n <= u64::from(max) => {}
                    _ => {
                        return Err(format!(
                            "must be a decimal number without leading zeros in {min}..={max}"
                        ))
                    }
                }
            }
            ValueKind::Flag => {
                if value != b"0" && value != b"1" {
                    return Err("must be 0 or 1".to_owned());
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Bytes allowed in a device id: they never need escaping on the wire.
pub fn is_identifier_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Command::ALL {
            assert_eq!(Command::from_name(c.name()), Some(c));
        }
        for k in Key::ALL {
            assert_eq!(Key::from_name(k.name()), Some(k));
            assert_eq!(Key::ALL[k.index()], k);
        }
    }

    #[test]
    fn decimal_values_must_be_canonical() {
        assert!(Key::BrokerPort.validate(b"8883").is_ok());
        assert!(Key::BrokerPort.validate(b"08883").is_err());
        assert!(Key::BrokerPort.validate(b"0").is_err());
        assert!(Key::BrokerPort.validate(b"65536").is_err());
        assert!(Key::Generation.validate(b"0").is_ok());
        assert!(Key::Generation.validate(b"4294967295").is_ok());
        assert!(Key::Generation.validate(b"4294967296").is_err());
        assert!(Key::Generation.validate(b"+1").is_err());
    }

    #[test]
    fn validation_reason_never_echoes_the_value() {
        let secret = "hunter2\0";
        let reason = Key::MqttPassword
            .validate(secret.as_bytes())
            .expect_err("NUL is refused");
        assert!(!reason.contains("hunter2"));
    }
}
