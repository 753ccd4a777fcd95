//! The flasher: jobs on serial ports, for every face. Each job runs on its own thread with its
//! own database connection (the store's WAL, busy timeout and IMMEDIATE writes keep parallel
//! jobs from taking the same device or id); a port runs at most one job however often it is
//! asked; progress and results go to a [`Sink`] the face supplies.
//!
//! What every job does, whichever face started it, in this order: claim the port; resolve the
//! operator ([`crate::operator`]); lease ids before minting ([`crate::ids`]); plug in the
//! simulated unit on a `sim:` port; run the core's pipeline ([`station_core::flash`]); after a
//! verified flash, run the after-flash hooks ([`crate::hooks`]); count the result into the
//! shift; report it; free the port; then print the new device's label ([`crate::labels`]), so a
//! slow or absent printer never holds back the PASS or the port (a gang's labels in port order).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use station_core::driver::DriverSpec;
use station_core::flash::{self, FlashFailure, FlashOutcome, FlashStep, UnitReport};
use station_core::rotation::IssueOrder;
use station_core::shift::{ShiftCounters, ShiftResult};
use station_core::{CoreError, JobOutcome, Result, Store};

use crate::bench::{is_sim_port, SimBench, SimUnit};
use crate::drivers;
use crate::hooks::Hooks;
use crate::ids;
use crate::labels::{self, AfterPass};
use crate::links::{LinkOnPass, PortLinks, ScanLink};
use crate::operator;
use crate::pool::{CredentialPool, PoolStatus};
use crate::recent::RecentResults;
use crate::request::FlashRequest;
use crate::training::{self, Mode};

/// Where a running job reports. Called from the job's own thread.
pub trait Sink: Send + Sync {
    /// A step of job `job` on `port` began.
    fn progress(&self, job: u32, port: &str, step: FlashStep);
    /// The job ended.
    fn finished(&self, report: &JobReport);
    /// The shift's counters after the job was counted.
    fn shift(&self, shift: &ShiftCounters);
    /// What became of the label of device `device_id` after job `job` passed on `port`
    /// (reported after [`Sink::finished`]: a printer never holds back the PASS).
    fn label(&self, _job: u32, _port: &str, _device_id: &str, _label: &AfterPass) {}
}

/// A sink that ignores everything.
pub struct NoSink;

impl Sink for NoSink {
    fn progress(&self, _: u32, _: &str, _: FlashStep) {}
    fn finished(&self, _: &JobReport) {}
    fn shift(&self, _: &ShiftCounters) {}
}

/// A job that passed: what the core reports, and what the hooks said.
#[derive(Debug)]
pub struct Passed {
    pub outcome: FlashOutcome,
    /// The after-flash hook failed; the flash itself stands.
    pub hook_error: Option<String>,
    /// What became of the device's label ([`crate::labels`]): printed after the PASS was
    /// reported, so [`Sink::finished`] always sees [`AfterPass::Off`]; the returned report and
    /// [`Sink::label`] have the outcome.
    pub label: AfterPass,
}

/// How one job ended.
#[derive(Debug)]
pub struct JobReport {
    pub job_id: u32,
    pub port: String,
    pub elapsed_ms: u32,
    /// Ids for this job came from the station's offline range, and why.
    pub id_note: Option<String>,
    /// A unit serial scanned before the flash, linked (or refused) when it passed.
    pub unit_link: Option<LinkOnPass>,
    pub result: std::result::Result<Passed, FlashFailure>,
    /// Passed, failed, or did not start ([`JobOutcome::of_failure`]): what the faces show
    /// and the shift counts.
    pub outcome: JobOutcome,
}

/// A job the flasher accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub job_id: u32,
    pub port: String,
}

/// How the flasher's threads behave.
#[derive(Debug, Clone, Default)]
pub struct FlasherOptions {
    /// The operator named for this run (the CLI's `--operator`), above the signed-in one.
    pub operator: Option<String>,
    /// Training mode has a simulated bench (`sim:` ports, units in memory) and must run on a
    /// training database ([`crate::training`]); production refuses `sim:` ports.
    pub mode: Mode,
    /// Run a flashing thread that must hash its own credentials this much nicer than the
    /// process (Linux), so a window stays smooth while passwords are hashed. A job that finds a
    /// set ready in the pool hashes nothing and runs at the process's priority.
    pub thread_nice: Option<i32>,
    /// Keep a [`CredentialPool`] warm, so a flash takes a set made ahead instead of hashing:
    /// for faces that flash unit after unit (`station watch`, the app). A one-shot flash
    /// gains nothing from it.
    pub pool: bool,
    /// The device type whose driver reaches a unit when the job names no type (a re-flash or
    /// recovery without a device id, identify): needed for units that do not speak the
    /// station's protocol. Unset: the protocol.
    pub unit_type: Option<String>,
}

/// Starts jobs and remembers which ports are busy.
pub struct Flasher {
    db: PathBuf,
    options: FlasherOptions,
    bench: Option<SimBench>,
    busy: Arc<Mutex<HashSet<String>>>,
    next_job: AtomicU32,
    pool: Option<CredentialPool>,
    links: PortLinks,
    recent: RecentResults,
}

/// Frees the port when the job ends, however it ends.
pub struct PortClaim {
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
pub fn port_name(port: &str) -> Result<String> {
    let port = port.trim();
    if port.is_empty() {
        return Err(CoreError::invalid(
            "port",
            "no port was chosen",
            "pick a port, or type the path of one",
        ));
    }
    Ok(port.to_owned())
}

/// A port path a person typed (the OS does not list it), checked before it is offered: a
/// Windows `COMn`, or on Unix an absolute path to a device that exists now. Returns it trimmed.
pub fn typed_port_path(path: &str) -> Result<String> {
    let path = port_name(path)?;
    if path.chars().any(char::is_whitespace) {
        return Err(CoreError::invalid(
            "port",
            format!("'{path}' has a space in it, and no port's name does"),
            "type the port's path without spaces, e.g. /dev/ttyACM0 or COM7",
        ));
    }
    if is_sim_port(&path) {
        return Err(CoreError::invalid(
            "port",
            format!("{path} is a simulated port"),
            "pick the simulated port from the list instead of typing it",
        ));
    }
    let upper = path.to_ascii_uppercase();
    let com = upper
        .strip_prefix(r"\\.\")
        .unwrap_or(&upper)
        .strip_prefix("COM")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if cfg!(windows) {
        if com {
            return Ok(path);
        }
        return Err(CoreError::invalid(
            "port",
            format!("'{path}' is not a serial port's name"),
            "type the port as COM and its number, e.g. COM7 (the Device Manager lists them)",
        ));
    }
    if !path.starts_with('/') {
        return Err(CoreError::invalid(
            "port",
            format!("'{path}' is not a port's path"),
            "type the full path of the port, starting with /dev/, e.g. /dev/ttyACM0",
        ));
    }
    if !Path::new(&path).exists() {
        return Err(CoreError::invalid(
            "port",
            format!("there is no port {path} on this computer"),
            "check that the unit is plugged in and the path is right (ls /dev/tty* lists them)",
        ));
    }
    Ok(path)
}

/// The ports of a gang press: each named once.
pub fn port_names(ports: &[String]) -> Result<Vec<String>> {
    if ports.is_empty() {
        return Err(CoreError::invalid(
            "port",
            "no port was chosen",
            "pick at least one port",
        ));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(ports.len());
    for p in ports {
        let p = port_name(p)?;
        if !seen.insert(p.clone()) {
            return Err(CoreError::invalid(
                "port",
                format!("port {p} is named more than once"),
                "name each port once: one unit per port",
            ));
        }
        out.push(p);
    }
    Ok(out)
}

impl Flasher {
    pub fn new(db: impl Into<PathBuf>, options: FlasherOptions) -> Self {
        let db = db.into();
        let pool = options
            .pool
            .then(|| CredentialPool::start(&db, options.thread_nice))
            .and_then(|started| {
                // Without a pool every flash hashes its own set, as before: slower, not wrong.
                started
                    .map_err(|e| tracing::warn!(error = %e, "flashing without a credential pool"))
                    .ok()
            });
        Flasher {
            db,
            bench: options.mode.is_training().then(SimBench::new),
            options,
            busy: Arc::new(Mutex::new(HashSet::new())),
            next_job: AtomicU32::new(1),
            pool,
            links: PortLinks::default(),
            recent: RecentResults::default(),
        }
    }

    /// The credential pool's state; `None` when this flasher keeps none.
    pub fn pool_status(&self) -> Option<PoolStatus> {
        self.pool.as_ref().map(CredentialPool::status)
    }

    /// The simulated bench, in training mode.
    pub fn bench(&self) -> Option<&SimBench> {
        self.bench.as_ref()
    }

    /// The last results of each port (PASS, FAIL, not started), newest first.
    pub fn recent(&self) -> &RecentResults {
        &self.recent
    }

    /// The credential pool, when this flasher keeps one.
    pub fn pool(&self) -> Option<&CredentialPool> {
        self.pool.as_ref()
    }

    /// Units are coming on `ports` (a `watch`, a gang): warm the pool for them now.
    pub fn expect_ports(&self, ports: &[String]) {
        if let Some(pool) = &self.pool {
            pool.expect_ports(ports);
        }
    }

    pub fn db_path(&self) -> &Path {
        &self.db
    }

    /// The ports with a job running now, sorted.
    pub fn busy_ports(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .busy
            .lock()
            .map(|b| b.iter().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Claim `port` for one job; refused while another job runs there.
    pub fn claim(&self, port: &str) -> Result<PortClaim> {
        let mut busy = self
            .busy
            .lock()
            .map_err(|_| CoreError::Internal("the port table is poisoned".into()))?;
        if !busy.insert(port.to_owned()) {
            return Err(CoreError::Conflict {
                problem: format!("Port {port} is already flashing a unit."),
                fix: "wait for that flash to finish; its result shows on the port".into(),
            });
        }
        Ok(PortClaim {
            busy: Arc::clone(&self.busy),
            port: port.to_owned(),
        })
    }

    fn claim_all(&self, ports: &[String]) -> Result<Vec<PortClaim>> {
        ports.iter().map(|p| self.claim(p)).collect()
    }

    fn job_id(&self) -> u32 {
        self.next_job.fetch_add(1, Ordering::Relaxed)
    }

    /// The unit's own serial or MAC label was scanned on `port`: linked to the device just
    /// flashed there, or kept for the port's next pass ([`crate::links`]).
    pub fn scan_unit_label(&self, port: &str, serial: &str) -> Result<ScanLink> {
        let port = port_name(port)?;
        let mut store = Store::open(&self.db)?;
        let actor = operator::actor(&store, self.options.operator.as_deref())?;
        let busy = self.busy_ports().contains(&port);
        self.links.scan(&mut store, &port, serial, busy, &actor)
    }

    /// The scan waiting for the next pass on `port`, if any.
    pub fn waiting_scan(&self, port: &str) -> Option<String> {
        self.links.waiting(port)
    }

    /// Forget the scan waiting on `port`.
    pub fn clear_scan(&self, port: &str) -> Result<()> {
        self.links.clear(port)
    }

    /// Start `request` on `port` on a thread of its own. Returns at once; the job reports to
    /// `sink`.
    pub fn start(
        self: &Arc<Self>,
        port: &str,
        request: FlashRequest,
        sink: Arc<dyn Sink>,
    ) -> Result<Started> {
        let mut started = self.start_gang(&[port.to_owned()], request, sink)?;
        started
            .pop()
            .ok_or_else(|| CoreError::Internal("a job started on no port".into()))
    }

    /// Start `request` on every port at once (a gang press), each on a thread of its own;
    /// returns at once, the jobs report to `sink`. Everything that can be checked before a unit
    /// is touched is checked first ([`Flasher::preflight`]): a refusal starts no job at all.
    /// New devices are taken in the order of `ports` (port 1 gets the lowest id).
    pub fn start_gang(
        self: &Arc<Self>,
        ports: &[String],
        request: FlashRequest,
        sink: Arc<dyn Sink>,
    ) -> Result<Vec<Started>> {
        let ports = self.preflight(ports, &request)?;
        let claims = self.claim_all(&ports)?;
        let order = GangOrder::new(ports.len());
        let label_order = GangOrder::new(ports.len());
        let request = Arc::new(request);
        let mut started = Vec::with_capacity(ports.len());
        for (index, (port, claim)) in ports.into_iter().zip(claims).enumerate() {
            let job_id = self.job_id();
            let this = Arc::clone(self);
            let (request, sink) = (Arc::clone(&request), Arc::clone(&sink));
            let turn = order.as_ref().map(|o| o.turn(index));
            let label_turn = LabelTurn(label_order.as_ref().map(|o| o.turn(index)));
            let thread_port = port.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("flash {port}"))
                .spawn(move || {
                    this.job(
                        job_id,
                        &thread_port,
                        &request,
                        &*sink,
                        (turn, label_turn),
                        claim,
                    );
                });
            if let Err(e) = spawned {
                // The ports after it never start; the ones before run on (and take their turns).
                for order in [&order, &label_order].into_iter().flatten() {
                    order.give_up_from(index);
                }
                tracing::error!(error = %e, "cannot start a flashing thread");
                if started.is_empty() {
                    return Err(CoreError::Internal(format!(
                        "cannot start a flashing thread: {e}"
                    )));
                }
                break;
            }
            started.push(Started { job_id, port });
        }
        Ok(started)
    }

    /// What a gang press checks before any unit is touched, in this order: each port named
    /// once; someone is signed in when the lead requires it; the target exists and is valid (the prefix, the type, the batch); a batch has a
    /// device left for every port. Returns the ports, trimmed. A refusal here did not start:
    /// its error's [`CoreError::not_started`] names the control to fix.
    pub fn preflight(&self, ports: &[String], request: &FlashRequest) -> Result<Vec<String>> {
        let ports = port_names(ports)?;
        let store = Store::open(&self.db)?;
        // A flash that writes credentials needs an operator when the lead requires a sign-in.
        if request.writes_credentials() {
            operator::check_may_flash(&store, self.options.operator.as_deref())?;
        }
        match request {
            FlashRequest::NewDevice {
                device_type,
                prefix,
                ..
            } => {
                station_core::naming::validate_prefix(prefix)?;
                store.find_type(device_type)?;
            }
            FlashRequest::NextInBatch { batch_id, .. } => {
                let left = store.devices_left_in_batch(*batch_id)?;
                let wanted = ports.len() as u32;
                if left < wanted {
                    return Err(CoreError::BatchShort {
                        batch_id: *batch_id,
                        left,
                        wanted,
                    });
                }
            }
            FlashRequest::Reflash { .. } | FlashRequest::Recover => {}
        }
        Ok(ports)
    }

    /// Run `request` on every port at once (a gang press) and wait for all of them. The ports
    /// are checked (each named once, none busy) and the ids leased before any unit is touched.
    /// Reports come back in the order of `ports`, and also go to `sink`.
    pub fn run_ports(
        &self,
        ports: &[String],
        request: &FlashRequest,
        sink: &dyn Sink,
    ) -> Result<Vec<JobReport>> {
        let ports = self.preflight(ports, request)?;
        let claims = self.claim_all(&ports)?;
        let order = GangOrder::new(ports.len());
        let label_order = GangOrder::new(ports.len());
        if let Some((device_type, prefix)) = request.mints() {
            let mut store = Store::open(&self.db)?;
            let source = ids::prepare(&mut store, device_type, prefix, ports.len() as u32)?;
            if let Some(note) = ids::note(&source) {
                tracing::warn!("{note}");
            }
        }
        let reports = std::thread::scope(|scope| {
            let handles: Vec<_> = ports
                .iter()
                .zip(claims)
                .enumerate()
                .map(|(index, (port, claim))| {
                    let job_id = self.job_id();
                    let turn = order.as_ref().map(|o| o.turn(index));
                    let label_turn = LabelTurn(label_order.as_ref().map(|o| o.turn(index)));
                    scope.spawn(move || {
                        self.job(job_id, port, request, sink, (turn, label_turn), claim)
                    })
                })
                .collect();
            handles
                .into_iter()
                .zip(&ports)
                .map(|(h, port)| {
                    h.join().unwrap_or_else(|_| JobReport {
                        job_id: 0,
                        port: port.clone(),
                        elapsed_ms: 0,
                        id_note: None,
                        unit_link: None,
                        result: Err(FlashFailure {
                            device_id: None,
                            error: CoreError::Internal("a flashing thread panicked".into()),
                        }),
                        outcome: JobOutcome::Failed,
                    })
                })
                .collect()
        });
        Ok(reports)
    }

    /// Which device the unit on `port` holds: read, nothing written (unconfirmed flashes of it
    /// are settled on the way). Blocks for a few round trips.
    pub fn identify(&self, port: &str) -> std::result::Result<UnitReport, FlashFailure> {
        let port = port_name(port)?;
        let _claim = self.claim(&port)?;
        let mut store = Store::open(&self.db)?;
        let actor = operator::actor(&store, self.options.operator.as_deref())?;
        let sim = self.plug_in(&port, None, &store)?;
        let mut driver = match &sim {
            // Simulated units speak the station's protocol.
            Some(sim) => drivers::open(&DriverSpec::protocol(), sim.port_path())?,
            None => {
                let spec = flash::driver_for_job(
                    &store,
                    &station_core::flash::FlashJob::Recover,
                    self.options.unit_type.as_deref(),
                )?;
                drivers::open(&spec, &port)?
            }
        };
        flash::identify_with(&mut store, driver.as_mut(), &actor)
    }

    /// One job, start to end; never panics on a device or database failure: it reports it.
    fn run_job(
        &self,
        job_id: u32,
        port: &str,
        request: &FlashRequest,
        sink: &dyn Sink,
        turn: Option<GangTurn>,
    ) -> JobReport {
        let started = Instant::now();
        let mut id_note = None;
        let mut unit_written = false;
        let mut unit_link = None;
        let turn = turn.map(Arc::new);
        let _job = self.pool.as_ref().map(|pool| pool.job(port));
        // One connection for the job: the flash, then its count and its scan-to-link.
        let (result, mut store) = match Store::open(&self.db) {
            Ok(mut store) => {
                store.use_credential_source(self.pool.as_ref().map(CredentialPool::source));
                store.use_issue_order(turn.clone().map(|t| t as Arc<dyn IssueOrder>));
                let result = self.flash(&mut store, port, request, &mut id_note, &mut |step| {
                    unit_written |= writes_to_unit(step);
                    sink.progress(job_id, port, step)
                });
                (result, Some(store))
            }
            Err(e) => (Err(FlashFailure::from(e)), None),
        };
        // A job that ended before taking its device must not hold up the ports after it.
        if let Some(turn) = &turn {
            turn.taken();
        }
        let outcome = match &result {
            Ok(_) => JobOutcome::Passed,
            Err(f) => JobOutcome::of_failure(&f.error, unit_written),
        };
        // A job that did not start is not counted, and leaves the port's scan-to-link state as
        // it was (the same unit is still there). Without a database the job failed to open it,
        // and there is nothing to count into.
        if let (Some(store), true) = (
            store.as_mut(),
            request.writes_credentials() && outcome.shift_count().is_some(),
        ) {
            let actor = operator::actor(store, self.options.operator.as_deref());
            let operator = actor
                .as_ref()
                .map(|a| a.operator.clone())
                .unwrap_or_else(|_| operator::UNKNOWN_OPERATOR.into());
            count_into_shift(store, port, &result, &operator, sink);
            if let Ok(actor) = &actor {
                let passed = result
                    .as_ref()
                    .ok()
                    .map(|p| p.outcome.device.device_id.as_str());
                unit_link = self.links.job_ended(store, port, passed, actor);
            }
        }
        drop(store);
        let report = JobReport {
            job_id,
            port: port.to_owned(),
            elapsed_ms: started.elapsed().as_millis().min(u32::MAX as u128) as u32,
            id_note,
            unit_link,
            result,
            outcome,
        };
        if request.writes_credentials() {
            self.recent.record(&report);
        }
        report
    }

    fn flash(
        &self,
        store: &mut Store,
        port: &str,
        request: &FlashRequest,
        id_note: &mut Option<String>,
        progress: &mut dyn FnMut(FlashStep),
    ) -> std::result::Result<Passed, FlashFailure> {
        let actor = operator::actor(store, self.options.operator.as_deref())?;
        let hooks = if request.writes_credentials() {
            Hooks::from_store(store)?
        } else {
            Hooks::none()
        };
        if let Some((device_type, prefix)) = request.mints() {
            *id_note = ids::note(&ids::prepare(store, device_type, prefix, 1)?);
        }
        let sim = self.plug_in(port, Some(request), store)?;
        let job = request.job();
        let (spec, path) = match &sim {
            // Simulated units speak the station's protocol, whatever the type names.
            Some(sim) => (DriverSpec::protocol(), sim.port_path()),
            None => (
                flash::driver_for_job(store, &job, self.options.unit_type.as_deref())?,
                port,
            ),
        };
        progress(FlashStep::Connect);
        let mut driver = drivers::open(&spec, path)?;
        let outcome = flash::run_with(store, driver.as_mut(), &job, &actor, progress)?;
        drop(driver);
        // The unit is unplugged once the job is over.
        drop(sim);
        let hook_error = hooks.after_flash(&outcome.device, &actor).err();
        if let Some(e) = &hook_error {
            tracing::warn!(device_id = outcome.device.device_id, error = %e, "after-flash hook failed; the flash stands");
        }
        Ok(Passed {
            outcome,
            hook_error,
            label: AfterPass::Off,
        })
    }

    /// One job of a press, on its own thread: flash, report, free the port, then print the
    /// label (so a slow or absent printer never holds the port or the PASS).
    fn job(
        &self,
        job_id: u32,
        port: &str,
        request: &FlashRequest,
        sink: &dyn Sink,
        (turn, label_turn): (Option<GangTurn>, LabelTurn),
        claim: PortClaim,
    ) -> JobReport {
        self.lower_if_hashing();
        let mut report = self.run_job(job_id, port, request, sink, turn);
        sink.finished(&report);
        drop(claim);
        self.print_label(&mut report, request, sink, &label_turn);
        report
    }

    /// After a job was reported: print the label of the device it passed, when the request
    /// makes a new device and the settings ask for it; tell the sink, keep it in the report.
    /// In a gang the labels come out in port order (`turn`): the operator peels them off in
    /// the order the units sit in the fixture, so a label never lands on its neighbour's unit.
    fn print_label(
        &self,
        report: &mut JobReport,
        request: &FlashRequest,
        sink: &dyn Sink,
        turn: &LabelTurn,
    ) {
        let Ok(passed) = &mut report.result else {
            return;
        };
        if !request.prints_label() {
            return;
        }
        turn.wait();
        let device = &passed.outcome.device;
        passed.label = match Store::open(&self.db) {
            Ok(store) => labels::print_after_pass(&store, device),
            Err(e) => AfterPass::NotPrinted(format!("label not printed: {e}; {}", e.help())),
        };
        if passed.label != AfterPass::Off {
            sink.label(
                report.job_id,
                &report.port,
                &device.device_id,
                &passed.label,
            );
        }
    }

    /// Lower the calling job thread's priority when it will have to hash (no set is ready in the
    /// pool). A set taken by another job meanwhile costs one hash at normal priority: harmless.
    fn lower_if_hashing(&self) {
        let set_ready = self.pool_status().is_some_and(|s| s.ready > 0);
        if !set_ready {
            lower_thread_priority(self.options.thread_nice);
        }
    }

    /// The simulated unit a job on `port` needs, when `port` is a simulated one.
    fn plug_in(
        &self,
        port: &str,
        request: Option<&FlashRequest>,
        store: &Store,
    ) -> Result<Option<SimUnit>> {
        if !is_sim_port(port) {
            return Ok(None);
        }
        let Some(bench) = &self.bench else {
            return Err(training::simulated_needs_training(port));
        };
        if !store.is_training()? {
            // A training flasher on a production database: a face's mistake, never a record.
            return Err(CoreError::Internal(format!(
                "the simulated bench runs only on a training database, not {}",
                store.path().display()
            )));
        }
        let fault = store.app_settings()?.sim_fault;
        bench.plug_in(port, request, store, fault).map(Some)
    }
}

/// Hashing credentials (Argon2 at Django's parameters: 100 MB and most of a core, per port)
/// must not starve a window: a flashing thread (and the credential pool's) may ask to run
/// behind it. The serial protocol's timeouts are hundreds of milliseconds, far above what a
/// niced thread waits.
pub(crate) fn lower_thread_priority(nice: Option<i32>) {
    #[cfg(target_os = "linux")]
    if let Some(nice) = nice {
        // On Linux the nice value belongs to the thread, so only this thread is lowered.
        let tid = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
            tracing::debug!(error = %e, "cannot lower the thread's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

/// Count one flash into the shift (every face counts the same way) and tell the sink.
fn count_into_shift(
    store: &mut Store,
    port: &str,
    result: &std::result::Result<Passed, FlashFailure>,
    operator: &str,
    sink: &dyn Sink,
) {
    let (device_id, reason) = match result {
        Ok(p) => (Some(p.outcome.device.device_id.as_str()), None),
        Err(f) => (
            f.device_id.as_deref(),
            Some(
                f.error
                    .reason()
                    .map(|r| r.as_str())
                    .unwrap_or_else(|| f.error.code().as_str()),
            ),
        ),
    };
    let counted = ShiftResult {
        port,
        device_id,
        passed: result.is_ok(),
        reason,
        operator,
    };
    match store.record_shift_result(&counted) {
        Ok(shift) => sink.shift(&shift),
        Err(e) => tracing::warn!(error = %e, "cannot count the flash into the shift"),
    }
}

/// Whether a job that reached `step` had begun writing to its unit.
fn writes_to_unit(step: FlashStep) -> bool {
    matches!(
        step,
        FlashStep::Write { .. } | FlashStep::Verify | FlashStep::Record
    )
}

/// An order among the jobs of one gang press for one step: port `i` waits until every port
/// before it has done the step or ended. Taking a device (so port 1 gets the lowest id) and
/// printing a label (so labels come out in port order) each have one.
struct GangOrder {
    taken: Mutex<Vec<bool>>,
    changed: Condvar,
}

impl GangOrder {
    /// An order for `ports` jobs; none for a single port.
    fn new(ports: usize) -> Option<Arc<GangOrder>> {
        (ports > 1).then(|| {
            Arc::new(GangOrder {
                taken: Mutex::new(vec![false; ports]),
                changed: Condvar::new(),
            })
        })
    }

    fn turn(self: &Arc<Self>, index: usize) -> GangTurn {
        GangTurn {
            order: Arc::clone(self),
            index,
        }
    }

    /// Jobs from `index` on will never run: nobody waits for them.
    fn give_up_from(&self, index: usize) {
        let mut taken = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        taken.iter_mut().skip(index).for_each(|t| *t = true);
        self.changed.notify_all();
    }
}

/// One job's place in a [`GangOrder`].
struct GangTurn {
    order: Arc<GangOrder>,
    index: usize,
}

/// A job's turn to print its label; a job that prints none (it failed, or labels are off)
/// gives its turn up when it ends, however it ends, so later ports never wait for it.
struct LabelTurn(Option<GangTurn>);

impl LabelTurn {
    fn wait(&self) {
        if let Some(turn) = &self.0 {
            turn.wait_turn();
        }
    }
}

impl Drop for LabelTurn {
    fn drop(&mut self) {
        if let Some(turn) = &self.0 {
            turn.taken();
        }
    }
}

impl IssueOrder for GangTurn {
    fn wait_turn(&self) {
        let mut taken = self.order.taken.lock().unwrap_or_else(|e| e.into_inner());
        while taken[..self.index].iter().any(|t| !t) {
            taken = self
                .order
                .changed
                .wait(taken)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    fn taken(&self) {
        let mut taken = self.order.taken.lock().unwrap_or_else(|e| e.into_inner());
        taken[self.index] = true;
        self.order.changed.notify_all();
    }
}
