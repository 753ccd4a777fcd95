//! Parity of the two faces (issue 9): one scenario (a type, a batch, a gang flash of three
//! units, a failed flash, a re-flash, a deactivation, a sync to a real django-devicehub server)
//! driven once through the `station` CLI and once through the app's command layer (its
//! `#[tauri::command]` functions, called on a Tauri mock app holding the real `AppState`, and
//! its flasher, which `start_flash` hands to), each against its own fresh server. Both must end
//! in the same station database and the same server state, apart from timestamps and which
//! unit of a gang press got which number (threads race for the next device).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::types::Value;
use station_app::commands::{batches, devices, settings, sync};
use station_app::dto::{DeviceTypeInput, FlashRequest, NewBatch, SettingChange, Shift};
use station_app::events::{FlashFinished, FlashProgress, FlashResult};
use station_app::flashing::{Flasher, Sink};
use station_app::state::AppState;
use station_core::Store;
use station_devsim::{SimHandle, SimOptions, Simulator};
use station_e2e::{workspace_bin, DjangoServer};
use station_protocol::Key;
use station_service::training::Mode;
use tauri::Manager;

const STATION: &str = "parity-line";
const OPERATOR: &str = "parity-operator";
const FAST_HASH: &str = "pbkdf2_sha256:iterations=1000";
const PREFIX: &str = "par-";
const GANG: [&str; 3] = ["A1A1A1A1A1A1A1A1", "B2B2B2B2B2B2B2B2", "C3C3C3C3C3C3C3C3"];
const REFUSING: &str = "D4D4D4D4D4D4D4D4";

/// What a face does, step by step.
trait Face {
    fn db(&self) -> PathBuf;
    fn setup(&mut self, url: &str, token: &str);
    fn create_batch(&mut self, count: u32);
    /// One press on every port, flashing the batch's next devices.
    fn flash_batch(&mut self, ports: &[&str]) -> Vec<bool>;
    fn reflash(&mut self, port: &str, device_id: &str) -> bool;
    fn deactivate(&mut self, device_id: &str);
    fn sync(&mut self);
}

struct Cli {
    dir: PathBuf,
    /// The station token, given to every run through the `env` credential store (no Secret
    /// Service runs in CI): `STATION_CREDENTIAL_STORE=env`, `STATION_SYNC_TOKEN`.
    token: String,
}

impl Cli {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = Command::new(workspace_bin("station-cli", "station"));
        c.args(args)
            .env("STATION_DB", self.db())
            .env("STATION_OPERATOR", OPERATOR)
            .env("STATION_CREDENTIAL_STORE", "env")
            .env("STATION_SYNC_TOKEN", &self.token)
            .env_remove("STATION_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn station");
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write");
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("station")
    }

    fn ok(&self, args: &[&str]) {
        let out = self.run(args, None);
        assert!(
            out.status.success(),
            "station {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Face for Cli {
    fn db(&self) -> PathBuf {
        self.dir.join("station.sqlite3")
    }
    fn setup(&mut self, url: &str, token: &str) {
        self.ok(&["settings", "set", "station_id", STATION]);
        self.ok(&["settings", "set", "hash_algorithm", FAST_HASH]);
        self.ok(&["type", "add", "WeatherStation", "--app-label", "myapp"]);
        self.token = token.to_owned();
        let out = self.run(
            &["sync", "config", "--url", url, "--token-stdin"],
            Some(token),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    fn create_batch(&mut self, count: u32) {
        let n = count.to_string();
        self.ok(&[
            "batch",
            "create",
            "WeatherStation",
            "--count",
            &n,
            "--prefix",
            PREFIX,
        ]);
    }
    fn flash_batch(&mut self, ports: &[&str]) -> Vec<bool> {
        let mut args = vec!["flash", "--batch", "1", "--json"];
        for p in ports {
            args.extend(["--port", p]);
        }
        let out = self.run(&args, None);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("json line");
                v["result"] == "pass"
            })
            .collect()
    }
    fn reflash(&mut self, port: &str, device_id: &str) -> bool {
        self.run(&["reflash", "--port", port, "--device", device_id], None)
            .status
            .success()
    }
    fn deactivate(&mut self, device_id: &str) {
        self.ok(&["deactivate", device_id, "--reason", "returned"]);
    }
    fn sync(&mut self) {
        self.ok(&["sync", "run"]);
    }
}

/// The app's command layer on a Tauri mock app.
struct App {
    dir: PathBuf,
    app: tauri::App<tauri::test::MockRuntime>,
    sink: Arc<Recorder>,
}

#[derive(Default)]
struct Recorder {
    finished: Mutex<Vec<FlashFinished>>,
}

impl Sink for Recorder {
    fn progress(&self, _: FlashProgress) {}
    fn finished(&self, f: FlashFinished) {
        self.finished.lock().expect("lock").push(f);
    }
    fn shift(&self, _: Shift) {}
}

impl App {
    fn new(dir: PathBuf) -> Self {
        let app = tauri::test::mock_app();
        let db = dir.join("station.sqlite3");
        let store = Store::open(&db).expect("open");
        let flasher = Flasher::new(store.path().to_owned(), Mode::Production);
        app.manage(AppState::new(
            store,
            db,
            Mode::Production,
            flasher,
            Instant::now(),
            false,
        ));
        App {
            dir,
            app,
            sink: Arc::default(),
        }
    }
    fn state(&self) -> tauri::State<'_, AppState> {
        self.app.state::<AppState>()
    }
    fn change(&self, change: SettingChange) {
        tauri::async_runtime::block_on(settings::change_setting(self.state(), change))
            .expect("setting");
    }
    /// Start one job per port (the UI's gang press), then wait for all of them.
    fn press(&self, jobs: &[(&str, FlashRequest)]) -> Vec<bool> {
        let before = self.sink.finished.lock().expect("lock").len();
        for (port, request) in jobs {
            self.state()
                .flasher
                .start(port, request.clone(), self.sink.clone())
                .expect("start");
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let done = self.sink.finished.lock().expect("lock").clone();
            if done.len() >= before + jobs.len() {
                let mut out: Vec<(String, bool)> = done[before..]
                    .iter()
                    .map(|f| {
                        (
                            f.port.clone(),
                            matches!(f.result, FlashResult::Passed { .. }),
                        )
                    })
                    .collect();
                let order: Vec<&str> = jobs.iter().map(|(p, _)| *p).collect();
                out.sort_by_key(|(p, _)| order.iter().position(|o| o == p));
                return out.into_iter().map(|(_, ok)| ok).collect();
            }
            assert!(Instant::now() < deadline, "flashes did not finish");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Face for App {
    fn db(&self) -> PathBuf {
        self.dir.join("station.sqlite3")
    }
    fn setup(&mut self, url: &str, token: &str) {
        self.change(SettingChange::StationName(STATION.into()));
        self.change(SettingChange::HashAlgorithm(FAST_HASH.into()));
        self.change(SettingChange::Operator(OPERATOR.into()));
        tauri::async_runtime::block_on(settings::add_type(
            self.state(),
            DeviceTypeInput {
                name: "WeatherStation".into(),
                app_label: "myapp".into(),
                topic_prefix: None,
                topic_template: None,
                broker_host: None,
                broker_port: None,
                broker_tls: None,
                driver: None,
                driver_settings: None,
            },
        ))
        .expect("type");
        // The `env` credential store, as the CLI face: this process's environment carries the
        // token (nextest runs each test in its own process; no face runs beside another).
        std::env::set_var("STATION_CREDENTIAL_STORE", "env");
        std::env::set_var("STATION_SYNC_TOKEN", token);
        self.change(SettingChange::SyncServer {
            url: url.into(),
            token: Some(token.into()),
            insecure_http: false,
        });
    }
    fn create_batch(&mut self, count: u32) {
        tauri::async_runtime::block_on(batches::create_batch(
            self.state(),
            NewBatch {
                device_type: "WeatherStation".into(),
                prefix: PREFIX.into(),
                count,
                lot: None,
                work_order: None,
            },
        ))
        .expect("batch");
    }
    fn flash_batch(&mut self, ports: &[&str]) -> Vec<bool> {
        let jobs: Vec<(&str, FlashRequest)> = ports
            .iter()
            .map(|p| (*p, FlashRequest::NextInBatch { batch_id: 1 }))
            .collect();
        self.press(&jobs)
    }
    fn reflash(&mut self, port: &str, device_id: &str) -> bool {
        self.press(&[(
            port,
            FlashRequest::Reflash {
                device_id: device_id.into(),
                confirm_unbound: false,
            },
        )])[0]
    }
    fn deactivate(&mut self, device_id: &str) {
        tauri::async_runtime::block_on(devices::deactivate_device(
            self.state(),
            device_id.into(),
            "returned".into(),
        ))
        .expect("deactivate");
    }
    fn sync(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = tauri::async_runtime::block_on(sync::sync_retry(self.state())).expect("sync");
            if s.queue_length == 0 && s.last_success_at.is_some() {
                return;
            }
            assert!(Instant::now() < deadline, "the app never synced: {s:?}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

fn unit(dir: &Path, hardware_id: &str, naks: &[&str]) -> SimHandle {
    Simulator::start(SimOptions {
        flash: Some(dir.join(format!("{hardware_id}.flash"))),
        hardware_id: Some(hardware_id.into()),
        naks: naks.iter().map(|n| n.parse().expect("rule")).collect(),
        ..SimOptions::default()
    })
    .expect("simulator")
}

fn held_device(u: &SimHandle) -> String {
    u.flash_contents()
        .expect("the unit holds a config")
        .get_str(Key::DeviceId)
        .to_owned()
}

/// The scenario; returns the station's and the server's state, normalised.
fn scenario(face: &mut dyn Face, dir: &Path) -> (Vec<String>, Vec<String>) {
    let server = DjangoServer::start();
    let token = server.new_station_token(STATION);
    face.setup(&server.sync_url(), &token);
    face.create_batch(4);
    let units: Vec<SimHandle> = GANG.iter().map(|hw| unit(dir, hw, &[])).collect();
    let ports: Vec<&str> = units.iter().map(SimHandle::port_path).collect();
    assert_eq!(face.flash_batch(&ports), [true, true, true]);
    let refusing = unit(dir, REFUSING, &["COMMIT:STORAGE_FULL"]);
    assert_eq!(face.flash_batch(&[refusing.port_path()]), [false]);
    assert!(face.reflash(units[0].port_path(), &held_device(&units[0])));
    face.deactivate(&held_device(&units[1]));
    face.sync();
    (station_state(&face.db()), server_state(&server, &face.db()))
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => r.to_string(),
        Value::Text(t) => t.clone(),
        Value::Blob(b) => format!("<{} bytes>", b.len()),
    }
}

/// Every device as its unit sees it (the unit, not the number, identifies it across the two
/// runs), its history's kinds, the batch, the outbox and the shift; timestamps, hashes and
/// fingerprints left out.
fn station_state(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).expect("open");
    let rows = |sql: &str| -> Vec<String> {
        let mut stmt = conn.prepare(sql).expect(sql);
        let n = stmt.column_count();
        let mut out: Vec<String> = stmt
            .query_map([], |r| {
                Ok((0..n)
                    .map(|i| text(&r.get::<_, Value>(i).expect("value")))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .expect("query")
            .map(|r| r.expect("row"))
            .collect();
        out.sort();
        out
    };
    let mut state = Vec::new();
    state.extend(rows(
        "SELECT 'device', coalesce(hardware_id, '-'), batch_id, status, is_active, generation,
                pending_generation, flash_state, flash_error IS NOT NULL, rotation_due,
                station_id, operator, firmware_version, mqtt_password_hash IS NOT NULL
         FROM devices",
    ));
    state.extend(rows("SELECT 'device_id', device_id FROM devices"));
    state.extend(rows(
        "SELECT 'event', coalesce(d.hardware_id, '-'), e.kind, e.generation, e.operator,
                e.station_id
         FROM device_events e JOIN devices d ON d.id = e.device_pk",
    ));
    state.extend(rows("SELECT 'batch', id, prefix, count FROM batches"));
    let store = Store::open(db).expect("store");
    let shift = store.shift().expect("shift");
    state.push(format!("shift|{}|{}", shift.passed, shift.failed));
    let counts = store.outbox_counts().expect("outbox");
    state.push(format!(
        "outbox|{}|{}|{}",
        counts.pending, counts.rejected, counts.done
    ));
    state
}

/// What the server holds, each device named by the unit the station flashed it into (which
/// number a gang press gave which unit is a race, the same in both faces).
fn server_state(server: &DjangoServer, db: &Path) -> Vec<String> {
    let store = Store::open(db).expect("store");
    let unit_of = |device_id: &str| -> String {
        store
            .find_device(device_id)
            .ok()
            .and_then(|d| d.hardware_id)
            .unwrap_or_else(|| format!("unflashed {device_id}"))
    };
    let rows = |sql: &str| -> Vec<String> {
        let mut out: Vec<String> = server
            .query(sql)
            .iter()
            .map(|r| {
                r.iter()
                    .map(|v| match v {
                        Value::Text(t) if t.starts_with(PREFIX) => unit_of(t),
                        other => text(other),
                    })
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect();
        out.sort();
        out
    };
    let mut state = rows("SELECT device_id, is_active FROM myapp_weatherstationdevice");
    state.extend(rows(
        "SELECT s.device_type, s.device_id, s.generation, d.is_active
         FROM devicehub_station_sync_synceddevice s
         JOIN myapp_weatherstationdevice d ON d.device_id = s.device_id",
    ));
    state
}

#[test]
fn the_cli_and_the_app_end_in_the_same_station_and_server_state() {
    let cli_dir = tempfile::tempdir().expect("tempdir");
    let app_dir = tempfile::tempdir().expect("tempdir");
    let mut cli = Cli {
        dir: cli_dir.path().to_owned(),
        token: String::new(),
    };
    let cli_state = scenario(&mut cli, cli_dir.path());
    let mut app = App::new(app_dir.path().to_owned());
    let app_state = scenario(&mut app, app_dir.path());
    assert_eq!(cli_state.0, app_state.0, "station databases differ");
    assert_eq!(cli_state.1, app_state.1, "server states differ");
    // The scenario did what it says.
    assert!(
        cli_state.0.iter().any(|r| r == "shift|4|1"),
        "{:?}",
        cli_state.0
    );
    assert_eq!(cli_state.1.len(), 6, "{:?}", cli_state.1);
}

/// Drift bug: the CLI leased ids from the server before creating devices, the app's batch
/// creation and new-device flashes never did, so the app minted from the station's offline range
/// (numbers from 10^9 up) until the background top-up ran.
#[test]
fn the_app_leases_ids_before_minting_for_batches_and_new_device_flashes() {
    let server = DjangoServer::start();
    let token = server.new_station_token(STATION);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = App::new(dir.path().to_owned());
    app.setup(&server.sync_url(), &token);
    app.create_batch(2);
    let u = unit(dir.path(), "E5E5E5E5E5E5E5E5", &[]);
    let passed = app.press(&[(
        u.port_path(),
        FlashRequest::NewDevice {
            device_type: "WeatherStation".into(),
            prefix: "new-".into(),
        },
    )]);
    assert_eq!(passed, [true]);
    let store = Store::open(app.db()).expect("store");
    let ids: Vec<String> = store
        .list_devices(&Default::default())
        .expect("devices")
        .into_iter()
        .map(|d| d.device_id)
        .collect();
    for id in &ids {
        let number: u64 = id
            .rsplit('-')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a numbered id");
        assert!(
            number < station_core::store::leases::OFFLINE_SPAN,
            "{id} was minted from the offline range: no lease was taken first"
        );
    }
    assert_eq!(ids.len(), 3, "{ids:?}");
    let leases = store.id_leases().expect("leases");
    assert!(
        leases.iter().any(|l| l.prefix == PREFIX) && leases.iter().any(|l| l.prefix == "new-"),
        "{leases:?}"
    );
}
