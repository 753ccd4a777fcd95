//! The Devices screen: search, detail with history, identifying a plugged-in unit,
//! deactivation.

use station_core::DeviceFilter;
use tauri::{AppHandle, Manager, State};

use crate::dto::{Device, DeviceDetail, DevicePage, DeviceQuery, UnitInfo};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// How many devices one page of a search holds at most; the page says how many match in all.
const SEARCH_LIMIT: u32 = 500;

#[tauri::command]
#[specta::specta]
pub async fn search_devices(
    state: State<'_, AppState>,
    query: DeviceQuery,
) -> AppResult<DevicePage> {
    let filter = DeviceFilter {
        search: query
            .search
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
        status: query.status,
        flash_state: query.flash_state,
        batch_id: query.batch_id,
        is_active: query.active,
        limit: Some(query.limit.unwrap_or(SEARCH_LIMIT).min(SEARCH_LIMIT)),
        offset: query.offset,
        ..DeviceFilter::default()
    };
    state
        .db(move |s| {
            let total = s.count_devices(&filter)?;
            Ok(DevicePage {
                devices: s
                    .list_devices(&filter)?
                    .into_iter()
                    .map(Device::from)
                    .collect(),
                total: u32::try_from(total).unwrap_or(u32::MAX),
            })
        })
        .await
}

#[tauri::command]
#[specta::specta]
pub async fn device_detail(
    state: State<'_, AppState>,
    device_id: String,
) -> AppResult<DeviceDetail> {
    state
        .db(move |s| {
            let device = s.find_device(&device_id)?.into();
            let history = s.device_history(&device_id)?;
            let server = s.server_status(&device_id)?;
            Ok(DeviceDetail {
                device,
                history,
                server,
            })
        })
        .await
}

/// Block a device for good (django-devicehub's is_active = False); the record stays.
#[tauri::command]
#[specta::specta]
pub async fn deactivate_device(
    state: State<'_, AppState>,
    device_id: String,
    reason: String,
) -> AppResult<Device> {
    let device = state
        .db(move |s| Ok(station_service::records::deactivate(s, &device_id, &reason, None)?.into()))
        .await?;
    // The server must stop accepting the device as soon as it can be told.
    state.sync.wake();
    Ok(device)
}

/// Which device the unit plugged into `port` holds. Writes nothing to the unit; settles its
/// unconfirmed flashes, as every contact does.
#[tauri::command]
#[specta::specta]
pub async fn identify_unit(app: AppHandle, port: String) -> AppResult<UnitInfo> {
    tauri::async_runtime::spawn_blocking(move || {
        app.try_state::<AppState>()
            .ok_or_else(|| AppError::internal("the station has not started"))?
            .flasher
            .identify(&port)
    })
    .await
    .map_err(|e| AppError::internal(format!("the identify task failed: {e}")))?
}
