//! Scan to link on a port: the operator scans the unit's own serial or MAC label (a
//! keyboard-wedge scanner types it and Enter) before or after its flash.
//!
//! - **After**: the last job on the port passed and its device has no label linked since:
//!   the scan is linked to that device at once.
//! - **Before**: otherwise (nothing passed on the port yet, the last job failed, a job is
//!   running, or the last pass is already linked), the scan waits for the port's next pass
//!   and is linked to that device. A failed flash keeps it waiting (the same unit is retried);
//!   a new scan replaces it.
//!
//! A serial already linked to another active device is refused at the scan, changing nothing.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use station_core::unit_serial;
use station_core::{Actor, CoreError, Result, Store};

/// What a scan did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScanLink {
    /// Linked to the device just flashed on the port.
    Linked { serial: String, device_id: String },
    /// Waiting for the port's next pass.
    Waiting { serial: String, port: String },
}

/// How a waiting scan ended when the port's next flash passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LinkOnPass {
    Linked {
        serial: String,
        device_id: String,
    },
    /// The link was refused (another device took the serial meanwhile); the flash stands.
    Refused {
        serial: String,
        problem: String,
    },
}

#[derive(Debug, Default)]
struct PortState {
    /// The device of the port's last job, when it passed and has no scan linked since.
    last_pass: Option<String>,
    /// A scan waiting for the port's next pass.
    waiting: Option<String>,
}

/// The scan state of every port.
#[derive(Debug, Default)]
pub struct PortLinks {
    ports: Mutex<HashMap<String, PortState>>,
}

impl PortLinks {
    fn with<T>(&self, port: &str, f: impl FnOnce(&mut PortState) -> T) -> Result<T> {
        let mut ports = self
            .ports
            .lock()
            .map_err(|_| CoreError::Internal("the scan table is poisoned".into()))?;
        Ok(f(ports.entry(port.to_owned()).or_default()))
    }

    /// A scan on `port`; `busy` when a job runs there now (its unit is not flashed yet).
    pub fn scan(
        &self,
        store: &mut Store,
        port: &str,
        raw: &str,
        busy: bool,
        actor: &Actor,
    ) -> Result<ScanLink> {
        let serial = unit_serial::normalize(raw)?;
        let last_pass = self.with(port, |s| if busy { None } else { s.last_pass.clone() })?;
        if let Some(holder) = store.device_by_unit_serial(&serial)? {
            if last_pass.as_deref() != Some(holder.as_str()) {
                return Err(CoreError::Conflict {
                    problem: format!("Unit serial {serial} is already linked to device {holder}."),
                    fix: format!(
                        "scan the label of the unit in hand; if {holder} was scrapped, deactivate it first"
                    ),
                });
            }
        }
        match last_pass {
            Some(device_id) => {
                store.link_unit_serial(&device_id, &serial, actor)?;
                self.with(port, |s| {
                    s.last_pass = None;
                    s.waiting = None;
                })?;
                Ok(ScanLink::Linked { serial, device_id })
            }
            None => {
                self.with(port, |s| s.waiting = Some(serial.clone()))?;
                Ok(ScanLink::Waiting {
                    serial,
                    port: port.to_owned(),
                })
            }
        }
    }

    /// The scan waiting on `port`, if any.
    pub fn waiting(&self, port: &str) -> Option<String> {
        self.with(port, |s| s.waiting.clone()).ok().flatten()
    }

    /// Forget the scan waiting on `port`.
    pub fn clear(&self, port: &str) -> Result<()> {
        self.with(port, |s| s.waiting = None)
    }

    /// A job on `port` ended: after a pass of `device_id`, a waiting scan is linked to it;
    /// otherwise the pass is remembered for a scan after it. A failure forgets the last pass.
    pub fn job_ended(
        &self,
        store: &mut Store,
        port: &str,
        passed: Option<&str>,
        actor: &Actor,
    ) -> Option<LinkOnPass> {
        let Some(device_id) = passed else {
            let _ = self.with(port, |s| s.last_pass = None);
            return None;
        };
        let waiting = self
            .with(port, |s| {
                let waiting = s.waiting.take();
                s.last_pass = waiting.is_none().then(|| device_id.to_owned());
                waiting
            })
            .ok()
            .flatten()?;
        Some(match store.link_unit_serial(device_id, &waiting, actor) {
            Ok(_) => LinkOnPass::Linked {
                serial: waiting,
                device_id: device_id.to_owned(),
            },
            Err(e) => {
                tracing::warn!(device_id, error = %e, "the scanned unit serial was not linked");
                LinkOnPass::Refused {
                    serial: waiting,
                    problem: format!("{e}: {}", e.help()),
                }
            }
        })
    }
}
