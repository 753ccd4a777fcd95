//! The requests this crate makes, as data: op, group, command id and timeout of each.
//!
//! This module owns [`Command`]. Adding a request means adding a row here; the client and the
//! error messages read everything else from it.

use std::time::Duration;

use crate::header::Op;
use crate::spec::{self, group, os, settings};

/// One SMP request kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Settings group: read one key (`{"name"}` -> `{"val"}`).
    SettingsRead,
    /// Settings group: write one key (`{"name", "val"}`).
    SettingsWrite,
    /// Settings group: delete one key.
    SettingsDelete,
    /// Settings group: apply pending settings to their handlers.
    SettingsCommit,
    /// Settings group: load the settings from storage.
    SettingsLoad,
    /// Settings group: save the settings to storage.
    SettingsSave,
    /// OS group: reset the device.
    Reset,
    /// OS group: the server's buffer size and count.
    McumgrParams,
}

impl Command {
    /// `(op, group, command id)` of the request.
    pub fn address(self) -> (Op, u16, u8) {
        match self {
            Command::SettingsRead => (Op::Read, group::SETTINGS, settings::READ_WRITE),
            Command::SettingsWrite => (Op::Write, group::SETTINGS, settings::READ_WRITE),
            Command::SettingsDelete => (Op::Write, group::SETTINGS, settings::DELETE),
            Command::SettingsCommit => (Op::Write, group::SETTINGS, settings::COMMIT),
            Command::SettingsLoad => (Op::Read, group::SETTINGS, settings::LOAD_SAVE),
            Command::SettingsSave => (Op::Write, group::SETTINGS, settings::LOAD_SAVE),
            Command::Reset => (Op::Write, group::OS, os::RESET),
            Command::McumgrParams => (Op::Read, group::OS, os::MCUMGR_PARAMS),
        }
    }

    /// How long to wait for the answer to one send.
    pub fn timeout(self) -> Duration {
        match self {
            Command::SettingsLoad | Command::SettingsSave => spec::STORAGE_TIMEOUT,
            Command::Reset => spec::RESET_TIMEOUT,
            _ => spec::SETTINGS_TIMEOUT,
        }
    }

    /// Name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Command::SettingsRead => "settings read",
            Command::SettingsWrite => "settings write",
            Command::SettingsDelete => "settings delete",
            Command::SettingsCommit => "settings commit",
            Command::SettingsLoad => "settings load",
            Command::SettingsSave => "settings save",
            Command::Reset => "reset",
            Command::McumgrParams => "MCUmgr parameters",
        }
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
