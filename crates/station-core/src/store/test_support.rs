//! A store for the unit tests of the sync modules: a fresh database with one device type and
//! fast hashes, and a helper that creates a batch of it.

use crate::{Actor, BatchRequest, NewDeviceType, Store};

pub(crate) fn store() -> (tempfile::TempDir, Store, Actor) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path().join("s.db")).expect("open");
    store
        .set_setting("hash_algorithm", "pbkdf2_sha256:iterations=1000")
        .expect("fast hashes");
    store
        .add_type(NewDeviceType {
            name: "WeatherStation".into(),
            app_label: "myapp".into(),
            ..NewDeviceType::default()
        })
        .expect("type");
    (dir, store, Actor::new("tester", "line-1").expect("actor"))
}

pub(crate) fn batch(
    store: &mut Store,
    actor: &Actor,
    count: u32,
    with_credentials: bool,
) -> Vec<String> {
    store
        .create_batch(
            &BatchRequest {
                device_type: "WeatherStation".into(),
                prefix: "farm-".into(),
                count,
                with_credentials,
                lot: None,
                work_order: None,
            },
            actor,
        )
        .expect("batch")
        .devices
        .into_iter()
        .map(|d| d.device_id)
        .collect()
}
