//! The station settings the app's screens read as one record (operator, sounds, auto-flash,
//! the simulated bench) and which device a batch flashes next.
//!
//! The app's settings live in the same `settings` table as the station's, under their own
//! keys, registered with their defaults and rules in [`crate::settings`]. The server's URL and token are the sync
//! configuration ([`crate::store::sync_config`]), the one place the sync engine reads; the
//! token is a secret of the station: nothing here returns it, only whether one is set.

use rusqlite::OptionalExtension;
use serde::Serialize;

use crate::appearance::{Language, Theme};
use crate::error::Result;
use crate::settings::{self, key, SimFault};
use crate::store::Store;

pub use crate::settings::{MAX_SIM_PORTS, SIM_FAULTS};

/// The app's settings as the app shows them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AppSettings {
    pub operator: String,
    pub sounds: bool,
    pub auto_flash: bool,
    pub sim_ports: u32,
    pub sim_fault: SimFault,
    pub language: Language,
    pub theme: Theme,
}

impl Store {
    /// The app's settings as they take effect, each read through the registry
    /// ([`crate::settings`]); a stored value the registry's rule no longer accepts (written by
    /// an older station) reads as the default.
    pub fn app_settings(&self) -> Result<AppSettings> {
        Ok(AppSettings {
            operator: self.setting_value(key::OPERATOR)?,
            sounds: settings::is_on(&self.valid_setting_value(key::SOUNDS)?),
            auto_flash: settings::is_on(&self.valid_setting_value(key::AUTO_FLASH)?),
            sim_ports: self
                .valid_setting_value(key::SIM_PORTS)?
                .parse()
                .unwrap_or(1),
            sim_fault: SimFault::parse(&self.valid_setting_value(key::SIM_FAULT)?),
            language: Language::parse(&self.valid_setting_value(key::LANGUAGE)?),
            theme: Theme::parse(&self.valid_setting_value(key::THEME)?),
        })
    }

    /// The device the next flash of `batch_id` takes, if any is left.
    pub fn next_in_batch(&self, batch_id: i64) -> Result<Option<String>> {
        self.next_in_batch_of(&self.find_batch(batch_id)?)
    }

    /// The same for a batch already read (a list of batches need not read each one again):
    /// none for a batch that is not open.
    pub fn next_in_batch_of(
        &self,
        batch: &crate::batches::BatchProgress,
    ) -> Result<Option<String>> {
        if batch.batch.state != crate::batches::BatchState::Open {
            return Ok(None);
        }
        let batch_id = batch.batch.id;
        self.conn()
            .query_row(
                &format!(
                    "SELECT device_id FROM devices WHERE {} ORDER BY id_number, id LIMIT 1",
                    crate::rotation::LEFT_IN_BATCH
                ),
                [batch_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql_err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("s.db")).expect("open");
        (dir, store)
    }

    #[test]
    fn app_settings_read_through_the_registry() {
        let (_d, mut s) = store();
        s.set_setting(key::SIM_PORTS, "8").expect("ports");
        s.set_setting(key::SOUNDS, "off").expect("sounds");
        s.set_setting(key::AUTO_FLASH, "on").expect("auto-flash");
        s.set_setting(key::SIM_FAULT, "no_answer").expect("fault");
        s.set_setting(key::OPERATOR, "badge-4711")
            .expect("operator");
        s.set_setting(key::LANGUAGE, "zh-CN").expect("language");
        s.set_setting(key::THEME, "dark").expect("theme");
        let a = s.app_settings().expect("settings");
        assert_eq!(
            a,
            AppSettings {
                operator: "badge-4711".into(),
                sounds: false,
                auto_flash: true,
                sim_ports: 8,
                sim_fault: SimFault::NoAnswer,
                language: Language::SimplifiedChinese,
                theme: Theme::Dark,
            }
        );
    }

    #[test]
    fn a_stored_app_setting_the_rules_refuse_reads_as_its_default() {
        let (_d, mut s) = store();
        s.set_key_values(
            crate::store::KeyValueTable::Settings,
            &[
                (key::SIM_PORTS, Some("99")),
                (key::SOUNDS, Some("loud")),
                (key::SIM_FAULT, Some("explode")),
                (key::LANGUAGE, Some("tlh")),
                (key::THEME, Some("neon")),
            ],
        )
        .expect("write old values");
        let a = s.app_settings().expect("settings");
        assert_eq!((a.language, a.theme), (Language::Auto, Theme::Auto));
        assert_eq!(
            (a.sim_ports, a.sounds, a.sim_fault.as_str()),
            (1, true, "none")
        );
    }
}
