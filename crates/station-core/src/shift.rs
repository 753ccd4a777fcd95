//! Shifts: a start, a confirmed end and a saved report (operators, passed, failed by reason,
//! units per hour, first-pass yield), over the `shifts`, `shift_results` and `shift_operators`
//! tables (migration 0008).
//!
//! Every flash that writes credentials is counted here, whichever face started it (the service
//! layer counts them), as one inserted row in its own transaction, so parallel ports and
//! processes never lose a count. A flash while no shift runs starts one (a count is never
//! lost); ending a shift freezes its report: it is computed from its rows, which never change
//! after the end.
//!
//! **First-pass yield** = units whose first attempt in the shift passed / units attempted in
//! the shift. A unit is a device record (its id); a failure before any device was chosen is a
//! unit of its own that did not pass. A re-flash is an attempt of the device it targets: a
//! device that failed and then passed on a re-flash counts once, as attempted and not
//! first-pass; a device whose first attempt in the shift is a passing re-flash counts as
//! first-pass.

use std::collections::VecDeque;

use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;

use crate::error::{CoreError, Result};
use crate::store::Store;

/// How long the shift must have run before a rate means anything.
const RATE_AFTER_SECS: i64 = 60;
const HOUR: i64 = 3600;
/// How many past reports a list shows at most.
pub const MAX_REPORTS: u32 = 200;

/// One flash result, as the service layer counts it.
#[derive(Debug, Clone, Copy)]
pub struct ShiftResult<'a> {
    pub port: &'a str,
    pub device_id: Option<&'a str>,
    pub passed: bool,
    /// The typed reason of a failure (its stable name); `None` for a pass.
    pub reason: Option<&'a str>,
    pub operator: &'a str,
}

impl Store {
    /// The running shift's counters; zero counters started now when no shift runs.
    pub fn shift(&self) -> Result<ShiftCounters> {
        let now = now_unix();
        match self.running_shift_id()? {
            Some(id) => self.counters(id, now),
            None => Ok(ShiftCounters::new(now)),
        }
    }

    /// The running shift's id, if one runs.
    pub fn running_shift_id(&self) -> Result<Option<i64>> {
        self.conn()
            .query_row("SELECT id FROM shifts WHERE ended_at IS NULL", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.sql_err(e))
    }

    /// Count one flash result into the running shift (starting one if none runs).
    pub fn record_shift_result(&mut self, result: &ShiftResult<'_>) -> Result<ShiftCounters> {
        let now = now_unix();
        let station = self.station_id()?;
        let id = self.write(|tx| {
            let id = running_or_start(tx, now, result.operator, &station)?;
            tx.execute(
                "INSERT INTO shift_results(shift_id, at, port, device_id, passed, reason, operator)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    now,
                    result.port,
                    result.device_id,
                    result.passed,
                    result.reason,
                    result.operator
                ],
            )?;
            note_operator(tx, id, result.operator, now)?;
            Ok(id)
        })?;
        self.counters(id, now)
    }

    /// Start a shift now; refused while one runs (end it first, so its report is saved).
    pub fn start_shift(&mut self, operator: &str) -> Result<ShiftReport> {
        let now = now_unix();
        let station = self.station_id()?;
        let id = self.write(|tx| {
            if let Some(started) = tx
                .query_row(
                    "SELECT started_at FROM shifts WHERE ended_at IS NULL",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .optional()?
            {
                return Err(CoreError::Conflict {
                    problem: format!("A shift is already running (started {}).", rfc3339(started)),
                    fix: "end the running shift first; its report is saved when it ends".into(),
                });
            }
            running_or_start(tx, now, operator, &station)
        })?;
        self.shift_report(id)
    }

    /// End the running shift and return its saved report; refused when none runs.
    pub fn end_shift(&mut self) -> Result<ShiftReport> {
        let now = now_unix();
        let id = self.write(|tx| {
            let id: i64 = tx
                .query_row("SELECT id FROM shifts WHERE ended_at IS NULL", [], |r| {
                    r.get(0)
                })
                .optional()?
                .ok_or_else(no_running_shift)?;
            tx.execute(
                "UPDATE shifts SET ended_at = max(?2, started_at) WHERE id = ?1",
                params![id, now],
            )?;
            Ok(id)
        })?;
        self.shift_report(id)
    }

    /// Remember that `operator` worked in the running shift (a sign-in); nothing when none runs.
    pub fn note_shift_operator(&mut self, operator: &str) -> Result<()> {
        let operator = operator.trim();
        if operator.is_empty() {
            return Ok(());
        }
        let now = now_unix();
        self.write(|tx| {
            let running: Option<i64> = tx
                .query_row("SELECT id FROM shifts WHERE ended_at IS NULL", [], |r| {
                    r.get(0)
                })
                .optional()?;
            if let Some(id) = running {
                note_operator(tx, id, operator, now)?;
            }
            Ok(())
        })
    }

    /// The report of shift `id` (the running one's so far).
    pub fn shift_report(&self, id: i64) -> Result<ShiftReport> {
        let now = now_unix();
        let conn = self.conn();
        let sql = |e| self.sql_err(e);
        let (started_at, ended_at, station_id, carried_passed, carried_failed): (
            i64,
            Option<i64>,
            String,
            u32,
            u32,
        ) = conn
            .query_row(
                "SELECT started_at, ended_at, station_id, carried_passed, carried_failed
                 FROM shifts WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(sql)?
            .ok_or_else(|| CoreError::NotFound {
                what: "shift",
                key: id.to_string(),
            })?;
        let (passed, failed): (u32, u32) = conn
            .query_row(
                "SELECT COALESCE(sum(passed), 0), COALESCE(sum(1 - passed), 0)
                 FROM shift_results WHERE shift_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(sql)?;
        let mut stmt = conn
            .prepare(
                "SELECT reason, count(*) FROM shift_results
                 WHERE shift_id = ?1 AND passed = 0
                 GROUP BY reason ORDER BY count(*) DESC, reason",
            )
            .map_err(sql)?;
        let failed_by_reason = stmt
            .query_map([id], |r| {
                Ok(ReasonCount {
                    reason: r
                        .get::<_, Option<String>>(0)?
                        .unwrap_or_else(|| "unknown".into()),
                    count: r.get(1)?,
                })
            })
            .map_err(sql)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql)?;
        // A unit's first attempt: the earliest row of its device id (a row without a device is
        // a unit of its own).
        let (units_attempted, first_pass_passed): (u32, u32) = conn
            .query_row(
                "SELECT count(*), COALESCE(sum(r.passed), 0) FROM shift_results r
                 WHERE r.shift_id = ?1 AND (r.device_id IS NULL OR r.id = (
                     SELECT min(f.id) FROM shift_results f
                     WHERE f.shift_id = r.shift_id AND f.device_id = r.device_id))",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(sql)?;
        let mut stmt = conn
            .prepare(
                "SELECT operator FROM shift_operators WHERE shift_id = ?1
                 ORDER BY first_seen, operator",
            )
            .map_err(sql)?;
        let operators = stmt
            .query_map([id], |r| r.get(0))
            .map_err(sql)?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(sql)?;
        let passed = passed + carried_passed;
        let failed = failed + carried_failed;
        let elapsed = ended_at.unwrap_or(now).max(started_at) - started_at;
        Ok(ShiftReport {
            id,
            station_id,
            started_at,
            ended_at,
            operators,
            passed,
            failed,
            failed_by_reason,
            units_attempted,
            first_pass_passed,
            first_pass_yield_percent: first_pass_yield(first_pass_passed, units_attempted),
            units_per_hour: units_per_hour(passed, elapsed),
        })
    }

    /// The reports of ended shifts, newest first, at most `limit` (capped at [`MAX_REPORTS`]).
    pub fn shift_reports(&self, limit: u32) -> Result<Vec<ShiftReport>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT id FROM shifts WHERE ended_at IS NOT NULL ORDER BY id DESC LIMIT ?1")
            .map_err(|e| self.sql_err(e))?;
        let ids = stmt
            .query_map([limit.min(MAX_REPORTS)], |r| r.get::<_, i64>(0))
            .map_err(|e| self.sql_err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sql_err(e))?;
        ids.into_iter().map(|id| self.shift_report(id)).collect()
    }

    fn counters(&self, id: i64, now: i64) -> Result<ShiftCounters> {
        let report = self.shift_report(id)?;
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT at FROM shift_results WHERE shift_id = ?1 AND passed = 1 AND at >= ?2
                 ORDER BY at",
            )
            .map_err(|e| self.sql_err(e))?;
        let recent_passes = stmt
            .query_map(params![id, now - HOUR], |r| r.get(0))
            .map_err(|e| self.sql_err(e))?
            .collect::<rusqlite::Result<VecDeque<i64>>>()
            .map_err(|e| self.sql_err(e))?;
        Ok(ShiftCounters {
            started_at: report.started_at,
            passed: report.passed,
            failed: report.failed,
            recent_passes,
        })
    }
}

fn no_running_shift() -> CoreError {
    CoreError::Conflict {
        problem: "No shift is running.".into(),
        fix: "start a shift first".into(),
    }
}

/// The running shift's id, starting one now by `operator` if none runs.
fn running_or_start(tx: &Transaction<'_>, now: i64, operator: &str, station: &str) -> Result<i64> {
    if let Some(id) = tx
        .query_row("SELECT id FROM shifts WHERE ended_at IS NULL", [], |r| {
            r.get(0)
        })
        .optional()?
    {
        return Ok(id);
    }
    tx.execute(
        "INSERT INTO shifts(started_at, started_by, station_id) VALUES (?1, ?2, ?3)",
        params![now, operator, station],
    )?;
    let id = tx.last_insert_rowid();
    note_operator(tx, id, operator, now)?;
    Ok(id)
}

fn note_operator(tx: &Transaction<'_>, shift: i64, operator: &str, now: i64) -> Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO shift_operators(shift_id, operator, first_seen) VALUES (?1, ?2, ?3)",
        params![shift, operator, now],
    )?;
    Ok(())
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Unix seconds as RFC 3339 (UTC).
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// Units whose first attempt passed, as a percentage of units attempted (one decimal);
/// `None` when nothing was attempted.
pub fn first_pass_yield(first_pass_passed: u32, units_attempted: u32) -> Option<f64> {
    (units_attempted > 0).then(|| {
        (f64::from(first_pass_passed) * 1000.0 / f64::from(units_attempted)).round() / 10.0
    })
}

/// Passed units per hour over `elapsed_secs` (one decimal); `None` under a minute.
pub fn units_per_hour(passed: u32, elapsed_secs: i64) -> Option<f64> {
    (elapsed_secs >= RATE_AFTER_SECS)
        .then(|| (f64::from(passed) * HOUR as f64 * 10.0 / elapsed_secs as f64).round() / 10.0)
}

/// How many failures had one reason.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ReasonCount {
    pub reason: String,
    pub count: u32,
}

/// A shift's report: saved (frozen) once the shift ends.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ShiftReport {
    pub id: i64,
    pub station_id: String,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds; `None` while the shift runs.
    pub ended_at: Option<i64>,
    /// Everyone who signed in or flashed during the shift, in order of first appearance.
    pub operators: Vec<String>,
    pub passed: u32,
    pub failed: u32,
    /// Failures by typed reason, most frequent first.
    pub failed_by_reason: Vec<ReasonCount>,
    /// Units attempted (see the module's definition of first-pass yield).
    pub units_attempted: u32,
    /// Units whose first attempt in the shift passed.
    pub first_pass_passed: u32,
    /// `first_pass_passed / units_attempted` in percent; `None` when nothing was attempted.
    pub first_pass_yield_percent: Option<f64>,
    /// Passed units per hour over the shift (so far); `None` in its first minute.
    pub units_per_hour: Option<f64>,
}

impl ShiftReport {
    /// The failures by reason as one line of text, `storage_full: 1; timeout: 2` (empty with
    /// none): the CLI's report and the CSV's cell say it the same way.
    pub fn failed_by_reason_text(&self) -> String {
        self.failed_by_reason
            .iter()
            .map(|r| format!("{}: {}", r.reason, r.count))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Passed and failed flashes since the shift started, and the rate.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ShiftCounters {
    /// Unix seconds.
    pub started_at: i64,
    pub passed: u32,
    pub failed: u32,
    /// When each pass of the last hour happened (unix seconds), for the hourly rate.
    recent_passes: VecDeque<i64>,
}

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
        rfc3339(self.started_at)
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

    fn result<'a>(
        device: Option<&'a str>,
        passed: bool,
        reason: Option<&'a str>,
    ) -> ShiftResult<'a> {
        ShiftResult {
            port: "/dev/ttyUSB0",
            device_id: device,
            passed,
            reason,
            operator: "ana",
        }
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
    fn shift_counts_persist_and_a_new_shift_starts_from_zero() {
        let (_d, mut s) = store();
        s.record_shift_result(&result(Some("a-001"), true, None))
            .expect("pass");
        s.record_shift_result(&result(Some("a-002"), false, Some("timeout")))
            .expect("fail");
        let c = s.shift().expect("shift");
        assert_eq!((c.passed, c.failed), (1, 1));
        let ended = s.end_shift().expect("end");
        assert!(ended.ended_at.is_some());
        let started = s.start_shift("bo").expect("new");
        assert_eq!((started.passed, started.failed), (0, 0));
        assert_eq!(started.operators, ["bo"]);
        assert_eq!(s.shift().expect("shift").passed, 0);
    }

    #[test]
    fn first_pass_yield_counts_a_reflashed_failure_once_and_not_first_pass() {
        let (_d, mut s) = store();
        // a-001 passes; a-002 fails then passes on a re-flash; a unit fails before any device.
        for r in [
            result(Some("a-001"), true, None),
            result(Some("a-002"), false, Some("timeout")),
            result(Some("a-002"), true, None),
            result(None, false, Some("no_answer")),
            result(Some("a-003"), false, Some("timeout")),
        ] {
            s.record_shift_result(&r).expect("count");
        }
        let report = s.end_shift().expect("end");
        assert_eq!((report.passed, report.failed), (2, 3));
        assert_eq!((report.units_attempted, report.first_pass_passed), (4, 1));
        assert_eq!(report.first_pass_yield_percent, Some(25.0));
        assert_eq!(
            report.failed_by_reason,
            [
                ReasonCount {
                    reason: "timeout".into(),
                    count: 2
                },
                ReasonCount {
                    reason: "no_answer".into(),
                    count: 1
                }
            ]
        );
        assert_eq!(report.operators, ["ana"]);
        assert_eq!(s.shift_reports(10).expect("reports"), [report]);
    }

    #[test]
    fn a_second_start_and_an_end_without_a_shift_are_refused() {
        let (_d, mut s) = store();
        assert!(matches!(s.end_shift(), Err(CoreError::Conflict { .. })));
        s.start_shift("ana").expect("start");
        let e = s.start_shift("bo").expect_err("second start");
        assert!(e.to_string().contains("already running"), "{e}");
        s.note_shift_operator("bo").expect("sign-in");
        assert_eq!(s.end_shift().expect("end").operators, ["ana", "bo"]);
    }

    #[test]
    fn rates_and_yield_are_none_without_data() {
        assert_eq!(first_pass_yield(0, 0), None);
        assert_eq!(first_pass_yield(2, 3), Some(66.7));
        assert_eq!(units_per_hour(10, 30), None);
        assert_eq!(units_per_hour(10, 1800), Some(20.0));
    }
}
