//! Errors of the SMP client, and the words an operator sees for each.
//!
//! This module owns [`SmpError`]: every way a request can fail, typed, with a help line
//! ([`SmpError::help`]) saying what to do. No variant holds a setting's value, so no message
//! can leak a secret; key names are not secret and are shown.

use std::io;

use crate::codes::{MgmtErr, SettingsErr};
use crate::command::Command;
use crate::spec::group;

/// Everything that can go wrong talking SMP to a device.
#[derive(Debug, thiserror::Error)]
pub enum SmpError {
    /// The port could not be opened.
    #[error("cannot open serial port {path}: {source}")]
    Open {
        /// Port path.
        path: String,
        /// What the serial library said.
        #[source]
        source: io::Error,
    },
    /// No valid answer on any attempt.
    #[error("no SMP answer to {command} after {attempts} attempts")]
    Timeout {
        /// Request that went unanswered.
        command: Command,
        /// Sends made.
        attempts: u32,
    },
    /// The port went away (unplugged, device reset, simulator ended).
    #[error("device disconnected during {command}")]
    Disconnected {
        /// Request in flight.
        command: Command,
    },
    /// Any other I/O error on the port.
    #[error("I/O error during {command}: {source}")]
    Io {
        /// Request in flight.
        command: Command,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// The device answered with a management-level `rc`.
    #[error("device refused {command}: {rc}")]
    Rejected {
        /// Request refused.
        command: Command,
        /// Why.
        rc: MgmtErr,
    },
    /// The device answered with a group error (SMP version 2).
    #[error("device refused {command}: group {group} error {rc}")]
    Group {
        /// Request refused.
        command: Command,
        /// Group that answered.
        group: u16,
        /// The group's code.
        rc: u32,
    },
    /// An answer with a good CRC but not the fields the request's answer must have.
    #[error("malformed SMP answer to {command}: {what}")]
    Malformed {
        /// Request answered.
        command: Command,
        /// What was wrong.
        what: &'static str,
    },
    /// The request does not fit the device's packet buffer; nothing was sent.
    #[error("{command} request of {len} bytes exceeds the {max}-byte SMP packet limit")]
    TooLarge {
        /// Request.
        command: Command,
        /// Its packet length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl SmpError {
    /// The settings group code, when the device answered with one.
    pub fn settings_error(&self) -> Option<SettingsErr> {
        match self {
            SmpError::Group { group: g, rc, .. } if *g == group::SETTINGS => {
                SettingsErr::from_code(*rc)
            }
            _ => None,
        }
    }

    /// What to do about it, in words for the person at the station.
    pub fn help(&self) -> &'static str {
        match self {
            SmpError::Open { .. } => "check the cable and that no other program has the port open",
            SmpError::Timeout { .. } => {
                "check the unit runs firmware with MCUmgr over the serial console (SMP over \
                 UART/shell) at this baud rate, then try again"
            }
            SmpError::Disconnected { .. } => "reconnect the unit and try again",
            SmpError::Io { .. } => "reconnect the unit and try again",
            SmpError::Rejected { rc, .. } => rejected_help(*rc),
            SmpError::Group { .. } => match self.settings_error() {
                Some(SettingsErr::KeyNotFound | SettingsErr::RootKeyNotFound) => {
                    "the firmware has no such setting: check the device type's key names"
                }
                Some(SettingsErr::KeyTooLong) => {
                    "the key name is longer than the firmware allows: shorten it in the device type"
                }
                _ => "the firmware refused the setting: set the unit aside and tell the engineer",
            },
            SmpError::Malformed { .. } => {
                "the firmware answered in a way MCUmgr does not; set the unit aside and tell the \
                 engineer"
            }
            SmpError::TooLarge { .. } => "shorten the value or the key name in the device type",
        }
    }
}

fn rejected_help(rc: MgmtErr) -> &'static str {
    match rc {
        MgmtErr::NotSupported => {
            "the firmware was built without this MCUmgr group (settings needs \
             CONFIG_MCUMGR_GRP_SETTINGS, reset CONFIG_MCUMGR_GRP_OS): use firmware with it enabled"
        }
        MgmtErr::AccessDenied => {
            "the firmware refuses this key (secret keys are write-only): check the device type's \
             key names, and do not read secrets back"
        }
        MgmtErr::Busy => "the unit is busy: wait a moment and try again",
        MgmtErr::VersionTooOld | MgmtErr::VersionTooNew => {
            "the firmware's MCUmgr speaks another SMP version: tell the engineer"
        }
        _ => "the unit refused the request: set it aside and tell the engineer",
    }
}
