//! Batches a production lead can run (issue 14, findings 5, 6 and 10) over real SQLite files:
//! lot and work order, close and cancel, range labels and numeric order at any size, paging
//! with a total, CSV times, and the broker port that needs TLS.

mod common;

use station_core::batches::BatchFilter;
use station_core::devices::DeviceFilter;
use station_core::export::{self, ExportFormat};
use station_core::{
    BatchRequest, BatchState, ErrorCode, FlashState, FlashTarget, NewDeviceType, TypeEdit,
};

fn request(prefix: &str, count: u32, lot: Option<&str>, work_order: Option<&str>) -> BatchRequest {
    BatchRequest {
        device_type: "WeatherStation".into(),
        prefix: prefix.into(),
        count,
        with_credentials: false,
        lot: lot.map(str::to_owned),
        work_order: work_order.map(str::to_owned),
    }
}

/// Flash the next device of `batch` to the end: the device confirms.
fn flash_next(t: &mut common::TestStore, batch: i64, unit: &str) -> String {
    let c = t
        .store
        .begin_flash(&FlashTarget::NextInBatch(batch), unit, &t.actor)
        .expect("begin");
    t.store
        .confirm_flash(&c.device_id, c.generation, unit, "1.0", &t.actor)
        .expect("confirm");
    c.device_id
}

#[test]
fn finding_5_lot_and_work_order_are_kept_validated_searched_and_exported() {
    let mut t = common::store();
    let b = t
        .store
        .create_batch(
            &request("farm-", 3, Some("  LOT-7A "), Some("WO-2026-0042")),
            &t.actor,
        )
        .expect("batch");
    assert_eq!(b.batch.lot.as_deref(), Some("LOT-7A"), "trimmed");
    assert_eq!(b.batch.work_order.as_deref(), Some("WO-2026-0042"));
    t.store
        .create_batch(&request("farm-", 2, None, Some(" ")), &t.actor)
        .expect("no lot");
    let listed = t.store.list_batches().expect("list");
    assert_eq!(listed[1].batch.work_order, None, "blank is none");

    // Bad input changes nothing and names the field.
    for (lot, wo) in [(Some("a\u{7}b"), None), (None, Some(&*"W".repeat(65)))] {
        let err = t
            .store
            .create_batch(&request("farm-", 2, lot, wo), &t.actor)
            .expect_err("refused");
        assert_eq!(err.code(), ErrorCode::InvalidInput, "{err}");
    }
    assert_eq!(t.store.list_batches().expect("list").len(), 2);

    // Searchable: batches by lot or work order, devices by their batch's.
    let (found, total) = t
        .store
        .search_batches(&BatchFilter {
            search: Some("wo-2026".into()),
            ..Default::default()
        })
        .expect("search");
    assert_eq!((found.len(), total), (1, 1));
    assert_eq!(found[0].batch.id, b.batch.id);
    let devices = t
        .store
        .list_devices(&DeviceFilter {
            search: Some("lot-7a".into()),
            ..Default::default()
        })
        .expect("devices");
    assert_eq!(devices.len(), 3);
    assert!(devices.iter().all(|d| d.lot.as_deref() == Some("LOT-7A")));

    // Exported in both formats.
    let csv_path = t.dir.path().join("b.csv");
    let filter = DeviceFilter {
        batch_id: Some(b.batch.id),
        ..Default::default()
    };
    export::export_to_file(&t.store, &filter, ExportFormat::Csv, &csv_path).expect("csv");
    let mut reader = csv::Reader::from_path(&csv_path).expect("read");
    let header = reader.headers().expect("header").clone();
    let at = |name: &str| header.iter().position(|h| h == name).expect(name);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(&rows[0][at("lot")], "LOT-7A");
    assert_eq!(&rows[0][at("work_order")], "WO-2026-0042");
    let json_path = t.dir.path().join("b.json");
    export::export_to_file(&t.store, &filter, ExportFormat::Json, &json_path).expect("json");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json_path).expect("read")).expect("parse");
    assert_eq!(v[0]["lot"], "LOT-7A");
    assert_eq!(v[0]["work_order"], "WO-2026-0042");
}

#[test]
fn finding_5_close_issues_no_more_devices_and_lists_the_unflashed() {
    let mut t = common::store();
    let b = t
        .store
        .create_batch(&request("", 4, None, None), &t.actor)
        .expect("batch")
        .batch;
    let first = flash_next(&mut t, b.id, "hw-1");
    let ended = t.store.close_batch(b.id, &t.actor).expect("close");
    assert_eq!(ended.batch.batch.state, BatchState::Closed);
    assert_eq!(ended.batch.batch.ended_by.as_deref(), Some("alice"));
    assert_eq!(
        ended.unflashed,
        [
            "weatherstation-002",
            "weatherstation-003",
            "weatherstation-004"
        ]
    );
    assert_eq!((ended.batch.flashed, ended.batch.remaining), (1, 3));
    assert_eq!(t.store.next_in_batch(b.id).expect("next"), None);
    let err = t
        .store
        .begin_flash(&FlashTarget::NextInBatch(b.id), "hw-2", &t.actor)
        .expect_err("closed");
    assert_eq!(err.code(), ErrorCode::Conflict);
    assert!(err.to_string().contains("closed"), "{err}");
    // Unflashed devices stay as they were: active, flashable one by one.
    let d = t.store.find_device("weatherstation-002").expect("d");
    assert!(d.is_active && d.flash_state == FlashState::None);
    assert_eq!(
        t.store.find_device(&first).expect("f").flash_state,
        FlashState::Flashed
    );
    let again = t.store.close_batch(b.id, &t.actor).expect_err("twice");
    assert_eq!(again.code(), ErrorCode::Conflict);
}

#[test]
fn finding_5_cancel_deactivates_the_unflashed_never_deletes_and_keeps_the_flashed() {
    let mut t = common::store();
    let b = t
        .store
        .create_batch(&request("", 3, None, None), &t.actor)
        .expect("batch")
        .batch;
    let flashed = flash_next(&mut t, b.id, "hw-1");
    let queued_before = t.store.outbox_counts().expect("outbox").pending;
    let ended = t
        .store
        .cancel_batch(b.id, &t.actor, "order withdrawn")
        .expect("cancel");
    assert_eq!(ended.batch.batch.state, BatchState::Cancelled);
    assert_eq!(
        ended.unflashed,
        ["weatherstation-002", "weatherstation-003"]
    );
    assert_eq!(
        (
            ended.batch.remaining,
            ended.batch.deactivated,
            ended.batch.flashed
        ),
        (0, 2, 1)
    );
    let all = t
        .store
        .list_devices(&DeviceFilter {
            batch_id: Some(b.id),
            ..Default::default()
        })
        .expect("devices");
    assert_eq!(all.len(), 3, "nothing deleted");
    assert!(
        t.store.find_device(&flashed).expect("f").is_active,
        "flashed stays"
    );
    for id in &ended.unflashed {
        let d = t.store.find_device(id).expect("d");
        assert!(!d.is_active);
        let history = t.store.device_history(id).expect("history");
        let last = history.last().expect("event");
        assert_eq!(last.kind, "deactivated");
        assert!(last.detail.contains("order withdrawn"), "{}", last.detail);
    }
    // The server never held the unflashed devices: nothing about them is queued.
    assert_eq!(
        t.store.outbox_counts().expect("outbox").pending,
        queued_before
    );
    assert_eq!(t.store.next_in_batch(b.id).expect("next"), None);
    // A closed batch may still be cancelled; a cancelled one stays cancelled.
    assert_eq!(
        t.store
            .close_batch(b.id, &t.actor)
            .expect_err("ended")
            .code(),
        ErrorCode::Conflict
    );
}

#[test]
fn finding_5_cancel_waits_for_a_flash_in_progress() {
    let mut t = common::store();
    let b = t
        .store
        .create_batch(&request("", 2, None, None), &t.actor)
        .expect("batch")
        .batch;
    let c = t
        .store
        .begin_flash(&FlashTarget::NextInBatch(b.id), "hw-1", &t.actor)
        .expect("begin");
    let err = t.store.cancel_batch(b.id, &t.actor, "").expect_err("busy");
    assert_eq!(err.code(), ErrorCode::Conflict);
    assert!(err.to_string().contains(&c.device_id), "{err}");
    assert_eq!(
        t.store.find_batch(b.id).expect("b").batch.state,
        BatchState::Open
    );
    assert!(
        t.store
            .find_device("weatherstation-002")
            .expect("d")
            .is_active,
        "unchanged"
    );
}

#[test]
fn finding_6_range_labels_are_right_at_any_size() {
    let mut t = common::store();
    // Ids keep django-devicehub's `iot_provision` rule: at least three digits, more as the
    // number needs (`-001`, `-999`, `-1000`, `-10000`); the range label is in number order.
    for (n, first, last) in [
        (1, "a-weatherstation-001", "a-weatherstation-001"),
        (9, "b-weatherstation-001", "b-weatherstation-009"),
        (10, "c-weatherstation-001", "c-weatherstation-010"),
        (99, "d-weatherstation-001", "d-weatherstation-099"),
        (100, "e-weatherstation-001", "e-weatherstation-100"),
        (9_999, "f-weatherstation-001", "f-weatherstation-9999"),
        (10_000, "g-weatherstation-001", "g-weatherstation-10000"),
    ] {
        let prefix = &first[..2];
        let b = t
            .store
            .create_batch(&request(prefix, n, None, None), &t.actor)
            .expect("batch");
        let p = t.store.find_batch(b.batch.id).expect("progress");
        assert_eq!(
            (
                p.batch.count,
                p.first_device_id.as_deref(),
                p.last_device_id.as_deref()
            ),
            (n, Some(first), Some(last)),
            "batch of {n}"
        );
    }
}

#[test]
fn finding_6_devices_list_in_numeric_order_a_page_at_a_time_with_the_total() {
    let mut t = common::store();
    let b = t
        .store
        .create_batch(&request("", 1_360, None, None), &t.actor)
        .expect("batch")
        .batch;
    let filter = |offset| DeviceFilter {
        batch_id: Some(b.id),
        search: Some("weatherstation-13".into()),
        limit: Some(5),
        offset: Some(offset),
        ..Default::default()
    };
    let total = t.store.count_devices(&filter(0)).expect("count");
    // 130..139 and 1300..1360: 10 + 61.
    assert_eq!(total, 71);
    let page = |offset| -> Vec<String> {
        t.store
            .list_devices(&filter(offset))
            .expect("page")
            .into_iter()
            .map(|d| d.device_id)
            .collect()
    };
    assert_eq!(
        page(0),
        [
            "weatherstation-130",
            "weatherstation-131",
            "weatherstation-132",
            "weatherstation-133",
            "weatherstation-134"
        ]
    );
    assert_eq!(
        page(8),
        [
            "weatherstation-138",
            "weatherstation-139",
            "weatherstation-1300",
            "weatherstation-1301",
            "weatherstation-1302"
        ]
    );
    assert_eq!(page(69), ["weatherstation-1359", "weatherstation-1360"]);
    assert!(page(71).is_empty());
    // Hand-given ids sort the same way: 136 < 1359 < 1360.
    let all: Vec<String> = t
        .store
        .list_devices(&DeviceFilter::default())
        .expect("all")
        .into_iter()
        .map(|d| d.device_id)
        .collect();
    let at = |id: &str| all.iter().position(|d| d == id).expect(id);
    assert!(at("weatherstation-136") < at("weatherstation-1359"));
    assert!(at("weatherstation-1359") < at("weatherstation-1360"));
    // Batches page newest first with their total.
    for _ in 0..3 {
        t.store
            .create_batch(&request("x-", 1, None, None), &t.actor)
            .expect("batch");
    }
    let (page, total) = t
        .store
        .search_batches(&BatchFilter {
            limit: Some(2),
            offset: Some(2),
            ..Default::default()
        })
        .expect("batches");
    assert_eq!(total, 4);
    assert_eq!(page.iter().map(|b| b.batch.id).collect::<Vec<_>>(), [2, 1]);
}

#[test]
fn finding_10_csv_times_are_spreadsheet_dates_with_the_offset_in_the_header() {
    let mut t = common::store();
    let b = t
        .store
        .create_batch(&request("", 1, Some("L1"), None), &t.actor)
        .expect("batch")
        .batch;
    flash_next(&mut t, b.id, "hw-1");
    let path = t.dir.path().join("t.csv");
    export::export_to_file(&t.store, &DeviceFilter::default(), ExportFormat::Csv, &path)
        .expect("export");
    let mut reader = csv::Reader::from_path(&path).expect("read");
    let header = reader.headers().expect("header").clone();
    let row = reader.records().next().expect("row").expect("row");
    for column in export::TIME_COLUMNS {
        let at = header
            .iter()
            .position(|h| h == format!("{column} (UTC)"))
            .unwrap_or_else(|| panic!("{column} (UTC) in {header:?}"));
        let cell = &row[at];
        time::PrimitiveDateTime::parse(
            cell,
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
        )
        .unwrap_or_else(|e| panic!("{column} = {cell:?}: {e}"));
    }
}

#[test]
fn finding_10_broker_on_8883_without_tls_is_refused_with_why() {
    let mut t = common::store();
    let err = t
        .store
        .add_type(NewDeviceType {
            name: "SoilProbe".into(),
            app_label: "myapp".into(),
            broker_port: Some(8883),
            broker_tls: Some(false),
            ..Default::default()
        })
        .expect_err("8883 needs TLS");
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.to_string().contains("MQTT over TLS"), "{err}");
    assert!(err.help().contains("turn TLS on"), "{}", err.help());
    assert!(t.store.find_type("SoilProbe").is_err(), "nothing added");
    let err = t
        .store
        .edit_type(
            "WeatherStation",
            TypeEdit {
                broker_port: Some(8883),
                ..Default::default()
            },
        )
        .expect_err("edit to 8883 without TLS");
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    let ty = t
        .store
        .edit_type(
            "WeatherStation",
            TypeEdit {
                broker_port: Some(8883),
                broker_tls: Some(true),
                ..Default::default()
            },
        )
        .expect("8883 with TLS");
    assert_eq!((ty.broker_port, ty.broker_tls), (8883, true));
}

#[test]
fn finding_5_cancel_keeps_a_flashed_device_whose_reflash_failed() {
    let mut t = common::store();
    let b = t
        .store
        .create_batch(&request("", 2, None, None), &t.actor)
        .expect("batch")
        .batch;
    let flashed = flash_next(&mut t, b.id, "hw-1");
    // A re-flash of it fails: its unit still holds generation 1.
    let c = t
        .store
        .begin_flash(&FlashTarget::Device(flashed.clone()), "hw-1", &t.actor)
        .expect("re-flash");
    t.store
        .fail_flash(&flashed, c.generation, "unplugged", &t.actor)
        .expect("fail");
    let ended = t.store.cancel_batch(b.id, &t.actor, "").expect("cancel");
    assert_eq!(ended.unflashed, ["weatherstation-002"]);
    let d = t.store.find_device(&flashed).expect("d");
    assert!(d.is_active && d.generation == 1, "{d:?}");
}
