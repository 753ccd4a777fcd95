//! Helpers for the end-to-end tests: where the repository is, the Python venv with Django and
//! django-devicehub (built by `server/setup-venv.sh`), and Django's own password hashers as an
//! oracle (`server/tools/hashcheck.py`).

pub mod django_server;
pub mod simavr;
pub use django_server::{free_port, DjangoServer};

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A binary of this workspace (`station`, `station-devsim`), built if needed. Tests of this
/// package cannot name other packages' binaries through `CARGO_BIN_EXE_*`, so they ask cargo
/// (a no-op when `cargo nextest run --workspace` already built everything).
pub fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == bin) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", package, "--bin", bin])
            .current_dir(repo_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build -p {package} failed");
        built.push(bin.to_owned());
    }
    let exe = std::env::current_exe().expect("test executable");
    // target/<profile>/deps/<test> -> target/<profile>/<bin>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    profile_dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX))
}

/// Set up (or reuse) the server venv and return its python. Setup is idempotent and fast when
/// the venv is current.
pub fn venv_python() -> PathBuf {
    let out = Command::new("bash")
        .arg(repo_root().join("server/setup-venv.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run server/setup-venv.sh");
    assert!(out.status.success(), "server/setup-venv.sh failed");
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    let python = stdout
        .lines()
        .last()
        .expect("python path")
        .trim()
        .to_owned();
    PathBuf::from(python)
}

/// Django's `check_password` / `make_password`, one JSON line at a time.
pub struct DjangoHashers {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl DjangoHashers {
    pub fn start() -> Self {
        let mut child = Command::new(venv_python())
            .arg(repo_root().join("server/tools/hashcheck.py"))
            .env_remove("DJANGO_SETTINGS_MODULE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start hashcheck.py");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        DjangoHashers {
            child,
            stdin,
            stdout,
        }
    }

    fn ask(&mut self, request: serde_json::Value) -> serde_json::Value {
        writeln!(self.stdin, "{request}").expect("write request");
        self.stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read reply");
        let reply: serde_json::Value = serde_json::from_str(&line).expect("json reply");
        assert!(reply.get("error").is_none(), "hashcheck error: {reply}");
        reply
    }

    /// `(check_password(password, encoded), must_update)`.
    pub fn check(&mut self, password: &str, encoded: &str) -> (bool, bool) {
        let r =
            self.ask(serde_json::json!({"op": "check", "password": password, "encoded": encoded}));
        (
            r["ok"].as_bool().expect("ok"),
            r["must_update"].as_bool().expect("must_update"),
        )
    }

    /// `make_password(password, salt, hasher=algorithm)`.
    pub fn make(&mut self, password: &str, algorithm: &str, salt: Option<&str>) -> String {
        let mut req =
            serde_json::json!({"op": "make", "password": password, "algorithm": algorithm});
        if let Some(salt) = salt {
            req["salt"] = salt.into();
        }
        self.ask(req)["encoded"]
            .as_str()
            .expect("encoded")
            .to_owned()
    }
}

impl Drop for DjangoHashers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Open the unit's serial port and run `job` on it through the core's pipeline (what the
/// service layer's flasher does for each port, without its threads and shift counting).
pub fn flash_port(
    store: &mut station_core::Store,
    port: &str,
    job: &station_core::flash::FlashJob,
    actor: &station_core::Actor,
    progress: &mut dyn FnMut(station_core::flash::FlashStep),
) -> Result<station_core::flash::FlashOutcome, station_core::flash::FlashFailure> {
    use station_core::flash;
    progress(flash::FlashStep::Connect);
    let transport =
        station_protocol::SerialTransport::open(port).map_err(|e| flash::FlashFailure {
            device_id: None,
            error: flash::device_error(&e),
        })?;
    flash::run(store, transport, job, actor, progress)
}
