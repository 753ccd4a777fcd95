//! The ESP32 ROM loader's serial protocol as data: commands, packet layout, status codes, and the
//! registers this simulated ESP32 answers.
//!
//! Source: Espressif's esptool documentation, "Serial Protocol" (packet description, command
//! table, checksum, status bytes, error codes), and esptool 5.6's `loader.py` /
//! `targets/esp32.py` for the values the ROM is expected to answer (the chip-detect magic, the
//! ESP32 ROM's 4 status bytes, the 32-character ASCII MD5, READ_FLASH_SLOW's 64-byte block).
//! One fact, one place: every number the loader uses is named here.

/// Direction byte of a request (host to chip).
pub const DIR_REQUEST: u8 = 0x00;
/// Direction byte of a response (chip to host).
pub const DIR_RESPONSE: u8 = 0x01;
/// Request/response header: direction, command, size (u16 LE), checksum/value (u32 LE).
pub const HEADER_LEN: usize = 8;
/// The ESP32 ROM ends every response with 4 status bytes: status, error, and 2 reserved
/// (the ESP8266 ROM and the stub send 2).
pub const STATUS_LEN: usize = 4;
/// Seed of the FLASH_DATA / MEM_DATA checksum (XOR of the payload bytes).
pub const CHECKSUM_SEED: u8 = 0xEF;
/// SYNC's payload: `07 07 12 20` then 32 bytes of `0x55`.
pub const SYNC_PAYLOAD_HEAD: [u8; 4] = [0x07, 0x07, 0x12, 0x20];
/// Responses the ROM sends to one SYNC (esptool reads the first and then 7 more).
pub const SYNC_RESPONSES: usize = 8;
/// The value field of a SYNC response. The ROM sends non-zero here (esptool takes a zero as the
/// sign that the stub, not the ROM, is answering); the exact word is not documented, so this
/// echoes the SYNC magic.
pub const SYNC_VALUE: u32 = 0x2012_0707;
/// READ_FLASH_SLOW reads at most this many bytes per command and always answers this many.
pub const READ_SLOW_BLOCK: usize = 64;

/// The ROM loader commands (the "Supported by" column of the docs' table says which the ESP32
/// ROM has; the rest are stub-only or later chips and get [`ErrorCode::InvalidMessage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// Erase a region and start a write.
    FlashBegin = 0x02,
    /// One block of the write.
    FlashData = 0x03,
    /// Leave the loader (reboot or run the app).
    FlashEnd = 0x04,
    /// Upload to RAM (used for the stub; not simulated).
    MemBegin = 0x05,
    /// End of a RAM upload (not simulated).
    MemEnd = 0x06,
    /// RAM upload block (not simulated).
    MemData = 0x07,
    /// Synchronise with the host's baud rate.
    Sync = 0x08,
    /// Write 32-bit words to memory.
    WriteReg = 0x09,
    /// Read a 32-bit word of memory.
    ReadReg = 0x0A,
    /// Tell the ROM the flash chip's geometry.
    SpiSetParams = 0x0B,
    /// Attach the SPI flash.
    SpiAttach = 0x0D,
    /// Read up to 64 bytes of flash (ROM only).
    ReadFlashSlow = 0x0E,
    /// Change the UART speed.
    ChangeBaudrate = 0x0F,
    /// MD5 of a flash region.
    SpiFlashMd5 = 0x13,
    /// Security info (ESP32-S2 and later; not in the ESP32 ROM).
    GetSecurityInfo = 0x14,
    /// Fast flash read (stub only; not in any ROM).
    ReadFlash = 0xD2,
}

impl Op {
    /// The command for a byte, if it is one this module names.
    pub fn from_byte(b: u8) -> Option<Op> {
        use Op::*;
        [
            FlashBegin,
            FlashData,
            FlashEnd,
            MemBegin,
            MemEnd,
            MemData,
            Sync,
            WriteReg,
            ReadReg,
            SpiSetParams,
            SpiAttach,
            ReadFlashSlow,
            ChangeBaudrate,
            SpiFlashMd5,
            GetSecurityInfo,
            ReadFlash,
        ]
        .into_iter()
        .find(|op| *op as u8 == b)
    }

    /// Parses a command name as the docs spell it (`FLASH_DATA`), or a hex byte (`0x03`).
    pub fn parse(s: &str) -> Option<Op> {
        if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            return u8::from_str_radix(hex, 16).ok().and_then(Op::from_byte);
        }
        let op = match s.to_ascii_uppercase().as_str() {
            "FLASH_BEGIN" => Op::FlashBegin,
            "FLASH_DATA" => Op::FlashData,
            "FLASH_END" => Op::FlashEnd,
            "SYNC" => Op::Sync,
            "WRITE_REG" => Op::WriteReg,
            "READ_REG" => Op::ReadReg,
            "SPI_SET_PARAMS" => Op::SpiSetParams,
            "SPI_ATTACH" => Op::SpiAttach,
            "READ_FLASH_SLOW" => Op::ReadFlashSlow,
            "CHANGE_BAUDRATE" => Op::ChangeBaudrate,
            "SPI_FLASH_MD5" => Op::SpiFlashMd5,
            _ => return None,
        };
        Some(op)
    }
}

/// The ROM's error byte (second status byte) when the status byte is 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ErrorCode {
    /// "Received message is invalid (parameters or length field is invalid)"; also the answer
    /// to a command the ROM does not have.
    InvalidMessage = 0x05,
    /// "Failed to act on received message".
    FailedToAct = 0x06,
    /// "Invalid CRC in message" (the FLASH_DATA checksum).
    InvalidCrc = 0x07,
    /// "Flash write error".
    FlashWrite = 0x08,
    /// "Flash read error".
    FlashRead = 0x09,
    /// "Flash read length error".
    FlashReadLength = 0x0A,
}

impl ErrorCode {
    /// Parses a name (`invalid-crc`, `flash-write`, ...) or a hex byte (`0x08`).
    pub fn parse(s: &str) -> Option<ErrorCode> {
        let code = match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "invalid-message" | "0x05" => ErrorCode::InvalidMessage,
            "failed-to-act" | "0x06" => ErrorCode::FailedToAct,
            "invalid-crc" | "0x07" => ErrorCode::InvalidCrc,
            "flash-write" | "0x08" => ErrorCode::FlashWrite,
            "flash-read" | "0x09" => ErrorCode::FlashRead,
            "flash-read-length" | "0x0a" => ErrorCode::FlashReadLength,
            _ => return None,
        };
        Some(code)
    }
}

/// The FLASH_DATA / MEM_DATA checksum: XOR of the payload, seeded with 0xEF.
pub fn checksum(data: &[u8]) -> u8 {
    data.iter().fold(CHECKSUM_SEED, |acc, b| acc ^ b)
}

/// A response packet (unframed): header, data, then the 4 status bytes.
pub fn response(op: u8, value: u32, data: &[u8], error: Option<ErrorCode>) -> Vec<u8> {
    let size = data.len() + STATUS_LEN;
    let mut out = Vec::with_capacity(HEADER_LEN + size);
    out.push(DIR_RESPONSE);
    out.push(op);
    out.extend_from_slice(&(size as u16).to_le_bytes());
    out.extend_from_slice(&value.to_le_bytes());
    out.extend_from_slice(data);
    match error {
        None => out.extend_from_slice(&[0, 0, 0, 0]),
        Some(code) => out.extend_from_slice(&[1, code as u8, 0, 0]),
    }
    out
}

/// One parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Command byte.
    pub op: u8,
    /// Checksum field (meaningful for the *_DATA commands).
    pub checksum: u32,
    /// Payload.
    pub data: Vec<u8>,
}

impl Request {
    /// Parses an unframed packet; `None` when it is not a well-formed request (the ROM ignores
    /// those: no answer).
    pub fn parse(packet: &[u8]) -> Option<Request> {
        if packet.len() < HEADER_LEN || packet[0] != DIR_REQUEST {
            return None;
        }
        let size = u16::from_le_bytes([packet[2], packet[3]]) as usize;
        let checksum = u32::from_le_bytes([packet[4], packet[5], packet[6], packet[7]]);
        let data = packet[HEADER_LEN..].to_vec();
        if data.len() != size {
            return None;
        }
        Some(Request {
            op: packet[1],
            checksum,
            data,
        })
    }

    /// Encodes a request (what the host sends), for tests and tools.
    pub fn encode(op: u8, data: &[u8], checksum: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + data.len());
        out.push(DIR_REQUEST);
        out.push(op);
        out.extend_from_slice(&(data.len() as u16).to_le_bytes());
        out.extend_from_slice(&checksum.to_le_bytes());
        out.extend_from_slice(data);
        out
    }

    /// The `i`th little-endian 32-bit word of the payload.
    pub fn word(&self, i: usize) -> Option<u32> {
        let b = self.data.get(i * 4..i * 4 + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Registers of the simulated ESP32 (addresses from esptool's `targets/esp32.py`).
pub mod esp32 {
    /// The ROM word whose value differs per chip model; esptool reads it to check `--chip`.
    pub const CHIP_DETECT_MAGIC_REG: u32 = 0x4000_1000;
    /// ESP32's value there (esptool `ESP32ROM.MAGIC_VALUE`).
    pub const CHIP_MAGIC: u32 = 0x00F0_1D83;
    /// ESP32-S2's value (esptool `ESP32S2ROM.MAGIC_VALUE`), the default "wrong chip" answer.
    pub const ESP32S2_MAGIC: u32 = 0x0000_07C6;
    /// UART0 clock divider: esptool estimates the crystal from it and the baud rate.
    pub const UART_CLKDIV_REG: u32 = 0x3FF4_0014;
    /// APB clock the divider divides (40 MHz crystal).
    pub const APB_HZ: u32 = 40_000_000;
    /// eFuse read registers; word `n` is at `EFUSE_RD_BASE + 4 * n`.
    pub const EFUSE_RD_BASE: u32 = 0x3FF5_A000;
    /// RTC calibration register read by esptool's ESP32 `change_baud`.
    pub const RTCCALICFG1: u32 = 0x3FF5_F06C;
    /// Calibration value and 8 MHz clock eFuse chosen so the ROM's crystal estimate is 40 MHz
    /// exactly (`cali * 15625 * ck8m / 40`), so CHANGE_BAUDRATE gets the requested rate.
    pub const RTC_CALI_VALUE: u32 = 2048 << 7;
    /// eFuse word 4's low byte (CK8M frequency).
    pub const EFUSE_CK8M: u32 = 50;
    /// MAC 24:0A:C4:12:34:56 as eFuse words 1 and 2 (CRC byte left zero).
    pub const EFUSE_MAC: [u32; 2] = efuse_mac_words(MAC);
    /// The simulated unit's MAC unless the options name another.
    pub const MAC: [u8; 6] = [0x24, 0x0A, 0xC4, 0x12, 0x34, 0x56];

    /// A MAC as eFuse words 1 and 2, the way esptool's ESP32 `read_mac` reads it back (word 1
    /// holds bytes 2..6 big-endian, word 2's low half bytes 0..2).
    pub const fn efuse_mac_words(mac: [u8; 6]) -> [u32; 2] {
        [
            u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]),
            ((mac[0] as u32) << 8) | mac[1] as u32,
        ]
    }
    /// SPI0 (flash) controller base.
    pub const SPI_BASE: u32 = 0x3FF4_2000;
    /// SPI_CMD_REG: writing the USR bit runs the "user" command.
    pub const SPI_CMD_REG: u32 = SPI_BASE;
    /// The USR bit of SPI_CMD_REG.
    pub const SPI_CMD_USR: u32 = 1 << 18;
    /// SPI_USER2_REG: the user command's opcode in its low byte.
    pub const SPI_USR2_REG: u32 = SPI_BASE + 0x24;
    /// SPI_W0_REG: first data word of the user command.
    pub const SPI_W0_REG: u32 = SPI_BASE + 0x80;
    /// JEDEC "read identification".
    pub const SPIFLASH_RDID: u8 = 0x9F;
    /// RDID answer: Winbond (0xEF), type 0x40, capacity 0x16 = 4 MB (esptool's size table).
    pub const FLASH_JEDEC_ID: u32 = 0x0016_40EF;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_is_xor_seeded_with_ef() {
        assert_eq!(checksum(&[]), 0xEF);
        assert_eq!(checksum(&[0xEF]), 0x00);
        assert_eq!(checksum(&[0x01, 0x02]), 0xEF ^ 0x03);
    }

    #[test]
    fn responses_end_with_four_status_bytes() {
        let r = response(0x0A, 0x00F0_1D83, &[], None);
        assert_eq!(r, [1, 0x0A, 4, 0, 0x83, 0x1D, 0xF0, 0x00, 0, 0, 0, 0]);
        let e = response(0x03, 0, &[], Some(ErrorCode::InvalidCrc));
        assert_eq!(&e[8..], &[1, 0x07, 0, 0]);
    }

    #[test]
    fn requests_with_a_wrong_size_field_are_ignored() {
        let mut p = Request::encode(0x08, &[1, 2, 3], 0);
        assert!(Request::parse(&p).is_some());
        p[2] = 4;
        assert_eq!(Request::parse(&p), None);
        assert_eq!(Request::parse(&[1, 8, 0, 0, 0, 0, 0, 0]), None);
    }
}
