//! The MCUmgr driver's work on one unit: identify it, write a config through the settings
//! group, save it, reset through the OS group, and verify what MCUmgr lets it verify.
//!
//! This module owns [`Provisioner`] and the operator's words for every way that work fails
//! ([`DriverError`], [`ErrorKind`], [`DriverError::help`]). It knows nothing of the station's
//! records: a config arrives as [`Setting`]s (name, value, secret or not) and the unit's
//! identity is read from the settings named in [`IdentityKeys`].
//!
//! Why verify after a reset: Zephyr's `settings_mgmt_save` calls `settings_save()` and ignores
//! what it returns, so a save that answered success proves nothing. A reset forgets RAM and the
//! firmware's boot loads storage; reading the non-secret keys back then proves storage holds
//! them. Secret keys are write-only (the firmware's access hook refuses reads), so they are
//! written and never read: [`Verification`] says which keys were proven and which were not.
//!
//! Why the hardware id is a setting: MCUmgr's OS group has no unit-unique id (`os info` gives
//! kernel, board and build, the same on every unit of a product). Zephyr's `hwinfo_get_device_id`
//! is, and a firmware exposes it read-only through a settings handler's `h_get`, which
//! `settings_mgmt_read` reaches through `settings_runtime_get`; the device type names that key.
//!
//! Consistency: nothing reaches storage before the save is sent, so a failure while writing
//! leaves the unit's stored config (and so the generation in force) as it was; the unit is then
//! reset, best effort, so the half-written values in RAM cannot be saved later by the firmware.
//! From the save on, the outcome may be unknown ([`DriverError::storage_may_have_changed`]); the
//! caller settles it with [`Provisioner::settle`], which resets the unit and reads the stored
//! generation back.

use std::fmt;

use ciborium::Value;

use crate::cbor;
use crate::client::Client;
use crate::codes::{MgmtErr, SettingsErr};
use crate::error::SmpError;
use crate::sim::NAME_LEN;
use crate::spec::{self, HEADER_LEN, MAX_PACKET};
use crate::transport::{SerialTransport, Transport};

/// The settings that tell who a unit is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityKeys {
    /// Read-only key with the unit's hardware id (required).
    pub hardware_id: String,
    /// Key holding the device id written by a station (absent on a blank unit).
    pub device_id: String,
    /// Key holding the credential generation written by a station (decimal).
    pub generation: String,
}

/// One setting to write.
#[derive(Clone, Copy)]
pub struct Setting<'a> {
    /// Settings key (e.g. `dh/mqtt_pass`).
    pub name: &'a str,
    /// Value bytes.
    pub value: &'a [u8],
    /// Secret: written, never read back, never shown.
    pub secret: bool,
}

impl fmt::Debug for Setting<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The value is never shown; secret or not, its length is enough to debug with.
        f.debug_struct("Setting")
            .field("name", &self.name)
            .field("len", &self.value.len())
            .field("secret", &self.secret)
            .finish()
    }
}

/// What a unit reports holding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitState {
    /// Hardware id, as the firmware serves it.
    pub hardware_id: String,
    /// Device id, when a station wrote one.
    pub device_id: Option<String>,
    /// Credential generation, when a station wrote one.
    pub generation: Option<u32>,
}

/// Which keys a write proved, and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verification {
    /// Read back whole after the reset, equal to what was written.
    pub read_back: Vec<String>,
    /// Read back after the reset only up to the firmware's value limit
    /// (`CONFIG_MCUMGR_GRP_SETTINGS_VALUE_LEN`): `(key, bytes compared)`.
    pub read_back_prefix: Vec<(String, usize)>,
    /// Secret keys: written and saved, never read back (write-only on the unit).
    pub written_only: Vec<String>,
}

impl Verification {
    /// One line for the operator and the record.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} settings read back after a reset",
            self.read_back.len() + self.read_back_prefix.len()
        );
        if !self.read_back_prefix.is_empty() {
            let cut: Vec<String> = self
                .read_back_prefix
                .iter()
                .map(|(k, n)| format!("{k} (first {n} bytes)"))
                .collect();
            s.push_str(&format!(", some only in part: {}", cut.join(", ")));
        }
        if !self.written_only.is_empty() {
            s.push_str(&format!(
                "; {} secret settings written only, not readable by design ({})",
                self.written_only.len(),
                self.written_only.join(", ")
            ));
        }
        s
    }
}

/// Progress of [`Provisioner::write_config`], each reported before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisionStep {
    /// Writing setting `done + 1` of `total`.
    Write {
        /// Settings written so far.
        done: usize,
        /// Settings to write.
        total: usize,
    },
    /// Saving to the unit's storage.
    Save,
    /// Resetting the unit.
    Reset,
    /// Reading the non-secret settings back.
    Verify,
}

/// Where a failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading who the unit is.
    Identify,
    /// Writing settings (RAM only).
    Write,
    /// Saving settings to storage.
    Save,
    /// Resetting the unit.
    Reset,
    /// Reading settings back after the reset.
    Verify,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Identify => "identify",
            Phase::Write => "writing settings",
            Phase::Save => "saving settings",
            Phase::Reset => "reset",
            Phase::Verify => "reading settings back",
        })
    }
}

/// What went wrong, typed. No variant holds a value, so none can leak a secret.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// The port could not be opened.
    #[error("cannot open the unit's serial port {path}")]
    Open {
        /// Port path.
        path: String,
    },
    /// No valid SMP answer on any attempt.
    #[error("the unit does not answer MCUmgr (SMP) requests")]
    NoAnswer,
    /// The port went away.
    #[error("the unit was disconnected")]
    Disconnected,
    /// The firmware lacks an MCUmgr group (`MGMT_ERR_ENOTSUP`).
    #[error("the firmware was built without the MCUmgr {group} group")]
    GroupNotEnabled {
        /// `settings` or `OS`.
        group: &'static str,
    },
    /// The firmware's access hook refused the key (`MGMT_ERR_EACCESSDENIED`) or the request.
    #[error("the firmware denied access to setting {key}")]
    AccessDenied {
        /// Key refused.
        key: String,
    },
    /// The value does not fit the unit's buffers.
    #[error("the value of setting {key} is too large for the unit")]
    ValueTooLarge {
        /// Key.
        key: String,
    },
    /// The key name is longer than the firmware allows.
    #[error("setting name {key} is longer than the firmware allows ({max} bytes)")]
    KeyTooLong {
        /// Key.
        key: String,
        /// Longest name the firmware takes.
        max: usize,
    },
    /// The firmware has no handler for the key, or it cannot be written.
    #[error("the firmware has no writable setting {key}")]
    UnknownKey {
        /// Key.
        key: String,
    },
    /// No hardware id under the configured key.
    #[error("the firmware exposes no hardware id in setting {key}")]
    NoHardwareId {
        /// Key.
        key: String,
    },
    /// An identity value the firmware serves only in part.
    #[error("the firmware serves only {limit} bytes of setting {key}")]
    CutShort {
        /// Key.
        key: String,
        /// The firmware's value limit.
        limit: u32,
    },
    /// An identity value is not what a station writes (e.g. a generation that is no number).
    #[error("setting {key} holds {what}")]
    BadValue {
        /// Key.
        key: String,
        /// What is wrong.
        what: &'static str,
    },
    /// The save was refused.
    #[error("the unit refused to save its settings ({rc})")]
    SaveRefused {
        /// Code it answered.
        rc: MgmtErr,
    },
    /// After the reset the key does not hold what was written: the save did not reach storage.
    #[error("after a reset, setting {key} does not hold what was written: the save did not reach storage")]
    NotKept {
        /// First key found different.
        key: String,
    },
    /// The unit is busy.
    #[error("the unit is busy")]
    Busy,
    /// Anything else the unit answered.
    #[error("{0}")]
    Other(SmpError),
}

/// A failure of one driver step: the phase and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("MCUmgr {phase}: {kind}")]
pub struct DriverError {
    /// Where.
    pub phase: Phase,
    /// What.
    pub kind: ErrorKind,
}

impl DriverError {
    fn new(phase: Phase, kind: ErrorKind) -> Self {
        Self { phase, kind }
    }

    /// Whether the unit's storage may hold something else than before: the save was sent.
    /// `false` means the unit keeps the config (and generation) it had.
    pub fn storage_may_have_changed(&self) -> bool {
        matches!(self.phase, Phase::Save | Phase::Reset | Phase::Verify)
    }

    /// What to do about it, in words for the person at the station.
    pub fn help(&self) -> &'static str {
        match &self.kind {
            ErrorKind::Open { .. } => "check the cable and that no other program has the port open",
            ErrorKind::NoAnswer => {
                "check the unit runs firmware with MCUmgr on its serial console (SMP over UART or \
                 shell) at this baud rate, then try again"
            }
            ErrorKind::Disconnected => "reconnect the unit and try again",
            ErrorKind::GroupNotEnabled { .. } => {
                "flash firmware built with CONFIG_MCUMGR_GRP_SETTINGS and CONFIG_MCUMGR_GRP_OS \
                 (with reset), then try again"
            }
            ErrorKind::AccessDenied { .. } => {
                "the firmware's settings access hook refuses this key: check the device type's \
                 key names against the firmware"
            }
            ErrorKind::ValueTooLarge { .. } => {
                "shorten the value in the device type, or use firmware with larger MCUmgr buffers"
            }
            ErrorKind::KeyTooLong { .. } => "shorten the key name in the device type's settings",
            ErrorKind::UnknownKey { .. } => {
                "the firmware has no such setting: check the device type's key names against the \
                 firmware"
            }
            ErrorKind::NoHardwareId { .. } => {
                "the firmware must serve its hardware id (hwinfo) read-only under this key: check \
                 the device type's hardware id key"
            }
            ErrorKind::CutShort { .. } => {
                "raise CONFIG_MCUMGR_GRP_SETTINGS_VALUE_LEN in the firmware, or use shorter ids"
            }
            ErrorKind::BadValue { .. } => {
                "the unit holds settings no station wrote: set it aside and tell the engineer"
            }
            ErrorKind::SaveRefused { .. } | ErrorKind::NotKept { .. } => {
                "the unit could not store its settings: try once more, then set it aside (its \
                 settings storage may be full or worn)"
            }
            ErrorKind::Busy => "wait a moment and try again",
            ErrorKind::Other(e) => e.help(),
        }
    }

    /// The message and the fix, in one line for the operator.
    pub fn operator_message(&self) -> String {
        let state = if self.storage_may_have_changed() {
            "The station reads the unit back to settle what it holds."
        } else {
            "The unit keeps the settings it had."
        };
        format!(
            "{} {state} Fix: {}.",
            capitalized(&self.to_string()),
            self.help()
        )
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect::<String>() + ".",
        None => String::new(),
    }
}

/// Maps a client error during `phase` on setting `key` (if any) to the driver's words.
fn classify(phase: Phase, key: Option<&str>, e: SmpError) -> DriverError {
    let key_name = || key.unwrap_or("?").to_owned();
    let kind = match &e {
        SmpError::Open { path, .. } => ErrorKind::Open { path: path.clone() },
        SmpError::Timeout { .. } => ErrorKind::NoAnswer,
        SmpError::Disconnected { .. } | SmpError::Io { .. } => ErrorKind::Disconnected,
        SmpError::TooLarge { .. } => ErrorKind::ValueTooLarge { key: key_name() },
        SmpError::Rejected { rc, command } => match rc {
            MgmtErr::NotSupported => ErrorKind::GroupNotEnabled {
                group: if command.address().1 == spec::group::OS {
                    "OS"
                } else {
                    "settings"
                },
            },
            _ if phase == Phase::Save => ErrorKind::SaveRefused { rc: *rc },
            MgmtErr::AccessDenied => ErrorKind::AccessDenied { key: key_name() },
            MgmtErr::MessageTooLarge | MgmtErr::NoMemory => {
                ErrorKind::ValueTooLarge { key: key_name() }
            }
            MgmtErr::Busy => ErrorKind::Busy,
            // The original protocol's translation of "key not found".
            MgmtErr::NotFound if key.is_some() => ErrorKind::UnknownKey { key: key_name() },
            _ => ErrorKind::Other(e),
        },
        SmpError::Group { .. } => match e.settings_error() {
            Some(SettingsErr::KeyTooLong) => ErrorKind::KeyTooLong {
                key: key_name(),
                max: NAME_LEN - 1,
            },
            Some(
                SettingsErr::KeyNotFound
                | SettingsErr::RootKeyNotFound
                | SettingsErr::WriteNotSupported
                | SettingsErr::ReadNotSupported,
            ) => ErrorKind::UnknownKey { key: key_name() },
            _ => ErrorKind::Other(e),
        },
        SmpError::Malformed { .. } => ErrorKind::Other(e),
    };
    DriverError::new(phase, kind)
}

/// Whether `e` says the key simply is not there (a blank unit).
fn is_absent(e: &SmpError) -> bool {
    matches!(
        e.settings_error(),
        Some(SettingsErr::KeyNotFound | SettingsErr::RootKeyNotFound)
    ) || matches!(
        e,
        SmpError::Rejected {
            rc: MgmtErr::NotFound,
            ..
        }
    )
}

/// Reopens the link after the unit went away (a USB console leaves on reset).
pub type Reopen<T> = Box<dyn FnMut() -> Result<T, SmpError> + Send>;

/// The MCUmgr driver's session with one unit.
pub struct Provisioner<T: Transport> {
    client: Client<T>,
    reopen: Option<Reopen<T>>,
}

impl<T: Transport> fmt::Debug for Provisioner<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provisioner")
            .field("reopens", &self.reopen.is_some())
            .finish()
    }
}

impl Provisioner<SerialTransport> {
    /// Opens `path` at `baud`; after a reset the port is reopened there.
    pub fn open_serial(path: &str, baud: u32) -> Result<Self, DriverError> {
        let open_path = path.to_owned();
        let transport =
            SerialTransport::open(path, baud).map_err(|e| classify(Phase::Identify, None, e))?;
        let reopen: Reopen<SerialTransport> =
            Box::new(move || SerialTransport::open(&open_path, baud));
        Ok(Self::new(Client::new(transport)).with_reopen(reopen))
    }
}

impl<T: Transport> Provisioner<T> {
    /// A driver session over `client`.
    pub fn new(client: Client<T>) -> Self {
        Self {
            client,
            reopen: None,
        }
    }

    /// Reopen the link with `reopen` when it goes away after a reset.
    pub fn with_reopen(mut self, reopen: Reopen<T>) -> Self {
        self.reopen = Some(reopen);
        self
    }

    /// Reads who the unit is: its hardware id (required) and, when a station wrote them, the
    /// device id and generation.
    pub fn identify(&mut self, keys: &IdentityKeys) -> Result<UnitState, DriverError> {
        self.identify_in(Phase::Identify, keys)
    }

    fn identify_in(&mut self, phase: Phase, keys: &IdentityKeys) -> Result<UnitState, DriverError> {
        let hardware_id = match self.read_text(phase, &keys.hardware_id, HARDWARE_ID_MAX)? {
            Some(id) if !id.is_empty() => id,
            _ => {
                return Err(DriverError::new(
                    phase,
                    ErrorKind::NoHardwareId {
                        key: keys.hardware_id.clone(),
                    },
                ))
            }
        };
        let device_id = self.read_text(phase, &keys.device_id, DEVICE_ID_MAX)?;
        let generation = match self.read_text(phase, &keys.generation, GENERATION_MAX)? {
            None => None,
            Some(g) => Some(g.parse::<u32>().map_err(|_| {
                DriverError::new(
                    phase,
                    ErrorKind::BadValue {
                        key: keys.generation.clone(),
                        what: "no decimal generation",
                    },
                )
            })?),
        };
        Ok(UnitState {
            hardware_id,
            device_id: device_id.filter(|d| !d.is_empty()),
            generation,
        })
    }

    /// A non-secret text setting, `None` when the unit has no such key.
    fn read_text(
        &mut self,
        phase: Phase,
        key: &str,
        max: u32,
    ) -> Result<Option<String>, DriverError> {
        match self.client.settings_read_max(key, max) {
            Ok((value, limit)) => {
                if let Some(limit) = limit.filter(|l| value.len() >= *l as usize) {
                    return Err(DriverError::new(
                        phase,
                        ErrorKind::CutShort {
                            key: key.to_owned(),
                            limit,
                        },
                    ));
                }
                String::from_utf8(value).map(Some).map_err(|_| {
                    DriverError::new(
                        phase,
                        ErrorKind::BadValue {
                            key: key.to_owned(),
                            what: "no UTF-8 text",
                        },
                    )
                })
            }
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(classify(phase, Some(key), e)),
        }
    }

    /// Writes `settings` (the one named `generation_key` last), saves them, resets the unit and
    /// reads every non-secret one back. `Ok` only when storage is proven to hold them.
    pub fn write_config(
        &mut self,
        settings: &[Setting<'_>],
        generation_key: &str,
        progress: &mut dyn FnMut(ProvisionStep),
    ) -> Result<Verification, DriverError> {
        let mut order: Vec<&Setting<'_>> = settings.iter().collect();
        // Stable: the generation moves to the end, everything else keeps the caller's order.
        order.sort_by_key(|s| s.name == generation_key);
        check_fits(&order)?;
        let total = order.len();
        for (done, s) in order.iter().enumerate() {
            progress(ProvisionStep::Write { done, total });
            if let Err(e) = self.client.settings_write(s.name, s.value) {
                let err = classify(Phase::Write, Some(s.name), e);
                self.forget_unsaved();
                return Err(err);
            }
        }
        progress(ProvisionStep::Save);
        self.client
            .settings_save()
            .map_err(|e| classify(Phase::Save, None, e))?;
        progress(ProvisionStep::Reset);
        self.reset(Phase::Reset)?;
        progress(ProvisionStep::Verify);
        self.verify(&order)
    }

    /// Settles an unknown outcome: resets the unit (RAM forgotten, storage loaded) and reads
    /// back what it holds in storage.
    pub fn settle(&mut self, keys: &IdentityKeys) -> Result<UnitState, DriverError> {
        self.reset(Phase::Identify)?;
        self.after_boot(|p| p.identify_in(Phase::Identify, keys))
    }

    /// Resets the unit, without reading anything back.
    pub fn reset_unit(&mut self) -> Result<(), DriverError> {
        self.reset(Phase::Reset)
    }

    fn verify(&mut self, order: &[&Setting<'_>]) -> Result<Verification, DriverError> {
        let mut out = Verification::default();
        for s in order {
            if s.secret {
                out.written_only.push(s.name.to_owned());
                continue;
            }
            let asked = u32::try_from(s.value.len()).unwrap_or(u32::MAX);
            let (got, limit) =
                self.after_boot(|p| match p.client.settings_read_max(s.name, asked) {
                    Ok(v) => Ok(v),
                    Err(e) if is_absent(&e) => Ok((Vec::new(), None)),
                    Err(e) => Err(classify(Phase::Verify, Some(s.name), e)),
                })?;
            let cut = limit.is_some() && got.len() < s.value.len();
            let expected = if cut { &s.value[..got.len()] } else { s.value };
            if got != expected {
                return Err(DriverError::new(
                    Phase::Verify,
                    ErrorKind::NotKept {
                        key: s.name.to_owned(),
                    },
                ));
            }
            if cut {
                out.read_back_prefix.push((s.name.to_owned(), got.len()));
            } else {
                out.read_back.push(s.name.to_owned());
            }
        }
        Ok(out)
    }

    /// Resets through the OS group and waits out Zephyr's reset delay.
    fn reset(&mut self, phase: Phase) -> Result<(), DriverError> {
        let answered = self.client.reset();
        // The firmware may restart before its answer leaves (or the USB console drop first):
        // a lost answer is not a failed reset; the reads that follow tell.
        match answered {
            Ok(()) | Err(SmpError::Disconnected { .. } | SmpError::Timeout { .. }) => {}
            Err(e) => return Err(classify(phase, None, e)),
        }
        std::thread::sleep(spec::RESET_SETTLE);
        Ok(())
    }

    /// Runs `op` until the restarted unit answers (reopening the port if it went away), up
    /// to [`spec::BOOT_TIMEOUT`].
    fn after_boot<R>(
        &mut self,
        mut op: impl FnMut(&mut Self) -> Result<R, DriverError>,
    ) -> Result<R, DriverError> {
        let deadline = std::time::Instant::now() + spec::BOOT_TIMEOUT;
        loop {
            match op(self) {
                Err(e)
                    if matches!(e.kind, ErrorKind::NoAnswer | ErrorKind::Disconnected)
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(spec::BOOT_POLL);
                    if matches!(e.kind, ErrorKind::Disconnected) {
                        self.try_reopen();
                    }
                }
                other => return other,
            }
        }
    }

    fn try_reopen(&mut self) {
        if let Some(reopen) = self.reopen.as_mut() {
            match reopen() {
                Ok(t) => self.client = Client::new(t),
                Err(e) => tracing::debug!(error = %e, "port not back yet"),
            }
        }
    }

    /// After a failed write: reset, best effort, so values written to RAM cannot reach storage
    /// through a later save by the firmware itself.
    fn forget_unsaved(&mut self) {
        if let Err(e) = self.client.reset() {
            tracing::debug!(error = %e, "reset after a failed write not answered");
        }
    }
}

/// Longest hardware id read (a 128-bit hwinfo id in hex is 32 characters; some are longer).
const HARDWARE_ID_MAX: u32 = 64;
/// Longest device id a station writes (`MAX_DEVICE_ID_LEN` of the station protocol).
const DEVICE_ID_MAX: u32 = 128;
/// Longest generation in decimal (`u32::MAX` has 10 digits).
const GENERATION_MAX: u32 = 10;

/// Refuses, before anything is sent, a key name the firmware cannot take or a write that does
/// not fit one SMP packet: bad input changes nothing on the unit.
fn check_fits(order: &[&Setting<'_>]) -> Result<(), DriverError> {
    for s in order {
        if s.name.is_empty() || s.name.len() >= NAME_LEN {
            return Err(DriverError::new(
                Phase::Write,
                ErrorKind::KeyTooLong {
                    key: s.name.to_owned(),
                    max: NAME_LEN - 1,
                },
            ));
        }
        let payload = cbor::encode_map(vec![
            ("name", Value::from(s.name)),
            ("val", Value::Bytes(vec![0; s.value.len()])),
        ]);
        if HEADER_LEN + payload.len() > MAX_PACKET {
            return Err(DriverError::new(
                Phase::Write,
                ErrorKind::ValueTooLarge {
                    key: s.name.to_owned(),
                },
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_from_the_save_on_may_have_changed_storage() {
        let e = |phase| DriverError::new(phase, ErrorKind::NoAnswer);
        assert!(!e(Phase::Identify).storage_may_have_changed());
        assert!(!e(Phase::Write).storage_may_have_changed());
        for p in [Phase::Save, Phase::Reset, Phase::Verify] {
            assert!(e(p).storage_may_have_changed());
        }
    }

    #[test]
    fn a_key_name_too_long_for_zephyr_is_refused_before_sending() {
        let long = "k".repeat(NAME_LEN);
        let s = Setting {
            name: &long,
            value: b"v",
            secret: false,
        };
        let e = check_fits(&[&s]).expect_err("too long");
        assert!(matches!(e.kind, ErrorKind::KeyTooLong { .. }), "{e:?}");
        let big = vec![b'x'; MAX_PACKET];
        let s = Setting {
            name: "dh/host",
            value: &big,
            secret: true,
        };
        let e = check_fits(&[&s]).expect_err("too large");
        assert!(matches!(e.kind, ErrorKind::ValueTooLarge { .. }), "{e:?}");
        assert!(!format!("{s:?}").contains("xxx"), "Debug hides the value");
    }
}
