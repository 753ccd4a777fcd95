//! How the station reaches the central server: the receiver's URL, the station token, TLS
//! verification (rustls, with an optional extra CA for a factory network's own certificates)
//! and the batch size. Stored in the station database (`sync_config`), all but the token: that
//! lives in the OS credential store or the environment ([`crate::credential_store`]), and no
//! part of it is ever shown after saving.
//!
//! The token goes only where it was given for: plain http only to this machine (loopback), or
//! with an explicit exception for a test bench that is warned about at every sync; and a new
//! server host needs the token given again.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;
use station_core::store::leases::MAX_STATION_NUMBER;
use station_core::store::sync_config::config_key;
use station_core::Store;
use zeroize::Zeroizing;

use crate::credential_store::{CredentialStore, TokenSource};
use crate::error::{Result, SyncError};

/// Records per request unless configured otherwise (measured: benches/sync.sh).
pub const DEFAULT_BATCH_SIZE: usize = 500;
/// The receiver's limit per request.
pub const MAX_BATCH_SIZE: usize = 1000;
/// How long one request may take, connect included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A station token, `dhs_<station number>_<secret>`: redacted in `Debug`, zeroized on drop.
#[derive(Clone)]
pub struct StationToken(Zeroizing<String>);

impl StationToken {
    pub fn parse(token: &str) -> Result<StationToken> {
        let token = token.trim();
        let bad = || SyncError::Config {
            field: "token",
            problem: "this is not a station token (dhs_<number>_<43 characters>)".into(),
            fix: "paste the whole line printed by `manage.py station_tokens create NAME`".into(),
        };
        let rest = token.strip_prefix("dhs_").ok_or_else(bad)?;
        let (number, secret) = rest.split_once('_').ok_or_else(bad)?;
        let n: u64 = number.parse().map_err(|_| bad())?;
        let ok = !number.starts_with('0')
            && (1..=MAX_STATION_NUMBER).contains(&n)
            && secret.len() == 43
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(bad());
        }
        Ok(StationToken(Zeroizing::new(token.to_owned())))
    }

    /// The station number the server gave this station (not secret).
    pub fn station_number(&self) -> u64 {
        self.0
            .split('_')
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for StationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StationToken(#{}, redacted)", self.station_number())
    }
}

#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// The receiver's root, always ending in `/` (e.g. `https://hub.example/station-sync/`).
    pub server_url: Url,
    pub token: StationToken,
    /// Where the token came from (what a person is shown instead of it).
    pub token_source: TokenSource,
    /// Plain http to another machine was allowed explicitly (a test bench): warned at every sync.
    pub insecure_http: bool,
    /// Extra CA certificates (PEM) trusted besides the built-in roots.
    pub ca_file: Option<PathBuf>,
    /// `false` accepts any certificate: only for a test bench, never in production.
    pub tls_verify: bool,
    pub batch_size: usize,
    /// Per request; not stored (tests shorten it).
    pub timeout: Duration,
}

/// A change to the configuration; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ConfigUpdate {
    pub server_url: Option<String>,
    pub token: Option<StationToken>,
    /// `Some(None)` removes the CA file.
    pub ca_file: Option<Option<PathBuf>>,
    pub tls_verify: Option<bool>,
    pub batch_size: Option<usize>,
    /// Allow plain http to a host that is not this machine (a test bench only). Reset when the
    /// server's host changes.
    pub insecure_http: Option<bool>,
}

pub fn parse_url(url: &str) -> Result<Url> {
    let bad = |problem: String| SyncError::Config {
        field: "server url",
        problem,
        fix: "give the receiver's address, e.g. https://devicehub.factory.local/station-sync/"
            .into(),
    };
    let mut parsed =
        Url::parse(url.trim()).map_err(|e| bad(format!("'{}': {e}", url.escape_default())))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(bad(format!(
            "'{}' is not an http(s) URL",
            url.escape_default()
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(
            "the URL must not carry a user or password; the token authenticates".into(),
        ));
    }
    if !parsed.path().ends_with('/') {
        let path = format!("{}/", parsed.path());
        parsed.set_path(&path);
    }
    parsed.set_query(None);
    parsed.set_fragment(None);
    Ok(parsed)
}

/// Whether `url` names this machine: 127.0.0.0/8, ::1 or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Refuse plain http to another machine unless explicitly allowed.
fn check_transport(url: &Url, insecure_http: bool) -> Result<()> {
    if url.scheme() == "http" && !is_loopback(url) && !insecure_http {
        return Err(SyncError::Config {
            field: "server url",
            problem: format!(
                "{url} is plain http to another machine: the station token and every record \
                 would cross the network readable"
            ),
            fix: "use the server's https address; only on a test bench, allow plain http \
                  explicitly with --insecure-http (warned at every sync)"
                .into(),
        });
    }
    Ok(())
}

/// The warning shown at every sync over an allowed insecure connection.
pub fn insecure_http_warning(url: &Url) -> String {
    format!(
        "sync uses plain http to {}: the station token and records cross the network readable \
         (allowed for a test bench with --insecure-http); use https in production",
        url.host_str().unwrap_or("the server")
    )
}

/// The host and port a URL sends its requests to (the path does not matter: same server).
fn endpoint(url: &Url) -> (Option<&str>, Option<u16>) {
    (url.host_str(), url.port_or_known_default())
}

fn parse_batch_size(n: usize) -> Result<usize> {
    if !(1..=MAX_BATCH_SIZE).contains(&n) {
        return Err(SyncError::Config {
            field: "batch size",
            problem: format!("{n} records per request"),
            fix: format!("give 1 to {MAX_BATCH_SIZE}"),
        });
    }
    Ok(n)
}

impl SyncConfig {
    /// The stored configuration; `None` when sync is off (no server URL). The token comes from
    /// the credential store `STATION_CREDENTIAL_STORE` chooses.
    /// A token older versions left in the database is not used (see
    /// [`crate::credential_store::retire_database_token`], run when the station opens).
    pub fn load(store: &Store) -> Result<Option<SyncConfig>> {
        let credentials = CredentialStore::for_station(store)?;
        SyncConfig::load_from(store, &credentials)
    }

    /// [`SyncConfig::load`] with the token from `credentials`.
    pub fn load_from(store: &Store, credentials: &CredentialStore) -> Result<Option<SyncConfig>> {
        let c = store.sync_config()?;
        let Some(url) = c.get(config_key::SERVER_URL) else {
            return Ok(None);
        };
        let server_url = parse_url(url)?;
        let insecure_http = c.get(config_key::INSECURE_HTTP).map(String::as_str) == Some("true");
        check_transport(&server_url, insecure_http)?;
        let number = c
            .get(config_key::STATION_NUMBER)
            .and_then(|n| n.parse().ok());
        let (token, token_source) =
            credentials
                .read(number)?
                .ok_or_else(|| SyncError::CredentialStore {
                    problem: "a server URL is set but no station token is kept for this station"
                        .into(),
                    fix: "enter the station token again in the sync settings \
                          (`station sync config --token-stdin`)"
                        .into(),
                })?;
        Ok(Some(SyncConfig {
            server_url,
            token,
            token_source,
            insecure_http,
            ca_file: c.get(config_key::CA_FILE).map(PathBuf::from),
            tls_verify: c.get(config_key::TLS_VERIFY).map(String::as_str) != Some("false"),
            batch_size: c
                .get(config_key::BATCH_SIZE)
                .and_then(|n| n.parse().ok())
                .unwrap_or(DEFAULT_BATCH_SIZE),
            timeout: REQUEST_TIMEOUT,
        }))
    }

    /// Like [`SyncConfig::load`], but an error when sync is off.
    pub fn require(store: &Store) -> Result<SyncConfig> {
        SyncConfig::load(store)?.ok_or(SyncError::NotConfigured)
    }

    /// What a person is warned about at every sync with this configuration.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.server_url.scheme() == "http" && !is_loopback(&self.server_url) {
            out.push(insecure_http_warning(&self.server_url));
        }
        out
    }

    /// Store everything but the token (turning sync on).
    fn save_settings(&self, store: &mut Store) -> Result<()> {
        let number = self.token.station_number().to_string();
        let batch = self.batch_size.to_string();
        let ca = self
            .ca_file
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        store.set_sync_config(&[
            (config_key::SERVER_URL, Some(self.server_url.as_str())),
            (config_key::LEGACY_TOKEN, None),
            (config_key::STATION_NUMBER, Some(&number)),
            (config_key::CA_FILE, ca.as_deref()),
            (
                config_key::TLS_VERIFY,
                Some(if self.tls_verify { "true" } else { "false" }),
            ),
            (config_key::BATCH_SIZE, Some(&batch)),
            (
                config_key::INSECURE_HTTP,
                self.insecure_http.then_some("true"),
            ),
        ])?;
        Ok(())
    }

    /// Apply `update` to the stored configuration (URL and token are needed the first time).
    pub fn update(store: &mut Store, update: ConfigUpdate) -> Result<SyncConfig> {
        let credentials = CredentialStore::for_station(store)?;
        SyncConfig::update_in(store, &credentials, update)
    }

    /// [`SyncConfig::update`] with the token kept in `credentials`.
    pub fn update_in(
        store: &mut Store,
        credentials: &CredentialStore,
        update: ConfigUpdate,
    ) -> Result<SyncConfig> {
        SyncConfig::resolve_in(store, credentials, update)?.save(store, credentials)
    }

    /// The configuration `update` would make, checked but not stored, so the server can be
    /// asked before anything changes (`crate::seal::configure`).
    pub fn resolve_in(
        store: &mut Store,
        credentials: &CredentialStore,
        update: ConfigUpdate,
    ) -> Result<Resolved> {
        crate::credential_store::retire_database_token_in(store, credentials)?;
        let current = SyncConfig::load_from(store, credentials).ok().flatten();
        let stored = store.sync_config()?;
        let stored_url = stored
            .get(config_key::SERVER_URL)
            .and_then(|u| parse_url(u).ok());
        let server_url = match (&update.server_url, &stored_url) {
            (Some(u), _) => parse_url(u)?,
            (None, Some(u)) => u.clone(),
            (None, None) => {
                return Err(SyncError::Config {
                    field: "server url",
                    problem: "no server URL yet".into(),
                    fix: "give --url https://…/station-sync/".into(),
                })
            }
        };
        let new_host = stored_url
            .as_ref()
            .is_some_and(|old| endpoint(old) != endpoint(&server_url));
        if new_host && update.token.is_none() {
            return Err(SyncError::Config {
                field: "token",
                problem: format!(
                    "the server changes from {} to {}: the station token is not sent to another \
                     server unless it is given again",
                    stored_url
                        .as_ref()
                        .and_then(|u| u.host_str())
                        .unwrap_or("-"),
                    server_url.host_str().unwrap_or("-")
                ),
                fix: "give the token again with the new address: `station sync config --url URL \
                      --token-stdin`, or the token field of the app's sync settings"
                    .into(),
            });
        }
        // The exception is for one test bench: a new host must be allowed again.
        let allow_insecure = update.insecure_http.unwrap_or(
            !new_host && stored.get(config_key::INSECURE_HTTP).map(String::as_str) == Some("true"),
        );
        check_transport(&server_url, allow_insecure)?;
        let insecure_http =
            allow_insecure && server_url.scheme() == "http" && !is_loopback(&server_url);
        let given = update.token.is_some();
        let (token, token_source) = match (update.token, current.as_ref()) {
            (Some(t), _) => (t, credentials.kind_source()),
            (None, Some(c)) => (c.token.clone(), c.token_source.clone()),
            (None, None) => credentials.read(None)?.ok_or_else(|| SyncError::Config {
                field: "token",
                problem: "no station token yet".into(),
                fix: "pipe it in with --token-stdin, or enter it in the app's sync settings".into(),
            })?,
        };
        let ca_file = match update.ca_file {
            Some(ca) => ca,
            None => current.as_ref().and_then(|c| c.ca_file.clone()),
        };
        if let Some(path) = &ca_file {
            check_ca_file(path)?;
        }
        let config = SyncConfig {
            server_url,
            token,
            token_source,
            insecure_http,
            ca_file,
            tls_verify: update
                .tls_verify
                .or(current.as_ref().map(|c| c.tls_verify))
                .unwrap_or(true),
            batch_size: parse_batch_size(
                update
                    .batch_size
                    .or(current.as_ref().map(|c| c.batch_size))
                    .unwrap_or(DEFAULT_BATCH_SIZE),
            )?,
            timeout: REQUEST_TIMEOUT,
        };
        Ok(Resolved {
            config,
            given,
            previous: current.map(|c| c.token),
        })
    }

    /// Turn sync off: ids are numbered locally again, and the station token is deleted from its
    /// store. Pending records stay in the outbox.
    pub fn disable(store: &mut Store) -> Result<()> {
        let credentials = CredentialStore::for_station(store)?;
        SyncConfig::disable_in(store, &credentials)
    }

    /// [`SyncConfig::disable`] with the token kept in `credentials`. Sync is off even when the
    /// token cannot be deleted; the error then says so.
    pub fn disable_in(store: &mut Store, credentials: &CredentialStore) -> Result<()> {
        crate::credential_store::retire_database_token_in(store, credentials)?;
        store.set_sync_config(&[
            (config_key::SERVER_URL, None),
            (config_key::LEGACY_TOKEN, None),
            (config_key::INSECURE_HTTP, None),
        ])?;
        credentials.delete()
    }
}

/// A checked configuration, not stored yet ([`SyncConfig::resolve_in`]).
pub struct Resolved {
    /// What will be stored.
    pub config: SyncConfig,
    /// A new token was given (it goes to the credential store).
    given: bool,
    /// The token in force before, put back if storing the settings fails.
    previous: Option<StationToken>,
}

impl Resolved {
    /// Store it: a new token first, in `credentials`, then the settings, so the database never
    /// points at a server the stored token was not given for.
    pub fn save(self, store: &mut Store, credentials: &CredentialStore) -> Result<SyncConfig> {
        let Resolved {
            config,
            given,
            previous,
        } = self;
        if given {
            credentials.write(&config.token)?;
        }
        if let Err(e) = config.save_settings(store) {
            if given {
                // Put the token back as it was, so it stays with the server it was given for.
                let restored = match &previous {
                    Some(t) => credentials.write(t),
                    None => credentials.delete(),
                };
                if let Err(r) = restored {
                    tracing::warn!(error = %r, "the previous station token was not restored");
                }
            }
            return Err(e);
        }
        Ok(config)
    }
}

fn check_ca_file(path: &std::path::Path) -> Result<()> {
    let pem = std::fs::read(path).map_err(|e| SyncError::Config {
        field: "ca file",
        problem: format!("cannot read {}: {e}", path.display()),
        fix: "give a readable PEM file with the factory network's CA certificate".into(),
    })?;
    reqwest::Certificate::from_pem_bundle(&pem)
        .ok()
        .filter(|certs| !certs.is_empty())
        .ok_or_else(|| SyncError::Config {
            field: "ca file",
            problem: format!("{} holds no PEM certificate", path.display()),
            fix: "give a PEM file (-----BEGIN CERTIFICATE-----)".into(),
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "dhs_7_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";

    #[test]
    fn tokens_are_checked_and_never_printed() {
        let t = StationToken::parse(TOKEN).expect("token");
        assert_eq!(t.station_number(), 7);
        assert_eq!(format!("{t:?}"), "StationToken(#7, redacted)");
        for bad in [
            "",
            "dhs_0_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ",
            "dhs_07_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ",
            "dhs_7_short",
            "dhs_1000000_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ",
            "Bearer dhs_7_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ",
        ] {
            let err = StationToken::parse(bad).expect_err(bad);
            assert!(!err.to_string().contains("abcdefghijklmn"), "{err}");
        }
    }

    #[test]
    fn urls_end_in_a_slash_and_carry_no_credentials() {
        assert_eq!(
            parse_url("http://127.0.0.1:8000/station-sync")
                .expect("url")
                .as_str(),
            "http://127.0.0.1:8000/station-sync/"
        );
        assert!(parse_url("ftp://x/").is_err());
        assert!(parse_url("https://user:pw@x/").is_err());
        assert!(parse_url("not a url").is_err());
    }

    #[test]
    fn plain_http_goes_only_to_this_machine_unless_allowed() {
        for local in [
            "http://127.0.0.1/",
            "http://127.200.0.9:8000/",
            "http://localhost/",
            "http://LOCALHOST:80/",
            "http://[::1]:8000/",
        ] {
            let url = parse_url(local).expect("url");
            assert!(is_loopback(&url), "{local}");
            check_transport(&url, false).expect(local);
        }
        for remote in [
            "http://10.0.0.1/",
            "http://0.0.0.0/",
            "http://hub.example/",
            "http://localhost.hub.example/",
            "http://[::ffff:127.0.0.1]/",
            "http://128.0.0.1/",
        ] {
            let url = parse_url(remote).expect("url");
            let err = check_transport(&url, false).expect_err(remote);
            assert!(err.help().contains("--insecure-http"), "{err}");
            check_transport(&url, true).expect(remote);
        }
        check_transport(&parse_url("https://hub.example/").expect("url"), false).expect("https");
    }

    /// The env store for unit tests: every test of this crate sets the same two values, so
    /// tests sharing one process (`cargo test`) agree.
    fn env_store(store: &Store) -> CredentialStore {
        std::env::set_var(crate::credential_store::STORE_ENV, "env");
        std::env::set_var(crate::credential_store::TOKEN_ENV, TOKEN);
        CredentialStore::new(crate::credential_store::StoreKind::Env, store.path())
    }

    #[test]
    fn a_token_row_left_by_an_older_version_is_removed_and_never_used() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path().join("s.db")).expect("open");
        let creds = env_store(&store);
        store
            .set_sync_config(&[
                (
                    config_key::SERVER_URL,
                    Some("https://hub.example/station-sync/"),
                ),
                (config_key::LEGACY_TOKEN, Some(TOKEN)),
                (config_key::STATION_NUMBER, Some("8")),
            ])
            .expect("old config");
        // Station number 8 has no token in the environment: the database's row is not used.
        assert!(SyncConfig::load_from(&store, &creds).is_err());
        crate::credential_store::retire_database_token_in(&mut store, &creds).expect("retire");
        let rows = store.sync_config().expect("config");
        assert!(!rows.contains_key(config_key::LEGACY_TOKEN), "{rows:?}");
        assert!(
            rows.contains_key(config_key::SERVER_URL),
            "sync stays configured"
        );
    }

    #[test]
    fn configuration_round_trips_through_the_store_and_sync_off_numbers_locally() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path().join("s.db")).expect("open");
        let creds = env_store(&store);
        assert!(SyncConfig::load_from(&store, &creds)
            .expect("load")
            .is_none());
        assert!(SyncConfig::update_in(&mut store, &creds, ConfigUpdate::default()).is_err());
        let c = SyncConfig::update_in(
            &mut store,
            &creds,
            ConfigUpdate {
                server_url: Some("https://hub.example/station-sync".into()),
                token: Some(StationToken::parse(TOKEN).expect("token")),
                batch_size: Some(200),
                ..ConfigUpdate::default()
            },
        )
        .expect("configure");
        assert_eq!(c.batch_size, 200);
        let loaded = SyncConfig::load_from(&store, &creds)
            .expect("load")
            .expect("on");
        assert_eq!(
            loaded.server_url.as_str(),
            "https://hub.example/station-sync/"
        );
        assert!(loaded.tls_verify);
        assert_eq!(loaded.token.station_number(), 7);
        assert_eq!(loaded.token_source, TokenSource::Environment);
        let c = SyncConfig::update_in(
            &mut store,
            &creds,
            ConfigUpdate {
                tls_verify: Some(false),
                ..ConfigUpdate::default()
            },
        )
        .expect("update");
        assert!(!c.tls_verify && c.batch_size == 200);
        assert!(SyncConfig::update_in(
            &mut store,
            &creds,
            ConfigUpdate {
                ca_file: Some(Some(dir.path().join("missing.pem"))),
                ..ConfigUpdate::default()
            }
        )
        .is_err());
        SyncConfig::disable_in(&mut store, &creds).expect("disable");
        assert!(SyncConfig::load_from(&store, &creds)
            .expect("load")
            .is_none());
    }
}
