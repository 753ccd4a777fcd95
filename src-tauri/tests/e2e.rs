//! End-to-end: the real app binary, driven through tauri-driver and WebKitWebDriver on a
//! display (Xvfb in CI), flashing simulated units on pseudo-terminals.
//!
//! One app session walks through what the line worker, the technician and the production
//! lead do: add a device type, provision one unit (PASS), see a simulated fault (FAIL with its
//! reason), create a batch and flash three, export it as CSV through the native save dialog,
//! rotate and re-flash a device, identify the unit on a port, deactivate one. Along the way it
//! takes a screenshot of every screen, checks that no IPC payload or page ever held a
//! credential the units received, and measures launch-to-interactive time, resident memory
//! idle and during an 8-port gang flash, and the longest frame gap during that gang flash.
//! A second session starts the app on a damaged database: the window says why and what to
//! do, and starts once the file is dealt with.
//!
//! Needs the UI built (`npm run build` in `ui/`, embedded when cargo builds the app),
//! `tauri-driver` on PATH, WebKitWebDriver, xdotool, and a display. `scripts/test-all.sh`
//! runs it under `xvfb-run` with `cargo nextest run --workspace --run-ignored only -E
//! 'package(station-app) & binary(/^e2e/)'`.
//! Set `STATION_E2E_SCREENSHOTS=DIR` to also write the screenshots to DIR (the committed ones
//! in `docs/screenshots` are made that way).

mod support;

use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::Locator;
use serde_json::{json, Value};
use support::*;
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display: scripts/test-all.sh runs it under Xvfb"]
async fn station_app_end_to_end() {
    let home = tempfile::tempdir().expect("tempdir");
    // The station's name, and fast hashing for the functional part; Django's real Argon2
    // parameters are used for the gang-flash measurement below.
    // The simulated units this suite flashes exist only in training mode.
    training_station(home.path(), false);
    let (driver, mut s, launch_to_ready) = start(home.path()).await;
    let ready_ms: u64 = s
        .js("return Number(document.documentElement.dataset.readyMs || 0);")
        .await
        .as_u64()
        .unwrap_or(0);
    let mut metrics = serde_json::Map::new();
    metrics.insert("launch_to_interactive_ms_in_app".into(), json!(ready_ms));
    metrics.insert(
        "launch_to_interactive_ms_via_webdriver".into(),
        json!(launch_to_ready.as_millis() as u64),
    );

    // Training mode says so on every screen.
    s.find("[data-testid=training-banner]").await;
    // First run: no device type yet; the station says so and where to add one.
    s.find("[data-testid=station-screen]").await;
    assert!(s
        .text("[data-testid=station-screen]")
        .await
        .contains("No device types yet"));

    // Settings: the operator scans a badge, the engineer adds a device type.
    s.nav("settings").await;
    s.type_into("[data-testid=operator]", "badge-4711").await;
    s.find("[data-testid=operator]")
        .await
        .send_keys(&Key::Enter)
        .await
        .expect("enter");
    s.wait_for("[role=status]").await;
    s.type_into("[data-testid=type-name]", "WeatherStation")
        .await;
    s.type_into("[data-testid=type-label]", "myapp").await;
    s.click("[data-testid=type-save]").await;
    s.wait_for("[data-testid=type-row][data-type=WeatherStation]")
        .await;
    s.screenshot("settings").await;

    // Provision and flash one device: Enter triggers the big button.
    s.nav("station").await;
    s.wait_attr(
        "[data-testid=station-screen]",
        "data-ready",
        &["true"],
        WAIT,
    )
    .await;
    s.wait_attr(
        "[data-testid=port][data-port='sim:1']",
        "aria-pressed",
        &["true"],
        WAIT,
    )
    .await;
    s.screenshot("station").await;
    let before = s.jobs().await;
    s.js("document.getElementById('target').focus(); return true;")
        .await;
    s.find("#target")
        .await
        .send_keys(&Key::Enter)
        .await
        .expect("enter");
    let state = s
        .wait_new_results(&["sim:1".to_owned()], &before)
        .await
        .remove(0);
    assert_eq!(state, "passed", "{}", s.text("[data-testid=tile]").await);
    assert_eq!(
        s.text("[data-testid=result-device]").await,
        "weatherstation-001"
    );
    assert!(s.text("[data-testid=result]").await.contains("PASS"));
    assert_eq!(s.text("[data-testid=count-passed]").await, "1");
    s.screenshot("station-pass").await;

    // A simulated fault: the unit refuses to save. FAIL, with the reason in words.
    s.nav("settings").await;
    s.select("[data-testid=sim-fault]", "refuses_to_save").await;
    s.wait_attr(
        "[data-testid=sim-fault]",
        "value",
        &["refuses_to_save"],
        WAIT,
    )
    .await;
    s.nav("station").await;
    s.wait_attr(
        "[data-testid=station-screen]",
        "data-ready",
        &["true"],
        WAIT,
    )
    .await;
    assert_eq!(s.flash_one("sim:1").await, "failed");
    let reason = s
        .find("[data-testid=result]")
        .await
        .attr("data-reason")
        .await
        .expect("attr")
        .unwrap_or_default();
    assert_eq!(reason, "storage_full");
    let result = s.text("[data-testid=result]").await;
    assert!(result.contains("FAIL"), "{result}");
    assert!(result.contains("memory is full"), "{result}");
    assert!(result.contains("What to do"), "{result}");
    assert_eq!(s.text("[data-testid=count-failed]").await, "1");
    s.screenshot("station-fail").await;
    s.nav("settings").await;
    s.select("[data-testid=sim-fault]", "none").await;
    s.wait_attr("[data-testid=sim-fault]", "value", &["none"], WAIT)
        .await;

    // A port the OS does not list, named by its path: a simulated unit on a pseudo-terminal
    // that this test runs itself, opened by the app as a plain serial port.
    let unit = station_devsim::Simulator::start(station_devsim::SimOptions {
        flash: Some(s.home.join("typed-unit.flash")),
        link: Some(s.home.join("ttyTYPED0")),
        ..station_devsim::SimOptions::default()
    })
    .expect("simulated unit");
    let typed = s.home.join("ttyTYPED0").display().to_string();
    s.nav("station").await;
    s.wait_attr(
        "[data-testid=station-screen]",
        "data-ready",
        &["true"],
        WAIT,
    )
    .await;
    s.click("[data-testid=port][data-port='sim:1']").await; // deselect
    s.type_into("[data-testid=typed-port]", &typed).await;
    s.find("[data-testid=typed-port]")
        .await
        .send_keys(&Key::Enter)
        .await
        .expect("enter");
    let typed_css = format!("[data-testid=port][data-port='{typed}']");
    s.wait_attr(&typed_css, "aria-pressed", &["true"], WAIT)
        .await;
    assert_eq!(s.flash_one(&typed).await, "passed");
    let held = unit.flash_contents().expect("the unit holds a config");
    assert_eq!(
        held.get_str(station_protocol::Key::DeviceId),
        "weatherstation-003"
    );
    unit.stop();
    s.click(&typed_css).await; // deselect
    s.click("[data-testid=port][data-port='sim:1']").await;

    // A batch of three, flashed, then exported as CSV through the native save dialog.
    s.nav("batches").await;
    s.type_into("[data-testid=batch-prefix]", "e2e-").await;
    s.type_into("[data-testid=batch-count]", "3").await;
    s.click("[data-testid=batch-create]").await;
    s.wait_for("[data-testid=batch]").await;
    s.click("[data-testid=batch] button.primary").await; // "Flash this batch"
    s.wait_attr(
        "[data-testid=station-screen]",
        "data-ready",
        &["true"],
        WAIT,
    )
    .await;
    for n in 1..=3 {
        assert_eq!(s.flash_one("sim:1").await, "passed");
        assert_eq!(
            s.text("[data-testid=result-device]").await,
            format!("e2e-weatherstation-{n:03}")
        );
    }
    s.nav("batches").await;
    let numbers = s.text("[data-testid=batch-numbers]").await;
    assert!(
        numbers.contains("3 flashed") && numbers.contains("0 remaining"),
        "{numbers}"
    );
    s.click("[data-testid=batch-devices]").await;
    s.wait_for("[data-testid=batch-device-list] tbody tr").await;
    s.screenshot("batches").await;
    let csv_path = s.home.join("exports/batch.csv");
    std::fs::create_dir_all(csv_path.parent().expect("dir")).expect("dir");
    s.click("[data-testid=export-csv]").await;
    let p = csv_path.clone();
    tokio::task::spawn_blocking(move || answer_save_dialog(&p))
        .await
        .expect("dialog");
    s.wait_for("[data-testid=export-done]").await;
    let csv = std::fs::read_to_string(&csv_path).expect("the exported CSV");
    let mut lines = csv.lines();
    let header = lines.next().expect("header");
    assert!(
        header.starts_with("device_id,name,device_type,batch_id,lot,work_order,mqtt_username"),
        "{header}"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3, "{csv}");
    for (i, row) in rows.iter().enumerate() {
        assert!(
            row.starts_with(&format!("e2e-weatherstation-{:03},", i + 1)),
            "{row}"
        );
        assert!(row.contains(",flashed,"), "{row}");
    }

    // Rotate and re-flash: the station confirms the unit holds the device, writes g+1.
    s.nav("devices").await;
    s.type_into("[data-testid=device-search]", "e2e-weatherstation-002")
        .await;
    s.click("[data-testid=device-search-go]").await;
    s.click("[data-testid=device-row][data-device=e2e-weatherstation-002]")
        .await;
    s.wait_for("[data-testid=device-detail][data-device=e2e-weatherstation-002]")
        .await;
    assert!(s
        .text("[data-testid=device-generation]")
        .await
        .contains("generation 1"));
    s.select("[data-testid=reflash-port]", "sim:1").await;
    s.click("[data-testid=reflash]").await;
    s.wait_attr(
        "[data-testid=device-detail] [data-testid=tile]",
        "data-state",
        &["passed", "failed"],
        FLASH_WAIT,
    )
    .await;
    assert_eq!(
        s.find("[data-testid=device-detail] [data-testid=result]")
            .await
            .attr("data-outcome")
            .await
            .expect("attr")
            .as_deref(),
        Some("pass"),
        "{}",
        s.text("[data-testid=device-detail]").await
    );
    s.wait_text("[data-testid=device-generation]", "generation 2")
        .await;
    assert!(
        s.exists("[data-testid=history] li[data-kind=rotated]")
            .await
    );
    s.screenshot("devices").await;
    s.screenshot_at("devices-reflash", "[data-testid=reflash-port]")
        .await;

    // Which device is this unit? With another device open, the technician reads the unit
    // still on sim:1: the screen names it and opens its device.
    s.type_into("[data-testid=device-search]", "e2e-weatherstation-001")
        .await;
    s.click("[data-testid=device-search-go]").await;
    s.click("[data-testid=device-row][data-device=e2e-weatherstation-001]")
        .await;
    s.wait_for("[data-testid=device-detail][data-device=e2e-weatherstation-001]")
        .await;
    s.select("[data-testid=identify-port]", "sim:1").await;
    s.click("[data-testid=identify]").await;
    s.wait_attr(
        "[data-testid=unit-line]",
        "data-device",
        &["e2e-weatherstation-002"],
        FLASH_WAIT,
    )
    .await;
    let line = s.text("[data-testid=unit-line]").await;
    assert!(
        line.contains("holds e2e-weatherstation-002, generation 2."),
        "{line}"
    );
    s.wait_for("[data-testid=device-detail][data-device=e2e-weatherstation-002]")
        .await;
    s.screenshot("devices-identify").await;

    // Deactivate, after a confirmation.
    s.click("[data-testid=deactivate]").await;
    s.wait_for("[data-testid=confirm-deactivate]").await;
    s.type_into("[data-testid=deactivate-reason]", "returned by customer")
        .await;
    s.screenshot_at(
        "devices-deactivate-confirm",
        "[data-testid=confirm-deactivate]",
    )
    .await;
    s.click("[data-testid=deactivate-confirm]").await;
    s.wait_text("[data-testid=device-active]", "Deactivated")
        .await;
    assert!(
        s.exists("[data-testid=history] li[data-kind=deactivated]")
            .await
    );
    {
        let store = station_core::Store::open(s.db()).expect("db");
        let d = store.find_device("e2e-weatherstation-002").expect("device");
        assert!(!d.is_active);
        assert_eq!(d.generation, 2);
    }

    // Sync: off until a server is configured.
    s.nav("sync").await;
    assert!(s
        .text("[data-testid=sync-summary]")
        .await
        .contains("Sync is off: no server configured"));
    s.screenshot("sync").await;

    // Nothing the UI received, and nothing on any page, holds a credential a unit received.
    no_unit_files(&s.data_dir());
    let mut secrets = Vec::new();
    let key = station_devsim::FlashKey::process().expect("key");
    if let Some(cfg) =
        station_devsim::Flash::file(s.home.join("typed-unit.flash"), key, None).contents()
    {
        secrets.push(cfg.get_str(station_protocol::Key::MqttPassword).to_owned());
        secrets.push(cfg.get_str(station_protocol::Key::ApiKey).to_owned());
    }
    assert!(
        secrets.len() >= 2,
        "the typed unit holds a password and an api key: {}",
        secrets.len()
    );
    let audit = s
        .js("return JSON.stringify(window.__stationIpcAudit || []);")
        .await;
    let audit = audit.as_str().unwrap_or_default().to_owned();
    let audited: Vec<String> = serde_json::from_str(&audit).expect("audit log");
    assert!(
        audited.len() > 50,
        "the audit saw the session's IPC: {}",
        audited.len()
    );
    assert!(
        audited.iter().any(|p| p.contains("\"step\"")),
        "the audit saw flash progress events"
    );
    assert!(
        audited.iter().any(|p| p.contains("\"outcome\":\"passed\"")),
        "the audit saw flash results"
    );
    let page = s.client.source().await.expect("page source");
    for secret in &secrets {
        assert!(
            !audit.contains(secret.as_str()),
            "an IPC payload held a unit's credential"
        );
        assert!(
            !page.contains(secret.as_str()),
            "the page held a unit's credential"
        );
    }
    metrics.insert("ipc_payloads_scanned".into(), json!(audited.len()));

    // Memory and frame pacing while idle.
    let pid = app_pid();
    let helpers = children(pid);
    // The app draws without WebKit's accelerated compositing (src-tauri/src/lib.rs) unless
    // STATION_WEBKIT_COMPOSITING=on keeps it (benches/app-gang.sh's baseline): its web process
    // was started with WebKit's switch set, or not.
    let kept_on = std::env::var("STATION_WEBKIT_COMPOSITING").is_ok_and(|v| v == "on");
    let switched_off = helpers.iter().any(|p| {
        std::fs::read(format!("/proc/{p}/environ"))
            .unwrap_or_default()
            .split(|b| *b == 0)
            .any(|v| v == b"WEBKIT_DISABLE_COMPOSITING_MODE=1")
    });
    assert_eq!(
        switched_off, !kept_on,
        "WebKit's web process runs with WEBKIT_DISABLE_COMPOSITING_MODE=1: {switched_off}"
    );
    metrics.insert("webkit_compositing".into(), json!(!switched_off));
    s.js(FRAME_MONITOR).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (idle_app, idle_total) = rss_kb(pid, &helpers);
    let f = s
        .js("window.__frames.on = false; return window.__frames;")
        .await;
    metrics.insert(
        "idle_max_frame_gap_ms".into(),
        json!((f["max"].as_f64().unwrap_or(0.0) * 10.0).round() / 10.0),
    );
    metrics.insert(
        "idle_frames_per_3s".into(),
        json!(f["count"].as_u64().unwrap_or(0)),
    );
    metrics.insert("idle_rss_app_kb".into(), json!(idle_app));
    metrics.insert("idle_rss_with_webkit_kb".into(), json!(idle_total));

    // An 8-port gang flash of a batch, with Django's real Argon2 parameters: memory, and the
    // longest frame gap in the window while it runs.
    {
        let mut store = station_core::Store::open(s.db()).expect("db");
        let hash = std::env::var("STATION_E2E_GANG_HASH").unwrap_or_else(|_| "argon2".into());
        store.set_setting("hash_algorithm", &hash).expect("hash");
    }
    s.nav("settings").await;
    s.select("[data-testid=sim-ports]", "8").await;
    s.wait_attr("[data-testid=sim-ports]", "value", &["8"], WAIT)
        .await;
    s.nav("batches").await;
    s.type_into("[data-testid=batch-prefix]", "gang-").await;
    s.type_into("[data-testid=batch-count]", "16").await;
    s.click("[data-testid=batch-create]").await;
    s.wait_for("[data-testid=batch][data-batch='2']").await;
    s.click("[data-testid=batch][data-batch='2'] button.primary")
        .await;
    s.wait_attr(
        "[data-testid=station-screen]",
        "data-ready",
        &["true"],
        WAIT,
    )
    .await;
    for n in 2..=8 {
        s.click(&format!("[data-testid=port][data-port='sim:{n}']"))
            .await;
    }
    let ports: Vec<String> = (1..=8).map(|n| format!("sim:{n}")).collect();
    // The credential pool makes sets ahead for the selected ports (two each): wait until it is
    // full, as it is after the seconds an operator takes to plug eight units in.
    let pool_started = Instant::now();
    let pool_ready = loop {
        let text = s.text("[data-testid=pool]").await;
        let ready: u32 = text
            .split_whitespace()
            .last()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if ready >= 2 * ports.len() as u32 {
            break ready;
        }
        assert!(
            pool_started.elapsed() < FLASH_WAIT,
            "the credential pool never filled: {text}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    metrics.insert(
        "pool_fill_seconds".into(),
        json!((pool_started.elapsed().as_secs_f64() * 10.0).round() / 10.0),
    );
    metrics.insert("pool_ready_before_gang".into(), json!(pool_ready));
    let mut peak_app = 0;
    let mut peak_total = 0;
    let mut max_gap: f64 = 0.0;
    let mut frames: u64 = 0;
    // The gang's time: from each press to the moment every tile shows its result, summed over
    // the two presses (the checks and the screenshot between them are not the station's time).
    let mut gang_secs = 0.0;
    let mut seen_secs = 0.0;
    // CPU the app and its WebKit processes use during the presses: what the window takes from
    // the flashing threads on two cores.
    let (mut cpu_app, mut cpu_webkit) = (0.0, 0.0);
    for round in 0..2 {
        let before = s.jobs().await;
        let (app0, webkit0) = (cpu_seconds(&[pid]), cpu_seconds(&helpers));
        s.js(FRAME_MONITOR).await;
        s.js(GANG_CLOCK).await;
        let pressed = Instant::now();
        s.click("[data-testid=flash-button]").await;
        let deadline = Instant::now() + FLASH_WAIT;
        loop {
            let (a, t) = rss_kb(pid, &helpers);
            peak_app = peak_app.max(a);
            peak_total = peak_total.max(t);
            let now = s.jobs().await;
            let done = ports.iter().all(|p| {
                let old = before
                    .iter()
                    .find(|(q, _, _)| q == p)
                    .map(|(_, j, _)| j.clone());
                now.iter().any(|(q, j, st)| {
                    q == p
                        && !j.is_empty()
                        && Some(j) != old.as_ref()
                        && (st == "passed" || st == "failed")
                })
            });
            if done {
                seen_secs += pressed.elapsed().as_secs_f64();
                // The page notes the end at its next animation frame, which may come just
                // after this poll saw the results.
                let in_page = loop {
                    let ms = s.js("return window.__gang.ms;").await;
                    if let Some(ms) = ms.as_f64() {
                        break ms;
                    }
                    assert!(
                        pressed.elapsed() < FLASH_WAIT,
                        "the page never timed the press"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                };
                gang_secs += in_page / 1000.0;
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: the gang flash did not finish: {now:?}"
            );
            // Poll gently: the probe itself must not be what slows the window down (one small
            // script every 100 ms; the result is known to within that).
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        cpu_app += cpu_seconds(&[pid]) - app0;
        cpu_webkit += cpu_seconds(&helpers) - webkit0;
        let f = s
            .js("window.__frames.on = false; return window.__frames;")
            .await;
        eprintln!(
            "round {round}: frames {} max gap {} ms; gaps over 50 ms (at, gap): {}",
            f["count"], f["max"], f["slow"]
        );
        max_gap = max_gap.max(f["max"].as_f64().unwrap_or(f64::MAX));
        frames += f["count"].as_u64().unwrap_or(0);
        for port in &ports {
            let tile = format!("[data-testid=tile][data-port='{port}']");
            let state = s
                .find(&tile)
                .await
                .attr("data-state")
                .await
                .expect("attr")
                .unwrap_or_default();
            assert_eq!(
                state,
                "passed",
                "round {round}, {port}: {}",
                s.text(&tile).await
            );
        }
        if round == 0 {
            s.screenshot_at("station-gang", "[data-testid=counters]")
                .await;
        }
    }
    s.nav("batches").await;
    let numbers = s
        .text("[data-testid=batch][data-batch='2'] [data-testid=batch-numbers]")
        .await;
    assert!(numbers.contains("16 flashed"), "{numbers}");
    metrics.insert(
        "gang_8_ports_16_devices_seconds".into(),
        json!((gang_secs * 100.0).round() / 100.0),
    );
    metrics.insert(
        "gang_8_ports_16_devices_seconds_seen_by_webdriver".into(),
        json!((seen_secs * 100.0).round() / 100.0),
    );
    metrics.insert(
        "gang_cpu_seconds_app".into(),
        json!((cpu_app * 100.0_f64).round() / 100.0),
    );
    metrics.insert(
        "gang_cpu_seconds_webkit".into(),
        json!((cpu_webkit * 100.0_f64).round() / 100.0),
    );
    metrics.insert("gang_peak_rss_app_kb".into(), json!(peak_app));
    metrics.insert("gang_peak_rss_with_webkit_kb".into(), json!(peak_total));
    metrics.insert(
        "batch_max_frame_gap_ms".into(),
        json!((max_gap * 10.0).round() / 10.0),
    );
    metrics.insert("batch_frames".into(), json!(frames));

    s.client.close().await.expect("close the session");
    drop(driver);

    let metrics = Value::Object(metrics);
    let out = workspace().join("target/e2e/metrics.json");
    std::fs::write(&out, serde_json::to_string_pretty(&metrics).expect("json")).expect("metrics");
    eprintln!(
        "E2E metrics ({}):\n{}",
        out.display(),
        serde_json::to_string_pretty(&metrics).expect("json")
    );
    eprintln!("screenshots: {:?}", s.shots);
    // The target is no frame gap over 100 ms. It is a measurement (in metrics.json), never a
    // test verdict: wall time on a shared 2-core machine says little about the code.
    eprintln!(
        "longest frame gap during the batch: {max_gap:.0} ms (target 100 ms: {})",
        if max_gap < 100.0 { "met" } else { "missed" }
    );
}

/// A damaged database: the window says so, with what to do and the file's path, instead of
/// an app that never opens; the file is left byte for byte; "Try again" starts the station
/// once the file is dealt with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display: scripts/test-all.sh runs it under Xvfb"]
async fn damaged_database_is_shown_with_what_to_do_and_left_alone() {
    let home = tempfile::tempdir().expect("tempdir");
    let db = home.path().join("station.sqlite3");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&db, &garbage).expect("write");
    let (driver, mut s, _) = launch(home.path()).await;
    let panel = s.wait_for("[data-testid=startup-problem]").await;
    assert_eq!(
        panel.attr("data-code").await.expect("attr").as_deref(),
        Some("database_corrupt")
    );
    let text = s.text("[data-testid=startup-problem]").await;
    assert!(text.contains("The station cannot start"), "{text}");
    assert!(text.contains("damaged"), "{text}");
    assert!(text.contains("restore"), "{text}");
    assert_eq!(
        s.text("[data-testid=startup-db]").await,
        db.display().to_string()
    );
    // No screen started behind it: nothing touched the file.
    assert!(s
        .client
        .find_all(Locator::Css("[data-testid=station-screen]"))
        .await
        .expect("find")
        .is_empty());
    assert_eq!(std::fs::read(&db).expect("read"), garbage);

    s.screenshot("startup-problem").await;
    // Still damaged: Try again says so again.
    s.click("[data-testid=startup-retry]").await;
    s.wait_attr("[data-testid=startup-tries]", "data-tries", &["1"], WAIT)
        .await;
    assert_eq!(std::fs::read(&db).expect("read"), garbage);

    // The engineer moves the damaged file aside; Try again makes a new database and starts.
    std::fs::rename(&db, home.path().join("station.sqlite3.damaged")).expect("rename");
    s.click("[data-testid=startup-retry]").await;
    s.wait_attr(
        "[data-testid=station-screen]",
        "data-ready",
        &["true"],
        WAIT,
    )
    .await;
    assert!(s
        .text("[data-testid=station-screen]")
        .await
        .contains("No device types yet"));
    assert!(db.exists());
    s.client.close().await.expect("close the session");
    drop(driver);
}
