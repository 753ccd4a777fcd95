//! What the service's test binaries share: a station database on a real SQLite file, set up
//! as a line would have it (a station name, a fast hash, one device type).

use std::path::{Path, PathBuf};

use station_core::settings::key;
use station_core::{NewDeviceType, Store};
use station_service::{Flasher, FlasherOptions};

/// The hash the tests flash with: Django-compatible, fast enough for many flashes.
pub const FAST_HASH: &str = "pbkdf2_sha256:iterations=1000";

/// Create the station database at `db`: station `line-1`, [`FAST_HASH`], type WeatherStation.
pub fn station_database(db: &Path) {
    let mut store = Store::open(db).expect("open");
    store
        .set_setting(key::HASH_ALGORITHM, FAST_HASH)
        .expect("hash");
    store
        .set_setting(key::STATION_ID, "line-1")
        .expect("station");
    store
        .add_type(NewDeviceType {
            name: "WeatherStation".into(),
            app_label: "myapp".into(),
            ..Default::default()
        })
        .expect("type");
}

/// The flasher the tests drive, operated by `tester`; `unit_type` names the driver for jobs
/// that name no device (`FlasherOptions::unit_type`).
#[allow(dead_code)] // not every test binary drives a flasher
pub fn flasher(db: PathBuf, unit_type: Option<&str>) -> Flasher {
    Flasher::new(
        db,
        FlasherOptions {
            operator: Some("tester".into()),
            unit_type: unit_type.map(str::to_owned),
            ..FlasherOptions::default()
        },
    )
}
