//! Typed outcomes: why a flash (or any contact with a unit) failed, and what a person does next.
//!
//! This module owns [`FailReason`], one variant per device error code of the protocol, per
//! transport failure and per refusal the flasher makes, and [`Action`], the face-neutral next
//! step each outcome maps to. The stable names (`as_str`, equal to the serde form) are what
//! scripts, the CLI's JSON and the UI match on. The words here are neutral: they never name a
//! CLI command or flag, because the app shows them to a line worker; each face renders an
//! [`Action`] in its own words.

use station_protocol::{DeviceErrorCode, ProtocolError};

use crate::error::{CoreError, ErrorCode};

macro_rules! named_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "specta", derive(specta::Type))]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant,)* }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stable name; equal to the serde form.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// Parses a stable name.
            pub fn from_name(name: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == name)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum! {
    /// Why a contact with a unit failed. Never rename a variant: the UI and scripts match on it.
    pub enum FailReason {
        // The device's own error codes (spec §3.2), by their wire name in lower case.
        Busy => "busy",
        BadFrame => "bad_frame",
        UnknownCommand => "unknown_command",
        /// The unit speaks another protocol version (its own error code, or the handshake).
        UnsupportedVersion => "unsupported_version",
        NoSession => "no_session",
        UnknownKey => "unknown_key",
        BadValue => "bad_value",
        BadOffset => "bad_offset",
        MissingKey => "missing_key",
        DigestMismatch => "digest_mismatch",
        HwidMismatch => "hwid_mismatch",
        StorageFull => "storage_full",
        StorageFailed => "storage_failed",
        WriteOnly => "write_only",
        NoConfig => "no_config",
        /// The unit's write gate is closed (protocol §10.3): it holds a config and its
        /// application does not allow a new write. Nothing was written.
        Locked => "locked",
        /// The unit holds a generation at or above the one sent (protocol §10.3): the
        /// station's record is behind the unit. Nothing was written.
        StaleGeneration => "stale_generation",
        Unrecognized => "unrecognized",
        // The station's side of the wire.
        Timeout => "timeout",
        Disconnected => "disconnected",
        Io => "io",
        PortOpenFailed => "port_open_failed",
        /// Another program holds the port.
        PortBusy => "port_busy",
        PortListFailed => "port_list_failed",
        MalformedReply => "malformed_reply",
        InvalidConfig => "invalid_config",
        InvalidHardwareId => "invalid_hardware_id",
        /// The unit may or may not have committed; it is settled at the next contact.
        CommitOutcomeUnknown => "commit_outcome_unknown",
        // Refusals of the flasher, and what it found.
        AlreadyProvisioned => "already_provisioned",
        ForeignIdentity => "foreign_identity",
        WrongUnit => "wrong_unit",
        HardwareMismatch => "hardware_mismatch",
        NoIdentity => "no_identity",
        Deactivated => "deactivated",
        NotKept => "not_kept",
        Simulator => "simulator",
        /// The unit confirmed the commit but the station could not record it (database busy,
        /// disk full): the unit holds the new generation; the next contact records it.
        NotRecorded => "not_recorded",
        /// The unit answered the possession proof (protocol §10.3) wrongly: it does not hold
        /// the device's current credentials. Nothing was written.
        ProofFailed => "proof_failed",
        /// The device has no bound unit and its unit cannot prove possession: a re-flash needs
        /// an operator's explicit confirmation. Nothing was written.
        UnboundDevice => "unbound_device",
        // Driver failures (issue 12): the ESP ROM loader and the NVS partition.
        /// No ESP ROM loader answered: the unit is not in download mode, or not on this port.
        NoLoaderAnswer => "no_loader_answer",
        /// The chip is not the one the device type's driver writes.
        WrongChip => "wrong_chip",
        /// The unit's partition table has no NVS partition the type names.
        NoNvsPartition => "no_nvs_partition",
        /// The NVS partition cannot hold the type's keys.
        PartitionTooSmall => "partition_too_small",
        /// The loader's MD5 of the written flash differs from the image's.
        FlashVerifyFailed => "flash_verify_failed",
        /// The ESP loader refused a command (its error status).
        LoaderRefused => "loader_refused",
    }
}

named_enum! {
    /// What a person does next. Face-neutral: each face says it in its own words.
    pub enum Action {
        /// Do the same again; nothing needs changing first.
        Retry => "retry",
        /// Let the station read the unit again (keep it plugged in, or plug it in again): it
        /// settles the unconfirmed write from what the unit holds.
        RunRecover => "run_recover",
        /// Give the unit's device new credentials instead of provisioning it again.
        RotateAndReflash => "rotate_and_reflash",
        /// Overwrite a unit that holds another station's identity, on purpose.
        OverwriteForeign => "overwrite_foreign",
        /// Provision the unit as a new device.
        ProvisionNew => "provision_new",
        /// Plug in the unit of the device that was selected.
        PlugInSelectedUnit => "plug_in_selected_unit",
        /// Set the unit aside as faulty and tell the engineer.
        SetAside => "set_aside",
        /// Close the program that holds the port.
        FreePort => "free_port",
        /// Check the port's name, or pick another port.
        ChoosePort => "choose_port",
        /// Add a device type first.
        AddType => "add_type",
        /// Change what was asked, as the message says.
        FixInput => "fix_input",
        /// Wait a moment, then do the same again.
        WaitAndRetry => "wait_and_retry",
        /// Free disk space, then do the same again.
        FreeDisk => "free_disk",
        /// Make the database file usable (writable, restored), or use another one.
        FixDatabaseFile => "fix_database_file",
        /// Update the unit's firmware or the station.
        UpdateStation => "update_station",
        /// Report the error to the engineer.
        ReportBug => "report_bug",
        /// Check that the unit really is the device's own, then re-flash it again confirming
        /// that the device has no unit on record.
        ConfirmUnbound => "confirm_unbound",
        /// Put the unit in factory mode (its button or jumper), then do the same again.
        UnlockUnit => "unlock_unit",
        /// Sign in with a name or badge, then do the same again.
        SignIn => "sign_in",
        /// Nothing to do.
        None => "none",
    }
}

named_enum! {
    /// The control on a face whose choice kept a job from starting: where the face shows the
    /// reason (the Station screen next to it, the CLI on the port's line).
    pub enum Control {
        /// What to flash: the device type, the batch, the device (and the type's settings).
        Target => "target",
        /// The id prefix typed for new devices.
        Prefix => "prefix",
        /// The port: not chosen, not valid, cannot be opened, held by another program.
        Port => "port",
        /// The operator sign-in: nobody is signed in while the lead requires it.
        Operator => "operator",
        /// Nothing a person picked: the station's database, disk or settings.
        Station => "station",
    }
}

/// How one job ended, decided here once for every face: the app's tiles and counters, the
/// CLI's PASS / FAIL / NOT STARTED lines, and the shift's counters all follow it.
///
/// FAIL means a unit failed. A job stopped by what was asked (a typing mistake, a type's
/// configuration, a batch with no device left), by the port (not found, busy) or by the
/// station (its database, its disk) before anything was written to the unit did not start:
/// nothing is counted, and the reason belongs next to the control that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobOutcome {
    Passed,
    Failed,
    NotStarted { control: Control },
}

impl JobOutcome {
    /// The outcome of a job that failed with `error`; `unit_written`: the job had begun writing
    /// to the unit (anything after that is the unit's failure, or may be).
    pub fn of_failure(error: &CoreError, unit_written: bool) -> JobOutcome {
        match error.not_started() {
            Some(control) if !unit_written => JobOutcome::NotStarted { control },
            _ => JobOutcome::Failed,
        }
    }

    /// How the shift counts it: `Some(passed)`, or `None` for a job that did not start.
    pub fn shift_count(self) -> Option<bool> {
        match self {
            JobOutcome::Passed => Some(true),
            JobOutcome::Failed => Some(false),
            JobOutcome::NotStarted { .. } => None,
        }
    }

    /// The stable name: `passed`, `failed`, `not_started`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobOutcome::Passed => "passed",
            JobOutcome::Failed => "failed",
            JobOutcome::NotStarted { .. } => "not_started",
        }
    }
}

impl CoreError {
    /// The control to fix when this error stops a job before its unit is written; `None`
    /// when it is (or may be) the unit's own failure, which counts as FAIL.
    pub fn not_started(&self) -> Option<Control> {
        use CoreError as E;
        match self {
            E::InvalidInput {
                field: "prefix", ..
            } => Some(Control::Prefix),
            E::InvalidInput { field: "port", .. } => Some(Control::Port),
            E::InvalidInput { .. }
            | E::UnknownType { .. }
            | E::DuplicateType { .. }
            | E::NotFound { .. }
            | E::BatchShort { .. } => Some(Control::Target),
            E::Device { reason, .. } => match reason {
                FailReason::PortOpenFailed | FailReason::PortBusy | FailReason::PortListFailed => {
                    Some(Control::Port)
                }
                _ => None,
            },
            E::Conflict { .. }
            | E::Refused { .. }
            | E::DatabaseBusy { .. }
            | E::DatabaseReadOnly { .. }
            | E::DatabaseCorrupt { .. }
            | E::DatabaseTooNew { .. }
            | E::DiskFull { .. }
            | E::Database { .. }
            | E::Io { .. } => Some(Control::Station),
            E::SignInRequired => Some(Control::Operator),
            E::PendingFlash { .. } | E::NotRecorded { .. } | E::Internal(_) => None,
        }
    }
}

impl FailReason {
    /// The reason for a protocol failure.
    pub fn of_protocol(e: &ProtocolError) -> FailReason {
        if e.commit_outcome_unknown() {
            return FailReason::CommitOutcomeUnknown;
        }
        match e {
            ProtocolError::Timeout { .. } => FailReason::Timeout,
            ProtocolError::Device { code, .. } => FailReason::of_device_code(*code),
            ProtocolError::Disconnected { .. } => FailReason::Disconnected,
            ProtocolError::Io { .. } => FailReason::Io,
            ProtocolError::UnsupportedVersion { .. } => FailReason::UnsupportedVersion,
            ProtocolError::MalformedReply(_) => FailReason::MalformedReply,
            ProtocolError::InvalidConfig(_) => FailReason::InvalidConfig,
            ProtocolError::InvalidHardwareId => FailReason::InvalidHardwareId,
            ProtocolError::Open { .. } if e.port_busy() => FailReason::PortBusy,
            ProtocolError::Open { .. } => FailReason::PortOpenFailed,
            ProtocolError::ListPorts(_) => FailReason::PortListFailed,
        }
    }

    /// The reason for a protocol failure whose commit outcome is known by now (the unit was
    /// asked again): what went wrong on the wire, not "unknown".
    pub fn of_protocol_definite(e: &ProtocolError) -> FailReason {
        match FailReason::of_protocol(e) {
            FailReason::CommitOutcomeUnknown => match e {
                ProtocolError::Timeout { .. } => FailReason::Timeout,
                ProtocolError::Disconnected { .. } => FailReason::Disconnected,
                ProtocolError::MalformedReply(_) => FailReason::MalformedReply,
                ProtocolError::Device { code, .. } => FailReason::of_device_code(*code),
                _ => FailReason::Io,
            },
            other => other,
        }
    }

    /// The reason for a device's error code.
    pub fn of_device_code(code: DeviceErrorCode) -> FailReason {
        match code {
            DeviceErrorCode::Busy => FailReason::Busy,
            DeviceErrorCode::BadFrame => FailReason::BadFrame,
            DeviceErrorCode::UnknownCommand => FailReason::UnknownCommand,
            DeviceErrorCode::UnsupportedVersion => FailReason::UnsupportedVersion,
            DeviceErrorCode::NoSession => FailReason::NoSession,
            DeviceErrorCode::UnknownKey => FailReason::UnknownKey,
            DeviceErrorCode::BadValue => FailReason::BadValue,
            DeviceErrorCode::BadOffset => FailReason::BadOffset,
            DeviceErrorCode::MissingKey => FailReason::MissingKey,
            DeviceErrorCode::DigestMismatch => FailReason::DigestMismatch,
            DeviceErrorCode::HwidMismatch => FailReason::HwidMismatch,
            DeviceErrorCode::StorageFull => FailReason::StorageFull,
            DeviceErrorCode::StorageFailed => FailReason::StorageFailed,
            DeviceErrorCode::WriteOnly => FailReason::WriteOnly,
            DeviceErrorCode::NoConfig => FailReason::NoConfig,
            DeviceErrorCode::Locked => FailReason::Locked,
            DeviceErrorCode::StaleGeneration => FailReason::StaleGeneration,
            DeviceErrorCode::Unrecognized => FailReason::Unrecognized,
        }
    }

    /// The one next step for this reason.
    pub fn action(self) -> Action {
        use FailReason as R;
        match self {
            R::Busy => Action::WaitAndRetry,
            R::BadFrame
            | R::BadOffset
            | R::NoSession
            | R::MissingKey
            | R::DigestMismatch
            | R::Timeout
            | R::Disconnected
            | R::Io
            | R::InvalidHardwareId => Action::Retry,
            R::UnknownCommand | R::UnsupportedVersion | R::UnknownKey | R::Unrecognized => {
                Action::UpdateStation
            }
            R::BadValue | R::InvalidConfig => Action::FixInput,
            R::HwidMismatch | R::WrongUnit => Action::PlugInSelectedUnit,
            R::StorageFull
            | R::StorageFailed
            | R::MalformedReply
            | R::HardwareMismatch
            | R::NotKept
            | R::ProofFailed => Action::SetAside,
            R::WriteOnly | R::NoConfig | R::PortListFailed | R::Simulator | R::StaleGeneration => {
                Action::ReportBug
            }
            R::Locked => Action::UnlockUnit,
            R::PortOpenFailed => Action::ChoosePort,
            R::PortBusy => Action::FreePort,
            R::CommitOutcomeUnknown | R::NotRecorded => Action::RunRecover,
            R::AlreadyProvisioned => Action::RotateAndReflash,
            R::ForeignIdentity => Action::OverwriteForeign,
            R::NoIdentity | R::Deactivated => Action::ProvisionNew,
            R::UnboundDevice => Action::ConfirmUnbound,
            R::NoLoaderAnswer => Action::ChoosePort,
            R::FlashVerifyFailed | R::LoaderRefused => Action::Retry,
            R::WrongChip => Action::SetAside,
            R::NoNvsPartition | R::PartitionTooSmall => Action::UpdateStation,
        }
    }

    /// A short headline, for a table or a result tile.
    pub fn headline(self) -> &'static str {
        use FailReason as R;
        match self {
            R::Busy => "The device was busy",
            R::BadFrame => "The device did not understand the station",
            R::UnknownCommand => "The firmware does not know this step",
            R::UnsupportedVersion => "Wrong firmware version",
            R::NoSession => "The device was not in a write session",
            R::UnknownKey => "The firmware does not know a setting",
            R::BadValue => "The device refused a setting's value",
            R::BadOffset => "A setting arrived out of order",
            R::MissingKey => "The device did not receive every setting",
            R::DigestMismatch => "The settings arrived damaged",
            R::HwidMismatch => "A different unit is connected",
            R::StorageFull => "The device's memory is full",
            R::StorageFailed => "The device could not save",
            R::WriteOnly => "The device does not reveal this setting",
            R::NoConfig => "The device holds no settings",
            R::Locked => "The unit is locked",
            R::StaleGeneration => "The unit holds newer settings than the station's record",
            R::Unrecognized => "An error the station does not know",
            R::Timeout => "The device did not answer",
            R::Disconnected => "The device was unplugged",
            R::Io => "The USB port stopped working",
            R::PortOpenFailed => "The port could not be opened",
            R::PortBusy => "Another program is using the port",
            R::PortListFailed => "The ports could not be listed",
            R::MalformedReply => "The device's answer made no sense",
            R::InvalidConfig => "The device's record is not valid",
            R::InvalidHardwareId => "The device has no valid identity",
            R::CommitOutcomeUnknown => "Not sure the settings were saved",
            R::AlreadyProvisioned => "This unit is already a device",
            R::ForeignIdentity => "This unit belongs to another station",
            R::WrongUnit => "This is not the selected device's unit",
            R::HardwareMismatch => "Swapped or copied unit",
            R::NoIdentity => "This unit holds no device",
            R::Deactivated => "The device is deactivated",
            R::NotKept => "The device did not keep its settings",
            R::Simulator => "The simulated device did not start",
            R::NotRecorded => "Written, but not yet recorded",
            R::ProofFailed => "The unit does not hold the device's credentials",
            R::UnboundDevice => "No unit is on record for this device",
            R::NoLoaderAnswer => "The unit's loader did not answer",
            R::WrongChip => "This is not the chip the type expects",
            R::NoNvsPartition => "The unit has no settings partition",
            R::PartitionTooSmall => "The settings partition is too small",
            R::FlashVerifyFailed => "The written settings did not check out",
            R::LoaderRefused => "The unit's loader refused a step",
        }
    }
}

impl Action {
    /// What to do, in neutral words any face may show (no command names).
    pub fn help(self) -> &'static str {
        match self {
            Action::Retry => "try again; every attempt uses fresh credentials",
            Action::RunRecover => {
                "keep the unit plugged in (or plug it in again) and let the station read it: \
                 it settles the unconfirmed write from what the unit holds"
            }
            Action::RotateAndReflash => {
                "to give it new credentials, rotate and re-flash it; to reuse the unit as a new \
                 device, deactivate its old device first"
            }
            Action::OverwriteForeign => {
                "check where the unit comes from; to overwrite its identity anyway, flash it \
                 again allowing a foreign identity to be overwritten"
            }
            Action::ProvisionNew => "provision the unit as a new device instead",
            Action::PlugInSelectedUnit => {
                "plug in only the unit of the device you selected, and start again"
            }
            Action::SetAside => "set the unit aside as faulty and tell the engineer",
            Action::FreePort => "close the program that is using the port, then try again",
            Action::ChoosePort => "check that the unit is plugged in, or pick another port",
            Action::AddType => "add a device type first",
            Action::FixInput => "change what was asked, as the message says, and try again",
            Action::WaitAndRetry => "wait a moment, then try again",
            Action::FreeDisk => "free some disk space, then try again",
            Action::FixDatabaseFile => {
                "make the station database writable, restore it from a backup, or use another \
                 database file"
            }
            Action::UpdateStation => {
                "set the unit aside and ask the engineer to update its firmware or the station"
            }
            Action::ReportBug => "report this error to the engineer",
            Action::ConfirmUnbound => {
                "no unit is on record for this device and this unit cannot prove it holds the \
                 device's credentials: check that it is the device's own unit (its label, where \
                 it came from), then re-flash it again confirming that"
            }
            Action::UnlockUnit => {
                "the unit is locked: put it in factory mode (button or jumper) and try again"
            }
            Action::SignIn => "sign in with your name or badge, then do the same again",
            Action::None => "nothing to do",
        }
    }
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::InvalidInput,
        ErrorCode::UnknownType,
        ErrorCode::DuplicateType,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::DatabaseBusy,
        ErrorCode::DatabaseReadOnly,
        ErrorCode::DatabaseCorrupt,
        ErrorCode::DatabaseTooNew,
        ErrorCode::DiskFull,
        ErrorCode::Database,
        ErrorCode::Io,
        ErrorCode::Refused,
        ErrorCode::Device,
        ErrorCode::Internal,
        ErrorCode::SignInRequired,
    ];

    /// A short headline for a failure with this code.
    pub fn headline(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "Check what was entered",
            ErrorCode::UnknownType => "Unknown device type",
            ErrorCode::DuplicateType => "That type already exists",
            ErrorCode::NotFound => "Not found",
            ErrorCode::Conflict => "Cannot do that now",
            ErrorCode::DatabaseBusy => "The database is busy",
            ErrorCode::DatabaseReadOnly => "The database cannot be written",
            ErrorCode::DatabaseCorrupt => "The database is damaged",
            ErrorCode::DatabaseTooNew => "The database is from a newer station",
            ErrorCode::DiskFull => "The disk is full",
            ErrorCode::Database => "Database problem",
            ErrorCode::Io => "File problem",
            ErrorCode::Refused => "Refused",
            ErrorCode::Device => "Flash failed",
            ErrorCode::Internal => "Something went wrong inside the station",
            ErrorCode::SignInRequired => "Sign in first",
        }
    }

    /// The usual next step for this code; a device failure's own is its reason's.
    pub fn action(self) -> Action {
        match self {
            ErrorCode::InvalidInput
            | ErrorCode::DuplicateType
            | ErrorCode::NotFound
            | ErrorCode::Conflict
            | ErrorCode::Refused
            | ErrorCode::Io => Action::FixInput,
            ErrorCode::UnknownType => Action::AddType,
            ErrorCode::DatabaseBusy => Action::WaitAndRetry,
            ErrorCode::DatabaseReadOnly | ErrorCode::DatabaseCorrupt => Action::FixDatabaseFile,
            ErrorCode::DatabaseTooNew => Action::UpdateStation,
            ErrorCode::DiskFull => Action::FreeDisk,
            ErrorCode::Database | ErrorCode::Internal => Action::ReportBug,
            ErrorCode::Device => Action::Retry,
            ErrorCode::SignInRequired => Action::SignIn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_form_of_each_reason_and_action_is_its_as_str() {
        for r in FailReason::ALL {
            let json = serde_json::to_value(r).expect("json");
            assert_eq!(json, serde_json::Value::String(r.as_str().into()));
            assert_eq!(FailReason::from_name(r.as_str()), Some(*r));
        }
        for a in Action::ALL {
            let json = serde_json::to_value(a).expect("json");
            assert_eq!(json, serde_json::Value::String(a.as_str().into()));
        }
    }

    #[test]
    fn every_device_error_code_has_a_reason_named_after_its_wire_name() {
        for code in DeviceErrorCode::ALL
            .into_iter()
            .chain([DeviceErrorCode::Unrecognized])
        {
            let r = FailReason::of_device_code(code);
            assert_eq!(r.as_str(), code.name().to_ascii_lowercase());
        }
    }

    #[test]
    fn every_action_but_none_is_the_next_step_of_some_outcome() {
        for a in Action::ALL.iter().filter(|a| **a != Action::None) {
            let used = FailReason::ALL.iter().any(|r| r.action() == *a)
                || ErrorCode::ALL.iter().any(|c| c.action() == *a);
            assert!(used, "{a} is never the next step");
        }
    }

    #[test]
    fn neutral_words_name_no_cli_command() {
        for a in Action::ALL {
            let h = a.help();
            assert!(!h.contains("`station") && !h.contains("--"), "{a}: {h}");
        }
    }
}
