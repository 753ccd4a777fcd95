//! Benchmark: provisioning over serial at an emulated 115200 baud (the simulator paces both
//! directions like a real UART), against the baseline of the pure wire time of the bytes that
//! crossed the line; round trips per flash; and gang throughput for 1, 4 and 8 units.
//!
//!     cargo bench -p station-core --bench flash [-- DEVICES_PER_UNIT]
//!
//! Hashing is excluded (PBKDF2 with one round), so what is measured is the protocol and the
//! station's bookkeeping; Argon2's cost is `benches/provision.sh`'s subject.

use std::time::Instant;

use station_core::flash::FlashJob;
use station_core::gang;
use station_core::hooks::Hooks;
use station_core::{Actor, BatchRequest, FlashTarget, NewDeviceType, Store};
use station_devsim::{SimOptions, Simulator};
use station_protocol::wire_time;

const BAUD: u32 = 115_200;

fn setup(dir: &std::path::Path, count: u32) -> (Store, Actor, i64) {
    let mut store = Store::open(dir.join("bench.sqlite3")).expect("store");
    store
        .set_setting("hash_algorithm", "pbkdf2_sha256:iterations=1")
        .expect("hash");
    store
        .add_type(NewDeviceType {
            name: "WeatherStation".into(),
            app_label: "myapp".into(),
            broker_host: Some("mqtt.factory.local".into()),
            ..Default::default()
        })
        .expect("type");
    let actor = Actor::new("bench", "bench-station").expect("actor");
    let batch = store
        .create_batch(
            &BatchRequest {
                device_type: "WeatherStation".into(),
                prefix: "bench-".into(),
                count,
                with_credentials: false,
            },
            &actor,
        )
        .expect("batch")
        .batch
        .id;
    (store, actor, batch)
}

fn job(batch: i64) -> FlashJob {
    FlashJob::Provision {
        target: FlashTarget::NextInBatch(batch),
        overwrite_foreign: true,
    }
}

fn sequential(per_unit: u32) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, actor, batch) = setup(dir.path(), per_unit);
    let (mut total_s, mut wire_s, mut trips, mut bytes) = (0.0, 0.0, 0u64, 0u64);
    for i in 0..per_unit {
        // A fresh unit per device: each is a first flash, like a production line.
        let sim = Simulator::start(SimOptions {
            flash: Some(dir.path().join(format!("u{i}.flash"))),
            baud: Some(BAUD),
            ..Default::default()
        })
        .expect("sim");
        let t = Instant::now();
        let out = gang::flash_port(
            &mut store,
            sim.port_path(),
            &job(batch),
            &actor,
            &Hooks::none(),
            &mut |_| {},
        )
        .expect("flash");
        total_s += t.elapsed().as_secs_f64();
        let b = out.stats.bytes_sent + out.stats.bytes_received;
        bytes += b;
        wire_s += wire_time(b as usize, BAUD).as_secs_f64();
        trips += out.stats.round_trips;
    }
    let n = f64::from(per_unit);
    println!(
        "{{\"bench\":\"flash one unit at {BAUD} baud\",\"devices\":{per_unit},\"ms_per_device\":{:.1},\
         \"baseline_wire_ms_per_device\":{:.1},\"ratio_to_wire\":{:.2},\"round_trips_per_flash\":{:.1},\
         \"bytes_per_flash\":{:.0}}}",
        1000.0 * total_s / n,
        1000.0 * wire_s / n,
        total_s / wire_s,
        trips as f64 / n,
        bytes as f64 / n
    );
}

fn gang_throughput(units: usize, rounds: u32) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, actor, batch) = setup(dir.path(), units as u32 * rounds);
    let db = store.path().to_path_buf();
    drop(store);
    let t = Instant::now();
    for round in 0..rounds {
        let sims: Vec<_> = (0..units)
            .map(|i| {
                Simulator::start(SimOptions {
                    flash: Some(dir.path().join(format!("r{round}u{i}.flash"))),
                    baud: Some(BAUD),
                    ..Default::default()
                })
                .expect("sim")
            })
            .collect();
        let jobs: Vec<(String, FlashJob)> = sims
            .iter()
            .map(|s| (s.port_path().to_owned(), job(batch)))
            .collect();
        for r in gang::flash_ports(&db, &jobs, &actor, &Hooks::none(), &|_, _| {}) {
            r.expect("flash");
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let devices = units as f64 * f64::from(rounds);
    println!(
        "{{\"bench\":\"gang flash at {BAUD} baud\",\"units\":{units},\"devices\":{devices},\"seconds\":{secs:.2},\
         \"devices_per_s\":{:.1}}}",
        devices / secs
    );
}

fn main() {
    let per_unit: u32 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    sequential(per_unit);
    for units in [1, 4, 8] {
        gang_throughput(units, (per_unit / 4).max(2));
    }
}
