//! Zephyr's SMP-over-console framing: packets to base64 lines and back.
//!
//! This module owns the serial transport's framing (`serial_util.c`): a packet travels as
//! `BE16 length (packet + 2) | packet | BE16 CRC16`, base64-encoded and cut into lines of at
//! most [`MAX_FRAME`] bytes; the first line starts with [`FRAME_START`], the others with
//! [`FRAME_CONTINUE`], and each ends in `\n`. The CRC is CRC16-CCITT as Zephyr's
//! `crc16_itu_t(0x0000, ...)` computes it (XMODEM: poly 0x1021, init 0, no reflection) over
//! the packet alone. [`FrameDecoder`] finds frames among console text (log lines share the
//! wire) and decodes each line on its own, as Zephyr's `mcumgr_serial_process_frag` does.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::spec::{FRAME_BASE64_MAX, FRAME_CONTINUE, FRAME_START, MAX_FRAME, MAX_PACKET};

/// CRC16-CCITT/XMODEM: polynomial 0x1021, initial value 0, MSB first, no final xor.
pub fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Encodes one SMP packet (header + CBOR) as the console lines that carry it.
///
/// Base64 is cut only at multiples of four characters, so every line decodes on its own, as
/// Zephyr's receiver needs, and the lines are byte-identical to `smp.packet.encode`'s.
pub fn encode_packet(packet: &[u8]) -> Vec<Vec<u8>> {
    let mut body = Vec::with_capacity(packet.len() + 4);
    let len = u16::try_from(packet.len() + 2).unwrap_or(u16::MAX);
    body.extend_from_slice(&len.to_be_bytes());
    body.extend_from_slice(packet);
    body.extend_from_slice(&crc16_xmodem(packet).to_be_bytes());
    let text = STANDARD.encode(&body);
    text.as_bytes()
        .chunks(FRAME_BASE64_MAX)
        .enumerate()
        .map(|(i, chunk)| {
            let marker = if i == 0 { FRAME_START } else { FRAME_CONTINUE };
            let mut line = Vec::with_capacity(chunk.len() + 3);
            line.extend_from_slice(&marker);
            line.extend_from_slice(chunk);
            line.push(b'\n');
            line
        })
        .collect()
}

/// Why received frames did not make a packet. The partial packet is dropped in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A line's base64 did not decode.
    #[error("SMP frame is not valid base64")]
    Base64,
    /// The packet's CRC16 does not match its bytes (line noise).
    #[error("SMP packet CRC mismatch")]
    Crc,
    /// A continuation line arrived with no packet started (its start was lost).
    #[error("SMP continuation frame without a start frame")]
    Orphan,
    /// More bytes arrived than the packet's length field announced, or it is too large.
    #[error("SMP packet length does not match its frames")]
    Length,
    /// A line longer than the 127-byte frame limit.
    #[error("SMP frame longer than {MAX_FRAME} bytes")]
    Oversize,
}

/// Reassembles packets from the bytes of a console, skipping text that is not SMP.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    line: Vec<u8>,
    /// Decoded bytes of the packet in progress (length field stripped) and its length field.
    partial: Option<(Vec<u8>, usize)>,
}

impl FrameDecoder {
    /// A decoder with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds received bytes; returns each packet completed (or failed) by them, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Result<Vec<u8>, FrameError>> {
        let mut out = Vec::new();
        for &b in bytes {
            if b != b'\n' {
                self.line.push(b);
                // Console text can run on without a newline; keep only a frame's worth.
                if self.line.len() > 4 * MAX_FRAME {
                    self.line.drain(..self.line.len() - MAX_FRAME);
                }
                continue;
            }
            let line = std::mem::take(&mut self.line);
            if let Some(result) = self.on_line(&line) {
                out.push(result);
            }
        }
        out
    }

    fn on_line(&mut self, line: &[u8]) -> Option<Result<Vec<u8>, FrameError>> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // A frame may follow console text on the same line (a log print without newline).
        let at = line
            .windows(2)
            .rposition(|w| w == FRAME_START || w == FRAME_CONTINUE)?;
        let frame = &line[at..];
        let start = frame[..2] == FRAME_START;
        if frame.len() + 1 > MAX_FRAME {
            self.partial = None;
            return Some(Err(FrameError::Oversize));
        }
        let decoded = match STANDARD.decode(&frame[2..]) {
            Ok(d) => d,
            Err(_) => {
                self.partial = None;
                return Some(Err(FrameError::Base64));
            }
        };
        self.on_frame(start, decoded)
    }

    fn on_frame(&mut self, start: bool, decoded: Vec<u8>) -> Option<Result<Vec<u8>, FrameError>> {
        let (mut data, want) = if start {
            if decoded.len() < 2 {
                return Some(Err(FrameError::Length));
            }
            let want = usize::from(u16::from_be_bytes([decoded[0], decoded[1]]));
            (decoded[2..].to_vec(), want)
        } else {
            match self.partial.take() {
                Some((mut data, want)) => {
                    data.extend_from_slice(&decoded);
                    (data, want)
                }
                None => return Some(Err(FrameError::Orphan)),
            }
        };
        if !(2..=MAX_PACKET + 2).contains(&want) || data.len() > want {
            self.partial = None;
            return Some(Err(FrameError::Length));
        }
        if data.len() < want {
            self.partial = Some((data, want));
            return None;
        }
        let crc_bytes = data.split_off(want - 2);
        let crc = u16::from_be_bytes([crc_bytes[0], crc_bytes[1]]);
        Some(if crc == crc16_xmodem(&data) {
            Ok(data)
        } else {
            Err(FrameError::Crc)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_is_xmodem() {
        // The CRC-16/XMODEM check value of the catalogue of parametrised CRC algorithms.
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
    }

    #[test]
    fn encoding_matches_the_smp_library_example() {
        // `smp.packet.encode(b"Hello, world!")` in the smp package's docstring.
        assert_eq!(
            encode_packet(b"Hello, world!"),
            vec![b"\x06\tAA9IZWxsbywgd29ybGQhet4=\n".to_vec()]
        );
    }

    #[test]
    fn long_packets_split_into_127_byte_frames_and_reassemble_among_console_text() {
        let packet: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        let lines = encode_packet(&packet);
        assert!(lines.len() > 3);
        assert!(lines.iter().all(|l| l.len() <= MAX_FRAME));
        assert!(lines[1..].iter().all(|l| l.starts_with(&FRAME_CONTINUE)));
        let mut wire = b"[00:00:01.000] <inf> main: booted\r\n".to_vec();
        for l in &lines {
            wire.extend_from_slice(l);
            wire.extend_from_slice(b"log line between frames\r\n");
        }
        let mut dec = FrameDecoder::new();
        // Byte by byte: the decoder must not depend on how reads cut the stream.
        let got: Vec<_> = wire.iter().flat_map(|b| dec.push(&[*b])).collect();
        assert_eq!(got, vec![Ok(packet)]);
    }

    #[test]
    fn a_changed_byte_is_a_crc_error_and_an_orphan_continuation_is_refused() {
        let mut lines = encode_packet(b"\x02\x00\x00\x01\x00\x03\x01\x00\xa0");
        let line = &mut lines[0];
        let i = line.len() - 6;
        line[i] = if line[i] == b'A' { b'B' } else { b'A' };
        let mut dec = FrameDecoder::new();
        assert_eq!(dec.push(line), vec![Err(FrameError::Crc)]);
        assert_eq!(dec.push(b"\x04\x14AAAA\n"), vec![Err(FrameError::Orphan)]);
    }
}
