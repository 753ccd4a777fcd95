//! The after-flash extension point (run by the service after a verified flash, whichever face
//! started it), like django-devicehub's `device_provisioned` signal: a
//! configured command and/or HTTP webhook receives the device record and its topics as JSON
//! after every verified flash (to print a label, tell a manufacturing system, ...).
//!
//! The payload is built from [`Device`], which carries no secret. A hook that fails is
//! reported to the operator; it never undoes the flash.

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
/// The event name in the payload.
pub const EVENT_DEVICE_PROVISIONED: &str = "device_provisioned";

#[derive(Debug, Clone, Default)]
pub struct Hooks {
    /// Run by the shell with the payload on standard input.
    pub command: Option<String>,
    /// POSTed the payload as JSON.
    pub webhook_url: Option<String>,
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
            if let Err(e) = run_command(cmd, &device.device_id, &payload) {
                errors.push(format!("hook command: {e}"));
            }
        }
        if let Some(url) = &self.webhook_url {
            if let Err(e) = post(url, &payload) {
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

fn run_command(cmd: &str, device_id: &str, payload: &[u8]) -> std::result::Result<(), String> {
    let mut child = shell(cmd)
        .env("DEVICEHUB_EVENT", EVENT_DEVICE_PROVISIONED)
        .env("DEVICEHUB_DEVICE_ID", device_id)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start it: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its input is fine.
        let _ = stdin.write_all(payload);
    }
    let deadline = Instant::now() + HOOK_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
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
                return Err(format!(
                    "exited with {status}{}",
                    if tail.is_empty() {
                        String::new()
                    } else {
                        format!(": {tail}")
                    }
                ));
            }
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "did not finish within {} s and was stopped",
                    HOOK_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("cannot wait for it: {e}")),
        }
    }
}

fn post(url: &str, payload: &[u8]) -> std::result::Result<(), String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(HOOK_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(payload.to_vec())
        .send()
        .map_err(|e| format!("request to {url} failed: {e}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url} answered {}", response.status()))
    }
}
