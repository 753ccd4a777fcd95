//! Labels: the template a device type prints on PASS, what may appear on it, and the printer
//! the station sends it to.
//!
//! Never a secret on a label, by construction: a template names its fields from
//! [`LabelField`], an enum of the record's non-secret fields (device id, name, type, hardware
//! id, MQTT username). There is no variant for the password, its hash or the api key, and the
//! text form of a template ([`LabelField::parse`]) refuses those names explicitly. The MQTT
//! username is allowed: it is no secret (the server, the topics and every log line carry it, and
//! it is made from the app label, the type and the device id); it is not printed by default.
//!
//! The QR code's payload ([`qr_payload`]) is the template's fields, in its order, as
//! `DH1;id=farm-001;t=WeatherStation;hw=sim-0001` (`docs/labels.md`): a version tag, then
//! `key=value` pairs with `%`, `;` and `=` (and any byte outside printable ASCII) percent-
//! escaped, so a scanner reads it back without a URL or JSON parser.
//!
//! The ZPL, the outputs and the preview are the service's (`station_service::labels`).

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::devices::Device;
use crate::error::{CoreError, Result};
use crate::settings::{self, key};
use crate::store::{now, KeyValueTable, Store};

/// The version tag that opens every QR payload.
pub const QR_PAYLOAD_TAG: &str = "DH1";
/// The smallest and largest label the station lays out, in millimetres (a 4-inch printer's
/// print width is 104 mm).
pub const WIDTH_MM: (u16, u16) = (20, 110);
pub const HEIGHT_MM: (u16, u16) = (10, 300);
/// The print resolutions of thermal label printers, in dots per inch.
pub const DPI_CHOICES: [u16; 3] = [203, 300, 600];
/// The raw-printing port of network label printers (JetDirect / "port 9100").
pub const DEFAULT_RAW_PORT: u16 = 9100;
/// The longest CUPS queue name the station takes (CUPS allows 127 bytes).
pub const MAX_QUEUE_CHARS: usize = 127;
/// Names that are secrets of a device: a template naming one is refused with its own words.
const SECRET_NAMES: &[&str] = &[
    "password",
    "mqtt_password",
    "password_hash",
    "mqtt_password_hash",
    "hash",
    "api_key",
    "apikey",
    "token",
    "secret",
];

/// A field a label may show: every one is public in the device's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum LabelField {
    DeviceId,
    Name,
    DeviceType,
    HardwareId,
    MqttUsername,
}

impl LabelField {
    pub const ALL: [LabelField; 5] = [
        LabelField::DeviceId,
        LabelField::Name,
        LabelField::DeviceType,
        LabelField::HardwareId,
        LabelField::MqttUsername,
    ];

    /// The stored and typed name.
    pub fn as_str(self) -> &'static str {
        match self {
            LabelField::DeviceId => "device_id",
            LabelField::Name => "name",
            LabelField::DeviceType => "device_type",
            LabelField::HardwareId => "hardware_id",
            LabelField::MqttUsername => "mqtt_username",
        }
    }

    /// The key in the QR payload.
    pub fn qr_key(self) -> &'static str {
        match self {
            LabelField::DeviceId => "id",
            LabelField::Name => "n",
            LabelField::DeviceType => "t",
            LabelField::HardwareId => "hw",
            LabelField::MqttUsername => "u",
        }
    }

    /// The caption printed before the value (the device id is printed large, uncaptioned).
    pub fn caption(self) -> &'static str {
        match self {
            LabelField::DeviceId => "",
            LabelField::Name => "",
            LabelField::DeviceType => "Type",
            LabelField::HardwareId => "HW",
            LabelField::MqttUsername => "MQTT",
        }
    }

    /// A field by name; a secret's name is refused as one, any other unknown name with the list.
    pub fn parse(name: &str) -> Result<LabelField> {
        let name = name.trim();
        if let Some(f) = LabelField::ALL.into_iter().find(|f| f.as_str() == name) {
            return Ok(f);
        }
        let fields = LabelField::ALL.map(LabelField::as_str).join(", ");
        if SECRET_NAMES.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(CoreError::invalid(
                "label field",
                format!("'{name}' is a secret: a label never shows it"),
                format!("choose from the fields a label may show: {fields}"),
            ));
        }
        Err(CoreError::invalid(
            "label field",
            format!("'{}' is not a label field", name.escape_default()),
            format!("choose from: {fields}"),
        ))
    }

    /// This field's value on `device` (empty when the record has none yet).
    pub fn value(self, device: &Device) -> String {
        match self {
            LabelField::DeviceId => device.device_id.clone(),
            LabelField::Name => device.name.clone(),
            LabelField::DeviceType => device.device_type.clone(),
            LabelField::HardwareId => device.hardware_id.clone().unwrap_or_default(),
            LabelField::MqttUsername => device.mqtt_username.clone(),
        }
    }
}

/// How a device type's label looks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LabelTemplate {
    pub width_mm: u16,
    pub height_mm: u16,
    pub dpi: u16,
    /// Printed top to bottom, and the QR code's payload in this order.
    pub fields: Vec<LabelField>,
    /// A QR code of the fields at the label's right.
    pub qr: bool,
}

impl Default for LabelTemplate {
    /// 50 × 25 mm at 203 dpi, the common small asset label: id, type, hardware id and a QR code.
    fn default() -> Self {
        LabelTemplate {
            width_mm: 50,
            height_mm: 25,
            dpi: 203,
            fields: vec![
                LabelField::DeviceId,
                LabelField::DeviceType,
                LabelField::HardwareId,
            ],
            qr: true,
        }
    }
}

impl LabelTemplate {
    /// Refuse a template the station cannot print: a size out of range, an unknown
    /// resolution, no field or a field twice.
    pub fn validate(&self) -> Result<()> {
        let in_range = |v: u16, (lo, hi): (u16, u16)| (lo..=hi).contains(&v);
        if !in_range(self.width_mm, WIDTH_MM) || !in_range(self.height_mm, HEIGHT_MM) {
            return Err(CoreError::invalid(
                "label size",
                format!(
                    "{} × {} mm is not a label size the station prints",
                    self.width_mm, self.height_mm
                ),
                format!(
                    "give a width from {} to {} mm and a height from {} to {} mm",
                    WIDTH_MM.0, WIDTH_MM.1, HEIGHT_MM.0, HEIGHT_MM.1
                ),
            ));
        }
        if !DPI_CHOICES.contains(&self.dpi) {
            return Err(CoreError::invalid(
                "label resolution",
                format!("{} dpi is not a label printer's resolution", self.dpi),
                "use 203, 300 or 600 dpi, as the printer's specification says",
            ));
        }
        if self.fields.is_empty() {
            return Err(CoreError::invalid(
                "label fields",
                "the label shows no field",
                "choose at least one field, e.g. device_id",
            ));
        }
        for (i, f) in self.fields.iter().enumerate() {
            if self.fields[..i].contains(f) {
                return Err(CoreError::invalid(
                    "label fields",
                    format!("{} is named twice", f.as_str()),
                    "name each field once",
                ));
            }
        }
        Ok(())
    }

    /// Dots per millimetre (203 dpi is 8 dots/mm).
    pub fn dots_per_mm(&self) -> u32 {
        (u32::from(self.dpi) * 10 + 127) / 254
    }

    pub fn width_dots(&self) -> u32 {
        u32::from(self.width_mm) * self.dots_per_mm()
    }

    pub fn height_dots(&self) -> u32 {
        u32::from(self.height_mm) * self.dots_per_mm()
    }

    /// The fields as stored and typed: `device_id,device_type`.
    pub fn fields_text(&self) -> String {
        self.fields
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Fields from their comma-separated names.
    pub fn parse_fields(text: &str) -> Result<Vec<LabelField>> {
        text.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(LabelField::parse)
            .collect()
    }
}

/// The QR payload of `device` under `template` (module docs for the format).
pub fn qr_payload(template: &LabelTemplate, device: &Device) -> String {
    let mut out = String::from(QR_PAYLOAD_TAG);
    for f in &template.fields {
        out.push(';');
        out.push_str(f.qr_key());
        out.push('=');
        escape_payload_value(&f.value(device), &mut out);
    }
    out
}

fn escape_payload_value(value: &str, out: &mut String) {
    for b in value.bytes() {
        if b.is_ascii_graphic() && !matches!(b, b'%' | b';' | b'=') || b == b' ' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Where labels go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum LabelOutput {
    /// ZPL over raw TCP to a network printer (port 9100).
    Network,
    /// ZPL through the system print queue: CUPS `lp -d QUEUE -o raw`.
    Queue,
}

impl LabelOutput {
    pub const ALL: [LabelOutput; 2] = [LabelOutput::Network, LabelOutput::Queue];
    pub const NAMES: [&'static str; 2] = ["network", "queue"];

    pub fn as_str(self) -> &'static str {
        match self {
            LabelOutput::Network => "network",
            LabelOutput::Queue => "queue",
        }
    }

    pub fn parse(name: &str) -> Option<LabelOutput> {
        LabelOutput::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

/// The label printer as the settings have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LabelPrinter {
    pub output: LabelOutput,
    /// `host` or `host:port` of a network printer (port 9100 when none); empty: none set.
    pub address: String,
    /// The CUPS queue; empty: none set.
    pub queue: String,
    /// Print a label after every PASS.
    pub on_pass: bool,
}

/// A network printer's address: `host` or `host:port`, no scheme, no spaces.
pub fn validate_printer_address(value: &str) -> Result<()> {
    if value.is_empty() {
        return Ok(());
    }
    let refuse = || {
        CoreError::invalid(
            "label printer",
            format!("'{}' is not a printer address", value.escape_default()),
            "give the printer's host name or IP address, optionally with :port \
             (e.g. 192.168.1.50 or zebra-3.local:9100)",
        )
    };
    let (host, port) = split_address(value).ok_or_else(refuse)?;
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'));
    if !host_ok || port == 0 {
        return Err(refuse());
    }
    Ok(())
}

/// `host[:port]` (an IPv6 address in brackets) as host and port, 9100 when none is given.
pub fn split_address(value: &str) -> Option<(&str, u16)> {
    if let Some(rest) = value.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        return match tail.strip_prefix(':') {
            Some(p) => Some((host, p.parse().ok()?)),
            None if tail.is_empty() => Some((host, DEFAULT_RAW_PORT)),
            None => None,
        };
    }
    match value.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Some((host, port.parse().ok()?)),
        Some(_) => None,
        None => Some((value, DEFAULT_RAW_PORT)),
    }
}

/// A CUPS queue name: printable, no space, `/` or `#` (CUPS' own rule), at most 127 bytes.
pub fn validate_queue(value: &str) -> Result<()> {
    let ok = value.len() <= MAX_QUEUE_CHARS
        && !value.starts_with('-')
        && value
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '/' | '#' | '\\' | '\'' | '"'));
    if !ok {
        return Err(CoreError::invalid(
            "print queue",
            format!("'{}' is not a print queue name", value.escape_default()),
            "give the queue's name as the system lists it (lpstat -p), e.g. zebra_line3",
        ));
    }
    Ok(())
}

impl Store {
    /// The label template of device type `type_name`: its own, else the default.
    pub fn label_template(&self, type_name: &str) -> Result<LabelTemplate> {
        let t = self.find_type(type_name)?;
        let row = self
            .conn()
            .query_row(
                "SELECT width_mm, height_mm, dpi, fields, qr FROM label_templates
                 WHERE type_id = ?1",
                [t.id],
                |r| {
                    Ok((
                        r.get::<_, u16>(0)?,
                        r.get::<_, u16>(1)?,
                        r.get::<_, u16>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, bool>(4)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.sql_err(e))?;
        let Some((width_mm, height_mm, dpi, fields, qr)) = row else {
            return Ok(LabelTemplate::default());
        };
        Ok(LabelTemplate {
            width_mm,
            height_mm,
            dpi,
            fields: LabelTemplate::parse_fields(&fields)?,
            qr,
        })
    }

    /// Give device type `type_name` its own template, after checking it; a refused template
    /// changes nothing.
    pub fn set_label_template(&mut self, type_name: &str, template: &LabelTemplate) -> Result<()> {
        template.validate()?;
        let t = self.find_type(type_name)?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO label_templates(type_id, width_mm, height_mm, dpi, fields, qr,
                     updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(type_id) DO UPDATE SET width_mm = excluded.width_mm,
                     height_mm = excluded.height_mm, dpi = excluded.dpi,
                     fields = excluded.fields, qr = excluded.qr, updated_at = excluded.updated_at",
                params![
                    t.id,
                    template.width_mm,
                    template.height_mm,
                    template.dpi,
                    template.fields_text(),
                    template.qr,
                    now()
                ],
            )?;
            Ok(())
        })
    }

    /// Store the label printer: every value is checked by its setting's rule first, and all
    /// are written in one transaction, so a refused one (or a failed write) changes nothing.
    pub fn set_label_printer(&mut self, printer: &LabelPrinter) -> Result<LabelPrinter> {
        let values = [
            (key::LABEL_OUTPUT, printer.output.as_str().to_owned()),
            (key::LABEL_PRINTER, printer.address.trim().to_owned()),
            (key::LABEL_QUEUE, printer.queue.trim().to_owned()),
            (
                key::LABEL_ON_PASS,
                settings::on_off(printer.on_pass).to_owned(),
            ),
        ];
        for (k, v) in &values {
            settings::find(k)?.check(v)?;
        }
        let entries: Vec<(&str, Option<&str>)> =
            values.iter().map(|(k, v)| (*k, Some(v.as_str()))).collect();
        self.set_key_values(KeyValueTable::Settings, &entries)?;
        self.label_printer()
    }

    /// The label printer as set (a stored value its rule now refuses reads as the default).
    pub fn label_printer(&self) -> Result<LabelPrinter> {
        let output = self.valid_setting_value(key::LABEL_OUTPUT)?;
        Ok(LabelPrinter {
            output: LabelOutput::parse(&output).unwrap_or(LabelOutput::Network),
            address: self.valid_setting_value(key::LABEL_PRINTER)?,
            queue: self.valid_setting_value(key::LABEL_QUEUE)?,
            on_pass: settings::is_on(&self.valid_setting_value(key::LABEL_ON_PASS)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_cannot_be_named_as_a_label_field() {
        for secret in [
            "password",
            "api_key",
            "mqtt_password_hash",
            "API_KEY",
            "token",
        ] {
            let e = LabelField::parse(secret).expect_err(secret);
            assert!(e.to_string().contains("secret"), "{e}");
            assert!(e.help().contains("device_id"), "{}", e.help());
        }
        let e = LabelField::parse("colour").expect_err("unknown");
        assert!(e.to_string().contains("not a label field"), "{e}");
        for f in LabelField::ALL {
            assert_eq!(LabelField::parse(f.as_str()).expect("known"), f);
        }
    }

    #[test]
    fn templates_out_of_range_are_refused() {
        let ok = LabelTemplate::default();
        ok.validate().expect("the default is printable");
        assert_eq!(ok.width_dots(), 400, "50 mm at 203 dpi");
        let bad = [
            LabelTemplate {
                width_mm: 5,
                ..ok.clone()
            },
            LabelTemplate {
                height_mm: 400,
                ..ok.clone()
            },
            LabelTemplate {
                dpi: 250,
                ..ok.clone()
            },
            LabelTemplate {
                fields: vec![],
                ..ok.clone()
            },
            LabelTemplate {
                fields: vec![LabelField::DeviceId, LabelField::DeviceId],
                ..ok.clone()
            },
        ];
        for t in bad {
            let e = t.validate().expect_err("refused");
            assert_eq!(e.code(), crate::ErrorCode::InvalidInput);
            assert!(!e.help().is_empty());
        }
    }

    #[test]
    fn a_refused_printer_value_changes_none_of_the_printer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path().join("s.db")).expect("open");
        let good = LabelPrinter {
            output: LabelOutput::Network,
            address: " zebra-3.local:9100 ".into(),
            queue: String::new(),
            on_pass: true,
        };
        let stored = store.set_label_printer(&good).expect("set");
        assert_eq!(stored.address, "zebra-3.local:9100", "trimmed");
        assert!(stored.on_pass);
        // Output, queue and on-pass are fine; the address is not: nothing of it is written.
        let bad = LabelPrinter {
            output: LabelOutput::Queue,
            address: "a b".into(),
            queue: "zebra".into(),
            on_pass: false,
        };
        let e = store.set_label_printer(&bad).expect_err("refused");
        assert_eq!(e.code(), crate::ErrorCode::InvalidInput);
        assert_eq!(store.label_printer().expect("read"), stored);
    }

    #[test]
    fn printer_addresses_and_queues() {
        for good in ["192.168.1.50", "zebra-3.local:9100", "[::1]:9101", ""] {
            validate_printer_address(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in ["http://x", "a b", "host:0", "host:99999", "::1"] {
            validate_printer_address(bad).expect_err(bad);
        }
        assert_eq!(
            split_address("p.local"),
            Some(("p.local", DEFAULT_RAW_PORT))
        );
        assert_eq!(split_address("[::1]:9101"), Some(("::1", 9101)));
        for good in ["zebra_line3", "Zebra-GK420d"] {
            validate_queue(good).expect(good);
        }
        for bad in ["a b", "a/b", "-o", "x#1"] {
            validate_queue(bad).expect_err(bad);
        }
    }

    #[test]
    fn qr_payload_escapes_its_separators() {
        let mut out = String::new();
        escape_payload_value("a;b=c%d é", &mut out);
        assert_eq!(out, "a%3Bb%3Dc%25d %C3%A9");
    }
}
