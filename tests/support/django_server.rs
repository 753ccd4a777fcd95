//! A real django-devicehub server for the sync tests: `server/testproject` (stock
//! django-devicehub 0.2.1 + the `devicehub_station_sync` receiver) run by
//! `manage.py runserver --noreload` on 127.0.0.1 at a free port, against a fresh SQLite file in
//! a temp dir. Request bodies sent to the receiver are captured (`captured_bodies`), and faults
//! can be injected into its push endpoint (`set_faults`; see testproject/capture.py).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{repo_root, venv_python};

/// How long the server may take to answer after it was started.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A free TCP port on 127.0.0.1 (free when asked; the server binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub struct DjangoServer {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    python: PathBuf,
    /// The receiver's hashers are the testproject's cheap ones (`DEVICEHUB_FAST_HASHERS`), for
    /// stations under test that make cheap hashes; else Django's own.
    fast_hashers: bool,
}

impl DjangoServer {
    /// Migrate a fresh database and start the server.
    pub fn start() -> DjangoServer {
        DjangoServer::start_with(true)
    }

    /// Like [`DjangoServer::start`], with Django's own hashers (stations at Django's defaults).
    pub fn start_with_django_hashers() -> DjangoServer {
        DjangoServer::start_with(false)
    }

    fn start_with(fast_hashers: bool) -> DjangoServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = DjangoServer {
            child: None,
            port: free_port(),
            dir,
            python: venv_python(),
            fast_hashers,
        };
        server.manage(&["migrate", "--verbosity", "0"]);
        // The receiver's seal key pair (api keys are sealed to it): one per run, in the run
        // folder (the testproject's STATION_SYNC_SEAL_KEY_FILE).
        server.manage(&["station_sync_sealkey"]);
        server.restart();
        server
    }

    /// The receiver's seal key fingerprint, as `manage.py station_sync_sealkey --show` prints it.
    pub fn seal_key_fingerprint(&self) -> String {
        self.manage(&["station_sync_sealkey", "--show"])
            .lines()
            .find_map(|l| l.strip_prefix("fingerprint: "))
            .expect("a fingerprint line")
            .trim()
            .to_owned()
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("devicehub.sqlite3")
    }

    fn command(&self, args: &[&str]) -> Command {
        let project = repo_root().join("server/testproject");
        let mut cmd = Command::new(&self.python);
        cmd.arg(project.join("manage.py"))
            .args(args)
            .current_dir(&project)
            .env_remove("DJANGO_SETTINGS_MODULE")
            .env_remove("DEVICEHUB_PG_HOST")
            .env("DEVICEHUB_DB", self.db())
            .env("DEVICEHUB_RUN_DIR", self.dir.path())
            .env("DEVICEHUB_CAPTURE_DIR", self.dir.path())
            .env("DEVICEHUB_FAULTS_FILE", self.dir.path().join("faults.json"))
            .env(
                "DEVICEHUB_FAST_HASHERS",
                if self.fast_hashers { "1" } else { "0" },
            )
            .env("PYTHONDONTWRITEBYTECODE", "1");
        cmd
    }

    /// `manage.py <args>`; returns standard output.
    pub fn manage(&self, args: &[&str]) -> String {
        let out = self
            .command(args)
            .stderr(Stdio::inherit())
            .output()
            .expect("run manage.py");
        assert!(out.status.success(), "manage.py {args:?} failed");
        String::from_utf8(out.stdout).expect("utf8")
    }

    /// A new station and its token (`manage.py station_tokens create NAME`).
    pub fn new_station_token(&self, name: &str) -> String {
        self.manage(&["station_tokens", "create", name])
            .trim()
            .to_owned()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// The receiver's root, what a station is configured with.
    pub fn sync_url(&self) -> String {
        format!("{}station-sync/", self.url())
    }

    /// Start (again) on the same port and database, and wait until it answers.
    pub fn restart(&mut self) {
        self.stop();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("server log");
        let child = self
            .command(&[
                "runserver",
                &format!("127.0.0.1:{}", self.port),
                "--noreload",
            ])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start runserver");
        self.child = Some(child);
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if http
                .get(format!("{}v1/station", self.sync_url()))
                .send()
                .is_ok_and(|r| r.status().as_u16() == 401)
            {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "the Django server exited: {status}; see {}",
                    self.log_path().display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the Django server did not answer in time"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kill the server (the port stops answering at once).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Arm faults for `POST /station-sync/v1/devices`, e.g. `{"fail_after": 1}`.
    pub fn set_faults(&self, faults: serde_json::Value) {
        std::fs::write(self.dir.path().join("faults.json"), faults.to_string()).expect("faults");
    }

    /// Every request body the receiver got, in order.
    pub fn captured_bodies(&self) -> Vec<String> {
        let path = self.dir.path().join("station-sync-bodies.jsonl");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("captured line");
                v["body"].as_str().unwrap_or_default().to_owned()
            })
            .collect()
    }

    /// The stock `POST /iot/broker/auth/`: "allow" or "deny".
    pub fn broker_auth(&self, username: &str, password: &str) -> String {
        let r: serde_json::Value = reqwest::blocking::Client::new()
            .post(format!("{}iot/broker/auth/", self.url()))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .expect("broker auth")
            .json()
            .expect("broker auth json");
        r["result"].as_str().expect("result").to_owned()
    }

    /// Run a read-only query on the server's database.
    pub fn query(&self, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
        let conn = rusqlite::Connection::open_with_flags(
            self.db(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open server db");
        conn.busy_timeout(Duration::from_secs(10)).expect("busy");
        let mut stmt = conn.prepare(sql).expect("prepare");
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| (0..n).map(|i| r.get(i)).collect())
            .expect("query");
        rows.collect::<Result<_, _>>().expect("rows")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for DjangoServer {
    fn drop(&mut self) {
        self.stop();
    }
}
