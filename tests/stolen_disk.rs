//! The stolen-disk test (issue 10's proof): someone copies the station's data folder and its
//! temp folder after a full working run and reads every byte. They must find no password, no
//! api key and no sync token in any form they could use.
//!
//! Everything runs as an operator would run it: the real `station` CLI, one process per
//! command, `STATION_DB` in a data folder the test owns, `TMPDIR` and `HOME` pointed at folders
//! the test owns (all three are copied and scanned), stderr (the log, at `STATION_LOG=debug`)
//! appended to a log file in the data folder, units on real ptys (`station-devsim`, flash files sealed under a key this test keeps in
//! memory), and a real Django server with the station-sync receiver.
//!
//! - Sync configured (`sync config --url … --token-stdin`, token in the `env` credential store:
//!   no Secret Service runs here; that path has scripts/secret-service-test.sh): provision
//!   before sync config (sealed by it) and after, a gang flash of a batch on three ports, rotate, re-flash (the PROVE path), sync, one more
//!   re-flash left waiting, devices and batch exports (CSV and JSON), training-mode provision,
//!   rotate and flashes on `sim:` ports. Every secret ever issued is collected (provision and
//!   rotate stdout, each unit's decrypted flash after each write, the server's api_key column,
//!   the token) and searched for in every encoding a leak might take: zero hits.
//! - Sync off: zero passwords; the api keys readable on disk are exactly the ones
//!   `sync status --json` counts (`plaintext_api_keys`), each the current key of a device.
//! - The devsim flash files themselves: sealed, zero hits.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use base64::Engine;
use rusqlite::OptionalExtension;
use station_devsim::{Flash, FlashKey, FLASH_KEY_ENV};
use station_e2e::{workspace_bin, DjangoServer};
use station_protocol::{Key, StoredConfig};
use station_sync::credential_store::{STORE_ENV, TOKEN_ENV};

const TYPE: &str = "WeatherStation";
/// Cheap hashes Django verifies too (the test server runs with cheap hashers).
const FAST_HASH: &str = "pbkdf2_sha256:iterations=1000";
/// Units in the gang (one `station flash` with several `--port`).
const GANG: usize = 3;
/// Devices `station provision` makes with sync configured.
const PROVISIONED: u32 = 3;
/// Devices `station provision` makes before sync is configured.
const PROVISIONED_BEFORE_SYNC: u32 = 2;
/// The prefix of the devices made in training mode.
const TRAINING_PREFIX: &str = "train-";
/// The station database and the training database, in the copied disk.
const STATION_DB: &str = "data/station.sqlite3";
const TRAINING_DB: &str = "data/training.sqlite3";
/// The table of the server's device type (django-devicehub: `{app_label}_{type}device`).
const SERVER_DEVICE_TABLE: &str = "myapp_weatherstationdevice";

/// What kind of secret a needle is; decides which encodings are searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Password,
    ApiKey,
    Token,
}

/// One secret ever issued, and where the test learned it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Issued {
    kind: Kind,
    value: String,
    /// The device it was issued to (none for the token).
    device: Option<String>,
    /// Where it came from (provision stdout, unit flash, server, …), for a failure message.
    source: String,
}

/// Every secret of a run, deduplicated by value.
#[derive(Default)]
struct Secrets(BTreeMap<String, Issued>);

impl Secrets {
    fn add(&mut self, kind: Kind, value: &str, device: Option<&str>, source: &str) {
        assert!(!value.is_empty(), "an empty {kind:?} from {source}");
        self.0.entry(value.to_owned()).or_insert_with(|| Issued {
            kind,
            value: value.to_owned(),
            device: device.map(str::to_owned),
            source: source.to_owned(),
        });
    }

    fn count(&self, kind: Kind) -> usize {
        self.0.values().filter(|s| s.kind == kind).count()
    }

    /// Passwords and api keys from `station provision` / `station rotate` output.
    fn add_printed(&mut self, printed: &serde_json::Value, source: &str) {
        let device = printed["device_id"].as_str().expect("device_id");
        let password = printed["mqtt_password"].as_str().expect("mqtt_password");
        let api_key = printed["api_key"].as_str().expect("api_key");
        self.add(Kind::Password, password, Some(device), source);
        self.add(Kind::ApiKey, api_key, Some(device), source);
    }

    /// What a unit holds now (read through its flash key).
    fn add_flash(&mut self, held: &StoredConfig, source: &str) {
        let device = held.get_str(Key::DeviceId);
        self.add(
            Kind::Password,
            held.get_str(Key::MqttPassword),
            Some(device),
            source,
        );
        self.add(
            Kind::ApiKey,
            held.get_str(Key::ApiKey),
            Some(device),
            source,
        );
    }
}

/// The byte strings a leak of `secret` might take on disk.
fn encodings(secret: &Issued) -> Vec<(&'static str, Vec<u8>)> {
    let raw = secret.value.as_bytes();
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let utf16le: Vec<u8> = secret
        .value
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let mut forms: Vec<(&'static str, Vec<u8>)> = vec![
        ("raw", raw.to_vec()),
        ("utf-16le", utf16le),
        ("base64", b64.encode(raw).into_bytes()),
        ("base64url", b64url.encode(raw).into_bytes()),
    ];
    match secret.kind {
        // An api key is 64 hex digits: its bytes as hex are the raw string; also look for the
        // bytes themselves (a blob column), upper-case hex and the bytes' base64.
        Kind::ApiKey => {
            let bytes = hex::decode(&secret.value).expect("an api key is hex");
            forms.push(("hex upper-case", secret.value.to_uppercase().into_bytes()));
            forms.push(("base64 of the key bytes", b64.encode(&bytes).into_bytes()));
            forms.push(("key bytes", bytes));
        }
        Kind::Password => forms.push(("hex", hex::encode(raw).into_bytes())),
        // The token's secret part alone (`dhs_<number>_<secret>`): what a partial display or a
        // header would show.
        Kind::Token => {
            // `splitn`, not `rsplit`: the secret is URL-safe base64 and may itself hold '_' (a
            // short tail after it matched random bytes of the database: a flaky false hit).
            let secret_part = secret.value.splitn(3, '_').nth(2).expect("secret part");
            assert!(
                secret_part.len() >= 32,
                "a token's secret part is 43 characters"
            );
            forms.push(("secret part", secret_part.as_bytes().to_vec()));
            forms.push(("hex", hex::encode(raw).into_bytes()));
        }
    }
    forms
}

/// A secret found in a file.
struct Hit {
    file: PathBuf,
    kind: Kind,
    /// The secret found (used to look it up; never printed).
    value: String,
    device: Option<String>,
    source: String,
    encoding: &'static str,
}

#[derive(Default)]
struct Scan {
    files: usize,
    bytes: u64,
    secrets: usize,
    needles: usize,
    hits: Vec<Hit>,
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return false;
    };
    haystack.len() >= needle.len()
        && haystack[..=haystack.len() - needle.len()]
            .iter()
            .enumerate()
            .any(|(i, &b)| b == first && haystack[i..i + needle.len()] == *needle)
}

/// Every regular file under `root`, recursively.
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in fs::read_dir(&dir).expect("read dir") {
            let entry = entry.expect("dir entry");
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                todo.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    out
}

/// Search every byte of every file under `root` for every encoding of every secret.
fn scan(root: &Path, secrets: &Secrets) -> Scan {
    let needles: Vec<(&Issued, &'static str, Vec<u8>)> = secrets
        .0
        .values()
        .flat_map(|s| encodings(s).into_iter().map(move |(e, n)| (s, e, n)))
        .collect();
    let mut result = Scan {
        secrets: secrets.0.len(),
        needles: needles.len(),
        ..Scan::default()
    };
    for file in files_under(root) {
        let bytes = fs::read(&file).expect("read a copied file");
        result.files += 1;
        result.bytes += bytes.len() as u64;
        for (secret, encoding, needle) in &needles {
            if contains(&bytes, needle) {
                result.hits.push(Hit {
                    file: file.strip_prefix(root).unwrap_or(&file).to_path_buf(),
                    kind: secret.kind,
                    value: secret.value.clone(),
                    device: secret.device.clone(),
                    source: secret.source.clone(),
                    encoding,
                });
            }
        }
    }
    result
}

/// The scanner sees what it looks for: a file holding every encoding of every secret, one per
/// line, gives one hit per encoding (a scan that cannot fail would prove nothing).
fn assert_the_scanner_finds_every_encoding(secrets: &Secrets) {
    let control = tempfile::tempdir().expect("control folder");
    let mut all = Vec::new();
    for secret in secrets.0.values() {
        for (_, needle) in encodings(secret) {
            all.extend_from_slice(&needle);
            all.push(b'\n');
        }
    }
    fs::write(control.path().join("everything"), all).expect("control file");
    let result = scan(control.path(), secrets);
    assert!(result.needles > 0);
    assert_eq!(
        result.hits.len(),
        result.needles,
        "the scanner missed a secret"
    );
}

/// Copy `from` into `to` recursively (what walks off with the disk).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create copy folder");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else if kind.is_file() {
            fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

fn print_scan(label: &str, scan: &Scan, secrets: &Secrets) {
    println!(
        "stolen-disk scan [{label}]: {} files, {} bytes, {} secrets ({} passwords, {} api keys, \
         {} tokens), {} byte strings searched (the secrets in every encoding); {} hits",
        scan.files,
        scan.bytes,
        scan.secrets,
        secrets.count(Kind::Password),
        secrets.count(Kind::ApiKey),
        secrets.count(Kind::Token),
        scan.needles,
        scan.hits.len()
    );
}

/// A station as an operator runs it: its own data folder (the database and anything the station
/// puts beside it), its own TMPDIR, its log (stderr) appended to a file in the data folder.
struct Station {
    root: tempfile::TempDir,
    env: Vec<(&'static str, String)>,
}

impl Station {
    fn new(extra_env: &[(&'static str, String)]) -> Station {
        let root = tempfile::tempdir().expect("tempdir");
        for dir in ["data", "tmp", "home"] {
            fs::create_dir(root.path().join(dir)).expect("create folder");
        }
        let mut env = vec![
            (
                "STATION_DB",
                root.path()
                    .join("data/station.sqlite3")
                    .display()
                    .to_string(),
            ),
            ("TMPDIR", root.path().join("tmp").display().to_string()),
            // Anything written under the user's folders (caches, config) is on the disk too.
            ("HOME", root.path().join("home").display().to_string()),
            ("STATION_OPERATOR", "stolen-disk".to_owned()),
            ("STATION_LOG", "debug".to_owned()),
        ];
        env.extend(extra_env.iter().cloned());
        Station { root, env }
    }

    fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }

    fn tmp(&self) -> PathBuf {
        self.root.path().join("tmp")
    }

    fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    /// `station <args>` with `stdin`; must succeed; returns its standard output.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.output(args, stdin);
        assert!(
            out.status.success(),
            "station {args:?} failed ({}): {}\n(see the log {})",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            self.data().join("station.log").display()
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    fn output(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data().join("station.log"))
            .expect("station log");
        let mut cmd = Command::new(workspace_bin("station-cli", "station"));
        cmd.args(args)
            .env_remove(STORE_ENV)
            .env_remove(TOKEN_ENV)
            .env_remove("STATION_DB")
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_STATE_HOME")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = cmd.spawn().expect("start station");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        child.wait_with_output().expect("station output")
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.run(args, None)).expect("json output")
    }

    /// `station batch create … --json`: the new batch's number.
    fn batch(&self, training: bool, count: usize, prefix: &str) -> String {
        let count = count.to_string();
        let mut args = vec![];
        if training {
            args.push("--training");
        }
        args.extend([
            "batch", "create", TYPE, "--count", &count, "--prefix", prefix, "--json",
        ]);
        let created = self.json(&args);
        created[0]["id"].as_i64().expect("batch id").to_string()
    }

    /// `station rotate DEVICE`: the printed credentials (a script reading a pipe).
    fn rotate(&self, device: &str, secrets: &mut Secrets, training: bool) {
        let args: Vec<&str> = if training {
            vec!["--training", "rotate", device]
        } else {
            vec!["rotate", device]
        };
        let printed = self.json(&args);
        secrets.add_printed(&printed, "rotate stdout");
    }

    /// `station provision TYPE --count N`: the printed devices and their api keys.
    fn provision(
        &self,
        count: u32,
        prefix: &str,
        secrets: &mut Secrets,
        training: bool,
    ) -> Vec<(String, String)> {
        let count = count.to_string();
        let mut args = vec![];
        if training {
            args.push("--training");
        }
        args.extend(["provision", TYPE, "--count", &count, "--prefix", prefix]);
        let printed = self.json(&args);
        let devices = printed["devices"].as_array().expect("devices");
        assert_eq!(devices.len().to_string(), count);
        devices
            .iter()
            .map(|d| {
                secrets.add_printed(d, "provision stdout");
                (
                    d["device_id"].as_str().expect("device_id").to_owned(),
                    d["api_key"].as_str().expect("api_key").to_owned(),
                )
            })
            .collect()
    }

    /// What `sync status --json` reports.
    fn status(&self) -> serde_json::Value {
        self.json(&["sync", "status", "--json"])
    }
}

/// A `station-devsim` process on a pty; its flash file is sealed under `key`.
struct Unit {
    flash: PathBuf,
    port: String,
    key: FlashKey,
    sim: Child,
}

impl Unit {
    fn start(dir: &Path, name: &str, key: &FlashKey) -> Unit {
        let flash = dir.join(format!("{name}.flash"));
        let mut sim = Command::new(workspace_bin("station-devsim", "station-devsim"))
            .arg("--flash")
            .arg(&flash)
            .env(FLASH_KEY_ENV, key.to_hex().as_str())
            .env("TMPDIR", dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start station-devsim");
        let mut line = String::new();
        BufReader::new(sim.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("port path");
        Unit {
            flash,
            port: line.trim().to_owned(),
            key: key.clone(),
            sim,
        }
    }

    fn held(&self) -> StoredConfig {
        Flash::file(&self.flash, self.key.clone(), None)
            .contents()
            .expect("the unit holds a config")
    }
}

impl Drop for Unit {
    fn drop(&mut self) {
        let _ = self.sim.kill();
        let _ = self.sim.wait();
    }
}

/// The flash files of `units`, copied into one folder (read while the units still run).
fn copy_flashes(units: &[&Unit], to: &Path) {
    fs::create_dir_all(to).expect("flash copy folder");
    for unit in units {
        let name = unit.flash.file_name().expect("flash file name");
        fs::copy(&unit.flash, to.join(name)).expect("copy a flash file");
    }
}

fn assert_no_hits(label: &str, scan: &Scan) {
    assert!(
        scan.hits.is_empty(),
        "{label}: {} secret(s) readable on the copied disk:\n{}",
        scan.hits.len(),
        scan.hits
            .iter()
            .map(|h| format!(
                "  {:?} of {} (from {}) as {} in {}",
                h.kind,
                h.device.as_deref().unwrap_or("-"),
                h.source,
                h.encoding,
                h.file.display()
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Copy the station's data folder, TMPDIR and HOME (what walks off with the disk); the copy must hold
/// the database and the log at least.
fn steal(station: &Station) -> tempfile::TempDir {
    let stolen = tempfile::tempdir().expect("stolen copy");
    copy_tree(&station.data(), &stolen.path().join("data"));
    copy_tree(&station.tmp(), &stolen.path().join("tmp"));
    copy_tree(&station.home(), &stolen.path().join("home"));
    let copied: Vec<String> = files_under(stolen.path())
        .iter()
        .map(|f| {
            f.strip_prefix(stolen.path())
                .unwrap_or(f)
                .display()
                .to_string()
        })
        .collect();
    println!("copied: {copied:?}");
    for needed in [STATION_DB, "data/station.log"] {
        assert!(copied.iter().any(|f| f == needed), "{needed}: {copied:?}");
    }
    stolen
}

/// The api keys found readable (`hits`), each checked to be an api key, in the database `db`
/// (relative to `root`) and nowhere else, in the clear, and the current key (in force or
/// pending) of the device it was issued to (not a discarded generation left in the file):
/// key -> device.
fn readable_api_keys(hits: &[Hit], root: &Path, db: &str) -> BTreeMap<String, String> {
    // The copy, opened read-write: SQLite makes its -shm beside it.
    let conn = rusqlite::Connection::open(root.join(db)).expect("open the copied database");
    let mut found = BTreeMap::new();
    for hit in hits {
        let what = format!(
            "{:?} of {} as {} in {}",
            hit.kind,
            hit.device.as_deref().unwrap_or("-"),
            hit.encoding,
            hit.file.display()
        );
        assert_eq!(hit.kind, Kind::ApiKey, "readable: {what}");
        assert_eq!(hit.file, Path::new(db), "readable outside {db}: {what}");
        assert_eq!(hit.encoding, "raw", "{what}");
        let holder: Option<String> = conn
            .query_row(
                "SELECT device_id FROM devices WHERE api_key = ?1 OR pending_api_key = ?1",
                [&hit.value],
                |r| r.get(0),
            )
            .optional()
            .expect("query the copied database");
        assert_eq!(
            holder.as_deref(),
            hit.device.as_deref(),
            "readable, but not its device's current api key (a discarded generation left in \
             the file?): {what}"
        );
        found.insert(hit.value.clone(), holder.unwrap_or_default());
    }
    found
}

fn type_and_hashes(station: &Station) {
    station.run(&["type", "add", TYPE, "--app-label", "myapp"], None);
    station.run(&["settings", "set", "hash_algorithm", FAST_HASH], None);
}

/// The proof of issue 10 with sync configured: nothing issued is readable on the copied disk.
#[test]
fn stolen_disk_after_a_full_synced_run_holds_no_secret() {
    let server = DjangoServer::start();
    let token = server.new_station_token("line-1");
    let mut secrets = Secrets::default();
    secrets.add(Kind::Token, &token, None, "manage.py station_tokens");
    let station = Station::new(&[(STORE_ENV, "env".to_owned()), (TOKEN_ENV, token.clone())]);
    let units_dir = tempfile::tempdir().expect("units dir");
    let flash_key = FlashKey::random().expect("flash key");

    type_and_hashes(&station);
    // Devices made before sync was configured: their api keys wait in plaintext until
    // `sync config` seals them (and must then be gone from every file).
    let before_sync = station.provision(PROVISIONED_BEFORE_SYNC, "early-", &mut secrets, false);
    assert_eq!(
        station.status()["plaintext_api_keys"],
        PROVISIONED_BEFORE_SYNC,
        "waiting in readable form before sync is configured"
    );
    station.run(
        &[
            "sync",
            "config",
            "--url",
            &server.sync_url(),
            "--token-stdin",
        ],
        Some(&format!("{token}\n")),
    );

    let status = station.status();
    assert_eq!(
        status["plaintext_api_keys"], 0,
        "sealed by sync config: {status}"
    );
    assert_eq!(
        status["sealed_api_keys"], PROVISIONED_BEFORE_SYNC,
        "sealed by sync config: {status}"
    );

    // Provision: the credentials go to standard output, as a script reads them.
    let provisioned = station.provision(PROVISIONED, "", &mut secrets, false);

    // A batch, flashed by a gang of units at once.
    let batch = station.batch(false, GANG + 1, "gang-");
    let units: Vec<Unit> = (0..GANG)
        .map(|i| Unit::start(units_dir.path(), &format!("gang{i}"), &flash_key))
        .collect();
    let mut flash_args = vec!["flash", "--batch", batch.as_str()];
    for unit in &units {
        flash_args.extend(["--port", unit.port.as_str()]);
    }
    station.run(&flash_args, None);
    for unit in &units {
        secrets.add_flash(&unit.held(), "unit flash (gang)");
    }

    // Rotate a provisioned device now (printed once), then re-flash two units (PROVE: they
    // answer with their current password) and one of them again.
    station.rotate(&provisioned[0].0, &mut secrets, false);
    station.rotate(&before_sync[0].0, &mut secrets, false);
    for unit in [&units[0], &units[1], &units[0]] {
        station.run(&["reflash", "--port", &unit.port], None);
        secrets.add_flash(&unit.held(), "unit flash (re-flash)");
    }

    // Sync: everything reaches the server; the server's api keys join the search.
    let synced = station.json(&["sync", "run", "--json"]);
    let status = station.status();
    assert_eq!(status["outbox"]["pending"], 0, "{synced}\n{status}");
    let server_keys = server.query(&format!(
        "SELECT device_id, api_key FROM {SERVER_DEVICE_TABLE}"
    ));
    assert_eq!(
        server_keys.len(),
        (PROVISIONED_BEFORE_SYNC + PROVISIONED) as usize + GANG
    );
    for row in &server_keys {
        match (&row[0], &row[1]) {
            (rusqlite::types::Value::Text(device), rusqlite::types::Value::Text(key)) => {
                secrets.add(Kind::ApiKey, key, Some(device), "server database");
            }
            other => panic!("a server row without an api key: {other:?}"),
        }
    }

    // One more re-flash after the sync: its key waits, sealed, for the next one.
    station.run(&["reflash", "--port", &units[2].port], None);
    secrets.add_flash(&units[2].held(), "unit flash (re-flash after sync)");
    let status = station.status();
    assert_eq!(status["plaintext_api_keys"], 0, "{status}");
    assert!(
        status["sealed_api_keys"].as_u64().expect("sealed_api_keys") > 0,
        "a key waits sealed: {status}"
    );

    // Exports into the data folder.
    let data = station.data();
    let export = |name: &str| data.join(name).display().to_string();
    station.run(
        &[
            "devices",
            "export",
            "--csv",
            &export("devices.csv"),
            "--json",
            &export("devices.json"),
        ],
        None,
    );
    station.run(
        &[
            "batch",
            "export",
            &batch,
            "--csv",
            &export("batch.csv"),
            "--json",
            &export("batch.json"),
        ],
        None,
    );

    // Training: provision and rotate (printed), a gang on the simulated bench, a batch there.
    let trained = station.provision(2, TRAINING_PREFIX, &mut secrets, true);
    station.rotate(&trained[0].0, &mut secrets, true);
    let training_batch = station.batch(true, 2, "sim-");
    station.run(
        &[
            "--training",
            "flash",
            "--batch",
            &training_batch,
            "--port",
            "sim:1",
            "--port",
            "sim:2",
        ],
        None,
    );
    station.run(
        &["--training", "flash", "--type", TYPE, "--port", "sim:3"],
        None,
    );
    let training_status = station.json(&["--training", "sync", "status", "--json"]);
    assert!(
        data.join(TRAINING_DB.trim_start_matches("data/")).exists(),
        "training works on its own database"
    );

    // Walk off with the data folder and TMPDIR.
    assert_the_scanner_finds_every_encoding(&secrets);
    let stolen = steal(&station);
    let result = scan(stolen.path(), &secrets);
    print_scan(
        "sync configured: data folder + TMPDIR + HOME",
        &result,
        &secrets,
    );

    // Training keeps no api key at all (its records never reach a server): no secret of any
    // kind, training's included, is anywhere on the copied disk.
    assert_no_hits("sync configured", &result);
    assert_eq!(
        training_status["plaintext_api_keys"], 0,
        "the training database holds no api key: {training_status}"
    );

    // The units' flash files are sealed: nothing readable there either.
    let flashes = tempfile::tempdir().expect("flash copies");
    copy_flashes(&units.iter().collect::<Vec<_>>(), flashes.path());
    let flash_scan = scan(flashes.path(), &secrets);
    print_scan("sync configured: devsim flash files", &flash_scan, &secrets);
    assert_no_hits("devsim flash files", &flash_scan);
}

/// The same with sync off: no password anywhere; api keys readable only as `sync status`
/// counts them (`plaintext_api_keys`), each the current key of its device, in the database.
#[test]
fn stolen_disk_with_sync_off_holds_no_password_and_only_the_counted_api_keys() {
    let mut secrets = Secrets::default();
    let station = Station::new(&[]);
    let units_dir = tempfile::tempdir().expect("units dir");
    let flash_key = FlashKey::random().expect("flash key");
    type_and_hashes(&station);

    let provisioned = station.provision(2, "", &mut secrets, false);
    let batch = station.batch(false, 2, "gang-");
    let units: Vec<Unit> = (0..2)
        .map(|i| Unit::start(units_dir.path(), &format!("off{i}"), &flash_key))
        .collect();
    station.run(
        &[
            "flash",
            "--batch",
            &batch,
            "--port",
            &units[0].port,
            "--port",
            &units[1].port,
        ],
        None,
    );
    for unit in &units {
        secrets.add_flash(&unit.held(), "unit flash (gang)");
    }
    station.rotate(&provisioned[0].0, &mut secrets, false);
    for _ in 0..2 {
        station.run(&["reflash", "--port", &units[0].port], None);
        secrets.add_flash(&units[0].held(), "unit flash (re-flash)");
    }
    let data = station.data();
    let export = |name: &str| data.join(name).display().to_string();
    station.run(
        &[
            "devices",
            "export",
            "--csv",
            &export("devices.csv"),
            "--json",
            &export("devices.json"),
        ],
        None,
    );
    station.run(
        &[
            "batch",
            "export",
            &batch,
            "--csv",
            &export("batch.csv"),
            "--json",
            &export("batch.json"),
        ],
        None,
    );
    let status = station.status();
    assert_eq!(status["health"], "off", "{status}");
    let counted = status["plaintext_api_keys"]
        .as_u64()
        .expect("plaintext_api_keys");

    assert_the_scanner_finds_every_encoding(&secrets);
    let stolen = steal(&station);
    let result = scan(stolen.path(), &secrets);
    print_scan("sync off: data folder + TMPDIR + HOME", &result, &secrets);
    let (keys, others): (Vec<Hit>, Vec<Hit>) = result
        .hits
        .into_iter()
        .partition(|h| h.kind == Kind::ApiKey);
    assert_no_hits(
        "sync off (passwords)",
        &Scan {
            hits: others,
            ..Scan::default()
        },
    );
    let readable = readable_api_keys(&keys, stolen.path(), STATION_DB);
    println!(
        "sync off: {} api keys readable on the copied disk; sync status counts {counted}",
        readable.len()
    );
    assert!(counted > 0, "{status}");
    assert_eq!(readable.len() as u64, counted, "{status}");
    assert!(
        !readable.contains_key(&provisioned[0].1),
        "the api key rotate replaced is gone from the files"
    );

    let flashes = tempfile::tempdir().expect("flash copies");
    copy_flashes(&units.iter().collect::<Vec<_>>(), flashes.path());
    let flash_scan = scan(flashes.path(), &secrets);
    print_scan("sync off: devsim flash files", &flash_scan, &secrets);
    assert_no_hits("devsim flash files", &flash_scan);
}

/// Regression (found by this suite): with sync off, an api key that rotate (or a re-flash, or a
/// dropped pending flash) replaced was still readable in the `-wal` of a station that keeps the
/// database open (the app, `station watch`) or lost power: `secure_delete` overwrote it in the
/// database's pages, but the WAL kept the older page until a checkpoint, and no status counted
/// it. Each such write is now followed by a `wal_checkpoint(TRUNCATE)`.
#[test]
fn replaced_api_key_left_in_a_running_station_s_wal() {
    use station_core::{Actor, BatchRequest, NewDeviceType, Store};
    let dir = tempfile::tempdir().expect("dir");
    let mut store = Store::open(dir.path().join("station.sqlite3")).expect("open");
    store
        .set_setting("hash_algorithm", FAST_HASH)
        .expect("hash setting");
    store
        .add_type(NewDeviceType {
            name: TYPE.into(),
            app_label: "myapp".into(),
            ..NewDeviceType::default()
        })
        .expect("type");
    let actor = Actor::new("e2e", "running").expect("actor");
    let made = store
        .create_batch(
            &BatchRequest {
                device_type: TYPE.into(),
                prefix: String::new(),
                count: 2,
                with_credentials: true,
                lot: None,
                work_order: None,
            },
            &actor,
        )
        .expect("batch");
    let first = &made.devices[0];
    let mut replaced = Secrets::default();
    let old = first.credentials.as_ref().expect("credentials");
    replaced.add(
        Kind::ApiKey,
        old.api_key.expose(),
        Some(&first.device_id),
        "provision",
    );
    replaced.add(
        Kind::Password,
        old.mqtt_password.expose(),
        Some(&first.device_id),
        "provision",
    );
    store.rotate_now(&first.device_id, &actor).expect("rotate");
    assert_the_scanner_finds_every_encoding(&replaced);

    // The station is still running: its database, -wal and -shm are copied as they are.
    let copy = tempfile::tempdir().expect("copy");
    copy_tree(dir.path(), copy.path());
    assert!(
        copy.path().join("station.sqlite3-wal").exists(),
        "the copy is of a running station (WAL in use)"
    );
    let result = scan(copy.path(), &replaced);
    print_scan("running station after rotate", &result, &replaced);
    assert_no_hits("a running station after rotate", &result);
    assert_eq!(store.plaintext_api_keys_held().expect("count"), 2);
}
