//! The error codes a device answers with (spec §3.2).
//!
//! This module owns each code's stable wire name and number, whether the station may retry it,
//! and the words a line worker sees: what happened and what to do.

use std::fmt;

use crate::spec;

/// Why a device refused a request. The wire carries [`DeviceErrorCode::name`]; the number is
/// stable for firmware and databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DeviceErrorCode {
    /// The device is working on something else; nothing was done. Retry the same request.
    Busy = 1,
    /// The frame had a valid checksum but wrong fields.
    BadFrame = 2,
    /// The command word is not known to this firmware.
    UnknownCommand = 3,
    /// The device does not speak the station's protocol version.
    UnsupportedVersion = 4,
    /// STAGE or COMMIT without a BEGIN first (or after the session ended).
    NoSession = 5,
    /// STAGE or READ of a key this firmware does not know.
    UnknownKey = 6,
    /// A value breaks its key's rules (length, characters, number range).
    BadValue = 7,
    /// A STAGE offset beyond what is staged for that key.
    BadOffset = 8,
    /// COMMIT while a required key was not staged.
    MissingKey = 9,
    /// COMMIT digest differs from the digest of what the device staged.
    DigestMismatch = 10,
    /// COMMIT names a different hardware id: another unit is on this port.
    HwidMismatch = 11,
    /// The staged values do not fit the device's storage.
    StorageFull = 12,
    /// Writing the device's storage failed.
    StorageFailed = 13,
    /// READ of a secret key.
    WriteOnly = 14,
    /// READ while the device holds no committed config.
    NoConfig = 15,
    /// Version 1.1 (spec §10.3): the unit's write gate is closed. It holds a config and its
    /// application does not allow a new write now (no factory mode, button or jumper);
    /// nothing was done.
    Locked = 16,
    /// Version 1.1 (spec §10.3): COMMIT's generation is not above the committed one;
    /// nothing was stored.
    StaleGeneration = 17,
    /// A code this station does not know (sent by newer firmware).
    Unrecognized = 255,
}

impl DeviceErrorCode {
    /// All codes a version-1 or 1.1 device may send.
    pub const ALL: [DeviceErrorCode; 17] = [
        DeviceErrorCode::Busy,
        DeviceErrorCode::BadFrame,
        DeviceErrorCode::UnknownCommand,
        DeviceErrorCode::UnsupportedVersion,
        DeviceErrorCode::NoSession,
        DeviceErrorCode::UnknownKey,
        DeviceErrorCode::BadValue,
        DeviceErrorCode::BadOffset,
        DeviceErrorCode::MissingKey,
        DeviceErrorCode::DigestMismatch,
        DeviceErrorCode::HwidMismatch,
        DeviceErrorCode::StorageFull,
        DeviceErrorCode::StorageFailed,
        DeviceErrorCode::WriteOnly,
        DeviceErrorCode::NoConfig,
        DeviceErrorCode::Locked,
        DeviceErrorCode::StaleGeneration,
    ];

    /// Stable wire name.
    pub fn name(self) -> &'static str {
        match self {
            DeviceErrorCode::Unrecognized => "UNRECOGNIZED",
            known => spec::ERROR_CODES[usize::from(known.number() - 1)].0,
        }
    }

    /// Stable number.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// Parses a wire name; unknown names become [`DeviceErrorCode::Unrecognized`].
    pub fn from_name(name: &str) -> DeviceErrorCode {
        DeviceErrorCode::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .unwrap_or(DeviceErrorCode::Unrecognized)
    }

    /// Whether sending the same request again may succeed without anyone doing anything.
    pub fn is_retryable(self) -> bool {
        matches!(self, DeviceErrorCode::Busy)
    }

    /// What happened, in words for a line worker.
    pub fn message(self) -> &'static str {
        match self {
            DeviceErrorCode::Busy => "The device was busy.",
            DeviceErrorCode::BadFrame => "The device did not understand the station's message.",
            DeviceErrorCode::UnknownCommand => "The device firmware does not know this step.",
            DeviceErrorCode::UnsupportedVersion => {
                "The device firmware speaks a different provisioning protocol version."
            }
            DeviceErrorCode::NoSession => "The device was not in a write session.",
            DeviceErrorCode::UnknownKey => "The device firmware does not know a setting.",
            DeviceErrorCode::BadValue => "The device refused a setting's value.",
            DeviceErrorCode::BadOffset => "The device received part of a setting out of order.",
            DeviceErrorCode::MissingKey => "The device did not receive every setting.",
            DeviceErrorCode::DigestMismatch => {
                "The settings the device received differ from what the station sent."
            }
            DeviceErrorCode::HwidMismatch => {
                "A different device is connected than the one the station identified."
            }
            DeviceErrorCode::StorageFull => "The device's storage is full.",
            DeviceErrorCode::StorageFailed => "The device could not save the settings.",
            DeviceErrorCode::WriteOnly => "The device does not reveal this setting.",
            DeviceErrorCode::NoConfig => "The device holds no settings yet.",
            DeviceErrorCode::Locked => {
                "The unit is locked: it already holds settings and refuses new ones."
            }
            DeviceErrorCode::StaleGeneration => {
                "The unit holds newer settings than the ones the station sent."
            }
            DeviceErrorCode::Unrecognized => {
                "The device reported an error the station does not know."
            }
        }
    }

    /// What to do about it.
    pub fn action(self) -> &'static str {
        match self {
            DeviceErrorCode::Busy => "Wait a few seconds and write again.",
            DeviceErrorCode::BadFrame | DeviceErrorCode::BadOffset => {
                "Write again; if it keeps failing, replace the USB cable."
            }
            DeviceErrorCode::UnknownCommand
            | DeviceErrorCode::UnsupportedVersion
            | DeviceErrorCode::UnknownKey
            | DeviceErrorCode::Unrecognized => {
                "Set the device aside and ask the engineer to update its firmware or the station."
            }
            DeviceErrorCode::NoSession | DeviceErrorCode::MissingKey => "Write again.",
            DeviceErrorCode::BadValue => {
                "Check the device's record in the station (lengths, characters, port); fix it and write again."
            }
            DeviceErrorCode::DigestMismatch => {
                "Write again; if it keeps failing, replace the USB cable or the device."
            }
            DeviceErrorCode::HwidMismatch => {
                "Unplug, plug in only the device you mean to write, and start again from the beginning."
            }
            DeviceErrorCode::StorageFull | DeviceErrorCode::StorageFailed => {
                "Set the device aside as faulty and tell the engineer."
            }
            DeviceErrorCode::WriteOnly | DeviceErrorCode::NoConfig => {
                "Nothing to do; this is for the engineer."
            }
            DeviceErrorCode::Locked => {
                "Put the unit in factory mode (button or jumper) and write again."
            }
            DeviceErrorCode::StaleGeneration => {
                "Set the unit aside and tell the engineer: the station's record is behind the unit."
            }
        }
    }
}

impl fmt::Display for DeviceErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_are_unique_and_round_trip() {
        let mut numbers = std::collections::HashSet::new();
        for c in DeviceErrorCode::ALL {
            assert_eq!(DeviceErrorCode::from_name(c.name()), c);
            assert!(numbers.insert(c.number()));
        }
        assert_eq!(
            DeviceErrorCode::from_name("SOMETHING_NEW"),
            DeviceErrorCode::Unrecognized
        );
    }

    #[test]
    fn only_busy_is_retryable() {
        for c in DeviceErrorCode::ALL {
            assert_eq!(c.is_retryable(), c == DeviceErrorCode::Busy);
        }
    }
}
