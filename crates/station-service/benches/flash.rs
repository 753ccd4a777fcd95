//! Benchmarks of a flash through the station's service layer, each against a baseline measured
//! in the same run on the same machine:
//!
//!     cargo bench -p station-service --bench flash [-- DEVICES_PER_UNIT]
//!
//! 1. **Protocol cost** at 115200 baud with hashing left out (PBKDF2, one round): ms per device
//!    against the pure wire time of the bytes that crossed (the simulator paces both directions
//!    like a UART), round trips, bytes; gang throughput for 1, 4 and 8 units.
//! 2. **Click to PASS** at Django's Argon2 parameters, one unit at a time, the time from the
//!    request to the result: credential pool cold (the hash is made during the flash) against
//!    pool warm (a set made while the previous unit was being swapped) against the pure wire
//!    time, at 115200 (a protocol 1.0 unit) and at the fastest rate the simulator takes (§10.1).
//! 3. **Gang, pool warm**: 8 ports, 16 devices at Django's Argon2, the pool filled for 8 ports
//!    first, against one port with a warm pool at the same rate.
//! 4. **Hash limit**: 8 units at Django's Argon2 with the pool off, at most one hash per core
//!    against one hash per unit, alternating; time and the process's peak memory.
//!
//! Each line printed is one JSON object.

use std::time::{Duration, Instant};

use station_core::{Actor, BatchRequest, NewDeviceType, Store};
use station_devsim::{SimHandle, SimOptions, Simulator};
use station_protocol::{spec, wire_time};
use station_service::{FlashRequest, Flasher, FlasherOptions, JobReport, NoSink};

const BAUD: u32 = spec::BAUD_RATE;

const NO_HASHING: &str = "pbkdf2_sha256:iterations=1";

fn django() -> String {
    station_core::HashAlgorithm::default().to_string()
}

fn setup(dir: &std::path::Path, count: u32, hash_algorithm: &str) -> (Store, i64) {
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
                lot: None,
                work_order: None,
            },
            &actor,
        )
        .expect("batch")
        .batch
        .id;
    (store, batch)
}

fn job(batch: i64) -> FlashRequest {
    FlashRequest::NextInBatch {
        batch_id: batch,
        overwrite_foreign: true,
    }
}

fn flasher(store: &Store, pool: bool) -> Flasher {
    Flasher::new(
        store.path(),
        FlasherOptions {
            pool,
            ..FlasherOptions::default()
        },
    )
}

/// A fresh unit: a protocol 1.0 unit (115200 only) or one that offers the station's fast rates.
/// Its storage is in memory: on a real line each unit writes its own flash in parallel, while
/// eight simulators' file writes would share this machine's one disk with the station's.
fn unit(fast: bool) -> SimHandle {
    Simulator::start(SimOptions {
        flash: None,
        baud: Some(BAUD),
        baud_rates: if fast {
            spec::FAST_BAUD_RATES.to_vec()
        } else {
            Vec::new()
        },
        ..Default::default()
    })
    .expect("sim")
}

fn flash(flasher: &Flasher, units: &[&SimHandle], batch: i64) -> Vec<JobReport> {
    let ports: Vec<String> = units.iter().map(|u| u.port_path().to_owned()).collect();
    flasher
        .run_ports(&ports, &job(batch), &NoSink)
        .expect("ports")
}

/// Waits until the pool holds `n` sets (the station idles while the worker swaps units).
fn wait_for_pool(flasher: &Flasher, n: u32) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while flasher.pool_status().is_some_and(|s| s.ready < n) {
        assert!(Instant::now() < deadline, "the pool never filled");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn sequential(per_unit: u32) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, batch) = setup(dir.path(), per_unit, NO_HASHING);
    let flasher = flasher(&store, false);
    let (mut total_s, mut wire_s, mut trips, mut bytes) = (0.0, 0.0, 0u64, 0u64);
    for _ in 0..per_unit {
        // A fresh unit per device: each is a first flash, like a production line.
        let sim = unit(false);
        let t = Instant::now();
        let out = flash(&flasher, &[&sim], batch)
            .pop()
            .expect("one report")
            .result
            .expect("flash")
            .outcome;
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

/// Click to PASS, one unit at a time, at Django's Argon2 parameters.
fn click_to_pass(devices: u32, fast: bool, warm: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, batch) = setup(dir.path(), devices, &django());
    let flasher = flasher(&store, warm);
    let (mut total_s, mut wire_s, mut baud) = (0.0, 0.0, 0);
    for _ in 0..devices {
        let sim = unit(fast);
        flasher.expect_ports(&[sim.port_path().to_owned()]);
        wait_for_pool(&flasher, 1);
        let t = Instant::now();
        let out = flash(&flasher, &[&sim], batch)
            .pop()
            .expect("one report")
            .result
            .expect("flash")
            .outcome;
        total_s += t.elapsed().as_secs_f64();
        wire_s += out.stats.wire_micros as f64 / 1e6;
        baud = out.link_baud;
    }
    let n = f64::from(devices);
    println!(
        "{{\"bench\":\"click to PASS, Django Argon2\",\"pool\":\"{}\",\"link_baud\":{baud},\
         \"devices\":{devices},\"ms_per_device\":{:.1},\"wire_ms_per_device\":{:.1},\
         \"ratio_to_wire\":{:.2}}}",
        if warm { "warm" } else { "cold" },
        1000.0 * total_s / n,
        1000.0 * wire_s / n,
        total_s / wire_s
    );
}

/// How long the pool is given before each press.
#[derive(Clone, Copy, PartialEq)]
enum Pool {
    /// No pool: every flash makes its hash.
    Off,
    /// Filled for all the presses before the first (a gang press after the units are plugged).
    FullBeforeFirst,
    /// At least one set ready before each press (one port, the next unit being swapped in).
    ReadyBeforeEach,
}

/// Flashes `units` at once, `rounds` times; returns the seconds the presses took.
fn gang(units: usize, rounds: u32, hash_algorithm: &str, fast: bool, pool: Pool) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, batch) = setup(dir.path(), units as u32 * rounds, hash_algorithm);
    let flasher = flasher(&store, pool != Pool::Off);
    drop(store);
    let mut secs = 0.0;
    for round in 0..rounds {
        let sims: Vec<_> = (0..units).map(|_| unit(fast)).collect();
        let ports: Vec<String> = sims.iter().map(|s| s.port_path().to_owned()).collect();
        flasher.expect_ports(&ports);
        match pool {
            Pool::FullBeforeFirst if round == 0 => {
                let target = flasher.pool_status().map_or(0, |s| s.target);
                wait_for_pool(&flasher, target);
            }
            Pool::ReadyBeforeEach => wait_for_pool(&flasher, units as u32),
            _ => {}
        }
        let refs: Vec<&SimHandle> = sims.iter().collect();
        let t = Instant::now();
        for r in flash(&flasher, &refs, batch) {
            r.result.expect("flash");
        }
        secs += t.elapsed().as_secs_f64();
    }
    secs
}

fn gang_throughput(units: usize, rounds: u32) {
    let secs = gang(units, rounds, NO_HASHING, false, Pool::Off);
    let devices = units as f64 * f64::from(rounds);
    println!(
        "{{\"bench\":\"gang flash at {BAUD} baud\",\"units\":{units},\"devices\":{devices},\"seconds\":{secs:.2},\
         \"devices_per_s\":{:.1}}}",
        devices / secs
    );
}

/// 8 ports, 16 devices, pool warm, against one port with a set ready at each press (the
/// baseline), at one rate.
fn gang_warm(fast: bool) {
    let one = gang(1, 4, &django(), fast, Pool::ReadyBeforeEach);
    let eight = gang(8, 2, &django(), fast, Pool::FullBeforeFirst);
    let (one_rate, eight_rate) = (4.0 / one, 16.0 / eight);
    println!(
        "{{\"bench\":\"gang, pool warm, Django Argon2\",\"fast_wire\":{fast},\"devices_per_s_one_port\":{one_rate:.2},\
         \"devices_per_s_eight_ports\":{eight_rate:.2},\"eight_ports_seconds_for_16\":{eight:.2},\
         \"speedup\":{:.1}}}",
        eight_rate / one_rate
    );
}

/// The app's end-to-end gang run here without a window, through the same code: the service's
/// simulated bench (`sim:1`..`sim:8`, a unit plugged in per job, thinking 15 ms per reply,
/// offering BAUD), 16 devices in two presses, the pool filled first. The app's figure is
/// `gang_8_ports_16_devices_seconds` in `target/e2e/metrics.json`.
fn gang_like_the_app() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, batch) = setup(dir.path(), 16, &django());
    // Simulated units flash only into a training database, as in the app's training mode.
    store.mark_training().expect("training database");
    let flasher = Flasher::new(
        store.path(),
        FlasherOptions {
            pool: true,
            mode: station_service::training::Mode::Training,
            ..FlasherOptions::default()
        },
    );
    drop(store);
    let ports: Vec<String> = (1..=8).map(|n| format!("sim:{n}")).collect();
    flasher.expect_ports(&ports);
    let target = flasher.pool_status().map_or(0, |s| s.target);
    wait_for_pool(&flasher, target);
    let t = Instant::now();
    for _ in 0..2 {
        for r in flasher
            .run_ports(&ports, &job(batch), &NoSink)
            .expect("ports")
        {
            r.result.expect("flash");
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{{\"bench\":\"the app's gang without its window (8 simulated ports, 16 devices, pool warm)\",\
         \"seconds\":{secs:.2},\"devices_per_s\":{:.1}}}",
        16.0 / secs
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
    for pass in 0..2 {
        for (name, n) in [
            ("one hash per unit (baseline)", units),
            ("one hash per core", limit),
        ] {
            station_core::credentials::set_max_concurrent_hashes(n);
            reset_peak_rss();
            let before = peak_rss_kib();
            let secs = gang(units, rounds, &django(), false, Pool::Off);
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
    let clicks = (per_unit / 2).max(3);
    for fast in [false, true] {
        for warm in [false, true] {
            click_to_pass(clicks, fast, warm);
        }
    }
    gang_warm(false);
    gang_warm(true);
    gang_like_the_app();
    gang_hash_limit(8, 2);
}
