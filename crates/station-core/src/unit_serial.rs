//! Scan to link: the unit's own serial number or MAC address, read from its label (a
//! keyboard-wedge scanner types it and Enter), recorded on the device it holds. One unit
//! serial belongs to at most one active device; it is searchable, exported, and sent to the
//! central server in the device's record (`metadata.unit_serial`).

use rusqlite::{params, OptionalExtension};

use crate::devices::{enqueue_sync, event, record_event, Actor, Device};
use crate::error::{CoreError, Result};
use crate::store::{now, Store};

/// The longest serial a label carries that the station records.
pub const MAX_UNIT_SERIAL_CHARS: usize = 64;
/// The characters a serial may hold besides ASCII letters and digits.
const UNIT_SERIAL_PUNCTUATION: &[char] = &['-', '_', ':', '.', '/'];

/// The serial as recorded: trimmed; a MAC address (12 hex digits, with `:`/`-` or without
/// separators) in one form, `AA:BB:CC:DD:EE:FF`, so the same MAC scanned twice is the same unit.
pub fn normalize(raw: &str) -> Result<String> {
    let serial = raw.trim();
    let fix =
        "scan the unit's serial or MAC label again, or type it: letters, digits and - _ : . / only";
    if serial.is_empty() {
        return Err(CoreError::invalid("unit serial", "the scan is empty", fix));
    }
    if serial.chars().count() > MAX_UNIT_SERIAL_CHARS {
        return Err(CoreError::invalid(
            "unit serial",
            format!("the scan is longer than {MAX_UNIT_SERIAL_CHARS} characters"),
            fix,
        ));
    }
    if let Some(bad) = serial
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !UNIT_SERIAL_PUNCTUATION.contains(c))
    {
        return Err(CoreError::invalid(
            "unit serial",
            format!("the scan holds '{}'", bad.escape_default()),
            fix,
        ));
    }
    Ok(as_mac(serial).unwrap_or_else(|| serial.to_owned()))
}

/// `serial` as `AA:BB:CC:DD:EE:FF` when it is a MAC address.
fn as_mac(serial: &str) -> Option<String> {
    let digits: String = serial.chars().filter(|c| !matches!(c, ':' | '-')).collect();
    let separators = serial.len() - digits.len();
    let separated = separators == 5
        && serial
            .chars()
            .enumerate()
            .all(|(i, c)| (i % 3 == 2) == matches!(c, ':' | '-'));
    if digits.len() != 12 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    if separators != 0 && !separated {
        return None;
    }
    let upper = digits.to_ascii_uppercase();
    Some(
        upper
            .as_bytes()
            .chunks(2)
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect::<Vec<_>>()
            .join(":"),
    )
}

impl Store {
    /// The active device a unit serial is linked to, if any.
    pub fn device_by_unit_serial(&self, serial: &str) -> Result<Option<String>> {
        let serial = normalize(serial)?;
        self.conn()
            .query_row(
                "SELECT device_id FROM devices WHERE unit_serial = ?1 AND is_active = 1",
                [serial],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql_err(e))
    }

    /// Record `serial` (the unit's label) on `device_id`. Refused, changing nothing, when
    /// another active device already has it or the device is deactivated; linking the same
    /// serial again changes nothing; a different serial replaces the old one, in the history.
    pub fn link_unit_serial(
        &mut self,
        device_id: &str,
        serial: &str,
        actor: &Actor,
    ) -> Result<Device> {
        let serial = normalize(serial)?;
        let device = self.find_device(device_id)?;
        if !device.is_active {
            return Err(CoreError::Conflict {
                problem: format!("Device {device_id} is deactivated."),
                fix: "link the unit to an active device".into(),
            });
        }
        if device.unit_serial.as_deref() == Some(serial.as_str()) {
            return Ok(device);
        }
        self.write(|tx| {
            let holder: Option<String> = tx
                .query_row(
                    "SELECT device_id FROM devices
                     WHERE unit_serial = ?1 AND is_active = 1 AND id != ?2",
                    params![serial, device.pk],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(holder) = holder {
                return Err(duplicate(&serial, &holder));
            }
            tx.execute(
                "UPDATE devices SET unit_serial = ?2, updated_at = ?3 WHERE id = ?1",
                params![device.pk, serial, now()],
            )?;
            let detail = match &device.unit_serial {
                Some(old) => format!("unit serial {serial} (was {old})"),
                None => format!("unit serial {serial}"),
            };
            record_event(
                tx,
                device.pk,
                event::UNIT_LINKED,
                Some(device.generation),
                &detail,
                actor,
            )?;
            // The central server learns the serial with the device's next record (its
            // metadata); a device never flashed has no record to send yet.
            if device.generation > 0 {
                enqueue_sync(tx, device.pk, device.generation)?;
            }
            Ok(())
        })?;
        self.find_device(device_id)
    }
}

fn duplicate(serial: &str, holder: &str) -> CoreError {
    CoreError::Conflict {
        problem: format!("Unit serial {serial} is already linked to device {holder}."),
        fix: format!(
            "scan the label of the unit in hand; if {holder} was scrapped, deactivate it first"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mac_is_recorded_in_one_form_and_other_serials_as_scanned() {
        assert_eq!(
            normalize(" aa-bb-cc-dd-ee-0f\n").expect("valid"),
            "AA:BB:CC:DD:EE:0F"
        );
        assert_eq!(
            normalize("aabbccddee0f").expect("valid"),
            "AA:BB:CC:DD:EE:0F"
        );
        assert_eq!(normalize("SN-2026/0042").expect("valid"), "SN-2026/0042");
        assert_eq!(
            normalize("12345678901a").expect("valid"),
            "12:34:56:78:90:1A"
        );
        assert_eq!(
            normalize("a:bb:cc:dd:ee:ff0").expect("valid"),
            "a:bb:cc:dd:ee:ff0"
        );
    }

    #[test]
    fn a_bad_scan_is_refused_naming_the_problem() {
        for bad in ["", "   ", "SN 42", "x\u{7}", &"9".repeat(65)] {
            let e = normalize(bad).expect_err(bad);
            assert!(e.to_string().starts_with("invalid unit serial"), "{e}");
        }
    }
}
