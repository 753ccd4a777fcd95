//! Version 1.1's faster wire (spec §10.1) over real pseudo-terminals: the station's `Client`
//! switches the simulator's line, the simulator emulates a rate mismatch from the pty's termios
//! speed, returns to 115200 by itself when idle, and the station falls back when the new rate
//! cannot be reached.

use std::time::{Duration, Instant};

use station_devsim::{SimHandle, SimOptions, Simulator};
use station_protocol::config::test_vector_config;
use station_protocol::{spec, BaudSwitch, Client, SerialTransport, Transport};

fn start(opts: SimOptions) -> SimHandle {
    Simulator::start(opts).expect("start simulator")
}

fn open(sim: &SimHandle) -> Client<SerialTransport> {
    Client::new(SerialTransport::open(sim.port_path()).expect("open pty"))
}

/// The whole write at the new rate, confirmed by what the unit holds.
fn write_and_check(sim: &SimHandle, client: &mut Client<SerialTransport>, hardware_id: &str) {
    let cfg = test_vector_config();
    client
        .write_config(&cfg, hardware_id, &mut |_| {})
        .expect("write");
    let stored = sim.flash_contents().expect("the unit holds a config");
    assert_eq!(stored.to_device_config().expect("valid"), cfg);
}

#[test]
fn switch_to_921600_then_write_there() {
    let sim = start(SimOptions {
        baud: Some(spec::BAUD_RATE),
        ..SimOptions::default()
    });
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    assert!(id.has_capability(spec::CAP_BAUD));
    let link = client.fast_wire(&id).expect("fast wire");
    assert_eq!((link.baud, link.switch), (921_600, BaudSwitch::Switched));
    assert!(link.cost < Duration::from_millis(500), "{link:?}");
    write_and_check(&sim, &mut client, &id.hardware_id);
    let after = client.hello().expect("hello at 921600");
    assert_eq!(after.generation, Some(test_vector_config().generation));
    assert_eq!(client.stats().link_baud, 921_600);
    assert_eq!(
        client.stats().retries,
        0,
        "nothing was lost at the new rate"
    );
}

/// The emulation itself: once the device runs at 921600, a station that goes back to 115200
/// on its own is not heard until the device's idle revert, about BAUD_IDLE_REVERT later.
#[test]
fn the_pty_speed_decides_what_gets_through_until_the_idle_revert() {
    let sim = start(SimOptions::default());
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    client.fast_wire(&id).expect("fast wire");
    let switched = Instant::now();
    let mut slow = client.into_inner();
    slow.set_baud_rate(spec::BAUD_RATE).expect("back to 115200");
    let mut client = Client::new(slow);
    client.hello().expect("hello after the device's revert");
    let waited = switched.elapsed();
    assert!(
        waited >= spec::BAUD_IDLE_REVERT - Duration::from_millis(100),
        "heard at 115200 after {waited:?}, before the device could have reverted"
    );
    assert!(client.stats().timeouts >= 1);
}

#[test]
fn an_unreachable_rate_falls_back_to_115200_in_about_a_second_and_the_write_passes() {
    let sim = start(SimOptions {
        baud_unreachable: true,
        ..SimOptions::default()
    });
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    let link = client.fast_wire(&id).expect("fast wire falls back");
    assert_eq!((link.baud, link.switch), (115_200, BaudSwitch::FellBack));
    assert!(
        link.cost >= spec::BAUD_IDLE_REVERT && link.cost < Duration::from_millis(2500),
        "{link:?}"
    );
    write_and_check(&sim, &mut client, &id.hardware_id);
    assert_eq!(client.stats().link_baud, 115_200);
}

#[test]
fn a_rate_the_unit_lacks_falls_to_the_next_it_has() {
    let sim = start(SimOptions {
        baud_rates: vec![230_400],
        ..SimOptions::default()
    });
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    let link = client.fast_wire(&id).expect("fast wire");
    assert_eq!((link.baud, link.switch), (230_400, BaudSwitch::Switched));
    write_and_check(&sim, &mut client, &id.hardware_id);
}

#[test]
fn a_protocol_1_0_unit_is_written_at_115200() {
    let sim = start(SimOptions {
        baud_rates: Vec::new(),
        ..SimOptions::default()
    });
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    assert!(!id.has_capability(spec::CAP_BAUD));
    let link = client.fast_wire(&id).expect("fast wire");
    assert_eq!((link.baud, link.switch), (115_200, BaudSwitch::NotOffered));
    write_and_check(&sim, &mut client, &id.hardware_id);
}
