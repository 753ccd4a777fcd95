//! Sync errors. Each says what went wrong and what to do (`help`), whether trying again later
//! may succeed (`is_temporary`: only network failures, timeouts, 408/429/5xx and a busy
//! database), and maps to a [`CoreError`] for the CLI and the desktop app. None ever holds the
//! station token, an api key or a password.

use station_core::CoreError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("sync with the central server is not configured")]
    NotConfigured,
    #[error("invalid sync setting {field}: {problem}")]
    Config {
        field: &'static str,
        problem: String,
        fix: String,
    },
    /// The OS credential store (or the environment) could not keep or give the station token.
    #[error("station token: {problem}")]
    CredentialStore { problem: String, fix: String },
    #[error("cannot reach the server at {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("the server refused the station token ({status}): {message}")]
    Unauthorized { status: u16, message: String },
    #[error("the server answered {status} {code}: {message}")]
    Server {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the server's answer was not understood: {0}")]
    Protocol(String),
    #[error("the server has no seal key for api keys")]
    NoSealKey,
    #[error(
        "the server's seal key changed: this station seals api keys to {station}, the server now \
         has {}", server.as_deref().unwrap_or("none")
    )]
    SealKeyChanged {
        station: String,
        server: Option<String>,
    },
    #[error(transparent)]
    Store(#[from] CoreError),
}

impl SyncError {
    /// Whether the same request may succeed later without anyone changing anything.
    pub fn is_temporary(&self) -> bool {
        match self {
            SyncError::Unreachable { .. } => true,
            SyncError::Server { status, .. } => matches!(status, 408 | 425 | 429 | 500..=599),
            SyncError::Store(e) => e.is_temporary(),
            _ => false,
        }
    }

    /// A stable, machine-readable code (for JSON status and the UI).
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::NotConfigured => "not_configured",
            SyncError::Config { .. } => "config",
            SyncError::CredentialStore { .. } => "credential_store",
            SyncError::Unreachable { .. } => "unreachable",
            SyncError::Unauthorized { .. } => "unauthorized",
            SyncError::Server { .. } if self.is_temporary() => "server_unavailable",
            SyncError::Server { .. } => "server_refused",
            SyncError::Protocol(_) => "protocol",
            SyncError::NoSealKey => "no_seal_key",
            SyncError::SealKeyChanged { .. } => SEAL_KEY_CHANGED,
            SyncError::Store(e) => e.code().as_str(),
        }
    }

    pub fn help(&self) -> String {
        match self {
            SyncError::NotConfigured => "enter the server's address and this station's token in the sync settings \
                (the token comes from `manage.py station_tokens create NAME` on the server)"
                .into(),
            SyncError::Config { fix, .. } | SyncError::CredentialStore { fix, .. } => fix.clone(),
            SyncError::Unreachable { .. } => "nothing is lost: records wait in the outbox and are \
                sent when the server can be reached; check the network, the server's address \
                and, for https, the CA file"
                .into(),
            SyncError::Unauthorized { .. } => "the token is unknown or revoked: issue a new one with \
                `manage.py station_tokens create NAME` on the server and enter it in the sync settings"
                .into(),
            SyncError::Server { .. } if self.is_temporary() => {
                "the server had a temporary problem; the station retries on its own".into()
            }
            SyncError::Server { .. } | SyncError::Protocol(_) => {
                "check that the URL points at the station-sync receiver (…/station-sync/) and that \
                 the server runs a compatible version"
                    .into()
            }
            SyncError::NoSealKey => "the station seals api keys to the server, so it needs the \
                server's key: run `manage.py station_sync_sealkey` on the server, then configure \
                sync again"
                .into(),
            SyncError::SealKeyChanged { .. } => "nothing is sent until a person confirms the new \
                key: compare it with `manage.py station_sync_sealkey --show` on the server, then \
                configure sync again; keys sealed to the old key cannot be re-sealed (the \
                server refuses them: rotate those devices)"
                .into(),
            SyncError::Store(e) => e.help(),
        }
    }
}

/// The code of [`SyncError::SealKeyChanged`]: the health says a person must act.
pub const SEAL_KEY_CHANGED: &str = "seal_key_changed";

impl From<SyncError> for CoreError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Store(e) => e,
            SyncError::Config {
                field,
                problem,
                fix,
            } => CoreError::InvalidInput {
                field,
                problem,
                fix,
            },
            other => CoreError::Refused {
                problem: other.to_string(),
                fix: other.help(),
            },
        }
    }
}

pub type Result<T, E = SyncError> = std::result::Result<T, E>;
