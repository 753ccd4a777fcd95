//! The Zephyr MCUmgr driver behind the station's driver interface: a device type with driver
//! `mcumgr` is flashed by writing its config through the SMP settings group
//! (`station_smp::Provisioner`), with the same flash flow, records and hooks as every driver.
//!
//! This module owns the driver's settings (which settings key holds each config key, and the
//! read-only key with the hardware id), the mapping of a [`DeviceConfig`] to settings, and the
//! mapping of the driver's failures to the station's typed reasons. Verification is
//! [`VerifyMethod::ReadbackNonSecret`]: after a save and a reset, every non-secret key is read
//! back; secrets are written only (the firmware refuses to read them).

use std::collections::BTreeMap;

use serde::Deserialize;
use station_core::driver::{
    DriverError, DriverKind, DriverSpec, Identity, UnitDriver, Verification, VerifyMethod,
    WriteProgress,
};
use station_core::outcome::FailReason;
use station_core::CoreError;
use station_protocol::{ClientStats, DeviceConfig, Key};
use station_smp::{
    ErrorKind, IdentityKeys, ProvisionStep, Provisioner, SerialTransport, Setting, DEFAULT_BAUD,
};

/// Prefix of the default settings key names: `dh/<config key>` (e.g. `dh/mqtt_password`).
pub const DEFAULT_PREFIX: &str = "dh/";
/// Default read-only key with the unit's hardware id.
pub const DEFAULT_HARDWARE_ID_KEY: &str = "dh/hwid";
/// What the record says for the firmware version: MCUmgr's settings group has none.
pub const FIRMWARE_VERSION_UNKNOWN: &str = "unknown (MCUmgr)";

/// The driver's settings, as a device type stores them (JSON).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McumgrSettings {
    /// Settings key per config key (wire name of `docs/protocol.md`); unnamed keys get
    /// `dh/<name>`.
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    /// Read-only settings key serving the unit's hardware id.
    #[serde(default)]
    pub hardware_id_key: Option<String>,
    /// Console baud rate (Zephyr's default 115200).
    #[serde(default)]
    pub baud: Option<u32>,
}

/// The settings as `station type add --driver-setting NAME=VALUE` and the app's NAME=VALUE lines
/// give them (flat strings, like the NVS driver's): `key.<config key>=<settings key>` entries go
/// into `keys`, and a `baud` given as text becomes a number. JSON already nested passes as is.
fn flat_to_nested(
    mut map: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    let flat: Vec<String> = map
        .keys()
        .filter(|k| k.starts_with("key."))
        .cloned()
        .collect();
    for name in flat {
        if let Some(value) = map.remove(&name) {
            let keys = map
                .entry("keys")
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            if let serde_json::Value::Object(keys) = keys {
                keys.insert(name["key.".len()..].to_owned(), value);
            }
        }
    }
    if let Some(serde_json::Value::String(text)) = map.get("baud") {
        if let Ok(n) = text.trim().parse::<u64>() {
            map.insert("baud".into(), serde_json::Value::from(n));
        }
    }
    map
}

/// The checked key map: one settings key per config key.
#[derive(Debug, Clone)]
pub struct KeyMap {
    names: Vec<String>,
    hardware_id: String,
    baud: u32,
}

impl KeyMap {
    /// Reads and checks a device type's driver settings; bad ones are refused with the fix.
    pub fn from_spec(spec: &DriverSpec) -> Result<KeyMap, CoreError> {
        let invalid = |what: String| {
            CoreError::invalid(
                "driver settings",
                what,
                "give them as key.<config key>=<settings key> (e.g. key.mqtt_password=app/pass), \
                 hardware_id_key=<settings key> and baud=<rate>",
            )
        };
        let settings: McumgrSettings = serde_json::from_value(serde_json::Value::Object(
            flat_to_nested(spec.settings_json()?),
        ))
        .map_err(|e| invalid(format!("the MCUmgr driver settings are wrong ({e})")))?;
        if let Some(unknown) = settings.keys.keys().find(|k| Key::from_name(k).is_none()) {
            return Err(invalid(format!(
                "there is no config key called {unknown:?}"
            )));
        }
        let names: Vec<String> = Key::ALL
            .iter()
            .map(|k| {
                settings
                    .keys
                    .get(k.name())
                    .cloned()
                    .unwrap_or_else(|| format!("{DEFAULT_PREFIX}{}", k.name()))
            })
            .collect();
        let hardware_id = settings
            .hardware_id_key
            .unwrap_or_else(|| DEFAULT_HARDWARE_ID_KEY.to_owned());
        let mut seen = std::collections::BTreeSet::new();
        for name in names.iter().chain(std::iter::once(&hardware_id)) {
            if name.is_empty() || name.len() >= station_smp::sim::NAME_LEN {
                return Err(invalid(format!(
                    "settings key {name:?} must be 1 to {} bytes (Zephyr's \
                     CONFIG_MCUMGR_GRP_SETTINGS_NAME_LEN)",
                    station_smp::sim::NAME_LEN - 1
                )));
            }
            if !seen.insert(name.as_str()) {
                return Err(invalid(format!("settings key {name:?} is named twice")));
            }
        }
        Ok(KeyMap {
            names,
            hardware_id,
            baud: settings.baud.unwrap_or(DEFAULT_BAUD),
        })
    }

    /// The settings key of config key `key`.
    pub fn name(&self, key: Key) -> &str {
        &self.names[key.index()]
    }

    fn identity_keys(&self) -> IdentityKeys {
        IdentityKeys {
            hardware_id: self.hardware_id.clone(),
            device_id: self.name(Key::DeviceId).to_owned(),
            generation: self.name(Key::Generation).to_owned(),
        }
    }
}

/// The MCUmgr driver on one unit.
pub struct McumgrDriver {
    unit: Provisioner<SerialTransport>,
    keys: KeyMap,
    /// A write failed after the save was sent: the next identify resets the unit first, so it
    /// reads what storage holds, not what RAM still has.
    settle_next: bool,
    link_baud: u32,
}

impl McumgrDriver {
    /// Opens the unit on `path` with the device type's driver settings.
    pub fn open(spec: &DriverSpec, path: &str) -> Result<McumgrDriver, CoreError> {
        let keys = KeyMap::from_spec(spec)?;
        let unit = Provisioner::open_serial(path, keys.baud).map_err(|e| to_core(&e))?;
        Ok(McumgrDriver {
            unit,
            link_baud: keys.baud,
            keys,
            settle_next: false,
        })
    }
}

fn reason(kind: &ErrorKind) -> FailReason {
    match kind {
        ErrorKind::Open { .. } => FailReason::PortOpenFailed,
        ErrorKind::NoAnswer => FailReason::Timeout,
        ErrorKind::Disconnected => FailReason::Disconnected,
        ErrorKind::GroupNotEnabled { .. } => FailReason::UnknownCommand,
        ErrorKind::AccessDenied { .. }
        | ErrorKind::UnknownKey { .. }
        | ErrorKind::KeyTooLong { .. } => FailReason::UnknownKey,
        ErrorKind::ValueTooLarge { .. } => FailReason::BadValue,
        ErrorKind::NoHardwareId { .. } => FailReason::InvalidHardwareId,
        ErrorKind::CutShort { .. } | ErrorKind::BadValue { .. } => FailReason::MalformedReply,
        ErrorKind::SaveRefused { .. } | ErrorKind::NotKept { .. } => FailReason::StorageFailed,
        ErrorKind::Busy => FailReason::Busy,
        _ => FailReason::Unrecognized,
    }
}

fn driver_error(e: &station_smp::DriverError) -> DriverError {
    let r = reason(&e.kind);
    if e.storage_may_have_changed() {
        DriverError::outcome_unknown(r, e.operator_message())
    } else {
        DriverError::failed(r, e.operator_message())
    }
}

fn to_core(e: &station_smp::DriverError) -> CoreError {
    driver_error(e).to_core()
}

impl UnitDriver for McumgrDriver {
    fn kind(&self) -> DriverKind {
        DriverKind::Mcumgr
    }

    fn can_prove(&self) -> VerifyMethod {
        VerifyMethod::ReadbackNonSecret
    }

    fn identify(&mut self) -> Result<Identity, DriverError> {
        let keys = self.keys.identity_keys();
        let state = if std::mem::take(&mut self.settle_next) {
            self.unit.settle(&keys)
        } else {
            self.unit.identify(&keys)
        }
        .map_err(|e| driver_error(&e))?;
        Ok(Identity {
            protocol_version: 0,
            capabilities: Vec::new(),
            hardware_id: state.hardware_id,
            firmware_version: FIRMWARE_VERSION_UNKNOWN.to_owned(),
            device_id: state.device_id,
            generation: state.generation,
        })
    }

    fn write(
        &mut self,
        cfg: &DeviceConfig,
        _unit: &Identity,
        progress: &mut dyn FnMut(WriteProgress),
    ) -> Result<Verification, DriverError> {
        let values: Vec<_> = Key::ALL.iter().map(|k| cfg.value(*k)).collect();
        let settings: Vec<Setting<'_>> = Key::ALL
            .iter()
            .map(|k| Setting {
                name: self.keys.name(*k),
                value: values[k.index()].as_slice(),
                secret: k.is_secret(),
            })
            .collect();
        let total = settings.len() as u32;
        let mut on_step = |s: ProvisionStep| match s {
            ProvisionStep::Write { done, .. } => progress(WriteProgress::Sent {
                done: done as u32,
                total,
            }),
            ProvisionStep::Verify => progress(WriteProgress::Verify),
            ProvisionStep::Save | ProvisionStep::Reset => {}
        };
        let generation_key = self.keys.name(Key::Generation).to_owned();
        let proven = match self
            .unit
            .write_config(&settings, &generation_key, &mut on_step)
        {
            Ok(v) => v,
            Err(e) => {
                self.settle_next = e.storage_may_have_changed();
                return Err(driver_error(&e));
            }
        };
        // Back to the config's own key names, which is what the record and the faces show.
        let config_key = |name: &str| {
            Key::ALL
                .iter()
                .find(|k| self.keys.name(**k) == name)
                .map_or(name.to_owned(), |k| k.name().to_owned())
        };
        let mut verified: Vec<String> = proven.read_back.iter().map(|n| config_key(n)).collect();
        let mut unverified: Vec<String> =
            proven.written_only.iter().map(|n| config_key(n)).collect();
        // A value read back only in part is not verified whole: say so.
        for (n, _) in &proven.read_back_prefix {
            unverified.push(config_key(n));
        }
        verified.sort();
        unverified.sort();
        Ok(Verification {
            method: VerifyMethod::ReadbackNonSecret,
            verified,
            unverified,
        })
    }

    fn stats(&self) -> ClientStats {
        ClientStats {
            link_baud: self.link_baud,
            ..ClientStats::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use station_core::driver::{DriverKind, DriverSpec};

    fn spec(settings: &str) -> DriverSpec {
        DriverSpec {
            kind: DriverKind::Mcumgr,
            settings: settings.into(),
        }
    }

    /// Regression: the MCUmgr driver took only nested JSON (`{"keys": {...}}`, `baud` a number),
    /// which `station type add --driver-setting NAME=VALUE` cannot give (flat strings), so a
    /// type set up from the CLI was refused. Both forms now give the same key map.
    #[test]
    fn flat_cli_settings_and_nested_json_give_the_same_key_map() {
        let flat = KeyMap::from_spec(&spec(
            r#"{"key.mqtt_password":"app/pass","hardware_id_key":"app/hwid","baud":"921600"}"#,
        ))
        .expect("flat");
        let nested = KeyMap::from_spec(&spec(
            r#"{"keys":{"mqtt_password":"app/pass"},"hardware_id_key":"app/hwid","baud":921600}"#,
        ))
        .expect("nested");
        assert_eq!(flat.name(Key::MqttPassword), "app/pass");
        assert_eq!(flat.name(Key::DeviceId), "dh/device_id");
        assert_eq!(flat.baud, 921_600);
        assert_eq!(
            (flat.names, flat.hardware_id, flat.baud),
            (nested.names, nested.hardware_id, nested.baud)
        );
        let err = KeyMap::from_spec(&spec(r#"{"key.colour":"x"}"#)).expect_err("unknown key");
        assert!(err.to_string().contains("colour"), "{err}");
    }
}
