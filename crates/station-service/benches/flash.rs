//! Benchmark: provisioning over serial at an emulated 115200 baud (the simulator paces both
//! directions like a real UART), against the baseline of the pure wire time of the bytes that
//! crossed the line; round trips per flash; and gang throughput for 1, 4 and 8 units.
//!
//!     cargo bench -p station-service --bench flash [-- DEVICES_PER_UNIT]
//!
//! Hashing is excluded there (PBKDF2 with one round), so what is measured is the protocol and
//! the station's bookkeeping. A last part flashes 8 units at Django's Argon2 parameters with
//! at most one hash per core (the station's limit) against the baseline of one hash per unit
//! (no limit), alternating, and reports time and the process's peak memory for each.

use std::time::Instant;

use station_core::{Actor, BatchRequest, NewDeviceType, Store};
use station_devsim::{SimOptions, Simulator};
use station_protocol::wire_time;
use station_service::{FlashRequest, Flasher, FlasherOptions, NoSink};

const BAUD: u32 = 115_200;

const NO_HASHING: &str = "pbkdf2_sha256:iterations=1";

fn setup(dir: &std::path::Path, count: u32, hash_algorithm: &str) -> (Store, Actor, i64) {
    let mut store = Store::open(dir.join("bench.sqlite3")).expect("store");
    store
        .set_setting("hash_algorithm", hash_algorithm)
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

fn job(batch: i64) -> FlashRequest {
    FlashRequest::NextInBatch {
        batch_id: batch,
        overwrite_foreign: true,
    }
}

/// The station's flasher on the bench's database, as the CLI runs it.
fn flasher(store: &Store) -> Flasher {
    Flasher::new(store.path(), FlasherOptions::default())
}

fn sequential(per_unit: u32) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _actor, batch) = setup(dir.path(), per_unit, NO_HASHING);
    let flasher = flasher(&store);
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
        let report = flasher
            .run_ports(&[sim.port_path().to_owned()], &job(batch), &NoSink)
            .expect("ports")
            .pop()
            .expect("one report");
        let out = report.result.expect("flash").outcome;
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

/// Flashes `units` at once, `rounds` times; returns the seconds it took.
fn gang(units: usize, rounds: u32, hash_algorithm: &str) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _actor, batch) = setup(dir.path(), units as u32 * rounds, hash_algorithm);
    let flasher = flasher(&store);
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
        let ports: Vec<String> = sims.iter().map(|s| s.port_path().to_owned()).collect();
        for r in flasher
            .run_ports(&ports, &job(batch), &NoSink)
            .expect("ports")
        {
            r.result.expect("flash");
        }
    }
    t.elapsed().as_secs_f64()
}

fn gang_throughput(units: usize, rounds: u32) {
    let secs = gang(units, rounds, NO_HASHING);
    let devices = units as f64 * f64::from(rounds);
    println!(
        "{{\"bench\":\"gang flash at {BAUD} baud\",\"units\":{units},\"devices\":{devices},\"seconds\":{secs:.2},\
         \"devices_per_s\":{:.1}}}",
        devices / secs
    );
}

/// The process's peak resident memory since the last reset, in KiB (Linux; 0 elsewhere).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn reset_peak_rss() {
    // Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn gang_hash_limit(units: usize, rounds: u32) {
    let limit = station_core::credentials::max_concurrent_hashes();
    let django = station_core::HashAlgorithm::default().to_string();
    for pass in 0..2 {
        for (name, n) in [
            ("one hash per unit (baseline)", units),
            ("one hash per core", limit),
        ] {
            station_core::credentials::set_max_concurrent_hashes(n);
            reset_peak_rss();
            let before = peak_rss_kib();
            let secs = gang(units, rounds, &django);
            let devices = units as f64 * f64::from(rounds);
            println!(
                "{{\"bench\":\"gang flash, Django Argon2, {name}\",\"pass\":{pass},\"units\":{units},\
                 \"hashes_at_once\":{n},\"devices\":{devices},\"seconds\":{secs:.2},\
                 \"devices_per_s\":{:.2},\"peak_rss_mib\":{},\"rss_before_mib\":{}}}",
                devices / secs,
                peak_rss_kib() / 1024,
                before / 1024
            );
        }
    }
    station_core::credentials::set_max_concurrent_hashes(limit);
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
    gang_hash_limit(8, 2);
}
