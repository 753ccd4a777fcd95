//! The shift soak (a measurement run, not part of CI): the real app flashes 2,000 simulated
//! units, eight ports at a time, across a shift change, while the resident memory of the app
//! and of its WebKit processes is sampled. It prints the curve, writes it to
//! `target/e2e/soak.json`, and fails when memory after warm-up grows by more than 10%.
//!
//! ```text
//! cd ui && npm run build && cd ..
//! xvfb-run -a -s "-screen 0 1280x800x24" cargo nextest run -p station-app --run-ignored only \
//!   --no-capture -E 'binary(soak)'
//! ```
//! `STATION_SOAK_FLASHES` changes the number of flashes (default 2,000), `STATION_APP_BIN` the
//! app binary (e.g. a release build).

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

/// Units per press: every simulated port.
const PORTS: u32 = 8;
/// Presses before the baseline is taken: caches, the JIT and the pool settle in these.
const WARM_UP_PRESSES: usize = 25;
/// The growth after warm-up the soak accepts.
const MAX_GROWTH: f64 = 0.10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a soak run of several minutes: run it by name (see the file's doc)"]
async fn soak_2000_flashes_across_a_shift_change() {
    let flashes: usize = std::env::var("STATION_SOAK_FLASHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let presses = flashes.div_ceil(PORTS as usize);
    let home = tempfile::tempdir().expect("tempdir");
    training_station(home.path(), false)
        .set_setting("app.sim_ports", &PORTS.to_string())
        .expect("ports");
    // The E2E suites' IPC audit keeps a copy of every event: not the app's own memory.
    without_ipc_audit();
    let (_driver, s, _) = start(home.path()).await;

    s.nav("settings").await;
    s.type_into("[data-testid=type-name]", "Soak").await;
    s.type_into("[data-testid=type-label]", "myapp").await;
    s.click("[data-testid=type-save]").await;
    s.wait_for("[data-testid=type-row][data-type=Soak]").await;
    s.nav("station").await;
    s.wait_attr(
        "[data-testid=station-screen]",
        "data-ready",
        &["true"],
        WAIT,
    )
    .await;
    for n in 2..=PORTS {
        s.click(&format!("[data-testid=port][data-port='sim:{n}']"))
            .await;
    }
    let ports: Vec<String> = (1..=PORTS).map(|n| format!("sim:{n}")).collect();

    let pid = app_pid();
    let started = Instant::now();
    let mut curve = Vec::new();
    let mut passed = 0usize;
    let mut shift_changed_at = None;
    for press in 0..presses {
        if shift_changed_at.is_none() && press * 2 >= presses {
            change_shift(&s).await;
            shift_changed_at = Some(press);
        }
        let before = s.jobs().await;
        s.click("[data-testid=flash-button]").await;
        let states = s.wait_new_results(&ports, &before).await;
        passed += states.iter().filter(|st| *st == "passed").count();
        // WebKit starts helper processes as it needs them: look for them at each sample.
        let (app, total) = rss_kb(pid, &children(pid));
        curve.push(json!({
            "press": press + 1,
            "flashes": (press + 1) * PORTS as usize,
            "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            "rss_app_kb": app,
            "rss_with_webkit_kb": total,
        }));
        if (press + 1) % 25 == 0 {
            eprintln!(
                "soak: {} flashes, {passed} passed, app {} MB, with WebKit {} MB, {:.0} s",
                (press + 1) * PORTS as usize,
                app / 1024,
                total / 1024,
                started.elapsed().as_secs_f64()
            );
        }
    }
    // Idle after the run: what a quiet line leaves behind.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (idle_app, idle_total) = rss_kb(pid, &children(pid));

    // WebKit frees in bursts (its collector and caches run when they choose), so single
    // samples saw-tooth: growth compares the median of the first tenth of the presses after
    // warm-up with the median of the last tenth.
    let rss: Vec<u64> = curve
        .iter()
        .filter_map(|c| c["rss_with_webkit_kb"].as_u64())
        .collect();
    let after = &rss[WARM_UP_PRESSES.min(rss.len() - 1)..];
    let window = (after.len() / 10).max(1);
    let baseline = median(&after[..window]);
    let end = median(&after[after.len() - window..]);
    let peak_after = after.iter().copied().max().unwrap_or(0) as f64;
    let growth = (end - baseline) / baseline;
    let report = json!({
        "flashes": presses * PORTS as usize,
        "passed": passed,
        "shift_changed_at_press": shift_changed_at,
        "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        "median_first_tenth_after_warm_up_kb": baseline,
        "median_last_tenth_kb": end,
        "peak_after_warm_up_kb": peak_after,
        "idle_after_kb": { "app": idle_app, "with_webkit": idle_total },
        "growth_after_warm_up": (growth * 1000.0).round() / 1000.0,
        "curve": curve,
    });
    let out = workspace().join("target/e2e");
    std::fs::create_dir_all(&out).expect("target/e2e");
    std::fs::write(
        out.join("soak.json"),
        serde_json::to_string_pretty(&report).expect("json"),
    )
    .expect("soak.json");
    eprintln!(
        "soak: {} flashes ({passed} passed) in {:.0} s; with WebKit (medians): {:.0} MB after warm-up, {:.0} MB at the end ({:+.1}%), peak {:.0} MB, idle after {} MB",
        presses * PORTS as usize,
        started.elapsed().as_secs_f64(),
        baseline / 1024.0,
        end / 1024.0,
        growth * 100.0,
        peak_after / 1024.0,
        idle_total / 1024
    );
    assert_eq!(
        passed,
        presses * PORTS as usize,
        "every simulated unit passes"
    );
    assert!(
        growth < MAX_GROWTH,
        "memory grew {:.1}% after warm-up (limit {:.0}%)",
        growth * 100.0,
        MAX_GROWTH * 100.0
    );
}

fn median(samples: &[u64]) -> f64 {
    let mut v = samples.to_vec();
    v.sort_unstable();
    v[v.len() / 2] as f64
}

/// The shift change as a lead does it: the Shift screen's confirmed end, a new shift, and back
/// to the Station screen with its counters at zero.
async fn change_shift(s: &Session) {
    s.nav("shift").await;
    s.click("[data-testid=shift-end]").await;
    s.click("[data-testid=shift-end-confirm]").await;
    s.click("[data-testid=shift-start]").await;
    s.wait_for("[data-testid=shift-end]").await;
    s.nav("station").await;
    s.wait_attr(
        "[data-testid=station-screen]",
        "data-ready",
        &["true"],
        WAIT,
    )
    .await;
    assert_eq!(s.text("[data-testid=count-passed]").await, "0");
}
