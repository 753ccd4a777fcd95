//! Errors of the station side of the protocol, and the words an operator sees for each.
//!
//! This module owns [`ProtocolError`]: which failures are definitive, which leave a COMMIT's
//! outcome unknown, and the operator message (what happened and what to do). No variant ever
//! holds a config value, so no message can leak a secret.

use std::io;

use crate::command::{Command, Key};
use crate::config::ConfigError;
use crate::error_code::DeviceErrorCode;
use crate::message::MalformedReply;

/// Everything that can go wrong talking to a device.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// No valid reply within the command's timeout, on every attempt.
    #[error("no reply to {command} after {attempts} attempts")]
    Timeout {
        /// Command that went unanswered.
        command: Command,
        /// Frames sent (first send plus retransmissions).
        attempts: u32,
    },
    /// The device refused the request.
    #[error("device refused {command}: {code}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Device {
        /// Command refused.
        command: Command,
        /// Why.
        code: DeviceErrorCode,
        /// Detail token from the device: a key name or a version, never a value.
        detail: Option<String>,
        /// Frames sent before this answer; above 1 means a retransmission was answered.
        attempts: u32,
    },
    /// The port went away (unplugged, device reset, simulator exited).
    #[error("device disconnected during {command}")]
    Disconnected {
        /// Command in flight.
        command: Command,
    },
    /// Any other I/O error on the port.
    #[error("I/O error during {command}: {source}")]
    Io {
        /// Command in flight.
        command: Command,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// The device does not speak our protocol version.
    #[error("device speaks protocol version {device}, station speaks {station}")]
    UnsupportedVersion {
        /// Version the device offered (0 if it did not say).
        device: u16,
        /// Version this station speaks.
        station: u16,
    },
    /// A reply with a good checksum but wrong fields: a firmware bug.
    #[error(transparent)]
    MalformedReply(#[from] MalformedReply),
    /// The config breaks a limit; nothing was sent.
    #[error("invalid config: {0}")]
    InvalidConfig(#[from] ConfigError),
    /// The expected hardware id passed to COMMIT is not hex.
    #[error("invalid hardware id syntax (expected 2..=32 hex digits)")]
    InvalidHardwareId,
    /// The port could not be opened.
    #[error("cannot open serial port {path}: {source}")]
    Open {
        /// Port path.
        path: String,
        /// Underlying error, as the serial library reported it.
        #[source]
        source: io::Error,
    },
    /// The list of ports could not be read.
    #[error("cannot list serial ports: {0}")]
    ListPorts(#[source] io::Error),
}

impl ProtocolError {
    /// The command this error happened in, if any.
    pub fn command(&self) -> Option<Command> {
        match self {
            ProtocolError::Timeout { command, .. }
            | ProtocolError::Device { command, .. }
            | ProtocolError::Disconnected { command }
            | ProtocolError::Io { command, .. } => Some(*command),
            ProtocolError::MalformedReply(m) => Some(m.command),
            ProtocolError::UnsupportedVersion { .. } => Some(Command::Hello),
            _ => None,
        }
    }

    /// The device's error code, if the device refused.
    pub fn device_code(&self) -> Option<DeviceErrorCode> {
        match self {
            ProtocolError::Device { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True iff the port exists but another program holds it (serialport's exclusive lock or
    /// TIOCEXCL answered EBUSY: the serial transport opens it as `ResourceBusy`).
    pub fn port_busy(&self) -> bool {
        matches!(self, ProtocolError::Open { source, .. } if source.kind() == std::io::ErrorKind::ResourceBusy)
    }

    /// True iff a COMMIT may have reached the device but no definitive answer came back. The
    /// caller must read HELLO again (generation, device id) to learn whether the commit happened.
    ///
    /// NO_SESSION in answer to a retransmitted COMMIT counts: the first COMMIT may have been
    /// applied and then the device restarted, losing the reply cache (spec §6.3).
    pub fn commit_outcome_unknown(&self) -> bool {
        match self {
            ProtocolError::Timeout { command, .. }
            | ProtocolError::Disconnected { command }
            | ProtocolError::Io { command, .. } => *command == Command::Commit,
            ProtocolError::MalformedReply(m) => m.command == Command::Commit,
            ProtocolError::Device {
                command: Command::Commit,
                code: DeviceErrorCode::NoSession,
                attempts,
                ..
            } => *attempts > 1,
            _ => false,
        }
    }

    /// Whether trying the whole operation again (from HELLO) may succeed without a person
    /// changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            ProtocolError::Timeout { .. }
            | ProtocolError::Disconnected { .. }
            | ProtocolError::Io { .. } => true,
            ProtocolError::Device { code, .. } => matches!(
                code,
                DeviceErrorCode::Busy
                    | DeviceErrorCode::BadFrame
                    | DeviceErrorCode::BadOffset
                    | DeviceErrorCode::DigestMismatch
                    | DeviceErrorCode::NoSession
                    | DeviceErrorCode::MissingKey
            ),
            _ => false,
        }
    }

    /// Words a line worker understands, and what to do. Never contains a config value.
    pub fn operator_message(&self) -> String {
        if self.commit_outcome_unknown() {
            return "The device stopped answering while saving its settings, so the station \
                    cannot tell whether they were saved. Keep the device plugged in (or plug it \
                    back in) and let the station check it again before doing anything else."
                .to_owned();
        }
        match self {
            ProtocolError::Timeout { command, .. } => format!(
                "The device did not answer ({}). Check that it is plugged in and powered, then \
                 try again; if it keeps failing, try another USB cable or port.",
                step_words(*command)
            ),
            ProtocolError::Device { code, detail, .. } => {
                // Only a key name is shown from the device's detail: a buggy or hostile device
                // could echo anything else, including a value we staged.
                let setting = detail
                    .as_deref()
                    .and_then(Key::from_name)
                    .map(|k| format!(" (setting: {k})"))
                    .unwrap_or_default();
                format!("{}{} {}", code.message(), setting, code.action())
            }
            ProtocolError::Disconnected { .. } => "The device was unplugged or lost power. Plug \
                 it back in and try again."
                .to_owned(),
            ProtocolError::Io { .. } => "The station could not talk to the USB port. Unplug the \
                 device, plug it back in and try again; if it keeps failing, restart the station."
                .to_owned(),
            ProtocolError::UnsupportedVersion { .. } => "This device's firmware is too old or too \
                 new for this station. Set it aside and ask the engineer to update the firmware \
                 or the station."
                .to_owned(),
            ProtocolError::MalformedReply(_) => "The device answered with something the station \
                 does not understand. Set it aside and tell the engineer (firmware problem)."
                .to_owned(),
            ProtocolError::InvalidConfig(e) => format!(
                "The station's record for this device is not valid (setting: {}). Nothing was \
                 written. Ask the engineer to fix the record.",
                e.key
            ),
            ProtocolError::InvalidHardwareId => "The station has no valid identity for this \
                 device. Unplug it, plug it back in and start again."
                .to_owned(),
            ProtocolError::Open { path, .. } => format!(
                "The USB port {path} could not be opened. Check that no other program is using \
                 it, unplug and replug the device, and try again."
            ),
            ProtocolError::ListPorts(_) => "The station could not list its USB ports. Restart \
                 the station; if it keeps failing, tell the engineer."
                .to_owned(),
        }
    }
}

fn step_words(command: Command) -> &'static str {
    match command {
        Command::Hello => "while identifying it",
        Command::Begin => "while starting the write",
        Command::Stage => "while sending settings",
        Command::Commit => "while saving settings",
        Command::Abort => "while cancelling the write",
        Command::Read => "while reading its identity",
        Command::Baud => "while changing the line speed",
        Command::Prove => "while checking that it holds its credentials",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_outcome_unknown_only_for_ambiguous_commit_failures() {
        let t = |command| ProtocolError::Timeout {
            command,
            attempts: 4,
        };
        assert!(t(Command::Commit).commit_outcome_unknown());
        assert!(!t(Command::Stage).commit_outcome_unknown());
        assert!(ProtocolError::Disconnected {
            command: Command::Commit
        }
        .commit_outcome_unknown());
        let dev = |code, attempts| ProtocolError::Device {
            command: Command::Commit,
            code,
            detail: None,
            attempts,
        };
        assert!(!dev(DeviceErrorCode::DigestMismatch, 1).commit_outcome_unknown());
        assert!(!dev(DeviceErrorCode::NoSession, 1).commit_outcome_unknown());
        assert!(dev(DeviceErrorCode::NoSession, 2).commit_outcome_unknown());
    }

    #[test]
    fn operator_message_ignores_non_key_detail() {
        let e = ProtocolError::Device {
            command: Command::Stage,
            code: DeviceErrorCode::BadValue,
            detail: Some("hunter2".to_owned()),
            attempts: 1,
        };
        assert!(!e.operator_message().contains("hunter2"));
        let e = ProtocolError::Device {
            command: Command::Stage,
            code: DeviceErrorCode::BadValue,
            detail: Some("broker_port".to_owned()),
            attempts: 1,
        };
        assert!(e.operator_message().contains("broker_port"));
    }
}
