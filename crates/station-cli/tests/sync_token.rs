//! The station token as `station sync config` and `station sync status` treat it (issue 10,
//! findings 2 and 5): never in a file of the data folder, gone with `--off`, never sent to a new
//! host without being given again, never shown, and plain http only to this machine.
//!
//! These runs use the `env` credential store (`STATION_CREDENTIAL_STORE=env`, the token in
//! `STATION_SYNC_TOKEN`), the one a headless station without a Secret Service uses; the OS
//! store is tested against a real Secret Service in `secret_service.rs`. `sync config` asks the
//! server for its seal key before it stores anything, so the runs that configure sync do it
//! against a real Django server with the receiver (`station_e2e::DjangoServer`), on loopback;
//! `0.0.0.0` reaches that server under a name that is not a loopback address.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use station_e2e::DjangoServer;

const EXIT_REFUSED: i32 = 4;
/// The default `os` store with no D-Bus session to reach a Secret Service at.
const NO_SECRET_SERVICE: &[(&str, &str)] = &[(
    "DBUS_SESSION_BUS_ADDRESS",
    "unix:path=/nonexistent/devicehub-station-test-bus",
)];

struct Station {
    dir: tempfile::TempDir,
    /// This station's token, issued by the server it is configured with (or made up).
    token: String,
}

impl Station {
    fn new() -> Self {
        Station::with_token("dhs_7_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ".into())
    }

    /// A station and a server that issued its token.
    fn with_server() -> (Self, DjangoServer) {
        let server = DjangoServer::start();
        let token = server.new_station_token("line-1");
        (Station::with_token(token), server)
    }

    fn with_token(token: String) -> Self {
        Station {
            dir: tempfile::tempdir().expect("tempdir"),
            token,
        }
    }

    fn token(&self) -> &str {
        &self.token
    }

    /// The token's secret part (after `dhs_<number>_`).
    fn secret(&self) -> &str {
        self.token.splitn(3, '_').nth(2).expect("dhs_<n>_<secret>")
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("station.sqlite3")
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.cmd(
            args,
            stdin,
            &[
                ("STATION_CREDENTIAL_STORE", "env"),
                ("STATION_SYNC_TOKEN", self.token()),
            ],
        )
    }

    /// `station args` with `env` set (and `STATION_SYNC_TOKEN` only where given).
    fn cmd(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_station"))
            .args(args)
            .env("STATION_DB", self.db())
            .env_remove("STATION_CREDENTIAL_STORE")
            .env_remove("STATION_SYNC_TOKEN")
            .envs(env.iter().copied())
            .env_remove("STATION_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn station");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
        drop(input);
        child.wait_with_output().expect("station")
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "station {args:?}: {}",
            text(&out.stderr)
        );
        out
    }

    fn status_json(&self) -> serde_json::Value {
        let out = self.ok(&["sync", "status", "--json"], None);
        serde_json::from_slice(&out.stdout).expect("json")
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
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

/// Every file of the data folder that holds the token's secret part.
fn files_with_the_secret(dir: &Path, secret: &str) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| contains(&std::fs::read(p).unwrap_or_default(), secret.as_bytes()))
        .collect()
}

/// Every 6-character piece of the secret that `output` shows.
fn secret_pieces_in<'a>(output: &str, secret: &'a str) -> Vec<&'a str> {
    (0..=secret.len() - 6)
        .map(|i| &secret[i..i + 6])
        .filter(|piece| output.contains(piece))
        .collect()
}

/// Bug: the token was kept in plaintext in `sync_config` and stayed there after `--off`.
#[test]
fn the_sync_token_is_in_no_file_of_the_data_folder_before_or_after_off() {
    let (s, server) = Station::with_server();
    // An open connection keeps the WAL from being checkpointed away, so it is scanned too.
    let keep_wal = rusqlite::Connection::open(s.db()).expect("open");
    keep_wal
        .pragma_update(None, "journal_mode", "wal")
        .expect("wal");
    s.ok(
        &[
            "sync",
            "config",
            "--url",
            &server.sync_url(),
            "--token-stdin",
        ],
        Some(s.token()),
    );
    assert_eq!(
        files_with_the_secret(s.dir.path(), s.secret()),
        Vec::<PathBuf>::new()
    );
    s.ok(&["sync", "config", "--off"], None);
    assert_eq!(
        files_with_the_secret(s.dir.path(), s.secret()),
        Vec::<PathBuf>::new()
    );
    drop(keep_wal);
}

/// Bug: `sync status` showed the token's first characters (part of its secret).
#[test]
fn sync_status_shows_where_the_token_is_stored_and_no_part_of_it() {
    let (s, server) = Station::with_server();
    let out = s.ok(
        &[
            "sync",
            "config",
            "--url",
            &server.sync_url(),
            "--token-stdin",
        ],
        Some(s.token()),
    );
    let configured = text(&out.stdout) + &text(&out.stderr);
    assert_eq!(
        secret_pieces_in(&configured, s.secret()),
        Vec::<&str>::new(),
        "{configured}"
    );
    let status = text(&s.ok(&["sync", "status"], None).stdout);
    assert_eq!(
        secret_pieces_in(&status, s.secret()),
        Vec::<&str>::new(),
        "{status}"
    );
    assert!(
        status.contains("token: from the environment (STATION_SYNC_TOKEN)"),
        "{status}"
    );
    let json = s.status_json().to_string();
    assert_eq!(
        secret_pieces_in(&json, s.secret()),
        Vec::<&str>::new(),
        "{json}"
    );
    assert!(!json.contains(s.token()), "{json}");
}

/// Bug: `sync config` accepted `http://` to any host, so the token crossed the network readable.
#[test]
fn sync_config_refuses_plain_http_to_another_machine_without_insecure_http() {
    let (s, server) = Station::with_server();
    let out = s.run(
        &[
            "sync",
            "config",
            "--url",
            "http://hub.example/station-sync/",
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(EXIT_REFUSED),
        "{}",
        text(&out.stderr)
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("--insecure-http") && err.contains("https"),
        "{err}"
    );
    assert_eq!(
        s.status_json()["health"],
        "off",
        "a refused setting changes nothing"
    );

    // Loopback needs no flag and no warning: the server answers there.
    for local in [
        server.sync_url(),
        format!("http://localhost:{}/station-sync/", server.port),
    ] {
        let out = s.ok(
            &["sync", "config", "--url", &local, "--token-stdin"],
            Some(s.token()),
        );
        assert_eq!(text(&out.stderr), "", "{local}: loopback needs no warning");
    }
    // Nothing answers at these, but the refusal is about reaching them, never about http.
    for local in [
        "http://127.8.9.10:9/station-sync/",
        "http://[::1]:9/station-sync/",
    ] {
        let out = s.run(
            &["sync", "config", "--url", local, "--token-stdin"],
            Some(s.token()),
        );
        let err = text(&out.stderr);
        assert!(
            err.contains("cannot reach") && !err.contains("--insecure-http"),
            "{local}: {err}"
        );
    }
}

/// A test bench may use plain http to another machine with the flag, and is warned each time.
#[test]
fn insecure_http_is_warned_at_every_sync() {
    let (s, server) = Station::with_server();
    // 0.0.0.0 is not a loopback address by the station's rule, yet it reaches this server.
    let url = format!("http://0.0.0.0:{}/station-sync/", server.port);
    let out = s.ok(
        &[
            "sync",
            "config",
            "--url",
            &url,
            "--insecure-http",
            "--token-stdin",
        ],
        Some(s.token()),
    );
    assert!(
        text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );
    let status = s.ok(&["sync", "status"], None);
    assert!(
        text(&status.stderr).contains("plain http"),
        "{}",
        text(&status.stderr)
    );
    assert!(
        s.status_json()["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("plain http")),
        "the app's sync status shows it too"
    );
    let run = s.run(&["sync", "run"], None);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        text(&run.stderr).contains("plain http"),
        "{}",
        text(&run.stderr)
    );
    // Moving to another host drops the exception: coming back needs the flag again.
    s.ok(
        &[
            "sync",
            "config",
            "--url",
            &server.sync_url(),
            "--token-stdin",
        ],
        Some(s.token()),
    );
    let back = s.run(
        &["sync", "config", "--url", &url, "--token-stdin"],
        Some(s.token()),
    );
    assert_eq!(
        back.status.code(),
        Some(EXIT_REFUSED),
        "{}",
        text(&back.stderr)
    );
    assert!(text(&back.stderr).contains("--insecure-http"));
}

/// Bug: `sync config --url` to a new host kept the token, so it went to whoever answered there.
#[test]
fn sync_config_requires_the_token_again_when_the_host_changes() {
    let (s, server) = Station::with_server();
    // Two names of the one server: to the station, two hosts.
    let hub_a = server.sync_url();
    let hub_b = format!("http://localhost:{}/station-sync/", server.port);
    s.ok(
        &["sync", "config", "--url", &hub_a, "--token-stdin"],
        Some(s.token()),
    );
    let out = s.run(&["sync", "config", "--url", &hub_b], None);
    assert_eq!(
        out.status.code(),
        Some(EXIT_REFUSED),
        "{}",
        text(&out.stderr)
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("--token-stdin") && err.contains("localhost"),
        "{err}"
    );
    assert_eq!(
        s.status_json()["server_url"],
        hub_a.as_str(),
        "a refused change changes nothing"
    );
    // Another path on the same server is no new host: it is not refused for the token (nothing
    // answers there, so it is refused for that instead).
    let out = s.run(
        &[
            "sync",
            "config",
            "--url",
            &format!("http://127.0.0.1:{}/other-sync/", server.port),
        ],
        None,
    );
    let err = text(&out.stderr);
    assert!(!err.contains("--token-stdin"), "{err}");
    // Given again, the token goes with the new host.
    s.ok(
        &["sync", "config", "--url", &hub_b, "--token-stdin"],
        Some(s.token()),
    );
    assert_eq!(s.status_json()["server_url"], hub_b.as_str());
}

/// A station without a reachable OS credential store (no Secret Service: a headless station)
/// refuses to save the token under the default `os` store, says so and how to fix it, and
/// changes nothing.
#[test]
fn sync_config_without_a_reachable_credential_store_refuses_and_says_how_to_fix_it() {
    let (s, server) = Station::with_server();
    let out = s.cmd(
        &[
            "sync",
            "config",
            "--url",
            &server.sync_url(),
            "--token-stdin",
        ],
        Some(s.token()),
        NO_SECRET_SERVICE,
    );
    assert_eq!(
        out.status.code(),
        Some(EXIT_REFUSED),
        "{}",
        text(&out.stderr)
    );
    let err = text(&out.stderr);
    for needle in [
        "not reachable",
        "STATION_CREDENTIAL_STORE=env",
        "STATION_SYNC_TOKEN",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    assert_eq!(
        secret_pieces_in(&err, s.secret()),
        Vec::<&str>::new(),
        "{err}"
    );
    assert_eq!(
        s.status_json()["health"],
        "off",
        "a refused setting changes nothing"
    );
    assert_eq!(
        files_with_the_secret(s.dir.path(), s.secret()),
        Vec::<PathBuf>::new()
    );
}

/// The upgrade: a token row an older version left in `sync_config` is removed when the station
/// opens; with no credential store to move it to, it is not used and the status says how to
/// enter it again.
#[test]
fn a_token_left_in_the_database_by_an_older_version_is_removed_on_open() {
    let s = Station::new();
    s.ok(&["sync", "status"], None);
    {
        let db = rusqlite::Connection::open(s.db()).expect("open");
        db.execute_batch(&format!(
            "INSERT INTO sync_config (key, value) VALUES
               ('server_url', 'https://hub.example/station-sync/'),
               ('station_number', '7'),
               ('token', '{}');",
            s.token()
        ))
        .expect("an older version's sync config");
    }
    let out = s.cmd(&["sync", "status", "--json"], None, NO_SECRET_SERVICE);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        files_with_the_secret(s.dir.path(), s.secret()),
        Vec::<PathBuf>::new()
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(status["health"], "failing", "{status}");
    let last_error = status["last_error"].as_str().unwrap_or_default();
    for needle in ["not reachable", "STATION_CREDENTIAL_STORE=env"] {
        assert!(last_error.contains(needle), "{needle}: {status}");
    }
    assert_eq!(status["station_number"], 7);
    assert_eq!(status["token_store"], serde_json::Value::Null);
}
