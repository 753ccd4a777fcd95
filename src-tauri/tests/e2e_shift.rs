//! End-to-end for issue 14's operator, shift and scan-to-link (slice h-shift): the real app
//! through tauri-driver under Xvfb, flashing simulated units in training mode.
//!
//! Each behaviour is its own test, named after it (nextest runs each test in its own process,
//! so each launches the app once). Screenshots: station-operator.png, shift.png,
//! shift-report.png (`STATION_E2E_SCREENSHOTS=docs/screenshots`).
//!
//! Run: `cd ui && npm run build && cd .. && xvfb-run -a -s "-screen 0 1280x800x24" cargo
//! nextest run -p station-app --run-ignored only --no-capture -E 'binary(e2e_shift)'`.

mod support;

use std::path::Path;

use fantoccini::key::Key;
use station_core::settings::key;
use station_core::Store;
use support::*;

/// A training station with one device type and a fast hash, as a line would have it.
fn station(home: &Path, setup: impl FnOnce(&mut Store)) {
    setup(&mut training_station(home, true));
}

async fn sim1_selected(s: &Session) {
    s.wait_attr(
        "[data-testid=port][data-port='sim:1']",
        "aria-pressed",
        &["true"],
        WAIT,
    )
    .await;
}

/// Type into the sign-in box and press Enter, as a keyboard-wedge badge scanner does.
async fn enter_into(s: &Session, css: &str, text: &str) {
    s.type_into(css, text).await;
    s.find(css)
        .await
        .send_keys(&Key::Enter)
        .await
        .expect("enter");
}

async fn signed_in(s: &Session) -> String {
    s.wait_for("[data-testid=station-operator]")
        .await
        .attr("data-operator")
        .await
        .expect("attr")
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display: scripts/test-all.sh runs it under Xvfb"]
async fn sign_in_typed_and_badge() {
    let home = tempfile::tempdir().expect("tempdir");
    station(home.path(), |_| {});
    let (driver, mut s, _) = start(home.path()).await;
    sim1_selected(&s).await;

    // Typed: the name and the Sign in button.
    s.type_into("[data-testid=sign-in-input]", "Ana Lima").await;
    s.click("[data-testid=sign-in]").await;
    s.wait_text("[data-testid=operator-name]", "Ana Lima").await;
    s.screenshot("station-operator").await;
    s.click("[data-testid=sign-out]").await;
    s.wait_for("[data-testid=sign-in-input]").await;

    // A badge scanner types the badge and Enter: that signs in and starts no flash.
    let jobs_before = s.jobs().await;
    enter_into(&s, "[data-testid=sign-in-input]", "BADGE-4711").await;
    s.wait_text("[data-testid=operator-name]", "BADGE-4711")
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        s.jobs().await,
        jobs_before,
        "the badge's Enter started a flash"
    );

    // The record carries the operator.
    assert_eq!(s.flash_one("sim:1").await, "passed");
    let store = Store::open(s.db()).expect("db");
    let device = store
        .find_device("weatherstation-001")
        .expect("the flashed device");
    assert_eq!(device.operator, "BADGE-4711");
    drop(driver);
}

/// The station refused the press for want of a sign-in: said at the sign-in box, every tile idle.
async fn refused_at_sign_in_box(s: &Session, how: &str) {
    s.wait_text("[data-testid=operator-not-started]", "Not started")
        .await;
    let states: Vec<String> = s.jobs().await.into_iter().map(|(_, _, st)| st).collect();
    assert!(
        states.iter().all(|st| st == "idle"),
        "{how}: a tile changed: {states:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display: scripts/test-all.sh runs it under Xvfb"]
async fn sign_in_required_blocks_flash_without_fail() {
    let home = tempfile::tempdir().expect("tempdir");
    station(home.path(), |store| {
        store
            .set_setting(key::OPERATOR_REQUIRED, "on")
            .expect("required");
    });
    let (driver, s, _) = start(home.path()).await;
    sim1_selected(&s).await;
    assert_eq!(signed_in(&s).await, "");
    s.find("[data-testid=sign-in-required]").await;

    // Auto-flash: a unit arriving with nobody signed in is refused by the station the same
    // way, said at the sign-in box, and no tile changes. A sign-in takes the note away.
    s.click("[data-testid=auto-flash]").await;
    s.click("[data-testid=sim-plug]").await;
    refused_at_sign_in_box(&s, "auto-flash").await;
    s.click("[data-testid=auto-flash]").await;
    enter_into(&s, "[data-testid=sign-in-input]", "badge-7").await;
    s.wait_text("[data-testid=operator-name]", "badge-7").await;
    assert!(!s.exists("[data-testid=operator-not-started]").await);
    s.click("[data-testid=sign-out]").await;
    s.wait_for("[data-testid=sign-in-input]").await;

    // Enter (the line's flash key) with nobody signed in: not started, said next to the
    // sign-in box; no tile turns red, the Failed counter stays at 0, no unit is touched.
    s.js("document.getElementById('target').focus(); return true;")
        .await;
    s.find("#target")
        .await
        .send_keys(&Key::Enter)
        .await
        .expect("enter");
    refused_at_sign_in_box(&s, "Enter").await;
    assert_eq!(s.text("[data-testid=count-failed]").await, "0");
    let store = Store::open(s.db()).expect("db");
    let shift = store.shift().expect("shift");
    assert_eq!((shift.passed, shift.failed), (0, 0));
    assert!(store
        .list_devices(&Default::default())
        .expect("devices")
        .is_empty());

    // Signed in, the same key flashes.
    enter_into(&s, "[data-testid=sign-in-input]", "badge-7").await;
    s.wait_text("[data-testid=operator-name]", "badge-7").await;
    assert!(!s.exists("[data-testid=operator-not-started]").await);
    assert_eq!(s.flash_one("sim:1").await, "passed");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display: scripts/test-all.sh runs it under Xvfb"]
async fn shift_report_exported_and_parsed() {
    let home = tempfile::tempdir().expect("tempdir");
    station(home.path(), |store| {
        station_service::operator::sign_in(store, "ana").expect("sign in");
    });
    let (driver, mut s, _) = start(home.path()).await;
    sim1_selected(&s).await;
    s.nav("shift").await;
    s.click("[data-testid=shift-start]").await;
    s.wait_for("[data-testid=shift-end]").await;

    // Two passes and a failure (a unit that refuses to save) on the Station screen.
    s.nav("station").await;
    sim1_selected(&s).await;
    assert_eq!(s.flash_one("sim:1").await, "passed");
    Store::open(s.db())
        .expect("db")
        .set_setting(key::SIM_FAULT, "refuses_to_save")
        .expect("fault");
    assert_eq!(s.flash_one("sim:1").await, "failed");
    Store::open(s.db())
        .expect("db")
        .set_setting(key::SIM_FAULT, "none")
        .expect("fault");
    assert_eq!(s.flash_one("sim:1").await, "passed");

    // End the shift: asked first, with the counts.
    s.nav("shift").await;
    s.wait_text("[data-testid=shift-passed]", "2").await;
    s.click("[data-testid=shift-end]").await;
    let question = s.text("[data-testid=shift-confirm]").await;
    assert!(
        question.contains("End shift? 2 passed, 1 failed."),
        "{question}"
    );
    s.screenshot("shift").await;
    s.click("[data-testid=shift-end-confirm]").await;
    s.wait_for("[data-testid=shift-report]").await;
    s.screenshot_at("shift-report", "#past-title").await;

    // The printable page through the save dialog.
    let page = s.home.join("exports/shift.html");
    std::fs::create_dir_all(page.parent().expect("dir")).expect("dir");
    s.click("[data-testid=shift-save-page]").await;
    let p = page.clone();
    tokio::task::spawn_blocking(move || answer_save_dialog_titled("^Save the report of shift", &p))
        .await
        .expect("dialog");
    s.wait_text("[data-testid=shift-saved]", "shift.html").await;
    let html = std::fs::read_to_string(&page).expect("the page");
    assert!(html.contains("@media print") && html.contains("<td class=\"n\">2</td>"));
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;

    // Export the report as CSV through the save dialog, then parse it.
    let csv_path = s.home.join("exports/shift.csv");
    std::fs::create_dir_all(csv_path.parent().expect("dir")).expect("dir");
    s.click("[data-testid=shift-save-csv]").await;
    let p = csv_path.clone();
    tokio::task::spawn_blocking(move || answer_save_dialog_titled("^Save the report of shift", &p))
        .await
        .expect("dialog");
    s.wait_text("[data-testid=shift-saved]", "shift.csv").await;
    let mut rd = csv::Reader::from_path(&csv_path).expect("the saved CSV");
    let headers = rd.headers().expect("headers").clone();
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 1);
    let at = |c: &str| {
        rows[0][headers
            .iter()
            .position(|h| h == c)
            .unwrap_or_else(|| panic!("no column {c}: {headers:?}"))]
        .to_string()
    };
    assert_eq!((at("passed"), at("failed")), ("2".into(), "1".into()));
    assert_eq!(at("failed_by_reason"), "storage_full: 1");
    assert_eq!(at("operators"), "ana");
    let attempted: f64 = at("units_attempted").parse().expect("units");
    let first: f64 = at("first_pass_passed").parse().expect("first");
    let fpy: f64 = at("first_pass_yield_percent").parse().expect("fpy");
    assert!(
        first < attempted,
        "the failed unit is not a first-pass unit"
    );
    assert!(
        (fpy - (first * 1000.0 / attempted).round() / 10.0).abs() < 1e-9,
        "first-pass yield {fpy} is not {first}/{attempted}"
    );
    let started = at("started_at");
    assert!(
        started.len() == 19 && started.as_bytes()[10] == b' ',
        "{started}"
    );
    assert!(at("utc_offset").starts_with(['+', '-']));

    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display: scripts/test-all.sh runs it under Xvfb"]
async fn scan_to_link_before_and_after() {
    let home = tempfile::tempdir().expect("tempdir");
    station(home.path(), |store| {
        station_service::operator::sign_in(store, "ana").expect("sign in");
    });
    let (driver, mut s, _) = start(home.path()).await;
    sim1_selected(&s).await;

    // Before: the label is scanned, then the unit flashed.
    enter_into(&s, "[data-testid=scan-input]", "aa-bb-cc-00-11-22").await;
    s.wait_text(
        "[data-testid=scan-result]",
        "will be linked to the next unit",
    )
    .await;
    assert!(
        s.jobs().await.iter().all(|(_, _, st)| st == "idle"),
        "the scan's Enter flashed"
    );
    assert_eq!(s.flash_one("sim:1").await, "passed");
    s.wait_text(
        "[data-testid=scan-result]",
        "Linked AA:BB:CC:00:11:22 to weatherstation-001",
    )
    .await;

    // After: the next unit is flashed, then its label scanned.
    assert_eq!(s.flash_one("sim:1").await, "passed");
    enter_into(&s, "[data-testid=scan-input]", "SN-0002").await;
    s.wait_text(
        "[data-testid=scan-result]",
        "Linked SN-0002 to weatherstation-002",
    )
    .await;
    s.screenshot_at("station-scan", "[data-testid=scan-box]")
        .await;

    // A label already linked elsewhere is refused, naming the device.
    enter_into(&s, "[data-testid=scan-input]", "AABBCC001122").await;
    s.wait_text(
        "[data-testid=scan-box] [data-testid=error-box]",
        "weatherstation-001",
    )
    .await;

    // Searchable in Devices, and shown in the detail.
    s.nav("devices").await;
    enter_into(&s, "[data-testid=device-search]", "sn-0002").await;
    let store = Store::open(s.db()).expect("db");
    assert_eq!(
        store
            .find_device("weatherstation-002")
            .expect("device")
            .unit_serial
            .as_deref(),
        Some("SN-0002")
    );
    drop(driver);
}
