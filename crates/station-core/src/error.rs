//! The station's typed errors.
//!
//! Every error that can reach a person says what went wrong (`Display`), the next step as a
//! face-neutral [`Action`], and what to do about it in neutral words (`help`, which never names a
//! CLI command: each face renders the action in its own words). It carries a stable
//! [`ErrorCode`] that the CLI maps to an exit code and the desktop app sends to its UI, and, for a
//! failed contact with a unit, a typed [`FailReason`]. No variant ever holds a plaintext password
//! or api key.

use std::path::PathBuf;

use crate::outcome::{Action, FailReason};

/// A stable, machine-readable error code. Never rename a variant: scripts and the UI match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
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
    DatabaseTooNew,
    DiskFull,
    Database,
    Io,
    Refused,
    Device,
    Internal,
    /// The lead requires a signed-in operator and nobody is signed in: nothing was started.
    SignInRequired,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::DuplicateType => "duplicate_type",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::DatabaseBusy => "database_busy",
            ErrorCode::DatabaseReadOnly => "database_read_only",
            ErrorCode::DatabaseCorrupt => "database_corrupt",
            ErrorCode::DatabaseTooNew => "database_too_new",
            ErrorCode::DiskFull => "disk_full",
            ErrorCode::Database => "database",
            ErrorCode::Io => "io",
            ErrorCode::Refused => "refused",
            ErrorCode::Device => "device",
            ErrorCode::Internal => "internal",
            ErrorCode::SignInRequired => "sign_in_required",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("invalid {field}: {problem}")]
    InvalidInput {
        field: &'static str,
        problem: String,
        fix: String,
    },
    #[error("unknown device type '{name}'")]
    UnknownType { name: String, known: Vec<String> },
    #[error("device type '{name}' already exists (as '{existing}')")]
    DuplicateType { name: String, existing: String },
    #[error("no {what} '{key}'")]
    NotFound { what: &'static str, key: String },
    #[error("{problem}")]
    Conflict { problem: String, fix: String },
    /// A batch has fewer devices left to flash than units were asked for (`wanted`): nothing
    /// was started. `left == 0`: the batch is complete.
    #[error("{}", batch_short_message(*batch_id, *left, *wanted))]
    BatchShort {
        batch_id: i64,
        left: u32,
        wanted: u32,
    },
    #[error("the station database {path} is busy (locked by another station process)")]
    DatabaseBusy { path: PathBuf },
    #[error("the station database {path} is read-only")]
    DatabaseReadOnly { path: PathBuf },
    #[error("the station database {path} is damaged or is not a station database")]
    DatabaseCorrupt { path: PathBuf },
    #[error(
        "the station database {path} was written by a newer DeviceHub Station \
         (schema version {found}; this station knows versions up to {supported})"
    )]
    DatabaseTooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("the disk holding {path} is full")]
    DiskFull { path: PathBuf },
    #[error("the station database {path} failed: {source}")]
    Database {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{problem}")]
    Refused { problem: String, fix: String },
    #[error("{message}")]
    Device {
        message: String,
        /// Why; the next step is the reason's [`FailReason::action`].
        reason: FailReason,
    },
    /// A device has an unconfirmed flash: only asking the unit settles it.
    #[error("device {device_id} has an unconfirmed flash of credential generation {generation}")]
    PendingFlash { device_id: String, generation: u32 },
    /// The unit confirmed the commit of `generation`, then recording it failed (`source`: a
    /// busy database, a full disk). The unit holds the new credentials; the record keeps them
    /// pending, and the next contact with the unit records them.
    #[error(
        "the unit holds credential generation {generation} of {device_id}, but the station could \
         not record it yet: {source}"
    )]
    NotRecorded {
        device_id: String,
        generation: u32,
        source: Box<CoreError>,
    },
    #[error("internal error: {0}")]
    Internal(String),
    /// The lead's "operator sign-in required" is on and nobody is signed in: the flash was not
    /// started (no unit was touched, nothing counted).
    #[error("Nobody is signed in at this station: the lead requires a sign-in before flashing.")]
    SignInRequired,
}

/// What a [`CoreError::BatchShort`] says: whole sentences, one per case.
fn batch_short_message(batch_id: i64, left: u32, wanted: u32) -> String {
    match (left, wanted) {
        (0, _) => format!("Batch {batch_id} has no device left to flash."),
        (1, _) => format!("Batch {batch_id} has 1 device left for {wanted} ports."),
        _ => format!("Batch {batch_id} has {left} devices left for {wanted} ports."),
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

impl CoreError {
    pub fn code(&self) -> ErrorCode {
        match self {
            CoreError::InvalidInput { .. } => ErrorCode::InvalidInput,
            CoreError::UnknownType { .. } => ErrorCode::UnknownType,
            CoreError::DuplicateType { .. } => ErrorCode::DuplicateType,
            CoreError::NotFound { .. } => ErrorCode::NotFound,
            CoreError::Conflict { .. } | CoreError::BatchShort { .. } => ErrorCode::Conflict,
            CoreError::DatabaseBusy { .. } => ErrorCode::DatabaseBusy,
            CoreError::DatabaseReadOnly { .. } => ErrorCode::DatabaseReadOnly,
            CoreError::DatabaseCorrupt { .. } => ErrorCode::DatabaseCorrupt,
            CoreError::DatabaseTooNew { .. } => ErrorCode::DatabaseTooNew,
            CoreError::DiskFull { .. } => ErrorCode::DiskFull,
            CoreError::Database { .. } => ErrorCode::Database,
            CoreError::Io { .. } => ErrorCode::Io,
            CoreError::Refused { .. } => ErrorCode::Refused,
            CoreError::Device { .. } => ErrorCode::Device,
            CoreError::PendingFlash { .. } => ErrorCode::Conflict,
            CoreError::NotRecorded { source, .. } => source.code(),
            CoreError::Internal(_) => ErrorCode::Internal,
            CoreError::SignInRequired => ErrorCode::SignInRequired,
        }
    }

    /// The typed reason of a failed contact with a unit.
    pub fn reason(&self) -> Option<FailReason> {
        match self {
            CoreError::Device { reason, .. } => Some(*reason),
            CoreError::NotRecorded { .. } => Some(FailReason::NotRecorded),
            _ => None,
        }
    }

    /// The one next step, for any face to render in its own words.
    pub fn action(&self) -> Action {
        match self {
            CoreError::UnknownType { known, .. } if known.is_empty() => Action::AddType,
            CoreError::UnknownType { .. } => Action::FixInput,
            CoreError::Device { reason, .. } => reason.action(),
            CoreError::PendingFlash { .. } | CoreError::NotRecorded { .. } => Action::RunRecover,
            other => other.code().action(),
        }
    }

    /// What the person should do about it, in neutral words (no CLI command or flag).
    pub fn help(&self) -> String {
        match self {
            CoreError::InvalidInput { fix, .. } => fix.clone(),
            CoreError::UnknownType { known, .. } if known.is_empty() => {
                "no device types are set up yet: add one first".into()
            }
            CoreError::UnknownType { known, .. } => {
                format!("use one of the known types: {}", known.join(", "))
            }
            CoreError::DuplicateType { .. } => {
                "pick another name, or edit the existing type".into()
            }
            CoreError::NotFound { what, .. } => {
                format!("check the {what}; the device list shows what this station has")
            }
            CoreError::Conflict { fix, .. } | CoreError::Refused { fix, .. } => fix.clone(),
            CoreError::BatchShort { left: 0, .. } => {
                "the batch is complete: choose another batch, or a device type; nothing was \
                 started"
                    .into()
            }
            CoreError::BatchShort { .. } => {
                "unselect a port or choose another batch; nothing was started".into()
            }
            CoreError::Device { reason, .. } => reason.action().help().into(),
            CoreError::PendingFlash { .. } => {
                format!("{}; nothing was changed", Action::RunRecover.help())
            }
            CoreError::NotRecorded { .. } => {
                format!("nothing needs writing again: {}", Action::RunRecover.help())
            }
            CoreError::DatabaseBusy { .. } => {
                "another station process holds a write lock; wait a moment and try again".into()
            }
            CoreError::DatabaseReadOnly { path } => format!(
                "make {} and its folder writable by this user, or use another database file",
                path.display()
            ),
            CoreError::DatabaseCorrupt { path } => format!(
                "restore {} from a backup, or use another database file; nothing was changed",
                path.display()
            ),
            CoreError::DatabaseTooNew { .. } => {
                "this database was written by a newer DeviceHub Station; update this station \
                 (or open another database); nothing was changed"
                    .into()
            }
            CoreError::DiskFull { .. } => {
                "free some disk space, then try again; nothing was changed".into()
            }
            CoreError::Database { .. } => {
                "nothing was changed; try again, and report this error if it repeats".into()
            }
            CoreError::Io { path, .. } => format!(
                "check that {} exists and is writable by this user; nothing was written",
                path.display()
            ),
            CoreError::Internal(_) => "report this error; nothing was changed".into(),
            CoreError::SignInRequired => {
                "sign in with your name or badge, then start the flash again; nothing was started"
                    .into()
            }
        }
    }

    pub fn invalid(
        field: &'static str,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        CoreError::InvalidInput {
            field,
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    /// Whether trying the same thing again later may succeed (busy database).
    pub fn is_temporary(&self) -> bool {
        matches!(self, CoreError::DatabaseBusy { .. })
    }

    /// Put the real database path into a database error raised inside a transaction.
    pub(crate) fn with_db_path(self, real: &std::path::Path) -> Self {
        let real = real.to_path_buf();
        match self {
            CoreError::DatabaseBusy { .. } => CoreError::DatabaseBusy { path: real },
            CoreError::DatabaseReadOnly { .. } => CoreError::DatabaseReadOnly { path: real },
            CoreError::DatabaseCorrupt { .. } => CoreError::DatabaseCorrupt { path: real },
            CoreError::DiskFull { .. } => CoreError::DiskFull { path: real },
            CoreError::Database { source, .. } => CoreError::Database { path: real, source },
            other => other,
        }
    }

    /// Classify a SQLite error for the database at `path`.
    pub fn from_sqlite(path: &std::path::Path, err: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as E;
        let path = path.to_path_buf();
        match err.sqlite_error_code() {
            Some(E::DatabaseBusy | E::DatabaseLocked) => CoreError::DatabaseBusy { path },
            Some(E::ReadOnly) => CoreError::DatabaseReadOnly { path },
            Some(E::DatabaseCorrupt | E::NotADatabase) => CoreError::DatabaseCorrupt { path },
            Some(E::DiskFull) => CoreError::DiskFull { path },
            Some(E::CannotOpen) => CoreError::Io {
                action: "open the station database",
                path: path.clone(),
                source: std::io::Error::other(err.to_string()),
            },
            _ => CoreError::Database { path, source: err },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    /// The CLI prints `as_str`, the app sends the serde form: scripts and the UI see one code.
    #[test]
    fn serde_form_of_each_code_is_its_as_str() {
        for &c in ErrorCode::ALL {
            let json = serde_json::to_value(c).expect("json");
            assert_eq!(json, serde_json::Value::String(c.as_str().into()));
            let back: ErrorCode = serde_json::from_value(json).expect("parse");
            assert_eq!(back, c);
        }
    }
}
