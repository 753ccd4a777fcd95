//! Flashing real units on real serial ports, serialport-rs style: behind the `hardware-tests`
//! feature and an environment variable naming the ports, since CI has no hardware.
//!
//!     STATION_HW_PORTS=/dev/ttyUSB0[,/dev/ttyACM0] \
//!         cargo nextest run -p station-core --features hardware-tests --test hardware
//!
//! Each unit is provisioned (a unit holding an identity from elsewhere is overwritten), rotated
//! and checked again; the unit's reported identity must match the station's record each time.
//! Units keep what the last step wrote.
#![cfg(feature = "hardware-tests")]

mod common;

use station_core::flash::{self, FlashJob};
use station_core::{BatchRequest, FlashState, FlashTarget};

fn ports() -> Vec<String> {
    let ports = std::env::var("STATION_HW_PORTS").unwrap_or_default();
    let ports: Vec<String> = ports
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    assert!(
        !ports.is_empty(),
        "the hardware-tests feature needs STATION_HW_PORTS=/dev/ttyUSB0[,...] naming units to flash"
    );
    ports
}

#[test]
fn real_units_are_provisioned_rotated_and_recovered() {
    let mut t = common::store();
    let ports = ports();
    // A prefix of its own per run: a unit left by an earlier run then holds an id this fresh
    // database does not know, and is overwritten as foreign.
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let prefix = format!("hw{run_id}-");
    let batch = t
        .store
        .create_batch(
            &BatchRequest {
                device_type: "WeatherStation".into(),
                prefix: prefix.clone(),
                count: ports.len() as u32,
                with_credentials: false,
                lot: None,
                work_order: None,
            },
            &t.actor,
        )
        .expect("batch")
        .batch
        .id;
    for port in &ports {
        let mut run = |job: &FlashJob| {
            let transport = station_protocol::SerialTransport::open(port)
                .unwrap_or_else(|e| panic!("{port}: {e}"));
            flash::run(&mut t.store, transport, job, &t.actor, &mut |s| {
                eprintln!("[{port}] {s:?}")
            })
            .unwrap_or_else(|f| panic!("{port}: {}\n  help: {}", f.error, f.error.help()))
        };
        let first = run(&FlashJob::Provision {
            target: FlashTarget::NextInBatch(batch),
            overwrite_foreign: true,
        });
        assert_eq!(first.device.flash_state, FlashState::Flashed);
        let rotated = run(&FlashJob::Reflash {
            expected_device_id: Some(first.device.device_id.clone()),
            confirm_unbound: false,
        });
        assert_eq!(rotated.device.generation, first.device.generation + 1);
        assert_eq!(
            rotated.hardware_id, first.hardware_id,
            "{port}: the unit changed"
        );
        let checked = run(&FlashJob::Recover);
        assert!(
            checked.recovered.is_empty(),
            "{port}: nothing should be pending"
        );
        assert_eq!(checked.device.generation, rotated.device.generation);
    }
}
