//! What a simulated SMP device is and which faults it injects.
//!
//! This module owns [`SimOptions`] and the rule types the `station-smpsim` command line parses
//! (`--error`, `--power-loss`), so the binary and in-process tests configure the simulator the
//! same way.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::codes::MgmtErr;

/// The requests the simulator can refuse, by the names the command line uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimRequest {
    /// Settings read.
    Read,
    /// Settings write.
    Write,
    /// Settings delete.
    Delete,
    /// Settings commit.
    Commit,
    /// Settings load.
    Load,
    /// Settings save.
    Save,
    /// OS reset.
    Reset,
}

impl SimRequest {
    /// Every request, in command-line order.
    pub const ALL: [SimRequest; 7] = [
        SimRequest::Read,
        SimRequest::Write,
        SimRequest::Delete,
        SimRequest::Commit,
        SimRequest::Load,
        SimRequest::Save,
        SimRequest::Reset,
    ];

    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            SimRequest::Read => "read",
            SimRequest::Write => "write",
            SimRequest::Delete => "delete",
            SimRequest::Commit => "commit",
            SimRequest::Load => "load",
            SimRequest::Save => "save",
            SimRequest::Reset => "reset",
        }
    }

    /// `(group, id, is_write)` on the wire.
    pub fn address(self) -> (u16, u8, bool) {
        use crate::spec::{group, os, settings};
        match self {
            SimRequest::Read => (group::SETTINGS, settings::READ_WRITE, false),
            SimRequest::Write => (group::SETTINGS, settings::READ_WRITE, true),
            SimRequest::Delete => (group::SETTINGS, settings::DELETE, true),
            SimRequest::Commit => (group::SETTINGS, settings::COMMIT, true),
            SimRequest::Load => (group::SETTINGS, settings::LOAD_SAVE, false),
            SimRequest::Save => (group::SETTINGS, settings::LOAD_SAVE, true),
            SimRequest::Reset => (group::OS, os::RESET, true),
        }
    }
}

/// Answer a request with `{"rc": rc}` without acting, `count` times (or always).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRule {
    /// Request to refuse.
    pub request: SimRequest,
    /// Code to answer with.
    pub rc: MgmtErr,
    /// How many times; `None` = every time.
    pub count: Option<u32>,
}

impl FromStr for ErrorRule {
    type Err = String;

    /// `REQUEST:RC[:COUNT]`, e.g. `write:busy:2`, `save:no_memory`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split(':');
        let name = parts.next().unwrap_or("");
        let request = SimRequest::ALL
            .into_iter()
            .find(|r| r.name() == name)
            .ok_or_else(|| {
                let names: Vec<_> = SimRequest::ALL.iter().map(|r| r.name()).collect();
                format!("unknown request {name:?}; one of {}", names.join(", "))
            })?;
        let rc_name = parts.next().ok_or("expected REQUEST:RC[:COUNT]")?;
        let rc = MgmtErr::from_name(rc_name).ok_or_else(|| format!("unknown rc {rc_name:?}"))?;
        let count = parts
            .next()
            .map(|c| c.parse().map_err(|_| format!("bad count {c:?}")))
            .transpose()?;
        if parts.next().is_some() {
            return Err("expected REQUEST:RC[:COUNT]".to_owned());
        }
        Ok(ErrorRule { request, rc, count })
    }
}

/// When the simulated power fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerLoss {
    /// After applying the Nth settings write, before answering: RAM is lost, storage kept.
    AfterWrite(u32),
    /// After saving, before answering: storage holds the saved values.
    AfterSave,
}

impl FromStr for PowerLoss {
    type Err = String;

    /// `after-write[:N]` (N defaults to 1) or `after-save`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            None if s == "after-write" => Ok(PowerLoss::AfterWrite(1)),
            None if s == "after-save" => Ok(PowerLoss::AfterSave),
            Some(("after-write", n)) => n
                .parse()
                .map(PowerLoss::AfterWrite)
                .map_err(|_| format!("bad write count {n:?}")),
            _ => Err("expected after-write[:N] or after-save".to_owned()),
        }
    }
}

/// Everything about one simulated SMP device.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Settings storage at power-on.
    pub saved: BTreeMap<String, Vec<u8>>,
    /// Keys under these prefixes are write-only (reads answer ACCESS_DENIED).
    pub secret_prefixes: Vec<String>,
    /// Whether the firmware has the settings group (without it: NOT_SUPPORTED).
    pub settings_enabled: bool,
    /// Read-only keys the firmware serves from its own handler (a hardware id).
    pub read_only: BTreeMap<String, Vec<u8>>,
    /// `CONFIG_MCUMGR_GRP_SETTINGS_VALUE_LEN`: longest value a read serves (`None`: whole).
    pub value_len: Option<usize>,
    /// Saves answer success but storage is not written (a failing settings backend).
    pub save_lost: bool,
    /// Print a Zephyr boot banner when the port is opened and after every reset.
    pub boot_noise: bool,
    /// Print a log line after every answer (console logging shares the wire).
    pub log_noise: bool,
    /// Probability that any byte, either direction, is lost.
    pub drop_rate: f64,
    /// Probability that any byte, either direction, is changed.
    pub corrupt_rate: f64,
    /// Seed of the fault generator: same seed, same faults.
    pub seed: u64,
    /// Refusals to inject.
    pub errors: Vec<ErrorRule>,
    /// Pull the cable when the Nth settings write arrives (it is not applied).
    pub unplug_at_write: Option<u32>,
    /// Power loss after a write or a save.
    pub power_loss: Option<PowerLoss>,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            saved: BTreeMap::new(),
            secret_prefixes: Vec::new(),
            settings_enabled: true,
            read_only: BTreeMap::new(),
            value_len: None,
            save_lost: false,
            boot_noise: false,
            log_noise: false,
            drop_rate: 0.0,
            corrupt_rate: 0.0,
            seed: 0x5EED,
            errors: Vec::new(),
            unplug_at_write: None,
            power_loss: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse() {
        assert_eq!(
            "write:busy:2".parse::<ErrorRule>(),
            Ok(ErrorRule {
                request: SimRequest::Write,
                rc: MgmtErr::Busy,
                count: Some(2)
            })
        );
        assert!("fly:busy".parse::<ErrorRule>().is_err());
        assert!("write:nope".parse::<ErrorRule>().is_err());
        assert_eq!("after-write:3".parse(), Ok(PowerLoss::AfterWrite(3)));
        assert_eq!("after-save".parse(), Ok(PowerLoss::AfterSave));
        assert!("after-lunch".parse::<PowerLoss>().is_err());
    }
}
