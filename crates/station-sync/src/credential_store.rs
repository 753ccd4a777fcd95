//! Where the station token lives: never in the station database or any other file of the data
//! folder (issue 10: the token was a plaintext row of `sync_config`).
//!
//! Two stores, chosen by `STATION_CREDENTIAL_STORE` ([`STORE_ENV`]):
//! - `os` (the default): the OS credential store through the `keyring` crate: the Secret
//!   Service over D-Bus on Linux, Credential Manager on Windows, the Keychain on macOS. One
//!   entry per station: service [`SERVICE`], account (the Secret Service's `username`
//!   attribute) = the absolute path of the station's database file, so two stations on one
//!   machine (or two test runs) never share an entry.
//!   Where none is reachable (a headless station without a Secret Service), saving a token is
//!   refused, saying so and how to fix it; reading falls back to `STATION_SYNC_TOKEN` when
//!   that is set, and the status says where the token came from.
//! - `env`: the token comes from `STATION_SYNC_TOKEN` ([`TOKEN_ENV`]) at each start
//!   (systemd's `LoadCredential`, the factory's secrets tooling) and is never written anywhere.
//!   Several stations sharing one environment put their tokens in it separated by spaces; each
//!   uses the one carrying its station number.
//!
//! Also the one-time removal of the token row that older versions kept in `sync_config`
//! ([`retire_database_token`]): moved to the OS store when it is reachable, otherwise deleted
//! with a warning (the server's admin can issue the token again).

use std::fmt;
use std::path::Path;

use station_core::store::sync_config::config_key;
use station_core::Store;
use zeroize::Zeroizing;

use crate::config::StationToken;
use crate::error::{Result, SyncError};

/// The OS credential store's service name of every station entry.
pub const SERVICE: &str = "devicehub-station";
/// Chooses the store: `os` (default) or `env`.
pub const STORE_ENV: &str = "STATION_CREDENTIAL_STORE";
/// The token (or the tokens, space-separated) for the `env` store, and the `os` store's fallback.
pub const TOKEN_ENV: &str = "STATION_SYNC_TOKEN";

/// Which store keeps the token ([`STORE_ENV`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Os,
    Env,
}

impl StoreKind {
    /// From [`STORE_ENV`]; unset or empty is `os`.
    pub fn from_env() -> Result<StoreKind> {
        let value = std::env::var(STORE_ENV).unwrap_or_default();
        match value.trim() {
            "" | "os" => Ok(StoreKind::Os),
            "env" => Ok(StoreKind::Env),
            other => Err(SyncError::Config {
                field: "credential store",
                problem: format!(
                    "{STORE_ENV}={:?} is neither os nor env",
                    other.escape_default()
                ),
                fix: format!(
                    "set {STORE_ENV}=os (the OS credential store) or {STORE_ENV}=env (the token \
                     in {TOKEN_ENV} at each start), or leave it unset for os"
                ),
            }),
        }
    }
}

/// The OS store's name on this platform, for a person.
pub const fn os_store_name() -> &'static str {
    if cfg!(target_os = "macos") {
        "the macOS Keychain"
    } else if cfg!(windows) {
        "the Windows Credential Manager"
    } else {
        "the Secret Service (the desktop keyring)"
    }
}

/// Where a loaded token came from: what `sync status` and the app show instead of the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// The OS credential store.
    OsStore,
    /// `STATION_SYNC_TOKEN`, as chosen with `STATION_CREDENTIAL_STORE=env`.
    Environment,
    /// `STATION_SYNC_TOKEN`, because the OS store could not be reached (the reason).
    EnvironmentFallback(String),
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::OsStore => write!(f, "stored in {}", os_store_name()),
            TokenSource::Environment => {
                write!(
                    f,
                    "from the environment ({TOKEN_ENV}), never written to disk"
                )
            }
            TokenSource::EnvironmentFallback(why) => write!(
                f,
                "from the environment ({TOKEN_ENV}): {} is not reachable ({why})",
                os_store_name()
            ),
        }
    }
}

/// The token store of one station.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    kind: StoreKind,
    account: String,
}

/// Why the OS store could not be used, for a person (never holds the token).
fn unreachable_reason(e: &keyring::Error) -> Option<String> {
    match e {
        keyring::Error::NoStorageAccess(inner) | keyring::Error::PlatformFailure(inner) => {
            Some(inner.to_string())
        }
        _ => None,
    }
}

fn store_error(action: &str, e: &keyring::Error) -> SyncError {
    let problem = match unreachable_reason(e) {
        Some(why) => format!(
            "cannot {action} {}: it is not reachable ({why})",
            os_store_name()
        ),
        None => format!("cannot {action} {}: {e}", os_store_name()),
    };
    SyncError::CredentialStore {
        problem,
        fix: format!(
            "start or unlock the desktop keyring; on a station without one, set \
             {STORE_ENV}=env and give the token in {TOKEN_ENV} at each start (systemd's \
             LoadCredential or the factory's secrets tooling): it is then never written to disk"
        ),
    }
}

impl CredentialStore {
    /// The store `STATION_CREDENTIAL_STORE` chooses, for the station whose database is `store`.
    pub fn for_station(store: &Store) -> Result<CredentialStore> {
        Ok(CredentialStore::new(StoreKind::from_env()?, store.path()))
    }

    pub fn new(kind: StoreKind, db_path: &Path) -> CredentialStore {
        CredentialStore {
            kind,
            account: account_for(db_path),
        }
    }

    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    /// Where a token written to this store is read from.
    pub fn kind_source(&self) -> TokenSource {
        match self.kind {
            StoreKind::Os => TokenSource::OsStore,
            StoreKind::Env => TokenSource::Environment,
        }
    }

    /// The OS store's account of this station (not secret: the database's path).
    pub fn account(&self) -> &str {
        &self.account
    }

    fn entry(&self) -> std::result::Result<keyring::Entry, keyring::Error> {
        keyring::Entry::new(SERVICE, &self.account)
    }

    /// This station's token, if its store holds one. `station_number` (from the saved
    /// configuration) picks among several tokens in `STATION_SYNC_TOKEN`.
    pub fn read(&self, station_number: Option<u64>) -> Result<Option<(StationToken, TokenSource)>> {
        if self.kind == StoreKind::Env {
            return Ok(env_token(station_number)?.map(|t| (t, TokenSource::Environment)));
        }
        let got = self.entry().and_then(|e| e.get_password());
        match got {
            Ok(secret) => {
                let secret = Zeroizing::new(secret);
                let token =
                    StationToken::parse(&secret).map_err(|_| SyncError::CredentialStore {
                        problem: format!(
                            "the entry {SERVICE} / {} in {} is not a station token",
                            self.account,
                            os_store_name()
                        ),
                        fix: "enter the station token again in the sync settings \
                          (`station sync config --token-stdin`)"
                            .into(),
                    })?;
                Ok(Some((token, TokenSource::OsStore)))
            }
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => match (unreachable_reason(&e), env_token(station_number)?) {
                (Some(why), Some(token)) => {
                    tracing::warn!(
                        reason = %why,
                        "the OS credential store is not reachable: the station token comes from {TOKEN_ENV}"
                    );
                    Ok(Some((token, TokenSource::EnvironmentFallback(why))))
                }
                _ => Err(store_error("read the station token from", &e)),
            },
        }
    }

    /// Keep `token` as this station's token. The `env` store writes nothing: it only checks that
    /// the environment holds that token.
    pub fn write(&self, token: &StationToken) -> Result<()> {
        if self.kind == StoreKind::Env {
            return match env_token(Some(token.station_number()))? {
                Some(t) if t.expose() == token.expose() => Ok(()),
                _ => Err(SyncError::CredentialStore {
                    problem: format!(
                        "{STORE_ENV}=env keeps no token: the station reads it from {TOKEN_ENV} \
                         at each start, and {TOKEN_ENV} does not hold this one"
                    ),
                    fix: format!(
                        "put the token in {TOKEN_ENV} for the station's service (systemd's \
                         LoadCredential or the factory's secrets tooling), or use the OS \
                         credential store ({STORE_ENV}=os) where one runs"
                    ),
                }),
            };
        }
        self.entry()
            .and_then(|e| e.set_password(token.expose()))
            .map_err(|e| store_error("save the station token in", &e))
    }

    /// Forget this station's token (nothing to do for the `env` store, or when none is kept).
    pub fn delete(&self) -> Result<()> {
        if self.kind == StoreKind::Env {
            return Ok(());
        }
        match self.entry().and_then(|e| e.delete_credential()) {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(store_error("delete the station token from", &e)),
        }
    }
}

/// The OS store's account of the station whose database is `db_path`: its absolute path.
pub fn account_for(db_path: &Path) -> String {
    let absolute = db_path
        .canonicalize()
        .or_else(|_| std::path::absolute(db_path))
        .unwrap_or_else(|_| db_path.to_owned());
    absolute.display().to_string()
}

/// The token in `STATION_SYNC_TOKEN` carrying `station_number`, or the only one there.
fn env_token(station_number: Option<u64>) -> Result<Option<StationToken>> {
    let Ok(value) = std::env::var(TOKEN_ENV) else {
        return Ok(None);
    };
    let value = Zeroizing::new(value);
    let tokens = value
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .map(|t| {
            StationToken::parse(t).map_err(|_| SyncError::Config {
                field: "token",
                problem: format!("{TOKEN_ENV} holds something that is not a station token"),
                fix: format!(
                    "set {TOKEN_ENV} to the whole line printed by `manage.py station_tokens \
                     create NAME` (several stations' tokens separated by spaces)"
                ),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(match station_number {
        Some(n) => tokens.into_iter().find(|t| t.station_number() == n),
        None if tokens.len() == 1 => tokens.into_iter().next(),
        None => None,
    })
}

/// Remove the token row older versions kept in `sync_config`, into the store
/// `STATION_CREDENTIAL_STORE` chooses: the CLI and the app call this when they open the station
/// database, the sync worker at each cycle. Nothing happens (and nothing is asked of the OS
/// store) when there is no such row.
pub fn retire_database_token(store: &mut Store) -> Result<()> {
    if !store.sync_config()?.contains_key(config_key::LEGACY_TOKEN) {
        return Ok(());
    }
    let credentials = CredentialStore::for_station(store)?;
    retire_database_token_in(store, &credentials)
}

/// [`retire_database_token`] into `credentials`. With sync on and the OS store reachable the
/// token moves there; otherwise it is deleted unused and the station asks for it again (the next
/// load says how).
pub fn retire_database_token_in(store: &mut Store, credentials: &CredentialStore) -> Result<()> {
    let config = store.sync_config()?;
    let Some(old) = config.get(config_key::LEGACY_TOKEN) else {
        return Ok(());
    };
    let sync_on = config.contains_key(config_key::SERVER_URL);
    if sync_on && credentials.kind() == StoreKind::Os {
        match StationToken::parse(old).and_then(|t| credentials.write(&t)) {
            Ok(()) => tracing::info!(
                "the station token moved from the station database to {}",
                os_store_name()
            ),
            Err(e) => tracing::warn!(
                error = %e,
                "the station token kept in the station database was removed unused; enter it \
                 again: `station sync config --token-stdin` or the app's sync settings"
            ),
        }
    } else if sync_on {
        tracing::warn!(
            "the station token kept in the station database was removed: with {STORE_ENV}=env \
             the station reads it from {TOKEN_ENV}"
        );
    }
    store.erase_sync_config(&[config_key::LEGACY_TOKEN])?;
    Ok(())
}
