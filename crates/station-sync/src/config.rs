//! How the station reaches the central server: the receiver's URL, the station token, TLS
//! verification (rustls, with an optional extra CA for a factory network's own certificates)
//! and the batch size. Stored in the station database (`sync_config`, apart from `settings` so
//! the token is never listed); the token is shown only as a hint.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;
use station_core::store::leases::MAX_STATION_NUMBER;
use station_core::store::sync_config::config_key;
use station_core::Store;
use zeroize::Zeroizing;

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

    /// The first characters, to tell tokens apart (as `manage.py station_tokens list` shows).
    pub fn hint(&self) -> String {
        format!("{}…", &self.0[..self.0.len().min(14)])
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for StationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StationToken({})", self.hint())
    }
}

#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// The receiver's root, always ending in `/` (e.g. `https://hub.example/station-sync/`).
    pub server_url: Url,
    pub token: StationToken,
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
    /// The stored configuration; `None` when sync is off (no server URL).
    pub fn load(store: &Store) -> Result<Option<SyncConfig>> {
        let c = store.sync_config()?;
        let Some(url) = c.get(config_key::SERVER_URL) else {
            return Ok(None);
        };
        let token = c.get(config_key::TOKEN).ok_or_else(|| SyncError::Config {
            field: "token",
            problem: "a server URL is set but no station token".into(),
            fix: "enter the station token in the sync settings".into(),
        })?;
        Ok(Some(SyncConfig {
            server_url: parse_url(url)?,
            token: StationToken::parse(token)?,
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

    /// Store this configuration (turning sync on).
    pub fn save(&self, store: &mut Store) -> Result<()> {
        let number = self.token.station_number().to_string();
        let batch = self.batch_size.to_string();
        let ca = self
            .ca_file
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        store.set_sync_config(&[
            (config_key::SERVER_URL, Some(self.server_url.as_str())),
            (config_key::TOKEN, Some(self.token.expose())),
            (config_key::STATION_NUMBER, Some(&number)),
            (config_key::CA_FILE, ca.as_deref()),
            (
                config_key::TLS_VERIFY,
                Some(if self.tls_verify { "true" } else { "false" }),
            ),
            (config_key::BATCH_SIZE, Some(&batch)),
        ])?;
        Ok(())
    }

    /// Apply `update` to the stored configuration (URL and token are needed the first time).
    pub fn update(store: &mut Store, update: ConfigUpdate) -> Result<SyncConfig> {
        let config = SyncConfig::resolve(store, update)?;
        config.save(store)?;
        Ok(config)
    }

    /// The configuration `update` would make, checked but not stored (so the server can be
    /// asked before anything changes: `crate::seal::configure`).
    pub fn resolve(store: &Store, update: ConfigUpdate) -> Result<SyncConfig> {
        let current = SyncConfig::load(store).ok().flatten();
        let server_url = match (&update.server_url, &current) {
            (Some(u), _) => parse_url(u)?,
            (None, Some(c)) => c.server_url.clone(),
            (None, None) => {
                return Err(SyncError::Config {
                    field: "server url",
                    problem: "no server URL yet".into(),
                    fix: "give --url https://…/station-sync/".into(),
                })
            }
        };
        let token = match (update.token, &current) {
            (Some(t), _) => t,
            (None, Some(c)) => c.token.clone(),
            (None, None) => {
                let stored = store.sync_config()?;
                match stored.get(config_key::TOKEN) {
                    Some(t) => StationToken::parse(t)?,
                    None => {
                        return Err(SyncError::Config {
                            field: "token",
                            problem: "no station token yet".into(),
                            fix: "pipe it in with --token-stdin".into(),
                        })
                    }
                }
            }
        };
        let ca_file = match update.ca_file {
            Some(ca) => ca,
            None => current.as_ref().and_then(|c| c.ca_file.clone()),
        };
        if let Some(path) = &ca_file {
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
        }
        let config = SyncConfig {
            server_url,
            token,
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
        Ok(config)
    }

    /// Turn sync off: ids are numbered locally again. Pending records stay in the outbox.
    pub fn disable(store: &mut Store) -> Result<()> {
        store.set_sync_config(&[(config_key::SERVER_URL, None)])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "dhs_7_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";

    #[test]
    fn tokens_are_checked_and_never_printed() {
        let t = StationToken::parse(TOKEN).expect("token");
        assert_eq!(t.station_number(), 7);
        assert_eq!(format!("{t:?}"), "StationToken(dhs_7_abcdefgh…)");
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
    fn configuration_round_trips_through_the_store_and_sync_off_numbers_locally() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path().join("s.db")).expect("open");
        assert!(SyncConfig::load(&store).expect("load").is_none());
        assert!(SyncConfig::update(&mut store, ConfigUpdate::default()).is_err());
        let c = SyncConfig::update(
            &mut store,
            ConfigUpdate {
                server_url: Some("https://hub.example/station-sync".into()),
                token: Some(StationToken::parse(TOKEN).expect("token")),
                batch_size: Some(200),
                ..ConfigUpdate::default()
            },
        )
        .expect("configure");
        assert_eq!(c.batch_size, 200);
        let loaded = SyncConfig::require(&store).expect("load");
        assert_eq!(
            loaded.server_url.as_str(),
            "https://hub.example/station-sync/"
        );
        assert!(loaded.tls_verify);
        assert_eq!(loaded.token.station_number(), 7);
        let c = SyncConfig::update(
            &mut store,
            ConfigUpdate {
                tls_verify: Some(false),
                ..ConfigUpdate::default()
            },
        )
        .expect("update");
        assert!(!c.tls_verify && c.batch_size == 200);
        assert!(SyncConfig::update(
            &mut store,
            ConfigUpdate {
                ca_file: Some(Some(dir.path().join("missing.pem"))),
                ..ConfigUpdate::default()
            }
        )
        .is_err());
        SyncConfig::disable(&mut store).expect("disable");
        assert!(SyncConfig::load(&store).expect("load").is_none());
    }
}
