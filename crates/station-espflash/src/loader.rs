//! A small client of the ESP32 ROM serial loader over any [`Transport`]: one command at a time,
//! SLIP-framed, with the named timeouts of [`crate::rom`]. It logs command names and sizes,
//! never a flash block (an NVS image holds secrets).

use std::io;
use std::thread::sleep;
use std::time::{Duration, Instant};

use station_protocol::{SerialTransport, Transport};

use crate::rom::{self, Op};

/// What the loader can fail with. Each maps to operator words in the driver.
#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    /// Nothing answered SYNC: not in download mode, not an ESP, or the wrong port.
    #[error("no ESP ROM loader answered on the port")]
    NoAnswer,
    /// A command timed out.
    #[error("the ESP loader did not answer {op}")]
    Timeout { op: &'static str },
    /// The ROM answered with its error status.
    #[error("the ESP loader refused {op}: {}", rom::error_name(*code))]
    Refused { op: &'static str, code: u8 },
    /// The answer does not fit the protocol.
    #[error("the ESP loader's answer to {op} made no sense ({what})")]
    Malformed {
        op: &'static str,
        what: &'static str,
    },
    /// The link broke (unplugged).
    #[error("the port closed during {op}")]
    Disconnected { op: &'static str },
    /// Another I/O failure.
    #[error("the port failed during {op}: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: io::Error,
    },
}

impl LoaderError {
    fn io(op: Op, e: io::Error) -> Self {
        if is_gone(&e) {
            LoaderError::Disconnected { op: op.name() }
        } else {
            LoaderError::Io {
                op: op.name(),
                source: e,
            }
        }
    }
}

fn is_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::UnexpectedEof
    ) || matches!(e.raw_os_error(), Some(5 | 6 | 19))
}

/// The DTR/RTS lines esptool resets a board with (DTR drives IO0, RTS drives EN through the
/// usual two-transistor circuit). A link without them (a pseudo-terminal) says so and the
/// reset is skipped: the unit must already be in download mode.
pub trait ResetLines {
    fn set_dtr(&mut self, level: bool) -> io::Result<()>;
    fn set_rts(&mut self, level: bool) -> io::Result<()>;
}

impl ResetLines for SerialTransport {
    fn set_dtr(&mut self, level: bool) -> io::Result<()> {
        self.set_control_line(station_protocol::serial::ControlLine::Dtr, level)
    }
    fn set_rts(&mut self, level: bool) -> io::Result<()> {
        self.set_control_line(station_protocol::serial::ControlLine::Rts, level)
    }
}

/// Counters for the outcome and the benchmark.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoaderStats {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub commands: u64,
    pub baud: u32,
    /// Microseconds the bytes above take on the wire at the rate each crossed at.
    pub wire_micros: u64,
}

/// The ROM loader on one link.
pub struct Loader<T: Transport + ResetLines> {
    link: T,
    rx: Vec<u8>,
    stats: LoaderStats,
}

impl<T: Transport + ResetLines> Loader<T> {
    pub fn new(link: T) -> Self {
        Loader {
            link,
            rx: Vec::new(),
            stats: LoaderStats {
                baud: rom::ROM_BAUD,
                ..Default::default()
            },
        }
    }

    pub fn stats(&self) -> LoaderStats {
        self.stats
    }

    /// `ClassicReset` of esptool's `reset.py`: IO0 high and EN low, then IO0 low as EN rises,
    /// so the chip boots into the ROM loader. `false` when the link has no such lines.
    pub fn reset_into_loader(&mut self) -> bool {
        let steps = |l: &mut T| -> io::Result<()> {
            l.set_dtr(false)?;
            l.set_rts(true)?;
            sleep(rom::RESET_HOLD);
            l.set_dtr(true)?;
            l.set_rts(false)?;
            sleep(rom::RESET_RELEASE);
            l.set_dtr(false)
        };
        match steps(&mut self.link) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, "no DTR/RTS on this link; the unit must be in download mode already");
                false
            }
        }
    }

    /// esptool's `HardReset`: EN pulsed low with IO0 released, so the chip boots its app.
    pub fn hard_reset(&mut self) {
        let steps = |l: &mut T| -> io::Result<()> {
            l.set_dtr(false)?;
            l.set_rts(true)?;
            sleep(rom::RESET_HOLD);
            l.set_rts(false)
        };
        if let Err(e) = steps(&mut self.link) {
            tracing::debug!(error = %e, "no DTR/RTS on this link; the unit restarts at its next power-up");
        }
    }

    /// Reset into the loader and SYNC, as esptool's `connect`: a few attempts, each a reset and
    /// a few SYNCs.
    pub fn connect(&mut self) -> Result<(), LoaderError> {
        for attempt in 0..rom::CONNECT_ATTEMPTS {
            let has_lines = self.reset_into_loader();
            self.drain();
            for _ in 0..rom::SYNC_TRIES {
                match self.sync() {
                    Ok(()) => return Ok(()),
                    Err(LoaderError::Disconnected { op }) => {
                        return Err(LoaderError::Disconnected { op })
                    }
                    Err(_) => continue,
                }
            }
            tracing::debug!(attempt, "no SYNC answer");
            if !has_lines && attempt >= 1 {
                break;
            }
        }
        Err(LoaderError::NoAnswer)
    }

    fn sync(&mut self) -> Result<(), LoaderError> {
        let mut payload = rom::SYNC_HEAD.to_vec();
        payload.extend([rom::SYNC_FILL; rom::SYNC_FILL_LEN]);
        self.command(Op::Sync, &payload, 0, Op::Sync.timeout())?;
        // The ROM answers one SYNC several times: drop the echoes.
        sleep(Duration::from_millis(20));
        self.drain();
        Ok(())
    }

    pub fn read_reg(&mut self, addr: u32) -> Result<u32, LoaderError> {
        let (value, _) =
            self.command(Op::ReadReg, &addr.to_le_bytes(), 0, Op::ReadReg.timeout())?;
        Ok(value)
    }

    /// The ESP32's base MAC from eFuse words 1 and 2 (`ESP32ROM.read_mac`), as 12 upper-case
    /// hex digits: the unit's hardware id.
    pub fn mac(&mut self) -> Result<String, LoaderError> {
        let w1 = self.read_reg(rom::EFUSE_RD_BASE + 4)?;
        let w2 = self.read_reg(rom::EFUSE_RD_BASE + 8)?;
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&w2.to_be_bytes());
        bytes[4..].copy_from_slice(&w1.to_be_bytes());
        Ok(bytes[2..].iter().map(|b| format!("{b:02X}")).collect())
    }

    /// SPI_ATTACH with the default pins (the ROM's 8-byte form), then the flash geometry.
    pub fn attach_flash(&mut self, flash_size: u32) -> Result<(), LoaderError> {
        self.command(Op::SpiAttach, &[0u8; 8], 0, Op::SpiAttach.timeout())?;
        let params: Vec<u8> = [
            0,
            flash_size,
            rom::FLASH_BLOCK_SIZE,
            rom::FLASH_SECTOR_SIZE as u32,
            rom::FLASH_PAGE_SIZE,
            rom::FLASH_STATUS_MASK,
        ]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
        self.command(Op::SpiSetParams, &params, 0, Op::SpiSetParams.timeout())?;
        Ok(())
    }

    /// Ask the ROM to run the line at `baud` (CHANGE_BAUDRATE; the ROM's host sends 0 as the
    /// old rate), then follow. A link that cannot run `baud` stays where it was.
    pub fn change_baud(&mut self, baud: u32) -> Result<bool, LoaderError> {
        if baud == self.stats.baud {
            return Ok(true);
        }
        let mut data = baud.to_le_bytes().to_vec();
        data.extend(0u32.to_le_bytes());
        self.command(Op::ChangeBaudrate, &data, 0, Op::ChangeBaudrate.timeout())?;
        if let Err(e) = self.link.set_baud_rate(baud) {
            tracing::warn!(error = %e, baud, "the port cannot run this rate; the loader may now be at another");
            return Ok(false);
        }
        self.stats.baud = baud;
        sleep(rom::BAUD_SETTLE);
        self.drain();
        Ok(true)
    }

    /// READ_FLASH_SLOW of `len` bytes at `offset`, in 64-byte commands.
    pub fn read_flash(&mut self, offset: u32, len: usize) -> Result<Vec<u8>, LoaderError> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let n = (len - out.len()).min(rom::READ_SLOW_BLOCK);
            let at = offset + out.len() as u32;
            let mut data = at.to_le_bytes().to_vec();
            data.extend((n as u32).to_le_bytes());
            let (_, body) =
                self.command(Op::ReadFlashSlow, &data, 0, Op::ReadFlashSlow.timeout())?;
            if body.len() < n {
                return Err(LoaderError::Malformed {
                    op: Op::ReadFlashSlow.name(),
                    what: "fewer bytes than asked for",
                });
            }
            out.extend_from_slice(&body[..n]);
        }
        Ok(out)
    }

    /// FLASH_BEGIN for `len` bytes at `offset`: the ROM erases the sectors up front.
    pub fn flash_begin(&mut self, offset: u32, len: usize) -> Result<u32, LoaderError> {
        let blocks = len.div_ceil(rom::FLASH_WRITE_SIZE) as u32;
        let erase = len.div_ceil(rom::FLASH_SECTOR_SIZE) * rom::FLASH_SECTOR_SIZE;
        let data: Vec<u8> = [erase as u32, blocks, rom::FLASH_WRITE_SIZE as u32, offset]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        let timeout = rom::scaled_timeout(rom::ERASE_TIMEOUT_PER_MB, erase);
        self.command(Op::FlashBegin, &data, 0, timeout)?;
        Ok(blocks)
    }

    /// FLASH_DATA block `seq` (padded with 0xFF to the block size, as esptool does).
    pub fn flash_data(&mut self, seq: u32, block: &[u8]) -> Result<(), LoaderError> {
        let mut data = zeroize::Zeroizing::new(Vec::with_capacity(16 + rom::FLASH_WRITE_SIZE));
        for w in [rom::FLASH_WRITE_SIZE as u32, seq, 0, 0] {
            data.extend(w.to_le_bytes());
        }
        data.extend_from_slice(block);
        data.resize(16 + rom::FLASH_WRITE_SIZE, 0xFF);
        let sum = u32::from(rom::checksum(&data[16..]));
        let timeout = rom::scaled_timeout(rom::WRITE_TIMEOUT_PER_MB, rom::FLASH_WRITE_SIZE);
        self.command(Op::FlashData, &data, sum, timeout)?;
        Ok(())
    }

    /// SPI_FLASH_MD5 of `len` bytes at `offset`: the ROM answers 32 hex characters.
    pub fn flash_md5(&mut self, offset: u32, len: usize) -> Result<[u8; 16], LoaderError> {
        let data: Vec<u8> = [offset, len as u32, 0, 0]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        let timeout = rom::scaled_timeout(rom::MD5_TIMEOUT_PER_MB, len);
        let (_, body) = self.command(Op::SpiFlashMd5, &data, 0, timeout)?;
        let malformed = LoaderError::Malformed {
            op: Op::SpiFlashMd5.name(),
            what: "not 32 hex digits",
        };
        let hex = body.get(..32).ok_or(malformed)?;
        let mut out = [0u8; 16];
        for (i, pair) in hex.chunks(2).enumerate() {
            let s = std::str::from_utf8(pair).map_err(|_| LoaderError::Malformed {
                op: Op::SpiFlashMd5.name(),
                what: "not 32 hex digits",
            })?;
            out[i] = u8::from_str_radix(s, 16).map_err(|_| LoaderError::Malformed {
                op: Op::SpiFlashMd5.name(),
                what: "not 32 hex digits",
            })?;
        }
        Ok(out)
    }

    /// FLASH_END: leave the loader (`reboot` false: run the user code).
    pub fn flash_end(&mut self, reboot: bool) -> Result<(), LoaderError> {
        let data = u32::from(!reboot).to_le_bytes();
        self.command(Op::FlashEnd, &data, 0, Op::FlashEnd.timeout())?;
        Ok(())
    }

    /// One request and its response: `(value, body without the status bytes)`.
    fn command(
        &mut self,
        op: Op,
        data: &[u8],
        checksum: u32,
        timeout: Duration,
    ) -> Result<(u32, Vec<u8>), LoaderError> {
        let mut packet = Vec::with_capacity(rom::HEADER_LEN + data.len());
        packet.push(rom::DIR_REQUEST);
        packet.push(op as u8);
        packet.extend((data.len() as u16).to_le_bytes());
        packet.extend(checksum.to_le_bytes());
        packet.extend_from_slice(data);
        let frame = zeroize::Zeroizing::new(slip_encode(&packet));
        zeroize::Zeroize::zeroize(&mut packet);
        self.link.send(&frame).map_err(|e| LoaderError::io(op, e))?;
        self.count(frame.len(), true);
        self.stats.commands += 1;
        let deadline = Instant::now() + timeout;
        loop {
            let frame = self.read_frame(op, deadline)?;
            if frame.len() < rom::HEADER_LEN
                || frame[0] != rom::DIR_RESPONSE
                || frame[1] != op as u8
            {
                continue; // an echo of another command, or noise
            }
            let size = u16::from_le_bytes([frame[2], frame[3]]) as usize;
            let value = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
            let body = &frame[rom::HEADER_LEN..];
            if body.len() != size || size < rom::ROM_STATUS_LEN - 2 {
                return Err(LoaderError::Malformed {
                    op: op.name(),
                    what: "wrong size",
                });
            }
            // The ESP32 ROM sends 4 status bytes; tolerate the 2 of other loaders.
            let status_len = if size >= rom::ROM_STATUS_LEN {
                rom::ROM_STATUS_LEN
            } else {
                2
            };
            let (payload, status) = body.split_at(size - status_len);
            if status[0] != 0 {
                return Err(LoaderError::Refused {
                    op: op.name(),
                    code: status[1],
                });
            }
            return Ok((value, payload.to_vec()));
        }
    }

    /// The next SLIP frame, dropping bytes between frames (boot banner, noise).
    fn read_frame(&mut self, op: Op, deadline: Instant) -> Result<Vec<u8>, LoaderError> {
        loop {
            if let Some(frame) = take_frame(&mut self.rx) {
                return Ok(frame);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(LoaderError::Timeout { op: op.name() });
            }
            let mut buf = [0u8; 512];
            let n = self
                .link
                .recv(&mut buf, deadline - now)
                .map_err(|e| LoaderError::io(op, e))?;
            self.count(n, false);
            self.rx.extend_from_slice(&buf[..n]);
        }
    }

    /// Drop whatever is waiting on the line.
    fn drain(&mut self) {
        let mut buf = [0u8; 512];
        while let Ok(n) = self.link.recv(&mut buf, Duration::from_millis(5)) {
            if n == 0 {
                break;
            }
            self.count(n, false);
        }
        self.rx.clear();
    }

    fn count(&mut self, n: usize, sent: bool) {
        if sent {
            self.stats.bytes_sent += n as u64;
        } else {
            self.stats.bytes_received += n as u64;
        }
        self.stats.wire_micros += n as u64 * 10 * 1_000_000 / u64::from(self.stats.baud.max(1));
    }
}

/// SLIP-encode one packet (RFC 1055, as the docs' "Low level protocol").
pub fn slip_encode(packet: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(packet.len() + 8);
    out.push(rom::SLIP_END);
    for &b in packet {
        match b {
            rom::SLIP_END => out.extend([rom::SLIP_ESC, rom::SLIP_ESC_END]),
            rom::SLIP_ESC => out.extend([rom::SLIP_ESC, rom::SLIP_ESC_ESC]),
            b => out.push(b),
        }
    }
    out.push(rom::SLIP_END);
    out
}

/// Take the first complete frame out of `rx` (bytes before its opening `0xC0` are dropped); a
/// frame with a bad escape is dropped whole.
fn take_frame(rx: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        let start = rx.iter().position(|&b| b == rom::SLIP_END)?;
        let len = rx[start + 1..].iter().position(|&b| b == rom::SLIP_END)?;
        let raw: Vec<u8> = rx[start + 1..start + 1 + len].to_vec();
        // The closing delimiter may open the next frame: keep it.
        rx.drain(..start + 1 + len);
        if raw.is_empty() {
            continue;
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut it = raw.iter();
        let mut ok = true;
        while let Some(&b) = it.next() {
            if b == rom::SLIP_ESC {
                match it.next() {
                    Some(&rom::SLIP_ESC_END) => out.push(rom::SLIP_END),
                    Some(&rom::SLIP_ESC_ESC) => out.push(rom::SLIP_ESC),
                    _ => {
                        ok = false;
                        break;
                    }
                }
            } else {
                out.push(b);
            }
        }
        if ok {
            return Some(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slip_round_trip_with_both_escapes_and_noise_before() {
        let packet = [1, rom::SLIP_END, 2, rom::SLIP_ESC, 3];
        let mut rx = b"ets Jun  8 2016 noise".to_vec();
        rx.extend(slip_encode(&packet));
        assert_eq!(take_frame(&mut rx), Some(packet.to_vec()));
        assert_eq!(take_frame(&mut rx), None);
    }

    #[test]
    fn mac_words_give_esptools_byte_order() {
        // esptool ESP32ROM.read_mac: struct.pack(">II", mac1, mac0)[2:].
        let (w1, w2) = (0xC412_3456u32, 0x0000_240Au32);
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&w2.to_be_bytes());
        bytes[4..].copy_from_slice(&w1.to_be_bytes());
        let hex: String = bytes[2..].iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(hex, "240AC4123456");
    }
}
