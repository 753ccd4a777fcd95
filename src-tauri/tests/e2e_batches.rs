//! End-to-end, issue 14 slice h-batch: batches a production lead can run and forms that behave,
//! through the real app binary (tauri-driver and WebKitWebDriver under Xvfb, the shared harness
//! in `support`). One test a finding, each on its own station database:
//! - finding 5: lot and work order, one batch per Enter, close, cancel after a confirmation;
//! - finding 6: a batch of 10,000 labelled right, its devices paged with the total, numeric order;
//! - finding 7: form problems next to the form, in view, focused, replacing the last one;
//! - finding 8: "Add a device type in Settings" lands on the form; the Provision button is in
//!   view at 1280×800 with three ports;
//! - finding 10: the CSV export's times and lot/work-order columns, and 8883 without TLS.
//!
//! Run: `cd ui && npm run build && cd .. && xvfb-run -a -s "-screen 0 1280x800x24" cargo nextest
//! run -p station-app --run-ignored only --no-capture -E 'binary(e2e_batches)'`.
//! `STATION_E2E_SCREENSHOTS=docs/screenshots` also writes batches-lot.png and
//! batch-cancel-confirm.png there.

mod support;

use std::path::Path;

use fantoccini::key::Key;
use serde_json::Value;
use station_core::{BatchState, DeviceFilter, Store};
use support::*;

/// A training-mode station on `home` (its simulated units), fast hashing, `sim_ports`
/// simulated ports, and the WeatherStation type unless `with_type` is false.
fn prepare(home: &Path, with_type: bool, sim_ports: u32) {
    training_station(home, with_type)
        .set_setting("app.sim_ports", &sim_ports.to_string())
        .expect("ports");
}

/// The station database the app writes (training mode's own file).
fn open_db(home: &Path) -> Store {
    let production = home.join("station.sqlite3");
    station_service::training::open(&production, station_service::training::Mode::Training)
        .expect("db")
}

/// Whether `css` is wholly inside the window (not above or below the fold).
async fn in_view(s: &Session, css: &str) -> bool {
    let script = format!(
        "const r = document.querySelector({}).getBoundingClientRect(); \
         return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight;",
        serde_json::to_string(css).expect("json")
    );
    s.js(&script).await == Value::Bool(true)
}

/// The `data-testid` (or id) of the focused element.
async fn focused(s: &Session) -> String {
    s.js("const a = document.activeElement; return a ? (a.dataset.testid || a.id || a.tagName) : '';")
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn create_batch(s: &Session, prefix: &str, count: &str, lot: &str, work_order: &str) {
    s.type_into("[data-testid=batch-prefix]", prefix).await;
    s.type_into("[data-testid=batch-count]", count).await;
    // WebDriver cannot type nothing: an empty field is left as it is (empty).
    if !lot.is_empty() {
        s.type_into("[data-testid=batch-lot]", lot).await;
    }
    if !work_order.is_empty() {
        s.type_into("[data-testid=batch-work-order]", work_order)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display: scripts/test-all.sh runs it under Xvfb"]
async fn finding_5_batch_close_and_cancel() {
    let home = tempfile::tempdir().expect("tempdir");
    prepare(home.path(), true, 1);
    let (driver, mut s, _) = start(home.path()).await;
    s.nav("batches").await;
    create_batch(&s, "lot-", "3", "LOT-7A", "WO-2026-0042").await;
    // Enter, and Enter again at once: one batch.
    let count = s.find("[data-testid=batch-count]").await;
    count.send_keys(&Key::Enter).await.expect("enter");
    count.send_keys(&Key::Enter).await.expect("enter");
    s.wait_text("[data-testid=batch-created]", "Batch 1 created")
        .await;
    // Enter once more in the form: the same values ask first, nothing is made.
    s.find("[data-testid=batch-lot]")
        .await
        .send_keys(&Key::Enter)
        .await
        .expect("enter");
    s.wait_for("[data-testid=batch-repeat]").await;
    assert_eq!(
        open_db(home.path()).list_batches().expect("batches").len(),
        1,
        "Enter after Create made a second batch"
    );
    let run = s.text("[data-testid=batch-run]").await;
    assert!(
        run.contains("Lot LOT-7A") && run.contains("Work order WO-2026-0042"),
        "{run}"
    );
    assert!(
        run.contains("lot-weatherstation-001 … lot-weatherstation-003"),
        "{run}"
    );
    s.screenshot_at("batches-lot", "[data-testid=batch-form]")
        .await;

    // Close: no more devices issued, the unflashed ones listed and left as they are.
    s.click("[data-testid=batch-close]").await;
    s.wait_attr("[data-testid=batch-ended]", "data-state", &["closed"], WAIT)
        .await;
    assert!(s
        .text("[data-testid=batch-ended]")
        .await
        .contains("3 devices were never flashed"));
    s.wait_text("[data-testid=batch-state]", "Closed").await;
    assert!(!s.exists("[data-testid=batch-close]").await);

    // Cancel asks first; "Keep the batch" changes nothing.
    s.click("[data-testid=batch-cancel]").await;
    s.wait_for("[data-testid=batch-cancel-confirm]").await;
    assert_eq!(focused(&s).await, "batch-cancel-reason");
    assert!(s
        .text("[data-testid=batch-cancel-confirm]")
        .await
        .contains("Its 3 unflashed devices will be deactivated"));
    s.type_into("[data-testid=batch-cancel-reason]", "order withdrawn")
        .await;
    s.screenshot_at("batch-cancel-confirm", "[data-testid=batch]")
        .await;
    s.click("[data-testid=batch-cancel-no]").await;
    assert!(!s.exists("[data-testid=batch-cancel-confirm]").await);
    assert_eq!(
        open_db(home.path()).find_batch(1).expect("b").batch.state,
        BatchState::Closed
    );
    s.click("[data-testid=batch-cancel]").await;
    s.type_into("[data-testid=batch-cancel-reason]", "order withdrawn")
        .await;
    s.click("[data-testid=batch-cancel-yes]").await;
    s.wait_attr(
        "[data-testid=batch-ended]",
        "data-state",
        &["cancelled"],
        WAIT,
    )
    .await;
    s.wait_text("[data-testid=batch-state]", "Cancelled").await;
    let store = open_db(home.path());
    let devices = store
        .list_devices(&DeviceFilter::default())
        .expect("devices");
    assert_eq!(devices.len(), 3, "nothing deleted");
    assert!(devices.iter().all(|d| !d.is_active));

    // The Devices screen marks them with the no-entry mark drawn as SVG (finding 10).
    s.nav("devices").await;
    s.type_into("[data-testid=device-search]", "lot-7a").await;
    s.click("[data-testid=device-search-go]").await;
    s.wait_text("[data-testid=device-page-label]", "of 3").await;
    s.find("[data-testid=device-row] [data-testid=no-entry-icon]")
        .await;
    s.client.close().await.expect("close the session");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display: scripts/test-all.sh runs it under Xvfb"]
async fn finding_6_large_batch_numbering_and_paging() {
    let home = tempfile::tempdir().expect("tempdir");
    prepare(home.path(), true, 1);
    let (driver, s, _) = start(home.path()).await;
    s.nav("batches").await;
    create_batch(&s, "big-", "10000", "", "").await;
    s.click("[data-testid=batch-create]").await;
    s.wait_text("[data-testid=batch-created]", "Batch 1 created")
        .await;
    let created = s.text("[data-testid=batch-created]").await;
    assert!(
        created.contains("big-weatherstation-001 … big-weatherstation-10000"),
        "{created}"
    );
    assert_eq!(
        s.text("[data-testid=batch-range]").await,
        "big-weatherstation-001 … big-weatherstation-10000"
    );
    s.click("[data-testid=batch-devices]").await;
    s.wait_text("[data-testid=batch-devices-page]", "Showing 1–100 of 10000")
        .await;
    s.click("[data-testid=batch-devices-next]").await;
    s.wait_text(
        "[data-testid=batch-devices-page]",
        "Showing 101–200 of 10000",
    )
    .await;
    assert_eq!(
        s.text("[data-testid=batch-device-list] tbody tr td").await,
        "big-weatherstation-101"
    );

    // Devices: numeric order (136 < 1359 < 1360), the whole match counted, not cut at 500.
    s.nav("devices").await;
    s.type_into("[data-testid=device-search]", "weatherstation-13")
        .await;
    s.click("[data-testid=device-search-go]").await;
    s.wait_text("[data-testid=device-page-label]", "Showing 1–110 of 110")
        .await;
    let ids = s
        .js("return Array.from(document.querySelectorAll('[data-testid=device-row]')).map(r => r.dataset.device);")
        .await;
    let ids: Vec<&str> = ids
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| v.as_str().expect("id"))
        .collect();
    let at = |id: &str| ids.iter().position(|d| *d == id).expect(id);
    assert_eq!(ids[0], "big-weatherstation-130");
    assert!(at("big-weatherstation-136") < at("big-weatherstation-1359"));
    assert!(at("big-weatherstation-1359") < at("big-weatherstation-1360"));
    s.type_into("[data-testid=device-search]", "big-").await;
    s.click("[data-testid=device-search-go]").await;
    s.wait_text("[data-testid=device-page-label]", "of 10000")
        .await;
    s.client.close().await.expect("close the session");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display: scripts/test-all.sh runs it under Xvfb"]
async fn finding_7_form_errors_in_view() {
    let home = tempfile::tempdir().expect("tempdir");
    prepare(home.path(), true, 1);
    let (driver, s, _) = start(home.path()).await;
    s.nav("batches").await;
    assert_eq!(
        s.js("return document.querySelector('[data-testid=batch-form]').noValidate;")
            .await,
        Value::Bool(true),
        "the app's own messages, not the browser's bubbles"
    );
    // Scrolled away from the form first, as a lead reading the list would be.
    s.js("window.scrollTo(0, document.body.scrollHeight); return true;")
        .await;
    s.type_into("[data-testid=batch-count]", "0").await;
    s.click("[data-testid=batch-create]").await;
    s.wait_text("[data-testid=batch-form-problem]", "whole number")
        .await;
    assert!(in_view(&s, "[data-testid=batch-form-problem]").await);
    assert_eq!(focused(&s).await, "batch-form-problem");
    // A second problem replaces the first.
    s.type_into("[data-testid=batch-count]", "5").await;
    s.type_into("[data-testid=batch-prefix]", "a b").await;
    s.click("[data-testid=batch-create]").await;
    s.wait_text("[data-testid=batch-form-problem]", "spaces")
        .await;
    let problem = s.text("[data-testid=batch-form-problem]").await;
    assert!(!problem.contains("whole number"), "{problem}");
    // The station's own refusal is shown there too, with what to do.
    s.type_into("[data-testid=batch-prefix]", "a/b").await;
    s.click("[data-testid=batch-create]").await;
    s.wait_text("[data-testid=batch-form-problem]", "What to do")
        .await;
    assert!(in_view(&s, "[data-testid=batch-form-problem]").await);
    assert_eq!(
        s.js("return document.querySelectorAll('[data-testid=batch-form-problem] [role=alert]').length;")
            .await,
        Value::from(1)
    );
    assert!(open_db(home.path()).list_batches().expect("b").is_empty());
    s.client.close().await.expect("close the session");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display: scripts/test-all.sh runs it under Xvfb"]
async fn finding_8_add_type_lands_on_form() {
    let home = tempfile::tempdir().expect("tempdir");
    prepare(home.path(), false, 3);
    let (driver, s, _) = start(home.path()).await;
    s.click("[data-testid=station-screen] .empty button.primary")
        .await;
    s.wait_for("[data-testid=settings-screen]").await;
    s.wait_attr("#t-name", "id", &["t-name"], WAIT).await;
    let deadline = std::time::Instant::now() + WAIT;
    while focused(&s).await != "type-name" {
        assert!(
            std::time::Instant::now() < deadline,
            "the type form's name was not focused: {}",
            focused(&s).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(in_view(&s, "#t-name").await, "the form is in view");

    // A broker on 8883 without TLS is refused, next to the form, saying why (finding 10).
    s.type_into("[data-testid=type-name]", "WeatherStation")
        .await;
    s.type_into("[data-testid=type-label]", "myapp").await;
    s.type_into("#t-port", "8883").await;
    s.click("[data-testid=type-save]").await;
    s.wait_text("[data-testid=type-form-problem]", "MQTT over TLS")
        .await;
    assert!(in_view(&s, "[data-testid=type-form-problem]").await);
    s.select("#t-tls", "yes").await;
    s.click("[data-testid=type-save]").await;
    s.wait_for("[data-testid=type-row][data-type=WeatherStation]")
        .await;

    // The Station screen at 1280×800 with three ports: the Provision button is in view.
    s.nav("station").await;
    s.wait_attr(
        "[data-testid=station-screen]",
        "data-ready",
        &["true"],
        WAIT,
    )
    .await;
    s.wait_for("[data-testid=port][data-port='sim:3']").await;
    let size = s
        .js("return [window.innerWidth, window.innerHeight];")
        .await;
    eprintln!("window {size}");
    s.js("window.scrollTo(0, 0); return true;").await;
    assert!(
        in_view(&s, "[data-testid=flash-button]").await,
        "the Provision button is below the fold"
    );
    s.client.close().await.expect("close the session");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display: scripts/test-all.sh runs it under Xvfb"]
async fn finding_10_csv_times_and_lot() {
    let home = tempfile::tempdir().expect("tempdir");
    prepare(home.path(), true, 1);
    let (driver, s, _) = start(home.path()).await;
    s.nav("batches").await;
    create_batch(&s, "csv-", "2", "LOT-9", "WO-77").await;
    s.click("[data-testid=batch-create]").await;
    s.wait_for("[data-testid=batch]").await;
    let csv_path = s.home.join("exports/batch.csv");
    std::fs::create_dir_all(csv_path.parent().expect("dir")).expect("dir");
    s.click("[data-testid=export-csv]").await;
    let p = csv_path.clone();
    tokio::task::spawn_blocking(move || answer_save_dialog(&p))
        .await
        .expect("dialog");
    s.wait_for("[data-testid=export-done]").await;
    let mut reader = csv::Reader::from_path(&csv_path).expect("the exported CSV");
    let header = reader.headers().expect("header").clone();
    let at = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no {name} in {header:?}"))
    };
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 2);
    let spreadsheet_time =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    for row in &rows {
        assert_eq!(&row[at("lot")], "LOT-9");
        assert_eq!(&row[at("work_order")], "WO-77");
        for column in ["created_at (UTC)", "updated_at (UTC)"] {
            let cell = &row[at(column)];
            time::PrimitiveDateTime::parse(cell, spreadsheet_time)
                .unwrap_or_else(|e| panic!("{column} = {cell:?}: {e}"));
        }
        assert_eq!(&row[at("flashed_at (UTC)")], "", "not flashed");
    }
    s.client.close().await.expect("close the session");
    drop(driver);
}
