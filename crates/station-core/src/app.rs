//! What the desktop app needs from the station beyond the CLI's commands: the app's own
//! settings (operator, sounds, auto-flash, the simulated bench), the shift's counters, the
//! sync state at a glance, and which device a batch flashes next.
//!
//! The app's settings live in the same `settings` table as the station's, under their own
//! keys, registered with their defaults and rules in [`crate::settings`]. The server's URL and token are the sync
//! configuration ([`crate::store::sync_config`]), the one place the sync engine reads; the
//! token is a secret of the station: nothing here returns it, only whether one is set.

use std::collections::VecDeque;

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::settings::{self, key};
use crate::store::Store;

/// Where the shift's counters are kept: state, not a setting (not in the registry).
const SETTING_SHIFT: &str = "app.shift";

pub use crate::settings::{MAX_SIM_PORTS, SIM_FAULTS};

/// The app's settings as the app shows them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AppSettings {
    pub operator: String,
    pub sounds: bool,
    pub auto_flash: bool,
    pub sim_ports: u32,
    pub sim_fault: String,
}

impl Store {
    /// The app's settings as they take effect, each read through the registry
    /// ([`crate::settings`]); a stored value the registry's rule no longer accepts (written by
    /// an older station) reads as the default.
    pub fn app_settings(&self) -> Result<AppSettings> {
        Ok(AppSettings {
            operator: self.setting_value(key::OPERATOR)?,
            sounds: settings::is_on(&self.valid_setting_value(key::SOUNDS)?),
            auto_flash: settings::is_on(&self.valid_setting_value(key::AUTO_FLASH)?),
            sim_ports: self
                .valid_setting_value(key::SIM_PORTS)?
                .parse()
                .unwrap_or(1),
            sim_fault: self.valid_setting_value(key::SIM_FAULT)?,
        })
    }

    /// The sync state for a screen: configuration (never the token), queue, last results.
    pub fn sync_overview(&self) -> Result<SyncOverview> {
        use crate::store::sync_config::{config_key, runtime_key};
        let config = self.sync_config()?;
        let runtime = self.sync_runtime()?;
        let counts = self.outbox_counts()?;
        let rejected = self
            .outbox_rejected(10)?
            .into_iter()
            .map(|r| OutboxError {
                device_id: r.device_id,
                message: r.reason,
                at: r.queued_at,
            })
            .collect();
        Ok(SyncOverview {
            server_url: config.get(config_key::SERVER_URL).cloned(),
            token_set: config.contains_key(config_key::TOKEN),
            pending: counts.pending,
            rejected: counts.rejected,
            last_attempt_at: runtime.get(runtime_key::LAST_ATTEMPT_AT).cloned(),
            last_success_at: runtime.get(runtime_key::LAST_SUCCESS_AT).cloned(),
            last_error: runtime.get(runtime_key::LAST_ERROR).cloned(),
            rejected_records: rejected,
        })
    }

    /// The device the next flash of `batch_id` takes, if any is left.
    pub fn next_in_batch(&self, batch_id: i64) -> Result<Option<String>> {
        self.find_batch(batch_id)?;
        self.conn()
            .query_row(
                "SELECT device_id FROM devices WHERE batch_id = ?1 AND is_active = 1
                     AND pending_generation IS NULL AND flash_state IN ('none', 'failed')
                 ORDER BY id_number, id LIMIT 1",
                [batch_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql_err(e))
    }

    /// This shift's counters.
    pub fn shift(&self) -> Result<ShiftCounters> {
        Ok(match self.setting(SETTING_SHIFT)? {
            Some(json) => {
                serde_json::from_str(&json).unwrap_or_else(|_| ShiftCounters::new(now_unix()))
            }
            None => ShiftCounters::new(now_unix()),
        })
    }

    /// Count one flash result into the shift (safe from several ports at once: one transaction).
    pub fn record_shift_result(&mut self, passed: bool) -> Result<ShiftCounters> {
        let now = now_unix();
        self.write(|tx| {
            let json: Option<String> = tx
                .query_row(
                    "SELECT value FROM settings WHERE key = ?1",
                    [SETTING_SHIFT],
                    |r| r.get(0),
                )
                .optional()?;
            let mut shift = json
                .and_then(|j| serde_json::from_str::<ShiftCounters>(&j).ok())
                .unwrap_or_else(|| ShiftCounters::new(now));
            shift.record(passed, now);
            save_shift(tx, &shift)?;
            Ok(shift)
        })
    }

    /// Start counting a new shift from zero.
    pub fn start_new_shift(&mut self) -> Result<ShiftCounters> {
        let shift = ShiftCounters::new(now_unix());
        self.write(|tx| save_shift(tx, &shift))?;
        Ok(shift)
    }
}

fn save_shift(tx: &rusqlite::Transaction<'_>, shift: &ShiftCounters) -> Result<()> {
    let json = serde_json::to_string(shift)
        .map_err(|e| CoreError::Internal(format!("cannot encode the shift counters: {e}")))?;
    tx.execute(
        "INSERT INTO settings(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![SETTING_SHIFT, json],
    )?;
    Ok(())
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The sync state as the Sync screen shows it. No token: only whether one is set.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SyncOverview {
    /// `None`: sync is off.
    pub server_url: Option<String>,
    pub token_set: bool,
    /// Changes waiting to be sent.
    pub pending: u64,
    /// Changes the server refused; a person must act.
    pub rejected: u64,
    pub last_attempt_at: Option<String>,
    pub last_success_at: Option<String>,
    /// The last failure, with the server's own message.
    pub last_error: Option<String>,
    /// The latest refused records, newest first, with the server's reason.
    pub rejected_records: Vec<OutboxError>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OutboxError {
    pub device_id: String,
    pub message: String,
    pub at: String,
}

/// Passed and failed flashes since the shift started, and the rate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShiftCounters {
    /// Unix seconds.
    pub started_at: i64,
    pub passed: u32,
    pub failed: u32,
    /// When each pass of the last hour happened (unix seconds), for the hourly rate.
    #[serde(default)]
    recent_passes: VecDeque<i64>,
}

/// How long the shift must have run before a rate means anything.
const RATE_AFTER_SECS: i64 = 60;
const HOUR: i64 = 3600;

impl ShiftCounters {
    pub fn new(started_at: i64) -> Self {
        ShiftCounters {
            started_at,
            passed: 0,
            failed: 0,
            recent_passes: VecDeque::new(),
        }
    }

    pub fn record(&mut self, passed: bool, at: i64) {
        if passed {
            self.passed += 1;
            self.recent_passes.push_back(at);
        } else {
            self.failed += 1;
        }
        while self.recent_passes.front().is_some_and(|t| at - t > HOUR) {
            self.recent_passes.pop_front();
        }
    }

    /// Passed units per hour: the shift's average during its first hour, then the last hour's
    /// count. `None` in the first minute, when a rate would be noise.
    pub fn per_hour(&self, now: i64) -> Option<u32> {
        let elapsed = now - self.started_at;
        if elapsed < RATE_AFTER_SECS {
            return None;
        }
        if elapsed < HOUR {
            return Some((u64::from(self.passed) * HOUR as u64 / elapsed as u64) as u32);
        }
        Some(
            self.recent_passes
                .iter()
                .filter(|t| now - **t <= HOUR)
                .count() as u32,
        )
    }

    pub fn per_hour_now(&self) -> Option<u32> {
        self.per_hour(now_unix())
    }

    /// When the shift started, as RFC 3339.
    pub fn started_at_rfc3339(&self) -> String {
        time::OffsetDateTime::from_unix_timestamp(self.started_at)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("s.db")).expect("open");
        (dir, store)
    }

    #[test]
    fn app_settings_read_through_the_registry() {
        let (_d, mut s) = store();
        s.set_setting(key::SIM_PORTS, "8").expect("ports");
        s.set_setting(key::SOUNDS, "off").expect("sounds");
        s.set_setting(key::AUTO_FLASH, "on").expect("auto-flash");
        s.set_setting(key::SIM_FAULT, "no_answer").expect("fault");
        s.set_setting(key::OPERATOR, "badge-4711")
            .expect("operator");
        let a = s.app_settings().expect("settings");
        assert_eq!(
            a,
            AppSettings {
                operator: "badge-4711".into(),
                sounds: false,
                auto_flash: true,
                sim_ports: 8,
                sim_fault: "no_answer".into(),
            }
        );
    }

    #[test]
    fn a_stored_app_setting_the_rules_refuse_reads_as_its_default() {
        let (_d, mut s) = store();
        s.set_key_values(
            crate::store::KeyValueTable::Settings,
            &[
                (key::SIM_PORTS, Some("99")),
                (key::SOUNDS, Some("loud")),
                (key::SIM_FAULT, Some("explode")),
            ],
        )
        .expect("write old values");
        let a = s.app_settings().expect("settings");
        assert_eq!(
            (a.sim_ports, a.sounds, a.sim_fault.as_str()),
            (1, true, "none")
        );
    }

    #[test]
    fn the_sync_overview_shows_the_configuration_but_never_the_token() {
        use crate::store::sync_config::config_key;
        let (_d, mut s) = store();
        let off = s.sync_overview().expect("overview");
        assert_eq!(off.server_url, None);
        assert!(!off.token_set);
        let token = format!("dhs_12_{}", "a".repeat(43));
        s.set_sync_config(&[
            (
                config_key::SERVER_URL,
                Some("https://hub.local/station-sync/"),
            ),
            (config_key::TOKEN, Some(&token)),
        ])
        .expect("configure");
        let on = s.sync_overview().expect("overview");
        assert_eq!(
            on.server_url.as_deref(),
            Some("https://hub.local/station-sync/")
        );
        assert!(on.token_set);
        assert!(!format!("{on:?}").contains(&token));
        assert!(!serde_json::to_string(&on).expect("json").contains(&token));
    }

    #[test]
    fn shift_rate_is_an_average_then_the_last_hour() {
        let mut c = ShiftCounters::new(0);
        for t in [10, 20, 30] {
            c.record(true, t);
        }
        c.record(false, 40);
        assert_eq!((c.passed, c.failed), (3, 1));
        assert_eq!(c.per_hour(30), None, "no rate in the first minute");
        assert_eq!(c.per_hour(1800), Some(6));
        c.record(true, 4000);
        assert_eq!(c.per_hour(4000), Some(1), "only the pass of the last hour");
    }

    #[test]
    fn shift_counts_persist_and_restart() {
        let (_d, mut s) = store();
        s.record_shift_result(true).expect("pass");
        s.record_shift_result(false).expect("fail");
        let c = s.shift().expect("shift");
        assert_eq!((c.passed, c.failed), (1, 1));
        let c = s.start_new_shift().expect("new");
        assert_eq!((c.passed, c.failed), (0, 0));
        assert_eq!(s.shift().expect("shift").passed, 0);
    }
}
