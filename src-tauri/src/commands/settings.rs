//! The Settings screen: the station, the operator, the server, device types, the simulator.

use station_core::settings::{self as registry, key};
use station_core::{NewDeviceType, Store, TypeEdit};
use tauri::State;

use crate::dto::{DeviceTypeInfo, DeviceTypeInput, SettingChange, Settings, SyncServer};
use crate::error::AppResult;
use crate::state::AppState;

/// Every setting as it takes effect, defaults from the registry (`station_core::settings`).
fn settings(s: &Store) -> Result<Settings, station_core::CoreError> {
    Ok(Settings::new(
        s.station_id()?,
        s.setting_value(key::HASH_ALGORITHM)?,
        registry::find(key::HASH_ALGORITHM)?.default_value(),
        s.app_settings()?,
        sync_server(s)?,
        s.path().display().to_string(),
    ))
}

/// The server as station-sync's status sees it (the token only as where it is kept).
fn sync_server(s: &Store) -> Result<SyncServer, station_core::CoreError> {
    let status = station_sync::status(s)?;
    Ok(SyncServer {
        url: status.server_url,
        token_store: status.token_store,
        warnings: status.warnings,
    })
}

/// Point the station at a sync server (the token kept when none is given and the host stays),
/// or with an empty URL turn sync off and delete the token: station-sync's own configuration,
/// so the app and `station sync config` check the same things.
fn set_sync_server(
    s: &mut Store,
    url: &str,
    token: Option<String>,
    insecure_http: bool,
) -> Result<(), station_core::CoreError> {
    use station_sync::{ConfigUpdate, StationToken, SyncConfig};
    // `configure` asks the server for its seal key before storing anything (sealed api keys).
    let url = url.trim();
    if url.is_empty() {
        return SyncConfig::disable(s).map_err(Into::into);
    }
    let token = token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(StationToken::parse)
        .transpose()?;
    station_sync::configure(
        s,
        ConfigUpdate {
            server_url: Some(url.to_owned()),
            token,
            insecure_http: insecure_http.then_some(true),
            ..ConfigUpdate::default()
        },
    )?;
    Ok(())
}

#[tauri::command]
#[specta::specta]
pub async fn get_settings(state: State<'_, AppState>) -> AppResult<Settings> {
    state.db(|s| settings(s)).await
}

/// Change one setting; returns all of them as they now are.
#[tauri::command]
#[specta::specta]
pub async fn change_setting(
    state: State<'_, AppState>,
    change: SettingChange,
) -> AppResult<Settings> {
    state.db(move |s| apply_change(s, change)).await
}

/// Store one change through the registry's rules; a refused value changes nothing.
fn apply_change(s: &mut Store, change: SettingChange) -> Result<Settings, station_core::CoreError> {
    let (k, value) = match change {
        SettingChange::SyncServer {
            url,
            token,
            insecure_http,
        } => {
            set_sync_server(s, &url, token, insecure_http)?;
            return settings(s);
        }
        SettingChange::StationName(v) => (key::STATION_ID, v.trim().to_owned()),
        SettingChange::HashAlgorithm(v) => (key::HASH_ALGORITHM, v.trim().to_owned()),
        SettingChange::Operator(v) => (key::OPERATOR, v.trim().to_owned()),
        SettingChange::Sounds(b) => (key::SOUNDS, registry::on_off(b).to_owned()),
        SettingChange::AutoFlash(b) => (key::AUTO_FLASH, registry::on_off(b).to_owned()),
        SettingChange::SimPorts(n) => (key::SIM_PORTS, n.to_string()),
        SettingChange::SimFault(f) => (key::SIM_FAULT, f.as_str().to_owned()),
        SettingChange::Language(l) => (key::LANGUAGE, l.as_str().to_owned()),
        SettingChange::Theme(t) => (key::THEME, t.as_str().to_owned()),
    };
    s.set_setting(k, &value)?;
    settings(s)
}

#[tauri::command]
#[specta::specta]
pub async fn list_types(state: State<'_, AppState>) -> AppResult<Vec<DeviceTypeInfo>> {
    state
        .db(|s| Ok(s.list_types()?.into_iter().map(Into::into).collect()))
        .await
}

#[tauri::command]
#[specta::specta]
pub async fn add_type(
    state: State<'_, AppState>,
    input: DeviceTypeInput,
) -> AppResult<DeviceTypeInfo> {
    let blank = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    state
        .db(move |s| {
            let driver = input.driver_spec(None)?;
            Ok(s.add_type(NewDeviceType {
                name: input.name.trim().to_owned(),
                app_label: input.app_label.trim().to_owned(),
                topic_prefix: blank(input.topic_prefix),
                topic_template: blank(input.topic_template),
                broker_host: blank(input.broker_host),
                broker_port: input.broker_port,
                broker_tls: input.broker_tls,
                driver,
            })?
            .into())
        })
        .await
}

#[tauri::command]
#[specta::specta]
pub async fn edit_type(
    state: State<'_, AppState>,
    input: DeviceTypeInput,
) -> AppResult<DeviceTypeInfo> {
    let blank = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    state
        .db(move |s| {
            let driver = input.driver_spec(Some(s.find_type(input.name.trim())?.driver))?;
            Ok(s.edit_type(
                input.name.trim(),
                TypeEdit {
                    app_label: Some(input.app_label.trim().to_owned()).filter(|s| !s.is_empty()),
                    topic_prefix: blank(input.topic_prefix),
                    topic_template: blank(input.topic_template),
                    broker_host: blank(input.broker_host),
                    broker_port: input.broker_port,
                    broker_tls: input.broker_tls,
                    driver,
                },
            )?
            .into())
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use station_core::HashAlgorithm;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("s.db")).expect("open");
        (dir, store)
    }

    #[test]
    fn settings_screen_hash_default_comes_from_the_store() {
        let (_d, mut s) = store();
        let fresh = settings(&s).expect("settings");
        assert_eq!(fresh.hash_algorithm, fresh.hash_algorithm_default);
        assert_eq!(
            fresh
                .hash_algorithm
                .parse::<HashAlgorithm>()
                .expect("parses"),
            s.hash_algorithm().expect("the store's algorithm"),
            "the screen shows what the store hashes with"
        );
        let changed = apply_change(&mut s, SettingChange::HashAlgorithm("pbkdf2_sha256".into()))
            .expect("change");
        assert_eq!(changed.hash_algorithm, "pbkdf2_sha256");
        assert_eq!(changed.hash_algorithm_default, fresh.hash_algorithm_default);
    }

    /// The `env` credential store (no Secret Service in CI) holding `token`; nextest runs each
    /// test in its own process.
    fn env_store(token: &str) {
        std::env::set_var(station_sync::credential_store::STORE_ENV, "env");
        std::env::set_var(station_sync::credential_store::TOKEN_ENV, token);
    }

    fn server(url: &str, token: Option<&str>, insecure_http: bool) -> SettingChange {
        SettingChange::SyncServer {
            url: url.into(),
            token: token.map(Into::into),
            insecure_http,
        }
    }

    /// Issue 10 in the app: the same rules as `station sync config`, and the screen learns
    /// where the token is kept, never any part of it. Against a real Django server with the
    /// receiver (configuring asks it for its seal key), reached under three names: 127.0.0.1,
    /// localhost (another host to the station) and 0.0.0.0 (not a loopback address by the
    /// station's rule, so plain http there is a test bench's exception).
    #[test]
    fn the_sync_settings_show_where_the_token_is_kept_and_follow_the_cli_rules() {
        let django = station_e2e::DjangoServer::start();
        let token = django.new_station_token("line-app");
        let secret = token.splitn(3, '_').nth(2).expect("dhs_<n>_<secret>");
        env_store(&token);
        let hub_a = django.sync_url();
        let hub_b = format!("http://localhost:{}/station-sync/", django.port);
        let bench_url = format!("http://0.0.0.0:{}/station-sync/", django.port);
        let (_d, mut s) = store();
        let shown = apply_change(&mut s, server(&hub_a, Some(&token), false)).expect("configure");
        assert_eq!(
            shown.server_token_store.as_deref(),
            Some("from the environment (STATION_SYNC_TOKEN), never written to disk")
        );
        let json = serde_json::to_string(&shown).expect("json");
        assert!(
            !json.contains(&secret[..8]) && !json.contains(&token),
            "{json}"
        );

        let before = settings(&s).expect("settings");
        for refused in [
            server(&hub_b, None, false),
            server(&bench_url, Some(&token), false),
        ] {
            let err = apply_change(&mut s, refused.clone()).expect_err("refused");
            assert_eq!(
                err.code(),
                station_core::ErrorCode::InvalidInput,
                "{refused:?}"
            );
            assert_eq!(settings(&s).expect("settings"), before, "{refused:?}");
        }
        let bench =
            apply_change(&mut s, server(&bench_url, Some(&token), true)).expect("a test bench");
        assert!(
            bench
                .server_warnings
                .iter()
                .any(|w| w.contains("plain http")),
            "{:?}",
            bench.server_warnings
        );
        let off = apply_change(&mut s, server("", None, false)).expect("off");
        assert_eq!(
            (off.server_url.as_str(), off.server_token_store),
            ("", None)
        );
    }

    #[test]
    fn a_refused_change_keeps_every_setting() {
        let (_d, mut s) = store();
        let before = settings(&s).expect("settings");
        for change in [
            SettingChange::StationName("line 3".into()),
            SettingChange::HashAlgorithm("md5".into()),
            SettingChange::Operator("a\u{7}b".into()),
            SettingChange::SimPorts(0),
            SettingChange::SimPorts(registry::MAX_SIM_PORTS + 1),
        ] {
            let err = apply_change(&mut s, change.clone()).expect_err("refused");
            assert_eq!(
                err.code(),
                station_core::ErrorCode::InvalidInput,
                "{change:?}"
            );
            assert_eq!(settings(&s).expect("settings"), before, "{change:?}");
        }
    }
}
