//! The simulated SMP server: one request packet in, one answer packet out.
//!
//! This module owns what Zephyr's SMP layer and its OS and settings groups answer
//! (`smp.c`, `os_mgmt.c`, `settings_mgmt.c`): the answer's header (request's sequence, group
//! and id, op + 1, the request's version), `{"rc": n}` for management errors, and for the
//! settings group's own errors `{"err": {"group": 3, "rc": n}}` in SMP version 2 or the
//! translated `rc` in the original protocol (`settings_mgmt_translate_error_code`). Secret keys
//! are write-only: a read of a key under a secret prefix is refused by the access hook with
//! `MGMT_ERR_EACCESSDENIED`, as an application's `MGMT_EVT_OP_SETTINGS_MGMT_ACCESS` callback
//! does. Faults are not here; `sim::device` wraps this with them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ciborium::Value;

use crate::cbor::{self, Map};
use crate::codes::{MgmtErr, SettingsErr};
use crate::header::{Header, Op};
use crate::sim::store::Settings;
use crate::spec::{group, os, settings, HEADER_LEN, MAX_PACKET, SMP_VERSION_2};

/// `CONFIG_MCUMGR_GRP_SETTINGS_NAME_LEN`'s default: key names must be shorter.
pub const NAME_LEN: usize = 32;
/// `buf_count` the OS group reports (`CONFIG_MCUMGR_TRANSPORT_NETBUF_COUNT`'s default).
const BUF_COUNT: u32 = 4;

/// What answering a request did to the device, for the fault layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing the fault layer cares about.
    None,
    /// A settings write was applied.
    Wrote,
    /// The settings were saved.
    Saved,
    /// A reset was accepted: the device restarts after answering.
    Reset,
}

/// How the server is built, like a firmware's Kconfig.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `CONFIG_MCUMGR_GRP_SETTINGS`: without it group 3 answers NOT_SUPPORTED.
    pub settings_enabled: bool,
    /// Keys starting with any of these cannot be read back.
    pub secret_prefixes: Vec<String>,
    /// Keys the firmware serves read-only from its own handler (e.g. a hardware id from
    /// `hwinfo_get_device_id`): reads answer the value, writes `WRITE_NOT_SUPPORTED`.
    pub read_only: BTreeMap<String, Vec<u8>>,
    /// `CONFIG_MCUMGR_GRP_SETTINGS_VALUE_LEN`: reads serve at most this many bytes (`None`:
    /// the whole value).
    pub value_len: Option<usize>,
    /// The settings backend fails to write storage. `settings_mgmt_save` ignores what
    /// `settings_save()` returns, so the answer is still success: only a read after a reset
    /// can tell.
    pub save_lost: bool,
}

/// The SMP server of one simulated device.
#[derive(Debug)]
pub struct Server {
    settings: Arc<Mutex<Settings>>,
    config: ServerConfig,
}

/// Locks the settings; a panicked holder cannot leave them half-changed (every change is one
/// map operation), so a poisoned lock is still usable.
pub(crate) fn lock(settings: &Mutex<Settings>) -> MutexGuard<'_, Settings> {
    settings
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An answer body: the command's fields or an error of either kind.
enum Reply {
    Ok(Vec<(&'static str, Value)>),
    Rc(MgmtErr),
    Settings(SettingsErr),
}

impl Server {
    /// A server over `settings`.
    pub fn new(settings: Arc<Mutex<Settings>>, config: ServerConfig) -> Self {
        Self { settings, config }
    }

    /// Answers one request packet; `None` for packets that are not requests (ignored, as
    /// Zephyr drops them).
    pub fn handle(&mut self, packet: &[u8]) -> Option<(Vec<u8>, Action)> {
        let req = Header::decode(packet)?;
        let reply_op = req.op.response()?;
        let body = packet.get(HEADER_LEN..)?;
        let (reply, action) = if req.version > SMP_VERSION_2 {
            (Reply::Rc(MgmtErr::VersionTooNew), Action::None)
        } else if body.len() != usize::from(req.len) {
            (Reply::Rc(MgmtErr::InvalidValue), Action::None)
        } else {
            match cbor::decode_map(body) {
                Some(map) => self.dispatch(&req, &map),
                None => (Reply::Rc(MgmtErr::InvalidValue), Action::None),
            }
        };
        let version = req.version.min(SMP_VERSION_2);
        Some((encode_reply(&req, reply_op, version, reply), action))
    }

    /// The answer to an injected error: `{"rc": rc}` in reply to `packet`.
    pub fn error_reply(packet: &[u8], rc: MgmtErr) -> Option<Vec<u8>> {
        let req = Header::decode(packet)?;
        let op = req.op.response()?;
        Some(encode_reply(
            &req,
            op,
            req.version.min(SMP_VERSION_2),
            Reply::Rc(rc),
        ))
    }

    fn dispatch(&mut self, req: &Header, map: &Map) -> (Reply, Action) {
        match (req.group, req.id, req.op) {
            (group::OS, os::ECHO, Op::Write) => match cbor::get(map, "d") {
                Some(Value::Text(d)) => (
                    Reply::Ok(vec![("r", Value::from(d.as_str()))]),
                    Action::None,
                ),
                _ => (Reply::Rc(MgmtErr::InvalidValue), Action::None),
            },
            (group::OS, os::RESET, Op::Write) => (Reply::Ok(Vec::new()), Action::Reset),
            (group::OS, os::MCUMGR_PARAMS, Op::Read) => {
                let fields = vec![
                    ("buf_size", Value::from(MAX_PACKET as u64)),
                    ("buf_count", Value::from(BUF_COUNT)),
                ];
                (Reply::Ok(fields), Action::None)
            }
            (group::SETTINGS, ..) if self.config.settings_enabled => self.settings_group(req, map),
            _ => (Reply::Rc(MgmtErr::NotSupported), Action::None),
        }
    }

    fn settings_group(&mut self, req: &Header, map: &Map) -> (Reply, Action) {
        let mut s = lock(&self.settings);
        match (req.id, req.op) {
            (settings::READ_WRITE, Op::Read) => (self.read(&s, map), Action::None),
            (settings::READ_WRITE, Op::Write) => match (key(map), cbor::get(map, "val")) {
                (Ok(name), Some(Value::Bytes(_))) if self.config.read_only.contains_key(name) => (
                    Reply::Settings(SettingsErr::WriteNotSupported),
                    Action::None,
                ),
                (Ok(name), Some(Value::Bytes(val))) => {
                    s.live.insert(name.to_owned(), val.clone());
                    (Reply::Ok(Vec::new()), Action::Wrote)
                }
                (Err(e), _) => (e, Action::None),
                (Ok(_), _) => (Reply::Rc(MgmtErr::InvalidValue), Action::None),
            },
            (settings::DELETE, Op::Write) => match key(map) {
                Ok(name) => {
                    let had = s.saved.remove(name).is_some() | s.live.remove(name).is_some();
                    let reply = if had {
                        Reply::Ok(Vec::new())
                    } else {
                        Reply::Settings(SettingsErr::KeyNotFound)
                    };
                    (reply, Action::None)
                }
                Err(e) => (e, Action::None),
            },
            (settings::COMMIT, Op::Write) => {
                s.commits += 1;
                (Reply::Ok(Vec::new()), Action::None)
            }
            (settings::LOAD_SAVE, Op::Read) => {
                s.load();
                (Reply::Ok(Vec::new()), Action::None)
            }
            (settings::LOAD_SAVE, Op::Write) => {
                if !self.config.save_lost {
                    s.save();
                }
                (Reply::Ok(Vec::new()), Action::Saved)
            }
            _ => (Reply::Rc(MgmtErr::NotSupported), Action::None),
        }
    }

    fn read(&self, s: &Settings, map: &Map) -> Reply {
        let name = match key(map) {
            Ok(name) => name,
            Err(e) => return e,
        };
        if self
            .config
            .secret_prefixes
            .iter()
            .any(|p| name.starts_with(p.as_str()))
        {
            return Reply::Rc(MgmtErr::AccessDenied);
        }
        let Some(value) = self.config.read_only.get(name).or_else(|| s.live.get(name)) else {
            return Reply::Settings(SettingsErr::KeyNotFound);
        };
        // As settings_mgmt_read: `max_size` defaults to VALUE_LEN; a larger request is capped
        // to it and the answer says so with "max_size"; the value is cut to the limit.
        let cap = self.config.value_len.unwrap_or(MAX_PACKET);
        let asked = cbor::get_u32(map, "max_size").map_or(cap, |m| m as usize);
        let limited = asked > cap;
        let max = asked.min(cap);
        let mut fields = vec![("val", Value::Bytes(value[..value.len().min(max)].to_vec()))];
        if limited {
            fields.push(("max_size", Value::from(cap as u64)));
        }
        Reply::Ok(fields)
    }
}

/// The request's `name`, checked as `settings_mgmt.c` checks it.
fn key(map: &Map) -> Result<&str, Reply> {
    match cbor::get(map, "name") {
        Some(Value::Text(name)) if !name.is_empty() => {
            if name.len() >= NAME_LEN {
                Err(Reply::Settings(SettingsErr::KeyTooLong))
            } else {
                Ok(name)
            }
        }
        _ => Err(Reply::Rc(MgmtErr::InvalidValue)),
    }
}

/// `settings_mgmt_translate_error_code`: a settings error in the original protocol.
fn translate_v1(e: SettingsErr) -> MgmtErr {
    match e {
        SettingsErr::KeyTooLong => MgmtErr::InvalidValue,
        SettingsErr::KeyNotFound | SettingsErr::ReadNotSupported => MgmtErr::NotFound,
        _ => MgmtErr::Unknown,
    }
}

fn encode_reply(req: &Header, op: Op, version: u8, reply: Reply) -> Vec<u8> {
    let fields = match reply {
        Reply::Ok(fields) => fields,
        Reply::Rc(rc) => vec![("rc", Value::from(rc.code()))],
        Reply::Settings(e) if version >= SMP_VERSION_2 => vec![(
            "err",
            Value::Map(vec![
                (Value::from("group"), Value::from(group::SETTINGS)),
                (Value::from("rc"), Value::from(e.code())),
            ]),
        )],
        Reply::Settings(e) => vec![("rc", Value::from(translate_v1(e).code()))],
    };
    let body = cbor::encode_map(fields);
    let header = Header {
        op,
        version,
        flags: 0,
        len: u16::try_from(body.len()).unwrap_or(u16::MAX),
        group: req.group,
        seq: req.seq,
        id: req.id,
    };
    let mut packet = header.encode().to_vec();
    packet.extend_from_slice(&body);
    packet
}
