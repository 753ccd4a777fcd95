//! What the Station screen flashes, on which ports: kept in the station's database so a
//! restart keeps it (issue 14, finding 3). State, not a setting: it is not in the registry.

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::store::{KeyValueTable, Store};

/// Where the choice is kept.
const SETTING_STATION_CHOICE: &str = "app.station_choice";

/// The Station screen's choice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct StationChoice {
    /// What to flash; `None`: nothing chosen.
    pub target: Option<ChoiceTarget>,
    /// The id prefix for new devices of a type.
    pub prefix: String,
    /// The selected ports (the gang), in the order chosen.
    pub ports: Vec<String>,
    /// Ports typed by path (the OS does not list them).
    pub typed_ports: Vec<String>,
}

/// What to flash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChoiceTarget {
    /// The next devices of a batch.
    Batch { batch_id: i64 },
    /// New devices of a type.
    Type { name: String },
}

impl Store {
    /// The Station screen's last choice; an unreadable one reads as nothing chosen.
    pub fn station_choice(&self) -> Result<StationChoice> {
        Ok(self
            .setting(SETTING_STATION_CHOICE)?
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default())
    }

    /// Keep the Station screen's choice for the next start.
    pub fn remember_station_choice(&mut self, choice: &StationChoice) -> Result<()> {
        let json = serde_json::to_string(choice)
            .map_err(|e| CoreError::Internal(format!("cannot encode the station choice: {e}")))?;
        self.set_key_values(
            KeyValueTable::Settings,
            &[(SETTING_STATION_CHOICE, Some(&json))],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_choice_survives_reopening_the_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let choice = StationChoice {
            target: Some(ChoiceTarget::Batch { batch_id: 7 }),
            prefix: "line3-".into(),
            ports: vec!["/dev/ttyUSB1".into(), "/dev/ttyUSB0".into()],
            typed_ports: vec!["/dev/ttyS4".into()],
        };
        Store::open(&path)
            .expect("open")
            .remember_station_choice(&choice)
            .expect("remember");
        let again = Store::open(&path).expect("reopen");
        assert_eq!(again.station_choice().expect("read"), choice);
    }
}
