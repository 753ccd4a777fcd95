//! Shared setup for the core's integration tests: real SQLite files in a temporary folder.
#![allow(dead_code)]

use station_core::{Actor, NewDeviceType, Store};

/// Argon2 parameters small enough for tests; the Django-default ones are exercised by the
/// interop test and the benchmark.
pub const FAST_HASH: &str = "argon2:m=64,t=1,p=1";

pub struct TestStore {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub actor: Actor,
}

pub fn store() -> TestStore {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path().join("station.sqlite3")).expect("open store");
    store
        .set_setting("hash_algorithm", FAST_HASH)
        .expect("hash setting");
    store
        .set_setting("station_id", "line-1")
        .expect("station id");
    store
        .add_type(NewDeviceType {
            name: "WeatherStation".into(),
            app_label: "myapp".into(),
            ..Default::default()
        })
        .expect("add type");
    let actor = Actor::new("alice", "line-1").expect("actor");
    TestStore { dir, store, actor }
}
