//! The shift's counters: passed and failed flashes since the shift started, and the rate.
//! Every flash is counted here, whichever face started it (the service layer counts them), in
//! one transaction, so parallel ports and processes never lose a count.

use std::collections::VecDeque;

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::store::Store;

/// Where the shift's counters are kept: state, not a setting (not in the registry).
const SETTING_SHIFT: &str = "app.shift";

impl Store {
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
