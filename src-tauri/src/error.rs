//! Errors as they cross to the UI: the core's stable [`ErrorCode`], what went wrong in words an
//! operator understands, and what to do about it. The UI matches on `code` (and, for device
//! failures, on `reason`), never on the message text.

use serde::{Deserialize, Serialize};
use specta::Type;
use station_core::CoreError;

/// The core's stable error codes, mirrored for the TypeScript bindings. The `From` below is an
/// exhaustive match: a code added to the core fails this crate's build until it is mirrored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidInput,
    UnknownType,
    DuplicateType,
    NotFound,
    Conflict,
    DatabaseBusy,
    DatabaseReadOnly,
    DatabaseCorrupt,
    DiskFull,
    Database,
    Io,
    Refused,
    Device,
    Internal,
}

impl From<station_core::ErrorCode> for ErrorCode {
    fn from(c: station_core::ErrorCode) -> Self {
        use station_core::ErrorCode as C;
        match c {
            C::InvalidInput => ErrorCode::InvalidInput,
            C::UnknownType => ErrorCode::UnknownType,
            C::DuplicateType => ErrorCode::DuplicateType,
            C::NotFound => ErrorCode::NotFound,
            C::Conflict => ErrorCode::Conflict,
            C::DatabaseBusy => ErrorCode::DatabaseBusy,
            C::DatabaseReadOnly => ErrorCode::DatabaseReadOnly,
            C::DatabaseCorrupt => ErrorCode::DatabaseCorrupt,
            C::DiskFull => ErrorCode::DiskFull,
            C::Database => ErrorCode::Database,
            C::Io => ErrorCode::Io,
            C::Refused => ErrorCode::Refused,
            C::Device => ErrorCode::Device,
            C::Internal => ErrorCode::Internal,
        }
    }
}

/// An error for the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub code: ErrorCode,
    /// What went wrong.
    pub message: String,
    /// What to do about it.
    pub help: String,
    /// For device failures, the protocol's machine-readable reason (e.g. `timeout`).
    pub reason: Option<String>,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>, help: impl Into<String>) -> Self {
        AppError {
            code,
            message: message.into(),
            help: help.into(),
            reason: None,
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        AppError::new(
            ErrorCode::Internal,
            message,
            "report this error; nothing was changed",
        )
    }
}

impl From<CoreError> for AppError {
    fn from(e: CoreError) -> Self {
        let reason = match &e {
            CoreError::Device { reason, .. } => Some(reason.clone()),
            _ => None,
        };
        AppError {
            code: e.code().into(),
            message: e.to_string(),
            help: e.help(),
            reason,
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_errors_carry_their_reason() {
        let e: AppError = CoreError::Device {
            message: "The device did not answer.".into(),
            fix: "try again".into(),
            reason: "timeout".into(),
        }
        .into();
        assert_eq!(e.code, ErrorCode::Device);
        assert_eq!(e.reason.as_deref(), Some("timeout"));
        assert_eq!(e.help, "try again");
        let json = serde_json::to_value(&e).expect("json");
        assert_eq!(json["code"], "device");
    }

    #[test]
    fn codes_serialise_like_the_core() {
        for c in [
            station_core::ErrorCode::InvalidInput,
            station_core::ErrorCode::DatabaseReadOnly,
            station_core::ErrorCode::Internal,
        ] {
            let ours = serde_json::to_value(ErrorCode::from(c)).expect("json");
            assert_eq!(ours, serde_json::Value::String(c.as_str().into()));
        }
    }
}
