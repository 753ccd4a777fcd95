//! Device drivers: how the flash pipeline reaches a unit, whatever its firmware speaks.
//!
//! This module owns [`UnitDriver`], what [`crate::flash`] needs from a unit (identify it, prove
//! possession when it can, write one device config and verify it, identify it again), the
//! driver's typed failure ([`DriverError`]), what a driver can prove about a write
//! ([`VerifyMethod`], [`Verification`]), which driver a device type names ([`DriverKind`],
//! [`DriverSpec`], its settings as JSON), and [`ProtocolDriver`], the protocol of
//! `docs/protocol.md` as one driver among others.
//!
//! The pending-generation rules, the wrong-unit guards (hardware id), records and hooks stay in
//! [`crate::flash`], above this trait, so they hold the same for every driver. A driver only
//! says what the unit reports ([`Identity`]): its hardware id, and the device id and generation
//! it holds when it can tell. A driver that cannot read a generation back makes every
//! unconfirmed write stay pending until it can (never "confirmed" on a guess).

use serde::{Deserialize, Serialize};
use station_protocol::proof::{ProofMac, ProofNonce};
use station_protocol::{spec, Client, ClientStats, DeviceConfig, ProtocolError, Transport};

pub use station_protocol::Identity;

use crate::error::{CoreError, Result};
use crate::outcome::FailReason;

/// The driver a device type names. Stored by its stable name (`as_str`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum DriverKind {
    /// The station's own serial protocol (`docs/protocol.md`).
    #[default]
    Protocol,
    /// An ESP-IDF NVS partition image written over the ESP ROM serial loader.
    Nvs,
    /// Zephyr MCUmgr (SMP) settings over the serial console.
    Mcumgr,
}

impl DriverKind {
    /// Every driver, in declaration order.
    pub const ALL: &'static [DriverKind] =
        &[DriverKind::Protocol, DriverKind::Nvs, DriverKind::Mcumgr];

    /// The stable name, as stored and as the faces take it.
    pub fn as_str(self) -> &'static str {
        match self {
            DriverKind::Protocol => "protocol",
            DriverKind::Nvs => "nvs",
            DriverKind::Mcumgr => "mcumgr",
        }
    }

    /// Parses a stable name; an unknown one is refused naming the known ones.
    pub fn parse(name: &str) -> Result<DriverKind> {
        DriverKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == name.trim())
            .ok_or_else(|| {
                CoreError::invalid(
                    "driver",
                    format!("there is no driver called {name:?}"),
                    format!(
                        "name one of: {}",
                        DriverKind::ALL
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }
}

impl std::fmt::Display for DriverKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A device type's driver and the driver's own settings (a JSON object; each driver checks its
/// own and says what is wrong). The protocol driver takes none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DriverSpec {
    pub kind: DriverKind,
    /// The settings as stored: a JSON object, `{}` when there are none.
    pub settings: String,
}

impl DriverSpec {
    /// The protocol driver, with no settings.
    pub fn protocol() -> Self {
        DriverSpec {
            kind: DriverKind::Protocol,
            settings: "{}".into(),
        }
    }

    /// The settings as a JSON object; anything else is refused.
    pub fn settings_json(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        parse_settings(&self.settings)
    }
}

/// Parses driver settings: a JSON object (an empty text is `{}`).
pub fn parse_settings(text: &str) -> Result<serde_json::Map<String, serde_json::Value>> {
    if text.trim().is_empty() {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(CoreError::invalid(
            "driver settings",
            "the driver settings are not a JSON object",
            "give them as {\"name\": value, ...}",
        )),
        Err(e) => Err(CoreError::invalid(
            "driver settings",
            format!("the driver settings are not valid JSON ({e})"),
            "give them as {\"name\": value, ...}",
        )),
    }
}

/// How a driver checks that a write landed. Stable names: the faces show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum VerifyMethod {
    /// The unit checked a digest of every value before it committed them (protocol COMMIT).
    ConfigDigest,
    /// The loader's MD5 of the flash region equals the MD5 of the image written.
    FlashMd5,
    /// Non-secret values were read back equal; secrets were written only.
    ReadbackNonSecret,
    /// Nothing could be checked.
    None,
}

/// What a driver proved about one write: the method and which settings it covered. Secrets
/// that a method cannot cover are named in `unverified`, so the result says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Verification {
    pub method: VerifyMethod,
    /// The config keys (wire names of `docs/protocol.md`) the method covered.
    pub verified: Vec<String>,
    /// The keys written but not checked.
    pub unverified: Vec<String>,
}

impl Verification {
    /// Every key covered by `method`.
    pub fn all(method: VerifyMethod) -> Self {
        Verification {
            method,
            verified: station_protocol::Key::ALL
                .iter()
                .map(|k| k.name().to_owned())
                .collect(),
            unverified: Vec::new(),
        }
    }
}

/// A failure in a driver that is not the protocol's: in the driver's own words, with a typed
/// reason for the faces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverFailure {
    pub reason: FailReason,
    /// The operator's words: what happened and what it means for the unit.
    pub message: String,
    /// The unit may or may not hold the new config (the link broke after the last byte went
    /// out): the generation stays pending until the unit is read again.
    pub outcome_unknown: bool,
}

/// Why a driver step failed.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("{}", .0.message)]
    Driver(DriverFailure),
}

impl DriverError {
    /// A driver failure whose outcome is known (nothing, or not the new config, on the unit).
    pub fn failed(reason: FailReason, message: impl Into<String>) -> Self {
        DriverError::Driver(DriverFailure {
            reason,
            message: message.into(),
            outcome_unknown: false,
        })
    }

    /// A failure after which the unit may hold the new config.
    pub fn outcome_unknown(reason: FailReason, message: impl Into<String>) -> Self {
        DriverError::Driver(DriverFailure {
            reason,
            message: message.into(),
            outcome_unknown: true,
        })
    }

    /// Whether the unit may hold what was written.
    pub fn commit_outcome_unknown(&self) -> bool {
        match self {
            DriverError::Protocol(e) => e.commit_outcome_unknown(),
            DriverError::Driver(f) => f.outcome_unknown,
        }
    }

    /// The operator's words.
    pub fn operator_message(&self) -> String {
        match self {
            DriverError::Protocol(e) => e.operator_message(),
            DriverError::Driver(f) => f.message.clone(),
        }
    }

    /// The typed reason, `commit_outcome_unknown` while the outcome is unknown.
    pub fn reason(&self) -> FailReason {
        match self {
            DriverError::Protocol(e) => FailReason::of_protocol(e),
            DriverError::Driver(f) if f.outcome_unknown => FailReason::CommitOutcomeUnknown,
            DriverError::Driver(f) => f.reason,
        }
    }

    /// The reason once the outcome is known (the unit was asked again).
    pub fn definite_reason(&self) -> FailReason {
        match self {
            DriverError::Protocol(e) => FailReason::of_protocol_definite(e),
            DriverError::Driver(f) => f.reason,
        }
    }

    /// As the station's error.
    pub fn to_core(&self) -> CoreError {
        CoreError::Device {
            message: self.operator_message(),
            reason: self.reason(),
        }
    }
}

/// Progress of [`UnitDriver::write`], reported before each part starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteProgress {
    /// `done` of `total` parts (keys, blocks, frames) sent.
    Sent { done: u32, total: u32 },
    /// Checking the write.
    Verify,
}

/// What the flash pipeline needs from a unit. One driver instance talks to one unit over one
/// open link, for one job.
pub trait UnitDriver: Send {
    /// Which driver this is.
    fn kind(&self) -> DriverKind;

    /// What this driver can prove about a write, before writing.
    fn can_prove(&self) -> VerifyMethod;

    /// Who the unit is and what it holds. Writes nothing the unit keeps. Called first, and
    /// again after a write (or a write whose outcome is unknown) to settle it.
    fn identify(&mut self) -> std::result::Result<Identity, DriverError>;

    /// Answer a possession challenge (protocol §10.3). Only called when the unit's identity
    /// offers `PROVE`; a driver that never does keeps the default.
    fn prove(&mut self, _nonce: &ProofNonce) -> std::result::Result<ProofMac, DriverError> {
        Err(DriverError::failed(
            FailReason::UnknownCommand,
            "This unit cannot prove possession of its credentials.",
        ))
    }

    /// Write `cfg` into the unit `unit` (as identified) and verify it as far as the driver can.
    /// `Ok` only when the verification passed.
    fn write(
        &mut self,
        cfg: &DeviceConfig,
        unit: &Identity,
        progress: &mut dyn FnMut(WriteProgress),
    ) -> std::result::Result<Verification, DriverError>;

    /// The job is over, whatever its result: hand the unit back to its application (the ESP
    /// loader resets into the app). Failures are logged, never a failed flash.
    fn finish(&mut self) {}

    /// Counters for the outcome and the benchmarks; `link_baud` is the rate of the write.
    fn stats(&self) -> ClientStats;

    /// The unit speaks protocol 1.0 (no `BAUD`): the protocol driver's note for the outcome.
    fn protocol_1_0_unit(&self, _unit: &Identity) -> bool {
        false
    }
}

/// The protocol of `docs/protocol.md` as a driver: HELLO identifies, COMMIT's digest verifies,
/// PROVE proves possession, BAUD speeds up the write.
pub struct ProtocolDriver<T: Transport> {
    client: Client<T>,
}

impl<T: Transport> ProtocolDriver<T> {
    pub fn new(transport: T) -> Self {
        ProtocolDriver {
            client: Client::new(transport),
        }
    }
}

impl<T: Transport> UnitDriver for ProtocolDriver<T> {
    fn kind(&self) -> DriverKind {
        DriverKind::Protocol
    }

    fn can_prove(&self) -> VerifyMethod {
        VerifyMethod::ConfigDigest
    }

    fn identify(&mut self) -> std::result::Result<Identity, DriverError> {
        Ok(self.client.hello()?)
    }

    fn prove(&mut self, nonce: &ProofNonce) -> std::result::Result<ProofMac, DriverError> {
        Ok(self.client.prove(nonce)?)
    }

    fn write(
        &mut self,
        cfg: &DeviceConfig,
        unit: &Identity,
        progress: &mut dyn FnMut(WriteProgress),
    ) -> std::result::Result<Verification, DriverError> {
        use station_protocol::WriteStep;
        let mut on_step = |s: WriteStep| match s {
            WriteStep::Begin => progress(WriteProgress::Sent {
                done: 0,
                total: station_protocol::Key::ALL.len() as u32,
            }),
            WriteStep::Stage { index, total, .. } => progress(WriteProgress::Sent {
                done: index as u32,
                total: total as u32,
            }),
            WriteStep::Commit => progress(WriteProgress::Verify),
            WriteStep::Done => {}
        };
        // Right before BEGIN: the unit's idle revert must not run out between switch and
        // write. An error here means the unit answers at neither rate; the write would fail
        // the same way.
        self.client.fast_wire(unit)?;
        self.client
            .write_config(cfg, &unit.hardware_id, &mut on_step)?;
        Ok(Verification::all(VerifyMethod::ConfigDigest))
    }

    fn stats(&self) -> ClientStats {
        self.client.stats()
    }

    fn protocol_1_0_unit(&self, unit: &Identity) -> bool {
        !unit.has_capability(spec::CAP_BAUD)
    }
}
