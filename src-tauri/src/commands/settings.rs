//! The Settings screen: the station, the operator, the server, device types, the simulator.

use station_core::app as keys;
use station_core::store::{SETTING_HASH_ALGORITHM, SETTING_STATION_ID};
use station_core::{NewDeviceType, Store, TypeEdit};
use tauri::State;

use crate::dto::{DeviceTypeInfo, DeviceTypeInput, SettingChange, Settings};
use crate::error::AppResult;
use crate::state::AppState;

fn settings(s: &Store) -> Result<Settings, station_core::CoreError> {
    Ok(Settings::new(
        s.station_id()?,
        s.setting(SETTING_HASH_ALGORITHM)?
            .unwrap_or_else(|| "argon2".into()),
        s.app_settings()?,
        &s.sync_overview()?,
        s.path().display().to_string(),
    ))
}

/// Point the station at a sync server (the token kept when none is given), or with an empty
/// URL turn sync off: station-sync's own configuration, so the app and `station sync config`
/// check the same things.
fn set_sync_server(
    s: &mut Store,
    url: &str,
    token: Option<String>,
) -> Result<(), station_core::CoreError> {
    use station_sync::{ConfigUpdate, StationToken, SyncConfig};
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
    SyncConfig::update(
        s,
        ConfigUpdate {
            server_url: Some(url.to_owned()),
            token,
            ..ConfigUpdate::default()
        },
    )?;
    Ok(())
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
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
    state
        .db(move |s| {
            match change {
                SettingChange::StationName(v) => s.set_setting(SETTING_STATION_ID, v.trim())?,
                SettingChange::HashAlgorithm(v) => {
                    s.set_setting(SETTING_HASH_ALGORITHM, v.trim())?
                }
                SettingChange::Operator(v) => {
                    s.set_app_setting(keys::SETTING_OPERATOR, v.trim())?
                }
                SettingChange::SyncServer { url, token } => set_sync_server(s, &url, token)?,
                SettingChange::Sounds(b) => s.set_app_setting(keys::SETTING_SOUNDS, on_off(b))?,
                SettingChange::AutoFlash(b) => {
                    s.set_app_setting(keys::SETTING_AUTO_FLASH, on_off(b))?
                }
                SettingChange::SimPorts(n) => {
                    s.set_app_setting(keys::SETTING_SIM_PORTS, &n.to_string())?
                }
                SettingChange::SimFault(v) => s.set_app_setting(keys::SETTING_SIM_FAULT, &v)?,
            }
            settings(s)
        })
        .await
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
            Ok(s.add_type(NewDeviceType {
                name: input.name.trim().to_owned(),
                app_label: input.app_label.trim().to_owned(),
                topic_prefix: blank(input.topic_prefix),
                topic_template: blank(input.topic_template),
                broker_host: blank(input.broker_host),
                broker_port: input.broker_port,
                broker_tls: input.broker_tls,
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
            Ok(s.edit_type(
                input.name.trim(),
                TypeEdit {
                    app_label: Some(input.app_label.trim().to_owned()).filter(|s| !s.is_empty()),
                    topic_prefix: blank(input.topic_prefix),
                    topic_template: blank(input.topic_template),
                    broker_host: blank(input.broker_host),
                    broker_port: input.broker_port,
                    broker_tls: input.broker_tls,
                },
            )?
            .into())
        })
        .await
}
