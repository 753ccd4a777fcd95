//! The station token in a real Secret Service (issue 10): `station sync config` stores it in the
//! OS credential store (the default, `STATION_CREDENTIAL_STORE=os`), under service
//! `devicehub-station` and the database's path as account; it is in no file of the data folder;
//! an older version's database row moves there on open; `--off` deletes it.
//!
//! Needs a session bus with an unlocked Secret Service and `secret-tool` (libsecret-tools) to
//! look from outside: `scripts/secret-service-test.sh` starts gnome-keyring-daemon under
//! `dbus-run-session` and runs this. Ignored by default (CI machines run no Secret Service).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const TOKEN: &str = "dhs_11_zyxwvutsrqponmlkjihgfedcbaZYXWVUTSRQPONMLKJ";
const SECRET: &str = "zyxwvutsrqponmlkjihgfedcbaZYXWVUTSRQPONMLKJ";
const SERVICE: &str = "devicehub-station";

fn station(db: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_station"))
        .args(args)
        .env("STATION_DB", db)
        .env("STATION_CREDENTIAL_STORE", "os")
        .env_remove("STATION_SYNC_TOKEN")
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
    let out = child.wait_with_output().expect("station");
    assert!(
        out.status.success(),
        "station {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// What the Secret Service holds for this station, asked from outside (libsecret's tool). The
/// keyring crate names the entry's account `username` there.
fn lookup(account: &str) -> Option<String> {
    let out = Command::new("secret-tool")
        .args(["lookup", "service", SERVICE, "username", account])
        .output()
        .expect("secret-tool (libsecret-tools) runs");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn files_with_the_secret(dir: &Path, secret: &str) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            hits.extend(files_with_the_secret(&p, secret));
        } else if std::fs::read(&p)
            .unwrap_or_default()
            .windows(secret.len())
            .any(|w| w == secret.as_bytes())
        {
            hits.push(p);
        }
    }
    hits
}

#[test]
#[ignore = "needs a Secret Service: scripts/secret-service-test.sh"]
fn the_token_lives_in_the_secret_service_and_off_deletes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("station.sqlite3");
    // `sync config` asks the server for its seal key first: a real one, on loopback.
    let server = station_e2e::DjangoServer::start();
    let token = server.new_station_token("line-11");
    let secret = token.splitn(3, '_').nth(2).expect("dhs_<n>_<secret>");
    station(
        &db,
        &[
            "sync",
            "config",
            "--url",
            &server.sync_url(),
            "--token-stdin",
        ],
        Some(&token),
    );
    let account = db.canonicalize().expect("db path").display().to_string();
    assert_eq!(
        lookup(&account).as_deref(),
        Some(token.as_str()),
        "stored under the db's path"
    );
    assert_eq!(
        files_with_the_secret(dir.path(), secret),
        Vec::<PathBuf>::new()
    );
    let status = station(&db, &["sync", "status"], None);
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.contains("token: stored in the Secret Service"),
        "{status}"
    );
    assert!(!status.contains(&secret[..6]), "{status}");

    // A second station on this machine has its own entry.
    let other = dir.path().join("other").join("station.sqlite3");
    std::fs::create_dir(other.parent().expect("parent")).expect("dir");
    station(&other, &["sync", "status"], None);
    let other_account = other.canonicalize().expect("path").display().to_string();
    assert_eq!(lookup(&other_account), None);

    station(&db, &["sync", "config", "--off"], None);
    assert_eq!(lookup(&account), None, "--off deletes the token");
    assert_eq!(
        files_with_the_secret(dir.path(), secret),
        Vec::<PathBuf>::new()
    );
}

#[test]
#[ignore = "needs a Secret Service: scripts/secret-service-test.sh"]
fn an_older_versions_token_row_moves_to_the_secret_service_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("station.sqlite3");
    station(&db, &["sync", "status"], None);
    rusqlite::Connection::open(&db)
        .expect("open")
        .execute_batch(&format!(
            "INSERT INTO sync_config (key, value) VALUES
               ('server_url', 'https://hub.example/station-sync/'),
               ('station_number', '11'),
               ('token', '{TOKEN}');"
        ))
        .expect("an older version's sync config");
    let out = station(&db, &["sync", "status", "--json"], None);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(status["health"], "synced", "{status}");
    let account = db.canonicalize().expect("db path").display().to_string();
    assert_eq!(lookup(&account).as_deref(), Some(TOKEN));
    assert_eq!(
        files_with_the_secret(dir.path(), SECRET),
        Vec::<PathBuf>::new()
    );
    station(&db, &["sync", "config", "--off"], None);
    assert_eq!(lookup(&account), None);
}
