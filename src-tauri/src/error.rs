//! Errors as they cross to the UI: the core's stable [`ErrorCode`], what went wrong in words an
//! operator understands, and what to do about it: a typed [`Action`] the UI says in its own
//! words, with the core's neutral `help` for errors whose fix depends on the input. The UI
//! matches on `code`, `reason` and `action`, never on the message text.

use serde::{Deserialize, Serialize};
use specta::Type;
use station_core::CoreError;

/// The core's stable error codes, reasons and next steps, exported to TypeScript as they are.
pub use station_core::{Action, Control, ErrorCode, FailReason};

/// An error for the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub code: ErrorCode,
    /// What went wrong.
    pub message: String,
    /// What to do about it, in neutral words (never a CLI command).
    pub help: String,
    /// For failed contacts with a unit, the typed reason (e.g. `timeout`).
    pub reason: Option<FailReason>,
    /// The next step, for the UI to say in its own words.
    pub action: Action,
    /// Set when this error kept a flash from starting (nothing was written to a unit): the
    /// control whose choice caused it, next to which the Station screen shows it. Not a FAIL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[specta(optional)]
    pub not_started: Option<Control>,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>, help: impl Into<String>) -> Self {
        AppError {
            code,
            message: message.into(),
            help: help.into(),
            reason: None,
            action: code.action(),
            not_started: None,
        }
    }

    /// A flash's error that kept it from starting, naming the control to fix.
    pub fn not_started(e: &CoreError) -> Self {
        AppError {
            not_started: e.not_started(),
            ..AppError::from(e)
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
        AppError {
            code: e.code(),
            message: e.to_string(),
            help: e.help(),
            reason: e.reason(),
            action: e.action(),
            not_started: None,
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
            reason: FailReason::Timeout,
        }
        .into();
        assert_eq!(e.code, ErrorCode::Device);
        assert_eq!(e.reason, Some(FailReason::Timeout));
        assert_eq!(e.action, Action::Retry);
        let json = serde_json::to_value(&e).expect("json");
        assert_eq!(json["code"], "device");
        assert_eq!(json["reason"], "timeout");
        assert_eq!(json["action"], "retry");
        assert!(
            json.get("not_started").is_none(),
            "only flashes that did not start say so"
        );
    }

    #[test]
    fn finding_1_a_flash_refused_before_any_unit_names_its_control() {
        let e = AppError::not_started(&CoreError::invalid(
            "prefix",
            "prefix 'a/b' contains '/'",
            "use letters, digits, '-', '_' or '.'",
        ));
        assert_eq!(e.not_started, Some(Control::Prefix));
        let json = serde_json::to_value(&e).expect("json");
        assert_eq!(json["not_started"], "prefix");
        let unit = AppError::not_started(&CoreError::Device {
            message: "The device did not answer.".into(),
            reason: FailReason::Timeout,
        });
        assert_eq!(
            unit.not_started, None,
            "a unit that did not answer is a FAIL"
        );
    }
}
