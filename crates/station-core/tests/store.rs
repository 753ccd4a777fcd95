//! The station's domain over real SQLite files: types, batches and their numbering, devices,
//! rotation, the pending generation, deactivation, export, and database failures.

mod common;

use station_core::credentials::verify_password;
use station_core::devices::DeviceFilter;
use station_core::export::{self, ExportFormat};
use station_core::{
    BatchRequest, CoreError, DeviceStatus, ErrorCode, FlashState, FlashTarget, NewDeviceType,
    Resolution, Store, SyncState, TypeEdit,
};

fn batch(device_type: &str, prefix: &str, count: u32, with_credentials: bool) -> BatchRequest {
    BatchRequest {
        device_type: device_type.into(),
        prefix: prefix.into(),
        count,
        with_credentials,
        lot: None,
        work_order: None,
    }
}

fn ids(store: &Store) -> Vec<String> {
    store
        .list_devices(&DeviceFilter::default())
        .expect("list")
        .into_iter()
        .map(|d| d.device_id)
        .collect()
}

fn device_count(store: &Store) -> usize {
    ids(store).len()
}

#[test]
fn types_are_looked_up_like_django_devicehub() {
    let t = common::store();
    let found = t.store.find_type("weather_station").expect("find");
    assert_eq!(found.name, "WeatherStation");
    assert_eq!(
        t.store.find_type("WEATHERSTATION").expect("find").id,
        found.id
    );
}

#[test]
fn duplicate_type_is_refused_case_insensitively() {
    let mut t = common::store();
    let err = t
        .store
        .add_type(NewDeviceType {
            name: "Weather_Station".into(),
            app_label: "other".into(),
            ..Default::default()
        })
        .expect_err("duplicate");
    assert_eq!(err.code(), ErrorCode::DuplicateType);
    assert_eq!(t.store.list_types().expect("list").len(), 1);
}

#[test]
fn unknown_type_lists_the_known_ones() {
    let t = common::store();
    let err = t.store.find_type("SoilProbe").expect_err("unknown");
    assert_eq!(err.code(), ErrorCode::UnknownType);
    assert!(err.help().contains("WeatherStation"), "{}", err.help());
}

#[test]
fn bad_type_settings_are_refused() {
    let mut t = common::store();
    for (name, label, template) in [
        ("Soil Probe", "myapp", None),
        ("SoilProbe", "my-app", None),
        ("SoilProbe", "myapp", Some("{prefix}/{device_id}")),
    ] {
        let err = t
            .store
            .add_type(NewDeviceType {
                name: name.into(),
                app_label: label.into(),
                topic_template: template.map(Into::into),
                ..Default::default()
            })
            .expect_err("invalid");
        assert_eq!(err.code(), ErrorCode::InvalidInput, "{name} {label}");
        assert!(!err.help().is_empty());
    }
    assert_eq!(t.store.list_types().expect("list").len(), 1);
}

#[test]
fn batch_creates_exactly_n_with_django_ids_usernames_and_topics() {
    let mut t = common::store();
    let created = t
        .store
        .create_batch(&batch("weatherstation", "farm-", 50, true), &t.actor)
        .expect("batch");
    assert_eq!(created.devices.len(), 50);
    assert_eq!(created.devices[0].device_id, "farm-weatherstation-001");
    assert_eq!(created.devices[49].device_id, "farm-weatherstation-050");
    let d = t
        .store
        .find_device("farm-weatherstation-007")
        .expect("find");
    assert_eq!(
        d.mqtt_username,
        "myapp-weatherstationdevice-farm-weatherstation-007"
    );
    assert_eq!(
        d.topics.cmd,
        "things/weatherstation/farm-weatherstation-007/cmd"
    );
    assert_eq!(d.name, "WeatherStation 007");
    assert_eq!(d.status, DeviceStatus::Provisioning);
    assert_eq!(d.generation, 1);
    assert_eq!(d.sync_state, SyncState::Pending);
    assert_eq!(d.station_id, "line-1");
    assert_eq!(d.operator, "alice");
    for c in created
        .devices
        .iter()
        .map(|d| d.credentials.as_ref().expect("creds"))
    {
        let hash = t
            .store
            .password_hash(&c.device_id)
            .expect("hash")
            .expect("some");
        assert!(verify_password(&c.mqtt_password, &hash).expect("verify"));
    }
}

/// iot_provision with 001 and 003 present and `--count 2` creates only 004; asked for N, we
/// create N after the highest number and never touch existing devices.
#[test]
fn regression_batch_numbering_continues_after_gaps_and_creates_n() {
    let mut t = common::store();
    t.store
        .create_batch(&batch("WeatherStation", "farm-", 3, true), &t.actor)
        .expect("first");
    // Make a gap: 002 is deactivated (never deleted) and a hand-made id sits beside them.
    t.store
        .deactivate("farm-weatherstation-002", &t.actor, "broken")
        .expect("deactivate");
    let before = t.store.find_device("farm-weatherstation-003").expect("003");
    let created = t
        .store
        .create_batch(&batch("WeatherStation", "farm-", 2, false), &t.actor)
        .expect("second");
    let new_ids: Vec<_> = created
        .devices
        .iter()
        .map(|d| d.device_id.as_str())
        .collect();
    assert_eq!(
        new_ids,
        ["farm-weatherstation-004", "farm-weatherstation-005"]
    );
    let after = t.store.find_device("farm-weatherstation-003").expect("003");
    assert_eq!(
        before.updated_at, after.updated_at,
        "existing device touched"
    );
    assert_eq!(device_count(&t.store), 5);
}

#[test]
fn numbering_is_per_prefix_and_type_and_wider_than_three_digits() {
    let mut t = common::store();
    t.store
        .create_batch(&batch("WeatherStation", "a-", 2, false), &t.actor)
        .expect("a");
    let b = t
        .store
        .create_batch(&batch("WeatherStation", "b-", 1, false), &t.actor)
        .expect("b");
    assert_eq!(b.devices[0].device_id, "b-weatherstation-001");
    // An underscore in a prefix is literal, not a LIKE wildcard.
    let u = t
        .store
        .create_batch(&batch("WeatherStation", "a_", 1, false), &t.actor)
        .expect("a_");
    assert_eq!(u.devices[0].device_id, "a_weatherstation-001");
    let big = t
        .store
        .create_batch(&batch("WeatherStation", "", 1000, false), &t.actor)
        .expect("big");
    assert_eq!(big.devices[999].device_id, "weatherstation-1000");
    let next = t
        .store
        .create_batch(&batch("WeatherStation", "", 1, false), &t.actor)
        .expect("next");
    assert_eq!(next.devices[0].device_id, "weatherstation-1001");
}

#[test]
fn bad_batch_input_changes_nothing() {
    let mut t = common::store();
    let cases = [
        batch("WeatherStation", "farm-", 0, false),
        batch(
            "WeatherStation",
            "farm-",
            station_core::MAX_BATCH_COUNT + 1,
            false,
        ),
        batch("WeatherStation", "farm/", 1, false),
        batch("WeatherStation", "farm+", 1, false),
        batch("WeatherStation", "fa rm", 1, false),
        batch("WeatherStation", "farm\u{1b}", 1, false),
        batch("WeatherStation", &"p".repeat(65), 1, false),
        batch("Nope", "farm-", 1, false),
    ];
    for req in &cases {
        let err = t.store.create_batch(req, &t.actor).expect_err("refused");
        assert!(
            matches!(err.code(), ErrorCode::InvalidInput | ErrorCode::UnknownType),
            "{req:?}: {err}"
        );
        assert!(!err.help().is_empty());
    }
    assert_eq!(device_count(&t.store), 0);
    assert!(t.store.list_batches().expect("batches").is_empty());
}

#[test]
fn id_too_long_for_django_is_refused_whole() {
    let mut t = common::store();
    t.store
        .add_type(NewDeviceType {
            name: format!("T{}", "x".repeat(63)),
            app_label: "myapp".into(),
            ..Default::default()
        })
        .expect("long type");
    let err = t
        .store
        .create_batch(
            &batch(&format!("T{}", "x".repeat(63)), &"p".repeat(64), 5, false),
            &t.actor,
        )
        .expect_err("too long");
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.to_string().contains("128"), "{err}");
    assert_eq!(device_count(&t.store), 0);
    assert!(t.store.list_batches().expect("batches").is_empty());
}

#[test]
fn batch_progress_counts_flashed_failed_remaining() {
    let mut t = common::store();
    let created = t
        .store
        .create_batch(&batch("WeatherStation", "farm-", 4, false), &t.actor)
        .expect("batch");
    let a = &created.devices[0].device_id;
    let b = &created.devices[1].device_id;
    let ca = t
        .store
        .begin_flash(&FlashTarget::Device(a.to_string()), "hw-a", &t.actor)
        .expect("begin a");
    t.store
        .confirm_flash(a, ca.generation, "hw-a", "1.0", &t.actor)
        .expect("confirm");
    let cb = t
        .store
        .begin_flash(&FlashTarget::Device(b.to_string()), "E661A4D1", &t.actor)
        .expect("begin b");
    t.store
        .fail_flash(b, cb.generation, "device refused", &t.actor)
        .expect("fail");
    let p = t.store.find_batch(created.batch.id).expect("progress");
    assert_eq!((p.flashed, p.failed, p.remaining), (1, 1, 3));
}

#[test]
fn rotate_now_issues_next_generation_and_old_password_stops_verifying() {
    let mut t = common::store();
    let created = t
        .store
        .create_batch(&batch("WeatherStation", "", 1, true), &t.actor)
        .expect("batch");
    let old = created.devices[0].credentials.as_ref().expect("creds");
    let new = t
        .store
        .rotate_now(&old.device_id, &t.actor)
        .expect("rotate");
    assert_eq!(new.generation, 2);
    assert_ne!(new.mqtt_password.expose(), old.mqtt_password.expose());
    assert_ne!(new.api_key.expose(), old.api_key.expose());
    let hash = t
        .store
        .password_hash(&old.device_id)
        .expect("h")
        .expect("some");
    assert!(verify_password(&new.mqtt_password, &hash).expect("v"));
    assert!(!verify_password(&old.mqtt_password, &hash).expect("v"));
    let d = t.store.find_device(&old.device_id).expect("d");
    assert_eq!(d.generation, 2);
    let kinds: Vec<_> = t
        .store
        .device_history(&old.device_id)
        .expect("history")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["created", "credentials_issued", "rotated"]);
}

#[test]
fn pending_generation_is_promoted_only_on_confirmation() {
    let mut t = common::store();
    let created = t
        .store
        .create_batch(&batch("WeatherStation", "", 1, false), &t.actor)
        .expect("batch");
    let id = created.devices[0].device_id.clone();
    let g1 = t
        .store
        .begin_flash(&FlashTarget::Device(id.clone()), "hw-1", &t.actor)
        .expect("begin");
    let d = t.store.find_device(&id).expect("d");
    assert_eq!((d.generation, d.pending_generation), (0, Some(1)));
    assert_eq!(d.flash_state, FlashState::Flashing);
    assert!(!d.has_credentials, "pending credentials are not in force");
    assert_eq!(
        d.sync_state,
        SyncState::NotQueued,
        "nothing reaches the server before the device confirms"
    );
    // A second flash cannot start while the first is unresolved.
    let err = t
        .store
        .begin_flash(&FlashTarget::Device(id.clone()), "hw-1", &t.actor)
        .expect_err("pending");
    assert_eq!(err.code(), ErrorCode::Conflict);
    let d = t
        .store
        .confirm_flash(&id, g1.generation, "hw-1", "2.1.0", &t.actor)
        .expect("confirm");
    assert_eq!((d.generation, d.pending_generation), (1, None));
    assert_eq!(d.flash_state, FlashState::Flashed);
    assert_eq!(d.hardware_id.as_deref(), Some("hw-1"));
    assert_eq!(d.firmware_version, "2.1.0");
    assert!(d.flashed_at.is_some());
    assert_eq!(d.sync_state, SyncState::Pending);
    let hash = t.store.password_hash(&id).expect("h").expect("some");
    assert!(verify_password(&g1.mqtt_password, &hash).expect("v"));

    // Re-flash with rotation: g2 pending, fails: device and record keep g1.
    let g2 = t
        .store
        .begin_flash(&FlashTarget::Device(id.clone()), "E661A4D1", &t.actor)
        .expect("begin 2");
    assert_eq!(g2.generation, 2);
    let d = t
        .store
        .fail_flash(&id, 2, "unplugged", &t.actor)
        .expect("fail");
    assert_eq!((d.generation, d.pending_generation), (1, None));
    assert_eq!(
        d.flash_state,
        FlashState::Flashed,
        "the unit still holds generation 1"
    );
    let hash = t.store.password_hash(&id).expect("h").expect("some");
    assert!(verify_password(&g1.mqtt_password, &hash).expect("v"));
    // Generations are never reused: the next attempt is 3.
    let g3 = t
        .store
        .begin_flash(&FlashTarget::Device(id.clone()), "E661A4D1", &t.actor)
        .expect("begin 3");
    assert_eq!(g3.generation, 3);
}

#[test]
fn resolve_pending_follows_what_the_device_reports() {
    let mut t = common::store();
    t.store
        .create_batch(&batch("WeatherStation", "", 2, false), &t.actor)
        .expect("batch");
    let a = "weatherstation-001";
    let b = "weatherstation-002";
    let ga = t
        .store
        .begin_flash(&FlashTarget::Device(a.to_string()), "hw-a", &t.actor)
        .expect("a");
    t.store
        .flash_outcome_unknown(a, ga.generation, "reply lost", &t.actor)
        .expect("unknown");
    assert_eq!(
        t.store
            .resolve_pending(a, Some(ga.generation), "hw-a", "1", &t.actor)
            .expect("resolve"),
        Resolution::Promoted
    );
    assert_eq!(t.store.find_device(a).expect("a").generation, 1);
    let gb = t
        .store
        .begin_flash(&FlashTarget::Device(b.to_string()), "hw-b", &t.actor)
        .expect("b");
    assert_eq!(
        t.store
            .resolve_pending(b, None, "hw-b", "1", &t.actor)
            .expect("resolve"),
        Resolution::Discarded
    );
    let d = t.store.find_device(b).expect("b");
    assert_eq!(
        (d.generation, d.pending_generation, d.flash_state),
        (0, None, FlashState::Failed)
    );
    assert_eq!(
        t.store
            .resolve_pending(b, Some(gb.generation), "hw-b", "1", &t.actor)
            .expect("resolve"),
        Resolution::NothingPending
    );
}

/// Issue 10, finding 3: a unit that claims a device (its id and generation are not secret)
/// could settle another unit's pending flash. Only the unit the flash was written to may settle
/// it; any other is refused and the pending generation, its hash and its verifiers stay.
#[test]
fn regression_only_the_unit_a_flash_was_written_to_settles_it() {
    let mut t = common::store();
    t.store
        .create_batch(&batch("WeatherStation", "", 1, false), &t.actor)
        .expect("batch");
    let a = "weatherstation-001";
    let g = t
        .store
        .begin_flash(&FlashTarget::Device(a.to_string()), "AAAA", &t.actor)
        .expect("begin")
        .generation;
    let verifiers = t.store.proof_verifiers(a).expect("verifiers");
    assert_eq!(verifiers.len(), station_protocol::spec::PROOF_VERIFIERS);
    for reported in [Some(g), None] {
        let err = t
            .store
            .resolve_pending(a, reported, "BBBB", "1", &t.actor)
            .expect_err("another unit");
        assert_eq!(
            err.reason(),
            Some(station_core::FailReason::HardwareMismatch)
        );
    }
    let err = t
        .store
        .confirm_flash(a, g, "BBBB", "1", &t.actor)
        .expect_err("another unit");
    assert_eq!(
        err.reason(),
        Some(station_core::FailReason::HardwareMismatch)
    );
    let d = t.store.find_device(a).expect("a");
    assert_eq!((d.pending_generation, d.hardware_id), (Some(g), None));
    assert_eq!(
        t.store.pending_unit(a).expect("unit").as_deref(),
        Some("AAAA")
    );
    assert_eq!(t.store.proof_verifiers(a).expect("verifiers"), verifiers);
    assert_eq!(
        t.store
            .resolve_pending(a, None, "AAAA", "1", &t.actor)
            .expect("its own unit"),
        Resolution::Discarded
    );
    assert!(
        t.store.proof_verifiers(a).expect("verifiers").is_empty(),
        "a dropped generation's verifiers go with it"
    );
}

#[test]
fn deactivate_keeps_the_record_and_blocks_rotation() {
    let mut t = common::store();
    t.store
        .create_batch(&batch("WeatherStation", "", 1, true), &t.actor)
        .expect("batch");
    let id = "weatherstation-001";
    let d = t
        .store
        .deactivate(id, &t.actor, "returned")
        .expect("deactivate");
    assert!(!d.is_active);
    assert_eq!(device_count(&t.store), 1);
    let again = t.store.deactivate(id, &t.actor, "").expect_err("twice");
    assert_eq!(again.code(), ErrorCode::Conflict);
    let err = t.store.rotate_now(id, &t.actor).expect_err("inactive");
    assert_eq!(err.code(), ErrorCode::Refused);
    let err = t
        .store
        .begin_flash(&FlashTarget::Device(id.to_string()), "E661A4D1", &t.actor)
        .expect_err("inactive");
    assert_eq!(err.code(), ErrorCode::Refused);
    let history = t.store.device_history(id).expect("history");
    let last = history.last().expect("event");
    assert_eq!(
        (
            last.kind.as_str(),
            last.detail.as_str(),
            last.operator.as_str()
        ),
        ("deactivated", "returned", "alice")
    );
}

#[test]
fn rotation_due_marks_a_filter() {
    let mut t = common::store();
    t.store
        .create_batch(&batch("WeatherStation", "a-", 3, true), &t.actor)
        .expect("a");
    let b = t
        .store
        .create_batch(&batch("WeatherStation", "b-", 2, true), &t.actor)
        .expect("b");
    let n = t
        .store
        .mark_rotation_due(
            &DeviceFilter {
                batch_id: Some(b.batch.id),
                ..Default::default()
            },
            &t.actor,
        )
        .expect("mark");
    assert_eq!(n, 2);
    let due = t
        .store
        .list_devices(&DeviceFilter {
            rotation_due: Some(true),
            ..Default::default()
        })
        .expect("due");
    assert_eq!(due.len(), 2);
    assert!(due.iter().all(|d| d.device_id.starts_with("b-")));
}

#[test]
fn search_finds_by_id_name_and_hardware_id() {
    let mut t = common::store();
    t.store
        .create_batch(&batch("WeatherStation", "farm-", 3, false), &t.actor)
        .expect("batch");
    let c = t
        .store
        .begin_flash(
            &FlashTarget::Device("farm-weatherstation-002".to_string()),
            "E6614103E7",
            &t.actor,
        )
        .expect("b");
    t.store
        .confirm_flash(
            "farm-weatherstation-002",
            c.generation,
            "E6614103E7",
            "1",
            &t.actor,
        )
        .expect("c");
    let by = |q: &str| {
        t.store
            .list_devices(&DeviceFilter {
                search: Some(q.into()),
                ..Default::default()
            })
            .expect("search")
            .into_iter()
            .map(|d| d.device_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(by("e6614103"), ["farm-weatherstation-002"]);
    assert_eq!(by("station 003"), ["farm-weatherstation-003"]);
    assert_eq!(by("FARM-").len(), 3);
    assert!(by("%").is_empty(), "LIKE wildcards are literal");
}

#[test]
fn editing_identity_of_a_type_with_issued_credentials_is_refused() {
    let mut t = common::store();
    t.store
        .edit_type(
            "WeatherStation",
            TypeEdit {
                topic_prefix: Some("factory/a".into()),
                ..Default::default()
            },
        )
        .expect("no devices yet: allowed");
    t.store
        .create_batch(&batch("WeatherStation", "", 1, true), &t.actor)
        .expect("batch");
    let err = t
        .store
        .edit_type(
            "WeatherStation",
            TypeEdit {
                app_label: Some("other".into()),
                ..Default::default()
            },
        )
        .expect_err("refused");
    assert_eq!(err.code(), ErrorCode::Conflict);
    let ty = t
        .store
        .edit_type(
            "WeatherStation",
            TypeEdit {
                broker_host: Some("mqtt.factory.local".into()),
                broker_port: Some(8883),
                broker_tls: Some(true),
                ..Default::default()
            },
        )
        .expect("broker may change");
    assert_eq!(
        (ty.broker_host.as_str(), ty.broker_port, ty.broker_tls),
        ("mqtt.factory.local", 8883, true)
    );
    let d = t.store.find_device("weatherstation-001").expect("d");
    assert_eq!(
        d.topics.data,
        "factory/a/weatherstation/weatherstation-001/data"
    );
}

#[test]
fn csv_export_has_every_column_no_secret_and_neutralised_formulas() {
    let mut t = common::store();
    // An operator name (a scanned badge, typed by hand) is free text: it may start a formula.
    t.actor = station_core::Actor::new("=HYPERLINK(\"http://x\")", "line-1").expect("actor");
    let created = t
        .store
        .create_batch(&batch("WeatherStation", "-farm", 3, true), &t.actor)
        .expect("batch");
    let path = t.dir.path().join("out.csv");
    let n = export::export_to_file(
        &t.store,
        &DeviceFilter {
            batch_id: Some(created.batch.id),
            ..Default::default()
        },
        ExportFormat::Csv,
        &path,
    )
    .expect("export");
    assert_eq!(n, 3);
    let text = std::fs::read_to_string(&path).expect("read");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("h")
        .iter()
        .map(String::from)
        .collect();
    assert_eq!(header, export::csv_header());
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().expect("rows");
    assert_eq!(rows.len(), 3);
    assert_eq!(
        &rows[0][col("device_id")],
        "'-farmweatherstation-001",
        "formula neutralised"
    );
    assert_eq!(
        &rows[0][col("topic_data")],
        "things/weatherstation/-farmweatherstation-001/data"
    );
    assert_eq!(
        &rows[0][col("operator")],
        "'=HYPERLINK(\"http://x\")",
        "formula neutralised"
    );
    for d in &created.devices {
        let c = d.credentials.as_ref().expect("creds");
        assert!(!text.contains(c.mqtt_password.expose()));
        assert!(!text.contains(c.api_key.expose()));
        assert!(!text.contains("argon2$"));
    }
    // JSON export: same rows, parsable.
    let jpath = t.dir.path().join("out.json");
    export::export_to_file(
        &t.store,
        &DeviceFilter::default(),
        ExportFormat::Json,
        &jpath,
    )
    .expect("json");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&jpath).expect("read")).expect("parse");
    let arr = v.as_array().expect("array");
    assert_eq!(arr.len(), 3);
    assert_eq!(
        arr[1]["device_id"], "-farmweatherstation-002",
        "JSON is data: as is"
    );
    let created_at = arr[1]["created_at"].as_str().expect("created_at");
    assert!(
        created_at.contains('T') && created_at.ends_with('Z'),
        "JSON keeps RFC 3339: {created_at}"
    );
    assert_eq!(arr[1]["operator"], "=HYPERLINK(\"http://x\")");
    let keys: Vec<&String> = arr[0].as_object().expect("obj").keys().collect();
    assert_eq!(keys.len(), export::COLUMNS.len());
}

#[test]
fn export_to_unwritable_place_fails_cleanly_and_leaves_nothing() {
    let mut t = common::store();
    t.store
        .create_batch(&batch("WeatherStation", "", 2, false), &t.actor)
        .expect("batch");
    let missing = t.dir.path().join("no-such-folder").join("x.csv");
    let err = export::export_to_file(
        &t.store,
        &DeviceFilter::default(),
        ExportFormat::Csv,
        &missing,
    )
    .expect_err("no folder");
    assert_eq!(err.code(), ErrorCode::Io);
    assert!(err.to_string().contains("no-such-folder"), "{err}");
    let err = export::export_to_file(
        &t.store,
        &DeviceFilter::default(),
        ExportFormat::Csv,
        t.dir.path(),
    )
    .expect_err("a folder");
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    // A full disk: /dev/full answers every write with ENOSPC.
    if std::path::Path::new("/dev/full").exists() {
        let mut w = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("open /dev/full");
        let err = export::write_devices(
            &t.store,
            &DeviceFilter::default(),
            ExportFormat::Csv,
            &mut w,
        )
        .expect_err("disk full");
        assert_eq!(err.code(), ErrorCode::Io);
    }
    let leftovers: Vec<_> = std::fs::read_dir(t.dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary export files left behind");
}

#[test]
fn corrupt_database_is_reported_not_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("station.sqlite3");
    let junk = b"this is not a database, it is a shopping list\n".repeat(200);
    std::fs::write(&path, &junk).expect("write junk");
    let err = Store::open(&path).err().expect("refused");
    assert_eq!(err.code(), ErrorCode::DatabaseCorrupt, "{err}");
    assert!(err.help().contains("backup"), "{}", err.help());
    assert_eq!(std::fs::read(&path).expect("read"), junk, "file changed");
}

#[cfg(unix)]
#[test]
fn read_only_database_is_reported_and_unchanged() {
    use std::os::unix::fs::PermissionsExt;
    let t = common::store();
    let path = t.store.path().to_path_buf();
    drop(t.store);
    // Root ignores permission bits, so open a read-only connection the way SQLite would see a
    // read-only medium: through an immutable URI is not what users hit; use a read-only folder
    // and file where that takes effect, and SQLite's own read-only flag otherwise.
    let ro = std::fs::Permissions::from_mode(0o444);
    std::fs::set_permissions(&path, ro).expect("chmod");
    let is_root = std::fs::OpenOptions::new().write(true).open(&path).is_ok();
    if is_root {
        // Permission bits do not stop root: emulate a read-only medium with SQLite's flag.
        let conn = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open ro");
        let e = conn
            .execute("INSERT INTO settings(key, value) VALUES ('x', 'y')", [])
            .expect_err("read only");
        let err = CoreError::from_sqlite(&path, e);
        assert_eq!(err.code(), ErrorCode::DatabaseReadOnly);
        assert!(err.help().contains("writable"));
    } else {
        let mut store = Store::open(&path).expect("open for reading");
        let err = store.set_setting("station_id", "x").expect_err("read only");
        assert_eq!(err.code(), ErrorCode::DatabaseReadOnly, "{err}");
    }
}

#[test]
fn busy_database_is_reported_as_temporary_and_changes_nothing() {
    let mut t = common::store();
    let path = t.store.path().to_path_buf();
    let locker = rusqlite::Connection::open(&path).expect("second connection");
    locker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("hold the write lock");
    // The store waits BUSY_TIMEOUT, then reports busy.
    let err = t
        .store
        .create_batch(&batch("WeatherStation", "", 2, false), &t.actor)
        .expect_err("busy");
    assert_eq!(err.code(), ErrorCode::DatabaseBusy, "{err}");
    assert!(err.is_temporary());
    locker.execute_batch("ROLLBACK").expect("release");
    assert_eq!(device_count(&t.store), 0);
    t.store
        .create_batch(&batch("WeatherStation", "", 2, false), &t.actor)
        .expect("works once the lock is gone");
}

#[test]
fn two_connections_creating_batches_at_once_never_share_an_id() {
    let t = common::store();
    let path = t.store.path().to_path_buf();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut s = Store::open(&path).expect("open");
                let actor = station_core::Actor::new(format!("op{i}"), "line-1").expect("actor");
                let mut made = 0;
                for _ in 0..5 {
                    made += s
                        .create_batch(&batch("WeatherStation", "x-", 3, false), &actor)
                        .expect("batch")
                        .devices
                        .len();
                }
                made
            })
        })
        .collect();
    let made: usize = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    assert_eq!(made, 60);
    let all = ids(&t.store);
    assert_eq!(all.len(), 60);
    assert_eq!(
        all.first().map(String::as_str),
        Some("x-weatherstation-001")
    );
    assert_eq!(all.last().map(String::as_str), Some("x-weatherstation-060"));
}

#[cfg(target_os = "linux")]
#[test]
fn disk_full_while_writing_a_batch_rolls_back_whole() {
    // A real full disk: a 1 MiB tmpfs, which needs root (CI runs as root). Elsewhere the
    // test says so and checks the error mapping only.
    let dir = tempfile::tempdir().expect("tempdir");
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).expect("mkdir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=600k", "tmpfs"])
        .arg(&mnt)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        eprintln!("SKIP: cannot mount a small tmpfs here (not root); disk-full path not exercised");
        return;
    }
    let result = std::panic::catch_unwind(|| {
        let mut store = Store::open(mnt.join("s.db")).expect("open");
        store
            .set_setting("hash_algorithm", common::FAST_HASH)
            .expect("hash");
        store
            .add_type(NewDeviceType {
                name: "WeatherStation".into(),
                app_label: "myapp".into(),
                ..Default::default()
            })
            .expect("type");
        let actor = station_core::Actor::new("alice", "line-1").expect("actor");
        let mut full = None;
        for _ in 0..200 {
            match store.create_batch(&batch("WeatherStation", "", 500, false), &actor) {
                Ok(_) => {}
                Err(e) => {
                    full = Some(e);
                    break;
                }
            }
        }
        let err = full.expect("the disk fills up");
        assert_eq!(err.code(), ErrorCode::DiskFull, "{err}");
        let count = store
            .list_devices(&DeviceFilter::default())
            .expect("list")
            .len();
        assert_eq!(count % 500, 0, "a batch was half-written: {count} devices");
        assert_eq!(store.list_batches().expect("batches").len() * 500, count);
    });
    let _ = std::process::Command::new("umount").arg(&mnt).status();
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}
