//! What a simulated ESP32 is and which faults it injects, like `station-devsim`'s options:
//! noise before SYNC, lost bytes, loader error statuses, a wrong-chip answer, an unplug in the
//! middle of a FLASH_DATA and a power loss right after a block is written.
//!
//! This module owns [`EspSimOptions`] and [`ErrorRule`], so the binary and in-process tests
//! configure the simulator the same way.

use std::str::FromStr;

use crate::protocol::{esp32, ErrorCode, Op};

/// Answer a command with a ROM error status, `count` times (or always).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRule {
    /// Command to fail.
    pub op: Op,
    /// The error byte to send.
    pub code: ErrorCode,
    /// How many times; `None` = every time.
    pub count: Option<u32>,
}

impl FromStr for ErrorRule {
    type Err = String;

    /// `CMD:CODE[:COUNT]`, e.g. `FLASH_DATA:invalid-crc:1`, `FLASH_END:0x06`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split(':');
        let op_s = parts.next().unwrap_or("");
        let op = Op::parse(op_s).ok_or_else(|| format!("unknown loader command {op_s:?}"))?;
        let code_s = parts.next().ok_or("expected CMD:CODE[:COUNT]")?;
        let code = ErrorCode::parse(code_s).ok_or_else(|| {
            format!("unknown error {code_s:?}; one of invalid-message, failed-to-act, invalid-crc, flash-write, flash-read, flash-read-length")
        })?;
        let count = parts
            .next()
            .map(|c| c.parse().map_err(|_| format!("bad count {c:?}")))
            .transpose()?;
        if parts.next().is_some() {
            return Err("expected CMD:CODE[:COUNT]".to_owned());
        }
        Ok(ErrorRule { op, code, count })
    }
}

/// Everything about one simulated ESP32 in its ROM loader.
#[derive(Debug, Clone)]
pub struct EspSimOptions {
    /// Value answered at the chip-detect register (ESP32's magic by default; another chip's to
    /// play the wrong chip).
    pub chip_magic: u32,
    /// Print the ROM's download-mode boot banner plus line garbage each time the port is
    /// opened, before any SYNC (what a board reset into the loader prints).
    pub noise_before_sync: bool,
    /// Probability that any byte from the host is lost.
    pub drop_rate: f64,
    /// Seed of the fault generator: same seed, same faults.
    pub seed: u64,
    /// Emulated line speed at start (CHANGE_BAUDRATE changes it); `None` = as fast as the pty.
    pub baud: Option<u32>,
    /// Loader error statuses to inject.
    pub errors: Vec<ErrorRule>,
    /// The cable is pulled while the Nth FLASH_DATA (1-based) arrives: that block is not
    /// written, the port goes away.
    pub unplug_at_block: Option<u32>,
    /// Power fails right after the Nth FLASH_DATA block is written, before the reply.
    pub power_loss_after_block: Option<u32>,
    /// The unit's MAC, read from its eFuses: the hardware id (another unit on the same port).
    pub mac: [u8; 6],
}

impl Default for EspSimOptions {
    fn default() -> Self {
        Self {
            chip_magic: esp32::CHIP_MAGIC,
            noise_before_sync: false,
            drop_rate: 0.0,
            seed: 0x5EED,
            baud: None,
            errors: Vec::new(),
            unplug_at_block: None,
            power_loss_after_block: None,
            mac: esp32::MAC,
        }
    }
}

/// Parses a MAC written `24:0A:C4:12:34:56` (or without the colons).
pub fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let hex: String = text.chars().filter(|c| *c != ':').collect();
    let bad = || format!("{text:?} is not a MAC like 24:0A:C4:12:34:56");
    if hex.len() != 12 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (i, b) in mac.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rules_parse() {
        assert_eq!(
            "FLASH_DATA:invalid-crc:1".parse::<ErrorRule>(),
            Ok(ErrorRule {
                op: Op::FlashData,
                code: ErrorCode::InvalidCrc,
                count: Some(1)
            })
        );
        assert_eq!(
            "0x04:0x06".parse::<ErrorRule>(),
            Ok(ErrorRule {
                op: Op::FlashEnd,
                code: ErrorCode::FailedToAct,
                count: None
            })
        );
        assert!("FLY:0x05".parse::<ErrorRule>().is_err());
        assert!("FLASH_DATA".parse::<ErrorRule>().is_err());
        assert!("FLASH_DATA:nope".parse::<ErrorRule>().is_err());
    }

    #[test]
    fn a_mac_parses_with_or_without_colons_and_a_bad_one_is_named() {
        assert_eq!(parse_mac("24:0A:C4:12:34:56"), Ok(esp32::MAC));
        assert_eq!(parse_mac("240ac4123456"), Ok(esp32::MAC));
        assert!(parse_mac("24:0A").expect_err("too short").contains("24:0A"));
        assert_eq!(esp32::efuse_mac_words(esp32::MAC), esp32::EFUSE_MAC);
    }
}
