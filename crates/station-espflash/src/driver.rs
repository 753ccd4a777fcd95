//! The ESP-IDF NVS driver: one device config as an NVS partition image, written over the ESP32
//! ROM loader into the NVS partition the unit's own partition table names, verified with the
//! loader's flash MD5.
//!
//! - **Identify**: reset into the loader (DTR/RTS), SYNC, check the chip, read the MAC (the
//!   hardware id), read the partition table at its offset, find the NVS partition, and read the
//!   device id and the generation keys back, entry by entry ([`crate::nvs_read`]): only those
//!   two values come back over the wire, never a secret's.
//! - **Write**: the image is built in memory for the whole partition (`station_nvs`, zeroized
//!   when dropped, never on disk, never logged), FLASH_BEGIN erases the partition, FLASH_DATA
//!   writes it, and SPI_FLASH_MD5 of the region must equal the image's MD5. Nothing counts as
//!   written unless it does. A failure after FLASH_BEGIN leaves the unit's NVS erased or partly
//!   written: its outcome is "unknown" to the flow, which reads the unit again and keeps the
//!   previous generation in force on the station's record unless the unit holds the new one.
//!   The generation key is the image's last item (`Key::ALL` ends with it), so a cut write
//!   never reads back as the new generation without every key before it; a unit left blank
//!   gets its own device back on the retry (`station_core::flash`, docs/trust.md).
//! - **Finish**: FLASH_END and a hard reset (RTS) into the application.
//!
//! Settings (the device type's JSON object, all strings): `namespace` (default `dh`),
//! `partition` (label; default the `nvs` data partition, else the first data/nvs one),
//! `table_offset` (default `0x8000`), `flash_size` (default 4 MB), `baud` (default 115200),
//! `key.<config key>` (the NVS key for one of the protocol's config keys; default its own
//! name, and `dh_generation` for `generation`).

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use station_core::driver::{
    DriverError, DriverKind, Identity, UnitDriver, Verification, VerifyMethod, WriteProgress,
};
use station_core::{CoreError, FailReason};
use station_nvs::{NvsError, NvsImage, Partition, PartitionTable};
use station_protocol::{ClientStats, DeviceConfig, Key, Transport};
use zeroize::Zeroizing;

use crate::loader::{Loader, LoaderError, ResetLines};
use crate::nvs_read::{self, FlashRead, ReadValue};
use crate::rom;

/// The generation's NVS key unless the type names another.
pub const DEFAULT_GENERATION_KEY: &str = "dh_generation";
/// The namespace unless the type names another.
pub const DEFAULT_NAMESPACE: &str = "dh";
/// What the identity says for firmware: the ROM loader cannot tell the application's version.
pub const FIRMWARE_UNKNOWN: &str = "esp32 (application version not readable by the loader)";

// The image's items follow `Key::ALL`: the generation must be the last one written, the
// commit marker of an erase-first write (module docs).
const _: () = assert!(matches!(Key::ALL[Key::ALL.len() - 1], Key::Generation));

/// The NVS driver's settings, parsed from the device type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvsSettings {
    pub namespace: String,
    pub partition: Option<String>,
    pub table_offset: u32,
    pub flash_size: u32,
    pub baud: u32,
    /// NVS key of each config key, in `Key::ALL` order.
    pub keys: Vec<(Key, String)>,
}

fn bad(problem: String) -> CoreError {
    CoreError::invalid(
        "driver settings",
        problem,
        "fix the device type's NVS driver settings (namespace, partition, table_offset, \
         flash_size, baud, key.<config key>)",
    )
}

fn number(name: &str, text: &str) -> Result<u32, CoreError> {
    let t = text.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => t.parse().ok(),
    };
    parsed.ok_or_else(|| bad(format!("{name} {text:?} is not a number")))
}

impl NvsSettings {
    /// Parse and check the type's settings: every name known, every NVS key valid.
    pub fn parse(settings: &str) -> Result<Self, CoreError> {
        let map = station_core::driver::parse_settings(settings)?;
        let mut s = NvsSettings {
            namespace: DEFAULT_NAMESPACE.into(),
            partition: None,
            table_offset: station_nvs::DEFAULT_TABLE_OFFSET,
            flash_size: rom::DEFAULT_FLASH_SIZE,
            baud: rom::ROM_BAUD,
            keys: Key::ALL
                .iter()
                .map(|&k| {
                    let name = if k == Key::Generation {
                        DEFAULT_GENERATION_KEY
                    } else {
                        k.name()
                    };
                    (k, name.to_owned())
                })
                .collect(),
        };
        for (name, value) in &map {
            let text = match value {
                serde_json::Value::String(t) => t.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => return Err(bad(format!("setting {name} is not text or a number"))),
            };
            match name.as_str() {
                "namespace" => s.namespace = text,
                "partition" => s.partition = Some(text),
                "table_offset" => s.table_offset = number(name, &text)?,
                "flash_size" => s.flash_size = number(name, &text)?,
                "baud" => s.baud = number(name, &text)?,
                other => {
                    let key = other
                        .strip_prefix("key.")
                        .and_then(Key::from_name)
                        .ok_or_else(|| bad(format!("the NVS driver has no setting {other:?}")))?;
                    s.keys[key.index()].1 = text;
                }
            }
        }
        for name in std::iter::once(&s.namespace).chain(s.keys.iter().map(|(_, n)| n)) {
            if name.is_empty()
                || name.len() > station_nvs::format::KEY_MAX_LEN
                || !name.is_ascii()
                || name.contains('\0')
            {
                return Err(bad(format!(
                    "NVS name {name:?} must be 1 to 15 ASCII characters"
                )));
            }
        }
        let mut seen = std::collections::HashSet::new();
        if let Some((_, dup)) = s.keys.iter().find(|(_, n)| !seen.insert(n.clone())) {
            return Err(bad(format!(
                "two config keys are written to NVS key {dup:?}"
            )));
        }
        Ok(s)
    }

    fn key(&self, k: Key) -> &str {
        &self.keys[k.index()].1
    }
}

/// The loader's connection and what identify found.
struct Session {
    hardware_id: String,
    partition: Partition,
}

/// The NVS driver on one link.
pub struct NvsDriver<T: Transport + ResetLines> {
    loader: Loader<T>,
    settings: NvsSettings,
    session: Option<Session>,
    wrote: bool,
}

impl<T: Transport + ResetLines> NvsDriver<T> {
    pub fn new(link: T, settings: NvsSettings) -> Self {
        NvsDriver {
            loader: Loader::new(link),
            settings,
            session: None,
            wrote: false,
        }
    }

    fn connect(&mut self) -> Result<(), DriverError> {
        if self.session.is_some() {
            return Ok(());
        }
        self.loader.connect().map_err(|e| loader_error(e, false))?;
        let magic = self
            .loader
            .read_reg(rom::CHIP_DETECT_MAGIC_REG)
            .map_err(|e| loader_error(e, false))?;
        if magic != rom::ESP32_MAGIC {
            return Err(DriverError::failed(
                FailReason::WrongChip,
                format!(
                    "This unit's chip answers 0x{magic:08X}, not an ESP32 (0x{:08X}), which this \
                     device type's NVS driver writes. Nothing was written.",
                    rom::ESP32_MAGIC
                ),
            ));
        }
        let hardware_id = self.loader.mac().map_err(|e| loader_error(e, false))?;
        self.loader
            .attach_flash(self.settings.flash_size)
            .map_err(|e| loader_error(e, false))?;
        let table = self.read_table()?;
        let label = self.settings.partition.as_deref();
        let partition = table.find_nvs(label).ok_or_else(|| {
            DriverError::failed(
                FailReason::NoNvsPartition,
                format!(
                    "Unit {hardware_id} has no NVS partition {} in its partition table: its \
                     firmware does not match this device type. Nothing was written.",
                    label.map_or("(data/nvs)".into(), |l| format!("{l:?}"))
                ),
            )
        })?;
        self.session = Some(Session {
            hardware_id,
            partition,
        });
        Ok(())
    }

    /// The partition table, read up to its end marker (64 bytes per READ_FLASH_SLOW).
    fn read_table(&mut self) -> Result<PartitionTable, DriverError> {
        let mut bytes = Vec::new();
        while bytes.len() < station_nvs::TABLE_MAX_LEN {
            let at = self.settings.table_offset + bytes.len() as u32;
            let chunk = self
                .loader
                .read_flash(at, rom::READ_SLOW_BLOCK)
                .map_err(|e| loader_error(e, false))?;
            bytes.extend_from_slice(&chunk);
            let ended = chunk
                .chunks(station_nvs::ENTRY_LEN)
                .any(|e| e.iter().all(|&b| b == 0xFF));
            if ended {
                break;
            }
        }
        PartitionTable::parse(&bytes).map_err(|e| {
            DriverError::failed(
                FailReason::NoNvsPartition,
                format!(
                    "The unit's partition table at 0x{:X} cannot be read ({e}); its firmware does \
                     not match this device type. Nothing was written.",
                    self.settings.table_offset
                ),
            )
        })
    }

    fn session(&self) -> Result<&Session, DriverError> {
        self.session.as_ref().ok_or_else(|| {
            DriverError::failed(FailReason::NoLoaderAnswer, "The unit was not identified.")
        })
    }

    /// The image for `cfg`, the size of the whole partition.
    fn image(&self, cfg: &DeviceConfig, p: &Partition) -> Result<Zeroizing<Vec<u8>>, DriverError> {
        let s = &self.settings;
        let mut b = NvsImage::builder(p.size as usize).namespace(&s.namespace);
        for k in Key::ALL {
            let name = s.key(k);
            b = match k {
                Key::BrokerPort => b.u16(name, cfg.broker_port),
                Key::BrokerTls => b.u8(name, u8::from(cfg.broker_tls)),
                Key::Generation => b.u32(name, cfg.generation),
                Key::MqttPassword => b.string(name, &cfg.mqtt_password),
                Key::ApiKey => b.string(name, &cfg.api_key),
                Key::DeviceId => b.string(name, &cfg.device_id),
                Key::MqttUsername => b.string(name, &cfg.mqtt_username),
                Key::BrokerHost => b.string(name, &cfg.broker_host),
                Key::TopicData => b.string(name, &cfg.topic_data),
                Key::TopicStatus => b.string(name, &cfg.topic_status),
                Key::TopicCmd => b.string(name, &cfg.topic_cmd),
            };
        }
        b.build().map_err(|e| match e {
            NvsError::TooManyEntries { .. } | NvsError::ImageSize { .. } => DriverError::failed(
                FailReason::PartitionTooSmall,
                format!(
                    "The unit's NVS partition {:?} ({} bytes) cannot hold this device's \
                     settings ({e}). Nothing was written.",
                    p.label, p.size
                ),
            ),
            other => DriverError::failed(
                FailReason::InvalidConfig,
                format!("The device's settings cannot be written as NVS ({other}). Nothing was written."),
            ),
        })
    }

    fn read_identity(&mut self) -> Result<Identity, DriverError> {
        let (hardware_id, p) = {
            let s = self.session()?;
            (s.hardware_id.clone(), s.partition.clone())
        };
        let id_key = self.settings.key(Key::DeviceId).to_owned();
        let gen_key = self.settings.key(Key::Generation).to_owned();
        let ns = self.settings.namespace.clone();
        let mut reader = LoaderRead(&mut self.loader);
        let values = nvs_read::read_keys(&mut reader, p.offset, p.size, &ns, &[&id_key, &gen_key])
            .map_err(|e| loader_error(e, false))?;
        let mut device_id = None;
        let mut generation = None;
        for (k, v) in values {
            match v {
                ReadValue::Str(s) if k == id_key => device_id = Some(s),
                ReadValue::Uint(n) if k == gen_key => generation = u32::try_from(n).ok(),
                _ => {}
            }
        }
        // A device id without its generation (or the reverse) is no committed config.
        let (device_id, generation) = match (device_id, generation) {
            (Some(d), Some(g)) => (Some(d), Some(g)),
            _ => (None, None),
        };
        Ok(Identity {
            protocol_version: 0,
            capabilities: Vec::new(),
            hardware_id,
            firmware_version: FIRMWARE_UNKNOWN.into(),
            device_id,
            generation,
        })
    }

    fn write_image(
        &mut self,
        image: &[u8],
        p: &Partition,
        progress: &mut dyn FnMut(WriteProgress),
    ) -> Result<(), LoaderError> {
        if !self.loader.change_baud(self.settings.baud)? {
            tracing::info!("writing at 115200: the port cannot run the type's rate");
        }
        let blocks = self.loader.flash_begin(p.offset, image.len())?;
        self.wrote = true;
        for (seq, block) in image.chunks(rom::FLASH_WRITE_SIZE).enumerate() {
            progress(WriteProgress::Sent {
                done: seq as u32,
                total: blocks,
            });
            self.loader.flash_data(seq as u32, block)?;
        }
        Ok(())
    }
}

struct LoaderRead<'a, T: Transport + ResetLines>(&'a mut Loader<T>);

impl<T: Transport + ResetLines> FlashRead for LoaderRead<'_, T> {
    type Error = LoaderError;
    fn read(&mut self, offset: u32, len: usize) -> Result<Vec<u8>, LoaderError> {
        self.0.read_flash(offset, len)
    }
}

/// A loader failure in the operator's words; `writing`: after FLASH_BEGIN, when the partition
/// may hold anything from erased to the whole new image.
fn loader_error(e: LoaderError, writing: bool) -> DriverError {
    let (reason, what) = match &e {
        LoaderError::NoAnswer => (
            FailReason::NoLoaderAnswer,
            "No ESP32 loader answered on this port: hold the unit's BOOT button while plugging \
             it in (or check that this is its port), then try again."
                .to_owned(),
        ),
        LoaderError::Timeout { op } => (
            FailReason::Timeout,
            format!("The unit's loader stopped answering ({op})."),
        ),
        LoaderError::Disconnected { op } => (
            FailReason::Disconnected,
            format!("The unit was unplugged ({op})."),
        ),
        LoaderError::Refused { .. } => (FailReason::LoaderRefused, format!("{e}.")),
        LoaderError::Malformed { .. } => (FailReason::MalformedReply, format!("{e}.")),
        LoaderError::Io { op, .. } => (FailReason::Io, format!("The port failed ({op}).")),
    };
    if writing {
        DriverError::outcome_unknown(
            reason,
            format!(
                "{what} Its NVS partition was being written and may be erased or incomplete; \
                 the station reads it again before anything is recorded."
            ),
        )
    } else {
        DriverError::failed(reason, format!("{what} Nothing was written."))
    }
}

impl<T: Transport + ResetLines> UnitDriver for NvsDriver<T> {
    fn kind(&self) -> DriverKind {
        DriverKind::Nvs
    }

    fn can_prove(&self) -> VerifyMethod {
        VerifyMethod::FlashMd5
    }

    /// FLASH_BEGIN erases the partition before the image is written: a write cut short leaves
    /// the unit blank.
    fn writes_atomically(&self) -> bool {
        false
    }

    fn identify(&mut self) -> Result<Identity, DriverError> {
        self.connect()?;
        self.read_identity()
    }

    fn write(
        &mut self,
        cfg: &DeviceConfig,
        unit: &Identity,
        progress: &mut dyn FnMut(WriteProgress),
    ) -> Result<Verification, DriverError> {
        let p = self.session()?.partition.clone();
        if self.session()?.hardware_id != unit.hardware_id {
            return Err(DriverError::failed(
                FailReason::HwidMismatch,
                "A different unit answers than the one identified. Nothing was written.",
            ));
        }
        let image = self.image(cfg, &p)?;
        let expected: [u8; 16] = Md5::digest(&image[..]).into();
        let written = self.write_image(&image, &p, progress);
        drop(image);
        written.map_err(|e| loader_error(e, true))?;
        progress(WriteProgress::Verify);
        let got = self
            .loader
            .flash_md5(p.offset, p.size as usize)
            .map_err(|e| loader_error(e, true))?;
        if got != expected {
            return Err(DriverError::failed(
                FailReason::FlashVerifyFailed,
                "The unit's flash does not hold the settings image that was sent (its MD5 \
                 differs): the unit keeps no valid settings until it is flashed again.",
            ));
        }
        Ok(Verification::all(VerifyMethod::FlashMd5))
    }

    fn finish(&mut self) {
        if self.session.is_none() {
            return;
        }
        if self.wrote {
            if let Err(e) = self.loader.flash_end(false) {
                tracing::debug!(error = %e, "FLASH_END not answered; resetting anyway");
            }
        }
        self.loader.hard_reset();
        self.session = None;
    }

    fn stats(&self) -> ClientStats {
        let s = self.loader.stats();
        ClientStats {
            frames_sent: s.commands,
            round_trips: s.commands,
            bytes_sent: s.bytes_sent,
            bytes_received: s.bytes_received,
            link_baud: s.baud,
            wire_micros: s.wire_micros,
            ..ClientStats::default()
        }
    }
}

/// The names of the config keys in NVS, for the docs and the faces.
pub fn key_map(s: &NvsSettings) -> BTreeMap<&'static str, String> {
    s.keys.iter().map(|(k, n)| (k.name(), n.clone())).collect()
}
