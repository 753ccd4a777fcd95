//! The ESP32 partition table in its binary form, as read from flash, and the search for the
//! NVS partition in it.
//!
//! This module owns the table's format (ESP-IDF "Partition Tables" guide; `gen_esp32part.py`'s
//! `PartitionDefinition.STRUCT_FORMAT = '<2sBBLL16sL'`): 32-byte entries starting with the magic
//! `0xAA 0x50`, then type, subtype, offset, size, a NUL-padded 16-byte label and a flags word;
//! optionally an entry starting `0xEB 0xEB` whose last 16 bytes are the MD5 of all entries before
//! it; then an all-0xFF end marker, all within the first 0xC00 bytes of the 4 KiB sector at
//! 0x8000. A table that breaks any of these is refused rather than guessed at.

use md5::{Digest, Md5};

use crate::error::NvsError;

/// Offset of the partition table in flash unless the firmware moved it
/// (`CONFIG_PARTITION_TABLE_OFFSET`).
pub const DEFAULT_TABLE_OFFSET: u32 = 0x8000;
/// Bytes of the sector that may hold entries (`MAX_PARTITION_LENGTH`); read this many.
pub const TABLE_MAX_LEN: usize = 0xC00;
/// Size of one entry.
pub const ENTRY_LEN: usize = 32;
/// First two bytes of a partition entry (`PartitionDefinition.MAGIC_BYTES`).
pub const ENTRY_MAGIC: [u8; 2] = [0xAA, 0x50];
/// First two bytes of the MD5 entry (`MD5_PARTITION_BEGIN`).
pub const MD5_MAGIC: [u8; 2] = [0xEB, 0xEB];
/// Partition type `data`.
pub const TYPE_DATA: u8 = 0x01;
/// Data subtype `nvs` (`ESP_PARTITION_SUBTYPE_DATA_NVS`).
pub const SUBTYPE_NVS: u8 = 0x02;
/// The label ESP-IDF's default tables give the NVS partition.
pub const DEFAULT_NVS_LABEL: &str = "nvs";

/// One partition of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Label, at most 16 bytes.
    pub label: String,
    /// Type: 0 app, 1 data, others custom.
    pub kind: u8,
    /// Subtype, meaning per type.
    pub subtype: u8,
    /// Start in flash.
    pub offset: u32,
    /// Length in bytes.
    pub size: u32,
    /// Flags word: bit 0 encrypted, bit 1 read-only.
    pub flags: u32,
}

impl Partition {
    /// Whether this is a data partition of subtype `nvs`.
    pub fn is_nvs(&self) -> bool {
        self.kind == TYPE_DATA && self.subtype == SUBTYPE_NVS
    }

    /// Refuses an image longer than the partition.
    pub fn check_fits(&self, image_len: usize) -> Result<(), NvsError> {
        if image_len > self.size as usize {
            return Err(NvsError::PartitionTooSmall {
                label: self.label.clone(),
                size: self.size,
                needed: image_len,
            });
        }
        Ok(())
    }
}

/// A parsed partition table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionTable {
    partitions: Vec<Partition>,
    md5_checked: bool,
}

impl PartitionTable {
    /// Parses the bytes read at the table offset (the whole 4 KiB sector, or at least up to
    /// the end marker).
    pub fn parse(bytes: &[u8]) -> Result<Self, NvsError> {
        let area = &bytes[..bytes.len().min(TABLE_MAX_LEN)];
        if area.len() < ENTRY_LEN {
            return Err(not_a_table("fewer than 32 bytes were read"));
        }
        if area[..ENTRY_LEN].iter().all(|&b| b == 0xFF) {
            return Err(not_a_table("the flash there is erased"));
        }
        if area[..2] != ENTRY_MAGIC {
            return Err(not_a_table("the first entry has no 0xAA50 magic"));
        }
        let mut partitions = Vec::new();
        let mut md5 = Md5::new();
        let mut md5_checked = false;
        for (index, entry) in area.chunks(ENTRY_LEN).enumerate() {
            let corrupt = |reason| NvsError::CorruptPartitionTable { index, reason };
            let Ok(entry) = <&[u8; ENTRY_LEN]>::try_from(entry) else {
                return Err(corrupt("the table ends in the middle of an entry"));
            };
            if entry.iter().all(|&b| b == 0xFF) {
                return Ok(PartitionTable {
                    partitions,
                    md5_checked,
                });
            }
            if md5_checked {
                return Err(corrupt("an entry follows the MD5 entry"));
            }
            if entry[..2] == MD5_MAGIC {
                if entry[16..] != md5.clone().finalize()[..] {
                    return Err(corrupt("the MD5 of the entries does not match"));
                }
                md5_checked = true;
                continue;
            }
            md5.update(entry);
            partitions.push(parse_entry(entry).map_err(corrupt)?);
        }
        Err(NvsError::CorruptPartitionTable {
            index: area.len() / ENTRY_LEN,
            reason: "there is no end-of-table marker",
        })
    }

    /// The partitions, in table order.
    pub fn partitions(&self) -> &[Partition] {
        &self.partitions
    }

    /// Whether the table carried an MD5 entry (and it matched: a mismatch does not parse).
    pub fn md5_checked(&self) -> bool {
        self.md5_checked
    }

    /// The NVS data partition: with `Some(label)`, the one with that label; with `None`, the
    /// one labelled `nvs`, else the first of subtype `nvs`.
    pub fn find_nvs(&self, label: Option<&str>) -> Option<Partition> {
        let mut nvs = self.partitions.iter().filter(|p| p.is_nvs());
        match label {
            Some(label) => nvs.find(|p| p.label == label).cloned(),
            None => self
                .partitions
                .iter()
                .find(|p| p.is_nvs() && p.label == DEFAULT_NVS_LABEL)
                .or_else(|| nvs.next())
                .cloned(),
        }
    }

    /// [`Self::find_nvs`], then [`Partition::check_fits`] for an image of `image_len` bytes.
    pub fn nvs_for_image(
        &self,
        label: Option<&str>,
        image_len: usize,
    ) -> Result<Partition, NvsError> {
        let partition = self
            .find_nvs(label)
            .ok_or_else(|| NvsError::NoNvsPartition {
                label: label.map(str::to_owned),
            })?;
        partition.check_fits(image_len)?;
        Ok(partition)
    }
}

fn not_a_table(reason: &'static str) -> NvsError {
    NvsError::NotAPartitionTable { reason }
}

/// One `<2sBBLL16sL` entry whose magic is not the MD5 one.
fn parse_entry(entry: &[u8; ENTRY_LEN]) -> Result<Partition, &'static str> {
    if entry[..2] != ENTRY_MAGIC {
        return Err("the entry has no 0xAA50 magic");
    }
    let word =
        |at: usize| u32::from_le_bytes([entry[at], entry[at + 1], entry[at + 2], entry[at + 3]]);
    let (offset, size) = (word(4), word(8));
    if offset.checked_add(size).is_none() {
        return Err("the partition runs past the end of the address space");
    }
    let label_field = &entry[12..28];
    let end = label_field.iter().position(|&b| b == 0).unwrap_or(16);
    let label = std::str::from_utf8(&label_field[..end])
        .map_err(|_| "the label is not text")?
        .to_owned();
    Ok(Partition {
        label,
        kind: entry[2],
        subtype: entry[3],
        offset,
        size,
        flags: word(28),
    })
}
