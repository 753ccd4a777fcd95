//! Running flashes off the UI's thread: one worker thread per job, each with its own database
//! connection (as the core's gang flashing does), progress and the result streamed to a
//! [`Sink`], and at most one job per port, however often the button is pressed.
//!
//! Nothing here knows Tauri: the app's sink emits events, the tests' sink records them.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use station_core::flash::{FlashJob, FlashOutcome};
use station_core::hooks::Hooks;
use station_core::{gang, Actor, CoreError, FlashTarget, Store};

use crate::dto::{FlashRequest, FlashStarted, Shift, UnitInfo};
use crate::error::{AppError, AppResult};
use crate::events::{FlashFinished, FlashProgress, FlashResult};
use crate::simulator::{is_sim_port, SimBench, SimFault};

/// Where a running job reports.
pub trait Sink: Send + Sync + 'static {
    fn progress(&self, p: FlashProgress);
    fn finished(&self, f: FlashFinished);
    fn shift(&self, s: Shift);
}

/// Starts flashes and remembers which ports are busy.
pub struct Flasher {
    db: PathBuf,
    bench: SimBench,
    busy: Arc<Mutex<HashSet<String>>>,
    next_job: AtomicU32,
}

/// Frees the port when the job ends, however it ends.
struct PortClaim {
    busy: Arc<Mutex<HashSet<String>>>,
    port: String,
}

impl Drop for PortClaim {
    fn drop(&mut self) {
        if let Ok(mut b) = self.busy.lock() {
            b.remove(&self.port);
        }
    }
}

/// The port as the person gave it, trimmed; an empty one is refused.
fn port_name(port: &str) -> AppResult<String> {
    let port = port.trim();
    if port.is_empty() {
        return Err(CoreError::invalid(
            "port",
            "no port was chosen",
            "pick a port, or type the path of one",
        )
        .into());
    }
    Ok(port.to_owned())
}

/// The person flashing, from the settings (the scanned badge), else the OS user.
pub fn actor(store: &Store) -> Result<Actor, CoreError> {
    let operator = store.app_settings()?.operator.trim().to_owned();
    let operator = if operator.is_empty() {
        std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "operator".into())
    } else {
        operator
    };
    Actor::new(operator, store.station_id()?)
}

fn job_for(request: &FlashRequest) -> FlashJob {
    match request {
        FlashRequest::NewDevice {
            device_type,
            prefix,
        } => FlashJob::Provision {
            target: FlashTarget::New {
                device_type: device_type.clone(),
                prefix: prefix.clone(),
            },
            overwrite_foreign: false,
        },
        FlashRequest::NextInBatch { batch_id } => FlashJob::Provision {
            target: FlashTarget::NextInBatch(*batch_id),
            overwrite_foreign: false,
        },
        FlashRequest::Reflash { device_id } => FlashJob::Reflash {
            expected_device_id: Some(device_id.clone()),
        },
    }
}

fn passed(o: FlashOutcome) -> FlashResult {
    FlashResult::Passed {
        device: Box::new(o.device.into()),
        hardware_id: o.hardware_id,
        firmware_version: o.firmware_version,
        rotated: o.rotated,
        recovered: o.recovered.into_iter().map(|(id, _)| id).collect(),
        hook_error: o.hook_error,
    }
}

impl Flasher {
    pub fn new(db: PathBuf, bench: SimBench) -> Self {
        Flasher {
            db,
            bench,
            busy: Arc::new(Mutex::new(HashSet::new())),
            next_job: AtomicU32::new(1),
        }
    }

    /// The ports with a flash running now.
    pub fn busy_ports(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .busy
            .lock()
            .map(|b| b.iter().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    fn claim(&self, port: &str) -> AppResult<PortClaim> {
        let mut busy = self
            .busy
            .lock()
            .map_err(|_| AppError::internal("the port table is poisoned"))?;
        if !busy.insert(port.to_owned()) {
            return Err(CoreError::Conflict {
                problem: format!("Port {port} is already flashing a unit."),
                fix: "wait for that flash to finish; its result shows on the port's tile".into(),
            }
            .into());
        }
        Ok(PortClaim {
            busy: Arc::clone(&self.busy),
            port: port.to_owned(),
        })
    }

    /// Which device the unit on `port` holds: read, nothing written (unconfirmed flashes of it
    /// are settled on the way). Blocks for a few round trips: call it off the window's thread.
    pub fn identify(&self, port: &str) -> AppResult<UnitInfo> {
        let port = port_name(port)?;
        let _claim = self.claim(&port)?;
        let mut store = Store::open(&self.db)?;
        let actor = actor(&store)?;
        let sim = if is_sim_port(&port) {
            let fault = SimFault::parse(&store.app_settings()?.sim_fault);
            Some(self.bench.plug_in(&port, None, &store, fault)?)
        } else {
            None
        };
        let path = sim.as_ref().map_or(port.as_str(), |s| s.port_path());
        let report =
            gang::identify_port(&mut store, path, &actor).map_err(|f| AppError::from(f.error))?;
        Ok(UnitInfo::new(port, report))
    }

    /// Start flashing the unit on `port`. Returns at once; the job reports to `sink`.
    pub fn start(
        &self,
        port: &str,
        request: FlashRequest,
        sink: Arc<dyn Sink>,
    ) -> AppResult<FlashStarted> {
        let port = port_name(port)?;
        let claim = self.claim(&port)?;
        let job_id = self.next_job.fetch_add(1, Ordering::Relaxed);
        let db = self.db.clone();
        let bench = self.bench.clone();
        let thread_port = port.clone();
        std::thread::Builder::new()
            .name(format!("flash {port}"))
            .spawn(move || {
                let _claim = claim;
                yield_to_the_window();
                let started = Instant::now();
                let (result, shift) = run_job(&db, &bench, job_id, &thread_port, &request, &*sink);
                sink.finished(FlashFinished {
                    job_id,
                    port: thread_port,
                    elapsed_ms: started.elapsed().as_millis().min(u32::MAX as u128) as u32,
                    result,
                });
                if let Some(shift) = shift {
                    sink.shift(shift);
                }
            })
            .map_err(|e| AppError::internal(format!("cannot start a flashing thread: {e}")))?;
        Ok(FlashStarted { job_id, port })
    }
}

/// How much lower than the window a flashing thread runs (nice value, Linux).
#[cfg(target_os = "linux")]
const FLASH_THREAD_NICE: i32 = 10;

/// Hashing credentials (Argon2 at Django's parameters: 100 MB and most of a core, per port)
/// must not starve the window: the flashing thread asks to run behind it. The serial
/// protocol's timeouts are hundreds of milliseconds, far above what a niced thread waits.
fn yield_to_the_window() {
    #[cfg(target_os = "linux")]
    {
        // On Linux the nice value belongs to the thread, so only this thread is lowered.
        let tid = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(tid), FLASH_THREAD_NICE) {
            tracing::debug!(error = %e, "cannot lower the flashing thread's priority");
        }
    }
}

/// One job, start to end; never panics on a device or database failure, it reports it.
fn run_job(
    db: &std::path::Path,
    bench: &SimBench,
    job_id: u32,
    port: &str,
    request: &FlashRequest,
    sink: &dyn Sink,
) -> (FlashResult, Option<Shift>) {
    let failed =
        |device_id: Option<String>, error: AppError| FlashResult::Failed { device_id, error };
    let mut store = match Store::open(db) {
        Ok(s) => s,
        Err(e) => return (failed(None, e.into()), None),
    };
    let result = (|| -> Result<FlashOutcome, JobError> {
        let actor = actor(&store)?;
        let hooks = Hooks::from_store(&store)?;
        let job = job_for(request);
        let sim = if is_sim_port(port) {
            let fault = SimFault::parse(&store.app_settings()?.sim_fault);
            Some(bench.plug_in(port, Some(request), &store, fault)?)
        } else {
            None
        };
        let path = sim.as_ref().map_or(port, |s| s.port_path()).to_owned();
        let outcome = gang::flash_port(&mut store, &path, &job, &actor, &hooks, &mut |step| {
            sink.progress(FlashProgress::new(job_id, port, step))
        });
        // The unit is unplugged once the job is over.
        drop(sim);
        outcome.map_err(|f| JobError {
            device_id: f.device_id,
            error: f.error.into(),
        })
    })();
    let result = match result {
        Ok(o) => passed(o),
        Err(e) => failed(e.device_id, e.error),
    };
    let pass = matches!(result, FlashResult::Passed { .. });
    let shift = match store.record_shift_result(pass) {
        Ok(c) => Some(c.into()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot count the flash into the shift");
            None
        }
    };
    (result, shift)
}

/// A job's failure: the error and, when one was involved, the device.
struct JobError {
    device_id: Option<String>,
    error: AppError,
}

impl From<CoreError> for JobError {
    fn from(e: CoreError) -> Self {
        JobError {
            device_id: None,
            error: e.into(),
        }
    }
}

impl From<AppError> for JobError {
    fn from(error: AppError) -> Self {
        JobError {
            device_id: None,
            error,
        }
    }
}
