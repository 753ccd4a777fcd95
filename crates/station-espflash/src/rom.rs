//! The ESP32 ROM loader's serial protocol as data, for the host side.
//!
//! Sources: Espressif, esptool documentation, "Serial Protocol" (SLIP framing, packet layout,
//! command table, checksum seeded with 0xEF, status bytes, error codes); esptool 5.6
//! `esptool/loader.py` (timeouts, SYNC retries, FLASH_WRITE_SIZE for the ROM, the classic and
//! hard resets in `esptool/reset.py`) and `esptool/targets/esp32.py` (chip magic, eFuse MAC
//! words). One fact, one place: the loader client and the NVS driver use only these names.

use std::time::Duration;

/// SLIP frame delimiter and escapes (RFC 1055).
pub const SLIP_END: u8 = 0xC0;
pub const SLIP_ESC: u8 = 0xDB;
pub const SLIP_ESC_END: u8 = 0xDC;
pub const SLIP_ESC_ESC: u8 = 0xDD;

/// Direction byte of a request / a response.
pub const DIR_REQUEST: u8 = 0x00;
pub const DIR_RESPONSE: u8 = 0x01;
/// Header: direction, command, size (u16 LE), checksum or value (u32 LE).
pub const HEADER_LEN: usize = 8;
/// The ESP32 ROM ends each response with 4 status bytes (status, error, 2 reserved).
pub const ROM_STATUS_LEN: usize = 4;
/// Seed of the FLASH_DATA checksum (XOR of the block's bytes).
pub const CHECKSUM_SEED: u8 = 0xEF;

/// Commands the ESP32 ROM has (the docs' table, "Supported by: ROM").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    FlashBegin = 0x02,
    FlashData = 0x03,
    FlashEnd = 0x04,
    Sync = 0x08,
    ReadReg = 0x0A,
    SpiSetParams = 0x0B,
    SpiAttach = 0x0D,
    ReadFlashSlow = 0x0E,
    ChangeBaudrate = 0x0F,
    SpiFlashMd5 = 0x13,
}

impl Op {
    /// The name the docs use, for errors and logs.
    pub fn name(self) -> &'static str {
        match self {
            Op::FlashBegin => "FLASH_BEGIN",
            Op::FlashData => "FLASH_DATA",
            Op::FlashEnd => "FLASH_END",
            Op::Sync => "SYNC",
            Op::ReadReg => "READ_REG",
            Op::SpiSetParams => "SPI_SET_PARAMS",
            Op::SpiAttach => "SPI_ATTACH",
            Op::ReadFlashSlow => "READ_FLASH_SLOW",
            Op::ChangeBaudrate => "CHANGE_BAUDRATE",
            Op::SpiFlashMd5 => "SPI_FLASH_MD5",
        }
    }

    /// How long the ROM may take to answer (esptool's `DEFAULT_TIMEOUT` 3 s, `SYNC_TIMEOUT`
    /// 0.1 s; erase, write and MD5 scale with the size, see [`scaled_timeout`]).
    pub fn timeout(self) -> Duration {
        match self {
            Op::Sync => SYNC_TIMEOUT,
            _ => DEFAULT_TIMEOUT,
        }
    }
}

/// esptool `DEFAULT_TIMEOUT`: most commands.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// esptool `SYNC_TIMEOUT`: one SYNC attempt.
pub const SYNC_TIMEOUT: Duration = Duration::from_millis(100);
/// esptool `ERASE_REGION_TIMEOUT_PER_MB`: FLASH_BEGIN erases up front.
pub const ERASE_TIMEOUT_PER_MB: Duration = Duration::from_secs(30);
/// esptool `MD5_TIMEOUT_PER_MB`.
pub const MD5_TIMEOUT_PER_MB: Duration = Duration::from_secs(8);
/// esptool `ERASE_WRITE_TIMEOUT_PER_MB`: one FLASH_DATA block.
pub const WRITE_TIMEOUT_PER_MB: Duration = Duration::from_secs(40);

/// esptool `timeout_per_mb`: `per_mb` for each MiB of `bytes`, never below the default.
pub fn scaled_timeout(per_mb: Duration, bytes: usize) -> Duration {
    let t = per_mb.mul_f64(bytes as f64 / 1e6);
    t.max(DEFAULT_TIMEOUT)
}

/// SYNC's payload: `07 07 12 20` then 32 × `0x55`.
pub const SYNC_HEAD: [u8; 4] = [0x07, 0x07, 0x12, 0x20];
pub const SYNC_FILL: u8 = 0x55;
pub const SYNC_FILL_LEN: usize = 32;
/// esptool `DEFAULT_CONNECT_ATTEMPTS`; each attempt resets and sends up to [`SYNC_TRIES`].
pub const CONNECT_ATTEMPTS: usize = 7;
pub const SYNC_TRIES: usize = 5;

/// The ROM's FLASH_DATA block (esptool `ESP_RAM_BLOCK`/`FLASH_WRITE_SIZE` for the ROM).
pub const FLASH_WRITE_SIZE: usize = 0x400;
/// READ_FLASH_SLOW: at most 64 bytes per command; the ROM always answers 64.
pub const READ_SLOW_BLOCK: usize = 64;
/// Flash sector: FLASH_BEGIN erases whole sectors.
pub const FLASH_SECTOR_SIZE: usize = 0x1000;

/// ESP32 (`esptool/targets/esp32.py`): the chip-detect register and its value.
pub const CHIP_DETECT_MAGIC_REG: u32 = 0x4000_1000;
pub const ESP32_MAGIC: u32 = 0x00F0_1D83;
/// eFuse read block 0; the MAC is in words 1 and 2 (`ESP32ROM.read_mac`).
pub const EFUSE_RD_BASE: u32 = 0x3FF5_A000;

/// SPI_SET_PARAMS for the flash geometry: id, total size, block, sector, page, status mask
/// (`esptool flash_set_parameters`). The ROM only range-checks against the total size.
pub const FLASH_BLOCK_SIZE: u32 = 64 * 1024;
pub const FLASH_PAGE_SIZE: u32 = 256;
pub const FLASH_STATUS_MASK: u32 = 0xFFFF;
/// Flash size assumed when the type names none (the ESP32 modules' common 4 MB).
pub const DEFAULT_FLASH_SIZE: u32 = 4 * 1024 * 1024;

/// The ROM's line speed out of reset (it auto-bauds; esptool starts at 115200).
pub const ROM_BAUD: u32 = 115_200;
/// esptool waits this long after CHANGE_BAUDRATE before talking at the new rate.
pub const BAUD_SETTLE: Duration = Duration::from_millis(50);

/// `esptool/reset.py` `ClassicReset`: EN low with IO0 high, then IO0 low as EN rises.
pub const RESET_HOLD: Duration = Duration::from_millis(100);
pub const RESET_RELEASE: Duration = Duration::from_millis(50);

/// The ROM's error byte, when the status byte is 1 (the docs' "Error codes").
pub fn error_name(code: u8) -> &'static str {
    match code {
        0x05 => "received message is invalid",
        0x06 => "failed to act on received message",
        0x07 => "invalid CRC in message",
        0x08 => "flash write error",
        0x09 => "flash read error",
        0x0A => "flash read length error",
        0x0B => "deflate error",
        _ => "unknown error",
    }
}

/// XOR checksum of a FLASH_DATA block, seeded with [`CHECKSUM_SEED`].
pub fn checksum(data: &[u8]) -> u8 {
    data.iter().fold(CHECKSUM_SEED, |acc, b| acc ^ b)
}
