//! The app end-to-end harness shared by every `e2e*` test binary: tauri-driver, a WebDriver
//! session on the real app binary, and the waits, clicks and measurements the tests use.
#![allow(dead_code)] // each e2e binary uses its own part of the harness

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

pub const WAIT: Duration = Duration::from_secs(30);
pub const FLASH_WAIT: Duration = Duration::from_secs(90);

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// The app binary cargo built with this test (`STATION_APP_BIN` overrides, e.g. a release
/// build installed from the .deb).
pub fn app_binary() -> PathBuf {
    std::env::var_os("STATION_APP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_station-app")))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// tauri-driver, stopped with SIGTERM (a killed one leaves WebKitWebDriver holding pipes).
pub struct Driver {
    pub child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("tauri-driver did not stop on SIGTERM");
    }
}

pub struct Session {
    pub client: Client,
    pub home: PathBuf,
    pub shots: Vec<PathBuf>,
}

impl Session {
    pub async fn find(&self, css: &str) -> Element {
        self.wait_for(css).await
    }

    pub async fn wait_for(&self, css: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                return e;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {css}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// Click `css`; when the click fails the window is saved to `target/e2e/failed-click.png`,
    /// so the cause (something covering the element, off screen) can be seen.
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        // As a person would: scroll it to the middle of the window first, clear of the Station
        // screen's button that stays at the bottom.
        let _ = self
            .client
            .execute(
                "arguments[0].scrollIntoView({block: 'center'}); return true;",
                vec![serde_json::to_value(&element).expect("element")],
            )
            .await;
        if let Err(e) = element.click().await {
            let shot = workspace().join("target/e2e/failed-click.png");
            if let Ok(png) = self.client.screenshot().await {
                let _ = std::fs::create_dir_all(shot.parent().expect("dir"));
                let _ = std::fs::write(&shot, png);
            }
            panic!("click {css}: {e} (the window: {})", shot.display());
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap_or_default()
    }

    /// Wait until the text of `css` contains `needle`.
    pub async fn wait_text(&self, css: &str, needle: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text(css).await;
            if text.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css} did not come to say {needle:?}: {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("type");
    }

    pub async fn select(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    pub async fn nav(&self, screen: &str) {
        self.click(&format!("[data-testid=nav-{screen}]")).await;
        self.wait_for(&format!("[data-testid={screen}-screen]"))
            .await;
    }

    /// Wait until `css` has attribute `attr` equal to one of `values`; returns the value.
    pub async fn wait_attr(
        &self,
        css: &str,
        attr: &str,
        values: &[&str],
        timeout: Duration,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                // A form control's live value is a property, not an attribute.
                let v = if attr == "value" {
                    e.prop(attr).await
                } else {
                    e.attr(attr).await
                };
                if let Ok(Some(v)) = v {
                    if values.contains(&v.as_str()) {
                        return v;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {css}[{attr}] in {values:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A screenshot of the window scrolled to the top.
    pub async fn screenshot(&mut self, name: &str) {
        self.js("window.scrollTo(0, 0); return true;").await;
        self.screenshot_here(name).await;
    }

    /// A screenshot with `css` scrolled into view.
    pub async fn screenshot_at(&mut self, name: &str, css: &str) {
        let script = format!(
            "document.querySelector({}).scrollIntoView({{block: 'start'}}); return true;",
            serde_json::to_string(css).expect("json")
        );
        self.js(&script).await;
        self.screenshot_here(name).await;
    }

    pub async fn screenshot_here(&mut self, name: &str) {
        // Let the last frame be drawn so the picture shows the final state.
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Without accelerated compositing, WebKitGTK answers a snapshot with the next painted
        // frame, and an idle page paints none: the screenshot would wait forever. A change that
        // alters no pixel, made just after the request, gives it that frame.
        self.js(SNAPSHOT_PAINT).await;
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = workspace().join("target/e2e/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, &png).expect("write screenshot");
        if let Some(extra) = std::env::var_os("STATION_E2E_SCREENSHOTS") {
            let extra = PathBuf::from(extra);
            std::fs::create_dir_all(&extra).expect("screenshot dir");
            std::fs::write(extra.join(format!("{name}.png")), &png).expect("write screenshot");
        }
        self.shots.push(path);
    }

    /// The job ids shown on the tiles, by port.
    pub async fn jobs(&self) -> Vec<(String, String, String)> {
        let v = self
            .js("return Array.from(document.querySelectorAll('[data-testid=tile]')).map(t => [t.dataset.port, t.dataset.job || '', t.dataset.state]);")
            .await;
        serde_json::from_value(v).unwrap_or_default()
    }

    /// Wait until every port in `ports` shows a finished job other than the one in `before`.
    pub async fn wait_new_results(
        &self,
        ports: &[String],
        before: &[(String, String, String)],
    ) -> Vec<String> {
        let deadline = Instant::now() + FLASH_WAIT;
        loop {
            let now = self.jobs().await;
            let states: Vec<Option<String>> = ports
                .iter()
                .map(|p| {
                    let old = before
                        .iter()
                        .find(|(q, _, _)| q == p)
                        .map(|(_, j, _)| j.clone());
                    now.iter()
                        .find(|(q, j, st)| {
                            q == p
                                && !j.is_empty()
                                && Some(j) != old.as_ref()
                                && (st == "passed" || st == "failed")
                        })
                        .map(|(_, _, st)| st.clone())
                })
                .collect();
            if states.iter().all(Option::is_some) {
                return states.into_iter().flatten().collect();
            }
            assert!(
                Instant::now() < deadline,
                "flashes on {ports:?} did not finish: {now:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Flash with the big button on the selected port and wait for this job's result.
    pub async fn flash_one(&self, port: &str) -> String {
        let before = self.jobs().await;
        self.click("[data-testid=flash-button]").await;
        self.wait_new_results(&[port.to_owned()], &before)
            .await
            .remove(0)
    }

    /// The app runs in training mode (simulated units flash only there): its records are in
    /// the training database.
    pub fn db(&self) -> PathBuf {
        self.home.join(station_service::training::TRAINING_DB_FILE)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.home.join("data")
    }
}

/// The app on `home`, with its Station screen ready; and how long that took from launch.
pub async fn start(home: &Path) -> (Driver, Session, Duration) {
    let (driver, session, launched) = launch(home).await;
    session
        .wait_attr(
            "[data-testid=station-screen]",
            "data-ready",
            &["true"],
            WAIT,
        )
        .await;
    (driver, session, launched.elapsed())
}

/// Starts tauri-driver and the app on `home` (its database `home/station.sqlite3`).
///
/// tauri-driver listens before the WebKitWebDriver it starts is ready (tauri-apps/tauri#15156;
/// seen once in CI: the session request's connection closed with nothing sent back), so
/// [`start_driver`] also waits for WebKitWebDriver's own port. Should a session still fail to
/// start, that is the harness, not the app: it is retried with a fresh tauri-driver, and what
/// tauri-driver logged is printed.
pub async fn launch(home: &Path) -> (Driver, Session, Instant) {
    const ATTEMPTS: u32 = 3;
    let bin = app_binary();
    assert!(
        bin.exists(),
        "{} is missing: build the UI and the app first",
        bin.display()
    );
    let mut attempt = 1;
    loop {
        let (driver, port) = start_driver(home).await;
        let mut caps = serde_json::Map::new();
        caps.insert(
            "tauri:options".into(),
            json!({ "application": bin.display().to_string() }),
        );
        caps.insert("browserName".into(), json!("wry"));
        let launched = Instant::now();
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        match client {
            Ok(client) => {
                let session = Session {
                    client,
                    home: home.to_path_buf(),
                    shots: Vec::new(),
                };
                return (driver, session, launched);
            }
            Err(e) => {
                drop(driver);
                let log = std::fs::read_to_string(home.join("driver.log")).unwrap_or_default();
                assert!(
                    attempt < ATTEMPTS,
                    "WebDriver session, attempt {attempt}: {e}\ntauri-driver said:\n{log}"
                );
                eprintln!(
                    "WebDriver session, attempt {attempt}: {e}; starting again\ntauri-driver said:\n{log}"
                );
                attempt += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Whether apps started from now on keep a copy of every IPC payload for the secrets scan
/// (`STATION_IPC_AUDIT`; on unless [`without_ipc_audit`] was called).
static IPC_AUDIT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Apps started from now on keep no copy of their IPC payloads: a run that measures memory
/// must not count the audit's own copies (they grow with every event).
pub fn without_ipc_audit() {
    IPC_AUDIT.store(false, std::sync::atomic::Ordering::SeqCst);
}

/// tauri-driver on a free port, for the app on `home`; returns once it and the
/// WebKitWebDriver behind it both accept connections.
pub async fn start_driver(home: &Path) -> (Driver, u16) {
    let port = free_port();
    let native = free_port();
    let log = std::fs::File::create(home.join("driver.log")).expect("log");
    let child = Command::new("tauri-driver")
        .args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native.to_string(),
        ])
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("STATION_DB", home.join("station.sqlite3"))
        .env(
            "STATION_IPC_AUDIT",
            if IPC_AUDIT.load(std::sync::atomic::Ordering::SeqCst) {
                "1"
            } else {
                "0"
            },
        )
        .env("STATION_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start tauri-driver (cargo install tauri-driver --locked)");
    let driver = Driver { child };
    let deadline = Instant::now() + Duration::from_secs(20);
    for (what, p) in [("tauri-driver", port), ("WebKitWebDriver", native)] {
        while std::net::TcpStream::connect(("127.0.0.1", p)).is_err() {
            assert!(Instant::now() < deadline, "{what} did not listen on {p}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    (driver, port)
}

pub fn proc_field(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
}

/// The app's WebKit helper processes (web content, network).
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("proc").flatten() {
        if let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) {
            if proc_field(p, "PPid:") == u64::from(pid) {
                out.push(p);
            }
        }
    }
    out
}

/// Resident memory (kB) of the app, and of the app with its WebKit helper processes.
pub fn rss_kb(pid: u32, helpers: &[u32]) -> (u64, u64) {
    let own = proc_field(pid, "VmRSS:");
    (
        own,
        own + helpers
            .iter()
            .map(|p| proc_field(*p, "VmRSS:"))
            .sum::<u64>(),
    )
}

pub fn app_pid() -> u32 {
    let bin = std::fs::canonicalize(app_binary()).expect("binary");
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").expect("proc").flatten() {
        let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if std::fs::read_link(format!("/proc/{p}/exe")).ok().as_deref() == Some(bin.as_path()) {
            found.push(p);
        }
    }
    // The newest process running our binary is this session's app.
    found.into_iter().max().expect("the app's process")
}

/// The simulated units keep their flash in the app's memory only (issue 10, finding 1): no
/// folder of units, no flash file anywhere in the app's data folder. Their credentials cannot
/// be read from here, so the scan below uses the typed unit's.
pub fn no_unit_files(data_dir: &Path) {
    let app_dir = data_dir.join("io.devicehub.station");
    assert!(!app_dir.join("simulated-units").exists());
    if let Ok(entries) = std::fs::read_dir(&app_dir) {
        for e in entries.flatten() {
            assert!(
                e.path().extension().is_none_or(|x| x != "flash"),
                "a unit's flash on disk: {}",
                e.path().display()
            );
        }
    }
}

/// Answer the GTK save dialog: type the full path into its name box and press Enter.
pub fn answer_save_dialog(path: &Path) {
    answer_save_dialog_titled("^Export batch", path);
}

/// Answer the GTK save dialog whose title matches `title` (an xdotool regex).
pub fn answer_save_dialog_titled(title: &str, path: &Path) {
    let search = || {
        Command::new("xdotool")
            .args(["search", "--onlyvisible", "--name", title])
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.lines().next().map(str::to_owned))
    };
    let deadline = Instant::now() + WAIT;
    let window = loop {
        if let Some(w) = search() {
            break w;
        }
        assert!(Instant::now() < deadline, "the save dialog did not open");
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(500));
    let xdo = |args: &[&str]| {
        let ok = Command::new("xdotool")
            .args(args)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "xdotool {args:?} failed");
    };
    xdo(&["windowfocus", "--sync", &window]);
    xdo(&["key", "--window", &window, "ctrl+a"]);
    xdo(&[
        "type",
        "--window",
        &window,
        "--delay",
        "5",
        &path.display().to_string(),
    ]);
    std::thread::sleep(Duration::from_millis(200));
    xdo(&["key", "--window", &window, "Return"]);
}

/// Times a gang press inside the page: from the press (its click event) to the first frame in
/// which every tile shows a finished job other than the one it showed before (`window.__gang.ms`).
pub const GANG_CLOCK: &str = r#"
  const job = (t) => t.dataset.job || '';
  const before = new Map(Array.from(document.querySelectorAll('[data-testid=tile]')).map(t => [t.dataset.port, job(t)]));
  // The clock starts at the press itself (the click reaching the page), not when this script
  // ran: WebDriver's scroll and click round trips before it are not the station's time.
  const g = { t0: null, ms: null };
  window.__gang = g;
  document.addEventListener('click', () => { if (g.t0 === null) g.t0 = performance.now(); }, { capture: true, once: true });
  const tick = () => {
    const tiles = Array.from(document.querySelectorAll('[data-testid=tile]'));
    const done = tiles.length > 0 && tiles.every(t =>
      job(t) !== '' && job(t) !== (before.get(t.dataset.port) ?? '') &&
      (t.dataset.state === 'passed' || t.dataset.state === 'failed'));
    if (done && g.t0 !== null) { g.ms = performance.now() - g.t0; return; }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  return true;
"#;

/// A frame-gap monitor in the page: the longest time between two animation frames.
pub const FRAME_MONITOR: &str = r#"
  const f = { max: 0, start: performance.now(), last: performance.now(), count: 0, on: true, slow: [] };
  window.__frames = f;
  const tick = (t) => {
    const gap = t - f.last;
    if (gap > f.max) f.max = gap;
    if (gap > 50 && f.slow.length < 50) f.slow.push([Math.round(f.last - f.start), Math.round(gap)]);
    f.last = t; f.count++;
    if (f.on) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  return true;
"#;

/// The password hash every E2E station uses (Argon2 at its smallest): the functional tests do
/// not measure hashing.
pub const FAST_HASH: &str = "argon2:m=64,t=1,p=1";

/// A training-mode station on `home` (simulated units flash only in training), named `line-1`,
/// hashing with [`FAST_HASH`]; returns its database for the test's own setup. With `with_type`,
/// the WeatherStation type (app label `myapp`) is added.
pub fn training_station(home: &Path, with_type: bool) -> station_core::Store {
    let production = home.join("station.sqlite3");
    let training = station_service::training::Mode::Training;
    station_service::training::set_app_mode(&production, training).expect("training mode");
    let mut store = station_service::training::open(&production, training).expect("db");
    store
        .set_setting(station_core::settings::key::HASH_ALGORITHM, FAST_HASH)
        .expect("hash");
    store
        .set_setting(station_core::settings::key::STATION_ID, "line-1")
        .expect("station");
    if with_type {
        store
            .add_type(station_core::NewDeviceType {
                name: "WeatherStation".into(),
                app_label: "myapp".into(),
                ..Default::default()
            })
            .expect("type");
    }
    store
}

/// Paints one frame 100 ms from now without changing a pixel (see `screenshot_here`).
const SNAPSHOT_PAINT: &str = r#"
  setTimeout(() => {
    document.body.style.outline = '1px solid transparent';
    requestAnimationFrame(() => requestAnimationFrame(() => { document.body.style.outline = ''; }));
  }, 100);
  return true;
"#;

/// CPU time used so far by these processes (user + system, all threads), in seconds.
pub fn cpu_seconds(pids: &[u32]) -> f64 {
    // Clock ticks per second: 100 on Linux (sysconf(_SC_CLK_TCK)).
    const TICKS_PER_SECOND: f64 = 100.0;
    let ticks: u64 = pids
        .iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
        .filter_map(|stat| {
            // The fields after the command name, which is in parentheses and may hold spaces.
            let rest = &stat[stat.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    ticks as f64 / TICKS_PER_SECOND
}
