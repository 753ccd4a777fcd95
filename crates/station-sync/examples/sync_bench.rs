//! Benchmark: push N records to a running receiver and time it (run by benches/sync.sh).
//!
//!     cargo run --release -p station-sync --example sync_bench -- URL TOKEN RECORDS BATCH_SIZE
//!
//! The records are made first (not timed) in a fresh station database, with PBKDF2 at 1,000
//! iterations so making 10,000 takes seconds (the receiver only checks the hash's format, so
//! the algorithm does not change what is measured). Then the whole outbox is pushed with
//! `push_outbox` (timed): serialising, HTTP on loopback, the receiver's upsert, and settling
//! each acknowledgement in the station database. Prints one JSON line.

use std::time::Instant;

use station_core::{Actor, BatchRequest, NewDeviceType, Store, MAX_BATCH_COUNT};
use station_sync::{Client, ConfigUpdate, PushOptions, StationToken};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, token, records, batch_size] = args.as_slice() else {
        return Err("usage: sync_bench URL TOKEN RECORDS BATCH_SIZE".into());
    };
    // The bench's database is thrown away: its token stays in the environment (the `env`
    // credential store) rather than leaving an entry in the OS credential store.
    std::env::set_var(station_sync::credential_store::STORE_ENV, "env");
    std::env::set_var(station_sync::credential_store::TOKEN_ENV, token);
    let records: u32 = records.parse()?;
    let batch_size: usize = batch_size.parse()?;
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(dir.path().join("bench.sqlite3"))?;
    store.set_setting("hash_algorithm", "pbkdf2_sha256:iterations=1000")?;
    store.add_type(NewDeviceType {
        name: "WeatherStation".into(),
        app_label: "myapp".into(),
        ..NewDeviceType::default()
    })?;
    // As `station sync config` does: the token from the environment (`env` store, set by
    // benches/sync.sh), and the server's seal key, so api keys travel sealed as in production.
    let config = station_sync::configure(
        &mut store,
        ConfigUpdate {
            server_url: Some(url.clone()),
            token: Some(StationToken::parse(token)?),
            batch_size: Some(batch_size),
            ..ConfigUpdate::default()
        },
    )?
    .config;
    let actor = Actor::new("bench", "bench")?;
    let mut left = records;
    while left > 0 {
        let n = left.min(MAX_BATCH_COUNT);
        station_sync::prepare_ids(&mut store, "WeatherStation", "bench-", n)?;
        store.create_batch(
            &BatchRequest {
                device_type: "WeatherStation".into(),
                prefix: "bench-".into(),
                count: n,
                with_credentials: true,
                lot: None,
                work_order: None,
            },
            &actor,
        )?;
        left -= n;
    }
    let client = Client::new(&config)?;
    let started = Instant::now();
    let report =
        station_sync::push_outbox(&mut store, &client, &PushOptions::from_config(&config))?;
    let seconds = started.elapsed().as_secs_f64();
    if let Some(e) = &report.error {
        return Err(format!("push failed: {}", e.message).into());
    }
    if report.acknowledged != u64::from(records) || report.remaining != 0 {
        return Err(format!("only {} of {records} acknowledged", report.acknowledged).into());
    }
    println!(
        "{}",
        serde_json::json!({
            "tool": "station-sync",
            "records": records,
            "batch_size": report.batch_size,
            "batches": report.batches,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "records_per_s": (f64::from(records) / seconds).round(),
        })
    );
    Ok(())
}
