//! Training mode: simulated units, a database of its own, nothing synced.
//!
//! Flashing a simulated unit is training, never production: its records live in the training
//! database, `training.sqlite3` beside the station's own database, which is marked as such when
//! it is made (`station_core::store::training`): the store refuses to configure sync on it and
//! reads no sync configuration from it, so no worker, lease or `sync now` can send what it holds
//! to a server, and the production database never sees a simulated flash. The flasher has a
//! simulated bench only in training mode, and flashes a `sim:` port only into a training
//! database ([`crate::flasher`]).
//!
//! Where the station runs in training mode: the app while its `app.training` setting (kept in
//! the production database) is on, showing a "TRAINING" banner throughout; the CLI with
//! `--training`. Device types are copied from the production database on the way in, so a
//! trainee flashes the types the line makes; nothing is ever copied back.

use std::path::{Path, PathBuf};

use station_core::settings::{self, key};
use station_core::{CoreError, NewDeviceType, Result, Store};

use crate::bench::SIM_AVAILABLE;

/// The training database's file name, in the folder of the station's own database.
pub const TRAINING_DB_FILE: &str = "training.sqlite3";

/// Which database the station works on, and whether simulated units exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The station's own database, real units only; records sync when sync is configured.
    #[default]
    Production,
    /// The training database and the simulated bench; nothing ever syncs.
    Training,
}

impl Mode {
    pub fn is_training(self) -> bool {
        self == Mode::Training
    }
}

/// The training database that belongs to the station database `production_db`.
pub fn training_db_path(production_db: &Path) -> Result<PathBuf> {
    let path = production_db.with_file_name(TRAINING_DB_FILE);
    if path == production_db {
        return Err(CoreError::Refused {
            problem: format!(
                "the station's database is itself named {TRAINING_DB_FILE}, so training has no \
                 database of its own"
            ),
            fix: "give the station's database another name (STATION_DB or --db)".into(),
        });
    }
    Ok(path)
}

/// The database `mode` works on, opened: in training, the training database (made, marked and
/// given the production database's device types on the way).
pub fn open(production_db: &Path, mode: Mode) -> Result<Store> {
    match mode {
        Mode::Production => {
            let store = Store::open(production_db)?;
            if store.is_training()? {
                return Err(CoreError::Refused {
                    problem: format!(
                        "{} is a training database, not a station's own database",
                        production_db.display()
                    ),
                    fix: "open the station's database, and use training mode for training".into(),
                });
            }
            Ok(store)
        }
        Mode::Training => {
            let mut training = Store::open(training_db_path(production_db)?)?;
            training.mark_training()?;
            if production_db.exists() {
                copy_types(&Store::open(production_db)?, &mut training)?;
            }
            Ok(training)
        }
    }
}

/// Add to `training` the device types of `production` it lacks. Types hold no secret.
fn copy_types(production: &Store, training: &mut Store) -> Result<()> {
    let have: Vec<String> = training.list_types()?.into_iter().map(|t| t.name).collect();
    for t in production.list_types()? {
        if have.contains(&t.name) {
            continue;
        }
        training.add_type(NewDeviceType {
            name: t.name,
            app_label: t.app_label,
            topic_prefix: Some(t.topic_prefix),
            topic_template: Some(t.topic_template),
            broker_host: Some(t.broker_host),
            broker_port: Some(t.broker_port),
            broker_tls: Some(t.broker_tls),
            driver: Some(t.driver),
        })?;
    }
    Ok(())
}

/// The mode the app runs in, as kept in the station's own database.
pub fn app_mode(production: &Store) -> Result<Mode> {
    let on = settings::is_on(&production.setting_value(key::TRAINING)?);
    Ok(if on { Mode::Training } else { Mode::Production })
}

/// Make the app run in `mode` from its next start; kept in the station's own database.
pub fn set_app_mode(production_db: &Path, mode: Mode) -> Result<()> {
    let mut production = Store::open(production_db)?;
    let value = if mode.is_training() { "on" } else { "off" };
    production.set_setting(key::TRAINING, value)
}

/// How many simulated ports to offer beside `real_ports` real ones: in training, the
/// configured bench; outside it, a port only while no real one exists (so a new station shows
/// where training is: a flash on it says to turn training mode on); none where simulated units
/// cannot run.
pub fn simulated_ports_offered(mode: Mode, real_ports: usize, configured: u32) -> u32 {
    if !SIM_AVAILABLE {
        return 0;
    }
    match mode {
        Mode::Training => configured.max(1),
        Mode::Production if real_ports == 0 => 1,
        Mode::Production => 0,
    }
}

/// Why a simulated port is refused outside training mode.
pub fn simulated_needs_training(port: &str) -> CoreError {
    CoreError::Refused {
        problem: format!(
            "{port} is a simulated unit, and simulated units flash only in training mode, whose \
             records never reach the server"
        ),
        fix: "turn training mode on (the app's Settings, or `station --training`), or pick a \
              real port"
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_1_real_ports_hide_the_simulated_port_outside_training() {
        let sim = u32::from(SIM_AVAILABLE);
        assert_eq!(simulated_ports_offered(Mode::Production, 2, 4), 0);
        assert_eq!(simulated_ports_offered(Mode::Production, 0, 4), sim);
        assert_eq!(simulated_ports_offered(Mode::Training, 2, 4), 4 * sim);
        assert_eq!(simulated_ports_offered(Mode::Training, 0, 1), sim);
    }

    #[test]
    fn the_training_database_sits_beside_the_station_database() {
        let p = training_db_path(Path::new("/data/station.sqlite3")).expect("path");
        assert_eq!(p, Path::new("/data/training.sqlite3"));
        assert!(training_db_path(Path::new("/data/training.sqlite3")).is_err());
    }
}
