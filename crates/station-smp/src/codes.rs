//! SMP result codes: the management-level `rc` and the settings group's own codes.
//!
//! This module owns [`MgmtErr`] (`enum mcumgr_err_t` in Zephyr's `mgmt_defines.h`), sent as
//! `{"rc": n}`, and [`SettingsErr`] (`enum settings_mgmt_ret_code_t` in `settings_mgmt.h`),
//! sent by SMP version 2 as `{"err": {"group": 3, "rc": n}}`.

/// A management-level result code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MgmtErr {
    /// `MGMT_ERR_EUNKNOWN`.
    Unknown,
    /// `MGMT_ERR_ENOMEM`.
    NoMemory,
    /// `MGMT_ERR_EINVAL`: a field is missing or of the wrong type.
    InvalidValue,
    /// `MGMT_ERR_ETIMEOUT`.
    Timeout,
    /// `MGMT_ERR_ENOENT`.
    NotFound,
    /// `MGMT_ERR_EBADSTATE`.
    BadState,
    /// `MGMT_ERR_EMSGSIZE`: the answer did not fit the device's buffer.
    MessageTooLarge,
    /// `MGMT_ERR_ENOTSUP`: the group or command is not built into the firmware.
    NotSupported,
    /// `MGMT_ERR_ECORRUPT`.
    Corrupt,
    /// `MGMT_ERR_EBUSY`.
    Busy,
    /// `MGMT_ERR_EACCESSDENIED`: the firmware's access hook refused the request.
    AccessDenied,
    /// `MGMT_ERR_UNSUPPORTED_TOO_OLD`: the request's SMP version is too old for the device.
    VersionTooOld,
    /// `MGMT_ERR_UNSUPPORTED_TOO_NEW`: the request's SMP version is too new for the device.
    VersionTooNew,
    /// Any other code (256 and up are the application's own).
    Other(u32),
}

impl MgmtErr {
    /// Every named code, in numeric order from 1.
    pub const NAMED: [MgmtErr; 13] = [
        MgmtErr::Unknown,
        MgmtErr::NoMemory,
        MgmtErr::InvalidValue,
        MgmtErr::Timeout,
        MgmtErr::NotFound,
        MgmtErr::BadState,
        MgmtErr::MessageTooLarge,
        MgmtErr::NotSupported,
        MgmtErr::Corrupt,
        MgmtErr::Busy,
        MgmtErr::AccessDenied,
        MgmtErr::VersionTooOld,
        MgmtErr::VersionTooNew,
    ];

    /// The code on the wire.
    pub fn code(self) -> u32 {
        match self {
            MgmtErr::Other(n) => n,
            named => Self::NAMED
                .iter()
                .position(|c| *c == named)
                .map_or(1, |i| i as u32 + 1),
        }
    }

    /// The code for a wire value (0 is success, so it has none).
    pub fn from_code(code: u32) -> Option<Self> {
        match code {
            0 => None,
            n => Some(
                usize::try_from(n - 1)
                    .ok()
                    .and_then(|i| Self::NAMED.get(i).copied())
                    .unwrap_or(MgmtErr::Other(n)),
            ),
        }
    }

    /// Short lowercase name, for messages and the simulator's command line.
    pub fn name(self) -> &'static str {
        match self {
            MgmtErr::Unknown => "unknown",
            MgmtErr::NoMemory => "no_memory",
            MgmtErr::InvalidValue => "invalid_value",
            MgmtErr::Timeout => "timeout",
            MgmtErr::NotFound => "not_found",
            MgmtErr::BadState => "bad_state",
            MgmtErr::MessageTooLarge => "message_too_large",
            MgmtErr::NotSupported => "not_supported",
            MgmtErr::Corrupt => "corrupt",
            MgmtErr::Busy => "busy",
            MgmtErr::AccessDenied => "access_denied",
            MgmtErr::VersionTooOld => "version_too_old",
            MgmtErr::VersionTooNew => "version_too_new",
            MgmtErr::Other(_) => "other",
        }
    }

    /// The named code called `name` (as [`MgmtErr::name`] spells it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::NAMED.into_iter().find(|c| c.name() == name)
    }
}

impl std::fmt::Display for MgmtErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MgmtErr::Other(n) => write!(f, "rc {n}"),
            c => write!(f, "{} (rc {})", c.name(), c.code()),
        }
    }
}

/// A settings group result code (SMP version 2 group error, group 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsErr {
    /// `SETTINGS_MGMT_ERR_UNKNOWN`.
    Unknown,
    /// `SETTINGS_MGMT_ERR_KEY_TOO_LONG`: longer than `CONFIG_MCUMGR_GRP_SETTINGS_NAME_LEN`.
    KeyTooLong,
    /// `SETTINGS_MGMT_ERR_KEY_NOT_FOUND`.
    KeyNotFound,
    /// `SETTINGS_MGMT_ERR_READ_NOT_SUPPORTED`.
    ReadNotSupported,
    /// `SETTINGS_MGMT_ERR_ROOT_KEY_NOT_FOUND`: no handler for the key's subtree.
    RootKeyNotFound,
    /// `SETTINGS_MGMT_ERR_WRITE_NOT_SUPPORTED`.
    WriteNotSupported,
    /// `SETTINGS_MGMT_ERR_DELETE_NOT_SUPPORTED`.
    DeleteNotSupported,
}

impl SettingsErr {
    /// The code on the wire (`rc` inside `err`).
    pub fn code(self) -> u32 {
        match self {
            SettingsErr::Unknown => 1,
            SettingsErr::KeyTooLong => 2,
            SettingsErr::KeyNotFound => 3,
            SettingsErr::ReadNotSupported => 4,
            SettingsErr::RootKeyNotFound => 5,
            SettingsErr::WriteNotSupported => 6,
            SettingsErr::DeleteNotSupported => 7,
        }
    }

    /// The code for a wire value.
    pub fn from_code(code: u32) -> Option<Self> {
        [
            SettingsErr::Unknown,
            SettingsErr::KeyTooLong,
            SettingsErr::KeyNotFound,
            SettingsErr::ReadNotSupported,
            SettingsErr::RootKeyNotFound,
            SettingsErr::WriteNotSupported,
            SettingsErr::DeleteNotSupported,
        ]
        .into_iter()
        .find(|c| c.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mgmt_codes_are_zephyrs_numbers() {
        assert_eq!(MgmtErr::NotSupported.code(), 8);
        assert_eq!(MgmtErr::AccessDenied.code(), 11);
        assert_eq!(MgmtErr::VersionTooNew.code(), 13);
        assert_eq!(MgmtErr::from_code(0), None);
        assert_eq!(MgmtErr::from_code(256), Some(MgmtErr::Other(256)));
        for c in MgmtErr::NAMED {
            assert_eq!(MgmtErr::from_code(c.code()), Some(c));
            assert_eq!(MgmtErr::from_name(c.name()), Some(c));
        }
        assert_eq!(SettingsErr::from_code(3), Some(SettingsErr::KeyNotFound));
    }
}
