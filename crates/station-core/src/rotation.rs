//! The credential lifecycle of one device: generations, rotation and the pending slot.
//!
//! A device's credentials in force are generation `g` (0 = none yet). Credentials for a flash
//! are issued as a *pending* generation beside `g` (only the hash is stored) and become current
//! only once the device confirms it committed them; until then the server and the device both
//! keep `g`, so a failed or interrupted flash never locks a device out. Generation numbers are
//! never reused (`last_generation`), so what a device reports identifies exactly one issue.

use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;

use crate::batches::{allocate_numbers, insert_device};
use std::sync::Arc;

use crate::credentials::{self, CredentialSet, CredentialSource, IssuedCredentials};
use crate::devices::{enqueue_sync, event, record_event, Actor, Device, DeviceFilter};
use crate::error::{CoreError, Result};
use crate::naming;
use crate::proofs;
use crate::settings::key;
use crate::store::sealing::{api_key_at_rest, holds_readable_key, ReadableKey};
use crate::store::{now, Store};
use crate::types::DeviceType;

/// Which device a flash writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlashTarget {
    /// This device (a re-flash, or a record picked by hand).
    Device(String),
    /// The next device of this batch that has not been flashed.
    NextInBatch(i64),
    /// A new device of this type, numbered `{prefix}{type}-NNN` after the highest.
    New { device_type: String, prefix: String },
}

/// What became of a pending generation once the device was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// There was nothing pending.
    NothingPending,
    /// The device holds the pending generation: it is now current.
    Promoted,
    /// The device does not hold it: it was dropped, the old generation stays.
    Discarded,
}

impl Store {
    fn active_device(&self, device_id: &str, doing: &str) -> Result<Device> {
        let device = self.find_device(device_id)?;
        if !device.is_active {
            return Err(CoreError::Refused {
                problem: format!("device {device_id} is deactivated, so it cannot be {doing}"),
                fix: "deactivated devices stay blocked; provision a new device for this unit"
                    .into(),
            });
        }
        Ok(device)
    }

    fn refuse_if_pending(device: &Device) -> Result<()> {
        match device.pending_generation {
            Some(p) => Err(pending_conflict(&device.device_id, p)),
            None => Ok(()),
        }
    }

    /// `generate_credentials()` again, for scripts that deliver credentials themselves: a new
    /// password and api key become current at once (generation + 1). The caller prints them once.
    /// [`Store::rotate_now_delivered`] is the same with the hand-over first.
    pub fn rotate_now(&mut self, device_id: &str, actor: &Actor) -> Result<IssuedCredentials> {
        self.rotate_now_delivered(device_id, actor, |_| Ok(()))
    }

    /// [`Store::rotate_now`] that hands the new credentials to `deliver` (print, flush) *before*
    /// committing them: the plaintext exists nowhere else, so when `deliver` fails nothing is
    /// written and the generation in force stays the one the device holds.
    pub fn rotate_now_delivered(
        &mut self,
        device_id: &str,
        actor: &Actor,
        deliver: impl FnOnce(&IssuedCredentials) -> Result<()>,
    ) -> Result<IssuedCredentials> {
        let device = self.active_device(device_id, "rotated")?;
        Self::refuse_if_pending(&device)?;
        let algorithm = self.hash_algorithm()?;
        let generation = device.last_generation + 1;
        let creds = credentials::issue(
            &device.device_id,
            &device.mqtt_username,
            generation,
            &mut credentials::Hasher::new(algorithm),
        )?;
        deliver(&creds)?;
        let discarded = self.write(|tx| {
            let discarded = holds_readable_key(tx, device.pk, ReadableKey::InForce)?;
            let key = api_key_at_rest(tx, &creds.api_key)?;
            let changed = tx.execute(
                "UPDATE devices SET generation = ?2, last_generation = ?2, mqtt_password_hash = ?3,
                     api_key = ?4, api_key_fingerprint = ?5, rotation_due = 0,
                     api_key_sealed = ?8, seal_key_fingerprint = ?9,
                     flash_state = CASE WHEN flash_state = 'flashed' THEN 'none' ELSE flash_state END,
                     updated_at = ?6
                 WHERE id = ?1 AND last_generation = ?7 AND pending_generation IS NULL",
                params![
                    device.pk,
                    generation,
                    creds.password_hash,
                    key.plaintext,
                    creds.api_key_fingerprint,
                    now(),
                    device.last_generation,
                    key.sealed,
                    key.seal_key_fingerprint
                ],
            )?;
            if changed != 1 {
                return Err(concurrent_change(&device.device_id));
            }
            proofs::store_verifiers(tx, device.pk, &device.device_id, generation, &creds.mqtt_password)?;
            proofs::keep_only(tx, device.pk, generation)?;
            record_event(tx, device.pk, event::ROTATED, Some(generation), "printed to a script", actor)?;
            enqueue_sync(tx, device.pk, generation)?;
            Ok(discarded)
        })?;
        self.forget_discarded_key(discarded);
        Ok(creds)
    }

    /// Mark devices so their next re-flash at this station rotates their credentials.
    pub fn mark_rotation_due(&mut self, filter: &DeviceFilter, actor: &Actor) -> Result<u32> {
        let mut active_only = filter.clone();
        active_only.is_active = Some(true);
        let targets = self.list_devices(&active_only)?;
        self.write(|tx| {
            for d in &targets {
                tx.execute(
                    "UPDATE devices SET rotation_due = 1, updated_at = ?2 WHERE id = ?1",
                    params![d.pk, now()],
                )?;
                record_event(tx, d.pk, event::ROTATION_DUE, Some(d.generation), "", actor)?;
            }
            Ok(())
        })?;
        Ok(targets.len() as u32)
    }

    /// Issue credentials for a flash of `target` into the unit `hardware_id` and store their
    /// hash as a pending generation (`last + 1`). Choosing or creating the device and marking
    /// it pending is one transaction, so two ports flashing one batch never take the same
    /// device. The plaintext is returned to the flasher, which writes it to the device and then
    /// calls [`Store::confirm_flash`], [`Store::fail_flash`] or [`Store::flash_outcome_unknown`].
    /// The set comes from the store's [`CredentialSource`] when it has one ready, else it is
    /// computed here (see [`Store::begin_flash_with`]).
    pub fn begin_flash(
        &mut self,
        target: &FlashTarget,
        hardware_id: &str,
        actor: &Actor,
    ) -> Result<IssuedCredentials> {
        self.begin_flash_with(target, hardware_id, actor, None)
    }

    /// [`Store::begin_flash`] issuing `set` when it is given and was made at the store's hash
    /// setting. A set made at another setting is dropped (zeroized) and a fresh one computed in
    /// its place, and the setting is read again inside the transaction: should it change
    /// between the hash and the write, the set is made again, so a settings change never
    /// issues a set made at the old setting.
    pub fn begin_flash_with(
        &mut self,
        target: &FlashTarget,
        hardware_id: &str,
        actor: &Actor,
        set: Option<CredentialSet>,
    ) -> Result<IssuedCredentials> {
        self.issue_flash(target, hardware_id, actor, set, 0)
    }

    /// [`Store::begin_flash`] for a unit that holds generation `unit_generation`: the pending
    /// generation is above both the device's last one and the unit's, because a unit with the
    /// write gate refuses a generation that is not above the one it holds (protocol §10.3,
    /// `STALE_GENERATION`). A unit reused for a new device, or one overwritten from another
    /// station, holds a generation the new device's numbering has not reached.
    pub fn begin_flash_above(
        &mut self,
        target: &FlashTarget,
        hardware_id: &str,
        unit_generation: Option<u32>,
        actor: &Actor,
    ) -> Result<IssuedCredentials> {
        self.issue_flash(
            target,
            hardware_id,
            actor,
            None,
            unit_generation.unwrap_or(0),
        )
    }

    fn issue_flash(
        &mut self,
        target: &FlashTarget,
        hardware_id: &str,
        actor: &Actor,
        set: Option<CredentialSet>,
        floor: u32,
    ) -> Result<IssuedCredentials> {
        let checked = self.check_target(target)?;
        let mut offered = set;
        let order = self.issue_order.clone();
        let turn = order.as_deref().map(Turn::new);
        for _ in 0..SETTING_RACE_ATTEMPTS {
            // Hash before taking the write lock: it is the slow part and needs no id.
            let setting = self.setting(key::HASH_ALGORITHM)?;
            let set = self.ready_set(offered.take())?;
            if let Some(turn) = &turn {
                turn.wait();
            }
            let marked = self.write(|tx| {
                if stored_setting(tx, key::HASH_ALGORITHM)? != setting {
                    return Ok(None);
                }
                let pk = choose_device(tx, &checked, actor)?;
                mark_pending(tx, pk, &set, hardware_id, floor, actor).map(Some)
            })?;
            match marked {
                Some((device_id, username, generation)) => {
                    return Ok(set.issue(&device_id, &username, generation))
                }
                None => offered = Some(set),
            }
        }
        Err(CoreError::Conflict {
            problem: "the password hash setting kept changing while credentials were issued".into(),
            fix: "finish changing the hash setting, then flash the unit again".into(),
        })
    }

    /// Take sets ahead of time from `source` (the station's credential pool), or stop (`None`).
    pub fn use_credential_source(&mut self, source: Option<Arc<dyn CredentialSource>>) {
        self.credential_source = source;
    }

    /// A set at the store's hash setting: `offered`, else one from the credential source, else
    /// a fresh one. A set made at another setting is dropped, which zeroizes its secrets.
    fn ready_set(&self, offered: Option<CredentialSet>) -> Result<CredentialSet> {
        let algorithm = self.hash_algorithm()?;
        let ready = offered
            .or_else(|| self.credential_source.as_ref()?.take(&algorithm))
            .filter(|set| set.algorithm() == &algorithm);
        match ready {
            Some(set) => Ok(set),
            None => CredentialSet::generate(&algorithm),
        }
    }

    /// What can be checked of a flash target before the write lock: the prefix is valid and
    /// the type or batch exists.
    fn check_target<'t>(&self, target: &'t FlashTarget) -> Result<CheckedTarget<'t>> {
        Ok(match target {
            FlashTarget::New {
                device_type,
                prefix,
            } => {
                naming::validate_prefix(prefix)?;
                CheckedTarget::New {
                    device_type: Box::new(self.find_type(device_type)?),
                    prefix,
                }
            }
            FlashTarget::NextInBatch(batch) => {
                self.find_batch(*batch)?;
                CheckedTarget::NextInBatch(*batch)
            }
            FlashTarget::Device(id) => CheckedTarget::Device(id),
        })
    }

    /// The device confirmed it committed `generation`: promote it, record the unit, queue the
    /// record for the server; one transaction.
    pub fn confirm_flash(
        &mut self,
        device_id: &str,
        generation: u32,
        hardware_id: &str,
        firmware_version: &str,
        actor: &Actor,
    ) -> Result<Device> {
        let device = self.find_device(device_id)?;
        if device.pending_generation.is_none() && device.generation == generation {
            // Another contact (a second station process) recorded it already.
            return Ok(device);
        }
        if device.pending_generation != Some(generation) {
            return Err(CoreError::Conflict {
                problem: format!(
                    "device {device_id} has no pending credential generation {generation} to confirm"
                ),
                fix: crate::outcome::Action::RunRecover.help().into(),
            });
        }
        self.check_pending_unit(&device, hardware_id)?;
        let discarded = self.write(|tx| {
            promote(
                tx,
                &device,
                generation,
                hardware_id,
                firmware_version,
                actor,
            )
        })?;
        self.forget_discarded_key(discarded);
        self.find_device(device_id)
    }

    /// The flash of `generation` definitely did not take (the device refused, or the commit was
    /// never sent): drop the pending credentials; the device keeps what it had.
    pub fn fail_flash(
        &mut self,
        device_id: &str,
        generation: u32,
        reason: &str,
        actor: &Actor,
    ) -> Result<Device> {
        let device = self.find_device(device_id)?;
        if device.pending_generation != Some(generation) {
            return Ok(device);
        }
        let discarded = self.write(|tx| drop_pending(tx, &device, generation, reason, actor))?;
        self.forget_discarded_key(discarded);
        self.find_device(device_id)
    }

    /// The commit may or may not have reached the device (reply lost, unplugged at commit):
    /// keep the pending generation until the device is asked again.
    pub fn flash_outcome_unknown(
        &mut self,
        device_id: &str,
        generation: u32,
        reason: &str,
        actor: &Actor,
    ) -> Result<()> {
        let device = self.find_device(device_id)?;
        self.write(|tx| {
            tx.execute(
                "UPDATE devices SET flash_error = CASE WHEN flash_state = 'flashed' THEN NULL ELSE ?2 END,
                     updated_at = ?3 WHERE id = ?1 AND pending_generation = ?4",
                params![device.pk, reason, now(), generation],
            )?;
            record_event(tx, device.pk, event::FLASH_FAILED, Some(generation), reason, actor)?;
            Ok(())
        })
    }

    /// Settle a pending generation from what the device itself reports holding.
    pub fn resolve_pending(
        &mut self,
        device_id: &str,
        reported_generation: Option<u32>,
        hardware_id: &str,
        firmware_version: &str,
        actor: &Actor,
    ) -> Result<Resolution> {
        let device = self.find_device(device_id)?;
        let Some(pending) = device.pending_generation else {
            return Ok(Resolution::NothingPending);
        };
        // Only the unit the flash was written to can settle it: any other may claim the
        // device's id and generation, which are not secret.
        self.check_pending_unit(&device, hardware_id)?;
        if reported_generation == Some(pending) {
            // Promotion and its "recovered" line in one transaction: a crash loses neither.
            let discarded = self.write(|tx| {
                let discarded =
                    promote(tx, &device, pending, hardware_id, firmware_version, actor)?;
                record_event(
                    tx,
                    device.pk,
                    event::RECOVERED,
                    Some(pending),
                    "device holds it",
                    actor,
                )?;
                Ok(discarded)
            })?;
            self.forget_discarded_key(discarded);
            Ok(Resolution::Promoted)
        } else {
            // Dropping it and its "recovered" line in one transaction, like a promotion.
            let discarded = self.write(|tx| {
                let discarded = drop_pending(
                    tx,
                    &device,
                    pending,
                    "the device did not commit these credentials; it keeps the previous ones",
                    actor,
                )?;
                record_event(
                    tx,
                    device.pk,
                    event::RECOVERED,
                    Some(pending),
                    "device does not hold it; dropped",
                    actor,
                )?;
                Ok(discarded)
            })?;
            self.forget_discarded_key(discarded);
            Ok(Resolution::Discarded)
        }
    }

    /// The unit the pending flash of `device_id` was written to, when one is pending.
    pub fn pending_unit(&self, device_id: &str) -> Result<Option<String>> {
        self.conn()
            .query_row(
                "SELECT pending_hardware_id FROM devices
                 WHERE device_id = ?1 AND pending_generation IS NOT NULL",
                [device_id],
                |r| r.get(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.sql_err(e))
    }

    /// Refuse to settle `device`'s pending flash from a unit it was not written to.
    fn check_pending_unit(&self, device: &Device, hardware_id: &str) -> Result<()> {
        match self.pending_unit(&device.device_id)? {
            Some(unit) if !unit.eq_ignore_ascii_case(hardware_id) => Err(
                crate::flash::pending_elsewhere(&device.device_id, &unit, hardware_id),
            ),
            _ => Ok(()),
        }
    }

    /// The active device this station last flashed into the unit `hardware_id` (its record is
    /// bound to that unit), if any: the one a blank unit with that hardware id lost
    /// (`flash::choose_target`). When an older station minted several, the latest flashed.
    pub fn active_device_bound_to(&self, hardware_id: &str) -> Result<Option<Device>> {
        let device_id: Option<String> = self
            .conn()
            .query_row(
                "SELECT device_id FROM devices
                 WHERE hardware_id = ?1 AND is_active = 1 AND generation > 0
                 ORDER BY flashed_at DESC, id DESC LIMIT 1",
                [hardware_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql_err(e))?;
        device_id.map(|id| self.find_device(&id)).transpose()
    }

    /// Devices whose unconfirmed flash was going into the unit `hardware_id`.
    pub fn pending_for_unit(&self, hardware_id: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT device_id FROM devices
                 WHERE pending_generation IS NOT NULL AND pending_hardware_id = ?1",
            )
            .map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map([hardware_id], |r| r.get(0))
            .map_err(|e| self.sql_err(e))?;
        rows.collect::<rusqlite::Result<Vec<String>>>()
            .map_err(|e| self.sql_err(e))
    }
}

/// How often `begin_flash_with` makes a set again when the hash setting changed under it;
/// beyond this someone is changing settings in a loop, and the flash stops instead.
const SETTING_RACE_ATTEMPTS: usize = 3;

/// A setting's stored text inside a transaction (`None` while unset).
fn stored_setting(tx: &Transaction<'_>, key: &str) -> Result<Option<String>> {
    Ok(tx
        .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

/// The devices of batch `?1` a flash may still take: active, nothing pending, never flashed
/// (or failed). One condition for taking the next device and for counting what is left.
pub(crate) const LEFT_IN_BATCH: &str =
    "batch_id = ?1 AND is_active = 1 AND pending_generation IS NULL \
     AND flash_state IN ('none', 'failed')";

impl Store {
    /// How many devices of `batch` a flash may still take (see [`Store::begin_flash`]).
    /// A closed or cancelled batch is refused: it issues no more devices.
    pub fn devices_left_in_batch(&self, batch: i64) -> Result<u32> {
        self.find_batch(batch)?;
        Store::check_batch_open(self.conn(), batch)?;
        self.conn()
            .query_row(
                &format!("SELECT count(*) FROM devices WHERE {LEFT_IN_BATCH}"),
                [batch],
                |r| r.get(0),
            )
            .map_err(|e| self.sql_err(e))
    }

    /// Issue credentials in the order `order` sets (a gang's ports), or as they come (`None`).
    pub fn use_issue_order(&mut self, order: Option<Arc<dyn IssueOrder>>) {
        self.issue_order = order;
    }
}

/// The order in which parallel flashes take their device (a gang press: port 1 gets the
/// lowest id). [`Store::begin_flash`] calls `wait_turn` just before the transaction that takes
/// the device, and `taken` once it is over (taken or not). The jobs' owner must also call
/// `taken` for a job that ends before it got that far, or the later ones would wait for it.
pub trait IssueOrder: Send + Sync {
    fn wait_turn(&self);
    fn taken(&self);
}

/// One issue's place in an [`IssueOrder`]: waits once, and reports `taken` when dropped.
struct Turn<'o> {
    order: &'o dyn IssueOrder,
    waited: std::cell::Cell<bool>,
}

impl<'o> Turn<'o> {
    fn new(order: &'o dyn IssueOrder) -> Self {
        Turn {
            order,
            waited: std::cell::Cell::new(false),
        }
    }

    fn wait(&self) {
        if !self.waited.replace(true) {
            self.order.wait_turn();
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.order.taken();
    }
}

/// A [`FlashTarget`] whose type or batch was found before the transaction began.
enum CheckedTarget<'t> {
    Device(&'t str),
    NextInBatch(i64),
    New {
        /// Boxed: a type (names, broker, driver settings) is many times the other variants.
        device_type: Box<DeviceType>,
        prefix: &'t str,
    },
}

/// The device a flash writes, inside `begin_flash`'s transaction: the named one, the next
/// unflashed device of the batch, or a new device numbered after the highest of its type.
fn choose_device(tx: &Transaction<'_>, target: &CheckedTarget<'_>, actor: &Actor) -> Result<i64> {
    match target {
        CheckedTarget::Device(id) => tx
            .query_row("SELECT id FROM devices WHERE device_id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or_else(|| CoreError::NotFound {
                what: "device",
                key: (*id).to_owned(),
            }),
        CheckedTarget::NextInBatch(batch) => {
            Store::check_batch_open(tx, *batch)?;
            tx.query_row(
                &format!(
                    "SELECT id FROM devices WHERE {LEFT_IN_BATCH} ORDER BY id_number, id LIMIT 1"
                ),
                [batch],
                |r| r.get(0),
            )
            .optional()?
            .ok_or(CoreError::BatchShort {
                batch_id: *batch,
                left: 0,
                wanted: 1,
            })
        }
        CheckedTarget::New {
            device_type,
            prefix,
        } => {
            let number = allocate_numbers(tx, device_type, prefix, 1)?.start;
            insert_device(tx, device_type, None, prefix, number, None, actor)
        }
    }
}

/// Inside `begin_flash`'s transaction: refuse a deactivated device or one with a flash still
/// pending, then store `creds`' hash as generation `last + 1` and record the start. Returns the
/// device id, its MQTT username and the new generation.
fn mark_pending(
    tx: &Transaction<'_>,
    pk: i64,
    creds: &CredentialSet,
    hardware_id: &str,
    floor: u32,
    actor: &Actor,
) -> Result<(String, String, u32)> {
    let (device_id, username, active, pending, last): (String, String, bool, Option<u32>, u32) = tx
        .query_row(
            "SELECT device_id, mqtt_username, is_active, pending_generation, last_generation
             FROM devices WHERE id = ?1",
            [pk],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
    if !active {
        return Err(CoreError::Refused {
            problem: format!("device {device_id} is deactivated, so it cannot be flashed"),
            fix: "deactivated devices stay blocked; provision a new device for this unit".into(),
        });
    }
    if let Some(p) = pending {
        return Err(pending_conflict(&device_id, p));
    }
    // Above the unit's generation too (`floor`, 0 when unknown): never one it would refuse.
    let generation = last.max(floor).saturating_add(1);
    let ts = now();
    let key = api_key_at_rest(tx, creds.api_key())?;
    tx.execute(
        "UPDATE devices SET pending_generation = ?2, last_generation = ?2,
             pending_password_hash = ?3, pending_api_key = ?4, pending_api_key_fingerprint = ?5,
             pending_api_key_sealed = ?8, pending_seal_key_fingerprint = ?9,
             pending_since = ?6, pending_hardware_id = ?7, flash_error = NULL,
             flash_state = CASE WHEN flash_state = 'flashed' THEN 'flashed' ELSE 'flashing' END,
             updated_at = ?6
         WHERE id = ?1",
        params![
            pk,
            generation,
            creds.password_hash(),
            key.plaintext,
            creds.api_key_fingerprint(),
            ts,
            hardware_id,
            key.sealed,
            key.seal_key_fingerprint
        ],
    )?;
    proofs::store_verifiers(tx, pk, &device_id, generation, creds.password())?;
    record_event(
        tx,
        pk,
        event::FLASH_STARTED,
        Some(generation),
        &format!("unit {hardware_id}"),
        actor,
    )?;
    Ok((device_id, username, generation))
}

/// The flash of `generation` did not take: drop the pending credentials; the device keeps
/// what it had. A flashed device never carries a `flash_error`: the failed attempt stays in
/// its history only. Returns whether a pending api key kept in readable form was discarded.
fn drop_pending(
    tx: &Transaction<'_>,
    device: &Device,
    generation: u32,
    reason: &str,
    actor: &Actor,
) -> Result<bool> {
    let discarded = holds_readable_key(tx, device.pk, ReadableKey::Pending)?;
    tx.execute(
        "UPDATE devices SET pending_generation = NULL, pending_password_hash = NULL,
             pending_api_key = NULL, pending_api_key_fingerprint = NULL, pending_since = NULL,
             pending_api_key_sealed = NULL, pending_seal_key_fingerprint = NULL,
             pending_hardware_id = NULL,
             flash_state = CASE WHEN flash_state = 'flashing' THEN 'failed' ELSE flash_state END,
             flash_error = CASE WHEN flash_state = 'flashed' THEN NULL ELSE ?2 END,
             updated_at = ?3
         WHERE id = ?1 AND pending_generation = ?4",
        params![device.pk, reason, now(), generation],
    )?;
    proofs::drop_generation(tx, device.pk, generation)?;
    record_event(
        tx,
        device.pk,
        event::FLASH_FAILED,
        Some(generation),
        reason,
        actor,
    )?;
    Ok(discarded)
}

/// The device confirmed `generation`: make the pending credentials current, record it and
/// queue it for the server. Refused when another process settled the flash meanwhile. Returns
/// whether the api key it replaced was kept in readable form.
fn promote(
    tx: &Transaction<'_>,
    device: &Device,
    generation: u32,
    hardware_id: &str,
    firmware_version: &str,
    actor: &Actor,
) -> Result<bool> {
    let discarded = holds_readable_key(tx, device.pk, ReadableKey::InForce)?;
    let ts = now();
    let changed = tx.execute(
        "UPDATE devices SET generation = pending_generation,
             mqtt_password_hash = pending_password_hash, api_key = pending_api_key,
             api_key_fingerprint = pending_api_key_fingerprint,
             api_key_sealed = pending_api_key_sealed,
             seal_key_fingerprint = pending_seal_key_fingerprint,
             pending_generation = NULL, pending_password_hash = NULL, pending_api_key = NULL,
             pending_api_key_fingerprint = NULL, pending_since = NULL, pending_hardware_id = NULL,
             pending_api_key_sealed = NULL, pending_seal_key_fingerprint = NULL,
             flash_state = 'flashed', flash_error = NULL, hardware_id = ?2,
             firmware_version = ?3, flashed_at = ?4, rotation_due = 0,
             status = CASE WHEN generation = 0 THEN 'provisioning' ELSE status END,
             station_id = ?5, operator = ?6, updated_at = ?4
         WHERE id = ?1 AND pending_generation = ?7",
        params![
            device.pk,
            hardware_id,
            firmware_version,
            ts,
            actor.station_id,
            actor.operator,
            generation
        ],
    )?;
    if changed != 1 {
        return Err(concurrent_change(&device.device_id));
    }
    proofs::keep_only(tx, device.pk, generation)?;
    let kind = if device.generation == 0 {
        event::FLASHED
    } else {
        event::ROTATED
    };
    record_event(
        tx,
        device.pk,
        kind,
        Some(generation),
        &format!("unit {hardware_id}"),
        actor,
    )?;
    enqueue_sync(tx, device.pk, generation)?;
    Ok(discarded)
}

fn pending_conflict(device_id: &str, generation: u32) -> CoreError {
    CoreError::PendingFlash {
        device_id: device_id.to_owned(),
        generation,
    }
}

fn concurrent_change(device_id: &str) -> CoreError {
    CoreError::Conflict {
        problem: format!("device {device_id} was changed by another station process just now"),
        fix: "nothing was changed; try again".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batches::BatchRequest;
    use crate::error::ErrorCode;
    use crate::types::NewDeviceType;

    const UNIT: &str = "E661A4D1";

    fn store() -> (tempfile::TempDir, Store, Actor) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path().join("station.sqlite3")).expect("open store");
        store
            .set_setting("hash_algorithm", "argon2:m=64,t=1,p=1")
            .expect("hash setting");
        store
            .add_type(NewDeviceType {
                name: "WeatherStation".into(),
                app_label: "myapp".into(),
                ..Default::default()
            })
            .expect("add type");
        let actor = Actor::new("alice", "line-1").expect("actor");
        (dir, store, actor)
    }

    fn batch_of(store: &mut Store, actor: &Actor, count: u32) -> i64 {
        let req = BatchRequest {
            device_type: "WeatherStation".into(),
            prefix: "farm-".into(),
            count,
            with_credentials: false,
            lot: None,
            work_order: None,
        };
        store.create_batch(&req, actor).expect("batch").batch.id
    }

    fn pending_devices(store: &Store) -> Vec<(String, u32)> {
        let all = store.list_devices(&DeviceFilter::default()).expect("list");
        all.into_iter()
            .filter_map(|d| d.pending_generation.map(|g| (d.device_id, g)))
            .collect()
    }

    fn pending_hash(store: &Store, device_id: &str) -> (String, String) {
        store
            .conn()
            .query_row(
                "SELECT pending_password_hash, pending_api_key_fingerprint FROM devices
                 WHERE device_id = ?1",
                [device_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("pending hash")
    }

    const OLD_SETTING: credentials::HashAlgorithm =
        credentials::HashAlgorithm::Pbkdf2Sha256 { iterations: 1000 };

    /// A set made ahead is issued as it is: the device's pending record is its hash and
    /// fingerprint, and the unit gets its plaintexts.
    #[test]
    fn begin_flash_with_issues_a_set_made_ahead_at_the_store_setting() {
        let (_dir, mut store, actor) = store();
        let batch = batch_of(&mut store, &actor, 1);
        let algorithm = store.hash_algorithm().expect("setting");
        let set = CredentialSet::generate(&algorithm).expect("set");
        let (hash, fingerprint) = (
            set.password_hash().to_owned(),
            set.api_key_fingerprint().to_owned(),
        );
        let password = set.plaintexts_for_tests().0.to_owned();
        let creds = store
            .begin_flash_with(&FlashTarget::NextInBatch(batch), UNIT, &actor, Some(set))
            .expect("begin");
        assert_eq!(creds.mqtt_password.expose(), password);
        assert_eq!(pending_hash(&store, &creds.device_id), (hash, fingerprint));
        assert!(
            credentials::verify_password(&creds.mqtt_password, &creds.password_hash)
                .expect("verify")
        );
    }

    /// A set made before the hash setting changed is never issued: a fresh one at the new
    /// setting takes its place, whether it was handed in or came from the credential source.
    #[test]
    fn a_set_made_at_another_hash_setting_is_refused_and_made_again() {
        struct Stale;
        impl CredentialSource for Stale {
            fn take(&self, _: &credentials::HashAlgorithm) -> Option<CredentialSet> {
                CredentialSet::generate(&OLD_SETTING).ok()
            }
        }
        let (_dir, mut store, actor) = store();
        let batch = batch_of(&mut store, &actor, 2);
        let target = FlashTarget::NextInBatch(batch);
        let stale = CredentialSet::generate(&OLD_SETTING).expect("set");
        let stale_password = stale.plaintexts_for_tests().0.to_owned();
        let a = store
            .begin_flash_with(&target, UNIT, &actor, Some(stale))
            .expect("begin");
        store.use_credential_source(Some(Arc::new(Stale)));
        let b = store.begin_flash(&target, "0A0B", &actor).expect("begin");
        for creds in [&a, &b] {
            assert!(
                creds.password_hash.starts_with("argon2$"),
                "{}",
                creds.password_hash
            );
            assert!(pending_hash(&store, &creds.device_id)
                .0
                .starts_with("argon2$"));
        }
        assert_ne!(a.mqtt_password.expose(), stale_password);
    }

    /// Two ports flashing one batch each take their own device, lowest number first; a new
    /// device is numbered after the highest of its prefix and type.
    #[test]
    fn begin_flash_takes_the_next_unflashed_device_of_a_batch_then_mints_after_the_highest() {
        let (_dir, mut store, actor) = store();
        let batch = batch_of(&mut store, &actor, 2);
        let target = FlashTarget::NextInBatch(batch);
        let a = store.begin_flash(&target, UNIT, &actor).expect("first");
        let b = store.begin_flash(&target, "0A0B", &actor).expect("second");
        assert_eq!(a.device_id, "farm-weatherstation-001");
        assert_eq!(b.device_id, "farm-weatherstation-002");
        assert_eq!((a.generation, b.generation), (1, 1));
        let err = store
            .begin_flash(&target, "0C0D", &actor)
            .expect_err("batch used up");
        assert_eq!(err.code(), ErrorCode::Conflict);
        assert!(err.to_string().contains("no device left to flash"), "{err}");
        let new = FlashTarget::New {
            device_type: "WeatherStation".into(),
            prefix: "farm-".into(),
        };
        let c = store.begin_flash(&new, "0C0D", &actor).expect("new device");
        assert_eq!(
            (c.device_id.as_str(), c.mqtt_username.is_empty()),
            ("farm-weatherstation-003", false)
        );
        let history = store.device_history(&c.device_id).expect("history");
        let kinds: Vec<_> = history.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["created", event::FLASH_STARTED]);
        assert_eq!(history[1].detail, "unit 0C0D");
    }

    /// Every target `begin_flash` cannot take is refused with its own code and leaves the
    /// database as it was: no device minted, nothing pending, no generation used up.
    #[test]
    fn begin_flash_refuses_targets_it_cannot_take_and_changes_nothing() {
        let (_dir, mut store, actor) = store();
        let batch = batch_of(&mut store, &actor, 2);
        store
            .deactivate("farm-weatherstation-002", &actor, "cracked")
            .expect("deactivate");
        let new = |device_type: &str, prefix: &str| FlashTarget::New {
            device_type: device_type.into(),
            prefix: prefix.into(),
        };
        let device = |id: &str| FlashTarget::Device(id.into());
        for (target, code) in [
            (device("farm-weatherstation-404"), ErrorCode::NotFound),
            (device("farm-weatherstation-002"), ErrorCode::Refused),
            (FlashTarget::NextInBatch(batch + 1), ErrorCode::NotFound),
            (new("SoilProbe", "farm-"), ErrorCode::UnknownType),
            (
                new("WeatherStation", "bad prefix/"),
                ErrorCode::InvalidInput,
            ),
        ] {
            let err = store
                .begin_flash(&target, UNIT, &actor)
                .expect_err("refused");
            assert_eq!(err.code(), code, "{target:?}: {err}");
        }
        let g = store.begin_flash(&device("farm-weatherstation-001"), UNIT, &actor);
        assert_eq!(g.expect("flash 001").generation, 1);
        let err = store
            .begin_flash(&device("farm-weatherstation-001"), UNIT, &actor)
            .expect_err("already pending");
        assert!(
            matches!(err, CoreError::PendingFlash { generation: 1, .. }),
            "{err}"
        );
        let all = store.list_devices(&DeviceFilter::default()).expect("list");
        assert_eq!(all.len(), 2, "no device was minted");
        assert_eq!(
            pending_devices(&store),
            [("farm-weatherstation-001".to_owned(), 1)]
        );
        assert_eq!(
            store
                .find_device("farm-weatherstation-002")
                .expect("d")
                .last_generation,
            0
        );
    }
}
