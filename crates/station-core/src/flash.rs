//! Provision-and-flash and rotate-and-re-flash: the pipeline that gets credentials into a
//! unit over its serial port and keeps the unit, the station's record and (through the outbox)
//! the server in agreement whatever fails.
//!
//! The order is what makes it safe: the unit is identified first (and any earlier flash left
//! unresolved on it is settled from what it reports); credentials are issued as a *pending*
//! generation (hash only on disk); just before the write, the link moves to a faster rate when
//! the unit offers `BAUD` (a failed switch falls back to 115200 and is never a failed flash,
//! spec §10.1); they are staged and committed with a digest and the unit's
//! hardware id, so the unit refuses a corrupted write or a swapped unit; only when the unit
//! confirms does the record become current and get queued for the server, in one transaction.
//! A commit whose outcome is unknown stays pending until the unit is asked again.
//!
//! [`run`] is those phases in order, each a short function: [`contact`] (identify and settle),
//! `choose_target` (refuse a unit that is not free or not the one meant), `begin` (the pending
//! generation), `write` (stage and commit), `settle_commit` (confirm, drop or keep pending from
//! what the unit answered) and `finish` (the outcome). The after-flash hooks are not run here:
//! the service layer (`station-service`) runs them once the outcome is known. The pending
//! generation is guarded in one place,
//! the store's `confirm_flash`/`resolve_pending`; a unit that confirmed a commit the station then
//! fails to record is reported as such ([`CoreError::NotRecorded`]), never as "nothing changed".

use std::time::Instant;

use serde::Serialize;
use station_protocol::{spec, ClientStats, DeviceConfig, Identity, ProtocolError, Transport};

use crate::credentials::IssuedCredentials;
use crate::devices::{Actor, Device};
use crate::driver::{
    DriverError, DriverKind, ProtocolDriver, UnitDriver, Verification, WriteProgress,
};
use crate::error::{CoreError, Result};
use crate::outcome::FailReason;
use crate::rotation::{FlashTarget, Resolution};
use crate::store::Store;

/// The steps an operator sees, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum FlashStep {
    /// Opening the port.
    Connect,
    /// Asking the unit who it is.
    Identify,
    /// Sending settings: `done` of `total` keys.
    Write { done: u32, total: u32 },
    /// Checking that the unit kept what was sent.
    Verify,
    /// Recording the result.
    Record,
}

impl FlashStep {
    /// Fraction of the whole job done when this step starts, for a progress bar.
    pub fn fraction(self) -> f32 {
        match self {
            FlashStep::Connect => 0.0,
            FlashStep::Identify => 0.05,
            FlashStep::Write { done, total } => 0.1 + 0.75 * done as f32 / total.max(1) as f32,
            FlashStep::Verify => 0.88,
            FlashStep::Record => 0.95,
        }
    }
}

/// What to flash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlashJob {
    /// Provision a new device into a unit that holds no identity.
    Provision {
        target: FlashTarget,
        /// Also overwrite a unit that holds an identity this station does not know.
        overwrite_foreign: bool,
    },
    /// Rotate the credentials of the device the unit holds and write them.
    Reflash {
        /// The device the technician means; the unit must hold exactly this one.
        expected_device_id: Option<String>,
        /// The operator confirmed re-flashing a device that has no bound unit, should the unit
        /// be unable to prove possession (protocol §10.3). Auto-flash never sets it.
        confirm_unbound: bool,
    },
    /// Only settle earlier, unconfirmed flashes from what the unit reports.
    Recover,
}

/// A flash that passed.
#[derive(Debug, Clone, Serialize)]
pub struct FlashOutcome {
    pub device: Device,
    pub hardware_id: String,
    pub firmware_version: String,
    /// True when an existing device's credentials were rotated.
    pub rotated: bool,
    /// The unit had come back blank, and it is the unit this station had flashed the device
    /// into: it got that device back, with a new generation (`choose_target`).
    pub restored: bool,
    /// Earlier unconfirmed flashes settled on the way, `(device id, what became of it)`.
    pub recovered: Vec<(String, Resolution)>,
    /// The line speed the write ran at (115200 unless the unit took a faster one, spec §10.1).
    pub link_baud: u32,
    /// The unit lists none of version 1.1's capabilities (spec §10): a protocol 1.0 unit,
    /// always written at 115200 in chunks for 200-byte frames.
    pub protocol_1_0_unit: bool,
    /// The driver that reached the unit.
    pub driver: DriverKind,
    /// What the driver proved about the write (`None` for a recovery, which writes nothing).
    pub verification: Option<Verification>,
    #[serde(skip)]
    pub stats: ClientStats,
    pub elapsed_ms: u64,
}

/// A flash that failed: the reason for the operator and, when one was involved, the device.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct FlashFailure {
    pub device_id: Option<String>,
    pub error: CoreError,
}

impl FlashFailure {
    fn new(device_id: Option<String>, error: CoreError) -> Self {
        FlashFailure { device_id, error }
    }
}

impl From<CoreError> for FlashFailure {
    fn from(error: CoreError) -> Self {
        FlashFailure::new(None, error)
    }
}

/// The machine-readable reason of a protocol failure (stable: the UI maps it to words).
pub fn protocol_reason(e: &ProtocolError) -> FailReason {
    FailReason::of_protocol(e)
}

/// A protocol failure as the station's error: the operator's words and a typed reason, whose
/// action is the next step.
pub fn device_error(e: &ProtocolError) -> CoreError {
    CoreError::Device {
        message: e.operator_message(),
        reason: FailReason::of_protocol(e),
    }
}

/// A driver failure as the station's error, in the driver's own words.
pub fn driver_error(e: &DriverError) -> CoreError {
    e.to_core()
}

fn refused(reason: FailReason, message: String) -> CoreError {
    CoreError::Device { message, reason }
}

/// The config written for `creds`, from its device type.
fn device_config(store: &Store, creds: &IssuedCredentials) -> Result<DeviceConfig> {
    let device = store.find_device(&creds.device_id)?;
    let ty = store.device_type_of(&device)?;
    let topics = ty.topics(&device.device_id);
    Ok(DeviceConfig {
        device_id: device.device_id,
        mqtt_username: creds.mqtt_username.clone(),
        mqtt_password: creds.mqtt_password.to_zeroizing(),
        api_key: creds.api_key.to_zeroizing(),
        broker_host: ty.broker_host,
        broker_port: ty.broker_port,
        broker_tls: ty.broker_tls,
        topic_data: topics.data,
        topic_status: topics.status,
        topic_cmd: topics.cmd,
        generation: creds.generation,
    })
}

/// Which driver reaches the unit of `job`: the one its device type names. A job that names no
/// type (a re-flash or recovery without a device id) uses `fallback`, the type the face was
/// told about, else the station's protocol. Unknown devices and types fall back too: the flow
/// refuses them itself, with its own words.
pub fn driver_for_job(
    store: &Store,
    job: &FlashJob,
    fallback: Option<&str>,
) -> Result<crate::driver::DriverSpec> {
    use crate::driver::DriverSpec;
    let type_name = match job {
        FlashJob::Provision { target, .. } => match target {
            FlashTarget::New { device_type, .. } => Some(device_type.clone()),
            FlashTarget::NextInBatch(id) => Some(store.find_batch(*id)?.batch.device_type),
            FlashTarget::Device(id) => known_device_type(store, id)?,
        },
        FlashJob::Reflash {
            expected_device_id: Some(id),
            ..
        } => known_device_type(store, id)?,
        FlashJob::Reflash { .. } | FlashJob::Recover => None,
    };
    let Some(name) = type_name.or_else(|| fallback.map(str::to_owned)) else {
        return Ok(DriverSpec::protocol());
    };
    match store.find_type(&name) {
        Ok(ty) => Ok(ty.driver),
        Err(CoreError::UnknownType { .. }) => Ok(DriverSpec::protocol()),
        Err(e) => Err(e),
    }
}

fn known_device_type(store: &Store, device_id: &str) -> Result<Option<String>> {
    match store.find_device(device_id) {
        Ok(d) => Ok(Some(d.device_type)),
        Err(CoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Settle every unconfirmed flash that was written to this unit, from what it reports holding.
/// A unit that lists PROVE first proves the generation it claims (the pending one, to promote
/// it; the one in force, to drop the pending one), when a verifier of it is left: a unit that
/// copied the hardware id cannot make the station promote or drop what the real unit holds.
pub fn recover_unit(
    store: &mut Store,
    driver: &mut dyn UnitDriver,
    identity: &Identity,
    actor: &Actor,
) -> Result<Vec<(String, Resolution)>> {
    // Only flashes written to this very unit: a unit that claims another unit's device (its id
    // and generation are not secret) settles nothing (`recovered_device` tells the operator).
    let candidates = store.pending_for_unit(&identity.hardware_id)?;
    let mut out = Vec::new();
    for device_id in candidates {
        let reported = if identity.device_id.as_deref() == Some(device_id.as_str()) {
            identity.generation
        } else {
            // The unit holds another identity (or none): it did not commit this device.
            None
        };
        if let Some(generation) = reported {
            if prove(store, driver, identity, &device_id, generation)? == Proof::Failed {
                return Err(proof_failed(identity, &device_id, generation));
            }
        }
        let resolution = store.resolve_pending(
            &device_id,
            reported,
            &identity.hardware_id,
            &identity.firmware_version,
            actor,
        )?;
        tracing::info!(
            device_id,
            ?resolution,
            unit = identity.hardware_id,
            "settled an unconfirmed flash"
        );
        out.push((device_id, resolution));
    }
    Ok(out)
}

/// What a unit holds, read without writing anything to it.
#[derive(Debug, Clone, Serialize)]
pub struct UnitReport {
    pub hardware_id: String,
    pub firmware_version: String,
    /// The device id the unit's committed config holds, as the unit says.
    pub device_id: Option<String>,
    /// The credential generation it holds.
    pub generation: Option<u32>,
    /// This station's record of that device, when it has one.
    pub device: Option<Device>,
    /// Earlier unconfirmed flashes settled by this contact.
    pub recovered: Vec<(String, Resolution)>,
}

/// Say hello to the unit and settle whatever was unconfirmed about it: every contact with a
/// unit does this first.
fn contact(
    store: &mut Store,
    driver: &mut dyn UnitDriver,
    actor: &Actor,
) -> std::result::Result<(Identity, Vec<(String, Resolution)>), FlashFailure> {
    let identity = driver
        .identify()
        .map_err(|e| FlashFailure::new(None, driver_error(&e)))?;
    let recovered = recover_unit(store, driver, &identity, actor)?;
    Ok((identity, recovered))
}

/// Which device the unit on `transport` holds (the technician plugged it in to find out).
/// Writes nothing to the unit; a blank unit or one holding a device this station does not
/// know is an answer, not a failure.
pub fn identify<T: Transport>(
    store: &mut Store,
    transport: T,
    actor: &Actor,
) -> std::result::Result<UnitReport, FlashFailure> {
    identify_with(store, &mut ProtocolDriver::new(transport), actor)
}

/// [`identify`] through any driver.
pub fn identify_with(
    store: &mut Store,
    driver: &mut dyn UnitDriver,
    actor: &Actor,
) -> std::result::Result<UnitReport, FlashFailure> {
    let contacted = contact(store, driver, actor);
    driver.finish();
    let (identity, recovered) = contacted?;
    let device = match &identity.device_id {
        Some(id) => match store.find_device(id) {
            Ok(d) => Some(d),
            Err(CoreError::NotFound { .. }) => None,
            Err(e) => return Err(FlashFailure::new(Some(id.clone()), e)),
        },
        None => None,
    };
    Ok(UnitReport {
        hardware_id: identity.hardware_id,
        firmware_version: identity.firmware_version,
        device_id: identity.device_id,
        generation: identity.generation,
        device,
        recovered,
    })
}

/// Run one job against the unit on `transport`.
pub fn run<T: Transport>(
    store: &mut Store,
    transport: T,
    job: &FlashJob,
    actor: &Actor,
    progress: &mut dyn FnMut(FlashStep),
) -> std::result::Result<FlashOutcome, FlashFailure> {
    run_with(
        store,
        &mut ProtocolDriver::new(transport),
        job,
        actor,
        progress,
    )
}

/// [`run`] through any driver; the driver hands the unit back to its application at the end,
/// whatever the result.
pub fn run_with(
    store: &mut Store,
    driver: &mut dyn UnitDriver,
    job: &FlashJob,
    actor: &Actor,
    progress: &mut dyn FnMut(FlashStep),
) -> std::result::Result<FlashOutcome, FlashFailure> {
    let result = run_phases(store, driver, job, actor, progress);
    driver.finish();
    result
}

fn run_phases(
    store: &mut Store,
    driver: &mut dyn UnitDriver,
    job: &FlashJob,
    actor: &Actor,
    progress: &mut dyn FnMut(FlashStep),
) -> std::result::Result<FlashOutcome, FlashFailure> {
    let started = Instant::now();
    progress(FlashStep::Identify);
    let (identity, recovered) = contact(store, driver, actor)?;
    let (target, rotated) = match job {
        FlashJob::Recover => {
            let device = recovered_device(store, &identity, &recovered)?;
            let outcome = Done {
                device,
                rotated: false,
                verification: None,
            };
            return Ok(outcome.into_outcome(identity, recovered, driver, started));
        }
        _ => choose_target(store, &identity, job)?,
    };
    if let (true, FlashTarget::Device(device_id)) = (rotated, &target) {
        let confirmed = matches!(
            job,
            FlashJob::Reflash {
                confirm_unbound: true,
                ..
            }
        );
        check_possession(store, driver, &identity, device_id, confirmed)
            .map_err(|e| FlashFailure::new(Some(device_id.clone()), e))?;
    }
    let pending = begin(store, &target, &identity, actor)?;
    let written = write(store, driver, &pending, &identity, actor, progress)?;
    progress(FlashStep::Record);
    let verification = written.as_ref().ok().cloned();
    let device = settle_commit(store, driver, &pending, &identity, written, actor)
        .map_err(|e| FlashFailure::new(Some(pending.device_id.clone()), e))?;
    let done = Done {
        device,
        rotated,
        verification,
    };
    Ok(done.into_outcome(identity, recovered, driver, started))
}

/// What `recover` reports: the device the unit holds, or, for a unit that holds none, the
/// device whose unconfirmed flash this contact just settled.
fn recovered_device(
    store: &Store,
    identity: &Identity,
    recovered: &[(String, Resolution)],
) -> std::result::Result<Device, FlashFailure> {
    let device_id = match (&identity.device_id, recovered.last()) {
        (Some(id), _) | (None, Some((id, _))) => id.clone(),
        (None, None) => {
            return Err(FlashFailure::new(
                None,
                refused(
                    FailReason::NoIdentity,
                    format!(
                        "Unit {} holds no device identity, and no unconfirmed flash concerned \
                         it; there was nothing to recover.",
                        identity.hardware_id
                    ),
                ),
            ))
        }
    };
    let device = store
        .find_device(&device_id)
        .map_err(|e| FlashFailure::new(Some(device_id.clone()), e))?;
    check_unit_binding(store, identity, &device)
        .map_err(|e| FlashFailure::new(Some(device_id), e))?;
    Ok(device)
}

/// The unit claims `device`: refuse when the device was flashed into another unit, or its
/// unconfirmed flash was written to another unit. A device with no unit on record passes here
/// (a re-flash then needs a proof or a confirmation, `check_possession`).
fn check_unit_binding(store: &Store, identity: &Identity, device: &Device) -> Result<()> {
    let held = &device.device_id;
    if let Some(hw) = &device.hardware_id {
        if hw != &identity.hardware_id {
            return Err(refused(
                FailReason::HardwareMismatch,
                format!(
                    "Device {held} was flashed into unit {hw}, but this is unit {}: a copied or swapped unit. It was not changed.",
                    identity.hardware_id
                ),
            ));
        }
    }
    match store.pending_unit(held)? {
        Some(unit) if unit != identity.hardware_id => {
            Err(pending_elsewhere(held, &unit, &identity.hardware_id))
        }
        _ => Ok(()),
    }
}

/// A unit that is not the one a pending flash of `device_id` was written to cannot settle it.
pub fn pending_elsewhere(device_id: &str, written_to: &str, this_unit: &str) -> CoreError {
    refused(
        FailReason::HardwareMismatch,
        format!(
            "The unconfirmed flash of device {device_id} was written to unit {written_to}, but \
             this is unit {this_unit}: only that unit can settle it. Nothing was changed."
        ),
    )
}

/// Phase 1: which device goes into this unit, and whether it is a rotation. Refuses a unit
/// that is not free (provisioning) or not the one meant (re-flash); writes nothing.
fn choose_target(
    store: &Store,
    identity: &Identity,
    job: &FlashJob,
) -> std::result::Result<(FlashTarget, bool), FlashFailure> {
    match job {
        FlashJob::Provision {
            target,
            overwrite_foreign,
        } => {
            // A unit whose device is marked "rotation due" gets its rotation now: the new
            // credentials could not be made earlier (a plaintext cannot wait on disk).
            if let Some(device) = rotation_due_device(store, identity)? {
                return Ok((FlashTarget::Device(device.device_id), true));
            }
            // A blank unit this station flashed a device into gets that device back.
            if let Some(device) = lost_device(store, identity)? {
                if let FlashTarget::Device(meant) = target {
                    if meant != &device.device_id {
                        return Err(lost_other(identity, &device.device_id, meant).into());
                    }
                }
                check_unit_binding(store, identity, &device)?;
                return Ok((FlashTarget::Device(device.device_id), true));
            }
            check_unit_is_free(store, identity, *overwrite_foreign)?;
            Ok((target.clone(), false))
        }
        FlashJob::Reflash {
            expected_device_id, ..
        } => {
            let device = check_unit_for_reflash(store, identity, expected_device_id.as_deref())?;
            Ok((FlashTarget::Device(device.device_id), true))
        }
        FlashJob::Recover => Err(CoreError::Internal("recover has no flash target".into()).into()),
    }
}

/// Phase 1b, before new credentials for an existing device leave the station: the unit shows it
/// holds the device's current password (PROVE, protocol §10.3), when it can and a verifier of
/// that generation is left. Otherwise the hardware-id binding (`check_unit_binding`) is all the
/// station has, and a device with no unit on record needs the operator's confirmation. A wrong
/// answer writes nothing and leaves the record as it was (the verifier is used up).
fn check_possession(
    store: &mut Store,
    driver: &mut dyn UnitDriver,
    identity: &Identity,
    device_id: &str,
    confirm_unbound: bool,
) -> Result<()> {
    let device = store.find_device(device_id)?;
    match prove(store, driver, identity, device_id, device.generation)? {
        Proof::Proven => return Ok(()),
        Proof::Failed => return Err(proof_failed(identity, device_id, device.generation)),
        Proof::NotPossible => {}
    }
    // A blank unit getting its device back (`lost_device`) proves nothing. A driver that erases
    // before it writes (the NVS driver) leaves a unit blank after every write cut short, so that
    // is its normal retry. A unit whose writes are atomic (the protocol, §7.4) never comes back
    // blank from a failed write: a blank one claiming a bound hardware id is a wiped or a copied
    // unit, and only an operator's confirmation lets it have the device's new credentials.
    if identity.device_id.is_none() && driver.writes_atomically() && !confirm_unbound {
        return Err(refused(
            FailReason::UnboundDevice,
            format!(
                "Unit {} holds nothing, yet device {device_id} was flashed into a unit with its \
                 hardware id, and such a unit never loses its config to a failed write: a wiped \
                 or a copied unit. It gets {device_id} back only when an operator confirms it. It \
                 was not changed.",
                identity.hardware_id
            ),
        ));
    }
    if device.hardware_id.is_none() && !confirm_unbound {
        return Err(refused(
            FailReason::UnboundDevice,
            format!(
                "Device {device_id} has no unit on record and unit {} cannot prove it holds the \
                 device's credentials, so it is re-flashed only when an operator confirms it. It \
                 was not changed.",
                identity.hardware_id
            ),
        ));
    }
    Ok(())
}

/// What a possession proof (PROVE, protocol §10.3) of one generation showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proof {
    /// The unit holds that generation's password.
    Proven,
    /// It answered, wrongly: it does not.
    Failed,
    /// No proof was possible: the unit does not list PROVE, or no verifier of that generation
    /// is left (made before protocol 1.1, or used up).
    NotPossible,
}

/// Ask the unit to prove it holds `device_id`'s password of `generation`, with one verifier of
/// it (taken and deleted in one transaction: each is asked once).
fn prove(
    store: &mut Store,
    driver: &mut dyn UnitDriver,
    identity: &Identity,
    device_id: &str,
    generation: u32,
) -> Result<Proof> {
    // A unit that does not claim the device (a blank unit getting its device back) holds no
    // password of it to prove: no verifier is spent on it.
    if !identity.has_capability(spec::CAP_PROVE) || identity.device_id.as_deref() != Some(device_id)
    {
        return Ok(Proof::NotPossible);
    }
    let Some(verifier) = store.take_proof_verifier(device_id, generation)? else {
        return Ok(Proof::NotPossible);
    };
    let mac = driver
        .prove(&verifier.nonce)
        .map_err(|e| driver_error(&e))?;
    if verifier.accepts(&mac) {
        tracing::info!(
            device_id,
            generation,
            unit = identity.hardware_id,
            "possession proven"
        );
        Ok(Proof::Proven)
    } else {
        tracing::warn!(
            device_id,
            generation,
            unit = identity.hardware_id,
            "possession proof failed"
        );
        Ok(Proof::Failed)
    }
}

fn proof_failed(identity: &Identity, device_id: &str, generation: u32) -> CoreError {
    refused(
        FailReason::ProofFailed,
        format!(
            "Unit {} claims device {device_id} but could not prove it holds the device's \
             credentials of generation {generation}: a copied or rogue unit. It was not changed.",
            identity.hardware_id
        ),
    )
}

/// Credentials issued as a pending generation, with the plaintext only in memory.
struct Pending {
    device_id: String,
    generation: u32,
    creds: IssuedCredentials,
}

/// Phase 2: issue the pending generation (hash only on disk).
fn begin(
    store: &mut Store,
    target: &FlashTarget,
    identity: &Identity,
    actor: &Actor,
) -> std::result::Result<Pending, FlashFailure> {
    let creds =
        store.begin_flash_above(target, &identity.hardware_id, identity.generation, actor)?;
    Ok(Pending {
        device_id: creds.device_id.clone(),
        generation: creds.generation,
        creds,
    })
}

/// Phase 3: the driver writes and verifies (the protocol driver: the faster wire when the unit
/// offers it, then stage and commit). `Ok(Err(e))` is a driver failure for `settle_commit` to
/// record; `Err` is a failure already recorded (the config could not even be built).
fn write(
    store: &mut Store,
    driver: &mut dyn UnitDriver,
    pending: &Pending,
    identity: &Identity,
    actor: &Actor,
    progress: &mut dyn FnMut(FlashStep),
) -> std::result::Result<std::result::Result<Verification, DriverError>, FlashFailure> {
    let fail = |e: CoreError| FlashFailure::new(Some(pending.device_id.clone()), e);
    let cfg = match device_config(store, &pending.creds) {
        Ok(cfg) => cfg,
        Err(e) => {
            store
                .fail_flash(
                    &pending.device_id,
                    pending.generation,
                    &e.to_string(),
                    actor,
                )
                .map_err(fail)?;
            return Err(fail(e));
        }
    };
    let mut on_step = |s: WriteProgress| match s {
        WriteProgress::Sent { done, total } => progress(FlashStep::Write { done, total }),
        WriteProgress::Verify => progress(FlashStep::Verify),
    };
    let written = driver.write(&cfg, identity, &mut on_step);
    drop(cfg);
    Ok(written)
}

/// Phase 4: settle the commit from what the unit answered, and record it. Returns the
/// device's record once the unit holds the pending generation.
fn settle_commit(
    store: &mut Store,
    driver: &mut dyn UnitDriver,
    pending: &Pending,
    identity: &Identity,
    written: std::result::Result<Verification, DriverError>,
    actor: &Actor,
) -> Result<Device> {
    match written {
        // The driver's verification already proved the bytes; asking again proves the unit
        // kept them (device id and generation), without any secret coming back. A unit gone
        // now confirmed what it committed.
        Ok(_) => match driver.identify() {
            Ok(after) if !holds(&after, pending, identity) => {
                settle(store, &pending.device_id, &after, actor)?;
                Err(refused(
                    FailReason::NotKept,
                    "The unit accepted the settings but does not report them afterwards. It \
                     keeps what it had."
                        .into(),
                ))
            }
            _ => record_confirmed(store, pending, identity, actor),
        },
        Err(e) if e.commit_outcome_unknown() => {
            settle_unknown(store, driver, pending, identity, &e, actor)
        }
        Err(e) => {
            store.fail_flash(
                &pending.device_id,
                pending.generation,
                &e.operator_message(),
                actor,
            )?;
            Err(driver_error(&e))
        }
    }
}

/// The commit's outcome is unknown: ask the unit (the client's HELLO waits through a reboot);
/// when it cannot be asked, the generation stays pending for the next contact.
fn settle_unknown(
    store: &mut Store,
    driver: &mut dyn UnitDriver,
    pending: &Pending,
    identity: &Identity,
    e: &DriverError,
    actor: &Actor,
) -> Result<Device> {
    match driver.identify() {
        Ok(after) if holds(&after, pending, identity) => {
            promote_confirmed(store, pending, &after, actor)?;
            store.find_device(&pending.device_id)
        }
        Ok(after) => {
            settle(store, &pending.device_id, &after, actor)?;
            Err(refused(
                e.definite_reason(),
                format!(
                    "{} The unit came back without the new settings; it keeps what it had.",
                    e.operator_message()
                ),
            ))
        }
        Err(_) => {
            store.flash_outcome_unknown(
                &pending.device_id,
                pending.generation,
                &e.operator_message(),
                actor,
            )?;
            Err(driver_error(e))
        }
    }
}

/// Whether the unit the flash was written to (`unit`) reports holding exactly the pending
/// generation of the pending device.
fn holds(after: &Identity, pending: &Pending, unit: &Identity) -> bool {
    after.hardware_id == unit.hardware_id
        && after.device_id.as_deref() == Some(pending.device_id.as_str())
        && after.generation == Some(pending.generation)
}

/// The unit confirmed the commit: record it. A failure to record is reported with what the
/// unit holds, never as "nothing was changed".
fn record_confirmed(
    store: &mut Store,
    pending: &Pending,
    identity: &Identity,
    actor: &Actor,
) -> Result<Device> {
    store
        .confirm_flash(
            &pending.device_id,
            pending.generation,
            &identity.hardware_id,
            &identity.firmware_version,
            actor,
        )
        .map_err(|e| not_recorded(pending, e))
}

/// The unit reported the pending generation after an unknown outcome: promote it.
fn promote_confirmed(
    store: &mut Store,
    pending: &Pending,
    after: &Identity,
    actor: &Actor,
) -> Result<()> {
    settle(store, &pending.device_id, after, actor)
        .map(|_| ())
        .map_err(|e| not_recorded(pending, e))
}

fn not_recorded(pending: &Pending, e: CoreError) -> CoreError {
    tracing::warn!(
        device_id = pending.device_id,
        generation = pending.generation,
        error = %e,
        "the unit holds the new generation but recording it failed; the next contact records it"
    );
    CoreError::NotRecorded {
        device_id: pending.device_id.clone(),
        generation: pending.generation,
        source: Box::new(e),
    }
}

/// What a finished job hands back, before the contact's details are added.
struct Done {
    device: Device,
    rotated: bool,
    verification: Option<Verification>,
}

impl Done {
    fn into_outcome(
        self,
        identity: Identity,
        recovered: Vec<(String, Resolution)>,
        driver: &dyn UnitDriver,
        started: Instant,
    ) -> FlashOutcome {
        let stats = driver.stats();
        FlashOutcome {
            protocol_1_0_unit: driver.protocol_1_0_unit(&identity),
            driver: driver.kind(),
            verification: self.verification,
            device: self.device,
            hardware_id: identity.hardware_id,
            firmware_version: identity.firmware_version,
            restored: self.rotated && identity.device_id.is_none(),
            rotated: self.rotated,
            recovered,
            link_baud: stats.link_baud,
            stats,
            elapsed_ms: started.elapsed().as_millis() as u64,
        }
    }
}

/// Settle the pending generation of `device_id` from what the unit (asked again) reports.
fn settle(
    store: &mut Store,
    device_id: &str,
    after: &Identity,
    actor: &Actor,
) -> Result<Resolution> {
    let reported = if after.device_id.as_deref() == Some(device_id) {
        after.generation
    } else {
        None
    };
    store.resolve_pending(
        device_id,
        reported,
        &after.hardware_id,
        &after.firmware_version,
        actor,
    )
}

/// The device the unit holds, when this station marked it "rotation due" and the unit is the
/// one it was flashed into.
fn rotation_due_device(store: &Store, identity: &Identity) -> Result<Option<Device>> {
    let Some(held) = &identity.device_id else {
        return Ok(None);
    };
    match store.find_device(held) {
        Ok(d)
            if d.rotation_due
                && d.is_active
                && d.hardware_id.as_deref() == Some(identity.hardware_id.as_str()) =>
        {
            Ok(Some(d))
        }
        Ok(_) | Err(CoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The device a blank unit lost: the active device this station flashed into this very unit
/// (its record is bound to the unit's hardware id). An erase-first driver (the NVS driver's
/// FLASH_BEGIN) cut short, or a wiped unit, leaves a unit blank while the record, and the
/// server, keep the device's generation in force. Such a unit gets its device back, with a
/// new generation and the same device id, never a new device (which would leave the old one
/// bound to a unit that no longer holds it). A blank unit can prove nothing, so the
/// hardware-id binding decides, as for a unit that cannot prove (docs/trust.md).
fn lost_device(store: &Store, identity: &Identity) -> Result<Option<Device>> {
    if identity.device_id.is_some() {
        return Ok(None);
    }
    let device = store.active_device_bound_to(&identity.hardware_id)?;
    if let Some(d) = &device {
        tracing::warn!(
            device_id = d.device_id,
            generation = d.generation,
            unit = identity.hardware_id,
            "the unit this device was flashed into came back blank; it gets the device back"
        );
    }
    Ok(device)
}

/// The blank unit lost `lost`, but the job meant another device.
fn lost_other(identity: &Identity, lost: &str, meant: &str) -> CoreError {
    refused(
        FailReason::WrongUnit,
        format!(
            "Unit {} came back blank, and it is the unit device {lost} was flashed into, not \
             {meant}: re-flash {lost} into it, or deactivate {lost} to reuse the unit. It was \
             not changed.",
            identity.hardware_id
        ),
    )
}

/// A new device goes only into a unit that holds no identity, or one whose device was
/// deactivated (the unit is being reused), or, when asked, one this station does not know.
fn check_unit_is_free(store: &Store, identity: &Identity, overwrite_foreign: bool) -> Result<()> {
    let Some(held) = &identity.device_id else {
        return Ok(());
    };
    let generation = identity.generation.unwrap_or(0);
    match store.find_device(held) {
        Ok(d) if !d.is_active => Ok(()),
        // A unit claiming another unit's device is told so, not taken for that device.
        Ok(d) => check_unit_binding(store, identity, &d).and_then(|()| Err(refused(
            FailReason::AlreadyProvisioned,
            format!("This unit is already device {held} (credentials generation {generation}). It was not changed."),
        ))),
        Err(CoreError::NotFound { .. }) if overwrite_foreign => Ok(()),
        Err(CoreError::NotFound { .. }) => Err(refused(
            FailReason::ForeignIdentity,
            format!("This unit already holds device {held}, which this station does not know. It was not changed."),
        )),
        Err(e) => Err(e),
    }
}

/// A re-flash needs the unit to hold a device this station knows, the one the technician
/// means, flashed into this very unit.
fn check_unit_for_reflash(
    store: &Store,
    identity: &Identity,
    expected: Option<&str>,
) -> Result<Device> {
    let Some(held) = &identity.device_id else {
        let Some(device) = lost_device(store, identity)? else {
            return Err(refused(
                FailReason::NoIdentity,
                format!(
                    "Unit {} holds no device identity, so there is nothing to re-flash.",
                    identity.hardware_id
                ),
            ));
        };
        if let Some(expected) = expected.filter(|e| *e != device.device_id) {
            return Err(lost_other(identity, &device.device_id, expected));
        }
        check_unit_binding(store, identity, &device)?;
        return Ok(device);
    };
    if let Some(expected) = expected {
        if expected != held {
            return Err(refused(
                FailReason::WrongUnit,
                format!("This unit is device {held}, not {expected}. It was not changed."),
            ));
        }
    }
    let device = store.find_device(held).map_err(|e| match e {
        CoreError::NotFound { .. } => refused(
            FailReason::ForeignIdentity,
            format!("This unit holds device {held}, which this station does not know; re-flash it at the station that provisioned it. It was not changed."),
        ),
        other => other,
    })?;
    check_unit_binding(store, identity, &device)?;
    if !device.is_active {
        return Err(refused(
            FailReason::Deactivated,
            format!("Device {held} is deactivated, so it is not re-flashed."),
        ));
    }
    Ok(device)
}
