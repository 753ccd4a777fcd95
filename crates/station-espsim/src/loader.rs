//! The ESP32 ROM loader's command handling: one request in, the ROM's response packets out.
//!
//! This module owns the loader state a real ESP32 keeps between commands (SPI attached, the
//! flash geometry from SPI_SET_PARAMS, the write in progress since FLASH_BEGIN, the register
//! file answering READ_REG, the UART speed) and nothing about the line: framing, faults and the
//! pty live in `sim`. What each command does and answers follows Espressif's "Serial Protocol"
//! document; where it is silent, what esptool 5.6 expects from the ESP32 ROM (not the stub).

use std::collections::HashMap;

use crate::flash::{Flash, FLASH_SIZE};
use crate::protocol::{self, esp32, ErrorCode, Op, Request};

/// A write in progress (between FLASH_BEGIN and FLASH_END).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Write {
    offset: usize,
    blocks: u32,
    block_size: usize,
}

/// What a handled request asks of the line besides its replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing.
    None,
    /// Switch the UART to this speed after the reply is sent.
    Baud(u32),
    /// A FLASH_DATA block was written to flash.
    BlockWritten,
    /// FLASH_END: the ROM leaves the loader (reboots or jumps to the app).
    LeftLoader,
}

/// The outcome of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// Response packets, unframed, in order.
    pub replies: Vec<Vec<u8>>,
    /// What the line must do.
    pub effect: Effect,
}

/// The ROM loader of one simulated ESP32.
#[derive(Debug)]
pub struct Loader {
    regs: HashMap<u32, u32>,
    attached: bool,
    flash_size: usize,
    write: Option<Write>,
    baud: u32,
}

impl Loader {
    /// A loader just out of reset at `baud` (the ROM auto-bauds; 115200 is esptool's default),
    /// answering `chip_magic` at the chip-detect register.
    pub fn new(chip_magic: u32, baud: u32) -> Self {
        let mut regs = HashMap::new();
        regs.insert(esp32::CHIP_DETECT_MAGIC_REG, chip_magic);
        regs.insert(esp32::EFUSE_RD_BASE + 4, esp32::EFUSE_MAC[0]);
        regs.insert(esp32::EFUSE_RD_BASE + 8, esp32::EFUSE_MAC[1]);
        regs.insert(esp32::EFUSE_RD_BASE + 16, esp32::EFUSE_CK8M);
        regs.insert(esp32::RTCCALICFG1, esp32::RTC_CALI_VALUE);
        Loader {
            regs,
            attached: false,
            flash_size: FLASH_SIZE,
            write: None,
            baud,
        }
    }

    /// This unit's MAC (the hardware id the station reads) is `mac`.
    pub fn with_mac(mut self, mac: [u8; 6]) -> Self {
        let [w1, w2] = esp32::efuse_mac_words(mac);
        self.regs.insert(esp32::EFUSE_RD_BASE + 4, w1);
        self.regs.insert(esp32::EFUSE_RD_BASE + 8, w2);
        self
    }

    /// The current UART speed.
    pub fn baud(&self) -> u32 {
        self.baud
    }

    /// Handles one request against `flash`.
    pub fn handle(&mut self, req: &Request, flash: &mut Flash) -> Handled {
        let one = |r: Vec<u8>| Handled {
            replies: vec![r],
            effect: Effect::None,
        };
        let fail = |code| one(protocol::response(req.op, 0, &[], Some(code)));
        let Some(op) = Op::from_byte(req.op) else {
            return fail(ErrorCode::InvalidMessage);
        };
        let result = match op {
            Op::Sync => return self.sync(req),
            Op::ReadReg => self.read_reg(req).map(|v| (v, Vec::new(), Effect::None)),
            Op::WriteReg => self.write_reg(req).map(|()| (0, Vec::new(), Effect::None)),
            Op::SpiAttach => self.spi_attach(req),
            Op::SpiSetParams => self.spi_set_params(req),
            Op::FlashBegin => self.flash_begin(req, flash),
            Op::FlashData => self.flash_data(req, flash),
            Op::FlashEnd => self.flash_end(req),
            Op::SpiFlashMd5 => self.flash_md5(req, flash),
            Op::ReadFlashSlow => self.read_flash_slow(req, flash),
            Op::ChangeBaudrate => self.change_baudrate(req),
            // Not in the ESP32 ROM (stub upload, stub-only fast read, later chips' security
            // info): the ROM answers "invalid message".
            Op::MemBegin | Op::MemEnd | Op::MemData | Op::GetSecurityInfo | Op::ReadFlash => {
                Err(ErrorCode::InvalidMessage)
            }
        };
        match result {
            Ok((value, data, effect)) => Handled {
                replies: vec![protocol::response(req.op, value, &data, None)],
                effect,
            },
            Err(code) => fail(code),
        }
    }

    fn sync(&mut self, req: &Request) -> Handled {
        let valid = req.data.len() == 36
            && req.data[..4] == protocol::SYNC_PAYLOAD_HEAD
            && req.data[4..].iter().all(|b| *b == 0x55);
        let reply = if valid {
            protocol::response(req.op, protocol::SYNC_VALUE, &[], None)
        } else {
            protocol::response(req.op, 0, &[], Some(ErrorCode::InvalidMessage))
        };
        let count = if valid { protocol::SYNC_RESPONSES } else { 1 };
        Handled {
            replies: vec![reply; count],
            effect: Effect::None,
        }
    }

    fn read_reg(&self, req: &Request) -> Result<u32, ErrorCode> {
        let addr = words::<1>(req)?[0];
        if addr == esp32::UART_CLKDIV_REG {
            return Ok(esp32::APB_HZ / self.baud.max(1));
        }
        Ok(self.regs.get(&addr).copied().unwrap_or(0))
    }

    /// WRITE_REG carries one or more (address, value, mask, delay_us) quadruples.
    fn write_reg(&mut self, req: &Request) -> Result<(), ErrorCode> {
        if req.data.is_empty() || req.data.len() % 16 != 0 {
            return Err(ErrorCode::InvalidMessage);
        }
        for quad in req.data.chunks(16) {
            let w = |i: usize| u32::from_le_bytes([quad[i], quad[i + 1], quad[i + 2], quad[i + 3]]);
            let (addr, value, mask) = (w(0), w(4), w(8));
            let old = self.regs.get(&addr).copied().unwrap_or(0);
            self.regs.insert(addr, (old & !mask) | (value & mask));
            if addr == esp32::SPI_CMD_REG && value & esp32::SPI_CMD_USR != 0 {
                self.run_spi_user_command();
            }
        }
        Ok(())
    }

    /// The SPI controller's "user command", which esptool drives through registers to read the
    /// flash's JEDEC id (flash size detection) and status registers. Completes at once.
    fn run_spi_user_command(&mut self) {
        let opcode = self.regs.get(&esp32::SPI_USR2_REG).copied().unwrap_or(0) as u8;
        let answer = match opcode {
            esp32::SPIFLASH_RDID => esp32::FLASH_JEDEC_ID,
            _ => 0,
        };
        self.regs.insert(esp32::SPI_W0_REG, answer);
        self.regs
            .entry(esp32::SPI_CMD_REG)
            .and_modify(|v| *v &= !esp32::SPI_CMD_USR);
    }

    fn spi_attach(&mut self, req: &Request) -> Reply {
        // The ESP32 ROM takes the pin word plus an "is legacy" word (8 bytes).
        words::<2>(req)?;
        self.attached = true;
        Ok((0, Vec::new(), Effect::None))
    }

    fn spi_set_params(&mut self, req: &Request) -> Reply {
        let [_id, total, _block, _sector, _page, _mask] = words::<6>(req)?;
        if total as usize > FLASH_SIZE || total == 0 {
            return Err(ErrorCode::FailedToAct);
        }
        self.flash_size = total as usize;
        Ok((0, Vec::new(), Effect::None))
    }

    /// FLASH_BEGIN: erase size, block count, block size, offset. The ESP32 ROM takes exactly
    /// these 4 words (the 5th "encrypted" word is for later ROMs and the stub) and erases up
    /// front.
    fn flash_begin(&mut self, req: &Request, flash: &mut Flash) -> Reply {
        if req.data.len() != 16 {
            return Err(ErrorCode::InvalidMessage);
        }
        let [erase, blocks, block_size, offset] = words::<4>(req)?;
        if !self.attached {
            return Err(ErrorCode::FailedToAct);
        }
        let (offset, erase) = (offset as usize, erase as usize);
        if offset + erase > self.flash_size || block_size == 0 {
            return Err(ErrorCode::FailedToAct);
        }
        flash
            .erase(offset, erase)
            .map_err(|_| ErrorCode::FlashWrite)?;
        self.write = Some(Write {
            offset,
            blocks,
            block_size: block_size as usize,
        });
        Ok((0, Vec::new(), Effect::None))
    }

    /// FLASH_DATA: size, sequence number, 2 zero words, then the block; the checksum field is
    /// the XOR checksum of the block.
    fn flash_data(&mut self, req: &Request, flash: &mut Flash) -> Reply {
        let [size, seq, _, _] = words::<4>(req)?;
        let block = &req.data[16..];
        let write = self.write.ok_or(ErrorCode::FailedToAct)?;
        if block.len() != size as usize || block.len() > write.block_size {
            return Err(ErrorCode::InvalidMessage);
        }
        if u32::from(protocol::checksum(block)) != req.checksum {
            return Err(ErrorCode::InvalidCrc);
        }
        if seq >= write.blocks {
            return Err(ErrorCode::FailedToAct);
        }
        let at = write.offset + seq as usize * write.block_size;
        // esptool pads the last block with 0xFF; bytes past the flash are not written.
        let len = block.len().min(self.flash_size.saturating_sub(at));
        flash
            .program(at, &block[..len])
            .map_err(|_| ErrorCode::FlashWrite)?;
        Ok((0, Vec::new(), Effect::BlockWritten))
    }

    /// FLASH_END: one word, 0 = reboot, 1 = run the user code; either way the loader is left.
    fn flash_end(&mut self, req: &Request) -> Reply {
        words::<1>(req)?;
        self.write = None;
        Ok((0, Vec::new(), Effect::LeftLoader))
    }

    /// SPI_FLASH_MD5: address, size, 2 zero words. The ROM answers the digest as 32 lowercase
    /// hex ASCII characters (the stub sends 16 raw bytes).
    fn flash_md5(&mut self, req: &Request, flash: &Flash) -> Reply {
        let [addr, size, _, _] = words::<4>(req)?;
        if addr as usize + size as usize > self.flash_size {
            return Err(ErrorCode::FlashRead);
        }
        let digest = flash
            .md5(addr as usize, size as usize)
            .map_err(|_| ErrorCode::FlashRead)?;
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Ok((0, hex.into_bytes(), Effect::None))
    }

    /// READ_FLASH_SLOW: offset, length (at most 64). The ROM always answers a 64-byte buffer.
    fn read_flash_slow(&mut self, req: &Request, flash: &Flash) -> Reply {
        let [offset, len] = words::<2>(req)?;
        let (offset, len) = (offset as usize, len as usize);
        if len > protocol::READ_SLOW_BLOCK {
            return Err(ErrorCode::FlashReadLength);
        }
        if offset + len > self.flash_size {
            return Err(ErrorCode::FlashRead);
        }
        let mut block = flash
            .read(offset, len)
            .map_err(|_| ErrorCode::FlashRead)?
            .to_vec();
        block.resize(protocol::READ_SLOW_BLOCK, 0xFF);
        Ok((0, block, Effect::None))
    }

    /// CHANGE_BAUDRATE: new rate, old rate (0 from the ROM's host). Takes effect after the
    /// reply, which still goes out at the old rate.
    fn change_baudrate(&mut self, req: &Request) -> Reply {
        let [baud, _old] = words::<2>(req)?;
        if baud == 0 {
            return Err(ErrorCode::InvalidMessage);
        }
        self.baud = baud;
        Ok((0, Vec::new(), Effect::Baud(baud)))
    }
}

/// Value, data and effect of a successful command, or the ROM's error code.
type Reply = Result<(u32, Vec<u8>, Effect), ErrorCode>;

/// The first `N` payload words; too short a payload is an invalid message.
fn words<const N: usize>(req: &Request) -> Result<[u32; N], ErrorCode> {
    let mut out = [0u32; N];
    for (i, w) in out.iter_mut().enumerate() {
        *w = req.word(i).ok_or(ErrorCode::InvalidMessage)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(op: Op, words: &[u32], tail: &[u8], checksum: u32) -> Request {
        let mut data: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        data.extend_from_slice(tail);
        Request {
            op: op as u8,
            checksum,
            data,
        }
    }

    fn status(h: &Handled) -> (u8, u8) {
        let r = &h.replies[0];
        (r[r.len() - 4], r[r.len() - 3])
    }

    #[test]
    fn a_bad_flash_data_checksum_is_refused_and_not_written() {
        let mut flash = Flash::erased();
        let mut l = Loader::new(esp32::CHIP_MAGIC, 115_200);
        assert_eq!(
            status(&l.handle(&req(Op::SpiAttach, &[0, 0], &[], 0), &mut flash)),
            (0, 0)
        );
        let begin = req(Op::FlashBegin, &[4, 1, 0x400, 0x9000], &[], 0);
        assert_eq!(status(&l.handle(&begin, &mut flash)), (0, 0));
        let block = [1, 2, 3, 4];
        let bad = req(Op::FlashData, &[4, 0, 0, 0], &block, 0);
        assert_eq!(
            status(&l.handle(&bad, &mut flash)),
            (1, ErrorCode::InvalidCrc as u8)
        );
        assert_eq!(flash.read(0x9000, 4).expect("in range"), &[0xFF; 4]);
        let sum = u32::from(protocol::checksum(&block));
        let good = req(Op::FlashData, &[4, 0, 0, 0], &block, sum);
        assert_eq!(l.handle(&good, &mut flash).effect, Effect::BlockWritten);
        assert_eq!(flash.read(0x9000, 4).expect("in range"), &block);
    }

    #[test]
    fn the_rom_has_no_fast_read_flash_and_says_invalid_message() {
        let mut flash = Flash::default();
        let mut l = Loader::new(esp32::CHIP_MAGIC, 115_200);
        let h = l.handle(
            &req(Op::ReadFlash, &[0, 64, 0x1000, 64], &[], 0),
            &mut flash,
        );
        assert_eq!(status(&h), (1, ErrorCode::InvalidMessage as u8));
    }

    #[test]
    fn md5_is_32_ascii_hex_characters_then_status() {
        let mut flash = Flash::erased();
        let mut l = Loader::new(esp32::CHIP_MAGIC, 115_200);
        let h = l.handle(
            &req(Op::SpiFlashMd5, &[0x9000, 0x6000, 0, 0], &[], 0),
            &mut flash,
        );
        let r = &h.replies[0];
        assert_eq!(r.len(), 8 + 32 + 4);
        let want: String = Md5Hex::of(&[0xFF; 0x6000]);
        assert_eq!(std::str::from_utf8(&r[8..40]).expect("ascii"), want);
    }

    struct Md5Hex;
    impl Md5Hex {
        fn of(data: &[u8]) -> String {
            use md5::{Digest, Md5};
            Md5::digest(data)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        }
    }

    #[test]
    fn flash_id_is_read_through_the_spi_user_command() {
        let mut flash = Flash::default();
        let mut l = Loader::new(esp32::CHIP_MAGIC, 115_200);
        let usr2 = req(
            Op::WriteReg,
            &[esp32::SPI_USR2_REG, (7 << 28) | 0x9F, !0, 0],
            &[],
            0,
        );
        l.handle(&usr2, &mut flash);
        let go = req(
            Op::WriteReg,
            &[esp32::SPI_CMD_REG, esp32::SPI_CMD_USR, !0, 0],
            &[],
            0,
        );
        l.handle(&go, &mut flash);
        assert_eq!(
            l.read_reg(&req(Op::ReadReg, &[esp32::SPI_CMD_REG], &[], 0)),
            Ok(0)
        );
        let w0 = l.read_reg(&req(Op::ReadReg, &[esp32::SPI_W0_REG], &[], 0));
        assert_eq!(w0, Ok(esp32::FLASH_JEDEC_ID));
    }
}
