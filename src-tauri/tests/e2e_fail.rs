//! End-to-end, issue 14 slice h-fail: on the Station screen FAIL means a unit failed, and the
//! screen says what state the line is in. The real app binary through tauri-driver on a
//! display, flashing simulated units (training mode) on pseudo-terminals.
//!
//! One test per finding; each starts its own app on its own database (a launch costs seconds).
//! Run them one at a time (`--test-threads 1`) when taking the screenshots: windows of tests
//! running at once share the display, and a screenshot may show another test's window.
//! Screenshots: station-not-started, station-batch-complete, station-recent-results.
//! Run (with the UI built): `xvfb-run -a -s "-screen 0 1280x800x24" cargo nextest run -p
//! station-app --run-ignored only --no-capture -E 'binary(e2e_fail)'`.

mod support;

use std::path::Path;

use fantoccini::key::Key;
use station_core::settings::key;
use station_core::{BatchRequest, NewDeviceType, Store};
use support::*;

/// A training station `line-1` with fast hashing, `sim_ports` simulated ports and `types`.
fn station(home: &Path, sim_ports: u32, types: &[&str]) {
    let mut store = training_station(home, false);
    store
        .set_setting(key::SIM_PORTS, &sim_ports.to_string())
        .expect("sim ports");
    for name in types {
        store
            .add_type(NewDeviceType {
                name: (*name).into(),
                app_label: "myapp".into(),
                ..Default::default()
            })
            .expect("type");
    }
}

fn training_db(home: &Path) -> std::path::PathBuf {
    home.join(station_service::training::TRAINING_DB_FILE)
}

fn batch(home: &Path, count: u32) -> i64 {
    let mut store = Store::open(training_db(home)).expect("db");
    let (b, _) = station_service::records::create_batch(
        &mut store,
        &BatchRequest {
            lot: None,
            work_order: None,
            device_type: "WeatherStation".into(),
            prefix: "farm-".into(),
            count,
            with_credentials: false,
        },
        None,
    )
    .expect("batch");
    b.batch.id
}

fn counted(home: &Path) -> (u32, u32) {
    let shift = Store::open(training_db(home))
        .expect("db")
        .shift()
        .expect("shift");
    (shift.passed, shift.failed)
}

/// Select exactly `ports` (in this order) among the simulated ports.
async fn choose_ports(s: &Session, all: &[&str], ports: &[&str]) {
    for p in all {
        let css = format!("[data-testid=port][data-port='{p}']");
        let pressed = s.find(&css).await.attr("aria-pressed").await.expect("attr");
        if pressed.as_deref() == Some("true") {
            s.click(&css).await;
            s.wait_attr(&css, "aria-pressed", &["false"], WAIT).await;
        }
    }
    for p in ports {
        let css = format!("[data-testid=port][data-port='{p}']");
        s.click(&css).await;
        s.wait_attr(&css, "aria-pressed", &["true"], WAIT).await;
    }
}

async fn value_of(s: &Session, css: &str) -> String {
    s.find(css)
        .await
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default()
}

async fn no_fail_tile(s: &Session) {
    let states: Vec<(String, String, String)> = s.jobs().await;
    assert!(
        states.iter().all(|(_, _, st)| st != "failed"),
        "a FAIL tile: {states:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display: scripts/test-all.sh runs it under Xvfb"]
async fn finding_1_typing_mistake_is_not_a_fail() {
    let home = tempfile::tempdir().expect("tempdir");
    station(home.path(), 1, &["WeatherStation"]);
    let (driver, mut s, _) = start(home.path()).await;
    s.wait_attr(
        "[data-testid=target]",
        "value",
        &["type:WeatherStation"],
        WAIT,
    )
    .await;
    s.type_into("#prefix", "a/b").await;
    s.find("#prefix")
        .await
        .send_keys(&Key::Enter)
        .await
        .expect("enter");
    s.wait_for("[data-testid=not-started][data-control=prefix]")
        .await;
    let note = s
        .text("[data-testid=not-started][data-control=prefix]")
        .await;
    assert!(note.contains("Not started"), "{note}");
    assert!(note.contains("prefix"), "{note}");
    assert_eq!(s.text("[data-testid=count-failed]").await, "0");
    no_fail_tile(&s).await;
    assert_eq!(counted(home.path()), (0, 0), "nothing is counted");
    assert_eq!(
        value_of(&s, "#prefix").await,
        "a/b",
        "the typing stays to be fixed"
    );
    s.screenshot("station-not-started").await;

    // Finding 10 (typed ports): a path that is no port is refused next to the box; a real one
    // is added and can be removed again.
    s.type_into("[data-testid=typed-port]", "ttyUSB9").await;
    s.find("[data-testid=typed-port]")
        .await
        .send_keys(&Key::Enter)
        .await
        .expect("enter");
    let err = s.text("[data-testid=typed-port-error]").await;
    assert!(err.contains("not a port's path"), "{err}");
    assert!(!s.exists("[data-testid=port][data-port='ttyUSB9']").await);
    let unit = station_devsim::Simulator::start(station_devsim::SimOptions {
        flash: Some(home.path().join("typed.flash")),
        link: Some(home.path().join("ttyTYPED0")),
        ..station_devsim::SimOptions::default()
    })
    .expect("simulated unit");
    let typed = home.path().join("ttyTYPED0").display().to_string();
    s.type_into("[data-testid=typed-port]", &typed).await;
    s.find("[data-testid=typed-port]")
        .await
        .send_keys(&Key::Enter)
        .await
        .expect("enter");
    s.wait_for(&format!("[data-testid=port][data-port='{typed}']"))
        .await;
    assert!(!s.exists("[data-testid=typed-port-error]").await);
    s.click(&format!(
        "[data-testid=remove-typed-port][data-port='{typed}']"
    ))
    .await;
    let deadline = std::time::Instant::now() + WAIT;
    while s
        .exists(&format!("[data-testid=port][data-port='{typed}']"))
        .await
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the typed port stayed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    drop(unit);

    // A port that cannot be opened (a path that is no serial port): the job does not start;
    // a neutral tile and a note by the ports, no FAIL, nothing counted.
    let file = home.path().join("ttyFILE0");
    std::fs::write(&file, b"").expect("file");
    let file = file.display().to_string();
    s.type_into("#prefix", "bench-").await;
    s.type_into("[data-testid=typed-port]", &file).await;
    s.find("[data-testid=typed-port]")
        .await
        .send_keys(&Key::Enter)
        .await
        .expect("enter");
    s.wait_for(&format!("[data-testid=port][data-port='{file}']"))
        .await;
    choose_ports(&s, &["sim:1", &file], &[&file]).await;
    s.click("[data-testid=flash-button]").await;
    s.wait_attr(
        &format!("[data-testid=tile][data-port='{file}']"),
        "data-state",
        &["not_started"],
        FLASH_WAIT,
    )
    .await;
    s.wait_for("[data-testid=not-started][data-control=port]")
        .await;
    s.wait_for(&format!(
        "[data-testid=recent][data-port='{file}'] li[data-outcome=not_started]"
    ))
    .await;
    assert!(s
        .text(&format!("[data-testid=recent][data-port='{file}']"))
        .await
        .contains("no device"));
    assert_eq!(s.text("[data-testid=count-failed]").await, "0");
    no_fail_tile(&s).await;
    assert_eq!(counted(home.path()), (0, 0));
    s.client.close().await.expect("close the session");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display: scripts/test-all.sh runs it under Xvfb"]
async fn finding_2_gang_preflight_and_batch_complete() {
    let home = tempfile::tempdir().expect("tempdir");
    station(home.path(), 3, &["WeatherStation"]);
    let id = batch(home.path(), 2);
    let (driver, mut s, _) = start(home.path()).await;
    let all = ["sim:1", "sim:2", "sim:3"];
    choose_ports(&s, &all, &all).await;
    s.wait_attr(
        "[data-testid=target]",
        "value",
        &[&format!("batch:{id}")],
        WAIT,
    )
    .await;
    s.click("[data-testid=flash-button]").await;
    s.wait_for("[data-testid=not-started][data-control=target]")
        .await;
    let note = s
        .text("[data-testid=not-started][data-control=target]")
        .await;
    assert!(
        note.contains(&format!("Batch {id} has 2 devices left for 3 ports.")),
        "{note}"
    );
    assert!(note.contains("unselect a port"), "{note}");
    no_fail_tile(&s).await;
    assert_eq!(s.text("[data-testid=count-failed]").await, "0");
    // One port fewer: both flash, and the batch is complete.
    choose_ports(&s, &all, &["sim:1", "sim:2"]).await;
    let before = s.jobs().await;
    s.click("[data-testid=flash-button]").await;
    let states = s
        .wait_new_results(&["sim:1".to_owned(), "sim:2".to_owned()], &before)
        .await;
    assert_eq!(states, ["passed", "passed"]);
    let note = s.text("[data-testid=target-note]").await;
    assert!(note.contains(&format!("Batch {id} is complete")), "{note}");
    assert_eq!(value_of(&s, "[data-testid=target]").await, "");
    s.screenshot("station-batch-complete").await;
    // Enter with nothing chosen starts nothing and points at "What to flash".
    let before = s.jobs().await;
    s.js("document.body.focus(); return true;").await;
    s.find("body")
        .await
        .send_keys(&Key::Enter)
        .await
        .expect("enter");
    s.wait_for("[data-testid=not-started][data-control=target]")
        .await;
    let focused = s
        .js("return document.activeElement && document.activeElement.id;")
        .await;
    assert_eq!(focused, "target");
    assert_eq!(s.jobs().await, before, "nothing started");
    assert_eq!(counted(home.path()), (2, 0));
    s.client.close().await.expect("close the session");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display: scripts/test-all.sh runs it under Xvfb"]
async fn finding_3_restart_keeps_target_and_ports() {
    let home = tempfile::tempdir().expect("tempdir");
    // "AirSensor" sorts first: a restart used to fall back to it.
    station(home.path(), 3, &["AirSensor", "WeatherStation"]);
    let (driver, s, _) = start(home.path()).await;
    s.select("[data-testid=target]", "type:WeatherStation")
        .await;
    choose_ports(&s, &["sim:1", "sim:2", "sim:3"], &["sim:3", "sim:2"]).await;
    // Remembering is asynchronous: wait until the station has it.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let choice = Store::open(training_db(home.path()))
            .expect("db")
            .station_choice()
            .expect("choice");
        if choice.ports == ["sim:3", "sim:2"] && choice.target.is_some() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not remembered: {choice:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    s.client.close().await.expect("close the session");
    drop(driver);

    let (driver, s, _) = start(home.path()).await;
    assert_eq!(
        value_of(&s, "[data-testid=target]").await,
        "type:WeatherStation"
    );
    for (port, pressed) in [("sim:1", "false"), ("sim:2", "true"), ("sim:3", "true")] {
        s.wait_attr(
            &format!("[data-testid=port][data-port='{port}']"),
            "aria-pressed",
            &[pressed],
            WAIT,
        )
        .await;
    }
    assert!(!s.exists("[data-testid=target-note]").await);
    s.client.close().await.expect("close the session");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display: scripts/test-all.sh runs it under Xvfb"]
async fn finding_4_gang_numbering_in_port_order() {
    let home = tempfile::tempdir().expect("tempdir");
    station(home.path(), 3, &["WeatherStation"]);
    batch(home.path(), 3);
    let (driver, mut s, _) = start(home.path()).await;
    let all = ["sim:1", "sim:2", "sim:3"];
    choose_ports(&s, &all, &all).await;
    let ports: Vec<String> = all.iter().map(|p| (*p).to_owned()).collect();
    let before = s.jobs().await;
    s.click("[data-testid=flash-button]").await;
    let states = s.wait_new_results(&ports, &before).await;
    assert_eq!(states, ["passed", "passed", "passed"]);
    for (i, port) in all.iter().enumerate() {
        let id = s
            .text(&format!(
                "[data-testid=tile][data-port='{port}'] [data-testid=result-device]"
            ))
            .await;
        assert_eq!(id, format!("farm-weatherstation-{:03}", i + 1), "{port}");
        // The per-port recent results list the pass with its device.
        let css = format!("[data-testid=recent][data-port='{port}'] li[data-outcome=passed]");
        s.wait_for(&css).await;
        assert!(s.text(&css).await.contains(&id));
    }
    s.screenshot_at("station-recent-results", "[data-testid=recent-results]")
        .await;
    // They survive a screen switch (the station keeps them, not the screen).
    s.nav("devices").await;
    s.nav("station").await;
    s.wait_for("[data-testid=recent][data-port='sim:3'] li[data-outcome=passed]")
        .await;
    s.client.close().await.expect("close the session");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display: scripts/test-all.sh runs it under Xvfb"]
async fn finding_9_operator_header_fault_and_auto_flash() {
    let home = tempfile::tempdir().expect("tempdir");
    station(home.path(), 1, &["WeatherStation"]);
    let (driver, s, _) = start(home.path()).await;
    // Nobody signed in: the operator bar asks for a name or badge, naming nobody.
    let bar = s.find("[data-testid=station-operator]").await;
    assert_eq!(
        bar.attr("data-operator").await.expect("attr").as_deref(),
        Some("")
    );
    s.find("[data-testid=sign-in-input]").await;
    // A flash with no operator set records the computer's user, never "operator".
    let before = s.jobs().await;
    s.click("[data-testid=flash-button]").await;
    let states = s.wait_new_results(&["sim:1".to_owned()], &before).await;
    assert_eq!(states, ["passed"]);
    let device = Store::open(training_db(home.path()))
        .expect("db")
        .find_device("weatherstation-001")
        .expect("device");
    assert_ne!(device.operator, "operator");
    assert!(!device.operator.is_empty());

    // Settings: operator, station name and a simulated fault; the Station screen follows at once.
    s.nav("settings").await;
    s.type_into("[data-testid=operator]", "ana").await;
    s.find("[data-testid=operator]")
        .await
        .send_keys(&Key::Enter)
        .await
        .expect("enter");
    s.type_into("[data-testid=station-name]", "line-7").await;
    s.find("[data-testid=station-name]")
        .await
        .send_keys(&Key::Enter)
        .await
        .expect("enter");
    s.wait_text("[data-testid=station-name-header]", "line-7")
        .await;
    s.select("[data-testid=sim-fault]", "no_answer").await;
    s.wait_attr("[data-testid=sim-fault]", "value", &["no_answer"], WAIT)
        .await;
    s.nav("station").await;
    s.wait_text("[data-testid=station-operator]", "ana").await;
    let badge = s.text("[data-testid=sim-fault-badge]").await;
    assert!(badge.contains("does not answer"), "{badge}");
    s.wait_for("[data-testid=tile-sim-fault]").await;
    // Auto-flash on the simulated port says why it cannot see a unit arrive, and what to press.
    s.click("[data-testid=auto-flash]").await;
    let note = s.text("[data-testid=auto-flash-sim-note]").await;
    assert!(note.contains("Plug in a simulated unit"), "{note}");
    s.wait_for("[data-testid=sim-plug]").await;
    s.client.close().await.expect("close the session");
    drop(driver);
}
