//! The last results of each port, for the Station screen's per-port list: PASS, FAIL and jobs
//! that did not start (those that never got a device too). Kept by the flasher in memory, so
//! they survive a screen switch; a restart starts empty (the records keep every flash; this is
//! the line's glance, not the history).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use station_core::{ErrorCode, FailReason, JobOutcome};

use crate::flasher::JobReport;

/// How many results each port keeps.
pub const RECENT_PER_PORT: usize = 5;

/// One job's result on a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RecentResult {
    pub job_id: u32,
    /// When the job ended, milliseconds since the Unix epoch (the face shows local time).
    pub finished_at_ms: i64,
    pub outcome: JobOutcome,
    /// The device the job wrote or meant to write; `None`: the job never got a device.
    pub device_id: Option<String>,
    /// Why it did not pass.
    pub code: Option<ErrorCode>,
    pub reason: Option<FailReason>,
    pub message: Option<String>,
}

impl RecentResult {
    pub fn of(report: &JobReport, finished_at_ms: i64) -> RecentResult {
        let (device_id, code, reason, message) = match &report.result {
            Ok(p) => (Some(p.outcome.device.device_id.clone()), None, None, None),
            Err(f) => (
                f.device_id.clone(),
                Some(f.error.code()),
                f.error.reason(),
                Some(f.error.to_string()),
            ),
        };
        RecentResult {
            job_id: report.job_id,
            finished_at_ms,
            outcome: report.outcome,
            device_id,
            code,
            reason,
            message,
        }
    }
}

/// The last [`RECENT_PER_PORT`] results of every port that ran a job.
#[derive(Debug, Default)]
pub struct RecentResults {
    by_port: Mutex<BTreeMap<String, VecDeque<RecentResult>>>,
}

impl RecentResults {
    /// Keep `report`'s result, newest first, forgetting the oldest past the limit.
    pub fn record(&self, report: &JobReport) {
        let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let entry = RecentResult::of(report, now_ms as i64);
        let mut by_port = self.by_port.lock().unwrap_or_else(|e| e.into_inner());
        let list = by_port.entry(report.port.clone()).or_default();
        list.push_front(entry);
        list.truncate(RECENT_PER_PORT);
    }

    /// Every port's results, newest first, ports in name order.
    pub fn all(&self) -> BTreeMap<String, Vec<RecentResult>> {
        let by_port = self.by_port.lock().unwrap_or_else(|e| e.into_inner());
        by_port
            .iter()
            .map(|(port, list)| (port.clone(), list.iter().cloned().collect()))
            .collect()
    }
}
