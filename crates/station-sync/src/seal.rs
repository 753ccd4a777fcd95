//! The server's seal key, the sync half (contract: docs/sync-api.md, "Sealed api keys").
//!
//! [`configure`] is what `station sync config` and the app's sync settings do: check the new
//! settings, ask the server (`v1/station`) for its seal key, refuse if it has none, and only
//! then store the settings and the key; the store seals every api key that waited in plaintext
//! in the same step. The fingerprint is printed for the operator to compare with
//! `manage.py station_sync_sealkey --show`. [`check_unchanged`] runs before every push: a
//! server whose key is not the one the station seals to gets nothing until a person confirms
//! the new key (`SyncError::SealKeyChanged`, health "needs attention").

use station_core::seal::{SealKey, SEAL_ALGORITHM};
use station_core::store::sync_config::runtime_key;
use station_core::Store;

use crate::api::StationInfo;
use crate::client::Client;
use crate::config::{ConfigUpdate, SyncConfig};
use crate::credential_store::CredentialStore;
use crate::error::{Result, SyncError, SEAL_KEY_CHANGED};

/// What configuring sync did.
#[derive(Debug)]
pub struct Configured {
    pub config: SyncConfig,
    /// The server key api keys are now sealed to.
    pub seal_key: SealKey,
    /// Api keys that waited in plaintext and were sealed now.
    pub sealed_now: u64,
}

/// The server's seal key from its `v1/station` answer, checked; an error naming the command
/// that makes one when it has none.
pub fn server_key(info: &StationInfo) -> Result<SealKey> {
    let key = info.seal_key.as_ref().ok_or(SyncError::NoSealKey)?;
    if key.algorithm != SEAL_ALGORITHM {
        return Err(SyncError::Protocol(format!(
            "the server seals with '{}', this station only with '{SEAL_ALGORITHM}'",
            key.algorithm.escape_default()
        )));
    }
    Ok(SealKey::from_base64(
        &key.public_key,
        Some(&key.fingerprint),
    )?)
}

/// Check `update`, fetch the server's seal key with it, then store both (sealing waiting keys).
/// Nothing changes when the server cannot be reached, refuses the token or has no seal key.
pub fn configure(store: &mut Store, update: ConfigUpdate) -> Result<Configured> {
    let credentials = CredentialStore::for_station(store)?;
    let resolved = SyncConfig::resolve_in(store, &credentials, update)?;
    let config = &resolved.config;
    let info = Client::new(config)?.station()?;
    if info.station.number != config.token.station_number() {
        return Err(SyncError::Config {
            field: "token",
            problem: format!(
                "the server says this token belongs to station #{}, the token says #{}",
                info.station.number,
                config.token.station_number()
            ),
            fix: "set a token issued by this server".into(),
        });
    }
    let seal_key = server_key(&info)?;
    let config = resolved.save(store, &credentials)?;
    let sealed_now = store.adopt_seal_key(&seal_key)?;
    // A person confirmed the server's key: a "key changed" stop is over.
    let runtime = store.sync_runtime()?;
    if runtime
        .get(runtime_key::LAST_ERROR_CODE)
        .map(String::as_str)
        == Some(SEAL_KEY_CHANGED)
    {
        store.set_sync_runtime(&[
            (runtime_key::LAST_ERROR, None),
            (runtime_key::LAST_ERROR_CODE, None),
        ])?;
    }
    Ok(Configured {
        config,
        seal_key,
        sealed_now,
    })
}

/// Before a push: the server's key must still be the one this station seals to. A station
/// that holds no seal key yet (configured before sealed api keys) is not stopped.
pub fn check_unchanged(store: &Store, info: &StationInfo) -> Result<()> {
    let Some(ours) = store.seal_key()? else {
        return Ok(());
    };
    let theirs = info.seal_key.as_ref().map(|k| k.fingerprint.clone());
    if theirs.as_deref() != Some(ours.fingerprint()) {
        return Err(SyncError::SealKeyChanged {
            station: ours.fingerprint().to_owned(),
            server: theirs,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Limits, ServerSealKey, StationName};

    fn info(seal_key: Option<ServerSealKey>) -> StationInfo {
        StationInfo {
            api_version: 1,
            station: StationName {
                name: "Line 7".into(),
                number: 7,
            },
            server_time: "2030-01-01T00:00:00Z".into(),
            limits: Limits {
                max_records: 1000,
                max_lease: 1000,
                offline_span: 1000,
            },
            seal_key,
        }
    }

    fn server_seal_key(byte: u8) -> ServerSealKey {
        use base64::Engine as _;
        let public = [byte; 32];
        ServerSealKey {
            algorithm: SEAL_ALGORITHM.into(),
            public_key: base64::engine::general_purpose::STANDARD.encode(public),
            fingerprint: station_core::seal::fingerprint_of(&public),
        }
    }

    #[test]
    fn a_server_without_a_seal_key_is_refused_naming_the_command() {
        let err = server_key(&info(None)).expect_err("no key");
        assert_eq!(err.code(), "no_seal_key");
        assert!(
            err.help().contains("manage.py station_sync_sealkey"),
            "{}",
            err.help()
        );
        let mut wrong = server_seal_key(1);
        wrong.algorithm = "rsa".into();
        assert!(server_key(&info(Some(wrong))).is_err());
        let mut mislabelled = server_seal_key(1);
        mislabelled.fingerprint = server_seal_key(2).fingerprint;
        assert!(server_key(&info(Some(mislabelled))).is_err());
        let key = server_key(&info(Some(server_seal_key(1)))).expect("key");
        assert_eq!(key.fingerprint(), server_seal_key(1).fingerprint);
    }

    /// A server whose key pair was replaced (or removed) gets nothing until a person confirms.
    #[test]
    fn a_changed_server_key_stops_the_push_and_needs_attention() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path().join("s.db")).expect("open");
        check_unchanged(&store, &info(None)).expect("no key held yet: not stopped");
        let ours = server_key(&info(Some(server_seal_key(1)))).expect("key");
        store.adopt_seal_key(&ours).expect("adopt");
        check_unchanged(&store, &info(Some(server_seal_key(1)))).expect("same key");
        for theirs in [Some(server_seal_key(2)), None] {
            let err = check_unchanged(&store, &info(theirs)).expect_err("changed");
            assert_eq!(err.code(), SEAL_KEY_CHANGED);
            assert!(err.to_string().contains(ours.fingerprint()), "{err}");
            let health = crate::Health::of(
                true,
                &station_core::store::outbox::OutboxCounts::default(),
                Some(err.code()),
            );
            assert_eq!(health, crate::Health::NeedsAttention);
        }
    }
}
