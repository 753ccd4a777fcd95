//! Errors as they cross to the UI: the core's stable [`ErrorCode`], what went wrong in words an
//! operator understands, and what to do about it. The UI matches on `code` (and, for device
//! failures, on `reason`), never on the message text.

use serde::{Deserialize, Serialize};
use specta::Type;
use station_core::CoreError;

/// The core's stable error codes, exported to TypeScript as they are.
pub use station_core::ErrorCode;

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
        AppError::from(&e)
    }
}

impl From<&CoreError> for AppError {
    fn from(e: &CoreError) -> Self {
        let reason = match e {
            CoreError::Device { reason, .. } => Some(reason.clone()),
            _ => None,
        };
        AppError {
            code: e.code(),
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
}
