//! The simulator over real pseudo-terminals, driven by the station's `Client`: a clean write,
//! and every injected fault ending in a correct write or a clear error, never a false OK.

use std::time::Duration;

use station_devsim::{NakRule, PowerLoss, SimExit, SimHandle, SimOptions, Simulator};
use station_protocol::config::test_vector_config;
use station_protocol::{
    Client, Command, DeviceConfig, DeviceErrorCode, ProtocolError, SerialTransport, WriteStep,
};

fn open(sim: &SimHandle) -> Client<SerialTransport> {
    Client::new(SerialTransport::open(sim.port_path()).expect("open pty"))
}

fn config(generation: u32) -> DeviceConfig {
    DeviceConfig {
        generation,
        ..test_vector_config()
    }
}

/// A write reported OK must be exactly what is in flash; anything else must be an error.
fn assert_no_false_ok(sim: &SimHandle, cfg: &DeviceConfig, result: &Result<(), ProtocolError>) {
    if result.is_ok() {
        let stored = sim.flash_contents().expect("OK write leaves a config");
        assert_eq!(&stored.to_device_config().expect("valid"), cfg);
    }
}

#[test]
fn clean_write_reaches_flash_and_hello_reports_it() {
    let sim = Simulator::start(SimOptions::default()).expect("start");
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    assert_eq!(id.protocol_version, 1);
    assert_eq!(id.hardware_id, sim.hardware_id());
    assert_eq!(id.device_id, None);
    assert_eq!(id.generation, None);
    let cfg = config(7);
    let mut steps = Vec::new();
    client
        .write_config(&cfg, &id.hardware_id, &mut |s| steps.push(s))
        .expect("write");
    assert_eq!(steps.first(), Some(&WriteStep::Begin));
    assert_eq!(steps.last(), Some(&WriteStep::Done));
    assert_eq!(steps.len(), 1 + 11 + 2);
    let stored = sim.flash_contents().expect("flash");
    assert_eq!(stored.to_device_config().expect("valid"), cfg);
    let id = client.hello().expect("hello again");
    assert_eq!(id.device_id.as_deref(), Some("dh-000123"));
    assert_eq!(id.generation, Some(7));
    let stats = client.stats();
    assert_eq!(stats.retries, 0);
    assert!(stats.round_trips >= 16);
    assert_eq!(sim.shutdown().expect("shutdown"), SimExit::Stopped);
}

fn start(opts: SimOptions) -> SimHandle {
    Simulator::start(opts).expect("start simulator")
}

fn flash_file(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("flash.bin")
}

/// Writes `cfg` to a fresh simulator on `flash`, so a later simulator starts provisioned.
fn provision(flash: &std::path::Path, cfg: &DeviceConfig) {
    let sim = start(SimOptions {
        flash: Some(flash.to_path_buf()),
        ..SimOptions::default()
    });
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    client
        .write_config(cfg, &id.hardware_id, &mut |_| {})
        .expect("provision");
    drop(client);
    sim.stop();
}

#[test]
fn port_can_be_opened_and_closed_many_times() {
    let sim = start(SimOptions {
        boot_noise: true,
        ..SimOptions::default()
    });
    for round in 0..5 {
        let mut client = open(&sim);
        let id = client
            .hello()
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(id.hardware_id, sim.hardware_id());
        if round == 2 {
            client
                .write_config(&config(3), &id.hardware_id, &mut |_| {})
                .expect("write");
        }
        if round > 2 {
            assert_eq!(id.generation, Some(3));
        }
        drop(client);
        // Let the simulator notice the close, so the next open is a fresh "plug-in".
        std::thread::sleep(Duration::from_millis(30));
    }
    assert!(!sim.is_finished());
    sim.stop();
}

#[test]
fn hello_waits_through_boot_time_boot_log_and_debug_prints() {
    let sim = start(SimOptions {
        boot_noise: true,
        boot_time: Duration::from_millis(700),
        debug_prints: true,
        ..SimOptions::default()
    });
    let mut client = open(&sim);
    let id = client.hello().expect("hello after boot");
    assert!(client.stats().timeouts >= 1, "{:?}", client.stats());
    client
        .write_config(&config(1), &id.hardware_id, &mut |_| {})
        .expect("write among debug prints");
    let stats = client.stats();
    assert!(stats.noise_bytes > 0, "{stats:?}");
    assert!(
        stats.rejected_lines > 0,
        "the fake @DH1 boot line is rejected: {stats:?}"
    );
    assert_eq!(
        sim.flash_contents()
            .expect("flash")
            .to_device_config()
            .expect("valid"),
        config(1)
    );
}

#[test]
fn busy_replies_are_waited_out() {
    let sim = start(SimOptions {
        naks: vec![
            "STAGE:BUSY:3".parse().expect("rule"),
            "COMMIT:BUSY:2".parse().expect("rule"),
        ],
        ..SimOptions::default()
    });
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    let result = client.write_config(&config(2), &id.hardware_id, &mut |_| {});
    assert_no_false_ok(&sim, &config(2), &result);
    result.expect("write after busy");
    assert_eq!(client.stats().busy_replies, 5);
}

#[test]
fn endless_busy_ends_in_a_clear_error() {
    let sim = start(SimOptions {
        naks: vec!["BEGIN:BUSY".parse().expect("rule")],
        ..SimOptions::default()
    });
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    let err = client
        .write_config(&config(2), &id.hardware_id, &mut |_| {})
        .expect_err("always busy");
    assert_eq!(err.device_code(), Some(DeviceErrorCode::Busy));
    assert!(!err.commit_outcome_unknown());
    assert!(err.operator_message().contains("busy"));
    assert!(sim.flash_contents().is_none());
}

#[test]
fn storage_full_at_commit_is_refused_and_flash_is_unchanged() {
    let sim = start(SimOptions {
        naks: vec![NakRule {
            command: Command::Commit,
            code: DeviceErrorCode::StorageFull,
            count: None,
        }],
        ..SimOptions::default()
    });
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    let err = client
        .write_config(&config(2), &id.hardware_id, &mut |_| {})
        .expect_err("storage full");
    assert!(matches!(
        err,
        ProtocolError::Device {
            command: Command::Commit,
            code: DeviceErrorCode::StorageFull,
            ..
        }
    ));
    assert!(!err.commit_outcome_unknown());
    assert!(sim.flash_contents().is_none());
}

#[test]
fn device_storage_limits_give_storage_full() {
    let sim = start(SimOptions {
        staging_capacity: Some(64),
        ..SimOptions::default()
    });
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    let err = client
        .write_config(&config(2), &id.hardware_id, &mut |_| {})
        .expect_err("staging full");
    assert_eq!(err.device_code(), Some(DeviceErrorCode::StorageFull));
    assert_eq!(err.command(), Some(Command::Stage));

    let sim = start(SimOptions {
        flash_capacity: Some(100),
        ..SimOptions::default()
    });
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    let err = client
        .write_config(&config(2), &id.hardware_id, &mut |_| {})
        .expect_err("flash full");
    assert_eq!(err.device_code(), Some(DeviceErrorCode::StorageFull));
    assert_eq!(err.command(), Some(Command::Commit));
    assert!(sim.flash_contents().is_none());
}

#[test]
fn digest_mismatch_is_refused() {
    let sim = start(SimOptions::default());
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    let cfg = config(5);
    client.begin().expect("begin");
    for key in station_protocol::Key::ALL {
        let value = cfg.value(key);
        client
            .stage(key, std::str::from_utf8(&value).expect("utf8"))
            .expect("stage");
    }
    let mut other = cfg.clone();
    other.broker_port = 1883;
    let err = client
        .commit(&station_protocol::config_digest(&other), &id.hardware_id)
        .expect_err("digest differs");
    assert_eq!(err.device_code(), Some(DeviceErrorCode::DigestMismatch));
    assert!(!err.commit_outcome_unknown());
    assert!(sim.flash_contents().is_none());
    // The refused COMMIT ended the session.
    let err = client
        .commit(&station_protocol::config_digest(&cfg), &id.hardware_id)
        .expect_err("no session");
    assert_eq!(err.device_code(), Some(DeviceErrorCode::NoSession));
    assert!(!err.commit_outcome_unknown());
}

#[test]
fn hardware_id_mismatch_is_refused() {
    let sim = start(SimOptions {
        hardware_id: Some("00112233AABBCCDD".to_owned()),
        ..SimOptions::default()
    });
    let mut client = open(&sim);
    client.hello().expect("hello");
    let err = client
        .write_config(&config(5), "DEADBEEFDEADBEEF", &mut |_| {})
        .expect_err("another unit");
    assert_eq!(err.device_code(), Some(DeviceErrorCode::HwidMismatch));
    assert!(err.operator_message().contains("different device"));
    assert!(sim.flash_contents().is_none());
}

#[test]
fn missing_key_is_refused() {
    let sim = start(SimOptions::default());
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    let cfg = config(5);
    client.begin().expect("begin");
    client
        .stage(station_protocol::Key::DeviceId, &cfg.device_id)
        .expect("stage");
    let err = client
        .commit(&station_protocol::config_digest(&cfg), &id.hardware_id)
        .expect_err("missing keys");
    assert!(matches!(
        &err,
        ProtocolError::Device { code: DeviceErrorCode::MissingKey, detail: Some(d), .. } if d == "mqtt_username"
    ));
    assert!(sim.flash_contents().is_none());
}

#[test]
fn secrets_cannot_be_read_back() {
    let sim = start(SimOptions::default());
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    client
        .write_config(&config(1), &id.hardware_id, &mut |_| {})
        .expect("write");
    for key in [
        station_protocol::Key::MqttPassword,
        station_protocol::Key::ApiKey,
    ] {
        let err = client.read_key(key).expect_err("write-only");
        assert_eq!(err.device_code(), Some(DeviceErrorCode::WriteOnly));
    }
    assert_eq!(
        &client
            .read_key(station_protocol::Key::TopicStatus)
            .expect("read")[..],
        b"dh/dh-000123/status"
    );
}

#[test]
fn lost_commit_reply_is_answered_from_the_cache_on_retransmission() {
    let sim = start(SimOptions {
        drop_replies: vec!["COMMIT:1".parse().expect("rule")],
        ..SimOptions::default()
    });
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    let result = client.write_config(&config(9), &id.hardware_id, &mut |_| {});
    assert_no_false_ok(&sim, &config(9), &result);
    // Had the device applied the retransmitted COMMIT as new, it would answer NO_SESSION.
    result.expect("cached OK");
    assert_eq!(client.stats().retries, 1);
    assert_eq!(client.stats().timeouts, 1);
}

#[test]
fn lost_stage_replies_are_retransmitted_without_duplicating_data() {
    let sim = start(SimOptions {
        drop_replies: vec!["STAGE:3".parse().expect("rule")],
        ..SimOptions::default()
    });
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    let result = client.write_config(&config(9), &id.hardware_id, &mut |_| {});
    assert_no_false_ok(&sim, &config(9), &result);
    result.expect("write");
    assert_eq!(client.stats().retries, 3);
}

#[test]
fn unplug_mid_write_is_a_clear_error_and_replug_keeps_old_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flash = flash_file(&dir);
    provision(&flash, &config(1));
    let sim = start(SimOptions {
        flash: Some(flash.clone()),
        unplug_after_stages: Some(4),
        ..SimOptions::default()
    });
    let hwid = sim.hardware_id().to_owned();
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    assert_eq!(id.generation, Some(1));
    let err = client
        .write_config(&config(2), &id.hardware_id, &mut |_| {})
        .expect_err("unplugged");
    assert!(
        matches!(
            err,
            ProtocolError::Disconnected {
                command: Command::Stage
            }
        ),
        "{err:?}"
    );
    assert!(!err.commit_outcome_unknown());
    assert!(err.operator_message().contains("unplugged"));
    assert_eq!(sim.wait().expect("exit"), SimExit::Unplugged);

    // Re-plug: same flash, same unit.
    let sim = start(SimOptions {
        flash: Some(flash),
        ..SimOptions::default()
    });
    assert_eq!(sim.hardware_id(), hwid);
    let mut client = open(&sim);
    let id = client.hello().expect("hello after replug");
    assert_eq!(id.generation, Some(1));
    client
        .write_config(&config(2), &id.hardware_id, &mut |_| {})
        .expect("write after replug");
    assert_eq!(client.hello().expect("hello").generation, Some(2));
}

#[test]
fn power_loss_before_commit_keeps_old_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flash = flash_file(&dir);
    provision(&flash, &config(1));
    let sim = start(SimOptions {
        flash: Some(flash.clone()),
        power_loss: Some(PowerLoss::BeforeCommit),
        ..SimOptions::default()
    });
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    let err = client
        .write_config(&config(2), &id.hardware_id, &mut |_| {})
        .expect_err("power loss");
    assert!(err.commit_outcome_unknown(), "{err:?}");
    assert!(err.operator_message().contains("cannot tell"));
    assert_eq!(sim.wait().expect("exit"), SimExit::PowerLossBeforeCommit);

    let sim = start(SimOptions {
        flash: Some(flash),
        ..SimOptions::default()
    });
    let id = open(&sim).hello().expect("hello after power back");
    assert_eq!(id.generation, Some(1));
    assert_eq!(
        sim.flash_contents()
            .expect("flash")
            .to_device_config()
            .expect("valid"),
        config(1)
    );
}

#[test]
fn power_loss_after_commit_keeps_new_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flash = flash_file(&dir);
    provision(&flash, &config(1));
    let sim = start(SimOptions {
        flash: Some(flash.clone()),
        power_loss: Some(PowerLoss::AfterCommit),
        ..SimOptions::default()
    });
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    let err = client
        .write_config(&config(2), &id.hardware_id, &mut |_| {})
        .expect_err("no reply");
    assert!(err.commit_outcome_unknown(), "{err:?}");
    assert_eq!(sim.wait().expect("exit"), SimExit::PowerLossAfterCommit);

    let sim = start(SimOptions {
        flash: Some(flash),
        ..SimOptions::default()
    });
    let id = open(&sim).hello().expect("hello after power back");
    assert_eq!(id.generation, Some(2));
    assert_eq!(id.device_id.as_deref(), Some("dh-000123"));
    assert_eq!(
        sim.flash_contents()
            .expect("flash")
            .to_device_config()
            .expect("valid"),
        config(2)
    );
}

#[test]
fn slow_replies_are_waited_for() {
    let sim = start(SimOptions {
        reply_delay: Duration::from_millis(100),
        ..SimOptions::default()
    });
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    client
        .write_config(&config(4), &id.hardware_id, &mut |_| {})
        .expect("write");
    assert_eq!(client.stats().retries, 0);
}

#[test]
fn a_reply_later_than_the_timeout_still_counts_after_retransmission() {
    let sim = start(SimOptions {
        reply_delay: station_protocol::spec::TIMEOUT_HELLO + Duration::from_millis(100),
        ..SimOptions::default()
    });
    let mut client = open(&sim);
    let id = client.hello().expect("hello");
    assert_eq!(id.hardware_id, sim.hardware_id());
    assert!(client.stats().retries >= 1);
}

#[test]
fn wire_speed_is_emulated() {
    let sim = start(SimOptions {
        baud: Some(115_200),
        ..SimOptions::default()
    });
    let mut client = open(&sim);
    let started = std::time::Instant::now();
    let id = client.hello().expect("hello");
    client
        .write_config(&config(4), &id.hardware_id, &mut |_| {})
        .expect("write");
    let elapsed = started.elapsed();
    let stats = client.stats();
    let wire = station_protocol::wire_time(
        usize::try_from(stats.bytes_sent + stats.bytes_received).expect("fits"),
        115_200,
    );
    assert!(elapsed >= wire, "{elapsed:?} < {wire:?}");
    eprintln!("write at 115200 baud: {elapsed:?}, wire time {wire:?}, {stats:?}");
}

#[test]
fn noisy_line_never_gives_a_false_ok() {
    let mut ok = 0;
    for seed in 1..=4u64 {
        let sim = start(SimOptions {
            drop_rate: 0.0007,
            corrupt_rate: 0.0007,
            seed,
            ..SimOptions::default()
        });
        let mut client = open(&sim);
        let id = match client.hello() {
            Ok(id) => id,
            Err(e) => {
                assert!(!e.commit_outcome_unknown());
                continue;
            }
        };
        let cfg = config(seed as u32);
        let result = client.write_config(&cfg, &id.hardware_id, &mut |_| {});
        assert_no_false_ok(&sim, &cfg, &result);
        match result {
            Ok(()) => ok += 1,
            Err(e) if e.commit_outcome_unknown() => {
                // What the station does: ask again, and believe only HELLO.
                let id = client.hello().expect("hello after unknown outcome");
                let applied = id.generation == Some(cfg.generation);
                assert_eq!(applied, sim.flash_contents().is_some());
            }
            Err(e) => assert!(!e.operator_message().is_empty()),
        }
    }
    assert!(ok >= 2, "only {ok} of 4 noisy writes succeeded");
}

/// Finding 6 (issue 10): device-reported strings were printed raw, so a unit could send
/// terminal escape sequences. A unit claiming a device id with an ESC sequence is refused with
/// a typed error that does not repeat it.
#[test]
fn finding_6_a_unit_reporting_an_escape_sequence_is_refused_never_echoed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flash = flash_file(&dir);
    provision(&flash, &config(3));
    let rogue = b"dh-1\x1b[2J\x1b]0;owned\x07".to_vec();
    let sim = start(SimOptions {
        flash: Some(flash),
        rogue_device_id: Some(rogue),
        ..SimOptions::default()
    });
    let err = open(&sim).hello().expect_err("a rogue device id");
    assert!(
        matches!(err, ProtocolError::MalformedReply(_)),
        "a typed refusal: {err:?}"
    );
    let shown = format!("{err} {err:?} {}", err.operator_message());
    assert!(
        !shown.contains('\u{1b}'),
        "the escape is never echoed: {shown:?}"
    );
    assert!(shown.contains("device id"), "{shown}");
}
