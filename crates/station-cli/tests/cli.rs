//! The `station` binary as scripts use it: real processes, a real SQLite file, exit codes,
//! standard output and standard error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const FAST_HASH: &str = "argon2:m=64,t=1,p=1";

struct Station {
    dir: tempfile::TempDir,
}

impl Station {
    fn new() -> Self {
        let s = Station {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        s.ok(&["settings", "set", "hash_algorithm", FAST_HASH]);
        s.ok(&["type", "add", "WeatherStation", "--app-label", "myapp"]);
        s
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("station.sqlite3")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_station"));
        c.args(args)
            .env("STATION_DB", self.db())
            .env("STATION_OPERATOR", "alice")
            .env_remove("STATION_LOG")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run station")
    }

    fn run_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "station {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).expect("json output")
    }

    fn device_count(&self) -> usize {
        self.json(&["devices", "list", "--json"])
            .as_array()
            .expect("array")
            .len()
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn provision_prints_iot_provision_json_shape() {
    let s = Station::new();
    let v = s.json(&[
        "provision",
        "weather_station",
        "--count",
        "3",
        "--prefix",
        "farm-",
    ]);
    assert_eq!(v["device_type"], "WeatherStation");
    assert_eq!(v["count"], 3);
    let devices = v["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 3);
    let d = &devices[2];
    let keys: Vec<&String> = d.as_object().expect("obj").keys().collect();
    assert_eq!(
        keys,
        [
            "device_id",
            "name",
            "device_type",
            "mqtt_username",
            "mqtt_password",
            "api_key"
        ]
    );
    assert_eq!(d["device_id"], "farm-weatherstation-003");
    assert_eq!(d["name"], "WeatherStation 003");
    assert_eq!(
        d["mqtt_username"],
        "myapp-weatherstationdevice-farm-weatherstation-003"
    );
    assert_eq!(d["mqtt_password"].as_str().expect("pw").len(), 43);
    assert_eq!(d["api_key"].as_str().expect("key").len(), 64);
    // The printed password is the one the station's hash accepts.
    let out = s.run_stdin(
        &["verify", "farm-weatherstation-003"],
        d["mqtt_password"].as_str().expect("pw"),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = s.run_stdin(&["verify", "farm-weatherstation-003"], "not-the-password");
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stdout).contains("mismatch"));
}

#[test]
fn provision_refuses_to_write_plaintext_to_a_file_and_changes_nothing() {
    let s = Station::new();
    let target = s.dir.path().join("creds.json");
    let out = s.run(&[
        "provision",
        "WeatherStation",
        "--count",
        "2",
        "--output",
        target.to_str().expect("utf8"),
    ]);
    assert_eq!(code(&out), 4);
    let err = stderr(&out);
    assert!(err.contains("refusing to write plaintext"), "{err}");
    assert!(err.contains("help: pipe standard output"), "{err}");
    assert!(!target.exists());
    // Standard output redirected to a file is a file too.
    let file = std::fs::File::create(&target).expect("create");
    let out = s
        .cmd(&["provision", "WeatherStation", "--count", "2"])
        .stdout(file)
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert_eq!(std::fs::metadata(&target).expect("meta").len(), 0);
    assert_eq!(s.device_count(), 0);
}

#[test]
fn bad_input_names_the_problem_and_the_fix_with_script_exit_codes() {
    let s = Station::new();
    let cases: &[(&[&str], i32, &str, &str)] = &[
        (
            &["provision", "SoilProbe", "--count", "1"],
            3,
            "unknown device type 'SoilProbe'",
            "WeatherStation",
        ),
        (
            &["provision", "WeatherStation", "--count", "0"],
            4,
            "invalid count",
            "from 1 to",
        ),
        (
            &["provision", "WeatherStation", "--count", "1000000"],
            4,
            "invalid count",
            "split larger runs",
        ),
        (
            &["provision", "WeatherStation", "--prefix", "a/b"],
            4,
            "contains '/'",
            "not allowed",
        ),
        (
            &["provision", "WeatherStation", "--prefix", "a b"],
            4,
            "a space",
            "not allowed",
        ),
        (
            &["provision", "WeatherStation", "--prefix", "a#"],
            4,
            "contains '#'",
            "not allowed",
        ),
        (
            &["type", "add", "weather_station", "--app-label", "x"],
            4,
            "already exists",
            "edit the existing",
        ),
        (
            &["devices", "show", "nope-001"],
            3,
            "no device 'nope-001'",
            "devices list",
        ),
        (&["rotate", "nope-001"], 3, "no device", "devices list"),
        (
            &["settings", "set", "hash_algorithm", "md5"],
            4,
            "unknown algorithm",
            "pbkdf2_sha256",
        ),
        (
            &["devices", "list", "--status", "sleeping"],
            4,
            "not a device status",
            "low_battery",
        ),
    ];
    for (args, exit, problem, fix) in cases {
        let out = s.run(args);
        let err = stderr(&out);
        assert_eq!(code(&out), *exit, "{args:?}: {err}");
        assert!(err.contains(problem), "{args:?}: {err}");
        assert!(
            err.contains("help:") && err.contains(fix),
            "{args:?}: {err}"
        );
    }
    assert_eq!(s.device_count(), 0);
    // clap's own usage errors exit 2.
    assert_eq!(code(&s.run(&["provision"])), 2);
    assert_eq!(code(&s.run(&["frobnicate"])), 2);
}

#[test]
fn every_command_has_help() {
    let s = Station::new();
    for args in [
        vec!["--help"],
        vec!["type", "add", "--help"],
        vec!["type", "list", "--help"],
        vec!["type", "edit", "--help"],
        vec!["provision", "--help"],
        vec!["devices", "list", "--help"],
        vec!["devices", "show", "--help"],
        vec!["devices", "export", "--help"],
        vec!["rotate", "--help"],
        vec!["deactivate", "--help"],
        vec!["batch", "create", "--help"],
        vec!["batch", "list", "--help"],
        vec!["batch", "export", "--help"],
        vec!["batch", "close", "--help"],
        vec!["batch", "cancel", "--help"],
        vec!["verify", "--help"],
        vec!["settings", "set", "--help"],
    ] {
        let out = s.ok(&args);
        assert!(out.contains("Usage:"), "{args:?}");
    }
    assert!(s.ok(&["--help"]).contains("Exit codes"));
}

#[test]
fn settings_list_shows_every_registered_setting_with_its_description_and_value() {
    use station_core::settings::{key, SETTINGS};
    let s = Station::new();
    s.ok(&["settings", "set", "app.operator", "badge-4711"]);
    let listed = s.ok(&["settings", "list"]);
    let shown: Vec<_> = SETTINGS.iter().filter(|x| x.shown).collect();
    assert!(shown.len() >= 5, "{listed}");
    for setting in &shown {
        let value = s.ok(&["settings", "get", setting.key]);
        let line = format!("{} = {}", setting.key, value.trim_end());
        assert!(listed.contains(&line), "missing {line:?} in:\n{listed}");
        assert!(listed.contains(setting.about), "{}: {listed}", setting.key);
    }
    for hidden in SETTINGS.iter().filter(|x| !x.shown) {
        assert!(
            !listed.contains(hidden.key),
            "{} is the app's own",
            hidden.key
        );
    }
    assert!(listed.contains(&format!("{} = {FAST_HASH}", key::HASH_ALGORITHM)));
    assert!(listed.contains(&format!("{} = badge-4711", key::OPERATOR)));
    // Unset settings show the default the station applies.
    assert_eq!(s.ok(&["settings", "get", key::HOOK_WEBHOOK_URL]), "\n");
    assert_eq!(s.ok(&["settings", "get", key::SOUNDS]), "on\n");
}

#[test]
fn settings_set_refuses_what_the_registry_refuses_and_changes_nothing() {
    let s = Station::new();
    for (key, bad) in [
        ("station_id", "line 3"),
        ("hook_webhook_url", "ftp://mes.local/x"),
        ("app.sim_ports", "9"),
        ("app.sim_fault", "explode"),
    ] {
        let before = s.ok(&["settings", "get", key]);
        let out = s.run(&["settings", "set", key, bad]);
        assert_eq!(code(&out), 4, "{key}: {}", stderr(&out));
        assert!(stderr(&out).contains("help:"), "{}", stderr(&out));
        assert_eq!(s.ok(&["settings", "get", key]), before, "{key}");
    }
    let out = s.run(&["settings", "set", "colour", "red"]);
    assert_eq!(code(&out), 4);
    assert!(stderr(&out).contains("known settings: station_id, hash_algorithm"));
}

/// IT can set a station's app language and theme from a script (e.g. when imaging a line's
/// stations); a language the app has no catalogue for is refused with the ones it has.
#[test]
fn settings_set_app_language_and_theme_from_the_cli() {
    let s = Station::new();
    assert_eq!(s.ok(&["settings", "get", "app.language"]), "auto\n");
    assert_eq!(s.ok(&["settings", "get", "app.theme"]), "auto\n");
    s.ok(&["settings", "set", "app.language", "zh-CN"]);
    s.ok(&["settings", "set", "app.theme", "dark"]);
    assert_eq!(s.ok(&["settings", "get", "app.language"]), "zh-CN\n");
    assert_eq!(s.ok(&["settings", "get", "app.theme"]), "dark\n");
    let out = s.run(&["settings", "set", "app.language", "fr"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("auto, en, zh-CN"), "{}", stderr(&out));
    assert_eq!(s.ok(&["settings", "get", "app.language"]), "zh-CN\n");
}

#[test]
fn rotate_prints_new_credentials_once_and_old_password_stops_verifying() {
    let s = Station::new();
    let v = s.json(&["provision", "WeatherStation", "--count", "1"]);
    let old = v["devices"][0]["mqtt_password"]
        .as_str()
        .expect("pw")
        .to_owned();
    let r = s.json(&["rotate", "weatherstation-001"]);
    assert_eq!(r["generation"], 2);
    let new = r["mqtt_password"].as_str().expect("pw");
    assert_ne!(new, old);
    assert_eq!(
        code(&s.run_stdin(&["verify", "weatherstation-001"], new)),
        0
    );
    assert_eq!(
        code(&s.run_stdin(&["verify", "weatherstation-001"], &old)),
        1
    );
    let shown = s.json(&["devices", "show", "weatherstation-001", "--json"]);
    assert_eq!(shown["generation"], 2);
    let text = shown.to_string();
    assert!(
        !text.contains(new) && !text.contains(&old),
        "a password reached `devices show`"
    );
}

#[test]
fn rotation_due_then_deactivate() {
    let s = Station::new();
    s.ok(&[
        "batch",
        "create",
        "WeatherStation",
        "--count",
        "3",
        "--prefix",
        "x-",
    ]);
    let out = s.ok(&["rotate", "--due", "--batch", "1"]);
    assert!(out.starts_with("3 device(s) marked"), "{out}");
    let out = s.ok(&[
        "deactivate",
        "x-weatherstation-002",
        "--reason",
        "dropped on floor",
    ]);
    assert!(out.contains("deactivated"));
    let d = s.json(&["devices", "show", "x-weatherstation-002", "--json"]);
    assert_eq!(d["is_active"], false);
    assert_eq!(d["rotation_due"], false);
    let kinds: Vec<String> = d["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|e| e["kind"].as_str().expect("kind").to_owned())
        .collect();
    assert_eq!(kinds, ["created", "rotation_due", "deactivated"]);
    let out = s.run(&["deactivate", "x-weatherstation-002"]);
    assert_eq!(code(&out), 4);
    let inactive = s.json(&["devices", "list", "--inactive", "--json"]);
    assert_eq!(inactive.as_array().expect("a").len(), 1);
}

/// `devices show` for people: every field on its own line, labels padded to 14 columns, in a
/// fixed order, then the history as a table.
#[test]
fn devices_show_prints_every_field_in_order_then_the_history() {
    let s = Station::new();
    s.ok(&["batch", "create", "WeatherStation", "--count", "1"]);
    s.ok(&[
        "deactivate",
        "weatherstation-001",
        "--reason",
        "cracked case",
    ]);
    let out = s.ok(&["devices", "show", "weatherstation-001"]);
    let (fields, history) = out.split_once("\n\nhistory:\n").expect("history section");
    let labels: Vec<&str> = fields.lines().map(|l| l[..14].trim_end()).collect();
    assert_eq!(
        labels,
        [
            "device id",
            "name",
            "type",
            "batch",
            "status",
            "active",
            "mqtt username",
            "topic data",
            "topic status",
            "topic cmd",
            "generation",
            "pending",
            "rotation due",
            "flash state",
            "flash error",
            "hardware id",
            "unit serial",
            "firmware",
            "flashed at",
            "station",
            "operator",
            "sync",
            "on server",
            "created at",
        ]
    );
    for line in [
        "device id      weatherstation-001",
        "batch          1",
        "active         false",
        "generation     0",
        "pending        -",
        "hardware id    -",
        "on server      not reported yet",
    ] {
        assert!(fields.lines().any(|l| l == line), "no {line:?} in:\n{out}");
    }
    let rows: Vec<&str> = history.lines().collect();
    assert_eq!(
        rows[0].split_whitespace().collect::<Vec<_>>(),
        ["WHEN", "WHAT", "GEN", "WHO", "STATION", "DETAIL"]
    );
    assert_eq!(rows.len(), 3, "{history}");
    assert!(rows[1].contains(" created "), "{history}");
    assert!(rows[2].contains(" deactivated "), "{history}");
    assert!(rows[2].ends_with("cracked case"), "{history}");
}

#[test]
fn batch_export_writes_csv_and_json() {
    let s = Station::new();
    s.ok(&[
        "batch",
        "create",
        "WeatherStation",
        "--count",
        "5",
        "--prefix",
        "farm-",
    ]);
    let batches = s.json(&["batch", "list", "--json"]);
    assert_eq!(batches[0]["remaining"], 5);
    let csv = s.dir.path().join("b.csv");
    let json = s.dir.path().join("b.json");
    s.ok(&[
        "batch",
        "export",
        "1",
        "--csv",
        csv.to_str().expect("p"),
        "--json",
        json.to_str().expect("p"),
    ]);
    let text = std::fs::read_to_string(&csv).expect("csv");
    assert_eq!(text.lines().count(), 6);
    assert!(text
        .lines()
        .nth(5)
        .expect("row")
        .starts_with("farm-weatherstation-005,"));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json")).expect("parse");
    assert_eq!(v.as_array().expect("a").len(), 5);
    let out = s.run(&["batch", "export", "9", "--csv", csv.to_str().expect("p")]);
    assert_eq!(code(&out), 3);
    let out = s.run(&["batch", "export", "1", "--csv", "/no/such/dir/x.csv"]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(stderr(&out).contains("/no/such/dir/x.csv"));
}

#[test]
fn finding_5_batch_lot_work_order_close_and_cancel_from_the_cli() {
    let s = Station::new();
    let created = s.json(&[
        "batch",
        "create",
        "WeatherStation",
        "--count",
        "3",
        "--lot",
        "LOT-7A",
        "--work-order",
        "WO-42",
        "--json",
    ]);
    assert_eq!(created[0]["lot"], "LOT-7A");
    assert_eq!(created[0]["work_order"], "WO-42");
    assert_eq!(created[0]["state"], "open");
    let table = s.ok(&["batch", "list"]);
    assert!(
        table.contains("LOT-7A") && table.contains("WO-42"),
        "{table}"
    );
    s.ok(&["batch", "create", "WeatherStation", "--count", "1"]);
    let found = s.json(&["batch", "list", "--search", "lot-7", "--json"]);
    assert_eq!(found.as_array().expect("array").len(), 1, "{found}");
    assert_eq!(found[0]["id"], 1);
    // Close: no more devices issued, the unflashed ones listed and left as they are.
    let closed = s.json(&["batch", "close", "1", "--json"]);
    assert_eq!(closed["batch"]["state"], "closed");
    assert_eq!(closed["unflashed"].as_array().expect("list").len(), 3);
    // Cancel asks for --yes and changes nothing without it.
    let out = s.run(&["batch", "cancel", "1"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    assert_eq!(s.json(&["batch", "list", "--json"])[0]["state"], "closed");
    let text = s.ok(&[
        "batch",
        "cancel",
        "1",
        "--yes",
        "--reason",
        "order withdrawn",
    ]);
    assert!(text.contains("3 device(s) deactivated"), "{text}");
    let devices = s.json(&["devices", "list", "--batch", "1", "--json"]);
    let devices = devices.as_array().expect("array");
    assert_eq!(devices.len(), 3, "never deleted");
    assert!(devices.iter().all(|d| d["is_active"] == false));
    assert_eq!(
        s.json(&["batch", "list", "--json"])[0]["state"],
        "cancelled"
    );
}

#[test]
fn finding_6_devices_list_pages_in_number_order() {
    let s = Station::new();
    s.ok(&["batch", "create", "WeatherStation", "--count", "1001"]);
    let page = s.json(&[
        "devices", "list", "--limit", "3", "--offset", "998", "--json",
    ]);
    let ids: Vec<&str> = page
        .as_array()
        .expect("array")
        .iter()
        .map(|d| d["device_id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        [
            "weatherstation-999",
            "weatherstation-1000",
            "weatherstation-1001"
        ]
    );
    let batches = s.json(&["batch", "list", "--json"]);
    assert_eq!(batches[0]["last_device_id"], "weatherstation-1001");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// After provisioning, rotating and exporting, no plaintext password is in the database, its
/// WAL, the exports or anything the CLI wrote to standard error.
#[test]
fn no_plaintext_password_in_database_wal_exports_or_logs() {
    let s = Station::new();
    // An open connection keeps SQLite from checkpointing and deleting the WAL when each CLI
    // process exits, so the WAL's contents are there to be searched.
    let keep_wal = rusqlite::Connection::open(s.db()).expect("open");
    keep_wal
        .query_row("SELECT count(*) FROM devices", [], |r| r.get::<_, i64>(0))
        .expect("read");
    let mut passwords = Vec::new();
    let mut stderr_all = Vec::new();
    for prefix in ["a-", "b-"] {
        let out = s
            .cmd(&[
                "provision",
                "WeatherStation",
                "--count",
                "20",
                "--prefix",
                prefix,
            ])
            .env("STATION_LOG", "trace")
            .output()
            .expect("run");
        assert!(out.status.success());
        stderr_all.extend_from_slice(&out.stderr);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        for d in v["devices"].as_array().expect("devices") {
            passwords.push(d["mqtt_password"].as_str().expect("pw").to_owned());
        }
    }
    let out = s
        .cmd(&["rotate", "a-weatherstation-001"])
        .env("STATION_LOG", "trace")
        .output()
        .expect("run");
    stderr_all.extend_from_slice(&out.stderr);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    passwords.push(v["mqtt_password"].as_str().expect("pw").to_owned());
    assert_eq!(passwords.len(), 41);
    let exports = s.dir.path().join("exports");
    std::fs::create_dir(&exports).expect("mkdir");
    for (flag, name) in [("--csv", "all.csv"), ("--json", "all.json")] {
        let p = exports.join(name);
        s.ok(&["devices", "export", flag, p.to_str().expect("p")]);
    }
    s.ok(&["devices", "list", "--json"]);
    let files = files_under(s.dir.path());
    assert!(
        files.iter().any(|f| f.to_string_lossy().ends_with("-wal")),
        "WAL not found: {files:?}"
    );
    for f in &files {
        let bytes = std::fs::read(f).expect("read");
        for pw in &passwords {
            assert!(
                !contains(&bytes, pw.as_bytes()),
                "a plaintext password is in {}",
                f.display()
            );
        }
    }
    drop(keep_wal);
    for pw in &passwords {
        assert!(
            !contains(&stderr_all, pw.as_bytes()),
            "a plaintext password reached standard error"
        );
    }
}

mod serial {
    //! `flash`, `reflash`, `recover` and `watch` against simulated units on pseudo-terminals.
    use super::*;
    use station_devsim::{NakRule, SimOptions, Simulator};

    fn sim(dir: &Path, name: &str, opts: SimOptions) -> station_devsim::SimHandle {
        Simulator::start(SimOptions {
            flash: Some(dir.join(format!("{name}.flash"))),
            ..opts
        })
        .expect("simulator")
    }

    #[test]
    fn flash_reflash_recover_print_pass_and_fail_with_exit_codes() {
        let s = Station::new();
        // Three devices: after two flashes one is left, so flashing the first unit again is
        // refused by the unit (already provisioned), not by the batch being complete.
        s.ok(&[
            "batch",
            "create",
            "WeatherStation",
            "--count",
            "3",
            "--prefix",
            "farm-",
        ]);
        let unit = sim(s.dir.path(), "u1", SimOptions::default());
        let out = s.run(&["flash", "--port", unit.port_path(), "--batch", "1"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.starts_with("PASS farm-weatherstation-001"), "{text}");
        assert!(text.contains(") at 921600 baud in "), "{text}");
        // A unit that lists none of version 1.1's capabilities (spec §10).
        let v1_unit = SimOptions {
            baud_rates: Vec::new(),
            prove: false,
            ..SimOptions::default()
        };
        let v1 = sim(s.dir.path(), "u1-0", v1_unit);
        let v1_out = s.ok(&["flash", "--port", v1.port_path(), "--batch", "1"]);
        assert!(
            v1_out.contains("; protocol 1.0 unit: 115200 baud) in "),
            "{v1_out}"
        );
        assert!(
            stderr(&out).contains("identify") && stderr(&out).contains("verify"),
            "progress"
        );
        // The same unit again: refused, named, exit 7.
        let out = s.run(&[
            "flash",
            "--port",
            unit.port_path(),
            "--batch",
            "1",
            "--json",
        ]);
        assert_eq!(code(&out), 7);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(v["result"], "fail");
        assert_eq!(v["reason"], "already_provisioned");
        assert!(v["help"].as_str().expect("help").contains("reflash"));
        let v = s.json(&["reflash", "--port", unit.port_path(), "--json"]);
        assert_eq!(v["result"], "pass");
        assert_eq!(v["rotated"], true);
        assert_eq!(v["device"]["generation"], 2);
        let out = s.ok(&["recover", "--port", unit.port_path()]);
        assert!(out.contains("nothing to settle"), "{out}");
        // The technician asks which device the unit holds: read, nothing written.
        let before = unit.flash_contents();
        let out = s.ok(&["identify", "--port", unit.port_path()]);
        assert!(
            out.contains("holds farm-weatherstation-001, generation 2")
                && out.contains("flashed, generation 2, active"),
            "{out}"
        );
        let v = s.json(&["identify", "--port", unit.port_path(), "--json"]);
        assert_eq!(v["result"], "identified");
        assert_eq!(v["hardware_id"], unit.hardware_id());
        assert_eq!(v["device"]["device_id"], "farm-weatherstation-001");
        assert_eq!(unit.flash_contents(), before);
        let blank = sim(s.dir.path(), "u2", SimOptions::default());
        let out = s.ok(&["identify", "--port", blank.port_path()]);
        assert!(out.contains("holds no device identity"), "{out}");
        let out = s.run(&[
            "reflash",
            "--port",
            unit.port_path(),
            "--device",
            "farm-weatherstation-002",
        ]);
        assert_eq!(code(&out), 7);
        assert!(String::from_utf8_lossy(&out.stdout).contains("not farm-weatherstation-002"));
    }

    #[test]
    fn flash_reflash_recover_exit_5_for_a_busy_database_not_7() {
        let s = Station::new();
        s.ok(&[
            "batch",
            "create",
            "WeatherStation",
            "--count",
            "3",
            "--prefix",
            "farm-",
        ]);
        let flashed = sim(s.dir.path(), "u1", SimOptions::default());
        s.ok(&["flash", "--port", flashed.port_path(), "--batch", "1"]);
        // A unit whose commit outcome is unknown: its flash stays pending.
        let lost = sim(
            s.dir.path(),
            "u3",
            SimOptions {
                power_loss: Some(station_devsim::PowerLoss::AfterCommit),
                ..Default::default()
            },
        );
        let out = s.run(&["flash", "--port", lost.port_path(), "--batch", "1"]);
        assert_eq!(code(&out), 7, "{}", String::from_utf8_lossy(&out.stdout));
        drop(lost);
        let lost = sim(s.dir.path(), "u3", SimOptions::default());
        let blank = sim(s.dir.path(), "u2", SimOptions::default());
        // Another station process holds the database's write lock from now on.
        let locker = rusqlite::Connection::open(s.db()).expect("second connection");
        locker
            .execute_batch("BEGIN IMMEDIATE")
            .expect("hold the write lock");
        let port = blank.port_path();
        let out = s.run(&["flash", "--port", port, "--batch", "1", "--json"]);
        assert_eq!(
            code(&out),
            5,
            "flash: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(
            (v["code"].as_str(), v["action"].as_str()),
            (Some("database_busy"), Some("wait_and_retry"))
        );
        let out = s.run(&["reflash", "--port", flashed.port_path()]);
        assert_eq!(
            code(&out),
            5,
            "reflash: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let out = s.run(&["recover", "--port", lost.port_path()]);
        assert_eq!(
            code(&out),
            5,
            "recover: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        locker.execute_batch("ROLLBACK").expect("release");
        let out = s.ok(&["recover", "--port", lost.port_path()]);
        assert!(out.contains("Promoted"), "{out}");
    }

    #[test]
    fn a_busy_port_says_free_the_port_not_set_the_unit_aside() {
        let s = Station::new();
        s.ok(&["batch", "create", "WeatherStation", "--count", "1"]);
        let unit = sim(s.dir.path(), "u1", SimOptions::default());
        let holder = station_protocol::SerialTransport::open(unit.port_path()).expect("hold");
        let out = s.run(&[
            "flash",
            "--port",
            unit.port_path(),
            "--batch",
            "1",
            "--json",
        ]);
        drop(holder);
        assert_eq!(code(&out), 7);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(v["reason"], "port_busy");
        assert_eq!(v["action"], "free_port");
        let help = v["help"].as_str().expect("help");
        assert!(
            help.contains("close the program") && !help.contains("aside"),
            "{help}"
        );
    }

    #[test]
    fn a_refusing_unit_fails_with_the_operator_reason() {
        let s = Station::new();
        let unit = sim(
            s.dir.path(),
            "u1",
            SimOptions {
                naks: vec!["COMMIT:STORAGE_FULL".parse::<NakRule>().expect("rule")],
                ..Default::default()
            },
        );
        let out = s.run(&[
            "flash",
            "--port",
            unit.port_path(),
            "--type",
            "WeatherStation",
            "--prefix",
            "x-",
        ]);
        assert_eq!(code(&out), 7);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.starts_with("FAIL x-weatherstation-001"), "{text}");
        assert!(text.contains("help:"), "{text}");
        let d = s.json(&["devices", "show", "x-weatherstation-001", "--json"]);
        assert_eq!(d["flash_state"], "failed");
        assert_eq!(d["generation"], 0);
    }

    #[test]
    fn finding_1_a_port_that_cannot_be_opened_is_not_started_not_fail() {
        let s = Station::new();
        let missing = s.dir.path().join("ttyNOPE").display().to_string();
        let args = ["flash", "--port", &missing, "--type", "WeatherStation"];
        let out = s.run(&args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            text.starts_with(&format!("NOT STARTED on {missing}: ")),
            "{text}"
        );
        assert!(!text.contains("FAIL"), "{text}");
        let mut json = args.to_vec();
        json.push("--json");
        let out = s.run(&json);
        let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON result");
        assert_eq!(line["result"], "not_started");
        assert_eq!(line["control"], "port");
        assert_eq!(s.device_count(), 0, "no device for a port never opened");
        let store = station_core::Store::open(s.db()).expect("store");
        let shift = store.shift().expect("shift");
        assert_eq!((shift.passed, shift.failed), (0, 0), "nothing counted");
    }

    #[test]
    fn gang_flash_and_watch_flash_every_unit() {
        let s = Station::new();
        s.ok(&[
            "batch",
            "create",
            "WeatherStation",
            "--count",
            "6",
            "--prefix",
            "g-",
        ]);
        let units: Vec<_> = (0..3)
            .map(|i| sim(s.dir.path(), &format!("u{i}"), SimOptions::default()))
            .collect();
        let mut args = vec!["flash", "--batch", "1"];
        for u in &units {
            args.extend(["--port", u.port_path()]);
        }
        let out = s.ok(&args);
        assert_eq!(
            out.lines().filter(|l| l.starts_with("PASS")).count(),
            3,
            "{out}"
        );
        // watch: two more units appear at their link paths.
        let links: Vec<PathBuf> = (0..2)
            .map(|i| s.dir.path().join(format!("link{i}")))
            .collect();
        let _watched: Vec<_> = links
            .iter()
            .enumerate()
            .map(|(i, l)| {
                sim(
                    s.dir.path(),
                    &format!("w{i}"),
                    SimOptions {
                        link: Some(l.clone()),
                        ..Default::default()
                    },
                )
            })
            .collect();
        let mut args = vec!["watch", "--batch", "1", "--only-listed", "--count", "2"];
        for l in &links {
            args.extend(["--port", l.to_str().expect("utf8")]);
        }
        let out = s.ok(&args);
        assert_eq!(
            out.lines().filter(|l| l.starts_with("PASS")).count(),
            2,
            "{out}"
        );
        let b = s.json(&["batch", "list", "--json"]);
        assert_eq!(b[0]["flashed"], 5);
        assert_eq!(b[0]["remaining"], 1);
    }
}

mod drift {
    //! Rules the CLI and the app once wrote twice and that drifted apart (issue 9): now each is
    //! the service layer's, and each has a regression test here, through the real binary.
    use super::*;
    use station_devsim::{SimOptions, Simulator};

    fn unit(dir: &Path, name: &str, naks: &[&str]) -> station_devsim::SimHandle {
        Simulator::start(SimOptions {
            flash: Some(dir.join(format!("{name}.flash"))),
            naks: naks.iter().map(|n| n.parse().expect("rule")).collect(),
            ..SimOptions::default()
        })
        .expect("simulator")
    }

    fn store(s: &Station) -> station_core::Store {
        station_core::Store::open(s.db()).expect("store")
    }

    /// Only the app counted flashes into the shift: flashes made with the CLI on the same
    /// station were missing from it.
    #[test]
    fn cli_flashes_count_into_the_shift() {
        let s = Station::new();
        s.ok(&["batch", "create", "WeatherStation", "--count", "2"]);
        let before = store(&s).shift().expect("shift");
        let good = unit(s.dir.path(), "good", &[]);
        s.ok(&["flash", "--port", good.port_path(), "--batch", "1"]);
        let bad = unit(s.dir.path(), "bad", &["COMMIT:STORAGE_FULL"]);
        let out = s.run(&["flash", "--port", bad.port_path(), "--batch", "1"]);
        assert_eq!(code(&out), 7, "{}", stderr(&out));
        let after = store(&s).shift().expect("shift");
        assert_eq!(
            (after.passed - before.passed, after.failed - before.failed),
            (1, 1)
        );
    }

    /// The CLI ignored the operator signed in on the station (the app's operator setting) and
    /// recorded the OS user instead; a name given for the run still comes first.
    #[test]
    fn cli_records_the_operator_signed_in_on_the_station() {
        let s = Station::new();
        s.ok(&["batch", "create", "WeatherStation", "--count", "2"]);
        store(&s)
            .set_setting(station_core::settings::key::OPERATOR, "badge-0042")
            .expect("sign in");
        let first = unit(s.dir.path(), "u1", &[]);
        let out = s
            .cmd(&["flash", "--port", first.port_path(), "--batch", "1"])
            .env_remove("STATION_OPERATOR")
            .env("USER", "root")
            .output()
            .expect("run");
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let d = s.json(&["devices", "show", "weatherstation-001", "--json"]);
        assert_eq!(d["operator"], "badge-0042", "{d}");
        let second = unit(s.dir.path(), "u2", &[]);
        s.ok(&[
            "--operator",
            "bob",
            "flash",
            "--port",
            second.port_path(),
            "--batch",
            "1",
        ]);
        let d = s.json(&["devices", "show", "weatherstation-002", "--json"]);
        assert_eq!(d["operator"], "bob", "{d}");
    }

    /// `flash --port P --port P` was not a usage error: it tried to flash one unit twice.
    #[test]
    fn flash_naming_a_port_twice_is_a_usage_error_and_touches_nothing() {
        let s = Station::new();
        s.ok(&["batch", "create", "WeatherStation", "--count", "2"]);
        let u = unit(s.dir.path(), "u1", &[]);
        let before = u.flash_contents();
        let out = s.run(&[
            "flash",
            "--port",
            u.port_path(),
            "--port",
            u.port_path(),
            "--batch",
            "1",
        ]);
        assert_eq!(code(&out), 4, "{}", stderr(&out));
        assert!(
            stderr(&out).contains("named more than once"),
            "{}",
            stderr(&out)
        );
        assert_eq!(u.flash_contents(), before);
        let shift = store(&s).shift().expect("shift");
        assert_eq!((shift.passed, shift.failed), (0, 0));
        let v = s.json(&["devices", "list", "--json", "--flash-state", "flashed"]);
        assert_eq!(v.as_array().map(Vec::len), Some(0));
    }
}

/// With sync off nothing can seal the api keys: `sync status` says how many wait readable.
#[test]
fn sync_status_with_sync_off_counts_the_api_keys_waiting_in_readable_form() {
    let s = Station::new();
    let text = s.ok(&["sync", "status"]);
    assert!(
        text.contains("api keys waiting in readable form: 0"),
        "{text}"
    );
    s.ok(&["provision", "WeatherStation", "--count", "3"]);
    let text = s.ok(&["sync", "status"]);
    assert!(
        text.contains(
            "api keys waiting in readable form (sync is off, nothing to seal them to): 3"
        ),
        "{text}"
    );
    let v = s.json(&["sync", "status", "--json"]);
    assert_eq!(v["plaintext_api_keys"], 3);
    assert_eq!(v["sealed_api_keys"], 0);
    assert!(v["seal_key_fingerprint"].is_null());
    assert!(
        v["summary"]
            .as_str()
            .expect("summary")
            .ends_with("3 api keys wait on this station in readable form"),
        "{v}"
    );
}

/// Whatever the umask (here none at all), the station's folder, database and exports are
/// its user's only.
#[cfg(unix)]
#[test]
fn files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("new-folder").join("station.sqlite3");
    let export = dir.path().join("devices.csv");
    let script = format!(
        "umask 000 && \"$0\" type add WeatherStation --app-label myapp && \
         \"$0\" provision WeatherStation --count 2 | cat >/dev/null && \
         \"$0\" devices export --csv '{}'",
        export.display()
    );
    let out = Command::new("sh")
        .args(["-c", &script, env!("CARGO_BIN_EXE_station")])
        .env("STATION_DB", &db)
        .env("STATION_OPERATOR", "alice")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(db.parent().expect("folder")), 0o700);
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", db.display()));
        if file.exists() {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }
    assert_eq!(mode(&export), 0o600);
}

/// Finding 5 (issue 10): `station rotate` printed plaintext into a redirected file, which only
/// `provision` refused.
#[test]
fn finding_5_rotate_refuses_to_print_plaintext_into_a_redirected_file() {
    let s = Station::new();
    s.json(&["provision", "WeatherStation", "--count", "1"]);
    let target = s.dir.path().join("rotated.json");
    let file = std::fs::File::create(&target).expect("create");
    let out = s
        .cmd(&["rotate", "weatherstation-001"])
        .stdout(file)
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("refusing to print plaintext"));
    assert_eq!(std::fs::metadata(&target).expect("meta").len(), 0);
    let shown = s.json(&["devices", "show", "weatherstation-001", "--json"]);
    assert_eq!(shown["generation"], 1, "nothing was rotated");
    // Marking devices due prints no credential, so a file is fine for it.
    let file = std::fs::File::create(&target).expect("create");
    let out = s
        .cmd(&["rotate", "--due", "weatherstation-001"])
        .stdout(file)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Finding 5 (issue 10): `station rotate` committed the new generation before printing it, so
/// a failed write lost the only copy of credentials already in force.
#[cfg(target_os = "linux")]
#[test]
fn finding_5_rotate_commits_only_after_the_credentials_were_written_out() {
    let s = Station::new();
    let v = s.json(&["provision", "WeatherStation", "--count", "1"]);
    let old = v["devices"][0]["mqtt_password"]
        .as_str()
        .expect("pw")
        .to_owned();
    // A full disk: every write to standard output fails.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = s
        .cmd(&["rotate", "weatherstation-001"])
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert_eq!(code(&out), 6, "a write failure: {}", stderr(&out));
    assert!(stderr(&out).contains("standard output"), "{}", stderr(&out));
    let shown = s.json(&["devices", "show", "weatherstation-001", "--json"]);
    assert_eq!(shown["generation"], 1, "the old generation stays in force");
    assert_eq!(
        code(&s.run_stdin(&["verify", "weatherstation-001"], &old)),
        0,
        "the device's password still verifies"
    );
    // A reader that went away (closed pipe) is the same failure.
    let mut child = s
        .cmd(&["rotate", "weatherstation-001"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    assert!(!out.status.success(), "{}", stderr(&out));
    let shown = s.json(&["devices", "show", "weatherstation-001", "--json"]);
    assert_eq!(shown["generation"], 1);
    // And a write that succeeds commits.
    let r = s.json(&["rotate", "weatherstation-001"]);
    assert_eq!(r["generation"], 2);
}

/// Regression (issue 12): `identify`, `recover` and `reflash` without `--device` reached every
/// unit with the station's protocol, so a technician could not ask an ESP-IDF NVS unit who it
/// is. `--type` names the device type whose driver reaches it.
#[test]
fn type_names_the_driver_for_a_unit_that_does_not_speak_the_protocol() {
    let s = Station::new();
    s.ok(&[
        "type",
        "add",
        "EspSensor",
        "--app-label",
        "myapp",
        "--driver",
        "nvs",
        "--driver-setting",
        "namespace=mqtt",
    ]);
    let flash = station_espsim::Flash::default();
    let sim = station_espsim::EspSimulator::start(station_espsim::EspSimOptions::default(), flash)
        .expect("espsim");
    let port = sim.port_path().to_owned();
    let flashed = s.json(&[
        "flash",
        "--type",
        "EspSensor",
        "--prefix",
        "esp-",
        "--port",
        &port,
        "--json",
    ]);
    assert_eq!(flashed["driver"], "nvs", "{flashed}");
    let device_id = flashed["device"]["device_id"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("a device id in {flashed}"));
    // Without --type the station's protocol gets no answer from the ROM loader.
    sim.reset_into_loader();
    let out = s.run(&["identify", "--port", &port, "--json"]);
    assert!(!out.status.success(), "the protocol reached an ESP loader?");
    // The technician holds BOOT and plugs the unit in again: the ROM loader answers.
    sim.reset_into_loader();
    let who = s.json(&["identify", "--port", &port, "--type", "EspSensor", "--json"]);
    assert_eq!(who["device_id"], device_id.as_str(), "{who}");
    assert_eq!(who["generation"], 1, "{who}");
    sim.reset_into_loader();
    let again = s.json(&["reflash", "--port", &port, "--type", "EspSensor", "--json"]);
    assert!(again.to_string().contains(&device_id), "{again}");
}

mod line {
    //! Issue 14 on the command line: operator sign-in and the lead's rule, shifts with a saved
    //! report (CSV parsed here), and linking a unit's own serial label to its device.
    use super::*;
    use station_devsim::{SimOptions, Simulator};

    fn unit(dir: &Path, name: &str, naks: &[&str]) -> station_devsim::SimHandle {
        Simulator::start(SimOptions {
            flash: Some(dir.join(format!("{name}.flash"))),
            naks: naks.iter().map(|n| n.parse().expect("rule")).collect(),
            ..SimOptions::default()
        })
        .expect("simulator")
    }

    #[test]
    fn sign_in_required_blocks_flash_without_fail() {
        let s = Station::new();
        s.ok(&["batch", "create", "WeatherStation", "--count", "2"]);
        s.ok(&["settings", "set", "app.operator_required", "on"]);
        let u = unit(s.dir.path(), "u1", &[]);
        let flash = |s: &Station| {
            s.cmd(&["flash", "--port", u.port_path(), "--batch", "1"])
                .env_remove("STATION_OPERATOR")
                .output()
                .expect("run")
        };
        let out = flash(&s);
        assert_eq!(code(&out), 4, "{}", stderr(&out));
        assert!(
            stderr(&out).contains("station operator sign-in"),
            "{}",
            stderr(&out)
        );
        assert!(u.flash_contents().is_none(), "the unit was touched");
        let shift = station_core::Store::open(s.db())
            .expect("store")
            .shift()
            .expect("shift");
        assert_eq!(
            (shift.passed, shift.failed),
            (0, 0),
            "a not-started flash counted"
        );

        assert!(s
            .ok(&["operator", "sign-in", "badge-7"])
            .contains("signed in: badge-7"));
        let v = s.json(&["operator", "show", "--json"]);
        assert_eq!(
            (v["operator"].as_str(), v["required"].as_bool()),
            (Some("badge-7"), Some(true))
        );
        let out = flash(&s);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let d = s.json(&["devices", "show", "weatherstation-001", "--json"]);
        assert_eq!(d["operator"], "badge-7");
        assert!(s
            .ok(&["operator", "sign-out"])
            .contains("nobody is signed in"));
    }

    #[test]
    fn shift_report_exported_and_parsed() {
        let s = Station::new();
        s.ok(&["batch", "create", "WeatherStation", "--count", "3"]);
        s.ok(&["shift", "start"]);
        let out = s.run(&["shift", "start"]);
        assert_eq!(code(&out), 4, "a second start is refused: {}", stderr(&out));
        let good = unit(s.dir.path(), "good", &[]);
        s.ok(&["flash", "--port", good.port_path(), "--batch", "1"]);
        let bad = unit(s.dir.path(), "bad", &["COMMIT:STORAGE_FULL"]);
        let out = s.run(&["flash", "--port", bad.port_path(), "--batch", "1"]);
        assert_eq!(code(&out), 7, "{}", stderr(&out));
        // Asked, and answered no: the shift goes on.
        let out = s.run_stdin(&["shift", "end"], "n\n");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("End shift? 1 passed, 1 failed"), "{text}");
        assert!(text.contains("the shift goes on"), "{text}");
        let out = s.run_stdin(&["shift", "end"], "y\n");
        assert_eq!(code(&out), 0, "{}", stderr(&out));

        let text = s.ok(&["shift", "report"]);
        assert!(text.contains("failed 1 (storage_full: 1)"), "{text}");
        let csv_text = s.ok(&["shift", "report", "--csv"]);
        let mut rd = csv::Reader::from_reader(csv_text.as_bytes());
        let headers = rd.headers().expect("headers").clone();
        let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.expect("row")).collect();
        assert_eq!(rows.len(), 1, "{csv_text}");
        let at = |c: &str| rows[0][headers.iter().position(|h| h == c).expect(c)].to_string();
        assert_eq!((at("passed"), at("failed")), ("1".into(), "1".into()));
        assert_eq!(at("failed_by_reason"), "storage_full: 1");
        assert_eq!(at("first_pass_yield_percent"), "50.0");
        assert_eq!(at("operators"), "alice");
        assert_eq!(at("started_at").len(), "YYYY-MM-DD hh:mm:ss".len());
        assert!(at("utc_offset").starts_with(['+', '-']), "{csv_text}");

        let page = s.dir.path().join("shift.html");
        s.ok(&[
            "shift",
            "report",
            "--id",
            &at("shift_id"),
            "--output",
            page.to_str().expect("utf8"),
        ]);
        let html = std::fs::read_to_string(&page).expect("page");
        assert!(
            html.contains("@media print") && html.contains("50.0 %"),
            "{html}"
        );
    }

    #[test]
    fn device_link_records_the_unit_serial_and_refuses_a_duplicate() {
        let s = Station::new();
        s.ok(&["batch", "create", "WeatherStation", "--count", "2"]);
        let out = s.ok(&["device", "link", "weatherstation-001", "aa:bb:cc:dd:ee:01"]);
        assert!(out.contains("AA:BB:CC:DD:EE:01"), "{out}");
        let out = s.run(&["device", "link", "weatherstation-002", "AABBCCDDEE01"]);
        assert_eq!(code(&out), 4, "{}", stderr(&out));
        assert!(
            stderr(&out).contains("already linked to device weatherstation-001"),
            "{}",
            stderr(&out)
        );
        let found = s.json(&["devices", "list", "--search", "ee:01", "--json"]);
        assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
        let export = s.dir.path().join("d.csv");
        s.ok(&["devices", "export", "--csv", export.to_str().expect("utf8")]);
        let text = std::fs::read_to_string(&export).expect("export");
        assert!(text.lines().next().expect("header").contains("unit_serial"));
        assert!(text.contains("AA:BB:CC:DD:EE:01"), "{text}");
    }
}
