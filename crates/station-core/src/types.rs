//! Device types: what this station may provision, mirroring django-devicehub's registry
//! (name, Django app label, topic prefix and template) plus the MQTT broker the firmware is
//! given.

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use crate::driver::{self, DriverKind, DriverSpec};
use crate::error::{CoreError, Result};
use crate::naming::{self, MessageType};
use crate::store::{now, Store};

pub const DEFAULT_BROKER_HOST: &str = "localhost";
pub const DEFAULT_BROKER_PORT: u16 = 1883;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeviceType {
    pub id: i64,
    pub name: String,
    pub app_label: String,
    pub topic_prefix: String,
    pub topic_template: String,
    pub broker_host: String,
    pub broker_port: u16,
    pub broker_tls: bool,
    /// The driver that writes this type's units, and its settings (issue 12).
    pub driver: DriverSpec,
    pub created_at: String,
    pub updated_at: String,
}

/// The three MQTT topics of one device.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Topics {
    pub data: String,
    pub status: String,
    pub cmd: String,
}

impl DeviceType {
    pub fn mqtt_username(&self, device_id: &str) -> String {
        naming::mqtt_username(&self.app_label, &self.name, device_id)
    }

    pub fn topics(&self, device_id: &str) -> Topics {
        let t = |m| {
            naming::topic(
                &self.topic_template,
                &self.topic_prefix,
                &self.name,
                device_id,
                m,
            )
        };
        Topics {
            data: t(MessageType::Data),
            status: t(MessageType::Status),
            cmd: t(MessageType::Cmd),
        }
    }

    pub(crate) const COLUMNS: &'static str = "t.id, t.name, t.app_label, t.topic_prefix, \
        t.topic_template, t.broker_host, t.broker_port, t.broker_tls, t.created_at, t.updated_at, \
        t.driver, t.driver_settings";

    /// Read a type from the first twelve columns of `row`, laid out as [`Self::COLUMNS`].
    pub(crate) fn from_row(row: &Row<'_>, at: usize) -> rusqlite::Result<Self> {
        Ok(DeviceType {
            id: row.get(at)?,
            name: row.get(at + 1)?,
            app_label: row.get(at + 2)?,
            topic_prefix: row.get(at + 3)?,
            topic_template: row.get(at + 4)?,
            broker_host: row.get(at + 5)?,
            broker_port: row.get(at + 6)?,
            broker_tls: row.get(at + 7)?,
            created_at: row.get(at + 8)?,
            updated_at: row.get(at + 9)?,
            driver: DriverSpec {
                kind: {
                    let name: String = row.get(at + 10)?;
                    DriverKind::parse(&name).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            at + 10,
                            rusqlite::types::Type::Text,
                            e.to_string().into(),
                        )
                    })?
                },
                settings: row.get(at + 11)?,
            },
        })
    }
}

/// What a person gives to add a type; unset fields take django-devicehub's defaults.
#[derive(Debug, Clone, Default)]
pub struct NewDeviceType {
    pub name: String,
    pub app_label: String,
    pub topic_prefix: Option<String>,
    pub topic_template: Option<String>,
    pub broker_host: Option<String>,
    pub broker_port: Option<u16>,
    pub broker_tls: Option<bool>,
    /// The driver; the protocol driver (no settings) when unset.
    pub driver: Option<DriverSpec>,
}

/// A change to a type; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TypeEdit {
    pub app_label: Option<String>,
    pub topic_prefix: Option<String>,
    pub topic_template: Option<String>,
    pub broker_host: Option<String>,
    pub broker_port: Option<u16>,
    pub broker_tls: Option<bool>,
    /// A new driver and settings. Changing it never touches a unit already written; the next
    /// write of each unit uses the new driver.
    pub driver: Option<DriverSpec>,
}

/// The driver and settings a type may be given: a known driver and a JSON object.
fn validate_driver(spec: &DriverSpec) -> Result<DriverSpec> {
    let settings = driver::parse_settings(&spec.settings)?;
    Ok(DriverSpec {
        kind: spec.kind,
        settings: serde_json::Value::Object(settings).to_string(),
    })
}

fn validate_port(port: u16) -> Result<()> {
    if port == 0 {
        return Err(CoreError::invalid(
            "broker port",
            "port 0 is not a usable TCP port",
            "give the MQTT broker's port, e.g. 1883 (plain) or 8883 (TLS)",
        ));
    }
    Ok(())
}

/// The IANA port of MQTT over TLS ("secure-mqtt").
pub const MQTT_TLS_PORT: u16 = 8883;

/// A broker on the MQTT-over-TLS port must be reached with TLS: a device told to speak plain
/// MQTT to port 8883 never connects, and nothing on the line would say why.
fn validate_broker_tls(port: u16, tls: bool) -> Result<()> {
    if port == MQTT_TLS_PORT && !tls {
        return Err(CoreError::invalid(
            "broker TLS",
            format!(
                "port {MQTT_TLS_PORT} is MQTT over TLS, but TLS is off, so devices could never \
                 connect to the broker"
            ),
            format!(
                "turn TLS on for port {MQTT_TLS_PORT}, or give the broker's plain MQTT port \
                 (usually {DEFAULT_BROKER_PORT})"
            ),
        ));
    }
    Ok(())
}

impl Store {
    pub fn add_type(&mut self, new: NewDeviceType) -> Result<DeviceType> {
        naming::validate_type_name(&new.name)?;
        naming::validate_app_label(&new.app_label)?;
        let prefix = new
            .topic_prefix
            .unwrap_or_else(|| naming::DEFAULT_TOPIC_PREFIX.into());
        naming::validate_topic_prefix(&prefix)?;
        let template = new
            .topic_template
            .unwrap_or_else(|| naming::DEFAULT_TOPIC_TEMPLATE.into());
        naming::validate_topic_template(&template)?;
        let host = new
            .broker_host
            .unwrap_or_else(|| DEFAULT_BROKER_HOST.into());
        naming::validate_broker_host(&host)?;
        let port = new.broker_port.unwrap_or(DEFAULT_BROKER_PORT);
        validate_port(port)?;
        let tls = new.broker_tls.unwrap_or(false);
        validate_broker_tls(port, tls)?;
        let drv = validate_driver(&new.driver.unwrap_or_else(DriverSpec::protocol))?;
        let key = naming::type_key(&new.name);
        let name = new.name;
        let app_label = new.app_label;
        self.write(|tx| {
            let existing: Option<String> = tx
                .query_row(
                    "SELECT name FROM device_types WHERE name_key = ?1",
                    [&key],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(existing) = existing {
                return Err(CoreError::DuplicateType {
                    name: name.clone(),
                    existing,
                });
            }
            let ts = now();
            tx.execute(
                "INSERT INTO device_types(name, name_key, app_label, topic_prefix, topic_template,
                     broker_host, broker_port, broker_tls, created_at, updated_at, driver,
                     driver_settings)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11)",
                params![
                    name,
                    key,
                    app_label,
                    prefix,
                    template,
                    host,
                    port,
                    tls,
                    ts,
                    drv.kind.as_str(),
                    drv.settings
                ],
            )?;
            Ok(())
        })?;
        self.find_type(&name)
    }

    pub fn list_types(&self) -> Result<Vec<DeviceType>> {
        let sql = format!(
            "SELECT {} FROM device_types t ORDER BY t.name",
            DeviceType::COLUMNS
        );
        let mut stmt = self.conn().prepare(&sql).map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map([], |r| DeviceType::from_row(r, 0))
            .map_err(|e| self.sql_err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sql_err(e))
    }

    /// Look a type up the way django-devicehub does: case-insensitive, `_` ignored.
    pub fn find_type(&self, name: &str) -> Result<DeviceType> {
        let sql = format!(
            "SELECT {} FROM device_types t WHERE t.name_key = ?1",
            DeviceType::COLUMNS
        );
        let found = self
            .conn()
            .query_row(&sql, [naming::type_key(name)], |r| {
                DeviceType::from_row(r, 0)
            })
            .optional()
            .map_err(|e| self.sql_err(e))?;
        match found {
            Some(t) => Ok(t),
            None => Err(CoreError::UnknownType {
                name: name.to_owned(),
                known: self.list_types()?.into_iter().map(|t| t.name).collect(),
            }),
        }
    }

    /// Edit a type. What the server derives usernames and topics from (app label, topic prefix
    /// and template) cannot change once devices of the type hold credentials: their firmware
    /// and the server would disagree with the station.
    pub fn edit_type(&mut self, name: &str, edit: TypeEdit) -> Result<DeviceType> {
        let current = self.find_type(name)?;
        let mut next = current.clone();
        if let Some(v) = edit.app_label {
            naming::validate_app_label(&v)?;
            next.app_label = v;
        }
        if let Some(v) = edit.topic_prefix {
            naming::validate_topic_prefix(&v)?;
            next.topic_prefix = v;
        }
        if let Some(v) = edit.topic_template {
            naming::validate_topic_template(&v)?;
            next.topic_template = v;
        }
        if let Some(v) = edit.broker_host {
            naming::validate_broker_host(&v)?;
            next.broker_host = v;
        }
        if let Some(v) = edit.broker_port {
            validate_port(v)?;
            next.broker_port = v;
        }
        if let Some(v) = edit.broker_tls {
            next.broker_tls = v;
        }
        if (next.broker_port, next.broker_tls) != (current.broker_port, current.broker_tls) {
            validate_broker_tls(next.broker_port, next.broker_tls)?;
        }
        if let Some(v) = &edit.driver {
            next.driver = validate_driver(v)?;
        }
        let identity_changed = next.app_label != current.app_label
            || next.topic_prefix != current.topic_prefix
            || next.topic_template != current.topic_template;
        self.write(|tx| {
            if identity_changed {
                let issued: i64 = tx.query_row(
                    "SELECT count(*) FROM devices WHERE type_id = ?1 AND last_generation > 0",
                    [current.id],
                    |r| r.get(0),
                )?;
                if issued > 0 {
                    return Err(CoreError::Conflict {
                        problem: format!(
                            "{issued} device(s) of type {} already hold credentials built from its app \
                             label and topics",
                            current.name
                        ),
                        fix: "add a new device type for the new app label or topics; broker host, port \
                              and TLS can still be changed"
                            .into(),
                    });
                }
            }
            tx.execute(
                "UPDATE device_types SET app_label = ?2, topic_prefix = ?3, topic_template = ?4,
                     broker_host = ?5, broker_port = ?6, broker_tls = ?7, updated_at = ?8,
                     driver = ?9, driver_settings = ?10
                 WHERE id = ?1",
                params![
                    current.id,
                    next.app_label,
                    next.topic_prefix,
                    next.topic_template,
                    next.broker_host,
                    next.broker_port,
                    next.broker_tls,
                    now(),
                    next.driver.kind.as_str(),
                    next.driver.settings
                ],
            )?;
            Ok(())
        })?;
        self.find_type(&current.name)
    }
}
