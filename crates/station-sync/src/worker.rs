//! Draining the outbox: batches of records to the receiver, acknowledgements settled in the
//! station database, temporary failures retried with exponential backoff and jitter, permanent
//! refusals kept with the server's reason for a person. Everything the worker knows is in the
//! database (outbox rows carry their attempt count and next retry time), so a restart — or a
//! kill in the middle of a request — loses nothing: a batch the server applied but the station
//! never heard back about is sent again and answered `unchanged`.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;
use station_core::store::outbox::{timestamp, Ack, OutboxRecord, Reject};
use station_core::store::sync_config::runtime_key;
use station_core::Store;

use crate::api::{Outcome, PushResponse};
use crate::client::Client;
use crate::config::{SyncConfig, MAX_BATCH_SIZE};
use crate::error::{Result, SyncError};

/// First retry delay; each further failure doubles it, up to [`BACKOFF_CAP`].
pub const BACKOFF_BASE: Duration = Duration::from_secs(2);
pub const BACKOFF_CAP: Duration = Duration::from_secs(600);
/// How often an idle worker looks again (new records also wake it at once: [`Worker::wake`]).
pub const IDLE_INTERVAL: Duration = Duration::from_secs(60);

/// The delay before retry number `attempt` (1 = first retry): exponential with "equal jitter"
/// (half fixed, half random), so stations that failed together do not retry together.
pub fn backoff_delay(attempt: u32, random: u64) -> Duration {
    let steps = attempt.saturating_sub(1).min(20);
    let full = BACKOFF_BASE.saturating_mul(1u32 << steps).min(BACKOFF_CAP);
    let half = full / 2;
    let spread = half.as_millis() as u64 + 1;
    half + Duration::from_millis(random % spread)
}

fn random_u64() -> u64 {
    getrandom::u64().unwrap_or(0x5eed_5eed)
}

/// Why a push stopped early.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub code: String,
    pub message: String,
    pub help: String,
    pub temporary: bool,
    /// When the deferred records will be tried again.
    pub retry_at: Option<String>,
}

impl Failure {
    fn from(e: &SyncError, retry_at: Option<String>) -> Failure {
        Failure {
            code: e.code().into(),
            message: e.to_string(),
            help: e.help(),
            temporary: e.is_temporary(),
            retry_at,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PushReport {
    pub batches: u32,
    /// Records sent (one per device; several queued changes of a device go as one).
    pub sent: u64,
    pub acknowledged: u64,
    pub rejected: u64,
    /// Queued changes still pending afterwards.
    pub remaining: u64,
    /// The batch size in use at the end (halved when the server said a batch was too large).
    pub batch_size: usize,
    pub error: Option<Failure>,
}

#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Leave records whose retry time has not come (the background worker); a person's
    /// `station sync run` sends everything now.
    pub due_only: bool,
    pub batch_size: usize,
    pub max_batches: Option<u32>,
}

impl PushOptions {
    pub fn from_config(config: &SyncConfig) -> PushOptions {
        PushOptions {
            due_only: false,
            batch_size: config.batch_size,
            max_batches: None,
        }
    }
}

/// Match the answer to the batch: acknowledgements, refusals, and records it did not answer.
fn settle_plan(batch: &[OutboxRecord], response: &PushResponse) -> Result<(Vec<Ack>, Vec<Reject>)> {
    if response.results.len() != batch.len() {
        return Err(SyncError::Protocol(format!(
            "{} results for {} records",
            response.results.len(),
            batch.len()
        )));
    }
    let mut acks = Vec::new();
    let mut rejects = Vec::new();
    for (record, result) in batch.iter().zip(&response.results) {
        if result.device_id.as_deref() != Some(record.device_id.as_str())
            || result.revision != Some(record.revision)
        {
            return Err(SyncError::Protocol(format!(
                "the result for {} does not match the record sent",
                record.device_id
            )));
        }
        if result.outcome.is_acknowledged() {
            acks.push(Ack {
                device_pk: record.device_pk,
                revision: record.revision,
                generation: record.generation,
            });
        } else {
            let kind = match result.outcome {
                Outcome::Conflict => "conflict",
                _ => "invalid",
            };
            rejects.push(Reject {
                device_pk: record.device_pk,
                revision: record.revision,
                reason: format!(
                    "{kind}: {}",
                    result.reason.as_deref().unwrap_or("no reason given")
                ),
            });
        }
    }
    Ok((acks, rejects))
}

fn defer(store: &mut Store, batch: &[OutboxRecord], e: &SyncError) -> Result<String> {
    let attempt = batch.iter().map(|r| r.attempts).max().unwrap_or(0) + 1;
    let at = time::OffsetDateTime::now_utc()
        + time::Duration::try_from(backoff_delay(attempt, random_u64()))
            .unwrap_or(time::Duration::seconds(2));
    let keys: Vec<(i64, i64)> = batch.iter().map(|r| (r.device_pk, r.revision)).collect();
    store.outbox_defer(&keys, at, &e.to_string())?;
    // What failed for this batch would fail for the rest: they wait as long.
    store.outbox_hold_until(at)?;
    Ok(timestamp(at))
}

/// Remember the last failure, in words and as its stable code (which tells the station being
/// offline apart from the server refusing it: [`crate::status::Health`]).
fn note_error(store: &mut Store, e: &SyncError) {
    note(
        store,
        &[
            (runtime_key::LAST_ERROR, Some(&e.to_string())),
            (runtime_key::LAST_ERROR_CODE, Some(e.code())),
        ],
    );
}

fn note(store: &mut Store, entries: &[(&str, Option<&str>)]) {
    if let Err(e) = store.set_sync_runtime(entries) {
        tracing::warn!(error = %e, "could not record the sync state");
    }
}

/// Send pending records until the outbox is empty, a temporary failure stops it, or
/// `max_batches` is reached. Only database errors are returned as `Err`; a server or network
/// failure is in the report (and in `station sync status`).
pub fn push_outbox(store: &mut Store, client: &Client, opts: &PushOptions) -> Result<PushReport> {
    let mut report = PushReport {
        batch_size: opts.batch_size.clamp(1, MAX_BATCH_SIZE),
        ..PushReport::default()
    };
    loop {
        if opts.max_batches.is_some_and(|m| report.batches >= m) {
            break;
        }
        let batch = store.outbox_next_batch(report.batch_size, opts.due_only)?;
        if batch.is_empty() {
            break;
        }
        let ts = station_core::store::now();
        note(store, &[(runtime_key::LAST_ATTEMPT_AT, Some(&ts))]);
        let outcome = client
            .push(&batch)
            .and_then(|response| settle_plan(&batch, &response));
        match outcome {
            Ok((acks, rejects)) => {
                store.outbox_settle(&acks, &rejects)?;
                report.batches += 1;
                report.sent += batch.len() as u64;
                report.acknowledged += acks.len() as u64;
                report.rejected += rejects.len() as u64;
                for r in &rejects {
                    tracing::warn!(reason = %r.reason, "the server refused a record");
                }
                let ts = station_core::store::now();
                note(
                    store,
                    &[
                        (runtime_key::LAST_SUCCESS_AT, Some(&ts)),
                        (runtime_key::LAST_ERROR, None),
                        (runtime_key::LAST_ERROR_CODE, None),
                    ],
                );
            }
            Err(SyncError::Server { status: 413, .. }) if report.batch_size > 1 => {
                report.batch_size = (report.batch_size / 2).max(1);
                tracing::info!(batch_size = report.batch_size, "batch too large: halved");
            }
            Err(e @ SyncError::Server { status: 400, .. }) => {
                // The server cannot read this batch at all: retrying it unchanged cannot help.
                let rejects: Vec<Reject> = batch
                    .iter()
                    .map(|r| Reject {
                        device_pk: r.device_pk,
                        revision: r.revision,
                        reason: e.to_string(),
                    })
                    .collect();
                store.outbox_settle(&[], &rejects)?;
                report.batches += 1;
                report.sent += batch.len() as u64;
                report.rejected += rejects.len() as u64;
                note_error(store, &e);
            }
            Err(SyncError::Store(e)) => return Err(SyncError::Store(e)),
            Err(e) => {
                // Temporary (network, timeout, 5xx) or a station-level problem (token, URL):
                // the records are fine, so they stay pending and are tried again later.
                let retry_at = defer(store, &batch, &e)?;
                tracing::warn!(error = %e, retry_at, "sync deferred");
                note_error(store, &e);
                report.error = Some(Failure::from(&e, Some(retry_at)));
                break;
            }
        }
    }
    report.remaining = store.outbox_counts()?.pending;
    Ok(report)
}

/// What one full sync did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    pub station: Option<crate::api::StationInfo>,
    pub catalog: Option<crate::catalog::CatalogReport>,
    pub push: PushReport,
    pub leases_added: u32,
    pub statuses_updated: u32,
    /// Problems with the optional steps (catalog, leases, status); the push's own is in `push`.
    pub notes: Vec<String>,
}

/// Everything `station sync run` does: check the station with the server, pull the type
/// catalog, push the outbox (everything, due or not), top up id leases, refresh device status.
pub fn run_once(store: &mut Store, config: &SyncConfig) -> Result<RunReport> {
    let client = Client::new(config)?;
    let mut report = RunReport::default();
    match client.station() {
        Ok(info) => {
            if info.station.number != config.token.station_number() {
                return Err(SyncError::Config {
                    field: "token",
                    problem: format!(
                        "the server says this token belongs to station #{}, the token says #{}",
                        info.station.number,
                        config.token.station_number()
                    ),
                    fix: "set a token issued by this server".into(),
                });
            }
            let who = format!("{} #{}", info.station.name, info.station.number);
            note(store, &[(runtime_key::SERVER_STATION, Some(&who))]);
            let gate = crate::seal::check_unchanged(store, &info);
            report.station = Some(info);
            if let Err(e) = gate {
                return stopped(store, config, report, &e);
            }
        }
        Err(SyncError::Store(e)) => return Err(e.into()),
        // Unreachable or refused: nothing else can work; record it like a failed push.
        Err(e) => return stopped(store, config, report, &e),
    }
    match crate::catalog::pull(store, &client) {
        Ok(c) => report.catalog = Some(c),
        Err(e) => report.notes.push(format!("type catalog: {e}")),
    }
    report.push = push_outbox(store, &client, &PushOptions::from_config(config))?;
    if report.push.error.is_none() {
        after_push(store, &client, &mut report);
    }
    Ok(report)
}

/// A sync that could not push at all: the failure is recorded like a failed push.
fn stopped(
    store: &mut Store,
    config: &SyncConfig,
    mut report: RunReport,
    e: &SyncError,
) -> Result<RunReport> {
    note_error(store, e);
    report.push = PushReport {
        batch_size: config.batch_size,
        remaining: store.outbox_counts()?.pending,
        error: Some(Failure::from(e, None)),
        ..PushReport::default()
    };
    Ok(report)
}

/// Before the background worker pushes: the server must still hold the key this station
/// seals api keys to (`crate::seal::check_unchanged`).
fn seal_key_gate(store: &mut Store, client: &Client) -> Result<()> {
    if store.outbox_counts()?.pending == 0 {
        return Ok(());
    }
    let info = client.station()?;
    crate::seal::check_unchanged(store, &info)
}

fn after_push(store: &mut Store, client: &Client, report: &mut RunReport) {
    match crate::ids::top_up(store, client) {
        Ok(n) => report.leases_added = n,
        Err(e) => report.notes.push(format!("id leases: {e}")),
    }
    match crate::status::refresh_device_status(store, client) {
        Ok(n) => report.statuses_updated = n,
        Err(e) => report.notes.push(format!("device status: {e}")),
    }
}

enum Signal {
    Wake,
    Stop,
}

/// The background worker of the desktop app (or any long-running station process): a thread
/// that opens the station database, syncs, and sleeps until the next retry, the idle interval
/// or a [`Worker::wake`]. Sync turned off: it just waits.
pub struct Worker {
    tx: mpsc::Sender<Signal>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    pub fn spawn(db_path: PathBuf) -> Worker {
        Worker::spawn_with(db_path, IDLE_INTERVAL)
    }

    pub fn spawn_with(db_path: PathBuf, idle: Duration) -> Worker {
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("station-sync".into())
            .spawn(move || worker_loop(db_path, idle, rx))
            .ok();
        if handle.is_none() {
            tracing::error!("could not start the sync worker thread");
        }
        Worker { tx, handle }
    }

    /// Look at the outbox now (call after a flash, a rotation or a deactivation).
    pub fn wake(&self) {
        let _ = self.tx.send(Signal::Wake);
    }

    /// Stop after the current request and wait for the thread.
    pub fn stop(mut self) {
        let _ = self.tx.send(Signal::Stop);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.tx.send(Signal::Stop);
    }
}

fn worker_loop(db_path: PathBuf, idle: Duration, rx: mpsc::Receiver<Signal>) {
    let mut first = true;
    loop {
        let wait = match Store::open(&db_path) {
            Ok(mut store) => {
                if let Err(e) = crate::credential_store::retire_database_token(&mut store) {
                    tracing::warn!(error = %e, "the station token left in the database");
                }
                worker_cycle(&mut store, first, idle)
            }
            Err(e) => {
                tracing::warn!(error = %e, "sync worker cannot open the station database");
                idle
            }
        };
        first = false;
        match rx.recv_timeout(wait) {
            Ok(Signal::Wake) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(Signal::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
}

/// One cycle of the background worker; returns how long to sleep.
fn worker_cycle(store: &mut Store, first: bool, idle: Duration) -> Duration {
    let config = match SyncConfig::load(store) {
        Ok(Some(c)) => c,
        Ok(None) => return idle,
        Err(e) => {
            tracing::warn!(error = %e, "sync configuration");
            return idle;
        }
    };
    let client = match Client::new(&config) {
        Ok(c) => c,
        Err(e) => {
            note_error(store, &e);
            return idle;
        }
    };
    if first {
        if let Err(e) = crate::catalog::pull(store, &client) {
            tracing::info!(error = %e, "type catalog not pulled");
        }
    }
    if let Err(e) = seal_key_gate(store, &client) {
        tracing::warn!(error = %e, "sync worker: not pushing");
        note_error(store, &e);
        if !e.is_temporary() {
            return idle;
        }
        // The server cannot be reached: the due records wait their backoff, as a failed push's.
        let ts = station_core::store::now();
        note(store, &[(runtime_key::LAST_ATTEMPT_AT, Some(&ts))]);
        match store.outbox_next_batch(config.batch_size, true) {
            Ok(batch) if !batch.is_empty() => {
                if let Err(e) = defer(store, &batch, &e) {
                    tracing::warn!(error = %e, "sync worker");
                }
            }
            _ => {}
        }
        return next_wait(store, idle);
    }
    let opts = PushOptions {
        due_only: true,
        ..PushOptions::from_config(&config)
    };
    let push = match push_outbox(store, &client, &opts) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "sync worker");
            return BACKOFF_BASE;
        }
    };
    if push.error.is_none() {
        let mut report = RunReport::default();
        after_push(store, &client, &mut report);
    }
    next_wait(store, idle)
}

/// Until the earliest scheduled retry, or the idle interval.
fn next_wait(store: &Store, idle: Duration) -> Duration {
    let Ok(counts) = store.outbox_counts() else {
        return idle;
    };
    if counts.due > 0 {
        return Duration::from_millis(100);
    }
    let Some(next) = counts.next_attempt_at.as_deref().and_then(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
    }) else {
        return idle;
    };
    let secs = (next - time::OffsetDateTime::now_utc()).whole_milliseconds();
    Duration::from_millis(secs.clamp(0, idle.as_millis() as i128) as u64)
        .max(Duration::from_millis(100))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        for attempt in 1..30 {
            let full = BACKOFF_BASE
                .saturating_mul(1u32 << (attempt - 1).min(20))
                .min(BACKOFF_CAP);
            let lo = backoff_delay(attempt, 0);
            let hi = backoff_delay(attempt, u64::MAX - 1);
            assert_eq!(lo, full / 2, "attempt {attempt}");
            assert!(hi <= full && hi >= lo, "attempt {attempt}: {hi:?}");
        }
        assert_eq!(backoff_delay(1, 0), Duration::from_secs(1));
        assert_eq!(backoff_delay(30, 0), BACKOFF_CAP / 2);
        assert_ne!(backoff_delay(5, 1), backoff_delay(5, 7_777));
    }
}
