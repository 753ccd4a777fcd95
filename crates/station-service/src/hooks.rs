//! The after-flash extension point (run by the service after a verified flash, whichever face
//! started it), like django-devicehub's `device_provisioned` signal: a
//! configured command and/or HTTP webhook receives the device record and its topics as JSON
//! after every verified flash (to print a label, tell a manufacturing system, ...).
//!
//! The payload is built from [`Device`], which carries no secret. A hook that fails is
//! reported to the operator; it never undoes the flash.
//!
//! The command gets only what it needs: a minimal environment ([`INHERITED_ENV`] from the
//! station, plus [`ENV_EVENT`] and [`ENV_DEVICE_ID`]), so whatever else the station's
//! environment holds (a token, a key) never reaches it; and a process group of its own, ended
//! whole (background children included) when the hook ends or overruns its timeout. The
//! webhook follows no redirect (the payload goes where the setting says, nowhere else) and its
//! errors never show the URL's `user:password@`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use station_core::settings::key::{
    HOOK_COMMAND as SETTING_HOOK_COMMAND, HOOK_WEBHOOK_URL as SETTING_HOOK_WEBHOOK,
};
use station_core::{Actor, Device, Result, Store};

/// How long a hook may take before it is reported as failed.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(30);
/// The hook command's environment variable naming the event ([`EVENT_DEVICE_PROVISIONED`]).
pub const ENV_EVENT: &str = "DEVICEHUB_EVENT";
/// The hook command's environment variable holding the device id.
pub const ENV_DEVICE_ID: &str = "DEVICEHUB_DEVICE_ID";
/// The station's variables a hook command inherits (when set): enough to find programs, a
/// home and a language. Windows' shell also needs its system folder.
pub const INHERITED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "SystemRoot",
    "PATHEXT",
    "TEMP",
    "TMP",
];
/// The event name in the payload.
pub const EVENT_DEVICE_PROVISIONED: &str = "device_provisioned";

#[derive(Debug, Clone)]
pub struct Hooks {
    /// Run by the shell with the payload on standard input.
    pub command: Option<String>,
    /// POSTed the payload as JSON.
    pub webhook_url: Option<String>,
    /// How long each may take ([`HOOK_TIMEOUT`]).
    pub timeout: Duration,
}

impl Default for Hooks {
    fn default() -> Self {
        Hooks {
            command: None,
            webhook_url: None,
            timeout: HOOK_TIMEOUT,
        }
    }
}

#[derive(Serialize)]
struct Payload<'a> {
    event: &'static str,
    device: &'a Device,
    station_id: &'a str,
    operator: &'a str,
}

impl Hooks {
    pub fn none() -> Self {
        Hooks::default()
    }

    /// The hooks configured in the station's settings.
    pub fn from_store(store: &Store) -> Result<Self> {
        Ok(Hooks {
            command: store
                .setting(SETTING_HOOK_COMMAND)?
                .filter(|c| !c.trim().is_empty()),
            webhook_url: store
                .setting(SETTING_HOOK_WEBHOOK)?
                .filter(|c| !c.trim().is_empty()),
            timeout: HOOK_TIMEOUT,
        })
    }

    /// Run every configured hook for a verified flash. The error says which hook failed and how.
    pub fn after_flash(&self, device: &Device, actor: &Actor) -> std::result::Result<(), String> {
        if self.command.is_none() && self.webhook_url.is_none() {
            return Ok(());
        }
        let payload = serde_json::to_vec(&Payload {
            event: EVENT_DEVICE_PROVISIONED,
            device,
            station_id: &actor.station_id,
            operator: &actor.operator,
        })
        .map_err(|e| format!("cannot build the hook payload: {e}"))?;
        let mut errors = Vec::new();
        if let Some(cmd) = &self.command {
            if let Err(e) = run_command(cmd, &device.device_id, &payload, self.timeout) {
                errors.push(format!("hook command: {e}"));
            }
        }
        if let Some(url) = &self.webhook_url {
            if let Err(e) = post(url, &payload, self.timeout) {
                errors.push(format!("webhook: {e}"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

fn shell(cmd: &str) -> Command {
    if cfg!(windows) {
        let mut c = Command::new("cmd");
        c.args(["/C", cmd]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", cmd]);
        c
    }
}

fn run_command(
    cmd: &str,
    device_id: &str,
    payload: &[u8],
    timeout: Duration,
) -> std::result::Result<(), String> {
    let mut command = shell(cmd);
    command.env_clear();
    for name in INHERITED_ENV {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command
        .env(ENV_EVENT, EVENT_DEVICE_PROVISIONED)
        .env(ENV_DEVICE_ID, device_id)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    own_process_group(&mut command);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start it: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its input is fine.
        let _ = stdin.write_all(payload);
    }
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                kill_process_group(&mut child);
                let _ = child.wait();
                return Err(format!(
                    "did not finish within {} s and was stopped",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                kill_process_group(&mut child);
                return Err(format!("cannot wait for it: {e}"));
            }
        }
    };
    // What the hook left running in the background ends with it (and would otherwise hold
    // its standard error open).
    kill_process_group(&mut child);
    if status.success() {
        return Ok(());
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    let err = err.trim();
    let tail: String = err
        .chars()
        .rev()
        .take(300)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Err(format!(
        "exited with {status}{}",
        if tail.is_empty() {
            String::new()
        } else {
            format!(": {tail}")
        }
    ))
}

/// The hook leads a process group of its own, so its children can be ended with it.
#[cfg(unix)]
fn own_process_group(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
}

#[cfg(not(unix))]
fn own_process_group(_command: &mut Command) {}

/// End the hook's whole process group (its id is the hook's, see [`own_process_group`]).
#[cfg(unix)]
fn kill_process_group(child: &mut std::process::Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        // Already gone is fine.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

#[cfg(not(unix))]
fn kill_process_group(child: &mut std::process::Child) {
    let _ = child.kill();
}

/// `url` as it may be shown: without its `user:password@`.
fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        // Not a URL at all: say so without repeating what may hold a credential.
        Err(_) => "the webhook URL".to_owned(),
    }
}

fn post(url: &str, payload: &[u8], timeout: Duration) -> std::result::Result<(), String> {
    let shown = shown_url(url);
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {}", e.without_url()))?;
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(payload.to_vec())
        .send()
        .map_err(|e| format!("request to {shown} failed: {}", e.without_url()))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else if status.is_redirection() {
        Err(format!(
            "{shown} answered {status}: redirects are not followed; set the URL the webhook \
             really lives at"
        ))
    } else {
        Err(format!("{shown} answered {status}"))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::path::Path;

    use super::*;

    const PAYLOAD: &[u8] = b"{}";

    /// Wait (bounded) until process `pid` is gone or a zombie nobody reaped yet.
    fn ended(pid: u32) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
            let gone = match &stat {
                Err(_) => true,
                Ok(s) => s
                    .rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('Z')),
            };
            if gone || Instant::now() > deadline {
                return gone;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn read_pid(path: &Path) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(s) = std::fs::read_to_string(path) {
                if let Ok(pid) = s.trim().parse() {
                    return pid;
                }
            }
            assert!(Instant::now() < deadline, "the hook never wrote its pid");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Finding 6 (issue 10): the hook child inherited the station's whole environment.
    #[test]
    fn finding_6_the_hook_command_gets_a_minimal_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("env.txt");
        // A variable only the station's process has (as a token in the environment would be).
        std::env::set_var("STATION_HOOK_TEST_PARENT_ONLY", "must-not-leak");
        let cmd = format!("env > '{}'", out.display());
        run_command(&cmd, "t-001", PAYLOAD, HOOK_TIMEOUT).expect("hook");
        let env = std::fs::read_to_string(&out).expect("env");
        assert!(!env.contains("STATION_HOOK_TEST_PARENT_ONLY"), "{env}");
        assert!(!env.contains("must-not-leak"));
        assert!(env.contains("DEVICEHUB_DEVICE_ID=t-001"), "{env}");
        assert!(env.contains("DEVICEHUB_EVENT=device_provisioned"), "{env}");
        if std::env::var_os("PATH").is_some() {
            assert!(env.contains("PATH="), "{env}");
        }
        for line in env.lines() {
            let name = line.split('=').next().unwrap_or("");
            assert!(
                INHERITED_ENV.contains(&name)
                    || [ENV_EVENT, ENV_DEVICE_ID, "PWD", "SHLVL", "_", "OLDPWD"].contains(&name),
                "{name} reached the hook"
            );
        }
    }

    /// Finding 6 (issue 10): the timeout killed only the shell; its children lived on.
    #[test]
    fn finding_6_the_timeout_ends_the_hook_and_its_children() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pids = dir.path().join("pids");
        let cmd = format!(
            "sleep 300 & echo $! > '{}.child'; echo $$ > '{}'; wait",
            pids.display(),
            pids.display()
        );
        let err = run_command(&cmd, "t-001", PAYLOAD, Duration::from_secs(1))
            .expect_err("the hook overran");
        assert!(err.contains("was stopped"), "{err}");
        let shell = read_pid(&pids);
        let grandchild = read_pid(&dir.path().join("pids.child"));
        assert!(ended(shell), "the hook's shell survived");
        assert!(ended(grandchild), "the hook's sleeping child survived");
    }

    /// A one-shot HTTP server on loopback: answers `reply` to the first request; returns its
    /// address and whether anyone connected.
    fn server(reply: String) -> (String, std::thread::JoinHandle<bool>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        listener.set_nonblocking(true).expect("nonblocking");
        let handle = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        conn.set_nonblocking(false).expect("blocking");
                        conn.set_read_timeout(Some(Duration::from_secs(2)))
                            .expect("timeout");
                        let mut buf = [0u8; 4096];
                        let _ = conn.read(&mut buf);
                        let _ = conn.write_all(reply.as_bytes());
                        return true;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            false
        });
        (addr, handle)
    }

    /// Finding 6 (issue 10): the webhook followed redirects and echoed `user:password@` URLs.
    #[test]
    fn finding_6_the_webhook_follows_no_redirect_and_never_echoes_credentials() {
        let (target, target_thread) =
            server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into());
        let (redirector, redirector_thread) = server(format!(
            "HTTP/1.1 302 Found\r\nLocation: http://{target}/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ));
        let url = format!("http://hook-user:hunter2-secret@{redirector}/provisioned");
        let err = post(&url, PAYLOAD, Duration::from_secs(5)).expect_err("a redirect is refused");
        assert!(
            redirector_thread.join().expect("thread"),
            "the webhook was called"
        );
        assert!(err.contains("302"), "{err}");
        assert!(err.contains("redirects are not followed"), "{err}");
        assert!(
            !target_thread.join().expect("thread"),
            "the payload followed the redirect"
        );
        assert!(!err.contains("hunter2"), "{err}");
        assert!(!err.contains("hook-user"), "{err}");

        // A webhook that cannot be reached says so without the credentials either.
        let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let url = format!("http://hook-user:hunter2-secret@127.0.0.1:{port}/provisioned");
        let err = post(&url, PAYLOAD, Duration::from_secs(5)).expect_err("unreachable");
        assert!(err.contains("failed"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(!err.contains("hook-user"), "{err}");
    }
}
