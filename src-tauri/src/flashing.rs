//! The app's face of the station's flasher (`station_service::Flasher`): requests from the UI
//! become the service's requests, and the service's reports become the events the window
//! receives. Nothing here decides how a flash runs: operator, id leasing, port claims, hooks
//! and shift counting are the service's, the same for the CLI.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use station_core::flash::FlashStep;
use station_core::shift::ShiftCounters;
use station_core::JobOutcome;
use station_service::labels::AfterPass;
use station_service::training::Mode;
use station_service::{FlasherOptions, JobReport};

use crate::dto::{FlashRequest, FlashStarted, Shift, UnitInfo};
use crate::error::{AppError, AppResult};
use crate::events::{FlashFinished, FlashProgress, FlashResult, LabelPrinted};

/// How much lower than the window a flashing thread that must hash runs (nice value, Linux):
/// hashing must not make the window stutter. A flash that takes a set from the credential pool
/// hashes nothing and runs beside the window (the service decides, per job).
const FLASH_THREAD_NICE: i32 = 10;

/// Where a running job's events go (the window, or a test's recorder).
pub trait Sink: Send + Sync + 'static {
    fn progress(&self, p: FlashProgress);
    fn finished(&self, f: FlashFinished);
    fn shift(&self, s: Shift);
    /// What became of a passed job's label (after its `finished`).
    fn label(&self, _l: LabelPrinted) {}
}

/// The shortest interval between two "write k of n" events of one job: the window draws
/// progress once per frame anyway, and eight ports sending every key's step cost it more in
/// messages than the bars show.
const WRITE_PROGRESS_INTERVAL: Duration = Duration::from_millis(50);

/// The service's sink for one job, speaking in the window's events.
struct Events {
    sink: Arc<dyn Sink>,
    /// When the last "write k of n" was sent.
    last_write: Mutex<Option<Instant>>,
}

impl Events {
    fn new(sink: Arc<dyn Sink>) -> Self {
        Events {
            sink,
            last_write: Mutex::new(None),
        }
    }

    /// Whether this step is worth a message: every step but the middle of the write, and of
    /// that at most one per interval (its first and last steps always).
    fn worth_sending(&self, step: FlashStep) -> bool {
        let FlashStep::Write { done, total } = step else {
            return true;
        };
        let Ok(mut last) = self.last_write.lock() else {
            return true;
        };
        let now = Instant::now();
        let due = done == 0
            || done >= total
            || last.is_none_or(|t| now.duration_since(t) >= WRITE_PROGRESS_INTERVAL);
        if due {
            *last = Some(now);
        }
        due
    }
}

impl station_service::Sink for Events {
    fn progress(&self, job: u32, port: &str, step: FlashStep) {
        if self.worth_sending(step) {
            self.sink.progress(FlashProgress::new(job, port, step));
        }
    }
    fn finished(&self, report: &JobReport) {
        self.sink.finished(finished(report));
    }
    fn shift(&self, shift: &ShiftCounters) {
        self.sink.shift(shift.clone().into());
    }
    fn label(&self, job: u32, port: &str, device_id: &str, label: &AfterPass) {
        self.sink.label(LabelPrinted {
            job_id: job,
            port: port.to_owned(),
            device_id: device_id.to_owned(),
            printed: label.printed(),
            error: label.error().map(str::to_owned),
        });
    }
}

/// A job's report as the window's event.
fn finished(r: &JobReport) -> FlashFinished {
    let result = match &r.result {
        Ok(p) => {
            let o = &p.outcome;
            FlashResult::Passed {
                device: Box::new(o.device.clone().into()),
                hardware_id: o.hardware_id.clone(),
                firmware_version: o.firmware_version.clone(),
                rotated: o.rotated,
                recovered: o.recovered.iter().map(|(id, _)| id.clone()).collect(),
                hook_error: p.hook_error.clone(),
                unit_link: r.unit_link.clone().map(Into::into),
            }
        }
        Err(f) => FlashResult::Failed {
            device_id: f.device_id.clone(),
            error: AppError {
                not_started: match r.outcome {
                    JobOutcome::NotStarted { control } => Some(control),
                    _ => None,
                },
                ..AppError::from(&f.error)
            },
        },
    };
    FlashFinished {
        job_id: r.job_id,
        port: r.port.clone(),
        elapsed_ms: r.elapsed_ms,
        result,
    }
}

impl From<FlashRequest> for station_service::FlashRequest {
    fn from(r: FlashRequest) -> Self {
        match r {
            FlashRequest::NewDevice {
                device_type,
                prefix,
            } => station_service::FlashRequest::NewDevice {
                device_type,
                prefix,
                overwrite_foreign: false,
            },
            FlashRequest::NextInBatch { batch_id } => station_service::FlashRequest::NextInBatch {
                batch_id,
                overwrite_foreign: false,
            },
            FlashRequest::Reflash {
                device_id,
                confirm_unbound,
            } => station_service::FlashRequest::Reflash {
                device_id: Some(device_id),
                confirm_unbound,
            },
        }
    }
}

/// The app's flasher: the service's, with niced threads (and in training, the simulated bench).
pub struct Flasher(Arc<station_service::Flasher>);

impl Flasher {
    /// `db`: the database of `mode` (`station_service::training::open`).
    pub fn new(db: PathBuf, mode: Mode) -> Self {
        Flasher(Arc::new(station_service::Flasher::new(
            db,
            FlasherOptions {
                operator: None,
                mode,
                thread_nice: Some(FLASH_THREAD_NICE),
                pool: true,
                unit_type: None,
            },
        )))
    }

    /// The service's flasher (tests read the simulated bench through it).
    pub fn service(&self) -> &station_service::Flasher {
        &self.0
    }

    /// The ports with a flash running now.
    pub fn busy_ports(&self) -> Vec<String> {
        self.0.busy_ports()
    }

    /// The credential pool: sets ready, and how many it keeps ready for the ports in use.
    pub fn pool_status(&self) -> Option<station_service::PoolStatus> {
        self.0.pool_status()
    }

    /// The ports about to be used: the pool makes sets ahead for each.
    pub fn expect_ports(&self, ports: &[String]) {
        self.0.expect_ports(ports);
    }

    /// The service's flasher, shared (for work off the window's thread).
    pub fn service_arc(&self) -> Arc<station_service::Flasher> {
        Arc::clone(&self.0)
    }

    /// Which device the unit on `port` holds. Blocks for a few round trips: call it off the
    /// window's thread.
    pub fn identify(&self, port: &str) -> AppResult<UnitInfo> {
        let port = station_service::flasher::port_name(port)?;
        let report = self
            .0
            .identify(&port)
            .map_err(|f| AppError::from(f.error))?;
        Ok(UnitInfo::new(port, report))
    }

    /// Start `request` on every port of a gang press, checked first (the service's preflight):
    /// a refusal starts nothing and names the control to fix. Returns at once.
    pub fn start_gang(
        &self,
        ports: &[String],
        request: FlashRequest,
        sink: Arc<dyn Sink>,
    ) -> AppResult<Vec<FlashStarted>> {
        let started = self
            .0
            .start_gang(ports, request.into(), Arc::new(Events::new(sink)))
            .map_err(|e| AppError::not_started(&e))?;
        Ok(started
            .into_iter()
            .map(|s| FlashStarted {
                job_id: s.job_id,
                port: s.port,
            })
            .collect())
    }

    /// Start flashing the unit on `port`. Returns at once; the job reports to `sink`.
    pub fn start(
        &self,
        port: &str,
        request: FlashRequest,
        sink: Arc<dyn Sink>,
    ) -> AppResult<FlashStarted> {
        let started = self
            .0
            .start(port, request.into(), Arc::new(Events::new(sink)))
            .map_err(|e| AppError::not_started(&e))?;
        Ok(FlashStarted {
            job_id: started.job_id,
            port: started.port,
        })
    }
}
