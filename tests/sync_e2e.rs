//! Sync with the central server, end to end: a real django-devicehub server (stock 0.2.1 with
//! the `devicehub_station_sync` receiver, `manage.py runserver` on 127.0.0.1), stations on real
//! SQLite files, devices flashed through the real pipeline into the simulator.
//!
//! - A flashed device logs in at the stock `POST /iot/broker/auth/` with the password the
//!   simulator received once synced; a wrong one is denied; after rotate + re-flash + sync the
//!   old password is denied and the new one allowed; after deactivate + sync it is denied.
//! - Faults: server down for the whole batch, 500s before and after applying, a timeout after
//!   applying, the same batch twice, the station killed mid-request. Afterwards every record
//!   is on the server exactly once with the right generation and the outbox is empty.
//! - Two stations provisioning the same type at once, one of them offline: no duplicate ids.
//! - No request body the server received holds a plaintext password.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use station_core::flash::FlashJob;
use station_core::store::leases::OFFLINE_SPAN;
use station_core::{Actor, BatchRequest, DeviceStatus, FlashTarget, NewDeviceType, Store};
use station_devsim::{SimOptions, Simulator};
use station_e2e::{free_port, workspace_bin, DjangoServer};
use station_protocol::Key;
use station_sync::worker::PushReport;
use station_sync::{Client, ConfigUpdate, Health, IdSource, PushOptions, StationToken, SyncConfig};

const TYPE: &str = "WeatherStation";
/// Set for the child process that `station_killed_mid_sync_…` kills: the station database.
const CHILD_DB_ENV: &str = "STATION_SYNC_E2E_CHILD_DB";

fn station(dir: &Path, name: &str, fast_hashes: bool) -> (Store, Actor) {
    let mut store = Store::open(dir.join(format!("{name}.sqlite3"))).expect("open");
    store.set_setting("station_id", name).expect("station id");
    if fast_hashes {
        // Django verifies these too; Django's own Argon2 parameters are used where a device logs in.
        store
            .set_setting("hash_algorithm", "pbkdf2_sha256:iterations=1000")
            .expect("hash algorithm");
    }
    store
        .add_type(NewDeviceType {
            name: TYPE.into(),
            app_label: "myapp".into(),
            ..NewDeviceType::default()
        })
        .expect("type");
    (store, Actor::new("e2e", name).expect("actor"))
}

fn update(url: &str, token: &str) -> ConfigUpdate {
    ConfigUpdate {
        server_url: Some(url.into()),
        token: Some(StationToken::parse(token).expect("token")),
        ..ConfigUpdate::default()
    }
}

/// Use the `env` credential store (no Secret Service runs here): `STATION_CREDENTIAL_STORE=env`,
/// and the token added to `STATION_SYNC_TOKEN`, which holds every station's of this test process
/// (each uses the one with its number). Called before any thread of the test reads the
/// environment.
fn token_in_env(token: &str) {
    use station_sync::credential_store::{STORE_ENV, TOKEN_ENV};
    let mut tokens = std::env::var(TOKEN_ENV).unwrap_or_default();
    if !tokens.split(' ').any(|t| t == token) {
        tokens = format!("{tokens} {token}").trim().to_owned();
    }
    std::env::set_var(STORE_ENV, "env");
    std::env::set_var(TOKEN_ENV, tokens);
}

/// What `station sync config` does: asks the server for its seal key, then stores both.
fn configure(store: &mut Store, url: &str, token: &str) -> SyncConfig {
    token_in_env(token);
    station_sync::configure(store, update(url, token))
        .expect("configure")
        .config
}

/// A station configured while its server cannot be reached: the settings only (no seal key).
fn configure_offline(store: &mut Store, url: &str, token: &str) -> SyncConfig {
    token_in_env(token);
    SyncConfig::update(store, update(url, token)).expect("configure")
}

fn push(store: &mut Store, config: &SyncConfig) -> PushReport {
    let client = Client::new(config).expect("client");
    station_sync::push_outbox(store, &client, &PushOptions::from_config(config)).expect("push")
}

fn provision(store: &mut Store, actor: &Actor, prefix: &str, count: u32) -> Vec<(String, String)> {
    store
        .create_batch(
            &BatchRequest {
                device_type: TYPE.into(),
                prefix: prefix.into(),
                count,
                with_credentials: true,
                lot: None,
                work_order: None,
            },
            actor,
        )
        .expect("batch")
        .devices
        .into_iter()
        .map(|d| {
            let c = d.credentials.expect("credentials");
            (d.device_id, c.mqtt_password.expose().to_owned())
        })
        .collect()
}

fn count(server: &DjangoServer, sql: &str) -> i64 {
    match server.query(sql).first().and_then(|r| r.first()) {
        Some(rusqlite::types::Value::Integer(n)) => *n,
        other => panic!("{sql}: {other:?}"),
    }
}

fn assert_no_plaintext(server: &DjangoServer, passwords: &[String]) {
    let bodies = server.captured_bodies();
    assert!(!bodies.is_empty(), "no request body was captured");
    for body in &bodies {
        for p in passwords {
            assert!(
                !body.contains(p.as_str()),
                "a request body held a plaintext password"
            );
        }
        assert!(
            !body.contains("mqtt_password\""),
            "a request body had a password field"
        );
    }
}

#[test]
fn flashed_device_logs_in_after_sync_and_rotation_and_deactivation_take_effect() {
    let server = DjangoServer::start_with_django_hashers();
    let token = server.new_station_token("line-1");
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, actor) = station(dir.path(), "line-1", false);
    let config = configure(&mut store, &server.sync_url(), &token);

    assert_eq!(
        station_sync::prepare_ids(&mut store, TYPE, "e2e-", 1).expect("ids"),
        IdSource::Leased
    );
    let batch = store
        .create_batch(
            &BatchRequest {
                device_type: TYPE.into(),
                prefix: "e2e-".into(),
                count: 1,
                with_credentials: false,
                lot: None,
                work_order: None,
            },
            &actor,
        )
        .expect("batch")
        .batch
        .id;
    let sim = Simulator::start(SimOptions {
        flash: Some(dir.path().join("unit.flash")),
        ..SimOptions::default()
    })
    .expect("simulator");
    let flash = |store: &mut Store, job: FlashJob| {
        station_e2e::flash_port(store, sim.port_path(), &job, &actor, &mut |_| {})
            .expect("flash")
            .device
    };
    let device = flash(
        &mut store,
        FlashJob::Provision {
            target: FlashTarget::NextInBatch(batch),
            overwrite_foreign: false,
        },
    );
    assert_eq!(
        device.device_id, "e2e-weatherstation-001",
        "the first leased number"
    );
    let password1 = sim
        .flash_contents()
        .expect("flash contents")
        .get_str(Key::MqttPassword)
        .to_owned();
    let user = device.mqtt_username.clone();
    assert_eq!(user, "myapp-weatherstationdevice-e2e-weatherstation-001");
    assert_eq!(
        server.broker_auth(&user, &password1),
        "deny",
        "not synced yet"
    );

    let report = station_sync::run_once(&mut store, &config).expect("sync");
    assert_eq!(
        (
            report.push.acknowledged,
            report.push.rejected,
            report.push.remaining
        ),
        (1, 0, 0),
        "{report:?}"
    );
    assert_eq!(report.catalog.expect("catalog").matching, [TYPE]);
    assert_eq!(server.broker_auth(&user, &password1), "allow");
    assert_eq!(server.broker_auth(&user, "wrong-password"), "deny");
    assert_eq!(
        store.plaintext_api_keys_held().expect("keys"),
        0,
        "acknowledged: only the fingerprint is kept"
    );
    assert!(store
        .find_device(&device.device_id)
        .expect("device")
        .api_key_fingerprint
        .is_some());

    // The login marked the device online on the server; the next sync brings that back.
    let report = station_sync::run_once(&mut store, &config).expect("sync");
    assert_eq!(report.statuses_updated, 1);
    let seen = store
        .server_status(&device.device_id)
        .expect("status")
        .expect("reported");
    assert_eq!(seen.status, "online");
    assert!(seen.last_seen.is_some());
    assert_eq!(seen.generation, device.generation);
    // The technician sees it with the device: `station devices show` (and the app's device
    // screen, which reads the same report).
    let shown = Command::new(workspace_bin("station-cli", "station"))
        .args(["--db"])
        .arg(store.path())
        .args(["devices", "show", &device.device_id, "--json"])
        .output()
        .expect("station devices show");
    assert!(shown.status.success(), "{shown:?}");
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("json");
    assert_eq!(shown["server"]["status"], "online");
    assert_eq!(
        shown["server"]["last_seen"],
        seen.last_seen.clone().expect("seen").as_str()
    );
    assert_eq!(
        store.find_device(&device.device_id).expect("device").status,
        DeviceStatus::Online
    );

    // The unit's label, scanned after its PASS, reaches the server with the device's next
    // record (same credentials, in the station's metadata).
    store
        .link_unit_serial(&device.device_id, "SN-2026/0042", &actor)
        .expect("link");
    let report = station_sync::run_once(&mut store, &config).expect("sync");
    assert_eq!(
        (report.push.acknowledged, report.push.rejected),
        (1, 0),
        "{report:?}"
    );
    let rows = server.query(&format!(
        "SELECT json_extract(metadata, '$.station_sync.unit_serial') \
         FROM myapp_weatherstationdevice WHERE device_id = '{}'",
        device.device_id
    ));
    assert_eq!(
        rows,
        vec![vec![rusqlite::types::Value::Text("SN-2026/0042".into())]]
    );
    assert_eq!(server.broker_auth(&user, &password1), "allow");

    // Rotate + re-flash: the server keeps the old credentials until the sync.
    let rotated = flash(
        &mut store,
        FlashJob::Reflash {
            expected_device_id: None,
            confirm_unbound: false,
        },
    );
    assert_eq!(rotated.generation, 2);
    let password2 = sim
        .flash_contents()
        .expect("flash contents")
        .get_str(Key::MqttPassword)
        .to_owned();
    assert_ne!(password1, password2);
    assert_eq!(server.broker_auth(&user, &password1), "allow");
    assert_eq!(server.broker_auth(&user, &password2), "deny");
    let report = station_sync::run_once(&mut store, &config).expect("sync");
    assert_eq!(report.push.acknowledged, 1, "{report:?}");
    assert_eq!(server.broker_auth(&user, &password1), "deny");
    assert_eq!(server.broker_auth(&user, &password2), "allow");

    // Deactivate + sync: denied.
    store
        .deactivate(&device.device_id, &actor, "returned by the customer")
        .expect("deactivate");
    let report = station_sync::run_once(&mut store, &config).expect("sync");
    assert_eq!(report.push.acknowledged, 1, "{report:?}");
    assert_eq!(server.broker_auth(&user, &password2), "deny");

    let rows = server.query(
        "SELECT s.generation, d.is_active FROM devicehub_station_sync_synceddevice s
         JOIN myapp_weatherstationdevice d ON d.device_id = s.device_id",
    );
    assert_eq!(
        rows,
        [vec![
            rusqlite::types::Value::Integer(2),
            rusqlite::types::Value::Integer(0)
        ]]
    );
    let status = station_sync::status(&store).expect("status");
    assert_eq!(status.health, Health::Synced);
    assert_eq!(status.outbox.pending, 0);
    assert_eq!(status.plaintext_api_keys, 0);
    assert_no_plaintext(&server, &[password1, password2]);
    assert!(
        server
            .captured_bodies()
            .iter()
            .any(|b| b.contains("argon2$argon2id$v=19$m=102400,t=2,p=8$")),
        "the hash is what travels"
    );
}

#[test]
fn faults_down_500s_timeouts_and_replays_leave_every_record_on_the_server_once() {
    let mut server = DjangoServer::start();
    let token = server.new_station_token("line-2");
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, actor) = station(dir.path(), "line-2", true);
    let mut config = configure(&mut store, &server.sync_url(), &token);
    config.batch_size = 10;
    config.timeout = Duration::from_secs(2);
    assert_eq!(
        station_sync::prepare_ids(&mut store, TYPE, "flt-", 30).expect("ids"),
        IdSource::Leased
    );
    let mut passwords: Vec<String> = provision(&mut store, &actor, "flt-", 30)
        .into_iter()
        .map(|(_, p)| p)
        .collect();

    // The server is down for the whole batch: everything waits, nothing is lost.
    server.stop();
    let r = push(&mut store, &config);
    let e = r.error.as_ref().expect("failed");
    assert!(e.temporary && e.code == "unreachable", "{e:?}");
    assert_eq!((r.acknowledged, r.remaining), (0, 30));
    assert_eq!(
        station_sync::status(&store).expect("status").health,
        Health::Offline
    );
    assert!(
        store.outbox_next_batch(10, true).expect("batch").is_empty(),
        "the worker waits for the backoff before retrying"
    );

    // Up again, but one 500 before applying a batch and one after applying it.
    server.restart();
    server.set_faults(serde_json::json!({"fail_before": 1, "fail_after": 1}));
    let r = push(&mut store, &config);
    assert_eq!(
        r.error.as_ref().map(|e| (e.temporary, e.code.as_str())),
        Some((true, "server_unavailable"))
    );
    assert_eq!(r.acknowledged, 0);
    let r = push(&mut store, &config);
    assert!(r.error.is_some() && r.acknowledged == 0, "{r:?}");
    assert_eq!(
        count(&server, "SELECT count(*) FROM myapp_weatherstationdevice"),
        10
    );
    let r = push(&mut store, &config);
    assert!(r.error.is_none(), "{r:?}");
    assert_eq!(
        (r.acknowledged, r.rejected, r.remaining, r.batches),
        (30, 0, 0, 3)
    );

    // A rotation whose answer times out after the server applied it.
    for (device_id, _) in server
        .query("SELECT device_id FROM myapp_weatherstationdevice ORDER BY device_id LIMIT 5")
        .into_iter()
        .map(|r| match &r[0] {
            rusqlite::types::Value::Text(t) => (t.clone(), ()),
            v => panic!("{v:?}"),
        })
    {
        let creds = store.rotate_now(&device_id, &actor).expect("rotate");
        passwords.push(creds.mqtt_password.expose().to_owned());
    }
    server.set_faults(serde_json::json!({"sleep_after": 1, "sleep_seconds": 4}));
    let r = push(&mut store, &config);
    assert!(r.error.as_ref().is_some_and(|e| e.temporary), "{r:?}");
    let r = push(&mut store, &config);
    assert_eq!((r.acknowledged, r.remaining), (5, 0), "{r:?}");

    // The same batch sent twice: applied once, the second time "unchanged".
    for device_id in ["flt-weatherstation-010", "flt-weatherstation-011"] {
        let creds = store.rotate_now(device_id, &actor).expect("rotate");
        passwords.push(creds.mqtt_password.expose().to_owned());
    }
    let client = Client::new(&config).expect("client");
    let batch = store.outbox_next_batch(10, false).expect("batch");
    assert_eq!(batch.len(), 2);
    let first = client.push(&batch).expect("push");
    let again = client.push(&batch).expect("push");
    assert!(first
        .results
        .iter()
        .all(|r| r.outcome == station_sync::api::Outcome::Updated));
    assert!(again
        .results
        .iter()
        .all(|r| r.outcome == station_sync::api::Outcome::Unchanged));
    let r = push(&mut store, &config);
    assert_eq!((r.acknowledged, r.remaining), (2, 0));

    // Every record exactly once, with the generation the station has; nothing left.
    let counts = store.outbox_counts().expect("counts");
    assert_eq!((counts.pending, counts.rejected), (0, 0));
    assert_eq!(
        count(&server, "SELECT count(*) FROM myapp_weatherstationdevice"),
        30
    );
    let on_server: Vec<(String, i64)> = server
        .query("SELECT device_id, generation FROM devicehub_station_sync_synceddevice ORDER BY device_id")
        .into_iter()
        .map(|r| match (&r[0], &r[1]) {
            (rusqlite::types::Value::Text(id), rusqlite::types::Value::Integer(g)) => (id.clone(), *g),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(on_server.len(), 30);
    for (device_id, generation) in &on_server {
        let local = store.find_device(device_id).expect("device");
        assert_eq!(i64::from(local.generation), *generation, "{device_id}");
    }
    assert_eq!(on_server.iter().filter(|(_, g)| *g == 2).count(), 7);
    assert_eq!(store.plaintext_api_keys_held().expect("keys"), 0);
    assert_no_plaintext(&server, &passwords);
}

/// Not a test on its own: the station process that
/// [`station_killed_mid_sync_loses_nothing_and_duplicates_nothing`] starts and kills.
#[test]
fn child_sync_process() {
    let Ok(db) = std::env::var(CHILD_DB_ENV) else {
        return;
    };
    let mut store = Store::open(db).expect("open");
    let config = SyncConfig::require(&store).expect("config");
    let _ = push(&mut store, &config);
}

#[test]
fn station_killed_mid_sync_loses_nothing_and_duplicates_nothing() {
    let server = DjangoServer::start();
    let token = server.new_station_token("line-3");
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, actor) = station(dir.path(), "line-3", true);
    let config = configure(&mut store, &server.sync_url(), &token);
    let passwords: Vec<String> = provision(&mut store, &actor, "kill-", 20)
        .into_iter()
        .map(|(_, p)| p)
        .collect();

    // The server applies the batch, then takes its time answering; the station dies meanwhile.
    server.set_faults(serde_json::json!({"sleep_after": 1, "sleep_seconds": 30}));
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["child_sync_process", "--exact", "--nocapture"])
        .env(CHILD_DB_ENV, store.path())
        .spawn()
        .expect("start the station process");
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(
        &server,
        "SELECT count(*) FROM devicehub_station_sync_synceddevice",
    ) < 20
    {
        assert!(Instant::now() < deadline, "the server never got the batch");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert_eq!(
        store.outbox_counts().expect("counts").pending,
        20,
        "the station never heard back, so nothing is settled"
    );

    server.set_faults(serde_json::json!({}));
    let r = push(&mut store, &config);
    assert_eq!(
        (r.acknowledged, r.rejected, r.remaining),
        (20, 0, 0),
        "{r:?}"
    );
    assert_eq!(
        count(&server, "SELECT count(*) FROM myapp_weatherstationdevice"),
        20
    );
    assert_eq!(
        count(
            &server,
            "SELECT count(*) FROM devicehub_station_sync_synceddevice"
        ),
        20
    );
    assert_no_plaintext(&server, &passwords);
}

#[test]
fn two_stations_one_offline_never_mint_the_same_id() {
    let server = DjangoServer::start();
    let tokens: Vec<String> = ["line-a", "line-b", "line-c"]
        .iter()
        .map(|n| server.new_station_token(n))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let offline_url = format!("http://127.0.0.1:{}/station-sync/", free_port());
    let mut stations: Vec<(Store, Actor, SyncConfig)> = ["line-a", "line-b", "line-c"]
        .iter()
        .zip(&tokens)
        .map(|(name, token)| {
            let (mut store, actor) = station(dir.path(), name, true);
            // line-b is offline: nothing answers at its server address.
            let url = if *name == "line-b" {
                offline_url.clone()
            } else {
                server.sync_url()
            };
            let config = if *name == "line-b" {
                configure_offline(&mut store, &url, token)
            } else {
                configure(&mut store, &url, token)
            };
            (store, actor, config)
        })
        .collect();

    let minted: Vec<(Vec<IdSource>, Vec<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = stations
            .iter_mut()
            .map(|(store, actor, _)| {
                scope.spawn(move || {
                    let mut sources = Vec::new();
                    let mut ids = Vec::new();
                    for _ in 0..3 {
                        sources.push(
                            station_sync::prepare_ids(store, TYPE, "dual-", 40).expect("ids"),
                        );
                        ids.extend(
                            provision(store, actor, "dual-", 40)
                                .into_iter()
                                .map(|(id, _)| id),
                        );
                    }
                    (sources, ids)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("station thread"))
            .collect()
    });

    let all: Vec<&String> = minted.iter().flat_map(|(_, ids)| ids).collect();
    let distinct: HashSet<&&String> = all.iter().collect();
    assert_eq!(all.len(), 360);
    assert_eq!(distinct.len(), 360, "two stations minted the same id");
    assert!(minted[0].0.iter().all(|s| *s == IdSource::Leased));
    assert!(minted[2].0.iter().all(|s| *s == IdSource::Leased));
    assert!(minted[1]
        .0
        .iter()
        .all(|s| matches!(s, IdSource::Offline { .. })));
    let b_number = StationToken::parse(&tokens[1])
        .expect("token")
        .station_number();
    for id in &minted[1].1 {
        let n: u64 = id
            .rsplit('-')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("number");
        assert_eq!(
            n / OFFLINE_SPAN,
            b_number,
            "{id} is not in line-b's offline range"
        );
    }

    // line-b comes online; everyone syncs; the server takes all of them, once.
    let (store_b, _, config_b) = &mut stations[1];
    *config_b = configure(store_b, &server.sync_url(), &tokens[1]);
    for (store, _, config) in &mut stations {
        let r = push(store, config);
        assert_eq!(
            (r.acknowledged, r.rejected, r.remaining),
            (120, 0, 0),
            "{r:?}"
        );
    }
    assert_eq!(
        count(&server, "SELECT count(*) FROM myapp_weatherstationdevice"),
        360
    );
    let per_station = server.query(
        "SELECT st.name, count(*) FROM devicehub_station_sync_synceddevice s
         JOIN devicehub_station_sync_station st ON st.id = s.station_id GROUP BY st.name ORDER BY st.name",
    );
    assert_eq!(per_station.len(), 3);
    for row in per_station {
        assert_eq!(row[1], rusqlite::types::Value::Integer(120));
    }
}

/// A TLS server on 127.0.0.1 whose certificate is signed by a throwaway "factory" CA
/// (openssl), answering every request 401 like the receiver does without a token.
struct TlsServer {
    child: std::process::Child,
    url: String,
    ca: std::path::PathBuf,
}

impl TlsServer {
    fn start(dir: &Path) -> TlsServer {
        let openssl = |args: &[&str]| {
            let ok = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .stderr(std::process::Stdio::null())
                .status()
                .expect("run openssl")
                .success();
            assert!(ok, "openssl {args:?}");
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "1",
                    "-subj",
                    "/CN=Factory CA",
                ],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    "srv.key",
                    "-out",
                    "srv.csr",
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            ]
            .concat(),
        );
        std::fs::write(
            dir.join("srv.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .expect("ext");
        openssl(&[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.pem",
            "-days",
            "1",
            "-extfile",
            "srv.ext",
        ]);
        let port = free_port();
        let script = r#"
import http.server, json, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"error": {"code": "unauthorized", "message": "tls bench"}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("srv.pem", "srv.key")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("ready", flush=True)
srv.serve_forever()
"#;
        let mut child = Command::new("python3")
            .args(["-c", script, &port.to_string()])
            .current_dir(dir)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the TLS server");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("ready line");
        assert_eq!(line.trim(), "ready");
        TlsServer {
            child,
            url: format!("https://127.0.0.1:{port}/station-sync/"),
            ca: dir.join("ca.pem"),
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn tls_trusts_a_factory_ca_only_when_configured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tls = TlsServer::start(dir.path());
    let (mut store, _) = station(dir.path(), "line-tls", true);
    let token = "dhs_9_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";
    let ask = |config: &SyncConfig| Client::new(config).expect("client").station();

    // Built-in roots only: the factory CA is unknown, so the handshake fails (and is retried).
    let config = configure_offline(&mut store, &tls.url, token);
    let err = ask(&config).expect_err("unknown issuer");
    assert!(err.is_temporary() && err.code() == "unreachable", "{err}");
    assert!(
        !err.to_string().contains("abcdefghijklmn"),
        "the token never shows: {err}"
    );

    // With the factory CA: the TLS session is up and the server's 401 comes through.
    let config = SyncConfig::update(
        &mut store,
        ConfigUpdate {
            ca_file: Some(Some(tls.ca.clone())),
            ..ConfigUpdate::default()
        },
    )
    .expect("ca file");
    let err = ask(&config).expect_err("401");
    assert_eq!(err.code(), "unauthorized", "{err}");

    // Verification off (a test bench): also through, without the CA.
    let config = SyncConfig::update(
        &mut store,
        ConfigUpdate {
            ca_file: Some(None),
            tls_verify: Some(false),
            ..ConfigUpdate::default()
        },
    )
    .expect("no verify");
    assert_eq!(ask(&config).expect_err("401").code(), "unauthorized");
}

fn wait_until_synced(store: &Store, within: Duration) {
    let deadline = Instant::now() + within;
    while store.outbox_counts().expect("counts").pending > 0 {
        assert!(
            Instant::now() < deadline,
            "the worker did not drain the outbox in time"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn background_worker_drains_the_outbox_retries_after_an_outage_and_survives_a_restart() {
    let mut server = DjangoServer::start();
    let token = server.new_station_token("line-w");
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, actor) = station(dir.path(), "line-w", true);
    configure(&mut store, &server.sync_url(), &token);
    provision(&mut store, &actor, "wrk-", 15);

    let worker =
        station_sync::Worker::spawn_with(store.path().to_owned(), Duration::from_millis(200));
    wait_until_synced(&store, Duration::from_secs(30));
    worker.stop();
    assert_eq!(
        count(&server, "SELECT count(*) FROM myapp_weatherstationdevice"),
        15
    );

    // The server goes down; new records wait; a new worker (a restarted app) backs off, and
    // delivers them once the server is back.
    server.stop();
    provision(&mut store, &actor, "wrk-", 5);
    let worker =
        station_sync::Worker::spawn_with(store.path().to_owned(), Duration::from_millis(200));
    let deadline = Instant::now() + Duration::from_secs(20);
    while store
        .outbox_counts()
        .expect("counts")
        .next_attempt_at
        .is_none()
    {
        assert!(Instant::now() < deadline, "the worker never tried");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        station_sync::status(&store).expect("status").health,
        Health::Offline
    );
    server.restart();
    worker.wake();
    wait_until_synced(&store, Duration::from_secs(30));
    worker.stop();
    assert_eq!(
        count(&server, "SELECT count(*) FROM myapp_weatherstationdevice"),
        20
    );
    assert_eq!(
        station_sync::status(&store).expect("status").health,
        Health::Synced
    );
}

/// Api keys sealed to the server (issue 10): keys that waited in plaintext are sealed when sync
/// is configured, every later key is sealed before it is stored, no request carries `api_key`,
/// and the server opens each one (django-devicehub holds the same key the station issued).
/// When the server's key pair is replaced, the station stops pushing until a person confirms.
#[test]
fn api_keys_travel_sealed_and_a_replaced_server_key_stops_the_push() {
    let server = DjangoServer::start();
    let token = server.new_station_token("line-seal");
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, actor) = station(dir.path(), "line-seal", true);
    let keys_of = |devices: Vec<station_core::batches::CreatedDevice>| -> Vec<(String, String)> {
        devices
            .into_iter()
            .map(|d| {
                let c = d.credentials.expect("credentials");
                (d.device_id, c.api_key.expose().to_owned())
            })
            .collect()
    };
    let request = |prefix: &str| BatchRequest {
        device_type: TYPE.into(),
        prefix: prefix.into(),
        count: 2,
        with_credentials: true,
        lot: None,
        work_order: None,
    };
    let mut keys = keys_of(
        store
            .create_batch(&request("sa-"), &actor)
            .expect("batch")
            .devices,
    );
    assert_eq!(store.plaintext_api_keys_held().expect("count"), 2);

    token_in_env(&token);
    let configured =
        station_sync::configure(&mut store, update(&server.sync_url(), &token)).expect("configure");
    assert_eq!(
        configured.seal_key.fingerprint(),
        server.seal_key_fingerprint()
    );
    assert_eq!(configured.sealed_now, 2);
    keys.extend(keys_of(
        store
            .create_batch(&request("sb-"), &actor)
            .expect("batch")
            .devices,
    ));
    assert_eq!(store.plaintext_api_keys_held().expect("count"), 0);

    let report = station_sync::run_once(&mut store, &configured.config).expect("sync");
    assert!(report.push.error.is_none(), "{:?}", report.push.error);
    assert_eq!((report.push.acknowledged, report.push.rejected), (4, 0));
    for body in server.captured_bodies() {
        assert!(!body.contains("\"api_key\""), "a request carried api_key");
        for (_, key) in &keys {
            assert!(
                !body.contains(key.as_str()),
                "a request carried a plaintext api key"
            );
        }
    }
    for (device_id, key) in &keys {
        let held = server.query(&format!(
            "SELECT api_key FROM myapp_weatherstationdevice WHERE device_id = '{device_id}'"
        ));
        assert_eq!(
            held,
            vec![vec![rusqlite::types::Value::Text(key.clone())]],
            "the server opened {device_id}'s key"
        );
    }

    // The server's key pair is replaced: nothing is pushed until a person confirms.
    server.manage(&["station_sync_sealkey", "--replace"]);
    store.create_batch(&request("sc-"), &actor).expect("batch");
    let report = station_sync::run_once(&mut store, &configured.config).expect("sync");
    let error = report.push.error.expect("stopped");
    assert_eq!(error.code, "seal_key_changed");
    assert_eq!(report.push.sent, 0);
    assert_eq!(
        station_sync::status(&store).expect("status").health,
        Health::NeedsAttention
    );
    // The operator confirms the new key: the new records go (sealed to the old key, the
    // server refuses them, naming the fix).
    let again =
        station_sync::configure(&mut store, update(&server.sync_url(), &token)).expect("configure");
    assert_eq!(again.seal_key.fingerprint(), server.seal_key_fingerprint());
    let report = station_sync::run_once(&mut store, &again.config).expect("sync");
    assert_eq!(report.push.rejected, 2, "{report:?}");
}

/// Issue 14, finding 5: what the server receives when a batch is cancelled. Devices whose
/// credentials were issued to a script (`provision`) are on the server: the cancel deactivates
/// them through the outbox, as `deactivate` does, and the broker denies them. Devices of a batch
/// never flashed were never sent: the cancel sends nothing about them and the server never
/// hears of them. Nothing is deleted on either side.
#[test]
fn finding_5_cancelled_batch_reaches_the_server_consistently() {
    let server = DjangoServer::start();
    let token = server.new_station_token("line-1");
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, actor) = station(dir.path(), "line-1", true);
    let config = configure(&mut store, &server.sync_url(), &token);

    // A provisioned batch (credentials to a script), synced: the broker allows its devices.
    station_sync::prepare_ids(&mut store, TYPE, "prov-", 2).expect("ids");
    let provisioned = provision(&mut store, &actor, "prov-", 2);
    let report = station_sync::run_once(&mut store, &config).expect("sync");
    assert_eq!(report.push.acknowledged, 2, "{report:?}");
    let user = |id: &str| format!("myapp-weatherstationdevice-{id}");
    for (id, password) in &provisioned {
        assert_eq!(server.broker_auth(&user(id), password), "allow");
    }
    // A batch created for flashing, none flashed: nothing of it is on the server.
    station_sync::prepare_ids(&mut store, TYPE, "line-", 3).expect("ids");
    let unflashed = store
        .create_batch(
            &BatchRequest {
                device_type: TYPE.into(),
                prefix: "line-".into(),
                count: 3,
                with_credentials: false,
                lot: Some("LOT-1".into()),
                work_order: None,
            },
            &actor,
        )
        .expect("batch")
        .batch
        .id;
    let on_server = || count(&server, "SELECT count(*) FROM myapp_weatherstationdevice");
    assert_eq!(on_server(), 2);

    // Cancel both batches and sync.
    let prov_batch = store.list_batches().expect("batches")[0].batch.id;
    let ended = store
        .cancel_batch(prov_batch, &actor, "order withdrawn")
        .expect("cancel provisioned");
    assert_eq!(ended.unflashed.len(), 2);
    let ended = store
        .cancel_batch(unflashed, &actor, "order withdrawn")
        .expect("cancel unflashed");
    assert_eq!(ended.unflashed.len(), 3);
    assert_eq!(
        store.outbox_counts().expect("outbox").pending,
        2,
        "only the devices the server holds are sent"
    );
    let report = station_sync::run_once(&mut store, &config).expect("sync");
    assert_eq!(report.push.acknowledged, 2, "{report:?}");
    assert_eq!(on_server(), 2, "the never-sent devices stay off the server");
    assert_eq!(
        count(
            &server,
            "SELECT count(*) FROM myapp_weatherstationdevice WHERE is_active = 0"
        ),
        2
    );
    for (id, password) in &provisioned {
        assert_eq!(server.broker_auth(&user(id), password), "deny");
    }
    // Nothing deleted on the station either.
    assert_eq!(
        store
            .list_devices(&station_core::DeviceFilter::default())
            .expect("devices")
            .len(),
        5
    );
    let status = station_sync::status(&store).expect("status");
    assert_eq!((status.health, status.outbox.pending), (Health::Synced, 0));
}
