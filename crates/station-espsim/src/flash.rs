//! The simulated SPI flash, held in memory: 4 MB of NOR flash (erase sets bytes to 0xFF, a
//! write can only clear bits), and its default contents: a bootloader-ish image at 0x1000, the
//! partition table at 0x8000 (an `nvs` data partition at 0x9000 of 0x6000, `phy_init`, and a
//! factory app at 0x10000) and an app image header there. Loading from and saving to a file
//! exist for manual use from the binary only; nothing touches the disk by default.

use std::path::Path;

use md5::{Digest, Md5};

/// Flash size of the simulated module.
pub const FLASH_SIZE: usize = 4 * 1024 * 1024;
/// Erase unit.
pub const SECTOR_SIZE: usize = 0x1000;
/// Where the ESP32's second-stage bootloader lives.
pub const BOOTLOADER_OFFSET: usize = 0x1000;
/// Where ESP-IDF puts the partition table (CONFIG_PARTITION_TABLE_OFFSET default).
pub const PARTITION_TABLE_OFFSET: usize = 0x8000;
/// The default `nvs` partition.
pub const NVS_OFFSET: u32 = 0x9000;
/// Its size.
pub const NVS_SIZE: u32 = 0x6000;
/// The default factory app partition.
pub const APP_OFFSET: u32 = 0x10000;
/// Magic of a partition table entry (bytes `AA 50`).
pub const PARTITION_MAGIC: [u8; 2] = [0xAA, 0x50];
/// Magic of the MD5 entry closing a partition table (bytes `EB EB`).
pub const PARTITION_MD5_MAGIC: [u8; 2] = [0xEB, 0xEB];
/// First byte of an ESP application/bootloader image.
pub const IMAGE_MAGIC: u8 = 0xE9;

/// One partition of the default table: (label, type, subtype, offset, size).
const DEFAULT_PARTITIONS: [(&str, u8, u8, u32, u32); 3] = [
    ("nvs", 0x01, 0x02, NVS_OFFSET, NVS_SIZE),
    ("phy_init", 0x01, 0x01, 0xF000, 0x1000),
    ("factory", 0x00, 0x00, APP_OFFSET, 0x10_0000),
];

/// Why a flash image file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FlashFileError {
    /// Reading or writing the file failed.
    #[error("flash image {path}: {source}\nhelp: check the path and its permissions")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is bigger than the flash.
    #[error("flash image {path} is {len} bytes, more than the {FLASH_SIZE}-byte flash\nhelp: give a raw 4 MB image, as `esptool read-flash 0 0x400000` makes")]
    TooBig {
        /// The file.
        path: String,
        /// Its length.
        len: usize,
    },
}

/// A flash address range that does not fit in the chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("flash range {offset:#x}+{len:#x} is outside the {FLASH_SIZE:#x}-byte flash\nhelp: keep offsets and sizes within 4 MB")]
pub struct OutOfRange {
    /// Start.
    pub offset: usize,
    /// Length.
    pub len: usize,
}

/// 4 MB of NOR flash.
#[derive(Clone, PartialEq, Eq)]
pub struct Flash {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Flash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flash")
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl Default for Flash {
    fn default() -> Self {
        let mut flash = Flash::erased();
        flash.bytes[BOOTLOADER_OFFSET..BOOTLOADER_OFFSET + 24]
            .copy_from_slice(&image_header(0x4008_0400));
        let table = partition_table();
        flash.bytes[PARTITION_TABLE_OFFSET..PARTITION_TABLE_OFFSET + table.len()]
            .copy_from_slice(&table);
        let app = APP_OFFSET as usize;
        flash.bytes[app..app + 24].copy_from_slice(&image_header(0x400D_0018));
        flash
    }
}

impl Flash {
    /// All 0xFF, as a chip after a full erase.
    pub fn erased() -> Self {
        Flash {
            bytes: vec![0xFF; FLASH_SIZE],
        }
    }

    /// Loads a raw image; a shorter file is padded with 0xFF (erased).
    pub fn load(path: &Path) -> Result<Self, FlashFileError> {
        let bytes = std::fs::read(path).map_err(|source| FlashFileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        if bytes.len() > FLASH_SIZE {
            return Err(FlashFileError::TooBig {
                path: path.display().to_string(),
                len: bytes.len(),
            });
        }
        let mut flash = Flash::erased();
        flash.bytes[..bytes.len()].copy_from_slice(&bytes);
        Ok(flash)
    }

    /// Saves the whole image (written beside, then renamed over, the file).
    pub fn save(&self, path: &Path) -> Result<(), FlashFileError> {
        let io = |source| FlashFileError::Io {
            path: path.display().to_string(),
            source,
        };
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &self.bytes).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    fn range(&self, offset: usize, len: usize) -> Result<std::ops::Range<usize>, OutOfRange> {
        match offset.checked_add(len) {
            Some(end) if end <= self.bytes.len() => Ok(offset..end),
            _ => Err(OutOfRange { offset, len }),
        }
    }

    /// Reads a range.
    pub fn read(&self, offset: usize, len: usize) -> Result<&[u8], OutOfRange> {
        Ok(&self.bytes[self.range(offset, len)?])
    }

    /// Erases the sectors covering `[offset, offset + len)`.
    pub fn erase(&mut self, offset: usize, len: usize) -> Result<(), OutOfRange> {
        if len == 0 {
            return Ok(());
        }
        let start = offset / SECTOR_SIZE * SECTOR_SIZE;
        let end = (offset + len).div_ceil(SECTOR_SIZE) * SECTOR_SIZE;
        let r = self.range(start, end - start)?;
        self.bytes[r].fill(0xFF);
        Ok(())
    }

    /// Programs bytes as NOR flash does: bits can only go from 1 to 0, so writing over
    /// unerased flash ANDs the old and new data.
    pub fn program(&mut self, offset: usize, data: &[u8]) -> Result<(), OutOfRange> {
        let r = self.range(offset, data.len())?;
        for (cell, b) in self.bytes[r].iter_mut().zip(data) {
            *cell &= b;
        }
        Ok(())
    }

    /// Overwrites bytes regardless of NOR rules (a test's way to corrupt the flash).
    pub fn poke(&mut self, offset: usize, data: &[u8]) -> Result<(), OutOfRange> {
        let r = self.range(offset, data.len())?;
        self.bytes[r].copy_from_slice(data);
        Ok(())
    }

    /// MD5 of a range, as SPI_FLASH_MD5 computes it.
    pub fn md5(&self, offset: usize, len: usize) -> Result<[u8; 16], OutOfRange> {
        Ok(Md5::digest(self.read(offset, len)?).into())
    }
}

/// A 24-byte ESP image header (magic, 1 segment, DIO, 40 MHz / 4 MB, entry point, zeros).
fn image_header(entry: u32) -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0] = IMAGE_MAGIC;
    h[1] = 1;
    h[2] = 0x02;
    h[3] = 0x20;
    h[4..8].copy_from_slice(&entry.to_le_bytes());
    h
}

/// ESP-IDF's binary partition table format (components/partition_table/gen_esp32part.py):
/// 32-byte entries `AA 50 type subtype offset size label[16] flags`, then an MD5 entry
/// `EB EB FF*14 md5(entries)`.
fn partition_table() -> Vec<u8> {
    let mut table = Vec::new();
    for (label, ty, subtype, offset, size) in DEFAULT_PARTITIONS {
        table.extend_from_slice(&PARTITION_MAGIC);
        table.push(ty);
        table.push(subtype);
        table.extend_from_slice(&offset.to_le_bytes());
        table.extend_from_slice(&size.to_le_bytes());
        let mut name = [0u8; 16];
        name[..label.len()].copy_from_slice(label.as_bytes());
        table.extend_from_slice(&name);
        table.extend_from_slice(&0u32.to_le_bytes());
    }
    let digest: [u8; 16] = Md5::digest(&table).into();
    table.extend_from_slice(&PARTITION_MD5_MAGIC);
    table.extend_from_slice(&[0xFF; 14]);
    table.extend_from_slice(&digest);
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_table_has_nvs_at_0x9000_and_a_valid_md5_entry() {
        let flash = Flash::default();
        let t = flash
            .read(PARTITION_TABLE_OFFSET, 4 * 32)
            .expect("in range");
        assert_eq!(&t[..2], &PARTITION_MAGIC);
        assert_eq!((t[2], t[3]), (0x01, 0x02), "data/nvs");
        assert_eq!(&t[4..8], &0x9000u32.to_le_bytes());
        assert_eq!(&t[8..12], &0x6000u32.to_le_bytes());
        assert_eq!(&t[12..15], b"nvs");
        let md5_entry = &t[96..128];
        assert_eq!(&md5_entry[..2], &PARTITION_MD5_MAGIC);
        let digest: [u8; 16] = Md5::digest(&t[..96]).into();
        assert_eq!(&md5_entry[16..], &digest);
        assert!(flash
            .read(NVS_OFFSET as usize, NVS_SIZE as usize)
            .expect("in range")
            .iter()
            .all(|b| *b == 0xFF));
    }

    #[test]
    fn writes_only_clear_bits_until_erased() {
        let mut flash = Flash::erased();
        flash.program(0x9000, &[0x0F]).expect("in range");
        flash.program(0x9000, &[0xF1]).expect("in range");
        assert_eq!(flash.read(0x9000, 1).expect("in range"), &[0x01]);
        flash.erase(0x9000, 1).expect("in range");
        assert_eq!(flash.read(0x9FFF, 1).expect("in range"), &[0xFF]);
        assert_eq!(flash.read(0x9000, 1).expect("in range"), &[0xFF]);
        assert!(flash.program(FLASH_SIZE - 1, &[0, 0]).is_err());
    }
}
